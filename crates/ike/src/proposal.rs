//! libreswan `ike=`/`esp=`/`ah=` proposal syntax, defaults and responder proposal matching.
//!
//! A [`ProposalSet`] is what a connection offers (as initiator) or accepts (as
//! responder), in preference order. It is independent of the wire codec: conversion
//! to and from SA payloads goes through the flat [`Transform`] list
//! ([`Proposal::transforms`], [`WireProposal`]).
//!
//! - [`ProposalSet::parse`] reads libreswan's syntax and fills whatever the string
//!   leaves out with libreswan 5's defaults; [`ProposalSet::defaults`] is what a
//!   connection without `ike=`/`esp=` uses.
//! - [`select`] is the responder's choice (RFC 7296 2.7, 3.3.6), [`check_answer`] the
//!   initiator's check of what came back, and the KE helpers decide which group goes
//!   in the KE payload and what INVALID_KE_PAYLOAD says.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod alg;
mod defaults;
mod parse;
mod select;

use core::fmt;

pub use parse::{ProposalError, ProposalErrorKind, Slot};
pub use select::{
    check_answer, check_ke_payload, select, AnswerError, Chosen, InvalidKe, KeRetryError,
    NoProposalChosen, WireProposal,
};

use crate::registry::{EncrId, EsnId, IntegId, KeId, PrfId, ProtocolId, TransformType};

/// Which IKE version a proposal set is for: defaults and allowed algorithms differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IkeVersion {
    /// IKEv1 (RFC 2409): one algorithm of each kind per proposal on the wire.
    V1,
    /// IKEv2 (RFC 7296).
    V2,
}

/// What a proposal string configures: the IKE SA itself, or ESP/AH Child SAs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProposalKind {
    /// IKE version the proposals are negotiated with.
    pub version: IkeVersion,
    /// [`ProtocolId::IKE`], [`ProtocolId::ESP`] or [`ProtocolId::AH`].
    pub protocol: ProtocolId,
}

impl ProposalKind {
    /// IKEv2 `ike=`.
    pub const IKEV2_IKE: Self = Self::new(IkeVersion::V2, ProtocolId::IKE);
    /// IKEv2 `esp=`.
    pub const IKEV2_ESP: Self = Self::new(IkeVersion::V2, ProtocolId::ESP);
    /// IKEv2 `ah=`.
    pub const IKEV2_AH: Self = Self::new(IkeVersion::V2, ProtocolId::AH);
    /// IKEv1 `ike=`.
    pub const IKEV1_IKE: Self = Self::new(IkeVersion::V1, ProtocolId::IKE);
    /// IKEv1 `esp=`.
    pub const IKEV1_ESP: Self = Self::new(IkeVersion::V1, ProtocolId::ESP);
    /// IKEv1 `ah=`.
    pub const IKEV1_AH: Self = Self::new(IkeVersion::V1, ProtocolId::AH);

    /// Every kind, for callers (the fuzz target) that pick one from a byte.
    pub const ALL: [Self; 6] = [
        Self::IKEV2_IKE,
        Self::IKEV2_ESP,
        Self::IKEV2_AH,
        Self::IKEV1_IKE,
        Self::IKEV1_ESP,
        Self::IKEV1_AH,
    ];

    /// A kind from its parts.
    pub const fn new(version: IkeVersion, protocol: ProtocolId) -> Self {
        Self { version, protocol }
    }

    /// The ipsec.conf keyword this kind is configured with, for error messages.
    pub fn param(self) -> &'static str {
        match self.protocol {
            ProtocolId::IKE => "ike",
            ProtocolId::ESP => "esp",
            ProtocolId::AH => "ah",
            _ => "proposal",
        }
    }
}

/// One transform as it appears on the wire: type, IANA id and optional Key Length
/// attribute (bits). The codec converts SA payload transforms to and from this.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Transform {
    /// Transform type (ENCR, PRF, INTEG, KE, ESN, ADDKE1..7).
    pub ty: TransformType,
    /// Transform id within its type's IANA registry.
    pub id: u16,
    /// Key Length attribute, only for variable-length ciphers.
    pub keylen: Option<u16>,
}

impl Transform {
    /// A transform without a Key Length attribute.
    pub fn new(ty: TransformType, id: u16) -> Self {
        Self {
            ty,
            id,
            keylen: None,
        }
    }

    /// An encryption transform.
    pub fn encr(id: EncrId, keylen: Option<u16>) -> Self {
        Self {
            ty: TransformType::ENCR,
            id: id.0,
            keylen,
        }
    }
}

