//! IKEv2 key derivation (RFC 7296 sections 2.13, 2.14, 2.17, 2.18; RFC 9370 for
//! additional key exchanges) and the shared-key AUTH payload (section 2.15).

use core::fmt;

use super::encr::{EncrAlg, SkCipher};
use super::integ::IntegAlg;
use super::prf::{PrfAlg, PrfKey, PrfOutput, MAX_PRF_OUTPUT};
use super::{CryptoError, SecretBytes};

/// Which end of the IKE SA we are (the original initiator keeps the role across
/// rekeys for key selection purposes of the SA it belongs to).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The original initiator of the SA.
    Initiator,
    /// The original responder.
    Responder,
}

/// The negotiated transforms of an IKE SA.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct IkeSuite {
    /// Encryption (with key size).
    pub encr: &'static EncrAlg,
    /// PRF.
    pub prf: &'static PrfAlg,
    /// Integrity; `None` exactly when `encr` is AEAD.
    pub integ: Option<&'static IntegAlg>,
}

impl IkeSuite {
    fn integ_key_len(&self) -> usize {
        self.integ.map_or(0, |i| i.key_len)
    }
}

/// `prf+(K, S)` of RFC 7296 section 2.13 written into `out`:
/// `T1 = prf(K, S | 0x01)`, `Tn = prf(K, Tn-1 | S | n)`, at most 255 blocks.
pub fn prf_plus(key: &PrfKey, seed: &[&[u8]], out: &mut [u8]) -> Result<(), CryptoError> {
    let block = key.alg().output_len;
    if out.len() > 255 * block {
        return Err(CryptoError::PrfPlusTooLong {
            requested: out.len(),
            block,
        });
    }
    const MAX_PARTS: usize = 16;
    if seed.len() > MAX_PARTS - 2 {
        return Err(CryptoError::InvalidCombination(
            "prf+ seed has too many parts",
        ));
    }
    let mut prev = PrfOutput::from_slice(&[]);
    for (i, chunk) in out.chunks_mut(block).enumerate() {
        // i < 255 by the length check above.
        let counter = [(i + 1) as u8];
        // Parts of one PRF call: previous T (empty for T1), each seed part, the counter.
        let mut parts: [&[u8]; MAX_PARTS] = [&[]; MAX_PARTS];
        parts[0] = &prev;
        parts[1..=seed.len()].copy_from_slice(seed);
        parts[seed.len() + 1] = &counter;
        let t = key.compute(&parts[..seed.len() + 2])?;
        chunk.copy_from_slice(&t[..chunk.len()]);
        prev = t;
    }
    Ok(())
}

/// Keys `prf` with `Ni | Nr`, applying RFC 7296 section 2.14's rule for PRFs with a
/// fixed key length (AES-XCBC, AES-CMAC): half the key from the start of each nonce.
pub fn nonce_key(prf: &'static PrfAlg, ni: &[u8], nr: &[u8]) -> Result<PrfKey, CryptoError> {
    if prf.fixed_key {
        let half = prf.key_len / 2;
        if ni.len() < half || nr.len() < half {
            return Err(CryptoError::Malformed(
                "nonce shorter than half the PRF key",
            ));
        }
        let mut key = [0u8; MAX_PRF_OUTPUT];
        key[..half].copy_from_slice(&ni[..half]);
        key[half..2 * half].copy_from_slice(&nr[..half]);
        let k = prf.key(&key[..2 * half]);
        zeroize::Zeroize::zeroize(&mut key);
        k
    } else {
        let mut key = SecretBytes::zeroed(ni.len() + nr.len());
        key.as_mut_slice()[..ni.len()].copy_from_slice(ni);
        key.as_mut_slice()[ni.len()..].copy_from_slice(nr);
        prf.key(&key)
    }
}

/// `SKEYSEED = prf(Ni | Nr, g^ir)` for IKE_SA_INIT (section 2.14).
pub fn skeyseed(
    prf: &'static PrfAlg,
    ni: &[u8],
    nr: &[u8],
    g_ir: &[u8],
) -> Result<PrfOutput, CryptoError> {
    nonce_key(prf, ni, nr)?.compute(&[g_ir])
}

