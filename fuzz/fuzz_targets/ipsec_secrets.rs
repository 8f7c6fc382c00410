//! Parses arbitrary text as an ipsec.secrets. Nothing may panic, and no secret
//! value ever shows in the Debug form (which is what reaches a log).
//! `include` lines are dropped: they would read this machine's files.
#![no_main]

use std::path::Path;

use conn::secrets::{Secret, Secrets};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let text: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("include"))
        .map(|l| format!("{l}\n"))
        .collect();
    let Ok(s) = Secrets::parse_str(&text, Path::new("/nonexistent/ipsec.secrets")) else {
        return;
    };
    let shown = format!("{s:?}");
    for e in s.entries() {
        if let Secret::Psk(v) | Secret::Xauth(v) = &e.secret {
            let v = v.expose();
            // Short values could appear by chance in other text; 8+ bytes cannot.
            if v.len() >= 8 {
                if let Ok(v) = std::str::from_utf8(v) {
                    // The same text may legitimately be in an entry's IDs (the
                    // first crash this target found was such an input).
                    let in_ids = s
                        .entries()
                        .iter()
                        .any(|e| format!("{:?}", e.ids).contains(v));
                    assert!(in_ids || !shown.contains(v), "a secret in the Debug form");
                }
            }
        }
    }
});
