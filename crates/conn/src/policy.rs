//! Connection-wide policy: authentication, IPsec services, lifetimes and shunts, as typed
//! values with libreswan's defaults filled in.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::spec::{
    AddrFamily, Encapsulation, FailShunt, Fragmentation, IkeVersion, Mode, OnTraffic,
};

/// libreswan's default IKE SA lifetime (`ikelifetime=8h`).
pub const DEFAULT_IKE_LIFETIME: Duration = Duration::from_secs(8 * 3600);
/// libreswan's default IPsec SA lifetime (`ipsec-lifetime=8h`).
pub const DEFAULT_IPSEC_LIFETIME: Duration = Duration::from_secs(8 * 3600);
/// The longest lifetime libreswan accepts for either SA; longer values are reduced.
pub const MAX_LIFETIME: Duration = Duration::from_secs(24 * 3600);
/// libreswan's default `rekeymargin=9m`.
pub const DEFAULT_REKEY_MARGIN: Duration = Duration::from_secs(540);
/// libreswan's default `rekeyfuzz=100%`.
pub const DEFAULT_REKEY_FUZZ: u32 = 100;
/// libreswan's NAT keepalive interval.
pub const NAT_KEEPALIVE: Duration = Duration::from_secs(20);

/// The `--pfsgroup` spellings whack offers (libreswan's). The daemon accepts every
/// group name `ike::proposal` knows (`ike::proposal::alg::lookup_ke`), which
/// includes all of these except the RFC 5114 groups `dh22`/`dh23`/`dh24`: the whack
/// manual still lists them, but libreswan 4 removed them and `ike::crypto` has none,
/// so adding a connection with one fails with a message saying so.
pub const PFS_GROUPS: &[&str] = &[
    "modp1024",
    "modp1536",
    "modp2048",
    "modp3072",
    "modp4096",
    "modp6144",
    "modp8192",
    "dh19",
    "dh20",
    "dh21",
    "dh22",
    "dh23",
    "dh24",
    "dh31",
    "dh32",
    "ecp256",
    "ecp384",
    "ecp521",
    "curve25519",
    "curve448",
];

/// How the peers may authenticate (several may be allowed at once).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AuthBy {
    /// Pre-shared key.
    pub psk: bool,
    /// RSA signatures.
    pub rsasig: bool,
    /// ECDSA signatures.
    pub ecdsa: bool,
    /// NULL authentication (RFC 7619).
    pub null: bool,
}

impl AuthBy {
    /// `authby=never`: no method at all, as a shunt connection has; it never
    /// negotiates.
    pub fn never(&self) -> bool {
        !(self.psk || self.rsasig || self.ecdsa || self.null)
    }

    /// libreswan's `authby=` spelling (`secret`, `rsasig`, `rsasig,ecdsa`, `null`).
    pub fn keyword(&self) -> String {
        let mut v = Vec::new();
        if self.psk {
            v.push("secret");
        }
        if self.rsasig {
            v.push("rsasig");
        }
        if self.ecdsa {
            v.push("ecdsa");
        }
        if self.null {
            v.push("null");
        }
        if v.is_empty() {
            "never".into()
        } else {
            v.join(",")
        }
    }
}

/// `--conn-mark` / `mark=`: an XFRM mark with mask, or a per-instance unique mark (`-1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ConnMark {
    /// The mark value (ignored when `unique`).
    pub value: u32,
    /// The mask.
    pub mask: u32,
    /// `-1`: the daemon allocates a distinct mark for each instance.
    pub unique: bool,
}

impl ConnMark {
    /// Parse `mark[/mask]` with decimal or `0x` numbers; `-1` asks for a unique mark.
    pub fn parse(s: &str) -> Option<ConnMark> {
        let (v, m) = match s.trim().split_once('/') {
            Some((v, m)) => (v.trim(), Some(m.trim())),
            None => (s.trim(), None),
        };
        let mask = match m {
            Some(m) => parse_u32(m)?,
            None => u32::MAX,
        };
        if v == "-1" {
            return Some(ConnMark {
                value: 0,
                mask,
                unique: true,
            });
        }
        let value = parse_u32(v)?;
        if value & !mask != 0 {
            return None;
        }
        Some(ConnMark {
            value,
            mask,
            unique: false,
        })
    }
}

impl fmt::Display for ConnMark {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.unique {
            write!(f, "-1/{:#010x}", self.mask)
        } else {
            write!(f, "{}/{:#010x}", self.value, self.mask)
        }
    }
}

