//! Key exchange tests: RFC 5903 ECP and RFC 7748 / RFC 8031 Curve25519/Curve448
//! known answers, two-party agreement for every MODP group, ML-KEM round trips, and
//! rejection of invalid public values.

use ike::crypto::ke::{self, KeAlg};
use ike::crypto::rng::TestRandom;
use ike::crypto::{CryptoError, KeyExchange, SystemRandomSource};
use ike::registry::{KeId, NotifyType};

fn h(s: &str) -> Vec<u8> {
    hex::decode(s.replace([' ', '\n'], "")).expect("test vector hex")
}

/// Checks both sides of a DH known-answer vector.
fn check_dh(alg: &'static KeAlg, i: &str, gi: &str, r: &str, gr: &str, shared: &str) {
    let init = KeyExchange::from_private(alg, &h(i)).unwrap();
    assert_eq!(
        hex::encode(init.public_value()),
        hex::encode(h(gi)),
        "{} g^i",
        alg.name
    );
    let resp = KeyExchange::from_private(alg, &h(r)).unwrap();
    assert_eq!(
        hex::encode(resp.public_value()),
        hex::encode(h(gr)),
        "{} g^r",
        alg.name
    );
    assert_eq!(
        hex::encode(&*init.complete(&h(gr)).unwrap()),
        hex::encode(h(shared)),
        "{} initiator",
        alg.name
    );
    assert_eq!(
        hex::encode(&*resp.complete(&h(gi)).unwrap()),
        hex::encode(h(shared)),
        "{} responder",
        alg.name
    );
}

// ---- RFC 5903 section 8: KE data is x | y, the shared secret is x of g^ir ----

#[test]
fn rfc5903_section_8_1_ecp_256() {
    check_dh(
        &ke::ECP_256,
        "C88F01F5 10D9AC3F 70A292DA A2316DE5 44E9AAB8 AFE84049 C62A9C57 862D1433",
        "DAD0B653 94221CF9 B051E1FE CA5787D0 98DFE637 FC90B9EF 945D0C37 72581180
         5271A046 1CDB8252 D61F1C45 6FA3E59A B1F45B33 ACCF5F58 389E0577 B8990BB3",
        "C6EF9C5D 78AE012A 011164AC B397CE20 88685D8F 06BF9BE0 B283AB46 476BEE53",
        "D12DFB52 89C8D4F8 1208B702 70398C34 2296970A 0BCCB74C 736FC755 4494BF63
         56FBF3CA 366CC23E 8157854C 13C58D6A AC23F046 ADA30F83 53E74F33 039872AB",
        "D6840F6B 42F6EDAF D13116E0 E1256520 2FEF8E9E CE7DCE03 812464D0 4B9442DE",
    );
}

#[test]
fn rfc5903_section_8_2_ecp_384() {
    check_dh(
        &ke::ECP_384,
        "099F3C70 34D4A2C6 99884D73 A375A67F 7624EF7C 6B3C0F16 0647B674 14DCE655
         E35B5380 41E649EE 3FAEF896 783AB194",
        "667842D7 D180AC2C DE6F74F3 7551F557 55C7645C 20EF73E3 1634FE72 B4C55EE6
         DE3AC808 ACB4BDB4 C88732AE E95F41AA
         9482ED1F C0EEB9CA FC498462 5CCFC23F 65032149 E0E144AD A0241815 35A0F38E
         EB9FCFF3 C2C947DA E69B4C63 4573A81C",
        "41CB0779 B4BDB85D 47846725 FBEC3C94 30FAB46C C8DC5060 855CC9BD A0AA2942
         E0308312 916B8ED2 960E4BD5 5A7448FC",
        "E558DBEF 53EECDE3 D3FCCFC1 AEA08A89 A987475D 12FD950D 83CFA417 32BC509D
         0D1AC43A 0336DEF9 6FDA41D0 774A3571
         DCFBEC7A ACF31964 72169E83 8430367F 66EEBE3C 6E70C416 DD5F0C68 759DD1FF
         F83FA401 42209DFF 5EAAD96D B9E6386C",
        "11187331 C279962D 93D60424 3FD592CB 9D0A926F 422E4718 7521287E 7156C5C4
         D6031355 69B9E9D0 9CF5D4A2 70F59746",
    );
}

