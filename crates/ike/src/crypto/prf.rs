//! Pseudo-random functions (IKEv2 transform type 2): HMAC-SHA1, HMAC-SHA2-256/384/512,
//! AES-XCBC-PRF-128 (RFC 4434) and AES-CMAC-PRF-128 (RFC 4615).

use core::fmt;
use core::ops::Deref;

use aws_lc_rs::hmac;
use zeroize::Zeroize;

use super::mac::{MacKey, MacKind, Xcbc};
use super::CryptoError;
use crate::registry::PrfId;

/// Largest PRF output (HMAC-SHA2-512).
pub const MAX_PRF_OUTPUT: usize = 64;

/// A PRF transform.
#[derive(Debug, PartialEq, Eq)]
pub struct PrfAlg {
    /// IANA id.
    pub id: PrfId,
    /// libreswan's name.
    pub name: &'static str,
    /// Output length in bytes (also the prf+ block size).
    pub output_len: usize,
    /// Preferred key length in bytes: the length of SK_d, SK_pi and SK_pr.
    pub key_len: usize,
    /// Whether the PRF takes a fixed-length key, which triggers the nonce truncation of
    /// RFC 7296 section 2.14 when keyed with Ni | Nr.
    pub fixed_key: bool,
    pub(crate) kind: MacKind,
}

/// PRF_HMAC_SHA1 (RFC 2104).
pub static HMAC_SHA1: PrfAlg = PrfAlg {
    id: PrfId::HMAC_SHA1,
    name: "HMAC_SHA1",
    output_len: 20,
    key_len: 20,
    fixed_key: false,
    kind: MacKind::Hmac(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY),
};
/// PRF_HMAC_SHA2_256 (RFC 4868).
pub static HMAC_SHA2_256: PrfAlg = PrfAlg {
    id: PrfId::HMAC_SHA2_256,
    name: "HMAC_SHA2_256",
    output_len: 32,
    key_len: 32,
    fixed_key: false,
    kind: MacKind::Hmac(hmac::HMAC_SHA256),
};
/// PRF_HMAC_SHA2_384 (RFC 4868).
pub static HMAC_SHA2_384: PrfAlg = PrfAlg {
    id: PrfId::HMAC_SHA2_384,
    name: "HMAC_SHA2_384",
    output_len: 48,
    key_len: 48,
    fixed_key: false,
    kind: MacKind::Hmac(hmac::HMAC_SHA384),
};
/// PRF_HMAC_SHA2_512 (RFC 4868).
pub static HMAC_SHA2_512: PrfAlg = PrfAlg {
    id: PrfId::HMAC_SHA2_512,
    name: "HMAC_SHA2_512",
    output_len: 64,
    key_len: 64,
    fixed_key: false,
    kind: MacKind::Hmac(hmac::HMAC_SHA512),
};
/// PRF_AES128_XCBC (RFC 4434).
pub static AES128_XCBC: PrfAlg = PrfAlg {
    id: PrfId::AES128_XCBC,
    name: "AES128_XCBC",
    output_len: 16,
    key_len: 16,
    fixed_key: true,
    kind: MacKind::AesXcbc,
};
/// PRF_AES128_CMAC (RFC 4615).
pub static AES128_CMAC: PrfAlg = PrfAlg {
    id: PrfId::AES128_CMAC,
    name: "AES128_CMAC",
    output_len: 16,
    key_len: 16,
    fixed_key: true,
    kind: MacKind::AesCmac,
};

/// Every implemented PRF.
pub static ALL: [&PrfAlg; 6] = [
    &HMAC_SHA1,
    &HMAC_SHA2_256,
    &HMAC_SHA2_384,
    &HMAC_SHA2_512,
    &AES128_XCBC,
    &AES128_CMAC,
];

