//! The whack command line: from words to the [`Envelope`] sent to pluto.
//!
//! whack's grammar is its own: options may come in any order, except that the end
//! options of the connection form describe the left end before `--to` and the right
//! end after it; several forms may be combined in one invocation (they are sent in
//! the fixed order pluto carries them out, see [`build`]). Everything is checked
//! here, so a bad command line never reaches pluto.

use std::collections::HashSet;
use std::net::IpAddr;
use std::path::PathBuf;

use conn::addr::ip_protocol_number;
use conn::spec::{
    self, AddrFamily, ConnSpec, EndSpec, FailShunt, IkeVersion, KeywordError, Mode, OnTraffic,
};
use control::request::{
    DdosMode, DebugChange, ImpairChange, IpVersion, ListKind, OppoTrigger, RedirectMode,
    RereadKind, SaKind, StatusKind,
};
use control::{classes, Envelope, OutputOptions, Request};

use crate::options::{lookup, Arg, LookupError, Opt};

/// A command line whack refuses, with the one-line reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

fn err<T>(msg: impl Into<String>) -> Result<T, UsageError> {
    Err(UsageError(msg.into()))
}

/// A parsed command line that talks to pluto.
#[derive(Debug, Clone, PartialEq)]
pub struct Invocation {
    /// The control socket to connect to.
    pub ctlsocket: PathBuf,
    /// What to send.
    pub envelope: Envelope,
}

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Parsed {
    /// `--help`: print usage, exit 0.
    Help,
    /// `--version`: print the version, exit 0.
    Version,
    /// Talk to pluto.
    Run(Invocation),
}

/// Everything seen on the command line, before the forms are assembled.
#[derive(Default)]
struct Seen {
    flags: HashSet<Opt>,
    once: HashSet<(Opt, bool)>,
    ctlsocket: Option<String>,
    rundir: Option<String>,
    label: Option<String>,
    name: Option<String>,
    positional: Vec<String>,
    // Connection form.
    spec: ConnSpec,
    to: bool,
    first_conn_option: Option<&'static str>,
    // Action arguments.
    remote_host: Option<String>,
    global_redirect: Option<RedirectMode>,
    global_redirect_to: Option<String>,
    redirect_to: Option<String>,
    oppo_here: Option<IpAddr>,
    oppo_there: Option<IpAddr>,
    oppo_sport: Option<u16>,
    oppo_dport: Option<u16>,
    oppo_proto: Option<u8>,
    crash: Option<IpAddr>,
    deletestate: Option<u64>,
    debug: Vec<DebugChange>,
    impair: Vec<ImpairChange>,
    bufsize: Option<u32>,
}

/// Options that belong to one end of the connection form.
fn is_end_option(o: Opt) -> bool {
    use Opt::*;
    matches!(
        o,
        Id | Host
            | Cert
            | Ckaid
            | Ca
            | Groups
            | SendCert
            | SendCa
            | CertType
            | IkePort
            | NextHop
            | Subnet
            | ClientProtoPort
            | SourceIp
            | XauthServer
            | XauthClient
            | ModecfgServer
            | ModecfgClient
            | ModecfgDns
            | ModecfgDomains
            | ModecfgBanner
            | DnsKeyOnDemand
            | Updown
    )
}

/// Options that describe the connection as a whole.
fn is_policy_option(o: Opt) -> bool {
    use Opt::*;
    matches!(
        o,
        Ipv4 | Ipv6
            | Ikev1
            | Ikev2
            | Ike
            | Esp
            | Fragmentation
            | Tunnel
            | Psk
            | RsaSig
            | Encapsulation
            | Encrypt
            | Authenticate
            | Compress
            | Pfs
            | PfsGroup
            | IkeLifetime
            | IpsecLifetime
            | RekeyMargin
            | RekeyFuzz
            | KeyingTries
            | DontRekey
            | AggrMode
            | ModecfgPull
            | Metric
            | NflogGroup
            | ConnMark
            | DpdDelay
            | DpdTimeout
            | NoKeepAlive
            | InitiateOnTraffic
            | Pass
            | Drop
            | Reject
            | FailNone
            | FailPass
            | FailDrop
            | FailReject
    )
}

