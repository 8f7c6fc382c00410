//! `ipsec`: the front command a libreswan user types (`ipsec status`, `ipsec up
//! NAME`, `ipsec add NAME`, libreswan 4's `ipsec auto --up NAME` ...), as a binary of
//! this workspace rather than a shell script.
//!
//! Most subcommands are a whack form under another name and run through whack's
//! own code ([`crate::run::run`]), so their output and exit status are whack's. The
//! ones that read ipsec.conf (`add`, `replace`, `addconn`, `checkconfig`) parse it
//! here with the daemon's parser (`conn::conf`) and send each conn to pluto as a
//! connection description, one conn at a time, so that one bad conn costs only
//! itself. `start` runs pluto (which loads ipsec.conf and acts on `auto=`), `stop`
//! asks it to shut down.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use conn::conf::{Auto, ConfConn, Config};
use control::request::StatusKind;
use control::{Envelope, Request};

use crate::Invocation;

/// Where ipsec.conf is read from unless `--config` or `$IPSEC_CONF` says otherwise.
pub const DEFAULT_CONFIG: &str = "/etc/ipsec.conf";

/// The usage text of `ipsec --help`.
pub const USAGE: &str = "\
Usage: ipsec [--ctlsocket PATH | --rundir DIR] [--config FILE] COMMAND [ARGS]

Connections (NAME is a conn of ipsec.conf; add and replace read it):
  ipsec add NAME...        ipsec up NAME        ipsec down NAME
  ipsec delete NAME        ipsec replace NAME   ipsec route NAME
  ipsec unroute NAME       ipsec ondemand NAME
Status:
  ipsec status | briefstatus | trafficstatus | globalstatus | shuntstatus |
        connectionstatus | fipsstatus | processstatus | addresspoolstatus
Secrets, certificates and lists:
  ipsec rereadsecrets | rereadall | rereadcrls | fetchcrls | purgeocsp |
        listall | listpubkeys | listcerts | listcacerts | listcrls | listevents
The daemon:
  ipsec start | stop | restart      ipsec pluto ARGS...      ipsec whack ARGS...
  ipsec metrics            (pluto's counters in Prometheus' text format)
Configuration:
  ipsec addconn [--config FILE] [--checkconfig] [--autoall] [--listall |
        --listadd | --listroute | --liststart | --listignore] [--liststack] [NAME...]
  ipsec checkconfig [--config FILE]
libreswan 4 spellings:
  ipsec auto [--config FILE] [--asynchronous] --add | --delete | --replace | --up |
        --start | --down | --route | --ondemand | --unroute NAME
  ipsec auto --status | --rereadsecrets | --rereadall | --listall | --ready
  ipsec --version | version
";

/// Subcommands that are a whack flag of the same name.
const SAME_AS_WHACK: &[&str] = &[
    "status",
    "briefstatus",
    "trafficstatus",
    "globalstatus",
    "shuntstatus",
    "connectionstatus",
    "fipsstatus",
    "processstatus",
    "addresspoolstatus",
    "showstates",
    "rereadsecrets",
    "rereadall",
    "rereadcrls",
    "fetchcrls",
    "purgeocsp",
    "listall",
    "listpubkeys",
    "listcerts",
    "listcacerts",
    "listcrls",
    "listevents",
    "shutdown",
];

/// libreswan subcommands pluto-rs does not have yet, each refused with one line.
const NOT_YET: &[(&str, &str)] = &[
    ("verify", "the system checks of `ipsec verify`"),
    ("import", "certificate import (it comes with certificates)"),
    ("initnss", "an NSS database (pluto-rs has none)"),
    ("checknss", "an NSS database (pluto-rs has none)"),
    ("showhostkey", "host keys (they come with raw public keys)"),
    ("newhostkey", "host keys (they come with raw public keys)"),
];

/// Options given before the subcommand (and `--config`, wherever it is given).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Global {
    /// `--ctlsocket PATH` or `--rundir DIR`, passed to every whack form as given.
    pub ctl: Vec<String>,
    /// `--config FILE`.
    pub config: Option<PathBuf>,
}

