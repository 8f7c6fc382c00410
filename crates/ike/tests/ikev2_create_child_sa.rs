//! Child SA keying (RFC 7296 2.17) as installed by both ends, across ESP transforms.
//! CREATE_CHILD_SA itself (new Child SAs, rekeying) is not implemented yet; its
//! refusal with NO_ADDITIONAL_SAS is unit-tested in `ikev2::create_child_sa`.

mod ikev2_sim;

use std::time::Duration;

use ike::proposal::{ProposalKind, ProposalSet};
use ike::registry::{EncrId, EsnId, IntegId};
use ikev2_sim::*;

fn handshake(esp: &str) -> Net {
    let w = conn("c", WEST, EAST, WEST_NET, EAST_NET, "", esp);
    let e = conn("c", EAST, WEST, EAST_NET, WEST_NET, "", esp);
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
    let w = conn("c", WEST, EAST, WEST_NET, EAST_NET, "", "aes_gcm256");
    let mut e = conn("c", EAST, WEST, EAST_NET, WEST_NET, "", "aes_gcm256");
    let mut props = e.esp_proposals.proposals().to_vec();
    for p in &mut props {
        p.esn = vec![EsnId::NO];
    }
    e.esp_proposals = ProposalSet::from_proposals(ProposalKind::IKEV2_ESP, props);
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
