//! Responder proposal selection, the initiator's answer check and the KE helpers.

use ike::proposal::{
    check_answer, check_ke_payload, select, AnswerError, KeRetryError, ProposalKind, ProposalSet,
    Transform, WireProposal,
};
use ike::registry::{EncrId, EsnId, IntegId, KeId, NotifyType, PrfId, ProtocolId, TransformType};

fn ike(s: &str) -> ProposalSet {
    ProposalSet::parse(s, ProposalKind::IKEV2_IKE).unwrap_or_else(|e| panic!("{e}"))
}

fn esp(s: &str) -> ProposalSet {
    ProposalSet::parse(s, ProposalKind::IKEV2_ESP).unwrap_or_else(|e| panic!("{e}"))
}

fn t(ty: TransformType, id: u16) -> Transform {
    Transform::new(ty, id)
}

fn wire(number: u8, protocol: ProtocolId, transforms: Vec<Transform>) -> WireProposal {
    WireProposal {
        number,
        protocol,
        transforms,
    }
}

/// A peer's IKE proposal with one transform of each type, in the order strongSwan and
/// libreswan send them: ENCR (with Key Length), PRF, INTEG if any, KE if any.
fn ike_wire(
    number: u8,
    (encr, key_bits): (EncrId, u16),
    prf: PrfId,
    integ: Option<IntegId>,
    ke: Option<KeId>,
) -> WireProposal {
    let mut transforms = vec![
        Transform::encr(encr, Some(key_bits)),
        t(TransformType::PRF, prf.0),
    ];
    transforms.extend(integ.map(|i| t(TransformType::INTEG, i.0)));
    transforms.extend(ke.map(|k| t(TransformType::KE, k.0)));
    wire(number, ProtocolId::IKE, transforms)
}

/// A strongSwan-style IKE proposal: everything in one proposal.
fn strongswan_ike() -> WireProposal {
    wire(
        1,
        ProtocolId::IKE,
        vec![
            Transform::encr(EncrId::AES_CBC, Some(128)),
            Transform::encr(EncrId::AES_CBC, Some(256)),
            t(TransformType::INTEG, IntegId::HMAC_SHA2_256_128.0),
            t(TransformType::INTEG, IntegId::HMAC_SHA1_96.0),
            t(TransformType::PRF, PrfId::HMAC_SHA2_256.0),
            t(TransformType::PRF, PrfId::HMAC_SHA1.0),
            t(TransformType::KE, KeId::MODP2048.0),
            t(TransformType::KE, KeId::CURVE25519.0),
        ],
    )
}

#[test]
fn chooses_by_our_preference_within_types() {
    let ours = ike("aes256-sha2_256+sha1-dh31+modp2048");
    let c = select(&ours, &[strongswan_ike()], None).unwrap();
    assert_eq!(c.number, 1);
    assert_eq!(c.encr, Some((EncrId::AES_CBC, Some(256))));
    assert_eq!(c.prf, Some(PrfId::HMAC_SHA2_256));
    assert_eq!(c.integ, Some(IntegId::HMAC_SHA2_256_128));
    assert_eq!(c.ke, Some(KeId::CURVE25519));
    assert_eq!(c.esn, None);
    // Exactly one transform per type in the answer.
    let tr = c.transforms();
    assert_eq!(tr.len(), 4);
    for ty in [
        TransformType::ENCR,
        TransformType::PRF,
        TransformType::INTEG,
        TransformType::KE,
    ] {
        assert_eq!(tr.iter().filter(|x| x.ty == ty).count(), 1);
    }
}

#[test]
fn ke_hint_avoids_invalid_ke_round_trip() {
    let ours = ike("aes256-sha2_256-dh31+modp2048");
    let c = select(&ours, &[strongswan_ike()], Some(KeId::MODP2048)).unwrap();
    assert_eq!(c.ke, Some(KeId::MODP2048));
    assert!(check_ke_payload(&c, KeId::MODP2048).is_ok());
    // A hint we do not accept is ignored.
    let c = select(&ours, &[strongswan_ike()], Some(KeId::ECP_384)).unwrap();
    assert_eq!(c.ke, Some(KeId::CURVE25519));
    let e = check_ke_payload(&c, KeId::ECP_384).unwrap_err();
    assert_eq!(e.wanted, KeId::CURVE25519);
    assert_eq!(e.notify(), NotifyType::INVALID_KE_PAYLOAD);
    assert_eq!(e.notify_data(), [0, 31]);
}

