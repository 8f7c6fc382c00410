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
//!
//! # Sending and receiving a protected IKEv2 message
//!
//! ```
//! use ike::codec::v2::{self, Payload};
//! use ike::registry::{ExchangeType, IdType, PayloadType};
//!
//! let header = v2::Header {
//!     spi_i: [1; 8],
//!     spi_r: [2; 8],
//!     minor_version: 0,
//!     exchange: ExchangeType::IKE_AUTH,
//!     flags: v2::Flags { initiator: true, ..Default::default() },
//!     message_id: 1,
//! };
//! let inner = vec![Payload::IdI(v2::Identification {
//!     id_type: IdType::FQDN,
//!     data: b"west.example".to_vec(),
//! })];
//!
//! // Sender: plaintext chain, then (crypto pads and seals it) header + SK header.
//! let mut plaintext = Vec::new();
//! let first = v2::encode_chain(&inner, &mut plaintext)?;
//! let sealed = plaintext.clone(); // stands in for IV || ciphertext || ICV
//! let mut datagram = Vec::new();
//! let span = v2::encode_encrypted_prefix(&header, &[], first, None, sealed.len(), &mut datagram)?;
//! // AEAD associated data is datagram[span.aad()]; append the sealed body.
//! datagram.extend_from_slice(&sealed);
//!
//! // Receiver: locate SK, check integrity over the raw bytes, open, decode the chain.
//! let (msg, span) = v2::Message::decode_located(&datagram)?;
//! let span = span.expect("protected message");
//! let Some(Payload::Sk(sk)) = msg.payloads.last() else { unreachable!() };
//! assert_eq!(&datagram[span.body()], sk.body.as_slice());
//! let opened = &datagram[span.body()]; // stands in for the decrypted, unpadded plaintext
//! assert_eq!(v2::decode_chain(sk.next_inner, opened)?, inner);
//! assert_eq!(sk.next_inner, PayloadType::IDI);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod attr;
mod error;
mod header;
mod io;
mod spi;
pub mod v1;
pub mod v2;

pub use attr::{AttrValue, Attribute};
pub use error::{DecodeError, EncodeError};
pub use spi::{Spi, MAX_SPI_LEN};
pub use v2::peek_major_version;
