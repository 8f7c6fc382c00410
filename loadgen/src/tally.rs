//! What the load generator counts, from the endpoints' events, and the lines it
//! reports them in (`LOADGEN <key> <value>`, parsed by testnet/bench/peers.sh).

use std::collections::HashSet;
use std::fmt::Write as _;
use std::time::Duration;

use ike::ikev2::{Event, SaEnd, SaSerial};

/// An IKE SA of one of the generator's endpoints (by index).
pub type SaKey = (usize, SaSerial);

/// The counts of one run. A setup is in flight from [`Tally::started`] until its
/// IKE SA is established or given up; with `--delete`, an established SA stays
/// in `live` until its Delete is answered (or times out).
#[derive(Debug, Default, Clone)]
pub struct Tally {
    pub offered: u64,
    pub started: u64,
    /// IKE SAs established (IKE_AUTH answered and authenticated), with or
    /// without their Child SA: the figure the responders' logs are compared with.
    pub established: u64,
    /// Of those, with the first Child SA set up ("installed" on our side, which
    /// installs nothing) or refused by the responder (TS_UNACCEPTABLE when its
    /// kernel has no ESP).
    pub child_established: u64,
    pub child_refused: u64,
    /// Setups given up (retransmit timeout, refused IKE_SA_INIT or IKE_AUTH).
    pub failed: u64,
    /// Established IKE SAs whose Delete the responder answered, and those whose
    /// Delete was not answered or that ended otherwise.
    pub deleted: u64,
    pub delete_failed: u64,
    /// Requests sent again because the first went unanswered.
    pub retransmits: u64,
    /// Datagrams the socket would not take (buffer full); the retransmit timer
    /// sends them again.
    pub send_errors: u64,
    live: HashSet<SaKey>,
}

impl Tally {
    pub fn new(offered: u64) -> Tally {
        Tally {
            offered,
            ..Tally::default()
        }
    }

    /// Setups started and not yet established or given up.
    pub fn in_setup(&self) -> u64 {
        self.started - self.established - self.failed
    }

    /// Whether another setup may start with at most `limit` in flight.
    pub fn may_start(&self, limit: u64) -> bool {
        self.started < self.offered && self.in_setup() < limit
    }

    pub fn start(&mut self) {
        self.started += 1;
    }

    /// Every setup offered is established or given up.
    pub fn setups_done(&self) -> bool {
        self.started == self.offered && self.in_setup() == 0
    }

    /// Established IKE SAs not deleted (yet).
    pub fn live(&self) -> usize {
        self.live.len()
    }

    /// Takes one event of endpoint `ep`. Returns the IKE SA to delete now when it
    /// was just established and `delete` is set.
    pub fn event(&mut self, ep: usize, e: &Event, delete: bool) -> Option<SaSerial> {
        match e {
            Event::IkeSaEstablished { ike, .. } => {
                self.established += 1;
                self.live.insert((ep, *ike));
                return delete.then_some(*ike);
            }
            Event::ChildSaEstablished { .. } => self.child_established += 1,
            Event::ChildSaFailed { .. } => self.child_refused += 1,
            Event::IkeSaDeleted {
                ike,
                reason,
                final_failure,
                ..
            } => {
                if self.live.remove(&(ep, *ike)) {
                    if *reason == SaEnd::Deleted {
                        self.deleted += 1;
                    } else {
                        self.delete_failed += 1;
                    }
                } else if *final_failure {
                    self.failed += 1;
                }
                // Otherwise another keying try follows under a new serial: the
                // setup stays in flight.
            }
            _ => {}
        }
        None
    }

    /// The Delete of a live SA could not even be started: it counts as a failed
    /// delete at once, so that the run does not wait for it.
    pub fn delete_refused(&mut self, ep: usize, sa: SaSerial) {
        if self.live.remove(&(ep, sa)) {
            self.delete_failed += 1;
        }
    }

