//! pluto's command line, as the manual's "Debugging" section lists it.

use std::path::{Path, PathBuf};

use control::request::DdosMode;

/// pluto's options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// `--nofork`: stay in the foreground.
    pub nofork: bool,
    /// `--stderrlog`: log to standard error.
    pub stderrlog: bool,
    /// `--logfile FILE`: log to FILE (appending).
    pub logfile: Option<PathBuf>,
    /// `--log-no-time` (`logtime=no`): no timestamps in the log file.
    pub log_no_time: bool,
    /// `--log-no-append` (`logappend=no`): the log file is emptied at start.
    pub log_no_append: bool,
    /// `--coredir DIR` (`dumpdir=`): pluto's working directory, where a core dump
    /// would be written.
    pub coredir: Option<PathBuf>,
    /// `--secretsfile FILE` (default /etc/ipsec.secrets).
    pub secretsfile: PathBuf,
    /// `--ipsecdir DIR` (default /etc/ipsec.d).
    pub ipsecdir: PathBuf,
    /// `--config FILE`: ipsec.conf whose `config setup` keys apply where `--config`
    /// stands among the options (later options win) and whose `conn` sections are
    /// loaded at start.
    pub config: Option<PathBuf>,
    /// What `config setup` asked that pluto-rs ignores (each naming file, line and
    /// key), logged once the log is open.
    pub warnings: Vec<String>,
    /// `--ikeport PORT` (default 500).
    pub ikeport: u16,
    /// `--interface NAME` (repeatable): only these interfaces.
    pub interfaces: Vec<String>,
    /// `--uniqueids`: a new IKE SA for an ID replaces older ones.
    pub uniqueids: bool,
    /// `--force-busy` (`ddos-mode=busy`), or `ddos-mode=unlimited`: the DDoS mode
    /// at start (default auto).
    pub ddos_mode: DdosMode,
    /// `--fake-xfrm` (pluto-rs, for benchmarks): XFRM requests are built and
    /// acknowledged without reaching the kernel ([`kernel::Kernel::fake_xfrm`]).
    pub fake_xfrm: bool,
    /// `--debug CLASS` (repeatable).
    pub debug: Vec<String>,
    /// `--rundir DIR` (default /run/pluto).
    pub rundir: PathBuf,
    /// `--ctlsocket PATH` (default RUNDIR/pluto.ctl).
    pub ctlsocket: Option<PathBuf>,
    /// `--updown-script FILE`: what libreswan's default `ipsec _updown` runs
    /// (default: pluto-rs's `pluto-updown`, see [`crate::updown::default_script`]).
    pub updown_script: Option<PathBuf>,
    /// `--nhelpers N`: crypto helper threads; `None` (the default, or libreswan's
    /// `-1`) one per core, `Some(0)` none (crypto in the main thread).
    pub nhelpers: Option<usize>,
    /// `--ddos-ike-threshold N` (libreswan's `ddos-ike-threshold=`): in DDoS auto
    /// mode, half-open IKE SAs from which new initiators must return a COOKIE.
    pub ddos_ike_threshold: usize,
    /// `--max-halfopen-ike N` (libreswan's `max-halfopen-ike=`): in DDoS auto mode,
    /// half-open IKE SAs from which new IKE_SA_INIT requests go unanswered.
    pub max_halfopen_ike: usize,
    /// `--metrics-listen ADDR:PORT` (`metrics-listen=`): serve Prometheus metrics
    /// over HTTP there; loopback only ([`crate::metrics::parse_listen`]).
    pub metrics_listen: Option<std::net::SocketAddr>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            nofork: false,
            stderrlog: false,
            logfile: None,
            log_no_time: false,
            log_no_append: false,
            coredir: None,
            secretsfile: PathBuf::from("/etc/ipsec.secrets"),
            ipsecdir: PathBuf::from("/etc/ipsec.d"),
            config: None,
            warnings: Vec::new(),
            ikeport: 500,
            interfaces: Vec::new(),
            uniqueids: false,
            ddos_mode: DdosMode::Auto,
            fake_xfrm: false,
            debug: Vec::new(),
            rundir: PathBuf::from(control::DEFAULT_RUNDIR),
            ctlsocket: None,
            updown_script: None,
            nhelpers: None,
            ddos_ike_threshold: ike::ikev2::Ddos::COOKIES_FROM,
            max_halfopen_ike: ike::ikev2::Ddos::REFUSE_FROM,
            metrics_listen: None,
        }
    }
}

