//! IKEv2 messages (RFC 7296 section 3, RFC 7383 fragments).
//!
//! # Encryption boundary
//!
//! The codec never sees keys. An SK (or SKF) payload's body is opaque bytes
//! (IV || ciphertext || ICV) and its "next payload" field names the first *inner*
//! payload. The state machine and `ike::crypto` cooperate through four functions:
//!
//! * sending: [`encode_chain`] turns the inner payloads into plaintext and returns the
//!   first payload type; crypto pads and seals it; [`encode_encrypted_prefix`] writes
//!   the IKE header and SK/SKF generic header for the sealed body's length, returning an
//!   [`EncryptedSpan`] so the caller knows exactly which bytes are AEAD associated data
//!   (`buf[..span.body_start]`) or covered by the integrity checksum (everything but the
//!   ICV); the caller appends the body.
//! * receiving: [`Message::decode_located`] returns the message and the
//!   [`EncryptedSpan`] of the SK/SKF payload in the datagram, so integrity is checked
//!   over the raw received bytes; once crypto has opened the body and stripped the
//!   padding, [`decode_chain`] decodes the inner payloads from the SK payload's
//!   `next_inner`.
//!
//! # Strictness
//!
//! Length fields are checked against the datagram and against each other; a payload
//! type this build does not know is kept as [`Payload::Unknown`] unless its critical
//! bit is set, in which case decoding fails with
//! [`DecodeError::UnsupportedCriticalPayload`] carrying the type for the notify
//! (RFC 7296 2.5). Reserved fields are ignored on receipt and sent as zero, which makes
//! `encode` canonical: re-encoding a decoded message reproduces the bytes whenever they
//! were themselves produced by `encode`.

mod payloads;
mod sa;
mod ts;

pub(crate) use payloads::ip_from;
pub use payloads::{
    Authentication, Certificate, CfgAttribute, Configuration, Delete, Encrypted, EncryptedFragment,
    Identification, KeyExchange, Notify,
};
pub use sa::{Proposal, SecurityAssociation, Transform, TransformId, ATTR_KEY_LENGTH};
pub use ts::{AddressRange, TrafficSelector, TrafficSelectors};

use super::error::{DecodeError, EncodeError};
use super::header::{patch_length, set_length, Version, WireHeader};
use super::io::{patch_len16, reserve_u16, Reader};
use crate::registry::{ExchangeType, PayloadType};

/// Size of the IKE header.
pub const HEADER_LEN: usize = super::header::HEADER_LEN;
/// Size of a generic payload header.
pub const PAYLOAD_HEADER_LEN: usize = 4;
/// Size of the SKF payload header: generic header plus fragment number and total.
pub const SKF_HEADER_LEN: usize = 8;
/// IKE major version this module speaks.
pub const MAJOR_VERSION: u8 = 2;

const VERSION: Version = Version {
    major: MAJOR_VERSION,
    header: "IKE header",
    message: "IKE message",
    minor_version: "IKE minor version",
};

const FLAG_INITIATOR: u8 = 0x08;
const FLAG_VERSION: u8 = 0x10;
const FLAG_RESPONSE: u8 = 0x20;
const CRITICAL: u8 = 0x80;

/// Header flags (RFC 7296 3.1). The other five bits are sent as zero and ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Flags {
    /// I: set by the original initiator of the IKE SA.
    pub initiator: bool,
    /// V: the sender can speak a higher major version (never set by us).
    pub version: bool,
    /// R: this message is a response.
    pub response: bool,
}

impl Flags {
    fn from_byte(b: u8) -> Self {
        Flags {
            initiator: b & FLAG_INITIATOR != 0,
            version: b & FLAG_VERSION != 0,
            response: b & FLAG_RESPONSE != 0,
        }
    }

    fn to_byte(self) -> u8 {
        (if self.initiator { FLAG_INITIATOR } else { 0 })
            | (if self.version { FLAG_VERSION } else { 0 })
            | (if self.response { FLAG_RESPONSE } else { 0 })
    }
}

