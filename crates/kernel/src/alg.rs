//! IPsec algorithms as the kernel names them, with the key material layout each one
//! expects, and the mapping from IKE transform IDs.
//!
//! The kernel takes one key blob per algorithm. For the counter and AEAD modes that
//! blob is the cipher key followed by the salt/nonce that RFC 3686, 4106, 4309, 4543 and
//! 7634 take from the same KEYMAT, so the key lengths here include it.

use std::fmt;

use ike::registry::{EncrId, IntegId};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::error::KernelError;

/// Key material; zeroized on drop and never printed.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct SecretKey(Vec<u8>);

impl SecretKey {
    /// Takes ownership of key bytes.
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// Copies key bytes.
    pub fn from_slice(bytes: &[u8]) -> Self {
        Self(bytes.to_vec())
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True for an empty key (the NULL cipher).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey({} bytes)", self.0.len())
    }
}

/// Encryption (and combined-mode) algorithms for ESP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encr {
    /// AES-CBC, RFC 3602.
    AesCbc,
    /// AES-CTR, RFC 3686 (key + 4-byte nonce).
    AesCtr,
    /// AES-GCM, RFC 4106, with an ICV of 8, 12 or 16 bytes (key + 4-byte salt).
    AesGcm {
        /// ICV length in bytes: 8, 12 or 16.
        icv_bytes: u8,
    },
    /// AES-CCM, RFC 4309, with an ICV of 8, 12 or 16 bytes (key + 3-byte salt).
    AesCcm {
        /// ICV length in bytes: 8, 12 or 16.
        icv_bytes: u8,
    },
    /// AES-GMAC, RFC 4543: authentication only, run as AEAD (key + 4-byte salt).
    AesGmac,
    /// ChaCha20-Poly1305, RFC 7634 (256-bit key + 4-byte salt).
    ChaCha20Poly1305,
    /// 3DES-CBC (RFC 2451), for old peers.
    TripleDesCbc,
    /// Camellia-CBC, RFC 5529.
    CamelliaCbc,
    /// No encryption (RFC 2410), for tests and integrity-only ESP.
    Null,
}

impl Encr {
    /// The kernel's crypto API name.
    pub fn kernel_name(self) -> &'static str {
        match self {
            Encr::AesCbc => "cbc(aes)",
            Encr::AesCtr => "rfc3686(ctr(aes))",
            Encr::AesGcm { .. } => "rfc4106(gcm(aes))",
            Encr::AesCcm { .. } => "rfc4309(ccm(aes))",
            Encr::AesGmac => "rfc4543(gcm(aes))",
            Encr::ChaCha20Poly1305 => "rfc7539esp(chacha20,poly1305)",
            Encr::TripleDesCbc => "cbc(des3_ede)",
            Encr::CamelliaCbc => "cbc(camellia)",
            Encr::Null => "ecb(cipher_null)",
        }
    }

    /// True for combined-mode algorithms, installed as XFRMA_ALG_AEAD and used without
    /// a separate integrity algorithm.
    pub fn is_aead(self) -> bool {
        matches!(
            self,
            Encr::AesGcm { .. } | Encr::AesCcm { .. } | Encr::AesGmac | Encr::ChaCha20Poly1305
        )
    }

    /// Bytes of salt or nonce that follow the cipher key in the key material.
    pub fn salt_len(self) -> usize {
        match self {
            Encr::AesCtr | Encr::AesGcm { .. } | Encr::AesGmac | Encr::ChaCha20Poly1305 => 4,
            Encr::AesCcm { .. } => 3,
            _ => 0,
        }
    }

    /// ICV length in bits for AEAD algorithms.
    pub fn icv_bits(self) -> Option<u32> {
        match self {
            Encr::AesGcm { icv_bytes } | Encr::AesCcm { icv_bytes } => {
                Some(u32::from(icv_bytes) * 8)
            }
            Encr::AesGmac | Encr::ChaCha20Poly1305 => Some(128),
            _ => None,
        }
    }

    /// Cipher key sizes in bits this algorithm accepts (without the salt).
    pub fn key_bits(self) -> &'static [usize] {
        match self {
            Encr::AesCbc
            | Encr::AesCtr
            | Encr::AesGcm { .. }
            | Encr::AesCcm { .. }
            | Encr::AesGmac
            | Encr::CamelliaCbc => &[128, 192, 256],
            Encr::ChaCha20Poly1305 => &[256],
            Encr::TripleDesCbc => &[192],
            Encr::Null => &[0],
        }
    }

    /// Checks that `key` is a cipher key of an accepted size plus the salt.
    pub fn check_key(self, key: &SecretKey) -> Result<(), KernelError> {
        let salt = self.salt_len();
        let ok = self
            .key_bits()
            .iter()
            .any(|bits| bits / 8 + salt == key.len());
        if ok {
            return Ok(());
        }
        let sizes: Vec<String> = self
            .key_bits()
            .iter()
            .map(|b| (b / 8 + salt).to_string())
            .collect();
        let salt_note = if salt > 0 {
            format!(" (cipher key + {salt}-byte salt)")
        } else {
            String::new()
        };
        Err(KernelError::Invalid(format!(
            "{} key material must be {} bytes{salt_note}, got {}",
            self.kernel_name(),
            sizes.join(" or "),
            key.len()
        )))
    }

    /// Maps an IKEv2 encryption transform (ESP) to the kernel algorithm.
    pub fn from_ike(id: EncrId) -> Option<Self> {
        Some(match id {
            EncrId::AES_CBC => Encr::AesCbc,
            EncrId::AES_CTR => Encr::AesCtr,
            EncrId::AES_GCM_8 => Encr::AesGcm { icv_bytes: 8 },
            EncrId::AES_GCM_12 => Encr::AesGcm { icv_bytes: 12 },
            EncrId::AES_GCM_16 => Encr::AesGcm { icv_bytes: 16 },
            EncrId::AES_CCM_8 => Encr::AesCcm { icv_bytes: 8 },
            EncrId::AES_CCM_12 => Encr::AesCcm { icv_bytes: 12 },
            EncrId::AES_CCM_16 => Encr::AesCcm { icv_bytes: 16 },
            EncrId::NULL_AUTH_AES_GMAC => Encr::AesGmac,
            EncrId::CHACHA20_POLY1305 => Encr::ChaCha20Poly1305,
            EncrId::TRIPLE_DES => Encr::TripleDesCbc,
            EncrId::CAMELLIA_CBC => Encr::CamelliaCbc,
            EncrId::NULL => Encr::Null,
            _ => return None,
        })
    }
}

