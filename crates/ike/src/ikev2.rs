//! The IKEv2 state machine (RFC 7296), sans-IO.
//!
//! An [`Endpoint`] holds every IKE SA of the daemon. It never opens a socket or reads
//! a clock: the daemon feeds it
//!
//! * received datagrams with [`Endpoint::handle`] (our address and port, the peer's,
//!   the bytes as read from the socket, the time),
//! * commands: [`Endpoint::initiate`], [`Endpoint::delete_ike_sa`],
//!   [`Endpoint::delete_child_sa`], [`Endpoint::delete_connection`],
//!   [`Endpoint::send_liveness`], and kernel events [`Endpoint::handle_acquire`]
//!   (or [`Endpoint::handle_acquire_packet`], with the triggering packet) and
//!   [`Endpoint::handle_expire`], and the outcome of each Child SA install with
//!   [`Endpoint::child_sa_installed`] / [`Endpoint::child_sa_install_failed`] (which
//!   only matter with [`EndpointConfig::confirm_child_installs`]),
//! * the time, whenever the deadline from [`Endpoint::poll_timeout`] has passed, with
//!   [`Endpoint::handle_timeout`],
//! * with [`EndpointConfig::inline_compute`] off, the results of the compute jobs
//!   (key exchange and key schedule of IKE_SA_INIT) it queued: the daemon takes
//!   them with [`Endpoint::poll_compute`], runs them on its helper threads and
//!   hands each [`ComputeResult`] back with [`Endpoint::computed`],
//!
//! and after each call drains [`Endpoint::poll_transmit`] (datagrams to send, with the
//! addresses to send them from and to) and [`Endpoint::poll_event`] (kernel requests,
//! whack progress lines in libreswan's wording and SA life-cycle events).
//!
//! Configuration comes in as plain types ([`Connection`], [`EndpointConfig`]); a
//! responder finds its connection and everyone finds pre-shared keys through the
//! [`ConfigSource`] trait the daemon implements.
//!
//! One module per exchange: `ike_sa_init` (IKE_SA_INIT, cookies, INVALID_KE_PAYLOAD,
//! NAT detection), `ike_auth` (PSK authentication and the first Child SA),
//! `create_child_sa` (Child SA keying and rekeying) and `informational` (Delete,
//! liveness). `sa` holds the IKE SA record, message IDs, retransmission and
//! fragmentation.
//!
//! Limits of this version: window size 1; we never initiate additional Child SAs
//! on an IKE SA (a peer may add some for the same connection); PSK authentication
//! only; ESP or AH Child SAs (no bundles, no IPComp), or none at all for a connection
//! without a Child SA policy (RFC 6023 childless IKE SA, announced in both
//! IKE_SA_INIT messages); Child SA SPIs are drawn at random rather than allocated by the
//! kernel. Simultaneous rekeys of one SA by both ends (RFC 7296 2.8.1) keep the new
//! SA whose exchange did not have the lowest nonce. Child SAs and IKE SAs are rekeyed
//! in both roles, by the core's own timers (`rekeymargin=`, `rekeyfuzz=`, half
//! the margin for SAs the peer initiated, never with `--dontrekey`; only the
//! newest SA of its kind; refused rekeys retried within the lifetime) or on
//! request ([`Endpoint::rekey_child_sa`], [`Endpoint::rekey_ike_sa`]), each
//! ending in [`Event::RekeyFinished`]; a kernel soft EXPIRE is only a hint. SAs
//! are deleted when their lifetime ends. Liveness checks go out after
//! `dpddelay=` of silence ([`Endpoint::note_peer_traffic`] reports ESP traffic);
//! an established peer that stops answering ends as [`SaEnd::PeerDead`], as do
//! the IKE SAs of [`Endpoint::peer_crashed`]. [`Endpoint::pending_timers`] lists
//! every timer (`whack --listevents`). IKE fragmentation
//! (RFC 7383) is announced and works both ways once both ends support it.
//!
//! # Driving it
//!
//! ```no_run
//! # use std::sync::Arc;
//! # use std::time::Instant;
//! # use ike::ikev2::*;
//! # fn recv() -> (std::net::SocketAddr, std::net::SocketAddr, Vec<u8>) { unimplemented!() }
//! # fn send(_: Transmit) {}
//! # fn kernel(_: KernelRequest) {}
//! # fn whack(_: Progress) {}
//! # fn run(conn: Arc<Connection>, config: &dyn ConfigSource) -> Result<(), Error> {
//! let rng = Box::new(ike::crypto::SystemRandomSource::new());
//! let mut ep = Endpoint::new(EndpointConfig::default(), rng)?;
//! ep.initiate(conn, Instant::now())?;
//! loop {
//!     while let Some(t) = ep.poll_transmit() {
//!         send(t); // from t.local to t.remote; contents already carry the marker
//!     }
//!     while let Some(ev) = ep.poll_event() {
//!         match ev {
//!             Event::Kernel(k) => kernel(k),
//!             Event::Progress(p) => whack(p),
//!             _ => {} // SA life cycle: updown, whack exit status, status tables
//!         }
//!     }
//!     // Wait for a datagram or ep.poll_timeout(), whichever comes first, then:
//!     let (local, remote, bytes) = recv();
//!     ep.handle(Instant::now(), local, remote, &bytes, config);
//!     ep.handle_timeout(Instant::now());
//! }
//! # }
//! ```

// Peer bytes, config and whack input must never panic this code (tests may).
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod aged;
mod budget;
mod compute;
mod config;
mod create_child_sa;
mod ike_auth;
mod ike_sa_init;
mod index;
mod informational;
mod natt;
mod output;
mod sa;
mod stats;
#[cfg(any(test, feature = "fuzzing"))]
mod testutil;
mod unprotected;

/// Entry points for the cargo-fuzz targets (`fuzz/`, cargo feature `fuzzing`):
/// the unit tests' connection builder, so the stateful target configures its two
/// endpoints as the tests do, and the responder's cookie (RFC 7296 2.6), which is
/// private otherwise.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing {
    use std::net::SocketAddr;

    pub use super::testutil::{conn, OneConn, Pair};

    fn secret(secret: [u8; 32], version: u32) -> super::CookieSecret {
        super::CookieSecret { version, secret }
    }

    /// The COOKIE a responder with this secret sends the initiator (Ni, address,
    /// SPIi).
    pub fn cookie(
        secret_bytes: [u8; 32],
        version: u32,
        ni: &[u8],
        remote: SocketAddr,
        spi_i: &[u8; 8],
    ) -> Vec<u8> {
        secret(secret_bytes, version).cookie(ni, remote, spi_i)
    }

    /// Whether that responder accepts `cookie` in this initiator's IKE_SA_INIT.
    pub fn cookie_verifies(
        secret_bytes: [u8; 32],
        version: u32,
        cookie: &[u8],
        ni: &[u8],
        remote: SocketAddr,
        spi_i: &[u8; 8],
    ) -> bool {
        secret(secret_bytes, version).verify(cookie, ni, remote, spi_i)
    }
}

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

pub use compute::{ComputeId, ComputeJob, ComputeResult};
pub use config::{
    ConfigSource, ConnProfile, Connection, Ddos, Encapsulation, EndpointConfig, Identity, Mode,
    Retransmit,
};
pub use output::{
    ChildSaDelete, ChildSaDirection, ChildSaInstall, Event, KernelRequest, PendingTimer, Progress,
    Rc, RekeyResult, SaEnd, SaSerial, TimerKind, Transmit, UdpEncap,
};
pub use stats::Counters;

use crate::codec::v2::{Flags, Header, Message, Notify, Payload};
use crate::codec::{DecodeError, EncodeError};
use crate::crypto::ikev2::Role;
use crate::crypto::{CryptoError, RandomSource};
use crate::registry::{ExchangeType, NotifyType};
use crate::ts::TrafficSelector;

use ike_sa_init::{CookieSecret, InitOutcome};
use index::SaIndex;
use sa::{later, Ctx, IkeSa, IkeState, Out, RequestKind};

/// Why a command failed or an SA had to be abandoned.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The `ike=` proposals name no key exchange group.
    #[error("the connection's ike= proposals contain no key exchange group; add one (e.g. ike=aes_gcm256-sha2_512-dh19)")]
    NoKeGroup,
    /// No SA has this serial.
    #[error("there is no IKE SA or Child SA {0}")]
    UnknownSerial(SaSerial),
    /// A request that needs an established IKE SA (a new Child SA) was made of
    /// one still negotiating, being deleted or already replaced.
    #[error("IKE SA {0} is not established")]
    NotEstablished(SaSerial),
    /// A NAT mapping change was reported for an IKE SA that does not use NAT-T
    /// towards a NATed peer.
    #[error("{0} does not use NAT traversal towards a NATed peer; NAT mapping change ignored")]
    NotNatted(SaSerial),
    /// An operation needed keys the SA does not have yet.
    #[error("the IKE SA has no keys yet (IKE_SA_INIT has not completed)")]
    NoKeys,
    /// A message that must be protected was not.
    #[error(
        "the message has no SK payload, or a fragmented one (IKE fragmentation is not implemented)"
    )]
    NotEncrypted,
    /// The negotiated proposal lacks a transform it needs.
    #[error("the negotiated proposal has no {0} transform")]
    Incomplete(&'static str),
    /// The peer protected a message whose inner payloads do not decode.
    #[error("protected payloads do not decode: {0}")]
    InnerDecode(DecodeError),
    /// An SKF payload with impossible numbering.
    #[error("IKE fragment with bad number or total (at most 32 fragments)")]
    BadFragment,
    /// An SKF payload on a connection with `fragmentation=no`.
    #[error("IKE fragment received although this end does not announce fragmentation (fragmentation=no)")]
    FragmentsNotNegotiated,
    /// Internal misuse of the INFORMATIONAL sender.
    #[error("IKE_SA_INIT and IKE_AUTH requests are not sent as INFORMATIONAL")]
    NotInformational,
    /// A crypto operation failed.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// A message could not be encoded.
    #[error(transparent)]
    Encode(#[from] EncodeError),
    /// A message could not be decoded.
    #[error(transparent)]
    Decode(#[from] DecodeError),
}

/// What [`Endpoint::up`] did for a connection (`whack --initiate`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Up {
    /// No IKE SA of the connection existed: this one is being negotiated.
    NewIkeSa(SaSerial),
    /// The connection's IKE SA is up without a Child SA of it: this Child SA is
    /// being negotiated over it with CREATE_CHILD_SA.
    NewChildSa {
        /// The IKE SA used.
        ike: SaSerial,
        /// The Child SA asked for.
        child: SaSerial,
    },
    /// Nothing to do: this IKE SA is established and the connection has no
    /// Child SA policy (IKE-only).
    IkeSaUp(SaSerial),
    /// Nothing to do: this Child SA of the connection is up (on `ike`).
    ChildSaUp {
        /// Its IKE SA.
        ike: SaSerial,
        /// The Child SA.
        child: SaSerial,
    },
    /// Nothing started: this IKE SA of the connection is being negotiated
    /// (IKE_SA_INIT or IKE_AUTH in flight), or a Child SA is being added to it.
    InProgress(SaSerial),
}

/// A snapshot of one Child SA for `whack --status` / `--trafficstatus`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildSaStatus {
    /// Serial.
    pub serial: SaSerial,
    /// Our inbound SPI.
    pub inbound_spi: u32,
    /// The peer's inbound SPI.
    pub outbound_spi: u32,
}

/// A snapshot of one IKE SA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IkeSaStatus {
    /// Serial.
    pub serial: SaSerial,
    /// Connection name.
    pub connection: String,
    /// True when we initiated it.
    pub initiator: bool,
    /// libreswan-like state name (`ESTABLISHED_IKE_SA`, `IKE_SA_INIT_I`, ...).
    pub state: &'static str,
    /// Our SPI and the peer's, in header order (SPIi, SPIr).
    pub spis: ([u8; 8], [u8; 8]),
    /// Our address.
    pub local: SocketAddr,
    /// The peer's address.
    pub remote: SocketAddr,
    /// The Child SAs.
    pub children: Vec<ChildSaStatus>,
    /// The peer's ID as authenticated in IKE_AUTH (`None` before that).
    pub peer_id: Option<Identity>,
    /// The connection instance name given with [`Endpoint::set_instance_name`].
    pub instance: Option<String>,
}

/// The packet that made the kernel ACQUIRE an SA, as single-host selectors (its
/// addresses, and protocol and ports when the daemon knows them). RFC 7296 2.9:
/// the initiator's first TSi and TSr are these, ahead of the connection's own, so
/// a responder with narrower policy can pick the part of ours the packet is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TriggeringPacket {
    /// Our side: the packet's source.
    pub local: TrafficSelector,
    /// The peer's side: the packet's destination.
    pub remote: TrafficSelector,
}

/// What to do with an SA after handling something.
enum Fate {
    Keep,
    /// Forget the SA now, reporting `reason`.
    Remove(SaEnd),
    /// Report it gone now but keep answering retransmitted requests for a while.
    Linger(SaEnd),
}

/// All IKE SAs of the daemon and their pending output.
pub struct Endpoint {
    config: EndpointConfig,
    /// Shared with compute jobs, which may draw from it on other threads.
    rng: Arc<dyn RandomSource>,
    /// The IKE SAs, boxed: a record is several KiB, and a B-tree keyed by growing
    /// serials keeps its nodes half empty, so records stored inline would cost
    /// twice their size and be moved on every rebalancing.
    sas: BTreeMap<SaSerial, Box<IkeSa>>,
    /// Timer queue, SAs by connection and owners of Child SAs; brought up to date
    /// in `settle`.
    index: SaIndex,
    by_spi: HashMap<[u8; 8], SaSerial>,
    /// Responder SAs by (peer address, SPIi), to spot retransmitted IKE_SA_INITs.
    by_init: HashMap<(SocketAddr, [u8; 8]), SaSerial>,
    unprotected: unprotected::Unprotected,
    /// New IKE SAs per source before a cookie is demanded.
    budget: budget::Budget,
    cookies: CookieSecret,
    out: Out,
    next_serial: u64,
}