/// Options that may be given more than once (per end, for end options).
fn repeatable(o: Opt) -> bool {
    matches!(
        o,
        Opt::Subnet | Opt::Debug | Opt::NoDebug | Opt::Impair | Opt::NoImpair
    )
}

fn keyword<T>(r: Result<T, KeywordError>) -> Result<T, UsageError> {
    r.map_err(|e| UsageError(format!("--{e}")))
}

fn number<T: std::str::FromStr>(opt: &str, v: &str, what: &str) -> Result<T, UsageError> {
    v.trim()
        .parse::<T>()
        .or_else(|_| err(format!("--{opt}: \"{v}\" is not {what}")))
}

fn seconds(opt: &str, v: &str) -> Result<u64, UsageError> {
    let t = v.trim();
    let t = t.strip_suffix('s').unwrap_or(t);
    number(opt, t, "a number of seconds")
}

fn port(opt: &str, v: &str) -> Result<u16, UsageError> {
    number(opt, v, "a port number (0-65535)")
}

fn ip(opt: &str, v: &str) -> Result<IpAddr, UsageError> {
    v.trim()
        .parse()
        .or_else(|_| err(format!("--{opt}: \"{v}\" is not an IP address")))
}

fn list(opt: &str, v: &str) -> Result<Vec<String>, UsageError> {
    let items: Vec<String> = v
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    if items.is_empty() {
        return err(format!("--{opt}: empty list"));
    }
    Ok(items)
}

fn text(opt: &str, v: &str) -> Result<String, UsageError> {
    if v.is_empty() {
        return err(format!("--{opt}: empty value"));
    }
    Ok(v.to_string())
}

fn conn_mark(v: &str) -> Result<String, UsageError> {
    let num = |s: &str| -> bool {
        let s = s.trim();
        match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
            Some(h) => u32::from_str_radix(h, 16).is_ok(),
            None => s.parse::<u32>().is_ok() || s == "-1",
        }
    };
    let mut parts = v.splitn(2, '/');
    let mark = parts.next().unwrap_or("");
    let ok = num(mark) && parts.next().is_none_or(num);
    if !ok {
        return err(format!(
            "--conn-mark: \"{v}\" is not mark[/mask] (numbers, decimal or 0x hex)"
        ));
    }
    Ok(v.to_string())
}

fn debug_word(word: &str, out: &mut Vec<DebugChange>) -> Result<(), UsageError> {
    let unknown = |c: &str| {
        err(format!(
            "--debug: unknown debug class \"{c}\"; see whack --debug help"
        ))
    };
    match word {
        "help" => out.push(DebugChange::Help),
        "none" => out.push(DebugChange::None),
        "all" => out.push(DebugChange::All),
        w => {
            if let Some(c) = w.strip_prefix("no-") {
                if classes::debug_class(c).is_none() {
                    return unknown(c);
                }
                out.push(DebugChange::Disable(c.to_string()));
            } else {
                if classes::debug_class(w).is_none() {
                    return unknown(w);
                }
                out.push(DebugChange::Enable(w.to_string()));
            }
        }
    }
    Ok(())
}

fn impair_word(word: &str, out: &mut Vec<ImpairChange>) -> Result<(), UsageError> {
    let unknown = |c: &str| {
        err(format!(
            "--impair: unknown impairment \"{c}\"; see whack --impair help"
        ))
    };
    match word {
        "help" => out.push(ImpairChange::Help),
        "list" => out.push(ImpairChange::List),
        "none" => out.push(ImpairChange::None),
        w => {
            let (b, how) = match w.split_once(':') {
                Some((b, h)) => (b, Some(h.to_string())),
                None => (w, None),
            };
            if let Some(c) = b.strip_prefix("no-") {
                if classes::impairment(c).is_none() {
                    return unknown(c);
                }
                out.push(ImpairChange::Clear(c.to_string()));
            } else {
                if classes::impairment(b).is_none() {
                    return unknown(b);
                }
                out.push(ImpairChange::Set {
                    behaviour: b.to_string(),
                    how,
                });
            }
        }
    }
    Ok(())
}

impl Seen {
    fn end(&mut self) -> &mut EndSpec {
        if self.to {
            &mut self.spec.right
        } else {
            &mut self.spec.left
        }
    }

    fn has(&self, o: Opt) -> bool {
        self.flags.contains(&o)
    }

