//! A connection's algorithm proposals: `ike=` for the IKE SA, `esp=` for its Child SAs
//! (ESP, or AH for `--authenticate` without `--encrypt`), with `pfs=`/`pfsgroup=`
//! applied.
//!
//! The strings are parsed by [`ike::proposal::ProposalSet::parse`] when the connection
//! is added, so a typo is reported by `whack --name ...` rather than at negotiation
//! time; what is not given comes from [`ProposalSet::defaults`]. The parsed sets are
//! what the IKE state machines offer and accept.
//!
//! PFS, as in libreswan: with `pfs=yes` (the default) a Child SA created after the IKE
//! SA (CREATE_CHILD_SA, IKEv1 Quick Mode) uses a key exchange: the group named in
//! `esp=`, else `pfsgroup=`, else the IKE SA's own group
//! ([`Proposals::child_with_pfs`]). The Child SA that IKE_AUTH creates never has
//! one (RFC 7296 1.2), whatever the proposals say. With `pfs=no`, groups named in
//! `esp=` or `pfsgroup=` are dropped with a warning.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, Weak};

use ike::proposal::{alg, IkeVersion as ProposalVersion, ProposalError, ProposalKind, ProposalSet};
use ike::registry::{KeId, ProtocolId};
use serde::{Deserialize, Serialize};

use crate::spec::IkeVersion;

/// Which option a proposal error is about, for the error message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProposalOption {
    /// `--ike` / `ike=`.
    Ike,
    /// `--esp` / `esp=` (also used for AH, as libreswan's `ah=` is the same option).
    Esp,
}

impl ProposalOption {
    /// The whack spelling, `--ike` or `--esp`.
    pub fn whack(self) -> &'static str {
        match self {
            ProposalOption::Ike => "--ike",
            ProposalOption::Esp => "--esp",
        }
    }
}

impl fmt::Display for ProposalOption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.whack())
    }
}

/// A proposal option that did not parse, or a `pfsgroup` that names no group.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProposalsError {
    /// `ike=` or `esp=` did not parse; the parser's message names the token and what
    /// was expected.
    #[error("{option}: {source}")]
    Parse {
        /// Which option.
        option: ProposalOption,
        /// The parser's error (its message starts with `ike="..."` / `esp="..."`).
        source: ProposalError,
    },
    /// `--pfsgroup` / `pfsgroup=` names a group libreswan removed.
    #[error("pfsgroup: group \"{0}\" (RFC 5114) is not supported (libreswan 4 removed it); use dh19, dh20, dh31 or modp2048 and above")]
    PfsGroupRemoved(String),
    /// `--pfsgroup` / `pfsgroup=` names no key exchange group.
    #[error("pfsgroup: unknown group \"{group}\"; expected one of {expected}")]
    PfsGroup {
        /// What was given.
        group: String,
        /// The accepted names.
        expected: String,
    },
}

/// Groups libreswan once accepted (and the whack manual lists) that it removed in
/// version 4: the RFC 5114 MODP groups with prime-order subgroups.
pub const REMOVED_GROUPS: &[&str] = &["dh22", "dh23", "dh24"];

/// The Child SA protocol a connection negotiates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ChildProtocol {
    /// ESP (`--encrypt`, `phase2=esp`).
    Esp,
    /// AH (`--authenticate` without `--encrypt`, `phase2=ah`).
    Ah,
}

impl ChildProtocol {
    /// libreswan's name, as in the `ESP algorithms:` status line.
    pub fn name(self) -> &'static str {
        match self {
            ChildProtocol::Esp => "ESP",
            ChildProtocol::Ah => "AH",
        }
    }

    fn protocol_id(self) -> ProtocolId {
        match self {
            ChildProtocol::Esp => ProtocolId::ESP,
            ChildProtocol::Ah => ProtocolId::AH,
        }
    }
}

/// What the proposals are derived from: the options as the user gave them. Kept so a
/// connection can be serialized as its configuration and rebuilt exactly.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ProposalConfig {
    /// IKE version: defaults and allowed algorithms differ.
    pub version: IkeVersion,
    /// `ike=`, `None` for the defaults.
    pub ike: Option<String>,
    /// `esp=`, `None` for the defaults.
    pub esp: Option<String>,
    /// ESP or AH.
    pub child: ChildProtocol,
    /// `pfs=`.
    pub pfs: bool,
    /// `pfsgroup=` as given.
    pub pfsgroup: Option<String>,
}

