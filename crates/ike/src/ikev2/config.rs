//! What the state machine is configured with: plain types the daemon fills from
//! `crates/conn`, and the [`ConfigSource`] trait through which a responder finds the
//! connection and the pre-shared key for a peer.

use core::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::Duration;

use crate::codec::v2::Identification;
use crate::crypto::SecretBytes;
use crate::proposal::ProposalSet;
use crate::registry::IdType;
use crate::ts::TrafficSelector;

/// An IKE identity (RFC 7296 3.5) of the types a PSK connection uses.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Identity {
    /// ID_IPV4_ADDR.
    Ipv4(Ipv4Addr),
    /// ID_IPV6_ADDR.
    Ipv6(Ipv6Addr),
    /// ID_FQDN, without libreswan's leading `@`.
    Fqdn(String),
    /// ID_RFC822_ADDR (libreswan's USER_FQDN), e.g. `user@example.com`.
    UserFqdn(String),
    /// Any other type received from a peer, kept as bytes so it can be logged and
    /// matched exactly.
    Other {
        /// The ID type.
        id_type: IdType,
        /// The raw identification data.
        data: Vec<u8>,
    },
}

impl Identity {
    /// The identity of an address (libreswan's default `leftid=%defaultroute` form).
    pub fn from_addr(addr: IpAddr) -> Self {
        match addr {
            IpAddr::V4(a) => Identity::Ipv4(a),
            IpAddr::V6(a) => Identity::Ipv6(a),
        }
    }

    /// The payload body this identity is sent as.
    pub fn to_payload(&self) -> Identification {
        let (id_type, data) = match self {
            Identity::Ipv4(a) => (IdType::IPV4_ADDR, a.octets().to_vec()),
            Identity::Ipv6(a) => (IdType::IPV6_ADDR, a.octets().to_vec()),
            Identity::Fqdn(s) => (IdType::FQDN, s.as_bytes().to_vec()),
            Identity::UserFqdn(s) => (IdType::RFC822_ADDR, s.as_bytes().to_vec()),
            Identity::Other { id_type, data } => (*id_type, data.clone()),
        };
        Identification { id_type, data }
    }

    /// Reads a received ID payload. Types this module does not interpret, and
    /// FQDN/USER_FQDN that are not UTF-8, come back as [`Identity::Other`].
    pub fn from_payload(id: &Identification) -> Self {
        let other = || Identity::Other {
            id_type: id.id_type,
            data: id.data.clone(),
        };
        match id.id_type {
            IdType::IPV4_ADDR => <[u8; 4]>::try_from(id.data.as_slice())
                .map(|b| Identity::Ipv4(Ipv4Addr::from(b)))
                .unwrap_or_else(|_| other()),
            IdType::IPV6_ADDR => <[u8; 16]>::try_from(id.data.as_slice())
                .map(|b| Identity::Ipv6(Ipv6Addr::from(b)))
                .unwrap_or_else(|_| other()),
            IdType::FQDN => std::str::from_utf8(&id.data)
                .map(|s| Identity::Fqdn(s.to_owned()))
                .unwrap_or_else(|_| other()),
            IdType::RFC822_ADDR => std::str::from_utf8(&id.data)
                .map(|s| Identity::UserFqdn(s.to_owned()))
                .unwrap_or_else(|_| other()),
            _ => other(),
        }
    }
}

/// libreswan's log form: `FQDN '@east'`, `IPV4_ADDR '192.0.2.1'`, `USER_FQDN 'a@b'`.
impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Identity::Ipv4(a) => write!(f, "IPV4_ADDR '{a}'"),
            Identity::Ipv6(a) => write!(f, "IPV6_ADDR '{a}'"),
            Identity::Fqdn(s) => write!(f, "FQDN '@{}'", s.escape_debug()),
            Identity::UserFqdn(s) => write!(f, "USER_FQDN '{}'", s.escape_debug()),
            Identity::Other { id_type, data } => {
                write!(f, "{id_type} '")?;
                for b in data {
                    write!(f, "{b:02x}")?;
                }
                f.write_str("'")
            }
        }
    }
}

/// Tunnel or transport mode for the Child SA (`type=tunnel|transport`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// ESP tunnel mode (the default).
    Tunnel,
    /// ESP transport mode, negotiated with USE_TRANSPORT_MODE (RFC 7296 1.3.1).
    Transport,
}

