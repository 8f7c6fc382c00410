//! Key exchange methods (IKEv2 transform type 4 and the ADDKE types of RFC 9370):
//! MODP groups (RFC 2409, RFC 3526), NIST ECP groups (RFC 5903), Curve25519 and
//! Curve448 (RFC 8031), and ML-KEM-512/768/1024 as key encapsulation.
//!
//! One interface covers Diffie-Hellman and KEMs. The initiator calls
//! [`KeAlg::initiate`], sends [`KeyExchange::public_value`] and feeds the responder's
//! KE data to [`KeyExchange::complete`]. The responder calls [`KeAlg::respond`] with
//! the initiator's KE data and gets its own KE data plus the shared secret. For DH the
//! responder's data is its public value; for a KEM it is the ciphertext.

use core::cmp::Ordering;
use core::fmt;
use std::sync::{Arc, OnceLock};

use aws_lc_rs::{agreement, kem};
use zeroize::Zeroizing;

use super::ffi::{ModpCtx, ModpPrime};
use super::rng::RandomSource;
use super::{CryptoError, SecretBytes};
use crate::registry::KeId;

/// The shared secret of a key exchange (g^ir, or the KEM shared secret).
pub type SharedSecret = SecretBytes;

#[derive(Clone, Copy, Debug, PartialEq)]
enum KeKind {
    /// Exponent length in bits: twice the group's estimated strength (RFC 3526 section
    /// 8, upper estimates), at least 256. Fixed per group so exponentiation time does
    /// not depend on the secret.
    Modp {
        prime: ModpPrime,
        exp_bits: usize,
    },
    Ecp(&'static agreement::Algorithm),
    X25519,
    X448,
    MlKem(&'static kem::Algorithm),
}

/// A key exchange method.
#[derive(Debug, PartialEq)]
pub struct KeAlg {
    /// IANA id.
    pub id: KeId,
    /// libreswan's name.
    pub name: &'static str,
    /// Length of the initiator's KE data (public value or ML-KEM encapsulation key).
    pub public_len: usize,
    /// Length of the responder's KE data (public value or ML-KEM ciphertext).
    pub response_len: usize,
    /// Length of the shared secret.
    pub shared_len: usize,
    kind: KeKind,
}

/// Defines one [`KeAlg`] static; every method below goes through here so the table
/// has one shape.
macro_rules! ke_alg {
    ($(#[$m:meta])* $name:ident, $id:ident, $text:expr, $public:expr, $response:expr,
     $shared:expr, $kind:expr) => {
        $(#[$m])*
        pub static $name: KeAlg = KeAlg {
            id: KeId::$id,
            name: $text,
            public_len: $public,
            response_len: $response,
            shared_len: $shared,
            kind: $kind,
        };
    };
}

/// A MODP group: public value, response and shared secret are all the prime's size.
macro_rules! modp {
    ($(#[$m:meta])* $name:ident, $id:ident, $text:expr, $prime:expr, $bytes:expr, $exp:expr) => {
        ke_alg!($(#[$m])* $name, $id, $text, $bytes, $bytes, $bytes,
            KeKind::Modp { prime: $prime, exp_bits: $exp });
    };
}

modp!(/// 1024-bit MODP group 2 (RFC 2409).
    MODP1024, MODP1024, "MODP1024", ModpPrime::Rfc2409_1024, 128, 256);
modp!(/// 1536-bit MODP group 5 (RFC 3526).
    MODP1536, MODP1536, "MODP1536", ModpPrime::Rfc3526(1536), 192, 256);
modp!(/// 2048-bit MODP group 14 (RFC 3526).
    MODP2048, MODP2048, "MODP2048", ModpPrime::Rfc3526(2048), 256, 320);
modp!(/// 3072-bit MODP group 15 (RFC 3526).
    MODP3072, MODP3072, "MODP3072", ModpPrime::Rfc3526(3072), 384, 420);
modp!(/// 4096-bit MODP group 16 (RFC 3526).
    MODP4096, MODP4096, "MODP4096", ModpPrime::Rfc3526(4096), 512, 480);
modp!(/// 6144-bit MODP group 17 (RFC 3526).
    MODP6144, MODP6144, "MODP6144", ModpPrime::Rfc3526(6144), 768, 540);
modp!(/// 8192-bit MODP group 18 (RFC 3526).
    MODP8192, MODP8192, "MODP8192", ModpPrime::Rfc3526(8192), 1024, 620);

ke_alg!(/// 256-bit random ECP group 19 (RFC 5903); KE data is x | y.
    ECP_256, ECP_256, "DH19", 64, 64, 32, KeKind::Ecp(&agreement::ECDH_P256));
ke_alg!(/// 384-bit random ECP group 20 (RFC 5903).
    ECP_384, ECP_384, "DH20", 96, 96, 48, KeKind::Ecp(&agreement::ECDH_P384));
ke_alg!(/// 521-bit random ECP group 21 (RFC 5903).
    ECP_521, ECP_521, "DH21", 132, 132, 66, KeKind::Ecp(&agreement::ECDH_P521));
ke_alg!(/// Curve25519, group 31 (RFC 8031).
    CURVE25519, CURVE25519, "DH31", 32, 32, 32, KeKind::X25519);
ke_alg!(/// Curve448, group 32 (RFC 8031).
    CURVE448, CURVE448, "DH32", 56, 56, 56, KeKind::X448);
ke_alg!(/// ML-KEM-512 (FIPS 203) as an additional key exchange (RFC 9370).
    ML_KEM_512, ML_KEM_512, "ML_KEM_512", 800, 768, 32, KeKind::MlKem(&kem::ML_KEM_512));
ke_alg!(/// ML-KEM-768.
    ML_KEM_768, ML_KEM_768, "ML_KEM_768", 1184, 1088, 32, KeKind::MlKem(&kem::ML_KEM_768));
ke_alg!(/// ML-KEM-1024.
    ML_KEM_1024, ML_KEM_1024, "ML_KEM_1024", 1568, 1568, 32, KeKind::MlKem(&kem::ML_KEM_1024));

/// Every implemented key exchange method.
pub static ALL: [&KeAlg; 15] = [
    &MODP1024,
    &MODP1536,
    &MODP2048,
    &MODP3072,
    &MODP4096,
    &MODP6144,
    &MODP8192,
    &ECP_256,
    &ECP_384,
    &ECP_521,
    &CURVE25519,
    &CURVE448,
    &ML_KEM_512,
    &ML_KEM_768,
    &ML_KEM_1024,
];

/// The shared, lazily built Montgomery context for a MODP prime.
fn modp_ctx(prime: ModpPrime) -> Result<&'static ModpCtx, CryptoError> {
    static CELLS: [OnceLock<ModpCtx>; 7] = [const { OnceLock::new() }; 7];
    let idx = match prime {
        ModpPrime::Rfc2409_1024 => 0,
        ModpPrime::Rfc3526(1536) => 1,
        ModpPrime::Rfc3526(2048) => 2,
        ModpPrime::Rfc3526(3072) => 3,
        ModpPrime::Rfc3526(4096) => 4,
        ModpPrime::Rfc3526(6144) => 5,
        ModpPrime::Rfc3526(_) => 6,
    };
    let cell = &CELLS[idx];
    if let Some(ctx) = cell.get() {
        return Ok(ctx);
    }
    let ctx = ModpCtx::new(prime)?;
    Ok(cell.get_or_init(|| ctx))
}

impl KeAlg {
    /// The method with IANA id `id`, if implemented.
    pub fn from_id(id: KeId) -> Option<&'static KeAlg> {
        ALL.iter().copied().find(|a| a.id == id)
    }

    /// Like [`from_id`](Self::from_id) with a typed error.
    pub fn lookup(id: KeId) -> Result<&'static KeAlg, CryptoError> {
        Self::from_id(id).ok_or(CryptoError::Unsupported {
            kind: "KE",
            id: id.0,
            key_bits: None,
        })
    }

    /// Whether this is a KEM (initiator and responder data differ in kind).
    pub fn is_kem(&self) -> bool {
        matches!(self.kind, KeKind::MlKem(_))
    }

    /// Checks the group number of a received KE payload against this negotiated
    /// method (a mismatch is answered with INVALID_KE_PAYLOAD, RFC 7296 section 1.2).
    pub fn check_group(&self, payload_group: KeId) -> Result<(), CryptoError> {
        if payload_group == self.id {
            Ok(())
        } else {
            Err(CryptoError::KeGroupMismatch {
                expected: self.id,
                got: payload_group,
            })
        }
    }

    /// Starts a key exchange as initiator: creates our secret and public value.
    ///
    /// MODP exponents and Curve25519/Curve448 scalars come from `rng`; ECP and ML-KEM
    /// keys come from aws-lc's own generator (the same system source), which does not
    /// accept an external one.
    pub fn initiate(&'static self, rng: &dyn RandomSource) -> Result<KeyExchange, CryptoError> {
        match self.kind {
            KeKind::Modp { exp_bits, .. } => {
                let mut exp = Zeroizing::new(vec![0u8; exp_bits.div_ceil(8)]);
                rng.fill(&mut exp)?;
                let top_bits = exp_bits % 8;
                if top_bits != 0 {
                    exp[0] &= (1u8 << top_bits) - 1;
                    exp[0] |= 1u8 << (top_bits - 1);
                } else {
                    exp[0] |= 0x80;
                }
                KeyExchange::from_private(self, &exp)
            }
            KeKind::Ecp(alg) => {
                let key = agreement::PrivateKey::generate(alg)
                    .map_err(|_| CryptoError::Backend("EC keygen"))?;
                KeyExchange::from_agreement_key(self, key)
            }
            KeKind::X25519 => {
                // From `rng` like X448's, so a seeded source replays a whole
                // exchange (the stateful fuzz target and the tests need that; with
                // X448 there, its pure-Rust ladder made each run 28 ms).
                let mut scalar = Zeroizing::new([0u8; 32]);
                rng.fill(scalar.as_mut_slice())?;
                KeyExchange::from_private(self, scalar.as_slice())
            }
            KeKind::X448 => {
                let mut scalar = Zeroizing::new([0u8; 56]);
                rng.fill(scalar.as_mut_slice())?;
                KeyExchange::from_private(self, scalar.as_slice())
            }
            KeKind::MlKem(alg) => {
                let dk = kem::DecapsulationKey::generate(alg)
                    .map_err(|_| CryptoError::Backend("ML-KEM keygen"))?;
                let ek = dk
                    .encapsulation_key()
                    .and_then(|ek| ek.key_bytes())
                    .map_err(|_| CryptoError::Backend("ML-KEM encapsulation key"))?;
                Ok(KeyExchange {
                    alg: self,
                    public: ek.as_ref().to_vec(),
                    private: Private::MlKem(dk),
                })
            }
        }
    }

    /// The responder's side: given the initiator's KE data, returns our KE data
    /// (public value, or KEM ciphertext) and the shared secret.
    pub fn respond(
        &'static self,
        rng: &dyn RandomSource,
        initiator_data: &[u8],
    ) -> Result<(Vec<u8>, SharedSecret), CryptoError> {
        if let KeKind::MlKem(alg) = self.kind {
            self.check_len(initiator_data, self.public_len)?;
            check_ml_kem_modulus(initiator_data)
                .map_err(|()| self.invalid("ML-KEM key coefficient not below q"))?;
            let ek = kem::EncapsulationKey::new(alg, initiator_data)
                .map_err(|_| self.invalid("not a valid ML-KEM encapsulation key"))?;
            let (ct, ss) = ek
                .encapsulate()
                .map_err(|_| CryptoError::Backend("ML-KEM encapsulate"))?;
            return Ok((ct.as_ref().to_vec(), SecretBytes::from_slice(ss.as_ref())));
        }
        let ours = self.initiate(rng)?;
        let shared = ours.complete(initiator_data)?;
        Ok((ours.public, shared))
    }

    fn check_len(&self, data: &[u8], expected: usize) -> Result<(), CryptoError> {
        if data.len() == expected {
            Ok(())
        } else {
            Err(CryptoError::PublicValueLength {
                group: self.id,
                expected,
                got: data.len(),
            })
        }
    }

    fn invalid(&self, reason: &'static str) -> CryptoError {
        CryptoError::InvalidPublicValue {
            group: self.id,
            reason,
        }
    }
}

enum Private {
    Modp(Zeroizing<Vec<u8>>),
    Agreement(agreement::PrivateKey),
    X448(Zeroizing<[u8; 56]>),
    MlKem(kem::DecapsulationKey),
    /// A value handed out again by [`KeReuse`]: the secret stays in the one shared
    /// exchange, which does the agreement.
    Reused(Arc<KeyExchange>),
}

/// Our half of a key exchange in progress.
pub struct KeyExchange {
    alg: &'static KeAlg,
    public: Vec<u8>,
    private: Private,
}

impl fmt::Debug for KeyExchange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyExchange")
            .field("alg", &self.alg.name)
            .finish_non_exhaustive()
    }
}

impl KeyExchange {
    /// A DH exchange from a known private value, for known-answer tests: the MODP
    /// exponent (big-endian), the ECP scalar (big-endian, group order length), or the
    /// X25519/X448 scalar (little-endian, RFC 7748). KEMs have no such form.
    pub fn from_private(alg: &'static KeAlg, private: &[u8]) -> Result<Self, CryptoError> {
        match alg.kind {
            KeKind::Modp { prime, .. } => {
                let ctx = modp_ctx(prime)?;
                let mut public = vec![0u8; ctx.prime().len()];
                ctx.exp(&[2], private, &mut public)?;
                Ok(Self {
                    alg,
                    public,
                    private: Private::Modp(Zeroizing::new(private.to_vec())),
                })
            }
            KeKind::Ecp(a) => {
                let key = agreement::PrivateKey::from_private_key(a, private)
                    .map_err(|_| CryptoError::KeyRejected { alg: alg.name })?;
                Self::from_agreement_key(alg, key)
            }
            KeKind::X25519 => {
                let key = agreement::PrivateKey::from_private_key(&agreement::X25519, private)
                    .map_err(|_| CryptoError::KeyRejected { alg: alg.name })?;
                Self::from_agreement_key(alg, key)
            }
            KeKind::X448 => {
                let mut scalar = Zeroizing::new([0u8; 56]);
                if private.len() != 56 {
                    return Err(CryptoError::KeyLength {
                        alg: alg.name,
                        expected: 56,
                        got: private.len(),
                    });
                }
                scalar.copy_from_slice(private);
                let secret = x448::Secret::from(*scalar);
                let public = x448::PublicKey::from(&secret).as_bytes().to_vec();
                Ok(Self {
                    alg,
                    public,
                    private: Private::X448(scalar),
                })
            }
            KeKind::MlKem(_) => Err(CryptoError::InvalidCombination(
                "ML-KEM keys cannot be imported",
            )),
        }
    }

