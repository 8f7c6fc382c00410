//! A validated, oriented connection.
//!
//! [`Connection::from_spec`] turns a user's [`ConnSpec`] into typed values, checking every
//! option, and decides which end is "us" by matching the ends' hosts against the
//! machine's addresses ([`HostAddrs`]), so the very same description loads on both
//! peers. A connection whose remote host is `%any` or `%opportunistic` is a *template*:
//! it is never negotiated itself but instantiated once per peer.

use std::collections::BTreeSet;
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use ike::ts::TrafficSelector;

use crate::addr::{same_family, traffic_selector, AddrError, AddrRange, Host, ProtoPort, Subnet};
use crate::files::{decode_hex, strip_hex_prefix};
use crate::id::{Id, IdError};
use crate::policy::{
    AuthBy, ConnMark, Policy, DEFAULT_IKE_LIFETIME, DEFAULT_IPSEC_LIFETIME, DEFAULT_REKEY_FUZZ,
    DEFAULT_REKEY_MARGIN, MAX_LIFETIME,
};
use crate::proposals::{ChildProtocol, ProposalConfig, Proposals, ProposalsError};
use crate::spec::{
    AddrFamily, ConnSpec, Encapsulation, EndSpec, FailShunt, Fragmentation, IkeVersion, Mode,
    OnTraffic, SendCa, SendCert,
};

/// The default IKE port.
pub const IKE_PORT: u16 = 500;

/// Why a connection description was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnError {
    /// The name is empty or contains characters that break status output or updown.
    #[error("connection name \"{0}\" is invalid: use letters, digits and -_.:/@+%=,~ only")]
    BadName(String),
    /// A required option is missing.
    #[error("{option} must be specified")]
    Missing {
        /// e.g. `left host`.
        option: String,
    },
    /// An option's value is wrong; the message says how.
    #[error("{option}: {problem}")]
    Invalid {
        /// e.g. `right subnet`.
        option: String,
        /// e.g. `"192.0.2.1/24" has host bits set; did you mean 192.0.2.0/24?`.
        problem: String,
    },
    /// Two options that cannot be combined.
    #[error("{0}")]
    Conflict(String),
    /// Subnets were given but the connection negotiates no IPsec SA.
    #[error(
        "a subnet (--client/--subnet) needs --encrypt, --authenticate or --compress; \
         without them only an IKE SA is built"
    )]
    ClientWithoutIpsec,
    /// `ike=`/`esp=` did not parse or `pfsgroup=` names no group.
    #[error(transparent)]
    Proposals(#[from] ProposalsError),
    /// An option pluto-rs cannot honour yet: refused rather than stored and ignored.
    #[error("{option}: {why}")]
    NotSupported {
        /// The option as whack and ipsec.conf spell it, e.g. `--compress (compress=)`.
        option: String,
        /// What is missing and what to use instead.
        why: String,
    },
    /// Both hosts are addresses of this machine.
    #[error(
        "both ends are local: left {left} and right {right} are both addresses of this \
         machine; one host must be the peer"
    )]
    BothEndsLocal {
        /// Left host.
        left: IpAddr,
        /// Right host.
        right: IpAddr,
    },
}

impl ConnError {
    fn unsupported(option: impl Into<String>, why: impl Into<String>) -> ConnError {
        ConnError::NotSupported {
            option: option.into(),
            why: why.into(),
        }
    }

    fn invalid(option: impl Into<String>, problem: impl fmt::Display) -> ConnError {
        ConnError::Invalid {
            option: option.into(),
            problem: problem.to_string(),
        }
    }
}

/// The addresses of this machine, as the daemon found them on its interfaces.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostAddrs {
    addrs: BTreeSet<IpAddr>,
    default_route: Option<IpAddr>,
}

impl HostAddrs {
    /// A set of local addresses.
    pub fn new(addrs: impl IntoIterator<Item = IpAddr>) -> HostAddrs {
        HostAddrs {
            addrs: addrs.into_iter().collect(),
            default_route: None,
        }
    }

    /// Also record the source address of the default route (what `%defaultroute` means).
    pub fn with_default_route(mut self, addr: IpAddr) -> HostAddrs {
        self.addrs.insert(addr);
        self.default_route = Some(addr);
        self
    }

    /// Is `addr` one of ours?
    pub fn contains(&self, addr: IpAddr) -> bool {
        self.addrs.contains(&addr)
    }

    /// The `%defaultroute` address, if any.
    pub fn default_route(&self) -> Option<IpAddr> {
        self.default_route
    }
}

/// Left or right.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Side {
    /// Options before `--to`.
    Left,
    /// Options after `--to`.
    Right,
}

impl Side {
    /// The other side.
    pub fn other(self) -> Side {
        match self {
            Side::Left => Side::Right,
            Side::Right => Side::Left,
        }
    }

    /// `left` / `right`.
    pub fn name(self) -> &'static str {
        match self {
            Side::Left => "left",
            Side::Right => "right",
        }
    }
}

/// One end, typed: its address and ID, which an instance sets to its peer's, and
/// the rest of its configuration ([`EndConf`], read through `Deref`: `end.subnets`),
/// which a template's instances share with it instead of copying 400 bytes and
/// their strings per road warrior.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct End {
    /// The host address once known (literal, `%defaultroute` resolved, or a peer's
    /// address for an instance).
    pub host_addr: Option<IpAddr>,
    /// The configured ID (defaults to the host address; an instance's peer end
    /// takes the ID the peer authenticated with when the template accepts any).
    pub id: Id,
    /// The rest, shared; changed with `Arc::make_mut` (copied when shared).
    pub conf: Arc<EndConf>,
}

impl std::ops::Deref for End {
    type Target = EndConf;

    fn deref(&self) -> &EndConf {
        &self.conf
    }
}

impl End {
    /// The configuration to change: copied first when it is shared, so that the
    /// change stays with this end.
    pub fn conf_mut(&mut self) -> &mut EndConf {
        Arc::make_mut(&mut self.conf)
    }
}

/// An end's configuration apart from its address and ID (see [`End`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndConf {
    /// The host as given.
    pub host: Host,
    /// Whether `id` was given explicitly (status shows only explicit IDs).
    pub id_given: bool,
    /// Certificate nickname.
    pub cert: Option<String>,
    /// CKAID bytes.
    pub ckaid: Option<Vec<u8>>,
    /// Required CA DN.
    pub ca: Option<String>,
    /// Access-control groups.
    pub groups: Vec<String>,
    /// When to send our certificate.
    pub sendcert: SendCert,
    /// Which CA certificates to send.
    pub sendca: SendCa,
    /// Certificate encoding number.
    pub certtype: Option<u8>,
    /// IKE port.
    pub ikeport: u16,
    /// Next hop.
    pub nexthop: Option<IpAddr>,
    /// Protected subnets as given (empty = just the host).
    pub subnets: Vec<Subnet>,
    /// Protocol/port restriction.
    pub protoport: Option<ProtoPort>,
    /// Source address for tunnel traffic.
    pub sourceip: Option<IpAddr>,
    /// XAUTH server role.
    pub xauth_server: bool,
    /// XAUTH client role.
    pub xauth_client: bool,
    /// XAUTH user name.
    pub xauth_username: Option<String>,
    /// Mode-config server role.
    pub modecfg_server: bool,
    /// Mode-config client role.
    pub modecfg_client: bool,
    /// DNS servers handed out.
    pub modecfg_dns: Vec<IpAddr>,
    /// DNS domains handed out.
    pub modecfg_domains: Vec<String>,
    /// Login banner.
    pub modecfg_banner: Option<String>,
    /// Address pool for peers.
    pub addresspool: Option<AddrRange>,
    /// Fetch keys from DNS on demand.
    pub dnskeyondemand: bool,
    /// updown script; `None` when `%disabled`.
    pub updown: Option<String>,
}

