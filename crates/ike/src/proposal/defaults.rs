//! libreswan 5's built-in algorithm lists.
//!
//! A proposal string that leaves a component out gets it from here, and a connection
//! without `ike=`/`esp=`/`ah=` gets [`defaults`]: the default ciphers, each completed
//! with the default PRFs/integrity/groups. Values follow libreswan 5.x (non-FIPS):
//! IKEv2 IKE and ESP prefer AES-GCM-16, ChaCha20-Poly1305, then AES-CBC, with SHA2-512
//! before SHA2-256; IKEv1 keeps AES-CBC and 3DES with SHA1 still allowed.

use super::{IkeVersion, Proposal, ProposalKind, ProposalSet};
use crate::registry::{EncrId, EsnId, IntegId, KeId, PrfId, ProtocolId};

/// IKEv2 `ike=` ciphers when none are configured.
pub const IKEV2_IKE_ENCR: &[(EncrId, Option<u16>)] = &[
    (EncrId::AES_GCM_16, Some(256)),
    (EncrId::AES_GCM_16, Some(128)),
    (EncrId::CHACHA20_POLY1305, None),
    (EncrId::AES_CBC, Some(256)),
    (EncrId::AES_CBC, Some(128)),
];

/// IKEv2 `ike=` PRFs when a proposal names none.
pub const IKEV2_IKE_PRF: &[PrfId] = &[PrfId::HMAC_SHA2_512, PrfId::HMAC_SHA2_256];

/// IKEv2 `ike=` key exchange groups when a proposal names none.
pub const IKEV2_IKE_KE: &[KeId] = &[
    KeId::ECP_256,
    KeId::ECP_384,
    KeId::ECP_521,
    KeId::CURVE25519,
    KeId::MODP4096,
    KeId::MODP3072,
    KeId::MODP2048,
    KeId::MODP8192,
];

/// IKEv1 `ike=` ciphers when none are configured (AES without a length: 256 and 128).
pub const IKEV1_IKE_ENCR: &[(EncrId, Option<u16>)] =
    &[(EncrId::AES_CBC, None), (EncrId::TRIPLE_DES, None)];

/// IKEv1 `ike=` hashes (PRF and integrity together) when a proposal names none.
pub const IKEV1_IKE_PRF: &[PrfId] = &[PrfId::HMAC_SHA2_256, PrfId::HMAC_SHA2_512, PrfId::HMAC_SHA1];

/// IKEv1 `ike=` groups when a proposal names none.
pub const IKEV1_IKE_KE: &[KeId] = &[
    KeId::MODP2048,
    KeId::MODP1536,
    KeId::ECP_256,
    KeId::CURVE25519,
];

/// IKEv2 `esp=` ciphers when none are configured.
pub const IKEV2_ESP_ENCR: &[(EncrId, Option<u16>)] = IKEV2_IKE_ENCR;

/// IKEv2 `esp=` integrity for non-AEAD ciphers when a proposal names none.
pub const IKEV2_ESP_INTEG: &[IntegId] = &[IntegId::HMAC_SHA2_512_256, IntegId::HMAC_SHA2_256_128];

/// IKEv1 `esp=` ciphers when none are configured.
pub const IKEV1_ESP_ENCR: &[(EncrId, Option<u16>)] = &[
    (EncrId::AES_CBC, None),
    (EncrId::AES_GCM_16, Some(128)),
    (EncrId::AES_GCM_16, Some(256)),
    (EncrId::TRIPLE_DES, None),
];

/// IKEv1 `esp=` integrity for non-AEAD ciphers when a proposal names none.
pub const IKEV1_ESP_INTEG: &[IntegId] = &[
    IntegId::HMAC_SHA1_96,
    IntegId::HMAC_SHA2_512_256,
    IntegId::HMAC_SHA2_256_128,
];

/// ESN offered for ESP/AH: libreswan's `esn=either`, which prefers ESN when the peer
/// offers both. The connection narrows it for `esn=yes|no` or `replay-window=0`.
pub const CHILD_ESN: &[EsnId] = &[EsnId::YES, EsnId::NO];

/// Default PRFs for an IKE proposal that names none.
pub(super) fn prf(version: IkeVersion) -> &'static [PrfId] {
    match version {
        IkeVersion::V2 => IKEV2_IKE_PRF,
        IkeVersion::V1 => IKEV1_IKE_PRF,
    }
}

/// Default groups for an IKE proposal that names none.
pub(super) fn ike_ke(version: IkeVersion) -> &'static [KeId] {
    match version {
        IkeVersion::V2 => IKEV2_IKE_KE,
        IkeVersion::V1 => IKEV1_IKE_KE,
    }
}

/// Default integrity for a non-AEAD ESP/AH proposal that names none.
pub(super) fn child_integ(version: IkeVersion) -> &'static [IntegId] {
    match version {
        IkeVersion::V2 => IKEV2_ESP_INTEG,
        IkeVersion::V1 => IKEV1_ESP_INTEG,
    }
}

/// Default ESN list for a Child SA proposal (IKEv1 negotiates ESN as an attribute
/// the codec adds on request, so its proposals carry none).
pub(super) fn child_esn(version: IkeVersion) -> &'static [EsnId] {
    match version {
        IkeVersion::V2 => CHILD_ESN,
        IkeVersion::V1 => &[],
    }
}

