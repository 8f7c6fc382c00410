//! Simultaneous rekeys (RFC 7296 2.8.1): both ends rekey the same Child SA or IKE SA
//! at once; the new SA made with the lowest of the four nonces is deleted by its
//! creator, and exactly one new SA survives on both ends.

mod ikev2_sim;

use std::time::Duration;

use ike::ikev2::SaSerial;
use ikev2_sim::*;

/// An established pair whose random sources are seeded with `seed` (the nonces,
/// and so the winner of a simultaneous rekey, depend on it).
fn established(seed: u64) -> Net {
    let w = west_conn("c", "", "aes_gcm256");
    let e = east_conn("c", "", "aes_gcm256");
    let mut net = Net::new(w.clone(), e.clone(), b"k", b"k");
    net.west = Host::new(w, b"k", 2 * seed + 1);
    net.east = Host::new(e, b"k", 2 * seed + 2);
    net.initiate();
    net.run_for(Duration::from_secs(5));
    net.assert_matching_children();
    net
}

fn only_child(host: &Host) -> (SaSerial, u32, u32) {
    let st = host.ep.status();
    assert_eq!(st.len(), 1, "{:#?}", host.progress());
    assert_eq!(st[0].children.len(), 1, "{:#?}", host.progress());
    let c = &st[0].children[0];
    (c.serial, c.inbound_spi, c.outbound_spi)
}

#[test]
fn simultaneous_child_sa_rekey_leaves_one_new_child_sa() {
    let (mut west_won, mut east_won) = (0, 0);
    for seed in 0..8 {
        let mut net = established(seed);
        let (old_w, old_in, _) = only_child(&net.west);
        let (old_e, _, _) = only_child(&net.east);
        net.west.ep.rekey_child_sa(old_w, net.now).unwrap();
        net.east.ep.rekey_child_sa(old_e, net.now).unwrap();
        net.run_for(Duration::from_secs(10));

        let (_, w_in, w_out) = only_child(&net.west);
        let (_, e_in, e_out) = only_child(&net.east);
        assert_eq!((w_in, w_out), (e_out, e_in), "seed {seed}");
        assert_ne!(w_in, old_in);
        let w_lost = net.west.has_line("deleting our redundant Child SA");
        let e_lost = net.east.has_line("deleting our redundant Child SA");
        assert!(w_lost != e_lost, "seed {seed}: exactly one side loses");
        assert!(net.west.has_line("simultaneous rekey of Child SA #2"));
        assert!(net.east.has_line("simultaneous rekey of Child SA #2"));
        // The surviving pair's keys match in the kernel on both ends.
        let wi = net.west.installs();
        let ei = net.east.installs();
        let w = wi.iter().find(|i| i.inbound.spi == w_in).unwrap();
        let e = ei.iter().find(|i| i.inbound.spi == e_in).unwrap();
        assert_eq!(&*w.outbound.encr_key, &*e.inbound.encr_key);
        assert_eq!(&*w.inbound.encr_key, &*e.outbound.encr_key);
        // Everything installed but the survivor was uninstalled again.
        assert_eq!(net.west.deletes(), wi.len() - 1, "seed {seed}");
        assert_eq!(net.east.deletes(), ei.len() - 1, "seed {seed}");
        assert!(net.west.ike_deleted().is_empty() && net.east.ike_deleted().is_empty());
        if w_lost {
            east_won += 1;
        } else {
            west_won += 1;
        }
        // And it can be rekeyed normally afterwards.
        let (c, _, _) = only_child(&net.west);
        net.west.ep.rekey_child_sa(c, net.now).unwrap();
        net.run_for(Duration::from_secs(10));
        let (_, w_in2, w_out2) = only_child(&net.west);
        let (_, e_in2, e_out2) = only_child(&net.east);
        assert_eq!((w_in2, w_out2), (e_out2, e_in2));
        assert_ne!(w_in2, w_in);
    }
    assert!(west_won > 0 && east_won > 0, "{west_won} / {east_won}");
}

