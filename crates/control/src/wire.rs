//! What travels on the control socket: JSON, one message per line.
//!
//! whack writes one [`Envelope`] line; pluto answers with [`Reply`] lines, each
//! [`Reply::Line`] carrying a progress code (see [`crate::rc`]) and text, and ends
//! with exactly one [`Reply::Done`]. When pluto needs input (XAUTH user name or
//! password) it sends a [`Reply::Prompt`] and whack answers with an [`Answer`] line.
//!
//! Every envelope carries [`PROTOCOL_VERSION`]; pluto reads the version from the raw
//! JSON before decoding the rest, so a whack of another version always gets a clear
//! refusal instead of a decoding error.

use serde::{Deserialize, Serialize};

use crate::{rc, Request, Secret};

/// The version of this protocol. Bump it whenever a request or reply changes shape.
pub const PROTOCOL_VERSION: u32 = 1;

/// The longest line either side accepts, newline included. Connection descriptions
/// are the largest messages and stay far below this.
pub const MAX_LINE: usize = 256 * 1024;

/// Output options that apply to every request of one invocation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct OutputOptions {
    /// `--utc`: print times in UTC.
    pub utc: bool,
    /// `--json`: status and list forms print one JSON document instead of text.
    pub json: bool,
}

/// One whack invocation as sent to pluto.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// The protocol version whack speaks; pluto refuses any other.
    pub version: u32,
    /// `--label`: a free-form tag pluto puts in its log next to this request.
    #[serde(default)]
    pub label: Option<String>,
    /// Output options.
    #[serde(default)]
    pub output: OutputOptions,
    /// The requests, carried out in order.
    pub requests: Vec<Request>,
}

impl Envelope {
    /// An envelope of the current protocol version.
    pub fn new(requests: Vec<Request>) -> Self {
        Envelope {
            version: PROTOCOL_VERSION,
            label: None,
            output: OutputOptions::default(),
            requests,
        }
    }
}

/// whack's answer to a [`Reply::Prompt`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Answer {
    /// What the user typed (or gave with `--xauthuser`/`--xauthpass`); `None` when
    /// whack could not obtain it (no terminal), which aborts what asked.
    pub answer: Option<Secret>,
}

/// One line from pluto to whack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Reply {
    /// Progress or output.
    Line {
        /// The progress code; see [`crate::rc`].
        code: u32,
        /// The text, without newline.
        text: String,
    },
    /// pluto asks for input; [`rc::USERPROMPT`] (echo) or [`rc::ENTERSECRET`] (no echo).
    Prompt {
        /// [`rc::USERPROMPT`] or [`rc::ENTERSECRET`].
        code: u32,
        /// The prompt, e.g. `XAUTH username:`.
        text: String,
    },
    /// The end of the reply; `status` is the exit status pluto computed the same way
    /// whack does.
    Done {
        /// The exit status.
        status: u32,
    },
}

impl Reply {
    /// A comment line.
    pub fn comment(text: impl Into<String>) -> Self {
        Reply::Line {
            code: rc::COMMENT,
            text: text.into(),
        }
    }
}

