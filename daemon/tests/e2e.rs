//! End to end: a real `pluto --nofork --rundir <tmp>` driven by whack's own code.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use control::client::Client;
use control::rc;

struct Daemon {
    child: Child,
    dir: tempfile::TempDir,
}

impl Daemon {
    fn start() -> Daemon {
        Daemon::start_with(|_| Vec::new())
    }

    /// Starts pluto with extra arguments computed from its run directory.
    fn start_with(extra: impl FnOnce(&Path) -> Vec<String>) -> Daemon {
        Daemon::start_with_env(|dir| (extra(dir), Vec::new()))
    }

    /// Starts pluto with extra arguments and environment variables computed from
    /// its run directory.
    fn start_with_env(extra: impl FnOnce(&Path) -> (Vec<String>, Vec<(String, String)>)) -> Daemon {
        let dir = tempfile::tempdir().unwrap();
        let (extra, env) = extra(dir.path());
        std::fs::write(
            dir.path().join("ipsec.secrets"),
            "@west @east : PSK \"not a real secret\"\n@road : XAUTH \"pw\"\n",
        )
        .unwrap();
        // pluto listens at start; a port of its own keeps parallel tests (and any
        // IKE daemon on this host) apart.
        let probe = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = probe.local_addr().unwrap().port();
        drop(probe);
        let child = Command::new(env!("CARGO_BIN_EXE_pluto"))
            .arg("--nofork")
            .arg("--ikeport")
            .arg(port.to_string())
            .arg("--stderrlog")
            .arg("--rundir")
            .arg(dir.path())
            .arg("--secretsfile")
            .arg(dir.path().join("ipsec.secrets"))
            .args(extra)
            .envs(env)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let d = Daemon { child, dir };
        let deadline = Instant::now() + Duration::from_secs(20);
        while !d.ctl().exists() {
            assert!(Instant::now() < deadline, "pluto did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        d
    }

    fn rundir(&self) -> &Path {
        self.dir.path()
    }

    fn ctl(&self) -> PathBuf {
        self.rundir().join("pluto.ctl")
    }

    fn pidfile(&self) -> PathBuf {
        self.rundir().join("pluto.pid")
    }

    /// Runs the `ipsec` command against this daemon: (exit status, stdout, stderr).
    fn ipsec(&self, line: &str) -> (u8, String, String) {
        let mut args = vec!["--rundir".to_string(), self.rundir().display().to_string()];
        args.extend(line.split_whitespace().map(str::to_string));
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let st = whack::ipsec::run(args, &mut out, &mut err);
        (
            st,
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
        )
    }

    /// Runs whack against this daemon: (exit status, stdout, stderr).
    fn whack(&self, line: &str) -> (u8, String, String) {
        let mut args = vec!["--rundir".to_string(), self.rundir().display().to_string()];
        args.extend(line.split_whitespace().map(str::to_string));
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let st = whack::run::run(args, &mut out, &mut err);
        (
            st,
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
        )
    }

    fn wait_exit(&mut self) -> std::process::ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st;
            }
            assert!(Instant::now() < deadline, "pluto did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

const WEST_EAST: &str = "--name west-east --id @west --host 127.0.0.1 --ikeport 500 \
    --subnet 198.51.100.0/24 --updown /bin/true \
    --to --id @east --host 203.0.113.2 --ikeport 4500 --nexthop 203.0.113.254 \
    --subnet 203.0.113.128/25 \
    --tunnel --psk --encrypt --pfs --ikelifetime 3600 --ipseclifetime 1800 \
    --rekeymargin 300 --dpddelay 30 --label test-add";

const ROAD: &str = "--name road --host 127.0.0.1 --id @gw \
    --to --host %any --id @road --psk --encrypt --tunnel";

#[test]
fn connections_status_delete_shutdown() {
    let mut d = Daemon::start();
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(d.ctl()).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600, "control socket must be root-only");
    let pid: u32 = std::fs::read_to_string(d.pidfile())
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(pid, d.child.id());

    let (st, out, err) = d.whack(WEST_EAST);
    assert_eq!(st, 0, "{out}{err}");
    assert!(
        out.contains("added IKEv2 connection \"west-east\""),
        "{out}"
    );
    let (st, out, err) = d.whack(ROAD);
    assert_eq!(st, 0, "{out}{err}");
    assert!(
        out.contains("added IKEv2 template connection \"road\""),
        "{out}"
    );

    // A duplicate name: 20.
    let (st, out, _) = d.whack(ROAD);
    assert_eq!(st, rc::DUPNAME as u8, "{out}");
    assert!(
        out.contains("attempt to redefine connection \"road\""),
        "{out}"
    );

    // --status shows both, oriented, with both ends' options.
    let (st, out, _) = d.whack("--status");
    assert_eq!(st, 0);
    assert!(out.contains("Connection list:"), "{out}");
    assert!(
        out.contains("\"west-east\": 198.51.100.0/24===127.0.0.1[@west]...203.0.113.254---203.0.113.2:4500[@east]===203.0.113.128/25; unrouted;"),
        "{out}"
    );
    assert!(
        out.contains("\"west-east\":   host: oriented; local: 127.0.0.1; remote: 203.0.113.2;"),
        "{out}"
    );
    assert!(
        out.contains("\"west-east\":   ike_life: 3600s; ipsec_life: 1800s;"),
        "{out}"
    );
    assert!(
        out.contains("\"west-east\":   policy: IKEv2+PSK+ENCRYPT+TUNNEL+PFS"),
        "{out}"
    );
    assert!(
        out.contains("\"west-east\":   my_updown=/bin/true;"),
        "{out}"
    );
    assert!(
        out.contains("\"west-east\":   liveness: active; dpddelay:30s"),
        "{out}"
    );
    assert!(
        out.contains("\"road\": 127.0.0.1[@gw]...%any[@road]; unrouted;"),
        "{out}"
    );
    assert!(
        out.contains("Total IPsec connections: loaded 2, active 0"),
        "{out}"
    );
    assert!(
        out.contains("IKE SAs: total(0), half-open(0), open(0), authenticated(0), anonymous(0)")
    );
    assert!(out.contains("Bare Shunt list:"));

    // --json --status: one document with both.
    let (st, out, _) = d.whack("--json --status");
    assert_eq!(st, 0);
    let doc: serde_json::Value = serde_json::from_str(&out).expect("one JSON document");
    let conns = doc["status"]["connections"]["connections"]
        .as_array()
        .unwrap();
    let names: Vec<&str> = conns.iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["road", "west-east"]);
    let we = &conns[1];
    assert_eq!(we["local"], "left");
    assert_eq!(we["right"]["ikeport"], 4500);
    assert_eq!(we["right"]["subnets"][0], "203.0.113.128/25");
    assert_eq!(we["policy"]["ike_lifetime"], 3600);
    assert_eq!(conns[0]["kind"], "template");
    assert_eq!(doc["status"]["connections"]["loaded"], 2);

    // Unknown names: 21, for every form that names a connection.
    for form in [
        "--delete --name nope",
        "--initiate --name nope",
        "--route --name nope",
        "--unroute --name nope",
        "--down --name nope",
        "--rekey-ike --name nope",
        "--delete-child --name nope --asynchronous",
        "--name nope --debug base",
    ] {
        let (st, out, _) = d.whack(form);
        assert_eq!(st, rc::UNKNOWN_NAME as u8, "{form}: {out}");
        assert!(
            out.contains("no connection or alias named \"nope\""),
            "{form}: {out}"
        );
    }

    // --delete removes one.
    let (st, out, _) = d.whack("--name west-east --delete");
    assert_eq!(st, 0, "{out}");
    assert!(out.contains("\"west-east\": deleting connection"), "{out}");
    let (_, out, _) = d.whack("--connectionstatus");
    assert!(!out.contains("\"west-east\""), "{out}");
    assert!(out.contains("\"road\":"), "{out}");
    assert!(
        out.contains("Total IPsec connections: loaded 1, active 0"),
        "{out}"
    );
    let (st, _, _) = d.whack("--name west-east --delete");
    assert_eq!(st, rc::UNKNOWN_NAME as u8);

    // --shutdown stops the daemon and removes its files.
    let (st, out, _) = d.whack("--shutdown");
    assert_eq!(st, 0, "{out}");
    let exit = d.wait_exit();
    assert!(exit.success(), "{exit:?}");
    assert!(!d.ctl().exists());
    assert!(!d.pidfile().exists());
    let (st, _, err) = d.whack("--status");
    assert_eq!(st, 1);
    assert!(err.contains("pluto is not running"), "{err}");
}

#[test]
fn other_protocol_version_gets_clear_error() {
    let d = Daemon::start();
    let mut c = Client::connect(&d.ctl()).unwrap();
    c.send_raw(
        b"{\"version\":2,\"label\":null,\"requests\":[{\"op\":\"status\",\"what\":\"status\"}]}\n",
    )
    .unwrap();
    let mut lines = Vec::new();
    let st = c
        .stream_reply(|code, t| lines.push((code, t.to_string())), |_, _| None)
        .unwrap();
    assert_eq!(st, rc::BADWHACKMESSAGE);
    assert_eq!(
        lines,
        vec![(
            rc::BADWHACKMESSAGE,
            "whack protocol version 2 not supported by pluto (speaks 1)".to_string()
        )]
    );
    // pluto carries on.
    let (st, out, _) = d.whack("--briefstatus");
    assert_eq!(st, 0);
    assert!(
        out.starts_with("State Information: DDoS cookies not required"),
        "{out}"
    );
}

#[test]
fn negotiating_forms_are_validated_then_refused_clearly() {
    let d = Daemon::start();
    assert_eq!(d.whack(ROAD).0, 0);
    assert_eq!(
        d.whack("--name gw --host 127.0.0.1 --to --host 203.0.113.9 --psk")
            .0,
        0
    );
    // Not listening: 24.
    assert_eq!(d.whack("--unlisten").0, 0);
    let (st, out, _) = d.whack("--initiate --name gw");
    assert_eq!(st, rc::DEAF as u8, "{out}");
    assert!(out.contains("need --listen before --initiate"));
    let (st, out, _) = d.whack("--listen");
    assert_eq!(st, 0, "{out}");
    assert!(out.contains("listening for IKE messages"));
    assert!(out.contains("loaded 2 secrets"), "{out}");
    // A template without --remote-host: 29.
    let (st, out, _) = d.whack("--initiate --name road");
    assert_eq!(st, rc::NOPEERIP as u8, "{out}");
    // An IKE-only connection (no --encrypt) starts negotiating its IKE SA alone
    // (RFC 6023); nobody answers there.
    let (st, out, _) = d.whack("--initiate --name gw --asynchronous");
    assert_eq!(st, 0, "{out}");
    // A template with --remote-host starts negotiating (nobody answers there).
    let (st, out, _) = d.whack("--initiate --name road --remote-host 203.0.113.7 --asynchronous");
    assert_eq!(st, 0, "{out}");
    let (st, out, _) = d.whack("--route --name gw");
    assert_eq!(st, rc::ROUTE as u8, "{out}");
    assert!(out.contains("negotiates no Child SA"), "{out}");
    let (st, _, _) = d.whack("--down --name gw");
    assert_eq!(st, 0);
    let (st, out, _) = d.whack("--rekey-child --name gw");
    assert_eq!(st, rc::WHACK_PROBLEM as u8, "{out}");
    let (st, _, _) = d.whack("--deletestate 5");
    assert_eq!(st, rc::UNKNOWN_NAME as u8);
    let (st, out, _) = d.whack(
        "--oppohere 127.0.0.1 --oppothere 203.0.113.5 --opposport 1 --oppodport 2 --oppoproto tcp",
    );
    assert_eq!(st, rc::OPPOFAILURE as u8, "{out}");
}

#[test]
fn settings_forms_work() {
    let d = Daemon::start();
    let (st, out, _) = d.whack("--debug help");
    assert_eq!(st, 0);
    assert!(out.contains("base") && out.contains("cpu-usage"), "{out}");
    let (st, out, _) = d.whack("--debug base --debug cpu-usage");
    assert_eq!(st, 0);
    assert!(out.contains("debug=base+cpu-usage"), "{out}");
    let (_, out, _) = d.whack("--no-debug base");
    assert!(out.contains("debug=cpu-usage"), "{out}");
    let (st, out, _) = d.whack("--impair help");
    assert_eq!(st, 0);
    assert!(out.contains("revival"), "{out}");
    let (st, out, _) = d.whack("--impair revival --impair list");
    assert_eq!(st, rc::WHACK_PROBLEM as u8);
    assert!(out.contains("impairments are not implemented"), "{out}");
    assert_eq!(d.whack("--impair list").1, "no impairments\n");
    assert!(d.whack("--ddos-busy").1.contains("set to busy"));
    assert!(d
        .whack("--briefstatus")
        .1
        .starts_with("State Information: DDoS cookies required"));
    assert_eq!(d.whack("--ddos-auto").0, 0);
    assert_eq!(
        d.whack("--global-redirect-to 192.0.2.9").0,
        rc::WHACK_PROBLEM as u8
    );
    assert_eq!(d.whack("--global-redirect yes").0, rc::WHACK_PROBLEM as u8);
    assert!(d.whack("--status").1.contains("global-redirect=no"));
    // The IKE socket options act on the open sockets; status reads them back.
    let (_, out, _) = d.whack("--status");
    assert!(
        out.contains("ike-socket-bufsize=default (SO_RCVBUF="),
        "{out}"
    );
    let (st, out, _) = d.whack("--ike-socket-bufsize 65536");
    assert_eq!(st, 0, "{out}");
    assert!(out.contains("set IKE socket buffer to 65536"), "{out}");
    assert!(
        out.contains("ike-socket-bufsize=65536 (SO_RCVBUF=131072 SO_SNDBUF=131072 on "),
        "{out}"
    );
    let (st, out, _) = d.whack("--ike-socket-errqueue-toggle");
    assert_eq!(st, 0, "{out}");
    assert!(out.contains("disabling IKE socket MSG_ERRQUEUEs"), "{out}");
    assert!(
        out.contains("ike-socket-errqueue=no (IP_RECVERR on 0 of "),
        "{out}"
    );
    let (_, out, _) = d.whack("--status");
    assert!(
        out.contains("ike-socket-errqueue=no (IP_RECVERR on 0 of "),
        "{out}"
    );
    let (_, out, _) = d.whack("--ike-socket-errqueue-toggle");
    let n = out
        .split("ike-socket-errqueue=yes (IP_RECVERR on ")
        .nth(1)
        .and_then(|t| t.split_whitespace().next())
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        out.contains(&format!("IP_RECVERR on {n} of {n} sockets")) && n != "0",
        "{out}"
    );
    let (st, out, _) = d.whack("--globalstatus --clearstats");
    assert_eq!(st, 0);
    assert!(out.contains("total.ike.ikev2.established=0"), "{out}");
    assert!(out.contains("current.states.iketype.halfopen=0"), "{out}");
    let (st, out, _) = d.whack("--json --globalstatus");
    assert_eq!(st, 0);
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        doc["globalstatus"]["config.setup.ike.ddos_threshold"],
        25000
    );
    let (st, _, err) = d.whack("--keyid @east --pubkeyrsa 0sAwEAAbcdef");
    assert_eq!(st, 1, "{err}");
    let (st, out, _) = d.whack("--utc --listpubkeys");
    assert_eq!(st, 0);
    assert!(
        out.contains("List of Public Keys:") && !out.contains("@east"),
        "{out}"
    );
    let (st, out, _) = d.whack("--rereadsecrets");
    assert_eq!(st, 0, "{out}");
    assert!(out.contains("loaded 2 secrets"), "{out}");
    assert_eq!(d.whack("--rereadcrls").0, rc::CRLERROR as u8);
    assert_eq!(d.whack("--purgeocsp").0, rc::WHACK_PROBLEM as u8);
    for form in [
        "--trafficstatus",
        "--shuntstatus",
        "--addresspoolstatus",
        "--fipsstatus",
        "--processstatus",
        "--listevents",
        "--ddns",
        "--crash 203.0.113.3",
        "--unlisten",
    ] {
        let (st, out, err) = d.whack(form);
        assert_eq!(st, 0, "{form}: {out}{err}");
    }
    assert_eq!(d.whack("--fipsstatus").1, "FIPS mode disabled\n");
    assert_eq!(d.whack("--trafficstatus").1, "");
    for form in [
        "--trafficstatus",
        "--shuntstatus",
        "--addresspoolstatus",
        "--fipsstatus",
        "--processstatus",
        "--briefstatus",
        "--connectionstatus",
        "--listall",
    ] {
        let (st, out, _) = d.whack(&format!("--json {form}"));
        assert_eq!(st, 0, "{form}");
        let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert!(doc.is_object(), "{form}: {out}");
    }
}

