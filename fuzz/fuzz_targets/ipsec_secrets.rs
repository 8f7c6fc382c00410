//! Parses arbitrary text as an ipsec.secrets. Nothing may panic, and no secret
//! value ever shows in the Debug form (which is what reaches a log).
//! `include` lines are refused (`Includes::Refuse`): followed, they would glob and
//! read this machine's files (dropping lines that start with `include` missed a
//! quoted `'include'`, and the ten-million run spent its time globbing `/`).
#![no_main]

use std::path::Path;

use conn::files::Includes;
use conn::secrets::{Secret, Secrets};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let Ok(s) = Secrets::parse_str_with(
        &text,
        Path::new("/nonexistent/ipsec.secrets"),
        Includes::Refuse,
    ) else {
        return;
    };
    // The whole Debug form is built from each entry's; the secret's part must be
    // exactly the redaction, which depends on nothing but the length. (Searching the
    // Debug text for the secret instead raised false alarms twice: a secret that is
    // also an ID, and a secret spelled "redacted".)
    let _ = format!("{s:?}");
    for e in s.entries() {
        let (kind, v) = match &e.secret {
            Secret::Psk(v) => ("Psk", v),
            Secret::Xauth(v) => ("Xauth", v),
            _ => continue,
        };
        let expected = format!("{kind}(SecretBytes(<{} bytes redacted>))", v.expose().len());
        assert_eq!(format!("{:?}", e.secret), expected, "a secret in the Debug form");
    }
});
