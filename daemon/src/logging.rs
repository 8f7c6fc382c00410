//! Where pluto's log goes: standard error (`--stderrlog`, or `--nofork` without
//! `--logfile`), a file (`--logfile`), or syslog (the default for a forked daemon).
//! Debug lines appear only while a debug class is enabled (`--debug`, or whack
//! `--debug` at run time).

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::Mutex;

use tracing::level_filters::LevelFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, reload, Registry};

/// Where to log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sink {
    /// Standard error.
    Stderr,
    /// Append to a file.
    File(std::path::PathBuf),
    /// syslog(3), facility daemon.
    Syslog,
}

/// Switches debug logging on or off after start.
pub type LevelSwitch = Box<dyn Fn(bool) + Send>;

/// Installs the global subscriber. Returns the switch for debug logging.
pub fn init(sink: &Sink) -> std::io::Result<LevelSwitch> {
    let (filter, handle) = reload::Layer::new(LevelFilter::INFO);
    let base = Registry::default().with(filter);
    match sink {
        Sink::Stderr => base
            .with(
                fmt::layer()
                    .with_writer(std::io::stderr)
                    .with_target(false)
                    .with_ansi(std::io::stderr().is_terminal())
                    .without_time(),
            )
            .init(),
        Sink::File(p) => {
            let f = open_append(p)?;
            base.with(
                fmt::layer()
                    .with_writer(Mutex::new(f))
                    .with_target(false)
                    .with_ansi(false),
            )
            .init()
        }
        Sink::Syslog => {
            // SAFETY: the ident is a static NUL-terminated string, as openlog requires.
            unsafe {
                libc::openlog(
                    c"pluto".as_ptr(),
                    libc::LOG_PID | libc::LOG_NDELAY,
                    libc::LOG_DAEMON,
                )
            };
            base.with(
                fmt::layer()
                    .with_writer(SyslogWriter)
                    .with_target(false)
                    .with_level(false)
                    .with_ansi(false)
                    .without_time(),
            )
            .init()
        }
    }
    Ok(Box::new(move |debug: bool| {
        let level = if debug {
            LevelFilter::DEBUG
        } else {
            LevelFilter::INFO
        };
        if let Err(e) = handle.modify(|f| *f = level) {
            eprintln!("pluto: cannot change log level: {e}");
        }
    }))
}

fn open_append(p: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(p)
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
