//! The installed Child SAs, with the two indexes the event handlers need so that no
//! event costs all of them: how many each connection has (routing, `--route`,
//! failure shunts ask "is the connection up?" on every Child SA event) and which
//! carry the same traffic (a rekey's successor and its predecessor: same connection,
//! same policies), which decides whether updown `up`/`down` runs.
//!
//! A template's road warriors all share the template's name, so an index by
//! connection alone would still make every Child SA of a 100,000-peer gateway look
//! at all the others; the traffic index tells them apart by their policies.

use std::collections::hash_map::RandomState;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{BuildHasher, Hash, Hasher};

use ike::ikev2::SaSerial;

use crate::engine::ChildRec;

/// The Child SA table. `connection` and `policies` of a record are its keys in the
/// indexes: they are fixed once inserted (the `get_mut` users change counters,
/// flags and encapsulation only).
#[derive(Debug, Default)]
pub struct Children {
    /// Boxed: a record is several hundred bytes and B-tree leaves keyed by growing
    /// serials stay about half full, so inline records would cost twice their size.
    map: BTreeMap<SaSerial, Box<ChildRec>>,
    per_conn: HashMap<String, usize>,
    /// (hash of connection and policy ids, serial). A lookup compares what it
    /// finds, so a collision costs a comparison, not a wrong answer.
    by_traffic: BTreeSet<(u64, SaSerial)>,
    hasher: RandomState,
}

/// Whether two Child SAs carry the same traffic (same connection and policies): a
/// rekey's successor, as opposed to another road warrior of the same template.
pub fn same_traffic(a: &ChildRec, b: &ChildRec) -> bool {
    a.connection == b.connection
        && a.policies.len() == b.policies.len()
        && a.policies
            .iter()
            .zip(&b.policies)
            .all(|(x, y)| x.id() == y.id())
}

impl Children {
    fn traffic_key(&self, c: &ChildRec) -> u64 {
        let mut h = self.hasher.build_hasher();
        c.connection.hash(&mut h);
        for p in &c.policies {
            p.id().hash(&mut h);
        }
        h.finish()
    }

    /// Adds (or replaces) Child SA `serial`.
    pub fn insert(&mut self, serial: SaSerial, rec: ChildRec) {
        self.remove(&serial);
        let k = self.traffic_key(&rec);
        self.by_traffic.insert((k, serial));
        *self.per_conn.entry(rec.connection.clone()).or_default() += 1;
        self.map.insert(serial, Box::new(rec));
    }

    /// Removes Child SA `serial`.
    pub fn remove(&mut self, serial: &SaSerial) -> Option<ChildRec> {
        let rec = *self.map.remove(serial)?;
        let k = self.traffic_key(&rec);
        self.by_traffic.remove(&(k, *serial));
        if let Some(n) = self.per_conn.get_mut(&rec.connection) {
            *n -= 1;
            if *n == 0 {
                self.per_conn.remove(&rec.connection);
            }
        }
        Some(rec)
    }

    /// Child SA `serial`.
    pub fn get(&self, serial: &SaSerial) -> Option<&ChildRec> {
        self.map.get(serial).map(|b| &**b)
    }

    /// Child SA `serial`, to update its counters or flags (not its connection or
    /// policies, which the indexes are built on).
    pub fn get_mut(&mut self, serial: &SaSerial) -> Option<&mut ChildRec> {
        self.map.get_mut(serial).map(|b| &mut **b)
    }

    /// Whether Child SA `serial` is installed.
    pub fn contains_key(&self, serial: &SaSerial) -> bool {
        self.map.contains_key(serial)
    }

    /// Every Child SA, in serial order.
    pub fn iter(&self) -> impl Iterator<Item = (&SaSerial, &ChildRec)> {
        self.map.iter().map(|(s, c)| (s, &**c))
    }

    /// Every Child SA, in serial order, for counters and flags (see
    /// [`get_mut`](Self::get_mut)).
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&SaSerial, &mut ChildRec)> {
        self.map.iter_mut().map(|(s, c)| (s, &mut **c))
    }

    /// How many are installed.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Whether connection `name` has an installed Child SA. O(1).
    pub fn has_connection(&self, name: &str) -> bool {
        self.per_conn.contains_key(name)
    }

    /// The other Child SAs carrying the same traffic as `serial` (its rekey
    /// predecessor or successor), in serial order.
    pub fn same_traffic_as(
        &self,
        serial: SaSerial,
    ) -> impl Iterator<Item = (SaSerial, &ChildRec)> + '_ {
        let me = self.get(&serial);
        let k = me.map(|m| self.traffic_key(m));
        k.into_iter()
            .flat_map(move |k| {
                self.by_traffic
                    .range((k, SaSerial(0))..=(k, SaSerial(u64::MAX)))
                    .map(|(_, s)| *s)
            })
            .filter(move |s| *s != serial)
            .filter_map(move |s| {
                let c = self.get(&s)?;
                me.filter(|m| same_traffic(c, m)).map(|_| (s, c))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(conn: &str, src: &str) -> ChildRec {
        crate::engine::tests_support::child_rec(conn, src)
    }

    #[test]
    fn connection_counts_follow_inserts_and_removals() {
        let mut c = Children::default();
        c.insert(SaSerial(2), rec("a", "192.0.2.1"));
        c.insert(SaSerial(3), rec("a", "192.0.2.2"));
        c.insert(SaSerial(4), rec("b", "192.0.2.3"));
        assert!(c.has_connection("a") && c.has_connection("b") && !c.has_connection("x"));
        c.remove(&SaSerial(2));
        assert!(c.has_connection("a"));
        c.remove(&SaSerial(3));
        assert!(!c.has_connection("a"));
        assert_eq!(c.len(), 1);
        // replacing a record does not count it twice
        c.insert(SaSerial(4), rec("b", "192.0.2.3"));
        c.remove(&SaSerial(4));
        assert!(!c.has_connection("b") && c.is_empty());
    }

    #[test]
    fn same_traffic_finds_the_rekey_twin_not_other_road_warriors() {
        let mut c = Children::default();
        c.insert(SaSerial(2), rec("rw", "192.0.2.1"));
        c.insert(SaSerial(3), rec("rw", "192.0.2.2"));
        c.insert(SaSerial(5), rec("rw", "192.0.2.1"));
        c.insert(SaSerial(6), rec("other", "192.0.2.1"));
        let twins: Vec<SaSerial> = c.same_traffic_as(SaSerial(5)).map(|(s, _)| s).collect();
        assert_eq!(twins, [SaSerial(2)]);
        assert_eq!(c.same_traffic_as(SaSerial(3)).count(), 0);
        assert_eq!(c.same_traffic_as(SaSerial(9)).count(), 0);
        c.remove(&SaSerial(2));
        assert_eq!(c.same_traffic_as(SaSerial(5)).count(), 0);
    }
}