/// `SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr)` for an IKE SA rekey (section
/// 2.18), with `prf` the PRF of the *old* SA. With RFC 9370 additional key exchanges,
/// `shared` holds every new shared secret in order (`SK(0) | ... | SK(n)`); for an
/// IKE_INTERMEDIATE exchange (RFC 9370 section 2.2.2) pass the single new secret and
/// the previous SK_d.
pub fn skeyseed_rekey(
    prf: &'static PrfAlg,
    old_sk_d: &[u8],
    shared: &[&[u8]],
    ni: &[u8],
    nr: &[u8],
) -> Result<PrfOutput, CryptoError> {
    let key = prf.key(old_sk_d)?;
    let mut parts: [&[u8]; 10] = [&[]; 10];
    if shared.len() > 8 {
        return Err(CryptoError::InvalidCombination(
            "more than 7 additional key exchanges",
        ));
    }
    parts[..shared.len()].copy_from_slice(shared);
    parts[shared.len()] = ni;
    parts[shared.len() + 1] = nr;
    key.compute(&parts[..shared.len() + 2])
}

/// The seven IKE SA keys, in one zeroized buffer; after
/// [`retain_sk_d`](IkeSaKeys::retain_sk_d) only SK_d.
pub struct IkeSaKeys {
    buf: SecretBytes,
    /// Key lengths in octets; each is at most 64 (kept for the life of every IKE
    /// SA, so as small as they can be).
    prf_len: u8,
    integ_len: u8,
    encr_len: u8,
    /// Only SK_d is left: the other keys read as empty.
    sk_d_only: bool,
}

impl fmt::Debug for IkeSaKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IkeSaKeys")
            .field("sk_d/pi/pr", &self.prf_len)
            .field("sk_ai/ar", &self.integ_len)
            .field("sk_ei/er", &self.encr_len)
            .finish()
    }
}

impl IkeSaKeys {
    /// `{SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr} =
    /// prf+(SKEYSEED, Ni | Nr | SPIi | SPIr)`, with lengths from the suite: SK_d, SK_pi,
    /// SK_pr the PRF key length; SK_a* the integrity key length (none for AEAD);
    /// SK_e* the cipher key plus salt (RFC 5282 section 7.1, RFC 7634 section 4).
    pub fn derive(
        suite: &IkeSuite,
        skeyseed: &[u8],
        ni: &[u8],
        nr: &[u8],
        spi_i: &[u8; 8],
        spi_r: &[u8; 8],
    ) -> Result<Self, CryptoError> {
        let prf_len = suite.prf.key_len;
        let integ_len = suite.integ_key_len();
        let encr_len = suite.encr.keymat_len();
        let mut buf = SecretBytes::zeroed(3 * prf_len + 2 * integ_len + 2 * encr_len);
        let key = suite.prf.key(skeyseed)?;
        prf_plus(&key, &[ni, nr, spi_i, spi_r], buf.as_mut_slice())?;
        let short = |n: usize| {
            u8::try_from(n)
                .map_err(|_| CryptoError::InvalidCombination("IKE SA key over 255 octets"))
        };
        Ok(Self {
            buf,
            prf_len: short(prf_len)?,
            integ_len: short(integ_len)?,
            encr_len: short(encr_len)?,
            sk_d_only: false,
        })
    }

    /// Drops every key but SK_d (zeroized), for an IKE SA past IKE_AUTH: SK_p
    /// authenticated the handshake, SK_e/SK_a live on in the [`SkCipher`]s built by
    /// [`sk_ciphers`](Self::sk_ciphers), and only SK_d keys Child SAs and rekeys
    /// from then on. Afterwards the other accessors return empty slices and
    /// `sk_ciphers` fails.
    pub fn retain_sk_d(&mut self) {
        if !self.sk_d_only {
            self.buf = SecretBytes::from_slice(self.sk_d());
            self.sk_d_only = true;
        }
    }