impl fmt::Display for Transform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}=", self.ty)?;
        match self.ty {
            TransformType::ENCR => fmt_encr(f, EncrId(self.id), self.keylen),
            TransformType::PRF => write!(f, "{}", PrfId(self.id)),
            TransformType::INTEG => write!(f, "{}", IntegId(self.id)),
            TransformType::ESN => write!(f, "{}", EsnId(self.id)),
            t if addke_index(t).is_some() || t == TransformType::KE => {
                write!(f, "{}", KeId(self.id))
            }
            _ => write!(f, "{}", self.id),
        }
    }
}

/// The index (0..7) into [`Proposal::addke`] for an ADDKEn transform type.
pub fn addke_index(ty: TransformType) -> Option<usize> {
    (TransformType::ADDKE1.0..=TransformType::ADDKE7.0)
        .contains(&ty.0)
        .then(|| usize::from(ty.0 - TransformType::ADDKE1.0))
}

/// The ADDKEn transform type for index 0..7.
pub fn addke_type(index: usize) -> TransformType {
    // Indexes only ever come from iterating the 7-element array.
    TransformType(TransformType::ADDKE1.0 + (index.min(6) as u8))
}

fn fmt_encr(f: &mut fmt::Formatter<'_>, id: EncrId, keylen: Option<u16>) -> fmt::Result {
    match keylen {
        Some(k) => write!(f, "{id}_{k}"),
        None => write!(f, "{id}"),
    }
}

/// One proposal: for each transform type, the acceptable algorithms in preference
/// order. An empty list means the type is not part of the proposal.
///
/// Integrity for an AEAD cipher is `[IntegId::NONE]`; such a proposal puts no INTEG
/// transform on the wire (RFC 5282 8, RFC 7296 3.3.3 allow either).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proposal {
    /// Protocol this proposal negotiates.
    pub protocol: ProtocolId,
    /// Ciphers with their key length; `None` means the cipher's fixed key, or for a
    /// variable-length cipher "256 then 128" as libreswan offers.
    pub encr: Vec<(EncrId, Option<u16>)>,
    /// PRFs (IKE only).
    pub prf: Vec<PrfId>,
    /// Integrity algorithms.
    pub integ: Vec<IntegId>,
    /// Key exchange methods (DH groups). For ESP/AH empty unless `esp=` names one:
    /// PFS with the IKE SA's group is added by the connection ([`ProposalSet::with_pfs`]).
    pub ke: Vec<KeId>,
    /// Additional key exchanges 1..7 (RFC 9370), each a list like `ke`.
    pub addke: [Vec<KeId>; 7],
    /// Extended sequence numbers (ESP/AH only).
    pub esn: Vec<EsnId>,
}

impl Proposal {
    /// An empty proposal for `protocol`.
    pub fn new(protocol: ProtocolId) -> Self {
        Self {
            protocol,
            encr: Vec::new(),
            prf: Vec::new(),
            integ: Vec::new(),
            ke: Vec::new(),
            addke: Default::default(),
            esn: Vec::new(),
        }
    }

    /// True when the ciphers are AEAD (they are all-or-none: mixing is rejected).
    pub fn is_aead(&self) -> bool {
        self.encr.first().is_some_and(|&(e, _)| alg::is_aead(e))
    }

    /// The ciphers as offered on the wire: every `(id, keylen)` pair, a missing key
    /// length expanded to 256 then 128 for variable-length ciphers.
    pub fn wire_encr(&self) -> Vec<(EncrId, Option<u16>)> {
        let mut out = Vec::new();
        for &(id, k) in &self.encr {
            for k in alg::wire_key_lengths(id, k) {
                if !out.contains(&(id, k)) {
                    out.push((id, k));
                }
            }
        }
        out
    }

    /// The flat transform list this proposal puts in an SA payload, in preference
    /// order within each type (ENCR, PRF, INTEG, KE, ESN, ADDKE1..7).
    pub fn transforms(&self) -> Vec<Transform> {
        let mut out: Vec<Transform> = self
            .wire_encr()
            .into_iter()
            .map(|(id, k)| Transform::encr(id, k))
            .collect();
        out.extend(
            self.prf
                .iter()
                .map(|p| Transform::new(TransformType::PRF, p.0)),
        );
        let integ_is_none = self.integ.iter().all(|&i| i == IntegId::NONE);
        if !(integ_is_none && self.is_aead()) {
            out.extend(
                self.integ
                    .iter()
                    .map(|i| Transform::new(TransformType::INTEG, i.0)),
            );
        }
        out.extend(
            self.ke
                .iter()
                .map(|k| Transform::new(TransformType::KE, k.0)),
        );
        out.extend(
            self.esn
                .iter()
                .map(|e| Transform::new(TransformType::ESN, e.0)),
        );
        for (i, list) in self.addke.iter().enumerate() {
            out.extend(list.iter().map(|k| Transform::new(addke_type(i), k.0)));
        }
        out
    }

