//! `cargo xtask testnet <tier>`: builds the cases of a tier, runs them where the
//! kernel has ESP, and reports.
//!
//! A case is either one libtest test of a crate's end-to-end test binary (today the
//! kernel crate's `tests/*.rs`; `guest.sh` runs it with `--include-ignored`, since the
//! cases that need ESP are `#[ignore]`d for a plain `cargo test`) or one shell scenario
//! under `testnet/scenarios/` (header lines `# tiers: quick interop` and
//! `# timeout: SECONDS`). The tiers: `kernel` (every kernel case), `quick` (what CI
//! runs), `interop` (the interop scenarios plus every kernel case) and `lifecycle` (the
//! lifecycle scenarios alone: rekeying, expiry, liveness, shunts) and `hostile` (the
//! hostile-network scenarios alone: floods, hostile packets, chaos; release builds,
//! and a scenario whose header says `# place: host` runs in host namespaces, not in
//! UML, because it needs the host's speed rather than ESP). The cases are
//! written to a work dir under the target dir with copies of the binaries, the
//! scenarios, `testnet/lib.sh` and `testnet/guest.sh`, split round-robin over one or
//! more UML guests (each guest is one vCPU) and run by `guest.sh` there; this side then
//! reads each case's exit status, duration and log.

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The kernel cases CI runs on every change: one per major path (AEAD and classic
/// ciphers, both families, mixed, transport, NAT-T, ESN) plus both kernel events.
const QUICK_KERNEL: &[&str] = &[
    "tunnel4_aes256_gcm_icv16",
    "tunnel4_aes_cbc_hmac_sha1",
    "tunnel4_chacha20_poly1305",
    "tunnel6_aes_gcm",
    "transport4_aes_gcm",
    "tunnel_ipv6_in_ipv4",
    "tunnel4_udp_encap",
    "esn_with_wide_replay_window",
    "soft_lifetime_raises_expire",
    "trap_acquire_then_install_and_replace",
];

/// Whole-run limit for one guest; cases have their own limits inside.
const GUEST_TIMEOUT: Duration = Duration::from_secs(1200);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tier {
    Kernel,
    Quick,
    Interop,
    Lifecycle,
    Hostile,
    /// `cargo xtask demo`: the scenarios tagged demo, their whole log printed.
    Demo,
    /// pluto-rs as the system's service: `ipsec start` from an ipsec.conf.
    Service,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Auto,
    Uml,
    Host,
}

struct Opts {
    tier: Tier,
    place: Place,
    jobs: Option<usize>,
    filter: Option<String>,
    list: bool,
}

#[derive(Debug, Clone)]
enum Case {
    Rust {
        bin: String,
        exe: PathBuf,
        test: String,
    },
    Scenario {
        file: String,
        path: PathBuf,
        timeout: u64,
        /// `# place: host`: runs in host namespaces even when the tier runs in UML.
        host: bool,
    },
}

impl Case {
    fn name(&self) -> String {
        match self {
            Case::Rust { bin, test, .. } => format!("kernel/{bin}/{test}"),
            Case::Scenario { file, .. } => {
                format!("scenario/{}", file.trim_end_matches(".sh"))
            }
        }
    }

    fn line(&self) -> String {
        match self {
            Case::Rust { bin, test, .. } => format!("rust\t{bin}\t{test}\n"),
            Case::Scenario { file, timeout, .. } => format!("scenario\t{file}\t{timeout}\n"),
        }
    }

    /// Must it run on the host (`# place: host`)?
    fn on_host(&self) -> bool {
        matches!(self, Case::Scenario { host: true, .. })
    }
}

fn parse_opts(args: &[String]) -> Result<Opts, String> {
    let mut it = args.iter();
    let tier = match it.next().map(String::as_str) {
        Some("kernel") => Tier::Kernel,
        Some("quick") => Tier::Quick,
        Some("interop") => Tier::Interop,
        Some("lifecycle") => Tier::Lifecycle,
        Some("hostile") => Tier::Hostile,
        Some("demo") => Tier::Demo,
        Some("service") => Tier::Service,
        Some(t) => {
            return Err(format!(
                "unknown tier '{t}' (kernel, quick, interop, lifecycle or hostile)"
            ))
        }
        None => return Err("which tier? kernel, quick, interop, lifecycle or hostile".into()),
    };
    let mut o = Opts {
        tier,
        place: Place::Auto,
        jobs: None,
        filter: None,
        list: false,
    };
    while let Some(a) = it.next() {
        match a.as_str() {
            "--uml" => o.place = Place::Uml,
            "--host" => o.place = Place::Host,
            "--list" => o.list = true,
            "--jobs" => {
                let n = it.next().ok_or("--jobs needs a number")?;
                let n: usize = n.parse().map_err(|_| format!("--jobs {n}: not a number"))?;
                o.jobs = Some(n.clamp(1, 8));
            }
            "--filter" => o.filter = Some(it.next().ok_or("--filter needs a string")?.clone()),
            other => return Err(format!("unknown option '{other}'")),
        }
    }
    Ok(o)
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

pub(crate) fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|p| if p.is_relative() { root.join(p) } else { p })
        .unwrap_or_else(|| root.join("target"))
}

