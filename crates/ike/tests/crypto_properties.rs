//! Property tests for SK payload protection: every cipher round-trips arbitrary
//! inner payloads and AAD, any single-bit change is rejected, and arbitrary bytes
//! fed to `open` yield a typed error, never a panic.

use ike::crypto::encr::{self, EncrAlg};
use ike::crypto::rng::TestRandom;
use ike::crypto::{integ, SkCipher};
use proptest::prelude::*;

fn sk(alg: &'static EncrAlg, seed: u8) -> SkCipher {
    let keymat: Vec<u8> = (0..alg.keymat_len())
        .map(|i| (i as u8).wrapping_mul(31) ^ seed)
        .collect();
    let ikey = [seed ^ 0x3c; 64];
    let integ = (!alg.is_aead()).then(|| {
        let i = &integ::ALL[usize::from(seed) % integ::ALL.len()];
        (*i, &ikey[..i.key_len])
    });
    SkCipher::new(alg, &keymat, integ).unwrap()
}

fn any_cipher() -> impl Strategy<Value = &'static EncrAlg> {
    (0..encr::ALL.len()).prop_map(|i| encr::ALL[i])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn seal_open_round_trip(
        alg in any_cipher(),
        seed in any::<u8>(),
        aad in proptest::collection::vec(any::<u8>(), 0..64),
        plain in proptest::collection::vec(any::<u8>(), 0..600),
    ) {
        let c = sk(alg, seed);
        let rng = TestRandom::new(u64::from(seed));
        let mut body = c.seal(&rng, &aad, &plain).unwrap();
        prop_assert_eq!(body.len(), c.sealed_len(plain.len()));
        prop_assert_eq!(c.open(&aad, &mut body).unwrap(), &plain[..]);
    }

    #[test]
    fn any_bit_flip_is_rejected(
        alg in any_cipher(),
        seed in any::<u8>(),
        plain in proptest::collection::vec(any::<u8>(), 0..100),
        position in any::<prop::sample::Index>(),
        bit in 0u8..8,
        flip_aad in any::<bool>(),
    ) {
        let c = sk(alg, seed);
        let rng = TestRandom::new(7);
        let mut aad = b"IKE header and SK header".to_vec();
        let mut body = c.seal(&rng, &aad, &plain).unwrap();
        if flip_aad {
            let i = position.index(aad.len());
            aad[i] ^= 1 << bit;
        } else {
            let i = position.index(body.len());
            body[i] ^= 1 << bit;
        }
        prop_assert!(c.open(&aad, &mut body).is_err());
    }

    #[test]
    fn open_never_panics_on_arbitrary_bytes(
        alg in any_cipher(),
        aad in proptest::collection::vec(any::<u8>(), 0..40),
        mut body in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        let c = sk(alg, 1);
        prop_assert!(c.open(&aad, &mut body).is_err());
    }
}
