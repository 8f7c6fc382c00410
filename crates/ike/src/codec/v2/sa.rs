//! IKEv2 Security Association payload: proposals, transforms and transform attributes
//! (RFC 7296 3.3, RFC 9370 additional key exchanges).

use crate::codec::attr::{self, AttrValue, Attribute};
use crate::codec::error::{DecodeError, EncodeError};
use crate::codec::io::{encode_substructures, fit_u8, Reader};
use crate::codec::spi::Spi;
use crate::registry::{EncrId, EsnId, IntegId, KeId, PrfId, ProtocolId, TransformType};

/// "Last Substruc" value of a proposal that is followed by another.
const MORE_PROPOSALS: u8 = 2;
/// "Last Substruc" value of a transform that is followed by another.
const MORE_TRANSFORMS: u8 = 3;
/// Transform attribute type 14: Key Length in bits (RFC 7296 3.3.5).
pub const ATTR_KEY_LENGTH: u16 = 14;

/// The SA payload body: proposals in the sender's order of preference.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SecurityAssociation {
    /// Proposals, numbered from 1 by the initiator (the responder echoes the number).
    pub proposals: Vec<Proposal>,
}

/// One proposal: a protocol, an SPI and the transforms offered for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proposal {
    /// Proposal number (1 for the first; the responder reuses the chosen one's).
    pub number: u8,
    /// IKE, AH or ESP.
    pub protocol: ProtocolId,
    /// Empty in an initial IKE_SA_INIT, 8 bytes when rekeying an IKE SA, 4 for ESP/AH.
    pub spi: Spi,
    /// Transforms; several of one type are alternatives, different types are AND-ed.
    pub transforms: Vec<Transform>,
}

/// A transform with its typed identifier and attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transform {
    /// Type and ID.
    pub id: TransformId,
    /// Attributes; in practice only Key Length ([`ATTR_KEY_LENGTH`]).
    pub attributes: Vec<Attribute>,
}

/// Transform type and ID, with the ID typed by the registry of its transform type.
///
/// Decoding always picks the most specific variant (`Other` only for transform types
/// 0 and 13..=255), so equal wire bytes give equal values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransformId {
    /// Type 1, encryption algorithm.
    Encr(EncrId),
    /// Type 2, pseudo-random function.
    Prf(PrfId),
    /// Type 3, integrity algorithm.
    Integ(IntegId),
    /// Type 4, key exchange method (formerly D-H group).
    Ke(KeId),
    /// Type 5, extended sequence numbers.
    Esn(EsnId),
    /// Types 6..=12, RFC 9370 additional key exchanges 1..=7.
    AddKe(TransformType, KeId),
    /// Any other transform type, kept so it can be declined rather than rejected.
    Other(TransformType, u16),
}

impl TransformId {
    /// Builds the typed form from wire values.
    pub fn from_wire(ty: TransformType, id: u16) -> Self {
        match ty.0 {
            1 => TransformId::Encr(EncrId(id)),
            2 => TransformId::Prf(PrfId(id)),
            3 => TransformId::Integ(IntegId(id)),
            4 => TransformId::Ke(KeId(id)),
            5 => TransformId::Esn(EsnId(id)),
            6..=12 => TransformId::AddKe(ty, KeId(id)),
            _ => TransformId::Other(ty, id),
        }
    }

    /// The transform type field.
    pub fn transform_type(self) -> TransformType {
        match self {
            TransformId::Encr(_) => TransformType::ENCR,
            TransformId::Prf(_) => TransformType::PRF,
            TransformId::Integ(_) => TransformType::INTEG,
            TransformId::Ke(_) => TransformType::KE,
            TransformId::Esn(_) => TransformType::ESN,
            TransformId::AddKe(t, _) | TransformId::Other(t, _) => t,
        }
    }

