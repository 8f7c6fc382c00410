//! The ISAKMP payload bodies other than SA (RFC 2408 3.7-3.16, RFC 2407 4.6, RFC 3947
//! NAT-D/NAT-OA, draft-dukes-ike-mode-cfg, IKEv1 fragmentation).

use std::net::IpAddr;

use crate::codec::attr::{self, Attribute};
use crate::codec::error::{DecodeError, EncodeError};
use crate::codec::io::{fit_u16, Reader};
use crate::codec::spi::{decode_spis, encode_spis, Spi};
use crate::codec::v2::ip_from;
use crate::registry::{CertEncoding, CfgType, IdType, ProtocolId, V1NotifyType};

/// IPsec DOI Identification payload (RFC 2407 4.6.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identification {
    /// ID type.
    pub id_type: IdType,
    /// IP protocol the identity is restricted to (0 for any, 17 for UDP in Main Mode).
    pub protocol: u8,
    /// Port (0 for any, 500 in Main Mode by some senders).
    pub port: u16,
    /// Identification data (address bytes, subnet address+mask, FQDN, DN, ...).
    pub data: Vec<u8>,
}

impl Identification {
    /// The address of an ID_IPV4_ADDR / ID_IPV6_ADDR identity.
    pub fn ip(&self) -> Option<IpAddr> {
        ip_from(self.id_type, &self.data)
    }

    /// The (first, second) addresses of an ID_IPV4_ADDR_SUBNET / ID_IPV6_ADDR_SUBNET
    /// (address and mask) or ID_IPV4_ADDR_RANGE / ID_IPV6_ADDR_RANGE (first and last
    /// address), as Quick Mode IDci/IDcr carry them (RFC 2407 4.6.2.1).
    pub fn address_pair(&self) -> Option<(IpAddr, IpAddr)> {
        let n = match self.id_type {
            IdType::V1_IPV4_ADDR_SUBNET | IdType::V1_IPV4_ADDR_RANGE => 4,
            IdType::V1_IPV6_ADDR_SUBNET | IdType::V1_IPV6_ADDR_RANGE => 16,
            _ => return None,
        };
        if self.data.len() != 2 * n {
            return None;
        }
        let (a, b) = self.data.split_at(n);
        let ty = if n == 4 {
            IdType::IPV4_ADDR
        } else {
            IdType::IPV6_ADDR
        };
        Some((ip_from(ty, a)?, ip_from(ty, b)?))
    }

    pub(crate) fn decode(body: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(body);
        let id_type = IdType(r.u8("ID type")?);
        let protocol = r.u8("ID protocol")?;
        let port = r.u16("ID port")?;
        Ok(Identification {
            id_type,
            protocol,
            port,
            data: r.rest().to_vec(),
        })
    }

    /// The ID payload body without the generic header: what IKEv1 HASH_I/HASH_R are
    /// computed over (RFC 2409 5, "IDii_b").
    pub fn body_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(4 + self.data.len());
        self.encode(&mut out);
        out
    }

    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.id_type.0);
        out.push(self.protocol);
        out.extend_from_slice(&self.port.to_be_bytes());
        out.extend_from_slice(&self.data);
    }
}

/// Certificate (RFC 2408 3.9) or Certificate Request (3.10) payload. For CR the data
/// is the certificate authority (a DER distinguished name), possibly empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certificate {
    /// Certificate encoding / requested certificate type.
    pub encoding: CertEncoding,
    /// Certificate data or authority.
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
}

/// Notification payload (RFC 2408 3.14), including DPD R_U_THERE (RFC 3706) whose
/// data is a 4-byte sequence number and whose SPI is the cookie pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notify {
    /// Domain of interpretation (1; some peers send 0 in informational exchanges).
    pub doi: u32,
    /// Protocol the SPI belongs to.
    pub protocol: ProtocolId,
    /// Notify message type.
    pub ty: V1NotifyType,
    /// SPI (empty, 4 bytes, or 16 bytes of cookies).
    pub spi: Spi,
    /// Notification data.
    pub data: Vec<u8>,
}

