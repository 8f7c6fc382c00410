//! The `ipsec.conf` reader (libreswan syntax) producing [`ConnSpec`]s and setup options.
//!
//! ```text
//! config setup
//!     logfile=/var/log/pluto.log
//!
//! conn %default
//!     ikelifetime=8h
//!
//! conn base
//!     authby=secret
//!
//! conn west-east
//!     also=base
//!     left=192.0.2.1
//!     leftid=@west
//!     right=192.0.2.2
//!     rightsubnets={198.51.100.0/24 203.0.113.0/24}
//!     auto=start
//!
//! include /etc/ipsec.d/*.conf
//! ```
//!
//! Section headers start in column 0; their `key=value` lines are indented. A key set in
//! the conn itself wins over one from an `also=` section (earlier `also=` first), which
//! wins over `conn %default`. libreswan keywords that pluto-rs accepts but does not
//! implement yet are reported in [`Config::warnings`] (and logged) rather than silently
//! ignored; unknown keywords are errors.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use crate::files::{
    include_files, include_refused, read_text, split_words, strip_comment, FileError, Includes,
};
use crate::spec::{
    AddrFamily, ConnSpec, Encapsulation, EndSpec, FailShunt, Fragmentation, IkeVersion,
    KeywordError, Mode, OnTraffic, SendCa, SendCert,
};

/// An `ipsec.conf` problem, with its location (the same type as
/// [`crate::secrets::SecretsError`]: both readers fail the same ways).
pub type ConfError = FileError;

/// What the daemon does with a conn at start (`auto=`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Auto {
    /// Not loaded (default).
    #[default]
    Ignore,
    /// Loaded only.
    Add,
    /// Loaded and routed: traffic triggers negotiation (`ondemand`, `route`).
    Ondemand,
    /// Loaded and initiated (`start`, `up`).
    Start,
    /// Like start, and kept up by the peer's (`keep`).
    Keep,
}

impl Auto {
    fn parse(s: &str) -> Option<Auto> {
        Some(match s.to_ascii_lowercase().as_str() {
            "ignore" => Auto::Ignore,
            "add" => Auto::Add,
            "ondemand" | "route" => Auto::Ondemand,
            "start" | "up" => Auto::Start,
            "keep" => Auto::Keep,
            _ => return None,
        })
    }
}

/// A `config setup` value and where it was set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetupValue {
    /// The value.
    pub value: String,
    /// File.
    pub path: PathBuf,
    /// Line.
    pub line: usize,
}

/// One resolved `conn` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfConn {
    /// The description.
    pub spec: ConnSpec,
    /// `auto=`.
    pub auto: Auto,
    /// File of the `conn` line.
    pub path: PathBuf,
    /// Line of the `conn` line.
    pub line: usize,
}

/// A parsed `ipsec.conf` with its includes.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// `config setup` options (later settings override earlier ones).
    pub setup: BTreeMap<String, SetupValue>,
    /// Every `conn` except `%default`, in file order.
    pub conns: Vec<ConfConn>,
    /// Accepted-but-unimplemented options, `file:line: ...`.
    pub warnings: Vec<String>,
    /// The conns that were not loaded, each with why; the others load without them,
    /// as libreswan's addconn adds each conn on its own.
    pub errors: Vec<ConnProblem>,
}

/// A conn of an ipsec.conf that could not be loaded: a bad value, an unknown
/// keyword, an `also=` that names nothing or loops. Shown as
/// `file:line: conn "name": problem`, the line being the offending key's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnProblem {
    /// The conn.
    pub name: String,
    /// The file of the offending line.
    pub path: PathBuf,
    /// The offending line (1-based).
    pub line: usize,
    /// What is wrong.
    pub problem: String,
}

impl ConnProblem {
    fn new(sec: &Section, e: ConfError) -> ConnProblem {
        let (path, line, problem) = match e {
            FileError::Syntax {
                path,
                line,
                problem,
            } => (path, line, problem),
            e @ FileError::Io { .. } => (sec.path.clone(), sec.line, e.to_string()),
        };
        ConnProblem {
            name: sec.name.clone(),
            path,
            line,
            problem,
        }
    }
}

impl std::fmt::Display for ConnProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}: conn \"{}\": {}",
            self.path.display(),
            self.line,
            self.name,
            self.problem
        )
    }
}

#[derive(Debug, Clone)]
struct Kv {
    key: String,
    value: String,
    path: PathBuf,
    line: usize,
}

#[derive(Debug, Clone)]
struct Section {
    name: String,
    kvs: Vec<Kv>,
    path: PathBuf,
    line: usize,
}

#[derive(Default)]
struct Raw {
    setup: Vec<Kv>,
    conns: Vec<Section>,
    /// Position in `conns` by name (not `%default`), so that the duplicate check and
    /// `also=` cost one lookup rather than a scan of every conn before.
    by_name: HashMap<String, usize>,
    /// Whether `include` lines are read (`Follow`, the default) or refused.
    includes: Includes,
}

fn syntax(path: &Path, line: usize, problem: impl Into<String>) -> ConfError {
    FileError::syntax(path, line, problem)
}

impl Config {
    /// Read `ipsec.conf` and everything it includes.
    pub fn load(path: &Path) -> Result<Config, ConfError> {
        let mut raw = Raw::default();
        read_file(&mut raw, path, 0)?;
        resolve(raw)
    }

    /// Read only the `config setup` section of `ipsec.conf` (and its includes): what
    /// pluto needs before it starts (its conns are read once it runs). `conns` is
    /// empty; the file must still be well formed.
    pub fn load_setup(path: &Path) -> Result<Config, ConfError> {
        let mut raw = Raw::default();
        read_file(&mut raw, path, 0)?;
        let mut cfg = Config::default();
        resolve_setup(&mut raw, &mut cfg);
        Ok(cfg)
    }

    /// Parse text as if read from `path` (includes are resolved relative to its
    /// directory).
    pub fn parse_str(text: &str, path: &Path) -> Result<Config, ConfError> {
        Self::parse_str_with(text, path, Includes::Follow)
    }

    /// Parse text as if read from `path`, following or refusing its `include`
    /// lines.
    pub fn parse_str_with(
        text: &str,
        path: &Path,
        includes: Includes,
    ) -> Result<Config, ConfError> {
        let mut raw = Raw {
            includes,
            ..Raw::default()
        };
        parse_text(&mut raw, text, path, 0)?;
        resolve(raw)
    }

    /// A conn by name.
    pub fn conn(&self, name: &str) -> Option<&ConfConn> {
        self.conns.iter().find(|c| c.spec.name == name)
    }
}