    fn from_agreement_key(
        alg: &'static KeAlg,
        key: agreement::PrivateKey,
    ) -> Result<Self, CryptoError> {
        let public = key
            .compute_public_key()
            .map_err(|_| CryptoError::Backend("compute public key"))?;
        let bytes = public.as_ref();
        // aws-lc gives ECP points SEC1-uncompressed (0x04 | x | y); IKEv2 sends x | y.
        let public = match alg.kind {
            KeKind::Ecp(_) => match bytes.split_first() {
                Some((0x04, xy)) => xy.to_vec(),
                _ => return Err(CryptoError::Backend("unexpected EC point encoding")),
            },
            _ => bytes.to_vec(),
        };
        Ok(Self {
            alg,
            public,
            private: Private::Agreement(key),
        })
    }

    /// The method.
    pub fn alg(&self) -> &'static KeAlg {
        self.alg
    }

    /// Our KE data to send (DH public value, or ML-KEM encapsulation key).
    pub fn public_value(&self) -> &[u8] {
        &self.public
    }

    /// Finishes the exchange with the peer's KE data (its DH public value, or for a
    /// KEM the responder's ciphertext), validating it first.
    pub fn complete(&self, peer: &[u8]) -> Result<SharedSecret, CryptoError> {
        let alg = self.alg;
        alg.check_len(peer, alg.response_len)?;
        match (&self.private, alg.kind) {
            (Private::Modp(exp), KeKind::Modp { prime, .. }) => {
                let ctx = modp_ctx(prime)?;
                validate_modp(alg, ctx.prime(), peer)?;
                let mut shared = SecretBytes::zeroed(ctx.prime().len());
                ctx.exp(peer, exp, shared.as_mut_slice())?;
                Ok(shared)
            }
            (Private::Agreement(key), KeKind::Ecp(a)) => {
                // SEC1 uncompressed form for aws-lc, which checks the point is on the
                // curve (and not the point at infinity, which x | y cannot encode).
                let mut point = [0u8; 1 + 132];
                point[0] = 0x04;
                point[1..=peer.len()].copy_from_slice(peer);
                let unparsed = agreement::UnparsedPublicKey::new(a, &point[..=peer.len()]);
                agreement::agree(
                    key,
                    unparsed,
                    alg.invalid("point is not on the curve"),
                    |s| Ok(SecretBytes::from_slice(s)),
                )
            }
            (Private::Agreement(key), KeKind::X25519) => {
                let unparsed = agreement::UnparsedPublicKey::new(&agreement::X25519, peer);
                let shared = agreement::agree(
                    key,
                    unparsed,
                    alg.invalid("low-order point (all-zero shared secret)"),
                    |s| Ok(SecretBytes::from_slice(s)),
                )?;
                reject_all_zero(alg, shared)
            }
            (Private::X448(scalar), KeKind::X448) => {
                let public =
                    x448::PublicKey::from_bytes(peer).ok_or(alg.invalid("low-order point"))?;
                let secret = x448::Secret::from(**scalar);
                let shared = secret
                    .as_diffie_hellman(&public)
                    .ok_or(alg.invalid("low-order point (all-zero shared secret)"))?;
                reject_all_zero(alg, SecretBytes::from_slice(shared.as_bytes()))
            }
            (Private::MlKem(dk), KeKind::MlKem(_)) => {
                let ss = dk
                    .decapsulate(kem::Ciphertext::from(peer))
                    .map_err(|_| alg.invalid("ML-KEM ciphertext rejected"))?;
                Ok(SecretBytes::from_slice(ss.as_ref()))
            }
            (Private::Reused(shared), _) => shared.complete(peer),
            _ => Err(CryptoError::Backend(
                "key exchange state does not match its method",
            )),
        }
    }
}

