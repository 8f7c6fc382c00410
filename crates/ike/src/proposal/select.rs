//! Proposal matching: the responder's choice (RFC 7296 2.7, 3.3.6), the initiator's
//! check of the answer, and the KE payload group checks (RFC 7296 1.2, 3.10.1).

use core::fmt;

use super::{addke_index, addke_type, alg, Proposal, ProposalSet, Transform};
use crate::registry::{EncrId, EsnId, IntegId, KeId, NotifyType, PrfId, ProtocolId, TransformType};

/// A proposal as carried in an SA payload: its number, protocol and flat transform
/// list. The codec builds these from a received SA payload (SPI and attributes other
/// than Key Length stay with the codec) and turns [`ProposalSet::offer`] into one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireProposal {
    /// Proposal number (the first proposal is 1; IKEv2 answers echo the chosen one).
    pub number: u8,
    /// Protocol the proposal negotiates.
    pub protocol: ProtocolId,
    /// Offered transforms, in the order sent.
    pub transforms: Vec<Transform>,
}

/// The outcome of a negotiation: the peer's proposal number and one transform per
/// type. `None` for a type means no transform of that type is in the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chosen {
    /// The number of the proposal that was chosen.
    pub number: u8,
    /// Its protocol.
    pub protocol: ProtocolId,
    /// Cipher and key length.
    pub encr: Option<(EncrId, Option<u16>)>,
    /// PRF (IKE SAs).
    pub prf: Option<PrfId>,
    /// Integrity; `None` for AEAD when the peer sent no INTEG transform.
    pub integ: Option<IntegId>,
    /// Key exchange; `Some(KeId::NONE)` when the peer offered NONE and it was taken.
    pub ke: Option<KeId>,
    /// Additional key exchanges 1..7.
    pub addke: [Option<KeId>; 7],
    /// Extended sequence numbers.
    pub esn: Option<EsnId>,
}

/// libreswan's log form of a received proposal:
/// `1:IKE:ENCR=AES_GCM_16_256;PRF=HMAC_SHA2_512;KE=DH19`.
impl fmt::Display for WireProposal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.number, self.protocol)?;
        for (i, t) in self.transforms.iter().enumerate() {
            f.write_str(if i == 0 { ":" } else { ";" })?;
            write!(f, "{t}")?;
        }
        Ok(())
    }
}

/// libreswan's log form of an accepted proposal: `1:IKE=AES_GCM_16_256-HMAC_SHA2_512-DH19`.
impl fmt::Display for Chosen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}={}",
            self.number,
            self.protocol,
            self.to_proposal()
        )
    }
}

impl Chosen {
    /// The chosen transforms as a one-algorithm-per-type [`Proposal`], e.g. for
    /// `whack --status` or to record what an SA was negotiated with.
    pub fn to_proposal(&self) -> Proposal {
        let mut p = Proposal::new(self.protocol);
        p.encr.extend(self.encr);
        p.prf.extend(self.prf);
        p.integ.extend(self.integ);
        p.ke.extend(self.ke);
        p.esn.extend(self.esn);
        for (list, k) in p.addke.iter_mut().zip(self.addke) {
            list.extend(k);
        }
        p
    }

    fn empty(number: u8, protocol: ProtocolId) -> Self {
        Self {
            number,
            protocol,
            encr: None,
            prf: None,
            integ: None,
            ke: None,
            addke: [None; 7],
            esn: None,
        }
    }

    /// The transforms to send back in the responder's SA payload, one per type.
    pub fn transforms(&self) -> Vec<Transform> {
        let mut out = Vec::new();
        if let Some((id, k)) = self.encr {
            out.push(Transform::encr(id, k));
        }
        if let Some(p) = self.prf {
            out.push(Transform::new(TransformType::PRF, p.0));
        }
        if let Some(i) = self.integ {
            out.push(Transform::new(TransformType::INTEG, i.0));
        }
        if let Some(k) = self.ke {
            out.push(Transform::new(TransformType::KE, k.0));
        }
        if let Some(e) = self.esn {
            out.push(Transform::new(TransformType::ESN, e.0));
        }
        for (i, k) in self.addke.iter().enumerate() {
            if let Some(k) = k {
                out.push(Transform::new(addke_type(i), k.0));
            }
        }
        out
    }