/// What one `ipsec` command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// A whack form: these arguments (after the global ones).
    Whack(Vec<String>),
    /// Read these conns from ipsec.conf and add them (`replace`: delete each first).
    Add {
        /// The conn names.
        names: Vec<String>,
        /// Delete the loaded conn of the same name first.
        replace: bool,
    },
    /// `addconn` and `checkconfig`.
    AddConn(AddConn),
    /// `ipsec pluto ARGS`: run the daemon with these arguments.
    Pluto(Vec<String>),
    /// `ipsec start`.
    Start,
    /// `ipsec stop`.
    Stop,
    /// `ipsec restart`.
    Restart,
    /// `ipsec _stackmanager start` (the service's ExecStartPre): load the kernel
    /// modules, as libreswan's helper of that name.
    LoadModules,
    /// `ipsec metrics`: pluto's counters and each Child SA's bytes in Prometheus'
    /// text format.
    Metrics,
    /// `--version`.
    Version,
    /// `--help`, or no command.
    Help,
}

/// What `ipsec addconn` was asked.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct AddConn {
    /// `--checkconfig` (and `ipsec checkconfig`): report problems, add nothing.
    pub check: bool,
    /// `--autoall`: add every conn whose `auto=` is not `ignore`, then route and start
    /// as `auto=` says.
    pub autoall: bool,
    /// `--listall` and friends: print the names of the conns with these `auto=`.
    pub list: Option<Vec<Auto>>,
    /// `--liststack`: print the kernel interface pluto uses.
    pub liststack: bool,
    /// Conns to add by name.
    pub names: Vec<String>,
}

/// A command line `ipsec` cannot carry out, said in one line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct IpsecUsage(pub String);

fn usage(s: impl Into<String>) -> IpsecUsage {
    IpsecUsage(s.into())
}

/// Parses the command line (without the program name).
pub fn parse<I, S>(args: I) -> Result<(Global, Action), IpsecUsage>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let args: Vec<String> = args.into_iter().map(Into::into).collect();
    let mut g = Global::default();
    let mut i = 0;
    while let Some(a) = args.get(i) {
        let (name, inline) = match a.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v.to_string())),
            _ => (a.as_str(), None),
        };
        if !matches!(name, "--ctlsocket" | "--rundir" | "--config") {
            break;
        }
        let v = match inline {
            Some(v) => v,
            None => {
                i += 1;
                args.get(i)
                    .cloned()
                    .ok_or_else(|| usage(format!("{name} needs a value")))?
            }
        };
        if name == "--config" {
            g.config = Some(PathBuf::from(v));
        } else {
            g.ctl.extend([name.to_string(), v]);
        }
        i += 1;
    }
    let Some(cmd) = args.get(i) else {
        return Ok((g, Action::Help));
    };
    let rest = &args[i + 1..];
    let action = match cmd.as_str() {
        "--help" | "help" | "-h" => Action::Help,
        "--version" | "version" => Action::Version,
        "whack" => Action::Whack(rest.to_vec()),
        "pluto" => Action::Pluto(rest.to_vec()),
        "start" | "stop" | "restart" if !rest.is_empty() => {
            return Err(usage(format!(
                "ipsec {cmd} takes no arguments (to bring a connection up: ipsec up NAME)"
            )))
        }
        "_stackmanager" if rest.first().map(String::as_str) == Some("start") && rest.len() == 1 => {
            Action::LoadModules
        }
        "metrics" if rest.is_empty() => Action::Metrics,
        "start" => Action::Start,
        "stop" => Action::Stop,
        "restart" => Action::Restart,
        "add" => Action::Add {
            names: names(cmd, rest, usize::MAX)?,
            replace: false,
        },
        "replace" => Action::Add {
            names: names(cmd, rest, 1)?,
            replace: true,
        },
        "up" | "down" | "delete" | "route" | "unroute" | "ondemand" => {
            let mut asynchronous = false;
            let mut plain = Vec::new();
            for a in rest {
                if a == "--asynchronous" {
                    asynchronous = true;
                } else {
                    plain.push(a.clone());
                }
            }
            let name = names(cmd, &plain, 1)?.remove(0);
            conn_form(cmd, &name, asynchronous)
        }
        "auto" => auto(&mut g, rest)?,
        "addconn" => Action::AddConn(addconn(&mut g, rest)?),
        "checkconfig" => {
            let mut a = addconn(&mut g, rest)?;
            a.check = true;
            Action::AddConn(a)
        }
        c if SAME_AS_WHACK.contains(&c) => {
            if let Some(extra) = rest.first() {
                return Err(usage(format!(
                    "ipsec {c} takes no arguments, not {extra:?} (ipsec whack --{c} ... passes \
                     whack's options)"
                )));
            }
            Action::Whack(vec![format!("--{c}")])
        }
        c => {
            return Err(match NOT_YET.iter().find(|(n, _)| *n == c) {
                Some((_, what)) => usage(format!(
                    "ipsec {c}: not implemented yet in pluto-rs ({what})"
                )),
                None => usage(format!("ipsec: unknown command {c:?}; see ipsec --help")),
            })
        }
    };
    Ok((g, action))
}

