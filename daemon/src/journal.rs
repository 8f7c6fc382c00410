//! Logging to the systemd journal in its native protocol, with pluto's structured
//! fields, used in place of syslog (and of the plain stderr stream of a
//! `--nofork` service) when journald is there ([`detect`]).
//!
//! Why speak the protocol here rather than through `tracing-journald`: the
//! protocol is small and documented (one datagram per entry to
//! `/run/systemd/journal/socket`, `KEY=value\n` per field, or `KEY\n`, a 64-bit
//! little-endian length and the raw bytes when the value holds a newline), and
//! pluto needs two things that crate does not do: libreswan's priorities and
//! fields parsed out of libreswan-style message prefixes (pluto's log lines carry
//! `"conn"[2] 192.0.2.2 #3: ...` in their text, not as tracing fields, because
//! whack shows the same lines). It also keeps a dependency out of the daemon.
//!
//! Each entry has `MESSAGE` (the whole line, as the other sinks write it),
//! `PRIORITY` (errors 3, warnings 4, log lines 6, debug 7), `SYSLOG_IDENTIFIER=pluto`,
//! `CODE_FILE`/`CODE_LINE` when known and, when the event carries them as fields
//! (`connection`, `serial`, `peer`) or its text starts with the prefix,
//! `PLUTO_CONNECTION` (the name, without quotes), `PLUTO_INSTANCE` (the `N` of
//! `"rw"[N]`), `PLUTO_PEER` (the instance's peer address) and `PLUTO_SERIAL` (the
//! number of `#N`), so `journalctl PLUTO_CONNECTION=west-east` lists one
//! connection's lines. Secrets never reach any log line, so none reach the journal.

use std::fmt::Write as _;
use std::io;
use std::net::IpAddr;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::Layer;

/// journald's native socket.
pub const JOURNAL_SOCKET: &str = "/run/systemd/journal/socket";

/// A message longer than this is cut (marked `[truncated]`) when the whole entry
/// does not fit in one datagram; pluto's lines are far shorter.
const TRUNCATE_AT: usize = 32 * 1024;

/// What [`detect`] looks at, gathered so the rule can be tested without systemd.
#[derive(Debug, Clone, Default)]
pub struct Environment {
    /// `$JOURNAL_STREAM` (`DEV:INODE`, set by systemd when stdout/stderr go to
    /// the journal).
    pub journal_stream: Option<String>,
    /// fstat(2) of descriptor 2: `(st_dev, st_ino)`.
    pub stderr: Option<(u64, u64)>,
    /// `$INVOCATION_ID` is set: pluto runs as a systemd unit.
    pub invocation_id: bool,
    /// The journal socket exists.
    pub socket_exists: bool,
}

impl Environment {
    /// This process's environment.
    pub fn current() -> Environment {
        Environment {
            journal_stream: std::env::var("JOURNAL_STREAM").ok(),
            stderr: stderr_identity(),
            invocation_id: std::env::var_os("INVOCATION_ID").is_some_and(|v| !v.is_empty()),
            socket_exists: Path::new(JOURNAL_SOCKET).exists(),
        }
    }

    /// systemd's documented rule: stderr is connected to the journal when
    /// `$JOURNAL_STREAM` names the device and inode of descriptor 2 (a child that
    /// inherited the variable with another stderr does not match).
    pub fn stderr_is_journal(&self) -> bool {
        let (Some(stream), Some(fd2)) = (&self.journal_stream, self.stderr) else {
            return false;
        };
        let Some((dev, ino)) = stream.split_once(':') else {
            return false;
        };
        match (dev.parse::<u64>(), ino.parse::<u64>()) {
            (Ok(dev), Ok(ino)) => (dev, ino) == fd2,
            _ => false,
        }
    }

    /// Whether journald is there: stderr goes to it, or pluto runs under systemd
    /// and journald's socket exists.
    pub fn journald_present(&self) -> bool {
        self.stderr_is_journal() || (self.invocation_id && self.socket_exists)
    }
}

