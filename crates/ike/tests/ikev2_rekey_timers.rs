//! Rekeying as the manual's "Rekeying" section says, driven by the core's own
//! timers on simulated time: the initiator of an SA rekeys at rekeymargin (plus
//! fuzz) before its lifetime ends, the responder at half the margin; only the
//! newest SA of its kind rekeys; `--dontrekey` lets SAs expire; a refused rekey is
//! retried and never takes the working SA down before its lifetime ends.

mod ikev2_sim;

use std::time::{Duration, Instant};

use ike::ikev2::{Connection, Event, RekeyResult, SaEnd, SaSerial, TimerKind};
use ike::registry::NotifyType;
use ikev2_sim::*;

/// Margin 10 s, no fuzz, the given Child SA and IKE SA lifetimes.
fn timed(mut c: Connection, child_secs: u64, ike_secs: u64) -> Connection {
    c.profile_mut().child_lifetime = Duration::from_secs(child_secs);
    c.profile_mut().ike_lifetime = Duration::from_secs(ike_secs);
    c.profile_mut().rekey_margin = Duration::from_secs(10);
    c.profile_mut().rekey_fuzz_percent = 0;
    c
}

fn up(w: Connection, e: Connection) -> Net {
    let mut net = Net::new(w, e, b"k", b"k");
    net.initiate();
    net.run_for(Duration::from_secs(1));
    assert_eq!(net.west.ep.status()[0].children.len(), 1);
    net
}

fn child_of(h: &Host) -> SaSerial {
    h.ep.status()[0].children[0].serial
}

/// The time of `h`'s pending `kind` timer of SA `serial`.
fn timer(h: &Host, serial: SaSerial, kind: TimerKind) -> Instant {
    h.ep.pending_timers()
        .into_iter()
        .find(|t| t.serial == serial && t.kind == kind)
        .unwrap_or_else(|| panic!("no {kind:?} timer for {serial}"))
        .at
}

/// Datagrams on the wire sent from `ip`.
fn sent_by(net: &Net, ip: &str) -> usize {
    net.wire
        .iter()
        .filter(|t| t.local.ip().to_string() == ip)
        .count()
}

fn count_lines(h: &Host, needle: &str) -> usize {
    h.progress().iter().filter(|l| l.contains(needle)).count()
}

/// Runs the simulation up to `at` (exclusive by a millisecond) and checks that
/// `ip` sends nothing before it, then exactly at it that `ip` sends the request.
fn request_leaves_exactly_at(net: &mut Net, at: Instant, ip: &str) {
    let before = sent_by(net, ip);
    net.run_for(at - Duration::from_millis(1) - net.now);
    assert_eq!(sent_by(net, ip), before, "sent before the rekey time");
    net.run_for(Duration::from_millis(1));
    assert_eq!(net.now, at);
    assert_eq!(
        sent_by(net, ip),
        before + 1,
        "nothing sent at the rekey time"
    );
}