#[test]
fn dns_host_names_are_resolved() {
    let d = Daemon::start();
    let (st, out, _) = d.whack("--name byname --host localhost --to --host 203.0.113.2");
    assert_eq!(st, 0, "{out}");
    assert!(
        out.contains("\"byname\": left host localhost resolved to 127.0.0.1"),
        "{out}"
    );
    let (_, out, _) = d.whack("--connectionstatus");
    assert!(
        out.contains("\"byname\":   host: oriented; local: 127.0.0.1; remote: 203.0.113.2;"),
        "{out}"
    );
    let (st, out, _) = d.whack("--ddns");
    assert_eq!(st, 0);
    assert!(
        out.contains("no connections with unresolved DNS host names"),
        "{out}"
    );
}

#[test]
fn local_problems_exit_1_without_contacting_pluto() {
    // No daemon at all: a usage error must still be 1 with the usage message, not a
    // connection failure.
    let dir = tempfile::tempdir().unwrap();
    let mut out = Vec::new();
    let mut err = Vec::new();
    let st = whack::run::run(
        ["--rundir", dir.path().to_str().unwrap(), "--frobnicate"],
        &mut out,
        &mut err,
    );
    assert_eq!(st, 1);
    let err = String::from_utf8(err).unwrap();
    assert_eq!(err, "whack: unrecognized option '--frobnicate'\n");
}

