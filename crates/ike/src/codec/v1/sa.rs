//! ISAKMP SA payload with its nested Proposal and Transform payloads (RFC 2408 3.4-3.6,
//! IPsec DOI RFC 2407 4.2/4.5, Oakley attributes RFC 2409 appendix A).

use crate::codec::attr::{self, Attribute};
use crate::codec::error::{DecodeError, EncodeError};
use crate::codec::io::{encode_substructures, fit_u8, Reader};
use crate::codec::spi::Spi;
use crate::registry::{PayloadType, ProtocolId};

/// The IPsec domain of interpretation (RFC 2407 4.2), the only one in use.
pub const DOI_IPSEC: u32 = 1;
/// Situation SIT_IDENTITY_ONLY (RFC 2407 4.2.1).
pub const SIT_IDENTITY_ONLY: u32 = 1;
/// Situation bits that add labelled-domain fields (SIT_SECRECY, SIT_INTEGRITY).
const SIT_LABELLED: u32 = 0x6;
/// Life type value "seconds" (RFC 2409 appendix A, RFC 2407 4.5).
pub const LIFE_SECONDS: u64 = 1;
/// Life type value "kilobytes".
pub const LIFE_KILOBYTES: u64 = 2;

/// ISAKMP SA payload body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityAssociation {
    /// Domain of interpretation; decoding accepts only [`DOI_IPSEC`].
    pub doi: u32,
    /// IPsec DOI situation bitmap; decoding accepts only [`SIT_IDENTITY_ONLY`] (and 0).
    pub situation: u32,
    /// Proposals; consecutive ones with the same number are one proposal (AND), e.g.
    /// AH and ESP together (RFC 2408 4.2).
    pub proposals: Vec<Proposal>,
}

/// An ISAKMP Proposal payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proposal {
    /// Proposal number.
    pub number: u8,
    /// PROTO_ISAKMP (1), PROTO_IPSEC_AH (2), PROTO_IPSEC_ESP (3), PROTO_IPCOMP (4).
    pub protocol: ProtocolId,
    /// SPI (empty or 16 bytes in Main Mode, 4 bytes in Quick Mode; 2-byte CPIs are
    /// sent as 4 bytes or as 2).
    pub spi: Spi,
    /// Transforms, alternatives for this protocol, in preference order.
    pub transforms: Vec<Transform>,
}

/// An ISAKMP Transform payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transform {
    /// Transform number.
    pub number: u8,
    /// Transform ID: KEY_IKE (1) in Phase 1, ESP_AES (12), AH_SHA (3), ... in Quick Mode.
    pub id: u8,
    /// SA attributes (Oakley classes in Phase 1, IPsec DOI ones in Quick Mode).
    pub attributes: Vec<Attribute>,
}

impl Transform {
    /// The first attribute of type `ty`.
    pub fn attribute(&self, ty: u16) -> Option<&Attribute> {
        self.attributes.iter().find(|a| a.ty == ty)
    }

    /// The (life type, life duration) pairs: each life-type attribute (`type_attr`,
    /// e.g. `OakleyAttr::LIFE_TYPE.0` or `IpsecAttr::SA_LIFE_TYPE.0`) applies to the
    /// duration attribute (`duration_attr`) that follows it, in TV or TLV form
    /// (RFC 2407 4.5). A duration that is not numeric, or has no type before it, is
    /// skipped; the caller treats that as ATTRIBUTES_NOT_SUPPORTED if it cares.
    pub fn lifetimes(&self, type_attr: u16, duration_attr: u16) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        let mut current = None;
        for a in &self.attributes {
            if a.ty == type_attr {
                current = a.as_u64();
            } else if a.ty == duration_attr {
                if let (Some(t), Some(d)) = (current, a.as_u64()) {
                    out.push((t, d));
                }
            }
        }
        out
    }
}