#[test]
fn rfc5903_section_8_3_ecp_521() {
    check_dh(
        &ke::ECP_521,
        "0037ADE9 319A89F4 DABDB3EF 411AACCC A5123C61 ACAB57B5 393DCE47 608172A0
         95AA85A3 0FE1C295 2C6771D9 37BA9777 F5957B26 39BAB072 462F68C2 7A57382D
         4A52",
        "0015417E 84DBF28C 0AD3C278 713349DC 7DF153C8 97A1891B D98BAB43 57C9ECBE
         E1E3BF42 E00B8E38 0AEAE57C 2D107564 94188594 2AF5A7F4 601723C4 195D176C
         ED3E
         017CAE20 B6641D2E EB695786 D8C94614 6239D099 E18E1D5A 514C739D 7CB4A10A
         D8A78801 5AC405D7 799DC75E 7B7D5B6C F2261A6A 7F150743 8BF01BEB 6CA3926F
         9582",
        "0145BA99 A847AF43 793FDD0E 872E7CDF A16BE30F DC780F97 BCCC3F07 8380201E
         9C677D60 0B343757 A3BDBF2A 3163E4C2 F869CCA7 458AA4A4 EFFC311F 5CB15168
         5EB9",
        "00D0B397 5AC4B799 F5BEA16D 5E13E9AF 971D5E9B 984C9F39 728B5E57 39735A21
         9B97C356 436ADC6E 95BB0352 F6BE64A6 C2912D4E F2D0433C ED2B6171 640012D9
         460F
         015C6822 6383956E 3BD066E7 97B623C2 7CE0EAC2 F551A10C 2C724D98 52077B87
         220B6536 C5C408A1 D2AEBB8E 86D678AE 49CB5709 1F473229 6579AB44 FCD17F0F
         C56A",
        "01144C7D 79AE6956 BC8EDB8E 7C787C45 21CB086F A64407F9 7894E5E6 B2D79B04
         D1427E73 CA4BAA24 0A347868 59810C06 B3C715A3 A8CC3151 F2BEE417 996D19F3
         DDEA",
    );
}

#[test]
fn rfc5903_ecp_rejects_points_off_the_curve() {
    let init = KeyExchange::from_private(
        &ke::ECP_256,
        &h("C88F01F5 10D9AC3F 70A292DA A2316DE5 44E9AAB8 AFE84049 C62A9C57 862D1433"),
    )
    .unwrap();
    let mut gr = h(
        "D12DFB52 89C8D4F8 1208B702 70398C34 2296970A 0BCCB74C 736FC755 4494BF63
                    56FBF3CA 366CC23E 8157854C 13C58D6A AC23F046 ADA30F83 53E74F33 039872AB",
    );
    gr[63] ^= 1;
    let err = init.complete(&gr).unwrap_err();
    assert!(matches!(
        err,
        CryptoError::InvalidPublicValue {
            group: KeId::ECP_256,
            ..
        }
    ));
    assert_eq!(err.notify(), Some(NotifyType::INVALID_SYNTAX));
    // The SEC1 form with its 0x04 prefix is not the IKEv2 encoding.
    let mut sec1 = vec![0x04];
    sec1.extend_from_slice(init.public_value());
    assert!(matches!(
        init.complete(&sec1),
        Err(CryptoError::PublicValueLength { .. })
    ));
}

// ---- RFC 7748: X25519 and X448 ----

#[test]
fn rfc7748_section_5_2_x25519_vector_1() {
    let k = KeyExchange::from_private(
        &ke::CURVE25519,
        &h("a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4"),
    )
    .unwrap();
    let out = k
        .complete(&h(
            "e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c",
        ))
        .unwrap();
    assert_eq!(
        hex::encode(&*out),
        "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552"
    );
}

#[test]
fn rfc7748_section_5_2_x25519_iterated_1000() {
    let mut k = h("0900000000000000000000000000000000000000000000000000000000000000");
    let mut u = k.clone();
    for round in 1..=1000 {
        let out = KeyExchange::from_private(&ke::CURVE25519, &k)
            .unwrap()
            .complete(&u)
            .unwrap();
        u = std::mem::replace(&mut k, out.to_vec());
        if round == 1 {
            assert_eq!(
                hex::encode(&k),
                "422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079"
            );
        }
    }
    assert_eq!(
        hex::encode(&k),
        "684cf59ba83309552800ef566f2f4d3c1c3887c49360e3875f2eb94d99532c51"
    );
}

#[test]
fn rfc7748_section_6_1_curve25519_diffie_hellman() {
    check_dh(
        &ke::CURVE25519,
        "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a",
        "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a",
        "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb",
        "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f",
        "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742",
    );
}