    fn apply(&mut self, name: &'static str, o: Opt, v: Option<String>) -> Result<(), UsageError> {
        // A value-taking option given twice (per end, for end options) is an error,
        // except the ones that accumulate.
        if v.is_some() && !repeatable(o) {
            let side = is_end_option(o) && self.to;
            if !self.once.insert((o, side)) {
                let end = if is_end_option(o) {
                    if self.to {
                        " for the right end"
                    } else {
                        " for the left end"
                    }
                } else {
                    ""
                };
                return err(format!("--{name} given twice{end}"));
            }
        }
        if (is_end_option(o) || is_policy_option(o)) && self.first_conn_option.is_none() {
            self.first_conn_option = Some(name);
        }
        self.flags.insert(o);
        let v = v.unwrap_or_default();
        let s = &mut self.spec;
        use Opt::*;
        match o {
            Help | Version | Utc | Json => {}
            CtlSocket => self.ctlsocket = Some(text(name, &v)?),
            RunDir => self.rundir = Some(text(name, &v)?),
            Label => self.label = Some(v),
            Name => self.name = Some(text(name, &v)?),
            Id => self.end().id = Some(text(name, &v)?),
            Host => self.end().host = Some(text(name, &v)?),
            Cert => self.end().cert = Some(text(name, &v)?),
            Ckaid => {
                if !v.chars().all(|c| c.is_ascii_hexdigit()) || v.is_empty() {
                    return err(format!("--ckaid: \"{v}\" is not a hex CKAID"));
                }
                self.end().ckaid = Some(v)
            }
            Ca => self.end().ca = Some(text(name, &v)?),
            Groups => self.end().groups = list(name, &v)?,
            SendCert => self.end().sendcert = Some(keyword(spec::SendCert::from_keyword(&v))?),
            SendCa => self.end().sendca = Some(keyword(spec::SendCa::from_keyword(&v))?),
            CertType => self.end().certtype = Some(number(name, &v, "a certificate type (0-255)")?),
            IkePort => {
                let p = port(name, &v)?;
                if p == 0 {
                    return err("--ikeport: port 0 is not usable");
                }
                self.end().ikeport = Some(p)
            }
            NextHop => self.end().nexthop = Some(text(name, &v)?),
            Subnet => {
                let t = text(name, &v)?;
                self.end().subnets.push(t)
            }
            ClientProtoPort => {
                if !v.contains('/') {
                    return err(format!(
                        "--clientprotoport: \"{v}\" is not protocol/port (e.g. tcp/22, 17/%any)"
                    ));
                }
                self.end().clientprotoport = Some(v)
            }
            SourceIp => self.end().sourceip = Some(text(name, &v)?),
            XauthServer => self.end().xauthserver = true,
            XauthClient => self.end().xauthclient = true,
            ModecfgServer => self.end().modecfgserver = true,
            ModecfgClient => self.end().modecfgclient = true,
            ModecfgDns => self.end().modecfgdns = list(name, &v)?,
            ModecfgDomains => self.end().modecfgdomains = list(name, &v)?,
            ModecfgBanner => self.end().modecfgbanner = Some(v),
            DnsKeyOnDemand => self.end().dnskeyondemand = true,
            Updown => self.end().updown = Some(text(name, &v)?),
            To => {
                if self.to {
                    return err("--to given twice; a connection has two ends");
                }
                self.to = true;
            }
            Ipv4 | Ipv6 => {
                let f = if o == Ipv4 {
                    AddrFamily::Ipv4
                } else {
                    AddrFamily::Ipv6
                };
                if s.host_addr_family.is_some_and(|g| g != f) {
                    return err("--ipv4 and --ipv6 cannot go together");
                }
                s.host_addr_family = Some(f)
            }
            TunnelIpv4 | TunnelIpv6 => {
                let f = if o == TunnelIpv4 {
                    AddrFamily::Ipv4
                } else {
                    AddrFamily::Ipv6
                };
                if s.tunnel_addr_family.is_some_and(|g| g != f) {
                    return err("--tunnelipv4 and --tunnelipv6 cannot go together");
                }
                s.tunnel_addr_family = Some(f)
            }
            Ikev1 | Ikev2 => {
                let want = if o == Ikev1 {
                    IkeVersion::V1
                } else {
                    IkeVersion::V2
                };
                if s.ike_version.is_some_and(|g| g != want) {
                    return err("--ikev1 and --ikev2 cannot go together");
                }
                s.ike_version = Some(want)
            }
            Ike => s.ike = Some(text(name, &v)?),
            Esp => s.esp = Some(text(name, &v)?),
            Fragmentation => {
                s.fragmentation = Some(keyword(spec::Fragmentation::from_keyword(&v))?)
            }
            Tunnel => s.mode = Some(Mode::Tunnel),
            Psk => s.psk = true,
            RsaSig => s.rsasig = true,
            Encapsulation => {
                s.encapsulation = Some(if v.is_empty() {
                    spec::Encapsulation::Yes
                } else {
                    keyword(spec::Encapsulation::from_keyword(&v))?
                })
            }
            Encrypt => s.encrypt = true,
            Authenticate => s.authenticate = true,
            Compress => s.compress = true,
            Pfs => s.pfs = Some(true),
            PfsGroup => {
                let g = v.to_ascii_lowercase();
                if !conn::policy::PFS_GROUPS.contains(&g.as_str()) {
                    return err(format!(
                        "--pfsgroup: unknown group \"{v}\"; expected one of: {}",
                        conn::policy::PFS_GROUPS.join("|")
                    ));
                }
                s.pfsgroup = Some(g)
            }
            IkeLifetime => s.ikelifetime = Some(seconds(name, &v)?),
            IpsecLifetime => s.ipseclifetime = Some(seconds(name, &v)?),
            RekeyMargin => s.rekeymargin = Some(seconds(name, &v)?),
            RekeyFuzz => {
                let t = v.trim().trim_end_matches('%');
                s.rekeyfuzz = Some(number(name, t, "a percentage")?)
            }
            KeyingTries => {
                s.keyingtries = Some(if v == "%forever" {
                    0
                } else {
                    number(name, &v, "a number of tries (0 = forever)")?
                })
            }
            DontRekey => s.dontrekey = true,
            AggrMode => s.aggrmode = true,
            ModecfgPull => s.modecfgpull = true,
            Metric => s.metric = Some(number(name, &v, "a route metric")?),
            NflogGroup => {
                let g: u32 = number(name, &v, "an NFLOG group (1-65535)")?;
                if !(1..=65535).contains(&g) {
                    return err(format!("--nflog-group: {g} is not in 1-65535"));
                }
                s.nflog_group = Some(g)
            }
            ConnMark => s.conn_mark = Some(conn_mark(&v)?),
            DpdDelay => s.dpddelay = Some(seconds(name, &v)?),
            DpdTimeout => s.dpdtimeout = Some(seconds(name, &v)?),
            NoKeepAlive => s.no_keep_alive = true,
            InitiateOnTraffic | Pass | Drop | Reject => {
                let t = match o {
                    InitiateOnTraffic => OnTraffic::Initiate,
                    Pass => OnTraffic::Pass,
                    Drop => OnTraffic::Drop,
                    _ => OnTraffic::Reject,
                };
                if s.on_traffic.is_some_and(|g| g != t) {
                    return err(
                        "only one of --initiateontraffic, --pass, --drop, --reject may be given",
                    );
                }
                s.on_traffic = Some(t)
            }
            FailNone | FailPass | FailDrop | FailReject => {
                let f = match o {
                    FailNone => FailShunt::None,
                    FailPass => FailShunt::Pass,
                    FailDrop => FailShunt::Drop,
                    _ => FailShunt::Reject,
                };
                if s.failure_shunt.is_some_and(|g| g != f) {
                    return err(
                        "only one of --failnone, --failpass, --faildrop, --failreject may be given",
                    );
                }
                s.failure_shunt = Some(f)
            }
            KeyId | PubKeyRsa => {
                return err(format!(
                    "--{name}: raw public keys are used only by RSA authentication, which pluto-rs does not support yet; use --psk"
                ))
            }
            RemoteHost => self.remote_host = Some(text(name, &v)?),
            // libreswan 5's options outside the manual that pluto-rs lacks: said
            // so, rather than "unrecognized".
            RereadCerts => {
                return err(
                    "--rereadcerts: X.509 certificates are not supported by pluto-rs yet; nothing to reread",
                )
            }
            ListPsks => {
                return err(
                    "--listpsks: not implemented yet in pluto-rs (the PSKs' IDs are in ipsec.secrets)",
                )
            }
            DeleteId => {
                return err(
                    "--deleteid: not implemented yet in pluto-rs; use --delete-ike or --crash ADDRESS",
                )
            }
            ConnAlias => {
                return err("--connalias: connection aliases are not implemented yet in pluto-rs")
            }
            XauthUser | XauthPass => {
                return err(format!(
                    "--{name}: XAUTH is an IKEv1 mechanism and is not supported by pluto-rs"
                ))
            }
            GlobalRedirect => {
                self.global_redirect = Some(match v.as_str() {
                    "yes" => RedirectMode::Yes,
                    "no" => RedirectMode::No,
                    "auto" => RedirectMode::Auto,
                    _ => {
                        return err(format!(
                            "--global-redirect: unknown value \"{v}\"; expected one of: yes|no|auto"
                        ))
                    }
                })
            }
            GlobalRedirectTo => self.global_redirect_to = Some(v),
            RedirectTo => self.redirect_to = Some(text(name, &v)?),
            OppoHere => self.oppo_here = Some(ip(name, &v)?),
            OppoThere => self.oppo_there = Some(ip(name, &v)?),
            OppoSport => self.oppo_sport = Some(port(name, &v)?),
            OppoDport => self.oppo_dport = Some(port(name, &v)?),
            OppoProto => {
                self.oppo_proto = Some(match ip_protocol_number(&v) {
                    Some(p) => p,
                    None => number(name, &v, "a protocol name or number (0-255)")?,
                })
            }
            Crash => self.crash = Some(ip(name, &v)?),
            DeleteState => {
                let t = v.trim().trim_start_matches('#');
                self.deletestate = Some(number(name, t, "a state number")?)
            }
            Debug => {
                for w in v.split(',').filter(|w| !w.is_empty()) {
                    debug_word(w, &mut self.debug)?;
                }
            }
            NoDebug => {
                for w in v.split(',').filter(|w| !w.is_empty()) {
                    debug_word(&format!("no-{w}"), &mut self.debug)?;
                }
            }
            Impair => {
                for w in v.split(',').filter(|w| !w.is_empty()) {
                    impair_word(w, &mut self.impair)?;
                }
            }
            NoImpair => {
                for w in v.split(',').filter(|w| !w.is_empty()) {
                    impair_word(&format!("no-{w}"), &mut self.impair)?;
                }
            }
            IkeSocketBufsize => {
                let n: u32 = number(name, &v, "a buffer size in bytes")?;
                if n == 0 {
                    return err("--ike-socket-bufsize: size must be positive");
                }
                self.bufsize = Some(n)
            }
            AddKey => {
                return err(
                    "--addkey: raw public keys are used only by RSA authentication, which pluto-rs does not support yet; use --psk",
                )
            }
            // Pure flags, interpreted when the forms are assembled.
            Listen
            | Unlisten
            | DdosAuto
            | DdosBusy
            | DdosUnlimited
            | Route
            | Unroute
            | Initiate
            | Asynchronous
            | Down
            | RekeyIke
            | RekeyChild
            | DeleteIke
            | DeleteChild
            | DownIke
            | DownChild
            | Delete
            | DeleteUser
            | ListAll
            | ListPubKeys
            | ListCerts
            | CheckPubKeys
            | ListCaCerts
            | ListCrls
            | RereadSecrets
            | FetchCrls
            | RereadAll
            | RereadCrls
            | Ddns
            | ListEvents
            | PurgeOcsp
            | Status
            | AddressPoolStatus
            | BriefStatus
            | ConnectionStatus
            | FipsStatus
            | ProcessStatus
            | ShowStates
            | ShuntStatus
            | TrafficStatus
            | GlobalStatus
            | ClearStats
            | IkeSocketErrqueueToggle
            | Shutdown
            | LeaveState => {}
        }
        Ok(())
    }
}