impl Options {
    /// The control socket path.
    pub fn ctlsocket(&self) -> PathBuf {
        self.ctlsocket
            .clone()
            .unwrap_or_else(|| self.rundir.join(control::CTL_FILE))
    }

    /// How many crypto helper threads to start: `--nhelpers`, by default one
    /// per core the process may use (libreswan starts one fewer and keeps the
    /// main thread for the rest; here the main loop's share of a handshake is
    /// small enough that leaving a core to it would waste one on a small
    /// machine, and the scheduler shares the cores anyway).
    pub fn helpers(&self) -> usize {
        self.nhelpers.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        })
    }

    /// The pid file path.
    pub fn pidfile(&self) -> PathBuf {
        self.rundir.join(control::PID_FILE)
    }
}

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cmd {
    /// Run the daemon.
    Run(Box<Options>),
    /// `--help`.
    Help,
    /// `--version`.
    Version,
}

/// The `--help` text.
pub const USAGE: &str = "\
Usage: pluto [--help] [--version] [--nofork] [--stderrlog] [--logfile FILE]
             [--log-no-time] [--log-no-append] [--coredir DIR]
             [--secretsfile FILE] [--ipsecdir DIR] [--config FILE]
             [--ikeport PORT] [--interface NAME]... [--uniqueids] [--force-busy]
             [--debug CLASS]... [--rundir DIR] [--ctlsocket PATH]
             [--updown-script FILE] [--nhelpers N] [--fake-xfrm]
             [--ddos-ike-threshold N] [--max-halfopen-ike N]
             [--metrics-listen ADDR:PORT]
";

/// pluto's flag options (long names, without `--`).
pub const FLAGS: &[&str] = &[
    "help",
    "version",
    "nofork",
    "stderrlog",
    "uniqueids",
    "force-busy",
    "fake-xfrm",
    "log-no-time",
    "log-no-append",
];
/// pluto's options that take a value.
pub const VALUED: &[&str] = &[
    "logfile",
    "coredir",
    "secretsfile",
    "ipsecdir",
    "config",
    "ikeport",
    "interface",
    "debug",
    "rundir",
    "ctlsocket",
    "updown-script",
    "nhelpers",
    "ddos-ike-threshold",
    "max-halfopen-ike",
    "metrics-listen",
];

/// Parses pluto's arguments (without the program name), reading `--config`'s
/// `config setup`. Errors are one line.
pub fn parse<I, S>(args: I) -> Result<Cmd, String>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    parse_with(args, &|path| {
        conn::conf::Config::load_setup(path).map_err(|e| e.to_string())
    })
}

