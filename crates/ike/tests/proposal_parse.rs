//! `ike=`/`esp=`/`ah=` parsing: libreswan's examples, aliases, defaults and errors.

use ike::proposal::{IkeVersion, ProposalErrorKind, ProposalKind, ProposalSet, Slot, Transform};
use ike::registry::{EncrId, EsnId, IntegId, KeId, PrfId, ProtocolId, TransformType};

fn ike(s: &str) -> ProposalSet {
    ProposalSet::parse(s, ProposalKind::IKEV2_IKE).unwrap_or_else(|e| panic!("{e}"))
}

fn esp(s: &str) -> ProposalSet {
    ProposalSet::parse(s, ProposalKind::IKEV2_ESP).unwrap_or_else(|e| panic!("{e}"))
}

const V2_GROUPS: &str = "DH19+DH20+DH21+DH31+MODP4096+MODP3072+MODP2048+MODP8192";

#[test]
fn aead_with_prf_list_and_groups() {
    let set = ike("aes_gcm256-sha2_512+sha2_256-dh19+dh31");
    assert_eq!(set.proposals().len(), 1);
    let p = &set.proposals()[0];
    assert_eq!(p.protocol, ProtocolId::IKE);
    assert_eq!(p.encr, vec![(EncrId::AES_GCM_16, Some(256))]);
    assert_eq!(p.prf, vec![PrfId::HMAC_SHA2_512, PrfId::HMAC_SHA2_256]);
    assert_eq!(p.integ, vec![IntegId::NONE]);
    assert_eq!(p.ke, vec![KeId::ECP_256, KeId::CURVE25519]);
    assert!(p.esn.is_empty());
    assert_eq!(
        set.to_string(),
        "AES_GCM_16_256-HMAC_SHA2_512+HMAC_SHA2_256-DH19+DH31"
    );
}

#[test]
fn legacy_semicolon_group() {
    let set = ike("aes128-sha1;modp2048");
    let p = &set.proposals()[0];
    assert_eq!(p.encr, vec![(EncrId::AES_CBC, Some(128))]);
    assert_eq!(p.prf, vec![PrfId::HMAC_SHA1]);
    assert_eq!(p.integ, vec![IntegId::HMAC_SHA1_96]);
    assert_eq!(p.ke, vec![KeId::MODP2048]);
    assert_eq!(set.to_string(), "AES_CBC_128-HMAC_SHA1-MODP2048");
}

#[test]
fn aes_sha2_dh19_prf_implies_integrity() {
    let set = ike("aes-sha2;dh19");
    let p = &set.proposals()[0];
    assert_eq!(p.encr, vec![(EncrId::AES_CBC, None)]);
    assert_eq!(p.prf, vec![PrfId::HMAC_SHA2_256]);
    assert_eq!(p.integ, vec![IntegId::HMAC_SHA2_256_128]);
    assert_eq!(p.ke, vec![KeId::ECP_256]);
    // A cipher without a key length is offered as 256 then 128, like libreswan.
    let encr: Vec<Transform> = p
        .transforms()
        .into_iter()
        .filter(|t| t.ty == TransformType::ENCR)
        .collect();
    assert_eq!(
        encr,
        vec![
            Transform::encr(EncrId::AES_CBC, Some(256)),
            Transform::encr(EncrId::AES_CBC, Some(128))
        ]
    );
}

#[test]
fn ke_and_addke_keys() {
    let set = ike("aes_gcm;ke=dh31;addke1=ml_kem_768");
    let p = &set.proposals()[0];
    assert_eq!(p.encr, vec![(EncrId::AES_GCM_16, None)]);
    assert_eq!(p.prf, vec![PrfId::HMAC_SHA2_512, PrfId::HMAC_SHA2_256]);
    assert_eq!(p.ke, vec![KeId::CURVE25519]);
    assert_eq!(p.addke[0], vec![KeId::ML_KEM_768]);
    assert!(p.addke[1..].iter().all(Vec::is_empty));
    assert_eq!(
        set.to_string(),
        "AES_GCM_16-HMAC_SHA2_512+HMAC_SHA2_256-DH31;ADDKE1=ML_KEM_768"
    );
    let t = p.transforms();
    assert!(t.contains(&Transform::new(TransformType::ADDKE1, KeId::ML_KEM_768.0)));
    assert!(!t.iter().any(|t| t.ty == TransformType::INTEG));
}

