//! Known-answer tests for the PRF and integrity transforms, each named after the RFC
//! its vector comes from.

use ike::crypto::{integ, prf, IntegAlg, PrfAlg};
use ike::registry::{IntegId, PrfId};

fn h(s: &str) -> Vec<u8> {
    hex::decode(s.replace([' ', '\n'], "")).expect("test vector hex")
}

fn check_prf(alg: &'static PrfAlg, key: &[u8], data: &[u8], expected: &str) {
    let out = alg.compute(key, &[data]).unwrap();
    assert_eq!(hex::encode(&*out), hex::encode(h(expected)), "{}", alg.name);
    // Feeding the data in pieces must not change the result.
    let (a, b) = data.split_at(data.len() / 2);
    assert_eq!(&*alg.key(key).unwrap().compute(&[a, b]).unwrap(), &*out);
}

fn check_integ(alg: &'static IntegAlg, key: &[u8], data: &[u8], expected: &str) {
    let k = alg.key(key).unwrap();
    let mut icv = vec![0u8; alg.icv_len];
    k.sign_into(&[data], &mut icv).unwrap();
    assert_eq!(hex::encode(&icv), hex::encode(h(expected)), "{}", alg.name);
    k.verify(&[data], &icv).unwrap();
}

// ---- RFC 4231: HMAC-SHA-256/384/512 ----

#[test]
fn rfc4231_hmac_sha2_case1() {
    let key = [0x0bu8; 20];
    check_prf(
        &prf::HMAC_SHA2_256,
        &key,
        b"Hi There",
        "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
    );
    check_prf(
        &prf::HMAC_SHA2_384,
        &key,
        b"Hi There",
        "afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59cfaea9ea9076ede7f4af152e8b2fa9cb6",
    );
    check_prf(
        &prf::HMAC_SHA2_512,
        &key,
        b"Hi There",
        "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cde\
         daa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854",
    );
}

#[test]
fn rfc4231_hmac_sha256_case2() {
    check_prf(
        &prf::HMAC_SHA2_256,
        b"Jefe",
        b"what do ya want for nothing?",
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
    );
}

#[test]
fn rfc4231_hmac_sha2_case3() {
    let key = [0xaau8; 20];
    let data = [0xddu8; 50];
    check_prf(
        &prf::HMAC_SHA2_256,
        &key,
        &data,
        "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
    );
    check_prf(
        &prf::HMAC_SHA2_384,
        &key,
        &data,
        "88062608d3e6ad8a0aa2ace014c8a86f0aa635d947ac9febe83ef4e55966144b2a5ab39dc13814b94e3ab6e101a34f27",
    );
    check_prf(
        &prf::HMAC_SHA2_512,
        &key,
        &data,
        "fa73b0089d56a284efb0f0756c890be9b1b5dbdd8ee81a3655f83e33b2279d39\
         bf3e848279a722c806b485a47e67c807b946a337bee8942674278859e13292fb",
    );
}

#[test]
fn rfc4231_hmac_sha2_case4() {
    let key: Vec<u8> = (1..=0x19).collect();
    let data = [0xcdu8; 50];
    check_prf(
        &prf::HMAC_SHA2_256,
        &key,
        &data,
        "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b",
    );
    check_prf(
        &prf::HMAC_SHA2_384,
        &key,
        &data,
        "3e8a69b7783c25851933ab6290af6ca77a9981480850009cc5577c6e1f573b4e6801dd23c4a7d679ccf8a386c674cffb",
    );
    check_prf(
        &prf::HMAC_SHA2_512,
        &key,
        &data,
        "b0ba465637458c6990e5a8c5f61d4af7e576d97ff94b872de76f8050361ee3db\
         a91ca5c11aa25eb4d679275cc5788063a5f19741120c4f2de2adebeb10a298dd",
    );
}

