//! The simple IKEv2 payload bodies (RFC 7296 3.4-3.16, RFC 7383 2.5).

use std::net::IpAddr;

use crate::codec::error::{DecodeError, EncodeError};
use crate::codec::io::{fit_u16, Reader};
use crate::codec::spi::{decode_spis, encode_spis, Spi};
use crate::registry::{
    AuthMethod, CertEncoding, CfgAttr, CfgType, IdType, KeId, NotifyType, PayloadType, ProtocolId,
};

/// Key Exchange payload (RFC 7296 3.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyExchange {
    /// The key exchange method the data belongs to.
    pub group: KeId,
    /// The public value (or KEM ciphertext / encapsulation key).
    pub data: Vec<u8>,
}

impl KeyExchange {
    pub(crate) fn decode(body: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(body);
        let group = KeId(r.u16("KE method")?);
        r.skip(2, "KE reserved")?;
        Ok(KeyExchange {
            group,
            data: r.rest().to_vec(),
        })
    }

    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.group.0.to_be_bytes());
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&self.data);
    }
}

/// IDi / IDr payload (RFC 7296 3.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identification {
    /// How `data` is to be read.
    pub id_type: IdType,
    /// The identity: 4 or 16 address bytes, an FQDN, an RFC 822 address, a DER DN, ...
    pub data: Vec<u8>,
}

impl Identification {
    /// An ID_IPV4_ADDR or ID_IPV6_ADDR identity.
    pub fn from_ip(addr: IpAddr) -> Self {
        match addr {
            IpAddr::V4(a) => Identification {
                id_type: IdType::IPV4_ADDR,
                data: a.octets().to_vec(),
            },
            IpAddr::V6(a) => Identification {
                id_type: IdType::IPV6_ADDR,
                data: a.octets().to_vec(),
            },
        }
    }

    /// The address of an ID_IPV4_ADDR / ID_IPV6_ADDR identity with the right length.
    pub fn ip(&self) -> Option<IpAddr> {
        ip_from(self.id_type, &self.data)
    }

    pub(crate) fn decode(body: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(body);
        let id_type = IdType(r.u8("ID type")?);
        r.skip(3, "ID reserved")?;
        Ok(Identification {
            id_type,
            data: r.rest().to_vec(),
        })
    }

    /// The ID payload body without the generic header: the bytes RFC 7296 2.15's
    /// InitIDi/InitIDr (the `RestOfInitIDPayload` that goes into AUTH) are computed over.
    pub fn body_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(4 + self.data.len());
        self.encode(&mut out);
        out
    }

    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.id_type.0);
        out.extend_from_slice(&[0, 0, 0]);
        out.extend_from_slice(&self.data);
    }
}

/// Reads the 4- or 16-byte address of an ID_IPV4_ADDR / ID_IPV6_ADDR identity.
pub(crate) fn ip_from(id_type: IdType, data: &[u8]) -> Option<IpAddr> {
    match id_type {
        IdType::IPV4_ADDR => <[u8; 4]>::try_from(data).ok().map(IpAddr::from),
        IdType::IPV6_ADDR => <[u8; 16]>::try_from(data).ok().map(IpAddr::from),
        _ => None,
    }
}

/// CERT (RFC 7296 3.6) or CERTREQ (3.7) payload: an encoding and its data. For
/// CERTREQ with X.509 encodings the data is a concatenation of 20-byte SHA-1 hashes of
/// trusted CAs' public keys ([`Certificate::ca_hashes`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certificate {
    /// Certificate encoding.
    pub encoding: CertEncoding,
    /// Certificate data or certification authority hashes.
    pub data: Vec<u8>,
}

impl Certificate {
    pub(crate) fn decode(body: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(body);
        let encoding = CertEncoding(r.u8("certificate encoding")?);
        Ok(Certificate {
            encoding,
            data: r.rest().to_vec(),
        })
    }

    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.encoding.0);
        out.extend_from_slice(&self.data);
    }

    /// The 20-byte CA key hashes of a CERTREQ; trailing bytes that do not make a whole
    /// hash are ignored (the caller may treat them as a malformed request).
    pub fn ca_hashes(&self) -> impl Iterator<Item = &[u8]> {
        self.data.chunks_exact(20)
    }
}