#[test]
fn addke_with_optional_none() {
    let set = ike("aes_gcm256-sha2-dh19;addke1=ml_kem_768+none;addke2=ml_kem_1024");
    let p = &set.proposals()[0];
    assert_eq!(p.addke[0], vec![KeId::ML_KEM_768, KeId::NONE]);
    assert_eq!(p.addke[1], vec![KeId::ML_KEM_1024]);
}

#[test]
fn esp_aead_none() {
    let set = esp("aes_gcm-none");
    let p = &set.proposals()[0];
    assert_eq!(p.protocol, ProtocolId::ESP);
    assert_eq!(p.encr, vec![(EncrId::AES_GCM_16, None)]);
    assert_eq!(p.integ, vec![IntegId::NONE]);
    assert!(p.prf.is_empty());
    assert!(p.ke.is_empty());
    assert_eq!(p.esn, vec![EsnId::YES, EsnId::NO]);
    assert_eq!(set.to_string(), "AES_GCM_16");
    assert_eq!(esp("aes_gcm").proposals(), set.proposals());
}

#[test]
fn esp_legacy_3des_md5() {
    let set = esp("3des-md5");
    let p = &set.proposals()[0];
    assert_eq!(p.encr, vec![(EncrId::TRIPLE_DES, None)]);
    assert_eq!(p.integ, vec![IntegId::HMAC_MD5_96]);
    assert_eq!(set.to_string(), "3DES-HMAC_MD5_96");
    let ikev1 = ProposalSet::parse("3des-md5", ProposalKind::IKEV1_IKE).unwrap();
    assert_eq!(ikev1.proposals()[0].prf, vec![PrfId::HMAC_MD5]);
}

#[test]
fn key_length_spellings() {
    for (s, want) in [
        ("aes128", (EncrId::AES_CBC, Some(128))),
        ("aes_256", (EncrId::AES_CBC, Some(256))),
        ("aes_cbc_192", (EncrId::AES_CBC, Some(192))),
        ("aes_gcm_16_256", (EncrId::AES_GCM_16, Some(256))),
        ("aes_gcm256", (EncrId::AES_GCM_16, Some(256))),
        ("aes_gcm_c_128", (EncrId::AES_GCM_16, Some(128))),
        ("aes_gcm_a", (EncrId::AES_GCM_8, None)),
        ("aes_gcm_b256", (EncrId::AES_GCM_12, Some(256))),
        ("aes_ctr128", (EncrId::AES_CTR, Some(128))),
        ("aes_ccm_8_128", (EncrId::AES_CCM_8, Some(128))),
        ("camellia256", (EncrId::CAMELLIA_CBC, Some(256))),
        ("chacha20_poly1305", (EncrId::CHACHA20_POLY1305, None)),
        ("AES_CBC_256", (EncrId::AES_CBC, Some(256))),
    ] {
        assert_eq!(esp(s).proposals()[0].encr, vec![want], "{s}");
    }
}

#[test]
fn hash_and_group_aliases() {
    let p = ike("aes-sha-modp1536").proposals()[0].clone();
    assert_eq!(p.prf, vec![PrfId::HMAC_SHA1]);
    assert_eq!(p.ke, vec![KeId::MODP1536]);
    let p = ike("aes-sha1-ecp_256+x25519+curve25519+dh20+dh14").proposals()[0].clone();
    assert_eq!(
        p.ke,
        vec![
            KeId::ECP_256,
            KeId::CURVE25519,
            KeId::ECP_384,
            KeId::MODP2048
        ]
    );
    let p = esp("aes-sha2_512+sha2_256+sha1").proposals()[0].clone();
    assert_eq!(
        p.integ,
        vec![
            IntegId::HMAC_SHA2_512_256,
            IntegId::HMAC_SHA2_256_128,
            IntegId::HMAC_SHA1_96
        ]
    );
}