    fn slice(&self, index: usize) -> &[u8] {
        if self.sk_d_only {
            return if index == 0 { &self.buf } else { &[] };
        }
        let lens = [
            self.prf_len,
            self.integ_len,
            self.integ_len,
            self.encr_len,
            self.encr_len,
            self.prf_len,
            self.prf_len,
        ]
        .map(usize::from);
        let start: usize = lens[..index].iter().sum();
        &self.buf[start..start + lens[index]]
    }

    /// SK_d: keys Child SAs and rekeys.
    pub fn sk_d(&self) -> &[u8] {
        self.slice(0)
    }
    /// SK_ai: integrity of initiator-sent messages (empty with AEAD).
    pub fn sk_ai(&self) -> &[u8] {
        self.slice(1)
    }
    /// SK_ar: integrity of responder-sent messages.
    pub fn sk_ar(&self) -> &[u8] {
        self.slice(2)
    }
    /// SK_ei: encryption (key | salt) of initiator-sent messages.
    pub fn sk_ei(&self) -> &[u8] {
        self.slice(3)
    }
    /// SK_er: encryption of responder-sent messages.
    pub fn sk_er(&self) -> &[u8] {
        self.slice(4)
    }
    /// SK_pi: for the initiator's AUTH payload.
    pub fn sk_pi(&self) -> &[u8] {
        self.slice(5)
    }
    /// SK_pr: for the responder's AUTH payload.
    pub fn sk_pr(&self) -> &[u8] {
        self.slice(6)
    }

    /// The SK protection for the messages we send and for those we receive.
    pub fn sk_ciphers(
        &self,
        suite: &IkeSuite,
        role: Role,
    ) -> Result<(SkCipher, SkCipher), CryptoError> {
        if self.sk_d_only {
            return Err(CryptoError::InvalidCombination(
                "SK_e/SK_a were already dropped",
            ));
        }
        let build = |e: &[u8], a: &[u8]| SkCipher::new(suite.encr, e, suite.integ.map(|i| (i, a)));
        let initiator = build(self.sk_ei(), self.sk_ai())?;
        let responder = build(self.sk_er(), self.sk_ar())?;
        Ok(match role {
            Role::Initiator => (initiator, responder),
            Role::Responder => (responder, initiator),
        })
    }
}

/// Child SA keying material (section 2.17): `KEYMAT = prf+(SK_d, [g^ir (new) |] Ni |
/// Nr)`, taken as initiator-to-responder encryption key, integrity key, then
/// responder-to-initiator encryption key, integrity key.
pub struct ChildSaKeys {
    buf: SecretBytes,
    encr_len: usize,
    integ_len: usize,
}

impl fmt::Debug for ChildSaKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChildSaKeys")
            .field("encr_len", &self.encr_len)
            .field("integ_len", &self.integ_len)
            .finish()
    }
}

impl ChildSaKeys {
    /// Derives Child SA keys. `pfs_shared` is empty without PFS, otherwise the new
    /// shared secret(s) in order (several with RFC 9370 additional key exchanges).
    /// `encr_keymat_len` is the cipher key + salt length (e.g.
    /// [`EncrAlg::keymat_len`]), `integ_key_len` 0 for AEAD.
    pub fn derive(
        prf: &'static PrfAlg,
        sk_d: &[u8],
        pfs_shared: &[&[u8]],
        ni: &[u8],
        nr: &[u8],
        encr_keymat_len: usize,
        integ_key_len: usize,
    ) -> Result<Self, CryptoError> {
        let mut parts: [&[u8]; 10] = [&[]; 10];
        if pfs_shared.len() > 8 {
            return Err(CryptoError::InvalidCombination(
                "more than 7 additional key exchanges",
            ));
        }
        parts[..pfs_shared.len()].copy_from_slice(pfs_shared);
        parts[pfs_shared.len()] = ni;
        parts[pfs_shared.len() + 1] = nr;
        let mut buf = SecretBytes::zeroed(2 * (encr_keymat_len + integ_key_len));
        prf_plus(
            &prf.key(sk_d)?,
            &parts[..pfs_shared.len() + 2],
            buf.as_mut_slice(),
        )?;
        Ok(Self {
            buf,
            encr_len: encr_keymat_len,
            integ_len: integ_key_len,
        })
    }

