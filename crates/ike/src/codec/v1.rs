//! ISAKMP/IKEv1 messages (RFC 2408 3, RFC 2409, RFC 3947, ModeCFG/XAUTH drafts).
//!
//! # Encryption boundary
//!
//! In IKEv1 the whole payload chain after the header is encrypted when the header's E
//! flag is set, so a received encrypted message decodes to [`Body::Encrypted`]: the
//! header's next-payload type and the opaque ciphertext. Once `ike::crypto` has
//! decrypted it, [`decode_chain`] decodes the payloads; the bytes after the last
//! payload are the CBC padding, which it reports rather than interprets (RFC 2409
//! allows any padding). To send, [`encode_chain`] produces the plaintext and the first
//! payload type; crypto pads and encrypts it and the caller builds
//! `Message { body: Body::Encrypted { .. } }` with the E flag set.
//!
//! ISAKMP has no critical bit: every payload type this module does not know, and
//! Proposal/Transform payloads outside an SA, fail with
//! [`DecodeError::InvalidPayloadType`] (answered with INVALID_PAYLOAD_TYPE).

mod payloads;
mod sa;

pub use payloads::{Certificate, Delete, Fragment, Identification, ModeCfg, NatOa, Notify};
pub use sa::{
    Proposal, SecurityAssociation, Transform, DOI_IPSEC, LIFE_KILOBYTES, LIFE_SECONDS,
    SIT_IDENTITY_ONLY,
};

use super::error::{DecodeError, EncodeError};
use super::header::{patch_length, Version, WireHeader};
use super::io::{patch_len16, reserve_u16, Reader};
use crate::registry::{ExchangeType, PayloadType};

/// Size of the ISAKMP header.
pub const HEADER_LEN: usize = super::header::HEADER_LEN;
/// ISAKMP major version this module speaks.
pub const MAJOR_VERSION: u8 = 1;

const VERSION: Version = Version {
    major: MAJOR_VERSION,
    header: "ISAKMP header",
    message: "ISAKMP message",
    minor_version: "ISAKMP minor version",
};

const FLAG_ENCRYPTION: u8 = 0x01;
const FLAG_COMMIT: u8 = 0x02;
const FLAG_AUTH_ONLY: u8 = 0x04;

/// ISAKMP header flags (RFC 2408 3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Flags {
    /// E: the payloads after the header are encrypted. Must agree with [`Body`].
    pub encryption: bool,
    /// C: commit, used to delay use of a Quick Mode SA until confirmed.
    pub commit: bool,
    /// A: authentication only (informational exchanges with only a HASH).
    pub authentication_only: bool,
}

impl Flags {
    fn from_byte(b: u8) -> Self {
        Flags {
            encryption: b & FLAG_ENCRYPTION != 0,
            commit: b & FLAG_COMMIT != 0,
            authentication_only: b & FLAG_AUTH_ONLY != 0,
        }
    }

    fn to_byte(self) -> u8 {
        (if self.encryption { FLAG_ENCRYPTION } else { 0 })
            | (if self.commit { FLAG_COMMIT } else { 0 })
            | (if self.authentication_only {
                FLAG_AUTH_ONLY
            } else {
                0
            })
    }
}

/// The ISAKMP header without the derived fields (next payload, length).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Header {
    /// Initiator cookie.
    pub icookie: [u8; 8],
    /// Responder cookie; zero in the first Main/Aggressive Mode message.
    pub rcookie: [u8; 8],
    /// Minor version (0).
    pub minor_version: u8,
    /// Exchange type (Main Mode is `ExchangeType::V1_IDPROT`).
    pub exchange: ExchangeType,
    /// E, C and A flags.
    pub flags: Flags,
    /// Message ID; 0 in Phase 1.
    pub message_id: u32,
}

/// A header as read from the wire, with its derived fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawHeader {
    /// The header fields.
    pub header: Header,
    /// Type of the first payload (of the plaintext chain when encrypted).
    pub next_payload: PayloadType,
    /// Length of the whole message, header included.
    pub length: u32,
}

impl Header {
    /// Reads just the ISAKMP header, e.g. to find the state by cookies and message ID
    /// before decrypting.
    pub fn decode(buf: &[u8]) -> Result<RawHeader, DecodeError> {
        let w = WireHeader::decode(buf, VERSION)?;
        Ok(RawHeader {
            header: Header {
                icookie: w.spi_i,
                rcookie: w.spi_r,
                minor_version: w.minor_version,
                exchange: w.exchange,
                flags: Flags::from_byte(w.flags),
                message_id: w.message_id,
            },
            next_payload: w.next_payload,
            length: w.length,
        })
    }