/// The IKE header without the fields derived from the payloads (next payload, length).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Header {
    /// IKE SA initiator's SPI.
    pub spi_i: [u8; 8],
    /// IKE SA responder's SPI; zero in the first IKE_SA_INIT request.
    pub spi_r: [u8; 8],
    /// Minor version (0 from RFC 7296 senders; others must be accepted).
    pub minor_version: u8,
    /// Exchange type.
    pub exchange: ExchangeType,
    /// I, V and R flags.
    pub flags: Flags,
    /// Message ID.
    pub message_id: u32,
}

/// A header as read from the wire, with the two fields that [`Header`] derives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawHeader {
    /// The header fields.
    pub header: Header,
    /// Type of the first payload.
    pub next_payload: PayloadType,
    /// Length of the whole message, header included.
    pub length: u32,
}

impl Header {
    /// Reads just the IKE header, e.g. to find the IKE SA by SPI before decoding the
    /// rest. Checks the major version and that the length field is plausible, but not
    /// the payloads.
    pub fn decode(buf: &[u8]) -> Result<RawHeader, DecodeError> {
        let w = WireHeader::decode(buf, VERSION)?;
        Ok(RawHeader {
            header: Header {
                spi_i: w.spi_i,
                spi_r: w.spi_r,
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
            spi_i: self.spi_i,
            spi_r: self.spi_r,
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

/// A decoded IKEv2 payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// SA (33).
    Sa(SecurityAssociation),
    /// KE (34).
    Ke(KeyExchange),
    /// IDi (35).
    IdI(Identification),
    /// IDr (36).
    IdR(Identification),
    /// CERT (37).
    Cert(Certificate),
    /// CERTREQ (38).
    CertReq(Certificate),
    /// AUTH (39).
    Auth(Authentication),
    /// Ni / Nr (40): the nonce bytes.
    Nonce(Vec<u8>),
    /// N (41).
    Notify(Notify),
    /// D (42).
    Delete(Delete),
    /// V (43): the vendor ID bytes.
    VendorId(Vec<u8>),
    /// TSi (44).
    TsI(TrafficSelectors),
    /// TSr (45).
    TsR(TrafficSelectors),
    /// SK (46); only as the last payload of a message.
    Sk(Encrypted),
    /// CP (47).
    Cp(Configuration),
    /// EAP (48): the whole EAP message (RFC 3748 4), handed to the EAP layer as is.
    Eap(Vec<u8>),
    /// GSPM (49, RFC 6467): opaque generic secure password method data.
    Gspm(Vec<u8>),
    /// SKF (53); only as the last payload of a message.
    Skf(EncryptedFragment),
    /// A non-critical payload this build does not know: kept, so it can be logged,
    /// and skipped by the state machine.
    Unknown {
        /// Its payload type (never one of the types above).
        ty: PayloadType,
        /// Its body after the generic header.
        body: Vec<u8>,
    },
}

impl Payload {
    /// The payload type that announces this payload in the previous "next payload".
    pub fn payload_type(&self) -> PayloadType {
        match self {
            Payload::Sa(_) => PayloadType::SA,
            Payload::Ke(_) => PayloadType::KE,
            Payload::IdI(_) => PayloadType::IDI,
            Payload::IdR(_) => PayloadType::IDR,
            Payload::Cert(_) => PayloadType::CERT,
            Payload::CertReq(_) => PayloadType::CERTREQ,
            Payload::Auth(_) => PayloadType::AUTH,
            Payload::Nonce(_) => PayloadType::NONCE,
            Payload::Notify(_) => PayloadType::NOTIFY,
            Payload::Delete(_) => PayloadType::DELETE,
            Payload::VendorId(_) => PayloadType::VENDOR_ID,
            Payload::TsI(_) => PayloadType::TSI,
            Payload::TsR(_) => PayloadType::TSR,
            Payload::Sk(_) => PayloadType::SK,
            Payload::Cp(_) => PayloadType::CP,
            Payload::Eap(_) => PayloadType::EAP,
            Payload::Gspm(_) => PayloadType::GSPM,
            Payload::Skf(_) => PayloadType::SKF,
            Payload::Unknown { ty, .. } => *ty,
        }
    }

    /// True for the payload types this module decodes into a typed variant.
    pub fn is_known_type(ty: PayloadType) -> bool {
        matches!(ty.0, 33..=49 | 53)
    }

    /// Decodes one payload body of type `ty` (not SK/SKF, whose "next payload" field
    /// belongs to them: see [`Message::decode`]).
    fn decode_body(ty: PayloadType, critical: bool, body: &[u8]) -> Result<Self, DecodeError> {
        Ok(match ty {
            PayloadType::SA => Payload::Sa(SecurityAssociation::decode(body)?),
            PayloadType::KE => Payload::Ke(KeyExchange::decode(body)?),
            PayloadType::IDI => Payload::IdI(Identification::decode(body)?),
            PayloadType::IDR => Payload::IdR(Identification::decode(body)?),
            PayloadType::CERT => Payload::Cert(Certificate::decode(body)?),
            PayloadType::CERTREQ => Payload::CertReq(Certificate::decode(body)?),
            PayloadType::AUTH => Payload::Auth(Authentication::decode(body)?),
            PayloadType::NONCE => Payload::Nonce(body.to_vec()),
            PayloadType::NOTIFY => Payload::Notify(Notify::decode(body)?),
            PayloadType::DELETE => Payload::Delete(Delete::decode(body)?),
            PayloadType::VENDOR_ID => Payload::VendorId(body.to_vec()),
            PayloadType::TSI => Payload::TsI(TrafficSelectors::decode(body)?),
            PayloadType::TSR => Payload::TsR(TrafficSelectors::decode(body)?),
            PayloadType::CP => Payload::Cp(Configuration::decode(body)?),
            // EAP (RFC 7296 2.16) and GSPM (RFC 6467) are decoded for the day the
            // state machine implements them; until then this build does not
            // understand them, and RFC 7296 2.5 says a critical payload the
            // recipient does not understand rejects the message.
            PayloadType::EAP | PayloadType::GSPM if critical => {
                return Err(DecodeError::UnsupportedCriticalPayload(ty))
            }
            PayloadType::EAP => Payload::Eap(body.to_vec()),
            PayloadType::GSPM => Payload::Gspm(body.to_vec()),
            _ if critical => return Err(DecodeError::UnsupportedCriticalPayload(ty)),
            _ => {
                // libreswan's wording for the same event.
                tracing::debug!(payload = %ty, "ignoring unknown payload");
                Payload::Unknown {
                    ty,
                    body: body.to_vec(),
                }
            }
        })
    }

    /// Appends the body (without generic header) of a payload other than SK/SKF.
    fn encode_body(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        match self {
            Payload::Sa(p) => p.encode(out)?,
            Payload::Ke(p) => p.encode(out),
            Payload::IdI(p) | Payload::IdR(p) => p.encode(out),
            Payload::Cert(p) | Payload::CertReq(p) => p.encode(out),
            Payload::Auth(p) => p.encode(out),
            Payload::Nonce(b) | Payload::VendorId(b) | Payload::Eap(b) | Payload::Gspm(b) => {
                out.extend_from_slice(b)
            }
            Payload::Notify(p) => p.encode(out),
            Payload::Delete(p) => p.encode(out)?,
            Payload::TsI(p) | Payload::TsR(p) => p.encode(out)?,
            Payload::Cp(p) => p.encode(out)?,
            Payload::Unknown { ty, body } => {
                if Payload::is_known_type(*ty) || *ty == PayloadType::NONE {
                    return Err(EncodeError::Inconsistent {
                        what: "unknown payload",
                        reason: "its type is one this module encodes as a typed variant",
                    });
                }
                out.extend_from_slice(body)
            }
            Payload::Sk(_) | Payload::Skf(_) => {
                return Err(EncodeError::Inconsistent {
                    what: "payload chain",
                    reason: "SK/SKF can only be the last payload of a message",
                })
            }
        }
        Ok(())
    }
}

/// A whole IKEv2 message: header and outer payloads. For a protected message the last
/// payload is [`Payload::Sk`] or [`Payload::Skf`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The IKE header.
    pub header: Header,
    /// Payloads in wire order.
    pub payloads: Vec<Payload>,
}

/// Where the SK or SKF payload sits in a datagram: offsets into the message bytes.
///
/// * `buf[..payload_start]`: IKE header and any unencrypted payloads before SK.
/// * `buf[payload_start..body_start]`: the SK generic header (4 bytes), or SKF generic
///   header plus fragment number and total (8 bytes).
/// * `buf[..body_start]`: the AEAD associated data (RFC 5282 5.1, RFC 7383 2.5).
/// * `buf[body_start..end]`: IV || ciphertext || ICV.
/// * integrity (non-AEAD) covers `buf[..end - icv_len]`, the ICV is `buf[end - icv_len..end]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EncryptedSpan {
    /// Offset of the SK/SKF generic payload header.
    pub payload_start: usize,
    /// Offset of the IV.
    pub body_start: usize,
    /// End of the message (and of the SK/SKF payload, which is always last).
    pub end: usize,
}

impl EncryptedSpan {
    /// The associated data range for AEAD ciphers.
    pub fn aad(&self) -> core::ops::Range<usize> {
        0..self.body_start
    }

    /// The IV || ciphertext || ICV range.
    pub fn body(&self) -> core::ops::Range<usize> {
        self.body_start..self.end
    }
}

impl Message {
    /// Decodes a whole datagram. The header's length must equal `buf.len()`.
    pub fn decode(buf: &[u8]) -> Result<Self, DecodeError> {
        Self::decode_located(buf).map(|(m, _)| m)
    }

    /// Decodes a whole datagram and also returns where its SK/SKF payload is.
    pub fn decode_located(buf: &[u8]) -> Result<(Self, Option<EncryptedSpan>), DecodeError> {
        let raw = Header::decode(buf)?;
        if raw.length as usize != buf.len() {
            return Err(DecodeError::BadLength {
                what: "IKE message",
                length: raw.length as usize,
                reason: "differs from the datagram length",
            });
        }
        let mut span = None;
        let payloads = decode_payloads(raw.next_payload, buf, HEADER_LEN, true, &mut span)?;
        Ok((
            Message {
                header: raw.header,
                payloads,
            },
            span,
        ))
    }

    /// Appends the encoded message to `out` (which need not be empty).
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let start = out.len();
        let first = self
            .payloads
            .first()
            .map_or(PayloadType::NONE, Payload::payload_type);
        self.header.encode(first, 0, out)?;
        let (last, rest) = match self.payloads.split_last() {
            Some((last @ (Payload::Sk(_) | Payload::Skf(_)), rest)) => (Some(last), rest),
            _ => (None, self.payloads.as_slice()),
        };
        let after = last.map_or(PayloadType::NONE, Payload::payload_type);
        encode_payloads(rest, after, out)?;
        match last {
            Some(Payload::Sk(sk)) => {
                write_generic(out, sk.next_inner, PAYLOAD_HEADER_LEN + sk.body.len())?;
                out.extend_from_slice(&sk.body);
            }
            Some(Payload::Skf(f)) => {
                write_generic(out, f.next_inner, SKF_HEADER_LEN + f.body.len())?;
                out.extend_from_slice(&f.number.to_be_bytes());
                out.extend_from_slice(&f.total.to_be_bytes());
                out.extend_from_slice(&f.body);
            }
            _ => {}
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

/// Decodes an inner payload chain (the plaintext of an SK payload, padding and pad
/// length already removed) starting with type `first`. SK/SKF may not appear inside.
pub fn decode_chain(first: PayloadType, bytes: &[u8]) -> Result<Vec<Payload>, DecodeError> {
    let mut span = None;
    decode_payloads(first, bytes, 0, false, &mut span)
}

/// Appends an inner payload chain to `out` and returns the first payload's type, for
/// the SK payload's "next payload" field. SK/SKF may not appear inside.
pub fn encode_chain(payloads: &[Payload], out: &mut Vec<u8>) -> Result<PayloadType, EncodeError> {
    encode_payloads(payloads, PayloadType::NONE, out)?;
    Ok(payloads
        .first()
        .map_or(PayloadType::NONE, Payload::payload_type))
}

/// Fragment number and total for an SKF payload (RFC 7383 2.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FragmentInfo {
    /// Fragment number, from 1.
    pub number: u16,
    /// Total number of fragments.
    pub total: u16,
}

/// Writes the IKE header, the unencrypted `leading` payloads (normally none) and the
/// SK header (or SKF header when `fragment` is given) for an encrypted body of
/// `body_len` bytes, with all lengths final. The caller then appends exactly
/// `body_len` bytes of IV || ciphertext || ICV. The returned span says which bytes are
/// associated data. `first_inner` is the type of the first inner payload (for
/// fragments other than the first, RFC 7383 2.5 wants `PayloadType::NONE`).
pub fn encode_encrypted_prefix(
    header: &Header,
    leading: &[Payload],
    first_inner: PayloadType,
    fragment: Option<FragmentInfo>,
    body_len: usize,
    out: &mut Vec<u8>,
) -> Result<EncryptedSpan, EncodeError> {
    let start = out.len();
    let sk_type = if fragment.is_some() {
        PayloadType::SKF
    } else {
        PayloadType::SK
    };
    let first = leading.first().map_or(sk_type, Payload::payload_type);
    header.encode(first, 0, out)?;
    encode_payloads(leading, sk_type, out)?;
    let payload_start = out.len() - start;
    let head_len = if fragment.is_some() {
        SKF_HEADER_LEN
    } else {
        PAYLOAD_HEADER_LEN
    };
    write_generic(out, first_inner, head_len + body_len)?;
    if let Some(f) = fragment {
        out.extend_from_slice(&f.number.to_be_bytes());
        out.extend_from_slice(&f.total.to_be_bytes());
    }
    let body_start = out.len() - start;
    let end = body_start
        .checked_add(body_len)
        .ok_or(EncodeError::TooLong {
            what: "IKE message",
            len: body_len,
            max: u32::MAX as usize,
        })?;
    set_length(out, start, end, VERSION)?;
    Ok(EncryptedSpan {
        payload_start,
        body_start,
        end,
    })
}

/// Peeks at the major version of an IKE/ISAKMP datagram (both put it at offset 17), to
/// pick the IKEv1 or IKEv2 decoder.
pub fn peek_major_version(buf: &[u8]) -> Option<u8> {
    buf.get(17).map(|v| v >> 4)
}

fn write_generic(out: &mut Vec<u8>, next: PayloadType, len: usize) -> Result<(), EncodeError> {
    let len = u16::try_from(len).map_err(|_| EncodeError::TooLong {
        what: "encrypted payload",
        len,
        max: u16::MAX as usize,
    })?;
    out.push(next.0);
    out.push(0);
    out.extend_from_slice(&len.to_be_bytes());
    Ok(())
}

/// Encodes `payloads` (none of them SK/SKF) whose last "next payload" is `after`.
fn encode_payloads(
    payloads: &[Payload],
    after: PayloadType,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    for (i, p) in payloads.iter().enumerate() {
        let next = payloads.get(i + 1).map_or(after, Payload::payload_type);
        let start = out.len();
        out.push(next.0);
        out.push(0);
        let at = reserve_u16(out);
        p.encode_body(out)?;
        patch_len16(out, at, start, "payload")?;
    }
    Ok(())
}

/// Walks a payload chain in `buf[pos..]`. With `outer`, SK/SKF are allowed as the last
/// payload and their location is stored in `span`.
fn decode_payloads(
    first: PayloadType,
    buf: &[u8],
    pos: usize,
    outer: bool,
    span: &mut Option<EncryptedSpan>,
) -> Result<Vec<Payload>, DecodeError> {
    let mut r = Reader::new(buf);
    r.skip(pos, "IKE header")?;
    let mut next = first;
    let mut payloads = Vec::with_capacity(8);
    while next != PayloadType::NONE {
        let start = r.position();
        let this = next;
        next = PayloadType(r.u8("generic payload header")?);
        let critical = r.u8("generic payload header")? & CRITICAL != 0;
        let len = r.u16("generic payload header")? as usize;
        let body_len = len
            .checked_sub(PAYLOAD_HEADER_LEN)
            .ok_or(DecodeError::BadLength {
                what: "payload",
                length: len,
                reason: "shorter than the 4-byte generic header",
            })?;
        let body = r.take(body_len, "payload body")?;
        if this == PayloadType::SK || this == PayloadType::SKF {
            if !outer {
                return Err(DecodeError::Malformed {
                    what: "encrypted payload",
                    reason: "SK/SKF inside an encrypted payload",
                });
            }
            if !r.is_empty() {
                return Err(DecodeError::Malformed {
                    what: "encrypted payload",
                    reason: "SK/SKF is not the last payload",
                });
            }
            let (p, head) = if this == PayloadType::SK {
                (
                    Payload::Sk(Encrypted {
                        next_inner: next,
                        body: body.to_vec(),
                    }),
                    PAYLOAD_HEADER_LEN,
                )
            } else {
                (
                    Payload::Skf(EncryptedFragment::decode(next, body)?),
                    SKF_HEADER_LEN,
                )
            };
            *span = Some(EncryptedSpan {
                payload_start: start,
                body_start: start + head,
                end: r.position(),
            });
            payloads.push(p);
            return Ok(payloads);
        }
        payloads.push(Payload::decode_body(this, critical, body)?);
    }
    if !r.is_empty() {
        return Err(DecodeError::Malformed {
            what: "payload chain",
            reason: "bytes after the last payload",
        });
    }
    Ok(payloads)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{KeId, NotifyType};

    fn header() -> Header {
        Header {
            spi_i: [1, 2, 3, 4, 5, 6, 7, 8],
            spi_r: [0; 8],
            minor_version: 0,
            exchange: ExchangeType::IKE_SA_INIT,
            flags: Flags {
                initiator: true,
                ..Flags::default()
            },
            message_id: 0,
        }
    }

    #[test]
    fn header_layout() {
        let m = Message {
            header: header(),
            payloads: vec![Payload::Notify(Notify::new(
                NotifyType::IKEV2_FRAGMENTATION_SUPPORTED,
            ))],
        };
        let b = m.to_bytes().unwrap();
        assert_eq!(&b[16..28], &[41, 0x20, 34, 0x08, 0, 0, 0, 0, 0, 0, 0, 36]);
        assert_eq!(&b[28..], &[0, 0, 0, 8, 0, 0, 0x40, 0x2e]);
        assert_eq!(Message::decode(&b).unwrap(), m);
    }

    #[test]
    fn length_and_version_checks() {
        let m = Message {
            header: header(),
            payloads: vec![Payload::Nonce(vec![7; 32])],
        };
        let b = m.to_bytes().unwrap();
        let mut longer = b.clone();
        longer.push(0);
        assert!(matches!(
            Message::decode(&longer),
            Err(DecodeError::BadLength { .. })
        ));
        let mut v1 = b.clone();
        v1[17] = 0x10;
        let e = Message::decode(&v1).unwrap_err();
        assert_eq!(e.v2_notify(), NotifyType::INVALID_MAJOR_VERSION);
        let mut short_payload = b.clone();
        short_payload[31] = 3;
        assert_eq!(
            Message::decode(&short_payload).unwrap_err().v2_notify(),
            NotifyType::INVALID_SYNTAX
        );
        for n in 0..b.len() {
            assert!(Message::decode(&b[..n]).is_err());
        }
    }

    #[test]
    fn unknown_payloads_kept_or_rejected_by_critical_bit() {
        let mut b = Message {
            header: header(),
            payloads: vec![
                Payload::Unknown {
                    ty: PayloadType(200),
                    body: vec![1, 2, 3],
                },
                Payload::Nonce(vec![9; 16]),
            ],
        }
        .to_bytes()
        .unwrap();
        let m = Message::decode(&b).unwrap();
        assert_eq!(m.payloads.len(), 2);
        b[29] = 0x80; // critical bit of the unknown payload
        let e = Message::decode(&b).unwrap_err();
        assert_eq!(e, DecodeError::UnsupportedCriticalPayload(PayloadType(200)));
        assert_eq!(e.v2_notify(), NotifyType::UNSUPPORTED_CRITICAL_PAYLOAD);
        assert_eq!(e.unsupported_payload_type(), Some(PayloadType(200)));
        // critical bit on a known payload is ignored
        b[29] = 0;
        b[29 + 7] = 0x80;
        assert!(Message::decode(&b).is_ok());
    }

    /// GSPM (49) and EAP (48) decode, but the state machine implements neither: a
    /// critical one is refused like an unknown type, a non-critical one is kept.
    #[test]
    fn critical_gspm_and_eap_are_refused() {
        for (p, ty) in [
            (Payload::Gspm(vec![1, 2, 3]), PayloadType::GSPM),
            (Payload::Eap(vec![1, 0, 0, 4]), PayloadType::EAP),
        ] {
            let mut b = Message {
                header: header(),
                payloads: vec![p, Payload::Nonce(vec![9; 16])],
            }
            .to_bytes()
            .unwrap();
            assert!(Message::decode(&b).is_ok());
            b[29] = 0x80;
            let e = Message::decode(&b).unwrap_err();
            assert_eq!(e, DecodeError::UnsupportedCriticalPayload(ty));
            assert_eq!(e.unsupported_payload_type(), Some(ty));
        }
    }

    #[test]
    fn sk_prefix_matches_full_encode_and_span() {
        let inner = vec![
            Payload::IdI(Identification {
                id_type: crate::registry::IdType::FQDN,
                data: b"west.example".to_vec(),
            }),
            Payload::Notify(Notify::invalid_ke_payload(KeId::CURVE25519)),
        ];
        let mut plain = Vec::new();
        let first = encode_chain(&inner, &mut plain).unwrap();
        assert_eq!(first, PayloadType::IDI);
        assert_eq!(decode_chain(first, &plain).unwrap(), inner);
        // pretend-sealed body: IV || "ciphertext" || ICV
        let body: Vec<u8> = (0..(16 + plain.len() + 16)).map(|i| i as u8).collect();
        let mut hdr = header();
        hdr.exchange = ExchangeType::IKE_AUTH;
        hdr.message_id = 1;
        let mut out = Vec::new();
        let span = encode_encrypted_prefix(&hdr, &[], first, None, body.len(), &mut out).unwrap();
        out.extend_from_slice(&body);
        let m = Message {
            header: hdr,
            payloads: vec![Payload::Sk(Encrypted {
                next_inner: first,
                body: body.clone(),
            })],
        };
        assert_eq!(m.to_bytes().unwrap(), out);
        let (back, got) = Message::decode_located(&out).unwrap();
        assert_eq!(back, m);
        assert_eq!(got, Some(span));
        assert_eq!(span.aad(), 0..32);
        assert_eq!(&out[span.body()], body.as_slice());
    }

    #[test]
    fn skf_prefix_and_sk_not_last() {
        let hdr = header();
        let mut out = Vec::new();
        let frag = FragmentInfo {
            number: 2,
            total: 3,
        };
        let span =
            encode_encrypted_prefix(&hdr, &[], PayloadType::NONE, Some(frag), 5, &mut out).unwrap();
        out.extend_from_slice(&[1, 2, 3, 4, 5]);
        assert_eq!(span.body_start, 36);
        let (m, got) = Message::decode_located(&out).unwrap();
        assert_eq!(got, Some(span));
        assert!(matches!(&m.payloads[0], Payload::Skf(f) if f.number == 2 && f.total == 3));
        // a payload after SK must be rejected
        let mut bad = Message {
            header: hdr,
            payloads: vec![Payload::Sk(Encrypted {
                next_inner: PayloadType::NONE,
                body: vec![0; 8],
            })],
        }
        .to_bytes()
        .unwrap();
        bad.extend_from_slice(&[0, 0, 0, 4]);
        let n = bad.len() as u32;
        bad[24..28].copy_from_slice(&n.to_be_bytes());
        assert!(Message::decode(&bad).is_err());
        // SK inside an inner chain
        assert!(decode_chain(PayloadType::SK, &[0, 0, 0, 4]).is_err());
    }
}
