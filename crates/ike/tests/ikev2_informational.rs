//! INFORMATIONAL exchanges and timers through the simulated network: Deletes in both
//! directions, liveness, unknown SPIs, retransmission, keyingtries, half-open expiry.

mod ikev2_sim;

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use ike::codec::v2::{Message, Payload};
use ike::ikev2::{Endpoint, EndpointConfig, Event, SaEnd, SaSerial};
use ike::registry::NotifyType;
use ikev2_sim::*;

fn established() -> Net {
    let mut net = Net::default_pair();
    net.initiate();
    net.run_for(Duration::from_secs(5));
    net.assert_matching_children();
    net
}

fn ike_serial(host: &Host) -> SaSerial {
    host.ep.status()[0].serial
}

#[test]
fn initiator_deletes_the_ike_sa() {
    let mut net = established();
    let s = ike_serial(&net.west);
    net.west.ep.delete_ike_sa(s, net.now).unwrap();
    net.run_for(Duration::from_secs(5));
    assert_eq!(net.west.deletes(), 1);
    assert_eq!(net.east.deletes(), 1);
    assert_eq!(net.west.ike_deleted(), vec![(SaEnd::Deleted, false)]);
    assert_eq!(net.east.ike_deleted(), vec![(SaEnd::Deleted, false)]);
    assert!(net.west.ep.status().is_empty());
    assert!(net.east.ep.status().is_empty());
    assert!(net
        .east
        .has_line("received Delete SA payload: deleting IKE SA"));
    assert!(net
        .west
        .has_line("deleting IKE SA and sending notification"));
    // Both kernels were told to remove the same pair.
    let del = |h: &Host| {
        h.events
            .iter()
            .find_map(|e| match e {
                Event::Kernel(ike::ikev2::KernelRequest::DeleteChildSa(d)) => Some(d.clone()),
                _ => None,
            })
            .unwrap()
    };
    let (w, e) = (del(&net.west), del(&net.east));
    assert_eq!(w.inbound_spi, e.outbound_spi);
    assert_eq!(w.outbound_spi, e.inbound_spi);
}

#[test]
fn responder_deletes_the_ike_sa() {
    let mut net = established();
    let s = ike_serial(&net.east);
    net.east.ep.delete_ike_sa(s, net.now).unwrap();
    net.run_for(Duration::from_secs(5));
    assert_eq!((net.west.deletes(), net.east.deletes()), (1, 1));
    assert_eq!(net.west.ike_deleted(), vec![(SaEnd::Deleted, false)]);
    assert_eq!(net.east.ike_deleted(), vec![(SaEnd::Deleted, false)]);
    assert!(net.west.ep.status().is_empty() && net.east.ep.status().is_empty());
}

#[test]
fn delete_under_loss_converges() {
    for seed in 1..=8 {
        let mut net = established();
        net.dice = Dice::new(seed);
        net.impair.loss = 0.3;
        net.impair.dup = 0.2;
        let s = ike_serial(&net.west);
        net.west.ep.delete_ike_sa(s, net.now).unwrap();
        net.run_for(Duration::from_secs(70));
        assert_eq!(
            (net.west.deletes(), net.east.deletes()),
            (1, 1),
            "seed {seed}"
        );
        assert!(net.west.ep.status().is_empty() && net.east.ep.status().is_empty());
    }
}

#[test]
fn child_sa_deleted_from_either_side_keeps_the_ike_sa() {
    let mut net = established();
    let child = net.west.ep.status()[0].children[0].serial;
    net.west.ep.delete_child_sa(child, net.now).unwrap();
    net.run_for(Duration::from_secs(5));
    assert_eq!((net.west.deletes(), net.east.deletes()), (1, 1));
    assert!(net
        .east
        .has_line("received Delete SA payload: deleting Child SA #2"));
    assert!(net.west.ike_deleted().is_empty() && net.east.ike_deleted().is_empty());
    assert!(net.west.ep.status()[0].children.is_empty());
    assert!(net.east.ep.status()[0].children.is_empty());
    assert_eq!(net.east.ep.status()[0].state, "ESTABLISHED_IKE_SA");
    // The IKE SA still works: a liveness check gets its answer.
    let before = net.wire.len();
    let s = ike_serial(&net.west);
    net.west.ep.send_liveness(s, net.now).unwrap();
    net.run_for(Duration::from_secs(5));
    assert_eq!(net.wire.len(), before + 2);
    assert!(net.west.ike_deleted().is_empty());
}