    /// Appends the header with the given next payload and total length.
    pub fn encode(
        &self,
        next_payload: PayloadType,
        length: u32,
        out: &mut Vec<u8>,
    ) -> Result<(), EncodeError> {
        WireHeader {
            spi_i: self.icookie,
            spi_r: self.rcookie,
            next_payload,
            minor_version: self.minor_version,
            exchange: self.exchange,
            flags: self.flags.to_byte(),
            message_id: self.message_id,
            length,
        }
        .encode(VERSION, out)
    }
}

/// A decoded ISAKMP payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// SA (1) with its proposals and transforms.
    Sa(SecurityAssociation),
    /// KE (4): the public value.
    Ke(Vec<u8>),
    /// ID (5).
    Id(Identification),
    /// CERT (6).
    Cert(Certificate),
    /// CR (7).
    CertReq(Certificate),
    /// HASH (8).
    Hash(Vec<u8>),
    /// SIG (9).
    Sig(Vec<u8>),
    /// NONCE (10).
    Nonce(Vec<u8>),
    /// N (11).
    Notify(Notify),
    /// D (12).
    Delete(Delete),
    /// VID (13).
    VendorId(Vec<u8>),
    /// ModeCFG/XAUTH attribute payload (14).
    ModeCfg(ModeCfg),
    /// NAT-D (20): the hash.
    NatD(Vec<u8>),
    /// NAT-OA (21).
    NatOa(NatOa),
    /// IKE fragment (132).
    Fragment(Fragment),
}

impl Payload {
    /// The payload type announcing this payload.
    pub fn payload_type(&self) -> PayloadType {
        match self {
            Payload::Sa(_) => PayloadType::V1_SA,
            Payload::Ke(_) => PayloadType::V1_KE,
            Payload::Id(_) => PayloadType::V1_ID,
            Payload::Cert(_) => PayloadType::V1_CERT,
            Payload::CertReq(_) => PayloadType::V1_CR,
            Payload::Hash(_) => PayloadType::V1_HASH,
            Payload::Sig(_) => PayloadType::V1_SIG,
            Payload::Nonce(_) => PayloadType::V1_NONCE,
            Payload::Notify(_) => PayloadType::V1_N,
            Payload::Delete(_) => PayloadType::V1_D,
            Payload::VendorId(_) => PayloadType::V1_VID,
            Payload::ModeCfg(_) => PayloadType::V1_MODECFG,
            Payload::NatD(_) => PayloadType::V1_NATD,
            Payload::NatOa(_) => PayloadType::V1_NATOA,
            Payload::Fragment(_) => PayloadType::V1_FRAGMENT,
        }
    }

    fn decode_body(ty: PayloadType, body: &[u8]) -> Result<Self, DecodeError> {
        Ok(match ty {
            PayloadType::V1_SA => Payload::Sa(SecurityAssociation::decode(body)?),
            PayloadType::V1_KE => Payload::Ke(body.to_vec()),
            PayloadType::V1_ID => Payload::Id(Identification::decode(body)?),
            PayloadType::V1_CERT => Payload::Cert(Certificate::decode(body)?),
            PayloadType::V1_CR => Payload::CertReq(Certificate::decode(body)?),
            PayloadType::V1_HASH => Payload::Hash(body.to_vec()),
            PayloadType::V1_SIG => Payload::Sig(body.to_vec()),
            PayloadType::V1_NONCE => Payload::Nonce(body.to_vec()),
            PayloadType::V1_N => Payload::Notify(Notify::decode(body)?),
            PayloadType::V1_D => Payload::Delete(Delete::decode(body)?),
            PayloadType::V1_VID => Payload::VendorId(body.to_vec()),
            PayloadType::V1_MODECFG => Payload::ModeCfg(ModeCfg::decode(body)?),
            PayloadType::V1_NATD => Payload::NatD(body.to_vec()),
            PayloadType::V1_NATOA => Payload::NatOa(NatOa::decode(body)?),
            PayloadType::V1_FRAGMENT => Payload::Fragment(Fragment::decode(body)?),
            _ => return Err(DecodeError::InvalidPayloadType(ty)),
        })
    }

