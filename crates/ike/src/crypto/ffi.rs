//! The only unsafe code of the crypto suite: the two things aws-lc-rs does not expose.
//!
//! * AES-GCM with an 8- or 12-byte ICV (RFC 5282 ENCR_AES_GCM_8/12) and a 192-bit key:
//!   aws-lc's `EVP_AEAD_CTX_new` takes the tag length, aws-lc-rs's `aead` does not.
//!   All three GCM ICV sizes go through here so GCM has one code path.
//! * Constant-time modular exponentiation for the MODP groups
//!   (`BN_mod_exp_mont_consttime`) with a Montgomery context per prime.
//!
//! Each wrapper owns its C object, frees it in `Drop` and exposes only safe methods
//! that check every length before crossing the boundary.

use core::ptr;
use std::os::raw::c_int;

use aws_lc_sys as sys;

use super::CryptoError;

/// An AES-GCM key with a fixed tag length.
pub(crate) struct GcmKey {
    ctx: ptr::NonNull<sys::EVP_AEAD_CTX>,
    tag_len: usize,
}

// SAFETY: after construction the EVP_AEAD_CTX is only read (seal/open take a const
// pointer and keep no per-call state in the context), so sharing it across threads is
// sound; aws-lc documents EVP_AEAD_CTX as usable concurrently once initialised.
unsafe impl Send for GcmKey {}
// SAFETY: see above.
unsafe impl Sync for GcmKey {}

/// GCM nonce length used by IKE (4-byte salt + 8-byte IV, RFC 5282 section 4).
pub(crate) const GCM_NONCE_LEN: usize = 12;

impl GcmKey {
    /// A GCM key of 16, 24 or 32 bytes with an 8, 12 or 16 byte tag.
    pub(crate) fn new(key: &[u8], tag_len: usize) -> Result<Self, CryptoError> {
        if !matches!(tag_len, 8 | 12 | 16) {
            return Err(CryptoError::Backend("GCM tag length"));
        }
        // SAFETY: the EVP_aead_* functions return pointers to static tables.
        let aead = unsafe {
            match key.len() {
                16 => sys::EVP_aead_aes_128_gcm(),
                24 => sys::EVP_aead_aes_192_gcm(),
                32 => sys::EVP_aead_aes_256_gcm(),
                n => {
                    return Err(CryptoError::KeyLength {
                        alg: "AES_GCM",
                        expected: 32,
                        got: n,
                    })
                }
            }
        };
        // SAFETY: `aead` is a valid static table, `key` is valid for `key.len()` bytes
        // and aws-lc copies the key schedule into the new context.
        let ctx = unsafe { sys::EVP_AEAD_CTX_new(aead, key.as_ptr(), key.len(), tag_len) };
        let ctx = ptr::NonNull::new(ctx).ok_or(CryptoError::Backend("EVP_AEAD_CTX_new"))?;
        Ok(Self { ctx, tag_len })
    }

    /// Encrypts `in_out` in place and writes the tag into `tag` (exactly `tag_len`).
    pub(crate) fn seal(
        &self,
        nonce: &[u8; GCM_NONCE_LEN],
        aad: &[u8],
        in_out: &mut [u8],
        tag: &mut [u8],
    ) -> Result<(), CryptoError> {
        if tag.len() != self.tag_len {
            return Err(CryptoError::BufferSize {
                need: self.tag_len,
                got: tag.len(),
            });
        }
        let mut tag_len = 0usize;
        // SAFETY: ctx is a live context; every pointer/length pair describes a valid
        // slice; in-place operation (out == in) is supported by EVP_AEAD_CTX_seal_scatter;
        // `tag` has room for `tag.len()` bytes which is the maximum we pass.
        let ok: c_int = unsafe {
            sys::EVP_AEAD_CTX_seal_scatter(
                self.ctx.as_ptr(),
                in_out.as_mut_ptr(),
                tag.as_mut_ptr(),
                &mut tag_len,
                tag.len(),
                nonce.as_ptr(),
                nonce.len(),
                in_out.as_ptr(),
                in_out.len(),
                ptr::null(),
                0,
                aad.as_ptr(),
                aad.len(),
            )
        };
        if ok != 1 || tag_len != self.tag_len {
            return Err(CryptoError::Backend("AES-GCM seal"));
        }
        Ok(())
    }