/// Integrity algorithms for ESP and AH.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Integ {
    /// HMAC-MD5-96, RFC 2403 (legacy).
    HmacMd5_96,
    /// HMAC-SHA1-96, RFC 2404.
    HmacSha1_96,
    /// HMAC-SHA-256-128, RFC 4868.
    HmacSha256_128,
    /// HMAC-SHA-384-192, RFC 4868.
    HmacSha384_192,
    /// HMAC-SHA-512-256, RFC 4868.
    HmacSha512_256,
    /// AES-XCBC-MAC-96, RFC 3566.
    AesXcbc96,
    /// AES-CMAC-96, RFC 4494.
    AesCmac96,
}

impl Integ {
    /// The kernel's crypto API name.
    pub fn kernel_name(self) -> &'static str {
        match self {
            Integ::HmacMd5_96 => "hmac(md5)",
            Integ::HmacSha1_96 => "hmac(sha1)",
            Integ::HmacSha256_128 => "hmac(sha256)",
            Integ::HmacSha384_192 => "hmac(sha384)",
            Integ::HmacSha512_256 => "hmac(sha512)",
            Integ::AesXcbc96 => "xcbc(aes)",
            Integ::AesCmac96 => "cmac(aes)",
        }
    }

    /// Key length in bytes.
    pub fn key_len(self) -> usize {
        match self {
            Integ::HmacMd5_96 | Integ::AesXcbc96 | Integ::AesCmac96 => 16,
            Integ::HmacSha1_96 => 20,
            Integ::HmacSha256_128 => 32,
            Integ::HmacSha384_192 => 48,
            Integ::HmacSha512_256 => 64,
        }
    }

    /// Truncated ICV length in bits.
    pub fn trunc_bits(self) -> u32 {
        match self {
            Integ::HmacMd5_96 | Integ::HmacSha1_96 | Integ::AesXcbc96 | Integ::AesCmac96 => 96,
            Integ::HmacSha256_128 => 128,
            Integ::HmacSha384_192 => 192,
            Integ::HmacSha512_256 => 256,
        }
    }

    /// Checks the key length.
    pub fn check_key(self, key: &SecretKey) -> Result<(), KernelError> {
        if key.len() == self.key_len() {
            Ok(())
        } else {
            Err(KernelError::Invalid(format!(
                "{} key must be {} bytes, got {}",
                self.kernel_name(),
                self.key_len(),
                key.len()
            )))
        }
    }

    /// Maps an IKEv2 integrity transform to the kernel algorithm; `Ok(None)` for NONE
    /// (used with AEAD ciphers).
    pub fn from_ike(id: IntegId) -> Result<Option<Self>, KernelError> {
        Ok(Some(match id {
            IntegId::NONE => return Ok(None),
            IntegId::HMAC_MD5_96 => Integ::HmacMd5_96,
            IntegId::HMAC_SHA1_96 => Integ::HmacSha1_96,
            IntegId::HMAC_SHA2_256_128 => Integ::HmacSha256_128,
            IntegId::HMAC_SHA2_384_192 => Integ::HmacSha384_192,
            IntegId::HMAC_SHA2_512_256 => Integ::HmacSha512_256,
            IntegId::AES_XCBC_96 => Integ::AesXcbc96,
            IntegId::AES_CMAC_96 => Integ::AesCmac96,
            other => {
                return Err(KernelError::Invalid(format!(
                    "integrity algorithm {other} has no kernel equivalent"
                )))
            }
        }))
    }
}