#[test]
fn our_proposal_order_beats_peer_order() {
    let ours = ike("aes_gcm256-sha2_512-dh19,aes256-sha2_256-dh19");
    let peer = [
        ike_wire(
            1,
            (EncrId::AES_CBC, 256),
            PrfId::HMAC_SHA2_256,
            Some(IntegId::HMAC_SHA2_256_128),
            Some(KeId::ECP_256),
        ),
        ike_wire(
            2,
            (EncrId::AES_GCM_16, 256),
            PrfId::HMAC_SHA2_512,
            None,
            Some(KeId::ECP_256),
        ),
    ];
    let c = select(&ours, &peer, None).unwrap();
    assert_eq!(c.number, 2);
    assert_eq!(c.encr, Some((EncrId::AES_GCM_16, Some(256))));
    assert_eq!(c.integ, None, "AEAD: no INTEG transform in the answer");
}

#[test]
fn aead_accepts_integ_none_or_absent_and_rejects_real_integ() {
    let ours = ike("aes_gcm256-sha2_512-dh19");
    let base = vec![
        Transform::encr(EncrId::AES_GCM_16, Some(256)),
        t(TransformType::PRF, PrfId::HMAC_SHA2_512.0),
        t(TransformType::KE, KeId::ECP_256.0),
    ];
    let mut with_none = base.clone();
    with_none.push(t(TransformType::INTEG, IntegId::NONE.0));
    let c = select(&ours, &[wire(1, ProtocolId::IKE, with_none)], None).unwrap();
    assert_eq!(c.integ, Some(IntegId::NONE));
    let mut with_sha = base.clone();
    with_sha.push(t(TransformType::INTEG, IntegId::HMAC_SHA1_96.0));
    let e = select(&ours, &[wire(1, ProtocolId::IKE, with_sha)], None).unwrap_err();
    assert_eq!(e.notify(), NotifyType::NO_PROPOSAL_CHOSEN);
    assert!(select(&ours, &[wire(1, ProtocolId::IKE, base)], None).is_ok());
}

#[test]
fn key_length_must_match() {
    let ours = ike("aes128-sha2-dh19");
    let peer = ike_wire(
        1,
        (EncrId::AES_CBC, 256),
        PrfId::HMAC_SHA2_256,
        Some(IntegId::HMAC_SHA2_256_128),
        Some(KeId::ECP_256),
    );
    assert!(select(&ours, std::slice::from_ref(&peer), None).is_err());
    // `aes` without a length accepts 256 and 128.
    let c = select(&ike("aes-sha2-dh19"), &[peer], None).unwrap();
    assert_eq!(c.encr, Some((EncrId::AES_CBC, Some(256))));
    // A fixed-key cipher sent with a Key Length attribute is not what we offer.
    let chacha = ike_wire(
        1,
        (EncrId::CHACHA20_POLY1305, 256),
        PrfId::HMAC_SHA2_256,
        None,
        Some(KeId::ECP_256),
    );
    assert!(select(&ike("chacha20_poly1305-sha2-dh19"), &[chacha], None).is_err());
}

#[test]
fn missing_required_type_or_unknown_type_rejects() {
    let ours = ike("aes256-sha2-dh19");
    let no_ke = ike_wire(
        1,
        (EncrId::AES_CBC, 256),
        PrfId::HMAC_SHA2_256,
        Some(IntegId::HMAC_SHA2_256_128),
        None,
    );
    assert!(select(&ours, std::slice::from_ref(&no_ke), None).is_err());
    let mut unknown = no_ke.clone();
    unknown
        .transforms
        .push(t(TransformType::KE, KeId::ECP_256.0));
    assert!(select(&ours, &[unknown.clone()], None).is_ok());
    unknown.transforms.push(t(TransformType(200), 1));
    assert!(select(&ours, &[unknown], None).is_err());
    // Wrong protocol.
    let mut esp_p = strongswan_ike();
    esp_p.protocol = ProtocolId::ESP;
    assert!(select(&ike("aes-sha2-dh31"), &[esp_p], None).is_err());
}