/// ESP-in-UDP (RFC 3948) policy of a connection (`encapsulation=yes|no|auto`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Encapsulation {
    /// Encapsulate when NAT detection (RFC 7296 2.23) finds a NAT on the path.
    #[default]
    Auto,
    /// Always encapsulate: our NAT_DETECTION_SOURCE_IP hashes a bogus address so
    /// that the peer, like us, believes there is a NAT and floats to the NAT-T
    /// port. This is how libreswan and strongSwan force it, and both follow it.
    Yes,
    /// Never encapsulate, even when a NAT is detected (IKE stays on its port).
    No,
}

/// Request retransmission (libreswan's `retransmit-interval=` / `retransmit-timeout=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retransmit {
    /// Delay before the first retransmission; doubled after each one.
    pub initial: Duration,
    /// Largest delay between two retransmissions.
    pub max_interval: Duration,
    /// How long after the first transmission the exchange is given up.
    pub timeout: Duration,
}

impl Default for Retransmit {
    /// libreswan's defaults: 0.5 s doubling, given up after 60 s.
    fn default() -> Self {
        Retransmit {
            initial: Duration::from_millis(500),
            max_interval: Duration::from_secs(32),
            timeout: Duration::from_secs(60),
        }
    }
}

/// One connection as the IKEv2 core needs it, for one peer. The daemon builds it from
/// `crates/conn` and hands it to [`Endpoint::initiate`](super::Endpoint::initiate) or
/// returns it from a [`ConfigSource`].
///
/// What depends on the peer is here; the rest ([`ConnProfile`]: proposals, our ID
/// and selectors, lifetimes, flags) is shared by every peer the connection serves
/// and read through `Deref` (`conn.ike_lifetime`). A road-warrior template answers
/// each peer with its own `Connection` (the peer's address is in its selectors);
/// with the profile shared that is about 130 bytes per peer instead of 600
/// (docs/benchmarks.md).
#[derive(Debug, Clone)]
pub struct Connection {
    /// The connection name, as in `"west-east" #1: ...` log lines.
    pub name: Arc<str>,
    /// Our address (`left=`).
    pub local_addr: IpAddr,
    /// The peer's address (`right=`).
    pub remote_addr: IpAddr,
    /// The peer's IKE port (normally 500).
    pub remote_port: u16,
    /// The identity the peer must prove (`rightid=`); `None` accepts any identity
    /// for which a PSK is found.
    pub remote_id: Option<Identity>,
    /// The peer's traffic selectors (`rightsubnet=` + `rightprotoport=`).
    pub remote_ts: Vec<TrafficSelector>,
    /// The part every peer of the connection shares.
    pub profile: Arc<ConnProfile>,
}

impl core::ops::Deref for Connection {
    type Target = ConnProfile;

    fn deref(&self) -> &ConnProfile {
        &self.profile
    }
}

