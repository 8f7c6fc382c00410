//! What the state machine hands back: datagrams, kernel requests and whack progress.

use core::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::crypto::SecretBytes;
use crate::registry::{EncrId, IntegId, NotifyType, ProtocolId};
use crate::ts::TrafficSelector;

use super::config::Mode;

/// A state serial number, printed `#1` as libreswan does. IKE SAs and Child SAs draw
/// from the same counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SaSerial(pub u64);

impl fmt::Display for SaSerial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// A datagram to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// The address and port to send from (port 500 or the NAT-T port).
    pub local: SocketAddr,
    /// Where to send it.
    pub remote: SocketAddr,
    /// The UDP payload, starting with the 4-byte non-ESP marker when
    /// `non_esp_marker` is set.
    pub contents: Vec<u8>,
    /// True when sent on the NAT-T port, where IKE messages carry the marker.
    pub non_esp_marker: bool,
}

/// whack reply codes (libreswan's `enum rc_type`): the daemon prefixes progress lines
/// with them and derives whack's exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rc(pub u32);

impl Rc {
    /// Informational line (`002`).
    pub const LOG: Rc = Rc(2);
    /// Serious but not fatal (`003`).
    pub const LOG_SERIOUS: Rc = Rc(3);
    /// The operation succeeded (`004`): whack --initiate may exit 0.
    pub const SUCCESS: Rc = Rc(4);
    /// A retransmission (`010`).
    pub const RETRANSMISSION: Rc = Rc(10);
    /// Progress of an IKEv2 exchange (libreswan prints these as `1v2`).
    pub const NEW_V2_STATE: Rc = Rc(150);
    /// A failure caused by a notify: `RC_NOTIFICATION + notify type`.
    pub const NOTIFICATION: Rc = Rc(200);

    /// The failure code for a notify, e.g. 224 for AUTHENTICATION_FAILED.
    pub fn notification(n: NotifyType) -> Rc {
        Rc(Self::NOTIFICATION.0 + u32::from(n.0))
    }

    /// True for codes that end a whack --initiate with failure.
    pub fn is_failure(self) -> bool {
        self.0 >= Self::NOTIFICATION.0 || (20..100).contains(&self.0)
    }
}

/// One line for whack and the log: `"west-east" #1: sent IKE_SA_INIT request ...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    /// The connection name.
    pub connection: String,
    /// The connection instance's display name (`"rw"[1] 192.0.2.1`, quotes
    /// included) when the SA belongs to an instantiated template
    /// ([`super::Endpoint::set_instance_name`]); shown in place of `"connection"`.
    pub instance: Option<String>,
    /// The SA the line is about, if any.
    pub serial: Option<SaSerial>,
    /// The whack reply code.
    pub rc: Rc,
    /// The text after `#N: `.
    pub text: String,
}

/// libreswan's layout: `"conn" #1: text`, or `"rw"[1] 192.0.2.1 #3: text` for an
/// instance.
impl fmt::Display for Progress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.instance {
            Some(i) => f.write_str(i)?,
            None => write!(f, "\"{}\"", self.connection)?,
        }
        if let Some(s) = self.serial {
            write!(f, " {s}")?;
        }
        write!(f, ": {}", self.text)
    }
}

/// One direction of a Child SA.
#[derive(Clone, PartialEq, Eq)]
pub struct ChildSaDirection {
    /// The SPI the receiving end chose.
    pub spi: u32,
    /// Outer source address (tunnel endpoint or host).
    pub src: IpAddr,
    /// Outer destination address.
    pub dst: IpAddr,
    /// Encryption key material: the cipher key followed by `salt_len` bytes of salt,
    /// which is how XFRM takes AES-GCM (`rfc4106(gcm(aes))`) and AES-CTR keys.
    pub encr_key: SecretBytes,
    /// Integrity key; empty for AEAD ciphers.
    pub integ_key: SecretBytes,
}

impl fmt::Debug for ChildSaDirection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChildSaDirection")
            .field("spi", &format_args!("{:#010x}", self.spi))
            .field("src", &self.src)
            .field("dst", &self.dst)
            .field("encr_key_len", &self.encr_key.len())
            .field("integ_key_len", &self.integ_key.len())
            .finish()
    }
}

