//! Integrity transforms (IKEv2 transform type 3): truncated HMACs (RFC 2404, RFC 4868),
//! AES-XCBC-96 (RFC 3566) and AES-CMAC-96 (RFC 4494).

use core::fmt;

use aws_lc_rs::{constant_time, hmac};

use super::mac::{MacKey, MacKind};
use super::CryptoError;
use crate::registry::IntegId;

/// An integrity transform.
#[derive(Debug, PartialEq, Eq)]
pub struct IntegAlg {
    /// IANA id.
    pub id: IntegId,
    /// libreswan's name.
    pub name: &'static str,
    /// Key length in bytes (the length of SK_ai / SK_ar and of the ESP/AH key).
    pub key_len: usize,
    /// Length of the truncated ICV in bytes.
    pub icv_len: usize,
    pub(crate) kind: MacKind,
}

/// AUTH_HMAC_SHA1_96 (RFC 2404).
pub static HMAC_SHA1_96: IntegAlg = IntegAlg {
    id: IntegId::HMAC_SHA1_96,
    name: "HMAC_SHA1_96",
    key_len: 20,
    icv_len: 12,
    kind: MacKind::Hmac(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY),
};
/// AUTH_HMAC_SHA2_256_128 (RFC 4868).
pub static HMAC_SHA2_256_128: IntegAlg = IntegAlg {
    id: IntegId::HMAC_SHA2_256_128,
    name: "HMAC_SHA2_256_128",
    key_len: 32,
    icv_len: 16,
    kind: MacKind::Hmac(hmac::HMAC_SHA256),
};
/// AUTH_HMAC_SHA2_384_192 (RFC 4868).
pub static HMAC_SHA2_384_192: IntegAlg = IntegAlg {
    id: IntegId::HMAC_SHA2_384_192,
    name: "HMAC_SHA2_384_192",
    key_len: 48,
    icv_len: 24,
    kind: MacKind::Hmac(hmac::HMAC_SHA384),
};
/// AUTH_HMAC_SHA2_512_256 (RFC 4868).
pub static HMAC_SHA2_512_256: IntegAlg = IntegAlg {
    id: IntegId::HMAC_SHA2_512_256,
    name: "HMAC_SHA2_512_256",
    key_len: 64,
    icv_len: 32,
    kind: MacKind::Hmac(hmac::HMAC_SHA512),
};
/// AUTH_AES_XCBC_96 (RFC 3566).
pub static AES_XCBC_96: IntegAlg = IntegAlg {
    id: IntegId::AES_XCBC_96,
    name: "AES_XCBC_96",
    key_len: 16,
    icv_len: 12,
    kind: MacKind::AesXcbc,
};
/// AUTH_AES_CMAC_96 (RFC 4494).
pub static AES_CMAC_96: IntegAlg = IntegAlg {
    id: IntegId::AES_CMAC_96,
    name: "AES_CMAC_96",
    key_len: 16,
    icv_len: 12,
    kind: MacKind::AesCmac,
};

/// Every implemented integrity transform.
pub static ALL: [&IntegAlg; 6] = [
    &HMAC_SHA1_96,
    &HMAC_SHA2_256_128,
    &HMAC_SHA2_384_192,
    &HMAC_SHA2_512_256,
    &AES_XCBC_96,
    &AES_CMAC_96,
];

impl IntegAlg {
    /// The integrity transform with IANA id `id`, if implemented (NONE is not a
    /// transform here: AEAD ciphers simply have no `IntegAlg`).
    pub fn from_id(id: IntegId) -> Option<&'static IntegAlg> {
        ALL.iter().copied().find(|a| a.id == id)
    }

    /// Like [`from_id`](Self::from_id) with a typed error.
    pub fn lookup(id: IntegId) -> Result<&'static IntegAlg, CryptoError> {
        Self::from_id(id).ok_or(CryptoError::Unsupported {
            kind: "INTEG",
            id: id.0,
            key_bits: None,
        })
    }

    /// Keys the transform; the key must be exactly [`key_len`](Self::key_len) bytes.
    pub fn key(&'static self, key: &[u8]) -> Result<IntegKey, CryptoError> {
        if key.len() != self.key_len {
            return Err(CryptoError::KeyLength {
                alg: self.name,
                expected: self.key_len,
                got: key.len(),
            });
        }
        Ok(IntegKey {
            alg: self,
            mac: MacKey::new(self.kind, key)?,
        })
    }
}

/// A keyed integrity transform.
pub struct IntegKey {
    alg: &'static IntegAlg,
    mac: MacKey,
}

impl IntegKey {
    /// The transform.
    pub fn alg(&self) -> &'static IntegAlg {
        self.alg
    }

    /// Writes the truncated ICV over the concatenation of `parts` into `icv`, which
    /// must be exactly `icv_len` bytes.
    pub fn sign_into(&self, parts: &[&[u8]], icv: &mut [u8]) -> Result<(), CryptoError> {
        if icv.len() != self.alg.icv_len {
            return Err(CryptoError::BufferSize {
                need: self.alg.icv_len,
                got: icv.len(),
            });
        }
        let full = self.mac.compute(parts)?;
        icv.copy_from_slice(&full[..self.alg.icv_len]);
        Ok(())
    }

    /// Checks `icv` against the concatenation of `parts` in constant time.
    pub fn verify(&self, parts: &[&[u8]], icv: &[u8]) -> Result<(), CryptoError> {
        if icv.len() != self.alg.icv_len {
            return Err(CryptoError::IntegrityCheckFailed);
        }
        let full = self.mac.compute(parts)?;
        constant_time::verify_slices_are_equal(&full[..self.alg.icv_len], icv)
            .map_err(|_| CryptoError::IntegrityCheckFailed)
    }
}

impl fmt::Debug for IntegKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntegKey")
            .field("alg", &self.alg.name)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_then_verify_and_tamper() {
        for alg in ALL {
            let key = alg.key(&vec![0x5a; alg.key_len]).unwrap();
            let mut icv = vec![0; alg.icv_len];
            key.sign_into(&[b"header", b"body"], &mut icv).unwrap();
            key.verify(&[b"headerbody"], &icv).unwrap();
            assert_eq!(
                key.verify(&[b"headerbodY"], &icv),
                Err(CryptoError::IntegrityCheckFailed)
            );
            icv[0] ^= 1;
            assert_eq!(
                key.verify(&[b"headerbody"], &icv),
                Err(CryptoError::IntegrityCheckFailed)
            );
            assert_eq!(
                key.verify(&[b"headerbody"], &icv[1..]),
                Err(CryptoError::IntegrityCheckFailed)
            );
        }
    }

    #[test]
    fn wrong_key_length_is_rejected() {
        let err = HMAC_SHA2_256_128.key(&[0; 16]).unwrap_err();
        assert_eq!(
            err,
            CryptoError::KeyLength {
                alg: "HMAC_SHA2_256_128",
                expected: 32,
                got: 16
            }
        );
    }
}
