//! On-demand negotiation from a kernel ACQUIRE with the triggering packet's
//! selectors (RFC 7296 2.9), against a responder with the same or narrower policy.

mod ikev2_sim;

use std::net::IpAddr;
use std::time::Duration;

use ike::ikev2::TriggeringPacket;
use ike::ts::TrafficSelector;
use ikev2_sim::*;

fn host(addr: &str) -> TrafficSelector {
    TrafficSelector::host(addr.parse::<IpAddr>().unwrap())
}

fn acquire(net: &mut Net, local: &str, remote: &str) {
    let packet = TriggeringPacket {
        local: host(local),
        remote: host(remote),
    };
    let c = net.west.conn();
    let serial = net
        .west
        .ep
        .handle_acquire_packet(c, packet, net.now)
        .unwrap();
    assert!(serial.is_some());
    net.run_for(Duration::from_secs(5));
}

#[test]
fn acquire_with_the_packet_establishes_the_connection_selectors() {
    let mut net = Net::default_pair();
    acquire(&mut net, "192.0.2.5", "203.0.113.7");
    let (w, _) = net.assert_matching_children();
    assert_eq!(w.local_ts, net.west.conn().local_ts);
    assert_eq!(w.remote_ts, net.west.conn().remote_ts);
}

#[test]
fn a_narrower_responder_picks_the_part_holding_the_packet() {
    let w = west_conn("c", "", "");
    // East only protects 203.0.113.0/28 with us.
    let e = conn("c", EAST, WEST, "203.0.113.0/28", WEST_NET, "", "");
    let mut net = Net::new(w, e, b"k", b"k");
    acquire(&mut net, "192.0.2.5", "203.0.113.7");
    let (w, _) = net.assert_matching_children();
    let packet = host("203.0.113.7");
    assert!(
        w.remote_ts.iter().any(|t| t.contains(&packet)),
        "{:?}",
        w.remote_ts
    );
    assert!(!w
        .remote_ts
        .iter()
        .any(|t| t.contains(&host("203.0.113.100"))));
}
