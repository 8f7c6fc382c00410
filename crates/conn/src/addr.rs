//! Address-like values of a connection: hosts, subnets, protocol/port selectors, ranges.
//!
//! These parse the textual forms libreswan accepts (`192.0.2.0/24`, `%any`, `tcp/22`,
//! `192.0.2.10-192.0.2.20`) and report what is wrong without naming the option; the
//! caller wraps the error with the option name.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};

/// What is wrong with an address-like value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddrError {
    /// Not an IPv4 or IPv6 address.
    #[error("\"{0}\" is not an IP address")]
    NotAnAddress(String),
    /// `addr/len` with an unparsable or too long prefix length.
    #[error("\"{0}\" has an invalid prefix length (IPv4 allows 0-32, IPv6 0-128)")]
    BadPrefix(String),
    /// `addr/len` where `addr` has bits beyond `len`.
    #[error("\"{given}\" has host bits set; did you mean {suggest}?")]
    HostBitsSet {
        /// What the user wrote.
        given: String,
        /// The network with the host bits cleared.
        suggest: String,
    },
    /// `proto/port` that does not parse.
    #[error("\"{0}\" is not protocol/port (e.g. tcp/22, udp/%any, 17/1701)")]
    BadProtoPort(String),
    /// `first-last` range that does not parse or is reversed or mixes families.
    #[error("\"{0}\" is not an address range first-last of one family in ascending order")]
    BadRange(String),
}

/// The `--host` of an end.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Host {
    /// A literal address.
    Addr(IpAddr),
    /// `%any`: whoever connects (a road-warrior template).
    Any,
    /// `%opportunistic`: opportunistic encryption with whoever the traffic is for.
    Opportunistic,
    /// `%defaultroute`: the address of the interface holding the default route.
    DefaultRoute,
    /// A DNS name, resolved by the daemon (this crate does no I/O).
    Dns(String),
}

impl Host {
    /// Parse `--host` / `left=`.
    pub fn parse(s: &str) -> Result<Host, AddrError> {
        let t = s.trim();
        match t.to_ascii_lowercase().as_str() {
            "%any" | "%any4" | "%any6" => return Ok(Host::Any),
            "%opportunistic" | "%opportunisticgroup" => return Ok(Host::Opportunistic),
            "%defaultroute" => return Ok(Host::DefaultRoute),
            _ => {}
        }
        if let Ok(a) = t.parse::<IpAddr>() {
            return Ok(Host::Addr(a));
        }
        if is_dns_name(t) {
            return Ok(Host::Dns(t.to_string()));
        }
        Err(AddrError::NotAnAddress(s.to_string()))
    }

    /// The literal address, if known.
    pub fn addr(&self) -> Option<IpAddr> {
        match self {
            Host::Addr(a) => Some(*a),
            _ => None,
        }
    }

    /// `%any` or `%opportunistic`: the end stands for many peers.
    pub fn is_wildcard(&self) -> bool {
        matches!(self, Host::Any | Host::Opportunistic)
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Addr(a) => write!(f, "{a}"),
            Host::Any => f.write_str("%any"),
            Host::Opportunistic => f.write_str("%opportunistic"),
            Host::DefaultRoute => f.write_str("%defaultroute"),
            Host::Dns(n) => f.write_str(n),
        }
    }
}

/// A syntactically valid DNS host name (letters, digits, `-`, dots; not all-numeric).
fn is_dns_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
        })
        && !s.bytes().all(|b| b.is_ascii_digit() || b == b'.')
}

/// An IP prefix (libreswan's "subnet"): an address with all bits past `len` zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Subnet {
    addr: IpAddr,
    len: u8,
}

impl Subnet {
    /// A subnet; `None` when `len` is too long or `addr` has host bits set.
    pub fn new(addr: IpAddr, len: u8) -> Option<Subnet> {
        let s = Subnet { addr, len };
        (len <= max_len(addr) && s.network() == addr).then_some(s)
    }

    /// The single-address subnet `addr/32` or `addr/128`.
    pub fn host(addr: IpAddr) -> Subnet {
        Subnet {
            addr,
            len: max_len(addr),
        }
    }

    /// Everything of one family: `0.0.0.0/0` or `::/0`.
    pub fn all(v6: bool) -> Subnet {
        if v6 {
            Subnet {
                addr: IpAddr::V6(Ipv6Addr::UNSPECIFIED),
                len: 0,
            }
        } else {
            Subnet {
                addr: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                len: 0,
            }
        }
    }

