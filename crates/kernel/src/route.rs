//! Interface, address and route discovery over rtnetlink (for `--listen`,
//! `%defaultroute`, the nexthop and the updown script's environment).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::error::{KernelError, Op};
use crate::nl::{attrs, u32_at, MsgBuilder, Requester, NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST};

const RTM_NEWLINK: u16 = 16;
const RTM_GETLINK: u16 = 18;
const RTM_NEWADDR: u16 = 20;
const RTM_GETADDR: u16 = 22;
const RTM_NEWROUTE: u16 = 24;
const RTM_GETROUTE: u16 = 26;

const IFLA_IFNAME: u16 = 3;
const IFLA_MTU: u16 = 4;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const RTA_DST: u16 = 1;
const RTA_OIF: u16 = 4;
const RTA_GATEWAY: u16 = 5;
const RTA_PRIORITY: u16 = 6;
const RTA_PREFSRC: u16 = 7;
const RTA_TABLE: u16 = 15;
const RT_TABLE_MAIN: u32 = 254;
const RTN_UNICAST: u8 = 1;
const IFF_UP: u32 = 1;
const IFF_LOOPBACK: u32 = 8;

/// A network interface and its addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    /// Kernel index.
    pub index: u32,
    /// Name (`eth0`).
    pub name: String,
    /// MTU.
    pub mtu: u32,
    /// Administratively up.
    pub up: bool,
    /// The loopback device.
    pub loopback: bool,
    /// Addresses with their prefix lengths.
    pub addrs: Vec<(IpAddr, u8)>,
}

/// A route answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Destination prefix the route covers (the queried address for lookups).
    pub dst: IpAddr,
    /// Its prefix length.
    pub prefix: u8,
    /// Next hop, if not directly connected.
    pub gateway: Option<IpAddr>,
    /// The source address the kernel would pick.
    pub pref_src: Option<IpAddr>,
    /// Outgoing interface index.
    pub oif: Option<u32>,
    /// Route metric.
    pub metric: Option<u32>,
}

fn addr_from(v: &[u8]) -> Option<IpAddr> {
    if let Ok(a) = <[u8; 4]>::try_from(v) {
        Some(IpAddr::V4(Ipv4Addr::from(a)))
    } else {
        <[u8; 16]>::try_from(v)
            .ok()
            .map(|a| IpAddr::V6(Ipv6Addr::from(a)))
    }
}

pub(crate) async fn interfaces(req: &Requester) -> Result<Vec<Interface>, KernelError> {
    let mut m = MsgBuilder::new(RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP);
    m.body(&[0u8; 16]); // struct ifinfomsg
    let mut out = Vec::new();
    for msg in req.dump(Op::Route, m).await? {
        if msg.msg_type != RTM_NEWLINK {
            continue;
        }
        let index = u32_at(&msg.payload, 4)?;
        let flags = u32_at(&msg.payload, 8)?;
        let mut iface = Interface {
            index,
            name: String::new(),
            mtu: 0,
            up: flags & IFF_UP != 0,
            loopback: flags & IFF_LOOPBACK != 0,
            addrs: Vec::new(),
        };
        for (ty, v) in attrs(&msg.payload, 16)? {
            match ty {
                IFLA_IFNAME => {
                    let s = v.split(|b| *b == 0).next().unwrap_or(&[]);
                    iface.name = String::from_utf8_lossy(s).into_owned();
                }
                IFLA_MTU => iface.mtu = u32_at(v, 0)?,
                _ => {}
            }
        }
        out.push(iface);
    }
    let mut m = MsgBuilder::new(RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP);
    m.body(&[0u8; 8]); // struct ifaddrmsg
    for msg in req.dump(Op::Route, m).await? {
        // struct ifaddrmsg: family, prefix length, flags, scope, index (u32)
        let Some(&[_family, prefix, ..]) = msg.payload.get(..8) else {
            continue;
        };
        if msg.msg_type != RTM_NEWADDR {
            continue;
        }
        let index = u32_at(&msg.payload, 4)?;
        let mut addr = None;
        for (ty, v) in attrs(&msg.payload, 8)? {
            // IFA_LOCAL is the local address on point-to-point links; prefer it
            match ty {
                IFA_LOCAL => addr = addr_from(v),
                IFA_ADDRESS if addr.is_none() => addr = addr_from(v),
                _ => {}
            }
        }
        if let (Some(a), Some(i)) = (addr, out.iter_mut().find(|i| i.index == index)) {
            i.addrs.push((a, prefix));
        }
    }
    Ok(out)
}