/// The conn names of `ipsec CMD NAME...`: at least one, at most `max`.
fn names(cmd: &str, rest: &[String], max: usize) -> Result<Vec<String>, IpsecUsage> {
    if let Some(opt) = rest.iter().find(|a| a.starts_with('-')) {
        return Err(usage(format!("ipsec {cmd}: unknown option {opt:?}")));
    }
    match rest.len() {
        0 => Err(usage(format!("ipsec {cmd} needs a connection name"))),
        n if n > max => Err(usage(format!(
            "ipsec {cmd} takes one connection name, not {n}"
        ))),
        _ => Ok(rest.to_vec()),
    }
}

/// The whack form of a connection subcommand.
fn conn_form(cmd: &str, name: &str, asynchronous: bool) -> Action {
    let op = match cmd {
        "up" | "start" => "--initiate",
        // libreswan's ondemand is route (the traffic brings the tunnel up).
        "route" | "ondemand" => "--route",
        other => {
            return Action::Whack(vec!["--name".into(), name.into(), format!("--{other}")]);
        }
    };
    let mut v = vec!["--name".to_string(), name.to_string(), op.to_string()];
    if asynchronous {
        v.push("--asynchronous".into());
    }
    Action::Whack(v)
}

/// libreswan 4's `ipsec auto [--config F] [--asynchronous] --OP [NAME]`.
fn auto(g: &mut Global, rest: &[String]) -> Result<Action, IpsecUsage> {
    let mut op: Option<String> = None;
    let mut name: Option<String> = None;
    let mut asynchronous = false;
    let mut it = rest.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--config" => {
                let v = it.next().ok_or_else(|| usage("--config needs a value"))?;
                g.config = Some(PathBuf::from(v));
            }
            "--asynchronous" => asynchronous = true,
            // libreswan 4's auto accepted these; pluto-rs prints what whack prints.
            "--verbose" | "--show" => {}
            o if o.starts_with("--") => {
                if let Some(prev) = &op {
                    return Err(usage(format!(
                        "ipsec auto: one operation at a time, not {prev} and {o}"
                    )));
                }
                op = Some(o.to_string());
            }
            n => {
                if name.replace(n.to_string()).is_some() {
                    return Err(usage("ipsec auto takes one connection name"));
                }
            }
        }
    }
    let op = op.ok_or_else(|| usage("ipsec auto needs an operation, e.g. --up NAME"))?;
    let cmd = op.trim_start_matches("--");
    let with_name = |name: Option<String>| {
        name.ok_or_else(|| usage(format!("ipsec auto {op} needs a connection name")))
    };
    Ok(match cmd {
        "add" => Action::Add {
            names: vec![with_name(name)?],
            replace: false,
        },
        "replace" => Action::Add {
            names: vec![with_name(name)?],
            replace: true,
        },
        "up" | "start" | "down" | "delete" | "route" | "ondemand" | "unroute" => {
            conn_form(cmd, &with_name(name)?, asynchronous)
        }
        // `ipsec auto --ready`: look for new interfaces, as whack --listen.
        "ready" if name.is_none() => Action::Whack(vec!["--listen".into()]),
        c if SAME_AS_WHACK.contains(&c) && name.is_none() => Action::Whack(vec![format!("--{c}")]),
        _ => return Err(usage(format!("ipsec auto: unknown operation {op}"))),
    })
}