impl SecurityAssociation {
    /// An IPsec DOI, identity-only SA with the given proposals.
    pub fn ipsec(proposals: Vec<Proposal>) -> Self {
        SecurityAssociation {
            doi: DOI_IPSEC,
            situation: SIT_IDENTITY_ONLY,
            proposals,
        }
    }

    /// Decodes an SA payload body.
    pub fn decode(body: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(body);
        let doi = r.u32("SA DOI")?;
        if doi != DOI_IPSEC {
            return Err(DecodeError::DoiNotSupported(doi));
        }
        let situation = r.u32("SA situation")?;
        if situation & SIT_LABELLED != 0 {
            return Err(DecodeError::SituationNotSupported(situation));
        }
        let mut proposals = Vec::new();
        let mut next = PayloadType::V1_P;
        while next != PayloadType::NONE {
            if next != PayloadType::V1_P {
                return Err(DecodeError::InvalidPayloadType(next));
            }
            next = PayloadType(r.u8("proposal payload header")?);
            r.skip(1, "proposal payload header")?;
            let len = r.u16("proposal payload header")? as usize;
            let inner = len.checked_sub(4).ok_or(DecodeError::BadLength {
                what: "proposal payload",
                length: len,
                reason: "shorter than its generic header",
            })?;
            proposals.push(Proposal::decode(r.take(inner, "proposal payload")?)?);
        }
        if !r.is_empty() {
            return Err(DecodeError::Malformed {
                what: "SA payload",
                reason: "bytes after the last proposal",
            });
        }
        Ok(SecurityAssociation {
            doi,
            situation,
            proposals,
        })
    }

    /// Appends the SA payload body.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        if self.proposals.is_empty() {
            return Err(EncodeError::Inconsistent {
                what: "ISAKMP SA payload",
                reason: "no proposals",
            });
        }
        out.extend_from_slice(&self.doi.to_be_bytes());
        out.extend_from_slice(&self.situation.to_be_bytes());
        encode_substructures(
            &self.proposals,
            PayloadType::V1_P.0,
            "proposal payload",
            out,
            Proposal::encode_body,
        )
    }
}