fn read_file(raw: &mut Raw, path: &Path, depth: usize) -> Result<(), ConfError> {
    let text = read_text(path)?;
    parse_text(raw, &text, path, depth)
}

enum Current {
    None,
    Setup,
    Conn(usize),
}

fn parse_text(raw: &mut Raw, text: &str, path: &Path, depth: usize) -> Result<(), ConfError> {
    let mut cur = Current::None;
    for (i, full) in text.lines().enumerate() {
        let line = i + 1;
        let l = strip_comment(full);
        if l.trim().is_empty() {
            continue;
        }
        let indented = l.starts_with(char::is_whitespace);
        if !indented {
            let words = split_words(l).ok_or_else(|| syntax(path, line, "unclosed quote"))?;
            let first = words.first().map(|w| w.text.as_str()).unwrap_or("");
            match (first, words.len()) {
                ("config", 2) if words[1].text == "setup" => cur = Current::Setup,
                ("conn", 2) => {
                    let name = words[1].text.clone();
                    if name != "%default" {
                        if raw.by_name.contains_key(&name) {
                            return Err(syntax(path, line, format!("duplicate conn \"{name}\"")));
                        }
                        raw.by_name.insert(name.clone(), raw.conns.len());
                    }
                    raw.conns.push(Section {
                        name,
                        kvs: Vec::new(),
                        path: path.to_path_buf(),
                        line,
                    });
                    cur = Current::Conn(raw.conns.len() - 1);
                }
                ("conn", _) => {
                    return Err(syntax(path, line, "conn needs exactly one name: conn NAME"))
                }
                ("include", 2) => {
                    if raw.includes == Includes::Refuse {
                        return Err(include_refused(path, line));
                    }
                    for f in include_files(path, line, depth, &words[1].text)? {
                        read_file(raw, &f, depth + 1)?;
                    }
                    cur = Current::None;
                }
                ("version", 2) => {}
                _ => {
                    return Err(syntax(
                        path,
                        line,
                        format!(
                            "unexpected \"{}\"; expected 'config setup', 'conn NAME' or \
                             'include FILE' in column 0, or an indented key=value",
                            l.trim()
                        ),
                    ))
                }
            }
            continue;
        }
        let t = l.trim();
        let (k, v) = t
            .split_once('=')
            .ok_or_else(|| syntax(path, line, format!("\"{t}\" is not key=value")))?;
        let key = k.trim().to_ascii_lowercase();
        if key.is_empty()
            || !key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b))
        {
            return Err(syntax(
                path,
                line,
                format!("\"{}\" is not a valid key", k.trim()),
            ));
        }
        let value = unquote(v.trim()).ok_or_else(|| syntax(path, line, "unclosed quote"))?;
        let kv = Kv {
            key,
            value,
            path: path.to_path_buf(),
            line,
        };
        let list = match cur {
            Current::None => {
                return Err(syntax(
                    path,
                    line,
                    "key=value outside a 'config setup' or 'conn' section",
                ))
            }
            Current::Setup => &mut raw.setup,
            Current::Conn(i) => &mut raw.conns[i].kvs,
        };
        if kv.key != "also" && kv.key != "alsoflip" {
            if let Some(prev) = list.iter().find(|p| p.key == kv.key) {
                return Err(syntax(
                    path,
                    line,
                    format!(
                        "duplicate key \"{}\" (first set at line {})",
                        kv.key, prev.line
                    ),
                ));
            }
        }
        list.push(kv);
    }
    Ok(())
}

/// Strip one level of `"..."` quoting (the whole value) and check quotes are closed.
fn unquote(v: &str) -> Option<String> {
    if let Some(inner) = v.strip_prefix('"') {
        let inner = inner.strip_suffix('"')?;
        return Some(inner.replace("\\\"", "\""));
    }
    if v.matches('"').count() % 2 == 1 {
        return None;
    }
    Some(v.to_string())
}

/// libreswan's `config setup` keywords; anything else is probably a typo and is
/// reported in [`Config::warnings`]. Which of these the daemon honours is its business.
pub const SETUP_KEYWORDS: &[&str] = &[
    "audit-log",
    "crl-strict",
    "crlcheckinterval",
    "curl-iface",
    "curl-timeout",
    "ddos-ike-threshold",
    "ddos-mode",
    "dnssec-anchors",
    "dnssec-enable",
    "dnssec-rootkey-file",
    "drop-oppo-null",
    "dumpdir",
    "expire-shunt-interval",
    "global-redirect",
    "global-redirect-to",
    "ike-socket-bufsize",
    "ike-socket-errqueue",
    "ikebuf",
    "ikeport",
    "ikev1-policy",
    "interfaces",
    "ipsec-interface-managed",
    "ipsecdir",
    "keep-alive",
    "listen",
    "listen-tcp",
    "listen-udp",
    "logappend",
    "logfile",
    "logip",
    "logstderr",
    "logtime",
    "max-halfopen-ike",
    // pluto-rs: the metrics HTTP endpoint (libreswan has none).
    "metrics-listen",
    "myvendorid",
    "nat-ikeport",
    "nflog-all",
    "nhelpers",
    "nssdir",
    "ocsp-cache-max-age",
    "ocsp-cache-min-age",
    "ocsp-cache-size",
    "ocsp-enable",
    "ocsp-method",
    "ocsp-strict",
    "ocsp-timeout",
    "ocsp-trustname",
    "ocsp-uri",
    "plutodebug",
    "plutostderrlog",
    "protostack",
    "rundir",
    "seccomp",
    "secretsfile",
    "seedbits",
    "shuntlifetime",
    "statsbin",
    "uniqueids",
    "virtual-private",
    "virtual_private",
    "xfrmlifetime",
];

fn resolve(mut raw: Raw) -> Result<Config, ConfError> {
    let mut cfg = Config::default();
    resolve_setup(&mut raw, &mut cfg);
    let defaults: Vec<Kv> = raw
        .conns
        .iter()
        .filter(|s| s.name == "%default")
        .flat_map(|s| s.kvs.iter().cloned())
        .collect();
    for sec in raw.conns.iter().filter(|s| s.name != "%default") {
        let mut merged: Vec<Kv> = Vec::new();
        let mut seen: HashSet<String> = HashSet::new();
        if let Err(e) = collect(&raw, sec, &mut merged, &mut seen) {
            cfg.errors.push(ConnProblem::new(sec, e));
            continue;
        }
        for kv in &defaults {
            if seen.insert(kv.key.clone()) {
                merged.push(kv.clone());
            }
        }
        let mut refused = None;
        let (spec, auto) = match build(&sec.name, &merged, &mut cfg.warnings, &mut refused) {
            Ok(built) => built,
            Err(e) => {
                cfg.errors.push(ConnProblem::new(sec, e));
                continue;
            }
        };
        if let Some(why) = refused {
            // A key that would change what the conn protects or how it authenticates
            // is not ignored: the conn is not loaded, and the log says why.
            if auto != Auto::Ignore {
                tracing::error!("{why}");
                cfg.warnings.push(why);
            }
            continue;
        }
        cfg.conns.push(ConfConn {
            spec,
            auto,
            path: sec.path.clone(),
            line: sec.line,
        });
    }
    Ok(cfg)
}

