//! The one error type of the crypto suite, with the notify each failure maps to.

use crate::registry::{KeId, NotifyType};

/// What went wrong in a crypto operation.
///
/// Failures caused by peer input ([`Malformed`](Self::Malformed),
/// [`InvalidPublicValue`](Self::InvalidPublicValue), ...) carry enough to pick the
/// notify to answer with via [`CryptoError::notify`]; integrity failures deliberately
/// map to none, because RFC 7296 section 2.21 says such messages are dropped silently.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// A transform id (or id + key length) we do not implement.
    #[error("{kind} transform {id} (key length {key_bits:?}) is not supported; remove it from the proposal")]
    Unsupported {
        /// Transform type name (ENCR, PRF, INTEG, KE).
        kind: &'static str,
        /// The IANA transform id.
        id: u16,
        /// The key length attribute in bits, if one was given.
        key_bits: Option<u16>,
    },
    /// A key of the wrong length was handed to a keyed transform (a bug in the caller's
    /// key derivation, never peer input).
    #[error("{alg} needs a {expected}-byte key but got {got} bytes; derive keys with the negotiated transform lengths")]
    KeyLength {
        /// Algorithm name.
        alg: &'static str,
        /// Expected key length in bytes.
        expected: usize,
        /// Given key length in bytes.
        got: usize,
    },
    /// A key rejected by the backend (for example a degenerate 3DES key).
    #[error(
        "{alg} rejected the key material (weak or degenerate key); renegotiate to get fresh keys"
    )]
    KeyRejected {
        /// Algorithm name.
        alg: &'static str,
    },
    /// Authenticated data whose content is impossible (an SK pad length larger than
    /// the payload, a nonce too short for the PRF key, an IKEv1 message that is not
    /// whole cipher blocks).
    #[error("encrypted payload is malformed: {0}")]
    Malformed(&'static str),
    /// An encrypted payload too short or misaligned to be authenticated at all; like an
    /// integrity failure it is dropped without an answer.
    #[error("encrypted payload cannot be authenticated ({0}); dropping it")]
    Unauthenticated(&'static str),
    /// ICV or AEAD tag did not verify: the message was modified or keys disagree.
    #[error("integrity check of the encrypted payload failed (message corrupted or keys disagree); dropping it")]
    IntegrityCheckFailed,
    /// A key exchange public value (or KEM ciphertext) of the wrong length.
    #[error("KE data for {group} is {got} bytes but must be {expected}")]
    PublicValueLength {
        /// The group.
        group: KeId,
        /// Required length.
        expected: usize,
        /// Received length.
        got: usize,
    },
    /// A key exchange public value that fails validation (0, 1, p-1, >= p, a point off
    /// the curve, a low-order point, an all-zero X25519 result, a bad ML-KEM key).
    #[error("peer's KE public value for {group} is invalid: {reason}")]
    InvalidPublicValue {
        /// The group.
        group: KeId,
        /// What check failed.
        reason: &'static str,
    },
    /// The peer's KE payload names a different group than the one negotiated.
    #[error("KE payload uses {got} but {expected} was negotiated; answer with INVALID_KE_PAYLOAD")]
    KeGroupMismatch {
        /// The negotiated group.
        expected: KeId,
        /// The group in the KE payload.
        got: KeId,
    },
    /// A transform was used in a role it does not have (e.g. an AEAD cipher with a
    /// separate integrity key, or a non-AEAD cipher without one).
    #[error("invalid transform combination: {0}")]
    InvalidCombination(&'static str),
    /// The caller's output buffer is the wrong size.
    #[error("output buffer is {got} bytes but {need} are needed")]
    BufferSize {
        /// Required size.
        need: usize,
        /// Given size.
        got: usize,
    },
    /// prf+ was asked for more than 255 blocks (RFC 7296 section 2.13).
    #[error("prf+ cannot produce {requested} bytes with a {block}-byte PRF (255 blocks at most)")]
    PrfPlusTooLong {
        /// Bytes requested.
        requested: usize,
        /// PRF output size.
        block: usize,
    },
    /// The system random source failed.
    #[error("the system random number generator failed; check /dev/urandom and getrandom()")]
    Random,
    /// The crypto library reported an internal failure.
    #[error("crypto backend failure in {0}")]
    Backend(&'static str),
}

impl CryptoError {
    /// The notify to send for this failure, if any.
    ///
    /// `None` means the failure is local (a bug or a resource problem) or, for
    /// integrity failures, that the message must be dropped without an answer.
    pub fn notify(&self) -> Option<NotifyType> {
        match self {
            Self::Malformed(_)
            | Self::PublicValueLength { .. }
            | Self::InvalidPublicValue { .. } => Some(NotifyType::INVALID_SYNTAX),
            Self::KeGroupMismatch { .. } => Some(NotifyType::INVALID_KE_PAYLOAD),
            Self::Unsupported { .. } => Some(NotifyType::NO_PROPOSAL_CHOSEN),
            Self::IntegrityCheckFailed
            | Self::Unauthenticated(_)
            | Self::KeyLength { .. }
            | Self::KeyRejected { .. }
            | Self::InvalidCombination(_)
            | Self::BufferSize { .. }
            | Self::PrfPlusTooLong { .. }
            | Self::Random
            | Self::Backend(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notify_mapping() {
        let e = CryptoError::InvalidPublicValue {
            group: KeId::MODP2048,
            reason: "1",
        };
        assert_eq!(e.notify(), Some(NotifyType::INVALID_SYNTAX));
        let e = CryptoError::KeGroupMismatch {
            expected: KeId::ECP_256,
            got: KeId::MODP2048,
        };
        assert_eq!(e.notify(), Some(NotifyType::INVALID_KE_PAYLOAD));
        assert_eq!(CryptoError::IntegrityCheckFailed.notify(), None);
    }
}
