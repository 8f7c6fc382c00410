//! IKEv2 handshake throughput and memory per SA of the sans-IO core
//! ([`ike::ikev2::Endpoint`]), two endpoints wired back to back in memory: no sockets,
//! no kernel, so what is measured is the protocol core alone.
//!
//! Timing (criterion):
//!
//! * `handshake_pair/<group>`: a complete IKE_SA_INIT + IKE_AUTH (PSK, first Child
//!   SA in IKE_AUTH) between a fresh initiator and a fresh responder endpoint, both
//!   run on this thread, AES_GCM_16_256 / HMAC_SHA2_512 with the named key exchange.
//!   Endpoint creation is outside the measurement; event and transmit draining is in.
//! * `handshake_responder/<group>` and `handshake_initiator/<group>`: the same
//!   handshakes, timing only the calls into one end (its `handle`/`initiate` plus
//!   draining its output). Replaying recorded initiator messages into a responder
//!   is not possible (every handshake needs fresh keys and nonces), so the pair runs
//!   and only one side's share of the clock is summed.
//!
//! Memory (`sa_memory`, printed rather than handed to criterion): a counting global
//! allocator records the bytes live on one long-lived endpoint after N handshakes
//! against throw-away peers, per established IKE SA (+ its Child SA) and per
//! half-open SA, for the responder and the initiator, plus the time of
//! [`Endpoint::poll_timeout`] with that many SAs. N is 10,000 under `cargo bench`
//! (`SA_MEMORY_N` overrides it) and 200 under `cargo test --benches`. The allocator
//! also counts allocations per handshake. glibc's `mallinfo2` gives the same
//! figure as malloc sees it, aws-lc's C allocations and chunk overhead included.
//! Counting runs only during the memory part (and before criterion starts), so the
//! timings pay a relaxed load per allocation, nothing more.
//!
//! `cargo bench -p ike --bench handshake -- --warm-up-time 1 --measurement-time 3`;
//! a filter (`handshake_pair`, `sa_memory`) selects parts.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput};

use ike::crypto::{SecretBytes, SystemRandomSource};
use ike::ikev2::{
    ConfigSource, Connection, Endpoint, EndpointConfig, Event, Identity, Mode, Retransmit,
};
use ike::proposal::{ProposalKind, ProposalSet};
use ike::ts::TrafficSelector;

// ---------------------------------------------------------------------------------
// Counting allocator

/// The system allocator plus counters of live bytes and of allocation calls.
struct Counting;

static LIVE_BYTES: AtomicU64 = AtomicU64::new(0);
static ALLOCS: AtomicU64 = AtomicU64::new(0);

/// Counting is switched on only for the memory measurement, so that the timing
/// benchmarks pay one relaxed load per allocation instead of two atomic updates.
static COUNTING: AtomicBool = AtomicBool::new(false);

/// Live Rust allocations by size (the last slot holds every larger one), for
/// `SA_MEMORY_SIZES=1`: which allocations an SA leaves behind.
static LIVE_BY_SIZE: [AtomicI64; SIZE_SLOTS] = [const { AtomicI64::new(0) }; SIZE_SLOTS];
const SIZE_SLOTS: usize = 4097;

fn count_alloc(size: usize) {
    if COUNTING.load(Ordering::Relaxed) {
        LIVE_BYTES.fetch_add(size as u64, Ordering::Relaxed);
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        LIVE_BY_SIZE[size.min(SIZE_SLOTS - 1)].fetch_add(1, Ordering::Relaxed);
    }
}

fn count_dealloc(size: usize) {
    if COUNTING.load(Ordering::Relaxed) {
        LIVE_BYTES.fetch_sub(size as u64, Ordering::Relaxed);
        LIVE_BY_SIZE[size.min(SIZE_SLOTS - 1)].fetch_sub(1, Ordering::Relaxed);
    }
}

fn live_by_size() -> Vec<i64> {
    LIVE_BY_SIZE
        .iter()
        .map(|c| c.load(Ordering::Relaxed))
        .collect()
}

