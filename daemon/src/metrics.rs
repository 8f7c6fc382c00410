//! `metrics-listen=ADDR:PORT` (`--metrics-listen`): pluto's counters in
//! Prometheus' text format over HTTP on a loopback address.
//!
//! Only loopback addresses are taken: the counters name connections and peers,
//! and an exporter or a scraper on the host is all that needs them (anything
//! further goes through a proxy that adds TLS and authentication). The server is
//! a task on the daemon's runtime that never touches pluto's state: for each
//! `GET /metrics` it asks the main loop for the text over a channel, as the
//! control server hands whack requests over, and the main loop builds it between
//! two inputs (a kernel counter read, then the same documents and formatter as
//! `ipsec metrics`). A client is bounded in time ([`READ_TIMEOUT`] for the
//! request, [`WRITE_TIMEOUT`] for the answer), in size ([`MAX_REQUEST`]) and in
//! number ([`MAX_CLIENTS`] at once; more are closed at once), so a slow or
//! hostile one cannot hold pluto or its memory.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, Semaphore};

use crate::pluto::Pluto;

/// Most clients served at once.
pub const MAX_CLIENTS: usize = 8;
/// Most bytes of a request's head read before it is refused.
pub const MAX_REQUEST: usize = 8 * 1024;
/// How long a client has to send its request.
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the answer may take to build and send.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// A request for the metrics text, answered by the main loop.
pub type Ask = oneshot::Sender<String>;

/// Why `metrics-listen` cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// Not `ADDR:PORT` (IPv6 in brackets).
    #[error("--metrics-listen: \"{0}\" is not ADDR:PORT (e.g. 127.0.0.1:9100 or [::1]:9100)")]
    Syntax(String),
    /// Not a loopback address.
    #[error("--metrics-listen: {0} is not a loopback address (127.0.0.0/8 or ::1); the metrics name connections and peers, so pluto serves them to this host only")]
    NotLoopback(IpAddr),
    /// Port 0.
    #[error("--metrics-listen: port 0 is not a port to scrape; give one (e.g. 9100)")]
    PortZero,
    /// The address cannot be bound.
    #[error("--metrics-listen: cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// Parses `ADDR:PORT`, taking loopback addresses only.
pub fn parse_listen(v: &str) -> Result<SocketAddr, MetricsError> {
    let a: SocketAddr = v
        .trim()
        .parse()
        .map_err(|_| MetricsError::Syntax(v.to_string()))?;
    if !a.ip().is_loopback() {
        return Err(MetricsError::NotLoopback(a.ip()));
    }
    if a.port() == 0 {
        return Err(MetricsError::PortZero);
    }
    Ok(a)
}

/// Binds the listener (at start, so a taken port stops the start).
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, MetricsError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| MetricsError::Bind { addr, source })
}

/// A parsed request line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestLine {
    /// The method.
    pub method: String,
    /// The path, without a query.
    pub path: String,
}

/// Why a request is answered with an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// Not `METHOD PATH HTTP/1.x`.
    #[error("bad request")]
    Bad,
    /// The head exceeds [`MAX_REQUEST`].
    #[error("request too large")]
    TooLarge,
    /// An HTTP version other than 1.0 and 1.1.
    #[error("HTTP version not supported")]
    Version,
}

/// Where the request's head ends (after the blank line), if it is complete.
fn head_end(buf: &[u8]) -> Option<usize> {
    let crlf = buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4);
    let lf = buf.windows(2).position(|w| w == b"\n\n").map(|i| i + 2);
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Parses a complete request head (the request line; headers are not needed).
pub fn parse_request(head: &[u8]) -> Result<RequestLine, RequestError> {
    let line_end = head
        .iter()
        .position(|&b| b == b'\n')
        .ok_or(RequestError::Bad)?;
    let line = std::str::from_utf8(&head[..line_end]).map_err(|_| RequestError::Bad)?;
    let line = line.strip_suffix('\r').unwrap_or(line);
    let mut words = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (words.next(), words.next(), words.next(), words.next())
    else {
        return Err(RequestError::Bad);
    };
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(RequestError::Bad);
    }
    if !target.starts_with('/') {
        return Err(RequestError::Bad);
    }
    if !matches!(version, "HTTP/1.0" | "HTTP/1.1") {
        return Err(if version.starts_with("HTTP/") {
            RequestError::Version
        } else {
            RequestError::Bad
        });
    }
    let path = target.split(['?', '#']).next().unwrap_or(target);
    Ok(RequestLine {
        method: method.to_string(),
        path: path.to_string(),
    })
}