/// libreswan's default updown script.
pub const DEFAULT_UPDOWN: &str = "ipsec _updown";

impl End {
    fn from_spec(side: Side, e: &EndSpec, addrs: &HostAddrs) -> Result<End, ConnError> {
        let opt = |o: &str| format!("{} {o}", side.name());
        refuse_unsupported_end(side, e)?;
        let host_text = e.host.as_deref().ok_or_else(|| ConnError::Missing {
            option: format!("{} host (--host / {}=)", side.name(), side.name()),
        })?;
        let host = Host::parse(host_text).map_err(|err| ConnError::invalid(opt("host"), err))?;
        let host_addr = match &host {
            Host::Addr(a) => Some(*a),
            Host::DefaultRoute => addrs.default_route(),
            _ => None,
        };
        let (id, id_given) = match &e.id {
            Some(t) => (
                Id::parse(t).map_err(|err: IdError| ConnError::invalid(opt("id"), err))?,
                true,
            ),
            None => (host_addr.map(Id::Ip).unwrap_or(Id::None), false),
        };
        let ckaid =
            match &e.ckaid {
                None => None,
                Some(t) => Some(parse_hex(t).ok_or_else(|| {
                    ConnError::invalid(opt("ckaid"), format!("\"{t}\" is not hex"))
                })?),
            };
        let nexthop = match e.nexthop.as_deref().map(str::trim) {
            None | Some("%direct") | Some("%defaultroute") => None,
            Some(t) => Some(t.parse::<IpAddr>().map_err(|_| {
                ConnError::invalid(opt("nexthop"), AddrError::NotAnAddress(t.into()))
            })?),
        };
        let subnets = e
            .subnets
            .iter()
            .map(|s| Subnet::parse(s).map_err(|err| ConnError::invalid(opt("subnet"), err)))
            .collect::<Result<Vec<_>, _>>()?;
        if let Some(first) = subnets.first() {
            if subnets.iter().any(|s| s.is_v6() != first.is_v6()) {
                return Err(ConnError::invalid(
                    opt("subnet"),
                    "IPv4 and IPv6 subnets mixed on one end",
                ));
            }
        }
        let protoport = match &e.clientprotoport {
            None => None,
            Some(t) => Some(
                ProtoPort::parse(t)
                    .map_err(|err| ConnError::invalid(opt("clientprotoport"), err))?,
            ),
        };
        let sourceip = match &e.sourceip {
            None => None,
            Some(t) => Some(t.trim().parse::<IpAddr>().map_err(|_| {
                ConnError::invalid(opt("sourceip"), AddrError::NotAnAddress(t.clone()))
            })?),
        };
        if let Some(sip) = sourceip {
            if !subnets.is_empty() && !subnets.iter().any(|s| s.contains(sip)) {
                return Err(ConnError::invalid(
                    opt("sourceip"),
                    format!("{sip} is not inside this end's subnet"),
                ));
            }
        }
        if e.ikeport == Some(0) {
            return Err(ConnError::invalid(opt("ikeport"), "port 0 is not allowed"));
        }
        let modecfg_dns = e
            .modecfgdns
            .iter()
            .map(|s| {
                s.trim().parse::<IpAddr>().map_err(|_| {
                    ConnError::invalid(opt("modecfgdns"), AddrError::NotAnAddress(s.clone()))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let addresspool = match &e.addresspool {
            None => None,
            Some(t) => Some(
                AddrRange::parse(t).map_err(|err| ConnError::invalid(opt("addresspool"), err))?,
            ),
        };
        let updown = match e.updown.as_deref() {
            Some("%disabled") | Some("") => None,
            Some(u) => Some(u.to_string()),
            None => Some(DEFAULT_UPDOWN.to_string()),
        };
        let conf = EndConf {
            host,
            id_given,
            cert: e.cert.clone(),
            ckaid,
            ca: e.ca.clone(),
            groups: e.groups.clone(),
            sendcert: e.sendcert.unwrap_or(SendCert::Always),
            sendca: e.sendca.unwrap_or(SendCa::Issuer),
            certtype: e.certtype,
            ikeport: e.ikeport.unwrap_or(IKE_PORT),
            nexthop,
            subnets,
            protoport,
            sourceip,
            xauth_server: e.xauthserver,
            xauth_client: e.xauthclient,
            xauth_username: e.xauthusername.clone(),
            modecfg_server: e.modecfgserver,
            modecfg_client: e.modecfgclient,
            modecfg_dns,
            modecfg_domains: e.modecfgdomains.clone(),
            modecfg_banner: e.modecfgbanner.clone(),
            addresspool,
            dnskeyondemand: e.dnskeyondemand,
            updown,
        };
        Ok(End {
            host_addr,
            id,
            conf: Arc::new(conf),
        })
    }

    /// The networks this end protects: its subnets, or just its host when none were
    /// given (and the host is known).
    pub fn clients(&self) -> Vec<Subnet> {
        if !self.subnets.is_empty() {
            self.subnets.clone()
        } else {
            self.host_addr.map(Subnet::host).into_iter().collect()
        }
    }

    /// This end's IKEv2 traffic selectors: each client (see [`End::clients`]) with
    /// the protocol/port restriction. Empty while the host is unknown and no subnet
    /// was given (a template's `%any` end before instantiation).
    pub fn traffic_selectors(&self) -> Vec<TrafficSelector> {
        self.clients()
            .into_iter()
            .map(|c| traffic_selector(c, self.protoport))
            .collect()
    }
}

/// Connection serial number, printed `$N` like libreswan.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub struct ConnSerial(pub u64);

impl fmt::Display for ConnSerial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "${}", self.0)
    }
}

/// What kind of connection this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Kind {
    /// Both hosts are known: negotiated as is.
    Permanent,
    /// The remote host is `%any`/`%opportunistic`: instantiated per peer.
    Template,
    /// An instance of a template, for one peer.
    Instance {
        /// The template's serial.
        template: ConnSerial,
        /// The instance number (`"name"[N]`).
        number: u32,
    },
}