#[test]
fn second_pluto_on_same_rundir_refuses_and_sigterm_stops() {
    let mut d = Daemon::start();
    let pid = d.child.id();
    // In the foreground and forking: both refuse with the lock's holder, exit 10
    // (libreswan's lock-file failure), and leave the first pluto's files alone.
    for fork in [false, true] {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_pluto"));
        if !fork {
            cmd.args(["--nofork", "--stderrlog"]);
        }
        let out = cmd
            .arg("--rundir")
            .arg(d.rundir())
            .arg("--ctlsocket")
            .arg(d.rundir().join("other.ctl"))
            .arg("--secretsfile")
            .arg(d.rundir().join("none"))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(10), "fork={fork}: {err}");
        assert!(
            err.contains(&format!("pluto is already running (pid {pid})")),
            "fork={fork}: {err}"
        );
        assert!(err.contains("lock file \""), "{err}");
        assert!(!d.rundir().join("other.ctl").exists());
    }
    assert!(d.ctl().exists(), "the first pluto's socket must survive");
    assert_eq!(
        std::fs::read_to_string(d.pidfile()).unwrap().trim(),
        pid.to_string()
    );
    // SAFETY: sending SIGTERM to our own child.
    unsafe { libc::kill(pid as i32, libc::SIGTERM) };
    assert!(d.wait_exit().success());
    assert!(!d.ctl().exists() && !d.pidfile().exists());
}

