//! The `ipsec.secrets` reader and secret lookup.
//!
//! Syntax (libreswan `ipsec.secrets(5)`):
//!
//! ```text
//! # comment
//! @west @east : PSK "a secret"        # PSK for the pair, either direction
//! 192.0.2.1 %any : PSK 0x5eb1_c2d3    # hex
//! %any : PSK 0sc2VjcmV0                # base64
//! : RSA "west-key"                     # our RSA key, by NSS nickname/file name
//! @west : ECDSA { CKAIDNSS=0a1b2c }    # our ECDSA key, by CKAID
//! @road : XAUTH "password"             # an XAUTH user
//! include /etc/ipsec.d/*.secrets
//! ```
//!
//! An entry may continue on following lines that start with whitespace, and a `{ }`
//! block may span lines. Secrets are zeroized when dropped and never printed by
//! `Debug`.
//!
//! PSK lookup follows libreswan's precedence: an entry naming both our ID and the
//! peer's beats one naming ours and `%any`, which beats the peer's and `%any`, which
//! beats the peer's alone, which beats `%any` alone, which beats an entry with no IDs
//! at all. An entry naming only our own ID never supplies a PSK (it would hand the same
//! secret to every peer without saying so), but does select our private key. Among
//! equally good entries the first in file order wins.

use std::fmt;
use std::path::{Path, PathBuf};

use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::files::{
    self, include_files, include_refused, read_text, split_words, strip_comment, FileError,
    Includes, Word,
};
use crate::id::Id;

/// An `ipsec.secrets` problem, with its location (the same type as
/// [`crate::conf::ConfError`]: both readers fail the same ways).
pub type SecretsError = FileError;

/// Secret bytes: zeroized on drop, redacted in `Debug`.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct SecretBytes(Vec<u8>);

impl SecretBytes {
    /// Wrap bytes.
    pub fn new(b: Vec<u8>) -> SecretBytes {
        SecretBytes(b)
    }

    /// The secret itself. Never log it.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretBytes(<{} bytes redacted>)", self.0.len())
    }
}

/// Where a private key lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyRef {
    /// `"name"`: an NSS nickname or key file name.
    Name(String),
    /// `{ CKAIDNSS=hex }` or `{hex}`: the key's CKAID.
    Ckaid(Vec<u8>),
}

/// The kind of an entry and its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Secret {
    /// Pre-shared key.
    Psk(SecretBytes),
    /// XAUTH user password.
    Xauth(SecretBytes),
    /// RSA private key reference.
    Rsa(KeyRef),
    /// ECDSA private key reference.
    Ecdsa(KeyRef),
}

impl Secret {
    fn kind(&self) -> &'static str {
        match self {
            Secret::Psk(_) => "PSK",
            Secret::Xauth(_) => "XAUTH",
            Secret::Rsa(_) => "RSA",
            Secret::Ecdsa(_) => "ECDSA",
        }
    }
}

/// One entry of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretEntry {
    /// The ID selectors before `:` (empty = default for everything).
    pub ids: Vec<Id>,
    /// The secret.
    pub secret: Secret,
    /// File it came from.
    pub path: PathBuf,
    /// Line it started on.
    pub line: usize,
}

/// Which private key type is wanted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// RSA.
    Rsa,
    /// ECDSA.
    Ecdsa,
}

/// All loaded secrets.
#[derive(Debug, Clone, Default)]
pub struct Secrets {
    entries: Vec<SecretEntry>,
}

const MATCH_DEFAULT: u8 = 1;
const MATCH_ANY: u8 = 2;
const MATCH_HIM: u8 = 4;
const MATCH_ME: u8 = 8;

impl Secrets {
    /// Read a secrets file and everything it includes.
    pub fn load(path: &Path) -> Result<Secrets, SecretsError> {
        let mut s = Secrets::default();
        s.load_file(path, 0)?;
        Ok(s)
    }

    /// Parse text as if read from `path` (includes are resolved relative to its
    /// directory).
    pub fn parse_str(text: &str, path: &Path) -> Result<Secrets, SecretsError> {
        Self::parse_str_with(text, path, Includes::Follow)
    }

