//! `cargo xtask bench peers`: pluto-rs, charon and libreswan as IKEv2 responders under
//! strongSwan's load tester (or, with `--initiator loadgen`, pluto-rs's own load
//! generator `pluto-loadgen`, which costs less per SA than the responders), in one
//! interleaved run, and a table of the ratios.
//!
//! The measuring is done by `testnet/bench/peers.sh` (network namespaces, the
//! daemons, /proc); this module builds what it needs (release pluto and whack; the
//! load tester through `testnet/bench/build-loadtester.sh` when it is missing), runs
//! it, and summarises its `RESULT` lines: medians over the repetitions, with the
//! range, and pluto-rs's figures as ratios to each peer's.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

/// What `bench peers` was asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Options {
    responders: Vec<String>,
    groups: Vec<String>,
    reps: u32,
    n_cpu: u32,
    mem_n: u32,
    out: String,
    perf: bool,
    /// `--base DIR`: an older build's pluto and whack, run as responder
    /// `plutors_base` beside the others (before/after in one interleaved run).
    base: Option<String>,
    /// `--initiator loadtester|loadgen`: who sets the SAs up.
    initiator: String,
    /// `--limit N`: setups in flight at most (the load tester's `init_limit`).
    limit: u32,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            responders: ["plutors", "charon", "libreswan"]
                .map(String::from)
                .to_vec(),
            groups: ["x25519", "ecp256"].map(String::from).to_vec(),
            reps: 3,
            n_cpu: 3000,
            mem_n: 10000,
            out: "target/bench-peers".into(),
            perf: false,
            base: None,
            initiator: "loadtester".into(),
            limit: 64,
        }
    }
}

/// The responders testnet/bench/peers.sh knows.
const RESPONDERS: [&str; 6] = [
    "plutors",
    "plutors_base",
    "plutors_fake",
    "charon",
    "charon_fake",
    "libreswan",
];

/// What a responder's figures are compared with: the fake-kernel ones with
/// pluto-rs on its fake XFRM (when that ran), the others with pluto-rs.
fn baseline<'a>(r: &str, responders: &'a [String]) -> Option<&'a str> {
    let pick = |name: &str| responders.iter().find(|x| *x == name).map(String::as_str);
    let b = if r.ends_with("_fake") {
        pick("plutors_fake")
    } else {
        pick("plutors")
    }?;
    (b != r).then_some(b)
}

const USAGE: &str = "cargo xtask bench peers [--responders plutors,charon,libreswan] \
[--groups x25519,ecp256] [--reps N] [--n N (SAs per CPU run)] [--mem-n N (SAs held, 0: none)] \
[--out DIR] [--perf] [--base DIR (an older build, run as plutors_base)] \
[--initiator loadtester|loadgen] [--limit N (setups in flight)]";

fn parse(args: &[String]) -> Result<Options, String> {
    let mut o = Options::default();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |what: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{a} needs {what}; usage: {USAGE}"))
        };
        let number = |v: String| {
            v.parse::<u32>()
                .map_err(|_| format!("{a}: {v:?} is not a number; usage: {USAGE}"))
        };
        match a.as_str() {
            "--responders" => {
                o.responders = value("a list")?.split(',').map(String::from).collect();
                if let Some(r) = o
                    .responders
                    .iter()
                    .find(|r| !RESPONDERS.contains(&r.as_str()))
                {
                    return Err(format!(
                        "unknown responder {r:?} ({})",
                        RESPONDERS.join(", ")
                    ));
                }
            }
            "--groups" => o.groups = value("a list")?.split(',').map(String::from).collect(),
            "--reps" => o.reps = number(value("a number")?)?,
            "--n" => o.n_cpu = number(value("a number")?)?,
            "--mem-n" => o.mem_n = number(value("a number")?)?,
            "--out" => o.out = value("a directory")?,
            "--perf" => o.perf = true,
            "--base" => o.base = Some(value("a directory")?),
            "--initiator" => {
                o.initiator = value("loadtester or loadgen")?;
                if !["loadtester", "loadgen"].contains(&o.initiator.as_str()) {
                    return Err(format!(
                        "--initiator: {:?} is neither loadtester nor loadgen",
                        o.initiator
                    ));
                }
            }
            "--limit" => o.limit = number(value("a number")?)?,
            other => return Err(format!("unknown option {other:?}; usage: {USAGE}")),
        }
    }
    if o.base.is_some() && !o.responders.iter().any(|r| r == "plutors_base") {
        let at = o
            .responders
            .iter()
            .position(|r| r == "plutors")
            .map_or(0, |i| i + 1);
        o.responders.insert(at, "plutors_base".into());
    }
    if o.reps == 0 || o.n_cpu == 0 || o.limit == 0 {
        return Err(format!(
            "--reps, --n and --limit must be at least 1; usage: {USAGE}"
        ));
    }
    Ok(o)
}

