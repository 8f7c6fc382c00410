//! Connections without a Child SA (none of `--encrypt`, `--authenticate`): the
//! IKE SA alone, as the whack manual says, with RFC 6023 childless IKE_AUTH.

mod ikev2_sim;

use std::time::Duration;

use ike::codec::v2::{Header, Message, Payload};
use ike::ikev2::{Connection, SaEnd};
use ike::registry::{ExchangeType, NotifyType};
use ikev2_sim::*;

fn ike_only(mut c: Connection) -> Connection {
    c.profile_mut().ike_only = true;
    c
}

/// Whether an unprotected IKE_SA_INIT message carries CHILDLESS_IKEV2_SUPPORTED.
fn announces_childless(bytes: &[u8]) -> bool {
    let m = Message::decode(bytes).unwrap();
    assert_eq!(m.header.exchange, ExchangeType::IKE_SA_INIT);
    m.payloads
        .iter()
        .any(|p| matches!(p, Payload::Notify(n) if n.ty == NotifyType::CHILDLESS_IKEV2_SUPPORTED))
}

/// `bytes` (an IKE_SA_INIT message) without its CHILDLESS_IKEV2_SUPPORTED notify:
/// what a peer that does not implement RFC 6023 sends.
fn without_childless(bytes: &[u8]) -> Vec<u8> {
    let mut m = Message::decode(bytes).unwrap();
    m.payloads.retain(
        |p| !matches!(p, Payload::Notify(n) if n.ty == NotifyType::CHILDLESS_IKEV2_SUPPORTED),
    );
    m.to_bytes().unwrap()
}

#[test]
fn ike_sa_init_announces_childless_support_both_ways() {
    let mut net = Net::default_pair();
    net.initiate();
    net.run_for(Duration::from_secs(5));
    let inits: Vec<_> = net
        .wire
        .iter()
        .filter(|t| Message::decode(&t.contents).is_ok_and(|m| m.header.message_id == 0))
        .filter(|t| {
            Message::decode(&t.contents)
                .is_ok_and(|m| m.header.exchange == ExchangeType::IKE_SA_INIT)
        })
        .collect();
    assert_eq!(inits.len(), 2);
    assert!(announces_childless(&inits[0].contents), "request");
    assert!(announces_childless(&inits[1].contents), "response");
    // Both sides have Child SA policy: IKE_AUTH still carries the Child SA.
    net.assert_matching_children();
}

#[test]
fn ike_only_connections_build_only_the_ike_sa() {
    let (w, e) = pair();
    let mut net = Net::new(ike_only(w), ike_only(e), b"k", b"k");
    net.initiate();
    net.run_for(Duration::from_secs(5));
    assert_eq!(
        (net.west.established_ike(), net.east.established_ike()),
        (1, 1)
    );
    assert!(net.west.installs().is_empty() && net.east.installs().is_empty());
    assert!(net.west.child_failed().is_empty() && net.east.child_failed().is_empty());
    assert!(net.west.has_line("#1: omitting CHILD SA payloads"));
    assert!(net
        .west
        .has_line("#1: initiator established IKE SA; authenticated peer using authby=secret"));
    assert!(net
        .east
        .has_line("#1: responder established IKE SA; authenticated peer using authby=secret"));
    // The IKE_AUTH request held no SA, TSi or TSr.
    assert!(net.east.has_line(
        "processing IKE_AUTH request from 198.51.100.1:UDP/500 containing IDi,N(INITIAL_CONTACT),AUTH"
    ));
    assert!(!net.west.has_line("Child SA"), "{:?}", net.west.progress());
    for host in [&net.west, &net.east] {
        let st = host.ep.status();
        assert_eq!(st.len(), 1);
        assert_eq!(st[0].state, "ESTABLISHED_IKE_SA");
        assert!(st[0].children.is_empty());
        assert!(host.ike_deleted().is_empty());
    }
    // Liveness and deletion work on a childless IKE SA as on any other.
    let ike = net.west.ep.status()[0].serial;
    net.west.ep.send_liveness(ike, net.now).unwrap();
    net.run_for(Duration::from_secs(5));
    net.west.ep.delete_ike_sa(ike, net.now).unwrap();
    net.run_for(Duration::from_secs(5));
    assert_eq!(net.west.ike_deleted(), vec![(SaEnd::Deleted, false)]);
    assert_eq!(net.east.ike_deleted(), vec![(SaEnd::Deleted, false)]);
}