fn parse_u32(s: &str) -> Option<u32> {
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u32::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

/// The connection-wide policy, validated and defaulted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    /// IKE version (default IKEv2).
    pub ike_version: IkeVersion,
    /// Allowed authentication methods.
    pub authby: AuthBy,
    /// ESP.
    pub encrypt: bool,
    /// AH.
    pub authenticate: bool,
    /// IPComp.
    pub compress: bool,
    /// Tunnel or transport.
    pub mode: Mode,
    /// PFS for child SAs.
    pub pfs: bool,
    /// PFS group keyword, when given.
    pub pfsgroup: Option<String>,
    /// `ike=` proposal string as given; the parsed form is `Connection::proposals`.
    pub ike: Option<String>,
    /// `esp=` proposal string as given.
    pub esp: Option<String>,
    /// IKE SA lifetime.
    pub ike_lifetime: Duration,
    /// IPsec SA lifetime.
    pub ipsec_lifetime: Duration,
    /// Time before expiry at which rekeying starts.
    pub rekey_margin: Duration,
    /// Random extra margin, percent of `rekey_margin`.
    pub rekey_fuzz: u32,
    /// Keying attempts; 0 = forever.
    pub keying_tries: u32,
    /// Rekey at all?
    pub rekey: bool,
    /// IKEv1 aggressive mode.
    pub aggressive: bool,
    /// Mode-config pull (client asks) rather than push.
    pub modecfg_pull: bool,
    /// Route metric.
    pub metric: u32,
    /// NFLOG group.
    pub nflog_group: Option<u16>,
    /// XFRM mark.
    pub conn_mark: Option<ConnMark>,
    /// DPD / liveness interval; `None` = off.
    pub dpd_delay: Option<Duration>,
    /// DPD timeout (IKEv1).
    pub dpd_timeout: Option<Duration>,
    /// ESP-in-UDP.
    pub encapsulation: Encapsulation,
    /// IKE fragmentation.
    pub fragmentation: Fragmentation,
    /// Send NAT keepalives.
    pub nat_keepalive: bool,
    /// What routed-but-down traffic gets.
    pub on_traffic: OnTraffic,
    /// What traffic gets after negotiation failed.
    pub failure_shunt: FailShunt,
    /// Required family of the host addresses.
    pub host_family: Option<AddrFamily>,
    /// Required family of the client subnets.
    pub tunnel_family: Option<AddrFamily>,
}

impl Policy {
    /// Does the connection negotiate IPsec SAs at all? Without ESP, AH or IPComp it only
    /// builds an IKE SA (as the whack manual says).
    pub fn has_ipsec(&self) -> bool {
        self.encrypt || self.authenticate || self.compress
    }

    /// libreswan's `policy:` line: `IKEv2+PSK+ENCRYPT+TUNNEL+PFS+...`.
    pub fn flags(&self) -> String {
        let mut v: Vec<&str> = Vec::new();
        v.push(match self.ike_version {
            IkeVersion::V1 => "IKEv1",
            IkeVersion::V2 => "IKEv2",
        });
        if self.authby.psk {
            v.push("PSK");
        }
        if self.authby.rsasig {
            v.push("RSASIG");
        }
        if self.authby.ecdsa {
            v.push("ECDSA");
        }
        if self.authby.null {
            v.push("AUTH_NULL");
        }
        if self.encrypt {
            v.push("ENCRYPT");
        }
        if self.authenticate {
            v.push("AUTHENTICATE");
        }
        if self.compress {
            v.push("COMPRESS");
        }
        if self.has_ipsec() {
            v.push(match self.mode {
                Mode::Tunnel => "TUNNEL",
                Mode::Transport => "TRANSPORT",
            });
        }
        if self.pfs {
            v.push("PFS");
        }
        if !self.rekey {
            v.push("DONT_REKEY");
        }
        if self.aggressive {
            v.push("AGGRESSIVE");
        }
        if self.modecfg_pull {
            v.push("MODECFG_PULL");
        }
        match self.fragmentation {
            Fragmentation::Yes => v.push("IKE_FRAG_ALLOW"),
            Fragmentation::Force => v.push("IKE_FRAG_FORCE"),
            Fragmentation::No => {}
        }
        if !self.nat_keepalive {
            v.push("NO_KEEPALIVE");
        }
        match self.on_traffic {
            OnTraffic::Initiate => {}
            OnTraffic::Pass => v.push("NEGO_PASS"),
            OnTraffic::Drop => v.push("NEGO_DROP"),
            OnTraffic::Reject => v.push("NEGO_REJECT"),
        }
        match self.failure_shunt {
            FailShunt::None => {}
            FailShunt::Pass => v.push("failurePASS"),
            FailShunt::Drop => v.push("failureDROP"),
            FailShunt::Reject => v.push("failureREJECT"),
        }
        v.join("+")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mark_forms() {
        assert_eq!(
            ConnMark::parse("5"),
            Some(ConnMark {
                value: 5,
                mask: u32::MAX,
                unique: false
            })
        );
        assert_eq!(
            ConnMark::parse("0x10/0xf0"),
            Some(ConnMark {
                value: 0x10,
                mask: 0xf0,
                unique: false
            })
        );
        assert!(ConnMark::parse("-1/0xffff").unwrap().unique);
        assert_eq!(ConnMark::parse("0x10/0x0f"), None, "value outside mask");
        assert_eq!(ConnMark::parse("x"), None);
        assert_eq!(
            ConnMark::parse("5/0xff").unwrap().to_string(),
            "5/0x000000ff"
        );
    }

    #[test]
    fn every_whack_pfsgroup_is_a_known_group() {
        for g in PFS_GROUPS {
            let removed = crate::proposals::REMOVED_GROUPS.contains(g);
            assert_eq!(ike::proposal::alg::lookup_ke(g).is_some(), !removed, "{g}");
        }
    }

    #[test]
    fn authby_keyword() {
        let a = AuthBy {
            rsasig: true,
            ecdsa: true,
            ..AuthBy::default()
        };
        assert_eq!(a.keyword(), "rsasig,ecdsa");
        assert_eq!(AuthBy::default().keyword(), "never");
    }
}
