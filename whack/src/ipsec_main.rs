//! ipsec: libreswan's front command for pluto-rs (`ipsec status`, `ipsec up NAME`,
//! `ipsec add NAME`, `ipsec auto --up NAME` ...); the work is in `whack::ipsec`.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

use std::process::ExitCode;

fn main() -> ExitCode {
    let status = whack::ipsec::run(
        std::env::args().skip(1),
        &mut std::io::stdout(),
        &mut std::io::stderr(),
    );
    ExitCode::from(status)
}