/// AUTH payload (RFC 7296 3.8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authentication {
    /// Authentication method.
    pub method: AuthMethod,
    /// Signature or MAC; for DIGITAL_SIGNATURE it starts with the RFC 7427 AlgorithmIdentifier.
    pub data: Vec<u8>,
}

impl Authentication {
    pub(crate) fn decode(body: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(body);
        let method = AuthMethod(r.u8("auth method")?);
        r.skip(3, "AUTH reserved")?;
        Ok(Authentication {
            method,
            data: r.rest().to_vec(),
        })
    }

    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.method.0);
        out.extend_from_slice(&[0, 0, 0]);
        out.extend_from_slice(&self.data);
    }
}

/// Notify payload (RFC 7296 3.10) of any notify type; the data is opaque here and read
/// with the typed helpers for the types whose layout the daemon needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notify {
    /// Protocol the SPI belongs to; `ProtocolId(0)` when there is no SPI.
    pub protocol: ProtocolId,
    /// SPI (empty for most notifies about the IKE SA).
    pub spi: Spi,
    /// Notify message type.
    pub ty: NotifyType,
    /// Notification data.
    pub data: Vec<u8>,
}

impl Notify {
    /// A notify without protocol, SPI or data (e.g. IKEV2_FRAGMENTATION_SUPPORTED).
    pub fn new(ty: NotifyType) -> Self {
        Notify::with_data(ty, Vec::new())
    }

    /// A notify about the IKE SA with data (e.g. COOKIE, NAT_DETECTION_*).
    pub fn with_data(ty: NotifyType, data: Vec<u8>) -> Self {
        Notify {
            protocol: ProtocolId(0),
            spi: Spi::EMPTY,
            ty,
            data,
        }
    }

    /// INVALID_KE_PAYLOAD carrying the method the responder wants (RFC 7296 3.10.1).
    pub fn invalid_ke_payload(wanted: KeId) -> Self {
        Notify::with_data(
            NotifyType::INVALID_KE_PAYLOAD,
            wanted.0.to_be_bytes().to_vec(),
        )
    }

    /// UNSUPPORTED_CRITICAL_PAYLOAD naming the payload type (RFC 7296 3.10.1).
    pub fn unsupported_critical_payload(ty: PayloadType) -> Self {
        Notify::with_data(NotifyType::UNSUPPORTED_CRITICAL_PAYLOAD, vec![ty.0])
    }

    /// SIGNATURE_HASH_ALGORITHMS with the given RFC 7427 hash algorithm IDs.
    pub fn signature_hash_algorithms(ids: &[u16]) -> Self {
        Notify::with_data(
            NotifyType::SIGNATURE_HASH_ALGORITHMS,
            ids.iter().flat_map(|v| v.to_be_bytes()).collect(),
        )
    }

    /// NAT_DETECTION_SOURCE_IP (`source`) or NAT_DETECTION_DESTINATION_IP with its
    /// SHA-1 hash (RFC 7296 2.23).
    pub fn nat_detection(source: bool, hash: [u8; 20]) -> Self {
        let ty = if source {
            NotifyType::NAT_DETECTION_SOURCE_IP
        } else {
            NotifyType::NAT_DETECTION_DESTINATION_IP
        };
        Notify::with_data(ty, hash.to_vec())
    }

    /// REKEY_SA naming the Child SA being rekeyed by its SPI (RFC 7296 1.3.3).
    pub fn rekey_sa(protocol: ProtocolId, spi: u32) -> Self {
        Notify {
            protocol,
            spi: Spi::from_u32(spi),
            ty: NotifyType::REKEY_SA,
            data: Vec::new(),
        }
    }

