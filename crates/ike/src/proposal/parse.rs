//! The `ike=`/`esp=`/`ah=` parser.
//!
//! Grammar (libreswan's, with its aliases):
//!
//! ```text
//! SET      = PROPOSAL *( "," PROPOSAL ) [ "!" ]
//! PROPOSAL = MAIN *( ";" SEGMENT )
//! MAIN     = ike: ENCR [ "-" PRF ] [ "-" KE *( "-" ADDKE ) ]
//!               | ENCR "-" INTEG [ "-" PRF ] [ "-" KE *( "-" ADDKE ) ]
//!                 (INTEG only when the list does not name PRFs: aes_gcm-none-sha2)
//!            esp: ENCR [ "-" INTEG ] [ "-" KE *( "-" ADDKE ) ]
//!            ah:  INTEG [ "-" KE *( "-" ADDKE ) ]
//! SEGMENT  = KE *( "-" ADDKE )  |  "ke=" KE  |  "addke" 1-7 "=" KE
//! ENCR     = NAME [ "-" KEYLEN ]  (aes-128 as well as aes128, aes_128)
//! ENCR/PRF/INTEG/KE = NAME *( "+" NAME )
//! ```
//!
//! Every error carries the offending token and its byte offset in the input.

use core::fmt;

use super::alg::{self, EncrLookupError};
use super::{defaults, IkeVersion, Proposal, ProposalKind, ProposalSet};
use crate::registry::{EncrId, IntegId, KeId, PrfId, ProtocolId};

/// Which part of a proposal a token was read as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    /// Encryption (cipher) algorithm.
    Encryption,
    /// Pseudo-random function.
    Prf,
    /// Integrity algorithm.
    Integrity,
    /// Key exchange (DH group, ML-KEM).
    KeyExchange,
    /// Additional key exchange 1..7 (RFC 9370).
    AdditionalKe(u8),
}

impl fmt::Display for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Slot::Encryption => f.write_str("encryption"),
            Slot::Prf => f.write_str("PRF"),
            Slot::Integrity => f.write_str("integrity"),
            Slot::KeyExchange => f.write_str("key exchange"),
            Slot::AdditionalKe(n) => write!(f, "additional key exchange {n}"),
        }
    }
}

impl Slot {
    fn expected(self) -> String {
        match self {
            Slot::Encryption => alg::encr_names(),
            Slot::Prf => alg::prf_names(),
            Slot::Integrity => alg::integ_names(),
            Slot::KeyExchange | Slot::AdditionalKe(_) => alg::ke_names(),
        }
    }
}

/// What was wrong with a proposal string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProposalErrorKind {
    /// The string (or one `,`-separated proposal) is empty.
    Empty,
    /// A name between separators is empty (`aes--sha1`, `aes+`).
    EmptyName,
    /// No algorithm of that kind has this name.
    Unknown(Slot),
    /// The cipher exists but not with this key length.
    BadKeyLength(EncrId),
    /// More `-`-separated parts than the protocol has.
    TooManyParts,
    /// The same component given twice (`aes-dh19;dh20`).
    Duplicate(Slot),
    /// `key=value` with an unknown key.
    UnknownKey,
    /// AEAD and non-AEAD ciphers in one proposal.
    AeadMixed,
    /// An AEAD cipher with an integrity algorithm other than `none`.
    AeadWithIntegrity,
    /// A non-AEAD cipher (or AH) with integrity `none`.
    MissingIntegrity,
    /// The algorithm exists but is not allowed here; the text says why.
    NotAllowed(&'static str),
    /// The protocol cannot be configured with a proposal string.
    UnsupportedProtocol(ProtocolId),
}

/// A proposal string that could not be parsed: which parameter, the whole input, the
/// offending token, its byte offset, and what was wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProposalError {
    /// `ike`, `esp` or `ah`.
    pub param: &'static str,
    /// The whole string as given.
    pub input: String,
    /// The token at fault (may be empty for [`ProposalErrorKind::Empty`]).
    pub token: String,
    /// Byte offset of `token` in `input`.
    pub position: usize,
    /// What was wrong.
    pub kind: ProposalErrorKind,
}

