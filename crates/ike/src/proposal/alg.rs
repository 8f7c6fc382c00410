//! Algorithm names as libreswan spells them in `ike=`/`esp=`/`ah=`, and the few
//! properties of each algorithm the proposal layer needs (AEAD or not, which key
//! lengths, which integrity goes with which PRF).
//!
//! Names are matched case-insensitively. Each table lists libreswan's aliases first
//! and the IANA registry spelling is accepted as well, so that whatever `Display`
//! prints parses back.

use crate::registry::{EncrId, IntegId, KeId, PrfId};

/// Key lengths (bits) accepted for AES and Camellia, strongest first.
pub const AES_KEY_LENGTHS: &[u16] = &[256, 192, 128];

/// Key lengths proposed, strongest first, when `ike=`/`esp=` names a variable-length
/// cipher without a length (`aes`, `aes_gcm`): libreswan offers 256 then 128 and
/// leaves 192 out because several peers do not implement it.
pub const DEFAULT_KEY_LENGTHS: &[u16] = &[256, 128];

const ENCR_NAMES: &[(&str, EncrId)] = &[
    ("aes", EncrId::AES_CBC),
    ("aes_cbc", EncrId::AES_CBC),
    ("aesctr", EncrId::AES_CTR),
    ("aes_ctr", EncrId::AES_CTR),
    ("aes_gcm", EncrId::AES_GCM_16),
    ("aes_gcm_16", EncrId::AES_GCM_16),
    ("aes_gcm_c", EncrId::AES_GCM_16),
    ("aes_gcm_12", EncrId::AES_GCM_12),
    ("aes_gcm_b", EncrId::AES_GCM_12),
    ("aes_gcm_8", EncrId::AES_GCM_8),
    ("aes_gcm_a", EncrId::AES_GCM_8),
    ("aes_ccm", EncrId::AES_CCM_16),
    ("aes_ccm_16", EncrId::AES_CCM_16),
    ("aes_ccm_c", EncrId::AES_CCM_16),
    ("aes_ccm_12", EncrId::AES_CCM_12),
    ("aes_ccm_b", EncrId::AES_CCM_12),
    ("aes_ccm_8", EncrId::AES_CCM_8),
    ("aes_ccm_a", EncrId::AES_CCM_8),
    ("chacha20_poly1305", EncrId::CHACHA20_POLY1305),
    ("chacha20poly1305", EncrId::CHACHA20_POLY1305),
    ("3des", EncrId::TRIPLE_DES),
    ("3des_cbc", EncrId::TRIPLE_DES),
    ("camellia", EncrId::CAMELLIA_CBC),
    ("camellia_cbc", EncrId::CAMELLIA_CBC),
    ("null", EncrId::NULL),
    ("aes_gmac", EncrId::NULL_AUTH_AES_GMAC),
    ("null_auth_aes_gmac", EncrId::NULL_AUTH_AES_GMAC),
];

const PRF_NAMES: &[(&str, PrfId)] = &[
    ("sha1", PrfId::HMAC_SHA1),
    ("sha2_256", PrfId::HMAC_SHA2_256),
    ("sha2_384", PrfId::HMAC_SHA2_384),
    ("sha2_512", PrfId::HMAC_SHA2_512),
    ("md5", PrfId::HMAC_MD5),
    ("aes_xcbc", PrfId::AES128_XCBC),
    ("aes_cmac", PrfId::AES128_CMAC),
    ("sha2", PrfId::HMAC_SHA2_256),
    ("sha256", PrfId::HMAC_SHA2_256),
    ("sha384", PrfId::HMAC_SHA2_384),
    ("sha512", PrfId::HMAC_SHA2_512),
    ("sha", PrfId::HMAC_SHA1),
    ("aes128_xcbc", PrfId::AES128_XCBC),
    ("aes128_cmac", PrfId::AES128_CMAC),
];

const INTEG_NAMES: &[(&str, IntegId)] = &[
    ("sha1", IntegId::HMAC_SHA1_96),
    ("sha2_256", IntegId::HMAC_SHA2_256_128),
    ("sha2_384", IntegId::HMAC_SHA2_384_192),
    ("sha2_512", IntegId::HMAC_SHA2_512_256),
    ("md5", IntegId::HMAC_MD5_96),
    ("aes_xcbc", IntegId::AES_XCBC_96),
    ("aes_cmac", IntegId::AES_CMAC_96),
    ("none", IntegId::NONE),
    ("sha2", IntegId::HMAC_SHA2_256_128),
    ("sha256", IntegId::HMAC_SHA2_256_128),
    ("sha384", IntegId::HMAC_SHA2_384_192),
    ("sha512", IntegId::HMAC_SHA2_512_256),
    ("sha", IntegId::HMAC_SHA1_96),
    ("aes_xcbc_96", IntegId::AES_XCBC_96),
    ("aes_cmac_96", IntegId::AES_CMAC_96),
    ("null", IntegId::NONE),
];