    /// (encryption key, integrity key) for initiator-to-responder traffic.
    pub fn initiator_to_responder(&self) -> (&[u8], &[u8]) {
        let (e, rest) = self.buf.split_at(self.encr_len);
        (e, &rest[..self.integ_len])
    }

    /// (encryption key, integrity key) for responder-to-initiator traffic.
    pub fn responder_to_initiator(&self) -> (&[u8], &[u8]) {
        let rest = &self.buf[self.encr_len + self.integ_len..];
        let (e, rest) = rest.split_at(self.encr_len);
        (e, &rest[..self.integ_len])
    }
}

/// NAT_DETECTION_SOURCE_IP / _DESTINATION_IP data (RFC 7296 section 2.23):
/// `SHA-1(SPIi | SPIr | IP | Port)`, independent of the negotiated PRF. The responder
/// SPI is zero in the IKE_SA_INIT request.
pub fn nat_detection_hash(
    spi_i: &[u8; 8],
    spi_r: &[u8; 8],
    ip: std::net::IpAddr,
    port: u16,
) -> [u8; 20] {
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY);
    ctx.update(spi_i);
    ctx.update(spi_r);
    match ip {
        std::net::IpAddr::V4(a) => ctx.update(&a.octets()),
        std::net::IpAddr::V6(a) => ctx.update(&a.octets()),
    }
    ctx.update(&port.to_be_bytes());
    let mut out = [0u8; 20];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

/// The key pad of RFC 7296 section 2.15.
pub const KEY_PAD: &[u8] = b"Key Pad for IKEv2";

/// `MACedIDForI = prf(SK_pi, RestOfInitIDPayload)` (or with SK_pr for the
/// responder), where the ID payload body starts at the ID Type octet.
pub fn maced_id(
    prf: &'static PrfAlg,
    sk_p: &[u8],
    id_payload_body: &[u8],
) -> Result<PrfOutput, CryptoError> {
    prf.compute(sk_p, &[id_payload_body])
}

/// The signed octets of section 2.15: `RealMessage | NonceOfPeer | MACedID`,
/// allocated (signature methods need them contiguous).
pub fn signed_octets(real_message: &[u8], peer_nonce: &[u8], maced_id: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(real_message.len() + peer_nonce.len() + maced_id.len());
    v.extend_from_slice(real_message);
    v.extend_from_slice(peer_nonce);
    v.extend_from_slice(maced_id);
    v
}

/// Shared-key AUTH data: `prf(prf(Shared Secret, "Key Pad for IKEv2"), <SignedOctets>)`,
/// computed over the signed octets in place (no concatenation).
pub fn psk_auth(
    prf: &'static PrfAlg,
    shared_secret: &[u8],
    real_message: &[u8],
    peer_nonce: &[u8],
    maced_id: &[u8],
) -> Result<PrfOutput, CryptoError> {
    let pad = prf.compute(shared_secret, &[KEY_PAD])?;
    prf.compute(&pad, &[real_message, peer_nonce, maced_id])
}

