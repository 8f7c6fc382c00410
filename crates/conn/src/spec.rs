//! The *description* of a connection, exactly as a user gave it.
//!
//! A [`ConnSpec`] is what `whack`'s connection form and an `ipsec.conf` `conn` section both
//! produce: every option the user may give, untyped where typing needs context (addresses,
//! IDs, subnets are validated later, when the daemon adds the connection, so the error can
//! say which option was wrong and why), typed where the value is a plain keyword or number
//! (so a client can reject `--sendcert maybe` before it ever talks to the daemon).
//!
//! The description is symmetric, as in libreswan: `left` holds the options given before
//! `--to` (or the `left*=` keys), `right` the options after it. Which end is "us" is only
//! decided when the connection is added, by matching hosts against the machine's
//! addresses (see `Connection::from_spec`).
//!
//! Everything here is `serde`-serializable because this is what travels over the control
//! socket from `whack` to the daemon.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A keyword given to an option that does not accept it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{option}: unknown value \"{value}\"; expected one of: {expected}")]
pub struct KeywordError {
    /// The option (whack `--long-name` spelling without dashes, or ipsec.conf key).
    pub option: &'static str,
    /// What the user wrote.
    pub value: String,
    /// The accepted spellings, `|`-separated, for the message.
    pub expected: &'static str,
}

