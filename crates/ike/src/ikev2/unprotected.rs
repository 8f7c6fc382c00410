//! How often the endpoint answers requests it cannot protect (INVALID_IKE_SPI for an
//! unknown SA, INVALID_MAJOR_VERSION, UNSUPPORTED_CRITICAL_PAYLOAD to an IKE_SA_INIT):
//! such answers go to whatever address a datagram claims, so a spoofed flood must not
//! turn the responder into a reflector, nor cost it more per datagram the more
//! addresses it has seen.
//!
//! At most one answer per peer address per [`WINDOW`], and at most [`MAX_PEERS`]
//! addresses remembered at once (beyond that nothing is answered until entries age
//! out), in an [`AgedTable`] (O(1) amortised per check whatever the number of
//! peers). What is suppressed is counted and reported in one log line at most every
//! [`REPORT_EVERY`].

use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::aged::AgedTable;

/// One unprotected answer per peer address per this long.
pub const WINDOW: Duration = Duration::from_secs(1);
/// Addresses remembered at once: a flood from more addresses than this within one
/// window gets no answers beyond the first this many.
pub const MAX_PEERS: usize = 65_536;
/// How often a line reports the answers suppressed meanwhile.
pub const REPORT_EVERY: Duration = Duration::from_secs(10);

/// The limiter (see the module documentation).
#[derive(Debug)]
pub(crate) struct Unprotected {
    /// The addresses answered within the last [`WINDOW`] (stamped when answered).
    answered: AgedTable<()>,
    suppressed: u64,
    reported: Option<Instant>,
}

impl Default for Unprotected {
    fn default() -> Self {
        Unprotected {
            answered: AgedTable::new(WINDOW, MAX_PEERS),
            suppressed: 0,
            reported: None,
        }
    }
}

impl Unprotected {
    /// Whether an unprotected answer to `peer` may go out now; counts it if so.
    pub(crate) fn allow(&mut self, now: Instant, peer: IpAddr) -> bool {
        self.answered.expire(now);
        let ok =
            self.answered.get(&peer).is_none() && self.answered.stamp(now, peer, || ()).is_some();
        if ok {
        } else {
            self.suppressed += 1;
            let due = self
                .reported
                .is_none_or(|r| now.saturating_duration_since(r) >= REPORT_EVERY);
            if due {
                tracing::info!(
                    "suppressed {} unprotected answer(s) (INVALID_IKE_SPI, INVALID_MAJOR_VERSION, UNSUPPORTED_CRITICAL_PAYLOAD): at most one per peer address per second, {} addresses at once; {peer} was the last",
                    self.suppressed,
                    MAX_PEERS
                );
                self.suppressed = 0;
                self.reported = Some(now);
            }
        }
        ok
    }

    /// Addresses remembered now.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.answered.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(i: u32) -> IpAddr {
        IpAddr::V4(std::net::Ipv4Addr::from(0xc000_0200 | (i & 0xff))) // 192.0.2.x
    }

    #[test]
    fn one_answer_per_address_per_window() {
        let t0 = Instant::now();
        let mut u = Unprotected::default();
        assert!(u.allow(t0, ip(1)));
        assert!(!u.allow(t0 + Duration::from_millis(500), ip(1)));
        assert!(u.allow(t0 + Duration::from_millis(500), ip(2)));
        assert!(u.allow(t0 + WINDOW, ip(1)));
        // ip(2)'s entry aged out with time, not with traffic from ip(2).
        assert!(u.allow(t0 + WINDOW + Duration::from_millis(600), ip(2)));
        // The one suppression was reported at once (and the count started again);
        // the next within REPORT_EVERY is only counted.
        assert_eq!(
            (u.suppressed, u.reported),
            (0, Some(t0 + Duration::from_millis(500)))
        );
        assert!(!u.allow(t0 + WINDOW + Duration::from_millis(700), ip(2)));
        assert_eq!(u.suppressed, 1);
    }

    #[test]
    fn entries_age_out_in_order_and_the_table_is_bounded() {
        let t0 = Instant::now();
        let mut u = Unprotected::default();
        let v6 = |i: u32| {
            IpAddr::V6(std::net::Ipv6Addr::new(
                0x2001,
                0xdb8,
                0,
                0,
                0,
                0,
                (i >> 16) as u16,
                i as u16,
            ))
        };
        for i in 0..MAX_PEERS as u32 {
            assert!(u.allow(t0, v6(i)));
        }
        // Full: a new address within the window gets nothing.
        assert!(!u.allow(t0 + Duration::from_millis(10), v6(MAX_PEERS as u32)));
        assert_eq!(u.len(), MAX_PEERS);
        // One window later everything has aged out on the first check.
        assert!(u.allow(t0 + WINDOW, v6(MAX_PEERS as u32)));
        assert_eq!(u.len(), 1);
    }
}
