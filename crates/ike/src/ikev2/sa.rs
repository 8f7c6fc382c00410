//! The IKE SA record: keys, message IDs, the outstanding request and its
//! retransmission, the cached response, and the Child SAs it owns. Also the shared
//! plumbing the exchange modules use: sealing and opening SK payloads, conversions
//! between the codec's and the proposal/TS modules' types.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::codec::v2::{
    decode_chain, encode_chain, encode_encrypted_prefix, AddressRange, Flags, FragmentInfo, Header,
    Message, Payload, Proposal as WireSa, SecurityAssociation, TrafficSelector as WireTs,
    TrafficSelectors, Transform as CodecTransform, TransformId, HEADER_LEN, PAYLOAD_HEADER_LEN,
    SKF_HEADER_LEN,
};
use crate::codec::Spi;
use crate::crypto::{
    ikev2::Role, IkeSaKeys, IkeSuite, KeyExchange, RandomSource, SecretBytes, SkCipher,
};
use crate::proposal::{Chosen, Transform, WireProposal};
use crate::registry::{ExchangeType, KeId, NotifyType, PayloadType, ProtocolId};
use crate::ts::TrafficSelector;

use super::config::{Connection, EndpointConfig, Identity, Mode};
use super::output::{Event, Progress, Rc, SaSerial, TimerKind, Transmit};
use super::Error;

/// RFC 7296 2.10: a nonce is at least 16 octets (and at least half the PRF key
/// size, which all our PRFs meet at 16) and at most 256 octets.
pub(crate) fn nonce_len_ok(nonce: &[u8]) -> bool {
    (16..=256).contains(&nonce.len())
}

/// Where an IKE SA is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IkeState {
    /// Initiator: IKE_SA_INIT request sent.
    InitSent,
    /// Initiator: IKE_AUTH request sent.
    AuthSent,
    /// Responder: IKE_SA_INIT answered, waiting for IKE_AUTH (half-open).
    HalfOpen,
    /// Authenticated.
    Established,
    /// Our Delete of the IKE SA is outstanding.
    Deleting,
    /// Gone (reported as deleted) but kept briefly to answer retransmissions of the
    /// request that ended it.
    Dying,
}

/// A request this end sent and has not had answered.
#[derive(Debug)]
pub(crate) struct Outstanding {
    pub msgid: u32,
    pub exchange: ExchangeType,
    pub kind: RequestKind,
    /// The datagrams (without non-ESP marker), resent as they are.
    pub message: Vec<Vec<u8>>,
    pub first_sent: Instant,
    pub next_at: Instant,
    pub interval: Duration,
    pub retransmits: u32,
}

/// What an outstanding or queued request is for, so its response can be handled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RequestKind {
    IkeSaInit,
    IkeAuth,
    DeleteIke,
    /// Our inbound SPIs being deleted.
    DeleteChild(Vec<u32>),
    Liveness,
    /// Rekey of the Child SA with this serial (state in
    /// `IkeSa::pending_create_child` once sent).
    RekeyChild(SaSerial),
    /// An additional Child SA, to get this serial (RFC 7296 1.3.1; state in
    /// `IkeSa::pending_create_child` once sent).
    NewChild(SaSerial),
    /// Rekey of this IKE SA (state in `IkeSa::pending_ike_rekey`).
    RekeyIke,
}

/// Most fragments accepted for one message.
const MAX_FRAGMENTS: u16 = 32;
/// Smallest plaintext per fragment, whatever the configured size.
const MIN_FRAGMENT_PLAINTEXT: usize = 64;

/// A message arriving in SKF fragments (RFC 7383 2.6): decrypted parts by number.
#[derive(Debug)]
pub(crate) struct Reassembly {
    pub msgid: u32,
    pub response: bool,
    pub total: u16,
    pub first_inner: PayloadType,
    pub parts: Vec<Option<Vec<u8>>>,
}

/// A Child SA the IKE SA owns.
#[derive(Debug, Clone)]
pub(crate) struct ChildSa {
    pub serial: SaSerial,
    pub inbound_spi: u32,
    pub outbound_spi: u32,
    pub local_ts: Vec<TrafficSelector>,
    pub remote_ts: Vec<TrafficSelector>,
    /// Set while the kernel has not confirmed the install (with
    /// `EndpointConfig::confirm_child_installs`): what to announce once it does.
    pub unconfirmed: Option<Box<Unconfirmed>>,
    /// The peer rekeyed this Child SA (we answered its CREATE_CHILD_SA): the new
    /// Child SA and the lowest nonce of that exchange, to settle a simultaneous
    /// rekey (RFC 7296 2.8.1) and to not rekey it a second time.
    pub rekeyed_by_peer: Option<(SaSerial, Vec<u8>)>,
    /// When the core starts its rekey (`None`: never, e.g. `--dontrekey`, already
    /// replaced, or superseded by a newer Child SA).
    pub rekey_at: Option<Instant>,
    /// The end of its lifetime: deleted with the peer then.
    pub expires_at: Option<Instant>,
    /// Rekeys of it that failed so far (spaces the retries).
    pub rekey_failures: u32,
}

impl ChildSa {
    /// A Child SA just installed at `now`, with its lifetime timers armed.
    /// `created_by_us`: we sent the request that created it (IKE_AUTH or
    /// CREATE_CHILD_SA), so it rekeys at the full margin, otherwise at half of it.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        ctx: &Ctx<'_>,
        conn: &Connection,
        serial: SaSerial,
        inbound_spi: u32,
        outbound_spi: u32,
        local_ts: Vec<TrafficSelector>,
        remote_ts: Vec<TrafficSelector>,
        created_by_us: bool,
    ) -> Self {
        let lifetime = conn.child_lifetime;
        // Kept for the Child SA's life: without the spare room they were built with.
        let (mut local_ts, mut remote_ts) = (local_ts, remote_ts);
        local_ts.shrink_to_fit();
        remote_ts.shrink_to_fit();
        ChildSa {
            serial,
            inbound_spi,
            outbound_spi,
            local_ts,
            remote_ts,
            unconfirmed: None,
            rekeyed_by_peer: None,
            rekey_at: rekey_time(ctx, conn, lifetime, created_by_us),
            expires_at: Some(later(ctx.now, lifetime)),
            rekey_failures: 0,
        }
    }
}