/// [`parse`] with `read_setup` reading the `config setup` of `--config FILE`.
pub fn parse_with<I, S>(
    args: I,
    read_setup: &dyn Fn(&Path) -> Result<conn::conf::Config, String>,
) -> Result<Cmd, String>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let args: Vec<String> = args.into_iter().map(Into::into).collect();
    let mut o = Options::default();
    let mut i = 0;
    while i < args.len() {
        let word = &args[i];
        i += 1;
        let Some(body) = word.strip_prefix("--") else {
            return Err(format!("unexpected argument \"{word}\""));
        };
        let (key, inline) = match body.split_once('=') {
            Some((k, v)) => (k, Some(v.to_string())),
            None => (body, None),
        };
        // Exact match, else a unique prefix, as getopt_long.
        let all = FLAGS.iter().chain(VALUED.iter());
        let name: &str = match all.clone().find(|n| **n == key) {
            Some(n) => n,
            None => {
                let m: Vec<&&str> = all
                    .filter(|n| n.starts_with(key) && !key.is_empty())
                    .collect();
                match m.as_slice() {
                    [one] => one,
                    [] => return Err(format!("unrecognized option '--{key}'")),
                    _ => return Err(format!("option '--{key}' is ambiguous")),
                }
            }
        };
        if FLAGS.contains(&name) {
            if inline.is_some() {
                return Err(format!("option '--{name}' doesn't allow an argument"));
            }
            match name {
                "help" => return Ok(Cmd::Help),
                "version" => return Ok(Cmd::Version),
                "nofork" => o.nofork = true,
                "stderrlog" => o.stderrlog = true,
                "uniqueids" => o.uniqueids = true,
                "fake-xfrm" => o.fake_xfrm = true,
                "log-no-time" => o.log_no_time = true,
                "log-no-append" => o.log_no_append = true,
                _ => o.ddos_mode = DdosMode::Busy,
            }
            continue;
        }
        let v = match inline {
            Some(v) => v,
            None => {
                let v = args
                    .get(i)
                    .cloned()
                    .ok_or_else(|| format!("option '--{name}' requires an argument"))?;
                i += 1;
                v
            }
        };
        match name {
            "logfile" => o.logfile = Some(v.into()),
            "secretsfile" => o.secretsfile = v.into(),
            "ipsecdir" => {
                return Err(format!("--ipsecdir {v}: pluto-rs reads nothing from an ipsec.d directory (no NSS database); drop the option"))
            }
            "config" => {
                let cfg = read_setup(Path::new(&v)).map_err(|e| format!("--config {v}: {e}"))?;
                crate::setup::apply(&mut o, &cfg)?;
                o.config = Some(v.into());
            }
            "coredir" => o.coredir = Some(v.into()),
            "ikeport" => {
                o.ikeport = match v.parse::<u16>() {
                    Ok(p) if p != 0 => p,
                    _ => return Err(format!("--ikeport: \"{v}\" is not a port number (1-65535)")),
                }
            }
            "interface" => o.interfaces.push(v),
            "debug" => o.debug.extend(debug_words("--debug", &v)?),
            "rundir" => o.rundir = v.into(),
            "updown-script" => o.updown_script = Some(v.into()),
            "nhelpers" => o.nhelpers = parse_nhelpers(&v)?,
            "ddos-ike-threshold" => o.ddos_ike_threshold = parse_count(name, &v)?,
            "max-halfopen-ike" => o.max_halfopen_ike = parse_count(name, &v)?,
            "metrics-listen" => {
                o.metrics_listen =
                    Some(crate::metrics::parse_listen(&v).map_err(|e| e.to_string())?)
            }
            _ => o.ctlsocket = Some(v.into()),
        }
    }
    if o.ddos_ike_threshold > o.max_halfopen_ike {
        return Err(format!(
            "--ddos-ike-threshold {} is above --max-halfopen-ike {}: cookies would never be demanded before requests are dropped",
            o.ddos_ike_threshold, o.max_halfopen_ike
        ));
    }
    Ok(Cmd::Run(Box::new(o)))
}

/// A count of half-open IKE SAs: 1 to 10,000,000 (a half-open SA costs about
/// 2 KiB, so more would be gigabytes before the limit acts).
pub(crate) fn parse_count(name: &str, v: &str) -> Result<usize, String> {
    match v.trim().parse::<usize>() {
        Ok(n) if (1..=10_000_000).contains(&n) => Ok(n),
        _ => Err(format!(
            "--{name}: \"{v}\" is not a count of half-open IKE SAs (1-10000000)"
        )),
    }
}

/// Debug class words (`base`, `no-crypt`, `all`, `none`), separated by commas or
/// blanks, each checked; `what` names the option in the error.
pub(crate) fn debug_words(what: &str, v: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for w in v.split([',', ' ', '\t']).filter(|w| !w.is_empty()) {
        let c = w.strip_prefix("no-").unwrap_or(w);
        if !matches!(c, "none" | "all") && control::classes::debug_class(c).is_none() {
            return Err(format!("{what}: unknown debug class \"{c}\""));
        }
        out.push(w.to_string());
    }
    Ok(out)
}

/// Most helper threads `--nhelpers` takes: far above any core count this runs
/// on, low enough that a typo does not start a million threads.
const MAX_HELPERS: usize = 1024;

