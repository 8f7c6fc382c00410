//! `pluto-flood`: a spoofed IKE_SA_INIT flood ([`loadgen::flood`]); usage in
//! [`loadgen::flood::FLOOD_USAGE`].

use std::process::ExitCode;

use loadgen::flood::{self, Counts, Flood, FloodArgs, FLOOD_USAGE};

fn line(what: &str, c: &Counts) {
    println!(
        "FLOOD {what} sent {} answers {} cookies {} notifies {} other {} send_errors {}",
        c.sent, c.answers, c.cookies, c.notifies, c.other, c.send_errors
    );
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let a = match FloodArgs::parse(&argv) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("pluto-flood: {e}\nusage: {FLOOD_USAGE}");
            return ExitCode::from(2);
        }
    };
    let request = match flood::template(&a.template_options()) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("pluto-flood: {e}");
            return ExitCode::from(2);
        }
    };
    let sources = flood::sources(a.first, a.count);
    let mut f = match Flood::new(&sources, a.sport, a.remote, request) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("pluto-flood: {e}");
            return ExitCode::from(2);
        }
    };
    let t0 = std::time::Instant::now();
    f.run(a.rate, a.duration, &mut |c| line("progress", c));
    let secs = t0.elapsed().as_secs_f64();
    line("done", &f.counts);
    println!("FLOOD rate {:.0}", f.counts.sent as f64 / secs);
    ExitCode::SUCCESS
}
