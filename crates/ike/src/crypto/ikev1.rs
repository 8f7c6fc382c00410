//! IKEv1 key derivation and CBC encryption (RFC 2409 section 5 and appendix B).
//!
//! IKEv1's PRF is the HMAC of the negotiated hash (`HMAC_SHA1` etc. as [`PrfAlg`]),
//! and its IVs are hashes of the same function, so everything here takes the PRF.

use core::fmt;

use aws_lc_rs::digest;

use super::encr::{CipherKey, CipherKind, EncrAlg};
use super::mac::MacKind;
use super::prf::{PrfAlg, PrfOutput, MAX_PRF_OUTPUT};
use super::{CryptoError, SecretBytes};

/// `SKEYID = prf(pre-shared-key, Ni_b | Nr_b)` (RFC 2409 section 5, pre-shared keys).
pub fn skeyid_psk(
    prf: &'static PrfAlg,
    psk: &[u8],
    ni_b: &[u8],
    nr_b: &[u8],
) -> Result<PrfOutput, CryptoError> {
    prf.compute(psk, &[ni_b, nr_b])
}

/// `SKEYID = prf(Ni_b | Nr_b, g^xy)` (signature authentication).
pub fn skeyid_sig(
    prf: &'static PrfAlg,
    ni_b: &[u8],
    nr_b: &[u8],
    g_xy: &[u8],
) -> Result<PrfOutput, CryptoError> {
    let mut key = SecretBytes::zeroed(ni_b.len() + nr_b.len());
    key.as_mut_slice()[..ni_b.len()].copy_from_slice(ni_b);
    key.as_mut_slice()[ni_b.len()..].copy_from_slice(nr_b);
    prf.compute(&key, &[g_xy])
}

/// SKEYID_d, SKEYID_a and SKEYID_e.
pub struct Phase1Keys {
    /// Keys Quick Mode KEYMAT.
    pub skeyid_d: PrfOutput,
    /// Authenticates ISAKMP messages (HASH payloads).
    pub skeyid_a: PrfOutput,
    /// Source of the ISAKMP encryption key.
    pub skeyid_e: PrfOutput,
}

impl fmt::Debug for Phase1Keys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Phase1Keys")
            .field("len", &self.skeyid_d.len())
            .finish_non_exhaustive()
    }
}

impl Phase1Keys {
    /// `SKEYID_d = prf(SKEYID, g^xy | CKY-I | CKY-R | 0)`,
    /// `SKEYID_a = prf(SKEYID, SKEYID_d | g^xy | CKY-I | CKY-R | 1)`,
    /// `SKEYID_e = prf(SKEYID, SKEYID_a | g^xy | CKY-I | CKY-R | 2)`.
    pub fn derive(
        prf: &'static PrfAlg,
        skeyid: &[u8],
        g_xy: &[u8],
        cky_i: &[u8; 8],
        cky_r: &[u8; 8],
    ) -> Result<Self, CryptoError> {
        let key = prf.key(skeyid)?;
        let skeyid_d = key.compute(&[g_xy, cky_i, cky_r, &[0]])?;
        let skeyid_a = key.compute(&[&skeyid_d, g_xy, cky_i, cky_r, &[1]])?;
        let skeyid_e = key.compute(&[&skeyid_a, g_xy, cky_i, cky_r, &[2]])?;
        Ok(Self {
            skeyid_d,
            skeyid_a,
            skeyid_e,
        })
    }
}

/// The ISAKMP encryption key from SKEYID_e (RFC 2409 appendix B): its first bytes if
/// it is long enough, else `K1 | K2 | ...` with `K1 = prf(SKEYID_e, 0)` and
/// `Kn = prf(SKEYID_e, Kn-1)`, truncated.
pub fn encryption_key(
    prf: &'static PrfAlg,
    skeyid_e: &[u8],
    key_len: usize,
) -> Result<SecretBytes, CryptoError> {
    if skeyid_e.len() >= key_len {
        return Ok(SecretBytes::from_slice(&skeyid_e[..key_len]));
    }
    let key = prf.key(skeyid_e)?;
    let mut out = SecretBytes::zeroed(key_len);
    let mut prev = key.compute(&[&[0]])?;
    let mut filled = 0;
    loop {
        let n = prev.len().min(key_len - filled);
        out.as_mut_slice()[filled..filled + n].copy_from_slice(&prev[..n]);
        filled += n;
        if filled == key_len {
            return Ok(out);
        }
        prev = key.compute(&[&prev])?;
    }
}

