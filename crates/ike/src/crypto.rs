//! The crypto suite: SK-payload ciphers, PRFs, integrity, key exchange and IKE key
//! derivation, over aws-lc-rs.
//!
//! Every negotiable transform is a `&'static` descriptor looked up by its IANA code
//! point ([`EncrAlg::lookup`], [`PrfAlg::from_id`], [`IntegAlg::from_id`],
//! [`KeAlg::from_id`]). The state machines hold those descriptors and the keyed objects
//! built from them ([`SkCipher`], [`PrfKey`], [`KeyExchange`]) and never branch on an
//! algorithm themselves: adding a transform means adding a descriptor here.
//!
//! Secrets (keys, shared secrets, PRF outputs) live in types that zeroize on drop and
//! whose `Debug` prints only lengths and algorithm names.
//!
//! The IKE_SA_INIT key schedule, seen from the initiator:
//!
//! ```
//! use ike::crypto::{ikev2, EncrAlg, IkeSaKeys, IkeSuite, KeAlg, PrfAlg, Role, SystemRandomSource};
//! use ike::registry::{EncrId, KeId, PrfId};
//!
//! let rng = SystemRandomSource::new();
//! let suite = IkeSuite {
//!     encr: EncrAlg::lookup(EncrId::AES_GCM_16, Some(256))?,
//!     prf: PrfAlg::lookup(PrfId::HMAC_SHA2_512)?,
//!     integ: None, // AEAD
//! };
//! let group = KeAlg::lookup(KeId::ECP_256)?;
//! let ke = group.initiate(&rng)?; // KEi carries ke.public_value()
//! let (ker, _) = group.respond(&rng, ke.public_value())?; // what the peer does
//! let g_ir = ke.complete(&ker)?;
//! let (ni, nr, spi_i, spi_r) = ([1u8; 32], [2u8; 32], [3u8; 8], [4u8; 8]);
//! let skeyseed = ikev2::skeyseed(suite.prf, &ni, &nr, &g_ir)?;
//! let keys = IkeSaKeys::derive(&suite, &skeyseed, &ni, &nr, &spi_i, &spi_r)?;
//! let (outbound, _inbound) = keys.sk_ciphers(&suite, Role::Initiator)?;
//! let header = [0u8; 32]; // IKE header + SK payload header, lengths already final
//! let body = outbound.seal(&rng, &header, b"IDi AUTH SA TSi TSr")?;
//! assert_eq!(body.len(), outbound.sealed_len(19));
//! # Ok::<(), ike::crypto::CryptoError>(())
//! ```
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod error;
mod ffi;
mod mac;
mod secret;

pub mod encr;
pub mod ikev1;
pub mod ikev2;
pub mod integ;
pub mod ke;
pub mod prf;
pub mod rng;

pub use encr::{EncrAlg, SkCipher};
pub use error::CryptoError;

pub use ikev2::{ChildSaKeys, IkeSaKeys, IkeSuite, Role};
pub use integ::{IntegAlg, IntegKey};
pub use ke::{KeAlg, KeReuse, KeyExchange, SharedSecret};
pub use prf::{PrfAlg, PrfKey, PrfOutput};
pub use rng::{RandomSource, SystemRandomSource};
pub use secret::SecretBytes;
