//! A simulated network and clock for two IKEv2 endpoints ("west" initiates, "east"
//! responds), shared by the ikev2_* tests.
#![allow(dead_code)]

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ike::crypto::rng::TestRandom;
use ike::crypto::SecretBytes;
use ike::ikev2::{
    ChildSaInstall, ConfigSource, Connection, Endpoint, EndpointConfig, Event, Identity,
    KernelRequest, Mode, Retransmit, SaEnd, Transmit,
};
use ike::proposal::{ProposalKind, ProposalSet};
use ike::registry::NotifyType;
use ike::ts::TrafficSelector;

pub const WEST: &str = "198.51.100.1";
pub const EAST: &str = "198.51.100.2";
pub const WEST_NET: &str = "192.0.2.0/24";
pub const EAST_NET: &str = "203.0.113.0/24";

/// A connection between `local` and `remote` with the given subnets and proposals.
pub fn conn(
    name: &str,
    local: &str,
    remote: &str,
    local_net: &str,
    remote_net: &str,
    ike: &str,
    esp: &str,
) -> Connection {
    let local_addr: IpAddr = local.parse().unwrap();
    let remote_addr: IpAddr = remote.parse().unwrap();
    let ts = |s: &str| {
        vec![TrafficSelector::from_subnet(
            s.parse().unwrap(),
            "%any".parse().unwrap(),
        )]
    };
    Connection {
        name: name.into(),
        local_addr,
        remote_addr,
        remote_port: 500,
        remote_id: None,
        remote_ts: ts(remote_net),
        profile: std::sync::Arc::new(ike::ikev2::ConnProfile {
            local_id: Identity::from_addr(local_addr),
            ike_proposals: if ike.is_empty() {
                ProposalSet::defaults(ProposalKind::IKEV2_IKE)
            } else {
                ProposalSet::parse(ike, ProposalKind::IKEV2_IKE).unwrap()
            },
            esp_proposals: if esp.is_empty() {
                ProposalSet::defaults(ProposalKind::IKEV2_ESP)
            } else {
                ProposalSet::parse(esp, ProposalKind::IKEV2_ESP).unwrap()
            },
            local_ts: ts(local_net),
            mode: Mode::Tunnel,
            pfs: true,
            ike_lifetime: Duration::from_secs(28800),
            child_lifetime: Duration::from_secs(28800),
            rekey_margin: Duration::from_secs(540),
            rekey_fuzz_percent: 100,
            rekey: true,
            keyingtries: 1,
            retransmit: Retransmit::default(),
            nat_traversal: true,
            fragmentation: true,
            encapsulation: Default::default(),
            initial_contact: true,
            replay_window: 128,
            dpd_delay: None,
            dpd_timeout: None,
            nat_keepalive: true,
            ike_only: false,
        }),
    }
}

/// West's side of the subnet-to-subnet tunnel between west and east.
pub fn west_conn(name: &str, ike: &str, esp: &str) -> Connection {
    conn(name, WEST, EAST, WEST_NET, EAST_NET, ike, esp)
}

/// East's side of the subnet-to-subnet tunnel between west and east.
pub fn east_conn(name: &str, ike: &str, esp: &str) -> Connection {
    conn(name, EAST, WEST, EAST_NET, WEST_NET, ike, esp)
}

/// The default west-east pair: tunnel between the two subnets, default proposals.
pub fn pair() -> (Connection, Connection) {
    (
        west_conn("west-east", "", ""),
        east_conn("west-east", "", ""),
    )
}

/// One side's connections and secrets.
pub struct Config {
    pub conns: Vec<Arc<Connection>>,
    pub psk: Vec<u8>,
}

impl ConfigSource for Config {
    fn connection_for_init(&self, local: IpAddr, remote: IpAddr) -> Option<Arc<Connection>> {
        // An exact match, else (like right=%any) any connection on our address.
        self.conns
            .iter()
            .find(|c| c.local_addr == local && c.remote_addr == remote)
            .or_else(|| self.conns.iter().find(|c| c.local_addr == local))
            .cloned()
    }

    fn connection_for_auth(
        &self,
        current: &Arc<Connection>,
        peer_id: &Identity,
        _our_id: Option<&Identity>,
    ) -> Option<Arc<Connection>> {
        match &current.remote_id {
            Some(want) if want != peer_id => None,
            _ => Some(current.clone()),
        }
    }

    fn psk(
        &self,
        _conn: &Connection,
        _local: &Identity,
        _remote: &Identity,
    ) -> Option<SecretBytes> {
        (!self.psk.is_empty()).then(|| SecretBytes::from_slice(&self.psk))
    }
}