/// Completes `p` with the default for every component left empty. `p.encr` must be
/// set already (or `p` is AH).
pub(super) fn complete(p: &mut Proposal, kind: ProposalKind) {
    let aead = p.is_aead();
    match kind.protocol {
        ProtocolId::IKE => {
            if p.prf.is_empty() {
                p.prf = prf(kind.version).to_vec();
            }
            if p.integ.is_empty() {
                p.integ = if aead {
                    vec![IntegId::NONE]
                } else {
                    let mut v = Vec::new();
                    for i in p.prf.iter().filter_map(|&x| super::alg::integ_for_prf(x)) {
                        if !v.contains(&i) {
                            v.push(i);
                        }
                    }
                    v
                };
            }
            if p.ke.is_empty() {
                p.ke = ike_ke(kind.version).to_vec();
            }
        }
        _ => {
            if p.integ.is_empty() {
                p.integ = if aead {
                    vec![IntegId::NONE]
                } else {
                    child_integ(kind.version).to_vec()
                };
            }
            if p.esn.is_empty() {
                p.esn = child_esn(kind.version).to_vec();
            }
        }
    }
}

/// The set a connection without `ike=`/`esp=`/`ah=` uses.
pub(super) fn defaults(kind: ProposalKind) -> ProposalSet {
    let encrs: &[(EncrId, Option<u16>)] = match (kind.version, kind.protocol) {
        (IkeVersion::V2, ProtocolId::IKE) => IKEV2_IKE_ENCR,
        (IkeVersion::V1, ProtocolId::IKE) => IKEV1_IKE_ENCR,
        (IkeVersion::V2, ProtocolId::ESP) => IKEV2_ESP_ENCR,
        (IkeVersion::V1, ProtocolId::ESP) => IKEV1_ESP_ENCR,
        _ => &[],
    };
    let proposals: Vec<Proposal> = if kind.protocol == ProtocolId::AH {
        // One proposal per integrity algorithm, as libreswan's AH default.
        child_integ(kind.version)
            .iter()
            .map(|&i| {
                let mut p = Proposal::new(ProtocolId::AH);
                p.integ.push(i);
                complete(&mut p, kind);
                p
            })
            .collect()
    } else {
        encrs
            .iter()
            .map(|&e| {
                let mut p = Proposal::new(kind.protocol);
                p.encr.push(e);
                complete(&mut p, kind);
                p
            })
            .collect()
    };
    ProposalSet {
        kind,
        proposals: proposals.into(),
        strict: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ikev2_ike_defaults_match_libreswan_5() {
        let set = defaults(ProposalKind::IKEV2_IKE);
        assert_eq!(
            set.to_string(),
            "AES_GCM_16_256-HMAC_SHA2_512+HMAC_SHA2_256-DH19+DH20+DH21+DH31+MODP4096+MODP3072+MODP2048+MODP8192, \
             AES_GCM_16_128-HMAC_SHA2_512+HMAC_SHA2_256-DH19+DH20+DH21+DH31+MODP4096+MODP3072+MODP2048+MODP8192, \
             CHACHA20_POLY1305-HMAC_SHA2_512+HMAC_SHA2_256-DH19+DH20+DH21+DH31+MODP4096+MODP3072+MODP2048+MODP8192, \
             AES_CBC_256-HMAC_SHA2_512+HMAC_SHA2_256-DH19+DH20+DH21+DH31+MODP4096+MODP3072+MODP2048+MODP8192, \
             AES_CBC_128-HMAC_SHA2_512+HMAC_SHA2_256-DH19+DH20+DH21+DH31+MODP4096+MODP3072+MODP2048+MODP8192"
        );
        let cbc = &set.proposals()[3];
        assert_eq!(
            cbc.integ,
            vec![IntegId::HMAC_SHA2_512_256, IntegId::HMAC_SHA2_256_128]
        );
        assert_eq!(set.proposals()[0].integ, vec![IntegId::NONE]);
    }

    #[test]
    fn ikev2_esp_defaults() {
        let set = defaults(ProposalKind::IKEV2_ESP);
        assert_eq!(
            set.to_string(),
            "AES_GCM_16_256, AES_GCM_16_128, CHACHA20_POLY1305, \
             AES_CBC_256-HMAC_SHA2_512_256+HMAC_SHA2_256_128, \
             AES_CBC_128-HMAC_SHA2_512_256+HMAC_SHA2_256_128"
        );
        assert!(set.proposals().iter().all(|p| p.esn == CHILD_ESN));
        assert!(set.proposals().iter().all(|p| p.ke.is_empty()));
    }

    #[test]
    fn ikev1_defaults() {
        let ike = defaults(ProposalKind::IKEV1_IKE);
        assert_eq!(
            ike.to_string(),
            "AES_CBC-HMAC_SHA2_256+HMAC_SHA2_512+HMAC_SHA1-MODP2048+MODP1536+DH19+DH31, \
             3DES-HMAC_SHA2_256+HMAC_SHA2_512+HMAC_SHA1-MODP2048+MODP1536+DH19+DH31"
        );
        let esp = defaults(ProposalKind::IKEV1_ESP);
        assert_eq!(
            esp.to_string(),
            "AES_CBC-HMAC_SHA1_96+HMAC_SHA2_512_256+HMAC_SHA2_256_128, AES_GCM_16_128, \
             AES_GCM_16_256, 3DES-HMAC_SHA1_96+HMAC_SHA2_512_256+HMAC_SHA2_256_128"
        );
        assert!(esp.proposals().iter().all(|p| p.esn.is_empty()));
    }

    #[test]
    fn ah_defaults() {
        let ah = defaults(ProposalKind::IKEV2_AH);
        assert_eq!(ah.to_string(), "HMAC_SHA2_512_256, HMAC_SHA2_256_128");
    }
}