/// UDP encapsulation of ESP (RFC 3948), used when a NAT was detected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpEncap {
    /// Our NAT-T port.
    pub local_port: u16,
    /// The peer's port as seen by us.
    pub remote_port: u16,
}

/// Install the pair of SAs of a newly negotiated Child SA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildSaInstall {
    /// The connection.
    pub connection: String,
    /// The Child SA's serial.
    pub child: SaSerial,
    /// The IKE SA it was negotiated in.
    pub ike: SaSerial,
    /// ESP (`--encrypt`) or AH (`--authenticate`), as negotiated in the SA
    /// payloads.
    pub protocol: ProtocolId,
    /// Tunnel or transport.
    pub mode: Mode,
    /// Encryption transform; `EncrId::NULL` with empty `encr_key`s for AH, which
    /// has no cipher.
    pub encr: EncrId,
    /// Its key size in bits (0 for AH).
    pub encr_key_bits: u16,
    /// Salt bytes at the end of each `encr_key` (4 for AES-GCM, 0 for CBC).
    pub salt_len: usize,
    /// Integrity transform; `IntegId::NONE` for AEAD (never for AH).
    pub integ: IntegId,
    /// Peer to us.
    pub inbound: ChildSaDirection,
    /// Us to peer.
    pub outbound: ChildSaDirection,
    /// Extended sequence numbers.
    pub esn: bool,
    /// Anti-replay window.
    pub replay_window: u32,
    /// Our side's negotiated selectors (source of outbound traffic).
    pub local_ts: Vec<TrafficSelector>,
    /// The peer's negotiated selectors.
    pub remote_ts: Vec<TrafficSelector>,
    /// UDP encapsulation, when a NAT was detected.
    pub encap: Option<UdpEncap>,
    /// Hard lifetime (`ipsec-lifetime=`): the core deletes the Child SA then, and
    /// the kernel should expire it then too.
    pub lifetime: Duration,
    /// The connection's `rekeymargin=`. The core rekeys the Child SA by itself at
    /// most this long (half of it as responder) before `lifetime` ends; a kernel
    /// soft limit, if set, belongs after that so it is only a backstop.
    pub rekey_margin: Duration,
}

/// Remove both SAs of a Child SA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildSaDelete {
    /// The connection.
    pub connection: String,
    /// The Child SA's serial.
    pub child: SaSerial,
    /// ESP or AH.
    pub protocol: ProtocolId,
    /// Our inbound SPI and its destination (our address).
    pub inbound_spi: u32,
    /// Destination of inbound packets (our address).
    pub inbound_dst: IpAddr,
    /// The peer's inbound SPI (our outbound).
    pub outbound_spi: u32,
    /// Destination of outbound packets (the peer).
    pub outbound_dst: IpAddr,
    /// The selectors, so policies can be found.
    pub local_ts: Vec<TrafficSelector>,
    /// The peer's selectors.
    pub remote_ts: Vec<TrafficSelector>,
}

/// Work for the kernel layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KernelRequest {
    /// Install inbound and outbound SAs (and the daemon adds policies). Boxed: it
    /// is by far the largest request.
    InstallChildSa(Box<ChildSaInstall>),
    /// Delete both SAs.
    DeleteChildSa(ChildSaDelete),
}

/// Why an IKE SA went away.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SaEnd {
    /// Deleted by us or the peer with an INFORMATIONAL Delete.
    Deleted,
    /// A request was never answered (retransmit timeout) and no keying try is left.
    Timeout,
    /// Negotiation failed with this notify (sent or received).
    Failed(NotifyType),
    /// A responder's half-open SA whose IKE_AUTH never came.
    HalfOpenExpired,
    /// The IKE SA lifetime ended without a successor (`--dontrekey`, or every
    /// rekey failed).
    LifetimeExpired,
    /// The peer stopped answering an established IKE SA (liveness check or any
    /// other request unanswered within its budget), or `whack --crash` said it
    /// crashed. The daemon restores the connection as libreswan does.
    PeerDead,
    /// A failure without a notify (e.g. a crypto error), with the reason.
    Error(String),
}

