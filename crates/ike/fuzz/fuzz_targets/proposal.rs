//! Decodes arbitrary bytes as an IKEv2 SA payload body and as an ISAKMP SA payload
//! body (proposals, transforms, attributes), and reads them (UTF-8, lossy) as an
//! `ike=`/`esp=`/`ah=` string of every kind. Whatever decodes must re-encode and
//! decode to the same value, with the typed helpers total on it; whatever parses
//! must print in a form that parses back to the same proposals.
#![no_main]

use ike::codec::{v1, v2};
use ike::proposal::{ProposalKind, ProposalSet};
use ike::registry::{IpsecAttr, OakleyAttr};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(sa) = v2::SecurityAssociation::decode(data) {
        let mut out = Vec::new();
        sa.encode(&mut out).expect("a decoded SA re-encodes");
        assert_eq!(
            v2::SecurityAssociation::decode(&out).expect("re-encoding decodes"),
            sa
        );
        for t in sa.proposals.iter().flat_map(|p| &p.transforms) {
            let _ = (t.key_length(), t.has_unknown_attributes(), t.id.raw_id());
        }
    }
    if let Ok(sa) = v1::SecurityAssociation::decode(data) {
        let mut out = Vec::new();
        sa.encode(&mut out).expect("a decoded SA re-encodes");
        assert_eq!(
            v1::SecurityAssociation::decode(&out).expect("re-encoding decodes"),
            sa
        );
        for t in sa.proposals.iter().flat_map(|p| &p.transforms) {
            let _ = t.lifetimes(OakleyAttr::LIFE_TYPE.0, OakleyAttr::LIFE_DURATION.0);
            let _ = t.lifetimes(IpsecAttr::SA_LIFE_TYPE.0, IpsecAttr::SA_LIFE_DURATION.0);
            let _ = t.attributes.iter().map(|a| a.as_u64()).count();
        }
    }
    let text = String::from_utf8_lossy(data);
    for kind in ProposalKind::ALL {
        let Ok(set) = ProposalSet::parse(&text, kind) else {
            continue;
        };
        let shown = set.to_string();
        let again = ProposalSet::parse(&shown, kind)
            .unwrap_or_else(|e| panic!("{text:?} printed as {shown:?} does not re-parse: {e}"));
        assert_eq!(
            again.proposals(),
            set.proposals(),
            "{text:?} printed as {shown:?} re-parses differently"
        );
        assert_eq!(again.to_string(), shown);
        // The wire forms built from a parsed set are total too.
        let _ = (set.offer(), set.ikev1_expanded(), set.initial_ke());
    }
});