    /// Rebuilds a proposal from a flat transform list (e.g. one a peer sent).
    /// Transforms of unknown type are returned separately rather than dropped, so the
    /// caller can reject the proposal as RFC 7296 3.3.6 requires.
    pub fn from_transforms(
        protocol: ProtocolId,
        transforms: &[Transform],
    ) -> (Self, Vec<Transform>) {
        let mut p = Self::new(protocol);
        let mut unknown = Vec::new();
        for t in transforms {
            match t.ty {
                TransformType::ENCR => p.encr.push((EncrId(t.id), t.keylen)),
                TransformType::PRF => p.prf.push(PrfId(t.id)),
                TransformType::INTEG => p.integ.push(IntegId(t.id)),
                TransformType::KE => p.ke.push(KeId(t.id)),
                TransformType::ESN => p.esn.push(EsnId(t.id)),
                ty => match addke_index(ty).and_then(|i| p.addke.get_mut(i)) {
                    Some(list) => list.push(KeId(t.id)),
                    None => unknown.push(*t),
                },
            }
        }
        (p, unknown)
    }

    /// True when the integrity list is what libreswan derives from the PRFs (or NONE
    /// for AEAD), so the canonical form can leave it out.
    fn integ_is_implied(&self) -> bool {
        if self.is_aead() {
            return self.integ == [IntegId::NONE];
        }
        let mut derived: Vec<IntegId> = Vec::new();
        for p in &self.prf {
            match alg::integ_for_prf(*p) {
                Some(i) if !derived.contains(&i) => derived.push(i),
                Some(_) => {}
                None => return false,
            }
        }
        derived == self.integ
    }
}

fn join<T, F>(f: &mut fmt::Formatter<'_>, items: &[T], mut each: F) -> fmt::Result
where
    F: FnMut(&mut fmt::Formatter<'_>, &T) -> fmt::Result,
{
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_str("+")?;
        }
        each(f, item)?;
    }
    Ok(())
}

/// libreswan's canonical form, as `whack --status` shows it:
/// `AES_GCM_16_256-HMAC_SHA2_512+HMAC_SHA2_256-DH19+DH31` for IKE,
/// `AES_CBC_128-HMAC_SHA2_256_128` for ESP, `HMAC_SHA2_256_128` for AH. The output
/// parses back to the same proposal.
impl fmt::Display for Proposal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        let ike = self.protocol == ProtocolId::IKE;
        if !self.encr.is_empty() {
            sep(f, &mut first)?;
            join(f, &self.encr, |f, &(id, k)| fmt_encr(f, id, k))?;
        }
        let show_integ = !self.integ.is_empty()
            && if ike {
                !self.integ_is_implied()
            } else {
                !(self.is_aead() && self.integ == [IntegId::NONE])
            };
        if show_integ {
            sep(f, &mut first)?;
            join(f, &self.integ, |f, i| write!(f, "{i}"))?;
        }
        if !self.prf.is_empty() {
            sep(f, &mut first)?;
            join(f, &self.prf, |f, p| write!(f, "{p}"))?;
        }
        if !self.ke.is_empty() {
            if ike || show_integ || self.encr.is_empty() {
                sep(f, &mut first)?;
            } else {
                // `esp=aes_gcm-dh19` would read the group as integrity; use `;`.
                f.write_str(";")?;
            }
            join(f, &self.ke, |f, k| write!(f, "{k}"))?;
        }
        for (i, list) in self.addke.iter().enumerate() {
            if !list.is_empty() {
                write!(f, ";ADDKE{}=", i + 1)?;
                join(f, list, |f, k| write!(f, "{k}"))?;
            }
        }
        Ok(())
    }
}

fn sep(f: &mut fmt::Formatter<'_>, first: &mut bool) -> fmt::Result {
    if core::mem::replace(first, false) {
        Ok(())
    } else {
        f.write_str("-")
    }
}

/// A connection's proposals for one kind, in preference order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProposalSet {
    kind: ProposalKind,
    /// Shared: every IKE SA's connection holds its set, and a template's road
    /// warriors would otherwise each carry a copy of the same list.
    proposals: std::sync::Arc<[Proposal]>,
    strict: bool,
}

impl ProposalSet {
    /// Parses libreswan's `ike=`/`esp=`/`ah=` syntax, filling what the string leaves
    /// out with libreswan 5's defaults. Never panics, whatever the input.
    ///
    /// A trailing `!` marks the set strict. libreswan 5 treats every explicit list
    /// as strict (only the listed proposals are offered and accepted, defaults are
    /// never appended), and so does this: the flag is kept for `--status` output.
    pub fn parse(input: &str, kind: ProposalKind) -> Result<Self, ProposalError> {
        parse::parse(input, kind)
    }