/// One Diffie-Hellman value per method, made on first use and handed out again for
/// every later exchange of this method, so that each IKE_SA_INIT we initiate costs
/// the agreement with the peer's value but no key generation of its own. RFC 7296
/// section 2.12 allows reusing DH values across exchanges, at the price of forward
/// secrecy between the SAs that share one: this is for load generators that must
/// spend much less CPU per SA than the responder they measure, never for a gateway
/// (the daemon does not set it). KEMs (ML-KEM) always get a fresh key pair: their
/// decapsulation key is not meant to be shared between exchanges.
pub struct KeReuse {
    /// Indexed like [`ALL`].
    slots: [OnceLock<Arc<KeyExchange>>; ALL.len()],
}

impl Default for KeReuse {
    fn default() -> Self {
        KeReuse::new()
    }
}

impl fmt::Debug for KeReuse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let made: Vec<&str> = ALL
            .iter()
            .zip(&self.slots)
            .filter(|(_, s)| s.get().is_some())
            .map(|(a, _)| a.name)
            .collect();
        f.debug_struct("KeReuse").field("made", &made).finish()
    }
}

impl KeReuse {
    /// An empty cache: each method's value is made on its first use.
    pub fn new() -> Self {
        KeReuse {
            slots: [const { OnceLock::new() }; ALL.len()],
        }
    }