impl fmt::Display for ProposalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}=\"{}\": ", self.param, self.input)?;
        let (tok, pos) = (&self.token, self.position);
        match &self.kind {
            ProposalErrorKind::Empty => write!(
                f,
                "empty proposal at position {pos}; expected an algorithm list such as aes_gcm256-sha2_512"
            ),
            ProposalErrorKind::EmptyName => write!(
                f,
                "empty algorithm name at position {pos}; remove the doubled separator"
            ),
            ProposalErrorKind::Unknown(slot) => write!(
                f,
                "unknown {slot} algorithm '{tok}' at position {pos}; expected one of {}",
                slot.expected()
            ),
            ProposalErrorKind::BadKeyLength(id) => {
                let lens = alg::key_lengths(*id);
                if lens.is_empty() {
                    write!(
                        f,
                        "'{tok}' at position {pos}: {id} has a fixed key length; drop the length suffix"
                    )
                } else {
                    let lens: Vec<String> = lens.iter().map(u16::to_string).collect();
                    write!(
                        f,
                        "invalid key length in '{tok}' at position {pos}; {id} takes {}",
                        lens.join(", ")
                    )
                }
            }
            ProposalErrorKind::TooManyParts => write!(
                f,
                "unexpected '{tok}' at position {pos}; too many '-'-separated parts (expected {})",
                match self.param {
                    "ike" => "ENCR-PRF-KE or ENCR-INTEG-PRF-KE, then at most 7 ADDKE",
                    "esp" => "ENCR-INTEG-KE, then at most 7 ADDKE",
                    _ => "INTEG-KE, then at most 7 ADDKE",
                }
            ),
            ProposalErrorKind::Duplicate(slot) => write!(
                f,
                "{slot} given twice ('{tok}' at position {pos}); give it once"
            ),
            ProposalErrorKind::UnknownKey => write!(
                f,
                "unknown key '{tok}' at position {pos}; expected ke= or addke1= .. addke7="
            ),
            ProposalErrorKind::AeadMixed => write!(
                f,
                "'{tok}' at position {pos}: AEAD and non-AEAD ciphers cannot be combined in one proposal; use two proposals separated by ','"
            ),
            ProposalErrorKind::AeadWithIntegrity => write!(
                f,
                "'{tok}' at position {pos}: AEAD ciphers provide their own integrity; expected 'none' or no integrity"
            ),
            ProposalErrorKind::MissingIntegrity => write!(
                f,
                "'{tok}' at position {pos}: integrity 'none' needs an AEAD cipher; expected an integrity algorithm such as sha2_256"
            ),
            ProposalErrorKind::NotAllowed(why) => {
                write!(f, "'{tok}' at position {pos} is not allowed: {why}")
            }
            ProposalErrorKind::UnsupportedProtocol(p) => write!(
                f,
                "protocol {p} has no proposal syntax; expected ike, esp or ah"
            ),
        }
    }
}

impl std::error::Error for ProposalError {}

/// A token with its byte offset in the whole input.
#[derive(Clone, Copy)]
struct Tok<'a> {
    text: &'a str,
    pos: usize,
}

/// Splits `s` (at offset `base`) on `sep`, trimming whitespace around each piece.
fn split<'a>(s: &'a str, base: usize, sep: char) -> Vec<Tok<'a>> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, c) in s.char_indices() {
        if c == sep {
            out.push(trim(&s[start..i], base + start));
            start = i + c.len_utf8();
        }
    }
    out.push(trim(&s[start..], base + start));
    out
}

fn trim(s: &str, pos: usize) -> Tok<'_> {
    let lead = s.len() - s.trim_start().len();
    Tok {
        text: s.trim(),
        pos: pos + lead,
    }
}

struct Parser<'i> {
    kind: ProposalKind,
    input: &'i str,
}

/// A component as parsed: the values with the token each came from.
type Items<'a, T> = Vec<(T, Tok<'a>)>;

#[derive(Default)]
struct Draft<'a> {
    encr: Option<Items<'a, (EncrId, Option<u16>)>>,
    prf: Option<Items<'a, PrfId>>,
    integ: Option<Items<'a, IntegId>>,
    ke: Option<Items<'a, KeId>>,
    addke: [Option<Items<'a, KeId>>; 7],
}