/// The routing state the daemon keeps up to date (shown by `--status`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Routing {
    /// No kernel policy installed.
    #[default]
    Unrouted,
    /// A trap policy is installed (`--route` / ondemand).
    RoutedOndemand,
    /// Negotiation under way with a trap policy.
    RoutedNegotiation,
    /// An IPsec SA is installed and routed.
    RoutedTunnel,
}

impl Routing {
    /// libreswan's spelling.
    pub fn keyword(self) -> &'static str {
        match self {
            Routing::Unrouted => "unrouted",
            Routing::RoutedOndemand => "routed-ondemand",
            Routing::RoutedNegotiation => "routed-negotiation",
            Routing::RoutedTunnel => "routed-tunnel",
        }
    }
}

/// A validated connection.
///
/// A template's instances (one per road warrior) share with it what they do not
/// change: the name, our end, the policy, the proposals and the description are
/// reference-counted, and an instance owns only its peer's end (the peer's address
/// and ID), its serial, number and routing state. At 100,000 road warriors on one
/// template a full copy was 1.1 KB each (docs/benchmarks.md). Changing a shared part
/// of one connection (`Arc::make_mut`) copies it for that connection alone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connection {
    /// The name (shared by a template's instances).
    pub name: Arc<str>,
    /// Serial, assigned by the database (`$0` until added).
    pub serial: ConnSerial,
    /// Permanent, template or instance.
    pub kind: Kind,
    /// Left end.
    pub left: Arc<End>,
    /// Right end.
    pub right: Arc<End>,
    /// Which end is us; `None` while unoriented (no end matches a local address).
    pub local: Option<Side>,
    /// Connection-wide policy.
    pub policy: Arc<Policy>,
    /// The parsed `ike=`/`esp=` proposals (defaults when not given), `pfsgroup=`
    /// applied.
    pub proposals: Proposals,
    /// Routing state, maintained by the daemon.
    pub routing: Routing,
    /// The description it was built from (to re-orient when interfaces change).
    /// Shared, not copied, by a template's instances: at 100,000 road warriors on one
    /// template the copies were a kilobyte each (docs/benchmarks.md).
    pub spec: Arc<ConnSpec>,
    /// Things the user should know about the accepted description: options accepted
    /// but not implemented, values reduced to their maximum. Already logged; the control
    /// server relays them to whack.
    #[serde(default)]
    pub warnings: Vec<String>,
}

const NO_CERTS: &str =
    "X.509 certificates are not supported by pluto-rs yet; authenticate with --psk (authby=secret)";
const NO_XAUTH: &str = "XAUTH is an IKEv1 mechanism and is not supported by pluto-rs";
const NO_MODECFG: &str =
    "mode-config / IKEv2 configuration payloads are not supported by pluto-rs yet";

/// The end options pluto-rs does not implement: each is refused, naming the whack
/// option and the ipsec.conf key, instead of being stored and ignored.
fn refuse_unsupported_end(side: Side, e: &EndSpec) -> Result<(), ConnError> {
    let s = side.name();
    let refuse = |whack: &str, key: &str, why: &str| {
        Err(ConnError::unsupported(
            format!("{s} --{whack} ({s}{key}=)"),
            why,
        ))
    };
    if e.cert.is_some() {
        return refuse("cert", "cert", NO_CERTS);
    }
    if e.ckaid.is_some() {
        return refuse("ckaid", "ckaid", NO_CERTS);
    }
    if e.ca.is_some() {
        return refuse("ca", "ca", NO_CERTS);
    }
    if e.sendcert.is_some() {
        return refuse("sendcert", "sendcert", NO_CERTS);
    }
    if e.sendca.is_some() {
        return refuse("sendca", "sendca", NO_CERTS);
    }
    if e.certtype.is_some() {
        return refuse("certtype", "certtype", NO_CERTS);
    }
    if !e.groups.is_empty() {
        return refuse(
            "groups",
            "groups",
            "access-control groups need X.509 certificates, which pluto-rs does not support yet",
        );
    }
    if e.dnskeyondemand {
        return refuse(
            "dnskeyondemand",
            "dnskeyondemand",
            "fetching public keys from DNS is not supported by pluto-rs; authenticate with --psk",
        );
    }
    if e.xauthserver {
        return refuse("xauthserver", "xauthserver", NO_XAUTH);
    }
    if e.xauthclient {
        return refuse("xauthclient", "xauthclient", NO_XAUTH);
    }
    if e.xauthusername.is_some() {
        return Err(ConnError::unsupported(
            format!("{s}username= ({s}xauthusername=)"),
            NO_XAUTH,
        ));
    }
    if e.modecfgserver {
        return refuse("modecfgserver", "modecfgserver", NO_MODECFG);
    }
    if e.modecfgclient {
        return refuse("modecfgclient", "modecfgclient", NO_MODECFG);
    }
    if !e.modecfgdns.is_empty() {
        return refuse("modecfgdns", "modecfgdns", NO_MODECFG);
    }
    if !e.modecfgdomains.is_empty() {
        return refuse("modecfgdomains", "modecfgdomains", NO_MODECFG);
    }
    if e.modecfgbanner.is_some() {
        return refuse("modecfgbanner", "modecfgbanner", NO_MODECFG);
    }
    if e.addresspool.is_some() {
        return Err(ConnError::unsupported(
            format!("{s}addresspool="),
            "address pools need IKEv2 configuration payloads, which pluto-rs does not support yet",
        ));
    }
    Ok(())
}

/// The connection-wide options pluto-rs does not implement, refused the same way.
fn refuse_unsupported(spec: &ConnSpec) -> Result<(), ConnError> {
    if spec.ike_version == Some(IkeVersion::V1) {
        return Err(ConnError::unsupported(
            "--ikev1 (keyexchange=ikev1)",
            "IKEv1 is not implemented by pluto-rs; use --ikev2",
        ));
    }
    if spec.aggrmode {
        return Err(ConnError::unsupported(
            "--aggrmode (aggressive=yes)",
            "aggressive mode is IKEv1, which pluto-rs does not implement; use --ikev2",
        ));
    }
    if spec.rsasig {
        return Err(ConnError::unsupported(
            "--rsasig (authby=rsasig)",
            "RSA signature authentication is not supported by pluto-rs yet; use --psk (authby=secret)",
        ));
    }
    if spec.ecdsa {
        return Err(ConnError::unsupported(
            "authby=ecdsa",
            "ECDSA signature authentication is not supported by pluto-rs yet; use authby=secret",
        ));
    }
    if spec.authnull {
        return Err(ConnError::unsupported(
            "authby=null",
            "NULL authentication (RFC 7619) is not supported by pluto-rs yet; use authby=secret",
        ));
    }
    if spec.compress {
        return Err(ConnError::unsupported(
            "--compress (compress=yes)",
            "IPComp is not supported yet",
        ));
    }
    if spec.modecfgpull {
        return Err(ConnError::unsupported(
            "--modecfgpull (modecfgpull=yes)",
            NO_MODECFG,
        ));
    }
    Ok(())
}

