//! The client and the server over a real Unix socket.

use std::os::unix::fs::PermissionsExt;

use control::client::{Client, ClientError};
use control::request::StatusKind;
use control::server::{Command, Server};
use control::{rc, Envelope, Request, Secret};
use tokio::sync::mpsc;

/// A tiny daemon: answers Listen with a comment, Status with an error 21, and
/// Initiate by prompting for a user name and a password and echoing the user.
async fn daemon(mut rx: mpsc::Receiver<Command>) {
    while let Some(Command {
        envelope,
        mut responder,
    }) = rx.recv().await
    {
        tokio::spawn(async move {
            for r in envelope.requests {
                match r {
                    Request::Listen => responder.comment("listening"),
                    Request::Status { .. } => responder.line(rc::UNKNOWN_NAME, "no such thing"),
                    Request::Initiate { .. } => {
                        let user = responder.prompt(rc::USERPROMPT, "XAUTH username:").await;
                        let pass = responder.prompt(rc::ENTERSECRET, "XAUTH password:").await;
                        responder.comment(format!(
                            "user={} pass-len={}",
                            user.as_ref().map(|s| s.expose()).unwrap_or("-"),
                            pass.as_ref().map(|s| s.expose().len()).unwrap_or(0)
                        ));
                    }
                    _ => responder.line(rc::WHACK_PROBLEM, "unexpected"),
                }
            }
        });
    }
}

fn start() -> (
    tempfile::TempDir,
    std::path::PathBuf,
    tokio::runtime::Runtime,
) {
    start_serving(control::server::MAX_CLIENTS)
}

/// [`start`] with at most `max_clients` whacks served at once.
fn start_serving(
    max_clients: usize,
) -> (
    tempfile::TempDir,
    std::path::PathBuf,
    tokio::runtime::Runtime,
) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pluto.ctl");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt
        .block_on(async { Server::bind(&path) })
        .unwrap()
        .with_max_clients(max_clients);
    let (tx, rx) = mpsc::channel(8);
    rt.spawn(server.run(tx));
    rt.spawn(daemon(rx));
    (dir, path, rt)
}

/// Sends one `--listen` as whack does: its exit status and the lines received.
fn listen(path: &std::path::Path) -> (u32, Vec<(u32, String)>) {
    let mut lines = Vec::new();
    let status = control::client::exchange(
        path,
        &Envelope::new(vec![Request::Listen]),
        |c, t| lines.push((c, t.to_string())),
        |_, _| None,
    )
    .unwrap();
    (status, lines)
}

#[test]
fn socket_mode_is_0600_and_second_bind_is_refused() {
    let (_dir, path, rt) = start();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let again = rt.block_on(async { Server::bind(&path) });
    assert!(again.unwrap_err().to_string().contains("in use"));
}

#[test]
fn lines_stream_and_status_is_last_error() {
    let (_dir, path, _rt) = start();
    let mut lines = Vec::new();
    let status = control::client::exchange(
        &path,
        &Envelope::new(vec![
            Request::Listen,
            Request::Status {
                what: StatusKind::Brief,
            },
            Request::Listen,
        ]),
        |c, t| lines.push((c, t.to_string())),
        |_, _| None,
    )
    .unwrap();
    assert_eq!(status, rc::UNKNOWN_NAME);
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0], (0, "listening".to_string()));
}

#[test]
fn prompts_are_answered() {
    let (_dir, path, _rt) = start();
    let mut prompts = Vec::new();
    let mut lines = Vec::new();
    let status = control::client::exchange(
        &path,
        &Envelope::new(vec![Request::Initiate {
            name: "x".into(),
            remote_host: None,
            xauth_user: None,
            xauth_pass: None,
            asynchronous: false,
        }]),
        |_, t| lines.push(t.to_string()),
        |c, t| {
            prompts.push((c, t.to_string()));
            Some(Secret::new(if c == rc::USERPROMPT {
                "alice"
            } else {
                "pw"
            }))
        },
    )
    .unwrap();
    assert_eq!(status, 0);
    assert_eq!(prompts[0], (41, "XAUTH username:".to_string()));
    assert_eq!(prompts[1].0, 40);
    assert_eq!(lines, vec!["user=alice pass-len=2".to_string()]);
}

#[test]
fn other_version_gets_clear_error_and_server_survives() {
    let (_dir, path, _rt) = start();
    let mut c = Client::connect(&path).unwrap();
    c.send_raw(b"{\"version\":99,\"requests\":[{\"op\":\"warp\"}]}\n")
        .unwrap();
    let mut lines = Vec::new();
    let status = c
        .stream_reply(|code, t| lines.push((code, t.to_string())), |_, _| None)
        .unwrap();
    assert_eq!(status, rc::BADWHACKMESSAGE);
    assert_eq!(
        lines[0].1,
        "whack protocol version 99 not supported by pluto (speaks 1)"
    );
    // Garbage, then a good request on a fresh connection.
    let mut c = Client::connect(&path).unwrap();
    c.send_raw(b"\x00\x01garbage\n").unwrap();
    assert_eq!(c.stream_reply(|_, _| {}, |_, _| None).unwrap(), 50);
    let status = control::client::exchange(
        &path,
        &Envelope::new(vec![Request::Listen]),
        |_, _| {},
        |_, _| None,
    )
    .unwrap();
    assert_eq!(status, 0);
}