/// Quick Mode KEYMAT for one SPI (RFC 2409 section 5.5): `K1 = prf(SKEYID_d,
/// [g(qm)^xy |] protocol | SPI | Ni_b | Nr_b)`, `Kn = prf(SKEYID_d, Kn-1 | [g(qm)^xy |]
/// protocol | SPI | Ni_b | Nr_b)`, concatenated and truncated to `len`. The SA is
/// given as (protocol id, SPI as sent).
pub fn quick_mode_keymat(
    prf: &'static PrfAlg,
    skeyid_d: &[u8],
    pfs_g_xy: Option<&[u8]>,
    (protocol, spi): (u8, &[u8; 4]),
    ni_b: &[u8],
    nr_b: &[u8],
    len: usize,
) -> Result<SecretBytes, CryptoError> {
    let key = prf.key(skeyid_d)?;
    let g = pfs_g_xy.unwrap_or(&[]);
    let proto = [protocol];
    let mut out = SecretBytes::zeroed(len);
    let mut prev = PrfOutput::from_slice(&[]);
    let mut filled = 0;
    while filled < len {
        prev = key.compute(&[&prev, g, &proto, spi, ni_b, nr_b])?;
        let n = prev.len().min(len - filled);
        out.as_mut_slice()[filled..filled + n].copy_from_slice(&prev[..n]);
        filled += n;
    }
    Ok(out)
}

/// Main Mode / Aggressive Mode `HASH_I = prf(SKEYID, g^xi | g^xr | CKY-I | CKY-R |
/// SAi_b | IDii_b)` (RFC 2409 section 5), where `SAi_b` is the initiator's SA payload
/// body and `IDii_b` the initiator's ID payload body (both without generic headers).
pub fn hash_i(
    prf: &'static PrfAlg,
    skeyid: &[u8],
    (g_xi, g_xr): (&[u8], &[u8]),
    (cky_i, cky_r): (&[u8; 8], &[u8; 8]),
    sai_b: &[u8],
    idii_b: &[u8],
) -> Result<PrfOutput, CryptoError> {
    prf.compute(skeyid, &[g_xi, g_xr, cky_i, cky_r, sai_b, idii_b])
}

/// `HASH_R = prf(SKEYID, g^xr | g^xi | CKY-R | CKY-I | SAi_b | IDir_b)`.
pub fn hash_r(
    prf: &'static PrfAlg,
    skeyid: &[u8],
    (g_xi, g_xr): (&[u8], &[u8]),
    (cky_i, cky_r): (&[u8; 8], &[u8; 8]),
    sai_b: &[u8],
    idir_b: &[u8],
) -> Result<PrfOutput, CryptoError> {
    prf.compute(skeyid, &[g_xr, g_xi, cky_r, cky_i, sai_b, idir_b])
}

/// Quick Mode `HASH(1) = prf(SKEYID_a, M-ID | <message after HASH(1)>)`; the same
/// form authenticates Informational messages (RFC 2409 sections 5.5 and 5.7).
pub fn qm_hash1(
    prf: &'static PrfAlg,
    skeyid_a: &[u8],
    message_id: u32,
    rest_of_message: &[u8],
) -> Result<PrfOutput, CryptoError> {
    prf.compute(skeyid_a, &[&message_id.to_be_bytes(), rest_of_message])
}

/// Quick Mode `HASH(2) = prf(SKEYID_a, M-ID | Ni_b | <message after HASH(2)>)`.
pub fn qm_hash2(
    prf: &'static PrfAlg,
    skeyid_a: &[u8],
    message_id: u32,
    ni_b: &[u8],
    rest_of_message: &[u8],
) -> Result<PrfOutput, CryptoError> {
    prf.compute(
        skeyid_a,
        &[&message_id.to_be_bytes(), ni_b, rest_of_message],
    )
}

/// Quick Mode `HASH(3) = prf(SKEYID_a, 0 | M-ID | Ni_b | Nr_b)`.
pub fn qm_hash3(
    prf: &'static PrfAlg,
    skeyid_a: &[u8],
    message_id: u32,
    ni_b: &[u8],
    nr_b: &[u8],
) -> Result<PrfOutput, CryptoError> {
    prf.compute(skeyid_a, &[&[0], &message_id.to_be_bytes(), ni_b, nr_b])
}