/// A connection's parsed proposals.
///
/// Connections with the same options share one parsed copy (see [`Proposals::new`]):
/// the default IKE and ESP sets alone take a few KiB, which a daemon holding 100,000
/// connections would otherwise pay for each of them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "ProposalConfig", into = "ProposalConfig")]
pub struct Proposals(Arc<Parsed>);

#[derive(Debug, PartialEq, Eq)]
struct Parsed {
    config: ProposalConfig,
    ike: ProposalSet,
    child: ProposalSet,
    pfs_group: Option<KeId>,
    warnings: Vec<String>,
}

/// The proposals parsed so far, by the options they came from, while some connection
/// still holds them. Parsing is deterministic, so a connection given the same options
/// as a loaded one gets that one's copy.
static PARSED: Mutex<Option<HashMap<ProposalConfig, Weak<Parsed>>>> = Mutex::new(None);

/// Entries of [`PARSED`] beyond which the ones no connection holds any more are
/// dropped (checked whenever the count doubles past it).
const PARSED_PRUNE: usize = 64;

fn version(v: IkeVersion) -> ProposalVersion {
    match v {
        IkeVersion::V1 => ProposalVersion::V1,
        IkeVersion::V2 => ProposalVersion::V2,
    }
}

/// `set` with every proposal's key exchange methods removed (for `pfs=no`).
fn without_ke(set: &ProposalSet) -> ProposalSet {
    let proposals = set
        .proposals()
        .iter()
        .cloned()
        .map(|mut p| {
            p.ke.clear();
            p.addke = Default::default();
            p
        })
        .collect();
    ProposalSet::from_proposals(set.kind(), proposals)
}

impl Proposals {
    /// Parses the options. Warnings (groups dropped because of `pfs=no`) are kept in
    /// [`Proposals::warnings`] for the connection to report.
    pub fn new(config: ProposalConfig) -> Result<Proposals, ProposalsError> {
        let mut cache = PARSED
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let map = cache.get_or_insert_with(HashMap::new);
        if let Some(p) = map.get(&config).and_then(Weak::upgrade) {
            return Ok(Proposals(p));
        }
        let parsed = Arc::new(Self::parse(config.clone())?);
        map.insert(config, Arc::downgrade(&parsed));
        if map.len() >= PARSED_PRUNE && map.len().is_power_of_two() {
            map.retain(|_, w| w.strong_count() > 0);
        }
        Ok(Proposals(parsed))
    }

    fn parse(config: ProposalConfig) -> Result<Parsed, ProposalsError> {
        let v = version(config.version);
        let ike_kind = ProposalKind::new(v, ProtocolId::IKE);
        let child_kind = ProposalKind::new(v, config.child.protocol_id());
        let ike = match &config.ike {
            Some(s) => ProposalSet::parse(s, ike_kind).map_err(|source| ProposalsError::Parse {
                option: ProposalOption::Ike,
                source,
            })?,
            None => ProposalSet::defaults(ike_kind),
        };
        let mut child = match &config.esp {
            Some(s) => {
                ProposalSet::parse(s, child_kind).map_err(|source| ProposalsError::Parse {
                    option: ProposalOption::Esp,
                    source,
                })?
            }
            None => ProposalSet::defaults(child_kind),
        };
        let pfs_group = match &config.pfsgroup {
            None => None,
            Some(g) if REMOVED_GROUPS.contains(&g.trim().to_ascii_lowercase().as_str()) => {
                return Err(ProposalsError::PfsGroupRemoved(g.clone()))
            }
            Some(g) => Some(
                alg::lookup_ke(g.trim())
                    .filter(|&k| k != KeId::NONE)
                    .ok_or_else(|| ProposalsError::PfsGroup {
                        group: g.clone(),
                        expected: alg::ke_names()
                            .split(", ")
                            .filter(|n| *n != "none")
                            .collect::<Vec<_>>()
                            .join(", "),
                    })?,
            ),
        };
        let mut warnings = Vec::new();
        if config.pfs {
            if let Some(g) = pfs_group {
                child = child.with_pfs(g);
            }
        } else {
            if pfs_group.is_some() {
                warnings.push("pfsgroup= is ignored because pfs=no".to_string());
            }
            if child.proposals().iter().any(|p| !p.ke.is_empty()) {
                warnings.push(format!(
                    "esp=\"{}\" names a key exchange but pfs=no; ignoring it (give pfs=yes to use it)",
                    config.esp.as_deref().unwrap_or_default()
                ));
                child = without_ke(&child);
            }
        }
        Ok(Parsed {
            ike,
            child,
            pfs_group: if config.pfs { pfs_group } else { None },
            config,
            warnings,
        })
    }

