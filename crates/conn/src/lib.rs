//! The connection/policy database of pluto-rs: connection descriptions, their validation
//! and orientation, the database and its lookups, `ipsec.conf` and `ipsec.secrets`.
//!
//! The crate is sans-IO except for the two file readers ([`conf::Config::load`],
//! [`secrets::Secrets::load`]), which take paths. Everything the daemon learns about the
//! machine (its addresses, the default route) is passed in as a
//! [`connection::HostAddrs`].
//!
//! The flow:
//!
//! 1. `whack --name ... --to ...` or an `ipsec.conf` `conn` section fills a
//!    [`spec::ConnSpec`] (plain strings and keywords, serde-serializable for the control
//!    socket).
//! 2. [`db::ConnDb::add`] validates it into a typed [`connection::Connection`]
//!    ([`connection::Connection::from_spec`]), orients it (which end is us) and gives
//!    it a serial (`$1`). Errors name the option and the problem.
//! 3. Negotiation looks connections up by address pair, peer ID and traffic
//!    selectors, instantiating `%any` templates per peer.
//! 4. [`status`] renders libreswan's `--connectionstatus` lines.
//!
//! Modules:
//! - [`spec`] holds the untyped description and its keyword enums.
//! - [`addr`] and [`id`] hold hosts, subnets, protocol/ports, ranges; IKE identities,
//!   with conversions to the wire forms the IKE core uses (`ike::ts` traffic
//!   selectors, ID payload type and data).
//! - [`policy`] holds connection-wide policy with libreswan's defaults.
//! - [`proposals`] holds the parsed `ike=`/`esp=` proposals (via `ike::proposal`)
//!   with `pfs=`/`pfsgroup=` applied.
//! - [`connection`] holds validation, orientation, templates and instances.
//! - [`db`] holds the database and its lookups.
//! - [`secrets`] holds `ipsec.secrets` and PSK/key/XAUTH lookup.
//! - [`conf`] holds `ipsec.conf`.
//! - [`status`] holds status output.
//! - [`files`] holds include globbing and quoting shared by the readers.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod addr;
pub mod conf;
pub mod connection;
pub mod db;
pub mod files;
pub mod id;
pub mod policy;
pub mod proposals;
pub mod secrets;
pub mod spec;
pub mod status;

pub use connection::{ConnError, ConnSerial, Connection, HostAddrs, Side};
pub use db::{ConnDb, DbError};
pub use id::Id;
pub use proposals::Proposals;
pub use spec::{ConnSpec, EndSpec};