    /// Parse `addr/len` or a bare `addr` (a single host). Host bits are an error, as a
    /// typo like `192.0.2.1/24` usually means the user meant something else.
    pub fn parse(s: &str) -> Result<Subnet, AddrError> {
        let t = s.trim();
        let (a, l) = match t.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (t, None),
        };
        let addr: IpAddr = a
            .parse()
            .map_err(|_| AddrError::NotAnAddress(s.to_string()))?;
        let len = match l {
            None => max_len(addr),
            Some(l) => {
                let n: u8 = l.parse().map_err(|_| AddrError::BadPrefix(s.to_string()))?;
                if n > max_len(addr) || l.starts_with('+') {
                    return Err(AddrError::BadPrefix(s.to_string()));
                }
                n
            }
        };
        let net = Subnet { addr, len }.network();
        if net != addr {
            return Err(AddrError::HostBitsSet {
                given: s.to_string(),
                suggest: Subnet { addr: net, len }.to_string(),
            });
        }
        Ok(Subnet { addr, len })
    }

    /// The network address.
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length.
    pub fn prefix_len(&self) -> u8 {
        self.len
    }

    /// IPv6?
    pub fn is_v6(&self) -> bool {
        self.addr.is_ipv6()
    }

    /// `addr/32` or `addr/128`.
    pub fn is_host(&self) -> bool {
        self.len == max_len(self.addr)
    }

    fn network(&self) -> IpAddr {
        match self.addr {
            IpAddr::V4(a) => {
                let m = mask32(self.len);
                IpAddr::V4(Ipv4Addr::from(u32::from(a) & m))
            }
            IpAddr::V6(a) => {
                let m = mask128(self.len);
                IpAddr::V6(Ipv6Addr::from(u128::from(a) & m))
            }
        }
    }

    /// The first and last address in the subnet.
    pub fn range(&self) -> (IpAddr, IpAddr) {
        match self.addr {
            IpAddr::V4(a) => {
                let lo = u32::from(a);
                let hi = lo | !mask32(self.len);
                (self.addr, IpAddr::V4(Ipv4Addr::from(hi)))
            }
            IpAddr::V6(a) => {
                let lo = u128::from(a);
                let hi = lo | !mask128(self.len);
                (self.addr, IpAddr::V6(Ipv6Addr::from(hi)))
            }
        }
    }

    /// Does the subnet hold `ip`?
    pub fn contains(&self, ip: IpAddr) -> bool {
        let (lo, hi) = self.range();
        same_family(lo, ip) && lo <= ip && ip <= hi
    }

    /// Does the subnet hold all of `first..=last`?
    pub fn contains_range(&self, first: IpAddr, last: IpAddr) -> bool {
        self.contains(first) && self.contains(last)
    }
}

impl From<Subnet> for ike::ts::Subnet {
    fn from(s: Subnet) -> Self {
        // A conn Subnet is always a valid prefix (checked on construction), so the
        // fallback is never taken; it only avoids a panic path.
        ike::ts::Subnet::new(s.addr, s.len).unwrap_or_else(|_| ike::ts::Subnet::host(s.addr))
    }
}

impl From<ike::ts::Subnet> for Subnet {
    fn from(s: ike::ts::Subnet) -> Self {
        Subnet {
            addr: s.addr(),
            len: s.prefix(),
        }
    }
}

impl fmt::Display for Subnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

fn max_len(a: IpAddr) -> u8 {
    if a.is_ipv4() {
        32
    } else {
        128
    }
}

fn mask32(len: u8) -> u32 {
    if len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(len.min(32)))
    }
}

fn mask128(len: u8) -> u128 {
    if len == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(len.min(128)))
    }
}

/// Both IPv4 or both IPv6.
pub fn same_family(a: IpAddr, b: IpAddr) -> bool {
    a.is_ipv4() == b.is_ipv4()
}

/// `--clientprotoport` / `leftprotoport=`: an IP protocol and optional port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ProtoPort {
    /// IP protocol number; 0 means any.
    pub proto: u8,
    /// Port; `None` means any (`%any` or `0`).
    pub port: Option<u16>,
}

pub use ike::ts::ip_protocol_number;

impl ProtoPort {
    /// Parse `proto/port`, `proto/%any` or `proto` (name or number).
    pub fn parse(s: &str) -> Result<ProtoPort, AddrError> {
        let bad = || AddrError::BadProtoPort(s.to_string());
        let t = s.trim();
        let (p, port) = match t.split_once('/') {
            Some((p, port)) => (p, Some(port)),
            None => (t, None),
        };
        let proto = match p.parse::<u8>() {
            Ok(n) => n,
            Err(_) => ip_protocol_number(p).ok_or_else(bad)?,
        };
        let port = match port {
            None => None,
            Some(x) if x.eq_ignore_ascii_case("%any") => None,
            Some(x) => match x.parse::<u16>().map_err(|_| bad())? {
                0 => None,
                n => Some(n),
            },
        };
        if port.is_some() && proto == 0 {
            return Err(bad());
        }
        Ok(ProtoPort { proto, port })
    }