/// The margin an SA of `lifetime` rekeys at: `rekeymargin=`, or half the lifetime
/// when the margin is not below it (the conn crate reduces it the same way).
fn effective_margin(margin: Duration, lifetime: Duration) -> Duration {
    if margin >= lifetime {
        lifetime / 2
    } else {
        margin
    }
}

/// When an SA of `lifetime` that starts now rekeys (the manual's "Rekeying"):
/// the initiator of the SA at margin + random(0..=fuzz% of margin) before the
/// end, the responder at half the margin before it. `None` with `--dontrekey`.
/// The lead never exceeds nine tenths of the lifetime, so a short lifetime with a
/// large fuzz cannot rekey in a loop.
pub(crate) fn rekey_time(
    ctx: &Ctx<'_>,
    conn: &Connection,
    lifetime: Duration,
    we_initiated: bool,
) -> Option<Instant> {
    if !conn.rekey {
        return None;
    }
    let margin = effective_margin(conn.rekey_margin, lifetime);
    let lead = if we_initiated {
        margin + fuzz(ctx.rng, margin, conn.rekey_fuzz_percent)
    } else {
        margin / 2
    };
    let lead = lead.min(lifetime.mul_f64(0.9));
    Some(later(ctx.now, lifetime.saturating_sub(lead)))
}

/// A random duration in 0..=`percent`% of `margin`, in milliseconds, from the
/// endpoint's random source (deterministic in tests). No randomness, no fuzz.
fn fuzz(rng: &dyn RandomSource, margin: Duration, percent: u32) -> Duration {
    let max_ms = u64::try_from(margin.as_millis())
        .unwrap_or(u64::MAX)
        .saturating_mul(u64::from(percent))
        / 100;
    if max_ms == 0 {
        return Duration::ZERO;
    }
    let mut b = [0u8; 8];
    if rng.fill(&mut b).is_err() {
        return Duration::ZERO;
    }
    let r = u64::from_be_bytes(b) % max_ms.saturating_add(1);
    Duration::from_millis(r)
}

/// When to retry a rekey that failed for the `failures`-th time, or `None` when
/// no retry fits before `expires`: after 10 s, doubling with each failure, but at
/// most half of the lifetime left (and at least a second), so that the retries
/// come before the SA ends and a working SA is never torn down early.
pub(crate) fn retry_time(now: Instant, expires: Option<Instant>, failures: u32) -> Option<Instant> {
    let backoff =
        Duration::from_secs(10).saturating_mul(1u32 << failures.saturating_sub(1).min(16));
    let left = expires.map_or(backoff * 2, |e| e.saturating_duration_since(now));
    let wait = backoff.min(left / 2).max(Duration::from_secs(1));
    (wait < left).then(|| later(now, wait))
}

/// The announcement of a Child SA held back until the kernel accepted it.
#[derive(Debug, Clone)]
pub(crate) struct Unconfirmed {
    /// libreswan's "initiator established Child SA ..." line.
    pub text: String,
    /// The Child SA this one replaces in a rekey we initiated: uninstalled and
    /// deleted with the peer only once the new one is in the kernel.
    pub retire: Option<SaSerial>,
}

/// A responder's answer to an IKE_AUTH or CREATE_CHILD_SA request that created a
/// Child SA, waiting for the kernel to take that Child SA: sent as it is once the
/// daemon confirms the install; on failure `refused` plus a notify goes instead.
#[derive(Debug, Clone)]
pub(crate) struct HeldResponse {
    /// The request being answered: its message ID and bytes (for retransmissions).
    pub msgid: u32,
    pub request: Vec<u8>,
    pub exchange: ExchangeType,
    /// The Child SA whose install decides the answer.
    pub child: SaSerial,
    /// The payloads of the answer with the Child SA.
    pub accepted: Vec<Payload>,
    /// The payloads of the answer without it (IDr and AUTH in IKE_AUTH), to which
    /// the failure notify is appended.
    pub refused: Vec<Payload>,
}

/// The Child SA an initiator proposed in IKE_AUTH.
#[derive(Debug, Clone)]
pub(crate) struct PendingChild {
    pub serial: SaSerial,
    pub inbound_spi: u32,
    pub tsi: Vec<TrafficSelector>,
    pub tsr: Vec<TrafficSelector>,
}

/// A CREATE_CHILD_SA request for a Child SA we sent, waiting for its response:
/// a rekey of Child SA `old` (RFC 7296 1.3.3) or, without `old`, an additional
/// Child SA (1.3.1).
pub(crate) struct PendingCreateChild {
    pub old: Option<SaSerial>,
    pub serial: SaSerial,
    pub inbound_spi: u32,
    pub ni: Vec<u8>,
    pub ke: Option<KeyExchange>,
    pub ke_group: KeId,
    pub proposals: crate::proposal::ProposalSet,
    pub tsi: Vec<TrafficSelector>,
    pub tsr: Vec<TrafficSelector>,
    pub ke_retried: bool,
}

/// A rekey of the IKE SA we initiated (RFC 7296 1.3.2).
pub(crate) struct PendingIkeRekey {
    pub spi_i: [u8; 8],
    pub ni: Vec<u8>,
    pub ke: KeyExchange,
    pub group: KeId,
    pub retried: bool,
}

/// The part of an IKE SA that only IKE_SA_INIT and IKE_AUTH use. Kept in its own
/// box so that an established SA (which a gateway holds by the hundred thousand)
/// carries neither the bytes nor the room for it: it is created by the first
/// [`IkeSa::hs_mut`] and dropped by [`IkeSa::trim`] once IKE_AUTH has
/// succeeded; a failed one ends the SA. An IKE SA made by a rekey never has one.
#[derive(Default)]
pub(crate) struct Handshake {
    pub ni: Nonce,
    pub nr: Nonce,
    /// Our key exchange until the peer's public value arrives (initiator only,
    /// hence boxed: a responder's handshake part has no room for it).
    pub ke: Option<Box<KeyExchange>>,
    pub cookie: Option<Vec<u8>>,
    pub cookie_retries: u32,
    pub ke_retries: u32,
    /// The IKE_SA_INIT request and response as sent/received: AUTH signs them.
    pub init_request: Vec<u8>,
    pub init_response: Vec<u8>,
    /// The pre-shared key IKE_AUTH authenticates with (zeroized on drop).
    pub psk: Option<SecretBytes>,
    /// The compute job this SA waits for (see `compute`): while set, messages for
    /// the SA are dropped (the peer retransmits) and only its result moves it on.
    /// Only an SA in IKE_SA_INIT has one, so it lives here, not in the record.
    pub computing: Option<super::compute::ComputeId>,
}