/// NAT-D payload data (RFC 3947 section 3.2): `HASH(CKY-I | CKY-R | IP | Port)` with
/// the negotiated hash; the IP is 4 or 16 bytes in network order.
pub fn nat_d(
    prf: &'static PrfAlg,
    cky_i: &[u8; 8],
    cky_r: &[u8; 8],
    ip: std::net::IpAddr,
    port: u16,
) -> Result<digest::Digest, CryptoError> {
    let mut ctx = digest::Context::new(hash_alg(prf)?);
    ctx.update(cky_i);
    ctx.update(cky_r);
    match ip {
        std::net::IpAddr::V4(a) => ctx.update(&a.octets()),
        std::net::IpAddr::V6(a) => ctx.update(&a.octets()),
    }
    ctx.update(&port.to_be_bytes());
    Ok(ctx.finish())
}

fn hash_alg(prf: &PrfAlg) -> Result<&'static digest::Algorithm, CryptoError> {
    match prf.kind {
        MacKind::Hmac(h) => Ok(h.digest_algorithm()),
        _ => Err(CryptoError::InvalidCombination(
            "IKEv1 needs an HMAC-based PRF (a hash)",
        )),
    }
}

/// A CBC IV (block size 8 or 16), updated as messages chain.
#[derive(Clone, PartialEq, Eq)]
pub struct Iv {
    buf: [u8; 16],
    len: usize,
}

impl Iv {
    fn from_hash(h: &[u8], len: usize) -> Result<Self, CryptoError> {
        if h.len() < len || len > 16 {
            return Err(CryptoError::InvalidCombination(
                "hash shorter than the cipher block",
            ));
        }
        let mut buf = [0u8; 16];
        buf[..len].copy_from_slice(&h[..len]);
        Ok(Self { buf, len })
    }

    /// The IV bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl fmt::Debug for Iv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Iv({} bytes)", self.len)
    }
}

/// Phase 1 IV: `hash(g^xi | g^xr)` truncated to the cipher block (RFC 2409 appendix B).
pub fn phase1_iv(
    prf: &'static PrfAlg,
    g_xi: &[u8],
    g_xr: &[u8],
    block_len: usize,
) -> Result<Iv, CryptoError> {
    let mut ctx = digest::Context::new(hash_alg(prf)?);
    ctx.update(g_xi);
    ctx.update(g_xr);
    Iv::from_hash(ctx.finish().as_ref(), block_len)
}

/// Quick Mode / Informational IV: `hash(last phase 1 CBC block | M-ID)`.
pub fn phase2_iv(
    prf: &'static PrfAlg,
    phase1_last_block: &Iv,
    message_id: u32,
) -> Result<Iv, CryptoError> {
    let mut ctx = digest::Context::new(hash_alg(prf)?);
    ctx.update(phase1_last_block.as_bytes());
    ctx.update(&message_id.to_be_bytes());
    Iv::from_hash(ctx.finish().as_ref(), phase1_last_block.len)
}

/// An IKEv1 CBC cipher (AES-CBC or 3DES-CBC) with IV chaining: each call starts from
/// the IV it is given and leaves it set to the last ciphertext block, which is the IV
/// of the next message in the same direction of the exchange.
pub struct V1Cipher {
    key: CipherKey,
}

impl fmt::Debug for V1Cipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("V1Cipher")
            .field("alg", &self.key.alg().name)
            .finish()
    }
}

impl V1Cipher {
    /// A CBC cipher keyed with `key` (e.g. from [`encryption_key`]).
    pub fn new(alg: &'static EncrAlg, key: &[u8]) -> Result<Self, CryptoError> {
        if !matches!(alg.kind, CipherKind::AesCbc | CipherKind::TripleDesCbc) {
            return Err(CryptoError::InvalidCombination(
                "IKEv1 encryption is CBC only",
            ));
        }
        Ok(Self { key: alg.key(key)? })
    }

    /// Block size (and IV length).
    pub fn block_len(&self) -> usize {
        self.key.alg().block_len
    }