    /// Our half of an exchange with `alg`: the cached value (made now with
    /// [`KeAlg::initiate`] if this is the method's first use), or for a KEM a
    /// fresh one. The result completes like any other [`KeyExchange`].
    pub fn initiate(
        &self,
        alg: &'static KeAlg,
        rng: &dyn RandomSource,
    ) -> Result<KeyExchange, CryptoError> {
        let slot = match ALL.iter().position(|a| a.id == alg.id) {
            Some(i) if !alg.is_kem() => &self.slots[i],
            _ => return alg.initiate(rng),
        };
        let shared = match slot.get() {
            Some(s) => s.clone(),
            None => {
                let made = Arc::new(alg.initiate(rng)?);
                // Two threads racing on the first use keep whichever was stored first.
                slot.get_or_init(|| made).clone()
            }
        };
        Ok(KeyExchange {
            alg,
            public: shared.public.clone(),
            private: Private::Reused(shared),
        })
    }
}

/// FIPS 203 section 7.2 "modulus check": every 12-bit coefficient of the encoded
/// polynomial vector (all but the trailing 32-byte seed) must be below q = 3329.
/// aws-lc accepts unreduced keys, so the check is done here before encapsulating.
fn check_ml_kem_modulus(ek: &[u8]) -> Result<(), ()> {
    const Q: u16 = 3329;
    let polys = ek.len().checked_sub(32).ok_or(())?;
    for c in ek[..polys].chunks(3) {
        let [b0, b1, b2] = c else { return Err(()) };
        let d1 = u16::from(*b0) | (u16::from(b1 & 0x0f) << 8);
        let d2 = u16::from(b1 >> 4) | (u16::from(*b2) << 4);
        if d1 >= Q || d2 >= Q {
            return Err(());
        }
    }
    Ok(())
}

