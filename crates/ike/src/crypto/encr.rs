//! Encryption transforms (IKEv2 transform type 1) and the protection of the Encrypted
//! (SK) payload body: RFC 7296 section 3.14 for CBC + integrity, RFC 5930 for AES-CTR,
//! RFC 5282 for AES-GCM and RFC 7634 for ChaCha20-Poly1305.
//!
//! The SK body is `IV | ciphertext(plaintext | padding | pad length) | ICV`. For
//! non-AEAD ciphers the ICV is the truncated integrity MAC over everything from the
//! IKE header to the end of the ciphertext; for AEAD ciphers the IKE header and the SK
//! generic payload header are the associated data and the ICV is the AEAD tag. Callers
//! pass those header bytes as `aad_prefix` either way.

use core::fmt;

use aws_lc_rs::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};
#[allow(deprecated)] // 3DES: legacy, but IKEv1 peers still negotiate it.
use aws_lc_rs::cipher::DES_EDE3_FOR_LEGACY_USE_ONLY;
use aws_lc_rs::cipher::{
    DecryptingKey, EncryptingKey, EncryptionContext, UnboundCipherKey, AES_128, AES_192, AES_256,
};
use aws_lc_rs::iv::FixedLength;
use zeroize::{Zeroize, Zeroizing};

use super::ffi::{GcmKey, GCM_NONCE_LEN};
use super::integ::{IntegAlg, IntegKey};
use super::rng::RandomSource;
use super::CryptoError;
use crate::registry::EncrId;

/// How a cipher works, selecting the SK construction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CipherKind {
    AesCbc,
    TripleDesCbc,
    AesCtr,
    AesGcm,
    ChaCha20Poly1305,
    Null,
}

/// An encryption transform with a fixed key size.
#[derive(Debug, PartialEq, Eq)]
pub struct EncrAlg {
    /// IANA id.
    pub id: EncrId,
    /// libreswan's name, with key size.
    pub name: &'static str,
    /// Key size in bits as carried in the Key Length attribute (0 for NULL).
    pub key_bits: u16,
    /// Whether the Key Length attribute is sent/required (AES variants).
    pub key_length_attribute: bool,
    /// Cipher key length in bytes.
    pub key_len: usize,
    /// Salt / nonce bytes taken from the key material after the key (RFC 5282 GCM,
    /// RFC 5930 CTR, RFC 7634 ChaCha20-Poly1305: 4 bytes each).
    pub salt_len: usize,
    /// Length of the IV sent in each SK payload.
    pub iv_len: usize,
    /// Padding granularity: plaintext + padding + pad length is a multiple of this.
    pub block_len: usize,
    /// AEAD tag length (0 for non-AEAD ciphers, which need an integrity transform).
    pub icv_len: usize,
    pub(crate) kind: CipherKind,
}

