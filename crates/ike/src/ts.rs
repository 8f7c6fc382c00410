//! Traffic selectors for IKEv2 Child SAs (RFC 7296 2.9, 3.13) and their narrowing.
//!
//! A [`TrafficSelector`] is an address range of one family, an IP protocol (0 = any)
//! and a port range, exactly what a TS_IPV4_ADDR_RANGE / TS_IPV6_ADDR_RANGE carries.
//! Connections describe their ends as a [`Subnet`] plus a [`ProtoPort`]
//! (`leftsubnet=192.0.2.0/24`, `leftprotoport=tcp/22`).
//!
//! Narrowing: the responder intersects what the initiator proposed with its own
//! configuration ([`narrow`]); the initiator checks that what came back is within what
//! it sent ([`check_narrowed`]). Both fail with TS_UNACCEPTABLE.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

use core::fmt;
use core::str::FromStr;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::registry::{NotifyType, TsType};

/// A malformed selector, subnet or protoport.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TsError {
    /// Start and end address of different families.
    #[error("traffic selector mixes address families ({start} .. {end}); both ends must be IPv4 or both IPv6")]
    FamilyMismatch {
        /// Start address.
        start: IpAddr,
        /// End address.
        end: IpAddr,
    },
    /// Start address after end address.
    #[error("traffic selector start address {start} is after end address {end}")]
    AddressOrder {
        /// Start address.
        start: IpAddr,
        /// End address.
        end: IpAddr,
    },
    /// Start port after end port (other than the OPAQUE encoding 65535..0).
    #[error("traffic selector start port {start} is after end port {end}; only 65535-0 (OPAQUE) may be reversed")]
    PortOrder {
        /// Start port.
        start: u16,
        /// End port.
        end: u16,
    },
    /// A subnet that does not parse.
    #[error("invalid subnet '{input}': {why}")]
    Subnet {
        /// The text given.
        input: String,
        /// What is wrong and what was expected.
        why: &'static str,
    },
    /// A protoport that does not parse.
    #[error("invalid protoport '{input}': {why}")]
    ProtoPort {
        /// The text given.
        input: String,
        /// What is wrong and what was expected.
        why: &'static str,
    },
}

/// Narrowing failed: no acceptable selectors (responder) or an answer outside what
/// was proposed (initiator). Either way the Child SA fails with TS_UNACCEPTABLE.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NarrowError {
    /// The intersection with our configuration is empty for one side.
    #[error("no part of the proposed {side} ({proposed}) is within our configured {side} ({configured}); answering TS_UNACCEPTABLE")]
    Unacceptable {
        /// "TSi" or "TSr".
        side: &'static str,
        /// What was proposed, for the log line.
        proposed: String,
        /// What we have configured, for the log line.
        configured: String,
    },
    /// The responder returned no selectors for one side.
    #[error("responder returned no {side} traffic selectors")]
    Empty {
        /// "TSi" or "TSr".
        side: &'static str,
    },
    /// The responder returned a selector that is not within any we sent.
    #[error("responder's {side} {got} is not within what we proposed ({sent})")]
    NotSubset {
        /// "TSi" or "TSr".
        side: &'static str,
        /// The offending selector.
        got: TrafficSelector,
        /// What we sent, for the log line.
        sent: String,
    },
}

impl NarrowError {
    /// The notify that reports this failure.
    pub fn notify(&self) -> NotifyType {
        NotifyType::TS_UNACCEPTABLE
    }
}

/// Address family plus the address as an integer, so ranges compare numerically.
fn addr_key(a: IpAddr) -> (bool, u128) {
    match a {
        IpAddr::V4(v4) => (false, u128::from(u32::from(v4))),
        IpAddr::V6(v6) => (true, u128::from(v6)),
    }
}

fn addr_from_key(v6: bool, n: u128) -> IpAddr {
    if v6 {
        IpAddr::V6(Ipv6Addr::from(n))
    } else {
        // Callers only pass values that came from an IPv4 address.
        IpAddr::V4(Ipv4Addr::from(u32::try_from(n).unwrap_or(u32::MAX)))
    }
}