#[test]
fn plus_alternatives_and_comma_proposals() {
    let set = ike("aes_gcm+chacha20_poly1305;dh14+dh19,aes+3des-sha2+sha1;dh14");
    assert_eq!(set.proposals().len(), 2);
    let a = &set.proposals()[0];
    assert_eq!(
        a.encr,
        vec![
            (EncrId::AES_GCM_16, None),
            (EncrId::CHACHA20_POLY1305, None)
        ]
    );
    assert_eq!(a.ke, vec![KeId::MODP2048, KeId::ECP_256]);
    let b = &set.proposals()[1];
    assert_eq!(
        b.encr,
        vec![(EncrId::AES_CBC, None), (EncrId::TRIPLE_DES, None)]
    );
    assert_eq!(b.prf, vec![PrfId::HMAC_SHA2_256, PrfId::HMAC_SHA1]);
    assert_eq!(
        b.integ,
        vec![IntegId::HMAC_SHA2_256_128, IntegId::HMAC_SHA1_96]
    );
    let spaced = ike(" aes_gcm + chacha20_poly1305 ; dh14+dh19 , aes+3des-sha2+sha1;dh14 ");
    assert_eq!(spaced, set);
}

#[test]
fn explicit_integ_then_prf() {
    // As in libreswan, a list that parses as PRFs is the PRF; integrity needs its
    // full (truncated) name to be recognised before the PRF.
    let p = ike("aes-sha1_96-sha2_256-dh19").proposals()[0].clone();
    assert_eq!(p.integ, vec![IntegId::HMAC_SHA1_96]);
    assert_eq!(p.prf, vec![PrfId::HMAC_SHA2_256]);
    assert_eq!(p.ke, vec![KeId::ECP_256]);
    let s = ike("aes-sha1_96-sha2_256-dh19").to_string();
    assert_eq!(s, "AES_CBC-HMAC_SHA1_96-HMAC_SHA2_256-DH19");
    assert_eq!(ike(&s), ike("aes-sha1_96-sha2_256-dh19"));
    let p = ike("aes_gcm-none-sha1-dh21").proposals()[0].clone();
    assert_eq!(p.integ, vec![IntegId::NONE]);
    assert_eq!(p.prf, vec![PrfId::HMAC_SHA1]);
    assert_eq!(p.ke, vec![KeId::ECP_521]);
}

#[test]
fn separate_key_length_token() {
    let p = ike("aes-128-sha1").proposals()[0].clone();
    assert_eq!(p.encr, vec![(EncrId::AES_CBC, Some(128))]);
    assert_eq!(p.prf, vec![PrfId::HMAC_SHA1]);
    let p = esp("aes-128+aes-256-sha2").proposals()[0].clone();
    assert_eq!(
        p.encr,
        vec![(EncrId::AES_CBC, Some(128)), (EncrId::AES_CBC, Some(256))]
    );
    assert_eq!(p.integ, vec![IntegId::HMAC_SHA2_256_128]);
}

#[test]
fn additional_key_exchanges_after_the_ke() {
    let p = ike("aes_gcm-sha2-dh19-ml_kem_768-ml_kem_1024").proposals()[0].clone();
    assert_eq!(p.ke, vec![KeId::ECP_256]);
    assert_eq!(p.addke[0], vec![KeId::ML_KEM_768]);
    assert_eq!(p.addke[1], vec![KeId::ML_KEM_1024]);
    let q = ike("aes_gcm-sha2;dh19-ml_kem_768-ml_kem_1024").proposals()[0].clone();
    assert_eq!(p, q);
    let r = ike("aes_gcm-sha2;ke=dh19;addke1=ml_kem_768;addke2=ml_kem_1024").proposals()[0].clone();
    assert_eq!(p, r);
    let p = esp("aes_gcm-none-dh19-ml_kem_768").proposals()[0].clone();
    assert_eq!(p.addke[0], vec![KeId::ML_KEM_768]);
}