impl PrfAlg {
    /// The PRF with IANA id `id`, if implemented.
    pub fn from_id(id: PrfId) -> Option<&'static PrfAlg> {
        ALL.iter().copied().find(|p| p.id == id)
    }

    /// Like [`from_id`](Self::from_id) but with a typed error for proposal handling.
    pub fn lookup(id: PrfId) -> Result<&'static PrfAlg, CryptoError> {
        Self::from_id(id).ok_or(CryptoError::Unsupported {
            kind: "PRF",
            id: id.0,
            key_bits: None,
        })
    }

    /// Keys this PRF with a key of any length, applying the PRF's own key rules:
    /// HMAC hashes long keys itself; AES-XCBC-PRF-128 zero-pads short keys and
    /// compresses long ones with XCBC under a zero key (RFC 4434 section 2);
    /// AES-CMAC-PRF-128 compresses any key that is not 16 bytes with CMAC under a zero
    /// key (RFC 4615 section 3).
    pub fn key(&'static self, key: &[u8]) -> Result<PrfKey, CryptoError> {
        let mac = match self.kind {
            MacKind::Hmac(_) => MacKey::new(self.kind, key)?,
            MacKind::AesXcbc => {
                let mut k = [0u8; 16];
                if key.len() <= 16 {
                    k[..key.len()].copy_from_slice(key);
                } else {
                    k.copy_from_slice(&Xcbc::new(&[0u8; 16])?.mac(&[key])?[..]);
                }
                let mac = MacKey::new(self.kind, &k);
                k.zeroize();
                mac?
            }
            MacKind::AesCmac => {
                if key.len() == 16 {
                    MacKey::new(self.kind, key)?
                } else {
                    let derived = MacKey::new(self.kind, &[0u8; 16])?.compute(&[key])?;
                    MacKey::new(self.kind, &derived)?
                }
            }
        };
        Ok(PrfKey { alg: self, mac })
    }

    /// One-shot `prf(key, parts[0] | parts[1] | ...)`.
    pub fn compute(&'static self, key: &[u8], parts: &[&[u8]]) -> Result<PrfOutput, CryptoError> {
        self.key(key)?.compute(parts)
    }
}

/// A keyed PRF.
pub struct PrfKey {
    alg: &'static PrfAlg,
    mac: MacKey,
}

impl PrfKey {
    /// The transform this key belongs to.
    pub fn alg(&self) -> &'static PrfAlg {
        self.alg
    }

    /// `prf(K, parts[0] | parts[1] | ...)` without concatenating the parts.
    pub fn compute(&self, parts: &[&[u8]]) -> Result<PrfOutput, CryptoError> {
        self.mac.compute(parts)
    }
}

impl fmt::Debug for PrfKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrfKey")
            .field("alg", &self.alg.name)
            .finish_non_exhaustive()
    }
}

/// A PRF or MAC output held on the stack (no allocation), zeroized on drop.
#[derive(Clone)]
pub struct PrfOutput {
    buf: [u8; MAX_PRF_OUTPUT],
    len: usize,
}

impl PrfOutput {
    pub(crate) fn from_slice(s: &[u8]) -> Self {
        let mut buf = [0u8; MAX_PRF_OUTPUT];
        let len = s.len().min(MAX_PRF_OUTPUT);
        buf[..len].copy_from_slice(&s[..len]);
        Self { buf, len }
    }
}

impl Deref for PrfOutput {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl AsRef<[u8]> for PrfOutput {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl PartialEq for PrfOutput {
    /// Constant-time comparison (outputs are often compared against peer data).
    fn eq(&self, other: &Self) -> bool {
        aws_lc_rs::constant_time::verify_slices_are_equal(self, other).is_ok()
    }
}
impl Eq for PrfOutput {}

impl Drop for PrfOutput {
    fn drop(&mut self) {
        self.buf.zeroize();
    }
}

impl fmt::Debug for PrfOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PrfOutput({} bytes)", self.len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_by_id() {
        for p in ALL {
            assert_eq!(PrfAlg::from_id(p.id), Some(p));
        }
        assert!(PrfAlg::from_id(PrfId::HMAC_MD5).is_none());
        assert_eq!(
            PrfAlg::lookup(PrfId(999)).unwrap_err(),
            CryptoError::Unsupported {
                kind: "PRF",
                id: 999,
                key_bits: None
            }
        );
    }

    #[test]
    fn output_lengths_match_descriptors() {
        for p in ALL {
            let out = p.compute(b"key", &[b"data"]).unwrap();
            assert_eq!(out.len(), p.output_len, "{}", p.name);
        }
    }

    #[test]
    fn parts_equal_concatenation() {
        for p in ALL {
            let k = p.key(b"0123456789abcdef0123").unwrap();
            let a = k
                .compute(&[b"hello ", b"", b"world, this spans two AES blocks"])
                .unwrap();
            let b = k
                .compute(&[b"hello world, this spans two AES blocks"])
                .unwrap();
            assert_eq!(a, b, "{}", p.name);
        }
    }

    #[test]
    fn debug_hides_output() {
        let out = HMAC_SHA2_256.compute(b"k", &[b"d"]).unwrap();
        assert_eq!(format!("{out:?}"), "PrfOutput(32 bytes)");
        let key = HMAC_SHA2_256.key(b"k").unwrap();
        assert!(format!("{key:?}").contains("HMAC_SHA2_256"));
    }
}