fn family_bits(v6: bool) -> u8 {
    if v6 {
        128
    } else {
        32
    }
}

/// Mask of the host part for a prefix length (all ones below the prefix).
fn host_mask(bits: u8, prefix: u8) -> u128 {
    let host = u32::from(bits.saturating_sub(prefix));
    if host >= 128 {
        u128::MAX
    } else {
        (1u128 << host) - 1
    }
}

/// Port range meaning "all ports".
const ANY_PORTS: (u16, u16) = (0, 65535);
/// RFC 7296 3.13.1 / RFC 4301: start 65535, end 0 means OPAQUE ports.
const OPAQUE_PORTS: (u16, u16) = (65535, 0);

/// One IKEv2 traffic selector: an address range of one family, an IP protocol
/// (0 = any) and a port range (ICMP type/code live in the port fields, RFC 4301 4.4.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TrafficSelector {
    ip_proto: u8,
    start_port: u16,
    end_port: u16,
    start_addr: IpAddr,
    end_addr: IpAddr,
}

impl TrafficSelector {
    /// A selector from its wire fields, checked: one family, start <= end, and ports
    /// in order unless they are the OPAQUE encoding 65535..0.
    pub fn new(
        ip_proto: u8,
        start_port: u16,
        end_port: u16,
        start_addr: IpAddr,
        end_addr: IpAddr,
    ) -> Result<Self, TsError> {
        let (sf, s) = addr_key(start_addr);
        let (ef, e) = addr_key(end_addr);
        if sf != ef {
            return Err(TsError::FamilyMismatch {
                start: start_addr,
                end: end_addr,
            });
        }
        if s > e {
            return Err(TsError::AddressOrder {
                start: start_addr,
                end: end_addr,
            });
        }
        if start_port > end_port && (start_port, end_port) != OPAQUE_PORTS {
            return Err(TsError::PortOrder {
                start: start_port,
                end: end_port,
            });
        }
        Ok(Self {
            ip_proto,
            start_port,
            end_port,
            start_addr,
            end_addr,
        })
    }

    /// The selector for a subnet and protoport (`192.0.2.0/24` + `tcp/22`).
    pub fn from_subnet(subnet: Subnet, pp: ProtoPort) -> Self {
        let (start_addr, end_addr) = subnet.range();
        Self {
            ip_proto: pp.proto,
            start_port: pp.start_port,
            end_port: pp.end_port,
            start_addr,
            end_addr,
        }
    }

    /// Everything of one family: `0.0.0.0/0` or `::/0`, any protocol, any port.
    pub fn all(v6: bool) -> Self {
        let subnet = Subnet {
            addr: addr_from_key(v6, 0),
            prefix: 0,
        };
        Self::from_subnet(subnet, ProtoPort::ANY)
    }

    /// A single address, any protocol and port.
    pub fn host(addr: IpAddr) -> Self {
        Self::from_subnet(Subnet::host(addr), ProtoPort::ANY)
    }

    /// IP protocol number, 0 for any.
    pub fn ip_proto(&self) -> u8 {
        self.ip_proto
    }

    /// First port (or ICMP type/code) of the range.
    pub fn start_port(&self) -> u16 {
        self.start_port
    }

    /// Last port of the range.
    pub fn end_port(&self) -> u16 {
        self.end_port
    }

    /// First address of the range.
    pub fn start_addr(&self) -> IpAddr {
        self.start_addr
    }

    /// Last address of the range.
    pub fn end_addr(&self) -> IpAddr {
        self.end_addr
    }

    /// True for IPv6 selectors.
    pub fn is_ipv6(&self) -> bool {
        self.start_addr.is_ipv6()
    }

    /// The TS type this selector is sent as.
    pub fn ts_type(&self) -> TsType {
        if self.is_ipv6() {
            TsType::IPV6_ADDR_RANGE
        } else {
            TsType::IPV4_ADDR_RANGE
        }
    }

    /// True when the ports are the OPAQUE encoding.
    pub fn is_opaque_ports(&self) -> bool {
        (self.start_port, self.end_port) == OPAQUE_PORTS
    }