    /// The protocol's name in upper case as libreswan's status prints it (`UDP`), or its
    /// number.
    pub fn proto_name(&self) -> String {
        match self.proto {
            // /etc/protocols' name, which libreswan prints (ike::ts says icmpv6)
            58 => "IPV6-ICMP".to_string(),
            p => ike::ts::ip_protocol_name(p)
                .map(str::to_ascii_uppercase)
                .unwrap_or_else(|| p.to_string()),
        }
    }
}

/// `tcp/22` is the port range 22..22; "any port" is 0..65535.
impl From<ProtoPort> for ike::ts::ProtoPort {
    fn from(pp: ProtoPort) -> Self {
        let (start_port, end_port) = match pp.port {
            Some(p) => (p, p),
            None => (0, u16::MAX),
        };
        ike::ts::ProtoPort {
            proto: pp.proto,
            start_port,
            end_port,
        }
    }
}

/// The IKEv2 traffic selector for a client subnet with an optional protocol/port
/// restriction (`leftsubnet=` + `leftprotoport=`), as sent in TSi/TSr.
pub fn traffic_selector(subnet: Subnet, pp: Option<ProtoPort>) -> ike::ts::TrafficSelector {
    ike::ts::TrafficSelector::from_subnet(
        subnet.into(),
        pp.map(Into::into).unwrap_or(ike::ts::ProtoPort::ANY),
    )
}

impl fmt::Display for ProtoPort {
    /// `UDP/1701` or `TCP` (any port), the libreswan status form without leading slash.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.port {
            Some(p) => write!(f, "{}/{}", self.proto_name(), p),
            None => write!(f, "{}", self.proto_name()),
        }
    }
}

/// An inclusive address range (`leftaddresspool=192.0.2.100-192.0.2.200`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AddrRange {
    /// First address.
    pub first: IpAddr,
    /// Last address.
    pub last: IpAddr,
}

impl AddrRange {
    /// Parse `first-last` or a subnet `addr/len` (its whole range).
    pub fn parse(s: &str) -> Result<AddrRange, AddrError> {
        let t = s.trim();
        if t.contains('/') {
            let sn = Subnet::parse(t)?;
            let (first, last) = sn.range();
            return Ok(AddrRange { first, last });
        }
        let bad = || AddrError::BadRange(s.to_string());
        let (a, b) = t.split_once('-').ok_or_else(bad)?;
        let first: IpAddr = a.trim().parse().map_err(|_| bad())?;
        let last: IpAddr = b.trim().parse().map_err(|_| bad())?;
        if !same_family(first, last) || first > last {
            return Err(bad());
        }
        Ok(AddrRange { first, last })
    }
}