/// `config setup`'s keys into `cfg.setup` (a key that is no libreswan setup keyword
/// is a warning: most likely a typo).
fn resolve_setup(raw: &mut Raw, cfg: &mut Config) {
    for kv in std::mem::take(&mut raw.setup) {
        if !SETUP_KEYWORDS.contains(&kv.key.as_str()) {
            let w = format!(
                "{}:{}: config setup: \"{}\" is not a libreswan setup keyword; ignored",
                kv.path.display(),
                kv.line,
                kv.key
            );
            tracing::warn!("{w}");
            cfg.warnings.push(w);
            continue;
        }
        cfg.setup.insert(
            kv.key,
            SetupValue {
                value: kv.value,
                path: kv.path,
                line: kv.line,
            },
        );
    }
}

/// How deep `also=` may nest (a conn pulling in one that pulls in another ...).
/// Real configurations use two or three levels; a deeper chain is refused with the
/// line of the `also=` that went too far, rather than walked at any cost.
pub const MAX_ALSO_DEPTH: usize = 32;

/// Gather a section's keys, then its `also=`/`alsoflip=` sections' (first set wins,
/// depth first, in the order written). `alsoflip=` swaps `left*` and `right*` keys of
/// what it pulls in.
///
/// Iterative, with the sections on the current path in a set (a loop is an error
/// naming the path) and each (section, flip) taken once per conn: a second visit
/// could only offer keys already set, so diamonds and repeated targets cost nothing
/// and the work per conn is bounded by the sections it reaches.
fn collect(
    all: &Raw,
    sec: &Section,
    out: &mut Vec<Kv>,
    seen: &mut HashSet<String>,
) -> Result<(), ConfError> {
    /// A section being walked: its `also=` targets and how far through them.
    struct Frame<'a> {
        name: &'a str,
        alsos: Vec<(&'a Kv, bool, &'a str)>,
        next: usize,
    }
    let mut on_path: HashSet<&str> = HashSet::new();
    let mut visited: HashSet<(&str, bool)> = HashSet::new();
    let mut frames: Vec<Frame<'_>> = Vec::new();
    // The section itself.
    enter(sec, false, out, seen);
    let sec_alsos = also_targets(sec, false);
    on_path.insert(sec.name.as_str());
    visited.insert((sec.name.as_str(), false));
    frames.push(Frame {
        name: sec.name.as_str(),
        alsos: sec_alsos,
        next: 0,
    });
    while let Some(top) = frames.last_mut() {
        let Some(&(kv, flip, target)) = top.alsos.get(top.next) else {
            on_path.remove(top.name);
            frames.pop();
            continue;
        };
        top.next += 1;
        if on_path.contains(target) {
            let path: Vec<&str> = frames.iter().map(|f| f.name).collect();
            return Err(syntax(
                &kv.path,
                kv.line,
                format!(
                    "{}={target} loops back ({} -> {target})",
                    kv.key,
                    path.join(" -> ")
                ),
            ));
        }
        let t = all
            .by_name
            .get(target)
            .and_then(|&i| all.conns.get(i))
            .ok_or_else(|| {
                syntax(
                    &kv.path,
                    kv.line,
                    format!("{}={target}: no conn named \"{target}\"", kv.key),
                )
            })?;
        if !visited.insert((t.name.as_str(), flip)) {
            continue;
        }
        if frames.len() > MAX_ALSO_DEPTH {
            return Err(syntax(
                &kv.path,
                kv.line,
                format!(
                    "{}={target}: also= nested deeper than {MAX_ALSO_DEPTH} levels (from conn \"{}\")",
                    kv.key, sec.name
                ),
            ));
        }
        enter(t, flip, out, seen);
        on_path.insert(t.name.as_str());
        frames.push(Frame {
            name: t.name.as_str(),
            alsos: also_targets(t, flip),
            next: 0,
        });
    }
    Ok(())
}

fn is_also(k: &str) -> bool {
    k == "also" || k == "alsoflip"
}

/// Adds the keys of `s` (not its `also=`s) that are not set yet.
fn enter(s: &Section, flip: bool, out: &mut Vec<Kv>, seen: &mut HashSet<String>) {
    for kv in s.kvs.iter().filter(|kv| !is_also(&kv.key)) {
        let key = if flip {
            flip_key(&kv.key)
        } else {
            kv.key.clone()
        };
        if seen.insert(key.clone()) {
            let mut kv = kv.clone();
            kv.key = key;
            out.push(kv);
        }
    }
}

/// The `also=`/`alsoflip=` targets of `s` in order, each with the flip it is taken
/// with (`flip` is the one `s` itself was taken with).
fn also_targets(s: &Section, flip: bool) -> Vec<(&Kv, bool, &str)> {
    s.kvs
        .iter()
        .filter(|kv| is_also(&kv.key))
        .flat_map(move |kv| {
            let f = flip != (kv.key == "alsoflip");
            kv.value.split_whitespace().map(move |t| (kv, f, t))
        })
        .collect()
}

fn flip_key(k: &str) -> String {
    if let Some(rest) = k.strip_prefix("left") {
        format!("right{rest}")
    } else if let Some(rest) = k.strip_prefix("right") {
        format!("left{rest}")
    } else {
        k.to_string()
    }
}

/// libreswan keywords accepted but not implemented by pluto-rs yet.
const UNIMPLEMENTED: &[&str] = &[
    "narrowing",
    "mobike",
    "esn",
    "replay-window",
    "sha2-truncbug",
    "nic-offload",
    "ipsec-interface",
    "priority",
    "send-vendorid",
    "initial-contact",
    "cisco-unity",
    "fake-strongswan",
    "ikepad",
    "retransmit-timeout",
    "retransmit-interval",
    "dpdaction",
    "negotiationshunt",
    "nm-configured",
    "decap-dscp",
    "encap-dscp",
    "nopmtudisc",
    "ikev1-natt",
    "session-resumption",
    "mtu",
    "ike-socket-bufsize",
    "accept-redirect",
    "send-redirect",
    "iptfs",
    "reauth",
    "dns-match-id",
    "intermediate",
    "hostaddrfamily-legacy",
    "vti-interface",
    "vti-routing",
    "vti-shared",
    "leftvti",
    "rightvti",
    "leftinterface-ip",
    "rightinterface-ip",
];