    /// True when the range is one address (as in the triggering-packet selector).
    pub fn is_host(&self) -> bool {
        self.start_addr == self.end_addr
    }

    /// The range as a subnet, when it is one (`192.0.2.0/24`).
    pub fn subnet(&self) -> Option<Subnet> {
        let (v6, s) = addr_key(self.start_addr);
        let (_, e) = addr_key(self.end_addr);
        let mask = s ^ e;
        let contiguous = mask & mask.wrapping_add(1) == 0;
        if !contiguous || s & mask != 0 {
            return None;
        }
        let host_bits = u8::try_from(mask.count_ones()).ok()?;
        let prefix = family_bits(v6).checked_sub(host_bits)?;
        Some(Subnet {
            addr: self.start_addr,
            prefix,
        })
    }

    fn addr_range(&self) -> (bool, u128, u128) {
        let (f, s) = addr_key(self.start_addr);
        (f, s, addr_key(self.end_addr).1)
    }

    /// Intersection of the port parts, where OPAQUE only meets OPAQUE or any-port.
    fn port_intersection(&self, other: &Self) -> Option<(u16, u16)> {
        let a = (self.start_port, self.end_port);
        let b = (other.start_port, other.end_port);
        match (a == OPAQUE_PORTS, b == OPAQUE_PORTS) {
            (true, true) => Some(OPAQUE_PORTS),
            (true, false) => (b == ANY_PORTS).then_some(OPAQUE_PORTS),
            (false, true) => (a == ANY_PORTS).then_some(OPAQUE_PORTS),
            (false, false) => {
                let lo = a.0.max(b.0);
                let hi = a.1.min(b.1);
                (lo <= hi).then_some((lo, hi))
            }
        }
    }

    /// The traffic both selectors cover, if any.
    pub fn intersect(&self, other: &Self) -> Option<Self> {
        let (fa, sa, ea) = self.addr_range();
        let (fb, sb, eb) = other.addr_range();
        if fa != fb {
            return None;
        }
        let (s, e) = (sa.max(sb), ea.min(eb));
        if s > e {
            return None;
        }
        let ip_proto = match (self.ip_proto, other.ip_proto) {
            (0, p) | (p, 0) => p,
            (p, q) if p == q => p,
            _ => return None,
        };
        let (start_port, end_port) = self.port_intersection(other)?;
        Some(Self {
            ip_proto,
            start_port,
            end_port,
            start_addr: addr_from_key(fa, s),
            end_addr: addr_from_key(fa, e),
        })
    }

    /// True when every packet `other` covers, `self` covers too.
    pub fn contains(&self, other: &Self) -> bool {
        self.intersect(other).is_some_and(|i| i == *other)
    }
}

/// `192.0.2.0/24`, `192.0.2.1-192.0.2.9`, with `:tcp/22` appended when the
/// selector is narrower than any protocol and port.
impl fmt::Display for TrafficSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.subnet() {
            Some(s) => write!(f, "{s}")?,
            None => write!(f, "{}-{}", self.start_addr, self.end_addr)?,
        }
        let pp = ProtoPort {
            proto: self.ip_proto,
            start_port: self.start_port,
            end_port: self.end_port,
        };
        if pp != ProtoPort::ANY {
            write!(f, ":{pp}")?;
        }
        Ok(())
    }
}

/// An address prefix: `192.0.2.0/24`, `2001:db8::/32`, or a bare address (/32, /128).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Subnet {
    addr: IpAddr,
    prefix: u8,
}

impl Subnet {
    /// A subnet from its network address and prefix length; host bits must be zero.
    pub fn new(addr: IpAddr, prefix: u8) -> Result<Self, TsError> {
        let err = |why| TsError::Subnet {
            input: format!("{addr}/{prefix}"),
            why,
        };
        let (v6, n) = addr_key(addr);
        if prefix > family_bits(v6) {
            return Err(err(
                "prefix length too long; expected at most 32 for IPv4, 128 for IPv6",
            ));
        }
        if n & host_mask(family_bits(v6), prefix) != 0 {
            return Err(err(
                "host bits set after the prefix; give the network address",
            ));
        }
        Ok(Self { addr, prefix })
    }