macro_rules! encr {
    ($(#[$m:meta])* $name:ident, $id:ident, $text:expr, $bits:expr, $attr:expr, $salt:expr,
     $iv:expr, $block:expr, $icv:expr, $kind:ident) => {
        $(#[$m])*
        pub static $name: EncrAlg = EncrAlg {
            id: EncrId::$id,
            name: $text,
            key_bits: $bits,
            key_length_attribute: $attr,
            key_len: $bits / 8,
            salt_len: $salt,
            iv_len: $iv,
            block_len: $block,
            icv_len: $icv,
            kind: CipherKind::$kind,
        };
    };
}

encr!(/// ENCR_AES_CBC, 128-bit key (RFC 3602).
    AES_CBC_128, AES_CBC, "AES_CBC_128", 128, true, 0, 16, 16, 0, AesCbc);
encr!(/// ENCR_AES_CBC, 192-bit key.
    AES_CBC_192, AES_CBC, "AES_CBC_192", 192, true, 0, 16, 16, 0, AesCbc);
encr!(/// ENCR_AES_CBC, 256-bit key.
    AES_CBC_256, AES_CBC, "AES_CBC_256", 256, true, 0, 16, 16, 0, AesCbc);
encr!(/// ENCR_AES_CTR, 128-bit key (RFC 5930 / RFC 3686).
    AES_CTR_128, AES_CTR, "AES_CTR_128", 128, true, 4, 8, 1, 0, AesCtr);
encr!(/// ENCR_AES_CTR, 192-bit key.
    AES_CTR_192, AES_CTR, "AES_CTR_192", 192, true, 4, 8, 1, 0, AesCtr);
encr!(/// ENCR_AES_CTR, 256-bit key.
    AES_CTR_256, AES_CTR, "AES_CTR_256", 256, true, 4, 8, 1, 0, AesCtr);
encr!(/// ENCR_AES_GCM_8 (8-byte ICV), 128-bit key (RFC 5282).
    AES_GCM_8_128, AES_GCM_8, "AES_GCM_8_128", 128, true, 4, 8, 1, 8, AesGcm);
encr!(/// ENCR_AES_GCM_8, 192-bit key.
    AES_GCM_8_192, AES_GCM_8, "AES_GCM_8_192", 192, true, 4, 8, 1, 8, AesGcm);
encr!(/// ENCR_AES_GCM_8, 256-bit key.
    AES_GCM_8_256, AES_GCM_8, "AES_GCM_8_256", 256, true, 4, 8, 1, 8, AesGcm);
encr!(/// ENCR_AES_GCM_12 (12-byte ICV), 128-bit key (RFC 5282).
    AES_GCM_12_128, AES_GCM_12, "AES_GCM_12_128", 128, true, 4, 8, 1, 12, AesGcm);
encr!(/// ENCR_AES_GCM_12, 192-bit key.
    AES_GCM_12_192, AES_GCM_12, "AES_GCM_12_192", 192, true, 4, 8, 1, 12, AesGcm);
encr!(/// ENCR_AES_GCM_12, 256-bit key.
    AES_GCM_12_256, AES_GCM_12, "AES_GCM_12_256", 256, true, 4, 8, 1, 12, AesGcm);
encr!(/// ENCR_AES_GCM_16 (16-byte ICV), 128-bit key (RFC 5282).
    AES_GCM_16_128, AES_GCM_16, "AES_GCM_16_128", 128, true, 4, 8, 1, 16, AesGcm);
encr!(/// ENCR_AES_GCM_16, 192-bit key.
    AES_GCM_16_192, AES_GCM_16, "AES_GCM_16_192", 192, true, 4, 8, 1, 16, AesGcm);
encr!(/// ENCR_AES_GCM_16, 256-bit key.
    AES_GCM_16_256, AES_GCM_16, "AES_GCM_16_256", 256, true, 4, 8, 1, 16, AesGcm);
encr!(/// ENCR_CHACHA20_POLY1305 (RFC 7634); fixed 256-bit key, no Key Length attribute.
    CHACHA20_POLY1305, CHACHA20_POLY1305, "CHACHA20_POLY1305", 256, false, 4, 8, 1, 16,
    ChaCha20Poly1305);
encr!(/// ENCR_3DES (RFC 2451), IKEv1 legacy; fixed 192-bit key.
    TRIPLE_DES_CBC, TRIPLE_DES, "3DES_CBC", 192, false, 0, 8, 8, 0, TripleDesCbc);
encr!(/// ENCR_NULL: no confidentiality. RFC 7296 does not allow it for IKE SAs; it exists
    /// for ESP keying (RFC 4303 / RFC 2410) and for tests.
    NULL, NULL, "NULL", 0, false, 0, 0, 1, 0, Null);

/// Every implemented encryption transform (one entry per key size).
pub static ALL: [&EncrAlg; 18] = [
    &AES_CBC_128,
    &AES_CBC_192,
    &AES_CBC_256,
    &AES_CTR_128,
    &AES_CTR_192,
    &AES_CTR_256,
    &AES_GCM_8_128,
    &AES_GCM_8_192,
    &AES_GCM_8_256,
    &AES_GCM_12_128,
    &AES_GCM_12_192,
    &AES_GCM_12_256,
    &AES_GCM_16_128,
    &AES_GCM_16_192,
    &AES_GCM_16_256,
    &CHACHA20_POLY1305,
    &TRIPLE_DES_CBC,
    &NULL,
];

impl EncrAlg {
    /// The transform for IANA id `id` with Key Length attribute `key_bits`.
    ///
    /// AES variants require the attribute (RFC 7296 section 3.3.5); fixed-size ciphers
    /// accept its absence or their own size.
    pub fn lookup(id: EncrId, key_bits: Option<u16>) -> Result<&'static EncrAlg, CryptoError> {
        ALL.iter()
            .copied()
            .find(|a| {
                a.id == id
                    && match key_bits {
                        Some(bits) => bits == a.key_bits,
                        None => !a.key_length_attribute,
                    }
            })
            .ok_or(CryptoError::Unsupported {
                kind: "ENCR",
                id: id.0,
                key_bits,
            })
    }

    /// Whether the transform may protect an IKE SA. ENCR_NULL gives no
    /// confidentiality and is for ESP only (RFC 4303 / RFC 2410); the proposal layer
    /// must not offer or accept it for IKE. [`SkCipher`] still implements it so ESP-style
    /// NULL keying and tests share one code path.
    pub fn ike_allowed(&self) -> bool {
        self.kind != CipherKind::Null
    }

    /// Whether this is an AEAD cipher (no separate integrity transform).
    pub fn is_aead(&self) -> bool {
        self.icv_len > 0
    }

    /// Key material this transform consumes from prf+ (key + salt).
    pub fn keymat_len(&self) -> usize {
        self.key_len + self.salt_len
    }

    /// Builds the cipher from `keymat` (exactly [`keymat_len`](Self::keymat_len) bytes).
    pub fn key(&'static self, keymat: &[u8]) -> Result<CipherKey, CryptoError> {
        CipherKey::new(self, keymat)
    }
}

/// A keyed cipher (both directions of one key).
pub struct CipherKey {
    alg: &'static EncrAlg,
    inner: CipherInner,
}

// Built once per SA; kept inline (see mac::MacKey).
#[allow(clippy::large_enum_variant)]
enum CipherInner {
    Cbc {
        enc: EncryptingKey,
        dec: DecryptingKey,
    },
    Ctr {
        key: EncryptingKey,
        nonce: [u8; 4],
    },
    Gcm {
        key: GcmKey,
        salt: [u8; 4],
    },
    ChaCha {
        key: LessSafeKey,
        salt: [u8; 4],
    },
    Null,
}

impl Drop for CipherInner {
    fn drop(&mut self) {
        match self {
            Self::Ctr { nonce: s, .. }
            | Self::Gcm { salt: s, .. }
            | Self::ChaCha { salt: s, .. } => s.zeroize(),
            Self::Cbc { .. } | Self::Null => {}
        }
    }
}

fn salt_of(alg: &EncrAlg, keymat: &[u8]) -> [u8; 4] {
    let mut salt = [0u8; 4];
    salt.copy_from_slice(&keymat[alg.key_len..alg.key_len + 4]);
    salt
}

impl CipherKey {
    fn new(alg: &'static EncrAlg, keymat: &[u8]) -> Result<Self, CryptoError> {
        if keymat.len() != alg.keymat_len() {
            return Err(CryptoError::KeyLength {
                alg: alg.name,
                expected: alg.keymat_len(),
                got: keymat.len(),
            });
        }
        let key = &keymat[..alg.key_len];
        let rejected = |_| CryptoError::KeyRejected { alg: alg.name };
        let block_cipher = match alg.key_len {
            16 => &AES_128,
            24 => &AES_192,
            _ => &AES_256,
        };
        let inner = match alg.kind {
            CipherKind::AesCbc | CipherKind::TripleDesCbc => {
                // 3DES is deprecated in aws-lc-rs; IKEv1 peers still negotiate it.
                #[allow(deprecated)]
                let cipher = if alg.kind == CipherKind::TripleDesCbc {
                    &DES_EDE3_FOR_LEGACY_USE_ONLY
                } else {
                    block_cipher
                };
                let enc = EncryptingKey::cbc(UnboundCipherKey::new(cipher, key).map_err(rejected)?)
                    .map_err(rejected)?;
                let dec = DecryptingKey::cbc(UnboundCipherKey::new(cipher, key).map_err(rejected)?)
                    .map_err(rejected)?;
                CipherInner::Cbc { enc, dec }
            }
            CipherKind::AesCtr => CipherInner::Ctr {
                key: EncryptingKey::ctr(
                    UnboundCipherKey::new(block_cipher, key).map_err(rejected)?,
                )
                .map_err(rejected)?,
                nonce: salt_of(alg, keymat),
            },
            CipherKind::AesGcm => CipherInner::Gcm {
                key: GcmKey::new(key, alg.icv_len)?,
                salt: salt_of(alg, keymat),
            },
            CipherKind::ChaCha20Poly1305 => CipherInner::ChaCha {
                key: LessSafeKey::new(
                    UnboundKey::new(&aead::CHACHA20_POLY1305, key).map_err(rejected)?,
                ),
                salt: salt_of(alg, keymat),
            },
            CipherKind::Null => CipherInner::Null,
        };
        Ok(Self { alg, inner })
    }

    /// The transform.
    pub fn alg(&self) -> &'static EncrAlg {
        self.alg
    }

    /// CBC encryption in place with an explicit IV (`data` is whole blocks).
    pub(crate) fn cbc_encrypt(&self, iv: &[u8], data: &mut [u8]) -> Result<(), CryptoError> {
        let CipherInner::Cbc { enc, .. } = &self.inner else {
            return Err(CryptoError::InvalidCombination(
                "CBC operation on a non-CBC cipher",
            ));
        };
        enc.less_safe_encrypt(data, encryption_context(iv)?)
            .map(|_| ())
            .map_err(|_| CryptoError::Malformed("CBC input is not a whole number of blocks"))
    }

    /// CBC decryption in place with an explicit IV (`data` is whole blocks).
    pub(crate) fn cbc_decrypt(&self, iv: &[u8], data: &mut [u8]) -> Result<(), CryptoError> {
        let CipherInner::Cbc { dec, .. } = &self.inner else {
            return Err(CryptoError::InvalidCombination(
                "CBC operation on a non-CBC cipher",
            ));
        };
        dec.decrypt(data, encryption_context(iv)?.into())
            .map(|_| ())
            .map_err(|_| CryptoError::Malformed("CBC input is not a whole number of blocks"))
    }

    /// Encrypts `data` in place with an explicit `iv` (the per-message IV of
    /// [`EncrAlg::iv_len`] bytes; salt/nonce come from the key material).
    ///
    /// For AEAD ciphers `aad` is authenticated and the tag is written to `icv`
    /// ([`EncrAlg::icv_len`] bytes); other ciphers need an empty `icv` and ignore
    /// `aad`. CBC input must be whole blocks. This is the raw transform: SK payloads
    /// should go through [`SkCipher`], which adds padding and integrity.
    pub fn encrypt_in_place(
        &self,
        iv: &[u8],
        aad: &[u8],
        data: &mut [u8],
        icv: &mut [u8],
    ) -> Result<(), CryptoError> {
        self.check_iv_icv(iv, icv.len())?;
        match &self.inner {
            CipherInner::Cbc { .. } => self.cbc_encrypt(iv, data),
            CipherInner::Ctr { key, nonce } => Self::ctr_apply(key, nonce, iv, data),
            CipherInner::Gcm { key, salt } => key.seal(&Self::aead_nonce(salt, iv), aad, data, icv),
            CipherInner::ChaCha { key, salt } => {
                let nonce = Nonce::assume_unique_for_key(Self::aead_nonce(salt, iv));
                let tag = key
                    .seal_in_place_separate_tag(nonce, Aad::from(aad), data)
                    .map_err(|_| CryptoError::Backend("ChaCha20-Poly1305 seal"))?;
                icv.copy_from_slice(tag.as_ref());
                Ok(())
            }
            CipherInner::Null => Ok(()),
        }
    }

    /// Decrypts `data` in place, verifying the AEAD tag `icv` first for AEAD ciphers
    /// (a mismatch is [`CryptoError::IntegrityCheckFailed`] and leaves `data`
    /// unspecified). See [`encrypt_in_place`](Self::encrypt_in_place).
    pub fn decrypt_in_place(
        &self,
        iv: &[u8],
        aad: &[u8],
        data: &mut [u8],
        icv: &[u8],
    ) -> Result<(), CryptoError> {
        self.check_iv_icv(iv, icv.len())?;
        match &self.inner {
            CipherInner::Cbc { .. } => self.cbc_decrypt(iv, data),
            CipherInner::Ctr { key, nonce } => Self::ctr_apply(key, nonce, iv, data),
            CipherInner::Gcm { key, salt } => key.open(&Self::aead_nonce(salt, iv), aad, data, icv),
            CipherInner::ChaCha { key, salt } => {
                let nonce = Nonce::assume_unique_for_key(Self::aead_nonce(salt, iv));
                key.open_in_place_separate_tag(nonce, Aad::from(aad), icv, data)
                    .map(|_| ())
                    .map_err(|_| CryptoError::IntegrityCheckFailed)
            }
            CipherInner::Null => Ok(()),
        }
    }

    fn check_iv_icv(&self, iv: &[u8], icv_len: usize) -> Result<(), CryptoError> {
        if iv.len() != self.alg.iv_len {
            return Err(CryptoError::Malformed(
                "IV length does not match the cipher",
            ));
        }
        if icv_len != self.alg.icv_len {
            return Err(CryptoError::BufferSize {
                need: self.alg.icv_len,
                got: icv_len,
            });
        }
        Ok(())
    }

    fn ctr_apply(
        key: &EncryptingKey,
        nonce: &[u8; 4],
        iv: &[u8],
        data: &mut [u8],
    ) -> Result<(), CryptoError> {
        // RFC 5930 section 2 / RFC 3686 section 4: nonce | IV | 32-bit counter from 1.
        let mut block = [0u8; 16];
        block[..4].copy_from_slice(nonce);
        block[4..12].copy_from_slice(iv);
        block[15] = 1;
        key.less_safe_encrypt(data, EncryptionContext::Iv128(FixedLength::from(block)))
            .map(|_| ())
            .map_err(|_| CryptoError::Backend("AES-CTR"))
    }

    fn aead_nonce(salt: &[u8; 4], iv: &[u8]) -> [u8; GCM_NONCE_LEN] {
        let mut n = [0u8; GCM_NONCE_LEN];
        n[..4].copy_from_slice(salt);
        n[4..].copy_from_slice(iv);
        n
    }
}