fn rekey_results(h: &Host) -> Vec<RekeyResult> {
    h.events
        .iter()
        .filter_map(|e| match e {
            Event::RekeyFinished { result, .. } => Some(result.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn rekeymargin_initiator_child_rekey_leaves_at_lifetime_minus_margin() {
    let (w, e) = pair();
    let mut net = up(timed(w, 100, 28800), e);
    let child = child_of(&net.west);
    let expire = timer(&net.west, child, TimerKind::Expire);
    let rekey = timer(&net.west, child, TimerKind::Rekey);
    assert_eq!(expire - rekey, Duration::from_secs(10));
    request_leaves_exactly_at(&mut net, rekey, WEST);
    assert!(net
        .west
        .has_line("initiating rekey to replace Child SA #2 using #1"));
    net.run_for(Duration::from_secs(1));
    assert!(net.west.has_line("initiator rekeyed Child SA #2"));
    assert_eq!(net.west.installs().len(), 2);
    assert_eq!(
        rekey_results(&net.west),
        [RekeyResult::Rekeyed(child_of(&net.west))]
    );
    // The new Child SA gets its own timers from its install.
    let new = child_of(&net.west);
    assert_ne!(new, child);
    assert_eq!(
        timer(&net.west, new, TimerKind::Expire) - timer(&net.west, new, TimerKind::Rekey),
        Duration::from_secs(10)
    );
}

#[test]
fn rekeymargin_responder_waits_for_half_the_margin() {
    let (w, e) = pair();
    // East answered the Child SA: it rekeys at half the margin, 5 s before the end.
    let mut net = up(w, timed(e, 100, 28800));
    let child = child_of(&net.east);
    let expire = timer(&net.east, child, TimerKind::Expire);
    let rekey = timer(&net.east, child, TimerKind::Rekey);
    assert_eq!(expire - rekey, Duration::from_secs(5));
    request_leaves_exactly_at(&mut net, rekey, EAST);
    net.run_for(Duration::from_secs(1));
    // The former responder initiated the replacement.
    assert!(net.east.has_line("initiator rekeyed Child SA #2"));
    assert!(net.west.has_line("responder rekeyed Child SA #2"));
}

#[test]
fn rekeyfuzz_adds_up_to_its_percentage_of_the_margin() {
    let mut leads = Vec::new();
    for seed in 1..=8 {
        let (w, e) = pair();
        let mut w = timed(w, 100, 28800);
        w.profile_mut().rekey_fuzz_percent = 100;
        let mut net = Net::new(w, e, b"k", b"k");
        net.west = Host::new(net.west.conn().as_ref().clone(), b"k", seed);
        net.initiate();
        net.run_for(Duration::from_secs(1));
        let child = child_of(&net.west);
        let lead =
            timer(&net.west, child, TimerKind::Expire) - timer(&net.west, child, TimerKind::Rekey);
        // margin + random(0..=100% of margin)
        assert!(
            (Duration::from_secs(10)..=Duration::from_secs(20)).contains(&lead),
            "{lead:?}"
        );
        leads.push(lead);
    }
    leads.sort();
    leads.dedup();
    assert!(leads.len() > 1, "the fuzz never varied: {leads:?}");
}

#[test]
fn ipseclifetime_and_ikelifetime_set_the_expiry_timers() {
    let (w, e) = pair();
    let net = up(timed(w, 300, 200), e);
    let st = net.west.ep.status();
    let (ike, child) = (st[0].serial, st[0].children[0].serial);
    let now = net.now;
    let ike_end = timer(&net.west, ike, TimerKind::Expire) - now;
    let child_end = timer(&net.west, child, TimerKind::Expire) - now;
    // Armed at establishment, less than a second ago.
    assert!(ike_end > Duration::from_secs(199) && ike_end <= Duration::from_secs(200));
    assert!(child_end > Duration::from_secs(299) && child_end <= Duration::from_secs(300));
    assert_eq!(
        timer(&net.west, ike, TimerKind::Expire) - timer(&net.west, ike, TimerKind::Rekey),
        Duration::from_secs(10)
    );
}

#[test]
fn ikelifetime_rekeys_the_ike_sa_at_lifetime_minus_margin() {
    let (w, e) = pair();
    let mut net = up(timed(w, 28800, 100), e);
    let ike = net.west.ep.status()[0].serial;
    let rekey = timer(&net.west, ike, TimerKind::Rekey);
    assert_eq!(
        timer(&net.west, ike, TimerKind::Expire) - rekey,
        Duration::from_secs(10)
    );
    request_leaves_exactly_at(&mut net, rekey, WEST);
    net.run_for(Duration::from_secs(1));
    assert!(net.west.has_line("initiating rekey to replace IKE SA #1"));
    assert_eq!(net.west.established_ike(), 2);
    assert_eq!(net.west.ep.status().len(), 1);
    assert_ne!(net.west.ep.status()[0].serial, ike);
    assert_eq!(net.west.deletes(), 0);
}

#[test]
fn dontrekey_never_rekeys_and_deletes_at_the_end_of_the_lifetime() {
    let (w, e) = pair();
    let mut w = timed(w, 30, 60);
    w.profile_mut().rekey = false;
    let mut net = up(w, e);
    let st = net.west.ep.status();
    let (ike, child) = (st[0].serial, st[0].children[0].serial);
    assert!(net
        .west
        .ep
        .pending_timers()
        .iter()
        .all(|t| t.kind != TimerKind::Rekey));
    let child_end = timer(&net.west, child, TimerKind::Expire);
    net.run_for(child_end - Duration::from_millis(1) - net.now);
    assert_eq!(net.west.deletes(), 0);
    net.run_for(Duration::from_secs(1));
    // Deleted with the peer at its hard expiry, never rekeyed.
    assert!(net
        .west
        .has_line("Child SA expired (ipsec-lifetime=30s reached)"));
    assert_eq!((net.west.deletes(), net.east.deletes()), (1, 1));
    assert_eq!(count_lines(&net.west, "initiating rekey"), 0);
    assert_eq!(net.west.ep.status()[0].serial, ike);
    // The IKE SA too reaches its end and is deleted, with the peer.
    net.run_for(Duration::from_secs(40));
    assert!(net
        .west
        .has_line("IKE SA expired (ikelifetime=60s reached)"));
    assert_eq!(net.west.ike_deleted(), vec![(SaEnd::Deleted, false)]);
    assert!(net.west.ep.status().is_empty() && net.east.ep.status().is_empty());
    assert_eq!(net.west.installs().len(), 1);
}

#[test]
fn dontrekey_still_answers_the_peers_rekey() {
    let (w, e) = pair();
    let mut w = timed(w, 30, 60);
    w.profile_mut().rekey = false;
    let mut net = up(w, e);
    let child = child_of(&net.east);
    net.east.ep.rekey_child_sa(child, net.now).unwrap();
    net.run_for(Duration::from_secs(1));
    assert!(net.west.has_line("responder rekeyed Child SA #2"));
    assert_eq!(net.west.installs().len(), 2);
}

#[test]
fn older_child_sa_of_the_connection_does_not_rekey() {
    let (mut w, e) = pair();
    w.profile_mut().initial_contact = false;
    let mut net = up(timed(w, 100, 120), e);
    let old = child_of(&net.west);
    let old_ike = net.west.ep.status()[0].serial;
    // A second IKE SA with its Child SA for the same connection and selectors.
    net.initiate();
    net.run_for(Duration::from_secs(1));
    let st = net.west.ep.status();
    assert_eq!(st.len(), 2);
    let new = st[1].children[0].serial;
    let new_ike = st[1].serial;
    assert!(new > old);
    net.run_for(Duration::from_secs(95));
    assert!(net.west.has_line(&format!(
        "not rekeying Child SA {old}: superseded by the newer Child SA {new}; it will expire"
    )));
    assert_eq!(
        count_lines(
            &net.west,
            &format!("initiating rekey to replace Child SA {old}")
        ),
        0
    );
    assert_eq!(
        count_lines(
            &net.west,
            &format!("initiating rekey to replace Child SA {new}")
        ),
        1
    );
    // The older one just expires.
    net.run_for(Duration::from_secs(5));
    assert!(net.west.has_line(&format!("{old}: Child SA expired")));
    // So for the IKE SAs: only the newer one rekeys at 110 s.
    net.run_for(Duration::from_secs(15));
    assert!(net.west.has_line(&format!(
        "not rekeying IKE SA {old_ike}: superseded by the newer IKE SA {new_ike}; it will expire"
    )));
    assert_eq!(
        count_lines(
            &net.west,
            &format!("initiating rekey to replace IKE SA {old_ike}")
        ),
        0
    );
    assert_eq!(
        count_lines(
            &net.west,
            &format!("initiating rekey to replace IKE SA {new_ike}")
        ),
        1
    );
}

#[test]
fn rekeymargin_responder_ike_sa_waits_for_half_the_margin() {
    let (w, e) = pair();
    let net = up(w, timed(e, 28800, 100));
    let ike = net.east.ep.status()[0].serial;
    assert_eq!(
        timer(&net.east, ike, TimerKind::Expire) - timer(&net.east, ike, TimerKind::Rekey),
        Duration::from_secs(5)
    );
}

#[test]
fn refused_rekey_retries_and_the_old_child_sa_stays_until_its_lifetime_ends() {
    // West's rekeys offer only DH31 for PFS; east accepts only DH19: refused.
    let w = timed(west_conn("c", "", "aes_gcm256-dh31"), 100, 28800);
    let e = east_conn("c", "", "aes_gcm256-dh19");
    let mut net = up(w, e);
    let child = child_of(&net.west);
    let spi = net.west.ep.status()[0].children[0].inbound_spi;
    let expire = timer(&net.west, child, TimerKind::Expire);
    net.run_for(expire - Duration::from_millis(100) - net.now);
    // Tried at 90 s, then at 95, 97.5, 98.75 and 99.75 s: halving what is left.
    assert_eq!(
        count_lines(&net.west, "initiating rekey to replace Child SA"),
        5
    );
    let results = rekey_results(&net.west);
    assert_eq!(results.len(), 5);
    assert!(
        results.iter().all(|r| matches!(r, RekeyResult::Refused(_))),
        "{results:?}"
    );
    assert!(net.west.has_line("; retrying in 5.0 seconds"));
    // Still up, untouched, until the end of its lifetime.
    assert_eq!(net.west.ep.status()[0].children[0].inbound_spi, spi);
    assert_eq!(net.west.deletes(), 0);
    net.run_for(Duration::from_millis(200));
    assert_eq!(net.west.deletes(), 1);
    assert!(net.west.ep.status()[0].children.is_empty());
    // The IKE SA stays.
    assert!(net.west.ike_deleted().is_empty());
}

#[test]
fn refused_requested_rekey_reports_the_notify() {
    let w = west_conn("c", "", "aes_gcm256-dh31");
    let e = east_conn("c", "", "aes_gcm256-dh19");
    let mut net = up(w, e);
    let child = child_of(&net.west);
    net.west.ep.rekey_child_sa(child, net.now).unwrap();
    net.run_for(Duration::from_secs(1));
    let r = rekey_results(&net.west);
    assert_eq!(r.len(), 1);
    let RekeyResult::Refused(n) = r[0] else {
        panic!("{r:?}")
    };
    assert!(
        [
            NotifyType::NO_PROPOSAL_CHOSEN,
            NotifyType::INVALID_KE_PAYLOAD
        ]
        .contains(&n),
        "{n}"
    );
}

#[test]
fn pfs_rekey_by_timer_carries_a_ke_payload() {
    let len = |pfs: bool| {
        let (w, e) = pair();
        let mut w = timed(w, 100, 28800);
        w.profile_mut().pfs = pfs;
        let mut net = up(w, e);
        let child = child_of(&net.west);
        let rekey = timer(&net.west, child, TimerKind::Rekey);
        net.run_for(rekey - net.now);
        let req = net
            .wire
            .iter()
            .rev()
            .find(|t| t.local.ip().to_string() == WEST)
            .unwrap()
            .contents
            .len();
        net.run_for(Duration::from_secs(1));
        assert!(net.west.has_line("initiator rekeyed Child SA #2"));
        req
    };
    // The default IKE group is DH19: its KE payload adds 8 + 64 bytes.
    let (with, without) = (len(true), len(false));
    assert!(with >= without + 72, "{with} vs {without}");
}

/// A Child SA whose rekey comes due while the IKE SA's own rekey is outstanding is
/// queued behind it; once the IKE SA is rekeyed the new one (which now holds the
/// Child SA) rekeys it, rather than letting it run into its lifetime's end.
#[test]
fn a_child_rekey_queued_behind_the_ike_rekey_happens_on_the_new_ike_sa() {
    let (w, e) = pair();
    // The IKE SA rekeys at 20 s, the Child SA at 21 s; east's first two answers
    // after 19.9 s are lost, so the IKE rekey is still outstanding at 21 s.
    let mut net = up(timed(w, 31, 30), e);
    let ike = net.west.ep.status()[0].serial;
    let child = child_of(&net.west);
    net.run_for(Duration::from_millis(19_900) - (net.now - net.start));
    let mut lost = 0;
    net.filter = Some(Box::new(move |t| {
        if t.local.ip().to_string() == EAST && lost < 2 {
            lost += 1;
            return true;
        }
        false
    }));
    net.run_for(Duration::from_secs(15));
    assert_ne!(net.west.ep.status()[0].serial, ike, "IKE SA not rekeyed");
    assert!(
        net.west
            .has_line(&format!("initiating rekey to replace Child SA {child}")),
        "{:#?}",
        net.west.progress()
    );
    assert_ne!(child_of(&net.west), child, "Child SA not rekeyed");
    assert_eq!(
        count_lines(&net.west, "Child SA expired"),
        0,
        "{:#?}",
        net.west.progress()
    );
}