    /// The answer as a proposal the codec can encode.
    pub fn to_wire(&self) -> WireProposal {
        WireProposal {
            number: self.number,
            protocol: self.protocol,
            transforms: self.transforms(),
        }
    }

    /// The key exchange group the KE payload must use, if one was negotiated.
    pub fn ke_group(&self) -> Option<KeId> {
        self.ke.filter(|&k| k != KeId::NONE)
    }

    /// Whether ESN was negotiated.
    pub fn esn_enabled(&self) -> bool {
        self.esn == Some(EsnId::YES)
    }
}

/// No proposal of the peer was acceptable; the responder answers NO_PROPOSAL_CHOSEN.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no acceptable proposal among the peer's {offered} (ours: {ours}); the peer needs to offer one of ours, answering NO_PROPOSAL_CHOSEN")]
pub struct NoProposalChosen {
    /// How many proposals the peer offered.
    pub offered: usize,
    /// Our proposals in canonical form, for the log line.
    pub ours: String,
}

impl NoProposalChosen {
    /// The notify to send.
    pub fn notify(&self) -> NotifyType {
        NotifyType::NO_PROPOSAL_CHOSEN
    }
}

/// A responder's answer the initiator must reject.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnswerError {
    /// IKEv2 answers carry exactly one proposal.
    #[error("responder returned {0} proposals; expected exactly one")]
    ProposalCount(usize),
    /// The number does not name a proposal we sent.
    #[error("responder chose proposal {0}, which we did not send")]
    UnknownNumber(u8),
    /// The protocol differs from the proposal we sent under that number.
    #[error("responder answered proposal {number} with protocol {got}; we offered {expected}")]
    WrongProtocol {
        /// Proposal number.
        number: u8,
        /// What came back.
        got: ProtocolId,
        /// What we sent.
        expected: ProtocolId,
    },
    /// More than one transform of a type.
    #[error("responder returned more than one {0} transform; expected one per type")]
    MultipleTransforms(TransformType),
    /// A transform we did not offer in that proposal.
    #[error("responder chose {0}, which we did not offer in that proposal")]
    NotOffered(Transform),
    /// A required type is missing.
    #[error("responder's answer has no {0} transform; we required one")]
    Missing(TransformType),
}

/// The group in the peer's KE payload is not the one the chosen proposal uses: the
/// responder answers INVALID_KE_PAYLOAD carrying [`InvalidKe::wanted`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("peer's KE payload uses {received} but the chosen proposal uses {wanted}; answering INVALID_KE_PAYLOAD suggesting {wanted}")]
pub struct InvalidKe {
    /// The group we want (sent in the notify).
    pub wanted: KeId,
    /// The group the peer used.
    pub received: KeId,
}

impl InvalidKe {
    /// The notify to send.
    pub fn notify(&self) -> NotifyType {
        NotifyType::INVALID_KE_PAYLOAD
    }

    /// The notification data: the wanted group as 2 octets (RFC 7296 3.10.1).
    pub fn notify_data(&self) -> [u8; 2] {
        self.wanted.0.to_be_bytes()
    }
}

/// Why an initiator cannot follow an INVALID_KE_PAYLOAD suggestion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeRetryError {
    /// The peer asked for the group we already used: it would loop.
    #[error("peer sent INVALID_KE_PAYLOAD suggesting {0}, the group we already sent; giving up")]
    SameGroup(KeId),
    /// The peer asked for a group we never proposed.
    #[error("peer sent INVALID_KE_PAYLOAD suggesting {0}, which we did not propose; add it to ike= to interoperate")]
    NotOffered(KeId),
}