#[test]
fn rfc4231_hmac_sha2_case6_long_key() {
    let key = [0xaau8; 131];
    let data = b"Test Using Larger Than Block-Size Key - Hash Key First";
    check_prf(
        &prf::HMAC_SHA2_256,
        &key,
        data,
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
    );
    check_prf(
        &prf::HMAC_SHA2_384,
        &key,
        data,
        "4ece084485813e9088d2c63a041bc5b44f9ef1012a2b588f3cd11f05033ac4c60c2ef6ab4030fe8296248df163f44952",
    );
    check_prf(
        &prf::HMAC_SHA2_512,
        &key,
        data,
        "80b24263c7c1a3ebb71493c1dd7be8b49b46d1f41b4aeec1121b013783f8f352\
         6b56d037e05f2598bd0fd2215d6a1e5295e64f73f63f0aec8b915a985d786598",
    );
}

#[test]
fn rfc4231_hmac_sha2_case7_long_key_and_data() {
    let key = [0xaau8; 131];
    let data =
        b"This is a test using a larger than block-size key and a larger than block-size data. \
The key needs to be hashed before being used by the HMAC algorithm.";
    check_prf(
        &prf::HMAC_SHA2_256,
        &key,
        data,
        "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
    );
    check_prf(
        &prf::HMAC_SHA2_384,
        &key,
        data,
        "6617178e941f020d351e2f254e8fd32c602420feb0b8fb9adccebb82461e99c5a678cc31e799176d3860e6110c46523e",
    );
}

// ---- RFC 2202 / RFC 2404: HMAC-SHA1 and HMAC-SHA1-96 ----

#[test]
fn rfc2202_hmac_sha1_case1() {
    check_prf(
        &prf::HMAC_SHA1,
        &[0x0b; 20],
        b"Hi There",
        "b617318655057264e28bc0b6fb378c8ef146be00",
    );
    check_integ(
        &integ::HMAC_SHA1_96,
        &[0x0b; 20],
        b"Hi There",
        "b617318655057264e28bc0b6",
    );
}

// ---- RFC 4868: truncated HMAC-SHA2 integrity transforms ----

#[test]
fn rfc4868_hmac_sha2_integrity_case1() {
    check_integ(
        &integ::HMAC_SHA2_256_128,
        &[0x0b; 32],
        b"Hi There",
        "198a607eb44bfbc69903a0f1cf2bbdc5",
    );
    check_integ(
        &integ::HMAC_SHA2_384_192,
        &[0x0b; 48],
        b"Hi There",
        "b6a8d5636f5c6a7224f9977dcf7ee6c7fb6d0c48cbdee973",
    );
    check_integ(
        &integ::HMAC_SHA2_512_256,
        &[0x0b; 64],
        b"Hi There",
        "637edc6e01dce7e6742a99451aae82df23da3e92439e590e43e761b33e910fb8",
    );
}

#[test]
fn rfc4868_hmac_sha2_integrity_case2() {
    let data = b"what do ya want for nothing?";
    check_integ(
        &integ::HMAC_SHA2_256_128,
        &b"Jefe".repeat(8),
        data,
        "167f928588c5cc2eef8e3093caa0e87c",
    );
    check_integ(
        &integ::HMAC_SHA2_384_192,
        &b"Jefe".repeat(12),
        data,
        "2c7353974f1842fd66d53c452ca42122b28c0b594cfb184d",
    );
    check_integ(
        &integ::HMAC_SHA2_512_256,
        &b"Jefe".repeat(16),
        data,
        "cb370917ae8a7ce28cfd1d8f4705d6141c173b2a9362c15df235dfb251b15454",
    );
}

#[test]
fn rfc4868_hmac_sha2_integrity_case3() {
    let data = [0xddu8; 50];
    check_integ(
        &integ::HMAC_SHA2_256_128,
        &[0xaa; 32],
        &data,
        "cdcb1220d1ecccea91e53aba3092f962",
    );
    check_integ(
        &integ::HMAC_SHA2_384_192,
        &[0xaa; 48],
        &data,
        "809f439be00274321d4a538652164b53554a508184a0c316",
    );
    check_integ(
        &integ::HMAC_SHA2_512_256,
        &[0xaa; 64],
        &data,
        "2ee7acd783624ca9398710f3ee05ae41b9f9b0510c87e49e586cc9bf961733d8",
    );
}

