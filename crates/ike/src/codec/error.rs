//! Decode and encode errors, each knowing the notify it must be answered with.

use crate::registry::{NotifyType, PayloadType, V1NotifyType};

/// Why a datagram, payload or sub-structure could not be decoded.
///
/// Every variant maps to the IKEv2 notify ([`DecodeError::v2_notify`]) and the ISAKMP
/// notify ([`DecodeError::v1_notify`]) that RFC 7296 / RFC 2408 prescribe, so the state
/// machine can answer (or, for unauthenticated messages, silently drop) without
/// re-classifying the failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Fewer bytes remained than the structure needs.
    #[error("{what} truncated: needs {need} bytes but only {have} remain; the packet is malformed or was cut short")]
    Truncated {
        /// The structure being read.
        what: &'static str,
        /// Bytes it needs.
        need: usize,
        /// Bytes that were left.
        have: usize,
    },
    /// A length field disagrees with the bytes around it.
    #[error("{what} length {length} is invalid ({reason}); the packet is malformed")]
    BadLength {
        /// The structure whose length field is wrong.
        what: &'static str,
        /// The length it claimed.
        length: usize,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A field holds a value the protocol does not allow.
    #[error("{what} is malformed: {reason}")]
    Malformed {
        /// The structure being read.
        what: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The header's major version is not the one this decoder speaks.
    #[error("IKE major version {found} is not supported (expected {expected}); the peer speaks another IKE version")]
    InvalidMajorVersion {
        /// Major version in the header.
        found: u8,
        /// Major version this decoder handles.
        expected: u8,
    },
    /// An IKEv2 payload this build does not know arrived with the critical bit set.
    #[error("unsupported critical payload {0}; the peer requires an extension this build lacks")]
    UnsupportedCriticalPayload(PayloadType),
    /// An ISAKMP payload type that is unknown or not allowed where it appeared.
    #[error("invalid ISAKMP payload type {0} in this position")]
    InvalidPayloadType(PayloadType),
    /// An ISAKMP SA payload for a domain of interpretation other than IPsec (1).
    #[error("ISAKMP DOI {0} is not supported (only the IPsec DOI, 1)")]
    DoiNotSupported(u32),
    /// An IPsec DOI situation with secrecy or integrity labels, which nobody deploys.
    #[error("IPsec DOI situation {0:#x} is not supported (only SIT_IDENTITY_ONLY)")]
    SituationNotSupported(u32),
}

impl DecodeError {
    /// The IKEv2 notify a responder answers this failure with (RFC 7296 3.10.1).
    pub fn v2_notify(&self) -> NotifyType {
        match self {
            DecodeError::InvalidMajorVersion { .. } => NotifyType::INVALID_MAJOR_VERSION,
            DecodeError::UnsupportedCriticalPayload(_) => NotifyType::UNSUPPORTED_CRITICAL_PAYLOAD,
            _ => NotifyType::INVALID_SYNTAX,
        }
    }

    /// The ISAKMP notify this failure maps to (RFC 2408 3.14.1).
    pub fn v1_notify(&self) -> V1NotifyType {
        match self {
            DecodeError::InvalidMajorVersion { .. } => V1NotifyType::INVALID_MAJOR_VERSION,
            DecodeError::InvalidPayloadType(_) | DecodeError::UnsupportedCriticalPayload(_) => {
                V1NotifyType::INVALID_PAYLOAD_TYPE
            }
            DecodeError::DoiNotSupported(_) => V1NotifyType::DOI_NOT_SUPPORTED,
            DecodeError::SituationNotSupported(_) => V1NotifyType::SITUATION_NOT_SUPPORTED,
            DecodeError::Truncated { .. }
            | DecodeError::BadLength { .. }
            | DecodeError::Malformed { .. } => V1NotifyType::PAYLOAD_MALFORMED,
        }
    }

    /// For [`DecodeError::UnsupportedCriticalPayload`], the payload type to put in the
    /// notify's data (RFC 7296 3.10.1: "the one-octet payload type").
    pub fn unsupported_payload_type(&self) -> Option<PayloadType> {
        match self {
            DecodeError::UnsupportedCriticalPayload(t) | DecodeError::InvalidPayloadType(t) => {
                Some(*t)
            }
            _ => None,
        }
    }
}

/// Why a typed value could not be put on the wire: some field is too long for its
/// length field. These are programming or configuration errors, never peer input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// A variable-length field exceeds what its length field can express.
    #[error("{what} is {len} bytes/entries, more than its length field allows ({max}); split or shorten it")]
    TooLong {
        /// The field or structure.
        what: &'static str,
        /// Its actual size.
        len: usize,
        /// The largest size the wire format allows.
        max: usize,
    },
    /// Fields of the value contradict each other.
    #[error("{what} is inconsistent: {reason}")]
    Inconsistent {
        /// The structure.
        what: &'static str,
        /// What contradicts what.
        reason: &'static str,
    },
}
