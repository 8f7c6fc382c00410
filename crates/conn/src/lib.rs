//! The connection/policy database: connections, policies, ipsec.conf/ipsec.secrets.
//!
//! The crate is sans-IO except for the `ipsec.conf` and `ipsec.secrets` readers, which
//! take paths. Everything the daemon learns about the machine (its addresses) is passed in.
//!
//! - [`spec`]: [`spec::ConnSpec`], the untyped description `whack` and `ipsec.conf` fill.

pub mod addr;
pub mod connection;
pub mod db;
pub mod files;
pub mod id;
pub mod policy;
pub mod secrets;
pub mod spec;