/// Declares a keyword enum with its accepted spellings (first spelling is canonical).
macro_rules! keyword_enum {
    (
        $(#[$meta:meta])*
        $name:ident, $option:literal {
            $( $(#[$vmeta:meta])* $variant:ident => [$canon:literal $(, $alias:literal)*] ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "kebab-case")]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $name {
            /// The option name used in error messages.
            pub const OPTION: &'static str = $option;
            /// Every accepted spelling, for help text and error messages.
            pub const EXPECTED: &'static str =
                concat!($( $canon, $("|", $alias,)* "|", )+);

            /// The canonical keyword, as libreswan prints it.
            pub fn keyword(self) -> &'static str {
                match self { $( $name::$variant => $canon, )+ }
            }

            /// Parse a keyword case-insensitively, accepting libreswan's aliases.
            pub fn from_keyword(s: &str) -> Result<Self, KeywordError> {
                let l = s.to_ascii_lowercase();
                $(
                    if l == $canon $(|| l == $alias)* {
                        return Ok($name::$variant);
                    }
                )+
                Err(KeywordError {
                    option: $option,
                    value: s.to_string(),
                    expected: Self::EXPECTED.trim_end_matches('|'),
                })
            }
        }

        impl FromStr for $name {
            type Err = KeywordError;
            fn from_str(s: &str) -> Result<Self, KeywordError> {
                Self::from_keyword(s)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.keyword())
            }
        }
    };
}

keyword_enum! {
    /// `--sendcert` / `leftsendcert=`: when to send our certificate.
    SendCert, "sendcert" {
        /// Always send (`yes`, `forced` and `always` all mean this).
        Always => ["always", "yes", "forced"],
        /// Only when the peer sent a CERTREQ (libreswan's default).
        IfAsked => ["sendifasked", "ifasked"],
        /// Never send.
        Never => ["never", "no"],
    }
}

keyword_enum! {
    /// `--sendca` / `sendca=`: which CA certificates to send along with ours.
    SendCa, "sendca" {
        /// Only our end certificate.
        None => ["none"],
        /// The issuing CA as well.
        Issuer => ["issuer"],
        /// The whole chain we know.
        All => ["all"],
    }
}

keyword_enum! {
    /// `--fragmentation` / `fragmentation=`: IKE fragmentation (RFC 7383).
    Fragmentation, "fragmentation" {
        /// Offer and use it when the peer supports it.
        Yes => ["yes"],
        /// Never fragment.
        No => ["no"],
        /// Fragment even before the peer said it supports it (IKEv1 only).
        Force => ["force"],
    }
}

keyword_enum! {
    /// `--encapsulation` / `encapsulation=`: ESP-in-UDP (RFC 3948).
    Encapsulation, "encapsulation" {
        /// Always encapsulate, even without NAT.
        Yes => ["yes"],
        /// Never encapsulate.
        No => ["no"],
        /// Encapsulate when NAT is detected (default).
        Auto => ["auto"],
    }
}

keyword_enum! {
    /// `--ikev1` / `--ikev2`, `keyexchange=` / `ikev2=`: the IKE version.
    IkeVersion, "ike-version" {
        /// IKEv1 (RFC 2409).
        V1 => ["ikev1", "1"],
        /// IKEv2 (RFC 7296), the default.
        V2 => ["ikev2", "2", "ike"],
    }
}

keyword_enum! {
    /// `--ipv4` / `--ipv6`, `--tunnelipv4` / `--tunnelipv6`: an address family.
    AddrFamily, "address-family" {
        /// IPv4.
        Ipv4 => ["ipv4", "inet"],
        /// IPv6.
        Ipv6 => ["ipv6", "inet6"],
    }
}

keyword_enum! {
    /// `--tunnel` (or `type=`): the IPsec encapsulation mode.
    Mode, "type" {
        /// Tunnel mode (the `ipsec.conf` default).
        Tunnel => ["tunnel"],
        /// Transport mode.
        Transport => ["transport"],
    }
}

keyword_enum! {
    /// `--initiateontraffic` / `--pass` / `--drop` / `--reject`: what happens to traffic
    /// matching the connection while it is routed but not yet up.
    OnTraffic, "prospective-shunt" {
        /// Trap it and initiate (libreswan's "ondemand").
        Initiate => ["initiateontraffic", "ondemand", "trap"],
        /// Let it pass in the clear.
        Pass => ["pass", "passthrough"],
        /// Drop it silently.
        Drop => ["drop", "hold"],
        /// Drop it and send ICMP unreachable.
        Reject => ["reject"],
    }
}

keyword_enum! {
    /// `--failnone` / `--failpass` / `--faildrop` / `--failreject`, `failureshunt=`:
    /// what happens to traffic when negotiation fails.
    FailShunt, "failureshunt" {
        /// Nothing special: the prospective shunt stays (libreswan's default).
        None => ["none", "failnone"],
        /// Let it pass in the clear.
        Pass => ["passthrough", "pass", "failpass"],
        /// Drop it.
        Drop => ["drop", "faildrop"],
        /// Drop it and send ICMP unreachable.
        Reject => ["reject", "failreject"],
    }
}

/// One end of a connection as described by the user (`left*=` keys or whack options before
/// `--to` for the left end, after it for the right end). All fields optional; `None`/empty
/// means "not given", so libreswan's defaults apply.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct EndSpec {
    /// `--id`: the IKE identity, libreswan syntax (`@fqdn`, `user@fqdn`, IP, DN,
    /// `%fromcert`, `%any`, `@#hex`, ...). Default: the host address.
    pub id: Option<String>,
    /// `--host`: an IP address, `%any`, `%opportunistic`, `%defaultroute` or a DNS name.
    pub host: Option<String>,
    /// `--cert`: NSS friendly name of our certificate.
    pub cert: Option<String>,
    /// `--ckaid`: hex CKAID of a raw key or certificate.
    pub ckaid: Option<String>,
    /// `--ca`: distinguished name of the CA that must have signed the peer certificate
    /// (`%same`, `%any` also accepted as in libreswan).
    pub ca: Option<String>,
    /// `--groups`: access-control groups (comma-separated on the command line).
    pub groups: Vec<String>,
    /// `--sendcert`.
    pub sendcert: Option<SendCert>,
    /// `--sendca`.
    pub sendca: Option<SendCa>,
    /// `--certtype`: the IKE certificate-encoding number.
    pub certtype: Option<u8>,
    /// `--ikeport`: the IKE port of this end (default 500).
    pub ikeport: Option<u16>,
    /// `--nexthop`: the next hop towards the other end.
    pub nexthop: Option<String>,
    /// `--subnet` / `--client` (may repeat): the protected networks behind this end.
    pub subnets: Vec<String>,
    /// `--clientprotoport`: `protocol/port`, e.g. `tcp/22`, `17/%any`.
    pub clientprotoport: Option<String>,
    /// `--sourceip` / `--srcip`: the source address to use for traffic into the tunnel.
    pub sourceip: Option<String>,
    /// `--xauthserver`.
    pub xauthserver: bool,
    /// `--xauthclient`.
    pub xauthclient: bool,
    /// `leftusername=` / `leftxauthusername=`: the XAUTH user name of a client end.
    pub xauthusername: Option<String>,
    /// `--modecfgserver`.
    pub modecfgserver: bool,
    /// `--modecfgclient`.
    pub modecfgclient: bool,
    /// `--modecfgdns`: DNS servers handed out (comma-separated on the command line).
    pub modecfgdns: Vec<String>,
    /// `--modecfgdomains`: DNS domains handed out.
    pub modecfgdomains: Vec<String>,
    /// `--modecfgbanner`: the login banner handed out.
    pub modecfgbanner: Option<String>,
    /// `leftaddresspool=`: a range `first-last` (or prefix) of addresses handed to peers.
    pub addresspool: Option<String>,
    /// `--dnskeyondemand`: fetch the public key from DNS when needed.
    pub dnskeyondemand: bool,
    /// `--updown`: the updown script, `%disabled` to run none.
    pub updown: Option<String>,
}

