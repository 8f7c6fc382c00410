//! `cargo xtask bench conns`: how fast pluto-rs loads, adds and starts many
//! connections (issue 9, "Connections").
//!
//! It builds release `pluto` and `whack`, makes two network namespaces joined by a
//! veth pair (west 192.0.2.1 / 2001:db8::1, east 192.0.2.2 / 2001:db8::2; only
//! documentation addresses), and measures, each with a fresh pluto:
//!
//! - **load**: `pluto --config FILE` with N conns (`auto=add`), from the start of the
//!   process to its `loaded N connections` log line, and the RSS that costs per
//!   connection (RSS after loading minus the RSS of a pluto with no conns, over N);
//! - **adds**: N connection-form `whack` processes run one after another against a
//!   pluto with none, timed on the wall clock and in the daemon's CPU time (the first
//!   and last thousand apart, so a cost growing with the count shows);
//! - **start**: N `auto=start` conns on west towards an east pluto-rs holding the same
//!   N conns (`auto=add`), PSK; the host kernel has no ESP, so every Child SA install
//!   fails and what counts is the IKE SAs established (west's log) and how many
//!   IKE_SA_INIT requests west had to retransmit.
//!
//! The figures are benchmark output printed in a table beside issue 9's targets; they
//! are never asserted (the machine is shared and noisy). Needs root (namespaces).

use std::fmt::Write as _;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// What to run.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Opts {
    /// Connection counts of the load measurement.
    load: Vec<usize>,
    /// Number of whack adds (0: skip).
    adds: usize,
    /// Number of `auto=start` tunnels (0: skip).
    starts: usize,
    /// Keep the scratch directory (configs and logs).
    keep: bool,
}

impl Default for Opts {
    fn default() -> Self {
        Opts {
            load: vec![10_000, 100_000],
            adds: 10_000,
            starts: 10_000,
            keep: false,
        }
    }
}

fn count(s: &str) -> Result<usize, String> {
    s.replace('_', "")
        .parse()
        .map_err(|_| format!("not a count: {s:?}"))
}

fn parse_opts(args: &[String]) -> Result<Opts, String> {
    let mut o = Opts::default();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--quick" => {
                o.load = vec![1_000, 10_000];
                o.adds = 1_000;
                o.starts = 1_000;
            }
            "--load" => {
                o.load = value()?
                    .split(',')
                    .filter(|s| !s.is_empty() && *s != "0")
                    .map(count)
                    .collect::<Result<_, _>>()?
            }
            "--adds" => o.adds = count(value()?)?,
            "--starts" => o.starts = count(value()?)?,
            "--keep" => o.keep = true,
            other => return Err(format!("unknown bench conns option {other:?}")),
        }
    }
    Ok(o)
}

/// The PSK both ends use.
const PSK: &str = "benchmark-psk-not-a-secret-0123456789";

/// One conn of the load file: a mix of what a hub holds. Nine in ten are
/// site-to-site conns to a peer of their own (IPv4 peers with /32 subnet pairs,
/// IPv6 peers host to host); one in ten is a road-warrior template (`right=%any`)
/// told apart by its peer ID.
fn load_conn(i: usize, out: &mut String) {
    let _ = writeln!(out, "conn c{i}");
    if i % 10 == 9 {
        let _ = writeln!(
            out,
            "\tleft=192.0.2.1\n\tleftid=@west\n\tleftsubnet=198.51.100.0/24\n\tright=%any\n\trightid=@rw{i}"
        );
    } else if i.is_multiple_of(2) {
        let _ = writeln!(
            out,
            "\tleft=192.0.2.1\n\tleftid=@west\n\tleftsubnet=198.51.100.{}/32\n\tright=203.0.113.{}\n\trightid=@peer{i}\n\trightsubnet=203.0.113.{}/32",
            (i / 256) % 256,
            i % 254 + 1,
            i % 256
        );
    } else {
        let _ = writeln!(
            out,
            "\tleft=2001:db8::1\n\tleftid=@west\n\tright=2001:db8:1:{:x}::{:x}\n\trightid=@peer{i}",
            (i >> 15) & 0xffff,
            (i & 0x7fff) + 1
        );
    }
    out.push_str("\tauthby=secret\n\tauto=add\n\n");
}