/// A request as much as retransmission detection needs of it: 16 octets of its
/// SHA-256 instead of the message (an IKE_AUTH request is some 400 octets, kept
/// for the life of the SA). A different request with the same message ID would
/// have to collide in 128 bits to be taken for a retransmission, and even then
/// it would only get the cached response again.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RequestDigest(Option<[u8; 16]>);

impl RequestDigest {
    pub fn of(request: &[u8]) -> Self {
        let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, request);
        let mut out = [0u8; 16];
        out.copy_from_slice(&d.as_ref()[..16]);
        Self(Some(out))
    }
}

impl PartialEq<&[u8]> for RequestDigest {
    fn eq(&self, request: &&[u8]) -> bool {
        self.0.is_some() && *self == Self::of(request)
    }
}

/// The datagrams of a response kept for retransmission, without spare capacity:
/// one allocation for the usual unfragmented message.
#[derive(Debug)]
pub(crate) enum Datagrams {
    One(Box<[u8]>),
    Fragments(Box<[Box<[u8]>]>),
}

impl Datagrams {
    pub fn new(mut datagrams: Vec<Vec<u8>>) -> Self {
        if datagrams.len() == 1 {
            if let Some(one) = datagrams.pop() {
                return Self::One(one.into_boxed_slice());
            }
        }
        Self::Fragments(datagrams.into_iter().map(Vec::into_boxed_slice).collect())
    }

    /// The first (usually only) datagram.
    pub fn first(&self) -> &[u8] {
        match self {
            Self::One(m) => m,
            Self::Fragments(f) => f.first().map_or(&[], |m| m),
        }
    }
}

impl<'a> IntoIterator for &'a Datagrams {
    type Item = &'a [u8];
    type IntoIter = std::iter::Map<std::slice::Iter<'a, Box<[u8]>>, fn(&Box<[u8]>) -> &[u8]>;

    fn into_iter(self) -> Self::IntoIter {
        let all: &[Box<[u8]>] = match self {
            Datagrams::One(m) => std::slice::from_ref(m),
            Datagrams::Fragments(f) => f,
        };
        all.iter().map(|m| &**m)
    }
}

/// A nonce of the handshake, inline when it is no longer than ours (32 octets by
/// default, as most peers send): a half-open SA then needs no allocation for
/// either nonce. A longer one (up to 256 octets, RFC 7296 2.10) goes on the heap.
#[derive(Clone)]
pub(crate) enum Nonce {
    Short { len: u8, bytes: [u8; SHORT_NONCE] },
    Long(Box<[u8]>),
}

const SHORT_NONCE: usize = 32;

impl Nonce {
    pub const EMPTY: Nonce = Nonce::Short {
        len: 0,
        bytes: [0; SHORT_NONCE],
    };
}

impl Default for Nonce {
    fn default() -> Self {
        Self::EMPTY
    }
}

impl From<&[u8]> for Nonce {
    fn from(n: &[u8]) -> Self {
        match u8::try_from(n.len()) {
            Ok(len) if n.len() <= SHORT_NONCE => {
                let mut bytes = [0; SHORT_NONCE];
                bytes[..n.len()].copy_from_slice(n);
                Self::Short { len, bytes }
            }
            _ => Self::Long(n.into()),
        }
    }
}

impl From<Vec<u8>> for Nonce {
    fn from(n: Vec<u8>) -> Self {
        n.as_slice().into()
    }
}

impl std::ops::Deref for Nonce {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            Self::Short { len, bytes } => &bytes[..usize::from(*len)],
            Self::Long(b) => b,
        }
    }
}

/// What [`IkeSa::hs`] reads when the SA has no handshake state (any more).
static NO_HANDSHAKE: Handshake = Handshake {
    ni: Nonce::EMPTY,
    nr: Nonce::EMPTY,
    ke: None,
    cookie: None,
    cookie_retries: 0,
    ke_retries: 0,
    init_request: Vec::new(),
    init_response: Vec::new(),
    psk: None,
    computing: None,
};

/// One IKE SA.
pub(crate) struct IkeSa {
    pub serial: SaSerial,
    pub conn: Arc<Connection>,
    pub role: Role,
    pub state: IkeState,
    pub spi_i: [u8; 8],
    pub spi_r: [u8; 8],
    pub local: SocketAddr,
    pub remote: SocketAddr,
    /// The peer's address of the IKE_SA_INIT request (responder lookup key).
    pub init_remote: SocketAddr,
    /// The keying attempt this SA is (initiator), from 1.
    pub attempt: u32,
    /// The packet whose ACQUIRE started this SA (initiator): its selectors go
    /// first in the first Child SA's TSi/TSr.
    pub trigger: Option<Box<super::TriggeringPacket>>,
    /// Started by a kernel ACQUIRE (initiator). Such an IKE SA exists only for
    /// the trapped traffic: when its first Child SA is refused, it is deleted
    /// (and the trap takes the next packet), where one started by `--initiate`
    /// stays up for a later Child SA, as libreswan 5 does.
    pub on_demand: bool,