/// One simulated host.
pub struct Host {
    pub ep: Endpoint,
    pub config: Config,
    pub addr: IpAddr,
    pub events: Vec<Event>,
}

impl Host {
    pub fn new(conn: Connection, psk: &[u8], seed: u64) -> Self {
        Self::with_config(conn, psk, seed, EndpointConfig::default())
    }

    pub fn with_config(conn: Connection, psk: &[u8], seed: u64, cfg: EndpointConfig) -> Self {
        let addr = conn.local_addr;
        Host {
            ep: Endpoint::new(cfg, Box::new(TestRandom::new(seed))).unwrap(),
            config: Config {
                conns: vec![Arc::new(conn)],
                psk: psk.to_vec(),
            },
            addr,
            events: Vec::new(),
        }
    }

    pub fn conn(&self) -> Arc<Connection> {
        self.config.conns[0].clone()
    }

    pub fn progress(&self) -> Vec<String> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Progress(p) => Some(p.to_string()),
                _ => None,
            })
            .collect()
    }

    pub fn has_line(&self, needle: &str) -> bool {
        self.progress().iter().any(|l| l.contains(needle))
    }

    pub fn installs(&self) -> Vec<&ChildSaInstall> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Kernel(KernelRequest::InstallChildSa(i)) => Some(&**i),
                _ => None,
            })
            .collect()
    }

    pub fn deletes(&self) -> usize {
        self.events
            .iter()
            .filter(|e| matches!(e, Event::Kernel(KernelRequest::DeleteChildSa(_))))
            .count()
    }

    pub fn established_ike(&self) -> usize {
        self.events
            .iter()
            .filter(|e| matches!(e, Event::IkeSaEstablished { .. }))
            .count()
    }

    pub fn ike_deleted(&self) -> Vec<(SaEnd, bool)> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::IkeSaDeleted {
                    reason,
                    final_failure,
                    ..
                } => Some((reason.clone(), *final_failure)),
                _ => None,
            })
            .collect()
    }

    pub fn child_failed(&self) -> Vec<NotifyType> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::ChildSaFailed { notify, .. } => Some(*notify),
                _ => None,
            })
            .collect()
    }
}

/// Deterministic xorshift for loss/duplication/reordering decisions.
pub struct Dice(u64);

