//! Responder handshakes per second with the core's compute jobs run in line or on
//! a pool of worker threads: does the crypto pool turn cores into handshakes?
//!
//! One responder [`Endpoint`] runs on the main thread, as in the daemon; with
//! `helpers` > 0 its [`ComputeJob`]s (IKE_SA_INIT key exchange, SKEYSEED, prf+)
//! go through a channel to that many worker threads and the results come back
//! into [`Endpoint::computed`]. The load is a stream of handshakes from an
//! initiator endpoint (computing in line) in rounds of `COMPUTE_BATCH`: in each
//! timed part the responder takes one round's IKE_SA_INIT requests and the
//! previous round's IKE_AUTH requests, interleaved, as a loaded gateway sees
//! them; between the timed parts, with the responder idle, the initiator
//! answers (its work is the load generator's, not measured). The figure is
//! established responder handshakes (IKE SA + Child SA, PSK) per second of the
//! timed parts' wall clock.
//!
//! Run it under `taskset` to choose the cores, e.g.
//!
//! ```text
//! cargo bench -p ike --bench compute --no-run
//! taskset -c 0   target/release/deps/compute-* --bench    # one core
//! taskset -c 0,1 target/release/deps/compute-* --bench    # two cores
//! ```
//!
//! For comparison, `sN` runs N responders, each computing in line on its own
//! thread with its own initiator (IKE SAs sharded across endpoints, as quinn
//! splits connections from its endpoint), their rounds lined up so that all
//! responder parts run at once.
//!
//! Settings by environment: `COMPUTE_HELPERS` (comma-separated worker counts,
//! default `0,1,2,s2`; 0 is in line, `sN` N shards), `COMPUTE_GROUPS` (`x25519,ecp256,modp2048`,
//! default `x25519,ecp256`), `COMPUTE_N` handshakes per run (default 4000),
//! `COMPUTE_RUNS` runs per setting, alternated between settings (default 5),
//! `COMPUTE_BATCH` (default 256), `COMPUTE_SPIN_US` (how long an idle worker polls
//! for the next job before it sleeps; default 0). Under `cargo test --benches` it runs a few
//! handshakes once per setting, as a smoke test.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ike::crypto::{SecretBytes, SystemRandomSource};
use ike::ikev2::{
    ComputeJob, ComputeResult, ConfigSource, Connection, Endpoint, EndpointConfig, Event, Identity,
    Mode, Retransmit, Transmit,
};
use ike::proposal::{ProposalKind, ProposalSet};
use ike::ts::TrafficSelector;

const WEST: &str = "198.51.100.1";
const EAST: &str = "198.51.100.2";

fn conn(local: &str, remote: &str, ike: &str) -> Connection {
    let local_addr: IpAddr = local.parse().expect("address");
    let remote_addr: IpAddr = remote.parse().expect("address");
    Connection {
        name: "bench".into(),
        local_addr,
        remote_addr,
        remote_port: 500,
        remote_id: None,
        remote_ts: vec![TrafficSelector::host(remote_addr)],
        profile: std::sync::Arc::new(ike::ikev2::ConnProfile {
            local_id: Identity::from_addr(local_addr),
            ike_proposals: ProposalSet::parse(ike, ProposalKind::IKEV2_IKE).expect("ike="),
            esp_proposals: ProposalSet::defaults(ProposalKind::IKEV2_ESP),
            local_ts: vec![TrafficSelector::host(local_addr)],
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
            initial_contact: false,
            replay_window: 128,
            dpd_delay: None,
            dpd_timeout: None,
            nat_keepalive: true,
            ike_only: false,
            encapsulation: Default::default(),
        }),
    }
}

struct OneConn(Arc<Connection>);

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
        Some(SecretBytes::from_slice(b"benchmark pre-shared key"))
    }
}

/// CPU time this thread has used (CLOCK_THREAD_CPUTIME_ID): unlike the wall
/// clock it does not count the time other processes on a shared machine take.
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec we own.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Worker threads taking jobs from one queue, as the daemon's `--nhelpers` pool.
struct Pool {
    jobs: Option<mpsc::Sender<ComputeJob>>,
    results: mpsc::Receiver<ComputeResult>,
    workers: Vec<JoinHandle<()>>,
    /// CPU nanoseconds the workers spent, waiting for jobs included.
    cpu_ns: Arc<AtomicU64>,
}

