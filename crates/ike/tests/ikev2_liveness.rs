//! Liveness (RFC 7296 2.4) on simulated time: checks only after `dpddelay` of
//! silence from the peer (IKE messages and reported ESP traffic count), the peer
//! declared dead after `dpdtimeout` (or the retransmission budget), `whack
//! --crash`, NAT keepalives and `--no-keep-alive`, and the timer listing.

mod ikev2_sim;

use std::time::{Duration, Instant};

use ike::ikev2::{SaEnd, SaSerial, TimerKind};
use ikev2_sim::*;

fn up_with(w: ike::ikev2::Connection) -> Net {
    let (_, e) = pair();
    let mut net = Net::new(w, e, b"k", b"k");
    net.initiate();
    net.run_for(Duration::from_secs(1));
    assert_eq!(net.west.ep.status()[0].children.len(), 1);
    net
}

fn sent_by(net: &Net, ip: &str) -> usize {
    net.wire
        .iter()
        .filter(|t| t.local.ip().to_string() == ip)
        .count()
}

fn ike_of(h: &Host) -> SaSerial {
    h.ep.status()[0].serial
}

fn liveness_at(h: &Host) -> Instant {
    let ike = ike_of(h);
    h.ep.pending_timers()
        .into_iter()
        .find(|t| t.serial == ike && t.kind == TimerKind::Liveness)
        .expect("a liveness timer")
        .at
}

#[test]
fn dpddelay_probes_only_after_idle_and_traffic_postpones_it() {
    let (mut w, _) = pair();
    w.profile_mut().dpd_delay = Some(Duration::from_secs(10));
    let mut net = up_with(w);
    let before = sent_by(&net, WEST);
    // ESP traffic from the peer at 5 s (the daemon's counter poll reports it).
    net.run_for(Duration::from_secs(4));
    let child = net.west.ep.status()[0].children[0].serial;
    net.west.ep.note_peer_traffic(child, net.now);
    let heard = net.now;
    // The check due 10 s after establishment finds the peer heard from 5 s ago:
    // nothing is sent until 10 s after that traffic.
    net.run_for(heard + Duration::from_secs(10) - Duration::from_millis(1) - net.now);
    assert_eq!(sent_by(&net, WEST), before, "probed despite recent traffic");
    net.run_for(Duration::from_millis(1));
    assert_eq!(sent_by(&net, WEST), before + 1, "no probe after 10 s idle");
    // Answered: the SA lives on, the next check is 10 s after the answer.
    net.run_for(Duration::from_millis(50));
    assert!(net.west.ike_deleted().is_empty());
    let next = liveness_at(&net.west);
    assert!(next > net.now + Duration::from_secs(9));
}

#[test]
fn dpddelay_counts_the_peers_ike_requests_as_contact() {
    let (mut w, _) = pair();
    w.profile_mut().dpd_delay = Some(Duration::from_secs(10));
    let mut net = up_with(w);
    let before = sent_by(&net, WEST);
    net.run_for(Duration::from_secs(6));
    // East checks west at ~7 s; west answers (one datagram) but need not probe
    // east until ~17 s.
    let east_ike = ike_of(&net.east);
    net.east.ep.send_liveness(east_ike, net.now).unwrap();
    net.run_for(Duration::from_secs(9));
    assert_eq!(sent_by(&net, WEST), before + 1, "only the answer");
    net.run_for(Duration::from_secs(2));
    assert_eq!(sent_by(&net, WEST), before + 2, "the probe after 10 s idle");
}

#[test]
fn dpdtimeout_declares_the_peer_dead() {
    let (mut w, _) = pair();
    w.profile_mut().dpd_delay = Some(Duration::from_secs(10));
    w.profile_mut().dpd_timeout = Some(Duration::from_secs(30));
    let mut net = up_with(w);
    let probe = liveness_at(&net.west);
    net.filter = Some(Box::new(|_| true));
    net.run_for(probe + Duration::from_secs(30) - Duration::from_millis(1) - net.now);
    assert!(net.west.ike_deleted().is_empty());
    net.run_for(Duration::from_millis(1));
    assert_eq!(net.west.ike_deleted(), vec![(SaEnd::PeerDead, false)]);
    assert!(net
        .west
        .has_line("ESTABLISHED_IKE_SA: 30 second timeout exceeded"));
    assert!(net
        .west
        .has_line("IKE SA liveness: peer 198.51.100.2 is dead"));
    assert_eq!(net.west.deletes(), 1);
    assert!(net.west.ep.status().is_empty());
}

