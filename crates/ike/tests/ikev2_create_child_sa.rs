//! Child SA keying (RFC 7296 2.17) as installed by both ends, across ESP transforms.
//! CREATE_CHILD_SA itself (new Child SAs, rekeying) is not implemented yet; its
//! refusal with NO_ADDITIONAL_SAS is unit-tested in `ikev2::create_child_sa`.

mod ikev2_sim;

use std::time::Duration;

use ike::proposal::{ProposalKind, ProposalSet};
use ike::registry::{EncrId, EsnId, IntegId};
use ikev2_sim::*;

fn handshake(esp: &str) -> Net {
    let w = west_conn("c", "", esp);
    let e = east_conn("c", "", esp);
    let mut net = Net::new(w, e, b"k", b"k");
    net.initiate();
    net.run_for(Duration::from_secs(5));
    net
}

#[test]
fn key_lengths_and_salt_per_transform() {
    // (esp=, ENCR, key bits, encr keymat bytes incl. salt, salt, INTEG, integ key bytes)
    let cases = [
        (
            "aes_gcm128",
            EncrId::AES_GCM_16,
            128,
            20,
            4,
            IntegId::NONE,
            0,
        ),
        (
            "aes_gcm256",
            EncrId::AES_GCM_16,
            256,
            36,
            4,
            IntegId::NONE,
            0,
        ),
        (
            "chacha20_poly1305",
            EncrId::CHACHA20_POLY1305,
            256,
            36,
            4,
            IntegId::NONE,
            0,
        ),
        (
            "aes128-sha1",
            EncrId::AES_CBC,
            128,
            16,
            0,
            IntegId::HMAC_SHA1_96,
            20,
        ),
        (
            "aes256-sha2_256",
            EncrId::AES_CBC,
            256,
            32,
            0,
            IntegId::HMAC_SHA2_256_128,
            32,
        ),
        (
            "aes256-sha2_512",
            EncrId::AES_CBC,
            256,
            32,
            0,
            IntegId::HMAC_SHA2_512_256,
            64,
        ),
        (
            "aes_ctr128-sha2_256",
            EncrId::AES_CTR,
            128,
            20,
            4,
            IntegId::HMAC_SHA2_256_128,
            32,
        ),
    ];
    for (esp, encr, bits, keymat, salt, integ, integ_len) in cases {
        let net = handshake(esp);
        let (w, e) = net.assert_matching_children();
        assert_eq!((w.encr, w.encr_key_bits), (encr, bits), "{esp}");
        assert_eq!(w.salt_len, salt, "{esp}");
        assert_eq!(w.integ, integ, "{esp}");
        for d in [&w.inbound, &w.outbound, &e.inbound, &e.outbound] {
            assert_eq!(d.encr_key.len(), keymat, "{esp}");
            assert_eq!(d.integ_key.len(), integ_len, "{esp}");
        }
    }
}

#[test]
fn esn_follows_the_negotiation() {
    let w = west_conn("c", "", "aes_gcm256");
    let mut e = east_conn("c", "", "aes_gcm256");
    let mut props = e.esp_proposals.proposals().to_vec();
    for p in &mut props {
        p.esn = vec![EsnId::NO];
    }
    e.profile_mut().esp_proposals = ProposalSet::from_proposals(ProposalKind::IKEV2_ESP, props);
    let mut net = Net::new(w, e, b"k", b"k");
    net.initiate();
    net.run_for(Duration::from_secs(5));
    let (w, e) = net.assert_matching_children();
    assert!(!w.esn && !e.esn);
    assert!(net.west.has_line("{ESP=>"));
}

#[test]
fn every_sa_gets_fresh_keys_and_spis() {
    let a = handshake("aes_gcm256");
    let b = handshake("aes_gcm256");
    let (wa, _) = a.assert_matching_children();
    let (wb, _) = b.assert_matching_children();
    // Same seeds, but the DH exchange draws from the system generator.
    assert_ne!(&*wa.outbound.encr_key, &*wb.outbound.encr_key);
    assert!(wa.inbound.spi > 0xff && wa.outbound.spi > 0xff);
    assert_eq!(wa.lifetime, Duration::from_secs(28800));
    assert_eq!(wa.replay_window, 128);
}

fn child_of(host: &Host) -> ike::ikev2::SaSerial {
    host.ep.status()[0].children[0].serial
}