/// The next job: polled for up to `spin` before sleeping in `recv`, so a worker
/// that just finished a job can take the next without being woken
/// (`COMPUTE_SPIN_US`, default 0).
fn next_job(
    rx: &mpsc::Receiver<ComputeJob>,
    spin: Duration,
) -> Result<ComputeJob, mpsc::RecvError> {
    let until = Instant::now() + spin;
    while !spin.is_zero() && Instant::now() < until {
        match rx.try_recv() {
            Ok(j) => return Ok(j),
            Err(mpsc::TryRecvError::Empty) => std::hint::spin_loop(),
            Err(mpsc::TryRecvError::Disconnected) => return Err(mpsc::RecvError),
        }
    }
    rx.recv()
}

impl Pool {
    fn new(n: usize) -> Pool {
        let spin = Duration::from_micros(env_num("COMPUTE_SPIN_US", 0) as u64);
        let (jtx, jrx) = mpsc::channel::<ComputeJob>();
        let (rtx, rrx) = mpsc::channel();
        let jrx = Arc::new(Mutex::new(jrx));
        let cpu_ns = Arc::new(AtomicU64::new(0));
        let workers = (0..n)
            .map(|_| {
                let jrx = jrx.clone();
                let rtx = rtx.clone();
                let cpu_ns = cpu_ns.clone();
                std::thread::spawn(move || loop {
                    let start = thread_cpu();
                    let job = next_job(&jrx.lock().expect("job queue"), spin);
                    let Ok(job) = job else { return };
                    let r = job.run();
                    let sent = rtx.send(r);
                    let used = thread_cpu().saturating_sub(start);
                    cpu_ns.fetch_add(used.as_nanos() as u64, Ordering::Relaxed);
                    if sent.is_err() {
                        return;
                    }
                })
            })
            .collect();
        Pool {
            jobs: Some(jtx),
            results: rrx,
            workers,
            cpu_ns,
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.jobs = None;
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

/// The responder under test and what it runs its jobs with.
struct Responder {
    ep: Endpoint,
    cfg: OneConn,
    pool: Option<Pool>,
    /// Jobs handed to the pool and not back yet.
    out: usize,
    established: u64,
}

impl Responder {
    fn new(ike: &str, helpers: usize) -> Responder {
        let config = EndpointConfig {
            inline_compute: helpers == 0,
            ..EndpointConfig::default()
        };
        Responder {
            ep: Endpoint::new(config, Box::new(SystemRandomSource::new())).expect("endpoint"),
            cfg: OneConn(Arc::new(conn(EAST, WEST, ike))),
            pool: (helpers > 0).then(|| Pool::new(helpers)),
            out: 0,
            established: 0,
        }
    }

    /// What the daemon's main loop does after each input: jobs to the pool,
    /// results that are back into the core, events drained.
    fn turn(&mut self, now: Instant, block: bool) {
        if let Some(pool) = &self.pool {
            while let Some(job) = self.ep.poll_compute() {
                if let Some(tx) = &pool.jobs {
                    tx.send(job).expect("pool");
                    self.out += 1;
                }
            }
            loop {
                let r = if block && self.out > 0 {
                    pool.results.recv().ok()
                } else {
                    pool.results.try_recv().ok()
                };
                let Some(r) = r else { break };
                self.out -= 1;
                self.ep.computed(r, now, &self.cfg);
                // A result may queue further jobs (not in IKE_SA_INIT, but cheap
                // to honour).
                while let Some(job) = self.ep.poll_compute() {
                    if let Some(tx) = &pool.jobs {
                        tx.send(job).expect("pool");
                        self.out += 1;
                    }
                }
            }
        }
        while let Some(ev) = self.ep.poll_event() {
            if matches!(ev, Event::ChildSaEstablished { .. }) {
                self.established += 1;
            }
        }
    }
}

/// What one run measured.
struct Measured {
    /// Wall clock of the responder's parts.
    wall: Duration,
    /// CPU time of the responder's main thread in them.
    main_cpu: Duration,
    /// CPU time of the workers.
    worker_cpu: Duration,
    /// Wall clock the main thread spent at the end of each round waiting for
    /// the round's last jobs (a pipeline drain of this bench's rounds, which a
    /// daemon fed continuously does not have).
    drained: Duration,
}

/// Runs `n` handshakes into a fresh responder with `helpers` workers.
fn run(ike: &str, helpers: usize, n: usize, batch: usize) -> Measured {
    run_shard(ike, helpers, n, batch, None)
}

/// [`run`] as one of several shards running at once, each with its own
/// responder (and initiator) on its own thread: the alternative to a crypto pool,
/// IKE SAs split across endpoints by SPI. `sync` lines the shards' rounds up, so
/// every shard's responder part runs while the others' do, and every initiator
/// part while no responder does; the wall clock is the first shard's between
/// those points.
fn run_shard(
    ike: &str,
    helpers: usize,
    n: usize,
    batch: usize,
    sync: Option<&std::sync::Barrier>,
) -> Measured {
    let mut east = Responder::new(ike, helpers);
    let west_cfg = OneConn(Arc::new(conn(WEST, EAST, ike)));
    let mut west = Endpoint::new(
        EndpointConfig::default(),
        Box::new(SystemRandomSource::new()),
    )
    .expect("endpoint");
    let now = Instant::now();
    let mut spent = Duration::ZERO;
    let mut main_cpu = Duration::ZERO;
    let mut drained = Duration::ZERO;
    let mut started = 0;
    let mut auth: Vec<Transmit> = Vec::new();
    loop {
        // The initiator (untimed): a new round of IKE_SA_INIT requests.
        let mut init = Vec::new();
        while init.len() < batch && started < n {
            west.initiate(west_cfg.0.clone(), now).expect("initiate");
            init.extend(std::iter::from_fn(|| west.poll_transmit()));
            started += 1;
        }
        while west.poll_event().is_some() {}
        if init.is_empty() && auth.is_empty() {
            break;
        }
        if let Some(b) = sync {
            b.wait();
        }
        // The responder (timed): this round's IKE_SA_INITs and the last round's
        // IKE_AUTHs, interleaved.
        let t = Instant::now();
        let c = thread_cpu();
        let mut a = auth.drain(..);
        for req in &init {
            east.ep
                .handle(now, req.remote, req.local, &req.contents, &east.cfg);
            east.turn(now, false);
            if let Some(r) = a.next() {
                east.ep
                    .handle(now, r.remote, r.local, &r.contents, &east.cfg);
                east.turn(now, false);
            }
        }
        for r in a {
            east.ep
                .handle(now, r.remote, r.local, &r.contents, &east.cfg);
            east.turn(now, false);
        }
        let d = Instant::now();
        east.turn(now, true);
        drained += d.elapsed();
        let answers: Vec<Transmit> = std::iter::from_fn(|| east.ep.poll_transmit()).collect();
        if let Some(b) = sync {
            b.wait();
        }
        spent += t.elapsed();
        main_cpu += thread_cpu().saturating_sub(c);
        // The initiator (untimed) takes the answers: IKE_AUTH requests for the
        // next round, and the end of the handshakes of the last one.
        for ans in &answers {
            west.handle(now, ans.remote, ans.local, &ans.contents, &west_cfg);
        }
        auth.extend(std::iter::from_fn(|| west.poll_transmit()));
        while west.poll_event().is_some() {}
    }
    assert_eq!(
        east.established, n as u64,
        "every handshake must complete for the figure to mean anything"
    );
    let worker_cpu = Duration::from_nanos(
        east.pool
            .as_ref()
            .map_or(0, |p| p.cpu_ns.load(Ordering::Relaxed)),
    );
    Measured {
        wall: spent,
        main_cpu,
        worker_cpu,
        drained,
    }
}

/// `shards` responders at once, `n` handshakes in all; the wall clock of the
/// responder parts and the CPU of all shards' responder threads.
fn run_sharded(ike: &str, shards: usize, n: usize, batch: usize) -> Measured {
    let barrier = std::sync::Barrier::new(shards);
    let per = n / shards;
    let results: Vec<Measured> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..shards)
            .map(|_| s.spawn(|| run_shard(ike, 0, per, batch, Some(&barrier))))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("shard"))
            .collect()
    });
    Measured {
        wall: results[0].wall,
        main_cpu: results.iter().map(|m| m.main_cpu).sum(),
        worker_cpu: Duration::ZERO,
        drained: results[0].drained,
    }
}