/// Parses whack's arguments (without the program name).
pub fn parse<I, S>(args: I) -> Result<Parsed, UsageError>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let args: Vec<String> = args.into_iter().map(Into::into).collect();
    let mut seen = Seen::default();
    let mut i = 0;
    let mut only_positional = false;
    while i < args.len() {
        let word = &args[i];
        i += 1;
        if only_positional || !word.starts_with('-') || word == "-" {
            seen.positional.push(word.clone());
            continue;
        }
        if word == "--" {
            only_positional = true;
            continue;
        }
        let Some(body) = word.strip_prefix("--") else {
            return err(format!(
                "unrecognized option '{word}' (whack has only long options)"
            ));
        };
        let (key, inline) = match body.split_once('=') {
            Some((k, v)) => (k, Some(v.to_string())),
            None => (body, None),
        };
        let (name, arg, opt) = match lookup(key) {
            Ok(found) => found,
            Err(LookupError::Unknown) => return err(format!("unrecognized option '--{key}'")),
            Err(LookupError::Ambiguous(names)) => {
                let list: Vec<String> = names.iter().map(|n| format!("'--{n}'")).collect();
                return err(format!(
                    "option '--{key}' is ambiguous; possibilities: {}",
                    list.join(" ")
                ));
            }
        };
        let value = match arg {
            Arg::No => {
                if inline.is_some() {
                    return err(format!("option '--{name}' doesn't allow an argument"));
                }
                None
            }
            Arg::Required => match inline {
                Some(v) => Some(v),
                None => match args.get(i) {
                    Some(v) => {
                        i += 1;
                        Some(v.clone())
                    }
                    None => return err(format!("option '--{name}' requires an argument")),
                },
            },
            Arg::Optional(words) => match inline {
                Some(v) => Some(v),
                None => match args.get(i) {
                    Some(v) if words.contains(&v.as_str()) => {
                        i += 1;
                        Some(v.clone())
                    }
                    _ => None,
                },
            },
        };
        seen.apply(name, opt, value)?;
    }
    build(seen)
}