/// `--nhelpers`: `-1` is libreswan's "one per core" (the default), `0` no helper,
/// any other count that many.
pub(crate) fn parse_nhelpers(v: &str) -> Result<Option<usize>, String> {
    match v.trim() {
        "-1" => Ok(None),
        t => match t.parse::<usize>() {
            Ok(n) if n <= MAX_HELPERS => Ok(Some(n)),
            _ => Err(format!(
                "--nhelpers: \"{v}\" is not a number of helper threads (-1 for one per core, 0 for none, at most {MAX_HELPERS})"
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(a: &str) -> Options {
        let empty = |_: &Path| Ok(conn::conf::Config::default());
        match parse_with(a.split_whitespace(), &empty) {
            Ok(Cmd::Run(o)) => *o,
            other => panic!("{a}: {other:?}"),
        }
    }

    #[test]
    fn options() {
        let o = run("--nofork --stderrlog --secretsfile /s --config /c \
                     --ikeport 4500 --interface eth0 --interface eth1 --force-busy \
                     --debug base --debug=cpu-usage --rundir /r --logfile /l \
                     --updown-script /u");
        assert!(o.nofork && o.stderrlog && !o.uniqueids);
        assert_eq!(o.ddos_mode, DdosMode::Busy);
        assert_eq!(o.secretsfile, PathBuf::from("/s"));
        assert_eq!(o.ikeport, 4500);
        assert_eq!(o.updown_script, Some(PathBuf::from("/u")));
        assert_eq!(o.interfaces, vec!["eth0", "eth1"]);
        assert_eq!(o.debug, vec!["base", "cpu-usage"]);
        assert_eq!(o.ctlsocket(), PathBuf::from("/r/pluto.ctl"));
        assert_eq!(o.pidfile(), PathBuf::from("/r/pluto.pid"));
        let o = run("--nof --ctlsocket /x.ctl");
        assert!(o.nofork);
        assert_eq!(o.ctlsocket(), PathBuf::from("/x.ctl"));
        assert_eq!(parse(["--help"]), Ok(Cmd::Help));
        assert_eq!(parse(["--version"]), Ok(Cmd::Version));
    }

    #[test]
    fn errors() {
        assert!(parse(["--bogus"]).unwrap_err().contains("unrecognized"));
        assert!(parse(["--rundir"])
            .unwrap_err()
            .contains("requires an argument"));
        assert!(parse(["--ikeport", "0"])
            .unwrap_err()
            .contains("not a port"));
        assert!(parse(["--debug", "nope"])
            .unwrap_err()
            .contains("unknown debug class"));
        assert!(parse(["x"]).unwrap_err().contains("unexpected argument"));
    }

    #[test]
    fn ipsecdir_is_refused() {
        let e = parse(["--ipsecdir", "/etc/ipsec.d"]).unwrap_err();
        assert!(
            e.starts_with("--ipsecdir /etc/ipsec.d: pluto-rs reads nothing"),
            "{e}"
        );
    }

    #[test]
    fn fake_xfrm_is_a_flag() {
        let Ok(Cmd::Run(o)) = parse(["--fake-xfrm"]) else {
            panic!("--fake-xfrm not accepted")
        };
        assert!(o.fake_xfrm && !Options::default().fake_xfrm);
        assert!(parse(["--fake-xfrm=yes"]).is_err());
    }

    #[test]
    fn uniqueids_is_a_flag() {
        let Ok(Cmd::Run(o)) = parse(["--uniqueids"]) else {
            panic!("--uniqueids not accepted")
        };
        assert!(o.uniqueids);
    }

    #[test]
    fn nhelpers_parses_like_libreswan() {
        assert_eq!(run("").nhelpers, None);
        assert_eq!(run("--nhelpers -1").nhelpers, None);
        assert_eq!(run("--nhelpers 0").nhelpers, Some(0));
        assert_eq!(run("--nhelpers=4").nhelpers, Some(4));
        assert_eq!(run("--nhelpers 0").helpers(), 0);
        assert_eq!(run("--nhelpers 3").helpers(), 3);
        assert!(run("").helpers() >= 1);
        for bad in ["-2", "x", "1025"] {
            let e = parse(["--nhelpers", bad]).unwrap_err();
            assert!(e.starts_with("--nhelpers: "), "{e}");
        }
    }

    #[test]
    fn ddos_thresholds() {
        let Cmd::Run(o) = parse(["--ddos-ike-threshold", "10", "--max-halfopen-ike=20"]).unwrap()
        else {
            panic!()
        };
        assert_eq!((o.ddos_ike_threshold, o.max_halfopen_ike), (10, 20));
        let Cmd::Run(o) = parse(Vec::<String>::new()).unwrap() else {
            panic!()
        };
        assert_eq!((o.ddos_ike_threshold, o.max_halfopen_ike), (25_000, 50_000));
        let e = parse(["--max-halfopen-ike", "0"]).unwrap_err();
        assert_eq!(
            e,
            "--max-halfopen-ike: \"0\" is not a count of half-open IKE SAs (1-10000000)"
        );
        let e = parse(["--ddos-ike-threshold", "30", "--max-halfopen-ike", "20"]).unwrap_err();
        assert!(
            e.starts_with("--ddos-ike-threshold 30 is above --max-halfopen-ike 20"),
            "{e}"
        );
    }
}