#[test]
fn simultaneous_ike_sa_rekey_leaves_one_new_ike_sa_with_the_child_sas() {
    let (mut west_won, mut east_won) = (0, 0);
    for seed in 0..8 {
        let mut net = established(seed);
        let (child_in, _) = {
            let (_, i, o) = only_child(&net.west);
            (i, o)
        };
        let old_w = net.west.ep.status()[0].serial;
        let old_e = net.east.ep.status()[0].serial;
        net.west.ep.rekey_ike_sa(old_w, net.now).unwrap();
        net.east.ep.rekey_ike_sa(old_e, net.now).unwrap();
        net.run_for(Duration::from_secs(10));

        let (w, e) = (net.west.ep.status(), net.east.ep.status());
        assert_eq!(
            w.len(),
            1,
            "seed {seed}: {:#?} {:#?}",
            net.west.progress(),
            net.east.progress()
        );
        assert_eq!(e.len(), 1, "seed {seed}: {:#?}", net.east.progress());
        assert_eq!(w[0].spis, e[0].spis);
        assert_ne!(w[0].serial, old_w);
        assert_eq!(w[0].state, "ESTABLISHED_IKE_SA");
        assert_eq!(e[0].state, "ESTABLISHED_IKE_SA");
        // The Child SA moved, untouched in the kernel, to the survivor.
        assert_eq!(w[0].children.len(), 1, "seed {seed}");
        assert_eq!(e[0].children.len(), 1, "seed {seed}");
        assert_eq!(w[0].children[0].inbound_spi, child_in);
        assert_eq!(net.west.deletes() + net.east.deletes(), 0);
        let w_lost = net.west.has_line("deleting our redundant IKE SA");
        let e_lost = net.east.has_line("deleting our redundant IKE SA");
        assert!(w_lost != e_lost, "seed {seed}: exactly one side loses");
        if w_lost {
            east_won += 1;
        } else {
            west_won += 1;
        }
        // Old and redundant IKE SAs are gone on both ends, with a Delete each.
        for h in [&net.west, &net.east] {
            let gone = h.ike_deleted();
            assert_eq!(gone.len(), 2, "seed {seed}: {gone:?}");
            assert!(gone
                .iter()
                .all(|(r, f)| *r == ike::ikev2::SaEnd::Deleted && !f));
        }
        // The survivor works: a Child SA rekey in it derives matching keys.
        let (c, _, _) = only_child(&net.west);
        net.west.ep.rekey_child_sa(c, net.now).unwrap();
        net.run_for(Duration::from_secs(10));
        let (_, w_in, w_out) = only_child(&net.west);
        let (_, e_in, e_out) = only_child(&net.east);
        assert_eq!((w_in, w_out), (e_out, e_in));
        let (wi, ei) = (net.west.installs(), net.east.installs());
        assert_eq!(&*wi[1].outbound.encr_key, &*ei[1].inbound.encr_key);
    }
    assert!(west_won > 0 && east_won > 0, "{west_won} / {east_won}");
}

#[test]
fn simultaneous_rekeys_under_loss_and_duplication_converge() {
    for seed in 0..40 {
        let mut net = established(seed);
        net.dice = Dice::new(seed + 300);
        net.impair = Impair {
            loss: 0.2,
            dup: 0.2,
            jitter_ms: 300,
        };
        let (old_w, _, _) = only_child(&net.west);
        let (old_e, _, _) = only_child(&net.east);
        net.west.ep.rekey_child_sa(old_w, net.now).unwrap();
        net.east.ep.rekey_child_sa(old_e, net.now).unwrap();
        net.run_for(Duration::from_secs(30));
        let ike_w = net.west.ep.status()[0].serial;
        let ike_e = net.east.ep.status()[0].serial;
        net.west.ep.rekey_ike_sa(ike_w, net.now).unwrap();
        net.east.ep.rekey_ike_sa(ike_e, net.now).unwrap();
        net.run_for(Duration::from_secs(90));
        net.impair = Impair::default();
        net.run_for(Duration::from_secs(90));
        let (w, e) = (net.west.ep.status(), net.east.ep.status());
        assert_eq!(
            w.len(),
            1,
            "seed {seed}: {:#?} {:#?}",
            net.west.progress(),
            net.east.progress()
        );
        assert_eq!(e.len(), 1, "seed {seed}: {:#?}", net.east.progress());
        assert_eq!(w[0].spis, e[0].spis, "seed {seed}");
        let wc: Vec<_> = w[0]
            .children
            .iter()
            .map(|c| (c.inbound_spi, c.outbound_spi))
            .collect();
        let ec: Vec<_> = e[0]
            .children
            .iter()
            .map(|c| (c.outbound_spi, c.inbound_spi))
            .collect();
        assert!(!wc.is_empty(), "seed {seed}: {:#?}", net.west.progress());
        assert_eq!(
            wc,
            ec,
            "seed {seed}: {:#?} {:#?}",
            net.west.progress(),
            net.east.progress()
        );
    }
}