/// libreswan keywords pluto-rs does not implement whose absence would change what a
/// conn protects or how it authenticates: a conn using one is refused (not loaded),
/// with the reason.
const REFUSED: &[(&str, &str)] = &[
    (
        "sec-label",
        "labelled IPsec is not supported by pluto-rs yet",
    ),
    (
        "policy-label",
        "labelled IPsec is not supported by pluto-rs yet",
    ),
    (
        "ppk",
        "post-quantum preshared keys (RFC 8784) are not supported by pluto-rs yet",
    ),
    (
        "ppk-ids",
        "post-quantum preshared keys (RFC 8784) are not supported by pluto-rs yet",
    ),
    (
        "xauthby",
        "XAUTH is an IKEv1 mechanism and is not supported by pluto-rs",
    ),
    (
        "xauthfail",
        "XAUTH is an IKEv1 mechanism and is not supported by pluto-rs",
    ),
    (
        "pam-authorize",
        "PAM authorization is not supported by pluto-rs yet",
    ),
    (
        "tfc",
        "traffic flow confidentiality padding is not supported by pluto-rs yet",
    ),
    (
        "require-id-on-certificate",
        "X.509 certificates are not supported by pluto-rs yet; authenticate with authby=secret",
    ),
    (
        "leftsendcertchain",
        "X.509 certificates are not supported by pluto-rs yet",
    ),
    (
        "leftrsasigkey",
        "RSA authentication is not supported by pluto-rs yet; use authby=secret",
    ),
    (
        "rightrsasigkey",
        "RSA authentication is not supported by pluto-rs yet; use authby=secret",
    ),
    (
        "leftecdsakey",
        "ECDSA authentication is not supported by pluto-rs yet; use authby=secret",
    ),
    (
        "rightecdsakey",
        "ECDSA authentication is not supported by pluto-rs yet; use authby=secret",
    ),
    (
        "leftpubkey",
        "raw public-key authentication is not supported by pluto-rs yet; use authby=secret",
    ),
    (
        "rightpubkey",
        "raw public-key authentication is not supported by pluto-rs yet; use authby=secret",
    ),
    (
        "leftcat",
        "client address translation is not supported by pluto-rs yet",
    ),
    (
        "rightcat",
        "client address translation is not supported by pluto-rs yet",
    ),
    (
        "remote-peer-type",
        "Cisco interoperability modes are not supported by pluto-rs",
    ),
    (
        "redirect-to",
        "IKEv2 redirect (RFC 5685) is not supported by pluto-rs yet",
    ),
    (
        "accept-redirect-to",
        "IKEv2 redirect (RFC 5685) is not supported by pluto-rs yet",
    ),
];

fn yes_no(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "yes" | "true" | "y" => Some(true),
        "no" | "false" | "n" => Some(false),
        _ => None,
    }
}

/// `30`, `30s`, `5m`, `8h`, `1d` → seconds.
fn duration_secs(v: &str) -> Option<u64> {
    let v = v.trim();
    let (num, mult) = match v.char_indices().last()? {
        (i, 's') => (&v[..i], 1),
        (i, 'm') => (&v[..i], 60),
        (i, 'h') => (&v[..i], 3600),
        (i, 'd') => (&v[..i], 86400),
        _ => (v, 1),
    };
    num.parse::<u64>().ok()?.checked_mul(mult)
}