    /// IPCOMP_SUPPORTED with the CPI and IPComp transform ID (RFC 7296 3.10.1).
    pub fn ipcomp_supported(cpi: u16, transform: u8) -> Self {
        let [a, b] = cpi.to_be_bytes();
        Notify::with_data(NotifyType::IPCOMP_SUPPORTED, vec![a, b, transform])
    }

    /// The (CPI, transform ID) of an IPCOMP_SUPPORTED notify.
    pub fn ipcomp(&self) -> Option<(u16, u8)> {
        match (self.ty, self.data.as_slice()) {
            (NotifyType::IPCOMP_SUPPORTED, [a, b, t]) => Some((u16::from_be_bytes([*a, *b]), *t)),
            _ => None,
        }
    }

    /// The 2-byte method of an INVALID_KE_PAYLOAD notify.
    pub fn wanted_ke(&self) -> Option<KeId> {
        self.u16_data(NotifyType::INVALID_KE_PAYLOAD).map(KeId)
    }

    /// The 4-byte value of REKEY_SA-style notifies is in the SPI; this gives the
    /// 2-byte value of notifies whose data is one u16 (INVALID_KE_PAYLOAD, ...).
    fn u16_data(&self, ty: NotifyType) -> Option<u16> {
        if self.ty != ty {
            return None;
        }
        <[u8; 2]>::try_from(self.data.as_slice())
            .ok()
            .map(u16::from_be_bytes)
    }

    /// Hash algorithm IDs of a SIGNATURE_HASH_ALGORITHMS notify (RFC 7427 4); `None` if
    /// this is another notify or the data has an odd length.
    pub fn hash_algorithms(&self) -> Option<Vec<u16>> {
        if self.ty != NotifyType::SIGNATURE_HASH_ALGORITHMS || self.data.len() & 1 == 1 {
            return None;
        }
        Some(
            self.data
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect(),
        )
    }

    pub(crate) fn decode(body: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(body);
        let protocol = ProtocolId(r.u8("notify protocol id")?);
        let spi_size = r.u8("notify SPI size")? as usize;
        let ty = NotifyType(r.u16("notify type")?);
        let spi =
            Spi::from_slice(r.take(spi_size, "notify SPI")?).ok_or(DecodeError::BadLength {
                what: "notify SPI",
                length: spi_size,
                reason: "longer than 16 bytes",
            })?;
        Ok(Notify {
            protocol,
            spi,
            ty,
            data: r.rest().to_vec(),
        })
    }

    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.protocol.0);
        out.push(self.spi.len() as u8);
        out.extend_from_slice(&self.ty.0.to_be_bytes());
        out.extend_from_slice(self.spi.as_bytes());
        out.extend_from_slice(&self.data);
    }
}

/// Delete payload (RFC 7296 3.11).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delete {
    /// IKE, AH or ESP.
    pub protocol: ProtocolId,
    /// SPI size: 0 for IKE (the SA is the one the message travels in), 4 for AH/ESP.
    pub spi_size: u8,
    /// The SPIs to delete, each `spi_size` long.
    pub spis: Vec<Spi>,
}

impl Delete {
    /// Deletes the IKE SA the message is sent in.
    pub fn ike() -> Self {
        Delete {
            protocol: ProtocolId::IKE,
            spi_size: 0,
            spis: Vec::new(),
        }
    }

    /// Deletes Child SAs by their inbound SPIs.
    pub fn child(protocol: ProtocolId, spis: &[u32]) -> Self {
        Delete {
            protocol,
            spi_size: 4,
            spis: spis.iter().map(|s| Spi::from_u32(*s)).collect(),
        }
    }

    pub(crate) fn decode(body: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(body);
        let protocol = ProtocolId(r.u8("delete protocol id")?);
        let spi_size = r.u8("delete SPI size")?;
        let count = r.u16("delete number of SPIs")?;
        let spis = decode_spis(&mut r, spi_size, count, "delete SPI")?;
        if !r.is_empty() {
            return Err(DecodeError::Malformed {
                what: "delete payload",
                reason: "length disagrees with SPI size times number of SPIs",
            });
        }
        Ok(Delete {
            protocol,
            spi_size,
            spis,
        })
    }

