//! `pluto-loadgen`: see the library documentation; the usage is in [`loadgen::args`].

use std::process::ExitCode;

use loadgen::args::{self, USAGE};
use loadgen::run::{process_cpu, Run};
use loadgen::tally::Tally;

fn progress(t: &Tally) {
    println!(
        "LOADGEN progress established {} failed {} in_setup {} live {}",
        t.established,
        t.failed,
        t.in_setup(),
        t.live()
    );
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("LOADGEN_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error")),
        )
        .init();
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let opts = match args::parse(&argv) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("pluto-loadgen: {e}\nusage: {USAGE}");
            return ExitCode::from(2);
        }
    };
    let mut run = match Run::new(&opts) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("pluto-loadgen: {e}");
            return ExitCode::from(2);
        }
    };
    let cpu0 = process_cpu();
    let elapsed = match run.setup(&mut progress) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("pluto-loadgen: {e}");
            return ExitCode::FAILURE;
        }
    };
    let cpu = process_cpu().saturating_sub(cpu0);
    print!("{}", run.tally.report(elapsed, cpu));
    println!("LOADGEN done");
    if opts.hold {
        if let Err(e) = run.hold(&mut progress) {
            eprintln!("pluto-loadgen: {e}");
            return ExitCode::FAILURE;
        }
    }
    if run.tally.established == opts.n {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