fn encryption_context(iv: &[u8]) -> Result<EncryptionContext, CryptoError> {
    match iv.len() {
        16 => {
            let mut b = [0u8; 16];
            b.copy_from_slice(iv);
            Ok(EncryptionContext::Iv128(FixedLength::from(b)))
        }
        8 => {
            let mut b = [0u8; 8];
            b.copy_from_slice(iv);
            Ok(EncryptionContext::Iv64(FixedLength::from(b)))
        }
        _ => Err(CryptoError::Malformed(
            "IV length does not match the cipher",
        )),
    }
}

impl fmt::Debug for CipherKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CipherKey")
            .field("alg", &self.alg.name)
            .finish_non_exhaustive()
    }
}

/// Longest encryption key material an SK cipher takes: a 256-bit key plus a 4-byte
/// salt (AES-GCM/CTR-256, ChaCha20-Poly1305).
const MAX_SK_ENCR_KEYMAT: usize = 36;
/// Longest integrity key (HMAC_SHA2_512_256).
const MAX_SK_INTEG_KEY: usize = 64;

/// One direction of SK payload protection: a cipher plus, for non-AEAD ciphers, an
/// integrity key.
///
/// Hold one for outbound (SK_ei/SK_ai as initiator) and one for inbound messages.
///
/// Only the key bytes are kept, in a fixed array sized for the longest keys (about
/// 120 bytes in all); the aws-lc key schedules are built for each message and
/// dropped after it. A gateway holds two of these per IKE SA for as long as the SA
/// lives but uses them for a handful of messages (IKE_AUTH, rekeys, liveness), so
/// memory matters and a key schedule per message does not: a kept AES-GCM context
/// would be about 600 bytes of C heap per direction, an inline HMAC-SHA2-512 key
/// over 1 KiB, and building them costs well under a microsecond.
pub struct SkCipher {
    encr: &'static EncrAlg,
    integ: Option<&'static IntegAlg>,
    /// `encr.keymat_len()` bytes of cipher key and salt, then `integ`'s key.
    key: Zeroizing<[u8; MAX_SK_ENCR_KEYMAT + MAX_SK_INTEG_KEY]>,
}

