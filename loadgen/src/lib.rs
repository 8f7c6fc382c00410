//! `pluto-loadgen`: many IKEv2 PSK initiators in one process, on pluto-rs's sans-IO
//! core ([`ike::ikev2::Endpoint`]), to load a responder harder than strongSwan's
//! load tester can (issue 9: the load tester saturates its own core first).
//!
//! It spreads N IKE SAs (IKE_SA_INIT + IKE_AUTH with the first Child SA, PSK) over
//! a few UDP sockets, one endpoint each, keeps at most L setups in flight, and
//! optionally deletes each SA once established. Its cost per SA is kept well
//! below the responder's by reusing one key exchange value per group for every SA
//! (RFC 7296 2.12; [`ike::crypto::KeReuse`]): what remains per SA is the
//! agreement with the responder's value, the key schedule and the two exchanges'
//! protection, on one thread.

pub mod args;
pub mod flood;
pub mod hostile;
pub mod run;
pub mod tally;