impl Endpoint {
    /// An endpoint with no SAs. `rng` supplies SPIs, nonces, IVs and the cookie secret.
    pub fn new(config: EndpointConfig, rng: Box<dyn RandomSource>) -> Result<Self, Error> {
        let mut secret = [0u8; 32];
        rng.fill(&mut secret)?;
        let rng: Arc<dyn RandomSource> = Arc::from(rng);
        let out = Out {
            compute: compute::ComputeQueue::new(rng.clone()),
            ..Out::default()
        };
        Ok(Endpoint {
            config,
            rng,
            sas: BTreeMap::new(),
            index: SaIndex::default(),
            by_spi: HashMap::new(),
            by_init: HashMap::new(),
            unprotected: unprotected::Unprotected::default(),
            budget: budget::Budget::default(),
            cookies: CookieSecret { version: 1, secret },
            out,
            next_serial: 0,
        })
    }

    /// Sets the DDoS mode and thresholds (`whack --ddos-*`, `--force-busy`).
    pub fn set_ddos(&mut self, ddos: Ddos) {
        self.config.ddos = ddos;
    }

    /// The DDoS mode and thresholds in force.
    pub fn ddos(&self) -> Ddos {
        self.config.ddos
    }

    /// Responder half-open IKE SAs (IKE_SA_INIT answered, IKE_AUTH not yet): what
    /// the DDoS thresholds count. O(1).
    pub fn half_open(&self) -> usize {
        self.index.half_open()
    }

    /// Whether a new IKE_SA_INIT request must carry a COOKIE now.
    pub fn cookies_required(&self) -> bool {
        self.config.ddos.verdict(self.half_open()).0
    }

    /// Whether new IKE_SA_INIT requests are answered at all now.
    pub fn accepting_new_ike(&self) -> bool {
        !self.config.ddos.verdict(self.half_open()).1
    }

    /// Switches [`EndpointConfig::inline_compute`] (the daemon turns it off once its
    /// helper threads run). Jobs already queued stay queued for
    /// [`poll_compute`](Self::poll_compute).
    pub fn set_inline_compute(&mut self, inline: bool) {
        self.config.inline_compute = inline;
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.out.transmits.pop_front()
    }