    /// Verifies `tag` and decrypts `in_out` in place; on failure the buffer content is
    /// unspecified and must be discarded.
    pub(crate) fn open(
        &self,
        nonce: &[u8; GCM_NONCE_LEN],
        aad: &[u8],
        in_out: &mut [u8],
        tag: &[u8],
    ) -> Result<(), CryptoError> {
        if tag.len() != self.tag_len {
            return Err(CryptoError::IntegrityCheckFailed);
        }
        // SAFETY: as for seal; open_gather supports out == in and compares the tag in
        // constant time.
        let ok: c_int = unsafe {
            sys::EVP_AEAD_CTX_open_gather(
                self.ctx.as_ptr(),
                in_out.as_mut_ptr(),
                nonce.as_ptr(),
                nonce.len(),
                in_out.as_ptr(),
                in_out.len(),
                tag.as_ptr(),
                tag.len(),
                aad.as_ptr(),
                aad.len(),
            )
        };
        if ok != 1 {
            // Drop the error aws-lc queued so it does not leak into unrelated calls.
            // SAFETY: clears this thread's error queue; no pointers involved.
            unsafe { sys::ERR_clear_error() };
            return Err(CryptoError::IntegrityCheckFailed);
        }
        Ok(())
    }
}

impl Drop for GcmKey {
    fn drop(&mut self) {
        // SAFETY: ctx came from EVP_AEAD_CTX_new and is freed exactly once; aws-lc's
        // OPENSSL_free cleanses the allocation, wiping the key schedule.
        unsafe { sys::EVP_AEAD_CTX_free(self.ctx.as_ptr()) };
    }
}

/// Which prime a MODP group uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ModpPrime {
    /// RFC 2409 section 6.2 (group 2).
    Rfc2409_1024,
    /// RFC 3526 group of the given size in bits.
    Rfc3526(u32),
}

/// The 1024-bit MODP prime of RFC 2409 section 6.2 (aws-lc has no getter for it).
const MODP1024_PRIME: [u8; 128] = hex_1024();

const fn hex_1024() -> [u8; 128] {
    const HEX: &[u8] = b"FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD1\
        29024E088A67CC74020BBEA63B139B22514A08798E3404DD\
        EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245\
        E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED\
        EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE65381\
        FFFFFFFFFFFFFFFF";
    const fn nibble(c: u8) -> u8 {
        match c {
            b'0'..=b'9' => c - b'0',
            b'A'..=b'F' => c - b'A' + 10,
            // Evaluated at compile time only (MODP1024_PRIME is a const): a bad digit
            // fails the build, never a running daemon.
            #[allow(clippy::panic)]
            _ => panic!("bad hex digit in MODP1024 prime"),
        }
    }
    let mut out = [0u8; 128];
    let mut i = 0;
    while i < 128 {
        out[i] = (nibble(HEX[2 * i]) << 4) | nibble(HEX[2 * i + 1]);
        i += 1;
    }
    out
}

/// A MODP prime with its Montgomery context, built once per group and then shared.
pub(crate) struct ModpCtx {
    p: ptr::NonNull<sys::BIGNUM>,
    mont: ptr::NonNull<sys::BN_MONT_CTX>,
    /// The prime, big-endian, exactly `len` bytes (for range checks in plain Rust).
    prime: Vec<u8>,
}

// SAFETY: p and mont are never modified after construction and
// BN_mod_exp_mont_consttime only reads them (it takes `const` pointers).
unsafe impl Send for ModpCtx {}
// SAFETY: see above.
unsafe impl Sync for ModpCtx {}

/// Owns a BIGNUM and clears it on drop (exponents are secret).
struct Bn(ptr::NonNull<sys::BIGNUM>);