#[test]
fn responder_deletes_a_child_sa() {
    let mut net = established();
    let child = net.east.ep.status()[0].children[0].serial;
    net.east.ep.delete_child_sa(child, net.now).unwrap();
    net.run_for(Duration::from_secs(5));
    assert_eq!((net.west.deletes(), net.east.deletes()), (1, 1));
    assert!(net.west.ep.status()[0].children.is_empty());
}

#[test]
fn delete_connection_removes_all_its_sas() {
    let mut net = established();
    assert_eq!(net.west.ep.delete_connection("west-east", net.now), 1);
    assert_eq!(net.west.ep.delete_connection("nonexistent", net.now), 0);
    net.run_for(Duration::from_secs(5));
    assert!(net.west.ep.status().is_empty() && net.east.ep.status().is_empty());
}

#[test]
fn periodic_liveness_and_dead_peer() {
    let (mut w, e) = pair();
    w.profile_mut().dpd_delay = Some(Duration::from_secs(10));
    let mut net = Net::new(w, e, b"k", b"k");
    net.initiate();
    net.run_for(Duration::from_secs(5));
    let before = net.wire.len();
    net.run_for(Duration::from_secs(31));
    // Three checks (at 10, 20, 30 s), each a request and a response.
    assert_eq!(net.wire.len(), before + 6);
    assert!(net.west.ike_deleted().is_empty());
    // The peer vanishes: the next check times out and the SA goes, with its Child
    // SA, the peer declared dead.
    net.filter = Some(Box::new(|_| true));
    net.run_for(Duration::from_secs(100));
    assert_eq!(net.west.ike_deleted(), vec![(SaEnd::PeerDead, false)]);
    assert!(net
        .west
        .has_line("IKE SA liveness: peer 198.51.100.2 is dead"));
    assert_eq!(net.west.deletes(), 1);
    assert!(net.west.ep.status().is_empty());
}

#[test]
fn unknown_spi_request_draws_invalid_ike_spi() {
    let mut net = established();
    // East restarts and forgets everything.
    net.east.ep = Endpoint::new(
        EndpointConfig::default(),
        Box::new(ike::crypto::rng::TestRandom::new(99)),
    )
    .unwrap();
    let s = ike_serial(&net.west);
    let before = net.wire.len();
    net.west.ep.send_liveness(s, net.now).unwrap();
    net.run_for(Duration::from_millis(100));
    let answer = &net.wire[before + 1];
    assert_eq!(answer.remote.ip().to_string(), WEST);
    let m = Message::decode(&answer.contents).unwrap();
    assert!(m.header.flags.response);
    assert!(matches!(&m.payloads[..], [Payload::Notify(n)] if n.ty == NotifyType::INVALID_IKE_SPI));
    // The unprotected answer is not trusted: west keeps retransmitting (and east
    // answers at most once a second) until it gives up on the SA.
    net.run_for(Duration::from_secs(70));
    assert_eq!(net.west.ike_deleted(), vec![(SaEnd::PeerDead, false)]);
    assert_eq!(net.west.deletes(), 1);
}

