//! The fixed 28-byte header IKEv2 (RFC 7296 3.1) kept from ISAKMP (RFC 2408 3.1): two
//! 8-byte SPIs (IKEv1 calls them cookies), next payload, major/minor version, exchange
//! type, flags, message ID and length. Only the names of the fields and the major
//! version differ between the two, so both versions read and write it here.

use super::error::{DecodeError, EncodeError};
use super::io::Reader;
use crate::registry::{ExchangeType, PayloadType};

/// Length of the header, which is also the smallest valid message.
pub(crate) const HEADER_LEN: usize = 28;

/// Offset of the length field, patched once the whole message is written.
const LENGTH_AT: usize = 24;

/// The header fields as they are on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WireHeader {
    /// Initiator's SPI (IKEv2) or cookie (ISAKMP).
    pub(crate) spi_i: [u8; 8],
    /// Responder's SPI or cookie.
    pub(crate) spi_r: [u8; 8],
    pub(crate) next_payload: PayloadType,
    pub(crate) minor_version: u8,
    pub(crate) exchange: ExchangeType,
    /// The flags byte; each version gives the bits its own names.
    pub(crate) flags: u8,
    pub(crate) message_id: u32,
    pub(crate) length: u32,
}

/// The major version one codec reads and writes, and the names its errors use (the
/// `what` of [`DecodeError`] and [`EncodeError`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Version {
    pub(crate) major: u8,
    pub(crate) header: &'static str,
    pub(crate) message: &'static str,
    pub(crate) minor_version: &'static str,
}

impl WireHeader {
    /// Reads the header, checking the major version and that the length field is at
    /// least a header; the payloads are not looked at.
    pub(crate) fn decode(buf: &[u8], v: Version) -> Result<Self, DecodeError> {
        let what = v.header;
        let mut r = Reader::new(buf);
        let spi_i = r.array(what)?;
        let spi_r = r.array(what)?;
        let next_payload = PayloadType(r.u8(what)?);
        let version = r.u8(what)?;
        let exchange = ExchangeType(r.u8(what)?);
        let flags = r.u8(what)?;
        let message_id = r.u32(what)?;
        let length = r.u32(what)?;
        let major = version >> 4;
        if major != v.major {
            return Err(DecodeError::InvalidMajorVersion {
                found: major,
                expected: v.major,
            });
        }
        if (length as usize) < HEADER_LEN {
            return Err(DecodeError::BadLength {
                what: v.message,
                length: length as usize,
                reason: "shorter than the 28-byte header",
            });
        }
        Ok(Self {
            spi_i,
            spi_r,
            next_payload,
            minor_version: version & 0x0f,
            exchange,
            flags,
            message_id,
            length,
        })
    }

    /// Appends the header.
    pub(crate) fn encode(&self, v: Version, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        if self.minor_version > 0x0f {
            return Err(EncodeError::TooLong {
                what: v.minor_version,
                len: self.minor_version as usize,
                max: 0x0f,
            });
        }
        out.extend_from_slice(&self.spi_i);
        out.extend_from_slice(&self.spi_r);
        out.push(self.next_payload.0);
        out.push((v.major << 4) | self.minor_version);
        out.push(self.exchange.0);
        out.push(self.flags);
        out.extend_from_slice(&self.message_id.to_be_bytes());
        out.extend_from_slice(&self.length.to_be_bytes());
        Ok(())
    }
}

/// Sets the length field of the message that starts at `out[start]` to the number of
/// bytes written since.
pub(crate) fn patch_length(out: &mut [u8], start: usize, v: Version) -> Result<(), EncodeError> {
    set_length(out, start, out.len().saturating_sub(start), v)
}

/// Sets the length field of the message that starts at `out[start]` to `len`. The
/// caller wrote the header at `start`, so the field exists; a buffer too short for it
/// is reported as an inconsistency rather than a panic.
pub(crate) fn set_length(
    out: &mut [u8],
    start: usize,
    len: usize,
    v: Version,
) -> Result<(), EncodeError> {
    let value = u32::try_from(len).map_err(|_| EncodeError::TooLong {
        what: v.message,
        len,
        max: u32::MAX as usize,
    })?;
    let field = start
        .checked_add(LENGTH_AT)
        .and_then(|at| out.get_mut(at..at.checked_add(4)?))
        .ok_or(EncodeError::Inconsistent {
            what: v.message,
            reason: "no header to patch the length into",
        })?;
    field.copy_from_slice(&value.to_be_bytes());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const V: Version = Version {
        major: 2,
        header: "h",
        message: "m",
        minor_version: "v",
    };

    #[test]
    fn header_round_trip_and_length_patch() {
        let h = WireHeader {
            spi_i: [1; 8],
            spi_r: [2; 8],
            next_payload: PayloadType(33),
            minor_version: 1,
            exchange: ExchangeType(34),
            flags: 0x08,
            message_id: 7,
            length: 0,
        };
        let mut out = vec![0xee];
        h.encode(V, &mut out).unwrap();
        out.extend_from_slice(&[0; 4]);
        patch_length(&mut out, 1, V).unwrap();
        let back = WireHeader::decode(&out[1..], V).unwrap();
        assert_eq!(back, WireHeader { length: 32, ..h });
        assert_eq!(out[18], 0x21);
        assert!(WireHeader::decode(&out[1..], Version { major: 1, ..V }).is_err());
        assert!(WireHeader {
            minor_version: 16,
            ..h
        }
        .encode(V, &mut out)
        .is_err());
    }

    #[test]
    fn length_patch_without_a_header_is_an_error() {
        assert!(patch_length(&mut [0; 27], 0, V).is_err());
        assert!(patch_length(&mut [0; 40], 13, V).is_err());
        assert!(set_length(&mut [0; 28], 0, usize::MAX, V).is_err());
        assert!(set_length(&mut [0; 28], usize::MAX, 0, V).is_err());
    }
}