    /// libreswan 5's built-in proposals for a connection that sets no `ike=`/`esp=`/`ah=`.
    pub fn defaults(kind: ProposalKind) -> Self {
        defaults::defaults(kind)
    }

    /// Builds a set from proposals made elsewhere (tests, the control socket).
    pub fn from_proposals(kind: ProposalKind, proposals: Vec<Proposal>) -> Self {
        Self {
            kind,
            proposals: proposals.into(),
            strict: true,
        }
    }

    /// What this set configures.
    pub fn kind(&self) -> ProposalKind {
        self.kind
    }

    /// The proposals, most preferred first.
    pub fn proposals(&self) -> &[Proposal] {
        &self.proposals
    }

    /// Whether the string ended in `!`.
    pub fn is_strict(&self) -> bool {
        self.strict
    }

    /// The proposals numbered as an initiator sends them (1, 2, ...).
    pub fn offer(&self) -> Vec<WireProposal> {
        self.proposals
            .iter()
            .enumerate()
            .map(|(i, p)| WireProposal {
                number: u8::try_from(i + 1).unwrap_or(u8::MAX),
                protocol: p.protocol,
                transforms: p.transforms(),
            })
            .collect()
    }

    /// IKEv1 puts one algorithm of each kind in a proposal: the cross product of
    /// every proposal's lists, in preference order (cipher, then hash/integrity,
    /// then group).
    pub fn ikev1_expanded(&self) -> Vec<Proposal> {
        let mut out = Vec::new();
        for p in self.proposals.iter() {
            let encrs = if p.encr.is_empty() {
                vec![None]
            } else {
                p.wire_encr().into_iter().map(Some).collect()
            };
            let integs: Vec<(Option<PrfId>, Option<IntegId>)> = if !p.prf.is_empty() {
                p.prf
                    .iter()
                    .map(|&prf| (Some(prf), alg::integ_for_prf(prf)))
                    .collect()
            } else if p.integ.is_empty() {
                vec![(None, None)]
            } else {
                p.integ.iter().map(|&i| (None, Some(i))).collect()
            };
            let kes = if p.ke.is_empty() {
                vec![None]
            } else {
                p.ke.iter().copied().map(Some).collect()
            };
            for e in &encrs {
                for (prf, integ) in &integs {
                    for ke in &kes {
                        let mut q = Proposal::new(p.protocol);
                        q.encr.extend(e.iter().copied());
                        q.prf.extend(prf.iter().copied());
                        q.integ.extend(integ.iter().copied());
                        q.ke.extend(ke.iter().copied());
                        q.esn = p.esn.clone();
                        out.push(q);
                    }
                }
            }
        }
        out
    }

    /// For a Child SA with PFS: proposals that name no key exchange get the IKE SA's
    /// group, as libreswan does ("each PROPOSAL will automatically include the DH
    /// algorithm negotiated during the IKE exchange").
    pub fn with_pfs(&self, ike_group: KeId) -> Self {
        let mut proposals = self.proposals.to_vec();
        for p in &mut proposals {
            if p.ke.is_empty() {
                p.ke.push(ike_group);
            }
        }
        Self {
            kind: self.kind,
            proposals: proposals.into(),
            strict: self.strict,
        }
    }

    /// The group an IKEv2 initiator puts in its first KE payload: the first group of
    /// the most preferred proposal.
    pub fn initial_ke(&self) -> Option<KeId> {
        self.proposals
            .iter()
            .flat_map(|p| p.ke.iter())
            .copied()
            .find(|&k| k != KeId::NONE)
    }

    /// Whether any proposal offers `group` as its key exchange.
    pub fn accepts_ke(&self, group: KeId) -> bool {
        group != KeId::NONE && self.proposals.iter().any(|p| p.ke.contains(&group))
    }

    /// The initiator's answer to INVALID_KE_PAYLOAD naming `suggested`: retry with it
    /// if we offered it and it differs from what we sent (`sent`), else give up.
    pub fn retry_ke(&self, sent: KeId, suggested: KeId) -> Result<KeId, KeRetryError> {
        if suggested == sent {
            return Err(KeRetryError::SameGroup(sent));
        }
        if !self.accepts_ke(suggested) {
            return Err(KeRetryError::NotOffered(suggested));
        }
        Ok(suggested)
    }
}

/// `AES_GCM_16_256-HMAC_SHA2_512-DH19, AES_CBC_256-...`: proposals separated by ", ".
impl fmt::Display for ProposalSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.proposals.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}