const KE_NAMES: &[(&str, KeId)] = &[
    ("dh19", KeId::ECP_256),
    ("dh20", KeId::ECP_384),
    ("dh21", KeId::ECP_521),
    ("dh31", KeId::CURVE25519),
    ("dh32", KeId::CURVE448),
    ("modp2048", KeId::MODP2048),
    ("modp3072", KeId::MODP3072),
    ("modp4096", KeId::MODP4096),
    ("modp6144", KeId::MODP6144),
    ("modp8192", KeId::MODP8192),
    ("modp1536", KeId::MODP1536),
    ("modp1024", KeId::MODP1024),
    ("ml_kem_512", KeId::ML_KEM_512),
    ("ml_kem_768", KeId::ML_KEM_768),
    ("ml_kem_1024", KeId::ML_KEM_1024),
    ("none", KeId::NONE),
    ("dh2", KeId::MODP1024),
    ("dh5", KeId::MODP1536),
    ("dh14", KeId::MODP2048),
    ("dh15", KeId::MODP3072),
    ("dh16", KeId::MODP4096),
    ("dh17", KeId::MODP6144),
    ("dh18", KeId::MODP8192),
    ("ecp256", KeId::ECP_256),
    ("ecp_256", KeId::ECP_256),
    ("ecp384", KeId::ECP_384),
    ("ecp_384", KeId::ECP_384),
    ("ecp521", KeId::ECP_521),
    ("ecp_521", KeId::ECP_521),
    ("curve25519", KeId::CURVE25519),
    ("x25519", KeId::CURVE25519),
    ("curve448", KeId::CURVE448),
    ("x448", KeId::CURVE448),
    ("mlkem512", KeId::ML_KEM_512),
    ("mlkem768", KeId::ML_KEM_768),
    ("mlkem1024", KeId::ML_KEM_1024),
];

fn lookup<T: Copy>(table: &[(&str, T)], name: &str) -> Option<T> {
    table
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|&(_, v)| v)
}

/// Strips an optional `hmac_` prefix so `hmac_sha2_256` finds `sha2_256`.
fn strip_hmac(name: &str) -> &str {
    match name.get(..5) {
        Some(p) if p.eq_ignore_ascii_case("hmac_") => &name[5..],
        _ => name,
    }
}

/// The libreswan names a slot accepts, for "expected one of ..." in errors.
pub fn encr_names() -> String {
    join_names(ENCR_NAMES.iter().map(|(n, _)| *n))
}

/// See [`encr_names`].
pub fn prf_names() -> String {
    join_names(PRF_NAMES.iter().map(|(n, _)| *n))
}

/// See [`encr_names`].
pub fn integ_names() -> String {
    join_names(INTEG_NAMES.iter().map(|(n, _)| *n))
}

/// See [`encr_names`].
pub fn ke_names() -> String {
    join_names(KE_NAMES.iter().map(|(n, _)| *n))
}

fn join_names<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let mut out = String::new();
    for n in names {
        if !out.is_empty() {
            out.push_str(", ");
        }
        out.push_str(n);
    }
    out
}

/// Why an encryption token did not resolve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncrLookupError {
    /// No cipher by that name.
    Unknown,
    /// The cipher exists but does not take that key length.
    BadKeyLength(EncrId),
}

/// Resolves an encryption token, with an optional key-length suffix (`aes128`,
/// `aes_256`, `aes_gcm_16_256`, `aes_gcm256`), to a cipher and key length.
pub fn lookup_encr(token: &str) -> Result<(EncrId, Option<u16>), EncrLookupError> {
    if let Some(id) = lookup(ENCR_NAMES, token).or_else(|| EncrId::from_name(token)) {
        return Ok((id, None));
    }
    // Split off trailing digits as the key length.
    let digits = token.bytes().rev().take_while(u8::is_ascii_digit).count();
    if digits == 0 || digits == token.len() {
        return Err(EncrLookupError::Unknown);
    }
    let (base, len) = token.split_at(token.len() - digits);
    let base = base.strip_suffix('_').unwrap_or(base);
    let id = lookup(ENCR_NAMES, base)
        .or_else(|| EncrId::from_name(base))
        .ok_or(EncrLookupError::Unknown)?;
    let keylen: u16 = len.parse().map_err(|_| EncrLookupError::BadKeyLength(id))?;
    if key_lengths(id).contains(&keylen) {
        Ok((id, Some(keylen)))
    } else {
        Err(EncrLookupError::BadKeyLength(id))
    }
}