    /// Parse text as if read from `path`, following or refusing its `include`
    /// lines.
    pub fn parse_str_with(
        text: &str,
        path: &Path,
        includes: Includes,
    ) -> Result<Secrets, SecretsError> {
        let mut s = Secrets::default();
        s.parse_text(text, path, 0, includes)?;
        Ok(s)
    }

    /// The entries, in file order.
    pub fn entries(&self) -> &[SecretEntry] {
        &self.entries
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// No entries?
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn load_file(&mut self, path: &Path, depth: usize) -> Result<(), SecretsError> {
        let text = read_text(path)?;
        self.parse_text(&text, path, depth, Includes::Follow)
    }

    fn parse_text(
        &mut self,
        text: &str,
        path: &Path,
        depth: usize,
        includes: Includes,
    ) -> Result<(), SecretsError> {
        let err = |line: usize, problem: String| FileError::syntax(path, line, problem);
        // Group physical lines into logical entries.
        // An entry continues on indented lines and inside an open `{ ... }`. The
        // braces still open in the current entry are counted as its lines arrive
        // (recounting the whole entry per line made a long entry quadratic).
        let mut logical: Vec<(usize, String)> = Vec::new();
        let mut open_braces: usize = 0;
        let braces = |l: &str, open: usize| -> usize {
            l.chars().fold(open, |n, c| match c {
                '{' => n + 1,
                '}' => n.saturating_sub(1),
                _ => n,
            })
        };
        for (i, raw) in text.lines().enumerate() {
            let line = strip_comment(raw);
            if line.trim().is_empty() {
                continue;
            }
            let continues = line.starts_with(char::is_whitespace) || open_braces > 0;
            match logical.last_mut() {
                Some((_, t)) if continues => {
                    t.push(' ');
                    t.push_str(line.trim());
                    open_braces = braces(line, open_braces);
                }
                _ => {
                    // A new entry (an indented first line is one of its own).
                    logical.push((i + 1, line.trim().to_string()));
                    open_braces = braces(line, 0);
                }
            }
        }
        for (line, entry) in logical {
            let words = split_words(&entry).ok_or_else(|| err(line, "unclosed quote".into()))?;
            if words
                .first()
                .is_some_and(|w| !w.quoted && w.text == "include")
            {
                let [_, arg] = words.as_slice() else {
                    return Err(err(
                        line,
                        "include takes exactly one file name or pattern".into(),
                    ));
                };
                if includes == Includes::Refuse {
                    return Err(include_refused(path, line));
                }
                let files = include_files(path, line, depth, &arg.text)?;
                if files.is_empty() {
                    tracing::debug!(
                        "{}:{line}: include {} matched no file",
                        path.display(),
                        arg.text
                    );
                }
                for f in files {
                    self.load_file(&f, depth + 1)?;
                }
                continue;
            }
            let parsed = parse_entry(words).map_err(|p| err(line, p))?;
            let (ids, secret) = parsed;
            self.entries.push(SecretEntry {
                ids,
                secret,
                path: path.to_path_buf(),
                line,
            });
        }
        Ok(())
    }

    fn score(entry: &SecretEntry, me: &Id, him: Option<&Id>) -> u8 {
        if entry.ids.is_empty() {
            return MATCH_DEFAULT;
        }
        let mut m = 0;
        for id in &entry.ids {
            if matches!(id, Id::Any | Id::None) {
                m |= MATCH_ANY;
            } else if same_id(id, me) {
                m |= MATCH_ME;
            } else if him.is_some_and(|h| same_id(id, h)) {
                m |= MATCH_HIM;
            } else {
                return 0;
            }
        }
        m
    }

    fn best<'a>(
        &'a self,
        me: &Id,
        him: Option<&Id>,
        want: impl Fn(&Secret) -> bool,
        acceptable: impl Fn(u8) -> bool,
    ) -> Option<&'a SecretEntry> {
        let mut best: Option<(u8, &SecretEntry)> = None;
        for e in self.entries.iter().filter(|e| want(&e.secret)) {
            let m = Self::score(e, me, him);
            if m == 0 || !acceptable(m) {
                continue;
            }
            match best {
                Some((b, prev)) if m == b => {
                    if prev.secret != e.secret {
                        tracing::debug!(
                            "multiple ipsec.secrets {} entries with distinct secrets match; using {}:{}, not {}:{}",
                            e.secret.kind(),
                            prev.path.display(),
                            prev.line,
                            e.path.display(),
                            e.line
                        );
                    }
                }
                Some((b, _)) if m < b => {}
                _ => best = Some((m, e)),
            }
        }
        best.map(|(_, e)| e)
    }

    /// The pre-shared key for our ID and the peer's.
    pub fn psk(&self, ours: &Id, peer: &Id) -> Option<&SecretBytes> {
        let e = self.best(
            ours,
            Some(peer),
            |s| matches!(s, Secret::Psk(_)),
            // Our ID alone must not hand a PSK to every peer; `@us %any` says so
            // explicitly and is accepted.
            |m| m != MATCH_ME,
        )?;
        match &e.secret {
            Secret::Psk(b) => Some(b),
            _ => None,
        }
    }

    /// Our private key reference for `ours` (an entry naming our ID beats a default).
    pub fn private_key(&self, kind: KeyKind, ours: &Id) -> Option<&KeyRef> {
        let e = self.best(
            ours,
            None,
            |s| match kind {
                KeyKind::Rsa => matches!(s, Secret::Rsa(_)),
                KeyKind::Ecdsa => matches!(s, Secret::Ecdsa(_)),
            },
            |_| true,
        )?;
        match &e.secret {
            Secret::Rsa(k) | Secret::Ecdsa(k) => Some(k),
            _ => None,
        }
    }

    /// The XAUTH password of `user` (entries `@user : XAUTH "pw"` or `user : XAUTH`).
    pub fn xauth_password(&self, user: &str) -> Option<&SecretBytes> {
        self.entries.iter().find_map(|e| match &e.secret {
            Secret::Xauth(pw)
                if e.ids.iter().any(|id| match id {
                    Id::Fqdn(n) | Id::UserFqdn(n) => n == user,
                    other => other.to_string() == user,
                }) =>
            {
                Some(pw)
            }
            _ => None,
        })
    }
}