/// One `RESULT responder group mode rep key value` line.
#[derive(Debug, Clone, PartialEq)]
struct Sample {
    responder: String,
    group: String,
    key: String,
    value: f64,
}

fn parse_result(line: &str) -> Option<Sample> {
    let mut w = line.split_whitespace();
    if w.next()? != "RESULT" {
        return None;
    }
    let responder = w.next()?.to_string();
    let group = w.next()?.to_string();
    let _mode = w.next()?;
    let _rep = w.next()?;
    let key = w.next()?.to_string();
    let value = w.next()?.parse().ok()?;
    Some(Sample {
        responder,
        group,
        key,
        value,
    })
}

/// Median and range of a set of figures.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Stat {
    median: f64,
    min: f64,
    max: f64,
}

fn stat(values: &[f64]) -> Option<Stat> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let median = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    };
    Some(Stat {
        median,
        min: v[0],
        max: v[n - 1],
    })
}

type Table = BTreeMap<(String, String, String), Vec<f64>>;

fn collect(samples: &[Sample]) -> Table {
    let mut t = Table::new();
    for s in samples {
        t.entry((s.group.clone(), s.responder.clone(), s.key.clone()))
            .or_default()
            .push(s.value);
    }
    t
}

fn get(t: &Table, group: &str, resp: &str, key: &str) -> Option<Stat> {
    t.get(&(group.to_string(), resp.to_string(), key.to_string()))
        .and_then(|v| stat(v))
}

fn cell(s: Option<Stat>, digits: usize) -> String {
    match s {
        Some(s) if s.min != s.max => {
            format!("{:.d$} [{:.d$}-{:.d$}]", s.median, s.min, s.max, d = digits)
        }
        Some(s) => format!("{:.d$}", s.median, d = digits),
        None => "-".into(),
    }
}

/// The summary: one row per group and responder, then pluto-rs's ratios.
fn summary(o: &Options, samples: &[Sample]) -> String {
    let t = collect(samples);
    let mut out = String::new();
    out.push_str(&format!("initiator: {}\n\n", initiator_name(&o.initiator)));
    let lg = o.initiator == "loadgen";
    out.push_str("| group | responder | CPU us per IKE SA, median [range] | setups/s | KiB per held IKE SA | established / offered |");
    out.push_str(if lg {
        " loadgen CPU us per IKE SA |\n| --- | --- | --- | --- | --- | --- | --- |\n"
    } else {
        "\n| --- | --- | --- | --- | --- | --- |\n"
    });
    for g in &o.groups {
        for r in &o.responders {
            let est = t
                .get(&(g.clone(), r.clone(), "established".into()))
                .map(|v| v.iter().sum::<f64>())
                .unwrap_or(0.0);
            let offered = t
                .get(&(g.clone(), r.clone(), "n".into()))
                .map(|v| v.iter().sum::<f64>())
                .unwrap_or(0.0);
            out.push_str(&format!(
                "| {g} | {r} | {} | {} | {} | {est:.0} / {offered:.0} |",
                cell(get(&t, g, r, "cpu_us_per_sa"), 0),
                cell(get(&t, g, r, "setups_per_s"), 0),
                cell(get(&t, g, r, "kib_per_sa"), 1),
            ));
            if lg {
                out.push_str(&format!(
                    " {} |",
                    cell(get(&t, g, r, "lg_cpu_us_per_sa"), 0)
                ));
            }
            out.push('\n');
        }
    }
    let pairs: Vec<(&str, &str)> = o
        .responders
        .iter()
        .filter_map(|r| baseline(r, &o.responders).map(|b| (r.as_str(), b)))
        .collect();
    if !pairs.is_empty() {
        out.push_str("\npluto-rs against each peer (the peer's median divided by pluto-rs's; above 1: pluto-rs is better; fake-kernel peers against plutors_fake):\n\n");
        out.push_str(
            "| group | peer | CPU per IKE SA | KiB per held SA | setups/s (pluto-rs / peer) |\n",
        );
        out.push_str("| --- | --- | --- | --- | --- |\n");
        for g in &o.groups {
            for (r, us_name) in &pairs {
                let ratio = |key: &str, invert: bool| match (
                    get(&t, g, r, key),
                    get(&t, g, us_name, key),
                ) {
                    (Some(p), Some(us)) if us.median > 0.0 && p.median > 0.0 => {
                        let x = if invert {
                            us.median / p.median
                        } else {
                            p.median / us.median
                        };
                        format!("{x:.2}x")
                    }
                    _ => "-".into(),
                };
                out.push_str(&format!(
                    "| {g} | {r} | {} | {} | {} |\n",
                    ratio("cpu_us_per_sa", false),
                    ratio("kib_per_sa", false),
                    ratio("setups_per_s", true),
                ));
            }
        }
    }
    out
}

