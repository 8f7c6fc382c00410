//! The blocking client whack uses: connect, send one [`Envelope`], stream the reply.

use std::io::{BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use crate::rc::{self, ExitStatus};
use crate::wire::{self, Answer, Envelope, Reply, WireError};
use crate::Secret;

/// What can go wrong talking to pluto.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Nobody listens on the socket.
    #[error("pluto is not running (cannot connect to \"{path}\": {source}); start it or give --rundir/--ctlsocket")]
    Connect {
        /// The socket path tried.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The socket exists but this user may not use it.
    #[error(
        "permission denied: pluto's control socket \"{path}\" is root-only (run whack as root)"
    )]
    PermissionDenied {
        /// The socket path tried.
        path: PathBuf,
    },
    /// The exchange failed part way.
    #[error(transparent)]
    Wire(#[from] WireError),
    /// pluto sent something that is not a reply line.
    #[error("unexpected reply from pluto: {0}")]
    Unexpected(String),
}

impl ClientError {
    /// What a failed connect(2) to the socket at `path` means for the user: the
    /// socket is mode 0600, so EACCES is "not root", not "not running".
    pub fn connect(path: &Path, source: std::io::Error) -> ClientError {
        let path = path.to_path_buf();
        if source.kind() == std::io::ErrorKind::PermissionDenied {
            ClientError::PermissionDenied { path }
        } else {
            ClientError::Connect { path, source }
        }
    }
}

/// A connection to pluto's control socket.
#[derive(Debug)]
pub struct Client {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl Client {
    /// Connects to the socket at `path`.
    pub fn connect(path: &Path) -> Result<Client, ClientError> {
        let stream =
            UnixStream::connect(path).map_err(|source| ClientError::connect(path, source))?;
        let writer = stream.try_clone().map_err(WireError::Io)?;
        Ok(Client {
            reader: BufReader::new(stream),
            writer,
        })
    }

    /// Sends the envelope.
    pub fn send(&mut self, env: &Envelope) -> Result<(), ClientError> {
        let line = wire::encode_line(env)?;
        self.send_raw(&line)
    }

    /// Sends a pre-encoded line as is (must end in `\n`). For tests that speak
    /// another protocol version, and for tools that relay requests.
    pub fn send_raw(&mut self, line: &[u8]) -> Result<(), ClientError> {
        self.writer.write_all(line).map_err(WireError::Io)?;
        self.writer.flush().map_err(WireError::Io)?;
        Ok(())
    }

    /// Reads the next reply line. A connection closed before [`Reply::Done`] is
    /// [`WireError::Closed`].
    pub fn next_reply(&mut self) -> Result<Reply, ClientError> {
        match wire::read_line_capped(&mut self.reader)? {
            None => Err(WireError::Closed.into()),
            Some(line) => serde_json::from_slice(&line).map_err(|e| {
                ClientError::Unexpected(format!(
                    "{e}: {}",
                    String::from_utf8_lossy(&line)
                        .chars()
                        .take(200)
                        .collect::<String>()
                ))
            }),
        }
    }

    /// Answers a prompt.
    pub fn answer(&mut self, answer: Option<Secret>) -> Result<(), ClientError> {
        let line = wire::encode_line(&Answer { answer })?;
        self.send_raw(&line)
    }

    /// Streams the whole reply: `on_line(code, text)` for every line as it arrives,
    /// `on_prompt(code, text)` for every prompt (its result is sent back). Returns
    /// the exit status computed from the lines, as the manual's EXIT STATUS says.
    pub fn stream_reply(
        &mut self,
        mut on_line: impl FnMut(u32, &str),
        mut on_prompt: impl FnMut(u32, &str) -> Option<Secret>,
    ) -> Result<u32, ClientError> {
        let mut status = ExitStatus::default();
        loop {
            match self.next_reply()? {
                Reply::Line { code, text } => {
                    status.observe(code);
                    on_line(code, &text);
                }
                Reply::Prompt { code, text } => {
                    if !rc::is_prompt(code) {
                        return Err(ClientError::Unexpected(format!(
                            "prompt with non-prompt code {code}"
                        )));
                    }
                    let a = on_prompt(code, &text);
                    self.answer(a)?;
                }
                Reply::Done { .. } => return Ok(status.code()),
            }
        }
    }
}

/// Connects, sends `env`, and streams the reply (see [`Client::stream_reply`]).
pub fn exchange(
    path: &Path,
    env: &Envelope,
    on_line: impl FnMut(u32, &str),
    on_prompt: impl FnMut(u32, &str) -> Option<Secret>,
) -> Result<u32, ClientError> {
    let mut c = Client::connect(path)?;
    c.send(env)?;
    c.stream_reply(on_line, on_prompt)
}
