//! pluto: the IKE keying daemon. Owns the sockets, timers and the runtime; the
//! protocol lives in `ike`, connections in `conn`, the control protocol in `control`.
//!
//! - [`args`]: the command line.
//! - [`pluto`]: [`pluto::Pluto`], the central state, and the whack handlers.
//! - [`status`]: the status forms, text and JSON.
//! - [`daemon`]: the main loop wiring the control server to [`pluto::Pluto`].

pub mod args;
pub mod children;
pub mod compute;
pub mod convert;
pub mod daemon;
pub mod engine;
pub mod events;
pub mod forms;
pub mod ifaddrs;
pub mod journal;
pub mod kworker;
pub mod logging;
pub mod metrics;
pub mod notify;
pub mod pluto;
pub mod secrets_load;
pub mod setup;
pub mod sockets;
pub mod stats;
pub mod status;
pub mod timefmt;
pub mod updown;
pub mod waiters;
pub mod xfrm;