#[test]
fn retransmission_backoff_and_timeout() {
    let mut net = Net::default_pair();
    // East's answers are all lost; count them.
    let answered = Rc::new(Cell::new(0));
    let count = answered.clone();
    net.filter = Some(Box::new(move |t| {
        let from_east = t.local.ip().to_string() == EAST;
        count.set(count.get() + usize::from(from_east));
        from_east
    }));
    net.initiate();
    net.run_for(Duration::from_secs(59));
    // Sent at 0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5 s: 0.5 s doubling.
    let sent = net
        .wire
        .iter()
        .filter(|t| t.local.ip().to_string() == WEST)
        .count();
    assert_eq!(sent, 7);
    assert!(net.west.ike_deleted().is_empty());
    // East answered each copy from its one half-open SA's cached response.
    assert_eq!(net.east.ep.status().len(), 1);
    assert_eq!(answered.get(), 7);
    net.run_for(Duration::from_secs(2));
    assert_eq!(net.west.ike_deleted(), vec![(SaEnd::Timeout, true)]);
    assert!(net
        .west
        .has_line("IKE_SA_INIT_I: 60 second timeout exceeded after 6 retransmits."));
}

#[test]
fn keyingtries_start_new_attempts() {
    let (mut w, e) = pair();
    w.profile_mut().keyingtries = 3;
    let mut net = Net::new(w, e, b"k", b"k");
    net.filter = Some(Box::new(|_| true));
    net.initiate();
    net.run_for(Duration::from_secs(200));
    let ends = net.west.ike_deleted();
    assert_eq!(
        ends,
        vec![
            (SaEnd::Timeout, false),
            (SaEnd::Timeout, false),
            (SaEnd::Timeout, true)
        ]
    );
    assert!(net.west.has_line("starting keying attempt 2 of at most 3"));
    assert!(net.west.has_line("starting keying attempt 3 of at most 3"));
    assert!(net.west.ep.status().is_empty());
}

#[test]
fn keyingtries_recover_when_the_peer_comes_back() {
    let (mut w, e) = pair();
    w.profile_mut().keyingtries = 0;
    let mut net = Net::new(w, e, b"k", b"k");
    net.filter = Some(Box::new(|_| true));
    net.initiate();
    net.run_for(Duration::from_secs(90));
    net.filter = None;
    net.run_for(Duration::from_secs(60));
    assert!(net
        .west
        .has_line("starting keying attempt 2 of an unlimited number"));
    net.assert_matching_children();
}

#[test]
fn half_open_sa_expires() {
    let mut net = Net::default_pair();
    // Only west's IKE_SA_INIT requests get through.
    net.filter = Some(Box::new(|t| t.local.ip().to_string() == EAST));
    net.initiate();
    net.run_for(Duration::from_secs(59));
    assert_eq!(net.east.ep.status().len(), 1);
    assert_eq!(net.east.ep.status()[0].state, "IKE_SA_INIT_R");
    net.run_for(Duration::from_secs(5));
    assert_eq!(
        net.east.ike_deleted(),
        vec![(SaEnd::HalfOpenExpired, false)]
    );
    assert!(net.east.ep.status().is_empty());
    assert!(net.east.ep.poll_timeout().is_none());
}

/// West deletes an IKE SA east has already forgotten: east's unprotected
/// INVALID_IKE_SPI ends it at once instead of after the retransmit timeout.
#[test]
fn deleting_an_ike_sa_the_peer_forgot_ends_on_invalid_ike_spi() {
    let mut net = Net::default_pair();
    net.initiate();
    net.run_for(Duration::from_secs(5));
    let east_ike = net.east.ep.status()[0].serial;
    // East's Delete never reaches west; east gives up on it and forgets the SA.
    let east: std::net::IpAddr = EAST.parse().unwrap();
    net.filter = Some(Box::new(move |t| t.local.ip() == east));
    net.east.ep.delete_ike_sa(east_ike, net.now).unwrap();
    net.run_for(Duration::from_secs(120));
    assert!(net.east.ep.status().is_empty());
    net.filter = None;
    let west_ike = net.west.ep.status()[0].serial;
    net.west.ep.delete_ike_sa(west_ike, net.now).unwrap();
    net.run_for(Duration::from_secs(5));
    assert!(
        net.west.ep.status().is_empty(),
        "{:#?}",
        net.west.progress()
    );
    assert!(net.west.has_line("the peer answered INVALID_IKE_SPI"));
    assert!(!net.west.has_line("timeout exceeded"));
}