#[test]
fn rfc8031_appendix_a_curve25519_ike_example() {
    check_dh(
        &ke::CURVE25519,
        "751fb4308655b476b6789b7325f9ea8cddd16a58533ff6d9e60009464a5f9d94",
        "48d5ddd4061257ba166fa3f9bbdb74f1a4e81c089384fa77f790709f0dfbc766",
        "0a54645253290d60ddadd0e030bacd9e5501efdc220755a1e978f1b839a05688",
        "0be7c1f5aad87d7e448662673298a443478b859745179eaf564c79c0ef6eee25",
        "c74950607a12327f3204d94b6825bfb068b7f8319a9e3708ed3d43ce8130c950",
    );
}

#[test]
fn rfc7748_section_6_2_curve448_diffie_hellman() {
    check_dh(
        &ke::CURVE448,
        "9a8f4925d1519f5775cf46b04b5800d4ee9ee8bae8bc5565d498c28dd9c9baf574a9419744897391006382a6f127ab1d9ac2d8c0a598726b",
        "9b08f7cc31b7e3e67d22d5aea121074a273bd2b83de09c63faa73d2c22c5d9bbc836647241d953d40c5b12da88120d53177f80e532c41fa0",
        "1c306a7ac2a0e2e0990b294470cba339e6453772b075811d8fad0d1d6927c120bb5ee8972b0d3e21374c9c921b09d1b0366f10b65173992d",
        "3eb7a829b0cd20f5bcfc0b599b6feccf6da4627107bdb0d4f345b43027d8b972fc3e34fb4232a13ca706dcb57aec3dae07bdc1c67bf33609",
        "07fff4181ac6cc95ec1c16a94a0f74d12da232ce40a77552281d282bb60c0b56fd2464c335543936521c24403085d59a449a5037514a879d",
    );
}

#[test]
fn rfc7748_section_6_x25519_and_x448_reject_low_order_points() {
    let rng = TestRandom::new(11);
    for alg in [&ke::CURVE25519, &ke::CURVE448] {
        let ours = alg.initiate(&rng).unwrap();
        let mut one = vec![0u8; alg.public_len];
        one[0] = 1;
        for bad in [vec![0u8; alg.public_len], one] {
            let err = ours.complete(&bad).unwrap_err();
            assert!(
                matches!(err, CryptoError::InvalidPublicValue { .. }),
                "{}: {err}",
                alg.name
            );
        }
    }
}

// ---- MODP groups: two-party agreement and value validation ----

#[test]
fn rfc3526_rfc2409_modp_groups_two_party_agreement() {
    let rng = SystemRandomSource::new();
    for alg in [
        &ke::MODP1024,
        &ke::MODP1536,
        &ke::MODP2048,
        &ke::MODP3072,
        &ke::MODP4096,
        &ke::MODP6144,
        &ke::MODP8192,
    ] {
        let initiator = alg.initiate(&rng).unwrap();
        assert_eq!(
            initiator.public_value().len(),
            alg.public_len,
            "{}",
            alg.name
        );
        let (response, responder_secret) = alg.respond(&rng, initiator.public_value()).unwrap();
        let initiator_secret = initiator.complete(&response).unwrap();
        assert_eq!(initiator_secret, responder_secret, "{}", alg.name);
        assert_eq!(initiator_secret.len(), alg.shared_len, "{}", alg.name);
    }
}

#[test]
fn rfc2409_modp1024_known_exponent_gives_known_public_value() {
    // g^1 = 2 and g^10 = 1024 are below p, so the arithmetic is checkable by hand.
    let one = KeyExchange::from_private(&ke::MODP1024, &[1]).unwrap();
    let mut two = [0u8; 128];
    two[127] = 2;
    assert_eq!(one.public_value(), &two[..]);
    let ten = KeyExchange::from_private(&ke::MODP1024, &[10]).unwrap();
    let mut k1024 = vec![0u8; 128];
    k1024[126] = 4;
    assert_eq!(ten.public_value(), &k1024[..]);
    // (2^10)^1 agreement from the other side.
    assert_eq!(&*one.complete(&k1024).unwrap(), &k1024[..]);
}