fn same_id(a: &Id, b: &Id) -> bool {
    match (a, b) {
        (Id::Fqdn(x), Id::Fqdn(y)) | (Id::UserFqdn(x), Id::UserFqdn(y)) => {
            x.eq_ignore_ascii_case(y)
        }
        _ => a == b && !a.is_wildcard(),
    }
}

/// Parse one logical entry's words into selectors and secret.
fn parse_entry(words: Vec<Word>) -> Result<(Vec<Id>, Secret), String> {
    // Find the ':' separator: a lone ":", a word ending in ':' ("@east:"), or one
    // starting with it (":PSK").
    let mut ids_text: Vec<String> = Vec::new();
    let mut rest: Vec<Word> = Vec::new();
    let mut found = false;
    let mut quoted_before: Option<String> = None;
    for w in words {
        if found {
            rest.push(w);
            continue;
        }
        if w.quoted {
            quoted_before.get_or_insert(w.text);
            continue;
        }
        if w.text == ":" {
            found = true;
        } else if let Some(kind) = w
            .text
            .strip_prefix(':')
            .filter(|k| k.starts_with(|c: char| c.is_ascii_alphabetic()))
        {
            found = true;
            rest.push(Word {
                text: kind.to_string(),
                quoted: false,
            });
        } else if let Some(id) = w
            .text
            .strip_suffix(':')
            .filter(|id| !id.ends_with(':') && !id.contains("::"))
        {
            found = true;
            ids_text.push(id.to_string());
        } else {
            ids_text.push(w.text);
        }
    }
    if !found {
        return Err("missing ':' between the IDs and the secret".into());
    }
    if let Some(q) = quoted_before {
        return Err(format!(
            "quoted \"{q}\" before ':'; selectors are IDs like @east or 192.0.2.1"
        ));
    }
    let ids = ids_text
        .iter()
        .map(|t| Id::parse(t).map_err(|e| format!("selector {t}: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    let mut it = rest.into_iter();
    let kind = it
        .next()
        .ok_or("missing secret type after ':' (PSK, RSA, ECDSA or XAUTH)")?;
    let value: Vec<Word> = it.collect();
    let secret = match kind.text.to_ascii_uppercase().as_str() {
        "PSK" => Secret::Psk(parse_value("PSK", &value)?),
        "XAUTH" => Secret::Xauth(parse_value("XAUTH", &value)?),
        "RSA" => Secret::Rsa(parse_keyref("RSA", &value)?),
        "ECDSA" => Secret::Ecdsa(parse_keyref("ECDSA", &value)?),
        "PPK" | "PIN" => {
            return Err(format!(
                "{} secrets are not supported by pluto-rs yet",
                kind.text.to_ascii_uppercase()
            ))
        }
        other => {
            return Err(format!(
                "unknown secret type \"{other}\"; expected PSK, RSA, ECDSA or XAUTH"
            ))
        }
    };
    Ok((ids, secret))
}

fn parse_value(kind: &str, value: &[Word]) -> Result<SecretBytes, String> {
    let [w] = value else {
        return Err(format!(
            "{kind} needs exactly one value: \"quoted\", 0x hex or 0s base64"
        ));
    };
    if w.quoted {
        return Ok(SecretBytes::new(w.text.as_bytes().to_vec()));
    }
    let t = &w.text;
    if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        return decode_hex(h)
            .map(SecretBytes::new)
            .ok_or_else(|| format!("{kind}: bad hex value"));
    }
    if let Some(b) = t.strip_prefix("0s") {
        return decode_base64(b)
            .map(SecretBytes::new)
            .ok_or_else(|| format!("{kind}: bad base64 value"));
    }
    Err(format!(
        "{kind} value must be \"quoted\", 0x hex or 0s base64 (unquoted words are not accepted)"
    ))
}

fn parse_keyref(kind: &str, value: &[Word]) -> Result<KeyRef, String> {
    match value {
        [w] if w.quoted => Ok(KeyRef::Name(w.text.clone())),
        [first, ..] if first.text.starts_with('{') => {
            let body: String = value
                .iter()
                .map(|w| w.text.as_str())
                .collect::<Vec<_>>()
                .join(" ");
            let inner = body
                .strip_prefix('{')
                .and_then(|b| b.trim_end().strip_suffix('}'))
                .ok_or_else(|| format!("{kind}: unclosed {{ }} block"))?;
            let fields: Vec<&str> = inner.split_whitespace().collect();
            if let [single] = fields.as_slice() {
                if !single.contains(['=', ':']) {
                    return decode_hex(single.trim_start_matches("0x"))
                        .map(KeyRef::Ckaid)
                        .ok_or_else(|| format!("{kind}: {{{single}}} is not a hex CKAID"));
                }
            }
            // `Name=value`, `Name: value` or `Name:value` fields.
            let mut i = 0;
            while i < fields.len() {
                let f = fields[i];
                let (name, val) = if let Some((n, v)) = f.split_once(['=', ':']) {
                    if v.is_empty() {
                        i += 1;
                        (n, fields.get(i).copied().unwrap_or(""))
                    } else {
                        (n, v)
                    }
                } else {
                    return Err(format!("{kind}: field \"{f}\" is not name=value"));
                };
                if name.eq_ignore_ascii_case("CKAIDNSS") || name.eq_ignore_ascii_case("CKAID") {
                    return decode_hex(val.trim_start_matches("0x"))
                        .map(KeyRef::Ckaid)
                        .ok_or_else(|| format!("{kind}: {name} is not hex"));
                }
                i += 1;
            }
            Err(format!(
                "{kind}: raw private keys are not supported; keep the key in the NSS \
                 database and give its CKAID as {{ CKAIDNSS=... }}"
            ))
        }
        _ => Err(format!(
            "{kind} needs a \"nickname\" or a {{ CKAIDNSS=hex }} block"
        )),
    }
}

/// Hex digits with optional `_` separators.
fn decode_hex(s: &str) -> Option<Vec<u8>> {
    files::decode_hex(&s.replace('_', ""))
}

fn decode_base64(s: &str) -> Option<Vec<u8>> {
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let body = s.trim_end_matches('=');
    let pad = s.len() - body.len();
    if s.is_empty() || !s.len().is_multiple_of(4) || pad > 2 || body.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(body.len() * 3 / 4);
    for chunk in body.as_bytes().chunks(4) {
        let mut acc = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            acc |= val(c)? << (18 - 6 * i);
        }
        let n = chunk.len() - 1; // bytes in this chunk
        for i in 0..n {
            out.push((acc >> (16 - 8 * i)) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Secrets {
        Secrets::parse_str(text, Path::new("/nonexistent/ipsec.secrets")).unwrap()
    }

    fn perr(text: &str) -> String {
        Secrets::parse_str(text, Path::new("/x/ipsec.secrets"))
            .unwrap_err()
            .to_string()
    }

    fn id(s: &str) -> Id {
        Id::parse(s).unwrap()
    }

    #[test]
    fn value_forms() {
        let s = p(concat!(
            "@a @b : PSK \"quoted # not a comment\"\n",
            "@a @c : PSK 0x7365_6372\n",
            "@a @d : PSK 0sc2VjcmV0\n",
            "@a @e: PSK 'single'\n",
            "@a @f :PSK \"x\"\n",
        ));
        assert_eq!(s.len(), 5);
        assert_eq!(
            s.psk(&id("@a"), &id("@b")).unwrap().expose(),
            b"quoted # not a comment"
        );
        assert_eq!(s.psk(&id("@a"), &id("@c")).unwrap().expose(), b"secr");
        assert_eq!(s.psk(&id("@a"), &id("@d")).unwrap().expose(), b"secret");
        assert_eq!(s.psk(&id("@a"), &id("@e")).unwrap().expose(), b"single");
        assert_eq!(s.psk(&id("@a"), &id("@f")).unwrap().expose(), b"x");
    }

    #[test]
    fn base64_decoding() {
        assert_eq!(decode_base64("c2VjcmV0").unwrap(), b"secret");
        assert_eq!(decode_base64("YQ==").unwrap(), b"a");
        assert_eq!(decode_base64("YWI=").unwrap(), b"ab");
        assert!(decode_base64("YQ=").is_none());
        assert!(decode_base64("!!!!").is_none());
    }

    #[test]
    fn psk_precedence() {
        let s = p(concat!(
            ": PSK \"default\"\n",
            "%any : PSK \"any\"\n",
            "%any @east : PSK \"east-any\"\n",
            "@west @east : PSK \"pair\"\n",
            "@west : PSK \"ours-only\"\n",
        ));
        let (w, e, x) = (id("@west"), id("@east"), id("@xxx"));
        assert_eq!(s.psk(&w, &e).unwrap().expose(), b"pair");
        assert_eq!(s.psk(&e, &w).unwrap().expose(), b"pair", "either direction");
        assert_eq!(s.psk(&id("@other"), &e).unwrap().expose(), b"east-any");
        assert_eq!(s.psk(&id("@other"), &x).unwrap().expose(), b"any");
        // "@west : PSK" never applies to an arbitrary peer.
        assert_eq!(s.psk(&w, &x).unwrap().expose(), b"any");
        let me_any = p("%any : PSK \"any\"\n@west %any : PSK \"west-any\"\n@x : PSK \"him\"\n");
        assert_eq!(me_any.psk(&w, &id("@z")).unwrap().expose(), b"west-any");
        assert_eq!(me_any.psk(&id("@q"), &id("@x")).unwrap().expose(), b"him");
        let only_default = p(": PSK \"d\"\n@q @r : PSK \"qr\"\n");
        assert_eq!(only_default.psk(&w, &x).unwrap().expose(), b"d");
        let none = p("@q @r : PSK \"qr\"\n");
        assert!(none.psk(&w, &e).is_none());
        // First of equals wins.
        let dup = p("@a @b : PSK \"one\"\n@b @a : PSK \"two\"\n");
        assert_eq!(dup.psk(&id("@a"), &id("@b")).unwrap().expose(), b"one");
    }

    #[test]
    fn ipv6_selectors_are_not_separators() {
        let s = p("2001:db8::1 2001:db8:: : PSK \"v6\"\n");
        assert_eq!(s.entries()[0].ids.len(), 2);
        assert_eq!(
            s.psk(&id("2001:db8::1"), &id("2001:db8::"))
                .unwrap()
                .expose(),
            b"v6"
        );
    }

    #[test]
    fn ip_and_case_insensitive_selectors() {
        let s = p("192.0.2.1 192.0.2.2 : PSK \"ip\"\n@WEST @east : PSK \"fq\"\n");
        assert_eq!(
            s.psk(&id("192.0.2.2"), &id("192.0.2.1")).unwrap().expose(),
            b"ip"
        );
        assert_eq!(s.psk(&id("@west"), &id("@EAST")).unwrap().expose(), b"fq");
    }

    #[test]
    fn keys_and_xauth() {
        let s = p(concat!(
            ": RSA \"default-key\"\n",
            "@west : RSA {\n",
            "    # comment inside\n",
            "    CKAIDNSS=0a1b2c\n",
            "}\n",
            "@west : ECDSA {0d0e}\n",
            "@road : XAUTH \"pw\"\n",
            "carol@example.org : XAUTH \"pw2\"\n",
        ));
        assert_eq!(
            s.private_key(KeyKind::Rsa, &id("@west")),
            Some(&KeyRef::Ckaid(vec![0x0a, 0x1b, 0x2c]))
        );
        assert_eq!(
            s.private_key(KeyKind::Rsa, &id("@other")),
            Some(&KeyRef::Name("default-key".into()))
        );
        assert_eq!(
            s.private_key(KeyKind::Ecdsa, &id("@west")),
            Some(&KeyRef::Ckaid(vec![0x0d, 0x0e]))
        );
        assert!(s.private_key(KeyKind::Ecdsa, &id("@other")).is_none());
        assert_eq!(s.xauth_password("road").unwrap().expose(), b"pw");
        assert_eq!(
            s.xauth_password("carol@example.org").unwrap().expose(),
            b"pw2"
        );
        assert!(s.xauth_password("nobody").is_none());
    }

    #[test]
    fn continuation_lines() {
        let s = p("@west\n    @east : PSK\n    \"cont\"\n");
        assert_eq!(s.len(), 1);
        assert_eq!(s.entries()[0].line, 1);
        assert_eq!(s.psk(&id("@west"), &id("@east")).unwrap().expose(), b"cont");
    }

    #[test]
    fn errors_carry_file_and_line() {
        assert_eq!(
            perr("\n\n@a @b PSK \"x\"\n"),
            "/x/ipsec.secrets:3: missing ':' between the IDs and the secret"
        );
        assert!(perr("@a : PSK unquoted\n").contains(":1: PSK value must be"));
        assert!(perr("@a : PSK 0xabc\n").contains("bad hex"));
        assert!(perr("@a : PSK 0s!!!!\n").contains("bad base64"));
        assert!(perr("@a : FOO \"x\"\n").contains("unknown secret type \"FOO\""));
        assert!(perr("@a : PPK \"x\"\n").contains("not supported"));
        assert!(perr("@a : PSK \"x\n").contains("unclosed quote"));
        assert!(perr("@#zz : PSK \"x\"\n").contains("selector @#zz"));
        assert!(perr(": RSA { Modulus: 0x00 }\n").contains("raw private keys"));
        assert!(perr("@a : PSK\n").contains("exactly one value"));
        assert!(perr("include\n").contains("exactly one"));
    }

    #[test]
    fn text_parsed_on_its_own_refuses_include() {
        let path = Path::new("/nonexistent/ipsec.secrets");
        let e = Secrets::parse_str_with("include /etc/*\n", path, Includes::Refuse)
            .unwrap_err()
            .to_string();
        assert!(e.contains(":1: include is not allowed here"), "{e}");
        let s = Secrets::parse_str_with("@a : PSK \"x\"\n", path, Includes::Refuse).unwrap();
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn debug_never_shows_secrets() {
        let s = p("@a @b : PSK \"topsecret\"\n@u : XAUTH \"hunter2\"\n");
        let d = format!("{s:?}");
        assert!(!d.contains("topsecret") && !d.contains("hunter2"), "{d}");
        assert!(d.contains("redacted"));
    }

    #[test]
    fn includes_with_globs_and_missing_files() {
        let dir = std::env::temp_dir().join(format!("conn-secrets-{}", std::process::id()));
        let d = dir.join("ipsec.d");
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(
            dir.join("ipsec.secrets"),
            "include ipsec.d/*.secrets\n@a @b : PSK \"main\"\n",
        )
        .unwrap();
        std::fs::write(d.join("1.secrets"), "@a @c : PSK \"one\"\n").unwrap();
        std::fs::write(d.join("2.secrets"), "@a @d : PSK \"two\"\n").unwrap();
        std::fs::write(d.join("skip.conf"), "garbage\n").unwrap();
        let s = Secrets::load(&dir.join("ipsec.secrets")).unwrap();
        assert_eq!(s.len(), 3);
        assert_eq!(s.psk(&id("@a"), &id("@d")).unwrap().expose(), b"two");
        assert_eq!(s.entries()[0].path, d.join("1.secrets"));

        std::fs::write(d.join("3.secrets"), "@a @e PSK\n").unwrap();
        let e = Secrets::load(&dir.join("ipsec.secrets"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("3.secrets:1:"), "{e}");

        std::fs::write(dir.join("loop.secrets"), "include loop.secrets\n").unwrap();
        let e = Secrets::load(&dir.join("loop.secrets"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("nested"), "{e}");

        std::fs::write(dir.join("missing.secrets"), "include nothere.secrets\n").unwrap();
        let e = Secrets::load(&dir.join("missing.secrets")).unwrap_err();
        assert!(matches!(e, SecretsError::Io { .. }), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Only regular files are read: an `include` of a FIFO, a device or a directory
    /// is refused at once with the file named (a FIFO used to block the daemon, and
    /// `/dev/zero` to read until memory ran out), and so is a file over the cap.
    #[test]
    fn only_regular_files_of_bounded_size_are_read() {
        let dir = std::env::temp_dir().join(format!("conn-secrets-files-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let fifo = dir.join("fifo.secrets");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let main = dir.join("ipsec.secrets");
        for (target, want) in [
            (fifo.display().to_string(), "a FIFO, not a regular file"),
            ("/dev/zero".to_string(), "a device, not a regular file"),
            (dir.display().to_string(), "a directory, not a regular file"),
        ] {
            std::fs::write(&main, format!("@a @b : PSK \"x\"\ninclude {target}\n")).unwrap();
            let e = Secrets::load(&main).unwrap_err().to_string();
            assert!(e.contains(want), "{target}: {e}");
            assert!(e.contains(&target), "{target}: {e}");
        }
        let big = dir.join("big.secrets");
        let f = std::fs::File::create(&big).unwrap();
        f.set_len(files::MAX_FILE_SIZE + 1).unwrap(); // sparse: costs no disk
        let e = Secrets::load(&big).unwrap_err().to_string();
        assert!(e.contains("larger than the"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A long continued entry (a key spread over 100,000 indented lines) parses as
    /// one entry; the time it takes is in the `files` benchmark of this crate.
    #[test]
    fn long_continued_entries_parse_as_one() {
        let mut text = String::from(": RSA {\n");
        for _ in 0..100_000 {
            text.push_str("    Modulus: 0x00\n");
        }
        text.push_str("    }\n@a @b : PSK \"after\"\n");
        let s = Secrets::parse_str(&text, Path::new("/etc/ipsec.secrets"));
        // Whatever the RSA block's verdict, the parse ends and names what it found.
        match s {
            Ok(s) => assert_eq!(s.psk(&id("@a"), &id("@b")).unwrap().expose(), b"after"),
            Err(e) => assert!(e.to_string().contains("/etc/ipsec.secrets:1:"), "{e}"),
        }
    }
}
