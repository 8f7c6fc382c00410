//! `cargo xtask fuzz [--all | target...] [--runs N] [--time SECS]`: runs the
//! cargo-fuzz targets one after another and prints one summary line per target.
//!
//! Every target builds in the repository-root project `fuzz/` (the ike codec targets'
//! sources stay in `crates/ike/fuzz/fuzz_targets`, the others are in
//! `fuzz/fuzz_targets`). A target's corpus is `<home>/corpus/<target>` (kept between
//! runs, ignored by git) and its hand-written or regression inputs
//! `<home>/seeds/<target>`, with `<home>` `crates/ike/fuzz` for the codec targets and
//! `fuzz` for the rest. `--runs N` stops each after N executions (default one
//! million), `--time SECS` after that many seconds instead. `--sanitizer none` builds
//! without AddressSanitizer (in `fuzz/target-none`, so the default build is kept):
//! the code under test is safe Rust over aws-lc, which cargo-fuzz does not
//! instrument either way, and the stateful `ikev2_exchange` target runs about four
//! times as many inputs a second without it. cargo-fuzz is installed
//! with `cargo install` when `cargo fuzz` is missing; the nightly toolchain it needs
//! must already be there (rustup is not driven from here).

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

/// Every target, in the order they run by default.
pub const TARGETS: [&str; 12] = [
    "ikev2_message",
    "ikev1_message",
    "proposal",
    "ipsec_conf",
    "ipsec_secrets",
    "control_json",
    "whack_args",
    "id",
    "ts_narrow",
    "netlink",
    "cookie",
    "ikev2_exchange",
];

/// Where a target's corpus and seeds live (relative to the repository root).
fn home(target: &str) -> &'static str {
    match target {
        "ikev2_message" | "ikev1_message" | "proposal" => "crates/ike/fuzz",
        _ => "fuzz",
    }
}

/// The acceptance: one million runs per target.
const DEFAULT_RUNS: u64 = 1_000_000;

#[derive(Debug, PartialEq, Eq)]
struct Opts {
    targets: Vec<&'static str>,
    limit: Limit,
    sanitizer: Sanitizer,
}

/// cargo-fuzz's `--sanitizer`: the two this project uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sanitizer {
    Address,
    None,
}

/// When each target stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Limit {
    Runs(u64),
    Seconds(u64),
}

fn parse_opts(args: &[String]) -> Result<Opts, String> {
    let mut targets = Vec::new();
    let mut limit = Limit::Runs(DEFAULT_RUNS);
    let mut sanitizer = Sanitizer::Address;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--all" => targets.extend(TARGETS),
            "--runs" => {
                let v = it.next().ok_or("--runs needs a number")?;
                limit = Limit::Runs(
                    v.replace(['_', ','], "")
                        .parse()
                        .map_err(|_| format!("--runs {v:?}: not a number of runs"))?,
                );
            }
            "--time" => {
                let v = it.next().ok_or("--time needs a number of seconds")?;
                limit = Limit::Seconds(
                    v.parse()
                        .ok()
                        .filter(|&n| n > 0)
                        .ok_or_else(|| format!("--time {v:?}: not a number of seconds"))?,
                );
            }
            "--sanitizer" => {
                sanitizer = match it.next().map(String::as_str) {
                    Some("address") => Sanitizer::Address,
                    Some("none") => Sanitizer::None,
                    v => return Err(format!("--sanitizer {v:?}: address or none")),
                };
            }
            t => match TARGETS.iter().find(|&&known| known == t) {
                Some(&known) => targets.push(known),
                None => {
                    return Err(format!(
                        "unknown fuzz target {t:?} (targets: {})",
                        TARGETS.join(", ")
                    ))
                }
            },
        }
    }
    if targets.is_empty() {
        targets = TARGETS.to_vec();
    }
    targets.dedup();
    Ok(Opts {
        targets,
        limit,
        sanitizer,
    })
}

/// What libFuzzer reported for one target.
#[derive(Debug, Default, PartialEq, Eq)]
struct Outcome {
    /// Runs done, from `Done N runs in S second(s)`.
    runs: Option<u64>,
    /// `cov:` and `ft:` of the last status line.
    cov: Option<u64>,
    ft: Option<u64>,
    /// `corp:` (inputs) of the last status line.
    corpus: Option<u64>,
    /// Where libFuzzer saved the crashing input, if it crashed.
    artifact: Option<String>,
}