    /// What only IKE_SA_INIT and IKE_AUTH need (nonces, key exchange, both
    /// IKE_SA_INIT messages), boxed and dropped once IKE_AUTH succeeded: see
    /// [`Handshake`], [`IkeSa::hs`], [`IkeSa::hs_mut`].
    pub hs: Option<Box<Handshake>>,
    pub ke_group: KeId,
    pub chosen: Option<Chosen>,
    pub suite: Option<IkeSuite>,
    pub keys: Option<IkeSaKeys>,
    /// The SK cipher states, boxed: inline each is as large as the largest cipher
    /// variant (over 2 KiB), and an SA still in IKE_SA_INIT has none.
    pub tx: Option<Box<SkCipher>>,
    pub rx: Option<Box<SkCipher>>,
    /// NAT between us: we are behind one / the peer is.
    pub nat_local: bool,
    pub nat_remote: bool,
    pub peer_fragmentation: bool,
    /// The peer announced CHILDLESS_IKEV2_SUPPORTED in IKE_SA_INIT (RFC 6023): an
    /// IKE_AUTH without SA, TSi and TSr is then acceptable.
    pub peer_childless: bool,
    /// Largest datagram we send in this SA before fragmenting (RFC 7383), once both
    /// ends announced IKEV2_FRAGMENTATION_SUPPORTED.
    pub fragment_size: Option<usize>,
    /// Fragments of a message being reassembled.
    pub reassembly: Option<Box<Reassembly>>,
    pub peer_id: Option<Identity>,
    /// The peer sent INITIAL_CONTACT in IKE_AUTH: older SAs with it are stale.
    pub initial_contact: bool,
    /// IKE_AUTH just authenticated the peer (either role): `--uniqueids` looks
    /// for older IKE SAs of its ID once the message is handled.
    pub just_authenticated: bool,

    pub next_msgid: u32,
    /// Boxed, like the other parts present only now and then, to keep the record
    /// that every SA carries for its whole life small.
    pub outstanding: Option<Box<Outstanding>>,
    pub queue: VecDeque<RequestKind>,
    /// The next request ID expected from the peer.
    pub peer_msgid: u32,
    /// The last request received (its digest) and the response sent to it: a
    /// retransmitted request gets the same response again (RFC 7296 2.1).
    pub last_request: RequestDigest,
    pub last_response: Option<(u32, Datagrams)>,
    /// A response held back until the kernel has the Child SA it creates (with
    /// `EndpointConfig::confirm_child_installs`).
    pub held: Option<Box<HeldResponse>>,

    pub children: Vec<ChildSa>,
    pub pending_child: Option<Box<PendingChild>>,
    pub pending_create_child: Option<Box<PendingCreateChild>>,
    /// Child SAs the peer rekeyed while our rekey of the same one was outstanding:
    /// (old, the peer's new one, the lowest nonce of its exchange). Kept here, not
    /// on the old Child SA, because the peer may delete that one before our
    /// response arrives (RFC 7296 2.8.1).
    pub peer_child_rekeys: Vec<(SaSerial, SaSerial, Vec<u8>)>,
    pub pending_ike_rekey: Option<Box<PendingIkeRekey>>,
    /// A new IKE SA produced by a rekey, for the endpoint to take over.
    pub spawned: Option<Box<IkeSa>>,
    /// Set once this SA was rekeyed: it only waits to be deleted.
    pub replaced_by: Option<SaSerial>,
    /// The peer rekeyed this IKE SA (we answered): the new IKE SA and the lowest
    /// nonce of that exchange, to settle a simultaneous rekey (RFC 7296 2.8.1).
    pub rekeyed_by_peer: Option<(SaSerial, Vec<u8>)>,
    /// A new IKE SA that won a simultaneous rekey: the redundant one of the peer,
    /// which the peer deletes (or we do, should the peer never have completed it).
    pub won_over: Option<SaSerial>,
    /// The Child SAs of this IKE SA belong to that one (the peer's rekey of it won
    /// a simultaneous rekey): moved there when this SA is put back or removed.
    pub hand_children_to: Option<SaSerial>,
    pub half_open_deadline: Option<Instant>,
    /// The end of the IKE SA's lifetime (deleted then), or, once it was replaced,
    /// when we delete it should the peer not have.
    pub expires: Option<Instant>,
    /// When the core starts the IKE SA's rekey (`None`: never or not now).
    pub rekey_at: Option<Instant>,
    /// Rekeys of this IKE SA that failed so far (spaces the retries).
    pub rekey_failures: u32,
    /// The last time something authenticated came from the peer: an IKE message
    /// of this SA, or ESP traffic reported by the daemon. Liveness checks wait
    /// for `dpddelay` of silence after it.
    pub last_contact: Option<Instant>,
    pub next_dpd: Option<Instant>,
    /// When to send the next NAT keepalive (only while we are behind a NAT).
    pub next_keepalive: Option<Instant>,
}

impl IkeSa {
    /// The handshake state (empty once IKE_AUTH is over or for a rekeyed SA).
    pub fn hs(&self) -> &Handshake {
        self.hs.as_deref().unwrap_or(&NO_HANDSHAKE)
    }

    /// The IKE_SA_INIT request, which AUTH signs (initiator) or verifies
    /// (responder); empty once the handshake is over.
    pub fn init_request(&self) -> &[u8] {
        &self.hs().init_request
    }

    /// The nonces of IKE_SA_INIT; empty once the handshake is over.
    pub fn ni(&self) -> &[u8] {
        &self.hs().ni
    }

    pub fn nr(&self) -> &[u8] {
        &self.hs().nr
    }

    /// The IKE_SA_INIT response, which AUTH signs (responder) or verifies
    /// (initiator). A responder does not keep a copy in its handshake state: while
    /// it is half-open its last response is that message (any other response it
    /// sends before IKE_AUTH succeeded ends the SA).
    pub fn init_response(&self) -> &[u8] {
        match (&self.hs().init_response, &self.last_response) {
            (r, _) if !r.is_empty() => r,
            (_, Some((0, d))) if self.role == Role::Responder => d.first(),
            _ => &[],
        }
    }

    /// The handshake state to fill in, created on first use.
    pub fn hs_mut(&mut self) -> &mut Handshake {
        self.hs.get_or_insert_with(Box::default)
    }

    /// Frees what an established SA no longer needs; the endpoint calls it after
    /// every input the SA took (and for an SA a rekey made), so the exchange
    /// handlers need not know. Once IKE_AUTH has succeeded the handshake part goes
    /// (the key exchange zeroizes as it drops; the first Child SA, keyed from the
    /// nonces, was made by then), the SK ciphers are built from SK_e/SK_a, and the
    /// IKE SA keys keep only SK_d, the one that keys Child SAs and rekeys (SK_p
    /// served only AUTH). The pre-shared key goes with the handshake part.
    pub fn trim(&mut self) {
        if self.state != IkeState::Established {
            return;
        }
        self.hs = None;
        if self.tx.is_none() || self.rx.is_none() {
            match self.handshake_ciphers() {
                Ok((tx, rx)) => {
                    self.tx = Some(Box::new(tx));
                    self.rx = Some(Box::new(rx));
                }
                // Cannot happen (the keys were checked when derived); keep them
                // all, so that sealing and opening fail as they would have.
                Err(_) => return,
            }
        }
        if let Some(keys) = &mut self.keys {
            keys.retain_sk_d();
        }
    }