    /// The transform ID field.
    pub fn raw_id(self) -> u16 {
        match self {
            TransformId::Encr(v) => v.0,
            TransformId::Prf(v) => v.0,
            TransformId::Integ(v) => v.0,
            TransformId::Ke(v) | TransformId::AddKe(_, v) => v.0,
            TransformId::Esn(v) => v.0,
            TransformId::Other(_, v) => v,
        }
    }
}

impl Transform {
    /// A transform without attributes.
    pub fn new(id: TransformId) -> Self {
        Transform {
            id,
            attributes: Vec::new(),
        }
    }

    /// An encryption transform, with the Key Length attribute for variable-key ciphers
    /// (AES, Camellia; RFC 7296 3.3.5 forbids it for fixed-key ones).
    pub fn encr(id: EncrId, key_bits: Option<u16>) -> Self {
        Transform {
            id: TransformId::Encr(id),
            attributes: key_bits
                .map(|k| vec![Attribute::short(ATTR_KEY_LENGTH, k)])
                .unwrap_or_default(),
        }
    }

    /// The Key Length attribute, if present in TV form as RFC 7296 requires.
    pub fn key_length(&self) -> Option<u16> {
        self.attributes.iter().find_map(|a| match a.value {
            AttrValue::Short(v) if a.ty == ATTR_KEY_LENGTH => Some(v),
            _ => None,
        })
    }

    /// True if any attribute other than Key Length is present: RFC 7296 3.3.6 says a
    /// transform with an unrecognised attribute must be rejected (not the whole SA).
    pub fn has_unknown_attributes(&self) -> bool {
        self.attributes
            .iter()
            .any(|a| !(a.ty == ATTR_KEY_LENGTH && matches!(a.value, AttrValue::Short(_))))
    }
}

impl SecurityAssociation {
    /// Decodes an SA payload body.
    pub fn decode(body: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(body);
        let mut proposals = Vec::new();
        loop {
            let last = r.u8("proposal last-substruc")?;
            if last != 0 && last != MORE_PROPOSALS {
                return Err(DecodeError::Malformed {
                    what: "proposal",
                    reason: "last-substruc must be 0 or 2",
                });
            }
            r.skip(1, "proposal reserved")?;
            let len = r.u16("proposal length")? as usize;
            let inner = len.checked_sub(4).ok_or(DecodeError::BadLength {
                what: "proposal",
                length: len,
                reason: "shorter than its 8-byte header",
            })?;
            let p = r.take(inner, "proposal")?;
            proposals.push(Proposal::decode(p)?);
            if last == 0 {
                break;
            }
        }
        if !r.is_empty() {
            return Err(DecodeError::Malformed {
                what: "SA payload",
                reason: "bytes after the proposal marked last",
            });
        }
        Ok(SecurityAssociation { proposals })
    }

    /// Appends the SA payload body.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        if self.proposals.is_empty() {
            return Err(EncodeError::Inconsistent {
                what: "SA payload",
                reason: "no proposals",
            });
        }
        encode_substructures(
            &self.proposals,
            MORE_PROPOSALS,
            "proposal",
            out,
            Proposal::encode_body,
        )
    }
}

impl Proposal {
    /// Decodes a proposal after its 4-byte generic part.
    fn decode(body: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(body);
        let number = r.u8("proposal number")?;
        let protocol = ProtocolId(r.u8("proposal protocol id")?);
        let spi_size = r.u8("proposal SPI size")? as usize;
        let count = r.u8("proposal transform count")?;
        let spi =
            Spi::from_slice(r.take(spi_size, "proposal SPI")?).ok_or(DecodeError::BadLength {
                what: "proposal SPI",
                length: spi_size,
                reason: "longer than 16 bytes",
            })?;
        let mut transforms = Vec::with_capacity(count as usize);
        for i in 0..count {
            let last = r.u8("transform last-substruc")?;
            let expect = if i + 1 == count { 0 } else { MORE_TRANSFORMS };
            if last != expect {
                return Err(DecodeError::Malformed {
                    what: "transform",
                    reason: "last-substruc disagrees with the proposal's transform count",
                });
            }
            r.skip(1, "transform reserved")?;
            let len = r.u16("transform length")? as usize;
            let inner = len.checked_sub(4).ok_or(DecodeError::BadLength {
                what: "transform",
                length: len,
                reason: "shorter than its 8-byte header",
            })?;
            let t = r.take(inner, "transform")?;
            transforms.push(Transform::decode(t)?);
        }
        if !r.is_empty() {
            return Err(DecodeError::Malformed {
                what: "proposal",
                reason: "bytes after the last transform",
            });
        }
        Ok(Proposal {
            number,
            protocol,
            spi,
            transforms,
        })
    }

