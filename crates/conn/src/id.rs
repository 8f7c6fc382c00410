//! IKE identities in libreswan's textual syntax.
//!
//! | text | meaning |
//! |---|---|
//! | `192.0.2.1`, `2001:db8::1` | ID_IPV4_ADDR / ID_IPV6_ADDR |
//! | `@east.example` | ID_FQDN (the `@` stops DNS resolution) |
//! | `user@example.org` | ID_USER_FQDN (RFC 822 address) |
//! | `C=CA, O=Example, CN=east` | ID_DER_ASN1_DN, RDN values may be `*` wildcards |
//! | `@#0a1b2c` | ID_KEY_ID given in hex |
//! | `@[opaque]` | ID_KEY_ID given literally |
//! | `%fromcert` | take the ID from our/the peer's certificate |
//! | `%any` | (remote end only) accept any ID |
//! | `%null` | ID_NULL (RFC 7619) |
//! | `%none` | no ID configured |
//!
//! A name without `@` that is not an address is taken as an FQDN, since this crate does
//! no DNS lookups.

use std::fmt;
use std::net::IpAddr;

use ike::registry::IdType;
use serde::{Deserialize, Serialize};

use crate::files::{decode_hex, strip_hex_prefix};

/// What is wrong with an ID string.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// Empty string.
    #[error("empty ID; use %any to accept any ID")]
    Empty,
    /// `@#` with bad hex.
    #[error("\"{0}\": @# must be followed by an even number of hex digits")]
    BadHex(String),
    /// `@[` without `]`.
    #[error("\"{0}\": @[ must be closed with ]")]
    Unclosed(String),
    /// A DN that has an RDN without `=`.
    #[error("\"{0}\" is not a distinguished name (expected attr=value, attr=value, ...)")]
    BadDn(String),
    /// A form that is neither an address, a name, a DN nor a keyword.
    #[error("\"{0}\" is not an ID; did you mean @{0} (ID_KEY_ID forms start with @# or @[)?")]
    Unrecognized(String),
    /// A tab or other control character inside the ID.
    #[error("\"{0}\" contains a control character (such as a tab); IDs are printable text")]
    ControlCharacter(String),
    /// Unknown `%` keyword.
    #[error("\"{0}\" is not a known ID keyword (%any, %fromcert, %null, %none)")]
    UnknownKeyword(String),
}

/// An ID that cannot be put in, or read from, an ID payload.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdWireError {
    /// `%any`, `%none` or `%fromcert` stand for no particular ID.
    #[error("{0} is not an ID that can be sent; configure a concrete ID (@fqdn, user@fqdn, an IP address or @#keyid)")]
    NotConcrete(&'static str),
    /// Distinguished names need DER encoding, which is not implemented yet.
    #[error("ID_DER_ASN1_DN is not supported yet; use @fqdn, user@fqdn, an IP address or @#keyid as the ID")]
    DnNotSupported,
    /// A type this implementation does not accept.
    #[error("ID type {0} is not supported; expected ID_IPV4_ADDR, ID_IPV6_ADDR, ID_FQDN, ID_USER_FQDN, ID_KEY_ID or ID_NULL")]
    Unsupported(IdType),
    /// The data does not fit the type.
    #[error("malformed {ty} ID payload: {why}")]
    Malformed {
        /// The ID type received.
        ty: IdType,
        /// What is wrong.
        why: &'static str,
    },
}

/// An IKE identity.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Id {
    /// No ID configured (`%none`); for a remote end, anything is accepted.
    None,
    /// `%any`: accept any ID from the peer.
    Any,
    /// `%fromcert`: the ID is the certificate's subject.
    FromCert,
    /// `%null`: ID_NULL.
    Null,
    /// ID_IPV4_ADDR / ID_IPV6_ADDR.
    Ip(IpAddr),
    /// ID_FQDN (stored without the leading `@`).
    Fqdn(String),
    /// ID_USER_FQDN.
    UserFqdn(String),
    /// ID_DER_ASN1_DN, kept as text: a list of `(attribute, value)` RDNs.
    Dn(Vec<(String, String)>),
    /// ID_KEY_ID.
    KeyId(Vec<u8>),
}

