//! `--nhelpers`: the crypto helper threads.
//!
//! The IKEv2 core queues its expensive crypto (the key exchange and key schedule of
//! IKE_SA_INIT, both roles) as [`ComputeJob`]s instead of doing it in line
//! (`EndpointConfig::inline_compute` off). [`Pluto::pump`] hands each job to this
//! pool; a helper thread runs it and sends the [`ComputeResult`] back to the main
//! loop (`daemon.rs`), which gives it to the core with [`Pluto::computed`]. The core
//! stays single-threaded and owns every SA; the helpers own nothing but the job in
//! hand, so there is no lock around protocol state, and with N helpers the main loop
//! is left with the cheap part of each handshake (parsing, proposal choice, AUTH,
//! kernel requests) while N cores do the key exchanges. docs/architecture.md says
//! why this and not endpoints sharded by SPI.
//!
//! `--nhelpers 0` starts no thread: the core computes in line, as libreswan's
//! `nhelpers=0` does everything in the main process.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc as std_mpsc, Arc, Mutex};
use std::time::Instant;

use ike::ikev2::{ComputeJob, ComputeResult};
use tokio::sync::mpsc;

use crate::convert::Lookup;
use crate::pluto::Pluto;

/// The helper threads and the way back to the main loop.
pub struct Pool {
    /// To the helpers; `None` without helpers (jobs then run where submitted).
    jobs: Option<std_mpsc::Sender<ComputeJob>>,
    results_tx: mpsc::UnboundedSender<ComputeResult>,
    /// Until the main loop takes it ([`Pool::take_results`]).
    results_rx: Option<mpsc::UnboundedReceiver<ComputeResult>>,
    helpers: usize,
    /// Jobs run by the helpers so far (status and tests).
    ran: Arc<AtomicU64>,
    /// Jobs handed out whose results the main loop has not taken yet.
    in_flight: usize,
    /// New IKE_SA_INIT requests dropped because the helpers were behind.
    pub shed: u64,
}

/// Jobs per helper thread that may wait before new IKE_SA_INIT requests are
/// dropped unread: some 10 ms of X25519 work per helper, so a flood costs a
/// bounded queue and an answer delay far below the initiators' retransmission
/// interval, as the socket buffer bounds it when the main thread computes.
pub const QUEUE_PER_HELPER: usize = 256;

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("helpers", &self.helpers)
            .field("ran", &self.ran())
            .finish()
    }
}

impl Pool {
    /// No helper threads: what [`Pluto::new`] starts with, so a `Pluto` driven
    /// without the main loop (the unit tests) computes in line.
    pub fn inline() -> Pool {
        let (results_tx, results_rx) = mpsc::unbounded_channel();
        Pool {
            jobs: None,
            results_tx,
            results_rx: Some(results_rx),
            helpers: 0,
            ran: Arc::new(AtomicU64::new(0)),
            in_flight: 0,
            shed: 0,
        }
    }

