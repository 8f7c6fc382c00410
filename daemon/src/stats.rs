//! Counters for `--globalstatus`, reset by `--clearstats`.
//!
//! The names are libreswan's, so munin plugins and scripts that scrape them keep
//! working. `current.*` values describe the present (they are not reset);
//! `total.*` values accumulate since start or the last `--clearstats`.

use std::collections::{BTreeMap, HashMap};

use ike::ikev2::SaEnd;
use serde_json::{json, Value};

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

/// Where a negotiation failed, for the per-connection failure counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FailedSa {
    /// An IKE SA ended without being deleted on purpose or expiring.
    Ike,
    /// A Child SA could not be set up (the IKE SA may have survived).
    Child,
    /// A rekey this end started was refused by the peer.
    Rekey,
}

impl FailedSa {
    fn name(self) -> &'static str {
        match self {
            FailedSa::Ike => "ike",
            FailedSa::Child => "child",
            FailedSa::Rekey => "rekey",
        }
    }
}

/// The failure label of an IKE SA's end: the notify's name, or what ended it when
/// no notify did; `None` for an end that is no failure. A free-text error is
/// `ERROR`, so label values stay few.
pub fn failure_reason(end: &SaEnd) -> Option<String> {
    match end {
        SaEnd::Deleted | SaEnd::LifetimeExpired => None,
        SaEnd::Failed(n) => Some(n.to_string()),
        SaEnd::Timeout => Some("TIMEOUT".into()),
        SaEnd::HalfOpenExpired => Some("HALF_OPEN_EXPIRED".into()),
        SaEnd::PeerDead => Some("PEER_DEAD".into()),
        SaEnd::Error(_) => Some("ERROR".into()),
    }
}

/// One connection's counters (the connection as the IKE core names it: a
/// template's instances count under the template).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnCounters {
    /// Established IKE SAs now.
    pub ike_sas: u64,
    /// IKE SAs established by a rekey (either end).
    pub ike_rekeys: u64,
    /// Child SAs that replaced one of the same traffic (a rekey, either end).
    pub child_rekeys: u64,
    /// Bytes of the connection's deleted Child SAs, in and out.
    pub in_bytes: u64,
    /// See `in_bytes`.
    pub out_bytes: u64,
    /// Failures by where and notify name ([`failure_reason`]).
    pub failures: BTreeMap<(FailedSa, String), u64>,
}

/// The per-connection counters behind `--globalstatus --json`'s `connections` and
/// the metrics: each event updates one entry by a hash lookup (O(1)), nothing
/// walks the SAs. The Child SA gauge and the bytes of live Child SAs are read
/// from the Child SA records when the document is built ([`PerConnection::json`]).
#[derive(Debug, Clone, Default)]
pub struct PerConnection(HashMap<String, ConnCounters>);

impl PerConnection {
    /// Runs `f` on the entry of `connection`; the name is copied only for the
    /// connection's first event.
    fn with(&mut self, connection: &str, f: impl FnOnce(&mut ConnCounters)) {
        match self.0.get_mut(connection) {
            Some(c) => f(c),
            None => f(self.0.entry(connection.to_string()).or_default()),
        }
    }

    /// An IKE SA of `connection` was established; `rekey` when it replaces one.
    pub fn ike_up(&mut self, connection: &str, rekey: bool) {
        self.with(connection, |c| {
            c.ike_sas += 1;
            if rekey {
                c.ike_rekeys += 1;
            }
        });
    }

    /// An established IKE SA of `connection` is gone.
    pub fn ike_down(&mut self, connection: &str) {
        if let Some(c) = self.0.get_mut(connection) {
            c.ike_sas = c.ike_sas.saturating_sub(1);
        }
    }

    /// A Child SA of `connection` replaced one of the same traffic.
    pub fn child_rekeyed(&mut self, connection: &str) {
        self.with(connection, |c| c.child_rekeys += 1);
    }

    /// A negotiation of `connection` failed.
    pub fn failed(&mut self, connection: &str, sa: FailedSa, reason: String) {
        self.with(connection, |c| {
            let n = c.failures.entry((sa, reason)).or_insert(0);
            *n = n.saturating_add(1);
        });
    }

    /// A deleted Child SA of `connection` carried these bytes.
    pub fn bytes(&mut self, connection: &str, inbound: u64, outbound: u64) {
        self.with(connection, |c| {
            c.in_bytes = c.in_bytes.saturating_add(inbound);
            c.out_bytes = c.out_bytes.saturating_add(outbound);
        });
    }