    /// The SK ciphers (outbound, inbound) of an SA still in its handshake, built
    /// from SK_e/SK_a for one message: until it is established an SA keeps only
    /// its IKE SA keys, so a half-open SA carries no second copy of them.
    fn handshake_ciphers(&self) -> Result<(SkCipher, SkCipher), Error> {
        match (&self.keys, &self.suite) {
            (Some(keys), Some(suite)) => Ok(keys.sk_ciphers(suite, self.role)?),
            _ => Err(Error::NoKeys),
        }
    }

    /// Whether our rekey of Child SA `child` is outstanding or queued.
    pub fn rekey_under_way(&self, child: SaSerial) -> bool {
        self.pending_create_child
            .as_ref()
            .is_some_and(|p| p.old == Some(child))
            || self.queue.contains(&RequestKind::RekeyChild(child))
    }

    /// A fresh SA with no keys.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        serial: SaSerial,
        conn: Arc<Connection>,
        role: Role,
        state: IkeState,
        spi_i: [u8; 8],
        spi_r: [u8; 8],
        local: SocketAddr,
        remote: SocketAddr,
    ) -> Self {
        IkeSa {
            serial,
            conn,
            role,
            state,
            spi_i,
            spi_r,
            local,
            remote,
            init_remote: remote,
            attempt: 1,
            trigger: None,
            on_demand: false,
            hs: None,
            ke_group: KeId::NONE,
            chosen: None,
            suite: None,
            keys: None,
            tx: None,
            rx: None,
            nat_local: false,
            nat_remote: false,
            peer_fragmentation: false,
            peer_childless: false,
            fragment_size: None,
            reassembly: None,
            peer_id: None,
            initial_contact: false,
            just_authenticated: false,
            next_msgid: 0,
            outstanding: None,
            queue: VecDeque::new(),
            peer_msgid: 0,
            last_request: RequestDigest::default(),
            last_response: None,
            held: None,
            children: Vec::new(),
            pending_child: None,
            pending_create_child: None,
            peer_child_rekeys: Vec::new(),
            pending_ike_rekey: None,
            spawned: None,
            replaced_by: None,
            rekeyed_by_peer: None,
            won_over: None,
            hand_children_to: None,
            half_open_deadline: None,
            expires: None,
            rekey_at: None,
            rekey_failures: 0,
            last_contact: None,
            next_dpd: None,
            next_keepalive: None,
        }
    }

    /// Our SPI: the one the peer puts in our slot of the header.
    pub fn our_spi(&self) -> [u8; 8] {
        match self.role {
            Role::Initiator => self.spi_i,
            Role::Responder => self.spi_r,
        }
    }

    /// The header of a message we send in this SA.
    pub fn header(&self, exchange: ExchangeType, response: bool, msgid: u32) -> Header {
        Header {
            spi_i: self.spi_i,
            spi_r: self.spi_r,
            minor_version: 0,
            exchange,
            flags: Flags {
                initiator: self.role == Role::Initiator,
                version: false,
                response,
            },
            message_id: msgid,
        }
    }

    /// Encodes and protects a message whose payloads all go inside SK. Returns the
    /// datagrams: one, or several SKF fragments (RFC 7383) when both ends announced
    /// fragmentation and the message would exceed the fragment size.
    pub fn seal(
        &self,
        rng: &dyn RandomSource,
        exchange: ExchangeType,
        response: bool,
        msgid: u32,
        inner: &[Payload],
    ) -> Result<Vec<Vec<u8>>, Error> {
        let built;
        let tx = match &self.tx {
            Some(tx) => tx,
            None => {
                built = self.handshake_ciphers()?.0;
                &built
            }
        };
        let mut plain = Vec::with_capacity(256);
        let first = encode_chain(inner, &mut plain)?;
        let header = self.header(exchange, response, msgid);
        let overhead = HEADER_LEN + SKF_HEADER_LEN + tx.sealed_len(0);
        let chunk = self
            .fragment_size
            .filter(|&max| HEADER_LEN + PAYLOAD_HEADER_LEN + tx.sealed_len(plain.len()) > max)
            .map(|max| max.saturating_sub(overhead).max(MIN_FRAGMENT_PLAINTEXT));
        let mut out = Vec::new();
        match chunk {
            None => out.push(seal_one(rng, tx, &header, first, None, &plain)?),
            Some(chunk) => {
                let total = u16::try_from(plain.len().div_ceil(chunk))
                    .map_err(|_| Error::Incomplete("fragment count"))?;
                for (i, part) in plain.chunks(chunk).enumerate() {
                    // i < total <= u16::MAX by the conversion above.
                    let number = (i + 1) as u16;
                    let next = if number == 1 {
                        first
                    } else {
                        PayloadType::NONE
                    };
                    let info = FragmentInfo { number, total };
                    out.push(seal_one(rng, tx, &header, next, Some(info), part)?);
                }
            }
        }
        zeroize::Zeroize::zeroize(&mut plain);
        Ok(out)
    }

    /// Verifies and decrypts a received protected message. Returns its inner
    /// payloads, or `None` for an SKF fragment while others are still missing.
    /// Failures of the outer decode or of integrity are [`Error::Decode`] /
    /// [`Error::Crypto`]; a bad inner payload chain (which the peer did protect) is
    /// [`Error::InnerDecode`], to be answered with a notify.
    pub fn open(&mut self, hdr: &Header, datagram: &[u8]) -> Result<Option<Vec<Payload>>, Error> {
        let built;
        let rx = match &self.rx {
            Some(rx) => rx,
            None => {
                built = self.handshake_ciphers()?.1;
                &built
            }
        };
        let (msg, span) = Message::decode_located(datagram)?;
        let Some(span) = span else {
            return Err(Error::NotEncrypted);
        };
        let mut buf = datagram.to_vec();
        let (aad, rest) = buf.split_at_mut(span.body_start);
        let body = rest
            .get_mut(..span.end - span.body_start)
            .ok_or(Error::NotEncrypted)?;
        match msg.payloads.last() {
            Some(Payload::Sk(sk)) => {
                let plain = rx.open(aad, body)?;
                Ok(Some(
                    decode_chain(sk.next_inner, plain).map_err(Error::InnerDecode)?,
                ))
            }
            Some(Payload::Skf(f)) => {
                let (number, total) = (f.number, f.total);
                if !self.conn.fragmentation {
                    // fragmentation=no: we never announced support (RFC 7383 2.3).
                    return Err(Error::FragmentsNotNegotiated);
                }
                if number == 0 || number > total || total > MAX_FRAGMENTS {
                    return Err(Error::BadFragment);
                }
                let plain = rx.open(aad, body)?.to_vec();
                let key = (hdr.message_id, hdr.flags.response);
                let fresh = match &self.reassembly {
                    Some(r) if (r.msgid, r.response) == key => {
                        if total < r.total {
                            return Ok(None); // a fragment of an older, superseded send
                        }
                        total > r.total
                    }
                    _ => true,
                };
                if fresh {
                    self.reassembly = Some(Box::new(Reassembly {
                        msgid: key.0,
                        response: key.1,
                        total,
                        first_inner: PayloadType::NONE,
                        parts: vec![None; usize::from(total)],
                    }));
                }
                let Some(r) = self.reassembly.as_mut() else {
                    return Ok(None);
                };
                if number == 1 {
                    r.first_inner = f.next_inner;
                }
                if let Some(slot) = r.parts.get_mut(usize::from(number) - 1) {
                    *slot = Some(plain);
                }
                if r.parts.iter().any(Option::is_none) {
                    return Ok(None);
                }
                let Some(r) = self.reassembly.take() else {
                    return Ok(None);
                };
                let all: Vec<u8> = r.parts.into_iter().flatten().flatten().collect();
                Ok(Some(
                    decode_chain(r.first_inner, &all).map_err(Error::InnerDecode)?,
                ))
            }
            _ => Err(Error::NotEncrypted),
        }
    }

    /// The earliest timer of this SA and its Child SAs.
    pub fn next_timer(&self) -> Option<Instant> {
        self.timers().map(|(t, _, _)| t).min()
    }

    /// Every pending timer of this SA and its Child SAs: (when, what, whose).
    pub fn timers(&self) -> impl Iterator<Item = (Instant, TimerKind, SaSerial)> + '_ {
        let me = self.serial;
        let own = [
            self.outstanding
                .as_ref()
                .map(|o| (o.next_at, TimerKind::Retransmit)),
            self.half_open_deadline.map(|t| (t, TimerKind::HalfOpen)),
            self.expires.map(|t| (t, TimerKind::Expire)),
            self.rekey_at.map(|t| (t, TimerKind::Rekey)),
            self.next_dpd
                .filter(|_| self.outstanding.is_none())
                .map(|t| (t, TimerKind::Liveness)),
            self.next_keepalive.map(|t| (t, TimerKind::Keepalive)),
        ]
        .into_iter()
        .flatten()
        .map(move |(t, k)| (t, k, me));
        let children = self.children.iter().flat_map(|c| {
            [
                c.rekey_at.map(|t| (t, TimerKind::Rekey, c.serial)),
                c.expires_at.map(|t| (t, TimerKind::Expire, c.serial)),
            ]
            .into_iter()
            .flatten()
        });
        own.chain(children)
    }

    /// The kernel's name for the outer addresses `ip:UDP/port`, as libreswan logs them.
    pub fn remote_desc(&self) -> String {
        format!("{}:UDP/{}", self.remote.ip(), self.remote.port())
    }
}