fn parse_hex(s: &str) -> Option<Vec<u8>> {
    decode_hex(strip_hex_prefix(s.trim()))
}

/// libreswan takes a conn name as one word of ipsec.conf (`conn west=east` is the
/// name `west=east`); pluto-rs takes letters, digits and the punctuation such names
/// use, but no blanks, quotes, backslashes, shell metacharacters (the name reaches
/// updown scripts as PLUTO_CONNECTION) or brackets (`name[N]` names an instance).
fn valid_name(n: &str) -> bool {
    !n.is_empty()
        && n != "%default"
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.:/@+%=,~".contains(c))
}

fn check_family(option: &str, want: Option<AddrFamily>, v6: bool) -> Result<(), ConnError> {
    match want {
        Some(AddrFamily::Ipv4) if v6 => Err(ConnError::invalid(
            option,
            "is IPv6 but --ipv4/--tunnelipv4 was given",
        )),
        Some(AddrFamily::Ipv6) if !v6 => Err(ConnError::invalid(
            option,
            "is IPv4 but --ipv6/--tunnelipv6 was given",
        )),
        _ => Ok(()),
    }
}

fn lifetime(
    option: &str,
    secs: Option<u64>,
    default: Duration,
    warnings: &mut Vec<String>,
) -> Result<Duration, ConnError> {
    match secs {
        None => Ok(default),
        Some(0) => Err(ConnError::invalid(option, "must be at least 1 second")),
        Some(s) if Duration::from_secs(s) > MAX_LIFETIME => {
            warnings.push(format!(
                "{option}={s}s exceeds the maximum of {}s; reduced to the maximum",
                MAX_LIFETIME.as_secs()
            ));
            Ok(MAX_LIFETIME)
        }
        Some(s) => Ok(Duration::from_secs(s)),
    }
}

impl Connection {
    /// Validate a description and orient it against this machine's addresses.
    ///
    /// A description where neither end is local is accepted and kept unoriented, as
    /// libreswan does (`local` is `None`); [`Connection::orient`] retries later.
    pub fn from_spec(spec: ConnSpec, addrs: &HostAddrs) -> Result<Connection, ConnError> {
        if !valid_name(&spec.name) {
            return Err(ConnError::BadName(spec.name.clone()));
        }
        refuse_unsupported(&spec)?;
        let left = End::from_spec(Side::Left, &spec.left, addrs)?;
        let right = End::from_spec(Side::Right, &spec.right, addrs)?;
        let mut warnings: Vec<String> = Vec::new();

        if left.host.is_wildcard() && right.host.is_wildcard() {
            return Err(ConnError::Conflict(
                "both hosts are %any/%opportunistic; at least one end must be a real host".into(),
            ));
        }
        if let (Some(l), Some(r)) = (left.host_addr, right.host_addr) {
            if !same_family(l, r) {
                return Err(ConnError::invalid(
                    "right host",
                    format!("{r} and left host {l} are of different address families"),
                ));
            }
        }
        for (side, end) in [(Side::Left, &left), (Side::Right, &right)] {
            if let Some(a) = end.host_addr {
                check_family(
                    &format!("{} host", side.name()),
                    spec.host_addr_family,
                    a.is_ipv6(),
                )?;
            }
            if let Some(h) = end.nexthop {
                if let Some(a) = end.host_addr {
                    if !same_family(a, h) {
                        return Err(ConnError::invalid(
                            format!("{} nexthop", side.name()),
                            format!("{h} is not of the host's address family"),
                        ));
                    }
                }
            }
            for s in &end.subnets {
                check_family(
                    &format!("{} subnet {s}", side.name()),
                    spec.tunnel_addr_family,
                    s.is_v6(),
                )?;
            }
        }
        if let (Some(l), Some(r)) = (left.subnets.first(), right.subnets.first()) {
            if l.is_v6() != r.is_v6() {
                return Err(ConnError::invalid(
                    "right subnet",
                    format!("{r} and left subnet {l} are of different address families"),
                ));
            }
        }

        let ike_version = spec.ike_version.unwrap_or(IkeVersion::V2);
        let has_ipsec = spec.encrypt || spec.authenticate || spec.compress;
        if !has_ipsec
            && (!left.subnets.is_empty()
                || !right.subnets.is_empty()
                || left.protoport.is_some()
                || right.protoport.is_some())
        {
            return Err(ConnError::ClientWithoutIpsec);
        }
        let proposals = Proposals::new(ProposalConfig {
            version: ike_version,
            ike: spec.ike.clone(),
            esp: spec.esp.clone(),
            child: if spec.authenticate && !spec.encrypt {
                ChildProtocol::Ah
            } else {
                ChildProtocol::Esp
            },
            pfs: spec.pfs.unwrap_or(true),
            pfsgroup: spec.pfsgroup.clone(),
        })?;
        warnings.extend(proposals.warnings().iter().cloned());
        let ike_lifetime = lifetime(
            "ikelifetime",
            spec.ikelifetime,
            DEFAULT_IKE_LIFETIME,
            &mut warnings,
        )?;
        let ipsec_lifetime = lifetime(
            "ipseclifetime",
            spec.ipseclifetime,
            DEFAULT_IPSEC_LIFETIME,
            &mut warnings,
        )?;
        let mut rekey_margin = spec
            .rekeymargin
            .map(Duration::from_secs)
            .unwrap_or(DEFAULT_REKEY_MARGIN);
        let shortest = ike_lifetime.min(ipsec_lifetime);
        if rekey_margin >= shortest {
            let reduced = shortest / 2;
            if spec.rekeymargin.is_some() {
                warnings.push(format!(
                    "rekeymargin {}s is not less than the lifetime {}s; reduced to {}s",
                    rekey_margin.as_secs(),
                    shortest.as_secs(),
                    reduced.as_secs()
                ));
            }
            rekey_margin = reduced;
        }
        let nflog_group = match spec.nflog_group {
            None => None,
            Some(n) => Some(u16::try_from(n).ok().filter(|&n| n >= 1).ok_or_else(|| {
                ConnError::invalid("nflog-group", format!("{n} is not in 1-65535"))
            })?),
        };
        let conn_mark = match &spec.conn_mark {
            None => None,
            Some(m) => Some(ConnMark::parse(m).ok_or_else(|| {
                ConnError::invalid(
                    "conn-mark",
                    format!("\"{m}\" is not mark/mask (e.g. 0x10/0xff, or -1 for unique)"),
                )
            })?),
        };
        if spec.dpdtimeout.is_some() && spec.dpddelay.is_none() {
            return Err(ConnError::Conflict(
                "--dpdtimeout needs --dpddelay (the interval between probes)".into(),
            ));
        }
        if spec.dpddelay == Some(0) {
            return Err(ConnError::invalid("dpddelay", "must be at least 1 second"));
        }

        let mut authby = AuthBy {
            psk: spec.psk,
            rsasig: spec.rsasig,
            ecdsa: spec.ecdsa,
            null: spec.authnull,
        };
        if authby == AuthBy::default() && !spec.authnever {
            // libreswan's default authby=rsasig,ecdsa.
            authby.rsasig = true;
            authby.ecdsa = true;
        }
        let policy = Policy {
            ike_version,
            authby,
            encrypt: spec.encrypt,
            authenticate: spec.authenticate,
            compress: spec.compress,
            mode: spec.mode.unwrap_or(Mode::Tunnel),
            pfs: spec.pfs.unwrap_or(true),
            pfsgroup: spec.pfsgroup.as_ref().map(|g| g.to_ascii_lowercase()),
            ike: spec.ike.clone(),
            esp: spec.esp.clone(),
            ike_lifetime,
            ipsec_lifetime,
            rekey_margin,
            rekey_fuzz: spec.rekeyfuzz.unwrap_or(DEFAULT_REKEY_FUZZ),
            keying_tries: spec.keyingtries.unwrap_or(0),
            rekey: !spec.dontrekey,
            aggressive: spec.aggrmode,
            modecfg_pull: spec.modecfgpull,
            metric: spec.metric.unwrap_or(1),
            nflog_group,
            conn_mark,
            dpd_delay: spec.dpddelay.map(Duration::from_secs),
            dpd_timeout: spec.dpdtimeout.map(Duration::from_secs),
            encapsulation: spec.encapsulation.unwrap_or(Encapsulation::Auto),
            fragmentation: spec.fragmentation.unwrap_or(Fragmentation::Yes),
            nat_keepalive: !spec.no_keep_alive,
            on_traffic: spec.on_traffic.unwrap_or(OnTraffic::Initiate),
            failure_shunt: spec.failure_shunt.unwrap_or(FailShunt::None),
            host_family: spec.host_addr_family,
            tunnel_family: spec.tunnel_addr_family,
        };
        let mut c = Connection {
            name: spec.name.as_str().into(),
            serial: ConnSerial(0),
            kind: Kind::Permanent,
            left: Arc::new(left),
            right: Arc::new(right),
            local: None,
            policy: Arc::new(policy),
            proposals,
            routing: Routing::Unrouted,
            spec: Arc::new(spec),
            warnings,
        };
        for w in &c.warnings {
            tracing::warn!("\"{}\": {w}", c.name);
        }
        c.orient(addrs)?;
        Ok(c)
    }