#[test]
fn without_dpdtimeout_the_retransmit_budget_declares_the_peer_dead() {
    let (mut w, _) = pair();
    w.profile_mut().dpd_delay = Some(Duration::from_secs(10));
    let mut net = up_with(w);
    let probe = liveness_at(&net.west);
    net.filter = Some(Box::new(|_| true));
    net.run_for(probe + Duration::from_secs(60) - Duration::from_millis(1) - net.now);
    assert!(net.west.ike_deleted().is_empty());
    net.run_for(Duration::from_millis(1));
    assert_eq!(net.west.ike_deleted(), vec![(SaEnd::PeerDead, false)]);
}

#[test]
fn crash_removes_every_ike_sa_of_the_peer_at_once() {
    let (w, _) = pair();
    let mut net = up_with(w);
    let ike = ike_of(&net.west);
    let wire = net.wire.len();
    assert!(net
        .west
        .ep
        .peer_crashed("192.0.2.77".parse().unwrap(), net.now)
        .is_empty());
    let gone = net.west.ep.peer_crashed(EAST.parse().unwrap(), net.now);
    assert_eq!(gone, [ike]);
    net.collect();
    assert_eq!(net.west.ike_deleted(), vec![(SaEnd::PeerDead, false)]);
    assert_eq!(net.west.deletes(), 1);
    assert!(net.west.ep.status().is_empty());
    assert!(net.west.has_line("peer 198.51.100.2 crashed"));
    // Nothing is sent to a crashed peer.
    assert_eq!(net.wire.len(), wire);
}

fn keepalives(net: &Net) -> usize {
    net.wire
        .iter()
        .filter(|t| t.contents == [0xff] && !t.non_esp_marker)
        .count()
}

#[test]
fn nat_keepalives_and_no_keep_alive() {
    for keep in [true, false] {
        let (mut w, _) = pair();
        w.profile_mut().nat_keepalive = keep;
        let (_, e) = pair();
        let mut net = Net::new(w, e, b"k", b"k");
        net.west_nat = Some("203.0.113.9".parse().unwrap());
        net.initiate();
        net.run_for(Duration::from_secs(65));
        assert_eq!(net.west.ep.status()[0].children.len(), 1);
        // Behind a NAT, every 20 s: 3 in 65 s; none with --no-keep-alive.
        assert_eq!(keepalives(&net), if keep { 3 } else { 0 }, "keep={keep}");
    }
}

#[test]
fn listevents_lists_every_pending_timer_in_order() {
    let (mut w, _) = pair();
    w.profile_mut().dpd_delay = Some(Duration::from_secs(10));
    w.profile_mut().rekey_fuzz_percent = 0;
    let mut net = up_with(w);
    let ike = ike_of(&net.west);
    let child = net.west.ep.status()[0].children[0].serial;
    let kinds = |net: &Net| {
        net.west
            .ep
            .pending_timers()
            .into_iter()
            .map(|t| (t.kind, t.serial, t.connection))
            .collect::<Vec<_>>()
    };
    let c = "west-east".to_string();
    assert_eq!(
        kinds(&net),
        [
            (TimerKind::Liveness, ike, c.clone()),
            // 8 h lifetimes, 9 min margin: the Child SA was installed a moment
            // after the IKE SA was established.
            (TimerKind::Rekey, ike, c.clone()),
            (TimerKind::Rekey, child, c.clone()),
            (TimerKind::Expire, ike, c.clone()),
            (TimerKind::Expire, child, c.clone()),
        ]
    );
    let t = net.west.ep.pending_timers();
    assert!(t.windows(2).all(|w| w[0].at <= w[1].at));
    assert_eq!(t[1].at + Duration::from_secs(540), t[3].at);
    // An outstanding request has its retransmission listed (and the liveness
    // check waits for it).
    net.filter = Some(Box::new(|_| true));
    net.west.ep.send_liveness(ike, net.now).unwrap();
    let k = kinds(&net);
    assert_eq!(k[0], (TimerKind::Retransmit, ike, c.clone()));
    assert!(k.iter().all(|(kind, _, _)| *kind != TimerKind::Liveness));
    // East's half-open SA of an IKE_AUTH that never comes.
    let (w, e) = pair();
    let mut net = Net::new(w, e, b"k", b"k");
    let mut from_west = 0;
    net.filter = Some(Box::new(move |t| {
        // Only west's first datagram (IKE_SA_INIT) gets through.
        if t.local.ip().to_string() == WEST {
            from_west += 1;
        }
        from_west > 1 && t.local.ip().to_string() == WEST
    }));
    net.initiate();
    net.run_for(Duration::from_secs(1));
    assert!(net
        .east
        .ep
        .pending_timers()
        .iter()
        .any(|t| t.kind == TimerKind::HalfOpen));
}