impl Outcome {
    /// Folds one line of libFuzzer's output into what is known so far.
    fn observe(&mut self, line: &str) {
        let field = |name: &str| {
            let mut words = line.split_whitespace();
            words.find(|w| *w == name)?;
            words.next()?.split('/').next()?.parse::<u64>().ok()
        };
        if let Some(rest) = line.strip_prefix("Done ") {
            self.runs = rest.split_whitespace().next().and_then(|n| n.parse().ok());
        } else if line.starts_with('#') {
            self.cov = field("cov:").or(self.cov);
            self.ft = field("ft:").or(self.ft);
            self.corpus = field("corp:").or(self.corpus);
        }
        if let Some((_, path)) = line.split_once("Test unit written to ") {
            self.artifact = Some(path.trim().to_string());
        }
    }
}

fn show(v: Option<u64>) -> String {
    v.map_or_else(|| "?".to_string(), |n| n.to_string())
}

fn cargo_fuzz_installed() -> bool {
    Command::new("cargo")
        .args(["fuzz", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn ensure_cargo_fuzz() -> Result<(), String> {
    if cargo_fuzz_installed() {
        return Ok(());
    }
    eprintln!("xtask fuzz: cargo-fuzz not found, running `cargo install cargo-fuzz --locked`");
    let ok = Command::new("cargo")
        .args(["install", "cargo-fuzz", "--locked"])
        .status()
        .map_err(|e| format!("cannot run cargo install: {e}"))?
        .success();
    if !ok || !cargo_fuzz_installed() {
        return Err("installing cargo-fuzz failed; install it by hand with \
                    `cargo install cargo-fuzz`"
            .into());
    }
    Ok(())
}

/// cargo-fuzz needs nightly (`-Z sanitizer`); say so up front rather than after a
/// confusing build failure.
fn ensure_nightly() -> Result<(), String> {
    let ok = Command::new("cargo")
        .args(["+nightly", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        Ok(())
    } else {
        Err("the nightly toolchain is missing (cargo-fuzz needs it): \
             rustup toolchain install nightly"
            .into())
    }
}

/// Runs one target to completion, echoing libFuzzer's output, and returns whether it
/// finished without a crash plus what it reported.
fn run_target(
    root: &Path,
    target: &str,
    limit: Limit,
    sanitizer: Sanitizer,
) -> Result<(bool, Outcome), String> {
    let fuzz_dir = root.join("fuzz");
    let home = root.join(home(target));
    let corpus = home.join("corpus").join(target);
    std::fs::create_dir_all(&corpus)
        .map_err(|e| format!("cannot create {}: {e}", corpus.display()))?;
    let seeds = home.join("seeds").join(target);
    let mut cmd = Command::new("cargo");
    cmd.current_dir(root)
        .args(["+nightly", "fuzz", "run", "--fuzz-dir"])
        .arg(&fuzz_dir);
    if sanitizer == Sanitizer::None {
        cmd.args(["--sanitizer", "none", "--target-dir"])
            .arg(fuzz_dir.join("target-none"));
    }
    cmd.arg(target).arg(&corpus);
    if seeds.is_dir() {
        cmd.arg(&seeds);
    }
    cmd.arg("--")
        .arg(match limit {
            Limit::Runs(n) => format!("-runs={n}"),
            Limit::Seconds(n) => format!("-max_total_time={n}"),
        })
        .stdout(Stdio::inherit())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot run cargo +nightly fuzz: {e}"))?;
    let mut outcome = Outcome::default();
    if let Some(stderr) = child.stderr.take() {
        let mut echo = std::io::stderr().lock();
        for line in BufReader::new(stderr).lines() {
            let line = line.map_err(|e| format!("reading cargo fuzz output: {e}"))?;
            outcome.observe(&line);
            // The echo is for the person watching; a closed stderr must not stop the run.
            let _ = writeln!(echo, "{line}");
        }
    }
    let status = child
        .wait()
        .map_err(|e| format!("waiting for cargo fuzz: {e}"))?;
    Ok((status.success() && outcome.artifact.is_none(), outcome))
}

/// Entry point; returns the process exit code (0 when every target ran clean).
pub fn main(root: &Path, args: &[String]) -> Result<i32, String> {
    let opts = parse_opts(args)?;
    ensure_nightly()?;
    ensure_cargo_fuzz()?;
    let mut lines = Vec::new();
    let mut failed = 0;
    for target in &opts.targets {
        let started = Instant::now();
        let (ok, o) = run_target(root, target, opts.limit, opts.sanitizer)?;
        let secs = started.elapsed().as_secs();
        let result = match (&o.artifact, ok) {
            (Some(path), _) => format!("CRASH, input saved in {path}"),
            (None, true) => "no crash".to_string(),
            (None, false) => "FAILED (see the output above)".to_string(),
        };
        if !ok {
            failed += 1;
        }
        lines.push(format!(
            "{target:<14} {:>11} runs  {secs:>5} s  cov {:>5}  ft {:>5}  corpus {:>5}  {result}",
            show(o.runs),
            show(o.cov),
            show(o.ft),
            show(o.corpus),
        ));
    }
    println!(
        "\nfuzz summary ({} per target{}):",
        match opts.limit {
            Limit::Runs(n) => format!("{n} runs"),
            Limit::Seconds(n) => format!("{n} s"),
        },
        match opts.sanitizer {
            Sanitizer::Address => ", AddressSanitizer",
            Sanitizer::None => ", no sanitizer",
        }
    );
    for l in &lines {
        println!("  {l}");
    }
    println!(
        "{} passed, {failed} failed",
        opts.targets.len().saturating_sub(failed)
    );
    Ok(if failed == 0 { 0 } else { 1 })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_args as args;

    #[test]
    fn options() {
        assert_eq!(
            parse_opts(&[]).unwrap(),
            Opts {
                targets: TARGETS.to_vec(),
                limit: Limit::Runs(1_000_000),
                sanitizer: Sanitizer::Address,
            }
        );
        assert_eq!(
            parse_opts(&args("proposal --runs 1_000")).unwrap(),
            Opts {
                targets: vec!["proposal"],
                limit: Limit::Runs(1000),
                sanitizer: Sanitizer::Address,
            }
        );
        assert_eq!(
            parse_opts(&args("--all --time 20")).unwrap(),
            Opts {
                targets: TARGETS.to_vec(),
                limit: Limit::Seconds(20),
                sanitizer: Sanitizer::Address,
            }
        );
        assert_eq!(
            parse_opts(&args("ikev2_exchange --sanitizer none")).unwrap(),
            Opts {
                targets: vec!["ikev2_exchange"],
                limit: Limit::Runs(1_000_000),
                sanitizer: Sanitizer::None,
            }
        );
        assert!(parse_opts(&args("--sanitizer memory")).is_err());
        assert_eq!(home("netlink"), "fuzz");
        assert_eq!(home("proposal"), "crates/ike/fuzz");
        assert!(parse_opts(&args("--time 0")).is_err());
        assert!(parse_opts(&args("ikev3_message")).is_err());
        assert!(parse_opts(&args("--runs")).is_err());
        assert!(parse_opts(&args("--runs many")).is_err());
    }

    #[test]
    fn reads_libfuzzer_status_lines() {
        let mut o = Outcome::default();
        for l in [
            "#2\tINITED cov: 40 ft: 41 corp: 1/1b exec/s: 0 rss: 30Mb",
            "#1048576\tpulse  cov: 944 ft: 1772 corp: 344/9817b lim: 4096 exec/s: 1 rss: 500Mb",
            "#1000000\tDONE   cov: 950 ft: 1780 corp: 345/10Kb lim: 4096 exec/s: 142857 rss: 500Mb",
            "Done 1000000 runs in 7 second(s)",
        ] {
            o.observe(l);
        }
        assert_eq!(
            o,
            Outcome {
                runs: Some(1_000_000),
                cov: Some(950),
                ft: Some(1780),
                corpus: Some(345),
                artifact: None,
            }
        );
        o.observe("artifact_prefix='x/'; Test unit written to x/crash-abc");
        assert_eq!(o.artifact.as_deref(), Some("x/crash-abc"));
    }
}
