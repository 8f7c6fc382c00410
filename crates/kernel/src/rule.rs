//! FIB rules that make `%reject` shunts answer: XFRM can only block a packet
//! silently, so a reject shunt also gets a routing rule (RTM_NEWRULE) over its
//! outbound selector with the action "unreachable". The routing decision comes
//! before the XFRM lookup, so a packet the shunt covers is refused there: a
//! forwarded one with an ICMP (ICMPv6) destination unreachable to its sender, a
//! local sender with `ENETUNREACH`. The XFRM block policy stays underneath, so
//! the traffic is still stopped if the rule cannot be added.
//!
//! Our rules are told apart from anyone else's by their priority band
//! ([`REJECT_PRIORITY`] and [`EXCEPTION_PRIORITY`], just above the `main` table's
//! 32766) and by their originator protocol ([`RULE_PROTOCOL`]), so a restarted
//! daemon can find and remove what a crashed one left.
//!
//! A reject selector may cover this host's own IKE traffic (a host-to-host
//! connection, or a wide subnet around the host): while any reject rule exists,
//! two exception rules of a higher priority send UDP from source ports 500 and
//! 4500 (IKE, ESP-in-UDP) on to the `main` table as usual, per address family.

use std::net::IpAddr;

use crate::error::{KernelError, Op};
use crate::nl::{attrs, u32_at, MsgBuilder, Requester, NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST};
use crate::sa::Mark;
use crate::selector::{Selector, Subnet};

const RTM_NEWRULE: u16 = 32;
const RTM_DELRULE: u16 = 33;
const RTM_GETRULE: u16 = 34;
const NLM_F_CREATE: u16 = 0x400;

const FRA_DST: u16 = 1;
const FRA_SRC: u16 = 2;
const FRA_PRIORITY: u16 = 6;
const FRA_FWMARK: u16 = 10;
const FRA_FWMASK: u16 = 16;
const FRA_TABLE: u16 = 15;
const FRA_PROTOCOL: u16 = 21;
const FRA_IP_PROTO: u16 = 22;
const FRA_SPORT_RANGE: u16 = 23;
const FRA_DPORT_RANGE: u16 = 24;

const FR_ACT_TO_TBL: u8 = 1;
const FR_ACT_UNREACHABLE: u8 = 7;
const RT_TABLE_MAIN: u8 = 254;
const AF_INET: u8 = 2;
const AF_INET6: u8 = 10;
const IPPROTO_UDP: u8 = 17;

/// The priority of the rules that refuse a reject shunt's traffic. Below the
/// `main` table's 32766 so they are consulted first; `ip rule` shows them as
/// `32600: from ... to ... unreachable`.
pub const REJECT_PRIORITY: u32 = 32600;
/// The priority of the exceptions for IKE (UDP from ports 500 and 4500), which
/// must be consulted before the reject rules.
pub const EXCEPTION_PRIORITY: u32 = 32599;
/// The originator protocol our rules carry (`ip rule` prints `proto 251`): a
/// value no routing daemon registers in iproute2's rt_protos.
pub const RULE_PROTOCOL: u8 = 251;
/// UDP source ports kept out of reject rules: IKE and NAT-T.
const IKE_PORTS: [u16; 2] = [500, 4500];

/// One FIB rule as pluto-rs installs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rule {
    pub ipv6: bool,
    pub src: Option<Subnet>,
    pub dst: Option<Subnet>,
    pub ip_proto: u8,
    pub sport: Option<u16>,
    pub dport: Option<u16>,
    pub priority: u32,
    /// `None`: unreachable; `Some(table)`: look the route up in that table.
    pub table: Option<u8>,
    /// The policy's mark (`--conn-mark`), matched as the packet's fwmark: the
    /// rule then refuses only the traffic the policy covers.
    pub mark: Option<Mark>,
}

impl Rule {
    /// The rule that refuses the traffic of a reject shunt's outbound selector
    /// (and mark).
    pub fn reject(sel: &Selector, mark: Option<Mark>) -> Rule {
        Rule {
            mark,
            ipv6: sel.src.is_ipv6(),
            src: Some(sel.src),
            dst: Some(sel.dst),
            ip_proto: sel.proto,
            sport: sel.sport,
            dport: sel.dport,
            priority: REJECT_PRIORITY,
            table: None,
        }
    }

