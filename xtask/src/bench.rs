//! `cargo xtask bench [--quick] [BENCH] [-- CRITERION_ARGS...]`: runs the criterion
//! benchmarks of crates/ike (`cargo bench -p ike`). `cargo xtask bench peers ...`
//! is the daemon against charon and libreswan instead (`bench_peers`).
//!
//! `--quick` is the short measurement docs/benchmarks.md records (1 s warm-up, 2 s
//! measurement, no plots); `BENCH` (`codec`, `crypto`, `handshake` or `compute`,
//! the last not a criterion bench: it ignores criterion's options) runs one bench
//! target only; anything after `--` goes to criterion as is (a filter,
//! `--save-baseline`, ...).
//!
//! `cargo xtask bench conns [...]` is not criterion: it runs pluto-rs itself with many
//! connections (see `bench_conns.rs`).

use std::path::Path;
use std::process::Command;

/// The bench targets of crates/ike.
pub const BENCHES: [&str; 4] = ["codec", "crypto", "handshake", "compute"];

const QUICK: [&str; 5] = ["--warm-up-time", "1", "--measurement-time", "2", "--noplot"];

/// The `cargo` arguments for the given xtask arguments.
fn cargo_args(args: &[String]) -> Result<Vec<String>, String> {
    let (ours, criterion) = match args.iter().position(|a| a == "--") {
        Some(i) => (&args[..i], &args[i + 1..]),
        None => (args, &[][..]),
    };
    let mut out: Vec<String> = ["bench", "-p", "ike"].map(String::from).to_vec();
    let mut extra: Vec<String> = Vec::new();
    for a in ours {
        match a.as_str() {
            "--quick" => extra.extend(QUICK.map(String::from)),
            b if BENCHES.contains(&b) => out.extend(["--bench".to_string(), b.to_string()]),
            other => {
                return Err(format!(
                    "unknown bench option {other:?} (benches: {}; criterion options go after --)",
                    BENCHES.join(", ")
                ))
            }
        }
    }
    extra.extend(criterion.iter().cloned());
    if !extra.is_empty() {
        out.push("--".to_string());
        out.extend(extra);
    }
    Ok(out)
}

/// Entry point; returns the process exit code of `cargo bench`. `bench conns ...`
/// is the connection-scale benchmark of [`crate::bench_conns`] instead.
pub fn main(root: &Path, args: &[String]) -> Result<i32, String> {
    match args.first().map(String::as_str) {
        Some("peers") => return crate::bench_peers::main(root, &args[1..]),
        Some("hold") => return crate::bench_peers::hold(root, &args[1..]),
        Some("conns") => return crate::bench_conns::main(root, &args[1..]),
        _ => {}
    }
    let cargo_args = cargo_args(args)?;
    eprintln!("xtask bench: cargo {}", cargo_args.join(" "));
    let status = Command::new("cargo")
        .current_dir(root)
        .args(&cargo_args)
        .status()
        .map_err(|e| format!("cannot run cargo bench: {e}"))?;
    Ok(status.code().unwrap_or(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_args as args;

    #[test]
    fn maps_options_to_cargo_bench() {
        assert_eq!(cargo_args(&[]).unwrap(), args("bench -p ike"));
        assert_eq!(
            cargo_args(&args("--quick codec")).unwrap(),
            args("bench -p ike --bench codec -- --warm-up-time 1 --measurement-time 2 --noplot")
        );
        assert_eq!(
            cargo_args(&args("crypto -- sk_seal --noplot")).unwrap(),
            args("bench -p ike --bench crypto -- sk_seal --noplot")
        );
        assert!(cargo_args(&args("--fast")).is_err());
    }
}