    /// The next event for the daemon.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.out.events.pop_front()
    }

    /// The next compute job to run, when [`EndpointConfig::inline_compute`] is
    /// off: run it anywhere ([`ComputeJob::run`]) and hand the result to
    /// [`computed`](Self::computed). Its IKE SA waits meanwhile: messages for it
    /// are dropped (the peer retransmits, and a retransmitted IKE_SA_INIT gets
    /// the response once it exists), its timers run as usual.
    pub fn poll_compute(&mut self) -> Option<ComputeJob> {
        self.out.compute.pop()
    }

    /// Takes the result of a compute job and continues the exchange that waited
    /// for it (sending the IKE_SA_INIT response, or IKE_AUTH). A result whose SA is
    /// gone (deleted, expired, timed out) or that is not the one its SA waits for
    /// is ignored. `config` is needed as for [`handle`](Self::handle): the
    /// initiator's IKE_AUTH looks up its pre-shared key.
    pub fn computed(&mut self, result: ComputeResult, now: Instant, config: &dyn ConfigSource) {
        self.computed_one(result, now, config);
        self.run_inline(now, config);
    }

    fn computed_one(&mut self, result: ComputeResult, now: Instant, config: &dyn ConfigSource) {
        let id = result.id();
        let serial = id.sa();
        match self.sas.get(&serial) {
            Some(sa) if sa.hs().computing == Some(id) => {}
            Some(_) => {
                tracing::debug!("{id}: its SA no longer waits for it; result ignored");
                return;
            }
            None => {
                tracing::debug!("{id}: its SA is gone; result ignored");
                return;
            }
        }
        let compute::Outcome::Init(done) = result.outcome;
        let gone = self.with_sa(serial, now, |ctx, sa| {
            sa.hs_mut().computing = None;
            let r = match sa.role {
                Role::Responder => {
                    ike_sa_init::request_computed(ctx, sa, done).map(|kept| (Fate::Keep, !kept))
                }
                Role::Initiator => {
                    init_response_computed(ctx, config, sa, done).map(|f| (f, false))
                }
            };
            match r {
                Ok(r) => r,
                Err(e) => (sa_failed(ctx, sa, &e), false),
            }
        });
        if gone == Some(true) {
            // Refused like a request answered before any state was kept: no
            // life-cycle event for an SA the daemon never heard of.
            if let Some(sa) = self.remove_sa(serial) {
                self.forget(&sa);
            }
        }
    }

    /// With [`EndpointConfig::inline_compute`], runs the queued compute jobs now,
    /// in order (a result may queue another job, which runs too).
    fn run_inline(&mut self, now: Instant, config: &dyn ConfigSource) {
        if !self.config.inline_compute {
            return;
        }
        while let Some(job) = self.out.compute.pop() {
            let result = job.run();
            self.computed_one(result, now, config);
        }
    }

    /// When [`handle_timeout`](Self::handle_timeout) must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.debug_check_index();
        self.index.next_deadline()
    }

    /// Debug builds check the index against the table while it is small (the check
    /// is a scan, which would defeat the index on a loaded endpoint).
    fn debug_check_index(&self) {
        if cfg!(debug_assertions) && self.sas.len() <= 64 {
            debug_assert_eq!(self.index.len(), self.sas.len(), "SA index out of step");
            for sa in self.sas.values() {
                debug_assert!(
                    self.index.is_current(sa),
                    "SA index stale for {}",
                    sa.serial
                );
            }
        }
    }

    /// Puts a new SA into the table and the indexes.
    fn insert_sa(&mut self, mut sa: Box<IkeSa>) {
        sa.trim();
        self.index.update(&sa);
        self.sas.insert(sa.serial, sa);
    }

    /// Takes an SA out of the table and the indexes.
    fn remove_sa(&mut self, serial: SaSerial) -> Option<Box<IkeSa>> {
        self.index.remove(serial);
        self.sas.remove(&serial)
    }

    /// Runs `f` on IKE SA `serial` where it lies in the table, then settles the SA
    /// with the fate `f` returns. `None` when there is no such SA.
    fn with_sa<R>(
        &mut self,
        serial: SaSerial,
        now: Instant,
        f: impl FnOnce(&mut Ctx<'_>, &mut IkeSa) -> (Fate, R),
    ) -> Option<R> {
        let (mut ctx, sas) = self.ctx(now);
        let sa = sas.get_mut(&serial)?;
        let (fate, r) = f(&mut ctx, sa);
        self.settle(serial, fate, now);
        Some(r)
    }

    /// The IKE SA owning Child SA `child`.
    fn owner_of(&self, child: SaSerial) -> Result<SaSerial, Error> {
        self.index
            .owners_of_child(child)
            .find(|ike| {
                self.sas
                    .get(ike)
                    .is_some_and(|sa| sa.children.iter().any(|c| c.serial == child))
            })
            .ok_or(Error::UnknownSerial(child))
    }

    /// The IKE SAs and their Child SAs, for status output.
    pub fn status(&self) -> Vec<IkeSaStatus> {
        self.sas
            .values()
            .filter(|sa| sa.state != IkeState::Dying)
            .map(|sa| self.sa_status(sa))
            .collect()
    }

    /// Each IKE SA that is not dying, as its connection's name and libreswan's
    /// state name: what counters and `--globalstatus` need, without building
    /// every SA's whole status as [`status`](Self::status) does.
    pub fn states(&self) -> impl Iterator<Item = (&str, &'static str)> + '_ {
        self.sas
            .values()
            .filter(|sa| sa.state != IkeState::Dying)
            .map(|sa| (&*sa.conn.name, state_name(sa)))
    }

    /// One IKE SA's status (`None` when unknown or dying): what the daemon asks on
    /// every event, without building the whole table as [`status`](Self::status)
    /// does.
    pub fn ike_sa_status(&self, serial: SaSerial) -> Option<IkeSaStatus> {
        self.sas
            .get(&serial)
            .filter(|sa| sa.state != IkeState::Dying)
            .map(|sa| self.sa_status(sa))
    }

    /// The status of each IKE SA of connection `name` (not dying), found through
    /// the per-connection index: what a whack form naming one connection needs,
    /// without building every SA's status.
    pub fn status_of_connection(&self, name: &str) -> Vec<IkeSaStatus> {
        self.index
            .of_connection(name)
            .filter_map(|s| self.ike_sa_status(s))
            .filter(|s| s.connection == name)
            .collect()
    }

    /// Whether connection `name` has an IKE SA that is not dying (one being
    /// negotiated counts); found through the per-connection index.
    pub fn has_ike_sa(&self, name: &str) -> bool {
        self.index.of_connection(name).any(|s| {
            self.sas
                .get(&s)
                .is_some_and(|sa| sa.state != IkeState::Dying && *sa.conn.name == *name)
        })
    }

    fn sa_status(&self, sa: &IkeSa) -> IkeSaStatus {
        IkeSaStatus {
            serial: sa.serial,
            connection: sa.conn.name.to_string(),
            initiator: sa.role == Role::Initiator,
            state: match (sa.state, sa.role) {
                (IkeState::InitSent, _) => "IKE_SA_INIT_I",
                (IkeState::AuthSent, _) => "IKE_AUTH_I",
                (IkeState::HalfOpen, _) => "IKE_SA_INIT_R",
                (IkeState::Established, _) => "ESTABLISHED_IKE_SA",
                (IkeState::Deleting, _) => "IKE_SA_DELETE",
                (IkeState::Dying, _) => "IKE_SA_DELETED",
            },
            spis: (sa.spi_i, sa.spi_r),
            local: sa.local,
            remote: sa.remote,
            children: sa
                .children
                .iter()
                .map(|c| ChildSaStatus {
                    serial: c.serial,
                    inbound_spi: c.inbound_spi,
                    outbound_spi: c.outbound_spi,
                })
                .collect(),
            peer_id: sa.peer_id.clone(),
            instance: self.out.instances.get(&sa.serial).map(|i| i.to_string()),
        }
    }

    /// Names the connection instance IKE SA `ike` belongs to (libreswan's
    /// `"rw"[1] 192.0.2.1`, quotes included), when the daemon instantiated a
    /// template for it. From now on the progress lines of the IKE SA, of its
    /// Child SAs and of the SAs that later replace them carry this name instead
    /// of the template's; [`Progress::connection`] and events keep the template's
    /// name, which is what configuration lookups use.
    pub fn set_instance_name(&mut self, ike: SaSerial, name: String) -> Result<(), Error> {
        let sa = self.sas.get(&ike).ok_or(Error::UnknownSerial(ike))?;
        let name: Arc<str> = name.into();
        let mut serials = vec![ike];
        serials.extend(sa.children.iter().map(|c| c.serial));
        serials.extend(sa.pending_child.as_ref().map(|p| p.serial));
        serials.extend(sa.pending_create_child.as_ref().map(|p| p.serial));
        for s in serials {
            self.out.instances.insert(s, name.clone());
        }
        Ok(())
    }

    fn ctx(&mut self, now: Instant) -> (Ctx<'_>, &mut BTreeMap<SaSerial, Box<IkeSa>>) {
        (
            Ctx {
                now,
                rng: &*self.rng,
                cfg: &self.config,
                out: &mut self.out,
                next_serial: &mut self.next_serial,
            },
            &mut self.sas,
        )
    }

    /// Starts negotiating `conn` as initiator (`whack --initiate`). Returns the IKE
    /// SA's serial; progress and the outcome arrive as events.
    pub fn initiate(&mut self, conn: Arc<Connection>, now: Instant) -> Result<SaSerial, Error> {
        self.start_attempt(conn, 1, None, false, now)
    }

    /// `whack --initiate` / `ipsec up`: brings `conn` up using what exists, as
    /// libreswan does. With an established IKE SA of the connection with its
    /// peer (the newest, if several), no second IKE SA is made: an IKE-only
    /// connection has nothing more to do, and one with a Child SA policy but no
    /// Child SA up gets one with CREATE_CHILD_SA ([`create_child_sa`]). An IKE SA
    /// still in IKE_SA_INIT/IKE_AUTH, or a Child SA being added, is left to
    /// finish. Otherwise a new IKE SA is negotiated, as [`initiate`] does.
    ///
    /// [`create_child_sa`]: Self::create_child_sa
    /// [`initiate`]: Self::initiate
    pub fn up(&mut self, conn: Arc<Connection>, now: Instant) -> Result<Up, Error> {
        let mine: Vec<&IkeSa> = self
            .index
            .of_connection(&conn.name)
            .filter_map(|s| self.sas.get(&s))
            .map(|sa| &**sa)
            .filter(|sa| {
                sa.remote.ip() == conn.remote_addr || sa.init_remote.ip() == conn.remote_addr
            })
            .collect();
        let up: Vec<&IkeSa> = mine
            .iter()
            .copied()
            .filter(|sa| sa.state == IkeState::Established && sa.replaced_by.is_none())
            .collect();
        if let Some((ike, child)) = up
            .iter()
            .rev()
            .find_map(|sa| sa.children.last().map(|c| (sa.serial, c.serial)))
        {
            return Ok(Up::ChildSaUp { ike, child });
        }
        if let Some(sa) = up.iter().rev().find(|sa| {
            sa.queue
                .iter()
                .chain(sa.outstanding.as_ref().map(|o| &o.kind))
                .any(|k| matches!(k, RequestKind::NewChild(_)))
        }) {
            return Ok(Up::InProgress(sa.serial));
        }
        if let Some(sa) = mine
            .iter()
            .rev()
            .find(|sa| matches!(sa.state, IkeState::InitSent | IkeState::AuthSent))
        {
            return Ok(Up::InProgress(sa.serial));
        }
        let Some(ike) = up.last().map(|sa| sa.serial) else {
            return self.initiate(conn, now).map(Up::NewIkeSa);
        };
        if conn.ike_only {
            return Ok(Up::IkeSaUp(ike));
        }
        let child = self.create_child_sa(ike, now)?;
        Ok(Up::NewChildSa { ike, child })
    }

    /// Negotiates an additional Child SA of IKE SA `ike`'s connection over it
    /// with CREATE_CHILD_SA (RFC 7296 1.3.1), in either role: the connection's
    /// Child SA proposals (with a KE when it has PFS) and traffic selectors. The
    /// request waits behind one outstanding. Returns the new Child SA's serial;
    /// the outcome is [`Event::ChildSaEstablished`] or [`Event::ChildSaFailed`]
    /// (the IKE SA stays either way).
    pub fn create_child_sa(&mut self, ike: SaSerial, now: Instant) -> Result<SaSerial, Error> {
        self.with_sa(ike, now, |ctx, sa| {
            if sa.state != IkeState::Established || sa.replaced_by.is_some() {
                return (Fate::Keep, Err(Error::NotEstablished(ike)));
            }
            let child = ctx.serial_under(sa.serial);
            match enqueue(ctx, sa, RequestKind::NewChild(child)) {
                Ok(()) => (Fate::Keep, Ok(child)),
                Err(e) => (Fate::Remove(SaEnd::Error(e.to_string())), Err(e)),
            }
        })
        .ok_or(Error::UnknownSerial(ike))?
    }

    fn start_attempt(
        &mut self,
        conn: Arc<Connection>,
        attempt: u32,
        trigger: Option<TriggeringPacket>,
        on_demand: bool,
        now: Instant,
    ) -> Result<SaSerial, Error> {
        let (mut ctx, _) = self.ctx(now);
        let mut sa = ike_sa_init::initiate(&mut ctx, conn, attempt)?;
        sa.trigger = trigger.map(Box::new);
        sa.on_demand = on_demand;
        let serial = sa.serial;
        self.by_spi.insert(sa.our_spi(), serial);
        self.insert_sa(Box::new(sa));
        Ok(serial)
    }

    /// A kernel ACQUIRE for a trap policy of `conn`: initiates unless an IKE SA of the
    /// connection already exists or is being negotiated. Without the triggering
    /// packet the Child SA proposes the connection's selectors only; see
    /// [`handle_acquire_packet`](Self::handle_acquire_packet).
    pub fn handle_acquire(
        &mut self,
        conn: Arc<Connection>,
        now: Instant,
    ) -> Result<Option<SaSerial>, Error> {
        self.acquire(conn, None, now)
    }

    /// [`handle_acquire`](Self::handle_acquire) with the packet that triggered the
    /// ACQUIRE: the first Child SA's first TSi/TSr are the packet's selectors (RFC
    /// 7296 2.9), followed by the connection's. Selectors outside the connection's
    /// are ignored (with a log line), as the kernel policy cannot have trapped them.
    pub fn handle_acquire_packet(
        &mut self,
        conn: Arc<Connection>,
        packet: TriggeringPacket,
        now: Instant,
    ) -> Result<Option<SaSerial>, Error> {
        let inside = conn.local_ts.iter().any(|t| t.contains(&packet.local))
            && conn.remote_ts.iter().any(|t| t.contains(&packet.remote));
        let trigger = if inside {
            Some(packet)
        } else {
            tracing::info!(
                "\"{}\": acquired packet {}==={} lies outside the connection's selectors; proposing those only",
                conn.name,
                packet.local,
                packet.remote
            );
            None
        };
        self.acquire(conn, trigger, now)
    }

    fn acquire(
        &mut self,
        conn: Arc<Connection>,
        trigger: Option<TriggeringPacket>,
        now: Instant,
    ) -> Result<Option<SaSerial>, Error> {
        let busy = self.index.of_connection(&conn.name).any(|s| {
            self.sas
                .get(&s)
                .is_some_and(|sa| !matches!(sa.state, IkeState::Deleting | IkeState::Dying))
        });
        if busy {
            tracing::debug!(
                "\"{}\": ignoring acquire, negotiation already under way",
                conn.name
            );
            return Ok(None);
        }
        self.start_attempt(conn, 1, trigger, true, now).map(Some)
    }

    /// The Child SA whose inbound SPI is `spi`, found through the SPI index
    /// (what a kernel event names) rather than by looking at every Child SA.
    pub fn child_of_inbound_spi(&self, spi: u32) -> Option<SaSerial> {
        self.index.owners_of_spi(spi).find_map(|ike| {
            self.sas
                .get(&ike)?
                .children
                .iter()
                .find(|c| c.inbound_spi == spi)
                .map(|c| c.serial)
        })
    }

    /// A kernel EXPIRE for one of our Child SAs, identified by either of its SPIs. A
    /// hard expiry deletes the Child SA with the peer. A soft one is only a hint:
    /// the core schedules rekeys itself, so it rekeys the Child SA now only if the
    /// core's rekey has not begun and is wanted (not `--dontrekey`, not superseded).
    pub fn handle_expire(&mut self, spi: u32, hard: bool, now: Instant) -> Result<(), Error> {
        let found = self.index.owners_of_spi(spi).find_map(|ike| {
            let sa = self.sas.get(&ike)?;
            sa.children
                .iter()
                .find(|c| c.inbound_spi == spi || c.outbound_spi == spi)
                .map(|c| (sa.conn.name.clone(), c.serial, c.rekey_at.is_some()))
        });
        let Some((name, child, rekey_pending)) = found else {
            tracing::debug!("EXPIRE for unknown SPI {spi:#010x}; ignored");
            return Ok(());
        };
        if hard {
            self.out.progress(
                &name,
                Some(child),
                Rc::LOG,
                "Child SA reached its hard lifetime; deleting it".to_owned(),
            );
            self.delete_child_sa(child, now)
        } else if rekey_pending {
            // The core's own rekey time comes before the kernel's soft limit (see
            // the daemon's lifetimes()): a soft EXPIRE only means that rekey never
            // started (a clock jump, a lost timer), so it starts now.
            self.rekey_child_sa(child, now)
        } else {
            tracing::debug!(
                "\"{name}\" {child}: soft EXPIRE ignored: rekey already under way, not wanted (--dontrekey) or superseded"
            );
            Ok(())
        }
    }

    /// Traffic from the peer arrived for IKE SA or Child SA `serial` (the daemon
    /// saw an ESP inbound byte counter grow): the peer is alive, so the liveness
    /// check waits for `dpddelay` of silence from now. Unknown serials are
    /// ignored (the SA may just have gone).
    pub fn note_peer_traffic(&mut self, serial: SaSerial, now: Instant) {
        let ike = if self.sas.contains_key(&serial) {
            serial
        } else {
            match self.owner_of(serial) {
                Ok(ike) => ike,
                Err(_) => return,
            }
        };
        if let Some(sa) = self.sas.get_mut(&ike) {
            // Only the contact time changes, not a timer: the index stays current
            // (the liveness timer looks at it when it fires).
            if sa.last_contact.is_none_or(|t| t < now) {
                sa.last_contact = Some(now);
            }
        }
    }

    /// `whack --crash ADDR`: the peer at `addr` crashed. Every IKE SA with it is
    /// removed at once, its Child SAs uninstalled, without sending anything (the
    /// peer lost its SAs), and reported as [`SaEnd::PeerDead`] so the daemon
    /// restores the connections as after a failed liveness check. Returns the IKE
    /// SAs removed.
    pub fn peer_crashed(&mut self, addr: IpAddr, now: Instant) -> Vec<SaSerial> {
        let gone: Vec<SaSerial> = self
            .sas
            .values()
            .filter(|sa| sa.remote.ip() == addr && sa.state != IkeState::Dying)
            .map(|sa| sa.serial)
            .collect();
        for s in &gone {
            self.with_sa(*s, now, |ctx, sa| {
                ctx.out.progress(
                    &sa.conn.name,
                    Some(sa.serial),
                    Rc::LOG,
                    format!("peer {addr} crashed; deleting the IKE SA and its Child SAs"),
                );
                (Fate::Remove(SaEnd::PeerDead), ())
            });
        }
        gone
    }

    /// The IKE SAs whose liveness check is due by `now`: the daemon may read their
    /// Child SAs' inbound counters and report traffic with
    /// [`note_peer_traffic`](Self::note_peer_traffic) before
    /// [`handle_timeout`](Self::handle_timeout) decides whether to probe. Only the
    /// due SAs are looked at.
    pub fn liveness_due(&self, now: Instant) -> Vec<SaSerial> {
        self.index
            .due(now)
            .into_iter()
            .filter(|s| {
                self.sas.get(s).is_some_and(|sa| {
                    sa.state == IkeState::Established
                        && sa.outstanding.is_none()
                        && sa.next_dpd.is_some_and(|t| t <= now)
                })
            })
            .collect()
    }

    /// Every pending timer of every SA, earliest first (`whack --listevents`).
    /// One pass over the table; nothing is computed beyond what the SAs hold.
    pub fn pending_timers(&self) -> Vec<PendingTimer> {
        let mut v: Vec<PendingTimer> = self
            .sas
            .values()
            .flat_map(|sa| {
                sa.timers().map(|(at, kind, serial)| PendingTimer {
                    at,
                    kind,
                    serial,
                    connection: sa.conn.name.to_string(),
                })
            })
            .collect();
        v.sort_by_key(|t| (t.at, t.serial, t.kind));
        v
    }

    /// Rekeys an IKE SA with CREATE_CHILD_SA (RFC 7296 2.18), as happens by itself
    /// when its lifetime ends: the new IKE SA (announced with
    /// [`Event::IkeSaEstablished`]) takes over the Child SAs, then the old one is
    /// deleted ([`Event::IkeSaDeleted`] with [`SaEnd::Deleted`]).
    pub fn rekey_ike_sa(&mut self, serial: SaSerial, now: Instant) -> Result<(), Error> {
        self.with_sa(serial, now, |ctx, sa| {
            let mut fate = Fate::Keep;
            let busy = sa.pending_ike_rekey.is_some()
                || sa.replaced_by.is_some()
                || sa.queue.contains(&RequestKind::RekeyIke);
            if sa.state == IkeState::Established && !busy {
                if let Err(e) = enqueue(ctx, sa, RequestKind::RekeyIke) {
                    fate = Fate::Remove(SaEnd::Error(e.to_string()));
                }
            }
            (fate, ())
        })
        .ok_or(Error::UnknownSerial(serial))
    }

    /// Rekeys a Child SA with CREATE_CHILD_SA (RFC 7296 2.8): a new pair is
    /// negotiated (with PFS when the connection says so) and installed, then the old
    /// one is uninstalled and deleted with the peer.
    pub fn rekey_child_sa(&mut self, child: SaSerial, now: Instant) -> Result<(), Error> {
        let ike = self.owner_of(child)?;
        self.with_sa(ike, now, |ctx, sa| {
            let busy = sa.rekey_under_way(child);
            let mut fate = Fate::Keep;
            if sa.state == IkeState::Established && !busy {
                if let Err(e) = enqueue(ctx, sa, RequestKind::RekeyChild(child)) {
                    fate = Fate::Remove(SaEnd::Error(e.to_string()));
                }
            }
            (fate, ())
        })
        .ok_or(Error::UnknownSerial(ike))
    }

    /// Deletes an IKE SA (`whack --down`, `--delete`, shutdown): its Child SAs are
    /// uninstalled at once and a Delete is sent to the peer if the SA is established;
    /// an SA still negotiating is just dropped.
    pub fn delete_ike_sa(&mut self, serial: SaSerial, now: Instant) -> Result<(), Error> {
        self.with_sa(serial, now, |ctx, sa| {
            let fate = match sa.state {
                IkeState::Established => {
                    ctx.out.progress(
                        &sa.conn.name,
                        Some(serial),
                        Rc::LOG,
                        "deleting IKE SA and sending notification".to_owned(),
                    );
                    match begin_delete(ctx, sa) {
                        Ok(()) => Fate::Keep,
                        Err(e) => Fate::Remove(SaEnd::Error(e.to_string())),
                    }
                }
                IkeState::Deleting | IkeState::Dying => Fate::Keep,
                _ => {
                    ctx.out.progress(
                        &sa.conn.name,
                        Some(serial),
                        Rc::LOG,
                        "deleting IKE SA that is still being negotiated".to_owned(),
                    );
                    Fate::Remove(SaEnd::Deleted)
                }
            };
            (fate, ())
        })
        .ok_or(Error::UnknownSerial(serial))
    }

    /// Deletes one Child SA: uninstalls it and sends a Delete for it.
    pub fn delete_child_sa(&mut self, child: SaSerial, now: Instant) -> Result<(), Error> {
        let ike = self.owner_of(child)?;
        self.with_sa(ike, now, |ctx, sa| {
            let mut fate = Fate::Keep;
            if let Some(i) = sa.children.iter().position(|c| c.serial == child) {
                let c = sa.children.remove(i);
                ctx.out.progress(
                    &sa.conn.name,
                    Some(child),
                    Rc::LOG,
                    format!(
                        "deleting Child SA using {} and sending notification",
                        sa.serial
                    ),
                );
                create_child_sa::uninstall(ctx, sa, &c);
                if let Err(e) = enqueue(ctx, sa, RequestKind::DeleteChild(vec![c.inbound_spi])) {
                    fate = Fate::Remove(SaEnd::Error(e.to_string()));
                }
            }
            (fate, ())
        })
        .ok_or(Error::UnknownSerial(ike))
    }

    /// The kernel accepted Child SA `child` (after its
    /// [`KernelRequest::InstallChildSa`]): with
    /// [`EndpointConfig::confirm_child_installs`] set, it is announced now ("established
    /// Child SA" and [`Event::ChildSaEstablished`]), a responder sends the IKE_AUTH or
    /// CREATE_CHILD_SA response that carries it (held until now), and a Child SA it
    /// replaces in a rekey we initiated is retired. Announcing twice is avoided, so calling this
    /// with the flag unset is harmless.
    pub fn child_sa_installed(&mut self, child: SaSerial, now: Instant) -> Result<(), Error> {
        self.with_child_then_pump(child, now, |ctx, sa| {
            create_child_sa::confirm(ctx, sa, child)
        })
    }

    /// The kernel refused Child SA `child` (`reason` says why, for the log): the
    /// Child SA is never announced; it is uninstalled (a
    /// [`KernelRequest::DeleteChildSa`] for whatever half got in, then
    /// [`Event::ChildSaDeleted`]) and deleted with the peer, like libreswan does;
    /// as responder, whose answer waited for the kernel, the IKE_AUTH or
    /// CREATE_CHILD_SA response refuses the Child SA with TS_UNACCEPTABLE instead
    /// (and [`Event::ChildSaFailed`] follows). The IKE SA stays. The daemon ends a
    /// waiting `whack --initiate` itself.
    pub fn child_sa_install_failed(
        &mut self,
        child: SaSerial,
        reason: &str,
        now: Instant,
    ) -> Result<(), Error> {
        self.with_child_then_pump(child, now, |ctx, sa| {
            create_child_sa::install_failed(ctx, sa, child, reason)
        })
    }

    /// Runs `f` on the IKE SA that owns Child SA `child`; when `f` reports that it
    /// changed something the peer must hear about, sends what is queued (a send
    /// failure ends the IKE SA). Shared by the kernel's install answers.
    fn with_child_then_pump(
        &mut self,
        child: SaSerial,
        now: Instant,
        f: impl FnOnce(&mut Ctx<'_>, &mut IkeSa) -> Result<bool, Error>,
    ) -> Result<(), Error> {
        let ike = self.owner_of(child)?;
        self.with_sa(ike, now, |ctx, sa| {
            let mut fate = Fate::Keep;
            match f(ctx, sa).and_then(|changed| if changed { pump(ctx, sa) } else { Ok(()) }) {
                Ok(()) => {}
                Err(e) => fate = Fate::Remove(SaEnd::Error(e.to_string())),
            }
            (fate, ())
        })
        .ok_or(Error::UnknownSerial(ike))
    }

    /// The kernel saw ESP-in-UDP of Child SA `child` arrive from `new` (an
    /// XFRM MAPPING event: the NAT in front of the peer changed its port): the
    /// IKE SA owning it sends to `new` from now on, as RFC 7296 2.23 asks of an
    /// end that is not behind a NAT itself. Logged as libreswan does
    /// (`"c" #1: NAT-T: new mapping 192.0.2.9:4501`). Returns the IKE SA's serial.
    /// Only for IKE SAs already on the NAT-T port with a NAT detected on the
    /// peer's side ([`Error::NotNatted`] otherwise: the event is then spurious).
    pub fn handle_mapping(
        &mut self,
        child: SaSerial,
        new: SocketAddr,
        now: Instant,
    ) -> Result<SaSerial, Error> {
        let ike = self.owner_of(child)?;
        self.with_sa(ike, now, |ctx, sa| {
            let natted = sa.nat_remote && sa.local.port() == ctx.cfg.natt_port;
            if !natted {
                return (Fate::Keep, Err(Error::NotNatted(ike)));
            }
            if sa.remote != new {
                sa.remote = new;
                ctx.out.progress(
                    &sa.conn.name,
                    Some(ike),
                    Rc::LOG,
                    format!("NAT-T: new mapping {new}"),
                );
            }
            (Fate::Keep, Ok(ike))
        })
        .ok_or(Error::UnknownSerial(ike))?
    }

    /// Deletes every IKE SA of a connection (`whack --down`). Returns how many.
    pub fn delete_connection(&mut self, name: &str, now: Instant) -> usize {
        let serials: Vec<SaSerial> = self
            .index
            .of_connection(name)
            .filter(|s| {
                self.sas
                    .get(s)
                    .is_some_and(|sa| sa.state != IkeState::Dying)
            })
            .collect();
        for s in &serials {
            // The serials were just collected, so the SAs exist.
            let _ = self.delete_ike_sa(*s, now);
        }
        serials.len()
    }

    /// Sends an empty INFORMATIONAL request (a liveness check) in an established SA.
    pub fn send_liveness(&mut self, serial: SaSerial, now: Instant) -> Result<(), Error> {
        self.with_sa(serial, now, |ctx, sa| {
            let r = if sa.state == IkeState::Established {
                enqueue(ctx, sa, RequestKind::Liveness)
            } else {
                Err(Error::NoKeys)
            };
            (Fate::Keep, r)
        })
        .ok_or(Error::UnknownSerial(serial))?
    }

    /// Handles one received datagram. `local` is our address and port it arrived on,
    /// `remote` the sender's; `data` is the UDP payload as read (on the NAT-T port
    /// still with its non-ESP marker).
    pub fn handle(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        data: &[u8],
        config: &dyn ConfigSource,
    ) {
        self.handle_datagram(now, local, remote, data, config);
        self.run_inline(now, config);
    }

    fn handle_datagram(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        data: &[u8],
        config: &dyn ConfigSource,
    ) {
        let data = if local.port() == self.config.natt_port {
            match data {
                [0xff] => return, // NAT keepalive (RFC 3948 2.3)
                [0, 0, 0, 0, rest @ ..] => rest,
                _ => {
                    tracing::debug!("ignoring non-IKE packet from {remote} on the NAT-T port");
                    return;
                }
            }
        } else {
            data
        };
        let raw = match Header::decode(data) {
            Ok(r) => r,
            Err(DecodeError::InvalidMajorVersion { found, .. }) if found > 2 => {
                self.invalid_major_version(now, local, remote, data, found);
                return;
            }
            Err(e) => {
                // Unauthenticated garbage gets no answer (RFC 7296 2.21).
                tracing::debug!("dropping packet from {remote}: {e}");
                return;
            }
        };
        if raw.length as usize != data.len() {
            tracing::debug!(
                "dropping packet from {remote}: IKE length {} differs from the datagram's {}",
                raw.length,
                data.len()
            );
            return;
        }
        let hdr = raw.header;
        if hdr.exchange == ExchangeType::IKE_SA_INIT && !hdr.flags.response {
            self.handle_init_request(now, local, remote, data, config);
            return;
        }
        let our_spi = if hdr.flags.initiator {
            hdr.spi_r
        } else {
            hdr.spi_i
        };
        let Some(serial) = self.by_spi.get(&our_spi).copied() else {
            self.unknown_spi(now, local, remote, &hdr);
            return;
        };
        let initial_contact = self.with_sa(serial, now, |ctx, sa| {
            let fate = match handle_in_sa(ctx, sa, &hdr, local, remote, data, config) {
                Ok(f) => f,
                Err(e) => sa_failed(ctx, sa, &e),
            };
            let flags = (
                std::mem::take(&mut sa.initial_contact),
                std::mem::take(&mut sa.just_authenticated),
            );
            (fate, flags)
        });
        let Some((initial_contact, authenticated)) = initial_contact else {
            return;
        };
        if initial_contact {
            self.purge_stale(serial, now);
        }
        if authenticated && self.config.unique_ids {
            self.replace_same_id(serial, now);
        }
    }

    /// `--uniqueids`: the IKE SA `serial` just authenticated its peer; older IKE SAs
    /// of the connection with the same peer (and our) ID are replaced by it: each
    /// is deleted with a Delete, so a peer that still holds it drops it too. Costs
    /// the SAs of the same connection and peer ID, as INITIAL_CONTACT does.
    fn replace_same_id(&mut self, serial: SaSerial, now: Instant) {
        if self
            .sas
            .get(&serial)
            .is_none_or(|new| new.peer_id.is_none())
        {
            return;
        }
        let Some((name, older)) = self.same_peer(serial, |new, sa| {
            sa.conn.local_id == new.conn.local_id && sa.state == IkeState::Established
        }) else {
            return;
        };
        for old in older {
            self.out.progress(
                &name,
                Some(serial),
                Rc::LOG,
                format!("uniqueids: IKE SA replaces older IKE SA {old} of the same peer ID; deleting it"),
            );
            if let Err(e) = self.delete_ike_sa(old, now) {
                tracing::debug!("uniqueids: deleting IKE SA {old}: {e}");
            }
        }
    }

    /// The other IKE SAs of IKE SA `serial`'s connection with the same peer ID
    /// that `also(new, other)` accepts, in serial order, and the connection's
    /// name (INITIAL_CONTACT and `--uniqueids`). Costs the SAs of that
    /// connection and peer ID only (the index by peer), not all of the
    /// connection's: a template's road warriors share it.
    fn same_peer(
        &self,
        serial: SaSerial,
        also: impl Fn(&IkeSa, &IkeSa) -> bool,
    ) -> Option<(String, Vec<SaSerial>)> {
        let new = self.sas.get(&serial)?;
        let Some(id) = new.peer_id.as_ref() else {
            return Some((new.conn.name.to_string(), Vec::new()));
        };
        let others = self
            .index
            .of_peer(&new.conn.name, id)
            .filter_map(|s| self.sas.get(&s))
            .filter(|sa| {
                sa.serial != serial
                    && sa.conn.name == new.conn.name
                    && sa.peer_id.as_ref() == Some(id)
                    && also(new, sa)
            })
            .map(|sa| sa.serial)
            .collect();
        Some((new.conn.name.to_string(), others))
    }

    /// RFC 7296 2.4: after INITIAL_CONTACT, the peer has forgotten its older IKE SAs
    /// with us; ours are deleted locally, without Deletes it would not understand.
    fn purge_stale(&mut self, serial: SaSerial, now: Instant) {
        let Some((name, stale)) = self.same_peer(serial, |new, sa| {
            sa.remote.ip() == new.remote.ip()
                && matches!(sa.state, IkeState::Established | IkeState::Deleting)
        }) else {
            return;
        };
        for old in stale {
            if self.sas.contains_key(&old) {
                self.out.progress(
                    &name,
                    Some(serial),
                    Rc::LOG,
                    format!(
                        "received INITIAL_CONTACT; deleting older IKE SA {old} of the same peer"
                    ),
                );
                self.settle(old, Fate::Remove(SaEnd::Deleted), now);
            }
        }
    }

    fn handle_init_request(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        data: &[u8],
        config: &dyn ConfigSource,
    ) {
        if let Some(serial) = self.by_init.get(&(
            remote,
            Header::decode(data)
                .map(|h| h.header.spi_i)
                .unwrap_or_default(),
        )) {
            if let Some(sa) = self.sas.get(serial) {
                match &sa.last_response {
                    None if sa.hs().computing.is_some() && sa.init_request() == data => tracing::debug!(
                        "{}: IKE_SA_INIT request retransmitted while its response is computed; dropped (the response follows)",
                        self.out.label(&sa.conn.name, sa.serial)
                    ),
                    Some((0, resp)) if sa.last_request == data => {
                        tracing::debug!(
                            "{}: retransmitting IKE_SA_INIT response to duplicate request",
 self.out.label(&sa.conn.name, sa.serial)
                        );
                        for m in resp {
                            self.out.send(&self.config, sa.local, sa.remote, m);
                        }
                    }
                    _ => tracing::debug!(
                        "dropping IKE_SA_INIT request from {remote}: an IKE SA with this SPIi exists"
                    ),
                }
                return;
            }
        }
        let (busy, refuse) = self.config.ddos.verdict(self.index.half_open());
        if refuse {
            // Dropped before any work: no decode, no answer, no state (RFC 8019
            // 4.1's last resort), counted for --globalstatus.
            self.out.stats.half_open_refused += 1;
            tracing::debug!(
                "dropping IKE_SA_INIT request from {remote}: {} half-open IKE SAs, the maximum",
                self.index.half_open()
            );
            return;
        }
        let msg = match Message::decode(data) {
            Ok(m) => m,
            Err(e) => {
                // RFC 7296 2.5: an unknown critical payload is refused even here;
                // any other malformed IKE_SA_INIT is unauthenticated garbage.
                match (e.unsupported_payload_type(), Header::decode(data)) {
                    (Some(ty), Ok(raw)) if self.may_answer_unprotected(now, remote.ip()) => {
                        tracing::info!(
                            "IKE_SA_INIT request from {remote}: {e}; answering UNSUPPORTED_CRITICAL_PAYLOAD"
                        );
                        let n = Notify::unsupported_critical_payload(ty);
                        self.answer_unprotected(local, remote, &raw.header, n);
                    }
                    _ => tracing::debug!("dropping IKE_SA_INIT request from {remote}: {e}"),
                }
                return;
            }
        };
        if msg.header.spi_r != [0; 8] || msg.header.message_id != 0 {
            tracing::info!(
                "dropping IKE_SA_INIT request from {remote}: non-zero responder SPI or message ID"
            );
            return;
        }
        self.out
            .stats
            .received(msg.header.exchange, false, &msg.payloads);
        // Under load (auto mode, from a quarter of the cookie threshold on), a
        // source past its budget of new IKE SAs must return a cookie while the
        // others are still served without: see [`budget`].
        let busy = busy
            || (self.config.ddos.budgets_apply(self.index.half_open())
                && !self.budget.take(now, remote.ip()));
        let Endpoint {
            config: cfg,
            rng,
            out,
            next_serial,
            cookies,
            ..
        } = self;
        let mut ctx = Ctx {
            now,
            rng: &**rng,
            cfg,
            out,
            next_serial,
        };
        match ike_sa_init::process_request(
            &mut ctx, config, cookies, busy, local, remote, &msg, data,
        ) {
            Ok(Some(sa)) => {
                self.by_spi.insert(sa.our_spi(), sa.serial);
                self.by_init.insert((remote, sa.spi_i), sa.serial);
                self.insert_sa(Box::new(sa));
            }
            Ok(None) => {}
            Err(e) => tracing::warn!("IKE_SA_INIT request from {remote} failed: {e}"),
        }
    }

    /// RFC 7296 2.21.4: a request for an IKE SA we do not know may be answered,
    /// unprotected, with INVALID_IKE_SPI (at most once a second per peer); a
    /// response is dropped.
    fn unknown_spi(&mut self, now: Instant, local: SocketAddr, remote: SocketAddr, hdr: &Header) {
        if hdr.flags.response {
            tracing::debug!(
                "dropping {} response from {remote} for an unknown IKE SA",
                hdr.exchange
            );
            return;
        }
        if !self.may_answer_unprotected(now, remote.ip()) {
            return;
        }
        tracing::info!(
            "{} request from {remote} for an unknown IKE SA; answering INVALID_IKE_SPI",
            hdr.exchange
        );
        self.answer_unprotected(local, remote, hdr, Notify::new(NotifyType::INVALID_IKE_SPI));
    }

    /// Sends an unprotected response to request `hdr` holding only `notify`.
    fn answer_unprotected(
        &mut self,
        local: SocketAddr,
        remote: SocketAddr,
        hdr: &Header,
        notify: Notify,
    ) {
        let ty = notify.ty;
        let msg = Message {
            header: Header {
                flags: Flags {
                    initiator: !hdr.flags.initiator,
                    version: false,
                    response: true,
                },
                ..*hdr
            },
            payloads: vec![Payload::Notify(notify)],
        };
        match msg.to_bytes() {
            Ok(b) => {
                self.out.stats.sent(hdr.exchange, true, &msg.payloads);
                self.out.send(&self.config, local, remote, &b)
            }
            Err(e) => tracing::warn!("cannot encode {ty}: {e}"),
        }
    }

    /// Rate limit of unprotected answers (INVALID_IKE_SPI, INVALID_MAJOR_VERSION,
    /// UNSUPPORTED_CRITICAL_PAYLOAD to IKE_SA_INIT): see [`unprotected`].
    fn may_answer_unprotected(&mut self, now: Instant, peer: IpAddr) -> bool {
        self.unprotected.allow(now, peer)
    }

    /// RFC 7296 2.5: a request with a higher major version is dropped and answered,
    /// unprotected, with INVALID_MAJOR_VERSION in a version 2.0 header (the highest
    /// we speak); responses and lower versions are dropped silently.
    fn invalid_major_version(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        data: &[u8],
        found: u8,
    ) {
        // The fixed header layout is the same in every version (RFC 7296 2.5 asks
        // implementations to keep it): SPIs, next payload, version, exchange type,
        // flags, message ID.
        let (Some(spi_i), Some(spi_r), Some(&exchange), Some(&flags), Some(msgid)) = (
            data.get(0..8).and_then(|b| <[u8; 8]>::try_from(b).ok()),
            data.get(8..16).and_then(|b| <[u8; 8]>::try_from(b).ok()),
            data.get(18),
            data.get(19),
            data.get(20..24).and_then(|b| <[u8; 4]>::try_from(b).ok()),
        ) else {
            return;
        };
        const RESPONSE: u8 = 0x20;
        const INITIATOR: u8 = 0x08;
        if flags & RESPONSE != 0 {
            tracing::debug!("dropping IKE version {found} response from {remote}");
            return;
        }
        if !self.may_answer_unprotected(now, remote.ip()) {
            return;
        }
        tracing::info!(
            "IKE major version {found} request from {remote}; answering INVALID_MAJOR_VERSION (we speak 2)"
        );
        let msg = Message {
            header: Header {
                spi_i,
                spi_r,
                minor_version: 0,
                exchange: ExchangeType(exchange),
                flags: Flags {
                    initiator: flags & INITIATOR == 0,
                    version: false,
                    response: true,
                },
                message_id: u32::from_be_bytes(msgid),
            },
            payloads: vec![Payload::Notify(Notify::new(
                NotifyType::INVALID_MAJOR_VERSION,
            ))],
        };
        match msg.to_bytes() {
            Ok(b) => {
                self.out
                    .stats
                    .sent(msg.header.exchange, true, &msg.payloads);
                self.out.send(&self.config, local, remote, &b)
            }
            Err(e) => tracing::warn!("cannot encode INVALID_MAJOR_VERSION: {e}"),
        }
    }

    /// The liveness and notify counters since start or [`Endpoint::clear_counters`].
    pub fn counters(&self) -> &Counters {
        &self.out.stats
    }

    /// Resets the counters (`whack --clearstats`).
    pub fn clear_counters(&mut self) {
        self.out.stats = Counters::default();
    }

    /// Runs every timer due by `now`: retransmissions, timeouts, half-open expiry,
    /// lifetimes, liveness checks.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.debug_check_index();
        for serial in self.index.due(now) {
            let superseded = self.superseded(serial, now);
            let fate = self.with_sa(serial, now, |ctx, sa| {
                let fate = match sa_timers(ctx, sa, &superseded) {
                    Ok(f) => f,
                    Err(e) => Fate::Remove(SaEnd::Error(e.to_string())),
                };
                (fate, ())
            });
            if fate.is_none() {
                tracing::debug!("{serial}: timer of an IKE SA that is gone; ignored");
            }
        }
    }

    /// For an IKE SA with a rekey timer due: whether it, or which of its Child SAs,
    /// a newer SA of the same connection supersedes. An IKE SA is superseded by a
    /// newer established one with the same peer (address and ID) that nothing
    /// replaced; a Child SA by a newer one with the same selectors (in any IKE SA
    /// of the connection). Only looked at when a rekey is due, so the scan over the
    /// connection's SAs is not paid on every timer.
    fn superseded(&self, serial: SaSerial, now: Instant) -> Superseded {
        let mut out = Superseded::default();
        let Some(sa) = self.sas.get(&serial) else {
            return out;
        };
        let ike_due = sa.rekey_at.is_some_and(|t| t <= now);
        let due: Vec<&sa::ChildSa> = sa
            .children
            .iter()
            .filter(|c| c.rekey_at.is_some_and(|t| t <= now))
            .collect();
        if !ike_due && due.is_empty() {
            return out;
        }
        for other in self
            .index
            .of_connection(&sa.conn.name)
            .filter_map(|s| self.sas.get(&s))
        {
            if other.state != IkeState::Established {
                continue;
            }
            if ike_due
                && other.serial > sa.serial
                && other.replaced_by.is_none()
                && other.remote.ip() == sa.remote.ip()
                && other.peer_id == sa.peer_id
            {
                out.ike = Some(
                    out.ike
                        .map_or(other.serial, |s: SaSerial| s.max(other.serial)),
                );
            }
            for c in &due {
                let newer = other.children.iter().filter(|o| {
                    o.serial > c.serial
                        && o.rekeyed_by_peer.is_none()
                        && o.local_ts == c.local_ts
                        && o.remote_ts == c.remote_ts
                });
                if let Some(n) = newer.map(|o| o.serial).max() {
                    let e = out.children.entry(c.serial).or_insert(n);
                    *e = (*e).max(n);
                }
            }
        }
        out
    }

    /// Done with SA `serial` (still in the table): keeps it, bringing its index
    /// entries up to date, or removes it and reports it, restarting an initiator
    /// whose keying tries remain.
    fn settle(&mut self, serial: SaSerial, fate: Fate, now: Instant) {
        let Some(sa) = self.sas.get_mut(&serial) else {
            return;
        };
        if let Some(mut new) = sa.spawned.take() {
            // A rekey produced the IKE SA that replaces this one.
            if let Some(loser) = new.won_over.take() {
                if let Some(l) = self.sas.get_mut(&loser) {
                    new.children.append(&mut l.children);
                    // Its creator deletes it; should its creator never have got
                    // the answer that made it, we do.
                    l.replaced_by = Some(new.serial);
                    l.expires = Some(later(now, l.conn.retransmit.timeout));
                    l.rekey_at = None;
                    l.next_dpd = None;
                    self.index.update(l);
                }
            }
            self.by_spi.insert(new.our_spi(), new.serial);
            self.insert_sa(new);
        }
        let Some(sa) = self.sas.get_mut(&serial) else {
            return;
        };
        // After a simultaneous rekey (RFC 7296 2.8.1) the Child SAs belong to the
        // surviving new IKE SA: handed over rather than uninstalled with this one.
        let heir = sa.hand_children_to.or_else(|| {
            (!matches!(fate, Fate::Keep))
                .then(|| sa.rekeyed_by_peer.as_ref().map(|(b, _)| *b))
                .flatten()
        });
        let heir = heir.filter(|h| !sa.children.is_empty() && *h != serial);
        if let Some(heir) = heir.filter(|h| self.sas.contains_key(h)) {
            let mut children = Vec::new();
            if let Some(sa) = self.sas.get_mut(&serial) {
                children = std::mem::take(&mut sa.children);
                sa.hand_children_to = None;
            }
            if let Some(h) = self.sas.get_mut(&heir) {
                h.children.append(&mut children);
                self.index.update(h);
            }
        }
        let (reason, linger) = match fate {
            Fate::Keep => {
                if let Some(sa) = self.sas.get_mut(&serial) {
                    sa.trim();
                    self.index.update(sa);
                }
                return;
            }
            Fate::Remove(r) => (r, false),
            Fate::Linger(r) => (r, true),
        };
        let Some(mut sa) = self.remove_sa(serial) else {
            return;
        };
        if sa.state == IkeState::Dying {
            // Already reported when it started lingering.
            self.forget(&sa);
            return;
        }
        // Child SAs still installed go with the IKE SA.
        if !sa.children.is_empty() {
            let (mut ctx, _) = self.ctx(now);
            for child in std::mem::take(&mut sa.children) {
                create_child_sa::uninstall(&mut ctx, &sa, &child);
            }
        }
        let conn = sa.conn.clone();
        let establishing = sa.role == Role::Initiator
            && matches!(sa.state, IkeState::InitSent | IkeState::AuthSent);
        let retry = establishing
            && reason == SaEnd::Timeout
            && (conn.keyingtries == 0 || sa.attempt < conn.keyingtries);
        self.out.events.push_back(Event::IkeSaDeleted {
            connection: conn.name.to_string(),
            ike: sa.serial,
            reason,
            final_failure: establishing && !retry,
        });
        let attempt = sa.attempt + 1;
        let (trigger, on_demand) = (sa.trigger.as_deref().copied(), sa.on_demand);
        if linger {
            sa.state = IkeState::Dying;
            sa.outstanding = None;
            sa.queue.clear();
            sa.expires = None;
            sa.rekey_at = None;
            sa.next_dpd = None;
            sa.next_keepalive = None;
            sa.half_open_deadline = Some(later(now, sa.conn.retransmit.timeout));
            self.insert_sa(sa);
        } else {
            self.forget(&sa);
        }
        if retry {
            let limit = if conn.keyingtries == 0 {
                "an unlimited number".to_owned()
            } else {
                format!("at most {}", conn.keyingtries)
            };
            self.out.progress(
                &conn.name,
                None,
                Rc::LOG,
                format!("starting keying attempt {attempt} of {limit}"),
            );
            if let Err(e) = self.start_attempt(conn.clone(), attempt, trigger, on_demand, now) {
                self.out.progress(
                    &conn.name,
                    None,
                    Rc::LOG_SERIOUS,
                    format!("keying attempt {attempt} failed to start: {e}"),
                );
            }
        }
    }

    /// Drops the lookup entries of an SA that is gone.
    fn forget(&mut self, sa: &IkeSa) {
        // Instance names of Child SAs deleted earlier in the SA's life linger
        // until here; those of SAs that still exist (children handed to a
        // successor) stay.
        // Checked one serial at a time against the table and the Child SA index,
        // not by collecting every live serial: forgetting each of N SAs must not
        // cost all N (tearing down a gateway was quadratic).
        if !self.out.instances.is_empty() {
            let mine = std::iter::once(sa.serial).chain(sa.children.iter().map(|c| c.serial));
            let dead: Vec<SaSerial> = mine
                .filter(|s| {
                    !self.sas.contains_key(s) && self.index.owners_of_child(*s).next().is_none()
                })
                .collect();
            for s in dead {
                self.out.instances.remove(&s);
            }
        }
        if self.by_spi.get(&sa.our_spi()) == Some(&sa.serial) {
            self.by_spi.remove(&sa.our_spi());
        }
        if sa.role == Role::Responder {
            self.by_init.remove(&(sa.init_remote, sa.spi_i));
        }
    }
}

/// Starts deleting an established IKE SA with the peer (`--delete-ike`, or the
/// end of its lifetime): its Child SAs leave the kernel now, its timers and
/// pending requests go, and the Delete is sent, or queued behind the request
/// that is outstanding (the SA is then Deleting until it goes out).
fn begin_delete(ctx: &mut Ctx<'_>, sa: &mut IkeSa) -> Result<(), Error> {
    for child in std::mem::take(&mut sa.children) {
        create_child_sa::uninstall(ctx, sa, &child);
    }
    sa.expires = None;
    sa.rekey_at = None;
    sa.next_dpd = None;
    sa.next_keepalive = None;
    sa.pending_create_child = None;
    sa.queue.clear();
    if sa.outstanding.is_none() {
        informational::send_request(ctx, sa, RequestKind::DeleteIke)
    } else {
        sa.queue.push_back(RequestKind::DeleteIke);
        sa.state = IkeState::Deleting;
        Ok(())
    }
}

/// Sends a request now, or queues it behind the outstanding one (window size 1).
fn enqueue(ctx: &mut Ctx<'_>, sa: &mut IkeSa, kind: RequestKind) -> Result<(), Error> {
    sa.queue.push_back(kind);
    pump(ctx, sa)
}

/// Sends the next queued request if none is outstanding.
fn pump(ctx: &mut Ctx<'_>, sa: &mut IkeSa) -> Result<(), Error> {
    while sa.outstanding.is_none() {
        let Some(kind) = sa.queue.pop_front() else {
            break;
        };
        match kind {
            RequestKind::RekeyChild(child) => {
                // Skipped when the Child SA went away while queued.
                create_child_sa::send_rekey(ctx, sa, child)?;
            }
            RequestKind::NewChild(child) => create_child_sa::send_new_child(ctx, sa, child)?,
            // Skipped when the peer rekeyed the IKE SA while ours was queued.
            RequestKind::RekeyIke if sa.replaced_by.is_some() => {}
            RequestKind::RekeyIke => create_child_sa::send_ike_rekey(ctx, sa, None)?,
            kind => informational::send_request(ctx, sa, kind)?,
        }
    }
    Ok(())
}

/// An error inside an SA's handling ends the SA: logged, and its fate for
/// `settle` (for a message and for a compute result alike).
fn sa_failed(ctx: &mut Ctx<'_>, sa: &IkeSa, e: &Error) -> Fate {
    ctx.out.progress(
        &sa.conn.name,
        Some(sa.serial),
        Rc::LOG_SERIOUS,
        format!("IKE SA failed: {e}"),
    );
    Fate::Remove(SaEnd::Error(e.to_string()))
}

/// Dispatches a message for an existing SA: strict response matching, duplicate
/// requests answered from the cache, then the exchange handlers.
fn handle_in_sa(
    ctx: &mut Ctx<'_>,
    sa: &mut IkeSa,
    hdr: &Header,
    local: SocketAddr,
    remote: SocketAddr,
    data: &[u8],
    config: &dyn ConfigSource,
) -> Result<Fate, Error> {
    let from_initiator = hdr.flags.initiator;
    if from_initiator != (sa.role == Role::Responder) {
        tracing::debug!("{}: dropping message with the wrong I flag", sa.serial);
        return Ok(Fate::Keep);
    }
    // Our SPI matched the lookup; the peer's must match too, except in the
    // IKE_SA_INIT response that tells us what it is.
    let spis_ok =
        hdr.spi_i == sa.spi_i && (sa.state == IkeState::InitSent || hdr.spi_r == sa.spi_r);
    if !spis_ok {
        tracing::debug!("{}: dropping message with mismatched SPIs", sa.serial);
        return Ok(Fate::Keep);
    }
    if sa.hs().computing.is_some() {
        // Nothing moves the SA on until its compute job is back (a second job for a
        // retransmitted response must not start); the peer retransmits.
        tracing::debug!(
            "{}: dropping {} {} while a compute job is out",
            ctx.out.label(&sa.conn.name, sa.serial),
            hdr.exchange,
            if hdr.flags.response {
                "response"
            } else {
                "request"
            }
        );
        return Ok(Fate::Keep);
    }
    if hdr.flags.response {
        return handle_response(ctx, sa, hdr, data, config);
    }

    // A request from the peer.
    if sa.held.as_ref().is_some_and(|h| h.msgid == hdr.message_id) {
        // Answered once the kernel has the Child SA it creates (a second
        // install must not happen).
        tracing::debug!(
            "{}: {} request {} retransmitted while its answer waits for the kernel; absorbed",
            ctx.out.label(&sa.conn.name, sa.serial),
            hdr.exchange,
            hdr.message_id
        );
        return Ok(Fate::Keep);
    }
    if hdr.message_id != sa.peer_msgid {
        match &sa.last_response {
            Some((id, resp)) if *id == hdr.message_id && sa.last_request == data => {
                tracing::debug!(
                    "{}: retransmitting response to duplicate {} request {}",
                    ctx.out.label(&sa.conn.name, sa.serial),
                    hdr.exchange,
                    id
                );
                for m in resp {
                    ctx.out.send(ctx.cfg, sa.local, sa.remote, m);
                }
            }
            _ => tracing::debug!(
                "{}: dropping {} request with message ID {} (expecting {})",
                ctx.out.label(&sa.conn.name, sa.serial),
                hdr.exchange,
                hdr.message_id,
                sa.peer_msgid
            ),
        }
        return Ok(Fate::Keep);
    }
    if sa.state == IkeState::Dying {
        return Ok(Fate::Keep);
    }
    let payloads = match sa.open(hdr, data) {
        Ok(Some(p)) => {
            ctx.out.stats.received(hdr.exchange, false, &p);
            p
        }
        Ok(None) => return Ok(Fate::Keep), // more fragments to come
        Err(Error::InnerDecode(e)) => return reject_request(ctx, sa, hdr, data, &e),
        Err(e) => {
            tracing::info!(
                "{}: dropping {} request: {e}",
                ctx.out.label(&sa.conn.name, sa.serial),
                hdr.exchange
            );
            return Ok(Fate::Keep);
        }
    };
    sa.last_contact = Some(ctx.now);
    // The peer may have moved to the NAT-T port (RFC 7296 2.23).
    sa.local = local;
    sa.remote = remote;
    let msgid = hdr.message_id;
    match (hdr.exchange, sa.state) {
        (ExchangeType::IKE_AUTH, IkeState::HalfOpen) => {
            match ike_auth::process_request(ctx, config, sa, data, msgid, &payloads)? {
                ike_auth::AuthOutcome::Established => Ok(Fate::Keep),
                ike_auth::AuthOutcome::Failed(end) => Ok(Fate::Linger(end)),
            }
        }
        (ExchangeType::INFORMATIONAL, IkeState::Established | IkeState::Deleting) => {
            match informational::process_request(ctx, sa, data, msgid, &payloads)? {
                informational::InfoOutcome::Continue => Ok(Fate::Keep),
                informational::InfoOutcome::IkeDeleted(None) => Ok(Fate::Linger(SaEnd::Deleted)),
                informational::InfoOutcome::IkeDeleted(Some(n)) => {
                    Ok(Fate::Linger(SaEnd::Failed(n)))
                }
            }
        }
        (ExchangeType::CREATE_CHILD_SA, IkeState::Established) => {
            create_child_sa::process_request(ctx, sa, data, msgid, &payloads)?;
            Ok(Fate::Keep)
        }
        (ex, st) => {
            tracing::info!(
                "{}: dropping unexpected {ex} request in state {st:?}",
                ctx.out.label(&sa.conn.name, sa.serial)
            );
            Ok(Fate::Keep)
        }
    }
}

/// A protected request whose payloads do not decode: answered (RFC 7296 2.5, 2.21)
/// with UNSUPPORTED_CRITICAL_PAYLOAD naming the payload, or INVALID_SYNTAX. An
/// IKE_AUTH that cannot be read ends the half-open SA.
fn reject_request(
    ctx: &mut Ctx<'_>,
    sa: &mut IkeSa,
    hdr: &Header,
    data: &[u8],
    e: &DecodeError,
) -> Result<Fate, Error> {
    let n = e.v2_notify();
    let notify = match e.unsupported_payload_type() {
        Some(ty) => Notify::unsupported_critical_payload(ty),
        None => Notify::new(n),
    };
    ctx.out.progress(
        &sa.conn.name,
        Some(sa.serial),
        Rc::LOG_SERIOUS,
        format!(
            "{} request cannot be processed ({e}); responding with {n}",
            hdr.exchange
        ),
    );
    let answer = [Payload::Notify(notify)];
    ctx.out.stats.sent(hdr.exchange, true, &answer);
    let resp = sa.seal(ctx.rng, hdr.exchange, true, hdr.message_id, &answer)?;
    ctx.respond(sa, data, hdr.message_id, resp);
    if sa.state == IkeState::HalfOpen {
        return Ok(Fate::Linger(SaEnd::Failed(n)));
    }
    Ok(Fate::Keep)
}

/// A response: only the one answering our outstanding request is taken.
fn handle_response(
    ctx: &mut Ctx<'_>,
    sa: &mut IkeSa,
    hdr: &Header,
    data: &[u8],
    config: &dyn ConfigSource,
) -> Result<Fate, Error> {
    let Some(o) = &sa.outstanding else {
        tracing::debug!(
            "{}: dropping unexpected {} response",
            sa.serial,
            hdr.exchange
        );
        return Ok(Fate::Keep);
    };
    if o.msgid != hdr.message_id || o.exchange != hdr.exchange {
        tracing::debug!(
            "{}: dropping {} response {} (waiting for {} {})",
            sa.serial,
            hdr.exchange,
            hdr.message_id,
            o.exchange,
            o.msgid
        );
        return Ok(Fate::Keep);
    }
    let kind = o.kind.clone();
    if kind == RequestKind::IkeSaInit {
        let msg = match Message::decode(data) {
            Ok(m) => {
                ctx.out.stats.received(m.header.exchange, true, &m.payloads);
                m
            }
            Err(e) => {
                tracing::info!("{}: dropping IKE_SA_INIT response: {e}", sa.serial);
                return Ok(Fate::Keep);
            }
        };
        let outcome = ike_sa_init::process_response(ctx, sa, hdr, &msg, data)?;
        return init_outcome(ctx, config, sa, outcome);
    }
    if kind == RequestKind::DeleteIke && peer_forgot_sa(data) {
        // Unprotected, so possibly forged; but this SA was going anyway.
        ctx.out.progress(
            &sa.conn.name,
            Some(sa.serial),
            Rc::LOG,
            "IKE SA deleted (the peer answered INVALID_IKE_SPI: it no longer has it)".to_owned(),
        );
        return Ok(Fate::Remove(SaEnd::Deleted));
    }
    let payloads = match sa.open(hdr, data) {
        Ok(Some(p)) => {
            ctx.out.stats.received(hdr.exchange, true, &p);
            p
        }
        Ok(None) => return Ok(Fate::Keep), // more fragments to come
        Err(e) => {
            tracing::info!(
                "{}: dropping {} response: {e}",
                ctx.out.label(&sa.conn.name, sa.serial),
                hdr.exchange
            );
            return Ok(Fate::Keep);
        }
    };
    sa.outstanding = None;
    sa.last_contact = Some(ctx.now);
    let fate = match kind {
        RequestKind::IkeSaInit => Fate::Keep,
        RequestKind::IkeAuth => match ike_auth::process_response(ctx, config, sa, &payloads)? {
            ike_auth::ResponseOutcome::Established { delete_ike: false } => Fate::Keep,
            ike_auth::ResponseOutcome::Established { delete_ike: true } => {
                sa.queue.clear();
                enqueue(ctx, sa, RequestKind::DeleteIke)?;
                Fate::Keep
            }
            ike_auth::ResponseOutcome::Rejected(end) => Fate::Remove(end),
            ike_auth::ResponseOutcome::PeerAuthFailed => {
                informational::send_auth_failed(ctx, sa)?;
                Fate::Remove(SaEnd::Failed(NotifyType::AUTHENTICATION_FAILED))
            }
        },
        RequestKind::DeleteIke => {
            ctx.out.progress(
                &sa.conn.name,
                Some(sa.serial),
                Rc::LOG,
                "IKE SA deleted".to_owned(),
            );
            Fate::Remove(SaEnd::Deleted)
        }
        RequestKind::RekeyChild(_) | RequestKind::NewChild(_) => {
            create_child_sa::process_child_response(ctx, sa, &payloads)?;
            Fate::Keep
        }
        RequestKind::RekeyIke => {
            // A failed rekey leaves the IKE SA up (retried while its lifetime
            // lasts); it is deleted only when that lifetime ends.
            create_child_sa::process_ike_rekey_response(ctx, sa, &payloads)?;
            Fate::Keep
        }
        RequestKind::DeleteChild(_) | RequestKind::Liveness => Fate::Keep,
    };
    if matches!(fate, Fate::Keep) {
        pump(ctx, sa)?;
    }
    Ok(fate)
}

/// Initiator: what follows the IKE_SA_INIT response, once handled or computed.
fn init_outcome(
    ctx: &mut Ctx<'_>,
    config: &dyn ConfigSource,
    sa: &mut IkeSa,
    outcome: InitOutcome,
) -> Result<Fate, Error> {
    match outcome {
        // The outstanding request stays (and is retransmitted) while computing:
        // its timeout also bounds the wait for a job that never comes back.
        InitOutcome::Resent | InitOutcome::Computing => Ok(Fate::Keep),
        InitOutcome::Failed(end) => Ok(Fate::Remove(end)),
        InitOutcome::Proceed => {
            sa.outstanding = None;
            match ike_auth::send_request(ctx, config, sa)? {
                None => Ok(Fate::Keep),
                Some(end) => Ok(Fate::Remove(end)),
            }
        }
    }
}

/// Initiator: the IKE_SA_INIT response's compute job is back.
fn init_response_computed(
    ctx: &mut Ctx<'_>,
    config: &dyn ConfigSource,
    sa: &mut IkeSa,
    done: Result<compute::InitDone, compute::JobError>,
) -> Result<Fate, Error> {
    let outcome = ike_sa_init::response_computed(ctx, sa, done)?;
    init_outcome(ctx, config, sa, outcome)
}

/// True for an unprotected response carrying INVALID_IKE_SPI (RFC 7296 2.21.4).
fn peer_forgot_sa(data: &[u8]) -> bool {
    Message::decode(data).is_ok_and(|m| {
        m.payloads
            .iter()
            .any(|p| matches!(p, Payload::Notify(n) if n.ty == NotifyType::INVALID_IKE_SPI))
            && !m
                .payloads
                .iter()
                .any(|p| matches!(p, Payload::Sk(_) | Payload::Skf(_)))
    })
}

/// The state name libreswan logs retransmissions and timeouts under.
fn state_name(sa: &IkeSa) -> &'static str {
    match sa.state {
        IkeState::InitSent => "IKE_SA_INIT_I",
        IkeState::AuthSent => "IKE_AUTH_I",
        IkeState::HalfOpen => "IKE_SA_INIT_R",
        IkeState::Established => "ESTABLISHED_IKE_SA",
        IkeState::Deleting => "IKE_SA_DELETE",
        IkeState::Dying => "IKE_SA_DELETED",
    }
}

