//! End-to-end use of the crypto suite the way the IKEv2 state machine drives it:
//! two parties run the key exchange, derive SKEYSEED and the SK_* keys, protect
//! messages for each other, authenticate with a PSK, key a Child SA with and without
//! PFS, add an RFC 9370 ML-KEM exchange and rekey.

use ike::crypto::encr::{self, EncrAlg};
use ike::crypto::ikev2::{self, ChildSaKeys, IkeSaKeys, IkeSuite, Role};
use ike::crypto::ke::{self, KeAlg};
use ike::crypto::rng::TestRandom;
use ike::crypto::{integ, prf, CryptoError, RandomSource, SkCipher};

struct Party {
    keys: IkeSaKeys,
    out: SkCipher,
    inb: SkCipher,
}

fn ike_sa_init(
    suite: &IkeSuite,
    group: &'static KeAlg,
    rng: &dyn RandomSource,
) -> (Party, Party, [u8; 32], [u8; 32]) {
    let (mut ni, mut nr) = ([0u8; 32], [0u8; 32]);
    rng.fill(&mut ni).unwrap();
    rng.fill(&mut nr).unwrap();
    let (spi_i, spi_r) = ([1u8, 2, 3, 4, 5, 6, 7, 8], [8u8, 7, 6, 5, 4, 3, 2, 1]);

    let initiator_ke = group.initiate(rng).unwrap();
    let (ker, responder_shared) = group.respond(rng, initiator_ke.public_value()).unwrap();
    let initiator_shared = initiator_ke.complete(&ker).unwrap();
    assert_eq!(initiator_shared, responder_shared);

    let party = |shared: &[u8], role| {
        let seed = ikev2::skeyseed(suite.prf, &ni, &nr, shared).unwrap();
        let keys = IkeSaKeys::derive(suite, &seed, &ni, &nr, &spi_i, &spi_r).unwrap();
        let (out, inb) = keys.sk_ciphers(suite, role).unwrap();
        Party { keys, out, inb }
    };
    (
        party(&initiator_shared, Role::Initiator),
        party(&responder_shared, Role::Responder),
        ni,
        nr,
    )
}

fn exchange_messages(a: &Party, b: &Party, rng: &dyn RandomSource) {
    let header = [0x11u8; 32];
    for msg in [&b""[..], b"IDi CERT AUTH SA TSi TSr", &[0xa5; 1000]] {
        let mut body = a.out.seal(rng, &header, msg).unwrap();
        assert_eq!(b.inb.open(&header, &mut body.clone()).unwrap(), msg);
        // A's own inbound keys are the other direction and must not open it.
        assert!(a.inb.open(&header, &mut body).is_err());
    }
}

fn suites() -> Vec<(IkeSuite, &'static KeAlg)> {
    vec![
        (
            IkeSuite {
                encr: &encr::AES_GCM_16_256,
                prf: &prf::HMAC_SHA2_512,
                integ: None,
            },
            &ke::ECP_256,
        ),
        (
            IkeSuite {
                encr: &encr::CHACHA20_POLY1305,
                prf: &prf::HMAC_SHA2_256,
                integ: None,
            },
            &ke::CURVE25519,
        ),
        (
            IkeSuite {
                encr: &encr::AES_CBC_256,
                prf: &prf::HMAC_SHA2_384,
                integ: Some(&integ::HMAC_SHA2_384_192),
            },
            &ke::ECP_384,
        ),
        (
            IkeSuite {
                encr: &encr::AES_CBC_128,
                prf: &prf::HMAC_SHA1,
                integ: Some(&integ::HMAC_SHA1_96),
            },
            &ke::MODP2048,
        ),
        (
            IkeSuite {
                encr: &encr::AES_CTR_192,
                prf: &prf::AES128_XCBC,
                integ: Some(&integ::AES_XCBC_96),
            },
            &ke::CURVE448,
        ),
        (
            IkeSuite {
                encr: &encr::AES_GCM_8_128,
                prf: &prf::AES128_CMAC,
                integ: None,
            },
            &ke::ECP_521,
        ),
        (
            IkeSuite {
                encr: &encr::AES_GCM_12_192,
                prf: &prf::HMAC_SHA2_256,
                integ: None,
            },
            &ke::MODP1536,
        ),
        (
            IkeSuite {
                encr: &encr::TRIPLE_DES_CBC,
                prf: &prf::HMAC_SHA1,
                integ: Some(&integ::AES_CMAC_96),
            },
            &ke::MODP1024,
        ),
    ]
}

#[test]
fn both_ends_derive_the_same_keys_and_talk() {
    let rng = TestRandom::new(21);
    for (suite, group) in suites() {
        let (i, r, _, _) = ike_sa_init(&suite, group, &rng);
        assert_eq!(i.keys.sk_d(), r.keys.sk_d(), "{}", suite.encr.name);
        assert_eq!(i.keys.sk_ei().len(), suite.encr.keymat_len());
        assert_eq!(i.keys.sk_ai().len(), suite.integ.map_or(0, |a| a.key_len));
        assert_eq!(i.keys.sk_pi().len(), suite.prf.key_len);
        exchange_messages(&i, &r, &rng);
        exchange_messages(&r, &i, &rng);
    }
}

