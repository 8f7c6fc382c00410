//! The main loop: whack requests from the control server, IKE datagrams, the IKE
//! core's timer, results of the crypto helpers (`--nhelpers`), kernel events and
//! signals, one at a time into [`Pluto`], the single
//! owner of state; after each input [`Pluto::pump`] sends what the core queued and
//! carries out its kernel requests.

use std::io::Write;
use std::path::{Path, PathBuf};

use control::server::{BindError, Command, Server};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;

use crate::args::Options;
use crate::pluto::{DebugHook, Flow, Pluto};

/// What stops pluto from starting.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The run directory cannot be created.
    #[error("cannot create run directory \"{path}\": {source}")]
    RunDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Another pluto holds the pid file's lock.
    #[error("lock file \"{}\" already exists and is locked: pluto is already running ({}); stop it first, or give another --rundir", path.display(), match pid { Some(p) => format!("pid {p}"), None => "pid unknown".into() })]
    Running {
        /// The pid file.
        path: PathBuf,
        /// The pid written in it, when readable.
        pid: Option<u32>,
    },
    /// The control socket cannot be bound.
    #[error(transparent)]
    Bind(#[from] BindError),
    /// The pid file cannot be created, locked or written.
    #[error("cannot write pid file \"{path}\": {source}")]
    PidFile {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// ipsec.secrets exists but cannot be read.
    #[error("{0}; fix its permissions or give another --secretsfile")]
    Secrets(conn::files::FileError),
    /// Signal handlers cannot be installed.
    #[error("cannot install signal handlers: {0}")]
    Signals(std::io::Error),
    /// `--metrics-listen` cannot be bound.
    #[error(transparent)]
    Metrics(#[from] crate::metrics::MetricsError),
}

impl StartError {
    /// The exit status, as libreswan's pluto uses them (10: lock file, 2: socket,
    /// 1: anything else).
    pub fn exit_code(&self) -> u8 {
        match self {
            StartError::RunDir { .. } | StartError::Running { .. } | StartError::PidFile { .. } => {
                10
            }
            StartError::Bind(_) | StartError::Metrics(_) => 2,
            StartError::Secrets(_) | StartError::Signals(_) => 1,
        }
    }
}

/// The pid file, locked (flock) for as long as this value lives: a second pluto on
/// the same run directory finds it locked and refuses to start, while a file left
/// behind by a crashed pluto is simply taken over.
#[derive(Debug)]
pub struct PidFile {
    path: PathBuf,
    _file: std::fs::File,
    predecessor: Option<u32>,
}

impl PidFile {
    /// Creates (or takes over) `path`, locks it and writes our pid into it.
    pub fn lock(path: &Path) -> Result<PidFile, StartError> {
        use std::io::Read;
        use std::os::fd::AsRawFd;
        use std::os::unix::fs::OpenOptionsExt;
        let err = |source| StartError::PidFile {
            path: path.to_path_buf(),
            source,
        };
        let mut f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o644)
            .open(path)
            .map_err(err)?;
        // SAFETY: flock on a descriptor we own.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EWOULDBLOCK) {
                return Err(err(e));
            }
            let mut text = String::new();
            let pid = f
                .read_to_string(&mut text)
                .ok()
                .and_then(|_| text.trim().parse().ok());
            return Err(StartError::Running {
                path: path.to_path_buf(),
                pid,
            });
        }
        // Unlocked but present: a pluto that did not shut down cleanly (killed,
        // crashed) left it; a clean shutdown removes it.
        let mut text = String::new();
        let predecessor = f
            .read_to_string(&mut text)
            .ok()
            .and_then(|_| text.trim().parse().ok());
        f.set_len(0).map_err(err)?;
        use std::io::Seek;
        f.rewind().map_err(err)?;
        writeln!(f, "{}", std::process::id()).map_err(err)?;
        Ok(PidFile {
            path: path.to_path_buf(),
            _file: f,
            predecessor,
        })
    }

    /// The pid of the pluto that left this file behind without a clean shutdown,
    /// if it did: its kernel state (SAs and policies in our reqid range, `%reject`
    /// rules) is stale.
    pub fn predecessor(&self) -> Option<u32> {
        self.predecessor
    }

    /// Removes the file; the lock goes with the value.
    pub fn remove(self) {
        remove_quietly(&self.path, "pid file");
    }
}

