//! systemd's service notification protocol (sd_notify(3)), without libsystemd:
//! one datagram of `KEY=VALUE` lines to the socket `$NOTIFY_SOCKET` names. pluto
//! sends `READY=1` once it serves whack, `STATUS=...` with what it holds,
//! `STOPPING=1` when it begins to shut down, and `WATCHDOG=1` from its main loop
//! at half the `WatchdogSec=` systemd asked for (`$WATCHDOG_USEC`), so a main loop
//! that stops turning gets pluto restarted.
//!
//! Outside systemd (no `$NOTIFY_SOCKET`) nothing is sent. A failed send is logged
//! once and not retried: the service manager's socket is not pluto's to fix.

use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

/// Where notifications go, when pluto runs under a service manager.
#[derive(Debug)]
pub struct Notifier {
    sock: UnixDatagram,
    to: SocketAddr,
    watchdog: Option<Duration>,
    failed: bool,
}

impl Notifier {
    /// The notifier `$NOTIFY_SOCKET` asks for (a path, or `@name` for Linux's
    /// abstract namespace), with the watchdog interval from `$WATCHDOG_USEC` when
    /// `$WATCHDOG_PID` is unset or names this process. `None` outside systemd.
    pub fn from_env() -> Option<Notifier> {
        let path = std::env::var_os("NOTIFY_SOCKET")?;
        let path = path.to_string_lossy().into_owned();
        let watchdog = watchdog_interval(
            std::env::var("WATCHDOG_USEC").ok().as_deref(),
            std::env::var("WATCHDOG_PID").ok().as_deref(),
            std::process::id(),
        );
        match Self::to(&path, watchdog) {
            Ok(n) => Some(n),
            Err(e) => {
                tracing::warn!("NOTIFY_SOCKET={path}: {e}; systemd will not hear from pluto");
                None
            }
        }
    }

    fn to(path: &str, watchdog: Option<Duration>) -> std::io::Result<Notifier> {
        let to = match path.strip_prefix('@') {
            Some(name) => {
                use std::os::linux::net::SocketAddrExt;
                SocketAddr::from_abstract_name(name.as_bytes())?
            }
            None => SocketAddr::from_pathname(path)?,
        };
        Ok(Notifier {
            sock: UnixDatagram::unbound()?,
            to,
            watchdog,
            failed: false,
        })
    }

    /// How often the main loop should send `WATCHDOG=1`: half of `WatchdogSec=`.
    pub fn watchdog(&self) -> Option<Duration> {
        self.watchdog
    }

    /// Sends `lines` (`KEY=VALUE`, one per line) as one notification.
    pub fn send(&mut self, lines: &str) {
        if let Err(e) = self.sock.send_to_addr(lines.as_bytes(), &self.to) {
            if !self.failed {
                tracing::warn!("cannot notify systemd ({e}); further failures are not logged");
                self.failed = true;
            }
        }
    }
}

/// Half of `$WATCHDOG_USEC` (systemd's advice), if it is set for this process.
fn watchdog_interval(usec: Option<&str>, pid: Option<&str>, me: u32) -> Option<Duration> {
    if let Some(pid) = pid {
        if pid.trim().parse::<u32>().ok() != Some(me) {
            return None;
        }
    }
    let usec: u64 = usec?.trim().parse().ok().filter(|&u| u > 0)?;
    Some(Duration::from_micros(usec / 2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watchdog_interval_is_half_for_this_process_only() {
        assert_eq!(
            watchdog_interval(Some("30000000"), None, 7),
            Some(Duration::from_secs(15))
        );
        assert_eq!(
            watchdog_interval(Some("30000000"), Some("7"), 7),
            Some(Duration::from_secs(15))
        );
        assert_eq!(watchdog_interval(Some("30000000"), Some("8"), 7), None);
        assert_eq!(watchdog_interval(Some("0"), None, 7), None);
        assert_eq!(watchdog_interval(Some("soon"), None, 7), None);
        assert_eq!(watchdog_interval(None, None, 7), None);
    }

    #[test]
    fn notifications_reach_a_path_and_an_abstract_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let rx = UnixDatagram::bind(&path).unwrap();
        let mut n = Notifier::to(path.to_str().unwrap(), None).unwrap();
        n.send("READY=1\nSTATUS=ready\n");
        let mut buf = [0u8; 64];
        let len = rx.recv(&mut buf).unwrap();
        assert_eq!(&buf[..len], b"READY=1\nSTATUS=ready\n");

        use std::os::linux::net::SocketAddrExt;
        let name = format!("pluto-rs-test-{}", std::process::id());
        let addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let rx = UnixDatagram::bind_addr(&addr).unwrap();
        let mut n = Notifier::to(&format!("@{name}"), None).unwrap();
        n.send("WATCHDOG=1\n");
        let len = rx.recv(&mut buf).unwrap();
        assert_eq!(&buf[..len], b"WATCHDOG=1\n");
    }
}