/// What a connection's peers share (see [`Connection`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnProfile {
    /// Our identity (`leftid=`).
    pub local_id: Identity,
    /// IKE SA proposals (`ike=`), in preference order.
    pub ike_proposals: ProposalSet,
    /// Child SA proposals (`esp=`, or `ah=` for `--authenticate` without
    /// `--encrypt`), in preference order. Their kind's protocol (ESP or AH) is the
    /// protocol of every Child SA of the connection.
    pub esp_proposals: ProposalSet,
    /// No Child SA policy (none of `--encrypt`, `--authenticate`): IKE_AUTH builds
    /// only the IKE SA, as the whack manual says. As initiator the Child SA
    /// payloads are left out of IKE_AUTH (RFC 6023); as responder a Child SA the
    /// peer proposes anyway is refused with NO_PROPOSAL_CHOSEN while the IKE SA
    /// stays (RFC 7296 2.21.2).
    pub ike_only: bool,
    /// Our side's traffic selectors (`leftsubnet=` + `leftprotoport=`).
    pub local_ts: Vec<TrafficSelector>,
    /// Tunnel or transport.
    pub mode: Mode,
    /// Perfect forward secrecy for Child SAs (`pfs=`, libreswan's default yes): a
    /// Child SA rekey we initiate carries a KE payload of the IKE SA's group (or of
    /// the groups `esp=` names). The first Child SA, keyed in IKE_AUTH, never has one.
    pub pfs: bool,
    /// IKE SA lifetime (`ikelifetime=`): the IKE SA is rekeyed
    /// [`rekey_margin`](Self::rekey_margin) before it ends, and deleted when it ends
    /// without a successor.
    pub ike_lifetime: Duration,
    /// Child SA lifetime (`ipsec-lifetime=`): the core rekeys each Child SA
    /// [`rekey_margin`](Self::rekey_margin) before it ends and deletes it (with the
    /// peer) when it ends; it is also the kernel's hard expiry of the installed SAs.
    pub child_lifetime: Duration,
    /// How long before the end of its lifetime an SA is rekeyed (`rekeymargin=`,
    /// libreswan's default 9 minutes). An SA we initiated rekeys when its remaining
    /// lifetime drops below the margin plus a random 0..=`rekey_fuzz_percent`% of
    /// it; an SA the peer initiated waits until half the margin remains, leaving
    /// the peer the first go (the manual's "Rekeying" section). A margin not below
    /// the lifetime counts as half the lifetime, and an SA always lives at least a
    /// tenth of its lifetime before rekeying.
    pub rekey_margin: Duration,
    /// The random part of the initiator's margin, in percent of
    /// [`rekey_margin`](Self::rekey_margin) (`rekeyfuzz=`, default 100).
    pub rekey_fuzz_percent: u32,
    /// Rekey SAs before they expire (`rekey=yes`, the default). With `false`
    /// (`--dontrekey`) no rekey is ever started by a timer: the peer's rekeys are
    /// still answered, and an SA that reaches its lifetime is deleted.
    pub rekey: bool,
    /// Number of keying attempts as initiator (`keyingtries=`); 0 means forever.
    pub keyingtries: u32,
    /// Retransmission timings.
    pub retransmit: Retransmit,
    /// NAT traversal (`encapsulation=auto` vs `no`): send NAT_DETECTION notifies
    /// and float to the NAT-T port when a NAT is detected.
    pub nat_traversal: bool,
    /// IKEv2 fragmentation (RFC 7383, `fragmentation=yes`, the default):
    /// announce IKEV2_FRAGMENTATION_SUPPORTED, and fragment large messages when
    /// the peer announced it too. With `false` (`fragmentation=no`) nothing is
    /// announced, nothing is fragmented and SKF fragments from the peer are
    /// dropped.
    pub fragmentation: bool,
    /// ESP-in-UDP policy (`encapsulation=`); `Yes` and `No` override what NAT
    /// detection finds. Needs `nat_traversal` (without NAT_DETECTION notifies the
    /// peer cannot be told to encapsulate).
    pub encapsulation: Encapsulation,
    /// Send INITIAL_CONTACT in IKE_AUTH (libreswan does for the first IKE SA).
    pub initial_contact: bool,
    /// ESP anti-replay window passed to the kernel (`replay-window=`).
    pub replay_window: u32,
    /// Liveness checks (`dpddelay=`): an empty INFORMATIONAL is sent when nothing
    /// came from the peer for this long (IKE messages, or ESP traffic the daemon
    /// reports with [`Endpoint::note_peer_traffic`](super::Endpoint::note_peer_traffic));
    /// `None` for none (libreswan's `DPD=passive`: we still answer the peer's).
    pub dpd_delay: Option<Duration>,
    /// How long a liveness check may go unanswered before the peer is declared
    /// dead (`dpdtimeout=` / `--timeout`); `None` uses the retransmission budget
    /// ([`Retransmit::timeout`]), as any other unanswered request does.
    pub dpd_timeout: Option<Duration>,
    /// Send NAT keepalives while behind a NAT (`nat-keepalive=yes`, the default;
    /// `--no-keep-alive` turns them off).
    pub nat_keepalive: bool,
}

impl Connection {
    /// The shared part to change: copied first when it is shared, so that the
    /// change stays with this connection.
    pub fn profile_mut(&mut self) -> &mut ConnProfile {
        Arc::make_mut(&mut self.profile)
    }
}

impl ConnProfile {
    /// The protocol of the connection's Child SAs: ESP or AH.
    pub fn child_protocol(&self) -> crate::registry::ProtocolId {
        self.esp_proposals.kind().protocol
    }
}