fn stderr_identity() -> Option<(u64, u64)> {
    // SAFETY: an all-zero stat is a valid value to be overwritten by fstat.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fstat on descriptor 2 writes into our stat only.
    if unsafe { libc::fstat(2, &mut st) } != 0 {
        return None;
    }
    #[allow(clippy::unnecessary_cast)] // the field types differ between targets
    Some((st.st_dev as u64, st.st_ino as u64))
}

/// The journal socket to log to when journald is there.
pub fn detect() -> Option<PathBuf> {
    Environment::current()
        .journald_present()
        .then(|| PathBuf::from(JOURNAL_SOCKET))
}

/// Why the journal sink could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("cannot create a socket for the journal: {0}")]
pub struct JournalError(#[source] io::Error);

/// The tracing layer sending each event to journald at `socket`.
#[derive(Debug)]
pub struct JournalLayer {
    socket: PathBuf,
    sock: UnixDatagram,
}

impl JournalLayer {
    /// A layer sending to `socket` (journald's [`JOURNAL_SOCKET`], or a test's).
    pub fn new(socket: PathBuf) -> Result<JournalLayer, JournalError> {
        let sock = UnixDatagram::unbound().map_err(JournalError)?;
        Ok(JournalLayer { socket, sock })
    }

    fn send(&self, entry: &[u8]) -> io::Result<()> {
        self.sock.send_to(entry, &self.socket).map(drop)
    }
}

impl<S: Subscriber> Layer<S> for JournalLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let meta = event.metadata();
        let priority = priority(*meta.level());
        let code = meta.file().zip(meta.line());
        let entry = encode(&fields, priority, code, usize::MAX);
        let sent = match self.send(&entry) {
            Err(e) if e.raw_os_error() == Some(libc::EMSGSIZE) => {
                self.send(&encode(&fields, priority, code, TRUNCATE_AT))
            }
            r => r,
        };
        if sent.is_err() {
            // journald is gone (restarting): the line goes to syslog, which
            // journald reads too once back, rather than nowhere.
            syslog(priority, &fields.message);
        }
    }
}

/// libreswan's priorities: errors 3, log lines 6, debug 7; tracing's warnings
/// are syslog's warnings (4), as in the syslog sink.
pub fn priority(level: Level) -> u8 {
    match level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        _ => 7,
    }
}

fn syslog(priority: u8, text: &str) {
    let clean: Vec<u8> = text.bytes().filter(|&b| b != 0).collect();
    if let Ok(c) = std::ffi::CString::new(clean) {
        // SAFETY: both format and argument are valid NUL-terminated strings.
        unsafe {
            libc::syslog(
                libc::LOG_DAEMON | libc::c_int::from(priority),
                c"%s".as_ptr(),
                c.as_ptr(),
            )
        };
    }
}

/// An event's text and pluto's fields.
#[derive(Debug, Default)]
struct Fields {
    message: String,
    connection: Option<String>,
    serial: Option<String>,
    peer: Option<String>,
    /// Other fields, appended to the message as `name=value` as the text sinks do.
    rest: String,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, value.to_string());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.put(field, format!("{value:?}"));
    }
}

impl Fields {
    fn put(&mut self, field: &Field, value: String) {
        match field.name() {
            "message" => self.message = value,
            "connection" => self.connection = Some(value),
            "serial" => self.serial = Some(value.trim_start_matches('#').to_string()),
            "peer" => self.peer = Some(value),
            name => {
                let _ = write!(self.rest, " {name}={value}");
            }
        }
    }
}

/// The fields a libreswan-style line starts with: `"conn"`, `"conn"[N] ADDR`,
/// either followed by ` #SERIAL`, or a lone `#SERIAL`, then `:` or a blank.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Prefix<'a> {
    /// The connection's name, without quotes.
    pub connection: Option<&'a str>,
    /// The `N` of an instance `"name"[N]`.
    pub instance: Option<&'a str>,
    /// The peer address of an instance.
    pub peer: Option<IpAddr>,
    /// The SA serial's number.
    pub serial: Option<&'a str>,
}