/// The answer to a request: status line, extra headers, body. `metrics` builds
/// the text (only for `GET /metrics`).
pub async fn answer<F>(req: Result<RequestLine, RequestError>, metrics: F) -> Vec<u8>
where
    F: std::future::Future<Output = Option<String>>,
{
    let (status, extra, ctype, body) = match req {
        Err(RequestError::Bad) => ("400 Bad Request", "", "text/plain", "bad request\n".into()),
        Err(RequestError::TooLarge) => (
            "413 Content Too Large",
            "",
            "text/plain",
            "request too large\n".into(),
        ),
        Err(RequestError::Version) => (
            "505 HTTP Version Not Supported",
            "",
            "text/plain",
            "HTTP/1.0 or HTTP/1.1 only\n".into(),
        ),
        Ok(r) if r.path != "/metrics" => (
            "404 Not Found",
            "",
            "text/plain",
            "not found: pluto serves /metrics only\n".into(),
        ),
        Ok(r) if r.method != "GET" => (
            "405 Method Not Allowed",
            "Allow: GET\r\n",
            "text/plain",
            "GET only\n".into(),
        ),
        Ok(_) => match metrics.await {
            Some(text) => ("200 OK", "", control::metrics::CONTENT_TYPE, text),
            None => (
                "503 Service Unavailable",
                "",
                "text/plain",
                "pluto is shutting down\n".into(),
            ),
        },
    };
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n{extra}\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body.as_bytes());
    out
}

/// Reads a request head: at most [`MAX_REQUEST`] bytes, until the blank line.
async fn read_head(s: &mut TcpStream) -> Result<RequestLine, RequestError> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let n = s.read(&mut chunk).await.map_err(|_| RequestError::Bad)?;
        if n == 0 {
            return Err(RequestError::Bad);
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = head_end(&buf) {
            return parse_request(&buf[..end]);
        }
        if buf.len() >= MAX_REQUEST {
            return Err(RequestError::TooLarge);
        }
    }
}

/// One client: its request within [`READ_TIMEOUT`], the answer within
/// [`WRITE_TIMEOUT`]; then the connection is closed.
async fn client(mut s: TcpStream, ask: mpsc::Sender<Ask>) {
    let req = match tokio::time::timeout(READ_TIMEOUT, read_head(&mut s)).await {
        Ok(r) => r,
        // Silent past its time: closed without an answer.
        Err(_) => return,
    };
    let reply = async {
        let out = answer(req, async {
            let (tx, rx) = oneshot::channel();
            ask.send(tx).await.ok()?;
            rx.await.ok()
        })
        .await;
        let _ = s.write_all(&out).await;
        let _ = s.shutdown().await;
    };
    let _ = tokio::time::timeout(WRITE_TIMEOUT, reply).await;
}