impl Proposal {
    fn decode(body: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(body);
        let number = r.u8("proposal number")?;
        let protocol = ProtocolId(r.u8("proposal protocol id")?);
        let spi_size = r.u8("proposal SPI size")? as usize;
        let count = r.u8("proposal number of transforms")?;
        let spi =
            Spi::from_slice(r.take(spi_size, "proposal SPI")?).ok_or(DecodeError::BadLength {
                what: "proposal SPI",
                length: spi_size,
                reason: "longer than 16 bytes",
            })?;
        let mut transforms = Vec::with_capacity(count as usize);
        for i in 0..count {
            let next = r.u8("transform payload header")?;
            let expect = if i + 1 == count {
                0
            } else {
                PayloadType::V1_T.0
            };
            if next != expect {
                return Err(DecodeError::Malformed {
                    what: "transform payload",
                    reason: "next payload disagrees with the proposal's transform count",
                });
            }
            r.skip(1, "transform payload header")?;
            let len = r.u16("transform payload header")? as usize;
            let inner = len.checked_sub(4).ok_or(DecodeError::BadLength {
                what: "transform payload",
                length: len,
                reason: "shorter than its generic header",
            })?;
            let mut t = Reader::new(r.take(inner, "transform payload")?);
            let number = t.u8("transform number")?;
            let id = t.u8("transform id")?;
            t.skip(2, "transform reserved")?;
            let attributes = attr::decode_all(t.rest())?;
            transforms.push(Transform {
                number,
                id,
                attributes,
            });
        }
        if !r.is_empty() {
            return Err(DecodeError::Malformed {
                what: "proposal payload",
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
            PayloadType::V1_T.0,
            "transform payload",
            out,
            |t, out| {
                out.push(t.number);
                out.push(t.id);
                out.extend_from_slice(&[0, 0]);
                attr::encode_all(&t.attributes, out)
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{OakleyAttr, V1NotifyType};

    fn main_mode_sa() -> SecurityAssociation {
        SecurityAssociation::ipsec(vec![Proposal {
            number: 1,
            protocol: ProtocolId::IKE,
            spi: Spi::EMPTY,
            transforms: vec![Transform {
                number: 0,
                id: 1, // KEY_IKE
                attributes: vec![
                    Attribute::short(OakleyAttr::ENCRYPTION_ALGORITHM.0, 7), // AES-CBC
                    Attribute::short(OakleyAttr::KEY_LENGTH.0, 256),
                    Attribute::short(OakleyAttr::HASH_ALGORITHM.0, 4), // SHA2-256
                    Attribute::short(OakleyAttr::AUTHENTICATION_METHOD.0, 1), // PSK
                    Attribute::short(OakleyAttr::GROUP_DESCRIPTION.0, 14),
                    Attribute::short(OakleyAttr::LIFE_TYPE.0, 1),
                    Attribute::number(OakleyAttr::LIFE_DURATION.0, 28_800),
                    Attribute::short(OakleyAttr::LIFE_TYPE.0, 2),
                    Attribute::number(OakleyAttr::LIFE_DURATION.0, 4_000_000),
                ],
            }],
        }])
    }

    #[test]
    fn main_mode_sa_layout_and_lifetimes() {
        let sa = main_mode_sa();
        let mut out = Vec::new();
        sa.encode(&mut out).unwrap();
        assert_eq!(&out[..8], &[0, 0, 0, 1, 0, 0, 0, 1]);
        // proposal: last, len, #1, PROTO_ISAKMP, spi 0, 1 transform
        assert_eq!(&out[8..16], &[0, 0, 0, (out.len() - 8) as u8, 1, 1, 0, 1]);
        // transform: last, len, #0, KEY_IKE, reserved
        assert_eq!(&out[16..24], &[0, 0, 0, (out.len() - 16) as u8, 0, 1, 0, 0]);
        let back = SecurityAssociation::decode(&out).unwrap();
        assert_eq!(back, sa);
        let t = &back.proposals[0].transforms[0];
        assert_eq!(
            t.lifetimes(OakleyAttr::LIFE_TYPE.0, OakleyAttr::LIFE_DURATION.0),
            vec![(LIFE_SECONDS, 28_800), (LIFE_KILOBYTES, 4_000_000)]
        );
        assert_eq!(
            t.attribute(OakleyAttr::KEY_LENGTH.0)
                .and_then(Attribute::as_u64),
            Some(256)
        );
    }

    #[test]
    fn doi_situation_and_structure_errors() {
        let mut out = Vec::new();
        main_mode_sa().encode(&mut out).unwrap();
        let mut bad = out.clone();
        bad[3] = 2;
        let e = SecurityAssociation::decode(&bad).unwrap_err();
        assert_eq!(e.v1_notify(), V1NotifyType::DOI_NOT_SUPPORTED);
        let mut bad = out.clone();
        bad[7] = 3;
        let e = SecurityAssociation::decode(&bad).unwrap_err();
        assert_eq!(e.v1_notify(), V1NotifyType::SITUATION_NOT_SUPPORTED);
        let mut bad = out.clone();
        bad[8] = 5; // next payload of the proposal is not P
        let e = SecurityAssociation::decode(&bad).unwrap_err();
        assert_eq!(e.v1_notify(), V1NotifyType::INVALID_PAYLOAD_TYPE);
        let mut bad = out.clone();
        bad[15] = 2; // two transforms announced, one present
        let e = SecurityAssociation::decode(&bad).unwrap_err();
        assert_eq!(e.v1_notify(), V1NotifyType::PAYLOAD_MALFORMED);
        for n in 0..out.len() {
            assert!(SecurityAssociation::decode(&out[..n]).is_err());
        }
    }
}