/// The output queues the exchange handlers write to.
#[derive(Debug, Default)]
pub(crate) struct Out {
    pub transmits: VecDeque<Transmit>,
    pub events: VecDeque<Event>,
    /// Connection instance names (`"rw"[1] 192.0.2.1`) by SA serial, set by the
    /// daemon for SAs of an instantiated template; progress lines use them. One
    /// string shared by the IKE SA, its Child SAs and their successors.
    pub instances: HashMap<SaSerial, Arc<str>>,
    /// Liveness and notify counters (`--globalstatus`).
    pub stats: super::stats::Counters,
    /// Compute jobs for the daemon (or run in line).
    pub compute: super::compute::ComputeQueue,
}

impl Out {
    /// How log lines name SA `serial` of connection `conn`: `"conn" #N`, or
    /// `"rw"[1] 192.0.2.1 #N` for an SA of a named instance.
    pub fn label(&self, conn: &str, serial: SaSerial) -> String {
        match self.instances.get(&serial) {
            Some(i) => format!("{i} {serial}"),
            None => format!("\"{conn}\" {serial}"),
        }
    }

    /// Queues a progress line (and logs it).
    pub fn progress(&mut self, conn: &str, serial: Option<SaSerial>, rc: Rc, text: String) {
        let p = Progress {
            connection: conn.to_owned(),
            instance: serial.and_then(|s| self.instances.get(&s).map(|i| i.to_string())),
            serial,
            rc,
            text,
        };
        if rc.is_failure() || rc == Rc::LOG_SERIOUS {
            tracing::warn!("{p}");
        } else {
            tracing::info!("{p}");
        }
        self.events.push_back(Event::Progress(p));
    }

    /// Queues a NAT keepalive: the single byte 0xff, without marker (RFC 3948 2.3).
    pub fn send_keepalive(&mut self, local: SocketAddr, remote: SocketAddr) {
        self.transmits.push_back(Transmit {
            local,
            remote,
            contents: vec![0xff],
            non_esp_marker: false,
        });
    }

    /// Queues a datagram, adding the non-ESP marker on the NAT-T port.
    pub fn send(
        &mut self,
        cfg: &EndpointConfig,
        local: SocketAddr,
        remote: SocketAddr,
        msg: &[u8],
    ) {
        let marker = local.port() == cfg.natt_port;
        let mut contents = Vec::with_capacity(msg.len() + 4);
        if marker {
            contents.extend_from_slice(&[0; 4]);
        }
        contents.extend_from_slice(msg);
        self.transmits.push_back(Transmit {
            local,
            remote,
            contents,
            non_esp_marker: marker,
        });
    }
}