    /// Starts `n` helper threads (none for 0). A thread the system refuses is
    /// logged and the pool runs with those it got.
    pub fn start(n: usize) -> Pool {
        let mut pool = Pool::inline();
        if n == 0 {
            return pool;
        }
        // One queue for all helpers: whichever is free takes the next job, so a
        // slow MODP job does not hold up the ECDH ones behind it.
        let (tx, rx) = std_mpsc::channel::<ComputeJob>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..n {
            let rx = rx.clone();
            let results = pool.results_tx.clone();
            let ran = pool.ran.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("pluto-helper-{i}"))
                .spawn(move || helper(&rx, &results, &ran));
            match spawned {
                Ok(_) => pool.helpers += 1,
                Err(e) => tracing::error!("cannot start crypto helper thread {i}: {e}"),
            }
        }
        if pool.helpers > 0 {
            pool.jobs = Some(tx);
        }
        pool
    }

    /// How many helper threads run.
    pub fn helpers(&self) -> usize {
        self.helpers
    }

    /// Jobs the helpers have run so far.
    pub fn ran(&self) -> u64 {
        self.ran.load(Ordering::Relaxed)
    }

    /// Hands `job` to a helper. Without helpers (or should they all be gone) it
    /// runs here and now, its result still going through the channel, so the
    /// core sees the same order of inputs either way.
    pub fn submit(&mut self, job: ComputeJob) {
        self.in_flight += 1;
        let job = match &self.jobs {
            Some(tx) => match tx.send(job) {
                Ok(()) => return,
                Err(std_mpsc::SendError(job)) => {
                    tracing::error!("every crypto helper thread is gone; computing in line");
                    job
                }
            },
            None => job,
        };
        // The receiver lives as long as the pool or the main loop holding it.
        let _ = self.results_tx.send(job.run());
    }

    /// Whether to drop datagram `data` unread: a new IKE_SA_INIT request (the
    /// only input that makes a job for a peer not yet known) while the helpers
    /// have [`QUEUE_PER_HELPER`] jobs each waiting. Everything else goes on:
    /// IKE_AUTH of SAs already answered, Deletes, whack.
    pub fn sheds(&mut self, data: &[u8], natt: bool) -> bool {
        if self.in_flight < QUEUE_PER_HELPER * self.helpers.max(1) {
            return false;
        }
        // After the non-ESP marker on the NAT-T port: the IKE header's exchange
        // type (34 = IKE_SA_INIT) and flags (0x20 = response).
        let hdr = if natt { data.get(4..) } else { Some(data) };
        let new_init =
            hdr.is_some_and(|h| h.get(18) == Some(&34) && h.get(19).is_some_and(|f| f & 0x20 == 0));
        if new_init {
            self.shed += 1;
            if self.shed.is_power_of_two() {
                tracing::warn!(
                    "crypto helpers are {} jobs behind: dropping new IKE_SA_INIT requests ({} so far)",
                    self.in_flight,
                    self.shed
                );
            }
        }
        new_init
    }

    /// The main loop took a result.
    fn returned(&mut self) {
        self.in_flight = self.in_flight.saturating_sub(1);
    }

    /// The results, for the main loop's `select!` (once).
    pub fn take_results(&mut self) -> Option<mpsc::UnboundedReceiver<ComputeResult>> {
        self.results_rx.take()
    }
}

/// One helper thread: runs jobs until the pool (the job sender) is dropped or
/// the main loop stops taking results.
fn helper(
    jobs: &Mutex<std_mpsc::Receiver<ComputeJob>>,
    results: &mpsc::UnboundedSender<ComputeResult>,
    ran: &AtomicU64,
) {
    loop {
        // The lock is held only while waiting for the next job, not while running it.
        let job = match jobs.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        let Ok(job) = job else { return };
        let id = job.id();
        // A job that panics must not take the helper with it: its SA waits until
        // its timers end it.
        let Ok(result) = std::panic::catch_unwind(AssertUnwindSafe(|| job.run())) else {
            tracing::error!("{id} panicked; its IKE SA will time out");
            continue;
        };
        ran.fetch_add(1, Ordering::Relaxed);
        if results.send(result).is_err() {
            return;
        }
    }
}

impl Pluto {
    /// Starts `--nhelpers` helper threads (the option's default: one per core)
    /// and switches the core to queueing its crypto for them; with 0 the core
    /// keeps computing in line. Called once by the main loop before it runs.
    pub fn start_helpers(&mut self) {
        let n = self.opts.helpers();
        self.compute = Pool::start(n);
        self.ike.set_inline_compute(self.compute.helpers() == 0);
        if self.compute.helpers() == 0 {
            tracing::info!("no helper threads: crypto runs in the main thread");
        } else {
            tracing::info!(
                "started {} helper threads for crypto",
                self.compute.helpers()
            );
        }
    }