#[test]
fn esp_without_pfs_accepts_absent_or_none_ke() {
    let ours = esp("aes_gcm256");
    let mut p = wire(
        1,
        ProtocolId::ESP,
        vec![
            Transform::encr(EncrId::AES_GCM_16, Some(256)),
            t(TransformType::ESN, EsnId::NO.0),
        ],
    );
    let c = select(&ours, &[p.clone()], None).unwrap();
    assert_eq!(c.ke, None);
    assert_eq!(c.esn, Some(EsnId::NO));
    assert!(!c.esn_enabled());
    p.transforms.push(t(TransformType::KE, KeId::ECP_256.0));
    assert!(
        select(&ours, &[p.clone()], None).is_err(),
        "PFS group we do not do"
    );
    p.transforms.push(t(TransformType::KE, KeId::NONE.0));
    let c = select(&ours, &[p.clone()], None).unwrap();
    assert_eq!(c.ke, Some(KeId::NONE));
    assert_eq!(c.ke_group(), None);
    // With PFS we take the group.
    let c = select(&ours.with_pfs(KeId::ECP_256), &[p], None).unwrap();
    assert_eq!(c.ke, Some(KeId::ECP_256));
}

#[test]
fn esn_preference_and_missing_esn() {
    let ours = esp("aes256-sha2");
    let base = vec![
        Transform::encr(EncrId::AES_CBC, Some(256)),
        t(TransformType::INTEG, IntegId::HMAC_SHA2_256_128.0),
    ];
    let mut both = base.clone();
    both.push(t(TransformType::ESN, EsnId::NO.0));
    both.push(t(TransformType::ESN, EsnId::YES.0));
    let c = select(&ours, &[wire(3, ProtocolId::ESP, both)], None).unwrap();
    assert_eq!(c.number, 3);
    assert_eq!(c.esn, Some(EsnId::YES));
    assert!(c.esn_enabled());
    // Peers that leave ESN out get no ESN.
    let c = select(&ours, &[wire(1, ProtocolId::ESP, base)], None).unwrap();
    assert_eq!(c.esn, None);
}

#[test]
fn addke_matching() {
    let ours = ike("aes_gcm256-sha2-dh19;addke1=ml_kem_768");
    let mut p = ike_wire(
        1,
        (EncrId::AES_GCM_16, 256),
        PrfId::HMAC_SHA2_256,
        None,
        Some(KeId::ECP_256),
    );
    assert!(
        select(&ours, &[p.clone()], None).is_err(),
        "ADDKE1 required"
    );
    p.transforms
        .push(t(TransformType::ADDKE1, KeId::ML_KEM_768.0));
    p.transforms.push(t(TransformType::ADDKE1, KeId::NONE.0));
    let c = select(&ours, &[p.clone()], None).unwrap();
    assert_eq!(c.addke[0], Some(KeId::ML_KEM_768));
    // Peer's optional ADDKE (with NONE) against our proposal without it.
    let c = select(&ike("aes_gcm256-sha2-dh19"), &[p], None).unwrap();
    assert_eq!(c.addke[0], Some(KeId::NONE));
}

#[test]
fn defaults_interoperate_with_each_other() {
    for kind in [
        ProposalKind::IKEV2_IKE,
        ProposalKind::IKEV2_ESP,
        ProposalKind::IKEV2_AH,
    ] {
        let ours = ProposalSet::defaults(kind);
        let offer = ours.offer();
        let c = select(&ours, &offer, None).unwrap();
        assert_eq!(c.number, 1);
        let back = check_answer(&ours, &[c.to_wire()]).unwrap();
        assert_eq!(back, c);
    }
    let c = select(
        &ProposalSet::defaults(ProposalKind::IKEV2_IKE),
        &ProposalSet::defaults(ProposalKind::IKEV2_IKE).offer(),
        None,
    )
    .unwrap();
    assert_eq!(c.encr, Some((EncrId::AES_GCM_16, Some(256))));
    assert_eq!(c.prf, Some(PrfId::HMAC_SHA2_512));
    assert_eq!(c.ke, Some(KeId::ECP_256));
}

