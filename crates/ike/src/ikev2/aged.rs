//! A bounded table of per-address entries that age out in the order they were last
//! stamped: the shape both flood defences need ([`super::unprotected`], one answer
//! per address per second; [`super::budget`], a token bucket per source). Entries
//! leave from a queue of (stamp, address), so every call costs O(1) amortised
//! whatever the number of addresses, and the table never holds more than its cap.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// The table (see the module documentation).
#[derive(Debug)]
pub(crate) struct AgedTable<V> {
    entries: HashMap<IpAddr, (Instant, V)>,
    /// (stamp, address) in stamp order; an address stamped again has a later
    /// entry too, and only the one matching its current stamp removes it.
    order: VecDeque<(Instant, IpAddr)>,
    keep: Duration,
    max: usize,
}

impl<V> AgedTable<V> {
    /// Entries live `keep` after their last stamp; at most `max` at once.
    pub(crate) fn new(keep: Duration, max: usize) -> Self {
        AgedTable {
            entries: HashMap::new(),
            order: VecDeque::new(),
            keep,
            max,
        }
    }

    /// Drops the entries last stamped `keep` or longer before `now`.
    pub(crate) fn expire(&mut self, now: Instant) {
        while let Some(&(t, a)) = self.order.front() {
            if now.saturating_duration_since(t) < self.keep {
                break;
            }
            self.order.pop_front();
            if self.entries.get(&a).is_some_and(|(s, _)| *s == t) {
                self.entries.remove(&a);
            }
        }
    }

    /// The entry of `addr`, if it has one (not stamped by looking).
    pub(crate) fn get(&self, addr: &IpAddr) -> Option<&V> {
        self.entries.get(addr).map(|(_, v)| v)
    }

    /// Stamps `addr`'s entry with `now` (keeping it `keep` longer), making it with
    /// `make` when missing; `None` when it is missing and the table is full.
    pub(crate) fn stamp(
        &mut self,
        now: Instant,
        addr: IpAddr,
        make: impl FnOnce() -> V,
    ) -> Option<&mut V> {
        let full = self.entries.len() >= self.max;
        let e = match self.entries.entry(addr) {
            std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
            std::collections::hash_map::Entry::Vacant(_) if full => return None,
            std::collections::hash_map::Entry::Vacant(v) => v.insert((now, make())),
        };
        e.0 = now;
        self.order.push_back((now, addr));
        Some(&mut e.1)
    }

    /// Addresses held now.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(i: u8) -> IpAddr {
        IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, i))
    }

    #[test]
    fn entries_age_from_their_last_stamp_and_the_table_is_bounded() {
        let t0 = Instant::now();
        let mut t: AgedTable<u32> = AgedTable::new(Duration::from_secs(1), 2);
        *t.stamp(t0, a(1), || 0).unwrap() += 1;
        t.stamp(t0, a(2), || 0).unwrap();
        assert!(t.stamp(t0, a(3), || 0).is_none(), "full");
        // a(1) stamped again later: it outlives a(2).
        let t1 = t0 + Duration::from_millis(600);
        *t.stamp(t1, a(1), || 0).unwrap() += 1;
        t.expire(t0 + Duration::from_secs(1));
        assert_eq!(t.get(&a(1)), Some(&2));
        assert_eq!(t.get(&a(2)), None);
        assert_eq!(t.len(), 1);
        t.expire(t1 + Duration::from_secs(1));
        assert_eq!(t.len(), 0);
    }
}
