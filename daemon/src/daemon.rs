//! The main loop: the control server feeds whack requests to [`Pluto`], one at a
//! time, alongside signals. The IKE engine will be one more input of this loop
//! (packets, timers, kernel events), so [`Pluto`] stays the single owner of state.

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
    if let Some(cfg) = config {
        match pluto.load_config(&cfg) {
            Ok(n) => tracing::info!("loaded {n} connections from \"{}\"", cfg.display()),
            Err(e) => tracing::error!("{e}; no connections loaded from it"),
        }
    }
    if let Some(h) = debug_hook {
        pluto.set_debug_hook(h);
    }
    let (tx, mut rx) = mpsc::channel::<Command>(64);
    let server_task = tokio::spawn(server.run(tx));
    tracing::info!("listening for whack on \"{}\"", ctl.display());
    ready();

    let mut last = None;
    loop {
        tokio::select! {
            cmd = rx.recv() => {
                let Some(Command { envelope, mut responder }) = cmd else { break };
                match pluto.handle(&envelope, &mut responder) {
                    Flow::Continue => {}
                    Flow::Shutdown { leave_state } => {
                        if leave_state {
                            tracing::info!("leaving connections' kernel state in place (--leave-state)");
                        }
                        // Answer only after cleanup, so whack returns once pluto is gone.
                        last = Some(responder);
                        break;
                    }
                }
            }
            _ = term.recv() => { tracing::info!("SIGTERM received: shutting down"); break }
            _ = int.recv() => { tracing::info!("SIGINT received: shutting down"); break }
            _ = hup.recv() => { tracing::info!("SIGHUP received: ignored (use whack --rereadsecrets)") }
        }
    }
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