#[test]
fn ike_missing_parts_get_defaults() {
    let p = ike("aes").proposals()[0].clone();
    assert_eq!(p.prf, vec![PrfId::HMAC_SHA2_512, PrfId::HMAC_SHA2_256]);
    assert_eq!(
        p.integ,
        vec![IntegId::HMAC_SHA2_512_256, IntegId::HMAC_SHA2_256_128]
    );
    assert_eq!(
        ike("aes_gcm256").to_string(),
        format!("AES_GCM_16_256-HMAC_SHA2_512+HMAC_SHA2_256-{V2_GROUPS}")
    );
    // ENCR-KE: the PRF comes from the defaults.
    let p = ike("aes_gcm-dh19").proposals()[0].clone();
    assert_eq!(p.ke, vec![KeId::ECP_256]);
    assert_eq!(p.prf, vec![PrfId::HMAC_SHA2_512, PrfId::HMAC_SHA2_256]);
    // The documented `ike=aes_gcm256;sha2_256`: a PRF after `;`.
    let p = ike("aes_gcm256;sha2_256").proposals()[0].clone();
    assert_eq!(p.prf, vec![PrfId::HMAC_SHA2_256]);
}

#[test]
fn esp_defaults_for_missing_integ_and_pfs_group() {
    let p = esp("aes").proposals()[0].clone();
    assert_eq!(
        p.integ,
        vec![IntegId::HMAC_SHA2_512_256, IntegId::HMAC_SHA2_256_128]
    );
    let p = esp("aes128-sha2_512;dh19").proposals()[0].clone();
    assert_eq!(p.ke, vec![KeId::ECP_256]);
    let p = esp("aes128-sha1-modp2048").proposals()[0].clone();
    assert_eq!(p.ke, vec![KeId::MODP2048]);
    let p = esp("aes_gcm;dh19").proposals()[0].clone();
    assert_eq!(p.ke, vec![KeId::ECP_256]);
    assert_eq!(esp("aes_gcm;dh19").to_string(), "AES_GCM_16;DH19");
    let p = esp("aes-sha2-dh19+none").proposals()[0].clone();
    assert_eq!(p.ke, vec![KeId::ECP_256, KeId::NONE]);
}

#[test]
fn ah_proposals() {
    let set = ProposalSet::parse("sha2_512+sha1;dh19", ProposalKind::IKEV2_AH).unwrap();
    let p = &set.proposals()[0];
    assert_eq!(p.protocol, ProtocolId::AH);
    assert!(p.encr.is_empty());
    assert_eq!(
        p.integ,
        vec![IntegId::HMAC_SHA2_512_256, IntegId::HMAC_SHA1_96]
    );
    assert_eq!(p.ke, vec![KeId::ECP_256]);
    assert_eq!(set.to_string(), "HMAC_SHA2_512_256+HMAC_SHA1_96-DH19");
    let e = ProposalSet::parse("none", ProposalKind::IKEV2_AH).unwrap_err();
    assert_eq!(e.kind, ProposalErrorKind::MissingIntegrity);
}

#[test]
fn strict_suffix() {
    let s = ike("aes256-sha1!");
    assert!(s.is_strict());
    assert_eq!(s.proposals().len(), 1);
    let n = ike("aes256-sha1");
    assert!(!n.is_strict());
    assert_eq!(s.proposals(), n.proposals());
}