    /// The exceptions that keep IKE of one family away from the reject rules.
    pub fn ike_exceptions(ipv6: bool) -> [Rule; 2] {
        IKE_PORTS.map(|port| Rule {
            ipv6,
            src: None,
            dst: None,
            ip_proto: IPPROTO_UDP,
            sport: Some(port),
            dport: None,
            priority: EXCEPTION_PRIORITY,
            table: Some(RT_TABLE_MAIN),
            mark: None,
        })
    }

    fn msg(&self, msg_type: u16, flags: u16) -> MsgBuilder {
        let mut m = MsgBuilder::new(msg_type, flags);
        let len = |s: &Option<Subnet>| s.map_or(0, |s| s.prefix());
        // struct fib_rule_hdr: family, dst_len, src_len, tos, table, res1, res2,
        // action, flags (u32).
        let (table, action) = match self.table {
            Some(t) => (t, FR_ACT_TO_TBL),
            None => (0, FR_ACT_UNREACHABLE),
        };
        let family = if self.ipv6 { AF_INET6 } else { AF_INET };
        m.body(&[
            family,
            len(&self.dst),
            len(&self.src),
            0,
            table,
            0,
            0,
            action,
            0,
            0,
            0,
            0,
        ]);
        let addr = |s: &Subnet| match s.addr() {
            IpAddr::V4(a) => a.octets().to_vec(),
            IpAddr::V6(a) => a.octets().to_vec(),
        };
        if let Some(d) = &self.dst {
            if d.prefix() > 0 {
                m.attr(FRA_DST, &addr(d));
            }
        }
        if let Some(s) = &self.src {
            if s.prefix() > 0 {
                m.attr(FRA_SRC, &addr(s));
            }
        }
        m.attr(FRA_PRIORITY, &self.priority.to_ne_bytes());
        if let Some(t) = self.table {
            m.attr(FRA_TABLE, &u32::from(t).to_ne_bytes());
        }
        m.attr(FRA_PROTOCOL, &[RULE_PROTOCOL]);
        if self.ip_proto != 0 {
            m.attr(FRA_IP_PROTO, &[self.ip_proto]);
        }
        let range = |p: u16| [p.to_ne_bytes(), p.to_ne_bytes()].concat();
        if let Some(p) = self.sport {
            m.attr(FRA_SPORT_RANGE, &range(p));
        }
        if let Some(p) = self.dport {
            m.attr(FRA_DPORT_RANGE, &range(p));
        }
        if let Some(mk) = self.mark {
            m.attr(FRA_FWMARK, &mk.value.to_ne_bytes());
            m.attr(FRA_FWMASK, &mk.mask.to_ne_bytes());
        }
        m
    }
}

/// Adds `rule` (a duplicate of an existing one is added again: the kernel keeps
/// a count of equal rules only through their number).
pub(crate) async fn add(req: &Requester, rule: &Rule) -> Result<(), KernelError> {
    req.request(
        Op::Rule,
        rule.msg(RTM_NEWRULE, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE),
    )
    .await
    .map(|_| ())
}

/// Deletes one rule equal to `rule`.
pub(crate) async fn delete(req: &Requester, rule: &Rule) -> Result<(), KernelError> {
    req.request(Op::Rule, rule.msg(RTM_DELRULE, NLM_F_REQUEST | NLM_F_ACK))
        .await
        .map(|_| ())
}