/// Checks a received shared-key AUTH payload in constant time.
pub fn verify_psk_auth(
    prf: &'static PrfAlg,
    shared_secret: &[u8],
    real_message: &[u8],
    peer_nonce: &[u8],
    maced_id: &[u8],
    received: &[u8],
) -> Result<(), CryptoError> {
    let expected = psk_auth(prf, shared_secret, real_message, peer_nonce, maced_id)?;
    aws_lc_rs::constant_time::verify_slices_are_equal(&expected, received)
        .map_err(|_| CryptoError::IntegrityCheckFailed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::{encr, integ, prf, rng::TestRandom};

    fn manual_prf_plus(p: &'static PrfAlg, key: &[u8], seed: &[u8], len: usize) -> Vec<u8> {
        let mut out = Vec::new();
        let mut prev: Vec<u8> = Vec::new();
        let mut n = 1u8;
        while out.len() < len {
            let mut msg = prev.clone();
            msg.extend_from_slice(seed);
            msg.push(n);
            prev = p.compute(key, &[&msg]).unwrap().to_vec();
            out.extend_from_slice(&prev);
            n += 1;
        }
        out.truncate(len);
        out
    }

    #[test]
    fn prf_plus_matches_definition() {
        for p in prf::ALL {
            let key = p.key(b"skeyseed").unwrap();
            let mut out = vec![0u8; 333];
            prf_plus(&key, &[b"Ni", b"Nr", b"SPIiSPIr"], &mut out).unwrap();
            assert_eq!(
                out,
                manual_prf_plus(p, b"skeyseed", b"NiNrSPIiSPIr", 333),
                "{}",
                p.name
            );
        }
    }

    #[test]
    fn prf_plus_limit() {
        let key = prf::AES128_XCBC.key(&[0; 16]).unwrap();
        let mut ok = vec![0u8; 255 * 16];
        prf_plus(&key, &[b"s"], &mut ok).unwrap();
        let mut too_long = vec![0u8; 255 * 16 + 1];
        assert!(matches!(
            prf_plus(&key, &[b"s"], &mut too_long),
            Err(CryptoError::PrfPlusTooLong { .. })
        ));
    }

    #[test]
    fn nonce_truncation_for_fixed_key_prfs() {
        let ni = [0x11u8; 32];
        let nr = [0x22u8; 32];
        for p in [&prf::AES128_XCBC, &prf::AES128_CMAC] {
            let mut k = [0x11u8; 16];
            k[8..].fill(0x22);
            let got = skeyseed(p, &ni, &nr, b"g^ir").unwrap();
            assert_eq!(got, p.compute(&k, &[b"g^ir"]).unwrap(), "{}", p.name);
        }
        let mut cat = ni.to_vec();
        cat.extend_from_slice(&nr);
        assert_eq!(
            skeyseed(&prf::HMAC_SHA2_256, &ni, &nr, b"g^ir").unwrap(),
            prf::HMAC_SHA2_256.compute(&cat, &[b"g^ir"]).unwrap()
        );
    }

    #[test]
    fn ike_sa_keys_layout_and_directions() {
        let suite = IkeSuite {
            encr: &encr::AES_CBC_256,
            prf: &prf::HMAC_SHA2_256,
            integ: Some(&integ::HMAC_SHA2_256_128),
        };
        let (ni, nr, si, sr) = ([1u8; 32], [2u8; 32], [3u8; 8], [4u8; 8]);
        let keys = IkeSaKeys::derive(&suite, b"seed", &ni, &nr, &si, &sr).unwrap();
        let mut seed = Vec::new();
        for s in [&ni[..], &nr, &si, &sr] {
            seed.extend_from_slice(s);
        }
        let all = manual_prf_plus(
            &prf::HMAC_SHA2_256,
            b"seed",
            &seed,
            32 * 3 + 32 * 2 + 32 * 2,
        );
        assert_eq!(keys.sk_d(), &all[..32]);
        assert_eq!(keys.sk_ai(), &all[32..64]);
        assert_eq!(keys.sk_ar(), &all[64..96]);
        assert_eq!(keys.sk_ei(), &all[96..128]);
        assert_eq!(keys.sk_er(), &all[128..160]);
        assert_eq!(keys.sk_pi(), &all[160..192]);
        assert_eq!(keys.sk_pr(), &all[192..224]);
        let mut d_only = IkeSaKeys::derive(&suite, b"seed", &ni, &nr, &si, &sr).unwrap();
        d_only.retain_sk_d();
        assert_eq!(d_only.sk_d(), &all[..32]);
        assert!(d_only.sk_pi().is_empty() && d_only.sk_ei().is_empty());
        assert!(d_only.sk_ciphers(&suite, Role::Initiator).is_err());
        let rng = TestRandom::new(9);
        let (i_out, i_in) = keys.sk_ciphers(&suite, Role::Initiator).unwrap();
        let (r_out, r_in) = keys.sk_ciphers(&suite, Role::Responder).unwrap();
        let mut m = i_out.seal(&rng, b"hdr", b"from initiator").unwrap();
        assert_eq!(r_in.open(b"hdr", &mut m).unwrap(), b"from initiator");
        let mut m = r_out.seal(&rng, b"hdr", b"from responder").unwrap();
        assert_eq!(i_in.open(b"hdr", &mut m).unwrap(), b"from responder");
        let mut m = i_out.seal(&rng, b"hdr", b"x").unwrap();
        assert!(i_in.open(b"hdr", &mut m).is_err());
    }

    #[test]
    fn aead_suite_has_salted_keys_and_no_integrity() {
        let suite = IkeSuite {
            encr: &encr::AES_GCM_16_256,
            prf: &prf::HMAC_SHA2_512,
            integ: None,
        };
        let keys =
            IkeSaKeys::derive(&suite, b"seed", &[1; 16], &[2; 16], &[3; 8], &[4; 8]).unwrap();
        assert_eq!(
            (
                keys.sk_d().len(),
                keys.sk_ai().len(),
                keys.sk_ei().len(),
                keys.sk_pr().len()
            ),
            (64, 0, 36, 64)
        );
        keys.sk_ciphers(&suite, Role::Responder).unwrap();
    }

    #[test]
    fn rekey_and_child_keymat() {
        let p = &prf::HMAC_SHA2_256;
        let got = skeyseed_rekey(p, b"old sk_d", &[b"g^ir new"], b"Ni", b"Nr").unwrap();
        assert_eq!(got, p.compute(b"old sk_d", &[b"g^ir newNiNr"]).unwrap());
        let no_pfs = ChildSaKeys::derive(p, b"sk_d", &[], b"Ni", b"Nr", 20, 32).unwrap();
        let all = manual_prf_plus(p, b"sk_d", b"NiNr", 104);
        assert_eq!(no_pfs.initiator_to_responder(), (&all[..20], &all[20..52]));
        assert_eq!(
            no_pfs.responder_to_initiator(),
            (&all[52..72], &all[72..104])
        );
        let pfs = ChildSaKeys::derive(p, b"sk_d", &[b"g^ir"], b"Ni", b"Nr", 36, 0).unwrap();
        let all = manual_prf_plus(p, b"sk_d", b"g^irNiNr", 72);
        assert_eq!(pfs.initiator_to_responder(), (&all[..36], &[][..]));
        assert_eq!(pfs.responder_to_initiator(), (&all[36..72], &[][..]));
    }

    #[test]
    fn nat_detection_hash_definition() {
        let ip: std::net::IpAddr = "2001:db8::1".parse().unwrap();
        let got = nat_detection_hash(&[1; 8], &[0; 8], ip, 4500);
        let mut input = vec![1u8; 8];
        input.extend_from_slice(&[0; 8]);
        input.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        input.extend_from_slice(&4500u16.to_be_bytes());
        let want = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, &input);
        assert_eq!(&got[..], want.as_ref());
    }

    #[test]
    fn psk_auth_definition() {
        let p = &prf::HMAC_SHA2_256;
        let maced = maced_id(p, b"sk_pi", &[2, 0, 0, 0, b'a']).unwrap();
        let auth = psk_auth(p, b"secret", b"message1", b"Nr", &maced).unwrap();
        let pad = p.compute(b"secret", &[b"Key Pad for IKEv2"]).unwrap();
        let octets = signed_octets(b"message1", b"Nr", &maced);
        assert_eq!(auth, p.compute(&pad, &[&octets]).unwrap());
        verify_psk_auth(p, b"secret", b"message1", b"Nr", &maced, &auth).unwrap();
        assert_eq!(
            verify_psk_auth(p, b"secreT", b"message1", b"Nr", &maced, &auth),
            Err(CryptoError::IntegrityCheckFailed)
        );
    }
}