impl Id {
    /// Parse libreswan ID syntax.
    pub fn parse(s: &str) -> Result<Id, IdError> {
        let t = s.trim();
        if t.is_empty() {
            return Err(IdError::Empty);
        }
        if t.chars().any(char::is_control) {
            return Err(IdError::ControlCharacter(t.escape_debug().to_string()));
        }
        if let Some(kw) = t.strip_prefix('%') {
            return match kw.to_ascii_lowercase().as_str() {
                "any" | "any4" | "any6" => Ok(Id::Any),
                "fromcert" => Ok(Id::FromCert),
                "null" => Ok(Id::Null),
                "none" => Ok(Id::None),
                _ => Err(IdError::UnknownKeyword(t.to_string())),
            };
        }
        if let Some(rest) = t.strip_prefix('@') {
            if let Some(h) = rest.strip_prefix('#') {
                return parse_hex(h)
                    .map(Id::KeyId)
                    .ok_or_else(|| IdError::BadHex(t.to_string()));
            }
            if let Some(lit) = rest.strip_prefix('[') {
                let inner = lit
                    .strip_suffix(']')
                    .ok_or_else(|| IdError::Unclosed(t.to_string()))?;
                if inner.is_empty() {
                    return Err(IdError::Empty);
                }
                return Ok(Id::KeyId(inner.as_bytes().to_vec()));
            }
            if rest.is_empty() {
                return Err(IdError::Empty);
            }
            return Ok(Id::Fqdn(rest.to_string()));
        }
        if let Ok(a) = t.parse::<IpAddr>() {
            return Ok(Id::Ip(a));
        }
        if t.contains('=') {
            return parse_dn(t).map(Id::Dn);
        }
        if t.contains('@') {
            return Ok(Id::UserFqdn(t.to_string()));
        }
        if t.starts_with(['#', '[', '~']) {
            return Err(IdError::Unrecognized(t.to_string()));
        }
        Ok(Id::Fqdn(t.to_string()))
    }

    /// Is this a wildcard that any peer ID satisfies?
    pub fn is_wildcard(&self) -> bool {
        match self {
            Id::None | Id::Any | Id::FromCert => true,
            Id::Dn(rdns) => rdns.iter().any(|(_, v)| v == "*"),
            _ => false,
        }
    }

    /// Does a peer's actual ID satisfy this configured ID?
    ///
    /// `%any`, `%none` and `%fromcert` accept anything (for `%fromcert` the certificate
    /// check happens during authentication); FQDNs compare case-insensitively; DNs compare
    /// RDN by RDN with `*` matching any value.
    pub fn matches(&self, peer: &Id) -> bool {
        match (self, peer) {
            (Id::None | Id::Any | Id::FromCert, _) => true,
            (Id::Fqdn(a), Id::Fqdn(b)) => a.eq_ignore_ascii_case(b),
            (Id::UserFqdn(a), Id::UserFqdn(b)) => a.eq_ignore_ascii_case(b),
            (Id::Dn(want), Id::Dn(got)) => {
                want.len() == got.len()
                    && want.iter().zip(got).all(|((wa, wv), (ga, gv))| {
                        wa.eq_ignore_ascii_case(ga) && (wv == "*" || wv.eq_ignore_ascii_case(gv))
                    })
            }
            (a, b) => a == b,
        }
    }

    /// The ID payload type this ID is sent as, when it is a concrete one.
    pub fn wire_type(&self) -> Option<IdType> {
        Some(match self {
            Id::Ip(IpAddr::V4(_)) => IdType::IPV4_ADDR,
            Id::Fqdn(_) => IdType::FQDN,
            Id::UserFqdn(_) => IdType::RFC822_ADDR,
            Id::Ip(IpAddr::V6(_)) => IdType::IPV6_ADDR,
            Id::Dn(_) => IdType::DER_ASN1_DN,
            Id::KeyId(_) => IdType::KEY_ID,
            Id::Null => IdType::NULL,
            Id::None | Id::Any | Id::FromCert => return None,
        })
    }