#[test]
fn no_daemon_is_a_connect_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = Client::connect(&dir.path().join("nope.ctl")).unwrap_err();
    assert!(matches!(err, ClientError::Connect { .. }));
    assert!(err.to_string().contains("pluto is not running"));
}

#[test]
fn requests_after_daemon_stopped_are_refused_not_silent() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pluto.ctl");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt.block_on(async { Server::bind(&path) }).unwrap();
    let (tx, rx) = mpsc::channel(1);
    drop(rx);
    rt.spawn(server.run(tx));
    let (status, lines) = listen(&path);
    assert_eq!(status, rc::WHACK_PROBLEM);
    assert_eq!(
        lines[0].1,
        "pluto is shutting down; request not carried out"
    );
}

/// Beyond the cap a whack connection is answered "too many" and closed at once; a
/// freed slot serves the next one.
#[test]
fn connections_beyond_the_cap_are_refused_with_a_line() {
    let (_dir, path, _rt) = start_serving(2);
    // Two idle clients (connected, no request yet) take both slots.
    let a = std::os::unix::net::UnixStream::connect(&path).unwrap();
    let b = std::os::unix::net::UnixStream::connect(&path).unwrap();
    // The server takes them in order; give it a moment to have accepted both.
    std::thread::sleep(std::time::Duration::from_millis(200));
    let (status, lines) = listen(&path);
    assert_eq!(status, rc::WHACK_PROBLEM);
    assert!(
        lines[0]
            .1
            .starts_with("pluto is already serving 2 whack connections"),
        "{lines:?}"
    );
    drop(a);
    drop(b);
    std::thread::sleep(std::time::Duration::from_millis(200));
    let (status, lines) = listen(&path);
    assert_eq!(status, 0, "{lines:?}");
    assert_eq!(lines, vec![(rc::COMMENT, "listening".to_string())]);
}

#[test]
fn eacces_on_connect_means_not_root() {
    let e = ClientError::connect(
        std::path::Path::new("/run/pluto/pluto.ctl"),
        std::io::Error::from(std::io::ErrorKind::PermissionDenied),
    );
    assert_eq!(
        e.to_string(),
        "permission denied: pluto's control socket \"/run/pluto/pluto.ctl\" is root-only (run whack as root)"
    );
    let e = ClientError::connect(
        std::path::Path::new("/run/pluto/pluto.ctl"),
        std::io::Error::from(std::io::ErrorKind::NotFound),
    );
    assert!(e.to_string().starts_with("pluto is not running"), "{e}");
}

/// An oversized request is answered with status 50 before the close, not just cut.
#[test]
fn oversized_request_gets_an_error_reply() {
    use std::io::{BufRead, Write};
    let (_dir, path, _rt) = start();
    let stream = std::os::unix::net::UnixStream::connect(&path).unwrap();
    let mut w = stream.try_clone().unwrap();
    let writer = std::thread::spawn(move || {
        // No newline within the limit; the server stops reading after it.
        let junk = vec![b'x'; control::wire::MAX_LINE + 4096];
        let _ = w.write_all(&junk);
    });
    let mut lines = Vec::new();
    for l in std::io::BufReader::new(stream).lines() {
        match l {
            Ok(l) => lines.push(l),
            Err(_) => break,
        }
    }
    let _ = writer.join();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[0].contains("\"code\":50"), "{lines:?}");
    assert!(lines[0].contains("longer than"), "{lines:?}");
    assert!(lines[1].contains("\"type\":\"done\""), "{lines:?}");
}

/// A whack that goes away frees its slot at once, even while the daemon keeps the
/// request (here: one that never answers).
#[test]
fn a_whack_that_went_away_frees_its_slot() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pluto.ctl");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt
        .block_on(async { Server::bind(&path) })
        .unwrap()
        .with_max_clients(1);
    let (tx, mut rx) = mpsc::channel::<Command>(8);
    rt.spawn(server.run(tx));
    // A daemon that holds every request and never answers.
    rt.spawn(async move {
        let mut held = Vec::new();
        while let Some(c) = rx.recv().await {
            held.push(c);
        }
    });
    for _ in 0..3 {
        let mut c = Client::connect(&path).unwrap();
        c.send(&Envelope::new(vec![Request::Listen])).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(100));
        drop(c);
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // The slot is free again: this one is taken (not refused) and held too, so
    // nothing comes back.
    use std::io::{Read, Write};
    let mut raw = std::os::unix::net::UnixStream::connect(&path).unwrap();
    raw.write_all(&control::wire::encode_line(&Envelope::new(vec![Request::Listen])).unwrap())
        .unwrap();
    raw.set_read_timeout(Some(std::time::Duration::from_millis(300)))
        .unwrap();
    let mut buf = [0u8; 256];
    let err = raw.read(&mut buf).unwrap_err();
    assert!(
        matches!(
            err.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
        "{err}"
    );
}