    pub(crate) fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        out.push(self.protocol.0);
        out.push(self.spi_size);
        out.extend_from_slice(&fit_u16(self.spis.len(), "SPIs in a delete")?.to_be_bytes());
        encode_spis(&self.spis, self.spi_size, out)
    }
}

/// Configuration payload (RFC 7296 3.15).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Configuration {
    /// CFG_REQUEST, CFG_REPLY, CFG_SET or CFG_ACK.
    pub cfg_type: CfgType,
    /// Attributes in order.
    pub attributes: Vec<CfgAttribute>,
}

/// One configuration attribute; an empty value asks for (or acknowledges) the attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CfgAttribute {
    /// Attribute type (15 bits; the reserved top bit is never sent).
    pub ty: CfgAttr,
    /// Value bytes (e.g. 4 address bytes for INTERNAL_IP4_ADDRESS).
    pub value: Vec<u8>,
}

impl Configuration {
    pub(crate) fn decode(body: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(body);
        let cfg_type = CfgType(r.u8("CP type")?);
        r.skip(3, "CP reserved")?;
        let mut attributes = Vec::new();
        while !r.is_empty() {
            // RFC 7296 3.15.1: the top bit is reserved and ignored on receipt.
            let ty = CfgAttr(r.u16("CP attribute type")? & 0x7fff);
            let len = r.u16("CP attribute length")? as usize;
            let value = r.take(len, "CP attribute value")?.to_vec();
            attributes.push(CfgAttribute { ty, value });
        }
        Ok(Configuration {
            cfg_type,
            attributes,
        })
    }

    pub(crate) fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        out.push(self.cfg_type.0);
        out.extend_from_slice(&[0, 0, 0]);
        for a in &self.attributes {
            if a.ty.0 & 0x8000 != 0 {
                return Err(EncodeError::TooLong {
                    what: "CP attribute type",
                    len: a.ty.0 as usize,
                    max: 0x7fff,
                });
            }
            out.extend_from_slice(&a.ty.0.to_be_bytes());
            out.extend_from_slice(&fit_u16(a.value.len(), "CP attribute value")?.to_be_bytes());
            out.extend_from_slice(&a.value);
        }
        Ok(())
    }
}

/// The Encrypted and Authenticated payload (RFC 7296 3.14). The body is opaque here:
/// IV, ciphertext (inner payloads, padding, pad length) and ICV, sealed and opened by
/// `ike::crypto`. `next_inner` is the type of the first inner payload, carried in this
/// payload's "next payload" field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encrypted {
    /// Type of the first payload inside.
    pub next_inner: PayloadType,
    /// IV || ciphertext || ICV.
    pub body: Vec<u8>,
}

/// The Encrypted Fragment payload (RFC 7383 2.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncryptedFragment {
    /// Type of the first inner payload in fragment 1; zero in the other fragments.
    pub next_inner: PayloadType,
    /// Fragment number, from 1.
    pub number: u16,
    /// Total number of fragments.
    pub total: u16,
    /// IV || ciphertext || ICV of this fragment.
    pub body: Vec<u8>,
}