/// Builds the kernel crate's end-to-end test binaries; returns (name, executable).
fn build_kernel_tests(root: &Path) -> Result<Vec<(String, PathBuf)>, String> {
    eprintln!("building the kernel test binaries...");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(root)
        .args([
            "test",
            "-p",
            "pluto-kernel",
            "--tests",
            "--no-run",
            "--message-format=json-render-diagnostics",
        ])
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("running cargo: {e}"))?;
    if !out.status.success() {
        return Err("building the kernel tests failed (see above)".into());
    }
    let mut bins = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if v["reason"] != "compiler-artifact" {
            continue;
        }
        let kinds = &v["target"]["kind"];
        let is_test = kinds
            .as_array()
            .is_some_and(|k| k.iter().any(|x| x == "test"));
        if let (true, Some(exe), Some(name)) = (
            is_test,
            v["executable"].as_str(),
            v["target"]["name"].as_str(),
        ) {
            bins.push((name.to_string(), PathBuf::from(exe)));
        }
    }
    if bins.is_empty() {
        return Err("cargo built no kernel test binaries".into());
    }
    Ok(bins)
}

/// The binaries a tier's pluto-rs scenarios drive: pluto and whack, and for the
/// hostile tier the flooder and the hostile-packet sender too.
fn daemon_bin_names(tier: Tier) -> &'static [&'static str] {
    if tier == Tier::Hostile {
        &["pluto", "whack", "ipsec", "pluto-flood", "pluto-hostile"]
    } else {
        &["pluto", "whack", "ipsec"]
    }
}

/// Builds the binaries the pluto-rs scenarios drive (release builds for the
/// hostile tier, whose flood needs the speed); returns (name, executable).
fn build_daemon(root: &Path, tier: Tier) -> Result<Vec<(String, PathBuf)>, String> {
    let names = daemon_bin_names(tier);
    eprintln!("building {}...", names.join(", "));
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut args = vec!["build", "-p", "pluto", "-p", "whack"];
    if tier == Tier::Hostile {
        args.extend(["-p", "pluto-loadgen", "--release"]);
    }
    args.push("--message-format=json-render-diagnostics");
    let out = Command::new(cargo)
        .current_dir(root)
        .args(&args)
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("running cargo: {e}"))?;
    if !out.status.success() {
        return Err(format!("building {} failed (see above)", names.join(", ")));
    }
    let mut bins = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if let (Some(exe), Some(name)) = (v["executable"].as_str(), v["target"]["name"].as_str()) {
            if names.contains(&name) {
                bins.push((name.to_string(), PathBuf::from(exe)));
            }
        }
    }
    if bins.len() != names.len() {
        return Err(format!(
            "cargo built {} of the {} binaries {}",
            bins.len(),
            names.len(),
            names.join(", ")
        ));
    }
    Ok(bins)
}

/// Does a case drive pluto-rs (a `testnet/scenarios/pluto-*.sh`, `lifecycle-*.sh`,
/// `hostile-*.sh` or `demo-*.sh` scenario)?
fn needs_daemon(case: &Case) -> bool {
    matches!(case, Case::Scenario { file, .. }
        if file.starts_with("pluto-") || file.starts_with("lifecycle-")
            || file.starts_with("hostile-") || file.starts_with("demo-")
            || file.starts_with("service-"))
}