/// Responder side of the KE check: the chosen proposal's group against the group of
/// the KE payload received.
pub fn check_ke_payload(chosen: &Chosen, received: KeId) -> Result<(), InvalidKe> {
    match chosen.ke_group() {
        Some(wanted) if wanted != received => Err(InvalidKe { wanted, received }),
        _ => Ok(()),
    }
}

/// Picks one value of a type. `none` is the value meaning "absent" for optional types
/// (INTEG NONE, KE NONE, ESN NO): a peer that omits the type is then acceptable when
/// we allow that value. `hint` is preferred when both sides have it.
fn choose<T: Copy + PartialEq>(
    ours: &[T],
    theirs: &[T],
    none: Option<T>,
    hint: Option<T>,
) -> Option<Option<T>> {
    if theirs.is_empty() {
        let ok = ours.is_empty() || none.is_some_and(|n| ours.contains(&n));
        return ok.then_some(None);
    }
    if let Some(h) = hint {
        if ours.contains(&h) && theirs.contains(&h) {
            return Some(Some(h));
        }
    }
    if let Some(&o) = ours.iter().find(|o| theirs.contains(o)) {
        return Some(Some(o));
    }
    match none {
        Some(n) if ours.is_empty() && theirs.contains(&n) => Some(Some(n)),
        _ => None,
    }
}

/// Matches one of our proposals against one of the peer's.
fn match_one(ours: &Proposal, peer: &WireProposal, ke_hint: Option<KeId>) -> Option<Chosen> {
    if peer.protocol != ours.protocol {
        return None;
    }
    let (theirs, unknown) = Proposal::from_transforms(peer.protocol, &peer.transforms);
    if !unknown.is_empty() {
        // RFC 7296 3.3.6: a proposal with a transform type we do not understand is
        // rejected as a whole.
        return None;
    }
    let mut c = Chosen::empty(peer.number, peer.protocol);
    c.encr = choose(&ours.wire_encr(), &theirs.encr, None, None)?;
    c.prf = choose(&ours.prf, &theirs.prf, None, None)?;
    c.integ = choose(&ours.integ, &theirs.integ, Some(IntegId::NONE), None)?;
    c.ke = choose(&ours.ke, &theirs.ke, Some(KeId::NONE), ke_hint)?;
    c.esn = choose(&ours.esn, &theirs.esn, Some(EsnId::NO), None)?;
    for i in 0..7 {
        let (o, t) = (ours.addke.get(i)?, theirs.addke.get(i)?);
        *c.addke.get_mut(i)? = choose(o, t, Some(KeId::NONE), None)?;
    }
    // An AEAD cipher must not be paired with a real integrity algorithm (RFC 5282 8).
    if c.encr.is_some_and(|(e, _)| alg::is_aead(e)) && c.integ.is_some_and(|i| i != IntegId::NONE) {
        return None;
    }
    Some(c)
}

/// The responder's choice: the first of OUR proposals (our preference order) that
/// some peer proposal satisfies, the peer's proposals tried in their order, with one
/// transform per type chosen by our preference. `ke_hint` is the group of the KE
/// payload that came with the SA: when acceptable it is chosen over our preference,
/// saving the INVALID_KE_PAYLOAD round trip.
pub fn select(
    ours: &ProposalSet,
    peer: &[WireProposal],
    ke_hint: Option<KeId>,
) -> Result<Chosen, NoProposalChosen> {
    for o in ours.proposals() {
        for p in peer {
            if let Some(c) = match_one(o, p, ke_hint) {
                tracing::debug!(
                    "proposal {c} chosen from remote proposals {}",
                    DisplayList(peer)
                );
                return Ok(c);
            }
        }
    }
    tracing::debug!(
        "no local proposal ({ours}) matches remote proposals {}",
        DisplayList(peer)
    );
    Err(NoProposalChosen {
        offered: peer.len(),
        ours: ours.to_string(),
    })
}

