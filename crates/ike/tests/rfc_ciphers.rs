//! Known-answer tests for the encryption transforms and the SK payload construction,
//! each named after the document its vector comes from.

use std::sync::Mutex;

use ike::crypto::encr::{self, EncrAlg};
use ike::crypto::{integ, CryptoError, RandomSource, SkCipher};
use ike::registry::EncrId;

fn h(s: &str) -> Vec<u8> {
    hex::decode(s.replace([' ', '\n'], "")).expect("test vector hex")
}

/// Hands out pre-set bytes so the IV of a sealed payload is the test vector's.
struct FixedRandom(Mutex<Vec<u8>>);

impl FixedRandom {
    fn new(bytes: Vec<u8>) -> Self {
        Self(Mutex::new(bytes))
    }
}

impl RandomSource for FixedRandom {
    fn fill(&self, dest: &mut [u8]) -> Result<(), CryptoError> {
        let mut left = self.0.lock().unwrap();
        assert!(left.len() >= dest.len(), "FixedRandom ran dry");
        dest.copy_from_slice(&left[..dest.len()]);
        left.drain(..dest.len());
        Ok(())
    }
}

/// Encrypts with the raw transform and checks both directions.
fn check_cipher(
    alg: &'static EncrAlg,
    keymat: &str,
    iv: &str,
    aad: &[u8],
    plain: &[u8],
    expected: &str,
) {
    let key = alg.key(&h(keymat)).unwrap();
    let expected = h(expected);
    let (ct_exp, tag_exp) = expected.split_at(plain.len());
    let mut data = plain.to_vec();
    let mut tag = vec![0u8; alg.icv_len];
    key.encrypt_in_place(&h(iv), aad, &mut data, &mut tag)
        .unwrap();
    assert_eq!(
        hex::encode(&data),
        hex::encode(ct_exp),
        "{} ciphertext",
        alg.name
    );
    assert_eq!(hex::encode(&tag), hex::encode(tag_exp), "{} tag", alg.name);
    key.decrypt_in_place(&h(iv), aad, &mut data, &tag).unwrap();
    assert_eq!(data, plain, "{} decrypt", alg.name);
    if alg.is_aead() {
        tag[0] ^= 1;
        assert_eq!(
            key.decrypt_in_place(&h(iv), aad, &mut data, &tag),
            Err(CryptoError::IntegrityCheckFailed)
        );
    }
}

// ---- RFC 3686 section 6: AES-CTR (nonce = last 4 bytes of the key material) ----

const SEQ32: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
const SEQ36: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20212223";

#[test]
fn rfc3686_aes128_ctr_vectors_1_to_3() {
    check_cipher(
        &encr::AES_CTR_128,
        "ae6852f8121067cc4bf7a5765577f39e 00000030",
        "0000000000000000",
        b"",
        b"Single block msg",
        "e4095d4fb7a7b3792d6175a3261311b8",
    );
    check_cipher(
        &encr::AES_CTR_128,
        "7e24067817fae0d743d6ce1f32539163 006cb6db",
        "c0543b59da48d90b",
        b"",
        &h(SEQ32),
        "5104a106168a72d9790d41ee8edad388eb2e1efc46da57c8fce630df9141be28",
    );
    check_cipher(
        &encr::AES_CTR_128,
        "7691be035e5020a8ac6e618529f9a0dc 00e0017b",
        "27777f3f4a1786f0",
        b"",
        &h(SEQ36),
        "c1cf48a89f2ffdd9cf4652e9efdb72d74540a42bde6d7836d59a5ceaaef3105325b2072f",
    );
}