/// How the summary names the initiator.
fn initiator_name(i: &str) -> &'static str {
    if i == "loadgen" {
        "pluto-loadgen (pluto-rs's load generator, one KE value per group reused for all its SAs)"
    } else {
        "strongSwan's load tester (charon 5.9.8, load-tester plugin)"
    }
}

fn run(cmd: &mut Command, what: &str) -> Result<(), String> {
    let status = cmd
        .status()
        .map_err(|e| format!("cannot run {what}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{what} failed ({status})"))
    }
}

/// Entry point of `cargo xtask bench hold [--n N]`: pluto-rs alone, with
/// `--fake-xfrm`, holding N tunnels (IKE SA + Child SA) that the load tester
/// brings up; prints the resident memory per tunnel.
pub fn hold(root: &Path, args: &[String]) -> Result<i32, String> {
    let n = match args {
        [] => 100_000,
        [flag, v] if flag == "--n" => v.parse().map_err(|_| {
            format!("--n: {v:?} is not a number; usage: cargo xtask bench hold [--n N]")
        })?,
        _ => return Err("usage: cargo xtask bench hold [--n N]".into()),
    };
    let o = Options {
        responders: vec!["plutors".into()],
        groups: vec!["x25519".into()],
        reps: 1,
        mem_n: n,
        out: "target/bench-hold".into(),
        ..Options::default()
    };
    prepare(root, &o)?;
    let (samples, ok) = run_script(
        root,
        &o,
        &[
            ("MODES", "mem"),
            ("PLUTO_ARGS", "--fake-xfrm"),
            ("MAXT", "1800"),
        ],
    )?;
    let t = collect(&samples);
    let held = get(&t, "x25519", "plutors", "held").map_or(0.0, |s| s.median);
    let children = get(&t, "x25519", "plutors", "held_child").map_or(0.0, |s| s.median);
    let kib = get(&t, "x25519", "plutors", "kib_per_sa");
    println!();
    println!(
        "pluto-rs holding {held:.0} IKE SAs and {children:.0} Child SAs of {n} offered (XFRM faked at the netlink boundary: --fake-xfrm): {} KiB RSS per tunnel",
        kib.map_or("-".into(), |s| format!("{:.2}", s.median))
    );
    Ok(if ok && held as u32 == n && children as u32 == n {
        0
    } else {
        1
    })
}