/// Fails when ipsec.secrets exists but cannot be read (a missing file is only
/// warned about later, as libreswan does).
fn check_secrets(path: &Path) -> Result<(), StartError> {
    match conn::secrets::Secrets::load(path) {
        Err(conn::files::FileError::Io { source, .. })
            if source.kind() == std::io::ErrorKind::NotFound =>
        {
            Ok(())
        }
        Err(e @ conn::files::FileError::Io { .. }) => Err(StartError::Secrets(e)),
        _ => Ok(()),
    }
}

fn remove_quietly(path: &Path, what: &str) {
    if let Err(e) = std::fs::remove_file(path) {
        if e.kind() != std::io::ErrorKind::NotFound {
            tracing::warn!("cannot remove {what} \"{}\": {e}", path.display());
        }
    }
}

/// How many queued datagrams one pass of the main loop hands to the core before it
/// sends the answers and serves the other inputs.
const DATAGRAM_BATCH: usize = 64;

async fn recv_datagram(
    rx: &mut Option<mpsc::Receiver<crate::sockets::Datagram>>,
) -> Option<crate::sockets::Datagram> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

async fn recv_computed(
    rx: &mut Option<mpsc::UnboundedReceiver<ike::ikev2::ComputeResult>>,
) -> Option<ike::ikev2::ComputeResult> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

async fn recv_loaded(
    rx: &mut Option<mpsc::UnboundedReceiver<crate::secrets_load::Loaded>>,
) -> Option<crate::secrets_load::Loaded> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

async fn recv_kernel_done(
    rx: Option<&mut mpsc::UnboundedReceiver<crate::kworker::Done>>,
) -> Option<crate::kworker::Done> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

async fn sleep_until(deadline: Option<std::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await,
        None => std::future::pending().await,
    }
}

async fn next_kernel_event(
    ev: &mut Option<kernel::EventStream>,
) -> Result<kernel::KernelEvent, kernel::KernelError> {
    match ev {
        Some(ev) => ev.next().await,
        None => std::future::pending().await,
    }
}

/// What the start-up hands to the main loop besides the options.
#[derive(Default)]
pub struct Hooks {
    /// Raises the log level while a debug class is on.
    pub debug: Option<DebugHook>,
    /// Reopens the log file on SIGHUP; `Ok(false)` when there is none.
    pub reopen_log: Option<Box<dyn Fn() -> Result<bool, crate::logging::LogError> + Send>>,
}

