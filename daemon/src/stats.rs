//! Counters for `--globalstatus`, reset by `--clearstats`.
//!
//! The names are libreswan's, so munin plugins and scripts that scrape them keep
//! working. `current.*` values describe the present (they are not reset);
//! `total.*` values accumulate since start or the last `--clearstats`.

use std::collections::BTreeMap;

/// Live SA counts, by libreswan's categories.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SaCounts {
    /// IKE SAs still in IKE_SA_INIT.
    pub ike_half_open: u64,
    /// IKE SAs past IKE_SA_INIT.
    pub ike_open: u64,
    /// Open IKE SAs whose peer authenticated.
    pub ike_authenticated: u64,
    /// Open IKE SAs with NULL authentication.
    pub ike_anonymous: u64,
    /// Child SAs of authenticated IKE SAs.
    pub ipsec_authenticated: u64,
    /// Child SAs of anonymous IKE SAs.
    pub ipsec_anonymous: u64,
}

/// The accumulating `total.*` counters.
pub const TOTAL_COUNTERS: &[&str] = &[
    "total.ike.ikev2.established",
    "total.ike.ikev2.failed",
    "total.ike.ikev1.established",
    "total.ike.ikev1.failed",
    "total.ike.dpd.sent",
    "total.ike.dpd.recv",
    "total.ike.traffic.in",
    "total.ike.traffic.out",
    "total.ipsec.type.all",
    "total.ipsec.type.esp",
    "total.ipsec.type.ah",
    "total.ipsec.type.ipcomp",
    "total.ipsec.type.encap",
    "total.ipsec.type.nonencap",
    "total.ipsec.traffic.in",
    "total.ipsec.traffic.out",
    "total.xauth.started",
    "total.xauth.stopped",
    "total.xauth.aborted",
];

/// The `total.*` counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Totals(BTreeMap<&'static str, u64>);

impl Default for Totals {
    fn default() -> Self {
        Totals(TOTAL_COUNTERS.iter().map(|k| (*k, 0)).collect())
    }
}

impl Totals {
    /// Adds `n` to a counter; the name must be one of [`TOTAL_COUNTERS`].
    pub fn add(&mut self, name: &'static str, n: u64) {
        debug_assert!(TOTAL_COUNTERS.contains(&name), "unknown counter {name}");
        let c = self.0.entry(name).or_insert(0);
        *c = c.saturating_add(n);
    }

    /// `--clearstats`.
    pub fn clear(&mut self) {
        for v in self.0.values_mut() {
            *v = 0;
        }
    }

    /// Name/value pairs in a stable order.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        self.0.iter().map(|(k, v)| (*k, *v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_and_clear() {
        let mut t = Totals::default();
        t.add("total.ipsec.traffic.in", 84);
        t.add("total.ipsec.traffic.in", 16);
        assert!(t
            .iter()
            .any(|(k, v)| k == "total.ipsec.traffic.in" && v == 100));
        t.clear();
        assert!(t.iter().all(|(_, v)| v == 0));
        assert_eq!(t.iter().count(), TOTAL_COUNTERS.len());
    }
}
