//! Untrusted text (whack input, config files) must never panic a parser: every parser
//! returns a value or an error for arbitrary input.

use std::path::Path;

use conn::addr::{AddrRange, Host, ProtoPort, Subnet};
use conn::conf::Config;
use conn::files::{glob_match, split_words, strip_comment};
use conn::policy::ConnMark;
use conn::secrets::Secrets;
use conn::spec::IkeVersion;
use conn::{ConnSpec, Connection, HostAddrs, Id};
use ike::registry::IdType;
use proptest::prelude::*;

/// Strings biased towards the characters the parsers care about.
fn texty() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[ \t\n@#%:=/\\-\\.,{}\\[\\]\"'\\\\*?!a-zA-Z0-9]{0,80}").unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn value_parsers(s in texty()) {
        let _ = Id::parse(&s);
        let _ = Host::parse(&s);
        let _ = Subnet::parse(&s);
        let _ = ProtoPort::parse(&s);
        let _ = AddrRange::parse(&s);
        let _ = ConnMark::parse(&s);
        let _ = strip_comment(&s);
        let _ = split_words(&s);
        let _ = glob_match(&s, "file.conf");
        let _ = glob_match("*[a-z]?.conf", &s);
    }

    #[test]
    fn id_display_reparses(s in texty()) {
        if let Ok(id) = Id::parse(&s) {
            if !matches!(id, Id::None) {
                let again = Id::parse(&id.to_string());
                prop_assert_eq!(again, Ok(id));
            }
        }
    }

    #[test]
    fn id_wire_round_trips(s in texty()) {
        if let Ok(id) = Id::parse(&s) {
            if let Ok((ty, data)) = id.to_wire() {
                prop_assert_eq!(Id::from_wire(ty, &data), Ok(id));
            }
        }
    }

    #[test]
    fn id_from_arbitrary_payload(ty in any::<u8>(), data in proptest::collection::vec(any::<u8>(), 0..40)) {
        if let Ok(id) = Id::from_wire(IdType(ty), &data) {
            // What we accept we can send back unchanged (ID_NULL data is ignored).
            let (t, d) = id.to_wire().expect("accepted IDs are concrete");
            prop_assert_eq!(t, IdType(ty));
            if t != IdType::NULL {
                prop_assert_eq!(d, data);
            }
        }
    }

    #[test]
    fn secrets_file(s in texty()) {
        let _ = Secrets::parse_str(&s, Path::new("/nonexistent/ipsec.secrets"));
    }

    #[test]
    fn conf_file(s in texty()) {
        let _ = Config::parse_str(&s, Path::new("/nonexistent/ipsec.conf"));
    }

    #[test]
    fn conf_conn_body(lines in proptest::collection::vec(texty(), 0..8)) {
        let mut text = String::from("conn x\n");
        for l in lines {
            text.push_str("  ");
            text.push_str(&l.replace('\n', " "));
            text.push('\n');
        }
        let _ = Config::parse_str(&text, Path::new("/nonexistent/ipsec.conf"));
    }

    #[test]
    fn connection_from_arbitrary_spec(
        name in texty(), lh in texty(), rh in texty(), lid in texty(),
        ls in texty(), rs in texty(), pp in texty(), mark in texty(),
        ike in texty(), esp in texty(), pfsgroup in texty(), v1 in any::<bool>(),
    ) {
        let mut s = ConnSpec::named(name);
        s.left.host = Some(lh);
        s.right.host = Some(rh);
        s.left.id = Some(lid);
        s.left.subnets = vec![ls];
        s.right.subnets = vec![rs];
        s.right.clientprotoport = Some(pp);
        s.conn_mark = Some(mark);
        s.ike = Some(ike);
        s.esp = Some(esp);
        s.pfsgroup = Some(pfsgroup);
        if v1 {
            s.ike_version = Some(IkeVersion::V1);
        }
        s.encrypt = true;
        let _ = Connection::from_spec(s, &HostAddrs::new(["192.0.2.1".parse().unwrap()]));
    }
}