#[test]
fn psk_authentication_both_ways() {
    let rng = TestRandom::new(22);
    let (suite, group) = suites().remove(0);
    let (i, r, ni, nr) = ike_sa_init(&suite, group, &rng);
    let psk = b"a shared secret from ipsec.secrets";
    let message1 = b"IKE_SA_INIT request as sent";
    let id_i = [2u8, 0, 0, 0, b'e', b'a', b's', b't'];
    // Initiator computes AUTH over message 1 | Nr | prf(SK_pi, IDi').
    let maced = ikev2::maced_id(suite.prf, i.keys.sk_pi(), &id_i).unwrap();
    let auth = ikev2::psk_auth(suite.prf, psk, message1, &nr, &maced).unwrap();
    // Responder recomputes with its own SK_pi.
    let maced_r = ikev2::maced_id(suite.prf, r.keys.sk_pi(), &id_i).unwrap();
    ikev2::verify_psk_auth(suite.prf, psk, message1, &nr, &maced_r, &auth).unwrap();
    assert_eq!(
        ikev2::verify_psk_auth(suite.prf, b"wrong", message1, &nr, &maced_r, &auth),
        Err(CryptoError::IntegrityCheckFailed)
    );
    // The responder's AUTH uses the other nonce and SK_pr, so it differs.
    let maced_pr = ikev2::maced_id(suite.prf, r.keys.sk_pr(), &id_i).unwrap();
    let auth_r = ikev2::psk_auth(suite.prf, psk, b"IKE_SA_INIT response", &ni, &maced_pr).unwrap();
    assert_ne!(auth_r, auth);
    assert_eq!(
        ikev2::signed_octets(message1, &nr, &maced).len(),
        message1.len() + nr.len() + suite.prf.output_len
    );
}

#[test]
fn child_sa_keymat_with_and_without_pfs() {
    let rng = TestRandom::new(23);
    let (suite, group) = suites().remove(2);
    let (i, r, ni, nr) = ike_sa_init(&suite, group, &rng);
    let esp: &EncrAlg = &encr::AES_GCM_16_128;
    let no_pfs_i =
        ChildSaKeys::derive(suite.prf, i.keys.sk_d(), &[], &ni, &nr, esp.keymat_len(), 0).unwrap();
    let no_pfs_r =
        ChildSaKeys::derive(suite.prf, r.keys.sk_d(), &[], &ni, &nr, esp.keymat_len(), 0).unwrap();
    assert_eq!(
        no_pfs_i.initiator_to_responder(),
        no_pfs_r.initiator_to_responder()
    );
    assert_ne!(
        no_pfs_i.initiator_to_responder().0,
        no_pfs_i.responder_to_initiator().0
    );
    assert_eq!(no_pfs_i.initiator_to_responder().0.len(), 20);

    let pfs_ke = ke::MODP2048.initiate(&rng).unwrap();
    let (resp, shared_r) = ke::MODP2048.respond(&rng, pfs_ke.public_value()).unwrap();
    let shared_i = pfs_ke.complete(&resp).unwrap();
    let pfs_i =
        ChildSaKeys::derive(suite.prf, i.keys.sk_d(), &[&shared_i], &ni, &nr, 32, 32).unwrap();
    let pfs_r =
        ChildSaKeys::derive(suite.prf, r.keys.sk_d(), &[&shared_r], &ni, &nr, 32, 32).unwrap();
    assert_eq!(
        pfs_i.responder_to_initiator(),
        pfs_r.responder_to_initiator()
    );
    assert_ne!(
        &pfs_i.initiator_to_responder().0[..20],
        no_pfs_i.initiator_to_responder().0
    );
}

#[test]
fn rfc9370_additional_ml_kem_exchange_then_rekey() {
    let rng = TestRandom::new(24);
    let (suite, group) = suites().remove(0);
    let (i, r, ni, nr) = ike_sa_init(&suite, group, &rng);
    let (spi_i, spi_r) = ([1u8, 2, 3, 4, 5, 6, 7, 8], [8u8, 7, 6, 5, 4, 3, 2, 1]);

    // IKE_INTERMEDIATE with ADDKE1 = ML-KEM-768: SKEYSEED(1) = prf(SK_d(0), SK(1) | Ni | Nr).
    let kem = ke::ML_KEM_768.initiate(&rng).unwrap();
    let (ct, ss_r) = ke::ML_KEM_768.respond(&rng, kem.public_value()).unwrap();
    let ss_i = kem.complete(&ct).unwrap();
    let derive = |old: &IkeSaKeys, ss: &[u8]| {
        let seed = ikev2::skeyseed_rekey(suite.prf, old.sk_d(), &[ss], &ni, &nr).unwrap();
        IkeSaKeys::derive(&suite, &seed, &ni, &nr, &spi_i, &spi_r).unwrap()
    };
    let (i1, r1) = (derive(&i.keys, &ss_i), derive(&r.keys, &ss_r));
    assert_eq!(i1.sk_d(), r1.sk_d());
    assert_ne!(i1.sk_d(), i.keys.sk_d());
    let (out, _) = i1.sk_ciphers(&suite, Role::Initiator).unwrap();
    let (_, inb) = r1.sk_ciphers(&suite, Role::Responder).unwrap();
    let mut m = out.seal(&rng, b"hdr", b"IKE_AUTH").unwrap();
    assert_eq!(inb.open(b"hdr", &mut m).unwrap(), b"IKE_AUTH");

    // CREATE_CHILD_SA rekey of the IKE SA: new nonces, new DH, SK_d of the old SA.
    let (n2i, n2r) = ([9u8; 32], [10u8; 32]);
    let dh = ke::CURVE25519.initiate(&rng).unwrap();
    let (resp, g_r) = ke::CURVE25519.respond(&rng, dh.public_value()).unwrap();
    let g_i = dh.complete(&resp).unwrap();
    let rekey = |old: &IkeSaKeys, g: &[u8]| {
        ikev2::skeyseed_rekey(suite.prf, old.sk_d(), &[g], &n2i, &n2r).unwrap()
    };
    assert_eq!(rekey(&i1, &g_i), rekey(&r1, &g_r));
}