/// A whole connection description, as `whack --name ... --to ...` or an `ipsec.conf`
/// `conn` section gives it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ConnSpec {
    /// `--name`: the connection name, unique in the database.
    pub name: String,
    /// Options before `--to` / `left*=`.
    pub left: EndSpec,
    /// Options after `--to` / `right*=`.
    pub right: EndSpec,

    /// `--ikev1` / `--ikev2`: default IKEv2.
    pub ike_version: Option<IkeVersion>,
    /// `--ipv4` / `--ipv6`: the family of the host addresses (checked against them).
    pub host_addr_family: Option<AddrFamily>,
    /// `--tunnelipv4` / `--tunnelipv6`: the family of the client subnets.
    pub tunnel_addr_family: Option<AddrFamily>,

    /// `--psk` / `authby=secret`: authenticate with a pre-shared key.
    pub psk: bool,
    /// `--rsasig` / `authby=rsasig`: authenticate with RSA signatures.
    pub rsasig: bool,
    /// `authby=ecdsa`: authenticate with ECDSA signatures.
    pub ecdsa: bool,
    /// `authby=null`: NULL authentication (RFC 7619).
    pub authnull: bool,
    /// `authby=never`: no authentication; the connection never negotiates (a shunt
    /// connection's). Without any `authby`, libreswan's default (rsasig, ecdsa)
    /// applies instead.
    pub authnever: bool,

    /// `--encrypt`: ESP.
    pub encrypt: bool,
    /// `--authenticate`: AH.
    pub authenticate: bool,
    /// `--compress`: IPComp.
    pub compress: bool,
    /// `--tunnel` / `type=`: `None` means tunnel, libreswan's `ipsec.conf` default.
    pub mode: Option<Mode>,
    /// `--pfs` / `pfs=`: perfect forward secrecy for child SAs. `None`: default (yes).
    pub pfs: Option<bool>,
    /// `--pfsgroup`: the DH group for PFS (`modp2048`, `dh19`, ...).
    pub pfsgroup: Option<String>,
    /// `--ike` / `ike=`: IKE SA proposals, libreswan syntax.
    pub ike: Option<String>,
    /// `--esp` / `esp=`: child SA proposals, libreswan syntax.
    pub esp: Option<String>,

    /// `--ikelifetime`, in seconds.
    pub ikelifetime: Option<u64>,
    /// `--ipseclifetime`, in seconds.
    pub ipseclifetime: Option<u64>,
    /// `--rekeymargin`, in seconds.
    pub rekeymargin: Option<u64>,
    /// `--rekeyfuzz`, in percent.
    pub rekeyfuzz: Option<u32>,
    /// `--keyingtries`: 0 means forever.
    pub keyingtries: Option<u32>,
    /// `--dontrekey` / `rekey=no`.
    pub dontrekey: bool,
    /// `--aggrmode` / `aggressive=yes` (IKEv1 only).
    pub aggrmode: bool,
    /// `--modecfgpull` / `modecfgpull=yes`.
    pub modecfgpull: bool,
    /// `--metric`: route metric.
    pub metric: Option<u32>,
    /// `--nflog-group`: NFLOG group number (1..=65535).
    pub nflog_group: Option<u32>,
    /// `--conn-mark`: `mark/mask` (mask optional) put on the SAs.
    pub conn_mark: Option<String>,
    /// `--dpddelay`, in seconds.
    pub dpddelay: Option<u64>,
    /// `--dpdtimeout`, in seconds.
    pub dpdtimeout: Option<u64>,
    /// `--encapsulation`.
    pub encapsulation: Option<Encapsulation>,
    /// `--fragmentation`.
    pub fragmentation: Option<Fragmentation>,
    /// `--no-keep-alive` / `nat-keepalive=no`.
    pub no_keep_alive: bool,
    /// `--initiateontraffic` / `--pass` / `--drop` / `--reject`.
    pub on_traffic: Option<OnTraffic>,
    /// `--failnone` / `--failpass` / `--faildrop` / `--failreject`.
    pub failure_shunt: Option<FailShunt>,
}