/// Everything a handler needs besides the SA.
pub(crate) struct Ctx<'a> {
    pub now: Instant,
    pub rng: &'a dyn RandomSource,
    pub cfg: &'a EndpointConfig,
    pub out: &'a mut Out,
    pub next_serial: &'a mut u64,
}

impl Ctx<'_> {
    /// Draws the next state serial.
    pub fn serial(&mut self) -> SaSerial {
        *self.next_serial += 1;
        SaSerial(*self.next_serial)
    }

    /// Draws the serial of an SA that belongs to `parent` (its Child SA, or the
    /// IKE SA that replaces it): it inherits the parent's connection instance
    /// name, so its log lines carry the same `"rw"[1] 192.0.2.1` prefix.
    pub fn serial_under(&mut self, parent: SaSerial) -> SaSerial {
        let s = self.serial();
        if let Some(name) = self.out.instances.get(&parent).cloned() {
            self.out.instances.insert(s, name);
        }
        s
    }

    /// Random bytes.
    pub fn random(&self, len: usize) -> Result<Vec<u8>, Error> {
        let mut v = vec![0u8; len];
        self.rng.fill(&mut v)?;
        Ok(v)
    }

    /// A random non-zero IKE SPI.
    pub fn ike_spi(&self) -> Result<[u8; 8], Error> {
        let mut s = [0u8; 8];
        while s == [0; 8] {
            self.rng.fill(&mut s)?;
        }
        Ok(s)
    }

    /// A random ESP SPI outside the reserved range 0..=255 (RFC 4303 2.1).
    pub fn esp_spi(&self) -> Result<u32, Error> {
        let mut s = [0u8; 4];
        loop {
            self.rng.fill(&mut s)?;
            let v = u32::from_be_bytes(s);
            if v > 0xff {
                return Ok(v);
            }
        }
    }

    /// Sends a request in `sa`, or queues it while another is outstanding (window 1).
    pub fn start_request(
        &mut self,
        sa: &mut IkeSa,
        exchange: ExchangeType,
        kind: RequestKind,
        message: Vec<Vec<u8>>,
    ) {
        let msgid = sa.next_msgid;
        sa.next_msgid = sa.next_msgid.wrapping_add(1);
        for m in &message {
            self.out.send(self.cfg, sa.local, sa.remote, m);
        }
        let interval = sa.conn.retransmit.initial;
        // Kept until answered (a half-open initiator's IKE_SA_INIT, for one):
        // without the room they were encoded with.
        let mut message = message;
        for m in &mut message {
            m.shrink_to_fit();
        }
        message.shrink_to_fit();
        sa.outstanding = Some(Box::new(Outstanding {
            msgid,
            exchange,
            kind,
            message,
            first_sent: self.now,
            next_at: later(self.now, interval),
            interval,
            retransmits: 0,
        }));
    }

    /// Sends a response and caches it for retransmitted requests.
    pub fn respond(&mut self, sa: &mut IkeSa, request: &[u8], msgid: u32, response: Vec<Vec<u8>>) {
        for m in &response {
            self.out.send(self.cfg, sa.local, sa.remote, m);
        }
        sa.last_request = RequestDigest::of(request);
        sa.last_response = Some((msgid, Datagrams::new(response)));
        sa.peer_msgid = msgid.wrapping_add(1);
    }
}

/// `now + d`, saturating far in the future instead of panicking on a configured
/// duration too large for the clock.
pub(crate) fn later(now: Instant, d: Duration) -> Instant {
    now.checked_add(d)
        .or_else(|| now.checked_add(Duration::from_secs(100 * 365 * 86400)))
        .unwrap_or(now)
}

/// The proposals of an SA payload in the proposal module's form. Proposals with a
/// transform attribute we do not know are left out (RFC 7296 3.3.6 rejects them).
pub(crate) fn wire_proposals(sa: &SecurityAssociation) -> Vec<WireProposal> {
    sa.proposals
        .iter()
        .filter(|p| {
            !p.transforms
                .iter()
                .any(CodecTransform::has_unknown_attributes)
        })
        .map(|p| WireProposal {
            number: p.number,
            protocol: p.protocol,
            transforms: p
                .transforms
                .iter()
                .map(|t| Transform {
                    ty: t.id.transform_type(),
                    id: t.id.raw_id(),
                    keylen: t.key_length(),
                })
                .collect(),
        })
        .collect()
}

/// Proposals without key exchange transforms: the Child SA of IKE_AUTH is keyed
/// from the IKE SA's exchange, so KE is neither offered nor chosen there.
pub(crate) fn strip_ke(mut proposals: Vec<WireProposal>) -> Vec<WireProposal> {
    for p in &mut proposals {
        p.transforms.retain(|t| {
            t.ty != crate::registry::TransformType::KE
                && crate::proposal::addke_index(t.ty).is_none()
        });
    }
    proposals
}

/// A proposal set without key exchange methods (see [`strip_ke`]).
pub(crate) fn set_without_ke(set: &crate::proposal::ProposalSet) -> crate::proposal::ProposalSet {
    let mut props = set.proposals().to_vec();
    for p in &mut props {
        p.ke.clear();
        for a in &mut p.addke {
            a.clear();
        }
    }
    crate::proposal::ProposalSet::from_proposals(set.kind(), props)
}

/// An SA payload from proposals, each with the given SPI.
pub(crate) fn sa_payload(proposals: &[WireProposal], spi: Spi) -> SecurityAssociation {
    SecurityAssociation {
        proposals: proposals
            .iter()
            .map(|p| WireSa {
                number: p.number,
                protocol: p.protocol,
                spi,
                transforms: p
                    .transforms
                    .iter()
                    .map(|t| {
                        let id = TransformId::from_wire(t.ty, t.id);
                        match id {
                            TransformId::Encr(e) => CodecTransform::encr(e, t.keylen),
                            _ => CodecTransform::new(id),
                        }
                    })
                    .collect(),
            })
            .collect(),
    }
}