/// IPComp compression algorithms (RFC 3173), by their IPComp transform IDs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Comp {
    /// DEFLATE, RFC 2394 (transform ID 2).
    Deflate,
    /// LZS, RFC 2395 (transform ID 3).
    Lzs,
    /// LZJH, RFC 3051 (transform ID 4).
    Lzjh,
}

impl Comp {
    /// The kernel's name.
    pub fn kernel_name(self) -> &'static str {
        match self {
            Comp::Deflate => "deflate",
            Comp::Lzs => "lzs",
            Comp::Lzjh => "lzjh",
        }
    }

    /// Maps an IPCOMP transform ID.
    pub fn from_transform_id(id: u16) -> Option<Self> {
        match id {
            2 => Some(Comp::Deflate),
            3 => Some(Comp::Lzs),
            4 => Some(Comp::Lzjh),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_names_match_the_issue_list() {
        assert_eq!(Encr::AesCbc.kernel_name(), "cbc(aes)");
        assert_eq!(Encr::AesCtr.kernel_name(), "rfc3686(ctr(aes))");
        assert_eq!(
            Encr::AesGcm { icv_bytes: 8 }.kernel_name(),
            "rfc4106(gcm(aes))"
        );
        assert_eq!(
            Encr::ChaCha20Poly1305.kernel_name(),
            "rfc7539esp(chacha20,poly1305)"
        );
        assert_eq!(Encr::TripleDesCbc.kernel_name(), "cbc(des3_ede)");
        assert_eq!(Encr::Null.kernel_name(), "ecb(cipher_null)");
        let integ = [
            (Integ::HmacSha1_96, "hmac(sha1)", 96),
            (Integ::HmacSha256_128, "hmac(sha256)", 128),
            (Integ::HmacSha384_192, "hmac(sha384)", 192),
            (Integ::HmacSha512_256, "hmac(sha512)", 256),
            (Integ::AesXcbc96, "xcbc(aes)", 96),
            (Integ::AesCmac96, "cmac(aes)", 96),
        ];
        for (i, name, bits) in integ {
            assert_eq!(i.kernel_name(), name);
            assert_eq!(i.trunc_bits(), bits);
        }
    }

    #[test]
    fn key_layouts_include_salt() {
        let gcm = Encr::AesGcm { icv_bytes: 12 };
        assert_eq!(gcm.icv_bits(), Some(96));
        assert!(gcm.check_key(&SecretKey::new(vec![0; 20])).is_ok());
        assert!(gcm.check_key(&SecretKey::new(vec![0; 36])).is_ok());
        let err = gcm.check_key(&SecretKey::new(vec![0; 16])).unwrap_err();
        assert!(err.to_string().contains("20 or 28 or 36 bytes"), "{err}");
        assert!(err.to_string().contains("4-byte salt"), "{err}");
        assert!(Encr::AesCtr.check_key(&SecretKey::new(vec![0; 20])).is_ok());
        assert!(Encr::ChaCha20Poly1305
            .check_key(&SecretKey::new(vec![0; 36]))
            .is_ok());
        assert!(Encr::Null.check_key(&SecretKey::new(vec![])).is_ok());
        assert!(Encr::TripleDesCbc
            .check_key(&SecretKey::new(vec![0; 24]))
            .is_ok());
        assert!(Integ::HmacSha1_96
            .check_key(&SecretKey::new(vec![0; 16]))
            .is_err());
    }

    #[test]
    fn ike_mapping() {
        assert_eq!(
            Encr::from_ike(EncrId::AES_GCM_16),
            Some(Encr::AesGcm { icv_bytes: 16 })
        );
        assert_eq!(Encr::from_ike(EncrId::DES), None);
        assert_eq!(
            Integ::from_ike(IntegId::HMAC_SHA2_256_128).unwrap(),
            Some(Integ::HmacSha256_128)
        );
        assert_eq!(Integ::from_ike(IntegId::NONE).unwrap(), None);
        assert!(Integ::from_ike(IntegId::HMAC_SHA1_160).is_err());
        assert_eq!(Comp::from_transform_id(2), Some(Comp::Deflate));
    }

    #[test]
    fn secret_key_debug_hides_bytes() {
        let k = SecretKey::new(vec![0xAB; 4]);
        assert_eq!(format!("{k:?}"), "SecretKey(4 bytes)");
    }
}
