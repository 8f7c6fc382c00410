//! Property tests: the parser never panics, canonical output parses back, and
//! selection only ever returns what both sides have.

use ike::proposal::{check_answer, select, ProposalKind, ProposalSet, Transform, WireProposal};
use ike::registry::{ProtocolId, TransformType};
use proptest::prelude::*;

fn kind() -> impl Strategy<Value = ProposalKind> {
    prop::sample::select(ProposalKind::ALL.to_vec())
}

/// Strings built from real names and separators, so many of them parse.
fn proposal_like() -> impl Strategy<Value = String> {
    let word = prop::sample::select(vec![
        "aes",
        "aes128",
        "aes_256",
        "aes_gcm",
        "aes_gcm256",
        "aes_gcm_16_128",
        "aes_gcm_a",
        "chacha20_poly1305",
        "3des",
        "null",
        "camellia",
        "aes_ctr",
        "sha1",
        "sha2",
        "sha2_512",
        "md5",
        "aes_xcbc",
        "none",
        "dh19",
        "dh31",
        "modp2048",
        "x25519",
        "ml_kem_768",
        "ke=dh19",
        "addke1=ml_kem_768",
        "addke7=none",
        "bogus",
        "",
        "!",
        "aes99",
    ]);
    let sep = prop::sample::select(vec!["-", "+", ";", ",", " ", "=", "!"]);
    prop::collection::vec((word, sep), 0..10).prop_map(|v| {
        let mut s = String::new();
        for (w, p) in v {
            s.push_str(w);
            s.push_str(p);
        }
        s.pop();
        s
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn parse_never_panics_on_arbitrary_strings(s in any::<String>(), k in kind()) {
        let _ = ProposalSet::parse(&s, k);
    }

    #[test]
    fn parse_never_panics_on_near_misses(s in proposal_like(), k in kind()) {
        match ProposalSet::parse(&s, k) {
            Ok(set) => {
                // Whatever parses prints in a form that parses back to the same thing.
                let shown = set.to_string();
                let again = ProposalSet::parse(&shown, k);
                prop_assert!(again.is_ok(), "{s:?} -> {shown:?}: {again:?}");
                if let Ok(again) = again {
                    prop_assert_eq!(set.proposals(), again.proposals());
                }
            }
            Err(e) => {
                // The error names a token found at its position in the input.
                prop_assert!(e.position <= s.len());
                prop_assert!(s.get(e.position..).is_some_and(|rest| rest.starts_with(&e.token)),
                    "{s:?}: {e}");
            }
        }
    }

    #[test]
    fn selection_is_within_both_sides(a in proposal_like(), b in proposal_like(), k in kind()) {
        let (Ok(ours), Ok(theirs)) = (ProposalSet::parse(&a, k), ProposalSet::parse(&b, k)) else {
            return Ok(());
        };
        let offer = theirs.offer();
        if let Ok(c) = select(&ours, &offer, None) {
            let peer = offer.iter().find(|p| p.number == c.number);
            prop_assert!(peer.is_some());
            let peer = peer.map(|p| p.transforms.clone()).unwrap_or_default();
            let ours_all: Vec<Transform> = ours.proposals().iter().flat_map(|p| p.transforms()).collect();
            for t in c.transforms() {
                let none_ok = matches!(t.ty, TransformType::INTEG | TransformType::KE)
                    || t.ty.0 >= TransformType::ADDKE1.0;
                prop_assert!(peer.contains(&t), "{t} not offered by peer");
                prop_assert!(ours_all.contains(&t) || (none_ok && t.id == 0), "{t} not ours");
            }
            let mut seen = Vec::new();
            for t in c.transforms() {
                prop_assert!(!seen.contains(&t.ty), "two {} transforms", t.ty);
                seen.push(t.ty);
            }
            // The peer (as initiator) accepts our answer.
            prop_assert!(check_answer(&theirs, &[c.to_wire()]).is_ok());
        }
    }

    #[test]
    fn select_never_panics_on_arbitrary_peer_proposals(
        peer in prop::collection::vec(
            (any::<u8>(), 0u8..6, prop::collection::vec((0u8..14, any::<u16>(), prop::option::of(any::<u16>())), 0..12)),
            0..5),
        k in kind(),
    ) {
        let ours = ProposalSet::defaults(k);
        let peer: Vec<WireProposal> = peer.into_iter().map(|(n, proto, ts)| WireProposal {
            number: n,
            protocol: ProtocolId(proto),
            transforms: ts.into_iter().map(|(ty, id, keylen)| Transform { ty: TransformType(ty), id, keylen }).collect(),
        }).collect();
        let _ = select(&ours, &peer, None);
        let _ = check_answer(&ours, &peer);
    }
}