fn prepare(root: &Path, o: &Options) -> Result<(), String> {
    let mut args = vec!["build", "--release", "-p", "pluto", "-p", "whack"];
    if o.initiator == "loadgen" {
        eprintln!("xtask bench: building release pluto, whack and pluto-loadgen");
        args.extend(["-p", "pluto-loadgen"]);
        run(
            Command::new("cargo").current_dir(root).args(&args),
            "cargo build --release",
        )?;
        // The load tester is not needed.
        return Ok(());
    }
    eprintln!("xtask bench: building release pluto and whack");
    run(
        Command::new("cargo").current_dir(root).args(&args),
        "cargo build --release",
    )?;
    run(
        Command::new("sh")
            .current_dir(root)
            .arg("testnet/bench/build-loadtester.sh"),
        "testnet/bench/build-loadtester.sh",
    )
}

/// Runs testnet/bench/peers.sh for `o` (plus `extra` environment), echoing its
/// lines; returns its samples and whether it succeeded.
fn run_script(
    root: &Path,
    o: &Options,
    extra: &[(&str, &str)],
) -> Result<(Vec<Sample>, bool), String> {
    let out_dir = root.join(&o.out);
    let mut cmd = Command::new("bash");
    cmd.current_dir(root)
        .arg("testnet/bench/peers.sh")
        .env("RESPONDERS", o.responders.join(" "))
        .env("DHS", o.groups.join(" "))
        .env("REPS", o.reps.to_string())
        .env("N_CPU", o.n_cpu.to_string())
        .env("MEM_N", o.mem_n.to_string())
        .env("OUT", &out_dir)
        .env("PERF", if o.perf { "1" } else { "0" })
        .env("PLUTORS", root.join("target/release"))
        .env("PLUTORS_BASE", o.base.as_deref().unwrap_or(""))
        .env("INITIATOR", &o.initiator)
        .env("LIMIT", o.limit.to_string())
        .stdout(Stdio::piped());
    for (k, v) in extra {
        cmd.env(k, v);
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot run testnet/bench/peers.sh: {e}"))?;
    let mut samples = Vec::new();
    if let Some(stdout) = child.stdout.take() {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            println!("{line}");
            samples.extend(parse_result(&line));
        }
    }
    let status = child
        .wait()
        .map_err(|e| format!("testnet/bench/peers.sh: {e}"))?;
    Ok((samples, status.success()))
}

