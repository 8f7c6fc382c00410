//! The keyed MAC primitives behind both PRFs and integrity transforms: HMAC (aws-lc),
//! AES-CMAC (aws-lc) and AES-XCBC-MAC (RFC 3566, built here on single-block AES).

use aws_lc_rs::cipher::{EncryptingKey, EncryptionContext, UnboundCipherKey, AES_128};
use aws_lc_rs::{cmac, hmac};
use zeroize::Zeroizing;

use super::prf::PrfOutput;
use super::CryptoError;

/// Which MAC construction a transform uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MacKind {
    Hmac(hmac::Algorithm),
    AesXcbc,
    AesCmac,
}

/// A keyed MAC, ready to compute over many messages.
// Keys are built once per SA and used for every message: keep them inline rather than
// pay a second allocation and pointer chase per key.
#[allow(clippy::large_enum_variant)]
pub(crate) enum MacKey {
    Hmac(hmac::Key),
    Xcbc(Xcbc),
    Cmac(cmac::Key),
}

impl MacKey {
    /// Keys `kind` with exactly `key` (length rules are the caller's business).
    pub(crate) fn new(kind: MacKind, key: &[u8]) -> Result<Self, CryptoError> {
        Ok(match kind {
            MacKind::Hmac(alg) => Self::Hmac(hmac::Key::new(alg, key)),
            MacKind::AesXcbc => Self::Xcbc(Xcbc::new(key)?),
            MacKind::AesCmac => Self::Cmac(cmac::Key::new(cmac::AES_128, key).map_err(|_| {
                CryptoError::KeyLength {
                    alg: "AES-CMAC",
                    expected: 16,
                    got: key.len(),
                }
            })?),
        })
    }

    /// MAC of the concatenation of `parts` (no copy of the message is made).
    pub(crate) fn compute(&self, parts: &[&[u8]]) -> Result<PrfOutput, CryptoError> {
        match self {
            Self::Hmac(key) => {
                let mut ctx = hmac::Context::with_key(key);
                for p in parts {
                    ctx.update(p);
                }
                Ok(PrfOutput::from_slice(ctx.sign().as_ref()))
            }
            Self::Xcbc(x) => Ok(PrfOutput::from_slice(x.mac(parts)?.as_slice())),
            Self::Cmac(key) => {
                let mut ctx = cmac::Context::with_key(key);
                for p in parts {
                    ctx.update(p)
                        .map_err(|_| CryptoError::Backend("AES-CMAC update"))?;
                }
                let tag = ctx
                    .sign()
                    .map_err(|_| CryptoError::Backend("AES-CMAC sign"))?;
                Ok(PrfOutput::from_slice(tag.as_ref()))
            }
        }
    }
}

/// AES-XCBC-MAC-128 (RFC 3566) with its three derived keys.
pub(crate) struct Xcbc {
    k1: EncryptingKey,
    k2: Zeroizing<[u8; 16]>,
    k3: Zeroizing<[u8; 16]>,
}

fn aes128_ecb(key: &[u8]) -> Result<EncryptingKey, CryptoError> {
    let unbound = UnboundCipherKey::new(&AES_128, key).map_err(|_| CryptoError::KeyLength {
        alg: "AES-XCBC",
        expected: 16,
        got: key.len(),
    })?;
    EncryptingKey::ecb(unbound).map_err(|_| CryptoError::Backend("AES-ECB key setup"))
}

fn encrypt_block(key: &EncryptingKey, block: &mut [u8; 16]) -> Result<(), CryptoError> {
    key.less_safe_encrypt(block, EncryptionContext::None)
        .map(|_| ())
        .map_err(|_| CryptoError::Backend("AES block encrypt"))
}

impl Xcbc {
    /// Derives K1, K2, K3 from the 128-bit key K (RFC 3566 section 4).
    pub(crate) fn new(key: &[u8]) -> Result<Self, CryptoError> {
        let k = aes128_ecb(key)?;
        let mut k1 = Zeroizing::new([0x01u8; 16]);
        let mut k2 = Zeroizing::new([0x02u8; 16]);
        let mut k3 = Zeroizing::new([0x03u8; 16]);
        encrypt_block(&k, &mut k1)?;
        encrypt_block(&k, &mut k2)?;
        encrypt_block(&k, &mut k3)?;
        Ok(Self {
            k1: aes128_ecb(k1.as_slice())?,
            k2,
            k3,
        })
    }

    /// The full 128-bit MAC of the concatenation of `parts`.
    ///
    /// The last (possibly partial) block is held back until the input ends because it
    /// is treated differently (K2 if complete, 10* padding and K3 if not).
    pub(crate) fn mac(&self, parts: &[&[u8]]) -> Result<Zeroizing<[u8; 16]>, CryptoError> {
        let mut e = Zeroizing::new([0u8; 16]);
        let mut buf = Zeroizing::new([0u8; 16]);
        let mut fill = 0usize;
        for part in parts {
            let mut data: &[u8] = part;
            while !data.is_empty() {
                if fill == 16 {
                    xor_into(&mut e, &buf);
                    encrypt_block(&self.k1, &mut e)?;
                    fill = 0;
                }
                let n = (16 - fill).min(data.len());
                buf[fill..fill + n].copy_from_slice(&data[..n]);
                fill += n;
                data = &data[n..];
            }
        }
        if fill == 16 {
            xor_into(&mut buf, &self.k2);
        } else {
            buf[fill] = 0x80;
            buf[fill + 1..].fill(0);
            xor_into(&mut buf, &self.k3);
        }
        xor_into(&mut e, &buf);
        encrypt_block(&self.k1, &mut e)?;
        Ok(e)
    }
}

fn xor_into(dst: &mut [u8; 16], src: &[u8; 16]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d ^= s;
    }
}
