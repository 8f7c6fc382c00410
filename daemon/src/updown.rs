//! The updown command: run on prepare/route/unroute/up/down of a connection with the
//! `PLUTO_*` environment ipsec_whack(8) describes (plus `PLUTO_METRIC`, `NFLOG`,
//! `CONNMARK_IN`/`CONNMARK_OUT` from `--metric`, `--nflog-group` and `--conn-mark`,
//! named as libreswan names them), its output logged and its exit status checked.
//! A run that takes longer than [`TIMEOUT`] is killed (its whole process group) and
//! reported as failed, with whatever it printed.
//!
//! A connection's `updown=` (`--updown`) names the command; libreswan's default
//! `ipsec _updown` means pluto-rs's own script (daemon/scripts/pluto-updown), found
//! at run time by [`default_script`]; `%disabled` runs nothing.

use std::future::Future;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use conn::addr::Subnet;
use conn::connection::DEFAULT_UPDOWN;

/// The script shipped with pluto-rs, embedded so a copy can always be written.
pub const SCRIPT: &str = include_str!("../scripts/pluto-updown");

/// How long one run of the updown command may take before it is killed.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// After the kill, how long the output pipes may stay open (a process that left the
/// command's process group) before pluto stops waiting for them.
const KILL_GRACE: Duration = Duration::from_secs(2);

/// The file name the default script is looked for under.
pub const SCRIPT_NAME: &str = "pluto-updown";

/// What happens, as libreswan's verb stem.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    /// Before routing: make sure routes can be added.
    Prepare,
    /// Trap policies installed.
    Route,
    /// Trap policies removed.
    Unroute,
    /// A Child SA is up.
    Up,
    /// A Child SA went down.
    Down,
}

impl Verb {
    fn stem(self) -> &'static str {
        match self {
            Verb::Prepare => "prepare",
            Verb::Route => "route",
            Verb::Unroute => "unroute",
            Verb::Up => "up",
            Verb::Down => "down",
        }
    }
}

/// Everything the environment is built from: one pair of clients of a connection.
#[derive(Debug, Clone)]
pub struct Context {
    /// The connection name.
    pub connection: String,
    /// Tunnel (true) or transport.
    pub tunnel: bool,
    /// Our host address.
    pub me: IpAddr,
    /// Our ID, libreswan's text form.
    pub my_id: String,
    /// Our client (subnet, or our host as /32).
    pub my_client: Subnet,
    /// Our protocol (0 = any) and port (0 = any).
    pub my_protocol: u8,
    /// Our port.
    pub my_port: u16,
    /// Source address for routes to the peer's clients.
    pub my_sourceip: Option<IpAddr>,
    /// The peer's host address.
    pub peer: IpAddr,
    /// The peer's ID.
    pub peer_id: String,
    /// The peer's client.
    pub peer_client: Subnet,
    /// The peer's protocol.
    pub peer_protocol: u8,
    /// The peer's port.
    pub peer_port: u16,
    /// The peer's CA (empty for PSK).
    pub peer_ca: String,
    /// The interface facing the peer.
    pub interface: String,
    /// The next hop to the peer (a gateway, or the peer itself).
    pub next_hop: IpAddr,
    /// The connection's reqid.
    pub reqid: u32,
    /// `ESP`.
    pub sa_type: &'static str,
    /// Policy flags as `--status` prints them.
    pub conn_policy: String,
    /// Bytes in/out when going down.
    pub bytes: Option<(u64, u64)>,
    /// `--metric` (libreswan passes `PLUTO_METRIC` unless it is 0).
    pub metric: u32,
    /// `--nflog-group` (`NFLOG`).
    pub nflog_group: Option<u16>,
    /// `--conn-mark` value and mask (`CONNMARK_IN`, `CONNMARK_OUT`).
    pub conn_mark: Option<(u32, u32)>,
}

fn mask(s: &Subnet) -> String {
    let p = u32::from(s.prefix_len());
    if s.is_v6() {
        let m: u128 = if p == 0 { 0 } else { u128::MAX << (128 - p) };
        std::net::Ipv6Addr::from(m).to_string()
    } else {
        let m: u32 = if p == 0 { 0 } else { u32::MAX << (32 - p) };
        std::net::Ipv4Addr::from(m).to_string()
    }
}