impl Notify {
    pub(crate) fn decode(body: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(body);
        let doi = r.u32("notify DOI")?;
        let protocol = ProtocolId(r.u8("notify protocol id")?);
        let spi_size = r.u8("notify SPI size")? as usize;
        let ty = V1NotifyType(r.u16("notify message type")?);
        let spi =
            Spi::from_slice(r.take(spi_size, "notify SPI")?).ok_or(DecodeError::BadLength {
                what: "notify SPI",
                length: spi_size,
                reason: "longer than 16 bytes",
            })?;
        Ok(Notify {
            doi,
            protocol,
            ty,
            spi,
            data: r.rest().to_vec(),
        })
    }

    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.doi.to_be_bytes());
        out.push(self.protocol.0);
        out.push(self.spi.len() as u8);
        out.extend_from_slice(&self.ty.0.to_be_bytes());
        out.extend_from_slice(self.spi.as_bytes());
        out.extend_from_slice(&self.data);
    }

    /// The sequence number of a DPD R_U_THERE / R_U_THERE_ACK (RFC 3706 5).
    pub fn dpd_sequence(&self) -> Option<u32> {
        if !matches!(
            self.ty,
            V1NotifyType::R_U_THERE | V1NotifyType::R_U_THERE_ACK
        ) {
            return None;
        }
        <[u8; 4]>::try_from(self.data.as_slice())
            .ok()
            .map(u32::from_be_bytes)
    }
}

/// Delete payload (RFC 2408 3.15).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delete {
    /// Domain of interpretation.
    pub doi: u32,
    /// PROTO_ISAKMP (SPI = 16 bytes of cookies), AH or ESP (4-byte SPIs).
    pub protocol: ProtocolId,
    /// SPI size.
    pub spi_size: u8,
    /// The SPIs to delete.
    pub spis: Vec<Spi>,
}

impl Delete {
    pub(crate) fn decode(body: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(body);
        let doi = r.u32("delete DOI")?;
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
            doi,
            protocol,
            spi_size,
            spis,
        })
    }

    pub(crate) fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        out.extend_from_slice(&self.doi.to_be_bytes());
        out.push(self.protocol.0);
        out.push(self.spi_size);
        out.extend_from_slice(&fit_u16(self.spis.len(), "SPIs in a delete")?.to_be_bytes());
        encode_spis(&self.spis, self.spi_size, out)
    }
}

/// ModeCFG / XAUTH attribute payload (draft-dukes-ike-mode-cfg 3.2,
/// draft-beaulieu-ike-xauth): a transaction message of ISAKMP data attributes, typed
/// by [`crate::registry::ModeCfgAttr`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModeCfg {
    /// ISAKMP_CFG_REQUEST (1), REPLY (2), SET (3) or ACK (4).
    pub msg_type: CfgType,
    /// Transaction identifier, echoed in the reply.
    pub identifier: u16,
    /// Attributes; in a request, empty values ask for the attribute.
    pub attributes: Vec<Attribute>,
}

impl ModeCfg {
    pub(crate) fn decode(body: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(body);
        let msg_type = CfgType(r.u8("ModeCFG type")?);
        r.skip(1, "ModeCFG reserved")?;
        let identifier = r.u16("ModeCFG identifier")?;
        Ok(ModeCfg {
            msg_type,
            identifier,
            attributes: attr::decode_all(r.rest())?,
        })
    }

    pub(crate) fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        out.push(self.msg_type.0);
        out.push(0);
        out.extend_from_slice(&self.identifier.to_be_bytes());
        attr::encode_all(&self.attributes, out)
    }
}

/// NAT original address payload (RFC 3947 5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NatOa {
    /// The original address; the ID type (ID_IPV4_ADDR or ID_IPV6_ADDR) follows from it.
    pub address: IpAddr,
}

impl NatOa {
    pub(crate) fn decode(body: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(body);
        let id_type = IdType(r.u8("NAT-OA ID type")?);
        r.skip(3, "NAT-OA reserved")?;
        let address = match id_type {
            IdType::IPV4_ADDR if r.remaining() == 4 => {
                IpAddr::from(r.array::<4>("NAT-OA address")?)
            }
            IdType::IPV6_ADDR if r.remaining() == 16 => {
                IpAddr::from(r.array::<16>("NAT-OA address")?)
            }
            _ => {
                return Err(DecodeError::Malformed {
                    what: "NAT-OA payload",
                    reason: "ID type must be ID_IPV4_ADDR with 4 bytes or ID_IPV6_ADDR with 16",
                })
            }
        };
        Ok(NatOa { address })
    }

    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        match self.address {
            IpAddr::V4(a) => {
                out.extend_from_slice(&[IdType::IPV4_ADDR.0, 0, 0, 0]);
                out.extend_from_slice(&a.octets());
            }
            IpAddr::V6(a) => {
                out.extend_from_slice(&[IdType::IPV6_ADDR.0, 0, 0, 0]);
                out.extend_from_slice(&a.octets());
            }
        }
    }
}