/// Where a responder gets its configuration and every endpoint its pre-shared keys.
/// The daemon implements this over its connection table and `ipsec.secrets`.
pub trait ConfigSource {
    /// The connection to answer an IKE_SA_INIT request with: the one between these
    /// addresses (our address the request arrived on, the peer's source address).
    /// Its `ike=` proposals decide the IKE SA. `None` refuses the peer
    /// (NO_PROPOSAL_CHOSEN).
    fn connection_for_init(&self, local: IpAddr, remote: IpAddr) -> Option<Arc<Connection>>;

    /// The connection to continue with once the peer's IDi is known (and IDr, if the
    /// peer sent one): normally `current` itself when its `remote_id` matches, or
    /// another connection between the same addresses whose `rightid=` does. `None`
    /// fails authentication.
    fn connection_for_auth(
        &self,
        current: &Arc<Connection>,
        peer_id: &Identity,
        our_id: Option<&Identity>,
    ) -> Option<Arc<Connection>>;

    /// Another connection for a Child SA proposed in IKE_AUTH whose selectors
    /// `current` cannot take (TSi `tsi` from the peer, TSr `tsr` ours): one between
    /// the same hosts, with the same local ID, accepting `peer_id` with the same
    /// authentication, whose subnets fit. libreswan picks the connection by the
    /// selectors as well as by the IDs, so several connections between two
    /// gateways (one per subnet pair) each get their tunnel. `None` (the default)
    /// keeps `current`, which then answers TS_UNACCEPTABLE.
    fn connection_for_child(
        &self,
        current: &Arc<Connection>,
        peer_id: &Identity,
        tsi: &[crate::ts::TrafficSelector],
        tsr: &[crate::ts::TrafficSelector],
    ) -> Option<Arc<Connection>> {
        let _ = (current, peer_id, tsi, tsr);
        None
    }

    /// The pre-shared key between `local` and `remote` (libreswan's ipsec.secrets
    /// lookup by the two IDs, falling back to addresses). `None` fails
    /// authentication with AUTHENTICATION_FAILED.
    fn psk(&self, conn: &Connection, local: &Identity, remote: &Identity) -> Option<SecretBytes>;
}

/// Endpoint-wide settings, independent of any connection.
#[derive(Debug, Clone)]
pub struct EndpointConfig {
    /// Our IKE port (`--ikeport`, normally 500).
    pub ike_port: u16,
    /// Our NAT-T port (normally 4500); datagrams on it carry the non-ESP marker.
    pub natt_port: u16,
    /// How long a responder keeps an IKE SA whose IKE_AUTH never came.
    pub half_open_timeout: Duration,
    /// Nonce length in bytes (RFC 7296 2.10: at least 16 and half the PRF key).
    pub nonce_len: usize,
    /// Largest IKE datagram sent before fragmenting (RFC 7383), when the peer
    /// supports fragmentation; strongSwan's default is 1280.
    pub fragment_size: usize,
    /// Interval of NAT keepalives (RFC 3948 4) while we are behind a NAT.
    pub nat_keepalive: Duration,
    /// When new initiators must return a COOKIE and when new IKE_SA_INIT requests
    /// are not answered at all (RFC 7296 2.6, RFC 8019); changed at run time with
    /// [`Endpoint::set_ddos`](super::Endpoint::set_ddos).
    pub ddos: Ddos,
    /// Hold back the "established Child SA" line and [`Event::ChildSaEstablished`]
    /// until the daemon confirms the kernel accepted the Child SA with
    /// [`Endpoint::child_sa_installed`], or reports the install failed with
    /// [`Endpoint::child_sa_install_failed`] (the Child SA is then deleted with the
    /// peer). A responder also holds its IKE_AUTH or CREATE_CHILD_SA response until
    /// then, and refuses the Child SA in it (TS_UNACCEPTABLE) when the install
    /// failed. Off by default: a Child SA is announced, and answered, right after
    /// its [`KernelRequest::InstallChildSa`].
    ///
    /// [`Event::ChildSaEstablished`]: super::Event::ChildSaEstablished
    /// [`Endpoint::child_sa_installed`]: super::Endpoint::child_sa_installed
    /// [`Endpoint::child_sa_install_failed`]: super::Endpoint::child_sa_install_failed
    /// [`KernelRequest::InstallChildSa`]: super::KernelRequest::InstallChildSa
    pub confirm_child_installs: bool,
    /// `pluto --uniqueids`: an IKE SA that authenticates a peer ID replaces the
    /// older IKE SAs of the same connection with that ID (they are deleted with
    /// the peer), whatever address they came from: the peer rebooted or moved.
    /// Off by default, as in libreswan's pluto (ipsec.conf's `uniqueids=yes`
    /// turns it on).
    pub unique_ids: bool,
    /// Run the key exchange and key schedule in line, inside the call that needs
    /// them (the default: tests and in-memory simulations need no runner). Off,
    /// the endpoint queues them as [`ComputeJob`]s for the caller to run anywhere,
    /// taken with [`Endpoint::poll_compute`] and answered with
    /// [`Endpoint::computed`]; the daemon does that on its `--nhelpers` threads.
    ///
    /// [`ComputeJob`]: super::ComputeJob
    /// [`Endpoint::poll_compute`]: super::Endpoint::poll_compute
    /// [`Endpoint::computed`]: super::Endpoint::computed
    pub inline_compute: bool,
    /// Reuse one key exchange value per method for every IKE_SA_INIT this endpoint
    /// initiates ([`KeReuse`]: RFC 7296 2.12), instead of a fresh one per IKE SA.
    /// For `pluto-loadgen`, whose initiators must cost much less than the
    /// responder they load; `None` (the default, and always in the daemon) draws a
    /// fresh value each time. Responses and Child SA rekeys are not affected.
    ///
    /// [`KeReuse`]: crate::crypto::KeReuse
    pub reuse_ke: Option<Arc<crate::crypto::KeReuse>>,
}

