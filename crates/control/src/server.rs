//! The server side: bind the control socket, accept whacks, decode their envelopes
//! and hand each to the daemon as a [`Command`] over a channel.
//!
//! The daemon owns all state and answers through the command's [`Responder`]; this
//! module owns only the socket, so the daemon's central loop never blocks on a slow
//! whack (replies are queued per connection).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::mpsc;

use crate::rc::{self, ExitStatus};
use crate::wire::{self, Answer, Envelope, Reply, WireError, MAX_LINE};
use crate::Secret;

/// One decoded whack invocation, for the daemon to carry out.
#[derive(Debug)]
pub struct Command {
    /// What whack asked.
    pub envelope: Envelope,
    /// Where the answer goes.
    pub responder: Responder,
}

/// The daemon's handle on one whack connection: lines written here stream to whack
/// as they are produced. Dropping it ends the reply with [`Reply::Done`] carrying
/// the exit status of the lines sent.
#[derive(Debug)]
pub struct Responder {
    tx: mpsc::UnboundedSender<Reply>,
    answers: mpsc::UnboundedReceiver<Option<Secret>>,
    status: ExitStatus,
    done: bool,
}

impl Responder {
    /// A responder not attached to a socket, plus the receiving ends: for tests of
    /// handlers and for requests the daemon makes of itself.
    pub fn detached() -> (
        Responder,
        mpsc::UnboundedReceiver<Reply>,
        mpsc::UnboundedSender<Option<Secret>>,
    ) {
        let (tx, rx) = mpsc::unbounded_channel();
        let (atx, arx) = mpsc::unbounded_channel();
        (
            Responder {
                tx,
                answers: arx,
                status: ExitStatus::default(),
                done: false,
            },
            rx,
            atx,
        )
    }

    /// Sends a line with a progress code. A whack that went away is not an error:
    /// the request still completes, as in libreswan.
    pub fn line(&mut self, code: u32, text: impl Into<String>) {
        self.status.observe(code);
        let _ = self.tx.send(Reply::Line {
            code,
            text: text.into(),
        });
    }

    /// Sends a comment line (output that does not affect the exit status).
    pub fn comment(&mut self, text: impl Into<String>) {
        self.line(rc::COMMENT, text);
    }

    /// The exit status so far.
    pub fn status(&self) -> u32 {
        self.status.code()
    }

    /// Whether whack is still connected.
    pub fn is_attached(&self) -> bool {
        !self.tx.is_closed()
    }

    /// Asks whack for input ([`rc::USERPROMPT`] echoes, [`rc::ENTERSECRET`] does not)
    /// and waits for the answer; `None` when whack has gone or could not answer.
    pub async fn prompt(&mut self, code: u32, text: impl Into<String>) -> Option<Secret> {
        debug_assert!(rc::is_prompt(code));
        self.tx
            .send(Reply::Prompt {
                code,
                text: text.into(),
            })
            .ok()?;
        self.answers.recv().await.flatten()
    }

    /// Ends the reply now (otherwise dropping does it).
    pub fn finish(mut self) {
        self.send_done();
    }

    fn send_done(&mut self) {
        if !self.done {
            self.done = true;
            let _ = self.tx.send(Reply::Done {
                status: self.status.code(),
            });
        }
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        self.send_done();
    }
}

/// Answers a request that arrived while pluto was stopping, so whack does not
/// mistake silence for success.
pub fn refuse_shutting_down(r: &mut Responder) {
    r.line(
        rc::WHACK_PROBLEM,
        "pluto is shutting down; request not carried out",
    );
}

/// A bound control socket.
#[derive(Debug)]
pub struct Server {
    listener: UnixListener,
    path: PathBuf,
    max_clients: usize,
}

/// How many whack connections are served at once by default. Each costs a task and
/// its buffers; a `whack --initiate` holds its connection until the tunnel is up, so
/// the limit is well above what parallel scripts use, and far below what would let a
/// runaway client exhaust the daemon's memory or descriptors.
pub const MAX_CLIENTS: usize = 256;

