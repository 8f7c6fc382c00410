//! A per-source budget of new IKE_SA_INIT requests (issue 10, after boringtun's
//! handshake rate limiter): each source prefix (an IPv4 address, an IPv6 /64) may
//! start [`RATE`] IKE SAs a second, with bursts of [`BURST`], before its requests
//! must carry a COOKIE (RFC 7296 2.6). A flooder, spoofing or not, then spends its
//! own budget only: the others' requests are still answered at once, and a spoofed
//! source cannot return the cookie, so it costs one hash and no state. A request
//! that returns a valid cookie is served whatever the budget (it proved its address).
//!
//! The table is bounded ([`MAX_SOURCES`]); a source absent from a full table is
//! treated as over budget. A source is forgotten once its bucket would be full
//! again, in an [`AgedTable`] (O(1) amortised per check whatever the number of
//! sources).

use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::aged::AgedTable;

/// New IKE SAs a source may start per second without a cookie.
pub const RATE: f64 = 32.0;
/// How many it may start at once.
pub const BURST: f64 = 64.0;
/// Sources tracked at once.
pub const MAX_SOURCES: usize = 65_536;
/// After this long without a request a source's bucket is full again, so it can
/// be forgotten.
const IDLE: Duration = Duration::from_secs(2); // BURST / RATE

/// The budget of one source.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The per-source budgets (see the module documentation): a source's bucket is
/// stamped by each of its requests and forgotten [`IDLE`] after the last.
#[derive(Debug)]
pub(crate) struct Budget {
    buckets: AgedTable<Bucket>,
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            buckets: AgedTable::new(IDLE, MAX_SOURCES),
        }
    }
}

/// The prefix a source is budgeted by: an IPv6 host picks any address of its /64.
fn prefix(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(a) => {
            let s = a.segments();
            IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
    }
}

impl Budget {
    /// Takes one new IKE SA from `source`'s budget; false when it has none left
    /// (the request must then carry a cookie).
    pub(crate) fn take(&mut self, now: Instant, source: IpAddr) -> bool {
        self.buckets.expire(now);
        let fresh = Bucket {
            tokens: BURST,
            at: now,
        };
        let Some(b) = self.buckets.stamp(now, prefix(source), || fresh) else {
            return false;
        };
        let dt = now.saturating_duration_since(b.at).as_secs_f64();
        b.tokens = (b.tokens + dt * RATE).min(BURST);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.buckets.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(i: u32) -> IpAddr {
        IpAddr::V4(std::net::Ipv4Addr::from(0xc633_6400 | (i & 0xff))) // 198.51.100.x
    }

    #[test]
    fn a_source_gets_its_burst_then_its_rate_and_others_are_unaffected() {
        let t0 = Instant::now();
        let mut b = Budget::default();
        for _ in 0..BURST as usize {
            assert!(b.take(t0, v4(1)));
        }
        assert!(!b.take(t0, v4(1)), "burst spent");
        assert!(b.take(t0, v4(2)), "another source is served");
        // A quarter of a second refills RATE / 4 = 8.
        let t1 = t0 + Duration::from_millis(250);
        let served = (0..20).filter(|_| b.take(t1, v4(1))).count();
        assert_eq!(served, 8);
    }

    #[test]
    fn an_ipv6_host_is_budgeted_by_its_64() {
        let t0 = Instant::now();
        let mut b = Budget::default();
        let a = |i: u16| IpAddr::V6(std::net::Ipv6Addr::new(0x2001, 0xdb8, 0, 1, 0, 0, 0, i));
        for i in 0..BURST as u16 {
            assert!(b.take(t0, a(i)));
        }
        assert!(!b.take(t0, a(999)));
        let other = IpAddr::V6(std::net::Ipv6Addr::new(0x2001, 0xdb8, 0, 2, 0, 0, 0, 1));
        assert!(b.take(t0, other));
    }

    #[test]
    fn idle_sources_are_forgotten_and_the_table_is_bounded() {
        let t0 = Instant::now();
        let mut b = Budget::default();
        let v6 = |i: u32| {
            IpAddr::V6(std::net::Ipv6Addr::new(
                0x2001,
                0xdb8,
                (i >> 16) as u16,
                i as u16,
                0,
                0,
                0,
                1,
            ))
        };
        for i in 0..MAX_SOURCES as u32 {
            assert!(b.take(t0, v6(i)));
        }
        assert!(!b.take(t0, v6(MAX_SOURCES as u32)), "table full");
        assert!(b.take(t0, v6(0)), "a known source still has its budget");
        let later = t0 + IDLE;
        assert!(b.take(later, v6(MAX_SOURCES as u32)));
        assert_eq!(b.len(), 1);
    }
}