    /// The options these proposals were built from.
    pub fn config(&self) -> &ProposalConfig {
        &self.0.config
    }

    /// The IKE SA proposals (`ike=`), most preferred first.
    pub fn ike(&self) -> &ProposalSet {
        &self.0.ike
    }

    /// The Child SA proposals (`esp=`, with `pfsgroup=` applied). Their kind says ESP
    /// or AH. A Child SA created with IKE_AUTH uses these without a key exchange.
    pub fn child(&self) -> &ProposalSet {
        &self.0.child
    }

    /// ESP or AH.
    pub fn child_protocol(&self) -> ChildProtocol {
        self.0.config.child
    }

    /// The Child SA proposals for a CREATE_CHILD_SA exchange (or IKEv1 Quick Mode):
    /// with `pfs=yes`, proposals that name no group get the IKE SA's `ike_group`
    /// (when `pfsgroup=` did not already give them one); with `pfs=no`, the set as is,
    /// which names no group.
    pub fn child_with_pfs(&self, ike_group: KeId) -> ProposalSet {
        if self.0.config.pfs {
            self.0.child.with_pfs(ike_group)
        } else {
            self.0.child.clone()
        }
    }

    /// The group from `pfsgroup=`, when given (and `pfs=yes`).
    pub fn pfs_group(&self) -> Option<KeId> {
        self.0.pfs_group
    }

    /// Whether the IKE proposals were configured (`ike=`) rather than the defaults;
    /// libreswan shows `IKE algorithms:` only then.
    pub fn ike_configured(&self) -> bool {
        self.0.config.ike.is_some()
    }

    /// Whether the Child SA proposals differ from the defaults (`esp=` or a
    /// `pfsgroup=` applied); libreswan shows `ESP algorithms:` only then.
    pub fn child_configured(&self) -> bool {
        self.0.config.esp.is_some() || self.0.pfs_group.is_some()
    }

    /// Things the user should know about the accepted options.
    pub fn warnings(&self) -> &[String] {
        &self.0.warnings
    }
}

impl TryFrom<ProposalConfig> for Proposals {
    type Error = ProposalsError;

    fn try_from(c: ProposalConfig) -> Result<Self, Self::Error> {
        Proposals::new(c)
    }
}