/// `ipsec addconn` options.
fn addconn(g: &mut Global, rest: &[String]) -> Result<AddConn, IpsecUsage> {
    let mut a = AddConn::default();
    let mut it = rest.iter();
    let list = |a: &mut AddConn, autos: &[Auto]| {
        a.list.get_or_insert_with(Vec::new).extend_from_slice(autos);
    };
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--config" => {
                let v = it.next().ok_or_else(|| usage("--config needs a value"))?;
                g.config = Some(PathBuf::from(v));
            }
            "--checkconfig" => a.check = true,
            "--autoall" => a.autoall = true,
            "--liststack" => a.liststack = true,
            "--listall" => list(
                &mut a,
                &[
                    Auto::Add,
                    Auto::Ondemand,
                    Auto::Start,
                    Auto::Keep,
                    Auto::Ignore,
                ],
            ),
            "--listadd" => list(&mut a, &[Auto::Add]),
            "--listroute" => list(&mut a, &[Auto::Ondemand]),
            "--liststart" => list(&mut a, &[Auto::Start, Auto::Keep]),
            "--listignore" => list(&mut a, &[Auto::Ignore]),
            "--verbose" => {}
            o if o.starts_with('-') => {
                return Err(usage(format!("ipsec addconn: unknown option {o:?}")))
            }
            n => a.names.push(n.to_string()),
        }
    }
    Ok(a)
}

/// Runs `ipsec` with `args` (without the program name); returns the exit status.
pub fn run<I, S>(args: I, out: &mut dyn Write, err: &mut dyn Write) -> u8
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let (g, action) = match parse(args) {
        Ok(p) => p,
        Err(e) => {
            let _ = writeln!(err, "{e}");
            return 1;
        }
    };
    match action {
        Action::Help => {
            let _ = out.write_all(USAGE.as_bytes());
            0
        }
        Action::Version => {
            let _ = writeln!(out, "pluto-rs ipsec {}", env!("CARGO_PKG_VERSION"));
            0
        }
        Action::Whack(args) => whack(&g, args, out, err),
        Action::Add { names, replace } => match load(&g, err) {
            Some(cfg) => add_named(&g, &cfg, &names, replace, out, err),
            None => 1,
        },
        Action::AddConn(a) => addconn_run(&g, &a, out, err),
        Action::Pluto(args) => pluto(&args, err),
        Action::Start => start(&g, err),
        Action::Metrics => metrics(&g, out, err),
        Action::LoadModules => {
            load_modules(err);
            0
        }
        Action::Stop => stop(&g, out, err),
        Action::Restart => match stop(&g, out, err) {
            0 => start(&g, err),
            s => s,
        },
    }
}

/// Runs a whack form, with the global control-socket options first.
fn whack(g: &Global, args: Vec<String>, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    crate::run::run(g.ctl.iter().cloned().chain(args), out, err)
}

/// The ipsec.conf in use: `--config`, else `$IPSEC_CONF`, else /etc/ipsec.conf.
fn config_path(g: &Global) -> PathBuf {
    g.config
        .clone()
        .or_else(|| std::env::var_os("IPSEC_CONF").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG))
}

/// Reads ipsec.conf, printing its warnings; `None` (the reason printed) when the
/// file as a whole cannot be read.
fn load(g: &Global, err: &mut dyn Write) -> Option<Config> {
    let path = config_path(g);
    match Config::load(&path) {
        Ok(cfg) => {
            for w in &cfg.warnings {
                let _ = writeln!(err, "warning: {w}");
            }
            Some(cfg)
        }
        Err(e) => {
            let _ = writeln!(err, "ipsec: {e}");
            None
        }
    }
}

/// The control socket, as whack would pick it from the global options.
fn ctlsocket(g: &Global) -> PathBuf {
    match g.ctl.as_slice() {
        [o, v, ..] if o == "--ctlsocket" => PathBuf::from(v),
        [o, v, ..] if o == "--rundir" => Path::new(v).join(control::CTL_FILE),
        _ => PathBuf::from(control::DEFAULT_CTLSOCKET),
    }
}

/// pluto's pid file: in the run directory (`--rundir`, else the control socket's
/// directory, else libreswan's /run/pluto).
fn pidfile(g: &Global) -> PathBuf {
    match g.ctl.as_slice() {
        [o, v, ..] if o == "--rundir" => Path::new(v).join(control::PID_FILE),
        _ => ctlsocket(g)
            .parent()
            .map_or_else(|| PathBuf::from(control::DEFAULT_RUNDIR), Path::to_path_buf)
            .join(control::PID_FILE),
    }
}

/// Adds the named conns of `cfg` one at a time (deleting each first for
/// `replace`); the status is the first failure's, or 0.
fn add_named(
    g: &Global,
    cfg: &Config,
    names: &[String],
    replace: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    let mut status = 0;
    for name in names {
        let s = add_one(g, cfg, name, replace, out, err);
        if status == 0 {
            status = s;
        }
    }
    status
}