    fn encode_body(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        match self {
            Payload::Sa(p) => p.encode(out)?,
            Payload::Ke(b)
            | Payload::Hash(b)
            | Payload::Sig(b)
            | Payload::Nonce(b)
            | Payload::VendorId(b)
            | Payload::NatD(b) => out.extend_from_slice(b),
            Payload::Id(p) => p.encode(out),
            Payload::Cert(p) | Payload::CertReq(p) => p.encode(out),
            Payload::Notify(p) => p.encode(out),
            Payload::Delete(p) => p.encode(out)?,
            Payload::ModeCfg(p) => p.encode(out)?,
            Payload::NatOa(p) => p.encode(out),
            Payload::Fragment(p) => p.encode(out),
        }
        Ok(())
    }
}

/// What follows the ISAKMP header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// Plaintext payloads (E flag clear).
    Plain(Vec<Payload>),
    /// Encrypted payload chain (E flag set), opaque until decrypted.
    Encrypted {
        /// The header's next payload: type of the first payload of the plaintext.
        first: PayloadType,
        /// The ciphertext (CBC, whole blocks; the IV is kept in the state).
        ciphertext: Vec<u8>,
    },
}

/// A whole ISAKMP message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The header; `flags.encryption` agrees with `body`.
    pub header: Header,
    /// Payloads or ciphertext.
    pub body: Body,
}

impl Message {
    /// Decodes a whole datagram; the header length must equal `buf.len()`.
    pub fn decode(buf: &[u8]) -> Result<Self, DecodeError> {
        let raw = Header::decode(buf)?;
        if raw.length as usize != buf.len() {
            return Err(DecodeError::BadLength {
                what: "ISAKMP message",
                length: raw.length as usize,
                reason: "differs from the datagram length",
            });
        }
        let rest = buf.get(HEADER_LEN..).unwrap_or_default();
        let body = if raw.header.flags.encryption {
            Body::Encrypted {
                first: raw.next_payload,
                ciphertext: rest.to_vec(),
            }
        } else {
            let (payloads, used) = decode_payloads(raw.next_payload, rest)?;
            if used != rest.len() {
                return Err(DecodeError::Malformed {
                    what: "ISAKMP message",
                    reason: "bytes after the last payload",
                });
            }
            Body::Plain(payloads)
        };
        Ok(Message {
            header: raw.header,
            body,
        })
    }

    /// Appends the encoded message to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let start = out.len();
        match &self.body {
            Body::Plain(payloads) => {
                if self.header.flags.encryption {
                    return Err(EncodeError::Inconsistent {
                        what: "ISAKMP message",
                        reason: "E flag set on a plaintext body",
                    });
                }
                let first = payloads
                    .first()
                    .map_or(PayloadType::NONE, Payload::payload_type);
                self.header.encode(first, 0, out)?;
                encode_payloads(payloads, out)?;
            }
            Body::Encrypted { first, ciphertext } => {
                if !self.header.flags.encryption {
                    return Err(EncodeError::Inconsistent {
                        what: "ISAKMP message",
                        reason: "E flag clear on an encrypted body",
                    });
                }
                self.header.encode(*first, 0, out)?;
                out.extend_from_slice(ciphertext);
            }
        }
        patch_length(out, start, VERSION)
    }

    /// The encoded message in a new buffer.
    pub fn to_bytes(&self) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::with_capacity(512);
        self.encode(&mut out)?;
        Ok(out)
    }
}

/// A decrypted payload chain and the length of the padding that followed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecryptedChain {
    /// The payloads.
    pub payloads: Vec<Payload>,
    /// Bytes after the last payload (CBC padding).
    pub padding_len: usize,
}

/// Decodes the payload chain of a decrypted message starting with type `first` (the
/// header's next payload). Trailing bytes after the payload whose next payload is
/// NONE are padding and are counted, not parsed.
pub fn decode_chain(first: PayloadType, plaintext: &[u8]) -> Result<DecryptedChain, DecodeError> {
    let (payloads, used) = decode_payloads(first, plaintext)?;
    Ok(DecryptedChain {
        payloads,
        padding_len: plaintext.len() - used,
    })
}

/// Appends a payload chain (unpadded) and returns the first payload's type, for the
/// header of the encrypted message.
pub fn encode_chain(payloads: &[Payload], out: &mut Vec<u8>) -> Result<PayloadType, EncodeError> {
    encode_payloads(payloads, out)?;
    Ok(payloads
        .first()
        .map_or(PayloadType::NONE, Payload::payload_type))
}

fn encode_payloads(payloads: &[Payload], out: &mut Vec<u8>) -> Result<(), EncodeError> {
    for (i, p) in payloads.iter().enumerate() {
        let next = payloads
            .get(i + 1)
            .map_or(PayloadType::NONE, Payload::payload_type);
        let start = out.len();
        out.push(next.0);
        out.push(0);
        let at = reserve_u16(out);
        p.encode_body(out)?;
        patch_len16(out, at, start, "ISAKMP payload")?;
    }
    Ok(())
}