    /// The /32 or /128 of one address.
    pub fn host(addr: IpAddr) -> Self {
        Self {
            addr,
            prefix: family_bits(addr.is_ipv6()),
        }
    }

    /// Network address.
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// Prefix length.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// First and last address.
    pub fn range(&self) -> (IpAddr, IpAddr) {
        let (v6, n) = addr_key(self.addr);
        let mask = host_mask(family_bits(v6), self.prefix);
        (addr_from_key(v6, n & !mask), addr_from_key(v6, n | mask))
    }
}

impl FromStr for Subnet {
    type Err = TsError;

    fn from_str(s: &str) -> Result<Self, TsError> {
        let err = |why| TsError::Subnet {
            input: s.to_owned(),
            why,
        };
        let (a, p) = match s.trim().split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s.trim(), None),
        };
        let addr: IpAddr = a
            .parse()
            .map_err(|_| err("expected an address such as 192.0.2.0/24 or 2001:db8::/32"))?;
        let prefix = match p {
            None => family_bits(addr.is_ipv6()),
            Some(p) => p
                .parse::<u8>()
                .map_err(|_| err("expected a prefix length after '/'"))?,
        };
        Subnet::new(addr, prefix).map_err(|e| match e {
            TsError::Subnet { why, .. } => err(why),
            other => other,
        })
    }
}

impl fmt::Display for Subnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// libreswan's `leftprotoport=`: protocol and port (range), `%any` for either.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProtoPort {
    /// IP protocol, 0 for any.
    pub proto: u8,
    /// First port.
    pub start_port: u16,
    /// Last port.
    pub end_port: u16,
}

/// IP protocol names libreswan accepts for a protocol (ipsec.conf `protoport=`, whack
/// `--oppoproto`), with their numbers. Where two names share a number, the first is
/// the one [`ProtoPort`]'s `Display` prints.
const PROTO_NAMES: &[(&str, u8)] = &[
    ("icmp", 1),
    ("tcp", 6),
    ("udp", 17),
    ("gre", 47),
    ("esp", 50),
    ("ah", 51),
    ("icmpv6", 58),
    ("ipv6-icmp", 58),
    ("sctp", 132),
];

/// The number of an IP protocol named as libreswan accepts it (`tcp`, `UDP`,
/// `ipv6-icmp`, ...; case does not matter). Numbers are not names: callers parse them.
pub fn ip_protocol_number(name: &str) -> Option<u8> {
    PROTO_NAMES
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|&(_, number)| number)
}

/// The name [`ProtoPort`] prints for an IP protocol number, if it has one.
pub fn ip_protocol_name(number: u8) -> Option<&'static str> {
    PROTO_NAMES
        .iter()
        .find(|&&(_, n)| n == number)
        .map(|&(name, _)| name)
}

impl ProtoPort {
    /// Any protocol, any port.
    pub const ANY: Self = Self {
        proto: 0,
        start_port: ANY_PORTS.0,
        end_port: ANY_PORTS.1,
    };
}

impl FromStr for ProtoPort {
    type Err = TsError;

