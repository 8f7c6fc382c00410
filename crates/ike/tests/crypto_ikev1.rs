//! End-to-end use of the IKEv1 helpers the way Main Mode and Quick Mode use them:
//! both peers derive SKEYID and the ISAKMP key from a real DH exchange, then encrypt
//! and decrypt messages 5 and 6 and a Quick Mode message with RFC 2409 IV chaining.

use ike::crypto::encr::{self, EncrAlg};
use ike::crypto::ikev1::{self, Iv, Phase1Keys, V1Cipher};
use ike::crypto::ke::{self, KeAlg};
use ike::crypto::prf::{self, PrfAlg};
use ike::crypto::rng::TestRandom;

struct Peer {
    cipher: V1Cipher,
    iv: Iv,
    keys: Phase1Keys,
}

fn main_mode(
    prf: &'static PrfAlg,
    alg: &'static EncrAlg,
    group: &'static KeAlg,
) -> (Peer, Peer, Vec<u8>, Vec<u8>) {
    let rng = TestRandom::new(31);
    let (ni, nr) = (
        b"initiator nonce 0123".to_vec(),
        b"responder nonce 4567".to_vec(),
    );
    let (cky_i, cky_r) = ([0xc1u8; 8], [0xc2u8; 8]);
    let i_ke = group.initiate(&rng).unwrap();
    let (g_xr, shared_r) = group.respond(&rng, i_ke.public_value()).unwrap();
    let shared_i = i_ke.complete(&g_xr).unwrap();
    let g_xi = i_ke.public_value().to_vec();
    let peer = |shared: &[u8]| {
        let skeyid = ikev1::skeyid_psk(prf, b"secret", &ni, &nr).unwrap();
        let keys = Phase1Keys::derive(prf, &skeyid, shared, &cky_i, &cky_r).unwrap();
        let enc_key = ikev1::encryption_key(prf, &keys.skeyid_e, alg.key_len).unwrap();
        let cipher = V1Cipher::new(alg, &enc_key).unwrap();
        let iv = ikev1::phase1_iv(prf, &g_xi, &g_xr, cipher.block_len()).unwrap();
        Peer { cipher, iv, keys }
    };
    (peer(&shared_i), peer(&shared_r), ni, nr)
}

fn pad(c: &V1Cipher, msg: &[u8]) -> Vec<u8> {
    let mut v = msg.to_vec();
    v.resize(c.padded_len(msg.len()), 0);
    v
}

#[test]
fn rfc2409_main_mode_and_quick_mode_encryption_chain() {
    for (prf, alg, group) in [
        (&prf::HMAC_SHA1, &encr::TRIPLE_DES_CBC, &ke::MODP1024),
        (&prf::HMAC_SHA2_256, &encr::AES_CBC_128, &ke::MODP2048),
        (&prf::HMAC_SHA2_512, &encr::AES_CBC_256, &ke::ECP_256),
    ] {
        let (mut i, mut r, ni, nr) = main_mode(prf, alg, group);
        assert_eq!(i.keys.skeyid_a, r.keys.skeyid_a);

        // Message 5, initiator to responder.
        let mm5 = pad(&i.cipher, b"IDii HASH_I");
        let mut wire = mm5.clone();
        i.cipher.encrypt(&mut i.iv, &mut wire).unwrap();
        r.cipher.decrypt(&mut r.iv, &mut wire).unwrap();
        assert_eq!(wire, mm5, "{}", alg.name);

        // Message 6 continues the chain from the last block of message 5.
        let mm6 = pad(&r.cipher, b"IDir HASH_R, a little longer than one block");
        let mut wire = mm6.clone();
        r.cipher.encrypt(&mut r.iv, &mut wire).unwrap();
        i.cipher.decrypt(&mut i.iv, &mut wire).unwrap();
        assert_eq!(wire, mm6, "{}", alg.name);
        assert_eq!(i.iv, r.iv);

        // Quick Mode: a fresh IV per message ID from the last phase 1 block.
        let msgid = 0x1234_5678;
        let mut qi = ikev1::phase2_iv(prf, &i.iv, msgid).unwrap();
        let mut qr = ikev1::phase2_iv(prf, &r.iv, msgid).unwrap();
        let qm1 = pad(&i.cipher, b"HASH(1) SA Ni IDci IDcr");
        let mut wire = qm1.clone();
        i.cipher.encrypt(&mut qi, &mut wire).unwrap();
        r.cipher.decrypt(&mut qr, &mut wire).unwrap();
        assert_eq!(wire, qm1);

        // Both ends get the same ESP KEYMAT for the responder's inbound SPI.
        let spi = [0xde, 0xad, 0xbe, 0xef];
        let km_i =
            ikev1::quick_mode_keymat(prf, &i.keys.skeyid_d, None, (3, &spi), &ni, &nr, 36).unwrap();
        let km_r =
            ikev1::quick_mode_keymat(prf, &r.keys.skeyid_d, None, (3, &spi), &ni, &nr, 36).unwrap();
        assert_eq!(km_i, km_r);
        let other_spi =
            ikev1::quick_mode_keymat(prf, &i.keys.skeyid_d, None, (3, &[0; 4]), &ni, &nr, 36)
                .unwrap();
        assert_ne!(km_i, other_spi);
    }
}

#[test]
fn rfc2409_appendix_b_3des_key_needs_expansion_from_sha1() {
    // SKEYID_e from HMAC-SHA1 is 20 bytes; 3DES needs 24, so K1 | K2 is used.
    let (i, _, _, _) = main_mode(&prf::HMAC_SHA1, &encr::TRIPLE_DES_CBC, &ke::MODP1024);
    let key = ikev1::encryption_key(&prf::HMAC_SHA1, &i.keys.skeyid_e, 24).unwrap();
    let k1 = prf::HMAC_SHA1.compute(&i.keys.skeyid_e, &[&[0]]).unwrap();
    assert_eq!(&key[..20], &k1[..]);
    assert_ne!(&key[..20], &i.keys.skeyid_e[..]);
}
