//! Traffic selectors: which packets a policy or SA applies to.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use crate::error::KernelError;

/// An address prefix such as `192.0.2.0/24` or `2001:db8::/32`. The address is kept
/// with its host bits cleared, so equal prefixes compare equal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Subnet {
    addr: IpAddr,
    prefix: u8,
}

impl Subnet {
    /// A prefix; host bits of `addr` are cleared. Fails if `prefix` is longer than the
    /// address.
    pub fn new(addr: IpAddr, prefix: u8) -> Result<Self, KernelError> {
        let max = max_prefix(addr);
        if prefix > max {
            return Err(KernelError::Invalid(format!(
                "prefix length /{prefix} is longer than the {max} bits of {addr}"
            )));
        }
        Ok(Self {
            addr: mask(addr, prefix),
            prefix,
        })
    }

    /// The single address `addr` (/32 or /128).
    pub fn host(addr: IpAddr) -> Self {
        Self {
            addr,
            prefix: max_prefix(addr),
        }
    }

    /// Everything of `addr`'s family (0.0.0.0/0 or ::/0).
    pub fn any(v6: bool) -> Self {
        Self {
            addr: if v6 {
                IpAddr::V6(Ipv6Addr::UNSPECIFIED)
            } else {
                IpAddr::V4(Ipv4Addr::UNSPECIFIED)
            },
            prefix: 0,
        }
    }

    /// The network address.
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length in bits.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// True for an IPv6 prefix.
    pub fn is_ipv6(&self) -> bool {
        self.addr.is_ipv6()
    }

    /// Bits of the address left unspecified (how wide the prefix is).
    pub fn host_bits(&self) -> u8 {
        max_prefix(self.addr) - self.prefix
    }

    /// True when `ip` is inside this prefix.
    pub fn contains(&self, ip: IpAddr) -> bool {
        ip.is_ipv6() == self.addr.is_ipv6() && mask(ip, self.prefix) == self.addr
    }
}

fn max_prefix(addr: IpAddr) -> u8 {
    if addr.is_ipv6() {
        128
    } else {
        32
    }
}

fn mask(addr: IpAddr, prefix: u8) -> IpAddr {
    match addr {
        IpAddr::V4(a) => {
            let m = if prefix == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(prefix))
            };
            IpAddr::V4(Ipv4Addr::from(u32::from(a) & m))
        }
        IpAddr::V6(a) => {
            let m = if prefix == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(prefix))
            };
            IpAddr::V6(Ipv6Addr::from(u128::from(a) & m))
        }
    }
}

impl fmt::Display for Subnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl FromStr for Subnet {
    type Err = KernelError;

    /// Parses `addr/prefix` or a bare address (a host prefix).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || KernelError::Invalid(format!("{s:?} is not an address or address/prefix"));
        match s.split_once('/') {
            Some((a, p)) => {
                let addr: IpAddr = a.parse().map_err(|_| bad())?;
                let prefix: u8 = p.parse().map_err(|_| bad())?;
                Subnet::new(addr, prefix)
            }
            None => Ok(Subnet::host(s.parse().map_err(|_| bad())?)),
        }
    }
}

/// A traffic selector: source and destination prefixes, IP protocol and ports.
///
/// For ICMP the kernel reuses the port fields: the source port holds the type and the
/// destination port the code, which callers pass the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Selector {
    /// Source prefix.
    pub src: Subnet,
    /// Destination prefix.
    pub dst: Subnet,
    /// IP protocol number, 0 for any.
    pub proto: u8,
    /// Source port, `None` for any.
    pub sport: Option<u16>,
    /// Destination port, `None` for any.
    pub dport: Option<u16>,
}

impl Selector {
    /// All traffic from `src` to `dst`, any protocol and port. Both prefixes must be of
    /// the same family.
    pub fn new(src: Subnet, dst: Subnet) -> Result<Self, KernelError> {
        if src.is_ipv6() != dst.is_ipv6() {
            return Err(KernelError::Invalid(format!(
                "selector {src} -> {dst} mixes address families"
            )));
        }
        Ok(Self {
            src,
            dst,
            proto: 0,
            sport: None,
            dport: None,
        })
    }

    /// The selector for host-to-host traffic between two addresses.
    pub fn hosts(src: IpAddr, dst: IpAddr) -> Result<Self, KernelError> {
        Self::new(Subnet::host(src), Subnet::host(dst))
    }

    /// Restricts to one IP protocol.
    pub fn with_proto(mut self, proto: u8) -> Self {
        self.proto = proto;
        self
    }

    /// Restricts the ports (or ICMP type/code).
    pub fn with_ports(mut self, sport: Option<u16>, dport: Option<u16>) -> Self {
        self.sport = sport;
        self.dport = dport;
        self
    }

    /// True for an IPv6 selector.
    pub fn is_ipv6(&self) -> bool {
        self.src.is_ipv6()
    }

    /// The same selector seen from the other end (source and destination swapped).
    pub fn reversed(&self) -> Self {
        Self {
            src: self.dst,
            dst: self.src,
            proto: self.proto,
            sport: self.dport,
            dport: self.sport,
        }
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} -> {}", self.src, self.dst)?;
        if self.proto != 0 {
            write!(f, " proto {}", self.proto)?;
        }
        if let Some(p) = self.sport {
            write!(f, " sport {p}")?;
        }
        if let Some(p) = self.dport {
            write!(f, " dport {p}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnet_parsing_masks_host_bits() {
        let s: Subnet = "192.0.2.77/24".parse().unwrap();
        assert_eq!(s.to_string(), "192.0.2.0/24");
        assert!(s.contains("192.0.2.1".parse().unwrap()));
        assert!(!s.contains("198.51.100.1".parse().unwrap()));
        let h: Subnet = "2001:db8::1".parse().unwrap();
        assert_eq!(h.prefix(), 128);
        assert_eq!(h.host_bits(), 0);
        assert!("192.0.2.0/33".parse::<Subnet>().is_err());
        assert!("nonsense".parse::<Subnet>().is_err());
        assert_eq!(Subnet::any(false).host_bits(), 32);
    }

    #[test]
    fn selector_rejects_mixed_families() {
        let a: Subnet = "192.0.2.0/24".parse().unwrap();
        let b: Subnet = "2001:db8::/32".parse().unwrap();
        assert!(Selector::new(a, b).is_err());
        let s = Selector::new(a, Subnet::any(false)).unwrap().with_proto(6);
        assert_eq!(s.reversed().src, Subnet::any(false));
        assert_eq!(s.to_string(), "192.0.2.0/24 -> 0.0.0.0/0 proto 6");
    }
}
