//! The daemon's central state.
//!
//! [`Pluto`] owns everything (connections, secrets, settings, counters); the
//! control server hands it decoded requests, which the handlers of
//! [`crate::forms`] (one module per group of whack forms) carry out, answering
//! through a [`control::server::Responder`]. It opens no socket itself.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::time::{Duration, Instant, SystemTime};

use conn::connection::{HostAddrs, Side};
use conn::db::ConnDb;
use conn::secrets::Secrets;
use control::request::{DdosMode, DebugChange, RedirectMode, StatusKind};
use control::server::Responder;
use control::Request;
use ike::ikev2::{Endpoint, EndpointConfig, SaSerial};
use tokio::sync::mpsc;

use crate::args::Options;
use crate::engine::{IkeRec, Route};
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
    /// Per-connection counters (`--globalstatus --json`'s `connections`, metrics).
    pub per_conn: crate::stats::PerConnection,
    /// The `--nhelpers` crypto threads (none until [`Pluto::start_helpers`]).
    pub compute: crate::compute::Pool,
    /// ipsec.secrets reads under way, and the whack requests parked on them.
    pub loads: crate::secrets_load::Loads,
    /// Set by a request that wants ipsec.secrets read (the value: whether a
    /// failure fails it); the envelope is parked after that request.
    pub(crate) secrets_wanted: Option<bool>,
    pub(crate) debug_hook: Option<DebugHook>,
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
pub(crate) async fn pace_auto_start(ctl: std::path::PathBuf, names: Vec<String>) {
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

/// The core's DDoS policy for whack's mode and pluto's thresholds
/// (`--ddos-ike-threshold`, `--max-halfopen-ike`).
pub(crate) fn ddos_policy(mode: DdosMode, opts: &Options) -> ike::ikev2::Ddos {
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
            ddos: ddos_policy(opts.ddos_mode, &opts),
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
            ddos: opts.ddos_mode,
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
            per_conn: Default::default(),
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
            crate::forms::apply_debug(&mut p.debug, &change);
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
        for e in &cfg.errors {
            tracing::error!("{e}; not loaded");
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

    pub(crate) fn host_addrs(&self) -> HostAddrs {
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
}

/// Status forms a test may want to see as text.
pub fn status_text(p: &Pluto, what: StatusKind) -> Vec<String> {
    status::text_for(p, what)
}
