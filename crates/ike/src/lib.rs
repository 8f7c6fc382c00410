//! IKEv1/IKEv2 wire codec, crypto suite, proposal syntax and sans-IO state machines.
//!
//! Nothing in this crate opens a socket or reads a clock: callers hand it bytes, time
//! and events, and it hands back bytes to send, timers to arm and kernel requests.

pub mod codec;
pub mod crypto;
pub mod ikev2;
pub mod proposal;
pub mod registry;
pub mod ts;