impl ConnSpec {
    /// A description with only its name set; everything else defaulted.
    pub fn named(name: impl Into<String>) -> Self {
        ConnSpec {
            name: name.into(),
            ..ConnSpec::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_accept_aliases_case_insensitively() {
        assert_eq!(SendCert::from_keyword("yes"), Ok(SendCert::Always));
        assert_eq!(SendCert::from_keyword("FORCED"), Ok(SendCert::Always));
        assert_eq!(SendCert::from_keyword("ifasked"), Ok(SendCert::IfAsked));
        assert_eq!(SendCert::from_keyword("no"), Ok(SendCert::Never));
        assert_eq!("all".parse::<SendCa>(), Ok(SendCa::All));
        assert_eq!(FailShunt::from_keyword("passthrough"), Ok(FailShunt::Pass));
        assert_eq!(IkeVersion::from_keyword("ikev1"), Ok(IkeVersion::V1));
    }

    #[test]
    fn unknown_keyword_names_option_and_choices() {
        let e = SendCert::from_keyword("maybe").unwrap_err();
        assert_eq!(e.option, "sendcert");
        let msg = e.to_string();
        assert!(msg.contains("\"maybe\""), "{msg}");
        assert!(msg.contains("always|yes|forced|sendifasked"), "{msg}");
        assert!(!msg.ends_with('|'), "{msg}");
    }

    #[test]
    fn display_is_canonical_keyword() {
        assert_eq!(SendCert::Always.to_string(), "always");
        assert_eq!(Encapsulation::Auto.to_string(), "auto");
    }

    #[test]
    fn spec_round_trips_through_json_and_tolerates_missing_fields() {
        let mut spec = ConnSpec::named("west-east");
        spec.left.host = Some("192.0.2.1".into());
        spec.left.subnets = vec!["198.51.100.0/24".into(), "203.0.113.0/24".into()];
        spec.right.sendcert = Some(SendCert::Never);
        spec.psk = true;
        spec.ikelifetime = Some(3600);
        spec.on_traffic = Some(OnTraffic::Initiate);
        let json = serde_json::to_string(&spec).unwrap();
        let back: ConnSpec = serde_json::from_str(&json).unwrap();
        assert_eq!(back, spec);
        let sparse: ConnSpec = serde_json::from_str(r#"{"name":"x","psk":true}"#).unwrap();
        assert_eq!(sparse.name, "x");
        assert!(sparse.psk);
        assert_eq!(sparse.left, EndSpec::default());
    }
}