impl Bn {
    fn new() -> Result<Self, CryptoError> {
        // SAFETY: BN_new has no preconditions.
        ptr::NonNull::new(unsafe { sys::BN_new() })
            .map(Self)
            .ok_or(CryptoError::Backend("BN_new"))
    }
    fn from_be(bytes: &[u8]) -> Result<Self, CryptoError> {
        let bn = Self::new()?;
        // SAFETY: bytes is valid for bytes.len(); bn is a live BIGNUM we own.
        if unsafe { sys::BN_bin2bn(bytes.as_ptr(), bytes.len(), bn.0.as_ptr()) }.is_null() {
            return Err(CryptoError::Backend("BN_bin2bn"));
        }
        Ok(bn)
    }
}

impl Drop for Bn {
    fn drop(&mut self) {
        // SAFETY: we own the BIGNUM; BN_clear_free wipes and frees it once.
        unsafe { sys::BN_clear_free(self.0.as_ptr()) };
    }
}

struct BnCtx(ptr::NonNull<sys::BN_CTX>);

impl BnCtx {
    fn new() -> Result<Self, CryptoError> {
        // SAFETY: BN_CTX_new has no preconditions.
        ptr::NonNull::new(unsafe { sys::BN_CTX_new() })
            .map(Self)
            .ok_or(CryptoError::Backend("BN_CTX_new"))
    }
}

impl Drop for BnCtx {
    fn drop(&mut self) {
        // SAFETY: we own the BN_CTX and free it once.
        unsafe { sys::BN_CTX_free(self.0.as_ptr()) };
    }
}

impl ModpCtx {
    pub(crate) fn new(which: ModpPrime) -> Result<Self, CryptoError> {
        let p = match which {
            ModpPrime::Rfc2409_1024 => Bn::from_be(&MODP1024_PRIME)?,
            ModpPrime::Rfc3526(bits) => {
                let bn = Bn::new()?;
                // SAFETY: each getter writes the prime into the BIGNUM we pass and
                // returns it (or NULL on allocation failure).
                let r = unsafe {
                    match bits {
                        1536 => sys::BN_get_rfc3526_prime_1536(bn.0.as_ptr()),
                        2048 => sys::BN_get_rfc3526_prime_2048(bn.0.as_ptr()),
                        3072 => sys::BN_get_rfc3526_prime_3072(bn.0.as_ptr()),
                        4096 => sys::BN_get_rfc3526_prime_4096(bn.0.as_ptr()),
                        6144 => sys::BN_get_rfc3526_prime_6144(bn.0.as_ptr()),
                        8192 => sys::BN_get_rfc3526_prime_8192(bn.0.as_ptr()),
                        _ => ptr::null_mut(),
                    }
                };
                if r.is_null() {
                    return Err(CryptoError::Backend("BN_get_rfc3526_prime"));
                }
                bn
            }
        };
        // SAFETY: p is a live BIGNUM.
        let len = (unsafe { sys::BN_num_bits(p.0.as_ptr()) } as usize).div_ceil(8);
        let mut prime = vec![0u8; len];
        // SAFETY: prime has exactly len bytes, enough for p.
        if unsafe { sys::BN_bn2bin_padded(prime.as_mut_ptr(), len, p.0.as_ptr()) } != 1 {
            return Err(CryptoError::Backend("BN_bn2bin_padded"));
        }
        let bn_ctx = BnCtx::new()?;
        // SAFETY: p is a live odd modulus; bn_ctx is live for the call.
        let mont = unsafe { sys::BN_MONT_CTX_new_for_modulus(p.0.as_ptr(), bn_ctx.0.as_ptr()) };
        let mont =
            ptr::NonNull::new(mont).ok_or(CryptoError::Backend("BN_MONT_CTX_new_for_modulus"))?;
        let p_ptr = p.0;
        core::mem::forget(p);
        Ok(Self {
            p: p_ptr,
            mont,
            prime,
        })
    }