impl<'i> Parser<'i> {
    fn err(&self, tok: Tok<'_>, kind: ProposalErrorKind) -> ProposalError {
        ProposalError {
            param: self.kind.param(),
            input: self.input.to_owned(),
            token: tok.text.to_owned(),
            position: tok.pos,
            kind,
        }
    }

    fn too_many(&self, extra: &[Tok<'_>]) -> ProposalError {
        let tok = extra.first().copied().unwrap_or(Tok {
            text: "",
            pos: self.input.len(),
        });
        self.err(tok, ProposalErrorKind::TooManyParts)
    }

    /// Splits a `-` group on `+` into non-empty names.
    fn names<'a>(&self, group: Tok<'a>) -> Result<Vec<Tok<'a>>, ProposalError> {
        let names = split(group.text, group.pos, '+');
        match names.iter().find(|t| t.text.is_empty()) {
            Some(t) => Err(self.err(*t, ProposalErrorKind::EmptyName)),
            None => Ok(names),
        }
    }

    /// Resolves every name of a group with `f`, or fails on the first unknown one.
    fn resolve<'a, T>(
        &self,
        names: &[Tok<'a>],
        slot: Slot,
        f: fn(&str) -> Option<T>,
    ) -> Result<Items<'a, T>, ProposalError> {
        names
            .iter()
            .map(|&t| {
                f(t.text)
                    .map(|v| (v, t))
                    .ok_or_else(|| self.err(t, ProposalErrorKind::Unknown(slot)))
            })
            .collect()
    }

    fn all<T>(names: &[Tok<'_>], f: fn(&str) -> Option<T>) -> bool {
        names.iter().all(|t| f(t.text).is_some())
    }

    /// Resolves ciphers. Each name may carry its key length (`aes128`) or be followed
    /// by one as a separate `-` token (`aes-128`), which libreswan also accepts.
    fn encr<'a>(
        &self,
        names: &[(Tok<'a>, Option<Tok<'a>>)],
    ) -> Result<Items<'a, (EncrId, Option<u16>)>, ProposalError> {
        names
            .iter()
            .map(|&(t, keylen)| {
                let (id, own) = match alg::lookup_encr(t.text) {
                    Ok(v) => v,
                    Err(EncrLookupError::Unknown) => {
                        return Err(self.err(t, ProposalErrorKind::Unknown(Slot::Encryption)))
                    }
                    Err(EncrLookupError::BadKeyLength(id)) => {
                        return Err(self.err(t, ProposalErrorKind::BadKeyLength(id)))
                    }
                };
                let Some(k) = keylen else {
                    return Ok(((id, own), t));
                };
                let bad = || self.err(k, ProposalErrorKind::BadKeyLength(id));
                if own.is_some() {
                    return Err(bad());
                }
                let len: u16 = k.text.parse().map_err(|_| bad())?;
                if !alg::key_lengths(id).contains(&len) {
                    return Err(bad());
                }
                Ok(((id, Some(len)), t))
            })
            .collect()
    }

    fn parse_set(&self) -> Result<ProposalSet, ProposalError> {
        if !matches!(
            self.kind.protocol,
            ProtocolId::IKE | ProtocolId::ESP | ProtocolId::AH
        ) {
            return Err(self.err(
                Tok { text: "", pos: 0 },
                ProposalErrorKind::UnsupportedProtocol(self.kind.protocol),
            ));
        }
        let body = self.input.trim_end();
        let (body, strict) = match body.strip_suffix('!') {
            Some(b) => (b, true),
            None => (body, false),
        };
        let mut proposals = Vec::new();
        for p in split(body, 0, ',') {
            if p.text.is_empty() {
                return Err(self.err(p, ProposalErrorKind::Empty));
            }
            proposals.push(self.parse_proposal(p)?);
        }
        Ok(ProposalSet {
            kind: self.kind,
            proposals: proposals.into(),
            strict,
        })
    }

    fn parse_proposal(&self, p: Tok<'_>) -> Result<Proposal, ProposalError> {
        let segments = split(p.text, p.pos, ';');
        let mut draft = Draft::default();
        let Some((&main, rest)) = segments.split_first() else {
            return Err(self.err(p, ProposalErrorKind::Empty));
        };
        if main.text.is_empty() {
            return Err(self.err(main, ProposalErrorKind::Empty));
        }
        let groups = split(main.text, main.pos, '-')
            .into_iter()
            .map(|g| self.names(g))
            .collect::<Result<Vec<_>, _>>()?;
        let Some((first, more)) = groups.split_first() else {
            return Err(self.err(main, ProposalErrorKind::Empty));
        };
        self.main_groups(first, more, &mut draft)?;
        for seg in rest {
            self.segment(*seg, &mut draft)?;
        }
        self.finish(draft)
    }

    /// The `-`-separated groups before any `;`, read in libreswan's order:
    /// ENCR, then for IKE a PRF (or INTEG then PRF when the first list is not PRFs),
    /// for ESP INTEG, for AH only INTEG; then KE, then ADDKE1..7. Leniency beyond
    /// libreswan: `ENCR-KE` (a single list of groups) is read as the key exchange.
    fn main_groups<'a>(
        &self,
        first: &[Tok<'a>],
        groups: &[Vec<Tok<'a>>],
        d: &mut Draft<'a>,
    ) -> Result<(), ProposalError> {
        let mut rest = groups;
        let ke_only = |g: &[Tok<'_>]| {
            Self::all(g, alg::lookup_ke) && g.iter().any(|t| !t.text.eq_ignore_ascii_case("none"))
        };
        if self.kind.protocol == ProtocolId::AH {
            d.integ = Some(self.resolve(first, Slot::Integrity, alg::lookup_integ)?);
        } else {
            // Ciphers, with `-<keylen>` groups folded into the cipher before them.
            let mut encr: Vec<(Tok<'a>, Option<Tok<'a>>)> =
                first.iter().map(|&t| (t, None)).collect();
            while let Some((head, tail)) = rest.first().and_then(|g| g.split_first()) {
                if !head.text.starts_with(|c: char| c.is_ascii_digit()) {
                    break;
                }
                if let Some(last) = encr.last_mut() {
                    if last.1.is_some() {
                        return Err(self.err(*head, ProposalErrorKind::Unknown(Slot::Encryption)));
                    }
                    last.1 = Some(*head);
                }
                encr.extend(tail.iter().map(|&t| (t, None)));
                rest = rest.get(1..).unwrap_or_default();
            }
            d.encr = Some(self.encr(&encr)?);
            if let Some(a) = take_first(&mut rest) {
                if self.kind.protocol == ProtocolId::IKE && Self::all(a, alg::lookup_prf) {
                    d.prf = Some(self.resolve(a, Slot::Prf, alg::lookup_prf)?);
                } else if Self::all(a, alg::lookup_integ) {
                    d.integ = Some(self.resolve(a, Slot::Integrity, alg::lookup_integ)?);
                    if self.kind.protocol == ProtocolId::IKE {
                        if let Some(b) = take_first(&mut rest) {
                            d.prf = Some(self.resolve(b, Slot::Prf, alg::lookup_prf)?);
                        }
                    }
                } else if ke_only(a) {
                    d.ke = Some(self.resolve(a, Slot::KeyExchange, alg::lookup_ke)?);
                } else if self.kind.protocol == ProtocolId::IKE {
                    // libreswan reports the PRF error: the likelier intent.
                    self.resolve(a, Slot::Prf, alg::lookup_prf)?;
                } else {
                    self.resolve(a, Slot::Integrity, alg::lookup_integ)?;
                }
            }
        }
        if d.ke.is_none() {
            if let Some(g) = take_first(&mut rest) {
                d.ke = Some(self.resolve(g, Slot::KeyExchange, alg::lookup_ke)?);
            }
        }
        self.addke_groups(rest, 0, d)
    }

    /// `-`-separated groups after the KE: ADDKE1, ADDKE2, ... from index `from`.
    fn addke_groups<'a>(
        &self,
        groups: &[Vec<Tok<'a>>],
        from: usize,
        d: &mut Draft<'a>,
    ) -> Result<(), ProposalError> {
        for (i, g) in groups.iter().enumerate() {
            let idx = from + i;
            let Some(entry) = d.addke.get_mut(idx) else {
                return Err(self.too_many(g));
            };
            // idx < 7 here, so the slot number fits.
            let slot = Slot::AdditionalKe(u8::try_from(idx + 1).unwrap_or(u8::MAX));
            if entry.is_some() {
                let tok = g.first().copied().unwrap_or(Tok { text: "", pos: 0 });
                return Err(self.err(tok, ProposalErrorKind::Duplicate(slot)));
            }
            *entry = Some(self.resolve(g, slot, alg::lookup_ke)?);
        }
        Ok(())
    }

    /// A `;` segment: `ke=...`, `addkeN=...`, or a bare group list (the legacy
    /// `aes128-sha1;modp2048` form, optionally `-ADDKE...` after it; for IKE also
    /// `aes_gcm256;sha2_256`, a PRF).
    fn segment<'a>(&self, seg: Tok<'a>, d: &mut Draft<'a>) -> Result<(), ProposalError> {
        if seg.text.is_empty() {
            return Err(self.err(seg, ProposalErrorKind::EmptyName));
        }
        if let Some(eq) = seg.text.find('=') {
            let key = trim(&seg.text[..eq], seg.pos);
            let value = trim(&seg.text[eq + 1..], seg.pos + eq + 1);
            if value.text.is_empty() {
                return Err(self.err(value, ProposalErrorKind::EmptyName));
            }
            let names = self.names(value)?;
            let k = key.text.to_ascii_lowercase();
            if k == "ke" {
                if d.ke.is_some() {
                    return Err(self.err(key, ProposalErrorKind::Duplicate(Slot::KeyExchange)));
                }
                d.ke = Some(self.resolve(&names, Slot::KeyExchange, alg::lookup_ke)?);
                return Ok(());
            }
            let n = k
                .strip_prefix("addke")
                .and_then(|n| n.parse::<u8>().ok())
                .filter(|n| (1..=7).contains(n));
            let Some(n) = n else {
                return Err(self.err(key, ProposalErrorKind::UnknownKey));
            };
            let slot = Slot::AdditionalKe(n);
            let entry = &mut d.addke[usize::from(n - 1)];
            if entry.is_some() {
                return Err(self.err(key, ProposalErrorKind::Duplicate(slot)));
            }
            *entry = Some(self.resolve(&names, slot, alg::lookup_ke)?);
            return Ok(());
        }
        let groups = split(seg.text, seg.pos, '-')
            .into_iter()
            .map(|g| self.names(g))
            .collect::<Result<Vec<_>, _>>()?;
        let Some((names, more)) = groups.split_first() else {
            return Err(self.err(seg, ProposalErrorKind::EmptyName));
        };
        if self.kind.protocol == ProtocolId::IKE
            && more.is_empty()
            && d.prf.is_none()
            && !Self::all(names, alg::lookup_ke)
            && Self::all(names, alg::lookup_prf)
        {
            // The older documented `ike=aes_gcm256;sha2_256`.
            d.prf = Some(self.resolve(names, Slot::Prf, alg::lookup_prf)?);
            return Ok(());
        }
        if d.ke.is_some() {
            return Err(self.err(seg, ProposalErrorKind::Duplicate(Slot::KeyExchange)));
        }
        d.ke = Some(self.resolve(names, Slot::KeyExchange, alg::lookup_ke)?);
        self.addke_groups(more, 0, d)
    }

    /// Checks the combination, then fills what was left out with the defaults.
    fn finish(&self, d: Draft<'_>) -> Result<Proposal, ProposalError> {
        let kind = self.kind;
        let v1 = kind.version == IkeVersion::V1;
        let mut p = Proposal::new(kind.protocol);

        if let Some(encr) = &d.encr {
            let aead = encr.first().is_some_and(|((e, _), _)| alg::is_aead(*e));
            for &((id, keylen), tok) in encr {
                if alg::is_aead(id) != aead {
                    return Err(self.err(tok, ProposalErrorKind::AeadMixed));
                }
                let why = match (kind.protocol, id) {
                    (ProtocolId::IKE, EncrId::NULL) => {
                        Some("IKE SAs cannot use NULL encryption (RFC 7296 5)")
                    }
                    (ProtocolId::IKE, EncrId::NULL_AUTH_AES_GMAC) => {
                        Some("NULL_AUTH_AES_GMAC only exists for ESP")
                    }
                    (ProtocolId::IKE, _) if v1 && alg::is_aead(id) => {
                        Some("IKEv1 IKE SAs have no AEAD ciphers; use aes-sha2 or IKEv2")
                    }
                    (_, EncrId::CHACHA20_POLY1305) if v1 => {
                        Some("IKEv1 has no ChaCha20-Poly1305 transform")
                    }
                    _ => None,
                };
                if let Some(why) = why {
                    return Err(self.err(tok, ProposalErrorKind::NotAllowed(why)));
                }
                // A cipher without a key length stands for all of them, so a later
                // `aes128` after `aes` adds nothing (libreswan drops it too); the
                // reverse order is a real preference and is kept.
                let covered = p
                    .encr
                    .iter()
                    .any(|&(e, k)| e == id && (k.is_none() || k == keylen));
                if !covered {
                    p.encr.push((id, keylen));
                }
            }
        }
        let aead = p.is_aead();

        if let Some(prf) = &d.prf {
            for &(v, tok) in prf {
                if v1 && matches!(v, PrfId::AES128_XCBC | PrfId::AES128_CMAC) {
                    return Err(self.err(
                        tok,
                        ProposalErrorKind::NotAllowed(
                            "IKEv1 IKE SAs use a hash: md5, sha1 or sha2",
                        ),
                    ));
                }
                push_unique(&mut p.prf, v);
            }
        }

        if let Some(integ) = &d.integ {
            if kind.protocol == ProtocolId::IKE && v1 {
                if let Some(&(_, tok)) = integ.first() {
                    return Err(self.err(
                        tok,
                        ProposalErrorKind::NotAllowed(
                            "IKEv1 derives integrity from the hash; give ENCR-HASH-GROUP",
                        ),
                    ));
                }
            }
            for &(v, tok) in integ {
                if aead && v != IntegId::NONE {
                    return Err(self.err(tok, ProposalErrorKind::AeadWithIntegrity));
                }
                if !aead && v == IntegId::NONE {
                    return Err(self.err(tok, ProposalErrorKind::MissingIntegrity));
                }
                push_unique(&mut p.integ, v);
            }
        }

        if let Some(ke) = &d.ke {
            for &(v, tok) in ke {
                let why = if kind.protocol == ProtocolId::IKE && v == KeId::NONE {
                    Some("the IKE SA needs a key exchange; 'none' only applies to Child SAs")
                } else if v1 && alg::is_kem(v) {
                    Some("IKEv1 has no ML-KEM; use IKEv2")
                } else {
                    None
                };
                if let Some(why) = why {
                    return Err(self.err(tok, ProposalErrorKind::NotAllowed(why)));
                }
                push_unique(&mut p.ke, v);
            }
        }

        for (i, addke) in d.addke.iter().enumerate() {
            let Some(list) = addke else { continue };
            for &(v, tok) in list {
                if v1 {
                    return Err(self.err(
                        tok,
                        ProposalErrorKind::NotAllowed(
                            "additional key exchanges need IKEv2 (RFC 9370)",
                        ),
                    ));
                }
                push_unique(&mut p.addke[i], v);
            }
        }

        defaults::complete(&mut p, kind);
        Ok(p)
    }
}

/// Pops the first group off `rest`.
fn take_first<'g, 'a>(rest: &mut &'g [Vec<Tok<'a>>]) -> Option<&'g [Tok<'a>]> {
    let (g, tail) = rest.split_first()?;
    *rest = tail;
    Some(g)
}

fn push_unique<T: PartialEq>(v: &mut Vec<T>, x: T) {
    if !v.contains(&x) {
        v.push(x);
    }
}

pub(super) fn parse(input: &str, kind: ProposalKind) -> Result<ProposalSet, ProposalError> {
    Parser { kind, input }.parse_set()
}