    /// The ID payload (RFC 7296 3.5, RFC 2407 4.6.2) this ID is sent as: its type and
    /// identification data. FQDN and USER_FQDN are sent without libreswan's `@`;
    /// ID_NULL has empty data (RFC 7619 3).
    pub fn to_wire(&self) -> Result<(IdType, Vec<u8>), IdWireError> {
        let data = match self {
            Id::Ip(IpAddr::V4(a)) => a.octets().to_vec(),
            Id::Ip(IpAddr::V6(a)) => a.octets().to_vec(),
            Id::Fqdn(n) | Id::UserFqdn(n) => n.as_bytes().to_vec(),
            Id::KeyId(k) => k.clone(),
            Id::Null => Vec::new(),
            Id::Dn(_) => return Err(IdWireError::DnNotSupported),
            Id::None | Id::Any | Id::FromCert => {
                return Err(IdWireError::NotConcrete(self.type_name()))
            }
        };
        let ty = self
            .wire_type()
            .ok_or(IdWireError::NotConcrete(self.type_name()))?;
        Ok((ty, data))
    }

    /// Reads a received ID payload. Addresses must have their exact length, FQDN and
    /// USER_FQDN must be non-empty UTF-8 without control characters
    /// (RFC 7296 3.5 allows no terminator or padding, and these end up in logs and
    /// `ipsec.secrets` lookups), KEY_ID must be non-empty; ID_NULL's data is ignored
    /// (RFC 7619 3). ID_DER_ASN1_DN is refused until DER names are supported, as are
    /// the IKEv1 subnet/range types and unknown types.
    pub fn from_wire(ty: IdType, data: &[u8]) -> Result<Id, IdWireError> {
        let bad = |why: &'static str| IdWireError::Malformed { ty, why };
        let text = |data: &[u8]| -> Result<String, IdWireError> {
            if data.is_empty() {
                return Err(bad("the identification data is empty"));
            }
            let s = std::str::from_utf8(data).map_err(|_| bad("the name is not UTF-8"))?;
            if s.chars().any(char::is_control) {
                return Err(bad("the name contains control characters"));
            }
            Ok(s.to_string())
        };
        match ty {
            IdType::IPV4_ADDR => <[u8; 4]>::try_from(data)
                .map(|b| Id::Ip(IpAddr::from(b)))
                .map_err(|_| bad("an IPv4 address is 4 bytes")),
            IdType::IPV6_ADDR => <[u8; 16]>::try_from(data)
                .map(|b| Id::Ip(IpAddr::from(b)))
                .map_err(|_| bad("an IPv6 address is 16 bytes")),
            IdType::FQDN => text(data).map(Id::Fqdn),
            IdType::RFC822_ADDR => text(data).map(Id::UserFqdn),
            IdType::KEY_ID if data.is_empty() => Err(bad("the key ID is empty")),
            IdType::KEY_ID => Ok(Id::KeyId(data.to_vec())),
            IdType::NULL => Ok(Id::Null),
            IdType::DER_ASN1_DN => Err(IdWireError::DnNotSupported),
            other => Err(IdWireError::Unsupported(other)),
        }
    }

    /// libreswan's name of the ID type, as `--status` prints it (`ID_FQDN`, `%fromcert`).
    pub fn type_name(&self) -> &'static str {
        match self {
            Id::None => "%none",
            Id::Any => "%any",
            Id::FromCert => "%fromcert",
            Id::Null => "ID_NULL",
            Id::Ip(IpAddr::V4(_)) => "ID_IPV4_ADDR",
            Id::Ip(IpAddr::V6(_)) => "ID_IPV6_ADDR",
            Id::Fqdn(_) => "ID_FQDN",
            Id::UserFqdn(_) => "ID_USER_FQDN",
            Id::Dn(_) => "ID_DER_ASN1_DN",
            Id::KeyId(_) => "ID_KEY_ID",
        }
    }
}