fn list(v: &str) -> Vec<String> {
    let v = v.trim();
    let v = v
        .strip_prefix('{')
        .and_then(|x| x.strip_suffix('}'))
        .unwrap_or(v);
    v.split([',', ' ', '\t'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

fn build(
    name: &str,
    kvs: &[Kv],
    warnings: &mut Vec<String>,
    refused: &mut Option<String>,
) -> Result<(ConnSpec, Auto), ConfError> {
    let mut s = ConnSpec::named(name);
    // ipsec.conf connections carry ESP unless phase2=ah says otherwise.
    s.encrypt = true;
    let mut auto = Auto::Ignore;
    let mut modecfg_dns: Option<Vec<String>> = None;
    let mut modecfg_domains: Option<Vec<String>> = None;
    let mut modecfg_banner: Option<String> = None;
    let mut sendca: Option<SendCa> = None;
    for kv in kvs {
        let err = |p: String| syntax(&kv.path, kv.line, p);
        let kw = |e: KeywordError| syntax(&kv.path, kv.line, format!("{}: {e}", kv.key));
        let v = kv.value.as_str();
        let bad = |what: &str| err(format!("{}={v}: {what}", kv.key));
        let yn = || yes_no(v).ok_or_else(|| bad("expected yes or no"));
        let secs =
            || duration_secs(v).ok_or_else(|| bad("expected a duration like 30s, 5m, 8h or 1d"));
        let num = || v.parse::<u32>().map_err(|_| bad("expected a number"));
        let opt = |v: &str| (!v.is_empty()).then(|| v.to_string());
        let key = kv.key.as_str();
        if v.is_empty() {
            // `key=` means "the default", also clearing what also=/%default set.
            continue;
        }
        if let Some((_, why)) = REFUSED.iter().find(|(k, _)| *k == key) {
            if refused.is_none() {
                *refused = Some(format!(
                    "{}:{}: conn \"{name}\": {key}=: {why}; conn not loaded",
                    kv.path.display(),
                    kv.line
                ));
            }
            continue;
        }
        if UNIMPLEMENTED.contains(&key) {
            let w = format!(
                "{}:{}: conn \"{name}\": {key}= is not implemented by pluto-rs yet; ignored",
                kv.path.display(),
                kv.line
            );
            tracing::warn!("{w}");
            warnings.push(w);
            continue;
        }
        if let Some((end, k)) = split_end(key) {
            let e: &mut EndSpec = if end { &mut s.left } else { &mut s.right };
            match k {
                "" => e.host = opt(v),
                "id" => e.id = opt(v),
                "cert" => e.cert = opt(v),
                "ckaid" => e.ckaid = opt(v),
                "ca" => e.ca = opt(v),
                "groups" => e.groups = list(v),
                "sendcert" => e.sendcert = Some(SendCert::from_keyword(v).map_err(kw)?),
                "ikeport" => {
                    e.ikeport = Some(
                        v.parse::<u16>()
                            .map_err(|_| bad("expected a port number"))?,
                    )
                }
                "nexthop" => e.nexthop = opt(v),
                "subnet" | "subnets" => e.subnets = list(v),
                "protoport" => e.clientprotoport = opt(v),
                "sourceip" => e.sourceip = opt(v),
                "xauthserver" => e.xauthserver = yn()?,
                "xauthclient" => e.xauthclient = yn()?,
                "username" | "xauthusername" => e.xauthusername = opt(v),
                "modecfgserver" => e.modecfgserver = yn()?,
                "modecfgclient" => e.modecfgclient = yn()?,
                "addresspool" => e.addresspool = opt(v),
                "updown" => e.updown = Some(v.to_string()),
                "auth" => match v.to_ascii_lowercase().as_str() {
                    "secret" | "psk" => s.psk = true,
                    "rsasig" | "rsa" => s.rsasig = true,
                    "ecdsa" => s.ecdsa = true,
                    "null" => s.authnull = true,
                    _ => return Err(bad("expected secret, rsasig, ecdsa or null")),
                },
                _ => return Err(err(format!("unknown keyword \"{key}\""))),
            }
            continue;
        }
        match key {
            "auto" => {
                auto = Auto::parse(v)
                    .ok_or_else(|| bad("expected ignore, add, ondemand, start or keep"))?
            }
            "authby" => {
                for a in list(v) {
                    match a.to_ascii_lowercase().as_str() {
                        "secret" | "psk" => s.psk = true,
                        "rsasig" | "rsa" | "rsa-sha1" | "rsa-sha2" | "rsa-sha2_256"
                        | "rsa-sha2_384" | "rsa-sha2_512" => s.rsasig = true,
                        "ecdsa" | "ecdsa-sha2" | "ecdsa-sha2_256" | "ecdsa-sha2_384"
                        | "ecdsa-sha2_512" => s.ecdsa = true,
                        "null" => s.authnull = true,
                        "never" => s.authnever = true,
                        other => {
                            return Err(err(format!(
                                "authby: unknown method \"{other}\"; expected secret, rsasig, ecdsa, null or never"
                            )))
                        }
                    }
                }
            }
            // A shunt connection never negotiates: routed, its selectors get the
            // shunt as a kernel policy (whack's --pass/--drop/--reject).
            "type" => match v.to_ascii_lowercase().as_str() {
                "passthrough" | "pass" => s.on_traffic = Some(OnTraffic::Pass),
                "drop" => s.on_traffic = Some(OnTraffic::Drop),
                "reject" => s.on_traffic = Some(OnTraffic::Reject),
                _ => s.mode = Some(Mode::from_keyword(v).map_err(kw)?),
            },
            "keyexchange" => s.ike_version = Some(IkeVersion::from_keyword(v).map_err(kw)?),
            "ikev2" => {
                s.ike_version = Some(match v.to_ascii_lowercase().as_str() {
                    "yes" | "insist" | "propose" | "permit" => IkeVersion::V2,
                    "no" | "never" => IkeVersion::V1,
                    _ => return Err(bad("expected yes or no")),
                })
            }
            "ike" => s.ike = opt(v),
            // libreswan's `ah=` is the same option as `esp=`; `phase2=` says which.
            "esp" | "ah" | "phase2alg" => s.esp = opt(v),
            "phase2" => match v.to_ascii_lowercase().as_str() {
                "esp" => {
                    s.encrypt = true;
                    s.authenticate = false;
                }
                "ah" => {
                    s.encrypt = false;
                    s.authenticate = true;
                }
                _ => return Err(bad("expected esp or ah")),
            },
            "compress" => s.compress = yn()?,
            "pfs" => s.pfs = Some(yn()?),
            "pfsgroup" => s.pfsgroup = opt(v),
            "ikelifetime" | "ike-lifetime" => s.ikelifetime = Some(secs()?),
            "salifetime" | "lifetime" | "keylife" | "ipsec-lifetime" => {
                s.ipseclifetime = Some(secs()?)
            }
            "rekeymargin" | "margintime" => s.rekeymargin = Some(secs()?),
            "rekeyfuzz" => {
                s.rekeyfuzz = Some(
                    v.trim_end_matches('%')
                        .parse()
                        .map_err(|_| bad("expected a percentage like 100%"))?,
                )
            }
            "keyingtries" => {
                s.keyingtries = Some(if v.eq_ignore_ascii_case("%forever") {
                    0
                } else {
                    num()?
                })
            }
            "rekey" => s.dontrekey = !yn()?,
            "aggressive" | "aggrmode" => s.aggrmode = yn()?,
            "modecfgpull" => s.modecfgpull = yn()?,
            "metric" => s.metric = Some(num()?),
            "nflog-group" | "nflog" => s.nflog_group = Some(num()?),
            "mark" | "conn-mark" => s.conn_mark = opt(v),
            "dpddelay" => s.dpddelay = Some(secs()?),
            "dpdtimeout" => s.dpdtimeout = Some(secs()?),
            "encapsulation" => s.encapsulation = Some(Encapsulation::from_keyword(v).map_err(kw)?),
            "forceencaps" => {
                if yn()? {
                    s.encapsulation = Some(Encapsulation::Yes)
                }
            }
            "fragmentation" | "ike-frag" => {
                s.fragmentation = Some(Fragmentation::from_keyword(v).map_err(kw)?)
            }
            "nat-keepalive" => s.no_keep_alive = !yn()?,
            "failureshunt" => s.failure_shunt = Some(FailShunt::from_keyword(v).map_err(kw)?),
            "hostaddrfamily" => s.host_addr_family = Some(AddrFamily::from_keyword(v).map_err(kw)?),
            "clientaddrfamily" => {
                s.tunnel_addr_family = Some(AddrFamily::from_keyword(v).map_err(kw)?)
            }
            "modecfgdns" | "modecfgdns1" | "modecfgdns2" => {
                modecfg_dns.get_or_insert_with(Vec::new).extend(list(v))
            }
            "modecfgdomains" | "modecfgdomain" => modecfg_domains = Some(list(v)),
            "modecfgbanner" => modecfg_banner = opt(v),
            "sendca" => sendca = Some(SendCa::from_keyword(v).map_err(kw)?),
            _ => return Err(err(format!("unknown keyword \"{key}\""))),
        }
    }
    // Mode-config data belongs to the end that hands it out.
    let server = if s.right.modecfgserver && !s.left.modecfgserver {
        &mut s.right
    } else {
        &mut s.left
    };
    if let Some(d) = modecfg_dns {
        server.modecfgdns = d;
    }
    if let Some(d) = modecfg_domains {
        server.modecfgdomains = d;
    }
    if let Some(b) = modecfg_banner {
        server.modecfgbanner = Some(b);
    }
    if let Some(ca) = sendca {
        s.left.sendca = Some(ca);
        s.right.sendca = Some(ca);
    }
    Ok((s, auto))
}

/// `leftfoo` → (true, "foo"), `rightfoo` → (false, "foo").
fn split_end(key: &str) -> Option<(bool, &str)> {
    if let Some(k) = key.strip_prefix("left") {
        Some((true, k))
    } else {
        key.strip_prefix("right").map(|k| (false, k))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connection::{Connection, HostAddrs};

    fn parse(text: &str) -> Config {
        Config::parse_str(text, Path::new("/etc/ipsec.conf")).unwrap()
    }

    /// The file's error, or else the first conn's that was not loaded.
    fn perr(text: &str) -> String {
        match Config::parse_str(text, Path::new("/etc/ipsec.conf")) {
            Err(e) => e.to_string(),
            Ok(c) => c.errors.first().expect("an error").to_string(),
        }
    }

    const SAMPLE: &str = r#"
# a comment
version 2.0

config setup
    logfile=/var/log/pluto.log   # trailing comment
    plutodebug="all crypt"

conn %default
    ikelifetime=1h
    keyingtries=%forever

conn base
    authby=secret
    ike=aes256-sha2;dh19
    salifetime=30m

conn west-east
    also=base
    left=192.0.2.1
    leftid=@west
    leftsubnet=198.51.100.0/24
    right=192.0.2.2
    rightid="@east"
    rightsubnets={203.0.113.0/25 203.0.113.128/25}
    rightprotoport=tcp/%any
    ikelifetime=2h
    auto=start
"#;

    #[test]
    fn parses_sections_also_and_default() {
        let c = parse(SAMPLE);
        assert_eq!(c.setup["logfile"].value, "/var/log/pluto.log");
        assert_eq!(c.setup["plutodebug"].value, "all crypt");
        assert_eq!(c.conns.len(), 2);
        let we = c.conn("west-east").unwrap();
        assert_eq!(we.auto, Auto::Start);
        assert_eq!(we.line, 18);
        let s = &we.spec;
        assert!(s.psk && s.encrypt);
        assert_eq!(s.ike.as_deref(), Some("aes256-sha2;dh19"));
        assert_eq!(s.ikelifetime, Some(7200), "own key beats %default");
        assert_eq!(s.ipseclifetime, Some(1800), "from also=");
        assert_eq!(s.keyingtries, Some(0), "from %default");
        assert_eq!(s.left.host.as_deref(), Some("192.0.2.1"));
        assert_eq!(s.right.id.as_deref(), Some("@east"));
        assert_eq!(s.right.subnets, ["203.0.113.0/25", "203.0.113.128/25"]);
        assert_eq!(s.right.clientprotoport.as_deref(), Some("tcp/%any"));
        assert_eq!(c.conn("base").unwrap().auto, Auto::Ignore);
        // The resulting description is valid and orients.
        let conn =
            Connection::from_spec(s.clone(), &HostAddrs::new(["192.0.2.1".parse().unwrap()]))
                .unwrap();
        assert!(conn.is_oriented());
    }

    #[test]
    fn alsoflip_swaps_ends_and_empty_value_clears() {
        let c = parse(
            "conn %default\n  ikelifetime=1h\n\nconn west\n  left=192.0.2.1\n  leftid=@west\n\n\
             conn east-side\n  alsoflip=west\n  left=192.0.2.2\n  ikelifetime=\n",
        );
        let s = &c.conn("east-side").unwrap().spec;
        assert_eq!(s.right.host.as_deref(), Some("192.0.2.1"));
        assert_eq!(s.right.id.as_deref(), Some("@west"));
        assert_eq!(s.left.host.as_deref(), Some("192.0.2.2"));
        assert_eq!(s.ikelifetime, None, "empty value clears the %default");
        assert_eq!(c.conn("west").unwrap().spec.ikelifetime, Some(3600));
        assert!(perr("conn a\n  alsoflip=nope\n").contains("alsoflip=nope: no conn"));
    }

    #[test]
    fn durations_and_lists() {
        assert_eq!(duration_secs("30"), Some(30));
        assert_eq!(duration_secs("30s"), Some(30));
        assert_eq!(duration_secs("5m"), Some(300));
        assert_eq!(duration_secs("8h"), Some(28800));
        assert_eq!(duration_secs("1d"), Some(86400));
        assert_eq!(duration_secs("h"), None);
        assert_eq!(duration_secs("5x"), None);
        assert_eq!(list("{a b}"), ["a", "b"]);
        assert_eq!(list("a, b,c"), ["a", "b", "c"]);
    }

    #[test]
    fn modecfg_and_misc_keys() {
        let c = parse(
            "conn rw\n  left=192.0.2.1\n  leftmodecfgserver=yes\n  right=%any\n  \
             rightmodecfgclient=yes\n  modecfgdns=192.0.2.53,192.0.2.54\n  \
             modecfgdomains=example.com\n  rightaddresspool=192.0.2.100-192.0.2.200\n  \
             type=transport\n  ikev2=no\n  rekey=no\n  nat-keepalive=no\n  \
             failureshunt=drop\n  sendca=all\n  rekeyfuzz=50%\n  mark=0x10/0xff\n",
        );
        let s = &c.conns[0].spec;
        assert_eq!(s.left.modecfgdns, ["192.0.2.53", "192.0.2.54"]);
        assert_eq!(s.left.modecfgdomains, ["example.com"]);
        assert_eq!(s.mode, Some(Mode::Transport));
        assert_eq!(s.ike_version, Some(IkeVersion::V1));
        assert!(s.dontrekey && s.no_keep_alive);
        assert_eq!(s.failure_shunt, Some(FailShunt::Drop));
        assert_eq!(s.right.sendca, Some(SendCa::All));
        assert_eq!(s.rekeyfuzz, Some(50));
        assert_eq!(s.conn_mark.as_deref(), Some("0x10/0xff"));
    }

    #[test]
    fn unknown_setup_keys_warn() {
        let c = parse("config setup\n  logfile=/x\n  logfiel=/y\n");
        assert_eq!(c.setup.len(), 1);
        assert_eq!(c.warnings.len(), 1);
        assert!(c.warnings[0].contains(":3: config setup: \"logfiel\""));
    }

    #[test]
    fn security_keys_refuse_their_conn_only() {
        let c = parse(
            "conn a\n  left=192.0.2.1\n  right=192.0.2.2\n  ppk=insist\n  auto=add\n\
             conn b\n  left=192.0.2.1\n  right=192.0.2.3\n  auto=add\n",
        );
        let names: Vec<&str> = c.conns.iter().map(|c| c.spec.name.as_str()).collect();
        assert_eq!(names, ["b"]);
        assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
        assert_eq!(
            c.warnings[0],
            "/etc/ipsec.conf:4: conn \"a\": ppk=: post-quantum preshared keys (RFC 8784) are not supported by pluto-rs yet; conn not loaded"
        );
        for key in [
            "sec-label=x",
            "leftrsasigkey=%cert",
            "tfc=1500",
            "redirect-to=192.0.2.9",
        ] {
            let c = parse(&format!(
                "conn a\n  left=192.0.2.1\n  right=192.0.2.2\n  {key}\n  auto=add\n"
            ));
            assert!(c.conns.is_empty(), "{key}");
            assert!(c.warnings[0].contains("conn not loaded"), "{key}");
        }
    }

    #[test]
    fn keys_of_refused_whack_options_get_the_same_refusal() {
        for (key, whack) in [
            (
                "compress=yes",
                "--compress (compress=yes): IPComp is not supported yet",
            ),
            ("keyexchange=ikev1", "--ikev1 (keyexchange=ikev1)"),
            ("aggressive=yes", "--aggrmode (aggressive=yes)"),
            ("authby=rsasig", "--rsasig (authby=rsasig)"),
            ("leftcert=west", "left --cert (leftcert=)"),
            ("leftsendcert=always", "left --sendcert (leftsendcert=)"),
            ("rightca=%same", "right --ca (rightca=)"),
            (
                "leftxauthserver=yes",
                "left --xauthserver (leftxauthserver=)",
            ),
            (
                "rightmodecfgclient=yes",
                "right --modecfgclient (rightmodecfgclient=)",
            ),
            ("modecfgpull=yes", "--modecfgpull (modecfgpull=yes)"),
            (
                "rightaddresspool=192.0.2.100-192.0.2.200",
                "rightaddresspool=",
            ),
        ] {
            let c = parse(&format!(
                "conn a\n  left=192.0.2.1\n  right=192.0.2.2\n  {key}\n"
            ));
            let spec = c.conns[0].spec.clone();
            let e = Connection::from_spec(spec, &HostAddrs::default()).unwrap_err();
            assert!(e.to_string().starts_with(whack), "{key}: {e}");
        }
        // The default and the truthful values still load.
        let c = parse("conn a\n  left=192.0.2.1\n  right=192.0.2.2\n  fragmentation=yes\n  compress=no\n  leftxauthserver=no\n");
        Connection::from_spec(c.conns[0].spec.clone(), &HostAddrs::default()).unwrap();
        for f in ["no", "force"] {
            let c = parse(&format!(
                "conn a\n  left=192.0.2.1\n  right=192.0.2.2\n  fragmentation={f}\n"
            ));
            Connection::from_spec(c.conns[0].spec.clone(), &HostAddrs::default()).unwrap();
        }
    }

    #[test]
    fn unimplemented_keys_warn_with_location() {
        let c = parse("conn a\n  left=192.0.2.1\n  right=192.0.2.2\n  mobike=yes\n");
        assert_eq!(c.warnings.len(), 1);
        assert!(
            c.warnings[0].starts_with("/etc/ipsec.conf:4:"),
            "{:?}",
            c.warnings
        );
        assert!(c.warnings[0].contains("mobike= is not implemented"));
    }

    #[test]
    fn conn_names_are_one_word_as_in_libreswan() {
        let c = parse("conn west=east\n  left=192.0.2.1\n  right=192.0.2.2\n  auto=add\n");
        assert_eq!(c.conns[0].spec.name, "west=east");
        let conn = Connection::from_spec(c.conns[0].spec.clone(), &HostAddrs::default());
        assert!(conn.is_ok(), "{conn:?}");
    }

    #[test]
    fn shunt_connections_carry_their_shunt() {
        let c = parse(
            "conn pass\n  type=passthrough\n  left=192.0.2.1\n  leftsubnet=192.0.2.0/24\n\
             \x20 right=%any\n  rightsubnet=192.0.2.0/24\n  authby=never\n  auto=route\n\
             conn block\n  type=drop\n  left=192.0.2.1\n  right=192.0.2.9\n  auto=route\n\
             conn nope\n  type=reject\n  left=192.0.2.1\n  right=192.0.2.8\n",
        );
        let on = |n: &str| c.conn(n).unwrap().spec.on_traffic;
        assert_eq!(on("pass"), Some(OnTraffic::Pass));
        assert_eq!(on("block"), Some(OnTraffic::Drop));
        assert_eq!(on("nope"), Some(OnTraffic::Reject));
        assert_eq!(c.conn("pass").unwrap().auto, Auto::Ondemand);
        assert!(c.errors.is_empty(), "{:?}", c.errors);
    }

    #[test]
    fn one_bad_conn_does_not_discard_the_others() {
        let c = parse(
            "conn good\n  left=192.0.2.1\n  right=192.0.2.2\n\
             conn badvalue\n  left=192.0.2.1\n  rekey=maybe\n\
             conn badalso\n  also=nowhere\n\
             conn loopy\n  also=loopy2\nconn loopy2\n  also=loopy\n\
             conn alsogood\n  also=good\n",
        );
        let names: Vec<&str> = c.conns.iter().map(|c| c.spec.name.as_str()).collect();
        assert_eq!(names, ["good", "alsogood"]);
        let errors: Vec<String> = c.errors.iter().map(ToString::to_string).collect();
        assert_eq!(errors.len(), 4, "{errors:?}");
        assert!(errors[0].starts_with("/etc/ipsec.conf:6: conn \"badvalue\": rekey=maybe"));
        assert!(errors[1].contains("conn \"badalso\": ") && errors[1].contains("nowhere"));
        assert!(errors[2].contains("conn \"loopy\": ") && errors[2].contains("loops back"));
        assert!(errors[3].contains("conn \"loopy2\": "));
    }

    #[test]
    fn errors_carry_file_and_line() {
        assert_eq!(
            perr("conn a\n  left=1\n  bogus=1\n"),
            "/etc/ipsec.conf:3: conn \"a\": unknown keyword \"bogus\""
        );
        assert!(perr("conn a\n  leftbogus=1\n")
            .contains(":2: conn \"a\": unknown keyword \"leftbogus\""));
        assert!(perr("  left=1\n").contains(":1: key=value outside"));
        assert!(perr("conn a\n  left=1\n  left=2\n").contains(":3: duplicate key \"left\""));
        assert!(perr("conn a\nconn a\n").contains(":2: duplicate conn"));
        assert!(perr("garbage here\n").contains(":1: unexpected"));
        assert!(perr("conn a\n  also=nope\n").contains("no conn named \"nope\""));
        assert!(perr("conn a\n  also=b\nconn b\n  also=a\n").contains("loops back"));
        assert!(perr("conn a\n  rekey=maybe\n").contains("rekey=maybe: expected yes or no"));
        assert!(perr("conn a\n  leftsendcert=maybe\n").contains("sendcert"));
        assert!(perr("conn a\n  ikelifetime=forever\n").contains("duration"));
        assert!(perr("conn a\n  auto=sometimes\n").contains("auto=sometimes"));
        assert!(perr("conn a\n  leftid=\"@a\n").contains("unclosed quote"));
        assert!(perr("conn a\n  just words\n").contains("is not key=value"));
        assert!(perr("conn a\n  authby=magic\n").contains("unknown method \"magic\""));
    }

    #[test]
    fn includes_and_hash_in_values() {
        let dir = std::env::temp_dir().join(format!("conn-conf-{}", std::process::id()));
        let d = dir.join("ipsec.d");
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(
            dir.join("ipsec.conf"),
            "config setup\n  uniqueids=yes\ninclude ipsec.d/*.conf\nconn main\n  left=192.0.2.1\n  right=192.0.2.2\n  leftid=@#0a0b\n",
        )
        .unwrap();
        std::fs::write(
            d.join("a.conf"),
            "conn a\n  left=192.0.2.1\n  right=192.0.2.3\n",
        )
        .unwrap();
        std::fs::write(
            d.join("b.conf"),
            "conn b\n  left=192.0.2.1\n  right=192.0.2.4\n",
        )
        .unwrap();
        let c = Config::load(&dir.join("ipsec.conf")).unwrap();
        let names: Vec<&str> = c.conns.iter().map(|c| c.spec.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "main"]);
        assert_eq!(c.conn("a").unwrap().path, d.join("a.conf"));
        assert_eq!(
            c.conn("main").unwrap().spec.left.id.as_deref(),
            Some("@#0a0b")
        );
        assert_eq!(c.setup["uniqueids"].value, "yes");

        std::fs::write(d.join("c.conf"), "conn c\n  nonsense=1\n").unwrap();
        let c = Config::load(&dir.join("ipsec.conf")).unwrap();
        assert_eq!(c.conns.len(), 3, "the bad conn in c.conf costs only itself");
        let e = c.errors[0].to_string();
        assert!(e.contains("c.conf:2: conn \"c\": unknown keyword"), "{e}");
        std::fs::write(dir.join("loop.conf"), "include loop.conf\n").unwrap();
        assert!(Config::load(&dir.join("loop.conf"))
            .unwrap_err()
            .to_string()
            .contains("nested"));
        assert!(matches!(
            Config::load(&dir.join("absent.conf")),
            Err(ConfError::Io { .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn text_parsed_on_its_own_refuses_include() {
        let path = Path::new("/nonexistent/ipsec.conf");
        for text in [
            "include /etc/*
",
            "'include' /*/*
",
            "conn a
  left=%any
include x
",
        ] {
            let e = Config::parse_str_with(text, path, Includes::Refuse)
                .unwrap_err()
                .to_string();
            assert!(e.contains("include is not allowed here"), "{text:?}: {e}");
        }
        let c = Config::parse_str_with(
            "conn a
  right=192.0.2.2
",
            path,
            Includes::Refuse,
        );
        assert_eq!(c.unwrap().conns.len(), 1);
    }

    #[test]
    fn ah_proposals_with_phase2_ah() {
        let c = parse(
            "conn ah\n  left=192.0.2.1\n  right=192.0.2.2\n  phase2=ah\n  ah=sha2_256-dh19\n",
        );
        let spec = c.conn("ah").unwrap().spec.clone();
        assert_eq!(spec.esp.as_deref(), Some("sha2_256-dh19"));
        let conn = Connection::from_spec(spec, &HostAddrs::default()).unwrap();
        assert_eq!(
            conn.proposals.child().kind(),
            ike::proposal::ProposalKind::IKEV2_AH
        );
        assert_eq!(conn.proposals.child().to_string(), "HMAC_SHA2_256_128-DH19");
    }

    /// A chain of `also=` deeper than the limit is an error naming the line that
    /// went too far, however long the chain: 50,000 deep used to overflow the
    /// stack. Within the limit the keys arrive as before.
    #[test]
    fn deep_also_chains_are_refused_not_recursed() {
        let mut text = String::from("conn c0\n  left=192.0.2.1\n  right=192.0.2.2\n  also=c1\n");
        for i in 1..50_000 {
            text.push_str(&format!("conn c{i}\n  also=c{}\n  auto=ignore\n", i + 1));
        }
        text.push_str("conn c50000\n  auto=ignore\n");
        let e = perr(&text);
        assert!(e.contains("nested deeper than 32 levels"), "{e}");
        assert!(e.starts_with("/etc/ipsec.conf:"), "{e}");

        // 32 levels below the conn are fine, and the deepest key is found.
        let mut text =
            String::from("conn top\n  left=192.0.2.1\n  right=192.0.2.2\n  also=l1\n  auto=add\n");
        for i in 1..MAX_ALSO_DEPTH {
            text.push_str(&format!("conn l{i}\n  also=l{}\n", i + 1));
        }
        text.push_str(&format!("conn l{MAX_ALSO_DEPTH}\n  ikelifetime=2h\n"));
        let c = parse(&text);
        let top = c.conns.iter().find(|c| c.spec.name == "top").unwrap();
        assert_eq!(top.spec.ikelifetime, Some(7200));
    }

    /// A section reached twice (a diamond, or the same target named twice) is
    /// taken once, first visit first: the precedence is unchanged and a lattice of
    /// diamonds costs its size, not its number of paths.
    #[test]
    fn also_diamonds_are_taken_once_in_order() {
        let c = parse(
            "conn a\n  left=192.0.2.1\n  right=192.0.2.2\n  also=b c b\n  auto=add\n\
             conn b\n  also=d\n  ikelifetime=1h\n\
             conn c\n  also=d\n  ikelifetime=3h\n  ipsec-lifetime=30m\n\
             conn d\n  ipsec-lifetime=10m\n  rekeymargin=1m\n",
        );
        let a = &c.conns.iter().find(|c| c.spec.name == "a").unwrap().spec;
        assert_eq!(a.ikelifetime, Some(3600), "b before c");
        assert_eq!(a.ipseclifetime, Some(600), "d through b comes before c");
        // 2^40 paths through 40 levels of diamonds, 81 sections.
        let mut text = String::from(
            "conn top\n  left=192.0.2.1\n  right=192.0.2.2\n  also=x0 y0\n  auto=add\n",
        );
        for i in 0..30 {
            text.push_str(&format!(
                "conn x{i}\n  also=x{n} y{n}\nconn y{i}\n  also=x{n} y{n}\n",
                n = i + 1
            ));
        }
        text.push_str("conn x30\n  ikelifetime=5h\nconn y30\n");
        let c = parse(&text);
        let top = c.conns.iter().find(|c| c.spec.name == "top").unwrap();
        assert_eq!(top.spec.ikelifetime, Some(18000));
    }
}
