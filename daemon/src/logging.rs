//! Where pluto's log goes. With `--logfile FILE` to FILE (appending), and to standard
//! error as well when `--stderrlog` is given too; without `--logfile` to standard
//! error (`--stderrlog`, or `--nofork`) or else to syslog (a forked daemon's default).
//! When journald is there ([`crate::journal::detect`]) its native protocol replaces
//! syslog, and the plain stderr of a `--nofork` daemon whose stderr is the journal
//! (a systemd service): the lines then carry priorities and pluto's fields
//! (connection, serial, peer). An explicit `--stderrlog` or `--logfile` is kept.
//! SIGHUP reopens the log file ([`Logging::reopen`]), so a rotated file is followed by
//! a new one at the old path. Debug lines appear only while a debug class is enabled
//! (`--debug`, or whack `--debug` at run time).

use std::fs::File;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tracing::level_filters::LevelFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, reload, Registry};

use crate::args::Options;
use crate::journal;

/// Where to log: any of the three sinks.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Sinks {
    /// Standard error.
    pub stderr: bool,
    /// Append to this file.
    pub file: Option<PathBuf>,
    /// `--log-no-time`: the file's lines carry no timestamp.
    pub file_no_time: bool,
    /// `--log-no-append`: the file is emptied when pluto starts.
    pub file_truncate: bool,
    /// syslog(3), facility daemon.
    pub syslog: bool,
    /// journald's native socket (in place of syslog, see [`Sinks::choose`]).
    pub journal: Option<PathBuf>,
}

impl Sinks {
    /// The sinks the command line asks for, with journald where it is there.
    /// Must run before the fork, which points stderr at /dev/null.
    pub fn from_options(o: &Options) -> Sinks {
        let env = journal::Environment::current();
        let socket = PathBuf::from(journal::JOURNAL_SOCKET);
        Sinks::choose(
            o,
            env.journald_present().then(|| socket.clone()),
            env.stderr_is_journal().then_some(socket),
        )
    }

    /// The sinks for `o`: `journal` is journald's socket when journald is there
    /// (it replaces syslog), `stderr_journal` the same when stderr itself goes to
    /// the journal (it then replaces the stderr that `--nofork` alone implies:
    /// the same lines, with priorities and fields).
    pub fn choose(o: &Options, journal: Option<PathBuf>, stderr_journal: Option<PathBuf>) -> Sinks {
        match &o.logfile {
            Some(f) => Sinks {
                stderr: o.stderrlog,
                file: Some(f.clone()),
                file_no_time: o.log_no_time,
                file_truncate: o.log_no_append,
                syslog: false,
                journal: None,
            },
            None if o.stderrlog => Sinks {
                stderr: true,
                ..Sinks::default()
            },
            None if o.nofork => match stderr_journal {
                Some(j) => Sinks {
                    journal: Some(j),
                    ..Sinks::default()
                },
                None => Sinks {
                    stderr: true,
                    ..Sinks::default()
                },
            },
            None => Sinks {
                syslog: journal.is_none(),
                journal,
                ..Sinks::default()
            },
        }
    }
}

