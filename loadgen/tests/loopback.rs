//! The generator against an in-process responder (the same sans-IO core, on its
//! own thread and socket) over loopback: every offered IKE SA is established,
//! with its Child SA, and with `--delete` deleted again, and the responder agrees.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ike::crypto::{SecretBytes, SystemRandomSource};
use ike::ikev2::{
    ConfigSource, ConnProfile, Connection, Endpoint, EndpointConfig, Event, Identity, Mode,
    Retransmit,
};
use ike::proposal::{ProposalKind, ProposalSet};
use ike::ts::TrafficSelector;
use loadgen::args;
use loadgen::run::Run;

const PSK: &str = "pb-psk-0123456789abcdef0123456789";

struct Responder(Arc<Connection>);

impl ConfigSource for Responder {
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
        Some(SecretBytes::from_slice(PSK.as_bytes()))
    }
}

fn responder_conn(addr: IpAddr, group: &str) -> Connection {
    Connection {
        name: "lt".into(),
        local_addr: addr,
        remote_addr: addr,
        remote_port: 500,
        remote_id: None,
        remote_ts: vec![TrafficSelector::host(addr)],
        profile: Arc::new(ConnProfile {
            local_id: Identity::Fqdn("srv.strongswan.org".into()),
            ike_proposals: ProposalSet::parse(
                &format!("aes128-sha2_256-{group}"),
                ProposalKind::IKEV2_IKE,
            )
            .unwrap(),
            esp_proposals: ProposalSet::parse("aes_gcm128-none", ProposalKind::IKEV2_ESP).unwrap(),
            local_ts: vec![TrafficSelector::host(addr)],
            mode: Mode::Tunnel,
            pfs: true,
            ike_lifetime: Duration::from_secs(3600),
            child_lifetime: Duration::from_secs(3600),
            rekey_margin: Duration::from_secs(540),
            rekey_fuzz_percent: 100,
            rekey: false,
            keyingtries: 1,
            retransmit: Retransmit::default(),
            nat_traversal: true,
            fragmentation: true,
            encapsulation: Default::default(),
            initial_contact: false,
            replay_window: 128,
            dpd_delay: None,
            dpd_timeout: None,
            nat_keepalive: false,
            ike_only: false,
        }),
    }
}

/// A responder thread; counts the IKE SAs it established and those deleted.
struct Peer {
    port: u16,
    stop: Arc<AtomicBool>,
    established: Arc<AtomicU64>,
    deleted: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

impl Peer {
    fn start(group: &str) -> Peer {
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        let sock = UdpSocket::bind(SocketAddr::new(lo, 0)).unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        let local = sock.local_addr().unwrap();
        let cfg = Responder(Arc::new(responder_conn(lo, group)));
        let stop = Arc::new(AtomicBool::new(false));
        let established = Arc::new(AtomicU64::new(0));
        let deleted = Arc::new(AtomicU64::new(0));
        let (s, e, d) = (stop.clone(), established.clone(), deleted.clone());
        let thread = std::thread::spawn(move || {
            let config = EndpointConfig {
                ike_port: local.port(),
                ..EndpointConfig::default()
            };
            let mut ep = Endpoint::new(config, Box::new(SystemRandomSource::new())).unwrap();
            let mut buf = vec![0u8; 65536];
            while !s.load(Ordering::Relaxed) {
                if let Ok((n, from)) = sock.recv_from(&mut buf) {
                    ep.handle(Instant::now(), local, from, &buf[..n], &cfg);
                }
                ep.handle_timeout(Instant::now());
                while let Some(ev) = ep.poll_event() {
                    match ev {
                        Event::IkeSaEstablished { .. } => {
                            e.fetch_add(1, Ordering::Relaxed);
                        }
                        Event::IkeSaDeleted { .. } => {
                            d.fetch_add(1, Ordering::Relaxed);
                        }
                        _ => {}
                    }
                }
                // Sent after counting, so the counts are complete when the
                // generator has its answers.
                while let Some(t) = ep.poll_transmit() {
                    let _ = sock.send_to(&t.contents, t.remote);
                }
            }
        });
        Peer {
            port: local.port(),
            stop,
            established,
            deleted,
            thread: Some(thread),
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn options(port: u16, extra: &str) -> args::Options {
    let line = format!(
        "--local 127.0.0.1 --remote 127.0.0.1 --port {port} --psk {PSK} --n 40 --limit 8 \
         --sockets 3 --remote-id @srv.strongswan.org --timeout 5 {extra}"
    );
    let argv: Vec<String> = line.split_whitespace().map(String::from).collect();
    args::parse(&argv).unwrap()
}

#[test]
fn sets_up_and_deletes_every_sa_against_a_responder_on_loopback() {
    let peer = Peer::start("dh31");
    let mut run = Run::new(&options(peer.port, "--delete")).unwrap();
    run.setup(&mut |_| {}).unwrap();
    let t = &run.tally;
    assert_eq!((t.established, t.failed), (40, 0), "{t:?}");
    assert_eq!(t.child_established, 40);
    assert_eq!((t.deleted, t.delete_failed, t.live()), (40, 0, 0));
    assert_eq!(peer.established.load(Ordering::Relaxed), 40);
    // The responder saw each Delete (and its own SA end) before we got the answer.
    assert_eq!(peer.deleted.load(Ordering::Relaxed), 40);
}

#[test]
fn holds_the_sas_and_works_with_ecp256_and_fresh_values() {
    let peer = Peer::start("dh19");
    let mut run = Run::new(&options(peer.port, "--ike aes128-sha2_256-dh19 --fresh-ke")).unwrap();
    run.setup(&mut |_| {}).unwrap();
    assert_eq!((run.tally.established, run.tally.live()), (40, 40));
    assert_eq!(peer.deleted.load(Ordering::Relaxed), 0);
}

#[test]
fn a_wrong_key_fails_every_setup_without_hanging() {
    let peer = Peer::start("dh31");
    let mut o = options(peer.port, "--n 5");
    o.psk = "not the key".into();
    let mut run = Run::new(&o).unwrap();
    run.setup(&mut |_| {}).unwrap();
    assert_eq!((run.tally.established, run.tally.failed), (0, 5));
    assert_eq!(peer.established.load(Ordering::Relaxed), 0);
}

#[test]
fn hostile_mutations_of_a_real_delete_are_dropped_and_the_real_one_answered() {
    use loadgen::hostile::{self, Peer as Hostile};
    let peer = Peer::start("dh31");
    let mut h = Hostile::new(&options(peer.port, "")).unwrap();
    let sa = h
        .establish(Duration::from_secs(5))
        .unwrap()
        .expect("established");
    let req = h.delete_request(sa).unwrap();
    assert_eq!(req.len(), 1);
    for m in hostile::mutations(&req[0].1) {
        assert!(h.send_raw(req[0].0, &m));
    }
    // every byte flipped and every truncation fails the integrity check or the
    // parser; none deletes the SA
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(peer.deleted.load(Ordering::Relaxed), 0);
    assert!(h.finish_delete(&req, Duration::from_secs(5)));
    assert_eq!(peer.deleted.load(Ordering::Relaxed), 1);
    assert!(h.establish(Duration::from_secs(5)).unwrap().is_some());
    assert_eq!(peer.established.load(Ordering::Relaxed), 2);
}