/// What can go wrong reading or writing the control protocol.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// The socket failed.
    #[error("control socket I/O failed: {0}")]
    Io(#[from] std::io::Error),
    /// A line was longer than [`MAX_LINE`].
    #[error("control message longer than {MAX_LINE} bytes; refusing it")]
    TooLong,
    /// A line was not valid JSON of the expected shape.
    #[error("malformed control message: {0}")]
    Json(#[from] serde_json::Error),
    /// The envelope's version is not ours.
    #[error("whack protocol version {theirs} not supported by pluto (speaks {ours})")]
    Version {
        /// What the peer sent.
        theirs: u64,
        /// What we speak.
        ours: u32,
    },
    /// The envelope had no numeric `version`.
    #[error("whack message has no protocol version; this pluto speaks version {PROTOCOL_VERSION}")]
    NoVersion,
    /// The peer sent nothing in time.
    #[error("no whack request received within the time allowed; closing")]
    Timeout,
    /// The peer closed the connection before the reply ended.
    #[error("control connection closed before the reply ended")]
    Closed,
}

/// Decodes an envelope line, checking the version before the body so that a whack of
/// another version gets [`WireError::Version`] however different its requests are.
pub fn decode_envelope(line: &[u8]) -> Result<Envelope, WireError> {
    let value: serde_json::Value = serde_json::from_slice(line)?;
    let version = value
        .get("version")
        .and_then(serde_json::Value::as_u64)
        .ok_or(WireError::NoVersion)?;
    if version != u64::from(PROTOCOL_VERSION) {
        return Err(WireError::Version {
            theirs: version,
            ours: PROTOCOL_VERSION,
        });
    }
    Ok(serde_json::from_value(value)?)
}

/// Serializes one message as a line (JSON plus `\n`).
pub fn encode_line<T: Serialize>(msg: &T) -> Result<Vec<u8>, WireError> {
    let mut v = serde_json::to_vec(msg)?;
    v.push(b'\n');
    Ok(v)
}

/// Reads one line, at most [`MAX_LINE`] bytes, from a blocking reader. Returns
/// `Ok(None)` at a clean end of stream.
pub fn read_line_capped<R: std::io::BufRead>(r: &mut R) -> Result<Option<Vec<u8>>, WireError> {
    let mut buf = Vec::new();
    loop {
        let avail = r.fill_buf()?;
        if avail.is_empty() {
            return if buf.is_empty() {
                Ok(None)
            } else {
                Err(WireError::Closed)
            };
        }
        if let Some(pos) = avail.iter().position(|&b| b == b'\n') {
            if buf.len() + pos > MAX_LINE {
                return Err(WireError::TooLong);
            }
            buf.extend_from_slice(&avail[..pos]);
            r.consume(pos + 1);
            return Ok(Some(buf));
        }
        let n = avail.len();
        if buf.len() + n > MAX_LINE {
            return Err(WireError::TooLong);
        }
        buf.extend_from_slice(avail);
        r.consume(n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::StatusKind;

    #[test]
    fn envelope_round_trip() {
        let env = Envelope::new(vec![
            Request::Listen,
            Request::Status {
                what: StatusKind::Traffic,
            },
        ]);
        let line = encode_line(&env).unwrap();
        assert_eq!(line.last(), Some(&b'\n'));
        let back = decode_envelope(&line[..line.len() - 1]).unwrap();
        assert_eq!(back, env);
    }

    #[test]
    fn other_version_is_refused_before_decoding_body() {
        let line = br#"{"version":7,"requests":[{"op":"from-the-future"}]}"#;
        let err = decode_envelope(line).unwrap_err();
        assert!(matches!(err, WireError::Version { theirs: 7, ours: 1 }));
        assert_eq!(
            err.to_string(),
            "whack protocol version 7 not supported by pluto (speaks 1)"
        );
        assert!(matches!(
            decode_envelope(br#"{"requests":[]}"#),
            Err(WireError::NoVersion)
        ));
        assert!(matches!(
            decode_envelope(b"not json"),
            Err(WireError::Json(_))
        ));
    }

    #[test]
    fn capped_reader() {
        let mut r = std::io::BufReader::with_capacity(4, &b"abc\ndefgh\nij"[..]);
        assert_eq!(read_line_capped(&mut r).unwrap().unwrap(), b"abc");
        assert_eq!(read_line_capped(&mut r).unwrap().unwrap(), b"defgh");
        assert!(matches!(read_line_capped(&mut r), Err(WireError::Closed)));
        let big = vec![b'x'; MAX_LINE + 10];
        let mut r = std::io::BufReader::new(&big[..]);
        assert!(matches!(read_line_capped(&mut r), Err(WireError::TooLong)));
        let mut r = std::io::BufReader::new(&b""[..]);
        assert!(read_line_capped(&mut r).unwrap().is_none());
    }
}