/// The manual's verb: stem, then `-host` when our client is just our host and
/// `-client` otherwise (the family is in `PLUTO_CONN_ADDRFAMILY`).
pub fn verb(v: Verb, ctx: &Context) -> String {
    let host = ctx.my_client.is_host() && ctx.my_client.addr() == ctx.me;
    let which = if host { "host" } else { "client" };
    format!("{}-{which}", v.stem())
}

/// The environment, in libreswan's names.
pub fn env(v: Verb, ctx: &Context) -> Vec<(String, String)> {
    let mut e: Vec<(&str, String)> = vec![
        ("PLUTO_VERSION", "2.0".into()),
        ("PLUTO_VERB", verb(v, ctx)),
        ("PLUTO_CONNECTION", ctx.connection.clone()),
        (
            "PLUTO_CONNECTION_TYPE",
            if ctx.tunnel { "tunnel" } else { "transport" }.into(),
        ),
        (
            "PLUTO_MODE",
            if ctx.tunnel { "tunnel" } else { "transport" }.into(),
        ),
        ("PLUTO_CONN_POLICY", ctx.conn_policy.clone()),
        (
            "PLUTO_CONN_ADDRFAMILY",
            if ctx.me.is_ipv6() { "ipv6" } else { "ipv4" }.into(),
        ),
        ("PLUTO_NEXT_HOP", ctx.next_hop.to_string()),
        ("PLUTO_INTERFACE", ctx.interface.clone()),
        ("PLUTO_REQID", ctx.reqid.to_string()),
        ("PLUTO_SA_REQID", ctx.reqid.to_string()),
        ("PLUTO_SA_TYPE", ctx.sa_type.into()),
        ("PLUTO_ME", ctx.me.to_string()),
        ("PLUTO_MY_ID", ctx.my_id.clone()),
        ("PLUTO_MY_CLIENT", ctx.my_client.to_string()),
        ("PLUTO_MY_CLIENT_NET", ctx.my_client.addr().to_string()),
        ("PLUTO_MY_CLIENT_MASK", mask(&ctx.my_client)),
        ("PLUTO_MY_PORT", ctx.my_port.to_string()),
        ("PLUTO_MY_PROTOCOL", ctx.my_protocol.to_string()),
        ("PLUTO_PEER", ctx.peer.to_string()),
        ("PLUTO_PEER_ID", ctx.peer_id.clone()),
        ("PLUTO_PEER_CLIENT", ctx.peer_client.to_string()),
        ("PLUTO_PEER_CLIENT_NET", ctx.peer_client.addr().to_string()),
        ("PLUTO_PEER_CLIENT_MASK", mask(&ctx.peer_client)),
        ("PLUTO_PEER_PORT", ctx.peer_port.to_string()),
        ("PLUTO_PEER_PROTOCOL", ctx.peer_protocol.to_string()),
        ("PLUTO_PEER_CA", ctx.peer_ca.clone()),
        ("PLUTO_STACK", "xfrm".into()),
        ("PLUTO_IS_PEER_CISCO", "0".into()),
    ];
    if let Some(s) = ctx.my_sourceip {
        e.push(("PLUTO_MY_SOURCEIP", s.to_string()));
    }
    if let Some((i, o)) = ctx.bytes {
        e.push(("PLUTO_INBYTES", i.to_string()));
        e.push(("PLUTO_OUTBYTES", o.to_string()));
    }
    if ctx.metric != 0 {
        e.push(("PLUTO_METRIC", ctx.metric.to_string()));
    }
    if let Some(g) = ctx.nflog_group.filter(|g| *g != 0) {
        e.push(("NFLOG", g.to_string()));
    }
    if let Some((value, mask)) = ctx.conn_mark.filter(|(v, _)| *v != 0) {
        // libreswan's "%u/%#08x": the value in decimal, the mask in hex.
        let m = format!("{value}/{mask:#08x}");
        e.push(("CONNMARK_IN", m.clone()));
        e.push(("CONNMARK_OUT", m));
    }
    e.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// Where pluto-rs's own script is: `--updown-script` when given; else
/// `pluto-updown` next to the pluto binary, or in `../share/pluto-rs/` from it (an
/// installed layout); else a copy of the embedded script written into the run
/// directory.
pub fn default_script(explicit: Option<&Path>, rundir: &Path) -> std::io::Result<PathBuf> {
    if let Some(p) = explicit {
        return Ok(p.to_path_buf());
    }
    if let Ok(exe) = std::env::current_exe() {
        if let Some(dir) = exe.parent() {
            for cand in [
                dir.join(SCRIPT_NAME),
                dir.join("../share/pluto-rs").join(SCRIPT_NAME),
            ] {
                if cand.is_file() {
                    return Ok(cand);
                }
            }
        }
    }
    use std::os::unix::fs::PermissionsExt;
    let path = rundir.join(SCRIPT_NAME);
    std::fs::write(&path, SCRIPT)?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
    Ok(path)
}

/// The command to run for a connection's `updown=` value, `None` for none.
pub fn command(updown: Option<&str>, default: &Path) -> Option<String> {
    match updown {
        None => None,
        Some(u) if u.trim().is_empty() || u.trim() == "%disabled" => None,
        Some(u) if u.trim() == DEFAULT_UPDOWN => Some(default.display().to_string()),
        Some(u) => Some(u.to_string()),
    }
}

/// Why a run failed. The messages carry what the command printed.
#[derive(Debug, thiserror::Error)]
pub enum UpdownError {
    /// The shell could not be started.
    #[error("cannot run updown command \"{cmd}\": {source}")]
    Spawn {
        /// The command.
        cmd: String,
        /// Why.
        source: std::io::Error,
    },
    /// It exited non-zero (or was killed by a signal).
    #[error(
        "{verb}: updown command \"{cmd}\" {status}; output: {}",
        joined(output)
    )]
    Failed {
        /// The verb.
        verb: String,
        /// The command.
        cmd: String,
        /// How it ended, as a phrase ("exited with status 3").
        status: String,
        /// Its stdout then stderr lines.
        output: Vec<String>,
    },
    /// It ran longer than its limit and was killed.
    #[error("{verb}: updown command \"{cmd}\" did not finish within {}s and was killed; output: {}", limit.as_secs(), joined(output))]
    Timeout {
        /// The verb.
        verb: String,
        /// The command.
        cmd: String,
        /// The limit.
        limit: Duration,
        /// What it printed until then.
        output: Vec<String>,
    },
}