/// Entry point of `cargo xtask bench peers ARGS`.
pub fn main(root: &Path, args: &[String]) -> Result<i32, String> {
    let o = parse(args)?;
    prepare(root, &o)?;
    let (samples, ok) = run_script(root, &o, &[])?;
    println!();
    println!(
        "IKEv2 PSK responders under {}; {} reps, {} SAs per CPU run, {} held, at most {} setups in flight; raw lines in {}",
        initiator_name(&o.initiator),
        o.reps,
        o.n_cpu,
        o.mem_n,
        o.limit,
        root.join(&o.out).join("results.tsv").display()
    );
    println!();
    print!("{}", summary(&o, &samples));
    if samples.is_empty() || !ok {
        return Ok(1);
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_args as args;

    #[test]
    fn options_parse_and_refuse() {
        let o = parse(&args(
            "--responders plutors,charon --groups x25519 --reps 2 --n 500 --mem-n 0 --perf",
        ))
        .unwrap();
        assert_eq!(o.responders, ["plutors", "charon"]);
        assert_eq!(o.groups, ["x25519"]);
        assert_eq!((o.reps, o.n_cpu, o.mem_n, o.perf), (2, 500, 0, true));
        assert_eq!(parse(&[]).unwrap(), Options::default());
        assert!(parse(&args("--responders racoon")).is_err());
        assert!(parse(&args("--responders plutors_fake,charon_fake")).is_ok());
        assert!(parse(&args("--reps")).is_err());
        assert!(parse(&args("--reps x")).is_err());
        assert!(parse(&args("--reps 0")).is_err());
        assert!(parse(&args("--fast")).is_err());
        let g = parse(&args("--initiator loadgen --limit 256")).unwrap();
        assert_eq!((g.initiator.as_str(), g.limit), ("loadgen", 256));
        assert_eq!(parse(&[]).unwrap().initiator, "loadtester");
        assert!(parse(&args("--initiator racoon")).is_err());
        assert!(parse(&args("--limit 0")).is_err());
        let b = parse(&args("--base /old")).unwrap();
        assert_eq!(b.base.as_deref(), Some("/old"));
        assert_eq!(
            b.responders,
            ["plutors", "plutors_base", "charon", "libreswan"]
        );
    }

    #[test]
    fn fake_kernel_peers_are_compared_with_plutors_fake() {
        let all: Vec<String> = RESPONDERS.map(String::from).to_vec();
        assert_eq!(baseline("charon", &all), Some("plutors"));
        assert_eq!(baseline("charon_fake", &all), Some("plutors_fake"));
        assert_eq!(baseline("plutors_fake", &all), None);
        assert_eq!(baseline("plutors", &all), None);
        let no_fake: Vec<String> = vec!["plutors".into(), "charon_fake".into()];
        assert_eq!(baseline("charon_fake", &no_fake), None);
    }

    #[test]
    fn medians_and_ranges() {
        assert_eq!(stat(&[]), None);
        let s = stat(&[3.0, 1.0, 2.0]).unwrap();
        assert_eq!((s.median, s.min, s.max), (2.0, 1.0, 3.0));
        assert_eq!(stat(&[4.0, 1.0, 2.0, 3.0]).unwrap().median, 2.5);
        assert_eq!(stat(&[f64::NAN, 5.0]).unwrap().median, 5.0);
    }

    #[test]
    fn result_lines_become_a_table_with_ratios() {
        let lines = [
            "RESULT plutors x25519 cpu 1 cpu_us_per_sa 200",
            "RESULT plutors x25519 cpu 2 cpu_us_per_sa 100",
            "RESULT plutors x25519 cpu 3 cpu_us_per_sa 150",
            "RESULT plutors x25519 cpu 1 n 3000",
            "RESULT plutors x25519 cpu 1 established 3000",
            "RESULT charon x25519 cpu 1 cpu_us_per_sa 900",
            "RESULT charon x25519 mem 1 kib_per_sa 15.5",
            "RESULT plutors x25519 mem 1 kib_per_sa 3.1",
            "noise",
            "RESULT short line",
        ];
        let samples: Vec<Sample> = lines.iter().filter_map(|l| parse_result(l)).collect();
        assert_eq!(samples.len(), 8);
        let o = Options {
            responders: vec!["plutors".into(), "charon".into()],
            groups: vec!["x25519".into()],
            ..Options::default()
        };
        let t = summary(&o, &samples);
        assert!(
            t.contains("| x25519 | plutors | 150 [100-200] | - | 3.1 | 3000 / 3000 |"),
            "{t}"
        );
        assert!(
            t.contains("| x25519 | charon | 900 | - | 15.5 | 0 / 0 |"),
            "{t}"
        );
        assert!(t.contains("| x25519 | charon | 6.00x | 5.00x | - |"), "{t}");
        assert!(t.contains("initiator: strongSwan's load tester"), "{t}");
        assert!(!t.contains("loadgen CPU"), "{t}");
    }

    #[test]
    fn loadgen_runs_name_it_and_show_its_cpu() {
        let lines = [
            "RESULT plutors x25519 cpu 1 cpu_us_per_sa 160 loadgen",
            "RESULT plutors x25519 cpu 1 setups_per_s 4000 loadgen",
            "RESULT plutors x25519 cpu 1 lg_cpu_us_per_sa 70.5 loadgen",
            "RESULT plutors x25519 cpu 1 n 3000 loadgen",
            "RESULT plutors x25519 cpu 1 established 3000 loadgen",
        ];
        let samples: Vec<Sample> = lines.iter().filter_map(|l| parse_result(l)).collect();
        assert_eq!(samples.len(), 5);
        let o = Options {
            responders: vec!["plutors".into()],
            groups: vec!["x25519".into()],
            initiator: "loadgen".into(),
            ..Options::default()
        };
        let t = summary(&o, &samples);
        assert!(t.contains("initiator: pluto-loadgen"), "{t}");
        assert!(
            t.contains("| x25519 | plutors | 160 | 4000 | - | 3000 / 3000 | 70 |")
                || t.contains("| x25519 | plutors | 160 | 4000 | - | 3000 / 3000 | 71 |"),
            "{t}"
        );
    }
}
