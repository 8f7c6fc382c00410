//! Typed, panic-free encode/decode of IKEv2 (RFC 7296, RFC 7383) and ISAKMP/IKEv1
//! (RFC 2408/2409/3947) messages.
//!
//! * [`v2`]: IKEv2 messages, payloads and the SK/SKF encryption boundary.
//! * [`v1`]: ISAKMP/IKEv1 messages and payloads, with the encrypted body opaque.
//! * [`Attribute`]: the TV/TLV data attributes both versions share.
//!
//! Decoding reads untrusted peer bytes through a bounds-checked cursor and never
//! panics; failures are [`DecodeError`]s that know the notify to answer with. Payload
//! bodies are decoded into owned values so they can be kept in state; bytes are copied
//! once, straight from the datagram into each value, and encoding appends into a
//! caller-owned buffer that can be reused across messages.

mod attr;
mod error;
mod io;
mod spi;
pub mod v1;
pub mod v2;

pub use attr::{AttrValue, Attribute};
pub use error::{DecodeError, EncodeError};
pub use spi::{Spi, MAX_SPI_LEN};
pub use v2::peek_major_version;