#[test]
fn initiator_checks_answer() {
    let ours = ike("aes256-sha2_256-dh19,aes_gcm256-sha2_512-dh31");
    let good = ike_wire(
        2,
        (EncrId::AES_GCM_16, 256),
        PrfId::HMAC_SHA2_512,
        None,
        Some(KeId::CURVE25519),
    );
    let c = check_answer(&ours, std::slice::from_ref(&good)).unwrap();
    assert_eq!(c.number, 2);
    assert_eq!(c.ke_group(), Some(KeId::CURVE25519));

    assert_eq!(
        check_answer(&ours, &[]).unwrap_err(),
        AnswerError::ProposalCount(0)
    );
    assert_eq!(
        check_answer(&ours, &[good.clone(), good.clone()]).unwrap_err(),
        AnswerError::ProposalCount(2)
    );
    let mut bad = good.clone();
    bad.number = 3;
    assert_eq!(
        check_answer(&ours, &[bad]).unwrap_err(),
        AnswerError::UnknownNumber(3)
    );
    let mut bad = good.clone();
    bad.number = 0;
    assert_eq!(
        check_answer(&ours, &[bad]).unwrap_err(),
        AnswerError::UnknownNumber(0)
    );
    // Transform from the other proposal.
    let mut bad = good.clone();
    bad.transforms[2] = t(TransformType::KE, KeId::ECP_256.0);
    assert!(matches!(
        check_answer(&ours, &[bad]).unwrap_err(),
        AnswerError::NotOffered(_)
    ));
    let mut bad = good.clone();
    bad.transforms
        .push(t(TransformType::KE, KeId::CURVE25519.0));
    assert_eq!(
        check_answer(&ours, &[bad]).unwrap_err(),
        AnswerError::MultipleTransforms(TransformType::KE)
    );
    let mut bad = good.clone();
    bad.transforms.pop();
    assert_eq!(
        check_answer(&ours, &[bad]).unwrap_err(),
        AnswerError::Missing(TransformType::KE)
    );
    let mut bad = good.clone();
    bad.protocol = ProtocolId::ESP;
    assert!(matches!(
        check_answer(&ours, &[bad]).unwrap_err(),
        AnswerError::WrongProtocol { .. }
    ));
    let mut bad = good;
    bad.transforms.push(t(TransformType(99), 1));
    assert!(matches!(
        check_answer(&ours, &[bad]).unwrap_err(),
        AnswerError::NotOffered(_)
    ));
}

#[test]
fn ke_group_helpers() {
    let ours = ike("aes_gcm-sha2-dh31+dh19,aes-sha2-modp2048");
    assert_eq!(ours.initial_ke(), Some(KeId::CURVE25519));
    assert!(ours.accepts_ke(KeId::MODP2048));
    assert!(!ours.accepts_ke(KeId::ECP_384));
    assert_eq!(
        ours.retry_ke(KeId::CURVE25519, KeId::ECP_256),
        Ok(KeId::ECP_256)
    );
    assert_eq!(
        ours.retry_ke(KeId::CURVE25519, KeId::CURVE25519),
        Err(KeRetryError::SameGroup(KeId::CURVE25519))
    );
    assert_eq!(
        ours.retry_ke(KeId::CURVE25519, KeId::ECP_384),
        Err(KeRetryError::NotOffered(KeId::ECP_384))
    );
    assert_eq!(esp("aes_gcm").initial_ke(), None);
}

#[test]
fn offer_numbers_proposals_from_one() {
    let set = ike("aes_gcm256-sha2-dh19,aes128-sha1-dh19");
    let offer = set.offer();
    assert_eq!(offer.len(), 2);
    assert_eq!(offer[0].number, 1);
    assert_eq!(offer[1].number, 2);
    assert!(offer[0]
        .transforms
        .iter()
        .all(|t| t.ty != TransformType::INTEG));
    assert!(offer[1]
        .transforms
        .contains(&t(TransformType::INTEG, IntegId::HMAC_SHA1_96.0)));
}

#[test]
fn log_forms() {
    let ours = ike("aes_gcm256-sha2_512-dh19");
    let offer = ours.offer();
    assert_eq!(
        offer[0].to_string(),
        "1:IKE:ENCR=AES_GCM_16_256;PRF=HMAC_SHA2_512;KE=DH19"
    );
    let c = select(&ours, &offer, None).unwrap();
    assert_eq!(c.to_string(), "1:IKE=AES_GCM_16_256-HMAC_SHA2_512-DH19");
    let c = select(&esp("aes128-sha2"), &esp("aes128-sha2").offer(), None).unwrap();
    assert_eq!(c.to_string(), "1:ESP=AES_CBC_128-HMAC_SHA2_256_128");
    assert_eq!(c.to_proposal().esn, vec![EsnId::YES]);
}
