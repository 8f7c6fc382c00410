//! IKEv2 Traffic Selector payloads TSi/TSr (RFC 7296 3.13, RFC 9478 security labels).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::codec::error::{DecodeError, EncodeError};
use crate::codec::io::{fit_u8, patch_len16, reserve_u16, Reader};
use crate::registry::TsType;

/// The body of a TSi or TSr payload.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TrafficSelectors {
    /// Selectors; the SA covers their union.
    pub selectors: Vec<TrafficSelector>,
}

/// One traffic selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrafficSelector {
    /// TS_IPV4_ADDR_RANGE or TS_IPV6_ADDR_RANGE, by the family of the addresses.
    Range(AddressRange),
    /// TS_SECLABEL (RFC 9478): an opaque security label.
    SecLabel(Vec<u8>),
    /// A selector type this build does not interpret, kept so it can be narrowed away.
    Other {
        /// Its TS type.
        ty: TsType,
        /// The second octet of the selector (IP protocol for address ranges).
        field: u8,
        /// Everything after the 4-byte selector header.
        data: Vec<u8>,
    },
}

/// An address range with IP protocol and port range, for either family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AddressRange {
    /// IP protocol number, 0 for any.
    pub ip_protocol: u8,
    /// First port (0 for any; for ICMP, type and code).
    pub start_port: u16,
    /// Last port (65535 for any).
    pub end_port: u16,
    /// First address; the same family as `end`.
    pub start: IpAddr,
    /// Last address.
    pub end: IpAddr,
}

impl AddressRange {
    /// All traffic of one family: protocol 0, ports 0..=65535, the whole address space.
    pub fn any(v6: bool) -> Self {
        let (start, end) = if v6 {
            (
                IpAddr::V6(Ipv6Addr::UNSPECIFIED),
                IpAddr::V6(Ipv6Addr::from(u128::MAX)),
            )
        } else {
            (
                IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                IpAddr::V4(Ipv4Addr::BROADCAST),
            )
        };
        AddressRange {
            ip_protocol: 0,
            start_port: 0,
            end_port: u16::MAX,
            start,
            end,
        }
    }

    /// The TS type this range is sent as.
    pub fn ts_type(&self) -> TsType {
        match self.start {
            IpAddr::V4(_) => TsType::IPV4_ADDR_RANGE,
            IpAddr::V6(_) => TsType::IPV6_ADDR_RANGE,
        }
    }
}

impl TrafficSelectors {
    /// Decodes a TS payload body.
    pub fn decode(body: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(body);
        let count = r.u8("number of TSs")?;
        r.skip(3, "TS payload reserved")?;
        let mut selectors = Vec::with_capacity(count as usize);
        for _ in 0..count {
            let ty = TsType(r.u8("TS type")?);
            let field = r.u8("TS IP protocol")?;
            let len = r.u16("TS selector length")? as usize;
            let data_len = len.checked_sub(4).ok_or(DecodeError::BadLength {
                what: "traffic selector",
                length: len,
                reason: "shorter than its 4-byte header",
            })?;
            let data = r.take(data_len, "traffic selector")?;
            selectors.push(decode_selector(ty, field, data, len)?);
        }
        if !r.is_empty() {
            return Err(DecodeError::Malformed {
                what: "TS payload",
                reason: "bytes after the announced number of selectors",
            });
        }
        Ok(TrafficSelectors { selectors })
    }

    /// Appends a TS payload body.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        out.push(fit_u8(
            self.selectors.len(),
            "traffic selectors in a payload",
        )?);
        out.extend_from_slice(&[0, 0, 0]);
        for ts in &self.selectors {
            let start = out.len();
            match ts {
                TrafficSelector::Range(r) => {
                    out.push(r.ts_type().0);
                    out.push(r.ip_protocol);
                    let at = reserve_u16(out);
                    out.extend_from_slice(&r.start_port.to_be_bytes());
                    out.extend_from_slice(&r.end_port.to_be_bytes());
                    match (r.start, r.end) {
                        (IpAddr::V4(a), IpAddr::V4(b)) => {
                            out.extend_from_slice(&a.octets());
                            out.extend_from_slice(&b.octets());
                        }
                        (IpAddr::V6(a), IpAddr::V6(b)) => {
                            out.extend_from_slice(&a.octets());
                            out.extend_from_slice(&b.octets());
                        }
                        _ => {
                            return Err(EncodeError::Inconsistent {
                                what: "traffic selector",
                                reason: "start and end addresses are of different families",
                            })
                        }
                    }
                    patch_len16(out, at, start, "traffic selector")?;
                }
                TrafficSelector::SecLabel(label) => {
                    out.push(TsType::SECLABEL.0);
                    out.push(0);
                    let at = reserve_u16(out);
                    out.extend_from_slice(label);
                    patch_len16(out, at, start, "traffic selector")?;
                }
                TrafficSelector::Other { ty, field, data } => {
                    if matches!(
                        *ty,
                        TsType::IPV4_ADDR_RANGE | TsType::IPV6_ADDR_RANGE | TsType::SECLABEL
                    ) {
                        return Err(EncodeError::Inconsistent {
                            what: "traffic selector",
                            reason: "known TS types must use their typed variant",
                        });
                    }
                    out.push(ty.0);
                    out.push(*field);
                    let at = reserve_u16(out);
                    out.extend_from_slice(data);
                    patch_len16(out, at, start, "traffic selector")?;
                }
            }
        }
        Ok(())
    }
}