    /// Decide which end is local. Called on add and again when interfaces change.
    pub fn orient(&mut self, addrs: &HostAddrs) -> Result<(), ConnError> {
        let is_local = |e: &End| match e.host {
            Host::DefaultRoute => e.host_addr.is_some(),
            _ => e.host_addr.is_some_and(|a| addrs.contains(a)),
        };
        let (l, r) = (is_local(&self.left), is_local(&self.right));
        self.local = match (l, r) {
            (true, true) => {
                return Err(ConnError::BothEndsLocal {
                    left: self.left.host_addr.unwrap_or(IpAddr::from([0u8; 4])),
                    right: self.right.host_addr.unwrap_or(IpAddr::from([0u8; 4])),
                })
            }
            (true, false) => Some(Side::Left),
            (false, true) => Some(Side::Right),
            (false, false) => None,
        };
        if !matches!(self.kind, Kind::Instance { .. }) {
            let wildcard = self.left.host.is_wildcard() || self.right.host.is_wildcard();
            self.kind = if wildcard {
                Kind::Template
            } else {
                Kind::Permanent
            };
        }
        if self.local.is_none() {
            tracing::debug!(
                "\"{}\": neither end matches a local address; connection left unoriented",
                self.name
            );
        }
        Ok(())
    }

    /// The ends whose host is a DNS name, for the daemon to resolve (this crate does no
    /// lookups). Each is reported until [`Connection::set_resolved_host`] records an
    /// address for it.
    pub fn unresolved_dns_hosts(&self) -> Vec<(Side, &str)> {
        [(Side::Left, &self.left), (Side::Right, &self.right)]
            .into_iter()
            .filter_map(|(side, e)| match (&e.host, e.host_addr) {
                (Host::Dns(n), None) => Some((side, n.as_str())),
                _ => None,
            })
            .collect()
    }

    /// Record the address a DNS host name resolved to and re-orient. The ID defaults
    /// to the address when none was given, as for a literal address.
    pub fn set_resolved_host(
        &mut self,
        side: Side,
        addr: IpAddr,
        addrs: &HostAddrs,
    ) -> Result<(), ConnError> {
        let option = format!("{} host", side.name());
        if !matches!(self.end(side).host, Host::Dns(_)) {
            return Err(ConnError::invalid(option, "is not a DNS name"));
        }
        if let Some(other) = self.end(side.other()).host_addr {
            if !same_family(addr, other) {
                return Err(ConnError::invalid(
                    option,
                    format!("resolved to {addr}, not of the family of {other}"),
                ));
            }
        }
        let saved = match side {
            Side::Left => self.left.clone(),
            Side::Right => self.right.clone(),
        };
        let end = self.end_mut(side);
        end.host_addr = Some(addr);
        if !end.id_given {
            end.id = Id::Ip(addr);
        }
        if let Err(e) = self.orient(addrs) {
            match side {
                Side::Left => self.left = saved,
                Side::Right => self.right = saved,
            }
            return Err(e);
        }
        Ok(())
    }

    /// Is it oriented?
    pub fn is_oriented(&self) -> bool {
        self.local.is_some()
    }

    /// Is it a template (remote `%any`/`%opportunistic`)?
    pub fn is_template(&self) -> bool {
        self.kind == Kind::Template
    }

    /// Instance number, for instances.
    pub fn instance_number(&self) -> Option<u32> {
        match self.kind {
            Kind::Instance { number, .. } => Some(number),
            _ => None,
        }
    }

    /// An end by side.
    pub fn end(&self, side: Side) -> &End {
        match side {
            Side::Left => &self.left,
            Side::Right => &self.right,
        }
    }

    /// An end to change: copied first when it is shared (with a template or its
    /// instances), so that the change stays with this connection.
    fn end_mut(&mut self, side: Side) -> &mut End {
        match side {
            Side::Left => Arc::make_mut(&mut self.left),
            Side::Right => Arc::make_mut(&mut self.right),
        }
    }

    /// Our end, once oriented.
    pub fn local_end(&self) -> Option<&End> {
        self.local.map(|s| self.end(s))
    }

    /// The peer's end, once oriented.
    pub fn remote_end(&self) -> Option<&End> {
        self.local.map(|s| self.end(s.other()))
    }

    /// Our traffic selectors (TSi when we initiate, TSr when we respond); empty while
    /// unoriented.
    pub fn local_traffic_selectors(&self) -> Vec<TrafficSelector> {
        self.local_end()
            .map(End::traffic_selectors)
            .unwrap_or_default()
    }