#[test]
fn rfc3686_aes192_ctr_vectors_4_to_6() {
    check_cipher(
        &encr::AES_CTR_192,
        "16af5b145fc9f579c175f93e3bfb0eed863d06ccfdb78515 00000048",
        "36733c147d6d93cb",
        b"",
        b"Single block msg",
        "4b55384fe259c9c84e7935a003cbe928",
    );
    check_cipher(
        &encr::AES_CTR_192,
        "7c5cb2401b3dc33c19e7340819e0f69c678c3db8e6f6a91a 0096b03b",
        "020c6eadc2cb500d",
        b"",
        &h(SEQ32),
        "453243fc609b23327edfaafa7131cd9f8490701c5ad4a79cfc1fe0ff42f4fb00",
    );
    check_cipher(
        &encr::AES_CTR_192,
        "02bf391ee8ecb159b959617b0965279bf59b60a786d3e0fe 0007bdfd",
        "5cbd60278dcc0912",
        b"",
        &h(SEQ36),
        "96893fc55e5c722f540b7dd1ddf7e758d288bc95c69165884536c811662f2188abee0935",
    );
}

#[test]
fn rfc3686_aes256_ctr_vectors_7_to_9() {
    check_cipher(
        &encr::AES_CTR_256,
        "776beff2851db06f4c8a0542c8696f6c6a81af1eec96b4d37fc1d689e6c1c104 00000060",
        "db5672c97aa8f0b2",
        b"",
        b"Single block msg",
        "145ad01dbf824ec7560863dc71e3e0c0",
    );
    check_cipher(
        &encr::AES_CTR_256,
        "f6d66d6bd52d59bb0796365879eff886c66dd51a5b6a99744b50590c87a23884 00faac24",
        "c1585ef15a43d875",
        b"",
        &h(SEQ32),
        "f05e231b3894612c49ee000b804eb2a9b8306b508f839d6a5530831d9344af1c",
    );
    check_cipher(
        &encr::AES_CTR_256,
        "ff7a617ce69148e4f1726e2f43581de2aa62d9f805532edff1eed687fb54153d 001cc5b7",
        "51a51d70a1c11148",
        b"",
        &h(SEQ36),
        "eb6c52821d0bbbf7ce7594462aca4faab407df866569fd07f48cc0b583d6071f1ec0e6b8",
    );
}

// ---- NIST GCM (McGrew & Viega, "The Galois/Counter Mode of Operation", test cases
// 3, 4, 9, 15, 16), as RFC 4106/5282 use them: salt = first 4 IV bytes ----

const GCM_PLAIN: &str = "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72\
                         1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255";
const GCM_AAD: &str = "feedfacedeadbeeffeedfacedeadbeefabaddad2";
const GCM_CT_128: &str = "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e\
                          21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091473f5985";
const GCM_CT_256: &str = "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa\
                          8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad";

#[test]
fn nist_gcm_test_case_3_aes128_icv_8_12_16() {
    let plain = h(GCM_PLAIN);
    let full_tag = "4d5c2af327cd64a62cf35abd2ba6fab4";
    for (alg, icv_hex) in [
        (&encr::AES_GCM_8_128, &full_tag[..16]),
        (&encr::AES_GCM_12_128, &full_tag[..24]),
        (&encr::AES_GCM_16_128, full_tag),
    ] {
        let expected = format!("{GCM_CT_128}{icv_hex}");
        check_cipher(
            alg,
            "feffe9928665731c6d6a8f9467308308 cafebabe",
            "facedbaddecaf888",
            b"",
            &plain,
            &expected,
        );
    }
}

#[test]
fn nist_gcm_test_case_4_aes128_with_aad() {
    let plain = h(GCM_PLAIN);
    check_cipher(
        &encr::AES_GCM_16_128,
        "feffe9928665731c6d6a8f9467308308 cafebabe",
        "facedbaddecaf888",
        &h(GCM_AAD),
        &plain[..60],
        &format!("{}5bc94fbc3221a5db94fae95ae7121a47", &GCM_CT_128[..120]),
    );
}

#[test]
fn nist_gcm_test_case_9_aes192() {
    check_cipher(
        &encr::AES_GCM_16_192,
        "feffe9928665731c6d6a8f9467308308feffe9928665731c cafebabe",
        "facedbaddecaf888",
        b"",
        &h(GCM_PLAIN),
        "3980ca0b3c00e841eb06fac4872a2757859e1ceaa6efd984628593b40ca1e19c\
         7d773d00c144c525ac619d18c84a3f4718e2448b2fe324d9ccda2710acade256\
         9924a7c8587336bfb118024db8674a14",
    );
}

