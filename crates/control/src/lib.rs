//! The control-socket protocol that whack speaks to pluto, and its server side.
//!
//! - [`request`]: [`Request`], one variant per form of ipsec-whack(8).
//! - [`wire`]: the JSON-lines framing, [`Envelope`], [`Reply`], the protocol version.
//! - [`rc`]: libreswan's progress codes, which become whack's exit status.
//! - [`client`]: the blocking client whack uses.
//! - [`server`]: the tokio accept loop; the daemon receives [`server::Command`]s.
//! - [`classes`]: the debug classes and impairments.
//! - [`metrics`]: the status documents in Prometheus' text format.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod classes;
pub mod client;
pub mod metrics;
pub mod rc;
pub mod request;
pub mod secret;
pub mod server;
pub mod wire;

pub use conn::spec::{ConnSpec, EndSpec};
pub use request::Request;
pub use secret::Secret;
pub use wire::{Envelope, OutputOptions, Reply, PROTOCOL_VERSION};

/// The default control socket, as in libreswan.
pub const DEFAULT_CTLSOCKET: &str = "/run/pluto/pluto.ctl";
/// The default run directory (control socket and pid file).
pub const DEFAULT_RUNDIR: &str = "/run/pluto";
/// The control socket's file name inside the run directory.
pub const CTL_FILE: &str = "pluto.ctl";
/// The pid file's name inside the run directory.
pub const PID_FILE: &str = "pluto.pid";