/// What runs the responder's work: one endpoint with that many helper threads
/// (0: in line), or that many endpoints computing in line on their own threads.
#[derive(Clone, Copy)]
enum Setting {
    Helpers(usize),
    Shards(usize),
}

fn env_list(name: &str, default: &str) -> Vec<String> {
    std::env::var(name)
        .unwrap_or_else(|_| default.to_owned())
        .split(',')
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

fn env_num(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` does not.
    let bench = std::env::args().any(|a| a == "--bench");
    let helpers: Vec<Setting> = env_list("COMPUTE_HELPERS", "0,1,2,s2")
        .iter()
        .map(|h| match h.strip_prefix('s') {
            Some(k) => Setting::Shards(k.parse().expect("COMPUTE_HELPERS: sN")),
            None => Setting::Helpers(h.parse().expect("COMPUTE_HELPERS: numbers")),
        })
        .collect();
    let groups = env_list("COMPUTE_GROUPS", "x25519,ecp256");
    let (n, runs) = if bench {
        (env_num("COMPUTE_N", 4000), env_num("COMPUTE_RUNS", 5))
    } else {
        (20, 1)
    };
    let batch = env_num("COMPUTE_BATCH", 256).max(1);
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    println!(
        "compute: {n} handshakes per run, {runs} runs, batches of {batch}, {cores} cores available to this process"
    );
    for g in &groups {
        let ike = match g.as_str() {
            "x25519" => "aes_gcm256-sha2_512-dh31",
            "ecp256" => "aes_gcm256-sha2_512-dh19",
            "modp2048" => "aes_gcm256-sha2_512-modp2048",
            other => panic!("COMPUTE_GROUPS: unknown group {other}"),
        };
        let mut rates: Vec<Vec<f64>> = vec![Vec::new(); helpers.len()];
        let mut main_us: Vec<Vec<f64>> = vec![Vec::new(); helpers.len()];
        let mut worker_us: Vec<Vec<f64>> = vec![Vec::new(); helpers.len()];
        let mut drained: Vec<Vec<f64>> = vec![Vec::new(); helpers.len()];
        for _ in 0..runs {
            // Alternate the settings, so the machine's load drifts over all alike.
            for (i, &h) in helpers.iter().enumerate() {
                let m = match h {
                    Setting::Helpers(k) => run(ike, k, n, batch),
                    Setting::Shards(k) => run_sharded(ike, k.max(1), n, batch),
                };
                rates[i].push(n as f64 / m.wall.as_secs_f64());
                main_us[i].push(m.main_cpu.as_secs_f64() * 1e6 / n as f64);
                worker_us[i].push(m.worker_cpu.as_secs_f64() * 1e6 / n as f64);
                drained[i].push(100.0 * m.drained.as_secs_f64() / m.wall.as_secs_f64());
            }
        }
        let median = |v: &mut Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        for (i, &h) in helpers.iter().enumerate() {
            let main = median(&mut main_us[i]);
            let work = median(&mut worker_us[i]);
            let drain = median(&mut drained[i]);
            let r = &mut rates[i];
            let median = median(r);
            let what = match h {
                Setting::Helpers(0) => "in line".to_owned(),
                Setting::Helpers(1) => "1 helper".to_owned(),
                Setting::Helpers(k) => format!("{k} helpers"),
                Setting::Shards(k) => format!("{k} shards in line"),
            };
            println!(
                "compute/{g}/{what}: {median:.0} responder handshakes/s (median; runs {:.0} .. {:.0}); CPU per handshake: main thread {main:.1} us, helpers {work:.1} us; {drain:.1}% of the time draining rounds",
                r[0],
                r[r.len() - 1]
            );
        }
    }
}
