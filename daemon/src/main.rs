//! pluto: the IKE keying daemon. Owns the sockets, timers and the runtime; the
//! protocol lives in `ike`.
//!
//! Start-up without `--nofork`: the process forks first (before any thread or
//! runtime exists), the child sets everything up (log, pid file lock, secrets,
//! control socket, IKE sockets) and reports over a pipe, one line: `ready`, or
//! `error CODE REASON`. The parent waits for that line and exits 0, or prints the
//! reason on stderr and exits with the code; so a failed start is never silent.

use std::io::{Read, Write};
use std::process::ExitCode;

use pluto::args::{self, Cmd};
use pluto::daemon::Hooks;
use pluto::logging::{self, Sinks};

/// How the start-up result reaches whoever waits for it.
enum Ready {
    /// `--nofork`: nobody waits; errors go to stderr.
    Foreground,
    /// The forked child: the write end of the parent's pipe, until used.
    Child(Option<std::fs::File>),
}

impl Ready {
    fn send(&mut self, line: &str) {
        if let Ready::Child(w) = self {
            if let Some(mut w) = w.take() {
                // The parent may be gone (killed); nothing else to tell then.
                let _ = w.write_all(line.as_bytes());
            }
        }
    }

    fn ready(&mut self) {
        self.send("ready\n");
    }

    /// Reports a start-up failure: logged, and either printed (foreground, unless
    /// the log already goes to stderr) or sent to the waiting parent.
    fn fail(&mut self, code: u8, reason: &str, logged_to_stderr: bool) -> ExitCode {
        match self {
            Ready::Foreground => {
                if !logged_to_stderr {
                    eprintln!("pluto: {reason}");
                }
            }
            Ready::Child(_) => {
                let one_line = reason.replace('\n', " ");
                self.send(&format!("error {code} {one_line}\n"));
            }
        }
        ExitCode::from(code)
    }
}

/// Forks. In the child, returns the pipe to report on (stdin and stdout go to
/// /dev/null, stderr too unless `keep_stderr`). The parent never returns: it
/// exits with the child's verdict.
fn daemonize(keep_stderr: bool) -> std::io::Result<Ready> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: fds is a valid array of two ints; O_CLOEXEC keeps the pipe out of
    // the updown scripts the child runs.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: both descriptors were just created by pipe2 and are owned here only.
    let (r, w) = unsafe {
        use std::os::fd::FromRawFd;
        (
            std::fs::File::from_raw_fd(fds[0]),
            std::fs::File::from_raw_fd(fds[1]),
        )
    };
    // SAFETY: called before any thread or runtime exists.
    match unsafe { libc::fork() } {
        -1 => Err(std::io::Error::last_os_error()),
        0 => {
            drop(r);
            // SAFETY: plain syscalls on our own descriptors.
            unsafe {
                libc::setsid();
                let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
                if null >= 0 {
                    libc::dup2(null, 0);
                    libc::dup2(null, 1);
                    if !keep_stderr {
                        libc::dup2(null, 2);
                    }
                    if null > 2 {
                        libc::close(null);
                    }
                }
            }
            Ok(Ready::Child(Some(w)))
        }
        child => {
            drop(w);
            std::process::exit(parent_wait(r, child));
        }
    }
}

/// The parent's side: reads the child's line and turns it into an exit status.
fn parent_wait(mut r: std::fs::File, child: libc::pid_t) -> i32 {
    let mut text = String::new();
    let _ = r.read_to_string(&mut text);
    let line = text.lines().next().unwrap_or("");
    if line == "ready" {
        return 0;
    }
    if let Some(rest) = line.strip_prefix("error ") {
        let (code, reason) = rest.split_once(' ').unwrap_or(("1", rest));
        eprintln!("pluto: {reason}");
        return code.parse().unwrap_or(1);
    }
    let mut status = 0;
    // SAFETY: waiting for our own child; status is a valid int.
    let how = if unsafe { libc::waitpid(child, &mut status, 0) } == child {
        if libc::WIFSIGNALED(status) {
            format!("was killed by signal {}", libc::WTERMSIG(status))
        } else {
            format!("exited with status {}", libc::WEXITSTATUS(status))
        }
    } else {
        "exited".to_string()
    };
    eprintln!("pluto: the daemon {how} during start-up without saying why (see its log)");
    1
}

fn main() -> ExitCode {
    let opts = match args::parse(std::env::args().skip(1)) {
        Ok(Cmd::Run(o)) => *o,
        Ok(Cmd::Help) => {
            print!("{}", args::USAGE);
            return ExitCode::SUCCESS;
        }
        Ok(Cmd::Version) => {
            println!("pluto-rs {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("pluto: {e}");
            return ExitCode::from(1);
        }
    };
    let sinks = Sinks::from_options(&opts);
    let mut ready = if opts.nofork {
        Ready::Foreground
    } else {
        match daemonize(opts.stderrlog) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("pluto: cannot fork: {e}");
                return ExitCode::from(3);
            }
        }
    };
    let log = match logging::init(&sinks) {
        Ok(l) => l,
        Err(e) => return ready.fail(1, &e.to_string(), false),
    };
    for w in &opts.warnings {
        tracing::warn!("{w}");
    }
    let mut opts = opts;
    if let Some(dir) = opts.coredir.clone() {
        // The paths pluto reads later stay what they named before the change.
        for p in [&mut opts.secretsfile, &mut opts.rundir] {
            if let Ok(abs) = std::path::absolute(&*p) {
                *p = abs;
            }
        }
        for p in [
            &mut opts.config,
            &mut opts.ctlsocket,
            &mut opts.updown_script,
        ]
        .into_iter()
        .flatten()
        {
            if let Ok(abs) = std::path::absolute(&*p) {
                *p = abs;
            }
        }
        if let Err(e) = std::env::set_current_dir(&dir) {
            let reason = format!("cannot change to --coredir {}: {e}", dir.display());
            tracing::error!("{reason}");
            return ready.fail(1, &reason, sinks.stderr);
        }
    }
    // One thread: the main loop owns all state and takes one input at a time,
    // so worker threads only added a cross-thread wake-up (a futex round trip and
    // a context switch) to every datagram the socket readers handed over. Crypto
    // that is worth another core goes to the compute helpers instead.
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let reason = format!("cannot start runtime: {e}");
            tracing::error!("{reason}");
            return ready.fail(1, &reason, sinks.stderr);
        }
    };
    let logging::Logging { level, file } = log;
    let hooks = Hooks {
        debug: Some(level),
        reopen_log: Some(Box::new(move || match &file {
            Some(f) => f.reopen().map(|()| true),
            None => Ok(false),
        })),
    };
    let mut is_ready = false;
    let result = rt.block_on(pluto::daemon::run(opts, hooks, || {
        is_ready = true;
        ready.ready()
    }));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let reason = e.to_string();
            tracing::error!("{reason}");
            if is_ready {
                ExitCode::from(e.exit_code())
            } else {
                ready.fail(e.exit_code(), &reason, sinks.stderr)
            }
        }
    }
}
