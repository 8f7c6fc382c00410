//! Property tests for traffic selector narrowing: whatever is narrowed is within both
//! what was proposed and what is configured, and the initiator accepts it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ike::ts::{check_narrowed, narrow, TrafficSelector};
use proptest::prelude::*;

/// IPv4 selectors inside 192.0.2.0/24 (so they often overlap), any/tcp/udp, with
/// ports from a small set of edges; occasionally IPv6 or OPAQUE ports.
fn selector() -> impl Strategy<Value = TrafficSelector> {
    let v4 = (any::<u8>(), any::<u8>()).prop_map(|(a, b)| {
        let (a, b) = (a.min(b), a.max(b));
        (
            IpAddr::V4(Ipv4Addr::new(192, 0, 2, a)),
            IpAddr::V4(Ipv4Addr::new(192, 0, 2, b)),
        )
    });
    let v6 = (any::<u16>(), any::<u16>()).prop_map(|(a, b)| {
        let (a, b) = (a.min(b), a.max(b));
        (
            IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, a)),
            IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, b)),
        )
    });
    let addrs = prop_oneof![8 => v4, 1 => v6];
    let proto = prop::sample::select(vec![0u8, 0, 6, 17]);
    let port = prop::sample::select(vec![0u16, 1, 22, 80, 443, 1024, 40000, 65535]);
    let ports = prop_oneof![
        6 => (port.clone(), port).prop_map(|(a, b)| (a.min(b), a.max(b))),
        2 => Just((0u16, 65535u16)),
        1 => Just((65535u16, 0u16)),
    ];
    (addrs, proto, ports).prop_filter_map("valid selector", |((s, e), proto, (sp, ep))| {
        // Ports only make sense with a protocol.
        let (sp, ep) = if proto == 0 { (0, 65535) } else { (sp, ep) };
        TrafficSelector::new(proto, sp, ep, s, e).ok()
    })
}

fn sels() -> impl Strategy<Value = Vec<TrafficSelector>> {
    prop::collection::vec(selector(), 1..4)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn intersection_is_subset_of_both(a in selector(), b in selector()) {
        let i = a.intersect(&b);
        prop_assert_eq!(i, b.intersect(&a), "intersection is symmetric");
        if let Some(i) = i {
            prop_assert!(a.contains(&i), "{} not within {}", i, a);
            prop_assert!(b.contains(&i), "{} not within {}", i, b);
            prop_assert_eq!(i.intersect(&i), Some(i));
        }
        prop_assert!(a.contains(&a));
    }

    #[test]
    fn narrowed_is_subset_of_proposed_and_configured(
        tsi in sels(), tsr in sels(), remote in sels(), local in sels()
    ) {
        match narrow(&tsi, &tsr, &remote, &local) {
            Ok(n) => {
                prop_assert!(!n.tsi.is_empty() && !n.tsr.is_empty());
                for (got, proposed, configured) in [(&n.tsi, &tsi, &remote), (&n.tsr, &tsr, &local)] {
                    for g in got {
                        prop_assert!(proposed.iter().any(|p| p.contains(g)), "{} not proposed", g);
                        prop_assert!(configured.iter().any(|c| c.contains(g)), "{} not configured", g);
                    }
                    // No result is covered by another.
                    for (i, a) in got.iter().enumerate() {
                        for (j, b) in got.iter().enumerate() {
                            prop_assert!(i == j || !a.contains(b), "{} covers {}", a, b);
                        }
                    }
                }
                prop_assert!(check_narrowed(&tsi, &tsr, &n.tsi, &n.tsr).is_ok());
            }
            Err(_) => {
                // Unacceptable only when some side has no overlap at all.
                let none_i = !tsi.iter().any(|p| remote.iter().any(|c| p.intersect(c).is_some()));
                let none_r = !tsr.iter().any(|p| local.iter().any(|c| p.intersect(c).is_some()));
                prop_assert!(none_i || none_r);
            }
        }
    }
}