fn joined(lines: &[String]) -> String {
    if lines.is_empty() {
        "(none)".into()
    } else {
        lines.join(" / ")
    }
}

fn ended(st: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (st.code(), st.signal()) {
        (Some(c), _) => format!("exited with status {c}"),
        (None, Some(s)) => format!("was killed by signal {s}"),
        (None, None) => format!("ended with {st}"),
    }
}

/// Runs `cmd` through `/bin/sh -c` with the environment, killed after [`TIMEOUT`].
/// On success each output line is logged as libreswan does
/// (`"west-east": updown: ...`); on failure the lines are in the error.
pub async fn run(cmd: &str, v: Verb, ctx: &Context) -> Result<(), UpdownError> {
    run_until(cmd, v, ctx, tokio::time::sleep(TIMEOUT), TIMEOUT).await
}

/// The process group of a running updown command, killed when the run ends
/// without the command having been reaped (time out, or the run dropped).
struct GroupKill(Option<libc::pid_t>);

impl GroupKill {
    fn kill(&mut self) {
        if let Some(pid) = self.0.take() {
            // SAFETY: signalling the process group we created for the command,
            // whose leader has not been reaped yet (so the id is still ours).
            unsafe { libc::kill(-pid, libc::SIGKILL) };
        }
    }
}

impl Drop for GroupKill {
    fn drop(&mut self) {
        self.kill();
    }
}