    /// Zero padding that makes `len` a whole number of blocks (RFC 2408 section 3.1:
    /// the message is padded to the block size before encryption).
    pub fn padded_len(&self, len: usize) -> usize {
        len.div_ceil(self.block_len()) * self.block_len()
    }

    fn check(&self, iv: &Iv, data: &[u8]) -> Result<(), CryptoError> {
        if iv.len != self.block_len() {
            return Err(CryptoError::InvalidCombination(
                "IV length differs from the cipher block",
            ));
        }
        if data.is_empty() || !data.len().is_multiple_of(self.block_len()) {
            return Err(CryptoError::Malformed(
                "IKEv1 encrypted data is not a whole number of blocks",
            ));
        }
        Ok(())
    }

    /// Encrypts whole blocks in place and advances `iv`.
    pub fn encrypt(&self, iv: &mut Iv, data: &mut [u8]) -> Result<(), CryptoError> {
        self.check(iv, data)?;
        self.key.cbc_encrypt(iv.as_bytes(), data)?;
        let last = &data[data.len() - iv.len..];
        iv.buf[..iv.len].copy_from_slice(last);
        Ok(())
    }

    /// Decrypts whole blocks in place and advances `iv` to the last ciphertext block.
    pub fn decrypt(&self, iv: &mut Iv, data: &mut [u8]) -> Result<(), CryptoError> {
        self.check(iv, data)?;
        let mut next = [0u8; 16];
        next[..iv.len].copy_from_slice(&data[data.len() - iv.len..]);
        self.key.cbc_decrypt(iv.as_bytes(), data)?;
        iv.buf = next;
        Ok(())
    }
}

