//! whack: the command-line client that drives pluto over its control socket.
//!
//! The binary is thin: [`parse::parse`] turns the command line into an
//! [`parse::Invocation`], and `main` sends it with [`control::client`] and prints
//! the reply. The parser lives in this library so that its grammar is tested
//! without a daemon.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod ipsec;
pub mod options;
pub mod parse;
pub mod run;
pub mod tty;
pub mod usage;

pub use parse::{parse, Invocation, Parsed, UsageError};