/// Which SAs of a due IKE SA are superseded by a newer SA of the same kind for
/// the same connection (and peer, and selectors): those never rekey, they expire
/// (the manual: only the most recent SA of its type rekeys).
#[derive(Default)]
struct Superseded {
    /// The newer IKE SA, if this one is superseded.
    ike: Option<SaSerial>,
    /// Child SA -> the newer Child SA carrying the same traffic.
    children: HashMap<SaSerial, SaSerial>,
}

/// Runs the due timers of one SA.
fn sa_timers(ctx: &mut Ctx<'_>, sa: &mut IkeSa, superseded: &Superseded) -> Result<Fate, Error> {
    let now = ctx.now;
    if let Some(deadline) = sa.half_open_deadline {
        if deadline <= now {
            if sa.state == IkeState::Dying {
                return Ok(Fate::Remove(SaEnd::Deleted));
            }
            ctx.out.progress(
                &sa.conn.name,
                Some(sa.serial),
                Rc::LOG,
                "deleting half-open IKE SA: no IKE_AUTH request arrived".to_owned(),
            );
            return Ok(Fate::Remove(SaEnd::HalfOpenExpired));
        }
    }
    let retransmit = sa.conn.retransmit;
    if let Some(o) = sa.outstanding.as_mut() {
        // A liveness check gets `dpdtimeout=` when one is set; every other request
        // (and a liveness check without it) the retransmission budget.
        let budget = match (&o.kind, sa.conn.dpd_timeout) {
            (RequestKind::Liveness, Some(t)) => t,
            _ => retransmit.timeout,
        };
        if o.next_at <= now {
            if now.saturating_duration_since(o.first_sent) >= budget {
                let kind = o.kind.clone();
                let retransmits = o.retransmits;
                sa.outstanding = None;
                let what = match kind {
                    RequestKind::IkeSaInit => "our first IKEv2 message",
                    RequestKind::IkeAuth => "our IKE_AUTH request",
                    RequestKind::RekeyChild(_)
                    | RequestKind::NewChild(_)
                    | RequestKind::RekeyIke => "our CREATE_CHILD_SA request",
                    _ => "our INFORMATIONAL request",
                };
                ctx.out.progress(
                    &sa.conn.name,
                    Some(sa.serial),
                    Rc::LOG_SERIOUS,
                    format!(
                        "{}: {} second timeout exceeded after {retransmits} retransmits.  No response (or no acceptable response) to {what}",
                        state_name(sa),
                        budget.as_secs()
                    ),
                );
                return Ok(match kind {
                    RequestKind::DeleteIke => Fate::Remove(SaEnd::Deleted),
                    _ if sa.state == IkeState::Established => {
                        // An established peer that answers nothing is dead
                        // (RFC 7296 2.4): the IKE SA and its Child SAs go, and
                        // the daemon restores the connection.
                        ctx.out.progress(
                            &sa.conn.name,
                            Some(sa.serial),
                            Rc::LOG_SERIOUS,
                            format!(
                                "IKE SA liveness: peer {} is dead; deleting the IKE SA and its Child SAs",
                                sa.remote.ip()
                            ),
                        );
                        Fate::Remove(SaEnd::PeerDead)
                    }
                    _ => Fate::Remove(SaEnd::Timeout),
                });
            }
            o.retransmits += 1;
            o.interval = o.interval.saturating_mul(2).min(retransmit.max_interval);
            let end = later(o.first_sent, budget);
            o.next_at = later(now, o.interval).min(end);
            let wait = o.interval;
            let exchange = o.exchange;
            for m in &o.message {
                ctx.out.send(ctx.cfg, sa.local, sa.remote, m);
            }
            tracing::info!(
                "{}: {}: retransmitting {exchange} request; will wait {:.1} seconds for response",
                ctx.out.label(&sa.conn.name, sa.serial),
                state_name(sa),
                wait.as_secs_f64()
            );
        }
    }
    let established = sa.state == IkeState::Established;
    if sa.expires.is_some_and(|t| t <= now) {
        sa.expires = None;
        if !established {
            // Nothing to expire once deleting.
        } else if sa.replaced_by.is_some() {
            // Rekeyed by the peer, which never deleted this one: we do.
            sa.queue.clear();
            enqueue(ctx, sa, RequestKind::DeleteIke)?;
        } else {
            // The end of its lifetime, without a successor (--dontrekey, or
            // every rekey failed): deleted with the peer.
            ctx.out.progress(
                &sa.conn.name,
                Some(sa.serial),
                Rc::LOG,
                format!(
                    "IKE SA expired (ikelifetime={}s reached); deleting IKE SA and sending notification",
                    sa.conn.ike_lifetime.as_secs()
                ),
            );
            begin_delete(ctx, sa)?;
            return Ok(Fate::Keep);
        }
    }
    child_timers(ctx, sa, superseded)?;
    if sa.rekey_at.is_some_and(|t| t <= now) {
        sa.rekey_at = None;
        let busy = sa.pending_ike_rekey.is_some()
            || sa.replaced_by.is_some()
            || sa.queue.contains(&RequestKind::RekeyIke);
        if !established || busy {
            // Deleting, or a rekey is under way already.
        } else if let Some(newer) = superseded.ike {
            ctx.out.progress(
                &sa.conn.name,
                Some(sa.serial),
                Rc::LOG,
                format!(
                    "not rekeying IKE SA {}: superseded by the newer IKE SA {newer}; it will expire",
                    sa.serial
                ),
            );
        } else {
            enqueue(ctx, sa, RequestKind::RekeyIke)?;
        }
    }
    if let Some(t) = sa.next_keepalive {
        if t <= now {
            if sa.state == IkeState::Established {
                ctx.out.send_keepalive(sa.local, sa.remote);
                sa.next_keepalive = Some(later(now, ctx.cfg.nat_keepalive));
            } else {
                sa.next_keepalive = None;
            }
        }
    }
    if sa
        .next_dpd
        .is_some_and(|t| t <= now && sa.outstanding.is_none())
    {
        match sa.conn.dpd_delay {
            Some(delay) if established => {
                let idle = sa
                    .last_contact
                    .map_or(delay, |c| now.saturating_duration_since(c));
                if !sa.queue.is_empty() {
                    // A request is about to go: its answer proves liveness.
                    sa.next_dpd = Some(later(now, delay));
                } else if idle < delay {
                    // Heard from the peer meanwhile: wait for `delay` of silence.
                    sa.next_dpd = Some(later(now, delay - idle));
                } else {
                    sa.next_dpd = Some(later(now, delay));
                    enqueue(ctx, sa, RequestKind::Liveness)?;
                }
            }
            _ => sa.next_dpd = None,
        }
    }
    Ok(Fate::Keep)
}

