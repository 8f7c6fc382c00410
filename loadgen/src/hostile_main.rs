//! `pluto-hostile`: hostile packets at a live responder ([`loadgen::hostile`]). Takes
//! pluto-loadgen's options (`--local`, `--remote`, `--port`, `--psk`, `--id`,
//! `--remote-id`, `--ike`, `--esp`) for its own handshakes. Prints one `HOSTILE`
//! line per step; exits 0 when every handshake and the real Delete succeeded.

use std::net::{SocketAddr, UdpSocket};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use loadgen::args::{self, USAGE};
use loadgen::flood::template;
use loadgen::hostile::{mutations, stateless, Peer};
use loadgen::run::RunError;

const LIMIT: Duration = Duration::from_secs(10);

fn handshake(opts: &args::Options, what: &str) -> Result<Option<Peer>, RunError> {
    let mut p = Peer::new(opts)?;
    let t0 = Instant::now();
    let ok = p.establish(LIMIT)?.is_some();
    println!(
        "HOSTILE handshake {what} {} in {} ms",
        if ok { "established" } else { "FAILED" },
        t0.elapsed().as_millis()
    );
    Ok(ok.then_some(p))
}

fn run(opts: &args::Options) -> Result<bool, RunError> {
    let mut ok = handshake(opts, "before")?.is_some();

    let t31 = template(opts)?;
    let mut o19 = opts.clone();
    o19.ike = "aes128-sha2_256-dh19".into();
    let t19 = template(&o19)?;
    let natt_port = if opts.port == 500 {
        4500
    } else {
        opts.port + 4000
    };
    let sock = UdpSocket::bind(SocketAddr::new(opts.local, 0)).map_err(|source| RunError::Io {
        what: "bind".into(),
        source,
    })?;
    let mut counts = std::collections::BTreeMap::new();
    for h in stateless(&t31, &t19) {
        let port = if h.natt { natt_port } else { opts.port };
        let sent = sock
            .send_to(&h.bytes, SocketAddr::new(opts.remote, port))
            .is_ok();
        let e = counts.entry(h.family).or_insert((0u32, 0u32));
        e.0 += 1;
        e.1 += u32::from(!sent);
        std::thread::sleep(Duration::from_micros(300));
    }
    for (f, (n, failed)) in &counts {
        println!("HOSTILE sent {f} {n} (send errors {failed})");
    }

    match handshake(opts, "after-stateless")? {
        None => ok = false,
        Some(mut p) => {
            // the SA to mutate against: its Delete, and its own IKE_SA_INIT and
            // IKE_AUTH requests to replay
            let old = p.sent.clone();
            let sa = p.ike_sa().ok_or_else(|| RunError::Io {
                what: "the established IKE SA".into(),
                source: std::io::Error::other("gone"),
            })?;
            let req = p.delete_request(sa)?;
            let mut n = 0;
            for (to, r) in &req {
                for m in mutations(r) {
                    p.send_raw(*to, &m);
                    n += 1;
                    std::thread::sleep(Duration::from_micros(300));
                }
            }
            for (to, r) in &old {
                p.send_raw(*to, r);
                n += 1;
            }
            println!("HOSTILE sent encrypted-mutations {n}");
            std::thread::sleep(Duration::from_millis(500));
            let t0 = Instant::now();
            let done = p.finish_delete(&req, LIMIT);
            println!(
                "HOSTILE real-delete {} in {} ms",
                if done { "answered" } else { "FAILED" },
                t0.elapsed().as_millis()
            );
            ok &= done;
        }
    }
    ok &= handshake(opts, "final")?.is_some();
    Ok(ok)
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let opts = match args::parse(&argv) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("pluto-hostile: {e}\nusage: {USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&opts) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("pluto-hostile: {e}");
            ExitCode::from(2)
        }
    }
}