#[test]
fn nist_gcm_test_case_15_aes256() {
    check_cipher(
        &encr::AES_GCM_16_256,
        "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308 cafebabe",
        "facedbaddecaf888",
        b"",
        &h(GCM_PLAIN),
        &format!("{GCM_CT_256}b094dac5d93471bdec1a502270e3cc6c"),
    );
}

#[test]
fn nist_gcm_test_case_16_aes256_with_aad() {
    let plain = h(GCM_PLAIN);
    check_cipher(
        &encr::AES_GCM_16_256,
        "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308 cafebabe",
        "facedbaddecaf888",
        &h(GCM_AAD),
        &plain[..60],
        &format!("{}76fc6ece0f4e1768cddf8853bb2d551b", &GCM_CT_256[..120]),
    );
}

// ---- RFC 8439 section 2.8.2 and appendix A.5: ChaCha20-Poly1305 AEAD ----

#[test]
fn rfc8439_chacha20_poly1305_aead_section_2_8_2() {
    let plain = b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.";
    check_cipher(
        &encr::CHACHA20_POLY1305,
        "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f 07000000",
        "4041424344454647",
        &h("50515253c0c1c2c3c4c5c6c7"),
        plain,
        "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6\
         3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36\
         92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc\
         3ff4def08e4b7a9de576d26586cec64b6116\
         1ae10b594f09e26a7e902ecbd0600691",
    );
}

#[test]
fn rfc8439_chacha20_poly1305_aead_appendix_a5() {
    let plain = h(
        "496e7465726e65742d4472616674732061726520647261667420646f63756d65\
                   6e74732076616c696420666f722061206d6178696d756d206f6620736978206d\
                   6f6e74687320616e64206d617920626520757064617465642c207265706c6163\
                   65642c206f72206f62736f6c65746564206279206f7468657220646f63756d65\
                   6e747320617420616e792074696d652e20497420697320696e617070726f7072\
                   6961746520746f2075736520496e7465726e65742d4472616674732061732072\
                   65666572656e6365206d6174657269616c206f7220746f206369746520746865\
                   6d206f74686572207468616e206173202fe2809c776f726b20696e2070726f67\
                   726573732e2fe2809d",
    );
    check_cipher(
        &encr::CHACHA20_POLY1305,
        "1c9240a5eb55d38af333888604f6b5f0473917c1402b80099dca5cbc207075c0 00000000",
        "0102030405060708",
        &h("f33388860000000000004e91"),
        &plain,
        "64a0861575861af460f062c79be643bd5e805cfd345cf389f108670ac76c8cb2\
         4c6cfc18755d43eea09ee94e382d26b0bdb7b73c321b0100d4f03b7f355894cf\
         332f830e710b97ce98c8a84abd0b948114ad176e008d33bd60f982b1ff37c855\
         9797a06ef4f0ef61c186324e2b3506383606907b6a7c02b0f9f6157b53c867e4\
         b9166c767b804d46a59b5216cde7a4e99040c5a40433225ee282a1b0a06c523e\
         af4534d7f83fa1155b0047718cbc546a0d072b04b3564eea1b422273f548271a\
         0bb2316053fa76991955ebd63159434ecebb4e466dae5a1073a6727627097a10\
         49e617d91d361094fa68f0ff77987130305beaba2eda04df997b714d6c6f2c29\
         a6ad5cb4022b02709b\
         eead9d67890cbb22392336fea1851f38",
    );
}

// ---- RFC 7634: ChaCha20-Poly1305 for ESP and IKEv2 ----