/// Walks a chain; returns the payloads and the bytes consumed.
fn decode_payloads(first: PayloadType, buf: &[u8]) -> Result<(Vec<Payload>, usize), DecodeError> {
    let mut r = Reader::new(buf);
    let mut next = first;
    let mut payloads = Vec::with_capacity(8);
    while next != PayloadType::NONE {
        let this = next;
        next = PayloadType(r.u8("ISAKMP generic payload header")?);
        r.skip(1, "ISAKMP generic payload header")?;
        let len = r.u16("ISAKMP generic payload header")? as usize;
        let body_len = len.checked_sub(4).ok_or(DecodeError::BadLength {
            what: "ISAKMP payload",
            length: len,
            reason: "shorter than the 4-byte generic header",
        })?;
        let body = r.take(body_len, "ISAKMP payload body")?;
        payloads.push(Payload::decode_body(this, body)?);
    }
    Ok((payloads, r.position()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::spi::Spi;
    use crate::registry::{ProtocolId, V1NotifyType};

    fn header(encrypted: bool) -> Header {
        Header {
            icookie: [0x11; 8],
            rcookie: [0x22; 8],
            minor_version: 0,
            exchange: ExchangeType::V1_INFO,
            flags: Flags {
                encryption: encrypted,
                ..Flags::default()
            },
            message_id: 0x0102_0304,
        }
    }

    fn payloads() -> Vec<Payload> {
        vec![
            Payload::Hash(vec![0xab; 20]),
            Payload::Notify(Notify {
                doi: 1,
                protocol: ProtocolId::IKE,
                ty: V1NotifyType::R_U_THERE,
                spi: Spi::from_slice(&[0x11; 16]).unwrap_or_default(),
                data: vec![0, 0, 0, 1],
            }),
        ]
    }

    #[test]
    fn plain_message_layout() {
        let m = Message {
            header: header(false),
            body: Body::Plain(payloads()),
        };
        let b = m.to_bytes().unwrap();
        assert_eq!(
            &b[16..28],
            &[8, 0x10, 5, 0, 1, 2, 3, 4, 0, 0, 0, b.len() as u8]
        );
        assert_eq!(&b[28..32], &[11, 0, 0, 24]);
        assert_eq!(Message::decode(&b).unwrap(), m);
        for n in 0..b.len() {
            assert!(Message::decode(&b[..n]).is_err());
        }
    }

    #[test]
    fn encrypted_body_and_chain_with_padding() {
        let mut plain = Vec::new();
        let first = encode_chain(&payloads(), &mut plain).unwrap();
        assert_eq!(first, PayloadType::V1_HASH);
        let used = plain.len();
        plain.extend_from_slice(&[0; 7]);
        let chain = decode_chain(first, &plain).unwrap();
        assert_eq!(chain.payloads, payloads());
        assert_eq!(chain.padding_len, 7);
        assert_eq!(used + 7, plain.len());
        let m = Message {
            header: header(true),
            body: Body::Encrypted {
                first,
                ciphertext: vec![0x5a; 64],
            },
        };
        let b = m.to_bytes().unwrap();
        assert_eq!(b.len(), 28 + 64);
        assert_eq!(Message::decode(&b).unwrap(), m);
        // flag and body disagree
        let bad = Message {
            header: header(false),
            body: m.body.clone(),
        };
        assert!(bad.to_bytes().is_err());
    }

    #[test]
    fn errors_map_to_isakmp_notifies() {
        let b = Message {
            header: header(false),
            body: Body::Plain(payloads()),
        }
        .to_bytes()
        .unwrap();
        let mut bad = b.clone();
        bad[16] = 2; // top-level Proposal payload
        assert_eq!(
            Message::decode(&bad).unwrap_err().v1_notify(),
            V1NotifyType::INVALID_PAYLOAD_TYPE
        );
        let mut bad = b.clone();
        bad[17] = 0x20;
        assert_eq!(
            Message::decode(&bad).unwrap_err().v1_notify(),
            V1NotifyType::INVALID_MAJOR_VERSION
        );
        let mut bad = b;
        bad[31] = 200; // HASH payload length past the end
        assert_eq!(
            Message::decode(&bad).unwrap_err().v1_notify(),
            V1NotifyType::PAYLOAD_MALFORMED
        );
    }
}
