//! ISAKMP-style data attributes (RFC 2408 3.3, RFC 7296 3.3.5): the "AF" bit selects a
//! short TV form (2-byte value in the header) or a TLV form with a 2-byte length.
//!
//! IKEv2 transform attributes (key length), IKEv1 SA attributes (Oakley and IPsec DOI,
//! including life type/duration) and IKEv1 ModeCFG/XAUTH attributes all use this layout.

use super::error::{DecodeError, EncodeError};
use super::io::{fit_u16, Reader};

/// The Attribute Format bit: set for TV, clear for TLV.
const AF: u16 = 0x8000;

/// An attribute value, in the form it has (or will have) on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AttrValue {
    /// TV form: the value is the 16-bit field of the attribute header.
    Short(u16),
    /// TLV form: a 16-bit length and that many value bytes.
    Long(Vec<u8>),
}

/// One data attribute. `ty` is the 15-bit attribute type without the AF bit; the
/// meaning depends on where it appears (IKEv2 transform attribute, `OakleyAttr`,
/// `IpsecAttr`, `ModeCfgAttr`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Attribute {
    /// Attribute type, 0..=0x7fff.
    pub ty: u16,
    /// Value and its wire form.
    pub value: AttrValue,
}

impl Attribute {
    /// A TV attribute.
    pub fn short(ty: u16, value: u16) -> Self {
        Attribute {
            ty,
            value: AttrValue::Short(value),
        }
    }

    /// A TLV attribute.
    pub fn long(ty: u16, value: Vec<u8>) -> Self {
        Attribute {
            ty,
            value: AttrValue::Long(value),
        }
    }

    /// A numeric attribute in the shortest legal form: TV when the value fits 16 bits,
    /// otherwise a 4-byte (or, above 32 bits, 8-byte) TLV. This is how IKEv1 life
    /// durations are sent (RFC 2409 appendix A: "variable" length basic or TLV).
    pub fn number(ty: u16, value: u64) -> Self {
        if let Ok(v) = u16::try_from(value) {
            Attribute::short(ty, v)
        } else if let Ok(v) = u32::try_from(value) {
            Attribute::long(ty, v.to_be_bytes().to_vec())
        } else {
            Attribute::long(ty, value.to_be_bytes().to_vec())
        }
    }

    /// The value as an unsigned number, whichever form it was sent in. `None` for a
    /// TLV value longer than 8 bytes (after leading zeros) or an empty one.
    pub fn as_u64(&self) -> Option<u64> {
        match &self.value {
            AttrValue::Short(v) => Some(u64::from(*v)),
            AttrValue::Long(bytes) => {
                if bytes.is_empty() {
                    return None;
                }
                let first = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
                let significant = &bytes[first..];
                if significant.len() > 8 {
                    return None;
                }
                Some(
                    significant
                        .iter()
                        .fold(0u64, |acc, b| (acc << 8) | u64::from(*b)),
                )
            }
        }
    }

    /// Number of bytes this attribute takes on the wire.
    pub fn wire_len(&self) -> usize {
        match &self.value {
            AttrValue::Short(_) => 4,
            AttrValue::Long(v) => 4 + v.len(),
        }
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let raw = r.u16("attribute type")?;
        let ty = raw & !AF;
        if raw & AF != 0 {
            let v = r.u16("TV attribute value")?;
            Ok(Attribute::short(ty, v))
        } else {
            let len = r.u16("TLV attribute length")? as usize;
            let v = r.take(len, "TLV attribute value")?;
            Ok(Attribute::long(ty, v.to_vec()))
        }
    }

    pub(crate) fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        if self.ty & AF != 0 {
            return Err(EncodeError::TooLong {
                what: "attribute type",
                len: self.ty as usize,
                max: 0x7fff,
            });
        }
        match &self.value {
            AttrValue::Short(v) => {
                out.extend_from_slice(&(self.ty | AF).to_be_bytes());
                out.extend_from_slice(&v.to_be_bytes());
            }
            AttrValue::Long(v) => {
                out.extend_from_slice(&self.ty.to_be_bytes());
                out.extend_from_slice(&fit_u16(v.len(), "TLV attribute value")?.to_be_bytes());
                out.extend_from_slice(v);
            }
        }
        Ok(())
    }
}

/// Decodes attributes until `bytes` is exhausted.
pub(crate) fn decode_all(bytes: &[u8]) -> Result<Vec<Attribute>, DecodeError> {
    let mut r = Reader::new(bytes);
    let mut out = Vec::new();
    while !r.is_empty() {
        out.push(Attribute::decode(&mut r)?);
    }
    Ok(out)
}

pub(crate) fn encode_all(attrs: &[Attribute], out: &mut Vec<u8>) -> Result<(), EncodeError> {
    attrs.iter().try_for_each(|a| a.encode(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tv_and_tlv_forms() {
        // RFC 7296 3.3.5: Key Length (14) = 256 in TV form is 0x800e 0x0100.
        let mut out = Vec::new();
        Attribute::short(14, 256).encode(&mut out).unwrap();
        assert_eq!(out, [0x80, 0x0e, 0x01, 0x00]);
        out.clear();
        // IKEv1 life duration of 86400 s does not fit TV: 4-byte TLV.
        let a = Attribute::number(12, 86_400);
        a.encode(&mut out).unwrap();
        assert_eq!(out, [0x00, 0x0c, 0x00, 0x04, 0x00, 0x01, 0x51, 0x80]);
        assert_eq!(decode_all(&out).unwrap(), vec![a.clone()]);
        assert_eq!(a.as_u64(), Some(86_400));
        assert_eq!(Attribute::number(11, 1).as_u64(), Some(1));
        assert_eq!(Attribute::number(12, u64::MAX).as_u64(), Some(u64::MAX));
    }

    #[test]
    fn truncated_tlv_is_an_error() {
        assert!(decode_all(&[0x00, 0x0c, 0x00, 0x08, 1, 2]).is_err());
        assert!(decode_all(&[0x80]).is_err());
    }

    #[test]
    fn oversized_type_is_rejected() {
        assert!(Attribute::short(0x8000, 1).encode(&mut Vec::new()).is_err());
    }
}