#[test]
fn rfc7634_appendix_a_esp_example() {
    check_cipher(
        &encr::CHACHA20_POLY1305,
        "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f a0a1a2a3",
        "1011121314151617",
        &h("0102030400000005"),
        &h(
            "45000054a6f200004001e778c6336405c000020508005b7a3a080000553bec10\
            0007362708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20212223\
            2425262728292a2b2c2d2e2f303132333435363701020204",
        ),
        "24039428b97f417e3c13753a4f05087b67c352e6a7fab1b982d466ef407ae5c6\
         14ee8099d52844eb61aa95dfab4c02f72aa71e7c4c4f64c9befe2facc638e8f3\
         cbec163fac469b502773f6fb94e664da9165b82829f641e0\
         76aaa8266b7fb0f7b11b369907e1ad43",
    );
}

#[test]
fn rfc7634_appendix_b_ikev2_example_through_sk_payload() {
    // IKE header (28 bytes) + Encrypted payload header (4 bytes) are the AAD; the inner
    // payload is a 12-byte Notify, the pad length byte is 0 and the IV comes from the
    // "random" source, so the whole SK body must match the RFC byte for byte.
    let aad = h("c0c1c2c3c4c5c6c7d0d1d2d3d4d5d6d72e202500000000090000004529000029");
    let keymat = h("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f a0a1a2a3");
    let sk = SkCipher::new(&encr::CHACHA20_POLY1305, &keymat, None).unwrap();
    let inner = h("0000000c000040010000000a");
    let rng = FixedRandom::new(h("1011121314151617"));
    let body = sk.seal(&rng, &aad, &inner).unwrap();
    let expected = h("1011121314151617\
                      610394701f8d017f7c129248896b71bfe25236efd7cdc67066906315b2");
    assert_eq!(hex::encode(&body), hex::encode(&expected));
    // The Encrypted payload length in the AAD (0x29 = 41) covers header + body.
    assert_eq!(4 + body.len(), 0x29);
    let mut received = expected.clone();
    assert_eq!(sk.open(&aad, &mut received).unwrap(), &inner[..]);
}

// ---- SK payload with CBC + HMAC: the ICV covers header through ciphertext ----

#[test]
fn rfc7296_section_3_14_cbc_layout_and_icv_coverage() {
    let keymat = [0x42u8; 16];
    let ikey = [0x24u8; 32];
    let sk = SkCipher::new(
        &encr::AES_CBC_128,
        &keymat,
        Some((&integ::HMAC_SHA2_256_128, &ikey)),
    )
    .unwrap();
    let aad = b"IKE header + SK header...";
    let iv = [0x99u8; 16];
    let rng = FixedRandom::new(iv.to_vec());
    let inner = b"twenty inner bytes!!";
    let body = sk.seal(&rng, aad, inner).unwrap();
    // IV | 2 blocks (20 + 11 pad + 1 pad length) | 16-byte ICV.
    assert_eq!(body.len(), 16 + 32 + 16);
    assert_eq!(&body[..16], &iv);
    // Decrypting the ciphertext by hand shows the RFC 7296 padding layout.
    let key = encr::AES_CBC_128.key(&keymat).unwrap();
    let mut ct = body[16..48].to_vec();
    key.decrypt_in_place(&iv, b"", &mut ct, &[]).unwrap();
    assert_eq!(&ct[..20], inner);
    assert_eq!(ct[31], 11);
    // The ICV is HMAC-SHA2-256-128 over AAD | IV | ciphertext.
    let ik = integ::HMAC_SHA2_256_128.key(&ikey).unwrap();
    ik.verify(&[aad, &body[..48]], &body[48..]).unwrap();
}

#[test]
fn encryption_transforms_are_looked_up_by_registry_id() {
    assert_eq!(
        EncrAlg::lookup(EncrId::AES_GCM_16, Some(256)).unwrap(),
        &encr::AES_GCM_16_256
    );
    assert_eq!(
        EncrAlg::lookup(EncrId::AES_CTR, Some(192)).unwrap(),
        &encr::AES_CTR_192
    );
    assert!(matches!(
        EncrAlg::lookup(EncrId::AES_GCM_16, None),
        Err(CryptoError::Unsupported { .. })
    ));
}