/// Parses the prefix of `line`; fields not there are `None` (a line without
/// a prefix gives all `None`).
pub fn parse_prefix(line: &str) -> Prefix<'_> {
    let mut p = Prefix::default();
    let mut rest = line;
    if let Some(after) = rest.strip_prefix('"') {
        let Some(end) = after.find('"') else {
            return Prefix::default();
        };
        p.connection = Some(&after[..end]);
        rest = &after[end + 1..];
        if let Some(inst) = rest.strip_prefix('[') {
            if let Some(close) = inst.find(']') {
                let n = &inst[..close];
                if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) {
                    p.instance = Some(n);
                    rest = &inst[close + 1..];
                    if let Some(addr) = rest.strip_prefix(' ') {
                        // An IPv6 address holds colons: the word up to a blank,
                        // without the `:` that may end the prefix.
                        let word = addr.split(' ').next().unwrap_or("");
                        let word = match word.parse::<IpAddr>() {
                            Ok(_) => word,
                            Err(_) => word.strip_suffix(':').unwrap_or(word),
                        };
                        if let Ok(ip) = word.parse::<IpAddr>() {
                            p.peer = Some(ip);
                            rest = &addr[word.len()..];
                        }
                    }
                }
            }
        }
        rest = rest.strip_prefix(' ').unwrap_or(rest);
    }
    if let Some(s) = rest.strip_prefix('#') {
        let digits = s.bytes().take_while(u8::is_ascii_digit).count();
        let after = &s[digits..];
        if digits > 0 && (after.is_empty() || after.starts_with([':', ' '])) {
            p.serial = Some(&s[..digits]);
        }
    }
    p
}

/// One journal entry in the native protocol. `limit` cuts a longer message.
fn encode(f: &Fields, priority: u8, code: Option<(&str, u32)>, limit: usize) -> Vec<u8> {
    let mut message = format!("{}{}", f.message, f.rest);
    if message.len() > limit {
        let mut cut = limit;
        while !message.is_char_boundary(cut) {
            cut -= 1;
        }
        message.truncate(cut);
        message.push_str(" [truncated]");
    }
    let prefix = parse_prefix(&f.message);
    let mut out = Vec::with_capacity(message.len() + 128);
    field(&mut out, "MESSAGE", message.as_bytes());
    field(&mut out, "PRIORITY", priority.to_string().as_bytes());
    field(&mut out, "SYSLOG_IDENTIFIER", b"pluto");
    if let Some((file, line)) = code {
        field(&mut out, "CODE_FILE", file.as_bytes());
        field(&mut out, "CODE_LINE", line.to_string().as_bytes());
    }
    if let Some(c) = f.connection.as_deref().or(prefix.connection) {
        field(&mut out, "PLUTO_CONNECTION", c.as_bytes());
    }
    if let Some(i) = prefix.instance {
        field(&mut out, "PLUTO_INSTANCE", i.as_bytes());
    }
    let peer = f.peer.clone().or(prefix.peer.map(|a| a.to_string()));
    if let Some(a) = peer {
        field(&mut out, "PLUTO_PEER", a.as_bytes());
    }
    if let Some(s) = f.serial.as_deref().or(prefix.serial) {
        field(&mut out, "PLUTO_SERIAL", s.as_bytes());
    }
    out
}