/// Deletes every rule of ours (our priority band and protocol), of both
/// families, whoever installed it: what a crashed daemon left behind. Returns
/// how many went.
pub(crate) async fn flush(req: &Requester) -> Result<usize, KernelError> {
    let mut m = MsgBuilder::new(RTM_GETRULE, NLM_F_REQUEST | NLM_F_DUMP);
    m.body(&[0u8; 12]);
    let mut ours = Vec::new();
    for msg in req.dump(Op::Rule, m).await? {
        if msg.msg_type != RTM_NEWRULE || msg.payload.len() < 12 {
            continue;
        }
        let (mut priority, mut protocol) = (None, None);
        for (ty, v) in attrs(&msg.payload, 12)? {
            match ty {
                FRA_PRIORITY => priority = Some(u32_at(v, 0)?),
                FRA_PROTOCOL => protocol = v.first().copied(),
                _ => {}
            }
        }
        let band = matches!(priority, Some(REJECT_PRIORITY | EXCEPTION_PRIORITY));
        if band && protocol == Some(RULE_PROTOCOL) {
            ours.push(msg.payload);
        }
    }
    let mut n = 0;
    for payload in ours {
        // The dumped rule, sent back as a delete, names exactly that rule.
        let mut m = MsgBuilder::new(RTM_DELRULE, NLM_F_REQUEST | NLM_F_ACK);
        m.body(&payload);
        match req.request(Op::Rule, m).await {
            Ok(_) => n += 1,
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(a: &str, p: u8) -> Subnet {
        Subnet::new(a.parse().unwrap(), p).unwrap()
    }

    #[test]
    fn reject_rule_encodes_selector_action_priority_and_protocol() {
        let mut sel = Selector::new(sub("198.51.100.10", 32), sub("203.0.113.0", 24)).unwrap();
        sel.proto = 6;
        sel.dport = Some(22);
        let mark = Mark {
            value: 0x10,
            mask: 0xff,
        };
        let bytes = Rule::reject(&sel, Some(mark))
            .msg(RTM_NEWRULE, NLM_F_REQUEST)
            .finish(7);
        let payload = &bytes[16..];
        // family, dst_len, src_len, tos, table, res1, res2, action
        assert_eq!(
            &payload[..8],
            &[AF_INET, 24, 32, 0, 0, 0, 0, FR_ACT_UNREACHABLE]
        );
        let a = attrs(payload, 12).unwrap();
        let get = |t: u16| a.iter().find(|(ty, _)| *ty == t).map(|(_, v)| v.to_vec());
        assert_eq!(get(FRA_DST), Some(vec![203, 0, 113, 0]));
        assert_eq!(get(FRA_SRC), Some(vec![198, 51, 100, 10]));
        assert_eq!(
            get(FRA_PRIORITY),
            Some(REJECT_PRIORITY.to_ne_bytes().to_vec())
        );
        assert_eq!(get(FRA_PROTOCOL), Some(vec![RULE_PROTOCOL]));
        assert_eq!(get(FRA_IP_PROTO), Some(vec![6]));
        assert_eq!(
            get(FRA_DPORT_RANGE),
            Some([22u16.to_ne_bytes(), 22u16.to_ne_bytes()].concat())
        );
        assert_eq!(get(FRA_SPORT_RANGE), None);
        assert_eq!(get(FRA_TABLE), None);
        assert_eq!(get(FRA_FWMARK), Some(0x10u32.to_ne_bytes().to_vec()));
        assert_eq!(get(FRA_FWMASK), Some(0xffu32.to_ne_bytes().to_vec()));
    }

    #[test]
    fn exceptions_send_ike_ports_to_main_before_the_rejects() {
        let [a, b] = Rule::ike_exceptions(true);
        assert_eq!((a.sport, b.sport), (Some(500), Some(4500)));
        let bytes = a.msg(RTM_NEWRULE, NLM_F_REQUEST).finish(1);
        let payload = &bytes[16..];
        assert_eq!(
            &payload[..8],
            &[AF_INET6, 0, 0, 0, RT_TABLE_MAIN, 0, 0, FR_ACT_TO_TBL]
        );
        let a = attrs(payload, 12).unwrap();
        assert!(a
            .iter()
            .any(|(t, v)| *t == FRA_TABLE && *v == 254u32.to_ne_bytes()));
        assert!(a
            .iter()
            .any(|(t, v)| *t == FRA_IP_PROTO && *v == [IPPROTO_UDP]));
        assert!(!a.iter().any(|(t, _)| *t == FRA_SRC || *t == FRA_DST));
        const { assert!(EXCEPTION_PRIORITY < REJECT_PRIORITY && REJECT_PRIORITY < 32766) };
    }
}
