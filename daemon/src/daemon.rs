//! The main loop: whack requests from the control server, IKE datagrams, the IKE
//! core's timer, kernel events and signals, one at a time into [`Pluto`], the single
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
    /// The control socket cannot be bound.
    #[error(transparent)]
    Bind(#[from] BindError),
    /// The pid file cannot be written.
    #[error("cannot write pid file \"{path}\": {source}")]
    PidFile {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Signal handlers cannot be installed.
    #[error("cannot install signal handlers: {0}")]
    Signals(std::io::Error),
}

fn write_pidfile(path: &Path) -> Result<(), StartError> {
    let mut f = std::fs::File::create(path).map_err(|source| StartError::PidFile {
        path: path.to_path_buf(),
        source,
    })?;
    writeln!(f, "{}", std::process::id()).map_err(|source| StartError::PidFile {
        path: path.to_path_buf(),
        source,
    })
}

fn remove_quietly(path: &Path, what: &str) {
    if let Err(e) = std::fs::remove_file(path) {
        if e.kind() != std::io::ErrorKind::NotFound {
            tracing::warn!("cannot remove {what} \"{}\": {e}", path.display());
        }
    }
}

async fn recv_datagram(
    rx: &mut Option<mpsc::Receiver<crate::sockets::Datagram>>,
) -> Option<crate::sockets::Datagram> {
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

/// Runs pluto until `--shutdown` or SIGTERM/SIGINT. `ready` is called once the
/// control socket and pid file exist (the forking parent waits for it).
pub async fn run(
    opts: Options,
    debug_hook: Option<DebugHook>,
    ready: impl FnOnce(),
) -> Result<(), StartError> {
    std::fs::create_dir_all(&opts.rundir).map_err(|source| StartError::RunDir {
        path: opts.rundir.clone(),
        source,
    })?;
    let ctl = opts.ctlsocket();
    let pidfile = opts.pidfile();
    let server = Server::bind(&ctl)?;
    if let Err(e) = write_pidfile(&pidfile) {
        Server::remove_socket(&ctl);
        return Err(e);
    }
    let mut term = signal(SignalKind::terminate()).map_err(StartError::Signals)?;
    let mut int = signal(SignalKind::interrupt()).map_err(StartError::Signals)?;
    let mut hup = signal(SignalKind::hangup()).map_err(StartError::Signals)?;

    tracing::info!(
        "Starting Pluto (pluto-rs Version {}) pid:{}",
        env!("CARGO_PKG_VERSION"),
        std::process::id()
    );
    let config = opts.config.clone();
    let mut pluto = Pluto::new(opts);
    let mut kernel_events = match kernel::Kernel::new() {
        Ok((k, ev)) => {
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
    if let Some(h) = debug_hook {
        pluto.set_debug_hook(h);
    }
    // libreswan listens at start; whack --listen re-reads the interfaces later.
    pluto.discover_interfaces().await;
    {
        let (mut r, _rx, _answers) = control::server::Responder::detached();
        pluto.listen(&mut r);
    }
    pluto.start_auto().await;
    pluto.pump().await;
    let (tx, mut rx) = mpsc::channel::<Command>(64);
    let server_task = tokio::spawn(server.run(tx));
    tracing::info!("listening for whack on \"{}\"", ctl.display());
    ready();

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
                    Some(d) => pluto.datagram(d),
                    None => datagrams = None,
                }
            }
            _ = sleep_until(deadline) => pluto.timeout().await,
            ev = next_kernel_event(&mut kernel_events) => {
                match ev {
                    Ok(ev) => pluto.kernel_event(ev).await,
                    Err(e) => {
                        tracing::error!("kernel event stream failed: {e}; ACQUIRE and EXPIRE events are no longer seen");
                        kernel_events = None;
                    }
                }
            }
            _ = term.recv() => { tracing::info!("SIGTERM received: shutting down"); break }
            _ = int.recv() => { tracing::info!("SIGINT received: shutting down"); break }
            _ = hup.recv() => { tracing::info!("SIGHUP received: ignored (use whack --rereadsecrets)") }
        }
        pluto.pump().await;
    }
    let leave_state = stop.unwrap_or(false);
    if leave_state {
        tracing::info!("leaving connections' kernel state in place (--leave-state)");
    }
    pluto.shutdown(leave_state).await;
    server_task.abort();
    let _ = server_task.await;
    rx.close();
    while let Ok(mut cmd) = rx.try_recv() {
        control::server::refuse_shutting_down(&mut cmd.responder);
    }
    remove_quietly(&ctl, "control socket");
    remove_quietly(&pidfile, "pid file");
    tracing::info!("pluto shut down");
    if let Some(r) = last {
        r.finish();
        // Give the connection task a moment to flush the final line.
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    Ok(())
}
