//! `--authenticate` without `--encrypt`: AH Child SAs (RFC 4302), negotiated with
//! protocol ID AH in the SA payloads, keyed with integrity keys only.

mod ikev2_sim;

use std::time::Duration;

use ike::ikev2::{ChildSaInstall, Connection};
use ike::proposal::{ProposalKind, ProposalSet};
use ike::registry::{EncrId, IntegId, NotifyType, ProtocolId};
use ikev2_sim::*;

fn ah(mut c: Connection, ah: &str) -> Connection {
    c.profile_mut().esp_proposals = if ah.is_empty() {
        ProposalSet::defaults(ProposalKind::IKEV2_AH)
    } else {
        ProposalSet::parse(ah, ProposalKind::IKEV2_AH).unwrap()
    };
    c
}

/// West's and east's installs of the one Child SA, checked to be AH pairs that
/// match crosswise.
fn ah_pair(net: &Net, n: usize) -> (ChildSaInstall, ChildSaInstall) {
    let (w, e) = (
        net.west.installs()[n].clone(),
        net.east.installs()[n].clone(),
    );
    for i in [&w, &e] {
        assert_eq!(i.protocol, ProtocolId::AH);
        assert_eq!(i.encr, EncrId::NULL);
        assert_eq!((i.encr_key_bits, i.salt_len), (0, 0));
        assert!(i.inbound.encr_key.is_empty() && i.outbound.encr_key.is_empty());
    }
    assert_eq!(w.integ, e.integ);
    assert_eq!(w.outbound.spi, e.inbound.spi);
    assert_eq!(w.inbound.spi, e.outbound.spi);
    assert_eq!(&*w.outbound.integ_key, &*e.inbound.integ_key);
    assert_eq!(&*w.inbound.integ_key, &*e.outbound.integ_key);
    assert_ne!(&*w.outbound.integ_key, &*w.inbound.integ_key);
    (w, e)
}

#[test]
fn two_endpoints_negotiate_an_ah_child_sa() {
    let (w, e) = pair();
    let mut net = Net::new(ah(w, "sha2_512"), ah(e, "sha1,sha2_512"), b"k", b"k");
    net.initiate();
    net.run_for(Duration::from_secs(5));
    assert_eq!(
        (net.west.installs().len(), net.east.installs().len()),
        (1, 1)
    );
    let (w, _) = ah_pair(&net, 0);
    assert_eq!(w.integ, IntegId::HMAC_SHA2_512_256);
    assert_eq!(w.outbound.integ_key.len(), 64);
    assert!(net.west.has_line("sent IKE_AUTH request to 198.51.100.2:UDP/500 with shared-key-mac and IPV4_ADDR '198.51.100.1'; Child SA #2 {AH <0x"));
    assert!(net
        .west
        .has_line("#2: initiator established Child SA using #1; IPsec tunnel [192.0.2.0/24===203.0.113.0/24] {AH/ESN=>0x"));
    assert!(net.west.has_line("xfrm=HMAC_SHA2_512_256 DPD=passive}"));
    assert!(net
        .east
        .has_line("#2: responder established Child SA using #1; IPsec tunnel"));
}

#[test]
fn default_ah_proposals_interoperate() {
    let (w, e) = pair();
    let mut net = Net::new(ah(w, ""), ah(e, ""), b"k", b"k");
    net.initiate();
    net.run_for(Duration::from_secs(5));
    let (w, _) = ah_pair(&net, 0);
    assert_ne!(w.integ, IntegId::NONE);
}

#[test]
fn esp_and_ah_do_not_match() {
    // The protocol ID of the proposals is negotiated: an ESP offer does not
    // satisfy an AH connection even with the same integrity algorithm.
    let (w, e) = pair();
    let mut net = Net::new(
        w_with_esp(w, "aes128-sha2_256"),
        ah(e, "sha2_256"),
        b"k",
        b"k",
    );
    net.initiate();
    net.run_for(Duration::from_secs(5));
    assert_eq!(
        net.east.child_failed(),
        vec![NotifyType::NO_PROPOSAL_CHOSEN]
    );
    assert_eq!(
        net.west.child_failed(),
        vec![NotifyType::NO_PROPOSAL_CHOSEN]
    );
    assert!(net.west.installs().is_empty() && net.east.installs().is_empty());
}

fn w_with_esp(mut c: Connection, esp: &str) -> Connection {
    c.profile_mut().esp_proposals = ProposalSet::parse(esp, ProposalKind::IKEV2_ESP).unwrap();
    c
}

#[test]
fn an_ah_child_sa_is_rekeyed_and_deleted_as_ah() {
    let (w, e) = pair();
    let mut net = Net::new(ah(w, "sha2_256"), ah(e, "sha2_256"), b"k", b"k");
    net.initiate();
    net.run_for(Duration::from_secs(5));
    let (old, _) = ah_pair(&net, 0);
    net.west.ep.rekey_child_sa(old.child, net.now).unwrap();
    net.run_for(Duration::from_secs(5));
    assert_eq!(
        (net.west.installs().len(), net.east.installs().len()),
        (2, 2)
    );
    let (new, _) = ah_pair(&net, 1);
    assert!(net.west.has_line(&format!(
        "initiating rekey to replace Child SA {} using #1; new Child SA {} {{AH <",
        old.child, new.child
    )));
    // East understood the REKEY_SA and the Delete, both naming protocol AH.
    assert!(net.east.has_line(&format!(
        "responder rekeyed Child SA {} using #1",
        old.child
    )));
    assert!(net.east.has_line(&format!(
        "received Delete SA payload: deleting Child SA {} (AH ",
        old.child
    )));
    assert_eq!((net.west.deletes(), net.east.deletes()), (1, 1));
    for host in [&net.west, &net.east] {
        let st = host.ep.status();
        assert_eq!(st[0].children.len(), 1);
    }
    assert_eq!(net.west.ep.status()[0].children[0].serial, new.child);
}

#[test]
fn ah_is_refused_across_a_nat() {
    let (w, e) = pair();
    let mut net = Net::new(ah(w, "sha2_256"), ah(e, "sha2_256"), b"k", b"k");
    net.west_nat = Some("203.0.113.99".parse().unwrap());
    net.initiate();
    net.run_for(Duration::from_secs(5));
    assert_eq!(
        net.east.child_failed(),
        vec![NotifyType::NO_PROPOSAL_CHOSEN]
    );
    assert!(net
        .east
        .has_line("AH cannot cross the NAT detected between the peers"));
    assert_eq!(
        net.west.child_failed(),
        vec![NotifyType::NO_PROPOSAL_CHOSEN]
    );
    assert!(net.west.installs().is_empty() && net.east.installs().is_empty());
}