#[test]
fn responder_with_child_policy_accepts_a_childless_ike_auth() {
    let (w, e) = pair();
    let mut net = Net::new(ike_only(w), e, b"k", b"k");
    net.initiate();
    net.run_for(Duration::from_secs(5));
    assert_eq!(
        (net.west.established_ike(), net.east.established_ike()),
        (1, 1)
    );
    assert!(net.east.installs().is_empty());
    assert!(net
        .east
        .has_line("IKE_AUTH request proposes no Child SA (RFC 6023 childless IKE SA)"));
    assert_eq!(net.east.ep.status()[0].state, "ESTABLISHED_IKE_SA");
}

#[test]
fn ike_only_responder_refuses_a_proposed_child_sa_and_keeps_the_ike_sa() {
    let (w, e) = pair();
    let mut net = Net::new(w, ike_only(e), b"k", b"k");
    // West deletes an IKE SA whose first Child SA failed; hold that Delete back
    // to look at east's IKE SA as the IKE_AUTH exchange left it.
    net.filter = Some(Box::new(|t| {
        Header::decode(&t.contents).is_ok_and(|h| h.header.exchange == ExchangeType::INFORMATIONAL)
    }));
    net.initiate();
    net.run_for(Duration::from_secs(1));
    assert_eq!(net.east.established_ike(), 1);
    assert_eq!(
        net.east.child_failed(),
        vec![NotifyType::NO_PROPOSAL_CHOSEN]
    );
    assert!(net.east.has_line(
        "Child SA rejected: the connection has no Child SA policy (none of --encrypt, --authenticate); responding with NO_PROPOSAL_CHOSEN"
    ));
    assert_eq!(net.east.ep.status()[0].state, "ESTABLISHED_IKE_SA");
    assert!(net.east.installs().is_empty());
    // West got an authenticated IKE_AUTH answer that refuses the Child SA.
    assert_eq!(net.west.established_ike(), 1);
    assert_eq!(
        net.west.child_failed(),
        vec![NotifyType::NO_PROPOSAL_CHOSEN]
    );
    assert!(net
        .west
        .has_line("IKE SA established but responder rejected Child SA request"));
    assert!(net.west.installs().is_empty());
}

#[test]
fn childless_ike_auth_without_rfc6023_is_refused_with_invalid_syntax() {
    // West's IKE_SA_INIT request loses its CHILDLESS_IKEV2_SUPPORTED on the way:
    // east must not take the IKE_AUTH without a Child SA that follows.
    let (w, e) = pair();
    let mut net = Net::new(ike_only(w), e, b"k", b"k");
    let c = net.west.conn();
    net.west.ep.initiate(c, net.now).unwrap();
    let init = net.west.ep.poll_transmit().unwrap();
    let stripped = without_childless(&init.contents);
    assert!(!announces_childless(&stripped));
    net.east.ep.handle(
        net.now,
        init.remote,
        init.local,
        &stripped,
        &net.east.config,
    );
    net.run_for(Duration::from_secs(5));
    assert!(net.east.has_line(
        "IKE_AUTH request proposes no Child SA (SA, TSi and TSr missing) but the peer did not announce CHILDLESS_IKEV2_SUPPORTED (RFC 6023); responding with INVALID_SYNTAX"
    ));
    assert_eq!(net.east.established_ike(), 0);
    assert_eq!(
        net.east.ike_deleted(),
        vec![(SaEnd::Failed(NotifyType::INVALID_SYNTAX), false)]
    );
    assert_eq!(net.west.established_ike(), 0);
    assert_eq!(
        net.west.ike_deleted(),
        vec![(SaEnd::Failed(NotifyType::INVALID_SYNTAX), true)]
    );
}

#[test]
fn ike_only_initiator_warns_when_the_peer_did_not_announce_childless() {
    let (w, e) = pair();
    let mut net = Net::new(ike_only(w), e, b"k", b"k");
    let c = net.west.conn();
    net.west.ep.initiate(c, net.now).unwrap();
    let init = net.west.ep.poll_transmit().unwrap();
    net.east.ep.handle(
        net.now,
        init.remote,
        init.local,
        &init.contents,
        &net.east.config,
    );
    let resp = net.east.ep.poll_transmit().unwrap();
    assert!(announces_childless(&resp.contents));
    let stripped = without_childless(&resp.contents);
    net.west.ep.handle(
        net.now,
        resp.remote,
        resp.local,
        &stripped,
        &net.west.config,
    );
    net.collect();
    assert!(net.west.has_line(
        "peer did not announce CHILDLESS_IKEV2_SUPPORTED (RFC 6023); it may refuse an IKE_AUTH request without a Child SA"
    ));
    // As libreswan 5, the Child SA payloads are left out all the same.
    assert!(net.west.has_line("omitting CHILD SA payloads"));
}