// PrfOutput is bounded by the largest hash; keep the IKEv1 helpers honest about it.
const _: () = assert!(MAX_PRF_OUTPUT >= 64);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::{encr, prf};

    #[test]
    fn skeyid_definitions() {
        let p = &prf::HMAC_SHA1;
        assert_eq!(
            skeyid_psk(p, b"psk", b"Ni", b"Nr").unwrap(),
            p.compute(b"psk", &[b"NiNr"]).unwrap()
        );
        assert_eq!(
            skeyid_sig(p, b"Ni", b"Nr", b"gxy").unwrap(),
            p.compute(b"NiNr", &[b"gxy"]).unwrap()
        );
        let k = Phase1Keys::derive(p, b"skeyid", b"gxy", b"CKY-I...", b"CKY-R...").unwrap();
        let d = p.compute(b"skeyid", &[b"gxyCKY-I...CKY-R...\x00"]).unwrap();
        assert_eq!(k.skeyid_d, d);
        let a = p
            .compute(b"skeyid", &[&d, b"gxyCKY-I...CKY-R...\x01"])
            .unwrap();
        assert_eq!(k.skeyid_a, a);
        let e = p
            .compute(b"skeyid", &[&a, b"gxyCKY-I...CKY-R...\x02"])
            .unwrap();
        assert_eq!(k.skeyid_e, e);
    }

    #[test]
    fn phase1_and_quick_mode_hashes() {
        let p = &prf::HMAC_SHA2_256;
        let (ci, cr) = (b"CKY-I...", b"CKY-R...");
        let hi = hash_i(p, b"skeyid", (b"gxi", b"gxr"), (ci, cr), b"SA", b"IDii").unwrap();
        assert_eq!(
            hi,
            p.compute(b"skeyid", &[b"gxigxrCKY-I...CKY-R...SAIDii"])
                .unwrap()
        );
        let hr = hash_r(p, b"skeyid", (b"gxi", b"gxr"), (ci, cr), b"SA", b"IDir").unwrap();
        assert_eq!(
            hr,
            p.compute(b"skeyid", &[b"gxrgxiCKY-R...CKY-I...SAIDir"])
                .unwrap()
        );
        let id = 0x0102_0304;
        assert_eq!(
            qm_hash1(p, b"a", id, b"SA Ni").unwrap(),
            p.compute(b"a", &[b"\x01\x02\x03\x04SA Ni"]).unwrap()
        );
        assert_eq!(
            qm_hash2(p, b"a", id, b"Ni", b"SA Nr").unwrap(),
            p.compute(b"a", &[b"\x01\x02\x03\x04NiSA Nr"]).unwrap()
        );
        assert_eq!(
            qm_hash3(p, b"a", id, b"Ni", b"Nr").unwrap(),
            p.compute(b"a", &[b"\x00\x01\x02\x03\x04NiNr"]).unwrap()
        );
    }

    #[test]
    fn nat_d_hashes_cookies_address_and_port() {
        let p = &prf::HMAC_SHA1;
        let ip: std::net::IpAddr = "192.0.2.1".parse().unwrap();
        let d = nat_d(p, b"CKY-I...", b"CKY-R...", ip, 500).unwrap();
        let mut input = b"CKY-I...CKY-R...".to_vec();
        input.extend_from_slice(&[192, 0, 2, 1, 0x01, 0xf4]);
        let expected = digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, &input);
        assert_eq!(d.as_ref(), expected.as_ref());
        assert!(nat_d(&prf::AES128_XCBC, b"CKY-I...", b"CKY-R...", ip, 500).is_err());
    }

    #[test]
    fn encryption_key_expansion() {
        let p = &prf::HMAC_SHA1;
        let e = [7u8; 20];
        assert_eq!(&*encryption_key(p, &e, 16).unwrap(), &e[..16]);
        let k = encryption_key(p, &e, 32).unwrap();
        let k1 = p.compute(&e, &[&[0]]).unwrap();
        let k2 = p.compute(&e, &[&k1]).unwrap();
        assert_eq!(&k[..20], &k1[..]);
        assert_eq!(&k[20..], &k2[..12]);
    }

    #[test]
    fn quick_mode_keymat_expansion() {
        let p = &prf::HMAC_SHA2_256;
        for pfs in [None, Some(&b"gqmxy"[..])] {
            let km = quick_mode_keymat(p, b"skeyid_d", pfs, (3, &[1, 2, 3, 4]), b"Ni", b"Nr", 80)
                .unwrap();
            let g = pfs.unwrap_or(&[]);
            let k1 = p
                .compute(b"skeyid_d", &[g, &[3, 1, 2, 3, 4], b"NiNr"])
                .unwrap();
            let k2 = p
                .compute(b"skeyid_d", &[&k1, g, &[3, 1, 2, 3, 4], b"NiNr"])
                .unwrap();
            let k3 = p
                .compute(b"skeyid_d", &[&k2, g, &[3, 1, 2, 3, 4], b"NiNr"])
                .unwrap();
            assert_eq!(&km[..32], &k1[..]);
            assert_eq!(&km[32..64], &k2[..]);
            assert_eq!(&km[64..], &k3[..16]);
        }
    }

    #[test]
    fn cbc_chaining_matches_one_long_encryption() {
        let p = &prf::HMAC_SHA1;
        for (alg, key_len) in [(&encr::AES_CBC_128, 16), (&encr::TRIPLE_DES_CBC, 24)] {
            let key: Vec<u8> = (0..key_len as u8)
                .map(|i| i.wrapping_mul(37).wrapping_add(1))
                .collect();
            let c = V1Cipher::new(alg, &key).unwrap();
            let iv0 = phase1_iv(p, b"g^xi", b"g^xr", c.block_len()).unwrap();
            let msg: Vec<u8> = (0..4 * c.block_len() as u8).collect();
            // One 4-block encryption equals two chained 2-block ones.
            let mut whole = msg.clone();
            let mut iv = iv0.clone();
            c.encrypt(&mut iv, &mut whole).unwrap();
            let mut parts = msg.clone();
            let (a, b) = parts.split_at_mut(2 * c.block_len());
            let mut iv2 = iv0.clone();
            c.encrypt(&mut iv2, a).unwrap();
            c.encrypt(&mut iv2, b).unwrap();
            assert_eq!(parts, whole, "{}", alg.name);
            assert_eq!(iv, iv2);
            let mut div = iv0.clone();
            c.decrypt(&mut div, &mut whole).unwrap();
            assert_eq!(whole, msg);
            assert_eq!(div, iv);
            assert!(c.decrypt(&mut div, &mut [0u8; 7]).is_err());
            let p2 = phase2_iv(p, &iv, 0x01020304).unwrap();
            assert_eq!(p2.as_bytes().len(), c.block_len());
        }
        assert!(V1Cipher::new(&encr::AES_GCM_16_128, &[0; 20]).is_err());
    }
}
