//! The whack requests (`--initiate`, `--rekey-*`) waiting for an outcome, by
//! connection: a progress line or an outcome reaches the waiters of its connection
//! without looking at the others (thousands of `auto=start` initiations can be
//! waiting at once).

use std::collections::HashMap;

use control::server::Responder;

use crate::engine::Waiter;

/// The waiting requests.
#[derive(Debug, Default)]
pub struct Waiters {
    by_conn: HashMap<String, Vec<Responder>>,
    len: usize,
}

impl Waiters {
    /// Adds one.
    pub fn push(&mut self, w: Waiter) {
        self.by_conn
            .entry(w.connection)
            .or_default()
            .push(w.responder);
        self.len += 1;
    }

    /// How many wait.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether none does.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether a request waits on `connection`.
    pub fn has(&self, connection: &str) -> bool {
        self.by_conn.contains_key(connection)
    }

    /// Sends one line to every request waiting on `connection`.
    pub fn tell(&mut self, connection: &str, code: u32, text: &str) {
        for r in self.by_conn.get_mut(connection).into_iter().flatten() {
            r.line(code, text);
        }
    }

    /// Takes the requests waiting on `connection`.
    pub fn take(&mut self, connection: &str) -> Vec<Waiter> {
        let rs = self.by_conn.remove(connection).unwrap_or_default();
        self.len -= rs.len();
        rs.into_iter()
            .map(|responder| Waiter {
                connection: connection.to_string(),
                responder,
            })
            .collect()
    }

    /// Takes every waiting request.
    pub fn take_all(&mut self) -> Vec<Waiter> {
        self.len = 0;
        std::mem::take(&mut self.by_conn)
            .into_iter()
            .flat_map(|(connection, rs)| {
                rs.into_iter().map(move |responder| Waiter {
                    connection: connection.clone(),
                    responder,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waiter(conn: &str) -> (Waiter, tokio::sync::mpsc::UnboundedReceiver<control::Reply>) {
        let (responder, rx, _answers) = Responder::detached();
        (
            Waiter {
                connection: conn.into(),
                responder,
            },
            rx,
        )
    }

    #[test]
    fn lines_reach_the_connections_waiters_only() {
        let mut w = Waiters::default();
        let (a1, mut ra1) = waiter("a");
        let (a2, mut ra2) = waiter("a");
        let (b, mut rb) = waiter("b");
        w.push(a1);
        w.push(a2);
        w.push(b);
        assert_eq!(w.len(), 3);
        w.tell("a", 0, "hello a");
        assert!(ra1.try_recv().is_ok() && ra2.try_recv().is_ok());
        assert!(rb.try_recv().is_err());
        let taken = w.take("a");
        assert_eq!(taken.len(), 2);
        assert!(!w.has("a") && w.has("b") && w.len() == 1);
        assert_eq!(w.take_all().len(), 1);
        assert!(w.is_empty() && !w.has("b"));
    }
}