#[test]
fn cve_2015_3240_modp_rejects_zero_one_and_p_minus_one() {
    let rng = TestRandom::new(12);
    for alg in [&ke::MODP1024, &ke::MODP2048] {
        let ours = alg.initiate(&rng).unwrap();
        let len = alg.public_len;
        let mut one = vec![0u8; len];
        one[len - 1] = 1;
        // The MODP primes end in ...ff, so p - 1 differs from p in the last byte only.
        let mut p_minus_1 = vec![0u8; len];
        p_minus_1.copy_from_slice(&p_of(alg));
        p_minus_1[len - 1] -= 1;
        for (bad, what) in [
            (vec![0u8; len], "0"),
            (one, "1"),
            (p_minus_1, "p-1"),
            (p_of(alg), "p"),
            (vec![0xff; len], ">p"),
        ] {
            let err = ours.complete(&bad).unwrap_err();
            assert!(
                matches!(err, CryptoError::InvalidPublicValue { .. }),
                "{} {what}: {err}",
                alg.name
            );
            assert_eq!(err.notify(), Some(NotifyType::INVALID_SYNTAX));
        }
        assert!(matches!(
            ours.complete(&[2]),
            Err(CryptoError::PublicValueLength { .. })
        ));
    }
}

/// The group prime, found through the public API by binary search for the smallest
/// value the validation rejects as "not below the prime" (so the tests do not carry a
/// second copy of the primes, and the boundary of the range check is exercised).
fn p_of(alg: &'static KeAlg) -> Vec<u8> {
    let ours = KeyExchange::from_private(alg, &[3]).unwrap();
    let len = alg.public_len;
    let mut lo = vec![0u8; len];
    lo[0] = 0x80;
    let mut hi = vec![0xffu8; len];
    while lo != hi {
        let mid = midpoint(&lo, &hi);
        let too_big = matches!(
            ours.complete(&mid),
            Err(CryptoError::InvalidPublicValue {
                reason: "value is not below the prime",
                ..
            })
        );
        if too_big {
            hi = mid;
        } else {
            lo = add_one(&mid);
        }
    }
    lo
}

fn midpoint(a: &[u8], b: &[u8]) -> Vec<u8> {
    // (a + b) / 2 on big-endian byte strings of equal length.
    let mut sum = vec![0u16; a.len() + 1];
    let mut carry = 0u16;
    for i in (0..a.len()).rev() {
        let s = u16::from(a[i]) + u16::from(b[i]) + carry;
        sum[i + 1] = s & 0xff;
        carry = s >> 8;
    }
    sum[0] = carry;
    let mut out = vec![0u8; a.len()];
    let mut rem = 0u16;
    for (i, s) in sum.iter().enumerate() {
        let cur = (rem << 8) | s;
        if i > 0 {
            out[i - 1] = (cur / 2) as u8;
        }
        rem = cur % 2;
    }
    out
}

fn add_one(a: &[u8]) -> Vec<u8> {
    let mut out = a.to_vec();
    for b in out.iter_mut().rev() {
        let (v, overflow) = b.overflowing_add(1);
        *b = v;
        if !overflow {
            break;
        }
    }
    out
}

// ---- ML-KEM (FIPS 203) as an RFC 9370 additional key exchange ----

#[test]
fn rfc9370_ml_kem_round_trip() {
    let rng = SystemRandomSource::new();
    for (alg, id) in [
        (&ke::ML_KEM_512, KeId::ML_KEM_512),
        (&ke::ML_KEM_768, KeId::ML_KEM_768),
        (&ke::ML_KEM_1024, KeId::ML_KEM_1024),
    ] {
        assert_eq!(KeAlg::from_id(id), Some(alg));
        assert!(alg.is_kem());
        let initiator = alg.initiate(&rng).unwrap();
        assert_eq!(
            initiator.public_value().len(),
            alg.public_len,
            "{}",
            alg.name
        );
        let (ciphertext, responder_secret) = alg.respond(&rng, initiator.public_value()).unwrap();
        assert_eq!(ciphertext.len(), alg.response_len, "{}", alg.name);
        let initiator_secret = initiator.complete(&ciphertext).unwrap();
        assert_eq!(initiator_secret, responder_secret, "{}", alg.name);
        assert_eq!(initiator_secret.len(), 32);
        // A fresh exchange gives a fresh secret.
        let (_, other) = alg.respond(&rng, initiator.public_value()).unwrap();
        assert_ne!(other, responder_secret);
    }
}

#[test]
fn rfc7296_section_1_2_ke_group_mismatch_maps_to_invalid_ke_payload() {
    let err = ke::ECP_256.check_group(KeId::MODP2048).unwrap_err();
    assert_eq!(err.notify(), Some(NotifyType::INVALID_KE_PAYLOAD));
    assert!(KeAlg::from_id(KeId::MODP768).is_none());
}