// SAFETY: every call is forwarded unchanged to `System`; the counters only observe.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc(layout);
        if !p.is_null() {
            count_alloc(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc_zeroed(layout);
        if !p.is_null() {
            count_alloc(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout);
        count_dealloc(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = System.realloc(ptr, layout, new_size);
        if !p.is_null() {
            count_dealloc(layout.size());
            count_alloc(new_size);
        }
        p
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Bytes requested and not yet freed (allocator overhead and fragmentation excluded),
/// counted while [`COUNTING`] is on. Frees of memory allocated before counting
/// started make it wrap, so only differences taken with wrapping arithmetic mean
/// anything.
fn live_bytes() -> u64 {
    LIVE_BYTES.load(Ordering::Relaxed)
}

fn allocs() -> u64 {
    ALLOCS.load(Ordering::Relaxed)
}

/// glibc's `struct mallinfo2` (glibc 2.33 and later).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[repr(C)]
struct MallInfo2 {
    arena: usize,
    ordblks: usize,
    smblks: usize,
    hblks: usize,
    hblkhd: usize,
    usmblks: usize,
    fsmblks: usize,
    uordblks: usize,
    fordblks: usize,
    keepcost: usize,
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
extern "C" {
    fn mallinfo2() -> MallInfo2;
}

/// Bytes malloc has handed out and not got back, chunk overhead included. Unlike
/// [`live_bytes`] this also sees aws-lc's own C allocations, which bypass Rust's
/// global allocator. `None` where glibc's `mallinfo2` is not available.
fn malloc_in_use() -> Option<u64> {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallinfo2 takes no arguments and returns a plain struct by value.
        let m = unsafe { mallinfo2() };
        Some((m.uordblks + m.hblkhd) as u64)
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        None
    }
}

// ---------------------------------------------------------------------------------
// Two endpoints in memory

const WEST: &str = "198.51.100.1";
const EAST: &str = "198.51.100.2";

/// The key exchange groups measured, with the default AES-GCM IKE suite.
const GROUPS: [(&str, &str); 3] = [
    ("x25519", "aes_gcm256-sha2_512-dh31"),
    ("ecp256", "aes_gcm256-sha2_512-dh19"),
    ("modp2048", "aes_gcm256-sha2_512-modp2048"),
];

/// A tunnel between the two hosts' /32s with the given `ike=`, default `esp=`.
fn conn(local: &str, remote: &str, ike: &str) -> Result<Connection, String> {
    let local_addr: IpAddr = local.parse().map_err(|e| format!("{local}: {e}"))?;
    let remote_addr: IpAddr = remote.parse().map_err(|e| format!("{remote}: {e}"))?;
    Ok(Connection {
        name: "bench".into(),
        local_addr,
        remote_addr,
        remote_port: 500,
        remote_id: None,
        remote_ts: vec![TrafficSelector::host(remote_addr)],
        profile: std::sync::Arc::new(ike::ikev2::ConnProfile {
            local_id: Identity::from_addr(local_addr),
            ike_proposals: ProposalSet::parse(ike, ProposalKind::IKEV2_IKE)
                .map_err(|e| format!("ike={ike}: {e}"))?,
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
    })
}

/// Every lookup answers with the one connection and the one PSK.
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

/// Both ends' connection for one `ike=`.
struct Setup {
    west: OneConn,
    east: OneConn,
}

impl Setup {
    fn new(ike: &str) -> Setup {
        Setup {
            west: OneConn(Arc::new(conn(WEST, EAST, ike).expect("bench connection"))),
            east: OneConn(Arc::new(conn(EAST, WEST, ike).expect("bench connection"))),
        }
    }
}

fn endpoint() -> Endpoint {
    Endpoint::new(
        EndpointConfig::default(),
        Box::new(SystemRandomSource::new()),
    )
    .expect("endpoint")
}

/// What one end's events said about the handshake.
#[derive(Default)]
struct Outcome {
    ike_established: u32,
    child_established: u32,
}

fn drain_events(ep: &mut Endpoint, outcome: &mut Outcome) {
    while let Some(ev) = ep.poll_event() {
        match ev {
            Event::IkeSaEstablished { .. } => outcome.ike_established += 1,
            Event::ChildSaEstablished { .. } => outcome.child_established += 1,
            other => {
                black_box(other);
            }
        }
    }
}

/// Which end's share of the clock [`handshake`] sums.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Clock {
    Both,
    West,
    East,
}

/// How far [`handshake`] lets the exchange go.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Until {
    /// IKE_SA_INIT answered: the responder holds a half-open SA.
    HalfOpen,
    /// IKE_AUTH answered: IKE SA and first Child SA up on both ends.
    Established,
}

/// Runs one handshake from `west` (initiator) to `east` and returns the time spent
/// in the end(s) `clock` selects. Panics if it does not get as far as `until`: a
/// benchmark of a failing handshake would measure nothing useful.
fn handshake(
    setup: &Setup,
    west: &mut Endpoint,
    east: &mut Endpoint,
    clock: Clock,
    until: Until,
) -> Duration {
    let now = Instant::now();
    let mut spent = Duration::ZERO;
    let (mut w_out, mut e_out) = (Outcome::default(), Outcome::default());
    let timed = |side: Clock, spent: &mut Duration, f: &mut dyn FnMut()| {
        if clock == Clock::Both || clock == side {
            let t = Instant::now();
            f();
            *spent += t.elapsed();
        } else {
            f();
        }
    };

    let mut to_east = Vec::new();
    timed(Clock::West, &mut spent, &mut || {
        west.initiate(setup.west.0.clone(), now).expect("initiate");
        to_east.extend(std::iter::from_fn(|| west.poll_transmit()));
        drain_events(west, &mut w_out);
    });
    let mut exchanges = 0;
    while !to_east.is_empty() {
        let mut to_west = Vec::new();
        timed(Clock::East, &mut spent, &mut || {
            for t in to_east.drain(..) {
                east.handle(now, t.remote, t.local, &t.contents, &setup.east);
            }
            to_west.extend(std::iter::from_fn(|| east.poll_transmit()));
            drain_events(east, &mut e_out);
        });
        exchanges += 1;
        if until == Until::HalfOpen && exchanges == 1 {
            assert!(!to_west.is_empty(), "no IKE_SA_INIT response");
            return spent;
        }
        timed(Clock::West, &mut spent, &mut || {
            for t in to_west.drain(..) {
                west.handle(now, t.remote, t.local, &t.contents, &setup.west);
            }
            to_east.extend(std::iter::from_fn(|| west.poll_transmit()));
            drain_events(west, &mut w_out);
        });
    }
    assert_eq!(
        (w_out.ike_established, w_out.child_established),
        (1, 1),
        "initiator did not establish"
    );
    assert_eq!(
        (e_out.ike_established, e_out.child_established),
        (1, 1),
        "responder did not establish"
    );
    spent
}

// ---------------------------------------------------------------------------------
// Timing

fn bench_handshakes(c: &mut Criterion) {
    for (group_name, clock) in [
        ("handshake_pair", Clock::Both),
        ("handshake_responder", Clock::East),
        ("handshake_initiator", Clock::West),
    ] {
        let mut group = c.benchmark_group(group_name);
        group.throughput(Throughput::Elements(1));
        for (ke, ike) in GROUPS {
            let setup = Setup::new(ike);
            if ke == "modp2048" {
                group.sample_size(10);
            } else {
                group.sample_size(30);
            }
            group.bench_function(BenchmarkId::from_parameter(ke), |b| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        // Fresh endpoints: every handshake starts from empty tables.
                        let (mut w, mut e) = (endpoint(), endpoint());
                        total += handshake(&setup, &mut w, &mut e, clock, Until::Established);
                    }
                    total
                })
            });
        }
        group.finish();
    }
}