/// Why logging could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// The log file cannot be opened for appending.
    #[error("cannot open log file \"{path}\": {source}")]
    Open {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The journal's socket cannot be created.
    #[error(transparent)]
    Journal(#[from] journal::JournalError),
}

/// A log file that can be reopened at its path (log rotation). Each event is one
/// write under the lock, so lines of concurrent events never interleave.
#[derive(Debug, Clone)]
pub struct LogFile {
    path: PathBuf,
    file: Arc<Mutex<File>>,
}

impl LogFile {
    /// Opens `path` for appending, creating it (mode 0600) when missing.
    pub fn open(path: &Path) -> Result<LogFile, LogError> {
        Ok(LogFile {
            path: path.to_path_buf(),
            file: Arc::new(Mutex::new(open_append(path)?)),
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Opens the path again and writes from now on to what it names; the old file
    /// is closed. On failure the old file is kept.
    pub fn reopen(&self) -> Result<(), LogError> {
        let f = open_append(&self.path)?;
        *self.lock() = f;
        Ok(())
    }

    fn lock(&self) -> MutexGuard<'_, File> {
        self.file.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One event's writer into a [`LogFile`].
pub struct LogFileWriter<'a>(MutexGuard<'a, File>);

impl Write for LogFileWriter<'_> {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.write(b)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

impl<'a> MakeWriter<'a> for LogFile {
    type Writer = LogFileWriter<'a>;

    fn make_writer(&'a self) -> LogFileWriter<'a> {
        LogFileWriter(self.lock())
    }
}

/// `--log-no-append`: empties the log file (created mode 0600 when missing).
fn truncate(p: &Path) -> Result<(), LogError> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(p)
        .map(drop)
        .map_err(|source| LogError::Open {
            path: p.to_path_buf(),
            source,
        })
}

fn open_append(p: &Path) -> Result<File, LogError> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(p)
        .map_err(|source| LogError::Open {
            path: p.to_path_buf(),
            source,
        })
}

/// Switches debug logging on or off after start.
pub type LevelSwitch = Box<dyn Fn(bool) + Send>;

/// The installed subscriber's handles.
pub struct Logging {
    /// Raises the level to debug (`true`) or back to info.
    pub level: LevelSwitch,
    /// The log file, when there is one (reopened on SIGHUP).
    pub file: Option<LogFile>,
}

/// Installs the global subscriber writing to `sinks`.
pub fn init(sinks: &Sinks) -> Result<Logging, LogError> {
    if let (Some(path), true) = (&sinks.file, sinks.file_truncate) {
        truncate(path)?;
    }
    let file = sinks.file.as_deref().map(LogFile::open).transpose()?;
    let (filter, handle) = reload::Layer::new(LevelFilter::INFO);
    let stderr = sinks.stderr.then(|| {
        fmt::layer()
            .with_writer(std::io::stderr)
            .with_target(false)
            .with_ansi(std::io::stderr().is_terminal())
            .without_time()
    });
    let timed = !sinks.file_no_time;
    let to_file = file.clone().filter(|_| timed).map(|f| {
        fmt::layer()
            .with_writer(f)
            .with_target(false)
            .with_ansi(false)
    });
    let to_file_untimed = file.clone().filter(|_| !timed).map(|f| {
        fmt::layer()
            .with_writer(f)
            .with_target(false)
            .with_ansi(false)
            .without_time()
    });
    let syslog = sinks.syslog.then(|| {
        // SAFETY: the ident is a static NUL-terminated string, as openlog requires.
        unsafe {
            libc::openlog(
                c"pluto".as_ptr(),
                libc::LOG_PID | libc::LOG_NDELAY,
                libc::LOG_DAEMON,
            )
        };
        fmt::layer()
            .with_writer(SyslogWriter)
            .with_target(false)
            .with_level(false)
            .with_ansi(false)
            .without_time()
    });
    let to_journal = sinks
        .journal
        .clone()
        .map(journal::JournalLayer::new)
        .transpose()?;
    Registry::default()
        .with(filter)
        .with(stderr)
        .with(to_file)
        .with(to_file_untimed)
        .with(syslog)
        .with(to_journal)
        .init();
    let level = Box::new(move |debug: bool| {
        let level = if debug {
            LevelFilter::DEBUG
        } else {
            LevelFilter::INFO
        };
        if let Err(e) = handle.modify(|f| *f = level) {
            eprintln!("pluto: cannot change log level: {e}");
        }
    });
    Ok(Logging { level, file })
}

/// Writes each formatted event to syslog at the event's severity.
struct SyslogWriter;

/// One event's text, sent to syslog when dropped.
struct SyslogLine {
    buf: Vec<u8>,
    priority: libc::c_int,
}

impl Write for SyslogLine {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(b);
        Ok(b.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for SyslogLine {
    fn drop(&mut self) {
        let text: Vec<u8> = self
            .buf
            .iter()
            .copied()
            .filter(|&b| b != 0 && b != b'\n')
            .collect();
        if let Ok(c) = std::ffi::CString::new(text) {
            // SAFETY: both format and argument are valid NUL-terminated strings.
            unsafe { libc::syslog(self.priority, c"%s".as_ptr(), c.as_ptr()) };
        }
    }
}

impl<'a> MakeWriter<'a> for SyslogWriter {
    type Writer = SyslogLine;

    fn make_writer(&'a self) -> SyslogLine {
        SyslogLine {
            buf: Vec::new(),
            priority: libc::LOG_INFO,
        }
    }

    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> SyslogLine {
        let priority = match *meta.level() {
            tracing::Level::ERROR => libc::LOG_ERR,
            tracing::Level::WARN => libc::LOG_WARNING,
            tracing::Level::INFO => libc::LOG_INFO,
            _ => libc::LOG_DEBUG,
        };
        SyslogLine {
            buf: Vec::new(),
            priority,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(a: &str) -> Options {
        match crate::args::parse(a.split_whitespace()) {
            Ok(crate::args::Cmd::Run(o)) => *o,
            other => panic!("{a}: {other:?}"),
        }
    }

    #[test]
    fn sinks_follow_the_command_line() {
        let plain = |a: &str| Sinks::choose(&opts(a), None, None);
        let s = plain("--logfile /l --stderrlog");
        assert_eq!(
            s,
            Sinks {
                stderr: true,
                file: Some("/l".into()),
                file_no_time: false,
                file_truncate: false,
                syslog: false,
                journal: None,
            }
        );
        let s = plain("--logfile /l --nofork");
        assert!(!s.stderr && !s.syslog && s.file.is_some());
        let s = plain("--nofork");
        assert!(s.stderr && !s.syslog && s.file.is_none());
        let s = plain("--stderrlog");
        assert!(s.stderr && !s.syslog);
        let s = plain("");
        assert!(!s.stderr && s.syslog && s.file.is_none() && s.journal.is_none());
    }

    #[test]
    fn journald_replaces_syslog_and_a_journal_stderr_but_not_explicit_sinks() {
        let j = || Some(PathBuf::from(journal::JOURNAL_SOCKET));
        // Forked, journald there: the journal instead of syslog.
        let s = Sinks::choose(&opts(""), j(), None);
        assert!(!s.syslog && !s.stderr && s.journal == j());
        // --nofork under systemd with stderr to the journal: native entries.
        let s = Sinks::choose(&opts("--nofork"), j(), j());
        assert!(!s.stderr && !s.syslog && s.journal == j());
        // --nofork, journald there but stderr elsewhere: stderr as asked.
        let s = Sinks::choose(&opts("--nofork"), j(), None);
        assert!(s.stderr && s.journal.is_none());
        // --stderrlog and --logfile are kept as they are.
        let s = Sinks::choose(&opts("--stderrlog --nofork"), j(), j());
        assert!(s.stderr && s.journal.is_none());
        let s = Sinks::choose(&opts("--logfile /l"), j(), j());
        assert!(s.file.is_some() && s.journal.is_none() && !s.syslog);
    }

    #[test]
    fn log_no_append_empties_the_file_and_log_no_time_is_carried() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pluto.log");
        std::fs::write(&path, "an old line\n").unwrap();
        truncate(&path).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "");
        let s = Sinks::from_options(&opts(&format!(
            "--logfile {} --log-no-time --log-no-append",
            path.display()
        )));
        assert!(s.file_no_time && s.file_truncate);
    }

    #[test]
    fn reopen_follows_a_rotated_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pluto.log");
        let f = LogFile::open(&path).unwrap();
        f.make_writer().write_all(b"before\n").unwrap();
        let rotated = dir.path().join("pluto.log.1");
        std::fs::rename(&path, &rotated).unwrap();
        f.make_writer().write_all(b"still old\n").unwrap();
        f.reopen().unwrap();
        f.make_writer().write_all(b"after\n").unwrap();
        assert_eq!(
            std::fs::read_to_string(&rotated).unwrap(),
            "before\nstill old\n"
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "after\n");
    }

    #[test]
    fn unopenable_log_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("no/such/dir/pluto.log");
        let e = LogFile::open(&path).unwrap_err().to_string();
        assert!(e.starts_with("cannot open log file \""), "{e}");
        assert!(e.contains("no/such/dir/pluto.log"), "{e}");
        // A failed reopen keeps the old file.
        let ok = dir.path().join("ok.log");
        let f = LogFile::open(&ok).unwrap();
        std::fs::remove_file(&ok).unwrap();
        std::fs::create_dir(&ok).unwrap();
        assert!(f.reopen().is_err());
        f.make_writer().write_all(b"kept\n").unwrap();
    }
}
