//! A two-endpoint loopback driver for the unit tests that need to look inside SAs,
//! and the connection builder the `ikev2_exchange` fuzz target shares with them
//! (through [`fuzzing`](super::fuzzing)).
// The builders parse addresses and proposal strings their callers write as
// literals; a typo there is a bug of the test, which should stop it.
#![cfg_attr(not(test), allow(clippy::unwrap_used))]

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::crypto::rng::TestRandom;
use crate::crypto::SecretBytes;
use crate::proposal::{ProposalKind, ProposalSet};
use crate::ts::TrafficSelector;

use super::{
    ConfigSource, Connection, Endpoint, EndpointConfig, Event, Identity, Mode, Retransmit,
};

/// An endpoint's configuration: one connection, one PSK, whoever asks.
pub struct OneConn(pub Arc<Connection>);

impl ConfigSource for OneConn {
    fn connection_for_init(&self, _: IpAddr, _: IpAddr) -> Option<Arc<Connection>> {
        Some(self.0.clone())
    }
    fn connection_for_auth(
        &self,
        current: &Arc<Connection>,
        _: &Identity,
        _: Option<&Identity>,
    ) -> Option<Arc<Connection>> {
        Some(current.clone())
    }
    fn psk(&self, _: &Connection, _: &Identity, _: &Identity) -> Option<SecretBytes> {
        Some(SecretBytes::from_slice(b"unit test secret"))
    }
}

/// A host-to-host connection from `local` to `remote`, PSK, default IKE
/// proposals, these ESP proposals.
pub fn conn(local: &str, remote: &str, esp: &str) -> Connection {
    let ts = |a: &str| vec![TrafficSelector::host(a.parse().unwrap())];
    Connection {
        name: "unit".into(),
        local_addr: local.parse().unwrap(),
        remote_addr: remote.parse().unwrap(),
        remote_port: 500,
        remote_id: None,
        remote_ts: ts(remote),
        profile: std::sync::Arc::new(crate::ikev2::ConnProfile {
            local_id: Identity::from_addr(local.parse().unwrap()),
            ike_proposals: ProposalSet::defaults(ProposalKind::IKEV2_IKE),
            esp_proposals: ProposalSet::parse(esp, ProposalKind::IKEV2_ESP).unwrap(),
            local_ts: ts(local),
            mode: Mode::Tunnel,
            pfs: true,
            ike_lifetime: Duration::from_secs(3600),
            child_lifetime: Duration::from_secs(3600),
            rekey_margin: Duration::from_secs(540),
            rekey_fuzz_percent: 100,
            rekey: true,
            keyingtries: 1,
            retransmit: Retransmit::default(),
            nat_traversal: true,
            fragmentation: true,
            encapsulation: Default::default(),
            initial_contact: false,
            replay_window: 32,
            dpd_delay: None,
            dpd_timeout: None,
            nat_keepalive: true,
            ike_only: false,
        }),
    }
}

/// Two endpoints ("west" initiates) and the clock.
pub struct Pair {
    pub west: Endpoint,
    pub east: Endpoint,
    pub wcfg: OneConn,
    pub ecfg: OneConn,
    pub now: Instant,
    pub west_events: Vec<Event>,
    pub east_events: Vec<Event>,
}

impl Pair {
    /// Two endpoints with a completed handshake.
    pub fn established(esp: &str) -> Pair {
        let mut p = Pair::new(esp);
        let w = p.wcfg.0.clone();
        p.west.initiate(w, p.now).unwrap();
        p.pump();
        p
    }

    /// Two endpoints that have not talked yet.
    pub fn new(esp: &str) -> Pair {
        Pair::with_configs(esp, EndpointConfig::default(), EndpointConfig::default())
    }

    /// Like [`Pair::new`] with these endpoint settings for west and east.
    pub fn with_configs(esp: &str, west: EndpointConfig, east: EndpointConfig) -> Pair {
        let w = Arc::new(conn("192.0.2.1", "192.0.2.2", esp));
        let e = Arc::new(conn("192.0.2.2", "192.0.2.1", esp));
        Pair {
            west: Endpoint::new(west, Box::new(TestRandom::new(1))).unwrap(),
            east: Endpoint::new(east, Box::new(TestRandom::new(2))).unwrap(),
            wcfg: OneConn(w),
            ecfg: OneConn(e),
            now: Instant::now(),
            west_events: Vec::new(),
            east_events: Vec::new(),
        }
    }

    /// Delivers datagrams both ways until both are quiet.
    pub fn pump(&mut self) {
        loop {
            let mut moved = false;
            while let Some(t) = self.west.poll_transmit() {
                moved = true;
                self.east
                    .handle(self.now, t.remote, t.local, &t.contents, &self.ecfg);
            }
            while let Some(t) = self.east.poll_transmit() {
                moved = true;
                self.west
                    .handle(self.now, t.remote, t.local, &t.contents, &self.wcfg);
            }
            while let Some(e) = self.west.poll_event() {
                self.west_events.push(e);
            }
            while let Some(e) = self.east.poll_event() {
                self.east_events.push(e);
            }
            if !moved {
                return;
            }
        }
    }
}

/// The daemon moves the endpoint into a tokio task: it must stay `Send`.
#[test]
fn endpoint_is_send() {
    fn send<T: Send>() {}
    send::<Endpoint>();
    send::<Event>();
}