/// Resolves a PRF token (`sha2_512`, `sha1`, `hmac_sha2_256`, `aes_xcbc`).
pub fn lookup_prf(token: &str) -> Option<PrfId> {
    lookup(PRF_NAMES, token)
        .or_else(|| lookup(PRF_NAMES, strip_hmac(token)))
        .or_else(|| PrfId::from_name(token))
}

/// Resolves an integrity token (`sha2_512`, `sha1`, `none`, `hmac_sha2_256_128`).
pub fn lookup_integ(token: &str) -> Option<IntegId> {
    if let Some(v) = lookup(INTEG_NAMES, token).or_else(|| IntegId::from_name(token)) {
        return Some(v);
    }
    let bare = strip_hmac(token);
    if let Some(v) = lookup(INTEG_NAMES, bare) {
        return Some(v);
    }
    // Truncated spellings without the `hmac_` prefix: `sha2_256_128`, `sha1_96`.
    IntegId::KNOWN.iter().copied().find(|i| {
        i.name()
            .is_some_and(|n| strip_hmac(n).eq_ignore_ascii_case(bare))
    })
}

/// Resolves a key exchange token (`dh19`, `modp2048`, `x25519`, `ml_kem_768`, `none`).
/// MODP768 (group 1) is refused: libreswan removed it and the crypto suite has none.
pub fn lookup_ke(token: &str) -> Option<KeId> {
    lookup(KE_NAMES, token)
        .or_else(|| KeId::from_name(token))
        .filter(|&k| k != KeId::MODP768)
}

/// AEAD ciphers carry their own integrity, so their proposals use integrity NONE.
pub fn is_aead(id: EncrId) -> bool {
    matches!(
        id,
        EncrId::AES_GCM_8
            | EncrId::AES_GCM_12
            | EncrId::AES_GCM_16
            | EncrId::AES_CCM_8
            | EncrId::AES_CCM_12
            | EncrId::AES_CCM_16
            | EncrId::CHACHA20_POLY1305
            | EncrId::NULL_AUTH_AES_GMAC
    )
}

/// Key lengths a cipher accepts in its Key Length attribute, strongest first; empty
/// for fixed-key ciphers, which must be sent without the attribute (RFC 7296 3.3.5).
pub fn key_lengths(id: EncrId) -> &'static [u16] {
    match id {
        EncrId::AES_CBC
        | EncrId::AES_CTR
        | EncrId::AES_GCM_8
        | EncrId::AES_GCM_12
        | EncrId::AES_GCM_16
        | EncrId::AES_CCM_8
        | EncrId::AES_CCM_12
        | EncrId::AES_CCM_16
        | EncrId::NULL_AUTH_AES_GMAC
        | EncrId::CAMELLIA_CBC => AES_KEY_LENGTHS,
        _ => &[],
    }
}

/// Key lengths to put on the wire for a configured `(cipher, length)`: the length
/// itself, or [`DEFAULT_KEY_LENGTHS`] for a variable-length cipher named without one.
pub fn wire_key_lengths(id: EncrId, keylen: Option<u16>) -> Vec<Option<u16>> {
    match keylen {
        Some(k) => vec![Some(k)],
        None if key_lengths(id).is_empty() => vec![None],
        None => DEFAULT_KEY_LENGTHS.iter().map(|&k| Some(k)).collect(),
    }
}

/// The integrity algorithm libreswan pairs with a PRF when `ike=` names only one hash.
pub fn integ_for_prf(prf: PrfId) -> Option<IntegId> {
    Some(match prf {
        PrfId::HMAC_MD5 => IntegId::HMAC_MD5_96,
        PrfId::HMAC_SHA1 => IntegId::HMAC_SHA1_96,
        PrfId::HMAC_SHA2_256 => IntegId::HMAC_SHA2_256_128,
        PrfId::HMAC_SHA2_384 => IntegId::HMAC_SHA2_384_192,
        PrfId::HMAC_SHA2_512 => IntegId::HMAC_SHA2_512_256,
        PrfId::AES128_XCBC => IntegId::AES_XCBC_96,
        PrfId::AES128_CMAC => IntegId::AES_CMAC_96,
        _ => return None,
    })
}