// ---- RFC 3566: AES-XCBC-MAC-96 (and the full 128-bit MAC used by RFC 4434) ----

fn seq(n: u8) -> Vec<u8> {
    (0..n).collect()
}

const XCBC_CASES: [(u8, &str); 5] = [
    (0, "75f0251d528ac01c4573dfd584d79f29"),
    (3, "5b376580ae2f19afe7219ceef172756f"),
    (16, "d2a246fa349b68a79998a4394ff7a263"),
    (20, "47f51b4564966215b8985c63055ed308"),
    (32, "f54f0ec8d2b9f3d36807734bd5283fd4"),
];

#[test]
fn rfc3566_aes_xcbc_mac_96_cases_1_to_5() {
    for (len, full) in XCBC_CASES {
        let full = h(full);
        check_integ(
            &integ::AES_XCBC_96,
            &seq(16),
            &seq(len),
            &hex::encode(&full[..12]),
        );
    }
}

#[test]
fn rfc4434_aes_xcbc_prf_128_key_16() {
    for (len, full) in XCBC_CASES {
        check_prf(&prf::AES128_XCBC, &seq(16), &seq(len), full);
    }
}

#[test]
fn rfc4434_aes_xcbc_prf_128_key_10_is_zero_padded() {
    check_prf(
        &prf::AES128_XCBC,
        &seq(10),
        &seq(20),
        "0fa087af7d866e7653434e602fdde835",
    );
}

#[test]
fn rfc4434_aes_xcbc_prf_128_key_18_is_compressed() {
    let mut key = seq(16);
    key.extend_from_slice(&[0xed, 0xcb]);
    check_prf(
        &prf::AES128_XCBC,
        &key,
        &seq(20),
        "8cd3c93ae598a9803006ffb67c40e9e4",
    );
}

// ---- RFC 4493 / RFC 4494 / RFC 4615: AES-CMAC ----

const CMAC_KEY: &str = "2b7e151628aed2a6abf7158809cf4f3c";
const CMAC_MSG: &str = "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51\
                        30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710";
const CMAC_CASES: [(usize, &str); 4] = [
    (0, "bb1d6929e95937287fa37d129b756746"),
    (16, "070a16b46b4d4144f79bdd9dd04a287c"),
    (40, "dfa66747de9ae63030ca32611497c827"),
    (64, "51f0bebf7e3b9d92fc49741779363cfe"),
];

#[test]
fn rfc4493_aes_cmac_examples_1_to_4() {
    let msg = h(CMAC_MSG);
    for (len, mac) in CMAC_CASES {
        check_prf(&prf::AES128_CMAC, &h(CMAC_KEY), &msg[..len], mac);
    }
}

#[test]
fn rfc4494_aes_cmac_96_cases_1_to_4() {
    let msg = h(CMAC_MSG);
    for (len, mac) in CMAC_CASES {
        check_integ(&integ::AES_CMAC_96, &h(CMAC_KEY), &msg[..len], &mac[..24]);
    }
}

#[test]
fn rfc4615_aes_cmac_prf_128_key_lengths() {
    let mut key18 = seq(16);
    key18.extend_from_slice(&[0xed, 0xcb]);
    check_prf(
        &prf::AES128_CMAC,
        &key18,
        &seq(20),
        "84a348a4a45d235babfffc0d2b4da09a",
    );
    check_prf(
        &prf::AES128_CMAC,
        &seq(16),
        &seq(20),
        "980ae87b5f4c9c5214f5b6a8455e4c2d",
    );
    check_prf(
        &prf::AES128_CMAC,
        &seq(10),
        &seq(20),
        "290d9e112edb09ee141fcf64c0b72f3d",
    );
}

#[test]
fn transforms_are_looked_up_by_registry_id() {
    assert_eq!(PrfAlg::from_id(PrfId::AES128_XCBC), Some(&prf::AES128_XCBC));
    assert_eq!(
        IntegAlg::from_id(IntegId::AES_CMAC_96),
        Some(&integ::AES_CMAC_96)
    );
}
