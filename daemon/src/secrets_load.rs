//! ipsec.secrets read off the main loop. `--rereadsecrets` (and `--listen`, which
//! rereads too) must not hold up IKE, whack and timers while a large file is
//! parsed or a slow file system answers: the read runs on tokio's blocking pool,
//! bounded by [`READ_LIMIT`], and the whack request that asked for it is parked
//! with the rest of its envelope until the result is in. Its later requests then
//! run in order, as if the read had been done in line.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use conn::secrets::{Secrets, SecretsError};
use control::server::Responder;
use control::wire::Envelope;
use tokio::sync::mpsc;

/// How long a read may take before whack is told it failed (the blocking thread
/// cannot be stopped; its late result is dropped).
pub const READ_LIMIT: Duration = Duration::from_secs(10);

/// How a read ended.
#[derive(Debug)]
pub enum Outcome {
    /// The file was read (or refused by the parser).
    Read(Result<Secrets, SecretsError>),
    /// [`READ_LIMIT`] passed first.
    TimedOut,
    /// The blocking task itself failed (a panic in the parser).
    Failed(String),
}

/// The result of one read, for the main loop.
#[derive(Debug)]
pub struct Loaded {
    /// Which read ([`Loads::start`]).
    pub id: u64,
    /// How it ended.
    pub outcome: Outcome,
}

/// A whack request waiting for a read: the rest of its envelope and what its
/// requests so far collected.
#[derive(Debug)]
pub struct Parked {
    /// The whole request.
    pub env: Envelope,
    /// The index of the first request not run yet.
    pub next: usize,
    /// The `--json` document so far.
    pub json: serde_json::Map<String, serde_json::Value>,
    /// The connection an `--initiate` of it waits on.
    pub wait: Option<String>,
    /// Where its answer goes.
    pub responder: Responder,
    /// Whether a failed read fails the request (`--rereadsecrets`, not `--listen`).
    pub strict: bool,
}

/// The reads under way and the requests waiting for them.
#[derive(Debug)]
pub struct Loads {
    tx: mpsc::UnboundedSender<Loaded>,
    rx: Option<mpsc::UnboundedReceiver<Loaded>>,
    next_id: u64,
    /// The newest read whose secrets were applied: an older one finishing later
    /// must not put back what it read.
    applied: u64,
    parked: HashMap<u64, Parked>,
}

impl Default for Loads {
    fn default() -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        Loads {
            tx,
            rx: Some(rx),
            next_id: 0,
            applied: 0,
            parked: HashMap::new(),
        }
    }
}

impl Loads {
    /// Starts reading `path` (inside a tokio runtime) and returns the read's id.
    pub fn start(&mut self, path: PathBuf) -> u64 {
        self.next_id += 1;
        let id = self.next_id;
        let tx = self.tx.clone();
        tokio::spawn(async move {
            let read = tokio::task::spawn_blocking(move || Secrets::load(&path));
            let outcome = match tokio::time::timeout(READ_LIMIT, read).await {
                Ok(Ok(r)) => Outcome::Read(r),
                Ok(Err(e)) => Outcome::Failed(e.to_string()),
                Err(_) => Outcome::TimedOut,
            };
            let _ = tx.send(Loaded { id, outcome });
        });
        id
    }

    /// Parks a request until read `id` is in.
    pub fn park(&mut self, id: u64, p: Parked) {
        self.parked.insert(id, p);
    }

    /// The request waiting for read `id`.
    pub fn unpark(&mut self, id: u64) -> Option<Parked> {
        self.parked.remove(&id)
    }

    /// Whether read `id` is newer than every read applied so far; if so it counts
    /// as applied from now on.
    pub fn newest(&mut self, id: u64) -> bool {
        if id > self.applied {
            self.applied = id;
            true
        } else {
            false
        }
    }

    /// The results, for the main loop's select (taken once).
    pub fn take_results(&mut self) -> Option<mpsc::UnboundedReceiver<Loaded>> {
        self.rx.take()
    }

    /// The next result, while the receiver has not been taken (tests).
    pub async fn next(&mut self) -> Option<Loaded> {
        self.rx.as_mut()?.recv().await
    }

    /// Every parked request (at shutdown).
    pub fn take_parked(&mut self) -> Vec<Parked> {
        self.parked.drain().map(|(_, p)| p).collect()
    }

    /// How many requests are parked.
    pub fn parked(&self) -> usize {
        self.parked.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_read_reports_its_result_and_only_the_newest_applies() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ipsec.secrets");
        std::fs::write(&path, "@a @b : PSK \"one\"\n").unwrap();
        let mut l = Loads::default();
        let first = l.start(path.clone());
        let second = l.start(dir.path().join("missing"));
        let mut got = Vec::new();
        for _ in 0..2 {
            got.push(l.next().await.unwrap());
        }
        got.sort_by_key(|g| g.id);
        assert_eq!(got[0].id, first);
        assert!(matches!(&got[0].outcome, Outcome::Read(Ok(s)) if s.len() == 1));
        assert!(matches!(&got[1].outcome, Outcome::Read(Err(_))));
        assert!(l.newest(second));
        assert!(
            !l.newest(first),
            "an older read finishing late is not applied"
        );
    }
}