/// Assembles the forms, checks that the options go together, and orders the
/// requests as pluto carries them out: debug/impair, state and peer removal,
/// connection delete, connection add, keys, redirects, listening and DDoS, socket
/// tuning, rereads and lists, routing, initiation, teardown and rekey, status,
/// clearstats, shutdown.
fn build(mut s: Seen) -> Result<Parsed, UsageError> {
    if s.has(Opt::Help) {
        return Ok(Parsed::Help);
    }
    if s.has(Opt::Version) {
        return Ok(Parsed::Version);
    }
    match s.positional.as_slice() {
        [] => {}
        [one] if s.name.is_none() => s.name = Some(one.clone()),
        [first, ..] => return err(format!("unexpected argument \"{first}\"")),
    }

    let needs = |s: &Seen, o: Opt, what: &str, deps: &[Opt]| -> Result<(), UsageError> {
        if s.has(o) && !deps.iter().any(|d| s.has(*d)) {
            let names: Vec<String> = deps.iter().map(|d| format!("--{}", opt_name(*d))).collect();
            return err(format!("--{} {what} {}", opt_name(o), names.join(" or ")));
        }
        Ok(())
    };
    let conflict = |s: &Seen, group: &[Opt]| -> Result<(), UsageError> {
        let given: Vec<String> = group
            .iter()
            .filter(|o| s.has(**o))
            .map(|o| format!("--{}", opt_name(*o)))
            .collect();
        if given.len() > 1 {
            return err(format!("{} cannot go together", given.join(" and ")));
        }
        Ok(())
    };
    use Opt::*;
    conflict(&s, &[Listen, Unlisten])?;
    conflict(&s, &[Route, Unroute])?;
    conflict(&s, &[DdosAuto, DdosBusy, DdosUnlimited])?;
    conflict(&s, &[Initiate, Down])?;
    conflict(&s, &[DeleteUser, Delete])?;
    // --deleteuser takes a user name in --name, so nothing else may use --name.
    for o in [
        Route, Unroute, Initiate, Down, To, RedirectTo, Debug, NoDebug, Impair, NoImpair,
    ] {
        conflict(&s, &[DeleteUser, o])?;
    }
    let sa_ops = [
        RekeyIke,
        RekeyChild,
        DeleteIke,
        DeleteChild,
        DownIke,
        DownChild,
    ];
    needs(
        &s,
        Asynchronous,
        "needs",
        &[&[Initiate, Down][..], &sa_ops[..]].concat(),
    )?;
    needs(&s, RemoteHost, "needs", &[Initiate])?;
    needs(&s, LeaveState, "needs", &[Shutdown])?;
    for o in [Route, Unroute, Initiate, Down, Delete, DeleteUser]
        .into_iter()
        .chain(sa_ops)
    {
        if s.has(o) && s.name.is_none() {
            return err(format!("--{} needs --name", opt_name(o)));
        }
    }

    // The connection form.
    let conn_form = s.to || s.first_conn_option.is_some();
    if conn_form {
        if !s.to {
            return err(format!(
                "--{} belongs to a connection description, which needs --to between the two ends",
                s.first_conn_option.unwrap_or("to")
            ));
        }
        let Some(name) = s.name.clone() else {
            return err("a connection description needs --name");
        };
        s.spec.name = name;
        // whack's connection form, unlike ipsec.conf, is transport mode without
        // PFS unless --tunnel and --pfs say otherwise.
        if s.spec.mode.is_none() {
            s.spec.mode = Some(Mode::Transport);
        }
        if s.spec.pfs.is_none() {
            s.spec.pfs = Some(false);
        }
    }

    // Oppo form: all or nothing.
    let oppo = [
        s.oppo_here.is_some(),
        s.oppo_there.is_some(),
        s.oppo_sport.is_some(),
        s.oppo_dport.is_some(),
        s.oppo_proto.is_some(),
    ];
    if oppo.iter().any(|b| *b) && !oppo.iter().all(|b| *b) {
        return err(
            "the opportunistic initiate form needs all of --oppohere, --oppothere, --opposport, --oppodport, --oppoproto",
        );
    }

    let mut rq = Vec::new();
    let name = s.name.clone();
    if !s.debug.is_empty() {
        rq.push(Request::Debug {
            name: name.clone(),
            changes: std::mem::take(&mut s.debug),
        });
    }
    if !s.impair.is_empty() {
        rq.push(Request::Impair {
            name: name.clone(),
            changes: std::mem::take(&mut s.impair),
        });
    }
    if let Some(serial) = s.deletestate {
        rq.push(Request::DeleteState { serial });
    }
    if s.has(DeleteUser) {
        rq.push(Request::DeleteUser {
            user: name.clone().unwrap_or_default(),
        });
    }
    if let Some(address) = s.crash {
        rq.push(Request::Crash { address });
    }
    let n = || name.clone().unwrap_or_default();
    if s.has(Delete) {
        rq.push(Request::Delete { name: n() });
    }
    if conn_form {
        rq.push(Request::AddConnection {
            spec: Box::new(std::mem::take(&mut s.spec)),
        });
    }
    if let Some(mode) = s.global_redirect {
        rq.push(Request::GlobalRedirect { mode });
    }
    if let Some(to) = s.global_redirect_to.clone() {
        rq.push(Request::GlobalRedirectTo { to });
    }
    if let Some(to) = s.redirect_to.clone() {
        rq.push(Request::RedirectTo {
            name: name.clone(),
            to,
        });
    }
    for (o, mode) in [
        (DdosAuto, DdosMode::Auto),
        (DdosBusy, DdosMode::Busy),
        (DdosUnlimited, DdosMode::Unlimited),
    ] {
        if s.has(o) {
            rq.push(Request::Ddos { mode });
        }
    }
    if let Some(bytes) = s.bufsize {
        rq.push(Request::IkeSocketBufsize { bytes });
    }
    if s.has(IkeSocketErrqueueToggle) {
        rq.push(Request::IkeSocketErrqueueToggle);
    }
    if s.has(Listen) {
        rq.push(Request::Listen);
    }
    if s.has(Unlisten) {
        rq.push(Request::Unlisten);
    }
    for (o, what) in [
        (RereadSecrets, RereadKind::Secrets),
        (FetchCrls, RereadKind::FetchCrls),
        (RereadCrls, RereadKind::Crls),
        (RereadAll, RereadKind::All),
    ] {
        if s.has(o) {
            rq.push(Request::Reread { what });
        }
    }
    let mut lists = 0;
    for (o, what) in [
        (ListPubKeys, ListKind::PubKeys),
        (CheckPubKeys, ListKind::CheckPubKeys),
        (ListCerts, ListKind::Certs),
        (ListCaCerts, ListKind::CaCerts),
        (ListCrls, ListKind::Crls),
        (ListAll, ListKind::All),
    ] {
        if s.has(o) {
            lists += 1;
            rq.push(Request::List { what });
        }
    }
    if s.has(PurgeOcsp) {
        rq.push(Request::PurgeOcsp);
    }
    if s.has(ListEvents) {
        lists += 1;
        rq.push(Request::ListEvents);
    }
    if s.has(Ddns) {
        rq.push(Request::Ddns);
    }
    if s.has(Unroute) {
        rq.push(Request::Unroute { name: n() });
    }
    if s.has(Route) {
        rq.push(Request::Route { name: n() });
    }
    let asynchronous = s.has(Asynchronous);
    if s.has(Initiate) {
        rq.push(Request::Initiate {
            name: n(),
            remote_host: s.remote_host.clone(),
            xauth_user: None,
            xauth_pass: None,
            asynchronous,
        });
    }
    if let (Some(here), Some(there), Some(sport), Some(dport), Some(proto)) = (
        s.oppo_here,
        s.oppo_there,
        s.oppo_sport,
        s.oppo_dport,
        s.oppo_proto,
    ) {
        let ip_version = match s.spec.tunnel_addr_family.filter(|_| !conn_form) {
            Some(AddrFamily::Ipv4) => Some(IpVersion::V4),
            Some(AddrFamily::Ipv6) => Some(IpVersion::V6),
            None => None,
        };
        rq.push(Request::Oppo(OppoTrigger {
            ip_version,
            here,
            there,
            sport,
            dport,
            proto,
        }));
    }
    if s.has(Down) {
        rq.push(Request::Down {
            name: n(),
            asynchronous,
        });
    }
    for (o, sa) in [(RekeyIke, SaKind::Ike), (RekeyChild, SaKind::Child)] {
        if s.has(o) {
            rq.push(Request::Rekey {
                name: n(),
                sa,
                asynchronous,
            });
        }
    }
    for (o, sa) in [(DeleteIke, SaKind::Ike), (DeleteChild, SaKind::Child)] {
        if s.has(o) {
            rq.push(Request::DeleteSa {
                name: n(),
                sa,
                asynchronous,
            });
        }
    }
    for (o, sa) in [(DownIke, SaKind::Ike), (DownChild, SaKind::Child)] {
        if s.has(o) {
            rq.push(Request::DownSa {
                name: n(),
                sa,
                asynchronous,
            });
        }
    }
    for (o, what) in [
        (Status, StatusKind::Status),
        (GlobalStatus, StatusKind::Global),
        (BriefStatus, StatusKind::Brief),
        (ConnectionStatus, StatusKind::Connection),
        (TrafficStatus, StatusKind::Traffic),
        (ShuntStatus, StatusKind::Shunt),
        (AddressPoolStatus, StatusKind::AddressPool),
        (FipsStatus, StatusKind::Fips),
        (ProcessStatus, StatusKind::Process),
        (ShowStates, StatusKind::States),
    ] {
        if s.has(o) {
            lists += 1;
            rq.push(Request::Status { what });
        }
    }
    if s.has(ClearStats) {
        rq.push(Request::ClearStats);
    }
    if s.has(Shutdown) {
        rq.push(Request::Shutdown {
            leave_state: s.has(LeaveState),
        });
    }

    if s.has(Json) && lists == 0 {
        return err("--json applies only to the status and list forms");
    }
    if rq.is_empty() {
        return err(match &s.name {
            Some(n) => format!(
                "nothing to do for \"{n}\": give a connection description (--to), or an action such as --initiate; see whack --help"
            ),
            None => "no action given; see whack --help".to_string(),
        });
    }

    let ctlsocket = match (&s.ctlsocket, &s.rundir) {
        (Some(c), _) => PathBuf::from(c),
        (None, Some(r)) => PathBuf::from(r).join(control::CTL_FILE),
        (None, None) => PathBuf::from(control::DEFAULT_CTLSOCKET),
    };
    let envelope = Envelope {
        version: control::PROTOCOL_VERSION,
        label: s.label.clone(),
        output: OutputOptions {
            utc: s.has(Utc),
            json: s.has(Json),
        },
        requests: rq,
    };
    Ok(Parsed::Run(Invocation {
        ctlsocket,
        envelope,
    }))
}

/// The canonical long name of an option.
fn opt_name(o: Opt) -> &'static str {
    crate::options::OPTIONS
        .iter()
        .find(|(_, _, x)| *x == o)
        .map(|(n, _, _)| *n)
        .unwrap_or("?")
}