    /// `tcp/22`, `17/%any`, `udp`, `tcp/1024-2047`, `%any`. Port 0 means any port,
    /// as in libreswan.
    fn from_str(s: &str) -> Result<Self, TsError> {
        let err = |why| TsError::ProtoPort {
            input: s.to_owned(),
            why,
        };
        let (p, port) = match s.trim().split_once('/') {
            Some((p, port)) => (p.trim(), Some(port.trim())),
            None => (s.trim(), None),
        };
        let proto = if p == "%any" || p == "0" {
            0
        } else if let Some(n) = ip_protocol_number(p) {
            n
        } else {
            p.parse::<u8>().map_err(|_| {
                err("expected a protocol name (tcp, udp, icmp, sctp...), a number 0-255 or %any")
            })?
        };
        let (start_port, end_port) = match port {
            None | Some("%any") | Some("0") => ANY_PORTS,
            Some(range) => {
                let parse = |x: &str| {
                    x.trim()
                        .parse::<u16>()
                        .map_err(|_| err("expected a port 0-65535, a range a-b or %any"))
                };
                let (a, b) = match range.split_once('-') {
                    Some((a, b)) => (parse(a)?, parse(b)?),
                    None => {
                        let a = parse(range)?;
                        (a, a)
                    }
                };
                if a > b {
                    return Err(err("port range start is after its end"));
                }
                (a, b)
            }
        };
        if proto == 0 && (start_port, end_port) != ANY_PORTS {
            return Err(err(
                "a port needs a protocol; give tcp/22 rather than %any/22",
            ));
        }
        Ok(Self {
            proto,
            start_port,
            end_port,
        })
    }
}

impl fmt::Display for ProtoPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match ip_protocol_name(self.proto) {
            _ if self.proto == 0 => f.write_str("%any")?,
            Some(name) => f.write_str(name)?,
            None => write!(f, "{}", self.proto)?,
        }
        match (self.start_port, self.end_port) {
            ANY_PORTS => {
                if self.proto != 0 {
                    f.write_str("/%any")?;
                }
                Ok(())
            }
            OPAQUE_PORTS => f.write_str("/OPAQUE"),
            (a, b) if a == b => write!(f, "/{a}"),
            (a, b) => write!(f, "/{a}-{b}"),
        }
    }
}

/// The narrowed selectors a responder answers with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Narrowed {
    /// Initiator's side, best first.
    pub tsi: Vec<TrafficSelector>,
    /// Responder's side, best first.
    pub tsr: Vec<TrafficSelector>,
}

fn list(ts: &[TrafficSelector]) -> String {
    let v: Vec<String> = ts.iter().map(ToString::to_string).collect();
    v.join(" ")
}

/// Intersects one side's proposed selectors with our configured ones. Results that
/// another result covers are dropped; those that include `trigger` come first.
fn narrow_side(
    side: &'static str,
    proposed: &[TrafficSelector],
    configured: &[TrafficSelector],
    trigger: Option<&TrafficSelector>,
) -> Result<Vec<TrafficSelector>, NarrowError> {
    let mut out: Vec<TrafficSelector> = Vec::new();
    for p in proposed {
        for c in configured {
            let Some(i) = p.intersect(c) else { continue };
            if out.iter().any(|o| o.contains(&i)) {
                continue;
            }
            out.retain(|o| !i.contains(o));
            out.push(i);
        }
    }
    if out.is_empty() {
        return Err(NarrowError::Unacceptable {
            side,
            proposed: list(proposed),
            configured: list(configured),
        });
    }
    if let Some(t) = trigger {
        // Stable: keeps the initiator's order within each group.
        out.sort_by_key(|o| !o.contains(t));
    }
    Ok(out)
}

/// The responder's narrowing (RFC 7296 2.9): TSi against our configured remote
/// (peer) selectors, TSr against our local ones. When both lists start with a
/// single-address selector followed by more, the first pair is the packet that
/// triggered the negotiation and the answer puts the selectors that cover it first.
pub fn narrow(
    tsi: &[TrafficSelector],
    tsr: &[TrafficSelector],
    remote: &[TrafficSelector],
    local: &[TrafficSelector],
) -> Result<Narrowed, NarrowError> {
    let trigger = match (tsi, tsr) {
        ([i, _, ..], [r, _, ..]) if i.is_host() && r.is_host() => Some((i, r)),
        _ => None,
    };
    Ok(Narrowed {
        tsi: narrow_side("TSi", tsi, remote, trigger.map(|t| t.0))?,
        tsr: narrow_side("TSr", tsr, local, trigger.map(|t| t.1))?,
    })
}