impl fmt::Display for AddrRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.first, self.last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn host_forms() {
        assert_eq!(Host::parse("192.0.2.1"), Ok(Host::Addr(ip("192.0.2.1"))));
        assert_eq!(
            Host::parse("2001:db8::1"),
            Ok(Host::Addr(ip("2001:db8::1")))
        );
        assert_eq!(Host::parse("%ANY"), Ok(Host::Any));
        assert_eq!(Host::parse("%opportunistic"), Ok(Host::Opportunistic));
        assert_eq!(Host::parse("%defaultroute"), Ok(Host::DefaultRoute));
        assert_eq!(
            Host::parse("vpn.example.com"),
            Ok(Host::Dns("vpn.example.com".into()))
        );
        assert!(Host::parse("192.0.2.300").is_err());
        assert!(Host::parse("bad name").is_err());
        assert!(Host::parse("%bogus").is_err());
        assert!(Host::Any.is_wildcard() && !Host::DefaultRoute.is_wildcard());
    }

    #[test]
    fn subnet_parse_and_contains() {
        let s = Subnet::parse("192.0.2.0/24").unwrap();
        assert_eq!(s.to_string(), "192.0.2.0/24");
        assert!(s.contains(ip("192.0.2.255")));
        assert!(!s.contains(ip("192.0.3.0")));
        assert!(!s.contains(ip("2001:db8::1")));
        assert_eq!(
            Subnet::parse("192.0.2.7").unwrap().to_string(),
            "192.0.2.7/32"
        );
        assert!(Subnet::parse("192.0.2.7").unwrap().is_host());
        let all = Subnet::parse("0.0.0.0/0").unwrap();
        assert!(all.contains(ip("203.0.113.9")));
        let v6 = Subnet::parse("2001:db8:1::/48").unwrap();
        assert!(v6.is_v6() && v6.contains(ip("2001:db8:1:ffff::1")));
        assert_eq!(v6.range().1, ip("2001:db8:1:ffff:ffff:ffff:ffff:ffff"));
    }

    #[test]
    fn subnet_errors() {
        assert_eq!(
            Subnet::parse("192.0.2.1/24"),
            Err(AddrError::HostBitsSet {
                given: "192.0.2.1/24".into(),
                suggest: "192.0.2.0/24".into()
            })
        );
        assert!(matches!(
            Subnet::parse("192.0.2.0/33"),
            Err(AddrError::BadPrefix(_))
        ));
        assert!(matches!(
            Subnet::parse("192.0.2.0/x"),
            Err(AddrError::BadPrefix(_))
        ));
        assert!(matches!(
            Subnet::parse("nonsense/24"),
            Err(AddrError::NotAnAddress(_))
        ));
        assert!(Subnet::parse("2001:db8::/129").is_err());
        assert!(Subnet::new(ip("192.0.2.1"), 24).is_none());
        assert!(Subnet::new(ip("192.0.2.0"), 24).is_some());
    }

    #[test]
    fn protoport_forms() {
        assert_eq!(
            ProtoPort::parse("tcp/22"),
            Ok(ProtoPort {
                proto: 6,
                port: Some(22)
            })
        );
        assert_eq!(
            ProtoPort::parse("17/%any"),
            Ok(ProtoPort {
                proto: 17,
                port: None
            })
        );
        assert_eq!(ProtoPort::parse("udp/0").unwrap().port, None);
        assert_eq!(ProtoPort::parse("icmp").unwrap().proto, 1);
        assert_eq!(
            ProtoPort::parse("udp/1701").unwrap().to_string(),
            "UDP/1701"
        );
        assert_eq!(ProtoPort::parse("99/5").unwrap().to_string(), "99/5");
        assert!(ProtoPort::parse("tcp/65536").is_err());
        assert!(ProtoPort::parse("bogus/1").is_err());
        assert!(ProtoPort::parse("0/80").is_err());
    }

    #[test]
    fn conversions_to_ike_ts() {
        for text in ["192.0.2.0/24", "0.0.0.0/0", "2001:db8:1::/48", "192.0.2.7"] {
            let s = Subnet::parse(text).unwrap();
            let t: ike::ts::Subnet = s.into();
            assert_eq!(t.to_string(), s.to_string());
            assert_eq!(t.range(), s.range());
            assert_eq!(Subnet::from(t), s);
        }
        let pp: ike::ts::ProtoPort = ProtoPort::parse("udp/1701").unwrap().into();
        assert_eq!((pp.proto, pp.start_port, pp.end_port), (17, 1701, 1701));
        let pp: ike::ts::ProtoPort = ProtoPort::parse("tcp").unwrap().into();
        assert_eq!((pp.proto, pp.start_port, pp.end_port), (6, 0, 65535));

        let ts = traffic_selector(
            Subnet::parse("198.51.100.0/24").unwrap(),
            Some(ProtoPort::parse("tcp/22").unwrap()),
        );
        assert_eq!(ts.start_addr(), ip("198.51.100.0"));
        assert_eq!(ts.end_addr(), ip("198.51.100.255"));
        assert_eq!((ts.ip_proto(), ts.start_port(), ts.end_port()), (6, 22, 22));
        assert_eq!(ts.ts_type(), ike::registry::TsType::IPV4_ADDR_RANGE);
        let ts = traffic_selector(Subnet::parse("2001:db8::/32").unwrap(), None);
        assert_eq!(
            (ts.ip_proto(), ts.start_port(), ts.end_port()),
            (0, 0, 65535)
        );
        assert_eq!(ts.end_addr(), ip("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"));
        assert_eq!(ts.to_string(), "2001:db8::/32");
    }

    #[test]
    fn range_forms() {
        let r = AddrRange::parse("192.0.2.10-192.0.2.20").unwrap();
        assert_eq!(r.first, ip("192.0.2.10"));
        assert_eq!(r.to_string(), "192.0.2.10-192.0.2.20");
        let s = AddrRange::parse("198.51.100.0/30").unwrap();
        assert_eq!(s.last, ip("198.51.100.3"));
        assert!(AddrRange::parse("192.0.2.20-192.0.2.10").is_err());
        assert!(AddrRange::parse("192.0.2.1-2001:db8::1").is_err());
        assert!(AddrRange::parse("192.0.2.1").is_err());
    }
}