impl fmt::Debug for SkCipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SkCipher")
            .field("encr", &self.encr.name)
            .field("integ", &self.integ.map(|i| i.name))
            .finish()
    }
}

impl SkCipher {
    /// Builds SK protection from an encryption transform and its key material (key +
    /// salt) and, for non-AEAD ciphers, an integrity transform and key.
    ///
    /// The keys are checked here (lengths, and that the backend takes them) so that
    /// sealing and opening later fail only for reasons of the message.
    pub fn new(
        encr: &'static EncrAlg,
        encr_keymat: &[u8],
        integ: Option<(&'static IntegAlg, &[u8])>,
    ) -> Result<Self, CryptoError> {
        match (encr.is_aead(), integ) {
            (true, Some(_)) => {
                return Err(CryptoError::InvalidCombination(
                    "an AEAD cipher must not be combined with an integrity transform",
                ))
            }
            (false, None) => {
                return Err(CryptoError::InvalidCombination(
                    "a non-AEAD cipher needs an integrity transform",
                ))
            }
            _ => {}
        }
        // Validates lengths and keys exactly as a kept key schedule would.
        encr.key(encr_keymat)?;
        if let Some((alg, key)) = integ {
            alg.key(key)?;
        }
        let encr_len = encr_keymat.len();
        let integ_key = integ.map_or(&[][..], |(_, k)| k);
        if encr_len > MAX_SK_ENCR_KEYMAT || integ_key.len() > MAX_SK_INTEG_KEY {
            return Err(CryptoError::InvalidCombination(
                "SK key longer than any implemented transform's",
            ));
        }
        let mut key = Zeroizing::new([0u8; MAX_SK_ENCR_KEYMAT + MAX_SK_INTEG_KEY]);
        key[..encr_len].copy_from_slice(encr_keymat);
        key[encr_len..encr_len + integ_key.len()].copy_from_slice(integ_key);
        Ok(Self {
            encr,
            integ: integ.map(|(alg, _)| alg),
            key,
        })
    }

    /// The cipher's key schedule, built for one message.
    fn cipher(&self) -> Result<CipherKey, CryptoError> {
        self.encr.key(&self.key[..self.encr.keymat_len()])
    }

    /// The integrity key schedule, built for one message (`None` for AEAD).
    fn integ_key(&self) -> Result<Option<IntegKey>, CryptoError> {
        let start = self.encr.keymat_len();
        self.integ
            .map(|alg| alg.key(&self.key[start..start + alg.key_len]))
            .transpose()
    }

    /// The encryption transform.
    pub fn encr(&self) -> &'static EncrAlg {
        self.encr
    }