/// Runs pluto until `--shutdown` or SIGTERM/SIGINT. `ready` is called once the pid
/// file is locked, ipsec.secrets checked, the control socket bound and the IKE
/// sockets open (the forking parent waits for it); any error before that is
/// returned and nothing is left behind.
pub async fn run(opts: Options, hooks: Hooks, ready: impl FnOnce()) -> Result<(), StartError> {
    std::fs::create_dir_all(&opts.rundir).map_err(|source| StartError::RunDir {
        path: opts.rundir.clone(),
        source,
    })?;
    let ctl = opts.ctlsocket();
    let pidfile = PidFile::lock(&opts.pidfile())?;
    let started = async {
        check_secrets(&opts.secretsfile)?;
        // Before the control socket, so a taken port leaves nothing behind.
        let metrics = match opts.metrics_listen {
            Some(a) => Some(crate::metrics::bind(a).await?),
            None => None,
        };
        let server = Server::bind(&ctl)?;
        let signals = (|| {
            Ok::<_, std::io::Error>((
                signal(SignalKind::terminate())?,
                signal(SignalKind::interrupt())?,
                signal(SignalKind::hangup())?,
            ))
        })();
        match signals {
            Ok(s) => Ok((server, metrics, s)),
            Err(e) => {
                Server::remove_socket(&ctl);
                Err(StartError::Signals(e))
            }
        }
    }
    .await;
    let (server, metrics, (mut term, mut int, mut hup)) = match started {
        Ok(x) => x,
        Err(e) => {
            pidfile.remove();
            return Err(e);
        }
    };

    tracing::info!(
        "Starting Pluto (pluto-rs Version {}) pid:{}",
        env!("CARGO_PKG_VERSION"),
        std::process::id()
    );
    let config = opts.config.clone();
    let fake_xfrm = opts.fake_xfrm;
    let mut pluto = Pluto::new(opts);
    pluto.start_helpers();
    let mut computed = pluto.compute.take_results();
    let opened = if fake_xfrm {
        tracing::warn!(
            "--fake-xfrm: SA and policy requests are acknowledged without reaching the kernel; no traffic is protected"
        );
        kernel::Kernel::fake_xfrm(kernel::Ownership::default())
    } else {
        kernel::Kernel::new()
    };
    let mut kernel_events = match opened {
        Ok((k, ev)) => {
            if let (Some(pid), false) = (pidfile.predecessor(), fake_xfrm) {
                // A crashed predecessor's trap policies would keep catching
                // traffic for tunnels nobody negotiates, and its SAs would
                // linger: remove what is ours (our reqid range), as its clean
                // shutdown would have. `whack --shutdown --leave-state` removes
                // the pid file, so state left on purpose is kept.
                match k.flush_owned().await {
                    Ok(r) => tracing::warn!(
                        "pluto (pid {pid}) did not shut down cleanly: removed the {} SA(s) and {} policy(ies) it left in the kernel",
                        r.sas,
                        r.policies
                    ),
                    Err(e) => tracing::error!(
                        "pluto (pid {pid}) did not shut down cleanly, and its kernel state cannot be removed: {e}"
                    ),
                }
            }
            pluto.attach_kernel(k);
            Some(ev)
        }
        Err(e) => {
            tracing::error!(
                "cannot open the kernel's XFRM interface: {e}; IKE will negotiate but no SA or policy can be installed"
            );
            None
        }
    };
    let mut datagrams = pluto.take_datagrams();
    if let Some(cfg) = config {
        match pluto.load_config(&cfg) {
            Ok(n) => tracing::info!("loaded {n} connections from \"{}\"", cfg.display()),
            Err(e) => tracing::error!("{e}; no connections loaded from it"),
        }
    }
    if let Some(h) = hooks.debug {
        pluto.set_debug_hook(h);
    }
    // libreswan listens at start; whack --listen re-reads the interfaces later.
    pluto.discover_interfaces().await;
    {
        let (mut r, _rx, _answers) = control::server::Responder::detached();
        pluto.listen(&mut r).await;
    }
    pluto.start_auto().await;
    pluto.pump().await;
    let (tx, mut rx) = mpsc::channel::<Command>(64);
    let server_task = tokio::spawn(server.run(tx));
    tracing::info!("listening for whack on \"{}\"", ctl.display());
    // The metrics endpoint asks the loop for its text, as whack requests come in.
    let (metrics_tx, mut metrics_rx) = mpsc::channel::<crate::metrics::Ask>(8);
    let metrics_task = metrics.map(|l| {
        if let Ok(a) = l.local_addr() {
            tracing::info!("serving metrics on http://{a}/metrics");
        }
        tokio::spawn(crate::metrics::serve(l, metrics_tx))
    });
    ready();
    let mut notifier = crate::notify::Notifier::from_env();
    if let Some(n) = notifier.as_mut() {
        n.send(&format!(
            "READY=1\nMAINPID={}\nSTATUS=serving whack on {}, {} connections loaded\n",
            std::process::id(),
            ctl.display(),
            pluto.conns.len()
        ));
    }
    // WATCHDOG=1 from the loop itself: a loop that stops turning stops the pings.
    let mut watchdog = notifier
        .as_ref()
        .and_then(crate::notify::Notifier::watchdog)
        .map(|every| {
            let mut i = tokio::time::interval(every);
            i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            i
        });

    let mut loaded = pluto.loads.take_results();
    let mut last = None;
    let mut stop = None;
    loop {
        let deadline = pluto.next_timeout();
        tokio::select! {
            cmd = rx.recv() => {
                let Some(Command { envelope, responder }) = cmd else { break };
                let (flow, responder) = pluto.handle(&envelope, responder).await;
                match flow {
                    Flow::Continue => {}
                    Flow::Shutdown { leave_state } => {
                        // Answer only after cleanup, so whack returns once pluto is gone.
                        last = responder;
                        stop = Some(leave_state);
                        break;
                    }
                }
            }
            d = recv_datagram(&mut datagrams) => {
                match d {
                    Some(d) => {
                        // Under load, go on with what else has arrived without
                        // going back through the select (and its wake-up): each
                        // datagram's answers still leave before the next one is
                        // read, so batching adds no latency. Bounded, so that
                        // whack, timers and the kernel still get their turn.
                        let natt = pluto.natt_port();
                        let mut next = Some(d);
                        for n in 1.. {
                            let Some(d) = next.take() else { break };
                            if !pluto.compute.sheds(&d.data, d.local.port() == natt) {
                                pluto.datagram(d);
                            }
                            if n == DATAGRAM_BATCH {
                                break;
                            }
                            pluto.pump().await;
                            next = datagrams.as_mut().and_then(|rx| rx.try_recv().ok());
                        }
                    }
                    None => datagrams = None,
                }
            }
            l = recv_loaded(&mut loaded) => {
                let Some(l) = l else {
                    loaded = None;
                    continue;
                };
                // A whack request parked on an ipsec.secrets read goes on.
                let (flow, responder) = pluto.secrets_loaded(l).await;
                if let Flow::Shutdown { leave_state } = flow {
                    last = responder;
                    stop = Some(leave_state);
                    break;
                }
            }
            r = recv_computed(&mut computed) => {
                match r {
                    Some(r) => pluto.computed(r),
                    None => computed = None,
                }
            }
            Some(d) = recv_kernel_done(pluto.kworker.as_mut().and_then(|w| w.done_mut())) => {
                // Like datagrams: what else the worker has finished goes in
                // before the one pump, bounded.
                pluto.kernel_done(d).await;
                for _ in 1..DATAGRAM_BATCH {
                    let more = pluto
                        .kworker
                        .as_mut()
                        .and_then(|w| w.done_mut())
                        .and_then(|rx| rx.try_recv().ok());
                    let Some(d) = more else { break };
                    pluto.kernel_done(d).await;
                }
            }
            _ = sleep_until(deadline) => pluto.timeout().await,
            Some(ask) = metrics_rx.recv(), if metrics_task.is_some() => {
                let _ = ask.send(pluto.metrics_text().await);
            }
            ev = next_kernel_event(&mut kernel_events) => {
                match ev {
                    Ok(ev) => pluto.kernel_event(ev).await,
                    Err(e) => {
                        tracing::error!("kernel event stream failed: {e}; ACQUIRE and EXPIRE events are no longer seen");
                        kernel_events = None;
                    }
                }
            }
            _ = watchdog_tick(&mut watchdog) => {
                if let Some(n) = notifier.as_mut() {
                    n.send("WATCHDOG=1\n");
                }
            }
            _ = term.recv() => { tracing::info!("SIGTERM received: shutting down"); break }
            _ = int.recv() => { tracing::info!("SIGINT received: shutting down"); break }
            _ = hup.recv() => match hooks.reopen_log.as_ref().map(|f| f()) {
                Some(Ok(true)) => tracing::info!("SIGHUP received: log file reopened"),
                Some(Err(e)) => tracing::error!("SIGHUP received: {e}; still logging to the old file"),
                _ => tracing::info!("SIGHUP received: no log file to reopen (use whack --rereadsecrets to reload secrets)"),
            },
        }
        pluto.pump().await;
    }
    if let Some(n) = notifier.as_mut() {
        n.send("STOPPING=1\nSTATUS=shutting down\n");
    }
    let leave_state = stop.unwrap_or(false);
    if leave_state {
        tracing::info!("leaving connections' kernel state in place (--leave-state)");
    }
    pluto.shutdown(leave_state).await;
    server_task.abort();
    let _ = server_task.await;
    if let Some(t) = metrics_task {
        t.abort();
    }
    rx.close();
    while let Ok(mut cmd) = rx.try_recv() {
        control::server::refuse_shutting_down(&mut cmd.responder);
    }
    remove_quietly(&ctl, "control socket");
    pidfile.remove();
    tracing::info!("pluto shut down");
    if let Some(r) = last {
        r.finish();
        // Give the connection task a moment to flush the final line.
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    Ok(())
}

/// The next watchdog tick, or never without a watchdog.
async fn watchdog_tick(w: &mut Option<tokio::time::Interval>) {
    match w {
        Some(i) => {
            i.tick().await;
        }
        None => std::future::pending().await,
    }
}
