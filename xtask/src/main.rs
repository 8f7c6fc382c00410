//! cargo xtask: test-net runner, benchmarks, fuzzing and release helpers.
//!
//! `cargo xtask testnet <kernel|quick|interop>` builds the cases, runs them where the
//! kernel has ESP (inside User-Mode Linux when the host has none), prints one line per
//! case and `N passed, N failed` last, and exits non-zero on any failure.
//!
//! `cargo xtask fuzz [--all | target...] [--runs N | --time SECS] [--sanitizer none]` runs the fuzz
//! targets (all twelve, one million runs each, by default; `--sanitizer none` builds
//! them without AddressSanitizer) and prints a summary; `cargo xtask bench` runs the
//! ike criterion benchmarks, `cargo xtask bench peers` the daemon against charon and
//! libreswan under strongSwan's load tester, `cargo xtask bench conns` loads, adds and
//! starts many connections in a real pluto-rs (as root, in network namespaces).

mod bench;
mod bench_conns;
mod bench_peers;
mod fuzz;
mod install;
mod testnet;

use std::path::{Path, PathBuf};

/// The workspace root (xtask lives one level below it).
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// Command-line words from one string, for the option parsers' tests.
#[cfg(test)]
fn test_args(s: &str) -> Vec<String> {
    s.split_whitespace().map(String::from).collect()
}

fn usage() -> ! {
    eprintln!(
        "usage: cargo xtask demo   (a pluto-rs tunnel to strongSwan from an ipsec.conf through the ipsec command, real ESP)\n\
         \x20      cargo xtask testnet <kernel|quick|interop|lifecycle|hostile|demo|service> [--uml|--host] [--jobs N] [--filter SUBSTR] [--list]\n\
         \x20      cargo xtask fuzz [--all | TARGET...] [--runs N | --time SECS] [--sanitizer none]\n\
         \x20      cargo xtask bench [--quick] [codec|crypto|handshake|compute] [-- CRITERION_ARGS...]\n\
         \x20      cargo xtask bench peers [--responders plutors,charon,libreswan] [--groups x25519,ecp256] [--reps N] [--n N] [--mem-n N] [--perf] [--initiator loadtester|loadgen] [--limit N]\n\
         \x20      cargo xtask bench hold [--n N]   (pluto-rs holding N tunnels, XFRM faked)\n\
         \x20      cargo xtask bench conns [--quick] [--load N,N] [--adds N] [--starts N] [--keep]\n\
         \x20      cargo xtask install [--destdir DIR] [--no-build]\n\
         \n\
         tiers:\n\
         \x20 kernel   every crates/kernel end-to-end case (XFRM SAs, policies, events)\n\
         \x20 quick    what CI runs: the kernel cases that matter most + scenarios tagged quick\n\
         \x20 interop  scenarios tagged interop (pluto-rs/strongSwan/libreswan) + the kernel cases\n\
         \n\
         --uml / --host  force where the cases run (default: the host if its kernel has ESP, else UML)\n\
         --jobs N        UML guests run in parallel (default: 2 on a machine with 2+ CPUs)\n\
         --filter S      only cases whose name contains S\n\
         --list          print the cases of the tier and exit"
    );
    std::process::exit(2);
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some(cmd @ ("testnet" | "demo")) => {
            // `cargo xtask demo` is the demo tier of the test net.
            let tier_args: Vec<String> = if cmd == "demo" {
                std::iter::once("demo".to_string())
                    .chain(args[1..].iter().cloned())
                    .collect()
            } else {
                args[1..].to_vec()
            };
            let code = match testnet::main(&tier_args) {
                Ok(code) => code,
                Err(e) => {
                    // the tier could not run at all: still end with the summary line
                    eprintln!("xtask testnet: {e}");
                    println!("0 passed, 1 failed");
                    2
                }
            };
            std::process::exit(code);
        }
        Some(cmd @ ("fuzz" | "bench" | "install")) => {
            let root = workspace_root();
            let run = match cmd {
                "fuzz" => fuzz::main,
                "bench" => bench::main,
                _ => install::main,
            };
            let code = run(&root, &args[1..]).unwrap_or_else(|e| {
                eprintln!("xtask {cmd}: {e}");
                2
            });
            std::process::exit(code);
        }
        _ => usage(),
    }
}