/// How a rekey this end started ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RekeyResult {
    /// The SA was replaced by this one (ours, or the peer's when its rekey of the
    /// same SA won).
    Rekeyed(SaSerial),
    /// The peer refused the rekey with this notify (NO_PROPOSAL_CHOSEN,
    /// INVALID_KE_PAYLOAD after our one retry, ...). The old SA stays; a timer
    /// driven rekey is retried while its lifetime lasts.
    Refused(NotifyType),
    /// The rekey failed without a notify (unusable answer, the SA went away).
    Failed(String),
}

/// What a pending timer will do (`whack --listevents`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TimerKind {
    /// Retransmit (or give up) the outstanding request.
    Retransmit,
    /// Start a rekey of the SA.
    Rekey,
    /// The SA reaches its lifetime (or, replaced, is deleted).
    Expire,
    /// Check whether the peer is still alive.
    Liveness,
    /// Drop a responder's half-open IKE SA (or forget a deleted one).
    HalfOpen,
    /// Send a NAT keepalive.
    Keepalive,
}

impl TimerKind {
    /// libreswan's name of the event.
    pub fn libreswan_name(self) -> &'static str {
        match self {
            TimerKind::Retransmit => "EVENT_v2_RETRANSMIT",
            TimerKind::Rekey => "EVENT_v2_REKEY",
            TimerKind::Expire => "EVENT_v2_EXPIRE",
            TimerKind::Liveness => "EVENT_v2_LIVENESS",
            TimerKind::HalfOpen => "EVENT_v2_DISCARD",
            TimerKind::Keepalive => "EVENT_NAT_T_KEEPALIVE",
        }
    }
}

/// One pending timer of an SA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingTimer {
    /// When it fires.
    pub at: std::time::Instant,
    /// What it does.
    pub kind: TimerKind,
    /// The IKE SA or Child SA it belongs to.
    pub serial: SaSerial,
    /// The connection.
    pub connection: String,
}

/// Everything the daemon is told, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A progress line for whack and the log.
    Progress(Progress),
    /// A kernel request.
    Kernel(KernelRequest),
    /// An IKE SA was established (authenticated).
    IkeSaEstablished {
        /// The connection.
        connection: String,
        /// The IKE SA.
        ike: SaSerial,
        /// The IKE SA it replaces, when it was made by an IKE SA rekey (the old
        /// one is deleted soon after): what the daemon keeps per IKE SA moves over.
        replaces: Option<SaSerial>,
    },
    /// A Child SA is up: its [`KernelRequest::InstallChildSa`] came just before, or,
    /// with `EndpointConfig::confirm_child_installs`, the daemon confirmed it with
    /// `Endpoint::child_sa_installed`.
    ChildSaEstablished {
        /// The connection.
        connection: String,
        /// The IKE SA.
        ike: SaSerial,
        /// The Child SA.
        child: SaSerial,
    },
    /// A Child SA was torn down (its kernel delete came just before).
    ChildSaDeleted {
        /// The connection.
        connection: String,
        /// The Child SA.
        child: SaSerial,
    },
    /// Setting up a Child SA failed while the IKE SA survived (or was deleted
    /// right after: an [`Event::IkeSaDeleted`] follows then).
    ChildSaFailed {
        /// The connection.
        connection: String,
        /// The Child SA serial that was reserved for it.
        child: SaSerial,
        /// The notify that failed it.
        notify: NotifyType,
    },
    /// A rekey this end started (by timer or by
    /// `Endpoint::rekey_child_sa`/`rekey_ike_sa`) is over.
    RekeyFinished {
        /// The connection.
        connection: String,
        /// The SA that was being rekeyed.
        old: SaSerial,
        /// How it went.
        result: RekeyResult,
    },
    /// An IKE SA is gone, with all its Child SAs (their deletes came before). For an
    /// initiator whose keying tries remain, a new attempt follows under a new serial.
    IkeSaDeleted {
        /// The connection.
        connection: String,
        /// The IKE SA.
        ike: SaSerial,
        /// Why.
        reason: SaEnd,
        /// True when no further attempt will be made for an initiate that was
        /// pending: whack --initiate should report failure.
        final_failure: bool,
    },
}