/// How long a refused connection gets to take its one-line answer.
const REFUSE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);

/// What can go wrong setting up the control socket.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    /// Another pluto answers on the socket.
    #[error("control socket \"{0}\" is in use: another pluto is running (stop it first, or give --rundir/--ctlsocket)")]
    InUse(PathBuf),
    /// The socket could not be created.
    #[error("cannot create control socket \"{path}\": {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

impl Server {
    /// Binds the socket at `path`, mode 0600. A stale socket (nobody answering) is
    /// replaced; a live one is refused. The socket is created under a temporary
    /// name, restricted, then renamed into place, so it is never reachable with
    /// looser permissions.
    pub fn bind(path: &Path) -> Result<Server, BindError> {
        let io = |source| BindError::Io {
            path: path.to_path_buf(),
            source,
        };
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(BindError::InUse(path.to_path_buf()));
        }
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(format!(".{}.tmp", std::process::id()));
        let tmp = PathBuf::from(tmp);
        let _ = std::fs::remove_file(&tmp);
        let listener = UnixListener::bind(&tmp).map_err(io)?;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)?;
        Ok(Server {
            listener,
            path: path.to_path_buf(),
            max_clients: MAX_CLIENTS,
        })
    }

    /// Serves at most `n` (at least 1) whack connections at once ([`MAX_CLIENTS`] by
    /// default); one more is answered "too many" and closed.
    pub fn with_max_clients(mut self, n: usize) -> Server {
        self.max_clients = n.max(1);
        self
    }

    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Accepts whacks until the returned future is dropped, sending each decoded
    /// invocation to `commands`. Undecodable or other-version messages are answered
    /// here with [`rc::BADWHACKMESSAGE`] and never reach the daemon.
    ///
    /// At most [`Server::with_max_clients`] connections are served at once; one more
    /// gets a [`rc::WHACK_PROBLEM`] line saying so and is closed, so a client that
    /// opens connections without end costs the daemon a bounded amount.
    pub async fn run(self, commands: mpsc::Sender<Command>) {
        let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(self.max_clients));
        let mut refused_since_log = 0u64;
        loop {
            match self.listener.accept().await {
                Ok((stream, _)) => match slots.clone().try_acquire_owned() {
                    Ok(slot) => {
                        if refused_since_log > 0 {
                            tracing::warn!(
                                "refused {refused_since_log} whack connection(s) while {} were being served",
                                self.max_clients
                            );
                            refused_since_log = 0;
                        }
                        let commands = commands.clone();
                        tokio::spawn(async move {
                            if let Err(e) = serve(stream, commands).await {
                                tracing::debug!("whack connection ended: {e}");
                            }
                            drop(slot);
                        });
                    }
                    Err(_) => {
                        refused_since_log += 1;
                        let max = self.max_clients;
                        // Not counted against the slots, but each lives at most
                        // REFUSE_TIMEOUT and accept() paces them.
                        tokio::spawn(async move {
                            let (mut r, mut w) = stream.into_split();
                            // Answer, then read what whack sends until it closes:
                            // closing at once could make its request's write fail
                            // (EPIPE) before it reads the answer.
                            let _ = tokio::time::timeout(REFUSE_TIMEOUT, async {
                                let _ = refuse_busy(&mut w, max).await;
                                let mut sink = [0u8; 4096];
                                while matches!(r.read(&mut sink).await, Ok(n) if n > 0) {}
                            })
                            .await;
                        });
                    }
                },
                Err(e) => {
                    tracing::warn!("accept() on control socket failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            }
        }
    }

    /// Removes the socket file (on shutdown).
    pub fn remove_socket(path: &Path) {
        if let Err(e) = std::fs::remove_file(path) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!("cannot remove control socket \"{}\": {e}", path.display());
            }
        }
    }
}