/// Copies a directory tree (the peer modules under `testnet/peers/`).
fn copy_tree(src: &Path, dst: &Path) -> Result<(), String> {
    fs::create_dir_all(dst).map_err(|e| format!("{}: {e}", dst.display()))?;
    let rd = fs::read_dir(src).map_err(|e| format!("{}: {e}", src.display()))?;
    for e in rd {
        let path = e.map_err(|e| format!("{}: {e}", src.display()))?.path();
        let Some(name) = path.file_name() else {
            continue;
        };
        if path.is_dir() {
            copy_tree(&path, &dst.join(name))?;
        } else {
            copy_into(&path, &dst.join(name))?;
        }
    }
    Ok(())
}

/// The tests a libtest binary holds.
fn list_tests(exe: &Path) -> Result<Vec<String>, String> {
    let out = Command::new(exe)
        .args(["--list", "--format", "terse"])
        .output()
        .map_err(|e| format!("{}: {e}", exe.display()))?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_suffix(": test"))
        .map(str::to_string)
        .collect())
}

/// Scenarios with their tiers and timeouts, from their header comments.
fn scenarios(root: &Path) -> Result<Vec<(Vec<String>, Case)>, String> {
    let dir = root.join("testnet/scenarios");
    let mut out = Vec::new();
    let Ok(rd) = fs::read_dir(&dir) else {
        return Ok(out);
    };
    let mut paths: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "sh"))
        .collect();
    paths.sort();
    for path in paths {
        let text = fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut tiers = Vec::new();
        let mut timeout = 120;
        let mut host = false;
        for l in text.lines().take(30) {
            if let Some(p) = l.strip_prefix("# place:") {
                host = p.trim() == "host";
            }
            if let Some(t) = l.strip_prefix("# tiers:") {
                tiers = t.split_whitespace().map(str::to_string).collect();
            }
            if let Some(t) = l.strip_prefix("# timeout:") {
                timeout = t.trim().parse().unwrap_or(120);
            }
        }
        let file = path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        out.push((
            tiers,
            Case::Scenario {
                file,
                path,
                timeout,
                host,
            },
        ));
    }
    Ok(out)
}

fn cases_for(tier: Tier, root: &Path) -> Result<Vec<Case>, String> {
    let mut cases = Vec::new();
    // the lifecycle and hostile tiers are their scenarios alone: no kernel test
    // binaries to build
    let kernel_bins = if matches!(
        tier,
        Tier::Lifecycle | Tier::Hostile | Tier::Demo | Tier::Service
    ) {
        Vec::new()
    } else {
        build_kernel_tests(root)?
    };
    for (bin, exe) in kernel_bins {
        for test in list_tests(&exe)? {
            let wanted = match tier {
                Tier::Kernel | Tier::Interop => true,
                Tier::Quick => bin == "host" || QUICK_KERNEL.contains(&test.as_str()),
                Tier::Lifecycle | Tier::Hostile | Tier::Demo | Tier::Service => false,
            };
            if wanted {
                cases.push(Case::Rust {
                    bin: bin.clone(),
                    exe: exe.clone(),
                    test,
                });
            }
        }
    }
    let tag = match tier {
        Tier::Kernel => "kernel",
        Tier::Quick => "quick",
        Tier::Interop => "interop",
        Tier::Lifecycle => "lifecycle",
        Tier::Hostile => "hostile",
        Tier::Demo => "demo",
        Tier::Service => "service",
    };
    for (tiers, case) in scenarios(root)? {
        if tiers.iter().any(|t| t == tag) {
            cases.push(case);
        }
    }
    Ok(cases)
}