    /// The peer's traffic selectors; empty while unoriented, and for a template whose
    /// peer protects no subnet until it is instantiated with the peer's address.
    pub fn remote_traffic_selectors(&self) -> Vec<TrafficSelector> {
        self.remote_end()
            .map(End::traffic_selectors)
            .unwrap_or_default()
    }

    /// The name libreswan prints: `"name"` or `"name"[N] 192.0.2.2` for an instance.
    pub fn display_name(&self) -> String {
        match (self.kind, self.remote_end().and_then(|e| e.host_addr)) {
            (Kind::Instance { number, .. }, Some(peer)) => {
                format!("\"{}\"[{number}] {peer}", self.name)
            }
            (Kind::Instance { number, .. }, None) => format!("\"{}\"[{number}]", self.name),
            _ => format!("\"{}\"", self.name),
        }
    }

    /// Make an instance of this template for one peer: the remote host becomes `peer`,
    /// and when the template protects no remote subnet the peer's own address is used
    /// (road warrior). The caller (the database) assigns serial and number.
    pub fn instantiate(&self, peer: IpAddr, peer_id: Option<Id>) -> Result<Connection, ConnError> {
        let local = self.local.ok_or_else(|| {
            ConnError::Conflict(format!(
                "\"{}\" is not oriented; cannot instantiate it",
                self.name
            ))
        })?;
        if !self.is_template() {
            return Err(ConnError::Conflict(format!(
                "\"{}\" is not a template (its peer is not %any/%opportunistic)",
                self.name
            )));
        }
        if let Some(our) = self.end(local).host_addr {
            if !same_family(our, peer) {
                return Err(ConnError::invalid(
                    "peer address",
                    format!("{peer} is not of the family of our host {our}"),
                ));
            }
        }
        // Shares everything with the template (see [`Connection`]) but the peer's
        // end, which `end_mut` copies.
        let mut inst = self.clone();
        inst.kind = Kind::Instance {
            template: self.serial,
            number: 0,
        };
        inst.routing = Routing::Unrouted;
        let remote = inst.end_mut(local.other());
        remote.host_addr = Some(peer);
        if let Some(id) = peer_id {
            if matches!(remote.id, Id::None | Id::Any | Id::FromCert) || remote.id.is_wildcard() {
                remote.id = id;
            }
        }
        Ok(inst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    pub(crate) fn west_east() -> ConnSpec {
        let mut s = ConnSpec::named("west-east");
        s.left.host = Some("192.0.2.1".into());
        s.left.id = Some("@west".into());
        s.left.subnets = vec!["198.51.100.0/24".into()];
        s.right.host = Some("192.0.2.2".into());
        s.right.id = Some("@east".into());
        s.right.subnets = vec!["203.0.113.0/24".into()];
        s.psk = true;
        s.encrypt = true;
        s
    }

    #[test]
    fn same_description_orients_on_both_peers() {
        let west = HostAddrs::new([ip("192.0.2.1")]);
        let east = HostAddrs::new([ip("192.0.2.2")]);
        let cw = Connection::from_spec(west_east(), &west).unwrap();
        let ce = Connection::from_spec(west_east(), &east).unwrap();
        assert_eq!(cw.local, Some(Side::Left));
        assert_eq!(ce.local, Some(Side::Right));
        assert_eq!(cw.local_end().unwrap().id, Id::Fqdn("west".into()));
        assert_eq!(ce.local_end().unwrap().id, Id::Fqdn("east".into()));
        assert_eq!(cw.kind, Kind::Permanent);
    }

    #[test]
    fn traffic_selectors_follow_orientation_and_protoport() {
        let mut s = west_east();
        s.left.subnets.push("198.51.101.0/24".into());
        s.right.clientprotoport = Some("tcp/443".into());
        let cw = Connection::from_spec(s.clone(), &HostAddrs::new([ip("192.0.2.1")])).unwrap();
        let ce = Connection::from_spec(s.clone(), &HostAddrs::new([ip("192.0.2.2")])).unwrap();
        let texts = |v: Vec<TrafficSelector>| -> Vec<String> {
            v.iter().map(ToString::to_string).collect()
        };
        assert_eq!(
            texts(cw.local_traffic_selectors()),
            ["198.51.100.0/24", "198.51.101.0/24"]
        );
        assert_eq!(
            texts(cw.remote_traffic_selectors()),
            ["203.0.113.0/24:tcp/443"]
        );
        assert_eq!(ce.local_traffic_selectors(), cw.remote_traffic_selectors());
        assert_eq!(ce.remote_traffic_selectors(), cw.local_traffic_selectors());
        // Without subnets, the host itself.
        s.left.subnets.clear();
        let c = Connection::from_spec(s.clone(), &HostAddrs::new([ip("192.0.2.1")])).unwrap();
        assert_eq!(texts(c.local_traffic_selectors()), ["192.0.2.1/32"]);
        // Unoriented: none.
        let c = Connection::from_spec(s, &HostAddrs::default()).unwrap();
        assert!(c.local_traffic_selectors().is_empty());
        assert_eq!(texts(c.left.traffic_selectors()), ["192.0.2.1/32"]);
    }

    #[test]
    fn serializes_and_rebuilds_with_its_proposals() {
        let mut s = west_east();
        s.ike = Some("aes_gcm256-sha2_512-dh19".into());
        s.pfsgroup = Some("dh20".into());
        let c = Connection::from_spec(s, &HostAddrs::new([ip("192.0.2.1")])).unwrap();
        let json = serde_json::to_string(&c).unwrap();
        let back: Connection = serde_json::from_str(&json).unwrap();
        assert_eq!(back, c);
        assert_eq!(
            back.proposals.pfs_group(),
            Some(ike::registry::KeId::ECP_384)
        );
    }

    #[test]
    fn neither_end_local_is_unoriented_not_an_error() {
        let c = Connection::from_spec(west_east(), &HostAddrs::new([ip("192.0.2.9")])).unwrap();
        assert_eq!(c.local, None);
        assert!(c.local_end().is_none());
    }

    #[test]
    fn both_ends_local_is_an_error() {
        let both = HostAddrs::new([ip("192.0.2.1"), ip("192.0.2.2")]);
        let e = Connection::from_spec(west_east(), &both).unwrap_err();
        assert!(matches!(e, ConnError::BothEndsLocal { .. }));
        assert!(e.to_string().contains("both ends are local"));
    }

    #[test]
    fn reorients_when_addresses_change() {
        let mut c = Connection::from_spec(west_east(), &HostAddrs::default()).unwrap();
        assert!(!c.is_oriented());
        c.orient(&HostAddrs::new([ip("192.0.2.2")])).unwrap();
        assert_eq!(c.local, Some(Side::Right));
    }

    #[test]
    fn defaults_follow_libreswan() {
        let c = Connection::from_spec(west_east(), &HostAddrs::default()).unwrap();
        assert_eq!(c.policy.ike_version, IkeVersion::V2);
        assert_eq!(c.policy.mode, Mode::Tunnel);
        assert!(c.policy.pfs);
        assert_eq!(c.policy.ike_lifetime, Duration::from_secs(28800));
        assert_eq!(c.policy.rekey_margin, Duration::from_secs(540));
        assert_eq!(c.left.ikeport, 500);
        assert_eq!(c.left.updown.as_deref(), Some(DEFAULT_UPDOWN));
        let mut s = west_east();
        s.psk = false;
        let c = Connection::from_spec(s, &HostAddrs::default()).unwrap();
        assert!(c.policy.authby.rsasig && c.policy.authby.ecdsa && !c.policy.authby.psk);
    }

    #[test]
    fn id_defaults_to_host_address() {
        let mut s = west_east();
        s.left.id = None;
        let c = Connection::from_spec(s, &HostAddrs::default()).unwrap();
        assert_eq!(c.left.id, Id::Ip(ip("192.0.2.1")));
        assert!(!c.left.id_given);
    }

    fn err(s: ConnSpec) -> String {
        Connection::from_spec(s, &HostAddrs::default())
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn errors_name_the_option() {
        let mut s = west_east();
        s.left.subnets = vec!["198.51.100.1/24".into()];
        let m = err(s);
        assert!(
            m.starts_with("left subnet:") && m.contains("198.51.100.0/24"),
            "{m}"
        );

        let mut s = west_east();
        s.right.subnets = vec!["2001:db8::/64".into()];
        assert!(err(s).contains("different address families"));

        let mut s = west_east();
        s.left.subnets.push("2001:db8::/64".into());
        assert!(err(s).contains("mixed"));

        let mut s = west_east();
        s.right.host = None;
        assert!(err(s).starts_with("right host"));

        let mut s = west_east();
        s.right.host = Some("2001:db8::2".into());
        assert!(err(s).contains("different address families"));

        let mut s = west_east();
        s.left.id = Some("@#zz".into());
        assert!(err(s).starts_with("left id:"));

        let mut s = west_east();
        s.encrypt = false;
        assert_eq!(err(s), ConnError::ClientWithoutIpsec.to_string());

        for bad in ["bad name", "a[1]", "q\"uote", "back\\slash", "", "x$y"] {
            let mut s = west_east();
            s.name = bad.into();
            assert!(
                matches!(
                    Connection::from_spec(s, &HostAddrs::default()),
                    Err(ConnError::BadName(_))
                ),
                "{bad:?}"
            );
        }
        // libreswan's one-word names, '=' and ',' included.
        for good in ["west=east", "road,warrior", "a~b"] {
            let mut s = west_east();
            s.name = good.into();
            assert!(
                Connection::from_spec(s, &HostAddrs::default()).is_ok(),
                "{good}"
            );
        }

        let mut s = west_east();
        s.pfsgroup = Some("modp999".into());
        assert!(err(s).starts_with("pfsgroup: unknown group"));

        let mut s = west_east();
        s.nflog_group = Some(70000);
        assert!(err(s).starts_with("nflog-group"));

        let mut s = west_east();
        s.conn_mark = Some("x/y".into());
        assert!(err(s).starts_with("conn-mark"));

        let mut s = west_east();
        s.left.sourceip = Some("192.0.2.77".into());
        assert!(err(s).contains("not inside"));

        let mut s = west_east();
        s.tunnel_addr_family = Some(AddrFamily::Ipv6);
        assert!(err(s).contains("--tunnelipv6"));

        let mut s = west_east();
        s.esp = Some("aes-md4".into());
        assert!(err(s).starts_with("--esp: esp=\"aes-md4\": "));

        let mut s = west_east();
        s.ike = Some("aes,".into());
        assert!(err(s).starts_with("--ike: ike=\"aes,\": "));

        let mut s = west_east();
        s.dpdtimeout = Some(30);
        assert!(err(s).contains("--dpddelay"));

        let mut s = west_east();
        s.ikelifetime = Some(0);
        assert!(err(s).starts_with("ikelifetime"));

        let mut s = west_east();
        s.left.host = Some("%any".into());
        s.right.host = Some("%any".into());
        assert!(err(s).contains("both hosts"));
    }

    #[test]
    fn lifetimes_are_capped_and_margin_reduced() {
        let mut s = west_east();
        s.ikelifetime = Some(200_000);
        s.ipseclifetime = Some(300);
        let c = Connection::from_spec(s, &HostAddrs::default()).unwrap();
        assert_eq!(c.policy.ike_lifetime, MAX_LIFETIME);
        assert_eq!(c.policy.rekey_margin, Duration::from_secs(150));
        // The default margin is reduced silently; only the lifetime cap is reported.
        assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
        assert!(c.warnings[0].starts_with("ikelifetime=200000s exceeds"));
        let mut s = west_east();
        s.rekeymargin = Some(100_000);
        let c = Connection::from_spec(s, &HostAddrs::default()).unwrap();
        assert!(
            c.warnings[0].starts_with("rekeymargin 100000s"),
            "{:?}",
            c.warnings
        );
    }

    /// The refusal of one option: a `NotSupported` error whose one line starts with
    /// the option's name.
    fn refused(s: ConnSpec, starts: &str) -> String {
        let e = Connection::from_spec(s, &HostAddrs::default()).unwrap_err();
        assert!(matches!(e, ConnError::NotSupported { .. }), "{e:?}");
        let m = e.to_string();
        assert!(m.starts_with(starts), "{m}");
        assert_eq!(m.lines().count(), 1, "{m}");
        m
    }

    #[test]
    fn host_family_options_check_the_hosts() {
        let mut s = west_east();
        s.host_addr_family = Some(AddrFamily::Ipv6);
        assert!(err(s).contains("is IPv4 but --ipv6/--tunnelipv6 was given"));
        let mut s = west_east();
        s.host_addr_family = Some(AddrFamily::Ipv4);
        Connection::from_spec(s, &HostAddrs::default()).unwrap();
        let mut s = west_east();
        s.tunnel_addr_family = Some(AddrFamily::Ipv4);
        s.right.subnets = vec!["2001:db8::/64".into()];
        assert!(err(s).contains("is IPv6 but --ipv4/--tunnelipv4 was given"));
    }

    #[test]
    fn refuses_certificate_options() {
        let mut s = west_east();
        s.left.cert = Some("westcert".into());
        let m = refused(
            s,
            "left --cert (leftcert=): X.509 certificates are not supported",
        );
        assert!(m.contains("authenticate with --psk"), "{m}");
        let mut s = west_east();
        s.right.ckaid = Some("0a1b".into());
        refused(s, "right --ckaid (rightckaid=)");
        let mut s = west_east();
        s.left.ca = Some("CN=ca".into());
        refused(s, "left --ca (leftca=)");
        let mut s = west_east();
        s.right.groups = vec!["g1".into()];
        refused(s, "right --groups (rightgroups=)");
    }

    #[test]
    fn refuses_sendcert_sendca_certtype() {
        for sc in [SendCert::Always, SendCert::Never] {
            let mut s = west_east();
            s.left.sendcert = Some(sc);
            refused(s, "left --sendcert (leftsendcert=)");
        }
        let mut s = west_east();
        s.right.sendca = Some(SendCa::All);
        refused(s, "right --sendca (rightsendca=)");
        let mut s = west_east();
        s.left.certtype = Some(4);
        refused(s, "left --certtype (leftcerttype=)");
    }

    #[test]
    fn refuses_dnskeyondemand() {
        let mut s = west_east();
        s.left.dnskeyondemand = true;
        refused(s, "left --dnskeyondemand (leftdnskeyondemand=)");
    }

    #[test]
    fn refuses_rsasig_and_other_signature_methods() {
        let mut s = west_east();
        s.rsasig = true;
        refused(
            s,
            "--rsasig (authby=rsasig): RSA signature authentication is not supported",
        );
        let mut s = west_east();
        s.ecdsa = true;
        refused(s, "authby=ecdsa");
        let mut s = west_east();
        s.authnull = true;
        refused(s, "authby=null");
    }

    #[test]
    fn refuses_compress() {
        let mut s = west_east();
        s.compress = true;
        assert_eq!(
            refused(s, "--compress"),
            "--compress (compress=yes): IPComp is not supported yet"
        );
    }

    #[test]
    fn refuses_ikev1_and_aggrmode() {
        let mut s = west_east();
        s.ike_version = Some(IkeVersion::V1);
        refused(
            s,
            "--ikev1 (keyexchange=ikev1): IKEv1 is not implemented by pluto-rs; use --ikev2",
        );
        let mut s = west_east();
        s.aggrmode = true;
        refused(s, "--aggrmode (aggressive=yes)");
    }

    #[test]
    fn refuses_xauth_options() {
        let mut s = west_east();
        s.left.xauthserver = true;
        refused(s, "left --xauthserver (leftxauthserver=): XAUTH");
        let mut s = west_east();
        s.right.xauthclient = true;
        refused(s, "right --xauthclient (rightxauthclient=)");
        let mut s = west_east();
        s.right.xauthusername = Some("alice".into());
        refused(s, "rightusername=");
    }

    #[test]
    fn refuses_modecfg_options() {
        let mut s = west_east();
        s.left.modecfgserver = true;
        refused(s, "left --modecfgserver (leftmodecfgserver=)");
        let mut s = west_east();
        s.right.modecfgclient = true;
        refused(s, "right --modecfgclient (rightmodecfgclient=)");
        let mut s = west_east();
        s.left.modecfgdns = vec!["192.0.2.53".into()];
        refused(s, "left --modecfgdns");
        let mut s = west_east();
        s.left.modecfgdomains = vec!["example.com".into()];
        refused(s, "left --modecfgdomains");
        let mut s = west_east();
        s.left.modecfgbanner = Some("hi".into());
        refused(s, "left --modecfgbanner");
        let mut s = west_east();
        s.modecfgpull = true;
        refused(s, "--modecfgpull (modecfgpull=yes)");
        let mut s = west_east();
        s.left.addresspool = Some("192.0.2.100-192.0.2.200".into());
        refused(s, "leftaddresspool=");
    }

    #[test]
    fn fragmentation_yes_no_force_are_kept() {
        for (f, want) in [
            (None, Fragmentation::Yes),
            (Some(Fragmentation::Yes), Fragmentation::Yes),
            (Some(Fragmentation::No), Fragmentation::No),
            (Some(Fragmentation::Force), Fragmentation::Force),
        ] {
            let mut s = west_east();
            s.fragmentation = f;
            let c = Connection::from_spec(s, &HostAddrs::default()).unwrap();
            assert_eq!(c.policy.fragmentation, want);
        }
    }

    #[test]
    fn defaultroute_host_is_local() {
        let mut s = west_east();
        s.left.host = Some("%defaultroute".into());
        let addrs = HostAddrs::default().with_default_route(ip("192.0.2.1"));
        let c = Connection::from_spec(s, &addrs).unwrap();
        assert_eq!(c.local, Some(Side::Left));
        assert_eq!(c.left.host_addr, Some(ip("192.0.2.1")));
    }

    #[test]
    fn dns_hosts_resolve_later() {
        let mut s = west_east();
        s.right.host = Some("east.example".into());
        s.right.id = None;
        let addrs = HostAddrs::new([ip("192.0.2.1")]);
        let mut c = Connection::from_spec(s, &addrs).unwrap();
        assert_eq!(
            c.unresolved_dns_hosts(),
            vec![(Side::Right, "east.example")]
        );
        assert_eq!(c.local, Some(Side::Left));
        assert!(c
            .set_resolved_host(Side::Right, ip("2001:db8::2"), &addrs)
            .is_err());
        assert!(c
            .set_resolved_host(Side::Left, ip("192.0.2.1"), &addrs)
            .is_err());
        // Resolving to one of our own addresses makes both ends local: refused, unchanged.
        assert!(matches!(
            c.set_resolved_host(Side::Right, ip("192.0.2.1"), &addrs),
            Err(ConnError::BothEndsLocal { .. })
        ));
        assert_eq!(c.right.host_addr, None);
        c.set_resolved_host(Side::Right, ip("192.0.2.2"), &addrs)
            .unwrap();
        assert_eq!(c.right.id, Id::Ip(ip("192.0.2.2")));
        assert!(c.unresolved_dns_hosts().is_empty());
    }

    #[test]
    fn template_and_instance() {
        let mut s = west_east();
        s.name = "rw".into();
        s.right.host = Some("%any".into());
        s.right.id = None;
        s.right.subnets.clear();
        let mut t = Connection::from_spec(s, &HostAddrs::new([ip("192.0.2.1")])).unwrap();
        t.serial = ConnSerial(4);
        assert!(t.is_template());
        assert_eq!(t.right.id, Id::None);
        let i = t
            .instantiate(ip("192.0.2.77"), Some(Id::Fqdn("road".into())))
            .unwrap();
        assert_eq!(
            i.kind,
            Kind::Instance {
                template: ConnSerial(4),
                number: 0
            }
        );
        assert_eq!(i.right.host_addr, Some(ip("192.0.2.77")));
        assert_eq!(i.right.clients(), vec![Subnet::host(ip("192.0.2.77"))]);
        assert!(t.remote_traffic_selectors().is_empty());
        assert_eq!(
            i.remote_traffic_selectors(),
            vec![TrafficSelector::host(ip("192.0.2.77"))]
        );
        assert_eq!(i.right.id, Id::Fqdn("road".into()));
        assert!(t.instantiate(ip("2001:db8::1"), None).is_err());
        let p = Connection::from_spec(west_east(), &HostAddrs::new([ip("192.0.2.1")])).unwrap();
        assert!(p.instantiate(ip("192.0.2.77"), None).is_err());
    }
}