#[test]
fn unknown_integrity_error_names_token_position_and_choices() {
    let e = ProposalSet::parse("aes-shaa1", ProposalKind::IKEV2_ESP).unwrap_err();
    assert_eq!(e.kind, ProposalErrorKind::Unknown(Slot::Integrity));
    assert_eq!(e.token, "shaa1");
    assert_eq!(e.position, 4);
    let msg = e.to_string();
    assert!(
        msg.starts_with("esp=\"aes-shaa1\": unknown integrity algorithm 'shaa1' at position 4; expected one of sha1, sha2_256, "),
        "{msg}"
    );
    assert!(msg.contains("sha1"), "{msg}");
}

#[test]
fn errors() {
    use ProposalErrorKind as K;
    let cases: &[(&str, ProposalKind, K, &str, usize)] = &[
        ("", ProposalKind::IKEV2_IKE, K::Empty, "", 0),
        ("aes,,3des", ProposalKind::IKEV2_IKE, K::Empty, "", 4),
        (
            "blowfish-sha1",
            ProposalKind::IKEV2_IKE,
            K::Unknown(Slot::Encryption),
            "blowfish",
            0,
        ),
        (
            "aes-sha1-dh99",
            ProposalKind::IKEV2_IKE,
            K::Unknown(Slot::KeyExchange),
            "dh99",
            9,
        ),
        (
            "aes-foo",
            ProposalKind::IKEV2_IKE,
            K::Unknown(Slot::Prf),
            "foo",
            4,
        ),
        (
            "aes100-sha1",
            ProposalKind::IKEV2_IKE,
            K::BadKeyLength(EncrId::AES_CBC),
            "aes100",
            0,
        ),
        (
            "3des128",
            ProposalKind::IKEV2_ESP,
            K::BadKeyLength(EncrId::TRIPLE_DES),
            "3des128",
            0,
        ),
        ("aes+-sha1", ProposalKind::IKEV2_IKE, K::EmptyName, "", 4),
        (
            "aes-sha2-dh19-dh20-dh20-dh20-dh20-dh20-dh20-dh20-dh31",
            ProposalKind::IKEV2_IKE,
            K::TooManyParts,
            "dh31",
            49,
        ),
        (
            "aes-sha1-dh19-dh20-dh20-dh20-dh20-dh20-dh20-dh20-dh31",
            ProposalKind::IKEV2_ESP,
            K::TooManyParts,
            "dh31",
            49,
        ),
        (
            "aes-sha1-sha1-dh19",
            ProposalKind::IKEV2_IKE,
            K::Unknown(Slot::KeyExchange),
            "sha1",
            9,
        ),
        (
            "3des-168-sha1",
            ProposalKind::IKEV2_ESP,
            K::BadKeyLength(EncrId::TRIPLE_DES),
            "168",
            5,
        ),
        (
            "aes128-256-sha1",
            ProposalKind::IKEV2_ESP,
            K::BadKeyLength(EncrId::AES_CBC),
            "256",
            7,
        ),
        (
            "aes-sha2;dh19-dh20;addke1=dh21",
            ProposalKind::IKEV2_IKE,
            K::Duplicate(Slot::AdditionalKe(1)),
            "addke1",
            19,
        ),
        (
            "aes-sha1;dh19;dh20",
            ProposalKind::IKEV2_IKE,
            K::Duplicate(Slot::KeyExchange),
            "dh20",
            14,
        ),
        (
            "aes_gcm;foo=dh19",
            ProposalKind::IKEV2_IKE,
            K::UnknownKey,
            "foo",
            8,
        ),
        (
            "aes_gcm;addke8=dh19",
            ProposalKind::IKEV2_IKE,
            K::UnknownKey,
            "addke8",
            8,
        ),
        (
            "aes_gcm+aes-sha1",
            ProposalKind::IKEV2_IKE,
            K::AeadMixed,
            "aes",
            8,
        ),
        (
            "aes_gcm-sha1",
            ProposalKind::IKEV2_ESP,
            K::AeadWithIntegrity,
            "sha1",
            8,
        ),
        (
            "aes-none",
            ProposalKind::IKEV2_ESP,
            K::MissingIntegrity,
            "none",
            4,
        ),
        (
            "aes_gcm-none-sha2-foo",
            ProposalKind::IKEV2_IKE,
            K::Unknown(Slot::KeyExchange),
            "foo",
            18,
        ),
    ];
    for (input, kind, want, token, pos) in cases {
        match ProposalSet::parse(input, *kind) {
            Ok(s) => panic!("{input:?} parsed as {s}"),
            Err(e) => {
                assert_eq!(&e.kind, want, "{input:?}: {e}");
                assert_eq!(e.token, *token, "{input:?}: {e}");
                assert_eq!(e.position, *pos, "{input:?}: {e}");
                assert!(e
                    .to_string()
                    .starts_with(&format!("{}=\"{input}\": ", kind.param())));
            }
        }
    }
}

