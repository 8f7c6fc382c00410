//! Security policies: which traffic is protected, passed, dropped or triggers
//! negotiation, and the priority scheme that lets the more specific policy win.

use std::fmt;
use std::net::IpAddr;

use crate::sa::{IpsecProto, Lifetimes, Mark, Mode};
use crate::selector::Selector;

/// Policy direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dir {
    /// Traffic arriving for this host.
    In,
    /// Traffic this host sends.
    Out,
    /// Traffic this host forwards (tunnel mode gateways need it beside `In`).
    Fwd,
}

impl Dir {
    pub(crate) fn number(self) -> u8 {
        match self {
            Dir::In => 0,
            Dir::Out => 1,
            Dir::Fwd => 2,
        }
    }

    pub(crate) fn from_number(n: u8) -> Option<Self> {
        match n {
            0 => Some(Dir::In),
            1 => Some(Dir::Out),
            2 => Some(Dir::Fwd),
            _ => None,
        }
    }
}

impl fmt::Display for Dir {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Dir::In => "in",
            Dir::Out => "out",
            Dir::Fwd => "fwd",
        })
    }
}

/// One transformation a policy requires, matched against SAs by protocol, mode,
/// endpoints and reqid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Template {
    /// Protocol of the SA.
    pub proto: IpsecProto,
    /// Mode of the SA.
    pub mode: Mode,
    /// Tunnel source (outer) address; `None` in transport mode.
    pub src: Option<IpAddr>,
    /// Tunnel destination (outer) address; `None` in transport mode.
    pub dst: Option<IpAddr>,
    /// Request ID; 0 matches any SA.
    pub reqid: u32,
    /// A specific SPI, or 0 for any.
    pub spi: u32,
    /// Optional templates may be skipped on input (IPComp leaves small packets
    /// uncompressed).
    pub optional: bool,
}

impl Template {
    /// A tunnel-mode template between two outer addresses.
    pub fn tunnel(proto: IpsecProto, src: IpAddr, dst: IpAddr, reqid: u32) -> Self {
        Self {
            proto,
            mode: Mode::Tunnel,
            src: Some(src),
            dst: Some(dst),
            reqid,
            spi: 0,
            optional: false,
        }
    }

    /// A transport-mode template.
    pub fn transport(proto: IpsecProto, reqid: u32) -> Self {
        Self {
            proto,
            mode: Mode::Transport,
            src: None,
            dst: None,
            reqid,
            spi: 0,
            optional: false,
        }
    }
}

/// What a policy does with matching traffic.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PolicyAction {
    /// Protect with SAs matching the templates (innermost first). With no SA
    /// installed yet, outbound traffic raises an ACQUIRE: this is libreswan's "trap"
    /// (on-demand) policy, see [`PolicyAction::trap`].
    Ipsec(Vec<Template>),
    /// Let the traffic through in the clear (%pass).
    Pass,
    /// Drop silently (%drop).
    Drop,
    /// libreswan's %reject. XFRM has no reject action (no ICMP is sent), so it is
    /// installed as a block like %drop; the crate logs that once per policy.
    Reject,
}

impl PolicyAction {
    /// An on-demand policy: outbound packets raise an ACQUIRE for the template until
    /// the SA is installed (the kernel holds or drops them meanwhile).
    pub fn trap(template: Template) -> Self {
        PolicyAction::Ipsec(vec![template])
    }

    pub(crate) fn is_block(&self) -> bool {
        matches!(self, PolicyAction::Drop | PolicyAction::Reject)
    }
}

/// How a policy's priority is chosen. In XFRM the lowest number wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Priority {
    /// Computed from the selector so that more specific policies win (see
    /// [`priority`]); for connections, their traps and negotiation shunts.
    Auto,
    /// Like `Auto` but in a band below every `Auto` policy: for wide opportunistic
    /// traps and catch-all shunts that any connection should override.
    Fallback,
    /// A number from the configuration (libreswan's `priority=`).
    Explicit(u32),
}

/// The band a computed priority falls into (the top bits).
const BAND_AUTO: u32 = 1;
const BAND_FALLBACK: u32 = 2;

