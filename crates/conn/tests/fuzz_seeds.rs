//! The fuzz targets' seeds for this crate's parsers (`fuzz/seeds/<target>`, where
//! every crash input a fuzz run found is kept), replayed under `cargo test` on
//! stable with the targets' properties, so a fixed crash stays fixed without the
//! nightly toolchain. The targets themselves are in `fuzz/fuzz_targets`.

use std::path::{Path, PathBuf};

use conn::conf::Config;
use conn::files::Includes;
use conn::id::Id;
use conn::secrets::{Secret, Secrets};

fn seeds(target: &str) -> Vec<(PathBuf, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/seeds")
        .join(target);
    let mut v: Vec<(PathBuf, String)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .map(|p| {
            let text = String::from_utf8_lossy(&std::fs::read(&p).unwrap()).into_owned();
            (p, text)
        })
        .collect();
    v.sort();
    assert!(!v.is_empty(), "no seeds in {}", dir.display());
    v
}

#[test]
fn ipsec_secrets_seeds_parse_and_keep_their_secrets_out_of_debug() {
    for (p, text) in seeds("ipsec_secrets") {
        let Ok(s) = Secrets::parse_str_with(
            &text,
            Path::new("/nonexistent/ipsec.secrets"),
            Includes::Refuse,
        ) else {
            continue;
        };
        for e in s.entries() {
            let (kind, v) = match &e.secret {
                Secret::Psk(v) => ("Psk", v),
                Secret::Xauth(v) => ("Xauth", v),
                _ => continue,
            };
            assert_eq!(
                format!("{:?}", e.secret),
                format!("{kind}(SecretBytes(<{} bytes redacted>))", v.expose().len()),
                "{}",
                p.display()
            );
        }
    }
}

#[test]
fn ipsec_conf_seeds_parse_the_same_twice() {
    let path = Path::new("/nonexistent/ipsec.conf");
    for (p, text) in seeds("ipsec_conf") {
        if let Ok(c) = Config::parse_str_with(&text, path, Includes::Refuse) {
            // As the target checks: a loaded conn's name is in the text, escapes aside.
            let bare = |s: &str| s.replace(['\\', '"'], "");
            for conn in &c.conns {
                assert!(
                    bare(&text).contains(&bare(&conn.spec.name)),
                    "{}",
                    p.display()
                );
            }
        }
        let a = Config::parse_str_with(&text, path, Includes::Refuse).map(|c| c.conns.len());
        let b = Config::parse_str_with(&text, path, Includes::Refuse).map(|c| c.conns.len());
        assert_eq!(
            a.as_ref().map_err(ToString::to_string),
            b.as_ref().map_err(ToString::to_string),
            "{}",
            p.display()
        );
    }
}

#[test]
fn id_seeds_print_as_they_parse() {
    for (p, text) in seeds("id") {
        let Ok(id) = Id::parse(&text) else { continue };
        if id == Id::None {
            continue;
        }
        let shown = id.to_string();
        assert_eq!(
            Id::parse(&shown).ok(),
            Some(id),
            "{}: {shown:?}",
            p.display()
        );
    }
}