/// How long a connected whack has to send its request.
pub const ENVELOPE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Reads one line of at most [`MAX_LINE`] bytes; `Ok(None)` at end of stream.
async fn read_line<R: AsyncBufReadExt + Unpin>(r: &mut R) -> Result<Option<Vec<u8>>, WireError> {
    let mut buf = Vec::new();
    let n = r
        .take(MAX_LINE as u64 + 1)
        .read_until(b'\n', &mut buf)
        .await?;
    if n == 0 {
        return Ok(None);
    }
    if buf.last() != Some(&b'\n') {
        return Err(if buf.len() > MAX_LINE {
            WireError::TooLong
        } else {
            WireError::Closed
        });
    }
    buf.pop();
    Ok(Some(buf))
}

async fn write_reply<W: AsyncWriteExt + Unpin>(w: &mut W, r: &Reply) -> Result<(), WireError> {
    w.write_all(&wire::encode_line(r)?).await?;
    Ok(())
}

async fn refuse<W: AsyncWriteExt + Unpin>(w: &mut W, e: &WireError) -> Result<(), WireError> {
    tracing::warn!("rejecting whack message: {e}");
    write_reply(
        w,
        &Reply::Line {
            code: rc::BADWHACKMESSAGE,
            text: e.to_string(),
        },
    )
    .await?;
    write_reply(
        w,
        &Reply::Done {
            status: rc::BADWHACKMESSAGE,
        },
    )
    .await?;
    w.flush().await?;
    Ok(())
}

async fn refuse_busy<W: AsyncWriteExt + Unpin>(w: &mut W, max: usize) -> Result<(), WireError> {
    write_reply(
        w,
        &Reply::Line {
            code: rc::WHACK_PROBLEM,
            text: format!(
                "pluto is already serving {max} whack connections; request not carried out (try again when some have finished)"
            ),
        },
    )
    .await?;
    write_reply(
        w,
        &Reply::Done {
            status: rc::WHACK_PROBLEM,
        },
    )
    .await?;
    w.flush().await?;
    Ok(())
}

async fn serve(stream: UnixStream, commands: mpsc::Sender<Command>) -> Result<(), WireError> {
    let (r, mut w) = stream.into_split();
    let mut r = BufReader::new(r);
    // A whack that connects and never sends its request must not hold a task forever.
    let line = match tokio::time::timeout(ENVELOPE_TIMEOUT, read_line(&mut r)).await {
        Ok(Ok(Some(l))) => l,
        Ok(Ok(None)) => return Ok(()),
        Ok(Err(e)) => return refuse(&mut w, &e).await,
        Err(_) => return refuse(&mut w, &WireError::Timeout).await,
    };
    let envelope = match wire::decode_envelope(&line) {
        Ok(env) => env,
        Err(e) => return refuse(&mut w, &e).await,
    };
    let (responder, mut replies, answers) = Responder::detached();
    if let Err(mpsc::error::SendError(mut cmd)) = commands
        .send(Command {
            envelope,
            responder,
        })
        .await
    {
        refuse_shutting_down(&mut cmd.responder);
    }
    let mut reading = true;
    loop {
        tokio::select! {
            reply = replies.recv() => {
                let Some(reply) = reply else { break };
                write_reply(&mut w, &reply).await?;
                if matches!(reply, Reply::Done { .. }) {
                    break;
                }
            }
            line = read_line(&mut r), if reading => {
                match line {
                    Ok(Some(l)) => {
                        let a: Option<Secret> = serde_json::from_slice::<Answer>(&l)
                            .ok()
                            .and_then(|a| a.answer);
                        let _ = answers.send(a);
                    }
                    // whack never half-closes (it keeps its side open for prompt
                    // answers), so the end of its stream means it has gone: stop
                    // serving it now, so that its slot is free even when pluto has
                    // nothing more to say for a long time (an `auto=start` whose
                    // pacing stopped listening, an interrupted `--initiate`). The
                    // request still completes, as in libreswan.
                    Ok(None) => {
                        let _ = answers.send(None);
                        return Ok(());
                    }
                    Err(_) => {
                        reading = false;
                        let _ = answers.send(None);
                    }
                }
            }
        }
    }
    w.flush().await?;
    Ok(())
}