/// The initiator's check of the responder's TSi/TSr: non-empty, and every selector
/// within one we sent.
pub fn check_narrowed(
    sent_tsi: &[TrafficSelector],
    sent_tsr: &[TrafficSelector],
    got_tsi: &[TrafficSelector],
    got_tsr: &[TrafficSelector],
) -> Result<(), NarrowError> {
    for (side, sent, got) in [("TSi", sent_tsi, got_tsi), ("TSr", sent_tsr, got_tsr)] {
        if got.is_empty() {
            return Err(NarrowError::Empty { side });
        }
        if let Some(g) = got.iter().find(|g| !sent.iter().any(|s| s.contains(g))) {
            return Err(NarrowError::NotSubset {
                side,
                got: *g,
                sent: list(sent),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_names_both_ways() {
        assert_eq!(ip_protocol_number("TCP"), Some(6));
        assert_eq!(ip_protocol_number("ipv6-icmp"), Some(58));
        assert_eq!(ip_protocol_number("icmpv6"), Some(58));
        assert_eq!(ip_protocol_number("6"), None);
        assert_eq!(ip_protocol_number("tcpx"), None);
        assert_eq!(ip_protocol_name(58), Some("icmpv6"));
        assert_eq!(ip_protocol_name(132), Some("sctp"));
        assert_eq!(ip_protocol_name(99), None);
    }

    fn ts(subnet: &str, pp: &str) -> TrafficSelector {
        TrafficSelector::from_subnet(subnet.parse().unwrap(), pp.parse().unwrap())
    }

    #[test]
    fn subnet_ranges() {
        let s: Subnet = "192.0.2.0/24".parse().unwrap();
        assert_eq!(
            s.range(),
            ("192.0.2.0".parse().unwrap(), "192.0.2.255".parse().unwrap())
        );
        let s: Subnet = "0.0.0.0/0".parse().unwrap();
        assert_eq!(s.range().1, "255.255.255.255".parse::<IpAddr>().unwrap());
        let s: Subnet = "::/0".parse().unwrap();
        assert_eq!(s.range().1, IpAddr::V6(Ipv6Addr::from(u128::MAX)));
        let s: Subnet = "2001:db8::/32".parse().unwrap();
        assert_eq!(
            s.range().1,
            "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"
                .parse::<IpAddr>()
                .unwrap()
        );
        let s: Subnet = "198.51.100.7".parse().unwrap();
        assert_eq!(s.prefix(), 32);
        assert!("192.0.2.1/24".parse::<Subnet>().is_err());
        assert!("192.0.2.0/33".parse::<Subnet>().is_err());
        assert!("192.0.2.0/x".parse::<Subnet>().is_err());
        assert!("example/24".parse::<Subnet>().is_err());
        let e = "192.0.2.1/24".parse::<Subnet>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid subnet '192.0.2.1/24': host bits set after the prefix; give the network address"
        );
    }

    #[test]
    fn protoports() {
        let p: ProtoPort = "tcp/22".parse().unwrap();
        assert_eq!((p.proto, p.start_port, p.end_port), (6, 22, 22));
        let p: ProtoPort = "17/%any".parse().unwrap();
        assert_eq!((p.proto, p.start_port, p.end_port), (17, 0, 65535));
        let p: ProtoPort = "udp/0".parse().unwrap();
        assert_eq!((p.start_port, p.end_port), (0, 65535));
        let p: ProtoPort = "tcp/1024-2047".parse().unwrap();
        assert_eq!((p.start_port, p.end_port), (1024, 2047));
        assert_eq!("%any".parse::<ProtoPort>().unwrap(), ProtoPort::ANY);
        assert_eq!("sctp".parse::<ProtoPort>().unwrap().proto, 132);
        assert!("%any/22".parse::<ProtoPort>().is_err());
        assert!("tcp/70000".parse::<ProtoPort>().is_err());
        assert!("tcp/20-10".parse::<ProtoPort>().is_err());
        assert!("bogus/1".parse::<ProtoPort>().is_err());
        assert_eq!("tcp/22".parse::<ProtoPort>().unwrap().to_string(), "tcp/22");
        assert_eq!(
            "17/%any".parse::<ProtoPort>().unwrap().to_string(),
            "udp/%any"
        );
        assert_eq!(ProtoPort::ANY.to_string(), "%any");
    }

    #[test]
    fn constructor_checks() {
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.9".parse().unwrap();
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        assert!(TrafficSelector::new(0, 0, 65535, a, b).is_ok());
        assert!(matches!(
            TrafficSelector::new(0, 0, 65535, b, a),
            Err(TsError::AddressOrder { .. })
        ));
        assert!(matches!(
            TrafficSelector::new(0, 0, 65535, a, v6),
            Err(TsError::FamilyMismatch { .. })
        ));
        assert!(matches!(
            TrafficSelector::new(6, 80, 22, a, b),
            Err(TsError::PortOrder { .. })
        ));
        let opaque = TrafficSelector::new(6, 65535, 0, a, b).unwrap();
        assert!(opaque.is_opaque_ports());
        assert_eq!(opaque.ts_type(), TsType::IPV4_ADDR_RANGE);
        assert_eq!(
            TrafficSelector::all(true).ts_type(),
            TsType::IPV6_ADDR_RANGE
        );
    }

    #[test]
    fn display() {
        assert_eq!(ts("192.0.2.0/24", "%any").to_string(), "192.0.2.0/24");
        assert_eq!(
            ts("192.0.2.0/24", "tcp/22").to_string(),
            "192.0.2.0/24:tcp/22"
        );
        assert_eq!(TrafficSelector::all(false).to_string(), "0.0.0.0/0");
        assert_eq!(TrafficSelector::all(true).to_string(), "::/0");
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.9".parse().unwrap();
        let r = TrafficSelector::new(17, 500, 500, a, b).unwrap();
        assert_eq!(r.to_string(), "192.0.2.1-192.0.2.9:udp/500");
        assert_eq!(TrafficSelector::host(a).to_string(), "192.0.2.1/32");
    }

    #[test]
    fn intersection_rules() {
        let wide = ts("192.0.2.0/24", "%any");
        let narrow = ts("192.0.2.128/25", "tcp/22");
        assert_eq!(wide.intersect(&narrow), Some(narrow));
        assert_eq!(narrow.intersect(&wide), Some(narrow));
        assert!(wide.contains(&narrow));
        assert!(!narrow.contains(&wide));
        // Different protocols never meet; different families never meet.
        assert_eq!(
            ts("192.0.2.0/24", "tcp").intersect(&ts("192.0.2.0/24", "udp")),
            None
        );
        assert_eq!(wide.intersect(&TrafficSelector::all(true)), None);
        // Disjoint addresses and ports.
        assert_eq!(wide.intersect(&ts("198.51.100.0/24", "%any")), None);
        assert_eq!(
            ts("192.0.2.0/24", "tcp/1-100").intersect(&ts("192.0.2.0/24", "tcp/200-300")),
            None
        );
        // Partial port overlap.
        let i = ts("192.0.2.0/24", "tcp/1-100")
            .intersect(&ts("192.0.2.0/25", "tcp/50-300"))
            .unwrap();
        assert_eq!((i.start_port(), i.end_port()), (50, 100));
        assert_eq!(i.subnet().unwrap().to_string(), "192.0.2.0/25");
        // OPAQUE meets OPAQUE and any-port only.
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let opaque = TrafficSelector::new(6, 65535, 0, a, a).unwrap();
        assert_eq!(opaque.intersect(&wide), Some(opaque));
        assert_eq!(opaque.intersect(&ts("192.0.2.0/24", "tcp/22")), None);
        assert_eq!(opaque.intersect(&opaque), Some(opaque));
    }

    #[test]
    fn responder_narrows_to_configuration() {
        // Initiator asks for everything; we only do 192.0.2.0/24 <-> 198.51.100.0/24.
        let n = narrow(
            &[TrafficSelector::all(false)],
            &[TrafficSelector::all(false)],
            &[ts("192.0.2.0/24", "%any")],
            &[ts("198.51.100.0/24", "%any")],
        )
        .unwrap();
        assert_eq!(n.tsi, vec![ts("192.0.2.0/24", "%any")]);
        assert_eq!(n.tsr, vec![ts("198.51.100.0/24", "%any")]);
    }

    #[test]
    fn responder_keeps_narrower_proposal() {
        let n = narrow(
            &[ts("192.0.2.0/25", "tcp/22")],
            &[ts("198.51.100.7/32", "%any")],
            &[ts("192.0.2.0/24", "%any")],
            &[ts("198.51.100.0/24", "%any")],
        )
        .unwrap();
        assert_eq!(n.tsi, vec![ts("192.0.2.0/25", "tcp/22")]);
        assert_eq!(n.tsr, vec![ts("198.51.100.7/32", "%any")]);
    }

    #[test]
    fn responder_rejects_disjoint() {
        let e = narrow(
            &[ts("203.0.113.0/24", "%any")],
            &[ts("198.51.100.0/24", "%any")],
            &[ts("192.0.2.0/24", "%any")],
            &[ts("198.51.100.0/24", "%any")],
        )
        .unwrap_err();
        assert_eq!(e.notify(), NotifyType::TS_UNACCEPTABLE);
        assert!(matches!(e, NarrowError::Unacceptable { side: "TSi", .. }));
        assert!(e.to_string().contains("203.0.113.0/24"), "{e}");
        let e = narrow(
            &[],
            &[TrafficSelector::all(false)],
            &[TrafficSelector::all(false)],
            &[TrafficSelector::all(false)],
        )
        .unwrap_err();
        assert!(matches!(e, NarrowError::Unacceptable { side: "TSi", .. }));
    }

    #[test]
    fn triggering_packet_selector_orders_results() {
        // The packet 192.0.2.200 -> 198.51.100.9 triggered; our configuration has two
        // subnets on the peer's side and the second contains the packet.
        let pkt_i = ts("192.0.2.200/32", "tcp/40000");
        let pkt_r = ts("198.51.100.9/32", "tcp/443");
        let n = narrow(
            &[pkt_i, TrafficSelector::all(false)],
            &[pkt_r, TrafficSelector::all(false)],
            &[ts("192.0.2.0/25", "%any"), ts("192.0.2.128/25", "%any")],
            &[ts("198.51.100.0/24", "%any")],
        )
        .unwrap();
        assert_eq!(
            n.tsi,
            vec![ts("192.0.2.128/25", "%any"), ts("192.0.2.0/25", "%any")]
        );
        assert_eq!(n.tsr, vec![ts("198.51.100.0/24", "%any")]);
    }

    #[test]
    fn duplicate_and_covered_results_collapse() {
        let n = narrow(
            &[ts("192.0.2.0/26", "%any"), ts("192.0.2.0/24", "%any")],
            &[TrafficSelector::all(false)],
            &[ts("192.0.2.0/24", "%any")],
            &[ts("198.51.100.0/24", "%any"), ts("198.51.100.0/24", "%any")],
        )
        .unwrap();
        assert_eq!(n.tsi, vec![ts("192.0.2.0/24", "%any")]);
        assert_eq!(n.tsr, vec![ts("198.51.100.0/24", "%any")]);
    }

    #[test]
    fn initiator_checks_answer() {
        let sent_i = [ts("192.0.2.0/24", "%any")];
        let sent_r = [ts("198.51.100.0/24", "%any")];
        assert!(check_narrowed(&sent_i, &sent_r, &sent_i, &sent_r).is_ok());
        assert!(check_narrowed(&sent_i, &sent_r, &[ts("192.0.2.0/25", "tcp/22")], &sent_r).is_ok());
        let e =
            check_narrowed(&sent_i, &sent_r, &[ts("192.0.2.0/23", "%any")], &sent_r).unwrap_err();
        assert!(matches!(e, NarrowError::NotSubset { side: "TSi", .. }));
        assert_eq!(e.notify(), NotifyType::TS_UNACCEPTABLE);
        let e = check_narrowed(&sent_i, &sent_r, &sent_i, &[]).unwrap_err();
        assert_eq!(e, NarrowError::Empty { side: "TSr" });
    }
}
