//! The daemon's central state and the handlers for every whack form.
//!
//! [`Pluto`] owns everything (connections, secrets, settings, counters); the
//! control server hands it decoded requests and it answers through a
//! [`Responder`]. It opens no socket, so the IKE engine can later be added as
//! another input of the same loop (see `main.rs`).

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::time::{Duration, Instant, SystemTime};

use conn::connection::{HostAddrs, Kind, Side};
use conn::db::{ConnDb, DbError};
use conn::secrets::Secrets;
use control::request::{
    DdosMode, DebugChange, ImpairChange, ListKind, RedirectMode, RereadKind, StatusKind,
};
use control::server::Responder;
use control::{classes, rc, Envelope, Request};
use ike::ikev2::{Endpoint, EndpointConfig, SaSerial, Up};
use tokio::sync::mpsc;

use crate::args::Options;
use crate::engine::{IkeRec, Route, Waiter};
use crate::sockets::{Datagram, IkeSockets};
use crate::stats::{SaCounts, Totals};
use crate::{ifaddrs, status, timefmt};

/// What the main loop does after a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Keep serving.
    Continue,
    /// `--shutdown`: stop.
    Shutdown {
        /// `--leave-state`: leave kernel state in place.
        leave_state: bool,
    },
}

/// How far a request's parts ran.
#[derive(Debug)]
enum Step {
    /// All of them: what the main loop does next.
    Done(Flow),
    /// Up to one that wants ipsec.secrets read; the rest, from `next`, wait for it.
    ReadSecrets {
        /// Whether a failed read fails the request.
        strict: bool,
        /// The first part not run yet.
        next: usize,
    },
}

/// A public key given with `--keyid ... --pubkeyrsa`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PubKey {
    /// The key as given (`0s...` base64 or `0x...` hex).
    pub text: String,
    /// When it was added.
    pub installed: SystemTime,
}

/// Called with `true` when any debug class is on, to raise the log level.
pub type DebugHook = Box<dyn Fn(bool) + Send>;

/// The daemon.
pub struct Pluto {
    /// Command-line options.
    pub opts: Options,
    started: Instant,
    /// The connection database.
    pub conns: ConnDb,
    /// This machine's addresses (interface, address).
    addrs: Vec<(String, IpAddr)>,
    /// Loaded ipsec.secrets.
    pub secrets: Secrets,
    /// Whether pluto listens for IKE (`--listen`, and at start).
    pub listening: bool,
    /// The IKEv2 core: every IKE SA.
    pub ike: Endpoint,
    /// The kernel interface; `None` when XFRM netlink could not be opened.
    pub kernel: Option<kernel::Kernel>,
    /// The IKE sockets.
    pub sockets: IkeSockets,
    /// Received datagrams, until the main loop takes them.
    datagrams: Option<mpsc::Receiver<Datagram>>,
    /// `--initiate`s waiting for their outcome.
    pub waiters: crate::waiters::Waiters,
    /// Installed Child SAs.
    pub children: crate::children::Children,
    /// Child SAs queued to the kernel worker and not yet answered; recorded in
    /// `children` once the kernel took them.
    pub installing: std::collections::HashMap<SaSerial, crate::engine::Installing>,
    /// The kernel worker (with a kernel): XFRM changes and updown runs, per
    /// connection in order, off the main loop.
    pub kworker: Option<crate::kworker::Worker>,
    /// whack requests answered once the kernel worker has carried out what they
    /// queued for these connections (`--route`, `--unroute`, `--down`, ...).
    pub settling: Vec<(Vec<String>, Responder)>,
    /// Established IKE SAs' timing.
    pub ike_sas: BTreeMap<SaSerial, IkeRec>,
    /// Routed connections by name.
    pub routed: BTreeMap<String, Route>,
    /// The default updown script (for libreswan's `ipsec _updown`).
    pub updown_default: std::path::PathBuf,
    /// Template instances made for IKE SAs, removed with them.
    pub instances: BTreeMap<SaSerial, conn::connection::ConnSerial>,
    /// Whether this pluto installed any SA or policy (so `--shutdown` flushes).
    pub touched_kernel: bool,
    /// `auto=route|start|keep` connections of `--config`, acted on once listening.
    pending_auto: Vec<(String, conn::conf::Auto)>,
    /// Connections meant to stay up (libreswan's +UP): started by `auto=start`/
    /// `keep` or by `--initiate`, initiated again when their peer is found dead
    /// (libreswan's revival). `--down` and `--delete` clear it.
    pub keep_up: std::collections::HashSet<String>,
    /// DDoS mode.
    pub ddos: DdosMode,
    /// Global debug classes.
    pub debug: BTreeSet<String>,
    /// Per-connection debug classes.
    pub conn_debug: BTreeMap<String, BTreeSet<String>>,
    /// Impairments (behaviour -> how), global and per connection ("" = global).
    pub impair: BTreeMap<String, BTreeMap<String, Option<String>>>,
    /// `--global-redirect`.
    pub global_redirect: RedirectMode,
    /// `--global-redirect-to`.
    pub global_redirect_to: Option<String>,
    /// `--keyid` public keys by ID.
    pub keys: BTreeMap<String, Vec<PubKey>>,
    /// `total.*` counters.
    pub totals: Totals,
    /// The `--nhelpers` crypto threads (none until [`Pluto::start_helpers`]).
    pub compute: crate::compute::Pool,
    /// ipsec.secrets reads under way, and the whack requests parked on them.
    pub loads: crate::secrets_load::Loads,
    /// Set by a request that wants ipsec.secrets read (the value: whether a
    /// failure fails it); the envelope is parked after that request.
    secrets_wanted: Option<bool>,
    debug_hook: Option<DebugHook>,
}

impl std::fmt::Debug for Pluto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pluto")
            .field("connections", &self.conns.len())
            .field("listening", &self.listening)
            .finish_non_exhaustive()
    }
}

/// Gives the memory freed after a big `--config` back to the kernel. Parsing holds
/// every section's text and description at once, several times what the loaded
/// connections keep; glibc keeps such freed memory in the process (it sits below
/// live allocations), so without this a daemon that loaded 100,000 conns would stay
/// resident at twice the size its connections need.
fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free heap pages; it has no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// How many `auto=start` connections may be in IKE_SA_INIT at once. With the
/// default 0.5 s first retransmission, 32 half-open exchanges keep a peer busy
/// without making one of them wait so long that it is resent, while the next ones
/// start as soon as earlier ones are answered.
pub const AUTO_START_WINDOW: usize = 32;

/// How long one `auto=start` initiation holds its place in the window when its
/// IKE_SA_INIT is not answered: the first retransmission interval. An unreachable
/// peer slows the start of the others down to the window per interval instead of
/// stopping it.
pub const AUTO_START_HOLD: Duration = Duration::from_millis(500);

/// Initiates `names` through pluto's own control socket, as `ipsec addconn` (or
/// strongSwan's starter) does, keeping at most [`AUTO_START_WINDOW`] in IKE_SA_INIT.
/// Each is an ordinary `whack --initiate`: its place in the window is given back
/// when pluto reports the IKE_SA_INIT answered (the second new-state line, "sent
/// IKE_AUTH request"), when the attempt ends, or after [`AUTO_START_HOLD`]; the
/// request is then dropped (pluto carries on with the negotiation, as when whack is
/// interrupted). Going through the control socket keeps every initiation an input
/// of the main loop like any other, in order with datagrams and timers; each step
/// costs the same whatever the number of connections.
async fn pace_auto_start(ctl: std::path::PathBuf, names: Vec<String>) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let started = Instant::now();
    let total = names.len();
    let window = std::sync::Arc::new(tokio::sync::Semaphore::new(AUTO_START_WINDOW));
    let mut failed = 0usize;
    for name in names {
        let Ok(permit) = window.clone().acquire_owned().await else {
            return;
        };
        let env = control::Envelope::new(vec![Request::Initiate {
            name: name.clone(),
            remote_host: None,
            xauth_user: None,
            xauth_pass: None,
            asynchronous: false,
        }]);
        let line = match control::wire::encode_line(&env) {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!("\"{name}\": auto=start: cannot encode the initiate request: {e}");
                continue;
            }
        };
        let mut stream = match tokio::net::UnixStream::connect(&ctl).await {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(
                    "auto=start: cannot reach pluto's control socket \"{}\": {e}; {} connections not initiated",
                    ctl.display(),
                    total - failed
                );
                return;
            }
        };
        if let Err(e) = stream.write_all(&line).await {
            tracing::warn!("\"{name}\": auto=start: control socket: {e}");
            failed += 1;
            continue;
        }
        tokio::spawn(async move {
            let _permit = permit;
            let mut lines = BufReader::new(stream).lines();
            let mut new_states = 0;
            let answered = async {
                while let Ok(Some(l)) = lines.next_line().await {
                    match serde_json::from_str::<control::Reply>(&l) {
                        Ok(control::Reply::Line { code, text }) => {
                            if code == ike::ikev2::Rc::NEW_V2_STATE.0 {
                                new_states += 1;
                                if new_states == 2 {
                                    return;
                                }
                            } else if control::rc::sets_exit_status(code) {
                                tracing::warn!("auto=start: {text}");
                            }
                        }
                        Ok(control::Reply::Done { .. }) | Err(_) => return,
                        Ok(control::Reply::Prompt { .. }) => return,
                    }
                }
            };
            let _ = tokio::time::timeout(AUTO_START_HOLD, answered).await;
        });
    }
    // Every place back: the last ones are answered (or given up on).
    let _ = window.acquire_many(AUTO_START_WINDOW as u32).await;
    tracing::info!(
        "auto=start: {} of {total} connections initiated in {:.1}s",
        total - failed,
        started.elapsed().as_secs_f64()
    );
}

/// Why the redirect forms are refused.
const NO_REDIRECT: &str = "IKEv2 redirect (RFC 5685) is not supported by pluto-rs yet";

/// The core's DDoS policy for whack's mode and pluto's thresholds
/// (`--ddos-ike-threshold`, `--max-halfopen-ike`).
fn ddos_policy(mode: DdosMode, opts: &Options) -> ike::ikev2::Ddos {
    match mode {
        DdosMode::Busy => ike::ikev2::Ddos::Busy,
        DdosMode::Unlimited => ike::ikev2::Ddos::Unlimited,
        DdosMode::Auto => ike::ikev2::Ddos::Auto {
            cookies_from: opts.ddos_ike_threshold,
            refuse_from: opts.max_halfopen_ike,
        },
    }
}