/// The responder's defence against IKE_SA_INIT floods, by libreswan's modes
/// (`whack --ddos-busy|--ddos-auto|--ddos-unlimited`). The counts are of responder
/// half-open IKE SAs (IKE_SA_INIT answered, IKE_AUTH not yet): our own initiations
/// never make us demand cookies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ddos {
    /// Demand a COOKIE from every new initiator (`--ddos-busy`, `--force-busy`).
    Busy,
    /// Demand cookies from `cookies_from` half-open IKE SAs on, and leave new
    /// IKE_SA_INIT requests unanswered from `refuse_from` on (libreswan's
    /// `ddos-ike-threshold=` and `max-halfopen-ike=`, 25,000 and 50,000).
    Auto {
        /// Half-open IKE SAs from which a COOKIE is demanded.
        cookies_from: usize,
        /// Half-open IKE SAs from which new requests are dropped.
        refuse_from: usize,
    },
    /// Never demand cookies, never refuse (`--ddos-unlimited`).
    Unlimited,
}

impl Ddos {
    /// libreswan's `ddos-ike-threshold` default.
    pub const COOKIES_FROM: usize = 25_000;
    /// libreswan's `max-halfopen-ike` default.
    pub const REFUSE_FROM: usize = 50_000;

    /// (cookies demanded, new requests refused) with `half_open` half-open IKE SAs.
    pub fn verdict(self, half_open: usize) -> (bool, bool) {
        match self {
            Ddos::Busy => (true, false),
            Ddos::Unlimited => (false, false),
            Ddos::Auto {
                cookies_from,
                refuse_from,
            } => (half_open >= cookies_from, half_open >= refuse_from),
        }
    }
}

impl Ddos {
    /// Whether the per-source budgets of new IKE SAs apply with `half_open`
    /// half-open IKE SAs: in auto mode from a quarter of the cookie threshold on,
    /// so that a single flooder is asked for cookies before everyone is, while a
    /// quiet gateway (or a concentrator behind one NAT address) never meets them.
    pub fn budgets_apply(self, half_open: usize) -> bool {
        match self {
            Ddos::Auto { cookies_from, .. } => half_open >= cookies_from / 4,
            Ddos::Busy | Ddos::Unlimited => false,
        }
    }
}

impl Default for Ddos {
    fn default() -> Self {
        Ddos::Auto {
            cookies_from: Self::COOKIES_FROM,
            refuse_from: Self::REFUSE_FROM,
        }
    }
}

impl Default for EndpointConfig {
    fn default() -> Self {
        EndpointConfig {
            ike_port: 500,
            natt_port: 4500,
            half_open_timeout: Duration::from_secs(60),
            nonce_len: 32,
            nat_keepalive: Duration::from_secs(20),
            fragment_size: 1280,
            ddos: Ddos::default(),
            confirm_child_installs: false,
            unique_ids: false,
            inline_compute: true,
            reuse_ke: None,
        }
    }
}