impl From<Proposals> for ProposalConfig {
    fn from(p: Proposals) -> Self {
        p.0.config.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_options_share_one_parsed_copy() {
        let a = Proposals::new(config(Some("aes128-sha2"))).unwrap();
        let b = Proposals::new(config(Some("aes128-sha2"))).unwrap();
        assert!(Arc::ptr_eq(&a.0, &b.0));
        let c = Proposals::new(config(Some("aes256-sha2"))).unwrap();
        assert!(!Arc::ptr_eq(&a.0, &c.0));
        assert_ne!(a, c);
    }

    fn config(esp: Option<&str>) -> ProposalConfig {
        ProposalConfig {
            version: IkeVersion::V2,
            ike: None,
            esp: esp.map(str::to_string),
            child: ChildProtocol::Esp,
            pfs: true,
            pfsgroup: None,
        }
    }

    #[test]
    fn defaults_when_absent() {
        let p = Proposals::new(config(None)).unwrap();
        assert_eq!(p.ike(), &ProposalSet::defaults(ProposalKind::IKEV2_IKE));
        assert_eq!(p.child(), &ProposalSet::defaults(ProposalKind::IKEV2_ESP));
        assert!(!p.ike_configured() && !p.child_configured());
        assert!(p.warnings().is_empty());
    }

    #[test]
    fn kinds_follow_version_and_protocol() {
        let mut c = config(Some("sha2_256"));
        c.version = IkeVersion::V1;
        c.child = ChildProtocol::Ah;
        c.ike = Some("aes128-sha1-modp2048".into());
        let p = Proposals::new(c).unwrap();
        assert_eq!(p.ike().kind(), ProposalKind::IKEV1_IKE);
        assert_eq!(p.child().kind(), ProposalKind::IKEV1_AH);
        assert_eq!(p.child().to_string(), "HMAC_SHA2_256_128");
        assert_eq!(p.child_protocol().name(), "AH");
    }

    #[test]
    fn errors_name_the_option_and_keep_the_parser_message() {
        let mut c = config(None);
        c.ike = Some("aes-bogus".into());
        let e = Proposals::new(c).unwrap_err();
        let m = e.to_string();
        assert!(m.starts_with("--ike: ike=\"aes-bogus\": "), "{m}");
        assert!(m.contains("'bogus'"), "{m}");
        let e = Proposals::new(config(Some("aes-sha2-dh99"))).unwrap_err();
        assert!(
            matches!(
                &e,
                ProposalsError::Parse {
                    option: ProposalOption::Esp,
                    ..
                }
            ),
            "{e:?}"
        );
        assert!(e.to_string().starts_with("--esp: esp=\"aes-sha2-dh99\": "));
    }

    #[test]
    fn pfsgroup_is_added_to_proposals_without_a_group() {
        let mut c = config(Some("aes_gcm256,aes128-sha2_256-dh20"));
        c.pfsgroup = Some("dh19".into());
        let p = Proposals::new(c).unwrap();
        assert_eq!(p.pfs_group(), Some(KeId::ECP_256));
        let ps = p.child().proposals();
        assert_eq!(ps[0].ke, [KeId::ECP_256]);
        assert_eq!(ps[1].ke, [KeId::ECP_384]);
        assert!(p.child_configured());
        // CREATE_CHILD_SA: every proposal already has a group; the IKE group is unused.
        let rekey = p.child_with_pfs(KeId::MODP2048);
        assert_eq!(rekey.proposals()[0].ke, [KeId::ECP_256]);
    }

    #[test]
    fn pfs_uses_the_ike_group_for_create_child_sa() {
        let p = Proposals::new(config(Some("aes128-sha2_256"))).unwrap();
        assert!(p.child().proposals()[0].ke.is_empty());
        let rekey = p.child_with_pfs(KeId::CURVE25519);
        assert_eq!(rekey.proposals()[0].ke, [KeId::CURVE25519]);
    }

    #[test]
    fn pfs_no_drops_groups_with_a_warning() {
        let mut c = config(Some("aes128-sha2_256-dh19"));
        c.pfs = false;
        c.pfsgroup = Some("modp2048".into());
        let p = Proposals::new(c).unwrap();
        assert!(p.child().proposals().iter().all(|x| x.ke.is_empty()));
        assert_eq!(p.pfs_group(), None);
        assert_eq!(p.warnings().len(), 2, "{:?}", p.warnings());
        assert!(p
            .child_with_pfs(KeId::ECP_256)
            .proposals()
            .iter()
            .all(|x| x.ke.is_empty()));
    }

    #[test]
    fn unknown_pfsgroup_is_refused() {
        let mut c = config(None);
        c.pfsgroup = Some("modp999".into());
        let m = Proposals::new(c).unwrap_err().to_string();
        assert!(m.starts_with("pfsgroup: unknown group \"modp999\""), "{m}");
        assert!(m.contains("modp2048") && !m.contains(" none"), "{m}");
        let mut c = config(None);
        c.pfsgroup = Some("none".into());
        assert!(Proposals::new(c).is_err());
        let mut c = config(None);
        c.pfsgroup = Some("DH23".into());
        let m = Proposals::new(c).unwrap_err().to_string();
        assert!(m.contains("RFC 5114") && m.contains("not supported"), "{m}");
    }

    #[test]
    fn serializes_as_its_configuration() {
        let mut c = config(Some("aes_gcm256"));
        c.pfsgroup = Some("dh20".into());
        let p = Proposals::new(c.clone()).unwrap();
        let json = serde_json::to_string(&p).unwrap();
        let back: Proposals = serde_json::from_str(&json).unwrap();
        assert_eq!(back, p);
        let mut bad = serde_json::to_value(&c).unwrap();
        bad["esp"] = "nonsense".into();
        assert!(serde_json::from_value::<Proposals>(bad).is_err());
    }
}