/// Appends one field: `KEY=value\n`, or for a value with a newline the binary
/// form `KEY\n`, the value's length as 64-bit little endian, the value, `\n`.
fn field(out: &mut Vec<u8>, key: &str, value: &[u8]) {
    out.extend_from_slice(key.as_bytes());
    if value.contains(&b'\n') {
        out.push(b'\n');
        out.extend_from_slice(&(value.len() as u64).to_le_bytes());
    } else {
        out.push(b'=');
    }
    out.extend_from_slice(value);
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::time::Duration;
    use tracing_subscriber::layer::SubscriberExt;

    /// Decodes a native-protocol datagram as journald does.
    fn decode(mut b: &[u8]) -> BTreeMap<String, Vec<u8>> {
        let mut m = BTreeMap::new();
        while !b.is_empty() {
            let nl = b.iter().position(|&c| c == b'\n').expect("field ends");
            let line = &b[..nl];
            if let Some(eq) = line.iter().position(|&c| c == b'=') {
                let key = String::from_utf8(line[..eq].to_vec()).unwrap();
                m.insert(key, line[eq + 1..].to_vec());
                b = &b[nl + 1..];
            } else {
                let key = String::from_utf8(line.to_vec()).unwrap();
                let rest = &b[nl + 1..];
                let len = u64::from_le_bytes(rest[..8].try_into().unwrap()) as usize;
                m.insert(key, rest[8..8 + len].to_vec());
                assert_eq!(rest[8 + len], b'\n');
                b = &rest[8 + len + 1..];
            }
        }
        m
    }

    fn text(m: &BTreeMap<String, Vec<u8>>, k: &str) -> Option<String> {
        m.get(k).map(|v| String::from_utf8(v.clone()).unwrap())
    }

    /// Logs through a layer bound to a socket in a tempdir; returns the entries.
    fn capture(log: impl FnOnce()) -> Vec<BTreeMap<String, Vec<u8>>> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("socket");
        let server = UnixDatagram::bind(&path).unwrap();
        server
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let layer = JournalLayer::new(path).unwrap();
        let sub = tracing_subscriber::registry()
            .with(tracing::level_filters::LevelFilter::DEBUG)
            .with(layer);
        tracing::subscriber::with_default(sub, log);
        server.set_nonblocking(true).unwrap();
        let mut out = Vec::new();
        let mut buf = vec![0u8; 65536];
        while let Ok(n) = server.recv(&mut buf) {
            out.push(decode(&buf[..n]));
        }
        out
    }

    #[test]
    fn entries_carry_message_priority_identifier_and_prefix_fields() {
        let got = capture(|| {
            tracing::info!("\"west-east\" #1: initiating IKEv2 connection");
            tracing::error!("\"rw\"[2] 192.0.2.2 #3: negotiation failed: AUTHENTICATION_FAILED");
            tracing::debug!("plain debug line");
            tracing::warn!("\"a=b\": cannot restart: no route");
        });
        assert_eq!(got.len(), 4, "{got:?}");
        let e = &got[0];
        assert_eq!(
            text(e, "MESSAGE").as_deref(),
            Some("\"west-east\" #1: initiating IKEv2 connection")
        );
        assert_eq!(text(e, "PRIORITY").as_deref(), Some("6"));
        assert_eq!(text(e, "SYSLOG_IDENTIFIER").as_deref(), Some("pluto"));
        assert_eq!(text(e, "PLUTO_CONNECTION").as_deref(), Some("west-east"));
        assert_eq!(text(e, "PLUTO_SERIAL").as_deref(), Some("1"));
        assert_eq!(text(e, "PLUTO_PEER"), None);
        assert!(text(e, "CODE_FILE").unwrap().ends_with("journal.rs"));
        let e = &got[1];
        assert_eq!(text(e, "PRIORITY").as_deref(), Some("3"));
        assert_eq!(text(e, "PLUTO_CONNECTION").as_deref(), Some("rw"));
        assert_eq!(text(e, "PLUTO_INSTANCE").as_deref(), Some("2"));
        assert_eq!(text(e, "PLUTO_PEER").as_deref(), Some("192.0.2.2"));
        assert_eq!(text(e, "PLUTO_SERIAL").as_deref(), Some("3"));
        let e = &got[2];
        assert_eq!(text(e, "PRIORITY").as_deref(), Some("7"));
        assert_eq!(text(e, "PLUTO_CONNECTION"), None);
        assert_eq!(text(e, "PLUTO_SERIAL"), None);
        let e = &got[3];
        assert_eq!(text(e, "PRIORITY").as_deref(), Some("4"));
        assert_eq!(text(e, "PLUTO_CONNECTION").as_deref(), Some("a=b"));
    }

    #[test]
    fn a_multi_line_message_uses_the_binary_length_form() {
        let got = capture(|| tracing::info!("\"c\" #7: first line\nsecond line"));
        assert_eq!(got.len(), 1);
        assert_eq!(
            text(&got[0], "MESSAGE").as_deref(),
            Some("\"c\" #7: first line\nsecond line")
        );
        assert_eq!(text(&got[0], "PLUTO_SERIAL").as_deref(), Some("7"));
        // The raw datagram: the key alone on its line, then the length.
        let mut raw = Vec::new();
        field(&mut raw, "MESSAGE", b"a\nb");
        assert_eq!(raw, b"MESSAGE\n\x03\0\0\0\0\0\0\0a\nb\n");
    }

    #[test]
    fn event_fields_win_over_the_prefix_and_others_join_the_message() {
        let got = capture(|| {
            tracing::info!(
                connection = "east",
                serial = "#9",
                peer = "2001:db8::2",
                spi = 5,
                "\"west\" #1: text"
            )
        });
        let e = &got[0];
        assert_eq!(text(e, "PLUTO_CONNECTION").as_deref(), Some("east"));
        assert_eq!(text(e, "PLUTO_SERIAL").as_deref(), Some("9"));
        assert_eq!(text(e, "PLUTO_PEER").as_deref(), Some("2001:db8::2"));
        assert_eq!(
            text(e, "MESSAGE").as_deref(),
            Some("\"west\" #1: text spi=5")
        );
    }

    #[test]
    fn an_entry_too_big_for_a_datagram_is_truncated() {
        let f = Fields {
            message: "x".repeat(100),
            ..Fields::default()
        };
        let m = decode(&encode(&f, 6, None, 10));
        assert_eq!(
            text(&m, "MESSAGE").as_deref(),
            Some("xxxxxxxxxx [truncated]")
        );
    }

    #[test]
    fn prefixes() {
        let p = parse_prefix("\"rw\"[12] 2001:db8::9 #4: x");
        assert_eq!(p.connection, Some("rw"));
        assert_eq!(p.instance, Some("12"));
        assert_eq!(p.peer, Some("2001:db8::9".parse().unwrap()));
        assert_eq!(p.serial, Some("4"));
        let p = parse_prefix("\"rw\"[3] 2001:db8::9: x");
        assert_eq!(p.peer, Some("2001:db8::9".parse().unwrap()));
        let p = parse_prefix("\"rw\"[1] 192.0.2.9: instantiated for IKE SA #2");
        assert_eq!(p.peer, Some("192.0.2.9".parse().unwrap()));
        assert_eq!(p.serial, None);
        assert_eq!(parse_prefix("#5: dropping").serial, Some("5"));
        assert_eq!(parse_prefix("#5x: no").serial, None);
        assert_eq!(parse_prefix("\"unterminated"), Prefix::default());
        assert_eq!(parse_prefix("loaded 3 connections"), Prefix::default());
        assert_eq!(parse_prefix("\"c\": x").connection, Some("c"));
    }

    #[test]
    fn journald_is_there_when_stderr_matches_journal_stream_or_under_systemd() {
        let dir = tempfile::tempdir().unwrap();
        let f = std::fs::File::create(dir.path().join("f")).unwrap();
        let meta = std::os::unix::fs::MetadataExt::dev(&f.metadata().unwrap());
        let ino = std::os::unix::fs::MetadataExt::ino(&f.metadata().unwrap());
        let env = Environment {
            journal_stream: Some(format!("{meta}:{ino}")),
            stderr: Some((meta, ino)),
            ..Environment::default()
        };
        assert!(env.stderr_is_journal() && env.journald_present());
        // Inherited by a process whose stderr is elsewhere: no.
        let other = Environment {
            stderr: Some((meta, ino + 1)),
            ..env.clone()
        };
        assert!(!other.stderr_is_journal() && !other.journald_present());
        let garbage = Environment {
            journal_stream: Some("x:y".into()),
            ..env.clone()
        };
        assert!(!garbage.stderr_is_journal());
        // Under systemd with the socket; not with either alone.
        let unit = |invocation_id, socket_exists| Environment {
            invocation_id,
            socket_exists,
            ..Environment::default()
        };
        assert!(unit(true, true).journald_present());
        assert!(!unit(true, false).journald_present());
        assert!(!unit(false, true).journald_present());
    }
}