/// Accepts clients until the task is aborted; each is served in its own task,
/// [`MAX_CLIENTS`] at most at once.
pub async fn serve(listener: TcpListener, ask: mpsc::Sender<Ask>) {
    let slots = Arc::new(Semaphore::new(MAX_CLIENTS));
    loop {
        let (s, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                // EMFILE and the like: wait a moment rather than spin.
                tracing::debug!("metrics: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            tracing::debug!("metrics: {peer}: {MAX_CLIENTS} clients already; closed");
            drop(s);
            continue;
        };
        let ask = ask.clone();
        tokio::spawn(async move {
            client(s, ask).await;
            drop(permit);
        });
    }
}

/// `--globalstatus --json`'s `connections` object (see docs/whack.md): each
/// loaded connection's counters ([`crate::stats::PerConnection`]) with its live
/// Child SAs counted and their bytes added.
pub fn connections_json(p: &Pluto) -> Value {
    let known = p.conns.iter().map(|c| &*c.name);
    let children = p
        .children
        .iter()
        .map(|(_, c)| (&*c.connection, c.in_bytes, c.out_bytes));
    p.per_conn.json(known, children)
}

impl Pluto {
    /// The metrics text, as `ipsec metrics` prints it: the kernel's byte
    /// counters are read first, as for `--trafficstatus`.
    pub async fn metrics_text(&mut self) -> String {
        use control::request::StatusKind;
        self.refresh_counters().await;
        let global = crate::status::json_for(self, StatusKind::Global);
        let traffic = crate::status::json_for(self, StatusKind::Traffic);
        control::metrics::prometheus(&global, &traffic)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_addresses_with_a_port_are_taken() {
        assert_eq!(
            parse_listen("127.0.0.1:9100").unwrap(),
            "127.0.0.1:9100".parse().unwrap()
        );
        assert!(parse_listen("127.3.4.5:9100").is_ok());
        assert!(parse_listen("[::1]:9100").is_ok());
        for (v, says) in [
            ("192.0.2.1:9100", "not a loopback address"),
            ("0.0.0.0:9100", "not a loopback address"),
            ("[::]:9100", "not a loopback address"),
            ("[2001:db8::1]:9100", "not a loopback address"),
            ("127.0.0.1", "is not ADDR:PORT"),
            ("localhost:9100", "is not ADDR:PORT"),
            ("::1:9100", "is not ADDR:PORT"),
            ("127.0.0.1:0", "port 0"),
            ("127.0.0.1:70000", "is not ADDR:PORT"),
        ] {
            let e = parse_listen(v).unwrap_err().to_string();
            assert!(e.contains(says), "{v}: {e}");
            assert!(
                e.starts_with("--metrics-listen: ") && !e.contains('\n'),
                "{e}"
            );
        }
    }

    #[test]
    fn request_lines() {
        let r = parse_request(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        assert_eq!((r.method.as_str(), r.path.as_str()), ("GET", "/metrics"));
        let r = parse_request(b"GET /metrics?name[]=x HTTP/1.0\n\n").unwrap();
        assert_eq!(r.path, "/metrics");
        assert_eq!(
            parse_request(b"POST / HTTP/1.1\r\n\r\n").unwrap().method,
            "POST"
        );
        for bad in [
            &b"GET /metrics\r\n\r\n"[..],
            b"GET  /metrics HTTP/1.1\r\n\r\n",
            b"get /metrics HTTP/1.1\r\n\r\n",
            b"GET metrics HTTP/1.1\r\n\r\n",
            b"GET /metrics FTP/1.1\r\n\r\n",
            b"\xff\xfe /metrics HTTP/1.1\r\n\r\n",
            b"no newline at all",
        ] {
            assert_eq!(parse_request(bad), Err(RequestError::Bad), "{bad:?}");
        }
        assert_eq!(
            parse_request(b"GET /metrics HTTP/2.0\r\n\r\n"),
            Err(RequestError::Version)
        );
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nA: b\r\n\r\nbody"), Some(24));
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nA: b\r\n"), None);
    }

    fn answered(req: Result<RequestLine, RequestError>) -> String {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let out = rt.block_on(answer(req, async { Some("pluto_x 1\n".to_string()) }));
        String::from_utf8(out).unwrap()
    }

    fn line(m: &str, p: &str) -> Result<RequestLine, RequestError> {
        Ok(RequestLine {
            method: m.into(),
            path: p.into(),
        })
    }

    #[test]
    fn answers_by_path_and_method() {
        let ok = answered(line("GET", "/metrics"));
        assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
        assert!(
            ok.contains("\r\nContent-Type: text/plain; version=0.0.4\r\n"),
            "{ok}"
        );
        assert!(ok.contains("\r\nContent-Length: 10\r\n"), "{ok}");
        assert!(ok.ends_with("\r\n\r\npluto_x 1\n"), "{ok}");
        assert!(answered(line("GET", "/")).starts_with("HTTP/1.1 404 "));
        assert!(answered(line("GET", "/metricsx")).starts_with("HTTP/1.1 404 "));
        let post = answered(line("POST", "/metrics"));
        assert!(post.starts_with("HTTP/1.1 405 ") && post.contains("\r\nAllow: GET\r\n"));
        assert!(answered(Err(RequestError::Bad)).starts_with("HTTP/1.1 400 "));
        assert!(answered(Err(RequestError::TooLarge)).starts_with("HTTP/1.1 413 "));
        assert!(answered(Err(RequestError::Version)).starts_with("HTTP/1.1 505 "));
    }

    /// The server against real sockets: an answer through the channel, a request
    /// too big, a client that sends nothing does not keep others out.
    #[tokio::test]
    async fn serves_and_bounds_clients() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, mut rx) = mpsc::channel::<Ask>(8);
        let server = tokio::spawn(serve(listener, tx));
        tokio::spawn(async move {
            while let Some(a) = rx.recv().await {
                let _ = a.send("pluto_up 1\n".into());
            }
        });
        async fn fetch(addr: SocketAddr, req: &[u8]) -> String {
            let mut s = TcpStream::connect(addr).await.unwrap();
            s.write_all(req).await.unwrap();
            let mut out = Vec::new();
            // A client closed unanswered may see a reset: what was read counts.
            let _ = s.read_to_end(&mut out).await;
            String::from_utf8_lossy(&out).into_owned()
        }
        // Idle clients up to the limit minus one: the next still gets served.
        let mut idle = Vec::new();
        for _ in 0..MAX_CLIENTS - 1 {
            idle.push(TcpStream::connect(addr).await.unwrap());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        let ok = fetch(addr, b"GET /metrics HTTP/1.0\r\n\r\n").await;
        assert!(
            ok.starts_with("HTTP/1.1 200 OK") && ok.ends_with("pluto_up 1\n"),
            "{ok}"
        );
        // With every slot taken, a further client is closed unanswered.
        idle.push(TcpStream::connect(addr).await.unwrap());
        tokio::time::sleep(Duration::from_millis(50)).await;
        let refused = fetch(addr, b"GET /metrics HTTP/1.0\r\n\r\n").await;
        assert_eq!(refused, "");
        drop(idle);
        tokio::time::sleep(Duration::from_millis(50)).await;
        // Exactly the limit without the blank line: refused once all is read
        // (nothing left unread, so the close is orderly and the answer arrives).
        let mut req = b"GET /metrics HTTP/1.1\r\nX: ".to_vec();
        req.resize(MAX_REQUEST, b'a');
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(&req).await.unwrap();
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out).await;
        assert!(
            String::from_utf8_lossy(&out).starts_with("HTTP/1.1 413 "),
            "{}",
            String::from_utf8_lossy(&out)
        );
        server.abort();
    }
}