fn add_one(
    g: &Global,
    cfg: &Config,
    name: &str,
    replace: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    let Some(cc) = cfg.conn(name) else {
        match cfg.errors.iter().find(|e| e.name == name) {
            Some(e) => {
                let _ = writeln!(err, "ipsec: {e}");
            }
            None => {
                let _ = writeln!(
                    err,
                    "ipsec: conn \"{name}\" not found in {}",
                    config_path(g).display()
                );
            }
        }
        return 1;
    };
    if replace {
        // pluto's answer to the delete is shown as whack shows it; nothing to delete
        // is fine (replace of a conn not loaded is an add), not reaching pluto is not.
        let mut unreachable = Vec::new();
        let delete = Invocation {
            ctlsocket: ctlsocket(g),
            envelope: Envelope::new(vec![Request::Delete { name: name.into() }]),
        };
        crate::run::send(&delete, out, &mut unreachable);
        if !unreachable.is_empty() {
            let _ = err.write_all(&unreachable);
            return 1;
        }
    }
    send_conn(g, cc, out, err)
}

/// Sends one conn of ipsec.conf to pluto as a connection description.
fn send_conn(g: &Global, cc: &ConfConn, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let inv = Invocation {
        ctlsocket: ctlsocket(g),
        envelope: Envelope::new(vec![Request::AddConnection {
            spec: Box::new(cc.spec.clone()),
        }]),
    };
    crate::run::send(&inv, out, err)
}

fn addconn_run(g: &Global, a: &AddConn, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    if a.liststack {
        let _ = writeln!(out, "xfrm");
        if a.list.is_none() && !a.check && !a.autoall && a.names.is_empty() {
            return 0;
        }
    }
    let Some(cfg) = load(g, err) else {
        return 1;
    };
    if a.check {
        for e in &cfg.errors {
            let _ = writeln!(err, "{e}");
        }
        return u8::from(!cfg.errors.is_empty());
    }
    if let Some(autos) = &a.list {
        let names: Vec<&str> = cfg
            .conns
            .iter()
            .filter(|c| autos.contains(&c.auto))
            .map(|c| c.spec.name.as_str())
            .collect();
        let _ = writeln!(out, "{}", names.join(" "));
        return 0;
    }
    let mut status = add_named(g, &cfg, &a.names, false, out, err);
    if a.autoall {
        for e in &cfg.errors {
            let _ = writeln!(err, "ipsec: {e}");
            status = status.max(1);
        }
        for cc in cfg.conns.iter().filter(|c| c.auto != Auto::Ignore) {
            let name = cc.spec.name.as_str();
            let mut s = send_conn(g, cc, out, err);
            if s == 0 {
                s = match cc.auto {
                    Auto::Ondemand => whack(
                        g,
                        vec!["--name".into(), name.into(), "--route".into()],
                        out,
                        err,
                    ),
                    Auto::Start | Auto::Keep => whack(
                        g,
                        vec![
                            "--name".into(),
                            name.into(),
                            "--initiate".into(),
                            "--asynchronous".into(),
                        ],
                        out,
                        err,
                    ),
                    Auto::Add | Auto::Ignore => 0,
                };
            }
            if status == 0 {
                status = s;
            }
        }
    }
    status
}

/// One status form as JSON, through the control socket (`None`: the reason is
/// printed).
fn status_json(g: &Global, what: StatusKind, err: &mut dyn Write) -> Option<serde_json::Value> {
    let mut env = Envelope::new(vec![Request::Status { what }]);
    env.output.json = true;
    let inv = Invocation {
        ctlsocket: ctlsocket(g),
        envelope: env,
    };
    let mut buf = Vec::new();
    if crate::run::send(&inv, &mut buf, err) != 0 {
        return None;
    }
    // The document names each form it answers: {"globalstatus": {...}}.
    match serde_json::from_slice::<serde_json::Value>(&buf) {
        Ok(mut v) => Some(v[what.option()].take()),
        Err(e) => {
            let _ = writeln!(
                err,
                "ipsec metrics: pluto's {} answer is no JSON: {e}",
                what.option()
            );
            None
        }
    }
}