/// The SPI of the proposal the responder answered with.
pub(crate) fn proposal_spi(sa: &SecurityAssociation, number: u8) -> Option<Spi> {
    sa.proposals
        .iter()
        .find(|p| p.number == number)
        .map(|p| p.spi)
}

/// Traffic selectors for a TS payload.
pub(crate) fn ts_payload(ts: &[TrafficSelector]) -> TrafficSelectors {
    TrafficSelectors {
        selectors: ts
            .iter()
            .map(|t| {
                WireTs::Range(AddressRange {
                    ip_protocol: t.ip_proto(),
                    start_port: t.start_port(),
                    end_port: t.end_port(),
                    start: t.start_addr(),
                    end: t.end_addr(),
                })
            })
            .collect(),
    }
}

/// Address-range selectors of a received TS payload; other types (security labels)
/// and malformed ranges are narrowed away.
pub(crate) fn ts_from_payload(ts: &TrafficSelectors) -> Vec<TrafficSelector> {
    ts.selectors
        .iter()
        .filter_map(|s| match s {
            WireTs::Range(r) => {
                TrafficSelector::new(r.ip_protocol, r.start_port, r.end_port, r.start, r.end).ok()
            }
            _ => None,
        })
        .collect()
}

/// The first notify of a type in a payload list.
pub(crate) fn find_notify(
    payloads: &[Payload],
    ty: NotifyType,
) -> Option<&crate::codec::v2::Notify> {
    payloads.iter().find_map(|p| match p {
        Payload::Notify(n) if n.ty == ty => Some(n),
        _ => None,
    })
}

/// The first error notify (type below 16384) in a payload list.
pub(crate) fn error_notify(payloads: &[Payload]) -> Option<NotifyType> {
    payloads.iter().find_map(|p| match p {
        Payload::Notify(n) if n.ty.is_error() => Some(n.ty),
        _ => None,
    })
}

/// Payload types for libreswan's "containing SA,IDr,AUTH,..." log form.
pub(crate) fn payload_list(payloads: &[Payload]) -> String {
    let names: Vec<String> = payloads
        .iter()
        .map(|p| match p {
            Payload::Sa(_) => "SA".to_owned(),
            Payload::Ke(_) => "KE".to_owned(),
            Payload::IdI(_) => "IDi".to_owned(),
            Payload::IdR(_) => "IDr".to_owned(),
            Payload::Auth(_) => "AUTH".to_owned(),
            Payload::Nonce(_) => "Ni".to_owned(),
            Payload::TsI(_) => "TSi".to_owned(),
            Payload::TsR(_) => "TSr".to_owned(),
            Payload::Delete(_) => "D".to_owned(),
            Payload::Notify(n) => format!("N({n})", n = n.ty),
            other => other.payload_type().to_string(),
        })
        .collect();
    names.join(",")
}

/// `[192.0.2.0/24===198.51.100.0/24]` for the established-Child-SA line.
pub(crate) fn ts_pair(local: &[TrafficSelector], remote: &[TrafficSelector]) -> String {
    let join = |v: &[TrafficSelector]| {
        v.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" ")
    };
    format!("[{}==={}]", join(local), join(remote))
}

/// The lowest of an exchange's two nonces: of two simultaneous rekeys of one SA,
/// the exchange with the lowest nonce of all four made the redundant SA (RFC 7296
/// 2.8.1). Nonces compare as octet strings.
pub(crate) fn lowest_nonce(ni: &[u8], nr: &[u8]) -> Vec<u8> {
    ni.min(nr).to_vec()
}

/// `tunnel` / `transport` for log lines.
pub(crate) fn mode_name(mode: Mode) -> &'static str {
    match mode {
        Mode::Tunnel => "tunnel",
        Mode::Transport => "transport",
    }
}

/// The protocol of the Child SAs of an IKE SA's connection: ESP, or AH for
/// `--authenticate` without `--encrypt`.
pub(crate) fn child_protocol(sa: &IkeSa) -> ProtocolId {
    sa.conn.child_protocol()
}

/// Why an AH Child SA cannot be used on this IKE SA: AH authenticates the outer
/// IP header, which a NAT rewrites, and only ESP has a UDP encapsulation (RFC
/// 3948). `None` when the Child SA is ESP or no NAT was detected.
pub(crate) fn ah_through_nat(sa: &IkeSa) -> Option<String> {
    (child_protocol(sa) == ProtocolId::AH && (sa.nat_local || sa.nat_remote)).then(|| {
        "AH cannot cross the NAT detected between the peers (only ESP is UDP-encapsulated, RFC 3948); use --encrypt".to_owned()
    })
}

/// Seals one SK (or SKF) payload body and writes the whole datagram.
pub(crate) fn seal_one(
    rng: &dyn RandomSource,
    tx: &SkCipher,
    header: &Header,
    first: PayloadType,
    fragment: Option<FragmentInfo>,
    plain: &[u8],
) -> Result<Vec<u8>, Error> {
    let body_len = tx.sealed_len(plain.len());
    let mut out = Vec::with_capacity(64 + body_len);
    let span = encode_encrypted_prefix(header, &[], first, fragment, body_len, &mut out)?;
    out.resize(span.body_start + body_len, 0);
    let (aad, body) = out.split_at_mut(span.body_start);
    tx.seal_into(rng, aad, plain, body)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonces_inline_up_to_32_octets_and_exact_beyond() {
        for len in [0usize, 16, 32, 33, 256] {
            let v: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let n = Nonce::from(v.clone());
            assert_eq!(&*n, &v[..]);
            assert_eq!(matches!(n, Nonce::Short { .. }), len <= 32, "{len}");
        }
        assert!(Nonce::EMPTY.is_empty());
    }

    /// The record every SA carries for its whole life, and the part only the
    /// handshake has: a guard against growing them by accident (docs/benchmarks.md
    /// has what these sizes add up to per SA).
    #[test]
    fn record_sizes() {
        assert!(
            std::mem::size_of::<IkeSa>() <= 704,
            "{}",
            std::mem::size_of::<IkeSa>()
        );
        assert!(
            std::mem::size_of::<Handshake>() <= 232,
            "{}",
            std::mem::size_of::<Handshake>()
        );
        assert!(std::mem::size_of::<ChildSa>() <= 144);
    }
}
