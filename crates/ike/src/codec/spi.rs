//! Security Parameter Indexes as carried in proposals, notifies and deletes.

use core::fmt;

use super::error::{DecodeError, EncodeError};
use super::io::Reader;

/// Largest SPI either IKE version carries: an ISAKMP SA's cookie pair (RFC 2408 3.15).
pub const MAX_SPI_LEN: usize = 16;

/// An SPI of 0 to 16 bytes, stored inline so decoding a proposal, notify or delete
/// allocates nothing for it.
///
/// IKEv2 uses 0 (no SPI), 4 (ESP/AH) or 8 (IKE) bytes; IKEv1 also uses 16 (the
/// initiator and responder cookies) and 2-byte IPComp CPIs in the 4-byte form.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Spi {
    len: u8,
    bytes: [u8; MAX_SPI_LEN],
}

impl Spi {
    /// The empty SPI (SPI size 0).
    pub const EMPTY: Spi = Spi {
        len: 0,
        bytes: [0; MAX_SPI_LEN],
    };

    /// Copies an SPI from the wire; `None` if longer than [`MAX_SPI_LEN`].
    pub fn from_slice(s: &[u8]) -> Option<Self> {
        if s.len() > MAX_SPI_LEN {
            return None;
        }
        let mut bytes = [0; MAX_SPI_LEN];
        bytes[..s.len()].copy_from_slice(s);
        Some(Spi {
            len: s.len() as u8,
            bytes,
        })
    }

    /// A 4-byte ESP/AH SPI.
    pub fn from_u32(v: u32) -> Self {
        let mut bytes = [0; MAX_SPI_LEN];
        bytes[..4].copy_from_slice(&v.to_be_bytes());
        Spi { len: 4, bytes }
    }

    /// An 8-byte IKE SA SPI.
    pub fn from_ike(v: [u8; 8]) -> Self {
        let mut bytes = [0; MAX_SPI_LEN];
        bytes[..8].copy_from_slice(&v);
        Spi { len: 8, bytes }
    }

    /// The SPI bytes as on the wire.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }

    /// Length in bytes (the "SPI Size" field).
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// True for the empty SPI.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The value of a 4-byte SPI, as ESP/AH use it.
    pub fn as_u32(&self) -> Option<u32> {
        <[u8; 4]>::try_from(self.as_bytes())
            .ok()
            .map(u32::from_be_bytes)
    }

    /// The value of an 8-byte IKE SPI.
    pub fn as_ike(&self) -> Option<[u8; 8]> {
        <[u8; 8]>::try_from(self.as_bytes()).ok()
    }
}

impl fmt::Debug for Spi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Spi(")?;
        for b in self.as_bytes() {
            write!(f, "{b:02x}")?;
        }
        f.write_str(")")
    }
}

impl fmt::Display for Spi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // libreswan logs SPIs as 0x-prefixed hex.
        f.write_str("0x")?;
        for b in self.as_bytes() {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// Reads `count` SPIs of `size` bytes, checking the total against what is left first
/// so a forged count cannot make us allocate.
pub(crate) fn decode_spis(
    r: &mut Reader<'_>,
    size: u8,
    count: u16,
    what: &'static str,
) -> Result<Vec<Spi>, DecodeError> {
    let total = size as usize * count as usize;
    let bytes = r.take(total, what)?;
    if size == 0 {
        // Nothing to delete by SPI means the SA the message travels in; a non-zero
        // count of empty SPIs is meaningless and would only make us allocate.
        return if count == 0 {
            Ok(Vec::new())
        } else {
            Err(DecodeError::Malformed {
                what,
                reason: "SPI size 0 with a non-zero number of SPIs",
            })
        };
    }
    bytes
        .chunks_exact(size as usize)
        .map(|c| {
            Spi::from_slice(c).ok_or(DecodeError::BadLength {
                what,
                length: size as usize,
                reason: "longer than 16 bytes",
            })
        })
        .collect()
}

pub(crate) fn encode_spis(spis: &[Spi], size: u8, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    if size == 0 && !spis.is_empty() {
        return Err(EncodeError::Inconsistent {
            what: "delete payload",
            reason: "SPI size 0 with SPIs listed",
        });
    }
    for s in spis {
        if s.len() != size as usize {
            return Err(EncodeError::Inconsistent {
                what: "delete payload",
                reason: "an SPI's length differs from the SPI size",
            });
        }
        out.extend_from_slice(s.as_bytes());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spi_forms() {
        let s = Spi::from_u32(0x1234_5678);
        assert_eq!(s.as_bytes(), [0x12, 0x34, 0x56, 0x78]);
        assert_eq!(s.as_u32(), Some(0x1234_5678));
        assert_eq!(s.to_string(), "0x12345678");
        assert_eq!(Spi::from_slice(&[0x12, 0x34, 0x56, 0x78]), Some(s));
        assert!(Spi::from_slice(&[0; 17]).is_none());
        assert!(Spi::EMPTY.is_empty());
        assert_eq!(Spi::from_ike([1; 8]).as_ike(), Some([1; 8]));
    }
}