fn reject_all_zero(alg: &KeAlg, shared: SecretBytes) -> Result<SharedSecret, CryptoError> {
    // RFC 7748 section 6: check for the all-zero value, without an early exit.
    if shared.iter().fold(0u8, |acc, b| acc | b) == 0 {
        return Err(alg.invalid("low-order point (all-zero shared secret)"));
    }
    Ok(shared)
}

/// RFC 7296 section 3.4 / NIST SP 800-56A: the peer's g^y must satisfy 1 < y < p-1.
/// (libreswan's CVE-2015-3240 was a crash on y = 0.)
fn validate_modp(alg: &KeAlg, prime: &[u8], y: &[u8]) -> Result<(), CryptoError> {
    let (last, head) = y.split_last().ok_or(alg.invalid("empty"))?;
    if head.iter().all(|&b| b == 0) && *last <= 1 {
        return Err(alg.invalid("value is 0 or 1"));
    }
    match y.cmp(prime) {
        Ordering::Less => {}
        _ => return Err(alg.invalid("value is not below the prime")),
    }
    // y == p - 1 <=> y + 1 == p; the MODP primes are odd, so p - 1 differs from p only
    // in the last byte.
    let (p_last, p_head) = prime.split_last().ok_or(alg.invalid("empty prime"))?;
    if head == p_head && *last == p_last.wrapping_sub(1) {
        return Err(alg.invalid("value is p-1"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::rng::TestRandom;

    #[test]
    fn lookup_by_id_and_group_check() {
        for a in ALL {
            assert_eq!(KeAlg::from_id(a.id), Some(a));
        }
        assert!(KeAlg::from_id(KeId::MODP768).is_none());
        assert_eq!(ECP_256.check_group(KeId::ECP_256), Ok(()));
        assert_eq!(
            ECP_256.check_group(KeId::MODP2048).unwrap_err().notify(),
            Some(crate::registry::NotifyType::INVALID_KE_PAYLOAD)
        );
    }

    #[test]
    fn reused_values_are_one_per_method_and_still_agree() {
        let rng = TestRandom::new(5);
        let cache = KeReuse::new();
        for a in [&MODP1024, &ECP_256, &CURVE25519, &CURVE448] {
            let first = cache.initiate(a, &rng).unwrap();
            let again = cache.initiate(a, &rng).unwrap();
            assert_eq!(first.public_value(), again.public_value(), "{}", a.name);
            assert_eq!(first.alg(), a);
            // Each responder's own value agrees with the shared one.
            for _ in 0..2 {
                let (resp, shared) = a.respond(&rng, first.public_value()).unwrap();
                assert_eq!(again.complete(&resp).unwrap(), shared, "{}", a.name);
            }
        }
        let x = cache.initiate(&CURVE25519, &rng).unwrap();
        let e = cache.initiate(&ECP_256, &rng).unwrap();
        assert_ne!(x.public_value().len(), e.public_value().len());
        assert!(format!("{cache:?}").contains("DH31"));
        // A KEM is never shared.
        let k1 = cache.initiate(&ML_KEM_768, &rng).unwrap();
        let k2 = cache.initiate(&ML_KEM_768, &rng).unwrap();
        assert_ne!(k1.public_value(), k2.public_value());
        let (ct, ss) = ML_KEM_768.respond(&rng, k2.public_value()).unwrap();
        assert_eq!(k2.complete(&ct).unwrap(), ss);
    }

    #[test]
    fn fast_groups_agree_between_two_parties() {
        let rng = TestRandom::new(3);
        for a in [
            &MODP1024,
            &MODP2048,
            &ECP_256,
            &ECP_384,
            &ECP_521,
            &CURVE25519,
            &CURVE448,
            &ML_KEM_768,
        ] {
            let i = a.initiate(&rng).unwrap();
            assert_eq!(i.public_value().len(), a.public_len, "{}", a.name);
            let (resp, shared_r) = a.respond(&rng, i.public_value()).unwrap();
            assert_eq!(resp.len(), a.response_len, "{}", a.name);
            let shared_i = i.complete(&resp).unwrap();
            assert_eq!(shared_i.len(), a.shared_len, "{}", a.name);
            assert_eq!(shared_i, shared_r, "{}", a.name);
        }
    }

    #[test]
    fn modp_rejects_degenerate_values() {
        let rng = TestRandom::new(4);
        let i = MODP1024.initiate(&rng).unwrap();
        let ctx = modp_ctx(ModpPrime::Rfc2409_1024).unwrap();
        let p = ctx.prime().to_vec();
        let mut one = vec![0u8; 128];
        one[127] = 1;
        let mut pm1 = p.clone();
        pm1[127] -= 1;
        let mut pp1 = p.clone();
        pp1[127] = 0; // p + 1 overflows the last 0xff byte; any value >= p will do
        pp1[126] = pp1[126].wrapping_add(1);
        for (bad, what) in [
            (vec![0u8; 128], "zero"),
            (one, "one"),
            (pm1, "p-1"),
            (p.clone(), "p"),
            (vec![0xffu8; 128], "max"),
        ] {
            let err = i.complete(&bad).unwrap_err();
            assert!(
                matches!(err, CryptoError::InvalidPublicValue { .. }),
                "{what}: {err:?}"
            );
        }
        assert!(matches!(
            i.complete(&p[1..]),
            Err(CryptoError::PublicValueLength { .. })
        ));
        let mut two = vec![0u8; 128];
        two[127] = 2;
        i.complete(&two).unwrap();
    }

    #[test]
    fn ecp_rejects_points_off_the_curve() {
        let rng = TestRandom::new(5);
        for a in [&ECP_256, &ECP_384, &ECP_521] {
            let i = a.initiate(&rng).unwrap();
            let mut bad = i.public_value().to_vec();
            let last = bad.len() - 1;
            bad[last] ^= 1;
            assert!(
                matches!(
                    i.complete(&bad),
                    Err(CryptoError::InvalidPublicValue { .. })
                ),
                "{}",
                a.name
            );
            assert!(matches!(
                i.complete(&vec![0u8; a.public_len]),
                Err(CryptoError::InvalidPublicValue { .. })
            ));
            assert!(matches!(
                i.complete(&bad[1..]),
                Err(CryptoError::PublicValueLength { .. })
            ));
        }
    }

    #[test]
    fn curves_reject_low_order_points() {
        let rng = TestRandom::new(6);
        for a in [&CURVE25519, &CURVE448] {
            let i = a.initiate(&rng).unwrap();
            let zero = vec![0u8; a.public_len];
            let mut one = zero.clone();
            one[0] = 1;
            for bad in [zero, one] {
                assert!(
                    matches!(
                        i.complete(&bad),
                        Err(CryptoError::InvalidPublicValue { .. })
                    ),
                    "{}",
                    a.name
                );
            }
        }
    }

    #[test]
    fn ml_kem_rejects_bad_lengths_and_keys() {
        let rng = TestRandom::new(7);
        for a in [&ML_KEM_512, &ML_KEM_768, &ML_KEM_1024] {
            assert!(matches!(
                a.respond(&rng, &[0u8; 10]),
                Err(CryptoError::PublicValueLength { .. })
            ));
            // Coefficients >= q (all 0xff) are not a valid encapsulation key.
            let bad_ek = vec![0xffu8; a.public_len];
            assert!(
                matches!(
                    a.respond(&rng, &bad_ek),
                    Err(CryptoError::InvalidPublicValue { .. })
                ),
                "{}",
                a.name
            );
            let i = a.initiate(&rng).unwrap();
            assert!(matches!(
                i.complete(&[0u8; 5]),
                Err(CryptoError::PublicValueLength { .. })
            ));
            // A wrong ciphertext of the right length decapsulates to an unrelated
            // secret (implicit rejection), never to an error or a panic.
            let (ct, ss) = a.respond(&rng, i.public_value()).unwrap();
            let mut bad_ct = ct.clone();
            bad_ct[0] ^= 1;
            assert_ne!(i.complete(&bad_ct).unwrap(), ss);
        }
    }
}