/// True for ML-KEM, which can only be an additional key exchange or the primary in
/// a hybrid-capable peer; kept here so version checks read as one line.
pub fn is_kem(ke: KeId) -> bool {
    matches!(ke, KeId::ML_KEM_512 | KeId::ML_KEM_768 | KeId::ML_KEM_1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encr_aliases_and_key_lengths() {
        assert_eq!(lookup_encr("aes"), Ok((EncrId::AES_CBC, None)));
        assert_eq!(lookup_encr("AES128"), Ok((EncrId::AES_CBC, Some(128))));
        assert_eq!(lookup_encr("aes_256"), Ok((EncrId::AES_CBC, Some(256))));
        assert_eq!(lookup_encr("aes_cbc_192"), Ok((EncrId::AES_CBC, Some(192))));
        assert_eq!(lookup_encr("aes_gcm"), Ok((EncrId::AES_GCM_16, None)));
        assert_eq!(
            lookup_encr("aes_gcm256"),
            Ok((EncrId::AES_GCM_16, Some(256)))
        );
        assert_eq!(
            lookup_encr("aes_gcm_16_256"),
            Ok((EncrId::AES_GCM_16, Some(256)))
        );
        assert_eq!(
            lookup_encr("aes_gcm_a_128"),
            Ok((EncrId::AES_GCM_8, Some(128)))
        );
        assert_eq!(lookup_encr("aes_gcm_b"), Ok((EncrId::AES_GCM_12, None)));
        assert_eq!(lookup_encr("AES_GCM_16"), Ok((EncrId::AES_GCM_16, None)));
        assert_eq!(lookup_encr("3des"), Ok((EncrId::TRIPLE_DES, None)));
        assert_eq!(
            lookup_encr("chacha20_poly1305"),
            Ok((EncrId::CHACHA20_POLY1305, None))
        );
        assert_eq!(
            lookup_encr("aes100"),
            Err(EncrLookupError::BadKeyLength(EncrId::AES_CBC))
        );
        assert_eq!(
            lookup_encr("3des168"),
            Err(EncrLookupError::BadKeyLength(EncrId::TRIPLE_DES))
        );
        assert_eq!(lookup_encr("blowfish"), Err(EncrLookupError::Unknown));
        assert_eq!(lookup_encr("128"), Err(EncrLookupError::Unknown));
        assert_eq!(
            lookup_encr("aes99999999999999999999"),
            Err(EncrLookupError::BadKeyLength(EncrId::AES_CBC))
        );
    }

    #[test]
    fn hash_aliases() {
        assert_eq!(lookup_prf("sha"), Some(PrfId::HMAC_SHA1));
        assert_eq!(lookup_prf("sha2"), Some(PrfId::HMAC_SHA2_256));
        assert_eq!(lookup_prf("hmac_sha2_512"), Some(PrfId::HMAC_SHA2_512));
        assert_eq!(lookup_prf("none"), None);
        assert_eq!(lookup_integ("sha1"), Some(IntegId::HMAC_SHA1_96));
        assert_eq!(lookup_integ("sha2_512"), Some(IntegId::HMAC_SHA2_512_256));
        assert_eq!(
            lookup_integ("HMAC_SHA2_256_128"),
            Some(IntegId::HMAC_SHA2_256_128)
        );
        assert_eq!(
            lookup_integ("sha2_256_128"),
            Some(IntegId::HMAC_SHA2_256_128)
        );
        assert_eq!(lookup_integ("none"), Some(IntegId::NONE));
        assert_eq!(lookup_integ("shaa1"), None);
    }

    #[test]
    fn ke_aliases() {
        assert_eq!(lookup_ke("dh19"), Some(KeId::ECP_256));
        assert_eq!(lookup_ke("ecp_256"), Some(KeId::ECP_256));
        assert_eq!(lookup_ke("DH19"), Some(KeId::ECP_256));
        assert_eq!(lookup_ke("modp2048"), Some(KeId::MODP2048));
        assert_eq!(lookup_ke("dh14"), Some(KeId::MODP2048));
        assert_eq!(lookup_ke("x25519"), Some(KeId::CURVE25519));
        assert_eq!(lookup_ke("curve25519"), Some(KeId::CURVE25519));
        assert_eq!(lookup_ke("ml_kem_768"), Some(KeId::ML_KEM_768));
        assert_eq!(lookup_ke("modp768"), None);
        assert_eq!(lookup_ke("dh1"), None);
    }

    #[test]
    fn properties() {
        assert!(is_aead(EncrId::AES_GCM_16));
        assert!(is_aead(EncrId::CHACHA20_POLY1305));
        assert!(!is_aead(EncrId::AES_CBC));
        assert_eq!(key_lengths(EncrId::CHACHA20_POLY1305), &[] as &[u16]);
        assert_eq!(
            wire_key_lengths(EncrId::AES_CBC, None),
            vec![Some(256), Some(128)]
        );
        assert_eq!(wire_key_lengths(EncrId::TRIPLE_DES, None), vec![None]);
        assert_eq!(
            integ_for_prf(PrfId::HMAC_SHA2_512),
            Some(IntegId::HMAC_SHA2_512_256)
        );
    }
}