impl Pluto {
    /// A daemon with no connections, secrets loaded from `opts.secretsfile` if it
    /// exists, and the machine's addresses read now. No kernel interface is attached
    /// (see [`Pluto::attach_kernel`]) and no socket is open.
    pub fn new(opts: Options) -> Pluto {
        let (tx, rx) = mpsc::channel(256);
        let natt_port = if opts.ikeport == 500 {
            4500
        } else {
            opts.ikeport.wrapping_add(4000)
        };
        let ike_config = EndpointConfig {
            ike_port: opts.ikeport,
            natt_port,
            ddos: ddos_policy(
                if opts.force_busy {
                    DdosMode::Busy
                } else {
                    DdosMode::Auto
                },
                &opts,
            ),
            unique_ids: opts.uniqueids,
            // Child SAs are announced only once the kernel holds them.
            confirm_child_installs: true,
            ..EndpointConfig::default()
        };
        let ike = match Endpoint::new(ike_config, Box::new(ike::crypto::SystemRandomSource::new()))
        {
            Ok(e) => e,
            Err(e) => {
                // Only the system random source can fail here; nothing works without it.
                tracing::error!("cannot start the IKE engine: {e}");
                std::process::exit(1);
            }
        };
        let updown_default = match crate::updown::default_script(
            opts.updown_script.as_deref(),
            &opts.rundir,
        ) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(
                    "cannot write the default updown script into \"{}\": {e}; connections using it will fail to run it",
                    opts.rundir.display()
                );
                opts.rundir.join(crate::updown::SCRIPT_NAME)
            }
        };
        let mut p = Pluto {
            ike,
            compute: crate::compute::Pool::inline(),
            kernel: None,
            sockets: IkeSockets::new(tx),
            datagrams: Some(rx),
            waiters: crate::waiters::Waiters::default(),
            children: crate::children::Children::default(),
            installing: std::collections::HashMap::new(),
            kworker: None,
            settling: Vec::new(),
            loads: crate::secrets_load::Loads::default(),
            secrets_wanted: None,
            ike_sas: BTreeMap::new(),
            routed: BTreeMap::new(),
            updown_default,
            pending_auto: Vec::new(),
            keep_up: std::collections::HashSet::new(),
            touched_kernel: false,
            instances: BTreeMap::new(),
            ddos: if opts.force_busy {
                DdosMode::Busy
            } else {
                DdosMode::Auto
            },
            debug: BTreeSet::new(),
            conn_debug: BTreeMap::new(),
            impair: BTreeMap::new(),
            started: Instant::now(),
            conns: ConnDb::new(),
            addrs: Vec::new(),
            secrets: Secrets::default(),
            listening: false,
            global_redirect: RedirectMode::No,
            global_redirect_to: None,
            keys: BTreeMap::new(),
            totals: Totals::default(),
            debug_hook: None,
            opts,
        };
        for d in p.opts.debug.clone() {
            let change = match d.as_str() {
                "none" => DebugChange::None,
                "all" => DebugChange::All,
                w => match w.strip_prefix("no-") {
                    Some(c) => DebugChange::Disable(c.to_string()),
                    None => DebugChange::Enable(w.to_string()),
                },
            };
            apply_debug(&mut p.debug, &change);
        }
        p.refresh_addrs();
        match p.load_secrets() {
            Ok(n) => tracing::info!(
                "loaded {n} secrets from \"{}\"",
                p.opts.secretsfile.display()
            ),
            Err(e) => tracing::warn!("{e}; continuing without secrets"),
        }
        p
    }

    /// Loads the `conn` sections of an ipsec.conf (`--config`): every conn whose
    /// `auto=` is not `ignore` is added. Returns how many were added; problems with
    /// single conns are logged and skipped, as libreswan's addconn does.
    pub fn load_config(&mut self, path: &std::path::Path) -> Result<usize, conn::conf::ConfError> {
        let cfg = conn::conf::Config::load(path)?;
        for w in &cfg.warnings {
            tracing::warn!("{w}");
        }
        let host = self.host_addrs();
        let mut added = 0;
        for cc in cfg.conns {
            if cc.auto == conn::conf::Auto::Ignore {
                continue;
            }
            let name = cc.spec.name.clone();
            match self.conns.add(cc.spec, &host) {
                Ok(serial) => {
                    added += 1;
                    let v = match self.conns.get(serial).map(|c| c.policy.ike_version) {
                        Some(conn::spec::IkeVersion::V1) => "IKEv1",
                        _ => "IKEv2",
                    };
                    tracing::info!("added {v} connection \"{name}\"");
                    if cc.auto != conn::conf::Auto::Add {
                        self.pending_auto.push((name.clone(), cc.auto));
                    }
                }
                Err(e) => tracing::error!(
                    "{}:{}: \"{name}\": failed to add connection: {e}",
                    cc.path.display(),
                    cc.line
                ),
            }
        }
        for (ok, m) in self.resolve_dns_hosts() {
            if ok {
                tracing::info!("{m}");
            } else {
                tracing::warn!("{m}");
            }
        }
        release_freed_memory();
        Ok(added)
    }

    /// Resolves the DNS host names of connections that have none resolved yet (at add
    /// and on `--ddns`), re-orienting them. Returns (success, message) per attempt.
    ///
    /// Lookups use the system resolver synchronously; `--ddns` is the only periodic
    /// trigger until the engine schedules it every minute as libreswan does.
    pub fn resolve_dns_hosts(&mut self) -> Vec<(bool, String)> {
        use std::net::ToSocketAddrs;
        let host = self.host_addrs();
        let mut out = Vec::new();
        let pending: Vec<_> = self
            .conns
            .iter()
            .flat_map(|c| {
                let other = |side: Side| c.end(side.other()).host_addr;
                c.unresolved_dns_hosts()
                    .into_iter()
                    .map(|(side, name)| {
                        (
                            c.serial,
                            c.display_name(),
                            side,
                            name.to_string(),
                            other(side),
                        )
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        for (serial, cname, side, name, other) in pending {
            let found = (name.as_str(), 0u16).to_socket_addrs().map(|it| {
                let all: Vec<IpAddr> = it.map(|sa| sa.ip()).collect();
                all.iter()
                    .copied()
                    .find(|a| other.is_none_or(|o| o.is_ipv6() == a.is_ipv6()))
            });
            match found {
                Ok(Some(addr)) => {
                    let Some(c) = self.conns.get_mut(serial) else {
                        continue;
                    };
                    match c.set_resolved_host(side, addr, &host) {
                        Ok(()) => {
                            tracing::info!(
                                "{cname}: {} host {name} resolved to {addr}",
                                side.name()
                            );
                            out.push((
                                true,
                                format!("{cname}: {} host {name} resolved to {addr}", side.name()),
                            ));
                        }
                        Err(e) => {
                            out.push((false, format!("{cname}: cannot use {addr} for {name}: {e}")))
                        }
                    }
                }
                Ok(None) => out.push((
                    false,
                    format!(
                        "{cname}: {} host {name} has no address of the right family",
                        side.name()
                    ),
                )),
                Err(e) => out.push((
                    false,
                    format!("{cname}: cannot resolve {} host {name}: {e}", side.name()),
                )),
            }
        }
        out
    }

    /// Routes (`auto=route`/`ondemand`) or initiates (`auto=start`/`keep`) the
    /// connections `--config` asked for; progress goes to the log.
    ///
    /// Up to [`AUTO_START_WINDOW`] connections are initiated at once. Beyond that
    /// they are paced (see [`pace_auto_start`]): sent all at once, thousands of
    /// IKE_SA_INIT requests overrun the socket buffers and the peer and come back as
    /// retransmissions.
    pub async fn start_auto(&mut self) {
        let mut start = Vec::new();
        for (name, auto) in std::mem::take(&mut self.pending_auto) {
            match auto {
                conn::conf::Auto::Ondemand => match self.route(&name).await {
                    Ok(n) => tracing::info!("\"{name}\": auto=route: {n} trap policies installed"),
                    Err(e) => tracing::warn!("\"{name}\": auto=route: cannot route: {e}"),
                },
                conn::conf::Auto::Start | conn::conf::Auto::Keep => {
                    if auto == conn::conf::Auto::Keep {
                        tracing::info!(
                            "\"{name}\": auto=keep is treated as auto=start (keeping the connection up is not implemented)"
                        );
                    }
                    self.keep_up.insert(name.clone());
                    start.push(name);
                }
                conn::conf::Auto::Add | conn::conf::Auto::Ignore => {}
            }
        }
        if start.len() <= AUTO_START_WINDOW {
            for name in start {
                let (mut r, mut rx, _answers) = Responder::detached();
                self.initiate(&name, None, &mut r);
                drop(r);
                while let Ok(control::Reply::Line { code, text }) = rx.try_recv() {
                    if control::rc::sets_exit_status(code) {
                        tracing::warn!("auto=start: {text}");
                    }
                }
            }
            return;
        }
        tracing::info!(
            "auto=start: initiating {} connections, at most {AUTO_START_WINDOW} in IKE_SA_INIT at a time",
            start.len()
        );
        tokio::spawn(pace_auto_start(self.opts.ctlsocket(), start));
    }

    /// Gives pluto its kernel interface.
    pub fn attach_kernel(&mut self, k: kernel::Kernel) {
        self.kworker = Some(crate::kworker::Worker::start(
            k.clone(),
            crate::updown::TIMEOUT,
        ));
        self.kernel = Some(k);
    }

    /// The receiving end of the IKE sockets, for the main loop (once).
    pub fn take_datagrams(&mut self) -> Option<mpsc::Receiver<Datagram>> {
        self.datagrams.take()
    }

    /// Installs the hook that raises or lowers logging when debug classes change.
    pub fn set_debug_hook(&mut self, hook: DebugHook) {
        hook(!self.debug.is_empty());
        self.debug_hook = Some(hook);
    }

    /// Re-reads the machine's addresses and re-orients connections.
    pub fn refresh_addrs(&mut self) {
        match ifaddrs::local_addresses(&self.opts.interfaces) {
            Ok(a) => self.addrs = a,
            Err(e) => tracing::warn!("cannot list interface addresses: {e}"),
        }
        let host = self.host_addrs();
        for (name, e) in self.conns.reorient(&host) {
            tracing::warn!("{name}: cannot orient connection: {e}");
        }
    }

    /// Interface discovery for `--listen` (and at start): the kernel's rtnetlink view
    /// of interfaces that are up, restricted by `--interface`; getifaddrs(3) when
    /// pluto has no kernel interface. Connections are re-oriented.
    pub async fn discover_interfaces(&mut self) {
        let Some(k) = self.kernel.clone() else {
            self.refresh_addrs();
            return;
        };
        match k.interfaces().await {
            Ok(ifs) => {
                self.addrs = ifs
                    .into_iter()
                    .filter(|i| i.up)
                    .filter(|i| {
                        self.opts.interfaces.is_empty() || self.opts.interfaces.contains(&i.name)
                    })
                    .flat_map(|i| {
                        let name = i.name.clone();
                        i.addrs.into_iter().map(move |(a, _)| (name.clone(), a))
                    })
                    .collect();
                let host = self.host_addrs();
                for (name, e) in self.conns.reorient(&host) {
                    tracing::warn!("{name}: cannot orient connection: {e}");
                }
            }
            Err(e) => {
                tracing::warn!("cannot list interfaces over rtnetlink: {e}; using getifaddrs");
                self.refresh_addrs();
            }
        }
    }

    fn host_addrs(&self) -> HostAddrs {
        HostAddrs::new(self.addrs.iter().map(|(_, a)| *a))
    }

    /// (interface, address) pairs pluto would listen on.
    pub fn addrs_list(&self) -> Vec<(String, IpAddr)> {
        self.addrs.clone()
    }

    fn load_secrets(&mut self) -> Result<usize, conn::secrets::SecretsError> {
        let s = Secrets::load(&self.opts.secretsfile)?;
        let n = s.len();
        self.secrets = s;
        Ok(n)
    }

    /// Time since start.
    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    /// Live SA counts, from the IKEv2 core and the installed Child SAs.
    pub fn sa_counts(&self) -> SaCounts {
        let mut n = SaCounts::default();
        for (_, state) in self.ike.states() {
            match state {
                "IKE_SA_INIT_I" | "IKE_SA_INIT_R" => n.ike_half_open += 1,
                "ESTABLISHED_IKE_SA" | "IKE_SA_DELETE" => {
                    n.ike_open += 1;
                    n.ike_authenticated += 1;
                }
                _ => n.ike_open += 1,
            }
        }
        n.ipsec_authenticated = self.children.len() as u64;
        n
    }

    /// Connections with at least one established SA.
    pub fn active_connections(&self) -> usize {
        let mut set = std::collections::HashSet::new();
        for (conn, state) in self.ike.states() {
            if state == "ESTABLISHED_IKE_SA" {
                set.insert(conn);
            }
        }
        set.len()
    }

    /// `--trafficstatus` lines, one per established Child SA (byte counters as last
    /// read from the kernel, refreshed before every status request).
    pub fn traffic_lines(&self) -> Vec<String> {
        // An instantiated template's Child SAs show the instance's name (looked up
        // by Child SA: after an IKE rekey they belong to the new IKE SA).
        let instances: BTreeMap<SaSerial, String> = self
            .ike
            .status()
            .into_iter()
            .filter_map(|s| {
                let name = s.instance?;
                Some(
                    s.children
                        .into_iter()
                        .map(move |c| (c.serial, name.clone())),
                )
            })
            .flatten()
            .collect();
        self.children
            .iter()
            .map(|(serial, c)| {
                let name = instances
                    .get(serial)
                    .cloned()
                    .unwrap_or_else(|| format!("\"{}\"", c.connection));
                status::traffic_line(&status::TrafficEntry {
                    serial: serial.0,
                    connection: &name,
                    username: None,
                    sa_type: "ESP",
                    add_time: timefmt::unix(c.added),
                    in_bytes: c.in_bytes,
                    out_bytes: c.out_bytes,
                    max_bytes: None,
                    peer_id: &c.peer_id,
                    lease: None,
                })
            })
            .collect()
    }

    /// Whether IKE_SA_INIT must carry a cookie now.
    pub fn ddos_cookies_required(&self) -> bool {
        self.ike.cookies_required()
    }

    /// Whether new IKE exchanges are accepted at all.
    pub fn accepting_new_ike(&self) -> bool {
        self.ike.accepting_new_ike()
    }

    /// The enabled debug classes, for status.
    pub fn debug_names(&self) -> String {
        if self.debug.is_empty() {
            "none".into()
        } else {
            self.debug.iter().cloned().collect::<Vec<_>>().join("+")
        }
    }

    /// The `--globalstatus` counters, `current.*` then `total.*`.
    pub fn global_counters(&self) -> Vec<(String, u64)> {
        let sa = self.sa_counts();
        let mut v: Vec<(String, u64)> = vec![
            (
                "config.setup.ike.ddos_threshold".into(),
                self.opts.ddos_ike_threshold as u64,
            ),
            (
                "config.setup.ike.max_halfopen".into(),
                self.opts.max_halfopen_ike as u64,
            ),
            (
                "current.states.all".into(),
                sa.ike_total() + sa.ipsec_authenticated + sa.ipsec_anonymous,
            ),
            (
                "current.states.ipsec".into(),
                sa.ipsec_authenticated + sa.ipsec_anonymous,
            ),
            ("current.states.ike".into(), sa.ike_total()),
            (
                "current.states.shunts".into(),
                self.bare_shunts().len() as u64,
            ),
            ("current.states.iketype.anonymous".into(), sa.ike_anonymous),
            (
                "current.states.iketype.authenticated".into(),
                sa.ike_authenticated,
            ),
            ("current.states.iketype.halfopen".into(), sa.ike_half_open),
            ("current.states.iketype.open".into(), sa.ike_open),
            ("current.connections".into(), self.conns.len() as u64),
        ];
        v.extend(self.totals.iter().map(|(k, n)| (k.to_string(), n)));
        v.extend(crate::stats::core_counters(self.ike.counters()));
        v
    }

    /// Carries out every request of one whack invocation, in order. The responder
    /// comes back unless an `--initiate` keeps it to stream progress until the
    /// Child SA is up or fails (it is then answered from [`Pluto::pump`]).
    pub async fn handle(&mut self, env: &Envelope, mut r: Responder) -> (Flow, Option<Responder>) {
        let mut wait = None;
        let mut json = serde_json::Map::new();
        let step = self.handle_all(env, &mut r, &mut wait, &mut json, 0).await;
        self.handled(env, step, r, wait, json)
    }

    /// A read of ipsec.secrets a parked request waited for is in: its result is
    /// applied and told, and the request's remaining parts run.
    pub async fn secrets_loaded(
        &mut self,
        l: crate::secrets_load::Loaded,
    ) -> (Flow, Option<Responder>) {
        let Some(mut p) = self.loads.unpark(l.id) else {
            return (Flow::Continue, None);
        };
        self.apply_secrets(l, &mut p.responder, p.strict);
        let step = self
            .handle_all(&p.env, &mut p.responder, &mut p.wait, &mut p.json, p.next)
            .await;
        self.handled(&p.env, step, p.responder, p.wait, p.json)
    }

    /// What becomes of a request once its parts ran: parked for a read, waiting
    /// for an outcome or for the kernel worker, or answered.
    fn handled(
        &mut self,
        env: &Envelope,
        step: Step,
        r: Responder,
        wait: Option<String>,
        json: serde_json::Map<String, serde_json::Value>,
    ) -> (Flow, Option<Responder>) {
        let flow = match step {
            Step::Done(flow) => flow,
            Step::ReadSecrets { strict, next } => {
                let id = self.loads.start(self.opts.secretsfile.clone());
                self.loads.park(
                    id,
                    crate::secrets_load::Parked {
                        env: env.clone(),
                        next,
                        json,
                        wait,
                        responder: r,
                        strict,
                    },
                );
                return (Flow::Continue, None);
            }
        };
        match wait {
            Some(connection) if flow == Flow::Continue && r.status() == 0 => {
                self.waiters.push(Waiter {
                    connection,
                    responder: r,
                });
                (flow, None)
            }
            _ if flow == Flow::Continue => {
                // The answer says the kernel state is there: it waits for the
                // kernel worker's jobs of the connections named (their updown
                // runs included), without holding up the main loop.
                let names: Vec<String> = env
                    .requests
                    .iter()
                    .filter_map(changed_connection)
                    .filter(|n| self.kernel_busy(n))
                    .map(str::to_string)
                    .collect();
                if names.is_empty() {
                    (flow, Some(r))
                } else {
                    self.settling.push((names, r));
                    (flow, None)
                }
            }
            _ => (flow, Some(r)),
        }
    }

    /// Runs the requests of `env` from index `from` on, in order, until one of
    /// them wants ipsec.secrets read (the rest wait for that, off the main loop).
    async fn handle_all(
        &mut self,
        env: &Envelope,
        r: &mut Responder,
        wait: &mut Option<String>,
        json: &mut serde_json::Map<String, serde_json::Value>,
        from: usize,
    ) -> Step {
        if from == 0 {
            if let Some(label) = &env.label {
                tracing::info!("whack request [{label}]");
            }
            if self.debug.contains("whackwatch") {
                tracing::debug!("whack requests: {:?}", env.requests);
            }
        }
        let mut flow = Flow::Continue;
        for (i, req) in env.requests.iter().enumerate().skip(from) {
            if let Flow::Shutdown { .. } = flow {
                break;
            }
            flow = self.one(req, env, r, json, wait).await;
            if let Some(strict) = self.secrets_wanted.take() {
                return Step::ReadSecrets {
                    strict,
                    next: i + 1,
                };
            }
        }
        if !json.is_empty() {
            let doc = serde_json::Value::Object(std::mem::take(json));
            match serde_json::to_string_pretty(&doc) {
                Ok(text) => r.comment(text),
                Err(e) => r.line(
                    rc::INTERNAL_ERROR,
                    format!("cannot encode JSON status: {e}"),
                ),
            }
        }
        Step::Done(flow)
    }

    fn known(&self, name: &str, r: &mut Responder) -> bool {
        if self.conns.find(name).is_some() {
            return true;
        }
        r.line(
            rc::UNKNOWN_NAME,
            format!("no connection or alias named \"{name}\""),
        );
        false
    }

    async fn one(
        &mut self,
        req: &Request,
        env: &Envelope,
        r: &mut Responder,
        json: &mut serde_json::Map<String, serde_json::Value>,
        wait: &mut Option<String>,
    ) -> Flow {
        match req {
            Request::AddConnection { spec } => self.add_connection(spec, r),
            Request::Delete { name } => {
                // Tear the SAs and trap policies down first, as libreswan does.
                self.keep_up.remove(name);
                if self.conns.find(name).is_some() {
                    let n = self.down(name);
                    if n > 0 {
                        r.comment(format!(
                            "\"{name}\": deleting {n} IKE SAs of the connection"
                        ));
                    }
                    self.unroute(name).await;
                    self.abandon_waiters(name, &format!("\"{name}\": connection deleted"));
                    self.pump().await;
                }
                self.delete_connection(name, r)
            }
            Request::Key {
                keyid,
                add,
                pubkey_rsa,
            } => self.key(keyid, *add, pubkey_rsa.as_deref(), r),
            Request::Listen => {
                self.discover_interfaces().await;
                self.listen(r).await;
                // As the manual says, --listen also rereads ipsec.secrets; a missing
                // file is reported but does not fail the listen.
                self.reread_secrets(r, false);
            }
            Request::Unlisten => {
                self.listening = false;
                self.sockets.close_all().await;
                tracing::info!("no longer listening for IKE messages");
                r.comment("no longer listening for IKE messages");
            }
            Request::Ddos { mode } => {
                self.ddos = *mode;
                // busy: every new initiator must return a COOKIE (RFC 7296 2.6);
                // auto: from --ddos-ike-threshold half-open IKE SAs on, and no new
                // IKE_SA_INIT answered from --max-halfopen-ike on; unlimited: never.
                self.ike.set_ddos(ddos_policy(*mode, &self.opts));
                tracing::info!("set DDoS mode to {}", mode.name());
                r.comment(format!("pluto DDoS protection mode set to {}", mode.name()));
            }
            Request::Route { name } => {
                if self.known(name, r) {
                    let oriented = self.conns.find(name).is_some_and(|c| c.is_oriented());
                    if !oriented {
                        r.line(
                            rc::ROUTE,
                            format!("\"{name}\": cannot route: neither end of the connection is an address of this machine"),
                        );
                    } else {
                        match self.route(name).await {
                            Ok(n) => {
                                let kind = match self
                                    .routed
                                    .get(name)
                                    .and_then(|rt| rt.traps.first())
                                    .map(|p| crate::xfrm::shunt_name(&p.action))
                                {
                                    None | Some("%trap") => "trap (on-demand)",
                                    Some(s) => s,
                                };
                                tracing::info!("\"{name}\": route: installed {n} {kind} policies");
                                r.comment(format!(
                                    "\"{name}\": routed: {n} {kind} policies installed"
                                ));
                            }
                            Err(e) => {
                                tracing::warn!("\"{name}\": cannot route: {e}");
                                r.line(rc::ROUTE, format!("\"{name}\": cannot route: {e}"));
                            }
                        }
                    }
                }
            }
            Request::Unroute { name } => {
                if self.known(name, r) {
                    if self.unroute(name).await {
                        r.comment(format!("\"{name}\": unrouted: trap policies removed"));
                    } else {
                        r.comment(format!("\"{name}\": connection is not routed"));
                    }
                }
            }
            Request::Initiate {
                name,
                remote_host,
                asynchronous,
                ..
            } => {
                if self.initiate(name, remote_host.as_deref(), r) {
                    if remote_host.is_none() {
                        self.keep_up.insert(name.clone());
                    }
                    if !*asynchronous {
                        *wait = Some(name.clone());
                    }
                }
            }
            Request::Down { name, .. } => {
                if self.known(name, r) {
                    self.keep_up.remove(name);
                    r.comment(format!("\"{name}\": terminating SAs using this connection"));
                    let n = self.down(name);
                    if n == 0 {
                        r.comment(format!("\"{name}\": no SAs to terminate"));
                    }
                    self.abandon_waiters(name, &format!("\"{name}\": connection taken down"));
                    self.pump().await;
                }
            }
            Request::Rekey {
                name,
                sa,
                asynchronous,
            } => {
                if self.known(name, r) {
                    if self.rekey(name, *sa, r) && !*asynchronous {
                        *wait = Some(name.clone());
                    }
                    self.pump().await;
                }
            }
            Request::DeleteSa { name, sa, .. } | Request::DownSa { name, sa, .. } => {
                if self.known(name, r) {
                    self.delete_sa(name, *sa, r);
                    self.pump().await;
                }
            }
            Request::GlobalRedirect { mode } => {
                // Nothing sends REDIRECT, so only "no" is true.
                if *mode == RedirectMode::No {
                    self.global_redirect = RedirectMode::No;
                    r.comment("set global-redirect=no");
                } else {
                    r.line(
                        rc::WHACK_PROBLEM,
                        format!("--global-redirect {}: {NO_REDIRECT}", mode.name()),
                    );
                }
            }
            Request::GlobalRedirectTo { to } => {
                if to.trim().is_empty() {
                    self.global_redirect_to = None;
                    r.comment("cleared global-redirect-to");
                } else {
                    r.line(
                        rc::WHACK_PROBLEM,
                        format!("--global-redirect-to {to}: {NO_REDIRECT}"),
                    );
                }
            }
            Request::RedirectTo { name, to } => {
                let ok = match name {
                    Some(n) => self.known(n, r),
                    None => true,
                };
                if ok {
                    r.line(
                        rc::WHACK_PROBLEM,
                        format!("--redirect-to {to}: {NO_REDIRECT}"),
                    );
                }
            }
            Request::Oppo(t) => {
                r.line(
                    rc::OPPOFAILURE,
                    format!(
                        "--oppohere {} --oppothere {}: opportunistic encryption is not supported by pluto-rs yet (no initiation for {}:{} -> {}:{} proto {}); describe the peer with a connection and --initiate it",
                        t.here, t.there, t.here, t.sport, t.there, t.dport, t.proto
                    ),
                );
            }
            Request::Crash { address } => {
                // The peer rebooted: its SAs are gone, so ours are removed at once
                // (nothing is sent to it) and the connections restored as after a
                // failed liveness check (engine.rs, liveness_action).
                let now = std::time::Instant::now();
                let gone = self.ike.peer_crashed(*address, now);
                if gone.is_empty() {
                    r.comment(format!(
                        "no IKE SAs with peer {address}; nothing to restart"
                    ));
                }
                for s in gone {
                    r.comment(format!("peer {address} crashed: deleted IKE SA {s}"));
                }
                self.pump().await;
            }
            Request::DeleteState { serial } => {
                let s = SaSerial(*serial);
                let now = std::time::Instant::now();
                let ok = if self.ike.ike_sa_status(s).is_some() {
                    self.ike.delete_ike_sa(s, now).is_ok()
                } else {
                    self.children.contains_key(&s) && self.ike.delete_child_sa(s, now).is_ok()
                };
                if ok {
                    r.comment(format!("deleting state #{serial}"));
                    self.pump().await;
                } else {
                    r.line(rc::UNKNOWN_NAME, format!("no state #{serial}"));
                }
            }
            Request::DeleteUser { user } => {
                r.line(
                    rc::FATAL,
                    format!("--deleteuser \"{user}\": XAUTH is not supported yet, so there are no XAUTH users"),
                );
            }
            Request::Debug { name, changes } => self.debug(name.as_deref(), changes, r),
            Request::Impair { name, changes } => self.impair(name.as_deref(), changes, r),
            Request::List { what } => self.list(*what, env.output.utc, env.output.json, r, json),
            Request::Reread { what } => match what {
                RereadKind::Secrets => self.reread_secrets(r, true),
                RereadKind::Crls => r.line(
                    rc::CRLERROR,
                    "--rereadcrls: obsolete (as in libreswan); CRLs are fetched with --fetchcrls",
                ),
                RereadKind::FetchCrls => r.line(
                    rc::CRLERROR,
                    "--fetchcrls: X.509 CRLs are not supported by pluto-rs yet",
                ),
                RereadKind::All => {
                    // Said first: the secrets' result comes once they are read.
                    r.comment("no CRLs to reread (X.509 CRL support is not implemented yet)");
                    self.reread_secrets(r, true);
                }
            },
            Request::Ddns => {
                let msgs = self.resolve_dns_hosts();
                if msgs.is_empty() {
                    r.comment("no connections with unresolved DNS host names");
                }
                for (ok, m) in msgs {
                    r.line(if ok { rc::COMMENT } else { rc::WHACK_PROBLEM }, m);
                }
            }
            Request::ListEvents => {
                let now = std::time::Instant::now();
                let timers = self.ike.pending_timers();
                if env.output.json {
                    json.insert("listevents".into(), crate::events::json(&timers, now));
                } else {
                    let mono = crate::events::monotonic_secs();
                    for l in crate::events::lines(&timers, now, mono) {
                        r.comment(l);
                    }
                }
            }
            Request::PurgeOcsp => {
                r.line(
                    rc::WHACK_PROBLEM,
                    "--purgeocsp: OCSP is not supported by pluto-rs yet; there is no OCSP cache to purge",
                );
            }
            Request::Status { what } => {
                if matches!(what, StatusKind::Status | StatusKind::Traffic) {
                    self.refresh_counters().await;
                }
                if env.output.json {
                    json.insert(what.option().into(), status::json_for(self, *what));
                } else {
                    for l in status::text_for(self, *what) {
                        r.comment(l);
                    }
                }
            }
            Request::ClearStats => {
                self.totals.clear();
                self.ike.clear_counters();
                r.comment("statistics cleared");
            }
            Request::IkeSocketBufsize { bytes } => {
                r.comment(format!("set IKE socket buffer to {bytes}"));
                for p in self.sockets.set_bufsize(*bytes) {
                    tracing::warn!("{p}");
                    r.comment(p);
                }
                r.comment(crate::status::socket_summary(&self.sockets));
            }
            Request::IkeSocketErrqueueToggle => {
                let on = !self.sockets.options().errqueue;
                r.comment(format!(
                    "{} IKE socket MSG_ERRQUEUEs",
                    if on { "enabling" } else { "disabling" }
                ));
                for p in self.sockets.set_errqueue(on) {
                    tracing::warn!("{p}");
                    r.comment(p);
                }
                r.comment(crate::status::socket_summary(&self.sockets));
            }
            Request::Shutdown { leave_state } => {
                tracing::info!("shutting down");
                r.comment("shutting down");
                return Flow::Shutdown {
                    leave_state: *leave_state,
                };
            }
        }
        Flow::Continue
    }

    fn add_connection(&mut self, spec: &control::ConnSpec, r: &mut Responder) {
        let host = self.host_addrs();
        let name = spec.name.clone();
        match self.conns.add(spec.clone(), &host) {
            Ok(serial) => {
                let unresolved = self
                    .conns
                    .get(serial)
                    .is_some_and(|c| !c.unresolved_dns_hosts().is_empty());
                let resolved = if unresolved {
                    self.resolve_dns_hosts()
                } else {
                    Vec::new()
                };
                let c = self.conns.get(serial);
                let v = match c.map(|c| c.policy.ike_version) {
                    Some(conn::spec::IkeVersion::V1) => "IKEv1",
                    _ => "IKEv2",
                };
                let kind = match c.map(|c| c.kind) {
                    Some(Kind::Template) => " template",
                    _ => "",
                };
                tracing::info!("added {v}{kind} connection \"{name}\"");
                r.comment(format!("added {v}{kind} connection \"{name}\""));
                for (_, m) in resolved {
                    r.comment(m);
                }
                for w in c.map(|c| c.warnings.clone()).unwrap_or_default() {
                    r.comment(format!("\"{name}\": warning: {w}"));
                }
                if c.is_some_and(|c| !c.is_oriented()) {
                    r.comment(format!(
                        "\"{name}\": neither end is an address of this machine; the connection stays unoriented until one is"
                    ));
                }
            }
            Err(DbError::Duplicate(_)) => {
                r.line(
                    rc::DUPNAME,
                    format!("attempt to redefine connection \"{name}\"; delete it first (whack --delete --name {name})"),
                );
            }
            Err(DbError::Unknown(n)) => {
                r.line(rc::UNKNOWN_NAME, format!("no connection named \"{n}\""));
            }
            Err(DbError::Invalid(e)) => {
                let code = match &e {
                    conn::connection::ConnError::Invalid { option, .. }
                        if option.ends_with(" id") =>
                    {
                        rc::BADID
                    }
                    _ => rc::WHACK_PROBLEM,
                };
                tracing::warn!("\"{name}\": failed to add connection: {e}");
                r.line(code, format!("\"{name}\": failed to add connection: {e}"));
            }
        }
    }

    fn delete_connection(&mut self, name: &str, r: &mut Responder) {
        match self.conns.delete(name) {
            Ok(gone) => {
                self.conn_debug.remove(name);
                self.impair.remove(name);
                for c in gone {
                    tracing::info!("{}: deleting connection", c.display_name());
                    r.comment(format!("{}: deleting connection", c.display_name()));
                }
            }
            Err(_) => {
                r.line(
                    rc::UNKNOWN_NAME,
                    format!("no connection or alias named \"{name}\""),
                );
            }
        }
    }

    fn key(&mut self, keyid: &str, add: bool, key: Option<&str>, r: &mut Responder) {
        if let Err(e) = conn::id::Id::parse(keyid) {
            r.line(rc::BADID, format!("--keyid \"{keyid}\": {e}"));
            return;
        }
        let Some(text) = key else {
            let n = self.keys.remove(keyid).map(|v| v.len()).unwrap_or(0);
            r.comment(format!("deleted {n} public keys of '{keyid}'"));
            return;
        };
        let valid = if let Some(b) = text.strip_prefix("0s") {
            !b.is_empty()
                && b.bytes()
                    .all(|c| c.is_ascii_alphanumeric() || b"+/=".contains(&c))
        } else if let Some(h) = text.strip_prefix("0x") {
            !h.is_empty() && h.bytes().all(|c| c.is_ascii_hexdigit() || c == b'_')
        } else {
            false
        };
        if !valid {
            r.line(
                rc::WHACK_PROBLEM,
                format!("--pubkeyrsa for '{keyid}': not a key in 0s (base64) or 0x (hex) form"),
            );
            return;
        }
        let entry = self.keys.entry(keyid.to_string()).or_default();
        if !add {
            entry.clear();
        }
        entry.push(PubKey {
            text: text.to_string(),
            installed: SystemTime::now(),
        });
        r.comment(format!(
            "{} RSA public key for '{keyid}'",
            if add { "added" } else { "replaced" }
        ));
    }

    /// Starts negotiating a connection. Returns true when an IKE SA, or a Child SA
    /// over the connection's established IKE SA, was started (whack then waits
    /// for the outcome unless `--asynchronous`); an IKE-only connection whose IKE
    /// SA is up, or one being negotiated, is reported and left as it is.
    fn initiate(&mut self, name: &str, remote_host: Option<&str>, r: &mut Responder) -> bool {
        let Some(c) = self.conns.find(name) else {
            self.known(name, r);
            return false;
        };
        if !self.listening || self.sockets.is_empty() {
            r.line(
                rc::DEAF,
                "we have no IKE interfaces: need --listen before --initiate",
            );
            return false;
        }
        if !c.is_oriented() {
            r.line(
                rc::ORIENT,
                format!("\"{name}\": cannot initiate: neither end of the connection is an address of this machine"),
            );
            return false;
        }
        let peer_known = c.remote_end().is_some_and(|e| e.host_addr.is_some());
        let mut peer = None;
        if !peer_known {
            match remote_host {
                None => {
                    r.line(
                        rc::NOPEERIP,
                        format!("\"{name}\": cannot initiate connection without knowing peer IP address (kind={}); give --remote-host",
                            if c.is_template() { "CK_TEMPLATE" } else { "CK_PERMANENT" }),
                    );
                    return false;
                }
                Some(h) => match h.parse::<IpAddr>() {
                    Ok(a) => peer = Some(a),
                    Err(_) => {
                        r.line(
                            rc::WHACK_PROBLEM,
                            format!("--remote-host \"{h}\" is not an IP address"),
                        );
                        return false;
                    }
                },
            }
        }
        if self.children.has_connection(name) {
            r.comment(format!(
                "\"{name}\": connection is already up; use --down first to renegotiate"
            ));
            return false;
        }
        let ikec = match crate::convert::connection(c, peer) {
            Ok(k) => std::sync::Arc::new(k),
            Err(e) => {
                r.line(
                    rc::WHACK_PROBLEM,
                    format!("\"{name}\": cannot initiate: {e}"),
                );
                return false;
            }
        };
        // An IKE SA of the connection that is up (or coming up) is used, as
        // libreswan does, rather than a second one negotiated.
        match self.ike.up(ikec, std::time::Instant::now()) {
            Ok(Up::NewIkeSa(serial)) => {
                tracing::debug!("\"{name}\" {serial}: initiating");
                true
            }
            Ok(Up::NewChildSa { ike, child }) => {
                tracing::debug!("\"{name}\" {child}: initiating Child SA using {ike}");
                true
            }
            Ok(Up::IkeSaUp(ike)) => {
                r.comment(format!("\"{name}\": IKE SA {ike} is already established"));
                false
            }
            Ok(Up::ChildSaUp { .. }) => {
                r.comment(format!(
                    "\"{name}\": connection is already up; use --down first to renegotiate"
                ));
                false
            }
            Ok(Up::InProgress(serial)) => {
                r.comment(format!(
                    "\"{name}\" {serial}: negotiation already in progress"
                ));
                false
            }
            Err(e) => {
                r.line(
                    rc::WHACK_PROBLEM,
                    format!("\"{name}\": cannot initiate: {e}"),
                );
                false
            }
        }
    }

    /// Opens the IKE sockets and reports each as libreswan does.
    pub async fn listen(&mut self, r: &mut Responder) {
        self.listening = true;
        tracing::info!("listening for IKE messages");
        r.comment("listening for IKE messages");
        for (ok, line) in self.open_sockets().await {
            if ok {
                tracing::info!("{line}");
                r.comment(line);
            } else {
                tracing::warn!("{line}");
                r.line(rc::LOG, line);
            }
        }
    }

    /// `--rekey-ike` / `--rekey-child`: the newest SA of that kind of the connection
    /// is rekeyed with CREATE_CHILD_SA. Returns true when the rekey was started:
    /// whack then waits (unless `--asynchronous`) for the core's
    /// `Event::RekeyFinished`, exiting 0 once rekeyed and with the notify's code
    /// (RC_NOTIFICATION + n) when the peer refused.
    fn rekey(&mut self, name: &str, sa: control::request::SaKind, r: &mut Responder) -> bool {
        let now = std::time::Instant::now();
        let sts = self.ike.status();
        let ikes: Vec<_> = sts
            .iter()
            .filter(|s| s.connection == name && s.state == "ESTABLISHED_IKE_SA")
            .collect();
        let target = match sa {
            control::request::SaKind::Ike => ikes.iter().map(|s| s.serial).max(),
            control::request::SaKind::Child => ikes
                .iter()
                .flat_map(|s| s.children.iter().map(|c| c.serial))
                .max(),
        };
        let Some(t) = target else {
            r.line(
                rc::WHACK_PROBLEM,
                format!(
                    "\"{name}\": cannot rekey: the connection has no established {} SA",
                    sa.label()
                ),
            );
            return false;
        };
        let res = match sa {
            control::request::SaKind::Ike => self.ike.rekey_ike_sa(t, now),
            control::request::SaKind::Child => self.ike.rekey_child_sa(t, now),
        };
        match res {
            Ok(()) => {
                r.comment(format!("\"{name}\" {t}: rekeying {} SA", sa.label()));
                true
            }
            Err(e) => {
                r.line(
                    rc::WHACK_PROBLEM,
                    format!("\"{name}\" {t}: cannot rekey: {e}"),
                );
                false
            }
        }
    }

    /// `--delete-ike`/`--down-ike` and `--delete-child`/`--down-child`: the newest
    /// SA of that kind of the connection.
    fn delete_sa(&mut self, name: &str, sa: control::request::SaKind, r: &mut Responder) {
        let now = std::time::Instant::now();
        let sts = self.ike.status();
        let ikes: Vec<_> = sts.iter().filter(|s| s.connection == name).collect();
        let target = match sa {
            control::request::SaKind::Ike => ikes.iter().map(|s| s.serial).max(),
            control::request::SaKind::Child => ikes
                .iter()
                .flat_map(|s| s.children.iter().map(|c| c.serial))
                .max(),
        };
        let Some(t) = target else {
            r.line(
                rc::WHACK_PROBLEM,
                format!(
                    "\"{name}\": the connection has no established {} SA",
                    sa.label()
                ),
            );
            return;
        };
        let res = match sa {
            control::request::SaKind::Ike => self.ike.delete_ike_sa(t, now),
            control::request::SaKind::Child => self.ike.delete_child_sa(t, now),
        };
        match res {
            Ok(()) => r.comment(format!("\"{name}\" {t}: deleting {} SA", sa.label())),
            Err(e) => r.line(rc::WHACK_PROBLEM, format!("\"{name}\" {t}: {e}")),
        }
    }

    fn debug(&mut self, name: Option<&str>, changes: &[DebugChange], r: &mut Responder) {
        if let Some(n) = name {
            if !self.known(n, r) {
                return;
            }
        }
        for ch in changes {
            if *ch == DebugChange::Help {
                r.comment(
                    "debug options (prefix with no- to disable; 'none' and 'all' also accepted):",
                );
                for c in classes::DEBUG_CLASSES {
                    r.comment(format!("  {:<12} {}", c.name, c.help));
                }
                continue;
            }
            if let Some(c) = changed_class(ch) {
                if classes::debug_class(c).is_none() {
                    r.line(rc::WHACK_PROBLEM, format!("unknown debug class \"{c}\""));
                    return;
                }
            }
            match name {
                Some(n) => apply_debug(self.conn_debug.entry(n.to_string()).or_default(), ch),
                None => apply_debug(&mut self.debug, ch),
            }
        }
        if let Some(hook) = &self.debug_hook {
            hook(!self.debug.is_empty() || self.conn_debug.values().any(|s| !s.is_empty()));
        }
        let changed = changes.iter().any(|c| *c != DebugChange::Help);
        if changed {
            match name {
                Some(n) => {
                    let set = self.conn_debug.get(n).cloned().unwrap_or_default();
                    let s = if set.is_empty() {
                        "none".to_string()
                    } else {
                        set.into_iter().collect::<Vec<_>>().join("+")
                    };
                    r.comment(format!("\"{n}\": debug={s}"));
                }
                None => r.comment(format!("debug={}", self.debug_names())),
            }
        }
    }

    fn impair(&mut self, name: Option<&str>, changes: &[ImpairChange], r: &mut Responder) {
        if let Some(n) = name {
            if !self.known(n, r) {
                return;
            }
        }
        let key = name.unwrap_or("").to_string();
        for ch in changes {
            match ch {
                ImpairChange::Help => {
                    r.comment(
                        "pluto-rs implements none of libreswan's impairments (testing hooks); whack knows their names:",
                    );
                    for c in classes::IMPAIRMENTS {
                        r.comment(format!("  {:<22} {}", c.name, c.help));
                    }
                }
                ImpairChange::List => {
                    let set = self.impair.get(&key);
                    if set.is_none_or(|s| s.is_empty()) {
                        r.comment("no impairments");
                    }
                    for (b, how) in set.into_iter().flatten() {
                        match how {
                            Some(h) => r.comment(format!("{b}: {h}")),
                            None => r.comment(format!("{b}: yes")),
                        }
                    }
                }
                ImpairChange::None => {
                    self.impair.remove(&key);
                }
                ImpairChange::Set { behaviour, .. } => {
                    // Recording an impairment nothing consults would be a lie.
                    r.line(
                        rc::WHACK_PROBLEM,
                        format!("--impair {behaviour}: impairments are not implemented by pluto-rs; nothing was changed"),
                    );
                    return;
                }
                ImpairChange::Clear(b) => {
                    r.line(
                        rc::WHACK_PROBLEM,
                        format!("--no-impair {b}: impairments are not implemented by pluto-rs; none is set"),
                    );
                    return;
                }
            }
        }
    }

    /// Asks for ipsec.secrets to be read again (off the main loop: the request
    /// is parked after this part, see [`crate::secrets_load`]). With `strict`, a
    /// failure sets whack's exit status.
    fn reread_secrets(&mut self, r: &mut Responder, strict: bool) {
        r.comment(format!(
            "loading secrets from \"{}\"",
            self.opts.secretsfile.display()
        ));
        self.secrets_wanted = Some(strict);
    }

    /// Applies (or reports the failure of) a read of ipsec.secrets.
    fn apply_secrets(&mut self, l: crate::secrets_load::Loaded, r: &mut Responder, strict: bool) {
        use crate::secrets_load::{Outcome, READ_LIMIT};
        let path = self.opts.secretsfile.display().to_string();
        let problem = match l.outcome {
            Outcome::Read(Ok(s)) => {
                let n = s.len();
                if self.loads.newest(l.id) {
                    self.secrets = s;
                    tracing::info!("loaded {n} secrets from \"{path}\"");
                    r.comment(format!("loaded {n} secrets"));
                } else {
                    r.comment(format!(
                        "read {n} secrets, but a later reread already replaced them; not applied"
                    ));
                }
                return;
            }
            Outcome::Read(Err(e)) => e.to_string(),
            Outcome::TimedOut => format!(
                "reading \"{path}\" did not finish within {}s",
                READ_LIMIT.as_secs()
            ),
            Outcome::Failed(e) => format!("reading \"{path}\" failed: {e}"),
        };
        tracing::warn!("{problem}");
        r.line(
            if strict {
                rc::WHACK_PROBLEM
            } else {
                rc::COMMENT
            },
            format!(
                "{problem}; keeping the {} secrets loaded before",
                self.secrets.len()
            ),
        );
    }

    fn list(
        &mut self,
        what: ListKind,
        utc: bool,
        as_json: bool,
        r: &mut Responder,
        json: &mut serde_json::Map<String, serde_json::Value>,
    ) {
        let pubkeys = matches!(
            what,
            ListKind::PubKeys | ListKind::All | ListKind::CheckPubKeys
        );
        if as_json {
            let keys: Vec<serde_json::Value> = self
                .keys
                .iter()
                .flat_map(|(id, ks)| {
                    ks.iter().map(move |k| {
                        serde_json::json!({
                            "id": id,
                            "type": "RSA",
                            "installed": timefmt::unix(k.installed),
                            "key_prefix": k.text.chars().take(12).collect::<String>(),
                        })
                    })
                })
                .collect();
            let mut doc = serde_json::Map::new();
            if pubkeys && what != ListKind::CheckPubKeys {
                doc.insert("pubkeys".into(), keys.into());
            }
            if what == ListKind::CheckPubKeys {
                doc.insert("expiring_pubkeys".into(), serde_json::json!([]));
            }
            if matches!(what, ListKind::Certs | ListKind::All) {
                doc.insert("certs".into(), serde_json::json!([]));
            }
            if matches!(what, ListKind::CaCerts | ListKind::All) {
                doc.insert("cacerts".into(), serde_json::json!([]));
            }
            if matches!(what, ListKind::Crls | ListKind::All) {
                doc.insert("crls".into(), serde_json::json!([]));
            }
            let key = match what {
                ListKind::PubKeys => "listpubkeys",
                ListKind::CheckPubKeys => "checkpubkeys",
                ListKind::Certs => "listcerts",
                ListKind::CaCerts => "listcacerts",
                ListKind::Crls => "listcrls",
                ListKind::All => "listall",
            };
            json.insert(key.into(), serde_json::Value::Object(doc));
            return;
        }
        if what == ListKind::CheckPubKeys {
            r.comment("List of Public Keys which will expire in the next 1 days:");
            r.comment("");
            return;
        }
        if pubkeys {
            r.comment("List of Public Keys:");
            r.comment("");
            for (id, ks) in &self.keys {
                let idtype = conn::id::Id::parse(id)
                    .map(|i| i.type_name())
                    .unwrap_or("ID_NONE");
                for k in ks {
                    r.comment(format!(
                        "{}, RSA Key {} (no private key), until --- -- --:--:-- ---- ok (expires never)",
                        timefmt::civil(k.installed, utc),
                        k.text.chars().skip(2).take(9).collect::<String>()
                    ));
                    r.comment(format!("       {idtype} '{id}'"));
                }
            }
        }
        let none = "(none: X.509 certificate support is not implemented yet in pluto-rs)";
        if matches!(what, ListKind::Certs | ListKind::All) {
            r.comment("List of X.509 End Certificates:");
            r.comment("");
            r.comment(none);
        }
        if matches!(what, ListKind::CaCerts | ListKind::All) {
            r.comment("List of X.509 CA Certificates:");
            r.comment("");
            r.comment(none);
        }
        if matches!(what, ListKind::Crls | ListKind::All) {
            r.comment("List of CRLs:");
            r.comment("");
            r.comment(none);
        }
    }
}

/// The connection whose kernel state a whack request changes, for the answer to
/// wait on (see [`Pluto::handle`]).
fn changed_connection(req: &Request) -> Option<&str> {
    match req {
        Request::Route { name }
        | Request::Unroute { name }
        | Request::Delete { name }
        | Request::Down { name, .. }
        | Request::DeleteSa { name, .. }
        | Request::DownSa { name, .. } => Some(name),
        _ => None,
    }
}

fn changed_class(ch: &DebugChange) -> Option<&str> {
    match ch {
        DebugChange::Enable(c) | DebugChange::Disable(c) => Some(c),
        _ => None,
    }
}

fn apply_debug(set: &mut BTreeSet<String>, ch: &DebugChange) {
    match ch {
        DebugChange::Help => {}
        DebugChange::None => set.clear(),
        DebugChange::All => {
            for c in classes::DEBUG_CLASSES {
                if c.name != "private" {
                    set.insert(c.name.to_string());
                }
            }
        }
        DebugChange::Enable(c) => {
            set.insert(c.clone());
        }
        DebugChange::Disable(c) => {
            set.remove(c);
        }
    }
}

/// Status forms a test may want to see as text.
pub fn status_text(p: &Pluto, what: StatusKind) -> Vec<String> {
    status::text_for(p, what)
}

#[cfg(test)]
mod tests {
    use super::*;
    use control::{ConnSpec, Reply};

    fn pluto() -> Pluto {
        Pluto::new(Options {
            secretsfile: "/nonexistent/ipsec.secrets".into(),
            ..Options::default()
        })
    }

    /// Runs one envelope; returns (status, lines).
    fn run(p: &mut Pluto, reqs: Vec<Request>, json: bool) -> (u32, Vec<String>, Flow) {
        let (r, mut rx, _answers) = Responder::detached();
        let mut env = Envelope::new(reqs);
        env.output.json = json;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let (flow, r) = rt.block_on(async {
            let mut out = p.handle(&env, r).await;
            // As the main loop does: parked requests go on once their read is in.
            while p.loads.parked() > 0 {
                let l = p.loads.next().await.expect("a read reports");
                out = p.secrets_loaded(l).await;
            }
            out
        });
        drop(r);
        let mut lines = Vec::new();
        let mut status = 0;
        while let Ok(m) = rx.try_recv() {
            match m {
                Reply::Line { text, .. } => lines.push(text),
                Reply::Done { status: s } => status = s,
                _ => {}
            }
        }
        (status, lines, flow)
    }

    fn spec(name: &str) -> Box<ConnSpec> {
        let mut s = ConnSpec::named(name);
        s.left.host = Some("127.0.0.1".into());
        s.right.host = Some("203.0.113.2".into());
        s.psk = true;
        Box::new(s)
    }

    #[test]
    fn listevents_shows_the_cores_timers_and_crash_removes_the_peers_sas() {
        let mut p = pluto();
        let mut s = spec("a");
        s.encrypt = true;
        let (st, _, _) = run(&mut p, vec![Request::AddConnection { spec: s }], false);
        assert_eq!(st, 0);
        let c = p.ike_conn("a", None).unwrap();
        let serial = p.ike.initiate(c, std::time::Instant::now()).unwrap();
        let (st, lines, _) = run(&mut p, vec![Request::ListEvents], false);
        assert_eq!(st, 0);
        // The IKE_SA_INIT request waits for its first retransmission (0.5 s).
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(
            lines[0].starts_with("event EVENT_v2_RETRANSMIT schd: ")
                && lines[0].ends_with(&format!("s (in 1s) \"a\" {serial}")),
            "{lines:?}"
        );
        let (_, lines, _) = run(&mut p, vec![Request::ListEvents], true);
        assert!(
            lines.iter().any(|l| l.contains("EVENT_v2_RETRANSMIT")),
            "{lines:?}"
        );
        let crash = |a: &str| Request::Crash {
            address: a.parse().unwrap(),
        };
        let (_, lines, _) = run(&mut p, vec![crash("198.51.100.7")], false);
        assert_eq!(
            lines,
            ["no IKE SAs with peer 198.51.100.7; nothing to restart"]
        );
        assert_eq!(p.ike.status().len(), 1);
        let (st, lines, _) = run(&mut p, vec![crash("203.0.113.2")], false);
        assert_eq!(st, 0);
        assert_eq!(
            lines,
            [format!("peer 203.0.113.2 crashed: deleted IKE SA {serial}")]
        );
        assert!(p.ike.status().is_empty());
        let (_, lines, _) = run(&mut p, vec![Request::ListEvents], false);
        assert!(lines.is_empty(), "{lines:?}");
    }

    #[test]
    fn add_duplicate_delete() {
        let mut p = pluto();
        let (st, lines, _) = run(
            &mut p,
            vec![Request::AddConnection { spec: spec("a") }],
            false,
        );
        assert_eq!(st, 0);
        assert_eq!(lines, vec!["added IKEv2 connection \"a\""]);
        let (st, _, _) = run(
            &mut p,
            vec![Request::AddConnection { spec: spec("a") }],
            false,
        );
        assert_eq!(st, rc::DUPNAME);
        let (st, lines, _) = run(&mut p, vec![Request::Delete { name: "a".into() }], false);
        assert_eq!(
            (st, lines),
            (0, vec!["\"a\": deleting connection".to_string()])
        );
        let (st, _, _) = run(&mut p, vec![Request::Delete { name: "a".into() }], false);
        assert_eq!(st, rc::UNKNOWN_NAME);
    }

    #[test]
    fn invalid_description_is_whack_problem() {
        let mut p = pluto();
        let mut s = spec("bad");
        s.left.subnets = vec!["198.51.100.1/24".into()];
        s.encrypt = true;
        let (st, lines, _) = run(&mut p, vec![Request::AddConnection { spec: s }], false);
        assert_eq!(st, rc::WHACK_PROBLEM);
        assert!(
            lines[0].starts_with("\"bad\": failed to add connection: "),
            "{lines:?}"
        );
    }

    #[test]
    fn json_status_is_one_document_and_shutdown_flows() {
        let mut p = pluto();
        run(
            &mut p,
            vec![Request::AddConnection { spec: spec("a") }],
            false,
        );
        let (st, lines, flow) = run(
            &mut p,
            vec![
                Request::Status {
                    what: StatusKind::Connection,
                },
                Request::Status {
                    what: StatusKind::Brief,
                },
                Request::Shutdown { leave_state: true },
            ],
            true,
        );
        assert_eq!(st, 0);
        assert_eq!(flow, Flow::Shutdown { leave_state: true });
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert_eq!(lines[0], "shutting down");
        let doc: serde_json::Value = serde_json::from_str(&lines[1]).unwrap();
        assert_eq!(doc["connectionstatus"]["connections"][0]["name"], "a");
        assert_eq!(doc["briefstatus"]["ike_sas"]["total"], 0);
    }

    #[test]
    fn debug_changes_reach_the_log_hook() {
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::Arc;
        let mut p = pluto();
        let on = Arc::new(AtomicBool::new(false));
        let on2 = on.clone();
        p.set_debug_hook(Box::new(move |b| on2.store(b, Ordering::SeqCst)));
        run(
            &mut p,
            vec![Request::Debug {
                name: None,
                changes: vec![DebugChange::Enable("base".into())],
            }],
            false,
        );
        assert!(on.load(Ordering::SeqCst));
        run(
            &mut p,
            vec![Request::Debug {
                name: None,
                changes: vec![DebugChange::None],
            }],
            false,
        );
        assert!(!on.load(Ordering::SeqCst));
        assert_eq!(p.debug_names(), "none");
    }

    /// Sends a fresh IKE_SA_INIT request from a west endpoint to `p` and returns
    /// whether `p` answered it with a COOKIE notify.
    fn answers_with_cookie(p: &mut Pluto) -> bool {
        use ike::codec::v2::{Message, Payload};
        use ike::registry::NotifyType;
        let mut s = ConnSpec::named("cookie");
        s.left.host = Some("192.0.2.1".into());
        s.right.host = Some("192.0.2.2".into());
        s.psk = true;
        s.encrypt = true;
        let c = conn::connection::Connection::from_spec(
            s,
            &HostAddrs::new(["192.0.2.1".parse::<IpAddr>().unwrap()]),
        )
        .unwrap();
        let k = crate::convert::connection(&c, None).unwrap();
        let mut west = Endpoint::new(
            EndpointConfig::default(),
            Box::new(ike::crypto::SystemRandomSource::new()),
        )
        .unwrap();
        let now = Instant::now();
        west.initiate(std::sync::Arc::new(k), now).unwrap();
        let t = west.poll_transmit().unwrap();
        let lookup = crate::convert::Lookup {
            conns: &p.conns,
            secrets: &p.secrets,
        };
        p.ike.handle(now, t.remote, t.local, &t.contents, &lookup);
        let Some(answer) = p.ike.poll_transmit() else {
            return false;
        };
        let msg = Message::decode(&answer.contents).unwrap();
        msg.payloads
            .iter()
            .any(|pl| matches!(pl, Payload::Notify(n) if n.ty == NotifyType::COOKIE))
    }

    #[test]
    fn ddos_busy_makes_the_engine_demand_cookies() {
        let mut p = pluto();
        assert!(!answers_with_cookie(&mut p));
        let (st, lines, _) = run(
            &mut p,
            vec![Request::Ddos {
                mode: DdosMode::Busy,
            }],
            false,
        );
        assert_eq!(
            (st, lines[0].as_str()),
            (0, "pluto DDoS protection mode set to busy")
        );
        assert!(answers_with_cookie(&mut p));
        let (st, _, _) = run(
            &mut p,
            vec![Request::Ddos {
                mode: DdosMode::Unlimited,
            }],
            false,
        );
        assert_eq!(st, 0);
        assert!(!answers_with_cookie(&mut p));
    }

    /// `--ddos-auto` hands pluto's thresholds to the core, which enforces them
    /// (crates/ike `ddos_auto_demands_cookies_then_refuses_by_half_open_count`),
    /// and `--globalstatus` shows the thresholds in force.
    #[test]
    fn ddos_auto_enforces_the_configured_thresholds() {
        let mut p = Pluto::new(Options {
            secretsfile: "/nonexistent/ipsec.secrets".into(),
            ddos_ike_threshold: 7,
            max_halfopen_ike: 9,
            ..Options::default()
        });
        let auto = ike::ikev2::Ddos::Auto {
            cookies_from: 7,
            refuse_from: 9,
        };
        assert_eq!(p.ike.ddos(), auto);
        for (mode, want) in [
            (DdosMode::Unlimited, ike::ikev2::Ddos::Unlimited),
            (DdosMode::Auto, auto),
        ] {
            let (st, lines, _) = run(&mut p, vec![Request::Ddos { mode }], false);
            assert_eq!(st, 0);
            assert_eq!(lines.len(), 1, "{lines:?}");
            assert_eq!(p.ike.ddos(), want);
        }
        assert!(!answers_with_cookie(&mut p));
        let g = p.global_counters();
        assert!(g.contains(&("config.setup.ike.ddos_threshold".into(), 7)));
        assert!(g.contains(&("config.setup.ike.max_halfopen".into(), 9)));
        assert!(g.contains(&("total.ike.halfopen.refused".into(), 0)));
    }

    #[test]
    fn force_busy_starts_the_engine_demanding_cookies() {
        let mut p = Pluto::new(Options {
            secretsfile: "/nonexistent/ipsec.secrets".into(),
            force_busy: true,
            ..Options::default()
        });
        assert!(answers_with_cookie(&mut p));
    }

    #[test]
    fn impair_is_refused_except_help_list_none() {
        let mut p = pluto();
        for change in [ImpairChange::Help, ImpairChange::List, ImpairChange::None] {
            let (st, lines, _) = run(
                &mut p,
                vec![Request::Impair {
                    name: None,
                    changes: vec![change],
                }],
                false,
            );
            assert_eq!(st, 0, "{lines:?}");
        }
        let (st, lines, _) = run(
            &mut p,
            vec![Request::Impair {
                name: None,
                changes: vec![ImpairChange::Set {
                    behaviour: "revival".into(),
                    how: None,
                }],
            }],
            false,
        );
        assert_eq!(st, rc::WHACK_PROBLEM);
        assert_eq!(
            lines,
            ["--impair revival: impairments are not implemented by pluto-rs; nothing was changed"]
        );
        let (st, lines, _) = run(
            &mut p,
            vec![Request::Impair {
                name: None,
                changes: vec![ImpairChange::Clear("revival".into()), ImpairChange::List],
            }],
            false,
        );
        assert_eq!(st, rc::WHACK_PROBLEM);
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(lines[0].starts_with("--no-impair revival: "), "{lines:?}");
        let (_, lines, _) = run(
            &mut p,
            vec![Request::Impair {
                name: None,
                changes: vec![ImpairChange::List],
            }],
            false,
        );
        assert_eq!(lines, ["no impairments"]);
    }

    #[test]
    fn redirect_forms_are_refused() {
        let mut p = pluto();
        let one = |p: &mut Pluto, r: Request| {
            let (st, lines, _) = run(p, vec![r], false);
            assert_eq!(lines.len(), 1, "{lines:?}");
            (st, lines[0].clone())
        };
        let (st, l) = one(
            &mut p,
            Request::GlobalRedirect {
                mode: RedirectMode::Yes,
            },
        );
        assert_eq!(st, rc::WHACK_PROBLEM);
        assert_eq!(
            l,
            "--global-redirect yes: IKEv2 redirect (RFC 5685) is not supported by pluto-rs yet"
        );
        let (st, _) = one(
            &mut p,
            Request::GlobalRedirect {
                mode: RedirectMode::Auto,
            },
        );
        assert_eq!(st, rc::WHACK_PROBLEM);
        assert_eq!(
            one(
                &mut p,
                Request::GlobalRedirect {
                    mode: RedirectMode::No
                }
            ),
            (0, "set global-redirect=no".to_string())
        );
        let (st, l) = one(
            &mut p,
            Request::GlobalRedirectTo {
                to: "192.0.2.9".into(),
            },
        );
        assert_eq!(st, rc::WHACK_PROBLEM);
        assert!(
            l.starts_with("--global-redirect-to 192.0.2.9: IKEv2 redirect"),
            "{l}"
        );
        let (st, l) = one(
            &mut p,
            Request::RedirectTo {
                name: None,
                to: "192.0.2.9".into(),
            },
        );
        assert_eq!(st, rc::WHACK_PROBLEM);
        assert!(
            l.starts_with("--redirect-to 192.0.2.9: IKEv2 redirect"),
            "{l}"
        );
        assert_eq!(p.global_redirect, RedirectMode::No);
        assert_eq!(p.global_redirect_to, None);
    }

    #[test]
    fn oppo_is_refused_with_oppofailure() {
        let mut p = pluto();
        let (st, lines, _) = run(
            &mut p,
            vec![Request::Oppo(control::request::OppoTrigger {
                ip_version: None,
                here: "192.0.2.1".parse().unwrap(),
                there: "203.0.113.5".parse().unwrap(),
                sport: 0,
                dport: 80,
                proto: 6,
            })],
            false,
        );
        assert_eq!(st, rc::OPPOFAILURE);
        assert_eq!(lines.len(), 1);
        assert!(
            lines[0].starts_with("--oppohere 192.0.2.1 --oppothere 203.0.113.5: opportunistic encryption is not supported"),
            "{lines:?}"
        );
    }

    #[test]
    fn globalstatus_counts_ike_traffic_and_notifies_and_clearstats_clears_them() {
        let mut p = pluto();
        let get = |p: &mut Pluto, k: &str| -> u64 {
            let (_, lines, _) = run(
                p,
                vec![Request::Status {
                    what: StatusKind::Global,
                }],
                false,
            );
            lines
                .iter()
                .find_map(|l| l.strip_prefix(&format!("{k}=")))
                .unwrap_or_else(|| panic!("no {k} in {lines:?}"))
                .parse()
                .unwrap()
        };
        // Not an IKE message: counted as IKE traffic in, then dropped by the core.
        p.datagram(crate::sockets::Datagram {
            local: "192.0.2.1:500".parse().unwrap(),
            remote: "192.0.2.2:500".parse().unwrap(),
            data: vec![0; 40],
        });
        assert_eq!(get(&mut p, "total.ike.traffic.in"), 40);
        assert_eq!(get(&mut p, "total.ike.dpd.sent"), 0);
        assert_eq!(
            get(&mut p, "total.ikev2.recv.notifies.error.NO_PROPOSAL_CHOSEN"),
            0
        );
        let (st, lines, _) = run(&mut p, vec![Request::ClearStats], false);
        assert_eq!((st, lines.len()), (0, 1));
        assert_eq!(get(&mut p, "total.ike.traffic.in"), 0);
        // Names libreswan never prints for pluto-rs' features are gone.
        let (_, lines, _) = run(
            &mut p,
            vec![Request::Status {
                what: StatusKind::Global,
            }],
            false,
        );
        assert!(
            lines
                .iter()
                .all(|l| !l.contains("ikev1") && !l.contains("xauth") && !l.contains("ipcomp")),
            "{lines:?}"
        );
    }

    /// The paced auto=start keeps at most AUTO_START_WINDOW initiations unanswered,
    /// frees a place once an IKE_SA_INIT is answered (the second new-state line), and
    /// initiates every connection once, in order.
    #[tokio::test]
    async fn auto_start_is_paced_by_answered_ike_sa_inits() {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
        let dir = std::env::temp_dir().join(format!("pluto-pace-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ctl = dir.join("pluto.ctl");
        let _ = std::fs::remove_file(&ctl);
        let listener = tokio::net::UnixListener::bind(&ctl).unwrap();
        let names: Vec<String> = (0..100).map(|i| format!("c{i}")).collect();
        let pacer = tokio::spawn(pace_auto_start(ctl.clone(), names.clone()));
        let unanswered = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut most = 0;
        let mut seen = Vec::new();
        let mut held = Vec::new();
        for _ in 0..100 {
            let (stream, _) = listener.accept().await.unwrap();
            let now = unanswered.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
            most = most.max(now);
            let (rd, mut wr) = stream.into_split();
            let mut line = String::new();
            BufReader::new(rd).read_line(&mut line).await.unwrap();
            let env: Envelope = serde_json::from_str(&line).unwrap();
            match &env.requests[..] {
                [Request::Initiate {
                    name,
                    asynchronous: false,
                    ..
                }] => seen.push(name.clone()),
                other => panic!("not an initiate: {other:?}"),
            }
            let unanswered = unanswered.clone();
            held.push(tokio::spawn(async move {
                let state = |text: &str| {
                    let mut l = serde_json::to_vec(&control::Reply::Line {
                        code: ike::ikev2::Rc::NEW_V2_STATE.0,
                        text: text.into(),
                    })
                    .unwrap();
                    l.push(b'\n');
                    l
                };
                wr.write_all(&state("sent IKE_SA_INIT request"))
                    .await
                    .unwrap();
                tokio::time::sleep(Duration::from_millis(5)).await;
                unanswered.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                // The pacer may have hung up already; that is fine.
                let _ = wr.write_all(&state("sent IKE_AUTH request")).await;
                wr
            }));
        }
        pacer.await.unwrap();
        assert_eq!(seen, names);
        assert!(most <= AUTO_START_WINDOW, "{most} unanswered at once");
        assert!(most > 1, "the window was used: {most}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn crl_and_ocsp_forms_are_refused() {
        let mut p = pluto();
        for (what, code, start) in [
            (RereadKind::Crls, rc::CRLERROR, "--rereadcrls: obsolete"),
            (
                RereadKind::FetchCrls,
                rc::CRLERROR,
                "--fetchcrls: X.509 CRLs are not supported",
            ),
        ] {
            let (st, lines, _) = run(&mut p, vec![Request::Reread { what }], false);
            assert_eq!(st, code);
            assert_eq!(lines.len(), 1);
            assert!(lines[0].starts_with(start), "{lines:?}");
        }
        let (st, lines, _) = run(&mut p, vec![Request::PurgeOcsp], false);
        assert_eq!(st, rc::WHACK_PROBLEM);
        assert_eq!(
            lines,
            ["--purgeocsp: OCSP is not supported by pluto-rs yet; there is no OCSP cache to purge"]
        );
    }

    #[test]
    fn interface_limits_the_addresses_used() {
        let p = Pluto::new(Options {
            secretsfile: "/nonexistent/ipsec.secrets".into(),
            interfaces: vec!["lo".into()],
            ..Options::default()
        });
        let all = p.addrs_list();
        assert!(!all.is_empty());
        assert!(all.iter().all(|(i, _)| i == "lo"), "{all:?}");
        let p = Pluto::new(Options {
            secretsfile: "/nonexistent/ipsec.secrets".into(),
            interfaces: vec!["nosuch0".into()],
            ..Options::default()
        });
        assert!(p.addrs_list().is_empty());
    }

    #[test]
    fn debug_option_enables_classes_from_the_start() {
        let p = Pluto::new(Options {
            secretsfile: "/nonexistent/ipsec.secrets".into(),
            debug: vec!["base".into(), "cpu-usage".into(), "no-base".into()],
            ..Options::default()
        });
        assert_eq!(p.debug_names(), "cpu-usage");
    }

    /// A pluto on `lo` whose IKE port (and NAT-T port, 4000 above) is free.
    fn on_lo_at_a_free_port() -> (Pluto, u16) {
        let port = loop {
            let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            let port = s.local_addr().unwrap().port();
            if port < 60000 {
                break port;
            }
        };
        let p = Pluto::new(Options {
            secretsfile: "/nonexistent/ipsec.secrets".into(),
            interfaces: vec!["lo".into()],
            ikeport: port,
            ..Options::default()
        });
        (p, port)
    }

    #[test]
    fn ikeport_moves_the_ike_sockets() {
        let (mut p, port) = on_lo_at_a_free_port();
        let (_, lines, _) = run(&mut p, vec![Request::Listen, Request::Unlisten], false);
        let want = format!("adding UDP interface lo 127.0.0.1:{port}");
        assert!(lines.contains(&want), "{lines:?}");
        let natt = format!("adding UDP interface lo 127.0.0.1:{}", port + 4000);
        assert!(lines.contains(&natt), "{lines:?}");
    }

    #[test]
    fn initiate_while_the_ike_sa_is_being_negotiated_starts_no_second_one() {
        let (mut p, _) = on_lo_at_a_free_port();
        let mut s = spec("a");
        s.right.host = Some("127.0.0.2".into());
        s.encrypt = true;
        let initiate = || Request::Initiate {
            name: "a".into(),
            remote_host: None,
            xauth_user: None,
            xauth_pass: None,
            asynchronous: true,
        };
        let reqs = vec![
            Request::Listen,
            Request::AddConnection { spec: s },
            initiate(),
        ];
        let (st, _, _) = run(&mut p, reqs, false);
        assert_eq!(st, 0);
        let sts = p.ike.status();
        assert_eq!(sts.len(), 1);
        let (st, lines, _) = run(&mut p, vec![initiate()], false);
        assert_eq!(st, 0, "{lines:?}");
        let want = format!("\"a\" {}: negotiation already in progress", sts[0].serial);
        assert!(lines.contains(&want), "{lines:?}");
        assert_eq!(p.ike.status().len(), 1);
    }

    #[test]
    fn unroute_forgets_the_trap_policies() {
        let mut p = pluto();
        run(
            &mut p,
            vec![Request::AddConnection { spec: spec("a") }],
            false,
        );
        p.routed.insert(
            "a".into(),
            Route {
                reqid: 7,
                traps: Vec::new(),
                failure: conn::spec::FailShunt::None,
                mark: None,
                flow: None,
                shunts: Vec::new(),
            },
        );
        let serial = p.conns.find("a").unwrap().serial;
        p.conns.get_mut(serial).unwrap().routing = conn::connection::Routing::RoutedOndemand;
        let routing = |p: &Pluto| p.conns.find("a").unwrap().routing;
        assert_eq!(routing(&p), conn::connection::Routing::RoutedOndemand);
        let (st, lines, _) = run(&mut p, vec![Request::Unroute { name: "a".into() }], false);
        assert_eq!(st, 0);
        assert_eq!(lines, ["\"a\": unrouted: trap policies removed"]);
        assert!(!p.routed.contains_key("a"));
        assert_eq!(routing(&p), conn::connection::Routing::Unrouted);
        let (_, lines, _) = run(&mut p, vec![Request::Unroute { name: "a".into() }], false);
        assert_eq!(lines, ["\"a\": connection is not routed"]);
    }

    #[test]
    fn rereadall_rereads_the_secrets_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ipsec.secrets");
        std::fs::write(&path, "@a @b : PSK \"one\"\n").unwrap();
        let mut p = Pluto::new(Options {
            secretsfile: path.clone(),
            ..Options::default()
        });
        std::fs::write(&path, "@a @b : PSK \"one\"\n@a @c : PSK \"two\"\n").unwrap();
        let (st, lines, _) = run(
            &mut p,
            vec![Request::Reread {
                what: RereadKind::All,
            }],
            false,
        );
        assert_eq!(st, 0, "{lines:?}");
        assert!(lines.iter().any(|l| l == "loaded 2 secrets"), "{lines:?}");
    }

    #[test]
    fn a_reread_parks_its_request_while_others_are_answered() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ipsec.secrets");
        std::fs::write(&path, "@a @b : PSK \"one\"\n").unwrap();
        let mut p = Pluto::new(Options {
            secretsfile: path.clone(),
            ..Options::default()
        });
        std::fs::write(&path, "@a @b : PSK \"one\"\n@a @c : PSK \"two\"\n").unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let (r, mut rx, _answers) = Responder::detached();
        let env = Envelope::new(vec![
            Request::Reread {
                what: RereadKind::Secrets,
            },
            Request::Status {
                what: StatusKind::Global,
            },
        ]);
        let (flow, kept) = rt.block_on(p.handle(&env, r));
        assert_eq!(flow, Flow::Continue);
        assert!(kept.is_none(), "parked, not answered");
        assert_eq!(p.loads.parked(), 1);
        // Another whack is served while the read is out.
        let (other, mut other_rx, _other_answers) = Responder::detached();
        let (_, other) = rt.block_on(p.handle(&Envelope::new(vec![Request::ListEvents]), other));
        drop(other);
        let mut answered = false;
        while let Ok(m) = other_rx.try_recv() {
            answered |= matches!(m, Reply::Done { status: 0 });
        }
        assert!(answered, "the other request was answered at once");
        let texts = |rx: &mut tokio::sync::mpsc::UnboundedReceiver<Reply>| {
            let mut v = Vec::new();
            let mut done = false;
            while let Ok(m) = rx.try_recv() {
                match m {
                    Reply::Line { text, .. } => v.push(text),
                    Reply::Done { .. } => done = true,
                    _ => {}
                }
            }
            (v, done)
        };
        let (before, done) = texts(&mut rx);
        assert!(!done);
        assert_eq!(before.len(), 1, "{before:?}");
        assert!(before[0].starts_with("loading secrets from"), "{before:?}");
        assert_eq!(p.secrets.len(), 1, "not applied before it is read");
        let (flow, r) = rt.block_on(async {
            let l = p.loads.next().await.unwrap();
            p.secrets_loaded(l).await
        });
        assert_eq!(flow, Flow::Continue);
        drop(r);
        assert_eq!(p.secrets.len(), 2);
        let (after, done) = texts(&mut rx);
        assert!(done, "{after:?}");
        assert_eq!(after.first().map(String::as_str), Some("loaded 2 secrets"));
        // The request's next part ran after the read, in order.
        assert!(after.len() > 1, "the --globalstatus part ran: {after:?}");
    }

    #[test]
    fn deleteuser_is_refused_until_xauth_exists() {
        let mut p = pluto();
        let (st, lines, _) = run(
            &mut p,
            vec![Request::DeleteUser {
                user: "alice".into(),
            }],
            false,
        );
        assert_eq!(st, rc::FATAL);
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(lines[0].contains("XAUTH is not supported yet"), "{lines:?}");
    }

    #[test]
    fn my_updown_shows_the_script_that_runs() {
        let mut p = pluto();
        let mut disabled = spec("off");
        disabled.left.updown = Some("%disabled".into());
        let (st, _, _) = run(
            &mut p,
            vec![
                Request::AddConnection { spec: spec("a") },
                Request::AddConnection { spec: disabled },
            ],
            false,
        );
        assert_eq!(st, 0);
        let (_, lines, _) = run(
            &mut p,
            vec![Request::Status {
                what: StatusKind::Connection,
            }],
            false,
        );
        let want = format!("\"a\":   my_updown={};", p.updown_default.display());
        assert!(lines.contains(&want), "{want}\n{lines:#?}");
        assert!(
            lines.iter().any(|l| l == "\"off\":   my_updown=%disabled;"),
            "{lines:#?}"
        );
    }
}