pub(crate) fn parse_route(payload: &[u8]) -> Result<Option<(Route, u32, u8)>, KernelError> {
    // struct rtmsg: family, dst_len, src_len, tos, table, protocol, scope, type, flags
    let Some(&[family, prefix, _src_len, _tos, table, _protocol, _scope, rtype, ..]) =
        payload.get(..12)
    else {
        return Err(KernelError::Malformed("rtmsg too short"));
    };
    let mut table = u32::from(table);
    let mut route = Route {
        dst: if i32::from(family) == libc::AF_INET6 {
            IpAddr::V6(Ipv6Addr::UNSPECIFIED)
        } else {
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        },
        prefix,
        gateway: None,
        pref_src: None,
        oif: None,
        metric: None,
    };
    for (ty, v) in attrs(payload, 12)? {
        match ty {
            RTA_DST => {
                if let Some(a) = addr_from(v) {
                    route.dst = a;
                }
            }
            RTA_GATEWAY => route.gateway = addr_from(v),
            RTA_PREFSRC => route.pref_src = addr_from(v),
            RTA_OIF => route.oif = Some(u32_at(v, 0)?),
            RTA_PRIORITY => route.metric = Some(u32_at(v, 0)?),
            RTA_TABLE => table = u32_at(v, 0)?,
            _ => {}
        }
    }
    Ok(Some((route, table, rtype)))
}

pub(crate) async fn route_to(req: &Requester, dst: IpAddr) -> Result<Route, KernelError> {
    let (family, bytes, len) = match dst {
        IpAddr::V4(a) => (libc::AF_INET as u8, a.octets().to_vec(), 32u8),
        IpAddr::V6(a) => (libc::AF_INET6 as u8, a.octets().to_vec(), 128u8),
    };
    let mut m = MsgBuilder::new(RTM_GETROUTE, NLM_F_REQUEST | NLM_F_ACK);
    let mut rtm = [0u8; 12];
    rtm[0] = family;
    rtm[1] = len;
    m.body(&rtm).attr(RTA_DST, &bytes);
    let replies = req.request(Op::Route, m).await?;
    let msg = replies
        .iter()
        .find(|m| m.msg_type == RTM_NEWROUTE)
        .ok_or(KernelError::Malformed(
            "route lookup answered without a route",
        ))?;
    let (mut route, _, _) = parse_route(&msg.payload)?.ok_or(KernelError::Malformed(
        "route lookup answered without a route",
    ))?;
    route.dst = dst;
    Ok(route)
}

pub(crate) async fn default_route(
    req: &Requester,
    ipv6: bool,
) -> Result<Option<Route>, KernelError> {
    let mut m = MsgBuilder::new(RTM_GETROUTE, NLM_F_REQUEST | NLM_F_DUMP);
    let mut rtm = [0u8; 12];
    rtm[0] = if ipv6 {
        libc::AF_INET6 as u8
    } else {
        libc::AF_INET as u8
    };
    m.body(&rtm);
    let mut best: Option<Route> = None;
    for msg in req.dump(Op::Route, m).await? {
        if msg.msg_type != RTM_NEWROUTE {
            continue;
        }
        if let Some((r, table, rtype)) = parse_route(&msg.payload)? {
            if r.prefix == 0 && table == RT_TABLE_MAIN && rtype == RTN_UNICAST {
                let better = match &best {
                    None => true,
                    Some(b) => r.metric.unwrap_or(0) < b.metric.unwrap_or(0),
                };
                if better {
                    best = Some(r);
                }
            }
        }
    }
    Ok(best)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_route_reads_attributes() {
        let mut m = MsgBuilder::new(RTM_NEWROUTE, 0);
        let mut rtm = [0u8; 12];
        rtm[0] = libc::AF_INET as u8;
        rtm[1] = 0;
        rtm[4] = 254;
        rtm[7] = RTN_UNICAST;
        m.body(&rtm)
            .attr(RTA_GATEWAY, &[192, 0, 2, 254])
            .attr(RTA_OIF, &3u32.to_ne_bytes())
            .attr(RTA_PREFSRC, &[192, 0, 2, 1]);
        let bytes = m.finish(1);
        let (r, table, ty) = parse_route(&bytes[16..]).unwrap().unwrap();
        assert_eq!(table, 254);
        assert_eq!(ty, RTN_UNICAST);
        assert_eq!(r.gateway, Some("192.0.2.254".parse().unwrap()));
        assert_eq!(r.pref_src, Some("192.0.2.1".parse().unwrap()));
        assert_eq!(r.oif, Some(3));
        assert!(parse_route(&[0u8; 4]).is_err());
        assert!(parse_route(&[0u8; 11]).is_err());
    }

    #[test]
    fn addresses_of_the_two_sizes_only() {
        assert_eq!(
            addr_from(&[192, 0, 2, 1]),
            Some("192.0.2.1".parse().unwrap())
        );
        let mut v6 = [0u8; 16];
        v6[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
        v6[15] = 1;
        assert_eq!(addr_from(&v6), Some("2001:db8::1".parse().unwrap()));
        for len in [0, 3, 5, 15, 17] {
            assert_eq!(addr_from(&vec![1; len]), None);
        }
    }
}
