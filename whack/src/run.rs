//! The whole of whack as a function, so the binary is a one-liner and end-to-end
//! tests drive exactly the code users run.

use std::io::Write;

use control::{client, rc, Secret};

use crate::{parse, Invocation, Parsed};

/// Runs whack with `args` (without the program name), writing pluto's output to
/// `out` as it arrives and whack's own complaints to `err`. Returns the exit status
/// as the manual's EXIT STATUS section defines it.
pub fn run<I, S>(args: I, out: &mut dyn Write, err: &mut dyn Write) -> u8
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let inv = match parse(args) {
        Ok(Parsed::Help) => {
            let _ = out.write_all(crate::usage::USAGE.as_bytes());
            return 0;
        }
        Ok(Parsed::Version) => {
            let _ = writeln!(out, "pluto-rs whack {}", env!("CARGO_PKG_VERSION"));
            return 0;
        }
        Ok(Parsed::Run(inv)) => inv,
        Err(e) => {
            let _ = writeln!(err, "whack: {e}");
            return 1;
        }
    };
    send(&inv, out, err)
}

/// Sends one invocation to pluto, writing its output to `out` as it arrives and
/// problems to `err`; returns the exit status as for [`run`]. The `ipsec` command
/// sends what it builds from ipsec.conf through this too.
pub fn send(inv: &Invocation, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let mut prompt_problem = None;
    let result = client::exchange(
        &inv.ctlsocket,
        &inv.envelope,
        |_code, text| {
            let _ = writeln!(out, "{text}");
            let _ = out.flush();
        },
        |code, text| {
            // pluto-rs has no XAUTH (whack refuses --xauthuser/--xauthpass), but the
            // protocol's prompts are answered from the terminal as libreswan's whack does.
            let answer = crate::tty::prompt(text, code == rc::USERPROMPT);
            if answer.is_none() {
                prompt_problem = Some(format!(
                    "pluto asked \"{text}\" but there is no terminal to prompt on"
                ));
            }
            answer.map(Secret::new)
        },
    );
    if let Some(p) = prompt_problem {
        let _ = writeln!(err, "whack: {p}");
    }
    match result {
        Ok(status) => u8::try_from(status).unwrap_or(1),
        Err(e) => {
            let _ = writeln!(err, "whack: {e}");
            1
        }
    }
}
