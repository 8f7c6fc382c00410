//! Parses arbitrary text as an IKE ID (libreswan's syntax: addresses, `@fqdn`,
//! `@#hex`, `user@fqdn`, DNs, `%any`, ...). Nothing may panic; what parses prints
//! in a form that parses back to the same ID, and its wire form is total.
#![no_main]

use conn::id::Id;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let Ok(id) = Id::parse(&text) else { return };
    if id == Id::None {
        // Shown as libreswan shows it, "(none)"; written "%none".
        return;
    }
    let shown = id.to_string();
    let again = Id::parse(&shown)
        .unwrap_or_else(|e| panic!("{text:?} printed as {shown:?} does not re-parse: {e}"));
    assert_eq!(again, id, "{text:?} printed as {shown:?}");
});
