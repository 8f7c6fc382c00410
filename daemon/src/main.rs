//! pluto: the IKE keying daemon. Owns the sockets, timers and the runtime; the
//! protocol lives in `ike`.

use std::process::ExitCode;

use pluto::args::{self, Cmd};
use pluto::logging::{self, Sink};

/// The write end of the pipe the forking parent waits on.
struct Ready(Option<libc::c_int>);

impl Ready {
    fn signal(&mut self) {
        if let Some(fd) = self.0.take() {
            // SAFETY: fd is the write end of our pipe; one byte from a valid buffer.
            unsafe {
                libc::write(fd, b"1".as_ptr().cast(), 1);
                libc::close(fd);
            }
        }
    }
}

/// Forks into the background; the parent exits 0 once the child reports that its
/// control socket is up, 1 if the child dies first.
fn daemonize() -> std::io::Result<Ready> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: fds is a valid array of two ints.
    if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: called before any thread or runtime exists.
    match unsafe { libc::fork() } {
        -1 => Err(std::io::Error::last_os_error()),
        0 => {
            // SAFETY: plain syscalls on our own descriptors.
            unsafe {
                libc::close(fds[0]);
                libc::setsid();
                let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
                if null >= 0 {
                    libc::dup2(null, 0);
                    libc::dup2(null, 1);
                    libc::dup2(null, 2);
                    if null > 2 {
                        libc::close(null);
                    }
                }
            }
            Ok(Ready(Some(fds[1])))
        }
        _ => {
            let mut b = [0u8; 1];
            // SAFETY: reading one byte into a valid buffer from our pipe.
            let n = unsafe {
                libc::close(fds[1]);
                libc::read(fds[0], b.as_mut_ptr().cast(), 1)
            };
            std::process::exit(if n == 1 { 0 } else { 1 });
        }
    }
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
    let sink = match (&opts.logfile, opts.stderrlog, opts.nofork) {
        (Some(f), _, _) => Sink::File(f.clone()),
        (None, true, _) | (None, false, true) => Sink::Stderr,
        (None, false, false) => Sink::Syslog,
    };
    let mut ready = if opts.nofork {
        Ready(None)
    } else {
        match daemonize() {
            Ok(r) => r,
            Err(e) => {
                eprintln!("pluto: cannot fork: {e}");
                return ExitCode::from(1);
            }
        }
    };
    let switch = match logging::init(&sink) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("pluto: cannot open log: {e}");
            return ExitCode::from(1);
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!("cannot start runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = rt.block_on(pluto::daemon::run(opts, Some(switch), || ready.signal()));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("pluto: {e}");
            ExitCode::from(1)
        }
    }
}
