//! The only place that talks to the kernel IPsec stack: XFRM netlink SAs, policies,
//! SPIs and acquire/expire events, plus the rtnetlink queries and socket options the
//! daemon needs around them.
//!
//! The daemon opens one [`Kernel`] handle (cheap to clone) and one [`EventStream`]:
//!
//! ```no_run
//! # async fn demo() -> Result<(), kernel::KernelError> {
//! let (kernel, mut events) = kernel::Kernel::new()?;
//! let spi = kernel
//!     .alloc_spi("192.0.2.2".parse().unwrap(), "192.0.2.1".parse().unwrap(),
//!                kernel::IpsecProto::Esp, 16384)
//!     .await?;
//! # let _ = spi;
//! while let Ok(ev) = events.next().await {
//!     println!("{ev:?}");
//! }
//! # Ok(()) }
//! ```
//!
//! Messages are built by this crate (module `wire`) over raw netlink sockets driven by
//! tokio; see docs/kernel.md for the XFRM features used, the priority scheme and what
//! state counts as this daemon's own.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod alg;
pub mod error;
pub mod event;
mod kernel;
pub mod netns;
mod nl;
pub mod policy;
pub mod route;
mod rule;
pub mod sa;
pub mod selector;
pub mod socket;
mod wire;

pub use alg::{Comp, Encr, Integ, SecretKey};
pub use error::{KernelError, Op};
pub use event::{EventStream, KernelEvent};
pub use kernel::{Change, FlushReport, Kernel, Ownership, CPI_RANGE, SPI_RANGE};
pub use policy::{
    priority, Dir, PolicyAction, PolicyId, PolicyInfo, PolicySpec, Priority, Template,
};
pub use route::{Interface, Route};
pub use sa::{
    Encap, IpsecProto, Lifetimes, Limits, Mark, Mode, SaCounters, SaCrypto, SaId, SaInfo, SaSpec,
};
pub use selector::{Selector, Subnet};

/// Entry points for the cargo-fuzz targets (`fuzz/`): what the kernel sends is
/// untrusted input too, and these reach the parsers that are private otherwise.
#[doc(hidden)]
pub mod fuzzing {
    /// Splits `data` as a netlink datagram and runs every message through each
    /// parser of kernel replies and events (none may panic, whatever the bytes).
    pub fn kernel_datagram(data: &[u8]) {
        let Ok(msgs) = crate::nl::split_messages(data) else {
            return;
        };
        for m in msgs {
            let _ = crate::nl::parse_error(&m);
            let _ = crate::wire::parse_sa(&m.payload);
            let _ = crate::wire::parse_policy(&m.payload);
            let _ = crate::wire::parse_event(m.msg_type, &m.payload);
            let _ = crate::route::parse_route(&m.payload);
            let _ = crate::nl::attrs(&m.payload, 0);
        }
    }
}