/// The i-th tunnel between west and east: one host pair, a /32 subnet pair each.
fn tunnel_conn(i: usize, auto: &str, out: &mut String) {
    let _ = writeln!(
        out,
        "conn t{i}\n\tleft=192.0.2.1\n\tleftid=@west\n\tleftsubnet=198.51.100.{}/32\n\tright=192.0.2.2\n\trightid=@east\n\trightsubnet=203.0.113.{}/32\n\tauthby=secret\n\tauto={auto}\n",
        (i / 256) % 256,
        i % 256
    );
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn run(cmd: &mut Command) -> Result<(), String> {
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{cmd:?} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn ip(args: &[&str]) -> Result<(), String> {
    run(Command::new("ip").args(args))
}

/// The two namespaces, removed on drop.
struct Net {
    west: String,
    east: String,
}

impl Net {
    fn new() -> Result<Net, String> {
        let tag = std::process::id();
        let net = Net {
            west: format!("pbc{tag}w"),
            east: format!("pbc{tag}e"),
        };
        for ns in [&net.west, &net.east] {
            ip(&["netns", "add", ns])?;
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
        }
        let (wd, ed) = (format!("{}0", net.west), format!("{}0", net.east));
        ip(&[
            "link", "add", &wd, "netns", &net.west, "type", "veth", "peer", "name", &ed, "netns",
            &net.east,
        ])?;
        for (ns, dev, v4, v6) in [
            (&net.west, &wd, "192.0.2.1/24", "2001:db8::1/64"),
            (&net.east, &ed, "192.0.2.2/24", "2001:db8::2/64"),
        ] {
            ip(&["-n", ns, "addr", "add", v4, "dev", dev])?;
            ip(&["-n", ns, "addr", "add", v6, "dev", dev, "nodad"])?;
            ip(&["-n", ns, "link", "set", dev, "up"])?;
        }
        Ok(net)
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for ns in [&self.west, &self.east] {
            let _ = ip(&["netns", "del", ns]);
        }
    }
}

/// A log file read as it grows.
struct Log {
    path: PathBuf,
    offset: u64,
    partial: String,
    /// When the `listening for whack` line was first read (whatever the caller
    /// was waiting for then).
    ready: Option<Instant>,
}

impl Log {
    fn new(path: &Path) -> Log {
        Log {
            path: path.to_path_buf(),
            offset: 0,
            partial: String::new(),
            ready: None,
        }
    }

    /// The complete lines written since the last call.
    fn new_lines(&mut self) -> Vec<String> {
        let Ok(mut f) = std::fs::File::open(&self.path) else {
            return Vec::new();
        };
        if f.seek(SeekFrom::Start(self.offset)).is_err() {
            return Vec::new();
        }
        let mut buf = Vec::new();
        if f.read_to_end(&mut buf).is_err() {
            return Vec::new();
        }
        self.offset += buf.len() as u64;
        self.partial.push_str(&String::from_utf8_lossy(&buf));
        let mut lines: Vec<String> = self.partial.split('\n').map(str::to_string).collect();
        self.partial = lines.pop().unwrap_or_default();
        if self.ready.is_none() && lines.iter().any(|l| l.contains("listening for whack")) {
            self.ready = Some(Instant::now());
        }
        lines
    }

    /// Waits until a line contains `needle`; `None` after `timeout`.
    fn wait_for(&mut self, needle: &str, timeout: Duration) -> Option<Instant> {
        let end = Instant::now() + timeout;
        while Instant::now() < end {
            if self.new_lines().iter().any(|l| l.contains(needle)) {
                return Some(Instant::now());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        None
    }
}

/// A pluto run in a namespace, stopped on drop.
struct Pluto {
    child: Child,
    ctl: PathBuf,
    log: Log,
    started: Instant,
}

impl Pluto {
    fn start(
        bin: &Path,
        ns: &str,
        dir: &Path,
        config: Option<&Path>,
        secrets: &Path,
    ) -> Result<Pluto, String> {
        let run = dir.join("run");
        std::fs::create_dir_all(&run).map_err(|e| format!("{}: {e}", run.display()))?;
        let logp = dir.join("pluto.log");
        let logf = std::fs::File::create(&logp).map_err(|e| format!("{}: {e}", logp.display()))?;
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", ns])
            .arg(bin)
            .args(["--nofork", "--stderrlog", "--rundir"])
            .arg(&run)
            .arg("--secretsfile")
            .arg(secrets);
        if let Some(c) = config {
            cmd.arg("--config").arg(c);
        }
        let err = logf
            .try_clone()
            .map_err(|e| format!("{}: {e}", logp.display()))?;
        let started = Instant::now();
        let child = cmd
            .stdin(Stdio::null())
            .stdout(logf)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("cannot start pluto: {e}"))?;
        Ok(Pluto {
            child,
            ctl: run.join("pluto.ctl"),
            log: Log::new(&logp),
            started,
        })
    }

    /// Waits for whack to be served; `Err` when pluto died or took over `timeout`.
    fn ready(&mut self, timeout: Duration) -> Result<Instant, String> {
        let end = Instant::now() + timeout;
        loop {
            if let Ok(Some(st)) = self.child.try_wait() {
                return Err(format!(
                    "pluto exited ({st}); see {}",
                    self.log.path.display()
                ));
            }
            self.log.new_lines();
            if let Some(t) = self.log.ready {
                return Ok(t);
            }
            if Instant::now() > end {
                return Err(format!(
                    "pluto not ready after {timeout:?}; see {}",
                    self.log.path.display()
                ));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident set size in KiB (`VmRSS`).
    fn rss_kib(&self) -> Option<u64> {
        let s = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).ok()?;
        s.lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    }

    /// User + system CPU time so far.
    fn cpu(&self) -> Duration {
        let Ok(s) = std::fs::read_to_string(format!("/proc/{}/stat", self.pid())) else {
            return Duration::ZERO;
        };
        // Fields after the command name in parentheses; utime and stime are 14 and 15.
        let rest = s.rsplit_once(')').map_or("", |(_, r)| r);
        let f: Vec<u64> = rest
            .split_whitespace()
            .skip(11)
            .take(2)
            .filter_map(|x| x.parse().ok())
            .collect();
        // SAFETY: sysconf has no preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
        Duration::from_millis(f.iter().sum::<u64>() * 1000 / hz)
    }
}

impl Drop for Pluto {
    fn drop(&mut self) {
        if let Ok(pid) = i32::try_from(self.child.id()) {
            // SAFETY: kill(2) on our own child's pid.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
        let end = Instant::now() + Duration::from_secs(5);
        while Instant::now() < end {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn whack(bin: &Path, ctl: &Path, args: &[String]) -> Result<String, String> {
    let out = Command::new(bin)
        .arg("--ctlsocket")
        .arg(ctl)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run whack: {e}"))?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Results, for the table.
#[derive(Debug, Default)]
struct Results {
    rows: Vec<[String; 3]>,
}

impl Results {
    fn row(&mut self, what: impl Into<String>, got: impl Into<String>, target: &str) {
        let r = [what.into(), got.into(), target.to_string()];
        eprintln!("  {}: {}", r[0], r[1]);
        self.rows.push(r);
    }

    fn print(&self) {
        println!("| figure | measured | target |");
        println!("| --- | --- | --- |");
        for [a, b, c] in &self.rows {
            println!("| {a} | {b} | {c} |");
        }
    }
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

struct Bins {
    pluto: PathBuf,
    whack: PathBuf,
}

fn bench_load(
    b: &Bins,
    net: &Net,
    dir: &Path,
    sizes: &[usize],
    res: &mut Results,
) -> Result<(), String> {
    let secrets = dir.join("load.secrets");
    write(&secrets, &format!("%any %any : PSK \"{PSK}\"\n"))?;
    let empty = dir.join("empty.conf");
    write(&empty, "config setup\n")?;
    let base = {
        let d = dir.join("load-0");
        let mut p = Pluto::start(&b.pluto, &net.west, &d, Some(&empty), &secrets)?;
        p.ready(Duration::from_secs(30))?;
        p.rss_kib().unwrap_or(0)
    };
    eprintln!("load: pluto with no conns: {base} KiB RSS");
    for &n in sizes {
        let conf = dir.join(format!("load-{n}.conf"));
        let mut text = String::from("config setup\n\n");
        for i in 0..n {
            load_conn(i, &mut text);
        }
        write(&conf, &text)?;
        let d = dir.join(format!("load-{n}"));
        let mut p = Pluto::start(&b.pluto, &net.west, &d, Some(&conf), &secrets)?;
        let loaded = p
            .log
            .wait_for("connections from", Duration::from_secs(600))
            .ok_or("pluto never logged 'loaded N connections'")?;
        let load = loaded - p.started;
        p.ready(Duration::from_secs(120))?;
        let rss = p.rss_kib().unwrap_or(0);
        let status = whack(&b.whack, &p.ctl, &["--globalstatus".into()])?;
        let conns = status
            .lines()
            .find_map(|l| l.strip_prefix("current.connections="))
            .unwrap_or("?")
            .to_string();
        let per = (rss.saturating_sub(base)) as f64 / n.max(1) as f64;
        let target = match n {
            10_000 => "< 1 s",
            100_000 => "< 10 s",
            _ => "(< 0.1 ms per conn)",
        };
        res.row(
            format!(
                "{} conns from ipsec.conf: start to 'loaded' ({conns} in the database)",
                thousands(n)
            ),
            secs(load),
            target,
        );
        res.row(
            format!(
                "RSS per loaded conn ({} conns; {rss} KiB total, {base} KiB with none)",
                thousands(n)
            ),
            format!("{per:.1} KiB"),
            "<= 4 KiB",
        );
    }
    Ok(())
}

fn add_args(i: usize) -> Vec<String> {
    format!(
        "--name a{i} --host 192.0.2.1 --id @west --client 198.51.100.{}/32 --to --host 192.0.2.2 --id @east --client 203.0.113.{}/32 --ikev2 --psk --encrypt --tunnel",
        (i / 256) % 256,
        i % 256
    )
    .split_whitespace()
    .map(String::from)
    .collect()
}

/// The request `whack` sends for [`add_args`]`(i)`, as one line of pluto's control
/// protocol (crates/control: an envelope of version 1 with one `add-connection`).
fn add_request(i: usize) -> String {
    let end = |host: &str, id: &str, subnet: String| serde_json::json!({ "host": host, "id": id, "subnets": [subnet] });
    let env = serde_json::json!({
        "version": 1,
        "requests": [{
            "op": "add-connection",
            "spec": {
                "name": format!("l{i}"),
                "left": end("192.0.2.1", "@west", format!("198.51.100.{}/32", (i / 256) % 256)),
                "right": end("192.0.2.2", "@east", format!("203.0.113.{}/32", i % 256)),
                "psk": true,
                "encrypt": true,
            }
        }]
    });
    format!("{env}\n")
}

/// Sends one request over a fresh control connection, as whack does, and reads the
/// reply to its `done` line; returns the reply's lines.
fn control_request(ctl: &Path, line: &str) -> Result<String, String> {
    use std::io::{BufRead, BufReader, Write};
    let mut sock = std::os::unix::net::UnixStream::connect(ctl)
        .map_err(|e| format!("cannot connect to {}: {e}", ctl.display()))?;
    sock.write_all(line.as_bytes())
        .map_err(|e| format!("control socket: {e}"))?;
    let mut out = String::new();
    for l in BufReader::new(sock).lines() {
        let l = l.map_err(|e| format!("control socket: {e}"))?;
        let done = l.contains("\"type\":\"done\"");
        out.push_str(&l);
        out.push('\n');
        if done {
            break;
        }
    }
    Ok(out)
}

fn bench_adds(b: &Bins, net: &Net, dir: &Path, n: usize, res: &mut Results) -> Result<(), String> {
    let secrets = dir.join("add.secrets");
    write(&secrets, &format!("@west @east : PSK \"{PSK}\"\n"))?;
    let d = dir.join("adds");
    let mut p = Pluto::start(&b.pluto, &net.west, &d, None, &secrets)?;
    p.ready(Duration::from_secs(30))?;
    let k = (n / 10).clamp(1, 1000);
    let cpu0 = p.cpu();
    let t0 = Instant::now();
    let (mut first, mut last_start, mut last_cpu) = (Duration::ZERO, t0, cpu0);
    for i in 0..n {
        if i == n - k {
            last_start = Instant::now();
            last_cpu = p.cpu();
        }
        let out = whack(&b.whack, &p.ctl, &add_args(i))?;
        if i == 0 && !out.contains("added") {
            return Err(format!("whack add refused: {out}"));
        }
        if i + 1 == k {
            first = t0.elapsed();
        }
    }
    let wall = t0.elapsed();
    let cpu = p.cpu() - cpu0;
    let last = last_start.elapsed();
    let last_cpu = p.cpu() - last_cpu;
    res.row(
        format!(
            "{} conns added one by one (one whack process each), wall",
            thousands(n)
        ),
        secs(wall),
        "< 5 s",
    );
    res.row(
        format!(
            "  pluto CPU for those adds (last {}: {})",
            thousands(k),
            secs(last_cpu)
        ),
        secs(cpu),
        "(libreswan 2.8 s)",
    );
    res.row(
        format!("  wall of the first / last {} adds", thousands(k)),
        format!("{} / {}", secs(first), secs(last)),
        "flat",
    );
    // The same adds from one process (one control connection each, the protocol
    // whack speaks), into the same pluto: what the daemon takes without the cost of
    // starting a whack process, which on a loaded VM is most of the above.
    let cpu0 = p.cpu();
    let t0 = Instant::now();
    for i in 0..n {
        let out = control_request(&p.ctl, &add_request(i))?;
        if i == 0 && !out.contains("added") {
            return Err(format!("control add refused: {out}"));
        }
    }
    res.row(
        format!(
            "{} more conns added one by one from one process (a control connection each, {} already loaded), wall",
            thousands(n),
            thousands(n)
        ),
        secs(t0.elapsed()),
        "< 5 s",
    );
    res.row("  pluto CPU for those adds", secs(p.cpu() - cpu0), "");
    let spawn = Instant::now();
    for _ in 0..k {
        let _ = Command::new(&b.whack).arg("--version").output();
    }
    res.row(
        format!("  for scale: {} `whack --version` processes", thousands(k)),
        secs(spawn.elapsed()),
        "",
    );
    Ok(())
}

fn bench_starts(
    b: &Bins,
    net: &Net,
    dir: &Path,
    n: usize,
    res: &mut Results,
) -> Result<(), String> {
    let secrets = dir.join("start.secrets");
    write(&secrets, &format!("@west @east : PSK \"{PSK}\"\n"))?;
    let mut east_conf = String::from("config setup\n\n");
    let mut west_conf = east_conf.clone();
    for i in 0..n {
        tunnel_conn(i, "add", &mut east_conf);
        tunnel_conn(i, "start", &mut west_conf);
    }
    let (ec, wc) = (dir.join("east.conf"), dir.join("west.conf"));
    write(&ec, &east_conf)?;
    write(&wc, &west_conf)?;
    let mut east = Pluto::start(&b.pluto, &net.east, &dir.join("east"), Some(&ec), &secrets)?;
    east.ready(Duration::from_secs(120))?;
    let east_cpu0 = east.cpu();
    let mut west = Pluto::start(&b.pluto, &net.west, &dir.join("west"), Some(&wc), &secrets)?;
    let t0 = west.started;
    let (mut established, mut init_rexmit, mut rexmit) = (0usize, 0usize, 0usize);
    let mut last_progress = Instant::now();
    let mut done_at = None;
    let mut loaded_at = None;
    while last_progress.elapsed() < Duration::from_secs(20)
        && t0.elapsed() < Duration::from_secs(300)
    {
        let lines = west.log.new_lines();
        if !lines.is_empty() {
            last_progress = Instant::now();
        }
        for l in &lines {
            if l.contains("initiator established IKE SA") {
                established += 1;
            } else if l.contains("retransmitting IKE_SA_INIT request") {
                init_rexmit += 1;
                rexmit += 1;
            } else if l.contains("retransmitting") && l.contains("request") {
                rexmit += 1;
            } else if loaded_at.is_none() && l.contains("connections from") {
                loaded_at = Some(Instant::now());
            }
        }
        if established >= n {
            done_at = Some(Instant::now());
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let end = done_at.unwrap_or_else(Instant::now);
    let global = whack(&b.whack, &west.ctl, &["--globalstatus".into()])?;
    let counted = global
        .lines()
        .find_map(|l| l.strip_prefix("total.ike.ikev2.established="))
        .unwrap_or("?")
        .to_string();
    let east_cpu = east.cpu() - east_cpu0;
    let from_load = loaded_at.map(|l| end.saturating_duration_since(l));
    res.row(
        format!(
            "{} auto=start tunnels: IKE SAs established ({counted} by --globalstatus)",
            thousands(n)
        ),
        format!("{established} of {n}"),
        &format!("{n}"),
    );
    res.row(
        "  time from pluto start to the last IKE SA (after loading)".to_string(),
        format!(
            "{}{}{}",
            secs(end - t0),
            from_load.map_or(String::new(), |d| format!(" ({})", secs(d))),
            if done_at.is_none() {
                ", incomplete"
            } else {
                ""
            }
        ),
        "< 10 s",
    );
    res.row(
        "  IKE_SA_INIT retransmits (all retransmits)",
        format!("{init_rexmit} ({rexmit})"),
        "0",
    );
    res.row("  responder CPU meanwhile", secs(east_cpu), "");
    Ok(())
}

/// Entry point: `cargo xtask bench conns [--quick] [--load N,N] [--adds N] [--starts N] [--keep]`.
pub fn main(root: &Path, args: &[String]) -> Result<i32, String> {
    let o = parse_opts(args)?;
    eprintln!("bench conns: cargo build --release -p pluto -p whack");
    let st = Command::new("cargo")
        .current_dir(root)
        .args(["build", "--release", "-p", "pluto", "-p", "whack"])
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !st.success() {
        return Err("cargo build failed".into());
    }
    let rel = crate::testnet::target_dir(root).join("release");
    let bins = Bins {
        pluto: rel.join("pluto"),
        whack: rel.join("whack"),
    };
    let dir = std::env::temp_dir().join(format!("pluto-bench-conns-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut res = Results::default();
    let outcome = (|| {
        let net = Net::new()?;
        if !o.load.is_empty() {
            bench_load(&bins, &net, &dir, &o.load, &mut res)?;
        }
        if o.adds > 0 {
            bench_adds(&bins, &net, &dir, o.adds, &mut res)?;
        }
        if o.starts > 0 {
            bench_starts(&bins, &net, &dir, o.starts, &mut res)?;
        }
        Ok::<(), String>(())
    })();
    let machine = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|m| m.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_default();
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "\nmachine: {cpus} CPUs, {machine}; load average {}",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    res.print();
    if o.keep {
        println!("configs and logs kept in {}", dir.display());
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
    outcome.map(|()| 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_args as args;

    #[test]
    fn options() {
        assert_eq!(parse_opts(&[]).unwrap(), Opts::default());
        let q = parse_opts(&args("--quick --starts 0 --keep")).unwrap();
        assert_eq!(
            (q.load, q.adds, q.starts, q.keep),
            (vec![1000, 10_000], 1000, 0, true)
        );
        let l = parse_opts(&args("--load 5_000,0")).unwrap();
        assert_eq!(l.load, vec![5000]);
        assert!(parse_opts(&args("--adds")).is_err());
        assert!(parse_opts(&args("--fast")).is_err());
    }

    #[test]
    fn generated_conns_are_unique_and_documentation_addresses_only() {
        let mut s = String::new();
        for i in 0..1000 {
            load_conn(i, &mut s);
            tunnel_conn(i, "start", &mut s);
        }
        let names: std::collections::BTreeSet<&str> =
            s.lines().filter_map(|l| l.strip_prefix("conn ")).collect();
        assert_eq!(names.len(), 2000);
        for l in s.lines() {
            if let Some((_, v)) = l.trim().split_once('=') {
                if v.chars().next().is_some_and(|c| c.is_ascii_digit()) && v.contains(['.', ':']) {
                    assert!(
                        ["192.0.2.", "198.51.100.", "203.0.113.", "2001:db8:"]
                            .iter()
                            .any(|p| v.starts_with(p)),
                        "{l}"
                    );
                }
            }
        }
        assert_eq!(thousands(100_000), "100,000");
        assert_eq!(thousands(999), "999");
    }
}