impl Dice {
    pub fn new(seed: u64) -> Self {
        Dice(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }
    pub fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Network impairments.
#[derive(Clone, Copy, Default)]
pub struct Impair {
    /// Probability that a datagram is lost.
    pub loss: f64,
    /// Probability that a datagram is delivered twice.
    pub dup: f64,
    /// Extra random delay up to this many milliseconds (reorders datagrams).
    pub jitter_ms: u64,
}

/// Decides which datagrams to drop.
pub type Filter = Box<dyn FnMut(&Transmit) -> bool>;

/// Two hosts, the wire between them, and the clock.
pub struct Net {
    pub west: Host,
    pub east: Host,
    pub now: Instant,
    pub start: Instant,
    pub impair: Impair,
    pub dice: Dice,
    pub in_flight: Vec<(Instant, u64, Transmit)>,
    seq: u64,
    /// Every datagram put on the wire (after impairments), for inspection.
    pub wire: Vec<Transmit>,
    /// Drop datagrams for which this returns true (targeted loss).
    pub filter: Option<Filter>,
    /// West sits behind a NAT with this public address: its source ports are
    /// mapped p -> p + 40000.
    pub west_nat: Option<IpAddr>,
}

impl Net {
    pub fn new(west: Connection, east: Connection, west_psk: &[u8], east_psk: &[u8]) -> Self {
        let now = Instant::now();
        Net {
            west: Host::new(west, west_psk, 1),
            east: Host::new(east, east_psk, 2),
            now,
            start: now,
            impair: Impair::default(),
            dice: Dice::new(7),
            in_flight: Vec::new(),
            seq: 0,
            wire: Vec::new(),
            filter: None,
            west_nat: None,
        }
    }

    pub fn default_pair() -> Self {
        let (w, e) = pair();
        Net::new(w, e, b"secret", b"secret")
    }

    pub fn initiate(&mut self) {
        let c = self.west.conn();
        self.west.ep.initiate(c, self.now).unwrap();
        self.collect();
    }

    fn enqueue(&mut self, mut t: Transmit) {
        if let Some(public) = self.west_nat {
            if t.local.ip() == self.west.addr {
                t.local = SocketAddr::new(public, t.local.port() + 40000);
            }
        }
        if let Some(f) = self.filter.as_mut() {
            if f(&t) {
                return;
            }
        }
        if self.dice.next() < self.impair.loss {
            return;
        }
        let copies = if self.dice.next() < self.impair.dup {
            2
        } else {
            1
        };
        for _ in 0..copies {
            let jitter = if self.impair.jitter_ms > 0 {
                (self.dice.next() * self.impair.jitter_ms as f64) as u64
            } else {
                0
            };
            let at = self.now + Duration::from_millis(5 + jitter);
            self.seq += 1;
            self.wire.push(t.clone());
            self.in_flight.push((at, self.seq, t.clone()));
        }
    }

    /// Moves output from both endpoints onto the wire and into the event logs.
    pub fn collect(&mut self) {
        loop {
            let mut any = false;
            while let Some(t) = self.west.ep.poll_transmit() {
                any = true;
                self.enqueue(t);
            }
            while let Some(t) = self.east.ep.poll_transmit() {
                any = true;
                self.enqueue(t);
            }
            while let Some(e) = self.west.ep.poll_event() {
                any = true;
                self.west.events.push(e);
            }
            while let Some(e) = self.east.ep.poll_event() {
                any = true;
                self.east.events.push(e);
            }
            if !any {
                break;
            }
        }
    }

    /// Runs the simulation for `d` of simulated time (or until nothing is left to do).
    pub fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        loop {
            self.collect();
            let next_packet = self.in_flight.iter().map(|(t, _, _)| *t).min();
            let next_timer = [self.west.ep.poll_timeout(), self.east.ep.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            let Some(next) = [next_packet, next_timer].into_iter().flatten().min() else {
                break;
            };
            if next > end {
                break;
            }
            self.now = self.now.max(next);
            // Deliver every datagram due, in arrival order.
            self.in_flight.sort_by_key(|(t, s, _)| (*t, *s));
            let due: Vec<Transmit> = {
                let (due, rest): (Vec<_>, Vec<_>) = self
                    .in_flight
                    .drain(..)
                    .partition(|(t, _, _)| *t <= self.now);
                self.in_flight = rest;
                due.into_iter().map(|(_, _, t)| t).collect()
            };
            for mut t in due {
                if Some(t.remote.ip()) == self.west_nat {
                    t.remote = SocketAddr::new(self.west.addr, t.remote.port() - 40000);
                }
                let host = if t.remote.ip() == self.west.addr {
                    &mut self.west
                } else if t.remote.ip() == self.east.addr {
                    &mut self.east
                } else {
                    continue;
                };
                host.ep
                    .handle(self.now, t.remote, t.local, &t.contents, &host.config);
            }
            if self.west.ep.poll_timeout().is_some_and(|t| t <= self.now) {
                self.west.ep.handle_timeout(self.now);
            }
            if self.east.ep.poll_timeout().is_some_and(|t| t <= self.now) {
                self.east.ep.handle_timeout(self.now);
            }
        }
        self.now = self.now.max(end.min(self.now + d));
        self.collect();
    }

    /// Checks that both sides installed matching Child SAs and returns the pair
    /// (west's, east's).
    pub fn assert_matching_children(&self) -> (ChildSaInstall, ChildSaInstall) {
        let (w, e) = self.assert_matching_children_nat();
        assert_eq!(w.outbound.src, e.inbound.src);
        assert_eq!(w.outbound.dst, e.inbound.dst);
        (w, e)
    }

    /// As [`assert_matching_children`] but allowing for west's address being
    /// translated.
    pub fn assert_matching_children_nat(&self) -> (ChildSaInstall, ChildSaInstall) {
        let w = self.west.installs();
        let e = self.east.installs();
        assert_eq!(w.len(), 1, "west installs: {:?}", self.west.progress());
        assert_eq!(e.len(), 1, "east installs: {:?}", self.east.progress());
        let (w, e) = (w[0].clone(), e[0].clone());
        assert_eq!(w.outbound.spi, e.inbound.spi);
        assert_eq!(w.inbound.spi, e.outbound.spi);
        assert_eq!(&*w.outbound.encr_key, &*e.inbound.encr_key);
        assert_eq!(&*w.outbound.integ_key, &*e.inbound.integ_key);
        assert_eq!(&*w.inbound.encr_key, &*e.outbound.encr_key);
        assert_eq!(&*w.inbound.integ_key, &*e.outbound.integ_key);
        assert_ne!(&*w.outbound.encr_key, &*w.inbound.encr_key);
        assert_eq!(w.encr, e.encr);
        assert_eq!(w.integ, e.integ);
        assert_eq!(w.esn, e.esn);
        assert_eq!(w.mode, e.mode);
        assert_eq!(w.local_ts, e.remote_ts);
        assert_eq!(w.remote_ts, e.local_ts);
        (w, e)
    }
}

/// A socket address helper.
pub fn sock(ip: &str, port: u16) -> SocketAddr {
    SocketAddr::new(ip.parse().unwrap(), port)
}