    /// `--clearstats`: rekeys, failures and bytes restart from 0; the IKE SA
    /// gauge is the present and stays. Entries left with nothing go.
    pub fn clear(&mut self) {
        self.0.retain(|_, c| {
            let ike_sas = c.ike_sas;
            *c = ConnCounters {
                ike_sas,
                ..ConnCounters::default()
            };
            ike_sas > 0
        });
    }

    /// One connection's counters, if it had an event.
    pub fn get(&self, connection: &str) -> Option<&ConnCounters> {
        self.0.get(connection)
    }

    /// The `connections` object: per connection (every one in `known`, and any
    /// other with counters) its counts, with `children` (connection, bytes in,
    /// bytes out of each live Child SA) added as the Child SA gauge and to the
    /// byte counts.
    pub fn json<'a>(
        &self,
        known: impl Iterator<Item = &'a str>,
        children: impl Iterator<Item = (&'a str, u64, u64)>,
    ) -> Value {
        let mut live: BTreeMap<&str, (u64, u64, u64)> = known.map(|n| (n, (0, 0, 0))).collect();
        for n in self.0.keys() {
            live.entry(n.as_str()).or_default();
        }
        for (n, i, o) in children {
            let e = live.entry(n).or_default();
            e.0 += 1;
            e.1 = e.1.saturating_add(i);
            e.2 = e.2.saturating_add(o);
        }
        let zero = ConnCounters::default();
        let m: serde_json::Map<String, Value> = live
            .into_iter()
            .map(|(name, (children, i, o))| {
                let c = self.0.get(name).unwrap_or(&zero);
                let mut failures: BTreeMap<&str, BTreeMap<&str, u64>> = BTreeMap::new();
                for ((sa, reason), n) in &c.failures {
                    failures.entry(sa.name()).or_default().insert(reason, *n);
                }
                (
                    name.to_string(),
                    json!({
                        "ike_sas": c.ike_sas,
                        "child_sas": children,
                        "ike_rekeys": c.ike_rekeys,
                        "child_rekeys": c.child_rekeys,
                        "in_bytes": c.in_bytes.saturating_add(i),
                        "out_bytes": c.out_bytes.saturating_add(o),
                        "failures": failures,
                    }),
                )
            })
            .collect();
        Value::Object(m)
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

    #[test]
    fn per_connection_counts_gauges_rekeys_failures_and_bytes() {
        let mut p = PerConnection::default();
        p.ike_up("a", false);
        p.ike_up("a", true);
        p.ike_down("a");
        p.ike_down("never-up");
        p.child_rekeyed("a");
        p.bytes("a", 100, 50);
        p.failed("b", FailedSa::Ike, "AUTHENTICATION_FAILED".into());
        p.failed("b", FailedSa::Ike, "AUTHENTICATION_FAILED".into());
        p.failed("b", FailedSa::Child, "TS_UNACCEPTABLE".into());
        let children = [("a", 10, 5), ("a", 1, 1)];
        let j = p.json(["a", "b", "c"].into_iter(), children.into_iter());
        assert_eq!(j["a"]["ike_sas"], 1);
        assert_eq!(j["a"]["ike_rekeys"], 1);
        assert_eq!(j["a"]["child_rekeys"], 1);
        assert_eq!(j["a"]["child_sas"], 2);
        assert_eq!(j["a"]["in_bytes"], 111);
        assert_eq!(j["a"]["out_bytes"], 56);
        assert_eq!(j["b"]["failures"]["ike"]["AUTHENTICATION_FAILED"], 2);
        assert_eq!(j["b"]["failures"]["child"]["TS_UNACCEPTABLE"], 1);
        assert_eq!(j["c"]["ike_sas"], 0);
        assert!(
            j.get("never-up").is_none(),
            "a down without an up makes no entry"
        );
        p.clear();
        let j = p.json(std::iter::empty(), std::iter::empty());
        assert_eq!(j["a"]["ike_sas"], 1, "the gauge stays");
        assert_eq!(j["a"]["ike_rekeys"], 0);
        assert!(j.get("b").is_none(), "{j}");
    }

    #[test]
    fn failure_reasons_name_the_notify_or_the_end() {
        use ike::registry::NotifyType;
        assert_eq!(
            failure_reason(&SaEnd::Failed(NotifyType::NO_PROPOSAL_CHOSEN)).as_deref(),
            Some("NO_PROPOSAL_CHOSEN")
        );
        assert_eq!(failure_reason(&SaEnd::Timeout).as_deref(), Some("TIMEOUT"));
        assert_eq!(
            failure_reason(&SaEnd::Error("some text".into())).as_deref(),
            Some("ERROR")
        );
        assert_eq!(failure_reason(&SaEnd::Deleted), None);
        assert_eq!(failure_reason(&SaEnd::LifetimeExpired), None);
    }
}
