//! whack: the thin control client that drives pluto over its control socket.

use std::io::Write;
use std::process::ExitCode;

use control::{client, rc, Secret};
use whack::{parse, Parsed};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let inv = match parse(args) {
        Ok(Parsed::Help) => {
            print!("{}", whack::usage::USAGE);
            return ExitCode::SUCCESS;
        }
        Ok(Parsed::Version) => {
            println!("pluto-rs whack {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Ok(Parsed::Run(inv)) => inv,
        Err(e) => {
            eprintln!("whack: {e}");
            return ExitCode::from(1);
        }
    };
    let stdout = std::io::stdout();
    let mut user_given = inv.xauth_user.clone();
    let mut pass_given = inv.xauth_pass.clone();
    let result = client::exchange(
        &inv.ctlsocket,
        &inv.envelope,
        |_code, text| {
            let mut out = stdout.lock();
            let _ = writeln!(out, "{text}");
            let _ = out.flush();
        },
        |code, text| {
            // Answer from the command line once; after that (a retry), ask.
            let given = if code == rc::USERPROMPT {
                user_given.take().map(Secret::new)
            } else {
                pass_given.take()
            };
            if given.is_some() {
                return given;
            }
            let answer = whack::tty::prompt(text, code == rc::USERPROMPT);
            if answer.is_none() {
                eprintln!("whack: pluto asks \"{text}\" but there is no terminal to prompt on; give --xauthuser/--xauthpass");
            }
            answer.map(Secret::new)
        },
    );
    match result {
        Ok(status) => ExitCode::from(u8::try_from(status).unwrap_or(1)),
        Err(e) => {
            eprintln!("whack: {e}");
            ExitCode::from(1)
        }
    }
}
