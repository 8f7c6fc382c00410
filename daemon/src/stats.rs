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

/// The accumulating `total.*` counters the daemon counts, each where it happens:
/// IKE SAs at their establishment or failure (engine events), Child SAs by type
/// when the kernel took them, IPsec traffic from the kernel's byte counters of
/// each Child SA as it is deleted (libreswan too counts terminated SAs), IKE
/// traffic as datagrams are received and sent. Liveness checks and notifies are
/// counted by the IKEv2 core (see [`core_counters`]). libreswan's IKEv1, XAUTH
/// and IPComp counters are not shown: pluto-rs has none of those.
pub const TOTAL_COUNTERS: &[&str] = &[
    "total.ike.ikev2.established",
    "total.ike.ikev2.failed",
    "total.ike.traffic.in",
    "total.ike.traffic.out",
    "total.ipsec.type.all",
    "total.ipsec.type.esp",
    "total.ipsec.type.ah",
    "total.ipsec.type.encap",
    "total.ipsec.type.non_encap",
    "total.ipsec.traffic.in",
    "total.ipsec.traffic.out",
];

/// The core's liveness and notify counters under libreswan's names:
/// `total.ike.dpd.sent/recv/replied`, then for every known notify type
/// `total.ikev2.sent.notifies.error.NAME` / `.status.NAME` and the same for
/// `recv`.
pub fn core_counters(c: &ike::ikev2::Counters) -> Vec<(String, u64)> {
    use ike::registry::NotifyType;
    let mut v = vec![
        ("total.ike.dpd.sent".to_string(), c.dpd_sent),
        ("total.ike.dpd.recv".to_string(), c.dpd_recv),
        ("total.ike.dpd.replied".to_string(), c.dpd_replied),
        // pluto-rs: IKE_SA_INIT requests dropped at the half-open maximum.
        (
            "total.ike.halfopen.refused".to_string(),
            c.half_open_refused,
        ),
    ];
    for (dir, m) in [("sent", &c.notifies_sent), ("recv", &c.notifies_recv)] {
        for kind in ["error", "status"] {
            // Known types, and any other type that was seen.
            let mut types: Vec<NotifyType> = NotifyType::KNOWN
                .iter()
                .copied()
                .chain(m.keys().copied())
                .filter(|t| t.is_error() == (kind == "error"))
                .collect();
            types.sort();
            types.dedup();
            for t in types {
                v.push((
                    format!("total.ikev2.{dir}.notifies.{kind}.{t}"),
                    m.get(&t).copied().unwrap_or(0),
                ));
            }
        }
    }
    v
}

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
    fn core_counters_use_libreswans_names() {
        let mut c = ike::ikev2::Counters {
            dpd_sent: 3,
            ..Default::default()
        };
        c.notifies_recv
            .insert(ike::registry::NotifyType::AUTHENTICATION_FAILED, 2);
        let v = core_counters(&c);
        assert!(v.contains(&("total.ike.dpd.sent".into(), 3)));
        assert!(v.contains(&("total.ike.dpd.replied".into(), 0)));
        assert!(v.contains(&(
            "total.ikev2.recv.notifies.error.AUTHENTICATION_FAILED".into(),
            2
        )));
        assert!(v.contains(&(
            "total.ikev2.sent.notifies.error.AUTHENTICATION_FAILED".into(),
            0
        )));
        assert!(v.contains(&(
            "total.ikev2.sent.notifies.status.NAT_DETECTION_SOURCE_IP".into(),
            0
        )));
        assert!(v
            .iter()
            .all(|(k, _)| !k.contains("ikev1") && !k.contains("xauth")));
    }

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