/// Runs pluto to a failed start: (exit code, stderr). Nothing may be left behind.
fn failed_start(dir: &Path, fork: bool, args: &[&std::ffi::OsStr]) -> (Option<i32>, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pluto"));
    if !fork {
        cmd.arg("--nofork");
    }
    let out = cmd
        .arg("--rundir")
        .arg(dir)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        !dir.join("pluto.ctl").exists(),
        "control socket left behind"
    );
    assert!(!dir.join("pluto.pid").exists(), "pid file left behind");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_logfile_fails_start_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("no/such/dir/pluto.log");
    let none = dir.path().join("none");
    for fork in [false, true] {
        let (code, err) = failed_start(
            dir.path(),
            fork,
            &[
                "--logfile".as_ref(),
                log.as_os_str(),
                "--secretsfile".as_ref(),
                none.as_os_str(),
            ],
        );
        assert_eq!(code, Some(1), "fork={fork}: {err}");
        assert!(
            err.starts_with(&format!(
                "pluto: cannot open log file \"{}\": ",
                log.display()
            )),
            "fork={fork}: {err}"
        );
        assert!(err.contains("No such file or directory"), "{err}");
    }
}

#[test]
fn unreadable_secrets_file_fails_start() {
    let dir = tempfile::tempdir().unwrap();
    // A directory cannot be read as a file, even by root.
    let secrets = dir.path().join("secrets.d");
    std::fs::create_dir(&secrets).unwrap();
    let log = dir.path().join("pluto.log");
    for fork in [false, true] {
        let (code, err) = failed_start(
            dir.path(),
            fork,
            &[
                "--secretsfile".as_ref(),
                secrets.as_os_str(),
                "--logfile".as_ref(),
                log.as_os_str(),
            ],
        );
        assert_eq!(code, Some(1), "fork={fork}: {err}");
        assert!(
            err.contains(&format!("{}: cannot read: ", secrets.display())),
            "fork={fork}: {err}"
        );
        assert!(err.contains("give another --secretsfile"), "{err}");
    }
    // The reason is in the log too.
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("cannot read"), "{text}");
    // A missing secrets file is not fatal (libreswan warns and runs).
    let d = Daemon::start_with(|dir| {
        vec![
            "--secretsfile".into(),
            dir.join("missing.secrets").display().to_string(),
        ]
    });
    assert_eq!(d.whack("--status").0, 0);
}