/// After a rekey: each side installed a second, matching pair and deleted the first.
fn assert_rekeyed(net: &Net) {
    let (w, e) = (net.west.installs(), net.east.installs());
    assert_eq!((w.len(), e.len()), (2, 2), "{:#?}", net.west.progress());
    let (w, e) = (w[1], e[1]);
    assert_eq!(w.outbound.spi, e.inbound.spi);
    assert_eq!(w.inbound.spi, e.outbound.spi);
    assert_eq!(&*w.outbound.encr_key, &*e.inbound.encr_key);
    assert_eq!(&*w.inbound.encr_key, &*e.outbound.encr_key);
    assert_eq!(&*w.outbound.integ_key, &*e.inbound.integ_key);
    assert_ne!(
        &*w.outbound.encr_key,
        &*net.west.installs()[0].outbound.encr_key
    );
    assert_eq!((net.west.deletes(), net.east.deletes()), (1, 1));
    let (ws, es) = (net.west.ep.status(), net.east.ep.status());
    assert_eq!(ws[0].children.len(), 1);
    assert_eq!(es[0].children.len(), 1);
    assert_eq!(ws[0].children[0].inbound_spi, w.inbound.spi);
    assert_eq!(es[0].children[0].inbound_spi, e.inbound.spi);
    assert!(net.west.ike_deleted().is_empty() && net.east.ike_deleted().is_empty());
}

#[test]
fn initiator_rekeys_a_child_sa_with_pfs() {
    let mut net = handshake("aes256-sha2_256");
    let child = child_of(&net.west);
    net.west.ep.rekey_child_sa(child, net.now).unwrap();
    net.run_for(Duration::from_secs(5));
    assert_rekeyed(&net);
    assert!(net
        .west
        .has_line("initiating rekey to replace Child SA #2 using #1; new Child SA #3"));
    assert!(net
        .west
        .has_line("#3: initiator rekeyed Child SA #2 using #1; IPsec tunnel"));
    assert!(net
        .east
        .has_line("#3: responder rekeyed Child SA #2 using #1; IPsec tunnel"));
}

#[test]
fn responder_of_the_ike_sa_rekeys_too() {
    let mut net = handshake("aes_gcm256");
    let child = child_of(&net.east);
    net.east.ep.rekey_child_sa(child, net.now).unwrap();
    net.run_for(Duration::from_secs(5));
    assert_rekeyed(&net);
    assert!(net.east.has_line("initiator rekeyed Child SA #2 using #1"));
}

/// Size of the CREATE_CHILD_SA request of a rekey initiated by west.
fn rekey_request_len(pfs: bool) -> usize {
    let mut w = west_conn("c", "", "aes_gcm256");
    let e = east_conn("c", "", "aes_gcm256");
    w.profile_mut().pfs = pfs;
    let mut net = Net::new(w, e, b"k", b"k");
    net.initiate();
    net.run_for(Duration::from_secs(5));
    let before = net.wire.len();
    let child = child_of(&net.west);
    net.west.ep.rekey_child_sa(child, net.now).unwrap();
    net.run_for(Duration::from_secs(5));
    assert_rekeyed(&net);
    net.wire[before].contents.len()
}

#[test]
fn rekey_with_and_without_pfs() {
    // The default IKE group is DH19: its KE payload adds 8 + 64 bytes (plus padding).
    let (with, without) = (rekey_request_len(true), rekey_request_len(false));
    assert!(with >= without + 72, "{with} vs {without}");
}

#[test]
fn rekey_follows_invalid_ke_payload() {
    let w = west_conn("c", "", "aes_gcm256-dh31+dh19");
    let e = east_conn("c", "", "aes_gcm256-dh19");
    let mut net = Net::new(w, e, b"k", b"k");
    net.initiate();
    net.run_for(Duration::from_secs(5));
    net.assert_matching_children();
    let child = child_of(&net.west);
    net.west.ep.rekey_child_sa(child, net.now).unwrap();
    net.run_for(Duration::from_secs(5));
    assert!(net
        .east
        .has_line("CREATE_CHILD_SA request: answering INVALID_KE_PAYLOAD suggesting DH19"));
    assert_rekeyed(&net);
}

#[test]
fn soft_expire_rekeys_and_hard_expire_deletes() {
    let mut net = handshake("aes_gcm256");
    let spi = net.west.installs()[0].inbound.spi;
    net.west.ep.handle_expire(spi, false, net.now).unwrap();
    net.run_for(Duration::from_secs(5));
    assert_rekeyed(&net);
    let spi = net.west.installs()[1].outbound.spi;
    net.west.ep.handle_expire(spi, true, net.now).unwrap();
    net.run_for(Duration::from_secs(5));
    assert_eq!((net.west.deletes(), net.east.deletes()), (2, 2));
    assert!(net.west.ep.status()[0].children.is_empty());
    // An EXPIRE for an SPI nobody has is ignored.
    net.west
        .ep
        .handle_expire(0xdead_beef, true, net.now)
        .unwrap();
}

#[test]
fn rekey_under_loss_and_duplication() {
    for seed in 80..=90 {
        let mut net = handshake("aes_gcm256");
        net.dice = Dice::new(seed);
        net.impair = Impair {
            loss: 0.3,
            dup: 0.3,
            jitter_ms: 600,
        };
        let child = child_of(&net.west);
        net.west.ep.rekey_child_sa(child, net.now).unwrap();
        net.run_for(Duration::from_secs(70));
        assert_rekeyed(&net);
    }
}

fn ike_of(host: &Host) -> ike::ikev2::SaSerial {
    host.ep.status()[0].serial
}