#[test]
fn not_allowed_combinations() {
    let na = |s: &str, k: ProposalKind| {
        let e = ProposalSet::parse(s, k).unwrap_err();
        assert!(
            matches!(e.kind, ProposalErrorKind::NotAllowed(_)),
            "{s}: {e}"
        );
        e
    };
    na("null-sha1", ProposalKind::IKEV2_IKE);
    na("aes-sha1;none", ProposalKind::IKEV2_IKE);
    na("aes-sha1-none-dh19", ProposalKind::IKEV2_IKE);
    na("aes_gcm-sha2", ProposalKind::IKEV1_IKE);
    na("chacha20_poly1305", ProposalKind::IKEV1_ESP);
    na("aes-sha2;ml_kem_768", ProposalKind::IKEV1_IKE);
    na("aes-sha2;dh19;addke1=ml_kem_768", ProposalKind::IKEV1_IKE);
    na("aes-aes_xcbc", ProposalKind::IKEV1_IKE);
    let e = na("aes-sha1_96-sha2-dh19", ProposalKind::IKEV1_IKE);
    assert_eq!(e.token, "sha1_96");
    na("aes-sha2-dh19-dh20", ProposalKind::IKEV1_ESP);
    // NULL encryption is fine for ESP with integrity.
    let p = esp("null-sha2").proposals()[0].clone();
    assert_eq!(p.encr, vec![(EncrId::NULL, None)]);
}

#[test]
fn unsupported_protocol() {
    let kind = ProposalKind::new(IkeVersion::V2, ProtocolId::IPCOMP);
    let e = ProposalSet::parse("deflate", kind).unwrap_err();
    assert_eq!(
        e.kind,
        ProposalErrorKind::UnsupportedProtocol(ProtocolId::IPCOMP)
    );
}

#[test]
fn display_round_trips() {
    for (s, kind) in [
        (
            "aes_gcm256-sha2_512+sha2_256-dh19+dh31",
            ProposalKind::IKEV2_IKE,
        ),
        ("aes128-sha1;modp2048", ProposalKind::IKEV2_IKE),
        ("aes-sha2;dh19", ProposalKind::IKEV2_IKE),
        ("aes_gcm;ke=dh31;addke1=ml_kem_768", ProposalKind::IKEV2_IKE),
        (
            "aes-sha1_96-sha2-dh19,aes_gcm_a+aes_gcm_b-aes_xcbc",
            ProposalKind::IKEV2_IKE,
        ),
        (
            "aes_gcm-sha2-dh19-ml_kem_768-none+ml_kem_1024",
            ProposalKind::IKEV2_IKE,
        ),
        ("aes_gcm-none", ProposalKind::IKEV2_ESP),
        ("aes_gcm;dh19", ProposalKind::IKEV2_ESP),
        ("3des-md5", ProposalKind::IKEV2_ESP),
        ("aes256-sha2-dh19+none,null-sha1", ProposalKind::IKEV2_ESP),
        ("sha2-dh19", ProposalKind::IKEV2_AH),
        ("aes-sha1;modp2048", ProposalKind::IKEV1_IKE),
        ("aes_gcm,aes-sha1", ProposalKind::IKEV1_ESP),
    ] {
        let a = ProposalSet::parse(s, kind).unwrap();
        let shown = a.to_string();
        let b = ProposalSet::parse(&shown, kind).unwrap_or_else(|e| panic!("{s} -> {shown}: {e}"));
        assert_eq!(a.proposals(), b.proposals(), "{s} -> {shown}");
    }
    for kind in [
        ProposalKind::IKEV2_IKE,
        ProposalKind::IKEV2_ESP,
        ProposalKind::IKEV2_AH,
        ProposalKind::IKEV1_IKE,
        ProposalKind::IKEV1_ESP,
        ProposalKind::IKEV1_AH,
    ] {
        let d = ProposalSet::defaults(kind);
        let b = ProposalSet::parse(&d.to_string(), kind).unwrap();
        assert_eq!(d.proposals(), b.proposals(), "{kind:?}");
    }
}