#[test]
fn logfile_and_stderrlog_both_get_the_log_and_sighup_reopens_the_file() {
    let mut d = Daemon::start_with(|dir| {
        vec![
            "--logfile".into(),
            dir.join("pluto.log").display().to_string(),
        ]
    });
    let log = d.rundir().join("pluto.log");
    let rotated = d.rundir().join("pluto.log.1");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("Starting Pluto (pluto-rs Version"), "{text}");
    // Rotation: rename, SIGHUP, and new lines go to a new file at the old path.
    std::fs::rename(&log, &rotated).unwrap();
    // SAFETY: signalling our own child.
    unsafe { libc::kill(d.child.id() as i32, libc::SIGHUP) };
    let deadline = Instant::now() + Duration::from_secs(10);
    while !log.exists() {
        assert!(
            Instant::now() < deadline,
            "SIGHUP did not reopen the log file"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let (st, out, _) = d.whack("--name rotated --host 127.0.0.1 --to --host 203.0.113.9");
    assert_eq!(st, 0, "{out}");
    assert_eq!(d.whack("--shutdown").0, 0);
    assert!(d.wait_exit().success());
    let new = std::fs::read_to_string(&log).unwrap();
    let old = std::fs::read_to_string(&rotated).unwrap();
    assert!(new.contains("SIGHUP received: log file reopened"), "{new}");
    assert!(new.contains("added IKEv2 connection \"rotated\""), "{new}");
    assert!(new.contains("pluto shut down"), "{new}");
    assert!(!old.contains("rotated"), "{old}");
    assert!(old.contains("Starting Pluto"), "{old}");
    // --stderrlog with --logfile: stderr has every line too.
    let mut err = String::new();
    std::io::Read::read_to_string(d.child.stderr.as_mut().unwrap(), &mut err).unwrap();
    for want in [
        "Starting Pluto",
        "log file reopened",
        "added IKEv2 connection \"rotated\"",
        "pluto shut down",
    ] {
        assert!(err.contains(want), "stderr lacks {want}: {err}");
    }
}

#[test]
fn pluto_command_line() {
    let out = Command::new(env!("CARGO_BIN_EXE_pluto"))
        .arg("--bogus")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unrecognized option '--bogus'"));
    let out = Command::new(env!("CARGO_BIN_EXE_pluto"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("--nofork"));
}

#[test]
fn config_conns_are_loaded_at_start() {
    let d = Daemon::start_with(|dir| {
        let conf = dir.join("ipsec.conf");
        std::fs::write(
            &conf,
            "config setup\n\nconn %default\n\tauthby=secret\n\n\
             conn fromconf\n\tleft=127.0.0.1\n\tleftid=@west\n\tright=203.0.113.2\n\trightid=@east\n\tauto=add\n\n\
             conn skipped\n\tleft=127.0.0.1\n\tright=203.0.113.3\n\tauto=ignore\n\n\
             conn broken\n\tleft=127.0.0.1\n\tright=203.0.113.4\n\trekey=maybe\n\tauto=add\n",
        )
        .unwrap();
        vec!["--config".into(), conf.display().to_string()]
    });
    let (st, out, _) = d.whack("--connectionstatus");
    assert_eq!(st, 0);
    assert!(
        out.contains("\"fromconf\": 127.0.0.1[@west]...203.0.113.2[@east];"),
        "{out}"
    );
    assert!(!out.contains("skipped"), "{out}");
    // One bad conn costs only itself (libreswan's addconn adds each on its own).
    assert!(!out.contains("broken"), "{out}");
    // It is a normal connection: a whack add of the same name is a duplicate.
    let (st, _, _) = d.whack("--name fromconf --host 127.0.0.1 --to --host 203.0.113.9");
    assert_eq!(st, rc::DUPNAME as u8);
}

#[test]
fn config_setup_sets_plutos_options() {
    let d = Daemon::start_with(|dir| {
        let conf = dir.join("ipsec.conf");
        std::fs::write(
            &conf,
            format!(
                "config setup\n\tuniqueids=yes\n\tddos-mode=busy\n\tddos-ike-threshold=1234\n\
                 \tlogfile={}\n\tlogtime=no\n\tmyvendorid=hello\n\tdumpdir={}\n",
                dir.join("pluto.log").display(),
                dir.join("core").display()
            ),
        )
        .unwrap();
        std::fs::create_dir(dir.join("core")).unwrap();
        vec!["--config".into(), conf.display().to_string()]
    });
    let (_, out, _) = d.whack("--status");
    assert!(out.contains("uniqueids=yes"), "{out}");
    assert!(out.contains("ddos-mode=busy"), "{out}");
    let (_, out, _) = d.whack("--globalstatus");
    assert!(
        out.contains("config.setup.ike.ddos_threshold=1234"),
        "{out}"
    );
    // The log went to logfile=, without timestamps, and names the ignored key.
    let log = std::fs::read_to_string(d.rundir().join("pluto.log")).unwrap();
    assert!(
        log.contains("config setup myvendorid=hello: not supported yet; ignored"),
        "{log}"
    );
    let first = log.lines().next().unwrap_or_default();
    assert!(
        !first.starts_with(|c: char| c.is_ascii_digit()),
        "logtime=no: {first}"
    );
    // dumpdir= (--coredir): pluto works there, and still reads its files.
    let cwd = std::fs::read_link(format!("/proc/{}/cwd", d.child.id())).unwrap();
    assert_eq!(cwd, d.rundir().join("core"));
    let (st, _, _) = d.whack("--rereadsecrets");
    assert_eq!(st, 0);
}

#[test]
fn ipsec_start_runs_pluto_from_ipsec_conf_and_ipsec_stop_ends_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let probe = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = probe.local_addr().unwrap().port();
    drop(probe);
    std::fs::write(
        d.join("ipsec.secrets"),
        "@a @b : PSK \"not a real secret\"\n",
    )
    .unwrap();
    let conf = d.join("ipsec.conf");
    std::fs::write(
        &conf,
        format!(
            "config setup\n\tikeport={port}\n\tsecretsfile={}\n\tlogfile={}\n\n\
             conn %default\n\tauthby=secret\n\n\
             conn boot\n\tleft=127.0.0.1\n\tright=203.0.113.7\n\tauto=add\n",
            d.join("ipsec.secrets").display(),
            d.join("pluto.log").display()
        ),
    )
    .unwrap();
    let rundir = d.display().to_string();
    let g = whack::ipsec::Global {
        ctl: vec!["--rundir".into(), rundir.clone()],
        config: Some(conf.clone()),
    };
    /// Stops a pluto left running by a failed assertion.
    struct Stop(String);
    impl Drop for Stop {
        fn drop(&mut self) {
            let _ = whack::run::run(
                ["--rundir", &self.0, "--shutdown"],
                &mut Vec::new(),
                &mut Vec::new(),
            );
        }
    }
    let _stop = Stop(rundir.clone());
    let ipsec = |line: &str| {
        let mut args = vec!["--rundir".to_string(), rundir.clone()];
        args.extend(line.split_whitespace().map(String::from));
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let st = whack::ipsec::run(args, &mut out, &mut err);
        (
            st,
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
        )
    };

    // pluto forks once ready, so start returns with it serving whack.
    let mut err = Vec::new();
    let st = whack::ipsec::start_pluto(&g, Path::new(env!("CARGO_BIN_EXE_pluto")), &mut err);
    assert_eq!(st, 0, "{}", String::from_utf8_lossy(&err));
    let (st, out, _) = ipsec("connectionstatus");
    assert_eq!(st, 0);
    assert!(out.contains("\"boot\": 127.0.0.1...203.0.113.7;"), "{out}");
    let (_, out, _) = ipsec("status");
    assert!(
        out.contains(&format!("ikeport={port}")),
        "config setup ikeport=: {out}"
    );

    let mut err = Vec::new();
    let st = whack::ipsec::start_pluto(&g, Path::new(env!("CARGO_BIN_EXE_pluto")), &mut err);
    assert_eq!(st, 1);
    assert!(String::from_utf8_lossy(&err).contains("already running"));

    let (st, _, err) = ipsec("stop");
    assert_eq!(st, 0, "{err}");
    assert!(
        !d.join("pluto.pid").exists(),
        "pluto is gone when stop returns"
    );
    let (st, _, err) = ipsec("stop");
    assert_eq!(st, 0);
    assert!(err.contains("not running"), "{err}");
}

#[test]
fn systemd_hears_ready_watchdog_and_stopping() {
    use std::os::unix::net::UnixDatagram;
    let sock = std::sync::OnceLock::new();
    let d = Daemon::start_with_env(|dir| {
        let path = dir.join("notify");
        let _ = sock.set(UnixDatagram::bind(&path).unwrap());
        let env = vec![
            ("NOTIFY_SOCKET".to_string(), path.display().to_string()),
            // WatchdogSec=0.2: a WATCHDOG=1 every 100 ms.
            ("WATCHDOG_USEC".to_string(), "200000".to_string()),
        ];
        (Vec::new(), env)
    });
    let sock = sock.get().unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let next = || {
        let mut buf = [0u8; 512];
        let n = sock.recv(&mut buf).expect("a notification");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    let ready = next();
    assert!(ready.starts_with("READY=1\n"), "{ready}");
    assert!(
        ready.contains(&format!("MAINPID={}\n", d.child.id())),
        "{ready}"
    );
    assert!(ready.contains("STATUS=serving whack on "), "{ready}");
    for _ in 0..3 {
        assert_eq!(next(), "WATCHDOG=1\n");
    }
    let (st, _, _) = d.whack("--shutdown");
    assert_eq!(st, 0);
    let stopping = std::iter::repeat_with(next)
        .find(|m| m != "WATCHDOG=1\n")
        .unwrap();
    assert!(stopping.starts_with("STOPPING=1\n"), "{stopping}");
}

#[test]
fn the_ipsec_command_adds_replaces_and_deletes_conns_from_ipsec_conf() {
    let d = Daemon::start();
    let conf = d.rundir().join("ipsec.conf");
    std::fs::write(
        &conf,
        "conn %default\n\tauthby=secret\n\n\
         conn one\n\tleft=127.0.0.1\n\tright=203.0.113.2\n\tauto=add\n\n\
         conn two\n\tleft=127.0.0.1\n\tright=203.0.113.3\n\tauto=add\n\n\
         conn later\n\tleft=127.0.0.1\n\tright=203.0.113.4\n\n\
         conn broken\n\tleft=127.0.0.1\n\tright=203.0.113.5\n\trekey=maybe\n\tauto=add\n",
    )
    .unwrap();
    let c = conf.display().to_string();

    // `ipsec add NAME`: the conn as ipsec.conf describes it, whack's reply.
    let (st, out, err) = d.ipsec(&format!("--config {c} add later"));
    assert_eq!(st, 0, "{out}{err}");
    assert!(out.contains("added IKEv2 connection \"later\""), "{out}");
    let (_, out, _) = d.ipsec("connectionstatus");
    assert!(out.contains("\"later\": 127.0.0.1...203.0.113.4;"), "{out}");

    // `addconn --autoall`: every auto=add conn, the bad one reported, not added.
    let (st, out, err) = d.ipsec(&format!("addconn --config {c} --autoall"));
    assert_eq!(st, 1, "the broken conn makes it fail: {out}{err}");
    assert!(err.contains("conn \"broken\": rekey=maybe"), "{err}");
    let (_, out, _) = d.ipsec("connectionstatus");
    for name in ["one", "two", "later"] {
        assert!(out.contains(&format!("\"{name}\": ")), "{name}: {out}");
    }
    assert!(!out.contains("broken"), "{out}");
    // `ipsec metrics`: the same counters in Prometheus' text format.
    let (st, out, err) = d.ipsec("metrics");
    assert_eq!(st, 0, "{err}");
    assert!(
        out.contains("# TYPE pluto_current_connections gauge\npluto_current_connections 3\n"),
        "{out}"
    );
    assert!(
        out.contains("# TYPE pluto_child_sa_in_bytes counter"),
        "{out}"
    );

    // `ipsec replace`: the loaded conn goes, the file's comes back.
    std::fs::write(
        &conf,
        std::fs::read_to_string(&conf)
            .unwrap()
            .replace("203.0.113.4", "203.0.113.44"),
    )
    .unwrap();
    let (st, out, err) = d.ipsec(&format!("--config {c} replace later"));
    assert_eq!(st, 0, "{out}{err}");
    let (_, out, _) = d.ipsec("connectionstatus");
    assert!(
        out.contains("\"later\": 127.0.0.1...203.0.113.44;"),
        "{out}"
    );

    // libreswan 4's spelling, and a whack form under its ipsec name.
    let (st, out, err) = d.ipsec("auto --delete two");
    assert_eq!(st, 0, "{out}{err}");
    let (_, out, _) = d.ipsec("connectionstatus");
    assert!(!out.contains("\"two\": "), "{out}");
    let (st, out, _) = d.ipsec("globalstatus");
    assert_eq!(st, 0);
    assert!(out.contains("current.states.all="), "{out}");

    // `ipsec stop`: pluto shuts down and is gone when the command returns.
    let (st, _, err) = d.ipsec("stop");
    assert_eq!(st, 0, "{err}");
    assert!(!d.ctl().exists() || std::os::unix::net::UnixStream::connect(d.ctl()).is_err());
}

#[test]
fn without_nofork_pluto_forks_once_ready() {
    let dir = tempfile::tempdir().unwrap();
    // The forked daemon keeps stderr for --stderrlog (here a file, so that reading
    // it does not wait for the daemon to exit).
    let stderr = dir.path().join("stderr");
    let mut child = Command::new(env!("CARGO_BIN_EXE_pluto"))
        .arg("--rundir")
        .arg(dir.path())
        .arg("--secretsfile")
        .arg(dir.path().join("none"))
        .arg("--logfile")
        .arg(dir.path().join("pluto.log"))
        .arg("--stderrlog")
        .stderr(std::fs::File::create(&stderr).unwrap())
        .spawn()
        .unwrap();
    let parent = child.id();
    let st = child.wait().unwrap();
    assert!(st.success(), "the parent exits 0 once the child is ready");
    let ctl = dir.path().join("pluto.ctl");
    let pidfile = dir.path().join("pluto.pid");
    assert!(ctl.exists() && pidfile.exists());
    let daemon: u32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_ne!(daemon, parent, "the pid file names the forked daemon");
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let args = ["--ctlsocket", ctl.to_str().unwrap(), "--shutdown"];
    assert_eq!(whack::run::run(args, &mut out, &mut err), 0);
    let deadline = Instant::now() + Duration::from_secs(10);
    while pidfile.exists() {
        assert!(Instant::now() < deadline, "forked pluto did not stop");
        std::thread::sleep(Duration::from_millis(20));
    }
    let log = std::fs::read_to_string(dir.path().join("pluto.log")).unwrap();
    assert!(log.contains("Starting Pluto (pluto-rs Version"), "{log}");
    assert!(log.contains("shutting down"), "{log}");
    let err = std::fs::read_to_string(&stderr).unwrap();
    assert!(err.contains("Starting Pluto (pluto-rs Version"), "{err}");
    assert!(err.contains("pluto shut down"), "{err}");
    let pid: u32 = log
        .split("pid:")
        .nth(1)
        .and_then(|t| t.split_whitespace().next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("{log}"));
    assert_eq!(pid, daemon);
}

/// GETs `path` (or sends `request` as it is) to pluto's metrics endpoint with a
/// plain TcpStream: the whole answer.
fn http(addr: std::net::SocketAddr, request: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn metrics_listen_serves_the_ipsec_metrics_text_on_loopback() {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = probe.local_addr().unwrap();
    drop(probe);
    let d = Daemon::start_with(|_| vec!["--metrics-listen".into(), addr.to_string()]);
    let (st, _, err) = d.whack(WEST_EAST);
    assert_eq!(st, 0, "{err}");
    let ok = http(addr, "GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n");
    let (head, body) = ok.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(
        head.contains("\r\nContent-Type: text/plain; version=0.0.4\r\n"),
        "{head}"
    );
    for line in [
        "pluto_current_connections 1\n",
        "pluto_total_ike_ikev2_established 0\n",
        "# TYPE pluto_connection_ike_sas gauge\n",
        "pluto_connection_ike_sas{connection=\"west-east\"} 0\n",
        "pluto_connection_child_sas{connection=\"west-east\"} 0\n",
        "pluto_connection_ike_rekeys_total{connection=\"west-east\"} 0\n",
        "# TYPE pluto_connection_failures_total counter\n",
    ] {
        assert!(body.contains(line), "{line}---\n{body}");
    }
    // The same text as `ipsec metrics` (one formatter, the same documents).
    let (st, text, err) = d.ipsec("metrics");
    assert_eq!(st, 0, "{err}");
    assert_eq!(text, body);
    // The JSON the text is made from.
    let (st, json, err) = d.whack("--globalstatus --json");
    assert_eq!(st, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let c = &v["globalstatus"]["connections"]["west-east"];
    assert_eq!(c["ike_sas"], 0, "{v}");
    assert!(c["failures"].is_object(), "{v}");
    // The text form is libreswan's, without the connections.
    let (_, text, _) = d.whack("--globalstatus");
    assert!(
        !text.contains("west-east")
            && !text.contains('{')
            && text.contains("current.connections=1"),
        "{text}"
    );
    // Other paths and methods; an HTTP/1.0 request is answered too.
    assert!(http(addr, "GET / HTTP/1.0\r\n\r\n").starts_with("HTTP/1.1 404 "));
    assert!(http(addr, "POST /metrics HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 405 "));
    assert!(http(addr, "GET /metrics HTTP/1.0\n\n").starts_with("HTTP/1.1 200 OK"));
    assert!(http(addr, "nonsense\r\n\r\n").starts_with("HTTP/1.1 400 "));
    // A client that connects and sends nothing does not hold pluto: whack and
    // other scrapes are answered meanwhile.
    let idle = std::net::TcpStream::connect(addr).unwrap();
    assert_eq!(d.whack("--globalstatus").0, 0);
    assert!(http(addr, "GET /metrics HTTP/1.0\r\n\r\n").starts_with("HTTP/1.1 200 OK"));
    drop(idle);
}

#[test]
fn metrics_listen_off_loopback_or_on_a_taken_port_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let none = dir.path().join("none");
    let (code, err) = failed_start(
        dir.path(),
        false,
        &[
            "--metrics-listen".as_ref(),
            "192.0.2.1:9100".as_ref(),
            "--secretsfile".as_ref(),
            none.as_os_str(),
        ],
    );
    assert_eq!(code, Some(1), "{err}");
    assert_eq!(
        err.trim_end(),
        "pluto: --metrics-listen: 192.0.2.1 is not a loopback address (127.0.0.0/8 or ::1); the metrics name connections and peers, so pluto serves them to this host only"
    );
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    for fork in [false, true] {
        let (code, err) = failed_start(
            dir.path(),
            fork,
            &[
                "--metrics-listen".as_ref(),
                addr.as_ref(),
                "--secretsfile".as_ref(),
                none.as_os_str(),
            ],
        );
        assert_eq!(code, Some(2), "fork={fork}: {err}");
        // Forked: the parent prints the child's reason; in the foreground it is
        // the log line on stderr.
        let says = format!("--metrics-listen: cannot listen on {addr}: Address already in use");
        assert!(err.contains(&says), "fork={fork}: {err}");
        assert_eq!(err.lines().count(), 1, "fork={fork}: {err}");
    }
}