    /// A helper's result, into the core (which may answer, or queue more jobs:
    /// the main loop's [`Pluto::pump`] follows).
    pub fn computed(&mut self, result: ComputeResult) {
        self.compute.returned();
        let lookup = Lookup {
            conns: &self.conns,
            secrets: &self.secrets,
        };
        self.ike.computed(result, Instant::now(), &lookup);
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;
    use std::sync::Arc;

    use conn::connection::HostAddrs;
    use conn::spec::ConnSpec;
    use ike::codec::v2::{Message, Payload};
    use ike::ikev2::{Endpoint, EndpointConfig};

    use super::*;
    use crate::args::Options;

    /// A `Pluto` with `--nhelpers n` started and one connection, and a peer's
    /// IKE_SA_INIT request for it, handed to the core.
    fn pluto_with_request(n: usize) -> Pluto {
        let mut p = Pluto::new(Options {
            secretsfile: "/nonexistent/ipsec.secrets".into(),
            nhelpers: Some(n),
            ..Options::default()
        });
        p.start_helpers();
        assert_eq!(p.compute.helpers(), n);
        let addrs = HostAddrs::new(["192.0.2.2".parse::<IpAddr>().unwrap()]);
        let mut spec = ConnSpec::named("helpers");
        spec.left.host = Some("192.0.2.2".into());
        spec.right.host = Some("192.0.2.1".into());
        spec.psk = true;
        spec.encrypt = true;
        p.conns.add(spec.clone(), &addrs).unwrap();
        // The peer: an endpoint computing in line, with the mirrored connection.
        spec.left.host = Some("192.0.2.1".into());
        spec.right.host = Some("192.0.2.2".into());
        let c = conn::connection::Connection::from_spec(
            spec,
            &HostAddrs::new(["192.0.2.1".parse::<IpAddr>().unwrap()]),
        )
        .unwrap();
        let mut west = Endpoint::new(
            EndpointConfig::default(),
            Box::new(ike::crypto::SystemRandomSource::new()),
        )
        .unwrap();
        let now = Instant::now();
        west.initiate(Arc::new(crate::convert::connection(&c, None).unwrap()), now)
            .unwrap();
        let req = west.poll_transmit().unwrap();
        let lookup = Lookup {
            conns: &p.conns,
            secrets: &p.secrets,
        };
        p.ike
            .handle(now, req.remote, req.local, &req.contents, &lookup);
        p
    }

    fn is_ike_sa_init_response(t: &ike::ikev2::Transmit) -> bool {
        let msg = Message::decode(&t.contents).unwrap();
        msg.header.flags.response
            && msg.payloads.iter().any(|pl| matches!(pl, Payload::Ke(_)))
            && msg
                .payloads
                .iter()
                .any(|pl| matches!(pl, Payload::Nonce(_)))
    }

    /// `--nhelpers 2`: an IKE_SA_INIT request is answered only once a helper
    /// thread has run its key exchange, and the answer carries our KE payload.
    #[tokio::test]
    async fn nhelpers_answers_ike_sa_init_from_the_helper_threads() {
        let mut p = pluto_with_request(2);
        let mut results = p.compute.take_results().unwrap();
        assert!(p.ike.poll_transmit().is_none(), "answered before computing");
        p.pump().await;
        let r = results.recv().await.unwrap();
        assert_eq!(p.compute.ran(), 1, "the job ran on a helper");
        p.computed(r);
        assert!(is_ike_sa_init_response(&p.ike.poll_transmit().unwrap()));
    }

    /// With the helpers behind, new IKE_SA_INIT requests are dropped unread and
    /// nothing else is.
    #[test]
    fn a_full_queue_sheds_only_new_ike_sa_init_requests() {
        let mut pool = Pool::inline();
        pool.in_flight = QUEUE_PER_HELPER;
        let mut init = vec![0u8; 28];
        init[18] = 34;
        let mut response = init.clone();
        response[19] = 0x20;
        let mut auth = init.clone();
        auth[18] = 35;
        assert!(pool.sheds(&init, false));
        assert!(!pool.sheds(&response, false));
        assert!(!pool.sheds(&auth, false));
        let mut natt = vec![0u8; 4];
        natt.extend_from_slice(&init);
        assert!(pool.sheds(&natt, true));
        assert_eq!(pool.shed, 2);
        pool.returned();
        assert!(!pool.sheds(&init, false));
    }

    /// `--nhelpers 0`: no thread, the core answers in line.
    #[test]
    fn nhelpers_0_computes_in_line() {
        let mut p = pluto_with_request(0);
        assert!(is_ike_sa_init_response(&p.ike.poll_transmit().unwrap()));
        assert_eq!(p.compute.ran(), 0);
    }
}
