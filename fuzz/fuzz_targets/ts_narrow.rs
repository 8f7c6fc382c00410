//! Traffic selector narrowing (RFC 7296 2.9) on arbitrary selectors: the responder's
//! `narrow` and the initiator's `check_narrowed`. Nothing may panic; every selector
//! of a narrowed answer lies within one proposed and one configured selector, and
//! the initiator accepts what the responder narrowed to.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ike::ts::{check_narrowed, narrow, TrafficSelector};
use libfuzzer_sys::fuzz_target;

/// Selectors from 1 + 4 + 2*(4 or 16) byte records: proto, ports, addresses.
fn selectors(data: &[u8]) -> Vec<TrafficSelector> {
    let mut out = Vec::new();
    let mut d = data;
    while d.len() >= 5 {
        let proto = d[0];
        let v6 = proto & 0x80 != 0;
        let alen = if v6 { 16 } else { 4 };
        if d.len() < 5 + 2 * alen {
            break;
        }
        let sp = u16::from_be_bytes([d[1], d[2]]);
        let ep = u16::from_be_bytes([d[3], d[4]]);
        let addr = |b: &[u8]| -> IpAddr {
            if v6 {
                let mut a = [0u8; 16];
                a.copy_from_slice(b);
                IpAddr::V6(Ipv6Addr::from(a))
            } else {
                IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3]))
            }
        };
        let s = addr(&d[5..5 + alen]);
        let e = addr(&d[5 + alen..5 + 2 * alen]);
        if let Ok(ts) = TrafficSelector::new(proto & 0x7f, sp, ep, s, e) {
            out.push(ts);
        }
        d = &d[5 + 2 * alen..];
        if out.len() >= 8 {
            break;
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    // Four lists, split at 0xfe bytes.
    let parts: Vec<&[u8]> = data.split(|b| *b == 0xfe).collect();
    let get = |i: usize| parts.get(i).map(|p| selectors(p)).unwrap_or_default();
    let (tsi, tsr, remote, local) = (get(0), get(1), get(2), get(3));
    let Ok(n) = narrow(&tsi, &tsr, &remote, &local) else {
        return;
    };
    for (got, proposed, configured) in [(&n.tsi, &tsi, &remote), (&n.tsr, &tsr, &local)] {
        for g in got.iter() {
            assert!(
                proposed.iter().any(|p| p.contains(g)),
                "{g} outside what was proposed"
            );
            assert!(
                configured.iter().any(|c| c.contains(g)),
                "{g} outside what is configured"
            );
        }
    }
    check_narrowed(&tsi, &tsr, &n.tsi, &n.tsr).expect("the initiator accepts the narrowing");
});