/// The same pair measured with criterion's own clock around the whole exchange (no
/// per-call `Instant::now`), as a cross-check of `handshake_pair`.
fn bench_pair_plain(c: &mut Criterion) {
    let mut group = c.benchmark_group("handshake_pair_batched");
    group.throughput(Throughput::Elements(1));
    group.sample_size(30);
    let (ke, ike) = GROUPS[0];
    let setup = Setup::new(ike);
    group.bench_function(BenchmarkId::from_parameter(ke), |b| {
        b.iter_batched(
            || (endpoint(), endpoint()),
            |(mut w, mut e)| {
                handshake(&setup, &mut w, &mut e, Clock::Both, Until::Established);
                (w, e)
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

// ---------------------------------------------------------------------------------
// Memory

/// Live bytes on one long-lived endpoint after `n` handshakes with throw-away peers.
struct MemoryReport {
    n: u64,
    /// Bytes per SA left on the long-lived endpoint, as Rust asked for them.
    per_sa: f64,
    /// The same seen by malloc: chunk overhead and aws-lc's C allocations included.
    malloc_per_sa: Option<f64>,
    /// Allocation calls per handshake, both ends together.
    allocs_per_handshake: f64,
    /// Rust allocations left per SA by size: (size in bytes, count per SA).
    sizes: Vec<(usize, f64)>,
    /// Time of one `poll_timeout` with `n` SAs.
    poll_timeout: Duration,
    /// Responder's share of one more handshake into a responder holding `n` SAs,
    /// and into an empty one (only measured with an established responder).
    responder_loaded_vs_empty: Option<(Duration, Duration)>,
}

/// Responder's mean share of [`SCALE_SAMPLE`] handshakes into `east`.
fn responder_share(setup: &Setup, east: &mut Endpoint) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..SCALE_SAMPLE {
        let mut west = endpoint();
        total += handshake(setup, &mut west, east, Clock::East, Until::Established);
    }
    total / SCALE_SAMPLE
}

/// Handshakes timed to compare a loaded responder with an empty one.
const SCALE_SAMPLE: u32 = 200;

/// `long_lived_is_responder`: the endpoint that keeps its SAs is the responder (a
/// fresh initiator per handshake) or the initiator (a fresh responder per handshake).
fn memory(setup: &Setup, n: u64, long_lived_is_responder: bool, until: Until) -> MemoryReport {
    let mut kept = endpoint();
    // Warm up lazily initialised globals (aws-lc, the RNG) so they are not charged
    // to the SAs.
    {
        let (mut w, mut e) = (endpoint(), endpoint());
        handshake(setup, &mut w, &mut e, Clock::Both, Until::Established);
    }
    let before = live_bytes();
    let sizes_before = live_by_size();
    let malloc_before = malloc_in_use();
    let allocs_before = allocs();
    for _ in 0..n {
        let mut other = endpoint();
        if long_lived_is_responder {
            handshake(setup, &mut other, &mut kept, Clock::Both, until);
        } else {
            handshake(setup, &mut kept, &mut other, Clock::Both, until);
        }
        drop(other);
    }
    let after = live_bytes();
    let sizes_after = live_by_size();
    let malloc_after = malloc_in_use();
    let allocs_after = allocs();
    let reps = 1000;
    let t = Instant::now();
    for _ in 0..reps {
        black_box(kept.poll_timeout());
    }
    let poll_timeout = t.elapsed() / reps;
    let responder_loaded_vs_empty =
        (long_lived_is_responder && until == Until::Established).then(|| {
            let loaded = responder_share(setup, &mut kept);
            let empty = responder_share(setup, &mut endpoint());
            (loaded, empty)
        });
    let status = kept.status();
    let extra = if responder_loaded_vs_empty.is_some() {
        u64::from(SCALE_SAMPLE)
    } else {
        0
    };
    assert_eq!(
        status.len() as u64,
        n + extra,
        "every SA must still be there"
    );
    drop(status);
    drop(kept);
    // Sizes of which at least one allocation per ten SAs stayed, as
    // (size, allocations per SA).
    let sizes = sizes_before
        .iter()
        .zip(&sizes_after)
        .enumerate()
        .filter_map(|(size, (b, a))| {
            let per_sa = (a - b) as f64 / n as f64;
            (per_sa.abs() >= 0.1).then_some((size, per_sa))
        })
        .collect();
    MemoryReport {
        n,
        sizes,
        per_sa: after.wrapping_sub(before) as i64 as f64 / n as f64,
        malloc_per_sa: malloc_before
            .zip(malloc_after)
            .map(|(b, a)| a.wrapping_sub(b) as i64 as f64 / n as f64),
        allocs_per_handshake: allocs_after.wrapping_sub(allocs_before) as f64 / n as f64,
        poll_timeout,
        responder_loaded_vs_empty,
    }
}

fn sa_memory(n: u64) {
    COUNTING.store(true, Ordering::Relaxed);
    let (_, ike) = GROUPS[0];
    let setup = Setup::new(ike);
    println!(
        "sa_memory: N = {n} SAs per run, x25519 / AES_GCM_16_256 / HMAC_SHA2_512, ESP defaults"
    );
    println!("  (live heap bytes left on the long-lived endpoint, divided by N; extrapolated to 100,000 SAs)");
    for (label, responder, until) in [
        (
            "responder, established IKE SA + Child SA",
            true,
            Until::Established,
        ),
        ("responder, half-open IKE SA", true, Until::HalfOpen),
        (
            "initiator, established IKE SA + Child SA",
            false,
            Until::Established,
        ),
        ("initiator, IKE_SA_INIT sent", false, Until::HalfOpen),
    ] {
        let t = Instant::now();
        let r = memory(&setup, n, responder, until);
        let elapsed = t.elapsed();
        let mib_100k = |b: f64| b * 100_000.0 / (1024.0 * 1024.0);
        let malloc = match r.malloc_per_sa {
            Some(b) => format!("malloc {b:>6.0} B/SA -> {:>6.1} MiB", mib_100k(b)),
            None => "malloc n/a".to_owned(),
        };
        println!(
            "  {label:<42} Rust {:>6.0} B/SA -> {:>6.1} MiB per 100k | {malloc} | {:>5.1} allocs/handshake (both ends) | poll_timeout with {} SAs: {:?} | run {:.1?}",
            r.per_sa,
            mib_100k(r.per_sa),
            r.allocs_per_handshake,
            r.n,
            r.poll_timeout,
            elapsed,
        );
        if std::env::var_os("SA_MEMORY_SIZES").is_some() {
            let list: Vec<String> = r
                .sizes
                .iter()
                .map(|(size, per_sa)| format!("{size} B x {per_sa:.2}"))
                .collect();
            println!(
                "    live Rust allocations per SA by size: {}",
                list.join(", ")
            );
        }
        if let Some((loaded, empty)) = r.responder_loaded_vs_empty {
            println!(
                "    responder's share of a handshake: {loaded:?} with {} SAs held, {empty:?} with none (mean of {SCALE_SAMPLE})",
                r.n
            );
        }
    }
    COUNTING.store(false, Ordering::Relaxed);
}

// ---------------------------------------------------------------------------------
// Main

/// Criterion options that take a value, so that the value is not taken for a filter.
const VALUE_OPTIONS: [&str; 16] = [
    "--warm-up-time",
    "--measurement-time",
    "--sample-size",
    "--save-baseline",
    "--baseline",
    "--baseline-lenient",
    "--load-baseline",
    "--color",
    "-c",
    "--output-format",
    "--plotting-backend",
    "--profile-time",
    "--noise-threshold",
    "--confidence-level",
    "--significance-level",
    "--nresamples",
];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut filter = None;
    let mut skip_value = false;
    for a in &args {
        if skip_value {
            skip_value = false;
        } else if VALUE_OPTIONS.contains(&a.as_str()) {
            skip_value = true;
        } else if !a.starts_with('-') && filter.is_none() {
            filter = Some(a.clone());
        }
    }
    // cargo bench passes --bench; without it (cargo test --benches) criterion runs
    // each benchmark once as a test, and the memory run is kept small too.
    let bench_mode = args.iter().any(|a| a == "--bench");
    let listing = args.iter().any(|a| a == "--list");
    if !listing && filter.as_deref().is_none_or(|f| "sa_memory".contains(f)) {
        let n = match std::env::var("SA_MEMORY_N") {
            Ok(v) => v.parse().expect("SA_MEMORY_N must be a number of SAs"),
            Err(_) if bench_mode => 10_000,
            Err(_) => 200,
        };
        sa_memory(n);
    }

    let mut c = Criterion::default().configure_from_args();
    bench_handshakes(&mut c);
    bench_pair_plain(&mut c);
    c.final_summary();
}