/// The priority libreswan-style: lower is preferred, and it grows with how much the
/// selector leaves open. From most to least significant:
/// band (3 bits) | wildcard ports (2 bits: one per unset port) | wildcard protocol
/// (1 bit) | host bits of source + destination prefix (9 bits) | 8 zero bits that
/// leave room for a tie-breaker.
///
/// So for the same band a /32 beats a /24, a port-specific policy beats a port-less
/// one of the same prefixes, and a protocol-specific one beats any-protocol.
pub fn priority(selector: &Selector, priority: Priority) -> u32 {
    let band = match priority {
        Priority::Explicit(p) => return p,
        Priority::Auto => BAND_AUTO,
        Priority::Fallback => BAND_FALLBACK,
    };
    let ports = u32::from(selector.sport.is_none()) + u32::from(selector.dport.is_none());
    let proto = u32::from(selector.proto == 0);
    let width = u32::from(selector.src.host_bits()) + u32::from(selector.dst.host_bits());
    (band << 20) | (ports << 18) | (proto << 17) | (width << 8)
}

/// Everything needed to install one policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicySpec {
    /// The traffic it applies to.
    pub selector: Selector,
    /// Direction.
    pub dir: Dir,
    /// What to do with it.
    pub action: PolicyAction,
    /// Priority scheme.
    pub priority: Priority,
    /// Mark the policy applies to.
    pub mark: Option<Mark>,
    /// XFRM interface ID.
    pub if_id: Option<u32>,
    /// Policy lifetimes (rarely used; a soft/hard expiry raises POLEXPIRE).
    pub lifetimes: Lifetimes,
}

impl PolicySpec {
    /// A policy with automatic priority, no mark, no if_id and no lifetime.
    pub fn new(selector: Selector, dir: Dir, action: PolicyAction) -> Self {
        Self {
            selector,
            dir,
            action,
            priority: Priority::Auto,
            mark: None,
            if_id: None,
            lifetimes: Lifetimes::default(),
        }
    }

    /// What identifies this policy in the kernel.
    pub fn id(&self) -> PolicyId {
        PolicyId {
            selector: self.selector,
            dir: self.dir,
            mark: self.mark,
            if_id: self.if_id,
        }
    }
}

/// What identifies a policy in the kernel: selector, direction, mark and if_id (the
/// priority is not part of it, so a replace may change the priority).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PolicyId {
    /// Selector.
    pub selector: Selector,
    /// Direction.
    pub dir: Dir,
    /// Mark.
    pub mark: Option<Mark>,
    /// XFRM interface ID.
    pub if_id: Option<u32>,
}

/// A policy as read back from the kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyInfo {
    /// Selector; `None` when the kernel holds one this crate cannot represent
    /// (e.g. a family-less socket policy).
    pub selector: Option<Selector>,
    /// Direction (`None` for socket policies and other directions).
    pub dir: Option<Dir>,
    /// Allow (with or without templates) or block.
    pub block: bool,
    /// Templates, innermost first.
    pub templates: Vec<Template>,
    /// Priority.
    pub priority: u32,
    /// Kernel index.
    pub index: u32,
    /// Mark.
    pub mark: Option<Mark>,
    /// XFRM interface ID.
    pub if_id: Option<u32>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::selector::Subnet;

    fn sel(s: &str, d: &str) -> Selector {
        Selector::new(s.parse().unwrap(), d.parse().unwrap()).unwrap()
    }

    #[test]
    fn more_specific_wins() {
        let host = priority(&sel("192.0.2.1/32", "198.51.100.1/32"), Priority::Auto);
        let net = priority(&sel("192.0.2.0/24", "198.51.100.0/24"), Priority::Auto);
        let any = priority(&sel("0.0.0.0/0", "0.0.0.0/0"), Priority::Auto);
        assert!(host < net && net < any, "{host} {net} {any}");
        let tcp = priority(
            &sel("192.0.2.0/24", "198.51.100.0/24").with_proto(6),
            Priority::Auto,
        );
        let tcp443 = priority(
            &sel("192.0.2.0/24", "198.51.100.0/24")
                .with_proto(6)
                .with_ports(None, Some(443)),
            Priority::Auto,
        );
        assert!(tcp443 < tcp && tcp < net);
        // a port-specific policy wins over any prefix width without ports
        let wide443 = priority(
            &sel("0.0.0.0/0", "0.0.0.0/0")
                .with_proto(6)
                .with_ports(Some(443), Some(443)),
            Priority::Auto,
        );
        assert!(wide443 < host);
        let fallback_host = priority(&sel("192.0.2.1/32", "198.51.100.1/32"), Priority::Fallback);
        assert!(any < fallback_host);
        assert_eq!(
            priority(
                &sel("192.0.2.1/32", "198.51.100.1/32"),
                Priority::Explicit(7)
            ),
            7
        );
        let v6 = Selector::new(Subnet::any(true), Subnet::any(true)).unwrap();
        assert!(priority(&v6, Priority::Auto) < (BAND_FALLBACK << 20));
    }
}