/// [`run`] with the deadline given as a future (`limit` is what the error reports).
/// At the deadline the command's whole process group is killed.
pub async fn run_until(
    cmd: &str,
    v: Verb,
    ctx: &Context,
    deadline: impl Future<Output = ()>,
    limit: Duration,
) -> Result<(), UpdownError> {
    use tokio::io::AsyncReadExt;
    let vars = env(v, ctx);
    let verb = verb(v, ctx);
    tracing::debug!("\"{}\": running updown {verb}: {cmd}", ctx.connection);
    let mut child = tokio::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(cmd)
        .envs(vars)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        // Its own process group, so a timeout kills what it started too.
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|source| UpdownError::Spawn {
            cmd: cmd.to_string(),
            source,
        })?;
    let pid = child.id();
    // Cancelled (a shutdown out of time drops the run): the group goes too, not
    // only the shell that kill_on_drop reaches.
    let mut group = GroupKill(pid.and_then(|p| libc::pid_t::try_from(p).ok()));
    let (mut so, mut se) = (child.stdout.take(), child.stderr.take());
    let work = async {
        let (mut o, mut e) = (Vec::new(), Vec::new());
        let read_o = async {
            if let Some(p) = so.as_mut() {
                let _ = p.read_to_end(&mut o).await;
            }
        };
        let read_e = async {
            if let Some(p) = se.as_mut() {
                let _ = p.read_to_end(&mut e).await;
            }
        };
        tokio::join!(read_o, read_e);
        let st = child.wait().await;
        (o, e, st)
    };
    tokio::pin!(work);
    let lines = |o: &[u8], e: &[u8]| -> Vec<String> {
        String::from_utf8_lossy(o)
            .lines()
            .chain(String::from_utf8_lossy(e).lines())
            .map(str::to_string)
            .collect()
    };
    let finished = tokio::select! {
        r = &mut work => Some(r),
        () = deadline => None,
    };
    let Some((o, e, st)) = finished else {
        group.kill();
        let output = match tokio::time::timeout(KILL_GRACE, &mut work).await {
            Ok((o, e, _)) => lines(&o, &e),
            Err(_) => vec!["(output pipes still held open by a process outside its group)".into()],
        };
        return Err(UpdownError::Timeout {
            verb,
            cmd: cmd.to_string(),
            limit,
            output,
        });
    };
    // Reaped: its group id may be reused from here on.
    group.0 = None;
    let output = lines(&o, &e);
    let st = st.map_err(|source| UpdownError::Spawn {
        cmd: cmd.to_string(),
        source,
    })?;
    if st.success() {
        for line in output {
            tracing::info!("\"{}\": updown: {line}", ctx.connection);
        }
        Ok(())
    } else {
        Err(UpdownError::Failed {
            verb,
            cmd: cmd.to_string(),
            status: ended(st),
            output,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> Context {
        Context {
            connection: "west-east".into(),
            tunnel: true,
            me: "192.0.2.1".parse().unwrap(),
            my_id: "@west".into(),
            my_client: Subnet::parse("198.51.100.0/24").unwrap(),
            my_protocol: 0,
            my_port: 0,
            my_sourceip: Some("198.51.100.1".parse().unwrap()),
            peer: "192.0.2.2".parse().unwrap(),
            peer_id: "@east".into(),
            peer_client: Subnet::parse("203.0.113.0/24").unwrap(),
            peer_protocol: 0,
            peer_port: 0,
            peer_ca: String::new(),
            interface: "eth0".into(),
            next_hop: "192.0.2.2".parse().unwrap(),
            reqid: 16388,
            sa_type: "ESP",
            conn_policy: "PSK+ENCRYPT+TUNNEL".into(),
            bytes: None,
            metric: 1,
            nflog_group: None,
            conn_mark: None,
        }
    }

    fn get<'a>(e: &'a [(String, String)], k: &str) -> &'a str {
        e.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("{k} missing"))
    }

    #[test]
    fn environment_has_the_manuals_variables() {
        let e = env(Verb::Up, &ctx());
        assert_eq!(get(&e, "PLUTO_VERB"), "up-client");
        assert_eq!(get(&e, "PLUTO_CONNECTION"), "west-east");
        assert_eq!(get(&e, "PLUTO_NEXT_HOP"), "192.0.2.2");
        assert_eq!(get(&e, "PLUTO_INTERFACE"), "eth0");
        assert_eq!(get(&e, "PLUTO_ME"), "192.0.2.1");
        assert_eq!(get(&e, "PLUTO_MY_CLIENT"), "198.51.100.0/24");
        assert_eq!(get(&e, "PLUTO_MY_CLIENT_NET"), "198.51.100.0");
        assert_eq!(get(&e, "PLUTO_MY_CLIENT_MASK"), "255.255.255.0");
        assert_eq!(get(&e, "PLUTO_PEER"), "192.0.2.2");
        assert_eq!(get(&e, "PLUTO_PEER_CLIENT"), "203.0.113.0/24");
        assert_eq!(get(&e, "PLUTO_PEER_CLIENT_MASK"), "255.255.255.0");
        assert_eq!(get(&e, "PLUTO_MY_PROTOCOL"), "0");
        assert_eq!(get(&e, "PLUTO_PEER_PORT"), "0");
        assert_eq!(get(&e, "PLUTO_MY_ID"), "@west");
        assert_eq!(get(&e, "PLUTO_PEER_ID"), "@east");
        assert_eq!(get(&e, "PLUTO_PEER_CA"), "");
        assert_eq!(get(&e, "PLUTO_REQID"), "16388");
        assert_eq!(get(&e, "PLUTO_SA_TYPE"), "ESP");
        assert_eq!(get(&e, "PLUTO_VERSION"), "2.0");
        assert_eq!(get(&e, "PLUTO_MY_SOURCEIP"), "198.51.100.1");
    }

    #[test]
    fn host_and_v6_verbs() {
        let mut c = ctx();
        c.my_client = Subnet::host(c.me);
        assert_eq!(verb(Verb::Down, &c), "down-host");
        c.me = "2001:db8::1".parse().unwrap();
        c.my_client = Subnet::parse("2001:db8:1::/48").unwrap();
        assert_eq!(verb(Verb::Route, &c), "route-client");
        let e = env(Verb::Prepare, &c);
        assert_eq!(get(&e, "PLUTO_MY_CLIENT_MASK"), "ffff:ffff:ffff::");
    }

    #[test]
    fn command_choice() {
        let d = Path::new("/x/pluto-updown");
        assert_eq!(command(None, d), None);
        assert_eq!(command(Some("%disabled"), d), None);
        assert_eq!(
            command(Some(DEFAULT_UPDOWN), d).as_deref(),
            Some("/x/pluto-updown")
        );
        assert_eq!(command(Some("/bin/true"), d).as_deref(), Some("/bin/true"));
    }

    #[tokio::test]
    async fn runs_and_checks_exit_status() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("env");
        let cmd = format!(
            "echo \"$PLUTO_VERB $PLUTO_PEER_CLIENT\" > {}",
            out.display()
        );
        run(&cmd, Verb::Up, &ctx()).await.unwrap();
        assert_eq!(
            std::fs::read_to_string(&out).unwrap(),
            "up-client 203.0.113.0/24\n"
        );
        let e = run("echo out; echo oops >&2; exit 3", Verb::Down, &ctx())
            .await
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "down-client: updown command \"echo out; echo oops >&2; exit 3\" exited with status 3; output: out / oops"
        );
        let e = run("kill -9 $$", Verb::Up, &ctx()).await.unwrap_err();
        assert!(
            e.to_string()
                .contains("was killed by signal 9; output: (none)"),
            "{e}"
        );
    }

    #[tokio::test]
    async fn a_command_past_its_deadline_is_killed_with_what_it_started() {
        let dir = tempfile::tempdir().unwrap();
        let started = dir.path().join("started");
        let bg = dir.path().join("bg.pid");
        // It prints, leaves a background child holding its stdout, then hangs.
        let cmd = format!(
            "echo partial; sleep 300 & echo $! > {}; touch {}; wait",
            bg.display(),
            started.display()
        );
        // The deadline is "the command is running" (no clock involved).
        let deadline = async {
            while !started.exists() {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
        };
        let e = run_until(&cmd, Verb::Up, &ctx(), deadline, TIMEOUT)
            .await
            .unwrap_err();
        assert!(matches!(e, UpdownError::Timeout { .. }), "{e:?}");
        assert!(
            e.to_string()
                .ends_with("did not finish within 30s and was killed; output: partial"),
            "{e}"
        );
        // The background sleep was in the group: it dies (gone, or a zombie
        // awaiting its new parent).
        let pid = std::fs::read_to_string(&bg).unwrap();
        let stat = format!("/proc/{}/stat", pid.trim());
        let gone = (0..500).any(|_| {
            let dead = match std::fs::read_to_string(&stat) {
                Ok(s) => s.rsplit(')').next().unwrap_or("").split_whitespace().next() == Some("Z"),
                Err(_) => true,
            };
            if !dead {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            dead
        });
        assert!(gone, "the background child survived the timeout");
    }

    #[tokio::test]
    async fn default_script_routes_with_the_connections_metric() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let script = default_script(None, dir.path()).unwrap();
        // A stand-in `ip` first on PATH records what the script asks of it.
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        let calls = dir.path().join("calls");
        std::fs::write(
            bin.join("ip"),
            format!("#!/bin/sh\necho \"$*\" >> {}\n", calls.display()),
        )
        .unwrap();
        std::fs::set_permissions(bin.join("ip"), std::fs::Permissions::from_mode(0o755)).unwrap();
        let cmd = format!("PATH={}:$PATH {}", bin.display(), script.display());
        let mut c = ctx();
        c.metric = 7;
        c.next_hop = "192.0.2.254".parse().unwrap();
        run(&cmd, Verb::Up, &c).await.unwrap();
        run(&cmd, Verb::Down, &c).await.unwrap();
        c.metric = 0;
        run(&cmd, Verb::Route, &c).await.unwrap();
        assert_eq!(
            std::fs::read_to_string(&calls).unwrap(),
            "route replace 203.0.113.0/24 via 192.0.2.254 dev eth0 src 198.51.100.1 metric 7\n\
             route delete 203.0.113.0/24 via 192.0.2.254 dev eth0 metric 7\n\
             route replace 203.0.113.0/24 via 192.0.2.254 dev eth0 src 198.51.100.1\n"
        );
    }

    #[test]
    fn metric_nflog_and_mark_reach_the_environment_as_libreswan_names_them() {
        let mut c = ctx();
        let e = env(Verb::Up, &c);
        assert_eq!(get(&e, "PLUTO_METRIC"), "1");
        assert!(!e
            .iter()
            .any(|(k, _)| k == "NFLOG" || k.starts_with("CONNMARK")));
        c.metric = 0;
        c.nflog_group = Some(13);
        c.conn_mark = Some((16, 0xff));
        let e = env(Verb::Up, &c);
        assert!(
            !e.iter().any(|(k, _)| k == "PLUTO_METRIC"),
            "0 is not passed"
        );
        assert_eq!(get(&e, "NFLOG"), "13");
        assert_eq!(get(&e, "CONNMARK_IN"), "16/0x0000ff");
        assert_eq!(get(&e, "CONNMARK_OUT"), "16/0x0000ff");
        c.conn_mark = Some((7, u32::MAX));
        assert_eq!(get(&env(Verb::Up, &c), "CONNMARK_IN"), "7/0xffffffff");
    }

    #[tokio::test]
    async fn default_script_ignores_host_to_host_transport_and_prepare() {
        let dir = tempfile::tempdir().unwrap();
        let p = default_script(None, dir.path()).unwrap();
        let cmd = p.display().to_string();
        // prepare-client: nothing to do.
        run(&cmd, Verb::Prepare, &ctx()).await.unwrap();
        // Peer client is the peer host: no route needed.
        let mut c = ctx();
        c.peer_client = Subnet::host(c.peer);
        run(&cmd, Verb::Up, &c).await.unwrap();
        // Transport mode: nothing either.
        let mut c = ctx();
        c.tunnel = false;
        run(&cmd, Verb::Up, &c).await.unwrap();
    }
}
