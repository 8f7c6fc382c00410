//! Hostile input: every datagram of a handshake, rekeys and deletes is also delivered
//! in mutated forms (bit flips, truncation, extension, shuffled header fields) before
//! the real one. Nothing may panic, and authenticated exchanges must still complete
//! when only protected messages are mutated.

mod ikev2_sim;

use std::time::Duration;

use ike::ikev2::Transmit;
use ikev2_sim::*;
use proptest::prelude::*;

fn mutate(t: &Transmit, dice: &mut Dice) -> Vec<u8> {
    let mut b = t.contents.clone();
    match (dice.next() * 5.0) as u32 {
        0 => {
            for _ in 0..1 + (dice.next() * 4.0) as usize {
                let i = (dice.next() * b.len() as f64) as usize % b.len().max(1);
                if let Some(x) = b.get_mut(i) {
                    *x ^= 1 << ((dice.next() * 8.0) as u32);
                }
            }
        }
        1 => b.truncate((dice.next() * b.len() as f64) as usize),
        2 => b.extend((0..(dice.next() * 40.0) as usize).map(|i| i as u8)),
        3 => {
            // A header field: flags, exchange type, message ID or length.
            let off = if t.non_esp_marker { 4 } else { 0 };
            let i = off + [18, 19, 20, 23, 24, 27][(dice.next() * 6.0) as usize % 6];
            if let Some(x) = b.get_mut(i) {
                *x = x.wrapping_add(1 + (dice.next() * 254.0) as u8);
            }
        }
        _ => {
            // Payload length fields just after the header.
            let off = if t.non_esp_marker { 4 } else { 0 };
            if let Some(x) = b.get_mut(off + 30) {
                *x ^= 0xff;
            }
        }
    }
    b
}

/// Runs `steps` of the simulation, delivering mutated copies of every datagram
/// first (or only those matching `protected_only`).
fn hostile_run(net: &mut Net, seed: u64, protected_only: bool, d: Duration) {
    let mut dice = Dice::new(seed);
    let end = net.now + d;
    loop {
        net.collect();
        if net.in_flight.is_empty() {
            let next = [net.west.ep.poll_timeout(), net.east.ep.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            match next {
                Some(t) if t <= end => {
                    net.now = net.now.max(t);
                    net.west.ep.handle_timeout(net.now);
                    net.east.ep.handle_timeout(net.now);
                    continue;
                }
                _ => break,
            }
        }
        let (_, _, t) = net.in_flight.remove(0);
        let host = if t.remote.ip() == net.west.addr {
            &mut net.west
        } else {
            &mut net.east
        };
        let off = if t.non_esp_marker { 4 } else { 0 };
        let protected = t.contents.get(off + 18).is_some_and(|&x| x != 34);
        if !protected_only || protected {
            for _ in 0..3 {
                let bad = mutate(&t, &mut dice);
                host.ep
                    .handle(net.now, t.remote, t.local, &bad, &host.config);
            }
        }
        host.ep
            .handle(net.now, t.remote, t.local, &t.contents, &host.config);
    }
    net.collect();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn mutated_datagrams_never_panic(seed in any::<u64>()) {
        let mut net = Net::default_pair();
        net.initiate();
        hostile_run(&mut net, seed, false, Duration::from_secs(90));
        // Whatever happened, the endpoints still answer queries and timers.
        let _ = net.west.ep.status();
        let _ = net.east.ep.status();
    }

    #[test]
    fn mutated_protected_messages_are_dropped(seed in any::<u64>()) {
        let mut net = Net::default_pair();
        net.initiate();
        hostile_run(&mut net, seed, true, Duration::from_secs(5));
        net.assert_matching_children();
        // Rekeys and a delete under the same treatment.
        let child = net.west.ep.status()[0].children[0].serial;
        net.west.ep.rekey_child_sa(child, net.now).unwrap();
        hostile_run(&mut net, seed ^ 1, true, Duration::from_secs(5));
        let ike = net.east.ep.status()[0].serial;
        net.east.ep.rekey_ike_sa(ike, net.now).unwrap();
        hostile_run(&mut net, seed ^ 2, true, Duration::from_secs(5));
        prop_assert_eq!(net.west.installs().len(), 2);
        prop_assert_eq!(net.east.installs().len(), 2);
        prop_assert_eq!(net.west.ep.status().len(), 1);
        let ike = net.west.ep.status()[0].serial;
        net.west.ep.delete_ike_sa(ike, net.now).unwrap();
        hostile_run(&mut net, seed ^ 3, true, Duration::from_secs(5));
        prop_assert!(net.west.ep.status().is_empty());
        prop_assert!(net.east.ep.status().is_empty());
        prop_assert_eq!(net.west.deletes(), 2);
        prop_assert_eq!(net.east.deletes(), 2);
    }
}