impl fmt::Display for Id {
    /// The libreswan textual form, which [`Id::parse`] reads back; except
    /// [`Id::None`], shown as libreswan's status shows it, `(none)` (it is written
    /// `%none`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Id::None => f.write_str("(none)"),
            Id::Any => f.write_str("%any"),
            Id::FromCert => f.write_str("%fromcert"),
            Id::Null => f.write_str("%null"),
            Id::Ip(a) => write!(f, "{a}"),
            Id::Fqdn(n) => write!(f, "@{n}"),
            Id::UserFqdn(n) => f.write_str(n),
            Id::Dn(rdns) => {
                for (i, (a, v)) in rdns.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{a}={}", v.replace('\\', "\\\\").replace(',', "\\,"))?;
                }
                Ok(())
            }
            Id::KeyId(b) => {
                f.write_str("@#")?;
                for x in b {
                    write!(f, "{x:02x}")?;
                }
                Ok(())
            }
        }
    }
}

fn parse_hex(s: &str) -> Option<Vec<u8>> {
    decode_hex(strip_hex_prefix(s))
}

/// Split `C=CA, O=Example\, Inc, CN=east` into RDNs, honouring `\,` escapes.
fn parse_dn(s: &str) -> Result<Vec<(String, String)>, IdError> {
    let bad = || IdError::BadDn(s.to_string());
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => cur.push(chars.next().ok_or_else(bad)?),
            ',' => parts.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    parts.push(cur);
    parts
        .into_iter()
        .map(|p| {
            let (a, v) = p.split_once('=').ok_or_else(bad)?;
            let (a, v) = (a.trim(), v.trim());
            if a.is_empty() || !a.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.') {
                return Err(bad());
            }
            Ok((a.to_string(), v.to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_form() {
        assert_eq!(Id::parse("@east"), Ok(Id::Fqdn("east".into())));
        assert_eq!(
            Id::parse("road@example.org"),
            Ok(Id::UserFqdn("road@example.org".into()))
        );
        assert_eq!(
            Id::parse("192.0.2.1"),
            Ok(Id::Ip("192.0.2.1".parse().unwrap()))
        );
        assert_eq!(Id::parse("%fromcert"), Ok(Id::FromCert));
        assert_eq!(Id::parse("%ANY"), Ok(Id::Any));
        assert_eq!(Id::parse("%null"), Ok(Id::Null));
        assert_eq!(Id::parse("@#0a1B"), Ok(Id::KeyId(vec![0x0a, 0x1b])));
        assert_eq!(Id::parse("@[key]"), Ok(Id::KeyId(b"key".to_vec())));
        assert_eq!(
            Id::parse("east.example"),
            Ok(Id::Fqdn("east.example".into()))
        );
        assert_eq!(
            Id::parse("C=CA, O=Example\\, Inc,CN=east"),
            Ok(Id::Dn(vec![
                ("C".into(), "CA".into()),
                ("O".into(), "Example, Inc".into()),
                ("CN".into(), "east".into())
            ]))
        );
    }

    #[test]
    fn rejects_bad_forms() {
        assert_eq!(Id::parse(" "), Err(IdError::Empty));
        assert_eq!(Id::parse("@"), Err(IdError::Empty));
        assert!(matches!(Id::parse("@#abc"), Err(IdError::BadHex(_))));
        assert!(matches!(Id::parse("@#zz"), Err(IdError::BadHex(_))));
        assert!(matches!(Id::parse("@[x"), Err(IdError::Unclosed(_))));
        assert!(matches!(
            Id::parse("%bogus"),
            Err(IdError::UnknownKeyword(_))
        ));
        assert!(matches!(Id::parse("C=CA, junk"), Err(IdError::BadDn(_))));
        assert!(matches!(Id::parse("#x"), Err(IdError::Unrecognized(_))));
        assert_eq!(Id::parse("@[]"), Err(IdError::Empty));
        assert!(matches!(
            Id::parse("@a\tb"),
            Err(IdError::ControlCharacter(_))
        ));
    }

    #[test]
    fn display_round_trips() {
        for s in [
            "@east",
            "road@example.org",
            "192.0.2.1",
            "2001:db8::1",
            "%fromcert",
            "%any",
            "@#0a1b",
            "C=CA, O=Example\\, Inc, CN=east",
            "CN=back\\\\slash",
        ] {
            let id = Id::parse(s).unwrap();
            assert_eq!(id.to_string(), s);
            assert_eq!(Id::parse(&id.to_string()).unwrap(), id);
        }
    }

    #[test]
    fn matching_rules() {
        let p = |s| Id::parse(s).unwrap();
        assert!(p("@East").matches(&p("@east")));
        assert!(!p("@east").matches(&p("@west")));
        assert!(p("%any").matches(&p("@west")));
        assert!(Id::None.matches(&p("@west")));
        assert!(p("C=CA, CN=*").matches(&p("C=ca,CN=road1")));
        assert!(!p("C=CA, CN=*").matches(&p("C=CA, O=x, CN=road1")));
        assert!(!p("@east").matches(&p("east@east")));
        assert!(p("C=CA, CN=*").is_wildcard());
        assert!(!p("@east").is_wildcard());
    }

    #[test]
    fn wire_forms_round_trip() {
        for (text, ty, data) in [
            ("192.0.2.1", IdType::IPV4_ADDR, vec![192, 0, 2, 1]),
            (
                "2001:db8::1",
                IdType::IPV6_ADDR,
                vec![0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
            ),
            ("@east.example", IdType::FQDN, b"east.example".to_vec()),
            (
                "road@example.org",
                IdType::RFC822_ADDR,
                b"road@example.org".to_vec(),
            ),
            ("@#0a1b", IdType::KEY_ID, vec![0x0a, 0x1b]),
            ("%null", IdType::NULL, vec![]),
        ] {
            let id = Id::parse(text).unwrap();
            assert_eq!(id.wire_type(), Some(ty), "{text}");
            assert_eq!(id.to_wire(), Ok((ty, data.clone())), "{text}");
            assert_eq!(Id::from_wire(ty, &data), Ok(id), "{text}");
        }
    }

    #[test]
    fn wire_refusals() {
        assert_eq!(Id::Any.wire_type(), None);
        assert!(matches!(
            Id::Any.to_wire(),
            Err(IdWireError::NotConcrete("%any"))
        ));
        assert!(Id::FromCert.to_wire().is_err());
        let dn = Id::parse("C=CA, CN=east").unwrap();
        assert_eq!(dn.wire_type(), Some(IdType::DER_ASN1_DN));
        assert_eq!(dn.to_wire(), Err(IdWireError::DnNotSupported));
        assert!(dn
            .to_wire()
            .unwrap_err()
            .to_string()
            .contains("not supported yet"));
        assert_eq!(
            Id::from_wire(IdType::DER_ASN1_DN, b"0\x00"),
            Err(IdWireError::DnNotSupported)
        );
        assert!(matches!(
            Id::from_wire(IdType::IPV4_ADDR, &[192, 0, 2]),
            Err(IdWireError::Malformed { .. })
        ));
        assert!(Id::from_wire(IdType::IPV6_ADDR, &[0; 4]).is_err());
        assert!(Id::from_wire(IdType::FQDN, b"").is_err());
        assert!(Id::from_wire(IdType::FQDN, &[0xff]).is_err());
        assert!(Id::from_wire(IdType::FQDN, b"east\0").is_err());
        assert!(Id::from_wire(IdType::RFC822_ADDR, b"a\tb@c").is_err());
        assert!(Id::from_wire(IdType::KEY_ID, b"").is_err());
        assert_eq!(
            Id::from_wire(IdType::FQDN, "bücher.example".as_bytes()),
            Ok(Id::Fqdn("bücher.example".into()))
        );
        assert_eq!(Id::from_wire(IdType::NULL, b"junk"), Ok(Id::Null));
        assert_eq!(
            Id::from_wire(IdType::V1_IPV4_ADDR_SUBNET, &[0; 8]),
            Err(IdWireError::Unsupported(IdType::V1_IPV4_ADDR_SUBNET))
        );
        assert!(Id::from_wire(IdType(200), b"x")
            .unwrap_err()
            .to_string()
            .starts_with("ID type IdType(200) is not supported"));
    }
}
