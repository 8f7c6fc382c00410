//! The generator's loop: one UDP socket and one sans-IO IKE endpoint per source
//! port, all driven from this thread with `poll(2)`.
//!
//! Each endpoint's IKE port is its socket's port, so the NAT detection hashes the
//! endpoint sends describe the address the responder really sees (no NAT is
//! detected on the veth, and IKE_AUTH stays on the same port). The compute jobs run
//! in line: the one left per SA is the agreement with the responder's KE value and
//! the key schedule, which cannot be skipped; the key generation is not done per SA
//! when [`Options::reuse_ke`] holds ([`ike::crypto::KeReuse`]).

use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ike::crypto::{KeReuse, SecretBytes, SystemRandomSource};
use ike::ikev2::{
    ConfigSource, ConnProfile, Connection, Endpoint, EndpointConfig, Identity, Mode, Retransmit,
};
use ike::proposal::{ProposalError, ProposalKind, ProposalSet};
use ike::ts::TrafficSelector;

use crate::args::Options;
use crate::tally::Tally;

/// Why a run could not start or go on.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: io::Error,
    },
    #[error("{0}: {1}")]
    Proposal(&'static str, ProposalError),
    #[error(transparent)]
    Ike(#[from] ike::ikev2::Error),
}

fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> RunError {
    let what = what.into();
    move |source| RunError::Io { what, source }
}

/// Every lookup gets the one PSK; the generator never answers an IKE_SA_INIT.
pub struct Psk(pub SecretBytes);

impl ConfigSource for Psk {
    fn connection_for_init(&self, _: IpAddr, _: IpAddr) -> Option<Arc<Connection>> {
        None
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
        Some(self.0.clone())
    }
}

/// The connection every SA of one endpoint is set up with.
pub fn connection(o: &Options) -> Result<Connection, RunError> {
    let never = Duration::from_secs(24 * 3600);
    Ok(Connection {
        name: "loadgen".into(),
        local_addr: o.local,
        remote_addr: o.remote,
        remote_port: o.port,
        remote_id: o.remote_id.clone(),
        remote_ts: vec![TrafficSelector::host(o.remote)],
        profile: Arc::new(ConnProfile {
            local_id: o.id.clone().unwrap_or_else(|| Identity::from_addr(o.local)),
            ike_proposals: ProposalSet::parse(&o.ike, ProposalKind::IKEV2_IKE)
                .map_err(|e| RunError::Proposal("--ike", e))?,
            esp_proposals: ProposalSet::parse(&o.esp, ProposalKind::IKEV2_ESP)
                .map_err(|e| RunError::Proposal("--esp", e))?,
            local_ts: vec![TrafficSelector::host(o.local)],
            mode: Mode::Tunnel,
            pfs: true,
            // No rekeys, no liveness checks while a run lasts.
            ike_lifetime: never,
            child_lifetime: never,
            rekey_margin: Duration::from_secs(540),
            rekey_fuzz_percent: 0,
            rekey: false,
            keyingtries: 1,
            retransmit: Retransmit {
                initial: Duration::from_secs(1),
                max_interval: Duration::from_secs(8),
                timeout: o.timeout,
            },
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
    })
}

/// One source port.
struct Port {
    sock: UdpSocket,
    local: SocketAddr,
    ep: Endpoint,
    conn: Arc<Connection>,
}

/// A run in progress.
pub struct Run {
    opts: Options,
    ports: Vec<Port>,
    psk: Psk,
    pub tally: Tally,
    buf: Vec<u8>,
    next: usize,
}

/// Process CPU time, user + system (getrusage).
pub fn process_cpu() -> Duration {
    // SAFETY: getrusage fills the struct we own; RUSAGE_SELF cannot fail.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

impl Run {
    /// Opens the sockets and endpoints.
    pub fn new(opts: &Options) -> Result<Run, RunError> {
        let template = connection(opts)?;
        let reuse = opts.reuse_ke.then(|| Arc::new(KeReuse::new()));
        let mut ports = Vec::with_capacity(opts.sockets);
        for _ in 0..opts.sockets {
            let sock = UdpSocket::bind(SocketAddr::new(opts.local, 0))
                .map_err(io_err(format!("bind {}", opts.local)))?;
            sock.set_nonblocking(true)
                .map_err(io_err("non-blocking socket"))?;
            let local = sock.local_addr().map_err(io_err("local address"))?;
            let config = EndpointConfig {
                ike_port: local.port(),
                reuse_ke: reuse.clone(),
                ..EndpointConfig::default()
            };
            let ep = Endpoint::new(config, Box::new(SystemRandomSource::new()))?;
            ports.push(Port {
                sock,
                local,
                ep,
                conn: Arc::new(template.clone()),
            });
        }
        Ok(Run {
            opts: opts.clone(),
            ports,
            psk: Psk(SecretBytes::from_slice(opts.psk.as_bytes())),
            tally: Tally::new(opts.n),
            buf: vec![0; 65536],
            next: 0,
        })
    }

    /// Sends what endpoint `i` has queued and takes its events (deleting what was
    /// just established with `--delete`). `retransmit`: these come from a timer.
    fn drain(&mut self, i: usize, now: Instant, retransmit: bool) {
        loop {
            let port = &mut self.ports[i];
            while let Some(t) = port.ep.poll_transmit() {
                if retransmit {
                    self.tally.retransmits += 1;
                }
                if port.sock.send_to(&t.contents, t.remote).is_err() {
                    self.tally.send_errors += 1;
                }
            }
            let mut again = false;
            while let Some(e) = port.ep.poll_event() {
                if let Some(sa) = self.tally.event(i, &e, self.opts.delete) {
                    if let Err(err) = port.ep.delete_ike_sa(sa, now) {
                        tracing::warn!("cannot delete {sa}: {err}");
                        self.tally.delete_refused(i, sa);
                    }
                    again = true;
                }
            }
            if !again {
                return;
            }
        }
    }

    /// Starts setups while the limit allows, over the ports in turn.
    fn start_more(&mut self, now: Instant) -> Result<(), RunError> {
        while self.tally.may_start(self.opts.limit) {
            let i = self.next;
            self.next = (self.next + 1) % self.ports.len();
            let conn = self.ports[i].conn.clone();
            self.ports[i].ep.initiate(conn, now)?;
            self.tally.start();
            self.drain(i, now, false);
        }
        Ok(())
    }

    /// Waits at most `max` for datagrams and handles them, then the timers due.
    fn turn(&mut self, max: Duration) -> Result<(), RunError> {
        let now = Instant::now();
        let wait = self
            .ports
            .iter()
            .filter_map(|p| p.ep.poll_timeout())
            .min()
            .map_or(max, |t| t.saturating_duration_since(now).min(max));
        let mut fds: Vec<libc::pollfd> = self
            .ports
            .iter()
            .map(|p| libc::pollfd {
                fd: p.sock.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        let ms = wait.as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: fds is a live array of fds.len() pollfd structs.
        let rc = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
        if rc < 0 {
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(io_err("poll")(e));
            }
        }
        let now = Instant::now();
        for (i, fd) in fds.iter().enumerate() {
            if fd.revents & libc::POLLIN == 0 {
                continue;
            }
            loop {
                let port = &mut self.ports[i];
                let (len, from) = match port.sock.recv_from(&mut self.buf) {
                    Ok(r) => r,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    // ICMP errors (port unreachable) surface here: the timers
                    // deal with the requests they concern.
                    Err(_) => break,
                };
                port.ep
                    .handle(now, port.local, from, &self.buf[..len], &self.psk);
                self.drain(i, now, false);
            }
        }
        for i in 0..self.ports.len() {
            if self.ports[i].ep.poll_timeout().is_some_and(|t| t <= now) {
                self.ports[i].ep.handle_timeout(now);
                self.drain(i, now, true);
            }
        }
        self.start_more(now)
    }

    /// Sets up the offered SAs (and deletes them with `--delete`); returns the
    /// wall time from the first request to the last outcome. `progress` gets a
    /// line every second.
    pub fn setup(&mut self, progress: &mut dyn FnMut(&Tally)) -> Result<Duration, RunError> {
        let start = Instant::now();
        let mut shown = start;
        self.start_more(start)?;
        while !(self.tally.setups_done() && (!self.opts.delete || self.tally.live() == 0)) {
            self.turn(Duration::from_millis(100))?;
            if shown.elapsed() >= Duration::from_secs(1) {
                shown = Instant::now();
                progress(&self.tally);
            }
        }
        Ok(start.elapsed())
    }

    /// Keeps answering (the responder's requests, our timers) until killed.
    pub fn hold(&mut self, progress: &mut dyn FnMut(&Tally)) -> Result<(), RunError> {
        loop {
            self.turn(Duration::from_secs(1))?;
            progress(&self.tally);
        }
    }
}