/// `ipsec metrics`: `--globalstatus` and `--trafficstatus` in Prometheus' text
/// exposition format.
fn metrics(g: &Global, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let (Some(global), Some(traffic)) = (
        status_json(g, StatusKind::Global, err),
        status_json(g, StatusKind::Traffic, err),
    ) else {
        return 1;
    };
    let _ = out.write_all(control::metrics::prometheus(&global, &traffic).as_bytes());
    0
}

/// pluto's binary: in `$IPSEC_EXECDIR` (libreswan's variable for it) when set,
/// beside this one, else libreswan's place for it, else `$PATH`.
fn pluto_binary() -> PathBuf {
    if let Some(dir) = std::env::var_os("IPSEC_EXECDIR") {
        return Path::new(&dir).join("pluto");
    }
    let beside = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join("pluto")));
    if let Some(p) = beside.filter(|p| p.is_file()) {
        return p;
    }
    let libexec = Path::new("/usr/libexec/ipsec/pluto");
    if libexec.is_file() {
        return libexec.to_path_buf();
    }
    PathBuf::from("pluto")
}

fn pluto(args: &[String], err: &mut dyn Write) -> u8 {
    run_pluto(&pluto_binary(), args, err)
}

fn run_pluto(bin: &Path, args: &[String], err: &mut dyn Write) -> u8 {
    match Command::new(bin).args(args).status() {
        Ok(s) => s.code().and_then(|c| u8::try_from(c).ok()).unwrap_or(1),
        Err(e) => {
            let _ = writeln!(err, "ipsec: cannot run {}: {e}", bin.display());
            1
        }
    }
}

/// The kernel modules pluto needs for ESP: the protocol, the XFRM netlink interface,
/// and the AEAD and ESN templates of the default proposals.
const MODULES: &[&str] = &[
    "xfrm_user",
    "esp4",
    "esp6",
    "xfrm4_tunnel",
    "xfrm6_tunnel",
    "tunnel4",
    "tunnel6",
    "gcm",
    "chacha20poly1305",
    "seqiv",
    "echainiv",
    "authenc",
    "authencesn",
];

/// Loads the kernel modules (those built in or already loaded are fine); a module
/// that cannot be loaded is reported, since what needs it will fail later.
fn load_modules(err: &mut dyn Write) {
    let loaded = std::fs::read_to_string("/proc/modules").unwrap_or_default();
    let builtin =
        std::fs::read_to_string(format!("/lib/modules/{}/modules.builtin", kernel_release()))
            .unwrap_or_default();
    for m in MODULES {
        let present = loaded.lines().any(|l| l.split(' ').next() == Some(m))
            || builtin
                .lines()
                .any(|l| l.rsplit('/').next() == Some(&format!("{m}.ko")));
        if present {
            continue;
        }
        match Command::new("modprobe").arg("-q").arg(m).status() {
            Ok(s) if s.success() => {}
            Ok(_) => {
                let _ = writeln!(
                    err,
                    "ipsec start: cannot load kernel module {m}; what needs it (ESP, its \
                     ciphers) will fail on this kernel"
                );
            }
            Err(e) => {
                let _ = writeln!(err, "ipsec start: cannot run modprobe: {e}");
                return;
            }
        }
    }
}

fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// `ipsec start`: loads the modules, checks ipsec.conf, and starts pluto with it
/// (pluto adds the conns and acts on `auto=`; it forks once ready, so a failed start
/// is reported here with pluto's reason and status).
fn start(g: &Global, err: &mut dyn Write) -> u8 {
    load_modules(err);
    start_pluto(g, &pluto_binary(), err)
}

/// `ipsec start` after the modules: checks ipsec.conf and runs `bin` (pluto) with
/// `--config` and the global options; public so that tests start the pluto they
/// built.
pub fn start_pluto(g: &Global, bin: &Path, err: &mut dyn Write) -> u8 {
    let ctl = ctlsocket(g);
    if control::client::Client::connect(&ctl).is_ok() {
        let _ = writeln!(
            err,
            "ipsec start: pluto is already running ({})",
            ctl.display()
        );
        return 1;
    }
    let conf = config_path(g);
    let mut args = g.ctl.clone();
    if conf.exists() || g.config.is_some() {
        match Config::load(&conf) {
            Ok(cfg) => {
                for e in &cfg.errors {
                    let _ = writeln!(err, "ipsec start: {e}; not loaded");
                }
            }
            Err(e) => {
                let _ = writeln!(err, "ipsec start: {e}");
                return 1;
            }
        }
        args.extend(["--config".to_string(), conf.display().to_string()]);
    }
    run_pluto(bin, &args, err)
}