    fn encode_body(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        out.push(self.number);
        out.push(self.protocol.0);
        out.push(self.spi.len() as u8);
        let count = fit_u8(self.transforms.len(), "transforms in a proposal")?;
        out.push(count);
        out.extend_from_slice(self.spi.as_bytes());
        encode_substructures(
            &self.transforms,
            MORE_TRANSFORMS,
            "transform",
            out,
            |t, out| {
                out.push(t.id.transform_type().0);
                out.push(0);
                out.extend_from_slice(&t.id.raw_id().to_be_bytes());
                attr::encode_all(&t.attributes, out)
            },
        )
    }
}

impl Transform {
    fn decode(body: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(body);
        let ty = TransformType(r.u8("transform type")?);
        r.skip(1, "transform reserved")?;
        let id = r.u16("transform id")?;
        let attributes = attr::decode_all(r.rest())?;
        Ok(Transform {
            id: TransformId::from_wire(ty, id),
            attributes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> SecurityAssociation {
        SecurityAssociation {
            proposals: vec![Proposal {
                number: 1,
                protocol: ProtocolId::IKE,
                spi: Spi::EMPTY,
                transforms: vec![
                    Transform::encr(EncrId::AES_GCM_16, Some(256)),
                    Transform::new(TransformId::Prf(PrfId::HMAC_SHA2_256)),
                    Transform::new(TransformId::Ke(KeId::ECP_256)),
                ],
            }],
        }
    }

    #[test]
    fn encodes_rfc7296_layout() {
        let mut out = Vec::new();
        sample().encode(&mut out).unwrap();
        let expect: &[u8] = &[
            0, 0, 0, 36, 1, 1, 0,
            3, // proposal header: last, len 36, #1, IKE, spi 0, 3 transforms
            3, 0, 0, 12, 1, 0, 0, 20, 0x80, 14, 1, 0, // ENCR AES_GCM_16, keylen 256
            3, 0, 0, 8, 2, 0, 0, 5, // PRF HMAC_SHA2_256
            0, 0, 0, 8, 4, 0, 0, 19, // KE DH19
        ];
        assert_eq!(out, expect);
        let back = SecurityAssociation::decode(&out).unwrap();
        assert_eq!(back, sample());
        assert_eq!(back.proposals[0].transforms[0].key_length(), Some(256));
    }

    #[test]
    fn rejects_bad_structure() {
        let mut out = Vec::new();
        sample().encode(&mut out).unwrap();
        // transform count larger than the transforms present
        let mut bad = out.clone();
        bad[7] = 4;
        assert!(SecurityAssociation::decode(&bad).is_err());
        // proposal length shorter than header
        let mut bad = out.clone();
        bad[3] = 2;
        assert!(SecurityAssociation::decode(&bad).is_err());
        // empty body
        assert!(SecurityAssociation::decode(&[]).is_err());
        // bad last-substruc
        let mut bad = out;
        bad[0] = 7;
        assert!(SecurityAssociation::decode(&bad).is_err());
    }

    #[test]
    fn addke_and_unknown_types_are_typed() {
        assert_eq!(
            TransformId::from_wire(TransformType(6), 36),
            TransformId::AddKe(TransformType::ADDKE1, KeId::ML_KEM_768)
        );
        let t = TransformId::from_wire(TransformType(99), 7);
        assert_eq!((t.transform_type().0, t.raw_id()), (99, 7));
    }
}