/// After an IKE SA rekey: one IKE SA each side, a new one, holding the old Child SA,
/// which was never touched in the kernel.
fn assert_ike_rekeyed(net: &Net, old: ike::ikev2::SaSerial) {
    for h in [&net.west, &net.east] {
        let st = h.ep.status();
        assert_eq!(st.len(), 1, "{:#?}", h.progress());
        assert_ne!(st[0].serial, old);
        assert_eq!(st[0].state, "ESTABLISHED_IKE_SA");
        assert_eq!(st[0].children.len(), 1);
        assert_eq!(st[0].children[0].inbound_spi, h.installs()[0].inbound.spi);
        assert_eq!(h.established_ike(), 2);
        // The rekey's IKE SA says which one it replaces (both sides: each its own
        // serial of the old SA, which `old` is for west).
        let replaced: Vec<_> = h
            .events
            .iter()
            .filter_map(|e| match e {
                ike::ikev2::Event::IkeSaEstablished { replaces, .. } => Some(*replaces),
                _ => None,
            })
            .collect();
        assert_eq!(replaced.len(), 2);
        assert_eq!(replaced[0], None);
        assert!(replaced[1].is_some());
        if std::ptr::eq(h, &net.west) {
            assert_eq!(replaced[1], Some(old));
        }
        assert_eq!(h.ike_deleted(), vec![(ike::ikev2::SaEnd::Deleted, false)]);
        assert_eq!(h.deletes(), 0);
        assert_eq!(h.installs().len(), 1);
    }
    let (w, e) = (net.west.ep.status(), net.east.ep.status());
    assert_eq!(w[0].spis, e[0].spis);
}

/// The rekeyed IKE SA must carry on: a Child SA rekey in it derives from its SK_d.
fn assert_new_ike_sa_works(net: &mut Net) {
    let child = child_of(&net.west);
    net.west.ep.rekey_child_sa(child, net.now).unwrap();
    net.run_for(Duration::from_secs(5));
    let (w, e) = (net.west.installs(), net.east.installs());
    assert_eq!((w.len(), e.len()), (2, 2));
    assert_eq!(&*w[1].outbound.encr_key, &*e[1].inbound.encr_key);
    assert_eq!(&*w[1].inbound.encr_key, &*e[1].outbound.encr_key);
}

#[test]
fn initiator_rekeys_the_ike_sa() {
    let mut net = handshake("aes_gcm256");
    let old = ike_of(&net.west);
    net.west.ep.rekey_ike_sa(old, net.now).unwrap();
    net.run_for(Duration::from_secs(5));
    assert_ike_rekeyed(&net, old);
    assert!(net.west.has_line("initiating rekey to replace IKE SA #1"));
    assert!(net
        .west
        .has_line("initiator rekeyed IKE SA #1 {cipher=AES_GCM_16_256"));
    assert!(net.east.has_line("responder rekeyed IKE SA #1"));
    // West's new SA: west is its original initiator again.
    assert!(net.west.ep.status()[0].initiator);
    assert_new_ike_sa_works(&mut net);
}

#[test]
fn responder_rekeys_the_ike_sa_and_becomes_its_initiator() {
    let mut net = handshake("aes256-sha2_256");
    let old = ike_of(&net.east);
    net.east.ep.rekey_ike_sa(old, net.now).unwrap();
    net.run_for(Duration::from_secs(5));
    assert_ike_rekeyed(&net, old);
    assert!(net.east.ep.status()[0].initiator);
    assert!(!net.west.ep.status()[0].initiator);
    assert_new_ike_sa_works(&mut net);
}

#[test]
fn ike_lifetime_triggers_rekeys() {
    let mut w = west_conn("c", "", "aes_gcm256");
    let e = east_conn("c", "", "aes_gcm256");
    w.profile_mut().ike_lifetime = Duration::from_secs(100);
    w.profile_mut().rekey_margin = Duration::from_secs(10);
    w.profile_mut().rekey_fuzz_percent = 0;
    let mut net = Net::new(w, e, b"k", b"k");
    net.initiate();
    net.run_for(Duration::from_secs(250));
    // Rekeyed at 90 s and at 180 s (lifetime - margin); the Child SA survived both.
    assert_eq!(net.west.established_ike(), 3);
    assert_eq!(net.east.established_ike(), 3);
    assert_eq!(net.west.ep.status().len(), 1);
    assert_eq!(net.east.ep.status().len(), 1);
    assert_eq!(net.west.deletes() + net.east.deletes(), 0);
    assert_new_ike_sa_works(&mut net);
}

#[test]
fn ike_rekey_under_loss_and_duplication() {
    for seed in 100..=110 {
        let mut net = handshake("aes_gcm256");
        net.dice = Dice::new(seed);
        net.impair = Impair {
            loss: 0.3,
            dup: 0.3,
            jitter_ms: 600,
        };
        let old = ike_of(&net.west);
        net.west.ep.rekey_ike_sa(old, net.now).unwrap();
        net.run_for(Duration::from_secs(130));
        assert_ike_rekeyed(&net, old);
    }
}
