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
pub use ke::{KeAlg, KeyExchange, SharedSecret};
pub use prf::{PrfAlg, PrfKey, PrfOutput};
pub use rng::{RandomSource, SystemRandomSource};
pub use secret::SecretBytes;