/// How long `ipsec stop` waits for pluto to be gone after `--shutdown`.
const STOP_WAIT: Duration = Duration::from_secs(10);

/// `ipsec stop`: `whack --shutdown`, then waits until the control socket no longer
/// answers (so `restart` starts a new pluto only once the old one is gone).
fn stop(g: &Global, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let ctl = ctlsocket(g);
    if control::client::Client::connect(&ctl).is_err() {
        let _ = writeln!(err, "ipsec stop: pluto is not running ({})", ctl.display());
        return 0;
    }
    // The pid before it goes: pluto removes its pid file and socket, then exits.
    let pid = std::fs::read_to_string(pidfile(g))
        .ok()
        .and_then(|t| t.trim().parse::<i32>().ok());
    let s = whack(g, vec!["--shutdown".into()], out, err);
    if s != 0 {
        return s;
    }
    let deadline = Instant::now() + STOP_WAIT;
    // Alive: signal 0 reaches it and it is no zombie (exited, not yet reaped by a
    // parent that started it in the foreground).
    let alive = |pid: i32| {
        // SAFETY: kill with signal 0 only checks that the process exists.
        let exists = unsafe { libc::kill(pid, 0) } == 0;
        let zombie = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|st| {
                st.rsplit_once(')')
                    .map(|(_, rest)| rest.trim_start().starts_with('Z'))
            })
            .unwrap_or(false);
        exists && !zombie
    };
    while control::client::Client::connect(&ctl).is_ok() || pid.is_some_and(alive) {
        if Instant::now() > deadline {
            let _ = writeln!(
                err,
                "ipsec stop: pluto still runs ({}) after {} s",
                ctl.display(),
                STOP_WAIT.as_secs()
            );
            return 1;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(line: &str) -> Result<(Global, Action), IpsecUsage> {
        parse(line.split_whitespace())
    }

    fn w(line: &str) -> Action {
        Action::Whack(line.split_whitespace().map(String::from).collect())
    }

    #[test]
    fn subcommands_are_whack_forms() {
        assert_eq!(p("status").unwrap().1, w("--status"));
        assert_eq!(p("trafficstatus").unwrap().1, w("--trafficstatus"));
        assert_eq!(p("rereadsecrets").unwrap().1, w("--rereadsecrets"));
        assert_eq!(p("up west").unwrap().1, w("--name west --initiate"));
        assert_eq!(
            p("up west --asynchronous").unwrap().1,
            w("--name west --initiate --asynchronous")
        );
        assert_eq!(p("down west").unwrap().1, w("--name west --down"));
        assert_eq!(p("delete west").unwrap().1, w("--name west --delete"));
        assert_eq!(p("route west").unwrap().1, w("--name west --route"));
        assert_eq!(p("ondemand west").unwrap().1, w("--name west --route"));
        assert_eq!(p("unroute west").unwrap().1, w("--name west --unroute"));
        assert_eq!(p("whack --listen").unwrap().1, w("--listen"));
        assert_eq!(
            p("pluto --nofork").unwrap().1,
            Action::Pluto(vec!["--nofork".into()])
        );
        assert_eq!(p("").unwrap().1, Action::Help);
        assert_eq!(p("--version").unwrap().1, Action::Version);
        assert_eq!(p("_stackmanager start").unwrap().1, Action::LoadModules);
    }

    #[test]
    fn global_options_come_first() {
        let (g, a) = p("--ctlsocket /run/x.ctl --config /c status").unwrap();
        assert_eq!(g.ctl, ["--ctlsocket", "/run/x.ctl"]);
        assert_eq!(g.config.as_deref(), Some(Path::new("/c")));
        assert_eq!(a, w("--status"));
        let (g, _) = p("--rundir=/run/p status").unwrap();
        assert_eq!(ctlsocket(&g), Path::new("/run/p").join(control::CTL_FILE));
        assert!(p("--ctlsocket").is_err());
    }

    #[test]
    fn libreswan_4_auto_spellings() {
        assert_eq!(p("auto --up west").unwrap().1, w("--name west --initiate"));
        assert_eq!(
            p("auto --start west").unwrap().1,
            w("--name west --initiate")
        );
        assert_eq!(
            p("auto --asynchronous --up west").unwrap().1,
            w("--name west --initiate --asynchronous")
        );
        assert_eq!(p("auto --down west").unwrap().1, w("--name west --down"));
        assert_eq!(p("auto --status").unwrap().1, w("--status"));
        assert_eq!(p("auto --ready").unwrap().1, w("--listen"));
        assert_eq!(
            p("auto --add west").unwrap().1,
            Action::Add {
                names: vec!["west".into()],
                replace: false
            }
        );
        let (g, a) = p("auto --config /x.conf --replace west").unwrap();
        assert_eq!(g.config.as_deref(), Some(Path::new("/x.conf")));
        assert_eq!(
            a,
            Action::Add {
                names: vec!["west".into()],
                replace: true
            }
        );
        for bad in [
            "auto",
            "auto --up",
            "auto --up a b",
            "auto --up --down a",
            "auto --fly a",
        ] {
            assert!(p(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn metrics_is_a_subcommand() {
        // The text itself: control::metrics::tests.
        assert_eq!(p("metrics").unwrap().1, Action::Metrics);
        assert!(p("metrics now").is_err());
    }

    #[test]
    fn addconn_options() {
        let (_, a) = p("addconn --config /c --autoall").unwrap();
        assert!(matches!(a, Action::AddConn(AddConn { autoall: true, .. })));
        let (_, a) = p("checkconfig").unwrap();
        assert!(matches!(a, Action::AddConn(AddConn { check: true, .. })));
        let (_, a) = p("addconn --liststart").unwrap();
        assert!(
            matches!(a, Action::AddConn(AddConn { list: Some(ref l), .. }) if l == &[Auto::Start, Auto::Keep])
        );
        assert!(p("addconn --bogus").is_err());
    }

    #[test]
    fn mistakes_and_unimplemented_commands_say_so_in_one_line() {
        for (line, says) in [
            ("up", "needs a connection name"),
            ("up a b", "takes one connection name"),
            ("up --bogus a", "unknown option"),
            ("status extra", "takes no arguments"),
            ("start now", "takes no arguments"),
            ("verify", "not implemented yet in pluto-rs"),
            ("import x.p12", "not implemented yet in pluto-rs"),
            ("frobnicate", "unknown command"),
        ] {
            let e = p(line).unwrap_err().to_string();
            assert!(e.contains(says), "{line}: {e}");
            assert!(!e.contains('\n'), "{line}: {e}");
        }
    }

    #[test]
    fn addconn_lists_and_checks_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("ipsec.conf");
        std::fs::write(
            &conf,
            "conn a\n  left=192.0.2.1\n  right=192.0.2.2\n  auto=start\n\
             conn b\n  left=192.0.2.1\n  right=192.0.2.3\n  auto=add\n\
             conn bad\n  left=192.0.2.1\n  rekey=maybe\n",
        )
        .unwrap();
        let c = conf.display().to_string();
        let run_ = |args: &[&str]| {
            let (mut out, mut err) = (Vec::new(), Vec::new());
            let s = run(args.iter().copied(), &mut out, &mut err);
            (
                s,
                String::from_utf8(out).unwrap(),
                String::from_utf8(err).unwrap(),
            )
        };
        let (s, out, _) = run_(&["addconn", "--config", &c, "--listall"]);
        assert_eq!((s, out.as_str()), (0, "a b\n"));
        let (_, out, _) = run_(&["addconn", "--config", &c, "--liststart"]);
        assert_eq!(out, "a\n");
        let (s, _, err) = run_(&["checkconfig", "--config", &c]);
        assert_eq!(s, 1);
        assert!(err.contains(":11: conn \"bad\": rekey=maybe"), "{err}");
        let (s, out, _) = run_(&["addconn", "--liststack"]);
        assert_eq!((s, out.as_str()), (0, "xfrm\n"));
        // Adding needs pluto: a bad or missing conn fails before that.
        let (s, _, err) = run_(&["--config", &c, "add", "bad"]);
        assert_eq!(s, 1);
        assert!(err.contains("conn \"bad\": rekey=maybe"), "{err}");
        let (s, _, err) = run_(&["--config", &c, "add", "nosuch"]);
        assert_eq!(s, 1);
        assert!(err.contains("conn \"nosuch\" not found in"), "{err}");
    }
}