    /// The report, one `LOADGEN <key> <value>` line each. `elapsed` is the wall
    /// time from the first IKE_SA_INIT to the last setup (and Delete) done, `cpu`
    /// the process's CPU time (user + system) in it.
    pub fn report(&self, elapsed: Duration, cpu: Duration) -> String {
        let mut s = String::new();
        let mut line = |k: &str, v: String| {
            let _ = writeln!(s, "LOADGEN {k} {v}");
        };
        line("offered", self.offered.to_string());
        line("established", self.established.to_string());
        line("child_established", self.child_established.to_string());
        line("child_refused", self.child_refused.to_string());
        line("failed", self.failed.to_string());
        line("deleted", self.deleted.to_string());
        line("delete_failed", self.delete_failed.to_string());
        line("retransmits", self.retransmits.to_string());
        line("send_errors", self.send_errors.to_string());
        line("elapsed_s", format!("{:.3}", elapsed.as_secs_f64()));
        if elapsed > Duration::ZERO {
            line(
                "setups_per_s",
                format!("{:.0}", self.established as f64 / elapsed.as_secs_f64()),
            );
        }
        if self.established > 0 {
            line(
                "cpu_us_per_sa",
                format!("{:.1}", cpu.as_secs_f64() * 1e6 / self.established as f64),
            );
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ike::registry::NotifyType;

    fn established(n: u64) -> Event {
        Event::IkeSaEstablished {
            connection: "lg".into(),
            ike: SaSerial(n),
            replaces: None,
        }
    }

    fn deleted(n: u64, reason: SaEnd, final_failure: bool) -> Event {
        Event::IkeSaDeleted {
            connection: "lg".into(),
            ike: SaSerial(n),
            reason,
            final_failure,
        }
    }

    #[test]
    fn the_limit_holds_setups_in_flight_and_frees_on_outcome() {
        let mut t = Tally::new(3);
        assert!(t.may_start(2));
        t.start();
        t.start();
        assert!(!t.may_start(2), "two in flight");
        assert_eq!(t.event(0, &established(1), false), None);
        assert!(t.may_start(2));
        t.start();
        assert!(!t.may_start(5), "all offered are started");
        assert!(!t.setups_done());
        // A retry under a new serial keeps the setup in flight.
        t.event(1, &deleted(1, SaEnd::Timeout, false), false);
        assert_eq!((t.failed, t.in_setup()), (0, 2));
        t.event(1, &deleted(3, SaEnd::Timeout, true), false);
        t.event(0, &established(5), false);
        assert!(t.setups_done());
        assert_eq!((t.established, t.failed, t.live()), (2, 1, 2));
    }

    #[test]
    fn deletes_are_asked_for_and_counted_per_endpoint() {
        let mut t = Tally::new(2);
        t.start();
        t.start();
        assert_eq!(t.event(0, &established(1), true), Some(SaSerial(1)));
        // The same serial on another endpoint is another SA.
        assert_eq!(t.event(1, &established(1), true), Some(SaSerial(1)));
        assert_eq!(t.live(), 2);
        t.event(0, &deleted(1, SaEnd::Deleted, false), true);
        t.event(1, &deleted(1, SaEnd::Timeout, false), true);
        assert_eq!(
            (t.deleted, t.delete_failed, t.failed, t.live()),
            (1, 1, 0, 0)
        );
        // A Delete that could not start ends the SA's wait, once.
        t.offered = 3;
        t.start();
        t.event(0, &established(7), true);
        t.delete_refused(0, SaSerial(7));
        t.delete_refused(0, SaSerial(7));
        assert_eq!((t.delete_failed, t.live()), (2, 0));
    }

    #[test]
    fn child_outcomes_and_the_report() {
        let mut t = Tally::new(2);
        t.start();
        t.start();
        t.event(0, &established(1), false);
        t.event(
            0,
            &Event::ChildSaFailed {
                connection: "lg".into(),
                child: SaSerial(2),
                notify: NotifyType::TS_UNACCEPTABLE,
            },
            false,
        );
        t.event(0, &established(3), false);
        t.event(
            0,
            &Event::ChildSaEstablished {
                connection: "lg".into(),
                ike: SaSerial(3),
                child: SaSerial(4),
            },
            false,
        );
        t.retransmits = 3;
        let r = t.report(Duration::from_millis(500), Duration::from_millis(100));
        for l in [
            "LOADGEN offered 2\n",
            "LOADGEN established 2\n",
            "LOADGEN child_established 1\n",
            "LOADGEN child_refused 1\n",
            "LOADGEN failed 0\n",
            "LOADGEN retransmits 3\n",
            "LOADGEN elapsed_s 0.500\n",
            "LOADGEN setups_per_s 4\n",
            "LOADGEN cpu_us_per_sa 50000.0\n",
        ] {
            assert!(r.contains(l), "{l:?} not in\n{r}");
        }
        let none = Tally::new(1).report(Duration::ZERO, Duration::ZERO);
        assert!(!none.contains("setups_per_s") && !none.contains("cpu_us_per_sa"));
    }
}