/// IKEv1 fragment payload (the Cisco-compatible IKE_FRAGMENTATION extension that
/// libreswan and strongSwan implement): a piece of the complete encrypted message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fragment {
    /// Identifies the message the fragments belong to.
    pub id: u16,
    /// Fragment number, from 1.
    pub number: u8,
    /// Set on the last fragment.
    pub last: bool,
    /// This fragment's bytes of the original message.
    pub data: Vec<u8>,
}

const FRAGMENT_LAST: u8 = 0x01;

impl Fragment {
    pub(crate) fn decode(body: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(body);
        let id = r.u16("fragment id")?;
        let number = r.u8("fragment number")?;
        let flags = r.u8("fragment flags")?;
        if number == 0 {
            return Err(DecodeError::Malformed {
                what: "IKEv1 fragment",
                reason: "fragment number 0",
            });
        }
        Ok(Fragment {
            id,
            number,
            last: flags & FRAGMENT_LAST != 0,
            data: r.rest().to_vec(),
        })
    }

    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.id.to_be_bytes());
        out.push(self.number);
        out.push(if self.last { FRAGMENT_LAST } else { 0 });
        out.extend_from_slice(&self.data);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::ModeCfgAttr;

    #[test]
    fn notify_dpd() {
        let n = Notify {
            doi: 1,
            protocol: ProtocolId::IKE,
            ty: V1NotifyType::R_U_THERE,
            spi: Spi::from_slice(&[0xaa; 16]).unwrap(),
            data: 7u32.to_be_bytes().to_vec(),
        };
        let mut out = Vec::new();
        n.encode(&mut out);
        assert_eq!(&out[..8], &[0, 0, 0, 1, 1, 16, 0x8d, 0x28]);
        assert_eq!(out.len(), 8 + 16 + 4);
        let back = Notify::decode(&out).unwrap();
        assert_eq!(back, n);
        assert_eq!(back.dpd_sequence(), Some(7));
        assert!(Notify::decode(&out[..20]).is_err());
    }

    #[test]
    fn quick_mode_id_subnet() {
        let id = Identification {
            id_type: IdType::V1_IPV4_ADDR_SUBNET,
            protocol: 0,
            port: 0,
            data: vec![192, 0, 2, 0, 255, 255, 255, 0],
        };
        let (a, m) = id.address_pair().unwrap();
        assert_eq!(
            (a.to_string(), m.to_string()),
            ("192.0.2.0".into(), "255.255.255.0".into())
        );
        assert_eq!(id.ip(), None);
        let mut out = Vec::new();
        id.encode(&mut out);
        assert_eq!(&out[..4], &[4, 0, 0, 0]);
        assert_eq!(Identification::decode(&out).unwrap(), id);
    }

    #[test]
    fn nat_oa_and_fragment() {
        let oa = NatOa {
            address: "198.51.100.7".parse().unwrap(),
        };
        let mut out = Vec::new();
        oa.encode(&mut out);
        assert_eq!(out, [1, 0, 0, 0, 198, 51, 100, 7]);
        assert_eq!(NatOa::decode(&out).unwrap(), oa);
        assert!(NatOa::decode(&[5, 0, 0, 0, 1, 2, 3, 4]).is_err());
        let f = Fragment {
            id: 0x1234,
            number: 2,
            last: true,
            data: vec![1, 2, 3],
        };
        out.clear();
        f.encode(&mut out);
        assert_eq!(out, [0x12, 0x34, 2, 1, 1, 2, 3]);
        assert_eq!(Fragment::decode(&out).unwrap(), f);
        assert!(Fragment::decode(&[0, 1, 0, 1]).is_err());
    }

    #[test]
    fn modecfg_xauth_request() {
        let m = ModeCfg {
            msg_type: CfgType::REQUEST,
            identifier: 0xbeef,
            attributes: vec![
                Attribute::short(ModeCfgAttr::XAUTH_TYPE.0, 0),
                Attribute::long(ModeCfgAttr::XAUTH_USER_NAME.0, vec![]),
                Attribute::long(ModeCfgAttr::XAUTH_USER_PASSWORD.0, vec![]),
            ],
        };
        let mut out = Vec::new();
        m.encode(&mut out).unwrap();
        assert_eq!(
            out,
            [1, 0, 0xbe, 0xef, 0xc0, 0x88, 0, 0, 0x40, 0x89, 0, 0, 0x40, 0x8a, 0, 0]
        );
        assert_eq!(ModeCfg::decode(&out).unwrap(), m);
    }
}