/// Does the host kernel hold ESP SAs? Probed in a throwaway namespace.
fn host_has_esp() -> bool {
    let status = Command::new("unshare")
        .args([
            "-n",
            "ip",
            "xfrm",
            "state",
            "add",
            "src",
            "192.0.2.1",
            "dst",
            "192.0.2.2",
            "proto",
            "esp",
            "spi",
            "0x1000",
            "enc",
            "cbc(aes)",
            "0x000102030405060708090a0b0c0d0e0f",
            "auth-trunc",
            "hmac(sha256)",
            "0x000102030405060708090a0b0c0d0e0f000102030405060708090a0b0c0d0e0f",
            "128",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    matches!(status, Ok(s) if s.success())
}

fn copy_into(src: &Path, dst: &Path) -> Result<(), String> {
    fs::copy(src, dst)
        .map(|_| ())
        .map_err(|e| format!("copying {} to {}: {e}", src.display(), dst.display()))
}

/// Where each case runs: (job dir, 1-based position in its list). Cases that must
/// run on the host go to `h0` in their order; the others are dealt round-robin over
/// `j0`..`j<jobs-1>`.
fn assign(cases: &[Case], jobs: usize) -> Vec<(String, usize)> {
    let mut next_host = 0;
    let mut dealt = 0;
    cases
        .iter()
        .map(|c| {
            if c.on_host() {
                next_host += 1;
                ("h0".to_string(), next_host)
            } else {
                let at = (format!("j{}", dealt % jobs), dealt / jobs + 1);
                dealt += 1;
                at
            }
        })
        .collect()
}

/// Lays out the work dir: common/ (binaries, scenarios, lib.sh, guest.sh) and one
/// cases.list per job dir of `plan` (see [`assign`]).
fn prepare(
    work: &Path,
    root: &Path,
    cases: &[Case],
    daemon_bins: &[(String, PathBuf)],
    plan: &[(String, usize)],
) -> Result<(), String> {
    if work.exists() {
        fs::remove_dir_all(work).map_err(|e| format!("{}: {e}", work.display()))?;
    }
    let common = work.join("common");
    let mk = |p: &Path| fs::create_dir_all(p).map_err(|e| format!("{}: {e}", p.display()));
    mk(&common.join("bin"))?;
    mk(&common.join("scenarios"))?;
    copy_into(&root.join("testnet/guest.sh"), &common.join("guest.sh"))?;
    copy_into(&root.join("testnet/lib.sh"), &common.join("lib.sh"))?;
    for (name, exe) in daemon_bins {
        copy_into(exe, &common.join("bin").join(name))?;
    }
    let peers = root.join("testnet/peers");
    if peers.is_dir() {
        copy_tree(&peers, &common.join("peers"))?;
    }
    let mut copied = BTreeMap::new();
    for c in cases {
        match c {
            Case::Rust { bin, exe, .. } => {
                if copied.insert(bin.clone(), ()).is_none() {
                    copy_into(exe, &common.join("bin").join(bin))?;
                }
            }
            Case::Scenario { file, path, .. } => {
                copy_into(path, &common.join("scenarios").join(file))?;
            }
        }
    }
    let mut lists: BTreeMap<&str, String> = BTreeMap::new();
    for (c, (dir, _)) in cases.iter().zip(plan) {
        lists.entry(dir.as_str()).or_default().push_str(&c.line());
    }
    for (dir, list) in lists {
        let dir = work.join(dir);
        mk(&dir)?;
        fs::write(dir.join("cases.list"), list).map_err(|e| format!("cases.list: {e}"))?;
    }
    Ok(())
}

fn spawn_guest(
    root: &Path,
    work: &Path,
    job: &str,
    uml: bool,
) -> Result<std::process::Child, String> {
    let console = fs::File::create(work.join(format!("{job}/console.log")))
        .map_err(|e| format!("console log: {e}"))?;
    let console2 = console
        .try_clone()
        .map_err(|e| format!("console log: {e}"))?;
    let mut cmd = if uml {
        let mut c = Command::new("sh");
        c.arg(root.join("testnet/uml/run.sh"))
            .arg(work)
            .arg("common/guest.sh")
            .arg("512M")
            .env("TESTNET_UML_TAG", job);
        c
    } else {
        let mut c = Command::new("sh");
        c.arg(work.join("common/guest.sh")).env("TN_WORK", work);
        c
    };
    cmd.env("tn_job", job)
        .stdin(Stdio::null())
        .stdout(console)
        .stderr(console2)
        .process_group(0);
    cmd.spawn().map_err(|e| format!("starting the guest: {e}"))
}

fn wait_all(mut children: Vec<std::process::Child>) {
    let deadline = Instant::now() + GUEST_TIMEOUT;
    loop {
        children.retain_mut(|c| !matches!(c.try_wait(), Ok(Some(_))));
        if children.is_empty() {
            return;
        }
        if Instant::now() > deadline {
            for c in &children {
                eprintln!("guest still running after {GUEST_TIMEOUT:?}: killing it");
                // SAFETY: kill(2) on the process group we created for the guest.
                unsafe {
                    libc::kill(-(c.id() as i32), libc::SIGKILL);
                }
            }
            for c in &mut children {
                let _ = c.wait();
            }
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn tail(path: &Path, lines: usize) -> String {
    let Ok(f) = fs::File::open(path) else {
        return format!("(no log at {})", path.display());
    };
    let all: Vec<String> = BufReader::new(f).lines().map_while(Result::ok).collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

pub fn main(args: &[String]) -> Result<i32, String> {
    let opts = parse_opts(args)?;
    let root = root();
    let mut cases = cases_for(opts.tier, &root)?;
    if let Some(f) = &opts.filter {
        cases.retain(|c| c.name().contains(f.as_str()));
    }
    if opts.list {
        for c in &cases {
            println!("{}", c.name());
        }
        return Ok(0);
    }
    if cases.is_empty() {
        return Err("no cases selected".into());
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err("the test net needs root (namespaces, XFRM, UML networking)".into());
    }
    let uml = match opts.place {
        Place::Uml => true,
        Place::Host => false,
        Place::Auto => !host_has_esp(),
    };
    if uml && !Path::new(&uml_binary()).exists() {
        return Err(format!(
            "the host kernel has no ESP and there is no UML kernel at {}: run `bash testnet/setup.sh` as root first",
            uml_binary()
        ));
    }
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let in_guests = cases.iter().filter(|c| !c.on_host()).count();
    let jobs = opts
        .jobs
        .unwrap_or(if uml && cpus >= 2 { 2 } else { 1 })
        .min(in_guests)
        .max(1);
    let jobs = if uml { jobs } else { 1 };
    let tier_name = format!("{:?}", opts.tier).to_lowercase();
    let work = target_dir(&root).join("testnet").join(&tier_name);
    let daemon_bins = if cases.iter().any(needs_daemon) {
        build_daemon(&root, opts.tier)?
    } else {
        Vec::new()
    };
    let plan = assign(&cases, jobs);
    prepare(&work, &root, &cases, &daemon_bins, &plan)?;
    let on_host = cases.len() - in_guests;
    let started = Instant::now();
    // Cases that need the host's speed run first, alone, so that no guest competes
    // with them for the CPUs.
    if on_host > 0 {
        eprintln!("running {on_host} cases of tier '{tier_name}' in host namespaces...");
        wait_all(vec![spawn_guest(&root, &work, "h0", false)?]);
    }
    if in_guests > 0 {
        eprintln!(
            "running {in_guests} cases of tier '{tier_name}' {} ({} guest{})...",
            if uml { "in UML" } else { "on the host" },
            jobs,
            if jobs == 1 { "" } else { "s" }
        );
        let children = (0..jobs)
            .map(|j| spawn_guest(&root, &work, &format!("j{j}"), uml))
            .collect::<Result<Vec<_>, _>>()?;
        wait_all(children);
    }

    let mut passed = 0;
    let mut failed = Vec::new();
    for (case, (job, idx)) in cases.iter().zip(&plan) {
        let dir = work.join(job);
        let rc = fs::read_to_string(dir.join(format!("rc/{idx}"))).ok();
        let (code, secs) = match rc.as_deref().map(str::split_whitespace) {
            Some(mut parts) => (
                parts.next().and_then(|c| c.parse::<i32>().ok()),
                parts
                    .next()
                    .and_then(|s| s.parse::<f64>().ok())
                    .unwrap_or(0.0),
            ),
            None => (None, 0.0),
        };
        // a case's measured figures ("FIGURE ..." lines of its log), pass or fail
        let log = dir.join(format!("logs/{idx}.log"));
        let figures: Vec<String> = fs::read_to_string(&log)
            .map(|t| {
                t.lines()
                    .filter(|l| l.starts_with("FIGURE "))
                    .map(|l| format!("    {l}"))
                    .collect()
            })
            .unwrap_or_default();
        if opts.tier == Tier::Demo {
            // the demo is its log: the commands as typed and what they printed
            println!("{}", fs::read_to_string(&log).unwrap_or_default());
        }
        match code {
            Some(0) => {
                passed += 1;
                println!("PASS {} ({secs:.1}s)", case.name());
            }
            Some(c) => {
                println!("FAIL {} (exit {c}, {secs:.1}s)", case.name());
                failed.push((case, dir.join(format!("logs/{idx}.log")), job.clone()));
            }
            None => {
                println!("FAIL {} (never ran: the guest stopped early)", case.name());
                failed.push((case, dir.join(format!("logs/{idx}.log")), job.clone()));
            }
        }
        for f in figures {
            println!("{f}");
        }
    }
    let mut shown_console = Vec::new();
    for (case, log, job) in &failed {
        let name = case.name();
        // a scenario's log ends with the tail of every daemon's log
        let lines = if matches!(case, Case::Scenario { .. }) {
            150
        } else {
            60
        };
        println!("\n===== {name}: last lines of {} =====", log.display());
        println!("{}", tail(log, lines));
        if !log.exists() && !shown_console.contains(job) {
            shown_console.push(job.clone());
            let console = work.join(format!("{job}/console.log"));
            println!("\n===== guest {job} console ({}) =====", console.display());
            println!("{}", tail(&console, 40));
        }
    }
    eprintln!(
        "tier '{tier_name}' took {:.1}s; logs in {}",
        started.elapsed().as_secs_f64(),
        work.display()
    );
    println!("{} passed, {} failed", passed, failed.len());
    Ok(if failed.is_empty() { 0 } else { 1 })
}

fn uml_binary() -> String {
    std::env::var("TESTNET_UML").unwrap_or_else(|_| "/opt/uml/linux.uml".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn options() {
        let o = parse_opts(&args("quick --uml --jobs 3 --filter esp")).unwrap();
        assert_eq!(o.tier, Tier::Quick);
        assert_eq!(o.place, Place::Uml);
        assert_eq!(o.jobs, Some(3));
        assert_eq!(o.filter.as_deref(), Some("esp"));
        assert_eq!(
            parse_opts(&args("lifecycle")).unwrap().tier,
            Tier::Lifecycle
        );
        assert_eq!(parse_opts(&args("hostile")).unwrap().tier, Tier::Hostile);
        assert_eq!(parse_opts(&args("demo")).unwrap().tier, Tier::Demo);
        assert_eq!(parse_opts(&args("service")).unwrap().tier, Tier::Service);
        assert!(parse_opts(&args("nonsense")).is_err());
        assert!(parse_opts(&args("kernel --jobs")).is_err());
        assert!(parse_opts(&[]).is_err());
    }

    #[test]
    fn pluto_scenarios_cover_the_interop_matrix() {
        let found = scenarios(&root()).unwrap();
        let pluto: Vec<_> = found
            .iter()
            .filter(|(_, c)| needs_daemon(c) && c.name().starts_with("scenario/pluto-"))
            .collect();
        assert!(pluto.len() >= 24, "only {} pluto-rs scenarios", pluto.len());
        assert!(pluto.iter().all(|(t, _)| t.iter().any(|t| t == "interop")));
        for peer in ["strongswan", "libreswan", "pluto"] {
            for role in ["init", "resp"] {
                let prefix = format!("scenario/pluto-{peer}-{role}-");
                let names: Vec<String> = pluto
                    .iter()
                    .map(|(_, c)| c.name())
                    .filter(|n| n.starts_with(&prefix))
                    .collect();
                for part in [
                    "tunnel4",
                    "tunnel6",
                    "transport4",
                    "x25519",
                    "ecp256",
                    "gcm",
                    "cbc",
                ] {
                    assert!(
                        names.iter().any(|n| n.contains(part)),
                        "no {part} case among {prefix}*"
                    );
                }
            }
            let quick = format!("scenario/pluto-{peer}-");
            assert!(
                pluto
                    .iter()
                    .any(|(t, c)| c.name().starts_with(&quick) && t.iter().any(|t| t == "quick")),
                "no quick case with {peer}"
            );
        }
    }

    #[test]
    fn lifecycle_scenarios_cover_both_roles_and_every_behaviour() {
        let found = scenarios(&root()).unwrap();
        let lc: Vec<_> = found
            .iter()
            .filter(|(_, c)| c.name().starts_with("scenario/lifecycle-"))
            .collect();
        assert!(lc.iter().all(|(_, c)| needs_daemon(c)));
        assert!(
            lc.iter().all(|(t, _)| t.iter().any(|t| t == "lifecycle")),
            "a lifecycle-*.sh scenario outside the lifecycle tier"
        );
        let names: Vec<String> = lc.iter().map(|(_, c)| c.name()).collect();
        let has = |parts: &[&str]| names.iter().any(|n| parts.iter().all(|p| n.contains(p)));
        // pluto-rs rekeys, and answers the peer's rekeys, in both roles
        for what in [
            "-init-rekey",
            "-resp-rekey",
            "-init-peer-rekey",
            "-resp-peer-rekey",
        ] {
            assert!(has(&[what]), "no *{what} case");
        }
        for peer in ["strongswan", "libreswan"] {
            for what in ["-rekey", "-peer-rekey", "-dontrekey", "-dpd"] {
                assert!(has(&[peer, what]), "no {peer} *{what} case");
            }
        }
        for role in ["-init-", "-resp-"] {
            assert!(
                has(&[role, "-dpd"]),
                "no liveness case with pluto-rs in {role}"
            );
        }
        assert!(
            has(&["-dpd-route"]),
            "no liveness case of a routed connection"
        );
        for shunt in ["pass", "drop", "reject"] {
            assert!(
                has(&["-nevershunt-", shunt]),
                "no never-negotiate shunt {shunt} case"
            );
            assert!(
                has(&["-failshunt-", shunt]),
                "no failure shunt {shunt} case"
            );
        }
        assert!(
            lc.iter().any(|(t, _)| t.iter().any(|t| t == "quick")),
            "no lifecycle case in quick"
        );
    }

    #[test]
    fn hostile_scenarios_run_alone_and_host_ones_outside_the_guests() {
        let found = scenarios(&root()).unwrap();
        let hostile: Vec<Case> = found
            .into_iter()
            .filter(|(t, _)| t.iter().any(|t| t == "hostile"))
            .map(|(_, c)| c)
            .collect();
        assert!(hostile.iter().all(needs_daemon));
        let flood = hostile
            .iter()
            .find(|c| c.name() == "scenario/hostile-flood-host")
            .expect("the flood scenario is in the hostile tier");
        assert!(flood.on_host());
        assert!(daemon_bin_names(Tier::Hostile).contains(&"pluto-flood"));
        // host cases in h0 in order, the others dealt over the guests
        let mk = |file: &str, host| Case::Scenario {
            file: file.into(),
            path: PathBuf::new(),
            timeout: 1,
            host,
        };
        let cases = [
            mk("a", false),
            mk("b", true),
            mk("c", false),
            mk("d", true),
            mk("e", false),
        ];
        let plan = assign(&cases, 2);
        let want = [("j0", 1), ("h0", 1), ("j1", 1), ("h0", 2), ("j0", 2)];
        for ((dir, idx), (wd, wi)) in plan.iter().zip(want) {
            assert_eq!((dir.as_str(), *idx), (wd, wi));
        }
    }

    #[test]
    fn scenario_headers_pick_tiers_and_timeouts() {
        let found = scenarios(&root()).unwrap();
        let manual = found
            .iter()
            .find(|(_, c)| c.name() == "scenario/xfrm-manual-esp")
            .expect("the harness scenario is found");
        assert!(manual.0.iter().any(|t| t == "quick"));
        match &manual.1 {
            Case::Scenario { timeout, .. } => assert_eq!(*timeout, 60),
            other => panic!("{other:?}"),
        }
        assert_eq!(manual.1.line(), "scenario\txfrm-manual-esp.sh\t60\n");
    }
}