/// The Child SA timers of an IKE SA: lifetime ends delete the Child SA with the
/// peer; rekey times start a rekey of the newest Child SA of its traffic.
fn child_timers(ctx: &mut Ctx<'_>, sa: &mut IkeSa, superseded: &Superseded) -> Result<(), Error> {
    let now = ctx.now;
    let established = sa.state == IkeState::Established;
    let mut expired = Vec::new();
    let mut rekey = Vec::new();
    for c in &mut sa.children {
        if c.expires_at.is_some_and(|t| t <= now) {
            c.expires_at = None;
            c.rekey_at = None;
            expired.push(c.serial);
        } else if c.rekey_at.is_some_and(|t| t <= now) {
            c.rekey_at = None;
            rekey.push(c.serial);
        }
    }
    if !established {
        return Ok(());
    }
    for child in expired {
        let Some(i) = sa.children.iter().position(|c| c.serial == child) else {
            continue;
        };
        let c = sa.children.remove(i);
        ctx.out.progress(
            &sa.conn.name,
            Some(child),
            Rc::LOG,
            format!(
                "Child SA expired (ipsec-lifetime={}s reached); deleting it using {} and sending notification",
                sa.conn.child_lifetime.as_secs(),
                sa.serial
            ),
        );
        create_child_sa::uninstall(ctx, sa, &c);
        sa.queue
            .push_back(RequestKind::DeleteChild(vec![c.inbound_spi]));
    }
    for child in rekey {
        if sa.rekey_under_way(child) {
            continue;
        }
        if let Some(newer) = superseded.children.get(&child) {
            ctx.out.progress(
                &sa.conn.name,
                Some(child),
                Rc::LOG,
                format!(
                    "not rekeying Child SA {child}: superseded by the newer Child SA {newer}; it will expire"
                ),
            );
            continue;
        }
        sa.queue.push_back(RequestKind::RekeyChild(child));
    }
    pump(ctx, sa)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::sa::seal_one;
    use super::testutil::Pair;
    use super::*;
    use crate::registry::PayloadType;

    /// West sends east an INFORMATIONAL request protected with the IKE SA's keys
    /// whose inner payload chain is `plain` (starting with payload type `first`);
    /// returns the inner payloads of east's answer, if it sent one.
    fn protected_request(p: &mut Pair, first: PayloadType, plain: &[u8]) -> Option<Vec<Payload>> {
        let serial = *p.west.sas.keys().next().unwrap();
        let sa = p.west.sas.get_mut(&serial).unwrap();
        let header = sa.header(ExchangeType::INFORMATIONAL, false, sa.next_msgid);
        sa.next_msgid += 1;
        let req = seal_one(
            p.west.rng.as_ref(),
            sa.tx.as_ref().unwrap(),
            &header,
            first,
            None,
            plain,
        )
        .unwrap();
        let (local, remote) = (sa.local, sa.remote);
        p.east.handle(p.now, remote, local, &req, &p.ecfg);
        let t = p.east.poll_transmit()?;
        let sa = p.west.sas.get_mut(&serial).unwrap();
        let hdr = Header::decode(&t.contents).unwrap().header;
        assert!(hdr.flags.response);
        Some(sa.open(&hdr, &t.contents).unwrap().unwrap())
    }

    fn only_notify(payloads: &[Payload]) -> (NotifyType, Vec<u8>) {
        match payloads {
            [Payload::Notify(n)] => (n.ty, n.data.clone()),
            other => panic!("expected one notify, got {other:?}"),
        }
    }

    #[test]
    fn nat_mapping_moves_the_ike_sa_to_the_new_port() {
        let mut p = Pair::established("aes_gcm256");
        let st = p.east.status();
        let (ike, child, remote) = (st[0].serial, st[0].children[0].serial, st[0].remote);
        let new = SocketAddr::new(remote.ip(), 4501);
        // No NAT between the two: a mapping event is spurious and changes nothing.
        assert!(matches!(
            p.east.handle_mapping(child, new, p.now),
            Err(Error::NotNatted(s)) if s == ike
        ));
        assert_eq!(p.east.status()[0].remote, remote);
        assert!(matches!(
            p.east.handle_mapping(SaSerial(999), new, p.now),
            Err(Error::UnknownSerial(_))
        ));
        // Behind a NAT, on the NAT-T port: the IKE SA follows the new mapping.
        {
            let sa = p.east.sas.get_mut(&ike).unwrap();
            sa.nat_remote = true;
            sa.local.set_port(4500);
        }
        assert_eq!(p.east.handle_mapping(child, new, p.now).unwrap(), ike);
        assert_eq!(p.east.status()[0].remote, new);
        let line = std::iter::from_fn(|| p.east.poll_event())
            .find_map(|e| match e {
                Event::Progress(pr) => Some(pr.to_string()),
                _ => None,
            })
            .unwrap();
        assert_eq!(
            line,
            format!("\"{}\" {ike}: NAT-T: new mapping {new}", p.ecfg.0.name)
        );
        // The same mapping again: nothing to log.
        p.east.handle_mapping(child, new, p.now).unwrap();
        assert!(
            std::iter::from_fn(|| p.east.poll_event()).all(|e| !matches!(e, Event::Progress(_)))
        );
    }

    #[test]
    fn instance_names_prefix_the_lines_of_the_sa_and_its_successors() {
        let mut p = Pair::established("aes_gcm256");
        let st = p.east.status();
        let ike = st[0].serial;
        let child = st[0].children[0].serial;
        assert_eq!(st[0].instance, None);
        // The peer's authenticated ID is part of the status.
        assert_eq!(
            st[0].peer_id.as_ref().map(|i| i.to_string()),
            Some(p.wcfg.0.local_id.to_string())
        );
        let name = "\"rw\"[1] 192.0.2.1".to_string();
        p.east.set_instance_name(ike, name.clone()).unwrap();
        assert!(p
            .east
            .set_instance_name(SaSerial(999), name.clone())
            .is_err());
        assert_eq!(p.east.status()[0].instance.as_deref(), Some(name.as_str()));
        // The IKE SA and its Child SA share one copy of the name.
        assert!(Arc::ptr_eq(
            &p.east.out.instances[&ike],
            &p.east.out.instances[&child]
        ));
        // Plain log lines name the SA the same way.
        assert_eq!(p.east.out.label("rw", ike), format!("{name} {ike}"));
        assert_eq!(
            p.west.out.label("west-east", ike),
            format!("\"west-east\" {ike}")
        );
        p.east_events.clear();
        p.east.rekey_child_sa(child, p.now).unwrap();
        p.pump();
        let lines: Vec<String> = p
            .east_events
            .iter()
            .filter_map(|e| match e {
                Event::Progress(pr) => Some(pr.to_string()),
                _ => None,
            })
            .collect();
        assert!(!lines.is_empty());
        for l in &lines {
            assert!(l.starts_with("\"rw\"[1] 192.0.2.1 #"), "{l}");
        }
        // The replaced Child SA's name is gone; the IKE SA's and the new Child
        // SA's are what is kept.
        assert!(!p.east.out.instances.contains_key(&child));
        assert_eq!(p.east.out.instances.len(), 2);
        // Events keep the template's name for lookups.
        assert!(p.east_events.iter().all(|e| match e {
            Event::Progress(pr) => *pr.connection == *p.ecfg.0.name,
            _ => true,
        }));
        // West never named an instance: plain names.
        assert!(p.west_events.iter().all(|e| match e {
            Event::Progress(pr) => pr.instance.is_none(),
            _ => true,
        }));
    }

    #[test]
    fn refused_ike_rekey_keeps_the_ike_sa_and_retries_within_its_lifetime() {
        let mut p = Pair::established("aes_gcm256");
        let ike = p.west.status()[0].serial;
        // East believes its IKE SA already rekeyed: it refuses another rekey
        // with TEMPORARY_FAILURE.
        let east_ike = p.east.status()[0].serial;
        p.east.sas.get_mut(&east_ike).unwrap().replaced_by = Some(SaSerial(99));
        p.west_events.clear();
        p.west.rekey_ike_sa(ike, p.now).unwrap();
        p.pump();
        let finished: Vec<&RekeyResult> = p
            .west_events
            .iter()
            .filter_map(|e| match e {
                Event::RekeyFinished { old, result, .. } if *old == ike => Some(result),
                _ => None,
            })
            .collect();
        assert_eq!(
            finished,
            [&RekeyResult::Refused(NotifyType::TEMPORARY_FAILURE)]
        );
        // Still up, the Child SA untouched, a retry scheduled before the end.
        let st = p.west.status();
        assert_eq!((st[0].serial, st[0].state), (ike, "ESTABLISHED_IKE_SA"));
        assert_eq!(st[0].children.len(), 1);
        // The light view agrees with the status.
        let light: Vec<(String, &str)> = p.west.states().map(|(c, s)| (c.to_string(), s)).collect();
        assert_eq!(light, [(st[0].connection.clone(), "ESTABLISHED_IKE_SA")]);
        let ch = &st[0].children[0];
        assert_eq!(p.west.child_of_inbound_spi(ch.inbound_spi), Some(ch.serial));
        assert_eq!(p.west.child_of_inbound_spi(ch.outbound_spi), None);
        let mine = p.west.status_of_connection(&st[0].connection);
        assert_eq!(mine.len(), 1);
        assert_eq!(mine[0].serial, ike);
        assert!(p.west.status_of_connection("no-such-conn").is_empty());
        let sa = &p.west.sas[&ike];
        let retry = sa.rekey_at.expect("a retry");
        assert_eq!(retry, p.now + Duration::from_secs(10));
        assert!(retry < sa.expires.unwrap());
        assert!(p
            .west_events
            .iter()
            .all(|e| !matches!(e, Event::IkeSaDeleted { .. })));
    }

    #[test]
    fn protected_requests_that_do_not_decode_get_the_notify_they_deserve() {
        let mut p = Pair::established("aes_gcm256");
        // A Nonce payload whose length field (2) is shorter than its header.
        let answer = protected_request(&mut p, PayloadType::NONCE, &[0, 0, 0, 2]).unwrap();
        assert_eq!(only_notify(&answer).0, NotifyType::INVALID_SYNTAX);
        // An unknown payload with the critical bit: named in the notify's data.
        let answer = protected_request(&mut p, PayloadType(200), &[0, 0x80, 0, 4]).unwrap();
        assert_eq!(
            only_notify(&answer),
            (NotifyType::UNSUPPORTED_CRITICAL_PAYLOAD, vec![200])
        );
        // The IKE SA survives both.
        assert_eq!(p.east.status()[0].state, "ESTABLISHED_IKE_SA");
    }

    #[test]
    fn unprotected_requests_in_an_sa_are_dropped_silently() {
        let mut p = Pair::established("aes_gcm256");
        let sa = p.west.sas.values().next().unwrap();
        let msg = Message {
            header: sa.header(ExchangeType::INFORMATIONAL, false, sa.next_msgid),
            payloads: vec![Payload::Delete(crate::codec::v2::Delete::ike())],
        };
        let (local, remote) = (sa.local, sa.remote);
        p.east
            .handle(p.now, remote, local, &msg.to_bytes().unwrap(), &p.ecfg);
        assert!(p.east.poll_transmit().is_none());
        assert_eq!(p.east.status()[0].state, "ESTABLISHED_IKE_SA");
        // The message ID was not used up: a real request still gets its answer.
        let serial = p.west.status()[0].serial;
        p.west.send_liveness(serial, p.now).unwrap();
        p.pump();
        assert!(p.west.sas.values().next().unwrap().outstanding.is_none());
    }

    fn v3_request(flags: u8) -> Vec<u8> {
        let mut b = vec![0u8; 28];
        b[..8].copy_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
        b[16] = 33; // SA
        b[17] = 0x30; // IKE version 3.0
        b[18] = 34; // IKE_SA_INIT
        b[19] = flags;
        b[27] = 28;
        b
    }

    #[test]
    fn higher_major_version_requests_get_invalid_major_version() {
        let mut p = Pair::established("aes_gcm256");
        let (us, them) = (
            "192.0.2.2:500".parse().unwrap(),
            "192.0.2.9:500".parse().unwrap(),
        );
        p.east.handle(p.now, us, them, &v3_request(0x08), &p.ecfg);
        let t = p.east.poll_transmit().expect("an answer");
        assert_eq!((t.local, t.remote), (us, them));
        let m = Message::decode(&t.contents).unwrap();
        assert_eq!(t.contents[17], 0x20, "answered as version 2.0");
        assert_eq!(m.header.spi_i, [1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(m.header.exchange, ExchangeType::IKE_SA_INIT);
        assert!(m.header.flags.response && !m.header.flags.initiator);
        assert_eq!(
            only_notify(&m.payloads).0,
            NotifyType::INVALID_MAJOR_VERSION
        );
        // Rate limited per peer; responses and IKEv1 are dropped silently.
        p.east.handle(p.now, us, them, &v3_request(0x08), &p.ecfg);
        assert!(p.east.poll_transmit().is_none());
        let later = p.now + Duration::from_secs(2);
        p.east.handle(later, us, them, &v3_request(0x20), &p.ecfg);
        let mut v1 = v3_request(0x08);
        v1[17] = 0x10;
        p.east.handle(later, us, them, &v1, &p.ecfg);
        assert!(p.east.poll_transmit().is_none());
        p.east.handle(later, us, them, &v3_request(0x08), &p.ecfg);
        assert!(p.east.poll_transmit().is_some());
    }

    #[test]
    fn ike_sa_init_with_an_unknown_critical_payload_is_refused() {
        let mut p = Pair::new("aes_gcm256");
        let (us, them) = (
            "192.0.2.2:500".parse().unwrap(),
            "192.0.2.9:500".parse().unwrap(),
        );
        let mut req = v3_request(0x08);
        req[16] = 200; // an unknown payload type...
        req[17] = 0x20;
        req.extend_from_slice(&[0, 0x80, 0, 4]); // ...marked critical
        req[27] = 32;
        p.east.handle(p.now, us, them, &req, &p.ecfg);
        let t = p.east.poll_transmit().expect("an answer");
        let m = Message::decode(&t.contents).unwrap();
        assert!(m.header.flags.response);
        assert_eq!(m.header.spi_i, [1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(
            only_notify(&m.payloads),
            (NotifyType::UNSUPPORTED_CRITICAL_PAYLOAD, vec![200])
        );
        assert!(p.east.status().is_empty());
    }

    #[test]
    fn unprotected_garbage_gets_no_answer() {
        let mut p = Pair::established("aes_gcm256");
        let (us, them) = (
            "192.0.2.2:500".parse().unwrap(),
            "192.0.2.9:500".parse().unwrap(),
        );
        let mut init = v3_request(0x08);
        init[17] = 0x20;
        let mut bad_len = init.clone();
        bad_len[27] = 200;
        let mut bad_payload = init.clone();
        bad_payload.extend_from_slice(&[0, 0, 0, 1]);
        bad_payload[27] = 32;
        for garbage in [
            &[][..],
            &[0xff; 5][..],
            &init[..20],
            &bad_len[..],
            &bad_payload[..],
            &[0u8; 28][..],
        ] {
            p.east.handle(p.now, us, them, garbage, &p.ecfg);
            assert!(p.east.poll_transmit().is_none(), "{garbage:?}");
        }
        assert!(p.east.poll_event().is_none());
        assert_eq!(p.east.status().len(), 1);
    }

    /// Acquires through `p.west`, runs IKE_SA_INIT, and returns the TSi and TSr of
    /// west's IKE_AUTH request as east decrypts them (the request is then delivered).
    fn acquired_ts(
        p: &mut Pair,
        packet: Option<TriggeringPacket>,
    ) -> (Vec<TrafficSelector>, Vec<TrafficSelector>) {
        let conn = p.wcfg.0.clone();
        let serial = match packet {
            Some(packet) => p.west.handle_acquire_packet(conn, packet, p.now),
            None => p.west.handle_acquire(conn, p.now),
        };
        assert!(serial.unwrap().is_some());
        let init = p.west.poll_transmit().unwrap();
        p.east
            .handle(p.now, init.remote, init.local, &init.contents, &p.ecfg);
        let resp = p.east.poll_transmit().unwrap();
        p.west
            .handle(p.now, resp.remote, resp.local, &resp.contents, &p.wcfg);
        let auth = p.west.poll_transmit().unwrap();
        let hdr = Header::decode(&auth.contents).unwrap().header;
        let east = p.east.sas.values_mut().next().unwrap();
        let payloads = east.open(&hdr, &auth.contents).unwrap().unwrap();
        let ts = |want: PayloadType| {
            payloads
                .iter()
                .find_map(|p| match p {
                    Payload::TsI(t) if want == PayloadType::TSI => Some(sa::ts_from_payload(t)),
                    Payload::TsR(t) if want == PayloadType::TSR => Some(sa::ts_from_payload(t)),
                    _ => None,
                })
                .unwrap()
        };
        let got = (ts(PayloadType::TSI), ts(PayloadType::TSR));
        p.east
            .handle(p.now, auth.remote, auth.local, &auth.contents, &p.ecfg);
        p.pump();
        got
    }

    fn tcp(addr: &str, port: u16) -> TrafficSelector {
        let a: IpAddr = addr.parse().unwrap();
        TrafficSelector::new(6, port, port, a, a).unwrap()
    }

    #[test]
    fn acquire_proposes_the_triggering_packet_first() {
        let mut p = Pair::new("aes_gcm256");
        let packet = TriggeringPacket {
            local: tcp("192.0.2.1", 40000),
            remote: tcp("192.0.2.2", 80),
        };
        let (tsi, tsr) = acquired_ts(&mut p, Some(packet));
        let conn = p.wcfg.0.clone();
        assert_eq!(tsi, [packet.local, conn.local_ts[0]]);
        assert_eq!(tsr, [packet.remote, conn.remote_ts[0]]);
        // The Child SA came up; a second ACQUIRE while it exists starts nothing.
        assert!(p
            .west_events
            .iter()
            .any(|e| matches!(e, Event::ChildSaEstablished { .. })));
        assert!(p
            .west
            .handle_acquire_packet(conn, packet, p.now)
            .unwrap()
            .is_none());
    }

    #[test]
    fn acquire_ignores_a_packet_outside_the_connection() {
        let mut p = Pair::new("aes_gcm256");
        let packet = TriggeringPacket {
            local: tcp("192.0.2.1", 40000),
            remote: tcp("198.51.100.9", 80),
        };
        let (tsi, tsr) = acquired_ts(&mut p, Some(packet));
        let conn = p.wcfg.0.clone();
        assert_eq!(tsi, conn.local_ts);
        assert_eq!(tsr, conn.remote_ts);
        // As does the plain ACQUIRE.
        let mut p = Pair::new("aes_gcm256");
        assert_eq!(
            acquired_ts(&mut p, None),
            (conn.local_ts.clone(), conn.remote_ts.clone())
        );
    }
}
