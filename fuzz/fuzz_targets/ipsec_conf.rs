//! Parses arbitrary text as an ipsec.conf (sections, `also=`, `%default`, every
//! keyword's value syntax). Nothing may panic; the same text parses the same way
//! twice (no hidden state), and an accepted conn's name is one the file has
//! (escapes aside).
//! `include` lines are refused (`Includes::Refuse`): followed, they would glob and
//! read this machine's files (dropping lines that start with `include` missed a
//! quoted `'include'`, and the ten-million run spent its time globbing `/`).
#![no_main]

use std::path::Path;

use conn::conf::Config;
use conn::files::Includes;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let path = Path::new("/nonexistent/ipsec.conf");
    let first = Config::parse_str_with(&text, path, Includes::Refuse);
    let again = Config::parse_str_with(&text, path, Includes::Refuse);
    match (&first, &again) {
        (Ok(a), Ok(b)) => {
            assert_eq!(a.conns.len(), b.conns.len());
            assert_eq!(a.errors, b.errors);
            // A quoted name loses its escapes (`conn "a\"b"` is `a"b`): compare with
            // every backslash and quote taken out of both. (Comparing the raw text
            // was the target's own mistake, found by its ten-million run.)
            let bare = |s: &str| s.replace(['\\', '"'], "");
            let bare_text = bare(&text);
            for c in &a.conns {
                assert!(
                    bare_text.contains(&bare(c.spec.name.as_str())),
                    "{}",
                    c.spec.name
                );
            }
        }
        (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
        _ => panic!("the same text parsed once and failed once"),
    }
});