fn decode_selector(
    ty: TsType,
    field: u8,
    data: &[u8],
    len: usize,
) -> Result<TrafficSelector, DecodeError> {
    match ty {
        TsType::IPV4_ADDR_RANGE | TsType::IPV6_ADDR_RANGE => {
            let v6 = ty == TsType::IPV6_ADDR_RANGE;
            let alen = if v6 { 16 } else { 4 };
            if data.len() != 4 + 2 * alen {
                return Err(DecodeError::BadLength {
                    what: "address range traffic selector",
                    length: len,
                    reason: "must be 16 for IPv4 and 40 for IPv6",
                });
            }
            let mut r = Reader::new(data);
            let start_port = r.u16("TS start port")?;
            let end_port = r.u16("TS end port")?;
            let (start, end) = if v6 {
                let a: [u8; 16] = r.array("TS start address")?;
                let b: [u8; 16] = r.array("TS end address")?;
                (IpAddr::from(a), IpAddr::from(b))
            } else {
                let a: [u8; 4] = r.array("TS start address")?;
                let b: [u8; 4] = r.array("TS end address")?;
                (IpAddr::from(a), IpAddr::from(b))
            };
            Ok(TrafficSelector::Range(AddressRange {
                ip_protocol: field,
                start_port,
                end_port,
                start,
                end,
            }))
        }
        TsType::SECLABEL => {
            if field != 0 {
                return Err(DecodeError::Malformed {
                    what: "TS_SECLABEL",
                    reason: "reserved octet is not zero",
                });
            }
            Ok(TrafficSelector::SecLabel(data.to_vec()))
        }
        _ => Ok(TrafficSelector::Other {
            ty,
            field,
            data: data.to_vec(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_range_layout() {
        let ts = TrafficSelectors {
            selectors: vec![TrafficSelector::Range(AddressRange {
                ip_protocol: 17,
                start_port: 500,
                end_port: 500,
                start: "192.0.2.1".parse().unwrap(),
                end: "192.0.2.9".parse().unwrap(),
            })],
        };
        let mut out = Vec::new();
        ts.encode(&mut out).unwrap();
        assert_eq!(
            out,
            [1, 0, 0, 0, 7, 17, 0, 16, 1, 0xf4, 1, 0xf4, 192, 0, 2, 1, 192, 0, 2, 9]
        );
        assert_eq!(TrafficSelectors::decode(&out).unwrap(), ts);
    }

    #[test]
    fn ipv6_any_round_trips_and_bad_lengths_fail() {
        let ts = TrafficSelectors {
            selectors: vec![
                TrafficSelector::Range(AddressRange::any(true)),
                TrafficSelector::SecLabel(b"system_u:object_r:ipsec_spd_t:s0".to_vec()),
            ],
        };
        let mut out = Vec::new();
        ts.encode(&mut out).unwrap();
        assert_eq!(TrafficSelectors::decode(&out).unwrap(), ts);
        // IPv6 selector claiming IPv4 length
        let mut bad = out.clone();
        bad[4] = 7;
        assert!(TrafficSelectors::decode(&bad).is_err());
        // count too high
        let mut bad = out;
        bad[0] = 3;
        assert!(TrafficSelectors::decode(&bad).is_err());
    }

    #[test]
    fn mixed_family_is_an_encode_error() {
        let mut r = AddressRange::any(false);
        r.end = IpAddr::V6(Ipv6Addr::LOCALHOST);
        let ts = TrafficSelectors {
            selectors: vec![TrafficSelector::Range(r)],
        };
        assert!(ts.encode(&mut Vec::new()).is_err());
    }
}