#[test]
fn ikev1_expansion_is_one_algorithm_each() {
    let set = ProposalSet::parse("aes-sha2+sha1;modp2048+dh19", ProposalKind::IKEV1_IKE).unwrap();
    let flat = set.ikev1_expanded();
    // AES 256/128 x 2 hashes x 2 groups.
    assert_eq!(flat.len(), 8);
    assert!(flat
        .iter()
        .all(|p| p.encr.len() == 1 && p.prf.len() == 1 && p.integ.len() == 1 && p.ke.len() == 1));
    assert_eq!(flat[0].encr, vec![(EncrId::AES_CBC, Some(256))]);
    assert_eq!(flat[0].prf, vec![PrfId::HMAC_SHA2_256]);
    assert_eq!(flat[0].ke, vec![KeId::MODP2048]);
    assert_eq!(flat[1].ke, vec![KeId::ECP_256]);
    assert_eq!(flat[7].encr, vec![(EncrId::AES_CBC, Some(128))]);
}

#[test]
fn pfs_fills_missing_group_only() {
    let set = esp("aes_gcm,aes-sha2;dh20").with_pfs(KeId::ECP_256);
    assert_eq!(set.proposals()[0].ke, vec![KeId::ECP_256]);
    assert_eq!(set.proposals()[1].ke, vec![KeId::ECP_384]);
}

#[test]
fn duplicate_ciphers_are_dropped_like_libreswan() {
    let p = esp("aes+aes128-sha1").proposals()[0].clone();
    assert_eq!(p.encr, vec![(EncrId::AES_CBC, None)]);
    let p = esp("aes128+aes-sha1").proposals()[0].clone();
    assert_eq!(
        p.encr,
        vec![(EncrId::AES_CBC, Some(128)), (EncrId::AES_CBC, None)]
    );
    // On the wire 128 is offered once, first.
    assert_eq!(
        p.wire_encr(),
        vec![(EncrId::AES_CBC, Some(128)), (EncrId::AES_CBC, Some(256))]
    );
    let p = esp("aes128+aes128+3des-sha1+sha1").proposals()[0].clone();
    assert_eq!(
        p.encr,
        vec![(EncrId::AES_CBC, Some(128)), (EncrId::TRIPLE_DES, None)]
    );
    assert_eq!(p.integ, vec![IntegId::HMAC_SHA1_96]);
}

/// Every IKE SA's connection holds its proposal sets: a clone shares the list, and a
/// PFS variant is a list of its own that leaves the original as it was.
#[test]
fn clones_share_the_list_and_pfs_makes_its_own() {
    let set = esp("aes_gcm_16");
    let copy = set.clone();
    assert!(std::ptr::eq(set.proposals(), copy.proposals()));
    let pfs = set.with_pfs(KeId::CURVE25519);
    assert!(!std::ptr::eq(set.proposals(), pfs.proposals()));
    assert!(set.proposals()[0].ke.is_empty());
    assert_eq!(pfs.proposals()[0].ke, vec![KeId::CURVE25519]);
}