/// The initiator's check of the responder's SA payload: exactly one proposal, whose
/// number is one we sent (see [`ProposalSet::offer`]), with one transform per type,
/// each of which we offered in that proposal, and every type we required present.
pub fn check_answer(ours: &ProposalSet, answer: &[WireProposal]) -> Result<Chosen, AnswerError> {
    let [a] = answer else {
        return Err(AnswerError::ProposalCount(answer.len()));
    };
    let sent = usize::from(a.number)
        .checked_sub(1)
        .and_then(|i| ours.proposals().get(i))
        .ok_or(AnswerError::UnknownNumber(a.number))?;
    if sent.protocol != a.protocol {
        return Err(AnswerError::WrongProtocol {
            number: a.number,
            got: a.protocol,
            expected: sent.protocol,
        });
    }
    let mut c = Chosen::empty(a.number, a.protocol);
    let wire_encr = sent.wire_encr();
    for t in &a.transforms {
        let not_offered = AnswerError::NotOffered(*t);
        let dup = AnswerError::MultipleTransforms(t.ty);
        match t.ty {
            TransformType::ENCR => {
                let v = (EncrId(t.id), t.keylen);
                set_once(&mut c.encr, v, wire_encr.contains(&v), dup, not_offered)?;
            }
            TransformType::PRF => {
                let v = PrfId(t.id);
                set_once(&mut c.prf, v, sent.prf.contains(&v), dup, not_offered)?;
            }
            TransformType::INTEG => {
                let v = IntegId(t.id);
                set_once(&mut c.integ, v, sent.integ.contains(&v), dup, not_offered)?;
            }
            TransformType::KE => {
                let v = KeId(t.id);
                set_once(&mut c.ke, v, sent.ke.contains(&v), dup, not_offered)?;
            }
            TransformType::ESN => {
                let v = EsnId(t.id);
                set_once(&mut c.esn, v, sent.esn.contains(&v), dup, not_offered)?;
            }
            ty => {
                let i = addke_index(ty).ok_or(AnswerError::NotOffered(*t))?;
                let v = KeId(t.id);
                let offered = sent.addke.get(i).is_some_and(|l| l.contains(&v));
                let slot = c.addke.get_mut(i).ok_or(AnswerError::NotOffered(*t))?;
                set_once(slot, v, offered, dup, not_offered)?;
            }
        }
    }
    let required = |list_empty: bool, has_none: bool, got: bool, ty: TransformType| {
        if list_empty || has_none || got {
            Ok(())
        } else {
            Err(AnswerError::Missing(ty))
        }
    };
    required(
        sent.encr.is_empty(),
        false,
        c.encr.is_some(),
        TransformType::ENCR,
    )?;
    required(
        sent.prf.is_empty(),
        false,
        c.prf.is_some(),
        TransformType::PRF,
    )?;
    required(
        sent.integ.is_empty(),
        sent.integ.contains(&IntegId::NONE),
        c.integ.is_some(),
        TransformType::INTEG,
    )?;
    required(
        sent.ke.is_empty(),
        sent.ke.contains(&KeId::NONE),
        c.ke.is_some(),
        TransformType::KE,
    )?;
    required(
        sent.esn.is_empty(),
        sent.esn.contains(&EsnId::NO),
        c.esn.is_some(),
        TransformType::ESN,
    )?;
    for (i, list) in sent.addke.iter().enumerate() {
        let got = c.addke.get(i).is_some_and(Option::is_some);
        required(
            list.is_empty(),
            list.contains(&KeId::NONE),
            got,
            addke_type(i),
        )?;
    }
    Ok(c)
}

fn set_once<T>(
    slot: &mut Option<T>,
    v: T,
    offered: bool,
    dup: AnswerError,
    not_offered: AnswerError,
) -> Result<(), AnswerError> {
    if slot.is_some() {
        return Err(dup);
    }
    if !offered {
        return Err(not_offered);
    }
    *slot = Some(v);
    Ok(())
}

/// Space-separated list for log lines.
struct DisplayList<'a>(&'a [WireProposal]);

impl fmt::Display for DisplayList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}