impl EncryptedFragment {
    pub(crate) fn decode(next_inner: PayloadType, body: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(body);
        let number = r.u16("fragment number")?;
        let total = r.u16("total fragments")?;
        // RFC 7383 2.6: number 0 or number > total is invalid.
        if number == 0 || number > total {
            return Err(DecodeError::Malformed {
                what: "encrypted fragment",
                reason: "fragment number is 0 or above the total",
            });
        }
        Ok(EncryptedFragment {
            next_inner,
            number,
            total,
            body: r.rest().to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notify_layout_and_helpers() {
        let n = Notify::invalid_ke_payload(KeId::ECP_256);
        let mut out = Vec::new();
        n.encode(&mut out);
        assert_eq!(out, [0, 0, 0, 17, 0, 19]);
        let back = Notify::decode(&out).unwrap();
        assert_eq!(back.wanted_ke(), Some(KeId::ECP_256));
        let rekey = Notify {
            protocol: ProtocolId::ESP,
            spi: Spi::from_u32(0xdead_beef),
            ty: NotifyType::REKEY_SA,
            data: vec![],
        };
        out.clear();
        rekey.encode(&mut out);
        assert_eq!(out, [3, 4, 0x40, 0x09, 0xde, 0xad, 0xbe, 0xef]);
        assert_eq!(Notify::decode(&out).unwrap(), rekey);
        assert!(Notify::decode(&[3, 4, 0x40, 0x09, 0xde]).is_err());
        let sha = Notify::signature_hash_algorithms(&[2, 3, 4]);
        assert_eq!(sha.hash_algorithms(), Some(vec![2, 3, 4]));
    }

    #[test]
    fn typed_notify_and_id_helpers() {
        let n = Notify::ipcomp_supported(0x1234, 2);
        assert_eq!(n.data, [0x12, 0x34, 2]);
        assert_eq!(n.ipcomp(), Some((0x1234, 2)));
        assert_eq!(Notify::rekey_sa(ProtocolId::ESP, 7).spi.as_u32(), Some(7));
        assert_eq!(
            Notify::nat_detection(true, [1; 20]).ty,
            NotifyType::NAT_DETECTION_SOURCE_IP
        );
        let addr: IpAddr = "2001:db8::1".parse().unwrap();
        let id = Identification::from_ip(addr);
        assert_eq!(id.id_type, IdType::IPV6_ADDR);
        assert_eq!(id.ip(), Some(addr));
        assert_eq!(id.body_bytes().len(), 20);
        let bad = Identification {
            id_type: IdType::IPV4_ADDR,
            data: vec![1, 2, 3],
        };
        assert_eq!(bad.ip(), None);
    }

    #[test]
    fn delete_checks_counts() {
        let d = Delete::child(ProtocolId::ESP, &[1, 2]);
        let mut out = Vec::new();
        d.encode(&mut out).unwrap();
        assert_eq!(out, [3, 4, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2]);
        assert_eq!(Delete::decode(&out).unwrap(), d);
        // a forged huge count must fail without allocating
        assert!(Delete::decode(&[3, 4, 0xff, 0xff, 0, 0, 0, 1]).is_err());
        // extra bytes
        out.push(0);
        assert!(Delete::decode(&out).is_err());
        let ike = Delete::ike();
        out.clear();
        ike.encode(&mut out).unwrap();
        assert_eq!(out, [1, 0, 0, 0]);
        assert_eq!(Delete::decode(&out).unwrap(), ike);
    }

    #[test]
    fn cp_round_trip() {
        let cp = Configuration {
            cfg_type: CfgType::REQUEST,
            attributes: vec![
                CfgAttribute {
                    ty: CfgAttr::INTERNAL_IP4_ADDRESS,
                    value: vec![],
                },
                CfgAttribute {
                    ty: CfgAttr::INTERNAL_IP4_DNS,
                    value: vec![192, 0, 2, 53],
                },
            ],
        };
        let mut out = Vec::new();
        cp.encode(&mut out).unwrap();
        assert_eq!(out, [1, 0, 0, 0, 0, 1, 0, 0, 0, 3, 0, 4, 192, 0, 2, 53]);
        assert_eq!(Configuration::decode(&out).unwrap(), cp);
        assert!(Configuration::decode(&[1, 0, 0, 0, 0, 3, 0, 4, 1]).is_err());
    }

    #[test]
    fn fragment_numbers_are_checked() {
        assert!(EncryptedFragment::decode(PayloadType::NONE, &[0, 0, 0, 2]).is_err());
        assert!(EncryptedFragment::decode(PayloadType::NONE, &[0, 3, 0, 2]).is_err());
        let f = EncryptedFragment::decode(PayloadType::IDI, &[0, 1, 0, 2, 9]).unwrap();
        assert_eq!((f.number, f.total, f.body.as_slice()), (1, 2, &[9u8][..]));
    }
}