    /// The prime, big-endian, as long as every public value must be.
    pub(crate) fn prime(&self) -> &[u8] {
        &self.prime
    }

    /// `out = base^exp mod p`, constant time in `exp` (for a fixed exponent length).
    /// `base` must already be validated to be in [0, p); `out` must be exactly the
    /// prime length.
    pub(crate) fn exp(&self, base: &[u8], exp: &[u8], out: &mut [u8]) -> Result<(), CryptoError> {
        if out.len() != self.prime.len() {
            return Err(CryptoError::BufferSize {
                need: self.prime.len(),
                got: out.len(),
            });
        }
        let b = Bn::from_be(base)?;
        let e = Bn::from_be(exp)?;
        let r = Bn::new()?;
        let bn_ctx = BnCtx::new()?;
        // SAFETY: all BIGNUMs and contexts are live; base < p was checked by the caller
        // (BN_mod_exp_mont_consttime requires a reduced base and fails otherwise).
        let ok = unsafe {
            sys::BN_mod_exp_mont_consttime(
                r.0.as_ptr(),
                b.0.as_ptr(),
                e.0.as_ptr(),
                self.p.as_ptr(),
                bn_ctx.0.as_ptr(),
                self.mont.as_ptr(),
            )
        };
        if ok != 1 {
            return Err(CryptoError::Backend("BN_mod_exp_mont_consttime"));
        }
        // SAFETY: out has exactly the prime length and r < p fits.
        if unsafe { sys::BN_bn2bin_padded(out.as_mut_ptr(), out.len(), r.0.as_ptr()) } != 1 {
            return Err(CryptoError::Backend("BN_bn2bin_padded"));
        }
        Ok(())
    }
}

impl Drop for ModpCtx {
    fn drop(&mut self) {
        // SAFETY: both objects were created in `new`, are owned here and freed once.
        unsafe {
            sys::BN_MONT_CTX_free(self.mont.as_ptr());
            sys::BN_free(self.p.as_ptr());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modp1024_prime_is_a_safe_prime() {
        // A typo in the hex table would almost surely make it composite.
        let p = Bn::from_be(&MODP1024_PRIME).unwrap();
        let ctx = BnCtx::new().unwrap();
        let mut is_prime: c_int = 0;
        // SAFETY: live BIGNUM and context; callback may be NULL.
        let ok = unsafe {
            sys::BN_primality_test(
                &mut is_prime,
                p.0.as_ptr(),
                64,
                ctx.0.as_ptr(),
                0,
                ptr::null_mut(),
            )
        };
        assert_eq!((ok, is_prime), (1, 1));
        // (p-1)/2 is prime too.
        let q = Bn::from_be(&MODP1024_PRIME).unwrap();
        // SAFETY: live BIGNUM we own.
        unsafe { assert_eq!(sys::BN_rshift1(q.0.as_ptr(), q.0.as_ptr()), 1) };
        // SAFETY: as above.
        let ok = unsafe {
            sys::BN_primality_test(
                &mut is_prime,
                q.0.as_ptr(),
                64,
                ctx.0.as_ptr(),
                0,
                ptr::null_mut(),
            )
        };
        assert_eq!((ok, is_prime), (1, 1));
    }

    #[test]
    fn gcm_rejects_bad_sizes() {
        assert!(GcmKey::new(&[0; 16], 4).is_err());
        assert!(GcmKey::new(&[0; 20], 16).is_err());
        assert!(GcmKey::new(&[0; 24], 8).is_ok());
    }

    #[test]
    fn modp_contexts_have_the_right_sizes() {
        for (which, len) in [
            (ModpPrime::Rfc2409_1024, 128),
            (ModpPrime::Rfc3526(1536), 192),
            (ModpPrime::Rfc3526(8192), 1024),
        ] {
            let ctx = ModpCtx::new(which).unwrap();
            assert_eq!(ctx.prime().len(), len);
            assert_eq!(ctx.prime()[0], 0xff);
        }
    }
}