    /// The integrity transform, if any.
    pub fn integ(&self) -> Option<&'static IntegAlg> {
        self.integ
    }

    fn icv_len(&self) -> usize {
        self.integ.map_or(self.encr.icv_len, |i| i.icv_len)
    }

    fn padded_len(&self, plaintext_len: usize) -> usize {
        let block = self.encr.block_len;
        (plaintext_len + 1).div_ceil(block) * block
    }

    /// Size of the SK body (IV | ciphertext | ICV) for `plaintext_len` bytes of inner
    /// payloads: what the SK payload header's length must account for.
    pub fn sealed_len(&self, plaintext_len: usize) -> usize {
        self.encr.iv_len + self.padded_len(plaintext_len) + self.icv_len()
    }

    /// Encrypts `plaintext` into `out` (exactly [`sealed_len`](Self::sealed_len) bytes),
    /// with a fresh IV from `rng`. `aad_prefix` is the IKE header and SK generic payload
    /// header, already carrying the final lengths.
    pub fn seal_into(
        &self,
        rng: &dyn RandomSource,
        aad_prefix: &[u8],
        plaintext: &[u8],
        out: &mut [u8],
    ) -> Result<(), CryptoError> {
        let need = self.sealed_len(plaintext.len());
        if out.len() != need {
            return Err(CryptoError::BufferSize {
                need,
                got: out.len(),
            });
        }
        let alg = self.encr;
        let ct_len = self.padded_len(plaintext.len());
        let (iv, rest) = out.split_at_mut(alg.iv_len);
        let (ct, icv) = rest.split_at_mut(ct_len);
        rng.fill(iv)?;
        ct[..plaintext.len()].copy_from_slice(plaintext);
        let pad = ct_len - plaintext.len() - 1;
        ct[plaintext.len()..ct_len - 1].fill(0);
        // pad <= block_len - 1 <= 15, so it always fits the pad-length byte.
        ct[ct_len - 1] = pad as u8;
        let aead_icv = if alg.is_aead() {
            &mut icv[..]
        } else {
            &mut [][..]
        };
        self.cipher()?
            .encrypt_in_place(iv, aad_prefix, ct, aead_icv)?;
        if let Some(integ) = self.integ_key()? {
            integ.sign_into(&[aad_prefix, iv, ct], icv)?;
        }
        Ok(())
    }

    /// Allocating convenience form of [`seal_into`](Self::seal_into).
    pub fn seal(
        &self,
        rng: &dyn RandomSource,
        aad_prefix: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        let mut out = vec![0u8; self.sealed_len(plaintext.len())];
        self.seal_into(rng, aad_prefix, plaintext, &mut out)?;
        Ok(out)
    }

    /// Verifies and decrypts an SK body (IV | ciphertext | ICV) in place and returns the
    /// inner payloads with padding and pad length removed.
    ///
    /// For non-AEAD ciphers the ICV is checked (in constant time) before anything is
    /// decrypted. A body that cannot even be checked (too short, misaligned) is
    /// [`CryptoError::Unauthenticated`] and, like an ICV failure, must be dropped
    /// without an answer; only a bad pad length inside an authentic body is
    /// [`CryptoError::Malformed`]. On error the buffer content is unspecified.
    pub fn open<'a>(&self, aad_prefix: &[u8], body: &'a mut [u8]) -> Result<&'a [u8], CryptoError> {
        let alg = self.encr;
        let icv_len = self.icv_len();
        if body.len() < alg.iv_len + icv_len + 1 {
            return Err(CryptoError::Unauthenticated(
                "shorter than IV, pad length and ICV",
            ));
        }
        let ct_len = body.len() - alg.iv_len - icv_len;
        if !ct_len.is_multiple_of(alg.block_len) {
            return Err(CryptoError::Unauthenticated(
                "ciphertext is not a whole number of cipher blocks",
            ));
        }
        let (iv, rest) = body.split_at_mut(alg.iv_len);
        let (ct, icv) = rest.split_at_mut(ct_len);
        if let Some(integ) = self.integ_key()? {
            integ.verify(&[aad_prefix, iv, ct], icv)?;
        }
        let aead_icv = if alg.is_aead() { &icv[..] } else { &[][..] };
        self.cipher()?
            .decrypt_in_place(iv, aad_prefix, ct, aead_icv)?;
        let pad = usize::from(ct[ct_len - 1]);
        if pad + 1 > ct_len {
            return Err(CryptoError::Malformed(
                "pad length exceeds the encrypted data",
            ));
        }
        Ok(&ct[..ct_len - 1 - pad])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::integ;
    use crate::crypto::rng::TestRandom;

    fn sk(alg: &'static EncrAlg) -> SkCipher {
        let keymat: Vec<u8> = (0..alg.keymat_len() as u8)
            .map(|i| i.wrapping_mul(7) ^ 0x5c)
            .collect();
        let integ = (!alg.is_aead()).then(|| (&integ::HMAC_SHA2_256_128, &[0x11u8; 32][..]));
        SkCipher::new(alg, &keymat, integ).unwrap()
    }

    #[test]
    fn only_null_is_barred_from_ike() {
        for a in ALL {
            assert_eq!(a.ike_allowed(), a.id != EncrId::NULL, "{}", a.name);
        }
    }

    #[test]
    fn lookup_rules() {
        assert_eq!(
            EncrAlg::lookup(EncrId::AES_CBC, Some(256)).unwrap(),
            &AES_CBC_256
        );
        assert!(EncrAlg::lookup(EncrId::AES_CBC, None).is_err());
        assert!(EncrAlg::lookup(EncrId::AES_CBC, Some(64)).is_err());
        assert_eq!(
            EncrAlg::lookup(EncrId::CHACHA20_POLY1305, None).unwrap(),
            &CHACHA20_POLY1305
        );
        assert_eq!(
            EncrAlg::lookup(EncrId::TRIPLE_DES, None).unwrap(),
            &TRIPLE_DES_CBC
        );
        assert_eq!(
            EncrAlg::lookup(EncrId::AES_GCM_12, Some(192)).unwrap(),
            &AES_GCM_12_192
        );
        assert!(EncrAlg::lookup(EncrId::CAMELLIA_CBC, Some(128)).is_err());
        for a in ALL {
            let bits = a.key_length_attribute.then_some(a.key_bits);
            assert_eq!(EncrAlg::lookup(a.id, bits).unwrap(), a);
        }
    }

    #[test]
    fn seal_open_round_trip_every_cipher_and_length() {
        let rng = TestRandom::new(1);
        for alg in ALL {
            let c = sk(alg);
            for len in [0usize, 1, 15, 16, 17, 200] {
                let pt: Vec<u8> = (0..len).map(|i| i as u8).collect();
                let aad = b"ike header + sk header";
                let mut body = c.seal(&rng, aad, &pt).unwrap();
                assert_eq!(body.len(), c.sealed_len(len), "{}", alg.name);
                if alg.kind != CipherKind::Null && len > 0 {
                    assert!(!body.windows(len.min(8)).any(|w| w == &pt[..len.min(8)]) || len < 4);
                }
                assert_eq!(
                    c.open(aad, &mut body).unwrap(),
                    &pt[..],
                    "{} len {len}",
                    alg.name
                );
            }
        }
    }

    #[test]
    fn tampering_is_detected() {
        let rng = TestRandom::new(2);
        for alg in ALL {
            let c = sk(alg);
            let body = c.seal(&rng, b"aad", b"some inner payloads").unwrap();
            for i in 0..body.len() {
                let mut t = body.clone();
                t[i] ^= 0x80;
                assert!(c.open(b"aad", &mut t).is_err(), "{} byte {i}", alg.name);
            }
            let mut t = body.clone();
            assert_eq!(
                c.open(b"AAD", &mut t),
                Err(CryptoError::IntegrityCheckFailed),
                "{}",
                alg.name
            );
        }
    }

    #[test]
    fn short_and_misaligned_bodies_are_typed_errors() {
        for alg in ALL {
            let c = sk(alg);
            for len in 0..40 {
                let mut junk = vec![0xa5u8; len];
                // Never panics; junk never authenticates.
                assert!(c.open(b"aad", &mut junk).is_err(), "{} len {len}", alg.name);
            }
        }
        let c = sk(&AES_CBC_128);
        let mut body = vec![0u8; 16 + 17 + 16];
        let err = c.open(b"", &mut body).unwrap_err();
        assert!(matches!(err, CryptoError::Unauthenticated(_)));
        assert_eq!(err.notify(), None);
    }

    #[test]
    fn bad_pad_length_is_malformed() {
        // NULL cipher with integrity: forge a body whose pad length is too large.
        let c = sk(&NULL);
        let mut body = vec![0u8; 4 + 16];
        body[3] = 200;
        let (ct, icv) = body.split_at_mut(4);
        c.integ_key()
            .unwrap()
            .unwrap()
            .sign_into(&[b"h", &[], ct], icv)
            .unwrap();
        assert!(matches!(
            c.open(b"h", &mut body),
            Err(CryptoError::Malformed(_))
        ));
    }

    #[test]
    fn transform_combinations_are_checked() {
        assert!(matches!(
            SkCipher::new(
                &AES_GCM_16_128,
                &[0; 20],
                Some((&integ::HMAC_SHA1_96, &[0; 20]))
            ),
            Err(CryptoError::InvalidCombination(_))
        ));
        assert!(matches!(
            SkCipher::new(&AES_CBC_128, &[0; 16], None),
            Err(CryptoError::InvalidCombination(_))
        ));
        assert!(matches!(
            SkCipher::new(
                &AES_CBC_128,
                &[0; 15],
                Some((&integ::HMAC_SHA1_96, &[0; 20]))
            ),
            Err(CryptoError::KeyLength { .. })
        ));
    }

    #[test]
    fn sk_cipher_is_small_and_fits_every_key() {
        // Two per IKE SA for its whole life: keep them to the key bytes.
        assert!(core::mem::size_of::<SkCipher>() <= 128);
        for e in ALL {
            assert!(e.keymat_len() <= MAX_SK_ENCR_KEYMAT, "{}", e.name);
        }
        for i in integ::ALL {
            assert!(i.key_len <= MAX_SK_INTEG_KEY, "{}", i.name);
        }
    }

    #[test]
    fn debug_names_algorithms_only() {
        let c = sk(&AES_CBC_256);
        let s = format!("{c:?}");
        assert!(s.contains("AES_CBC_256") && s.contains("HMAC_SHA2_256_128"));
    }
}
