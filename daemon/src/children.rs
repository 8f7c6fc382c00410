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
use std::sync::Arc;

use ike::ikev2::SaSerial;
use kernel::{
    Dir, Encap, Encr, Integ, Lifetimes, Limits, Mark, PolicyId, SaCrypto, SaId, SaSpec, SecretKey,
    Selector,
};

use crate::engine::ChildRec;

/// The inbound and outbound SA of a Child SA as installed, kept so that both can be
/// updated (XFRM_MSG_UPDSA takes the whole SA, keys included) after a NAT mapping
/// change.
///
/// Two [`SaSpec`]s are about 500 bytes a tunnel, most of it what the pair has twice
/// or what follows from the rest: the same mode, reqid, lifetimes, mark and ESN
/// flag; each SA's source is the other's destination; the encapsulation ports are
/// each other's mirror; a transport SA's selector is its two hosts. So a pair
/// shaped the way [`crate::xfrm::child_plan`] builds it is kept as only what is
/// not derived, and [`KeptSas::specs`] builds the two specs again, equal to the
/// installed ones: [`KeptSas::keep`] checks this, and a pair of another shape is
/// kept whole.
#[derive(Debug, Clone)]
pub struct KeptSas(Kept);

// The compact variant is what every tunnel has; boxing it as well would add a
// heap block per tunnel to save bytes only on the rare whole pair.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
enum Kept {
    Compact(CompactSas),
    Whole(Box<(SaSpec, SaSpec)>),
}

#[derive(Debug, Clone)]
struct CompactSas {
    inbound: SaId,
    outbound: SaId,
    mode: kernel::Mode,
    reqid: u32,
    crypto: EspKeys,
    /// A host-to-host selector on both SAs (transport mode), else none.
    host_selectors: bool,
    /// Inbound, outbound.
    replay_window: (u32, u32),
    esn: bool,
    /// Soft and hard `add_seconds` of both; the other limits are none.
    lifetimes: (u64, u64),
    /// ESP-in-UDP (our port, the peer's port).
    encap: Option<(u16, u16)>,
    mark: Option<Mark>,
    if_id: Option<u32>,
}

impl CompactSas {
    fn of(i: &SaSpec, o: &SaSpec) -> Option<CompactSas> {
        let encap = match (i.encap, o.encap) {
            (None, None) => None,
            (Some(_), Some(e)) => Some((e.sport, e.dport)),
            _ => return None,
        };
        let crypto = EspKeys::of(&i.crypto, &o.crypto)?;
        Some(CompactSas {
            inbound: i.id,
            outbound: o.id,
            mode: i.mode,
            reqid: i.reqid,
            crypto,
            host_selectors: i.selector.is_some(),
            replay_window: (i.replay_window, o.replay_window),
            esn: i.esn,
            lifetimes: (i.lifetimes.soft.add_seconds, i.lifetimes.hard.add_seconds),
            encap,
            mark: i.mark,
            if_id: i.if_id,
        })
    }

    fn specs(&self) -> (SaSpec, SaSpec) {
        let (me, peer) = (self.inbound.dst, self.outbound.dst);
        let limits = |add_seconds| Limits {
            add_seconds,
            ..Limits::INFINITE
        };
        let lifetimes = Lifetimes {
            soft: limits(self.lifetimes.0),
            hard: limits(self.lifetimes.1),
        };
        let spec = |id: SaId, src, crypto, replay_window, selector, encap| SaSpec {
            id,
            src,
            mode: self.mode,
            reqid: self.reqid,
            crypto,
            selector,
            replay_window,
            esn: self.esn,
            lifetimes,
            encap,
            mark: self.mark,
            if_id: self.if_id,
        };
        let hosts = |src, dst| {
            self.host_selectors
                .then(|| Selector::hosts(src, dst).ok())
                .flatten()
        };
        let encap = |sport, dport| Encap {
            sport,
            dport,
            original: None,
        };
        let i = spec(
            self.inbound,
            peer,
            self.crypto.direction(0),
            self.replay_window.0,
            hosts(peer, me),
            self.encap.map(|(ours, theirs)| encap(theirs, ours)),
        );
        let o = spec(
            self.outbound,
            me,
            self.crypto.direction(1),
            self.replay_window.1,
            hosts(me, peer),
            self.encap.map(|(ours, theirs)| encap(ours, theirs)),
        );
        (i, o)
    }
}

/// The ESP algorithms of both directions (the same both ways, as negotiated) and
/// their keys in one zeroized block: inbound cipher key, inbound integrity key,
/// outbound cipher key, outbound integrity key. Two `SaCrypto`s were 128 bytes
/// and four key allocations.
#[derive(Debug, Clone)]
struct EspKeys {
    encr: Encr,
    integ: Option<Integ>,
    encr_len: u8,
    integ_len: u8,
    keys: SecretKey,
}

impl EspKeys {
    fn of(i: &SaCrypto, o: &SaCrypto) -> Option<EspKeys> {
        /// Cipher, its key, integrity algorithm and its key (empty if none).
        type Esp<'a> = (Encr, &'a [u8], Option<Integ>, &'a [u8]);
        fn esp(c: &SaCrypto) -> Option<Esp<'_>> {
            match c {
                SaCrypto::Esp {
                    encr,
                    encr_key,
                    integ,
                } => Some((
                    *encr,
                    encr_key.as_bytes(),
                    integ.as_ref().map(|(a, _)| *a),
                    integ.as_ref().map_or(&[][..], |(_, k)| k.as_bytes()),
                )),
                _ => None,
            }
        }
        let ((encr, ik, integ, iik), (oencr, ok, ointeg, oik)) = (esp(i)?, esp(o)?);
        if encr != oencr || integ != ointeg {
            return None;
        }
        if ik.len() != ok.len() || iik.len() != oik.len() {
            return None;
        }
        let keys = SecretKey::new([ik, iik, ok, oik].concat());
        Some(EspKeys {
            encr,
            integ,
            encr_len: u8::try_from(ik.len()).ok()?,
            integ_len: u8::try_from(iik.len()).ok()?,
            keys,
        })
    }

    /// Inbound (0) or outbound (1).
    fn direction(&self, d: usize) -> SaCrypto {
        let (e, g) = (usize::from(self.encr_len), usize::from(self.integ_len));
        let at = d * (e + g);
        let b = self.keys.as_bytes();
        SaCrypto::Esp {
            encr: self.encr,
            encr_key: SecretKey::from_slice(&b[at..at + e]),
            integ: self
                .integ
                .map(|a| (a, SecretKey::from_slice(&b[at + e..at + e + g]))),
        }
    }
}

impl KeptSas {
    /// Keeps an installed pair: in its compact form when that builds the pair again
    /// exactly, whole otherwise.
    pub fn keep(inbound: SaSpec, outbound: SaSpec) -> KeptSas {
        match CompactSas::of(&inbound, &outbound) {
            Some(c) if c.specs() == (inbound.clone(), outbound.clone()) => {
                KeptSas(Kept::Compact(c))
            }
            _ => KeptSas(Kept::Whole(Box::new((inbound, outbound)))),
        }
    }

    /// The inbound and outbound SA as installed.
    pub fn specs(&self) -> (SaSpec, SaSpec) {
        match &self.0 {
            Kept::Compact(c) => c.specs(),
            Kept::Whole(b) => (**b).clone(),
        }
    }

    /// The SAs' XFRM mark (the same on both, as the daemon installs them).
    pub fn mark(&self) -> Option<Mark> {
        match &self.0 {
            Kept::Compact(c) => c.mark,
            Kept::Whole(b) => b.0.mark,
        }
    }
}

/// The Child SA table. `connection` and `policies` of a record are its keys in the
/// indexes: they are fixed once inserted (the `get_mut` users change counters,
/// flags and encapsulation only).
#[derive(Debug, Default)]
pub struct Children {
    /// Boxed: a record is several hundred bytes and B-tree leaves keyed by growing
    /// serials stay about half full, so inline records would cost twice their size.
    map: BTreeMap<SaSerial, Box<ChildRec>>,
    /// Its keys are the names the records share (see [`Children::insert`]).
    per_conn: HashMap<Arc<str>, usize>,
    /// (hash of connection and policy ids, serial). A lookup compares what it
    /// finds, so a collision costs a comparison, not a wrong answer.
    by_traffic: BTreeSet<(u64, SaSerial)>,
    hasher: RandomState,
}

/// The policies of a Child SA as installed, kept to delete them and to tell a
/// rekey from another tunnel: their ids. Most are the policies
/// [`crate::xfrm::policies`] builds, per pair of selectors an outbound one and an
/// inbound one (and a forward one in tunnel mode) over the reverse, with one mark
/// and interface ID; those are kept as their outbound selectors (the three ids
/// were about 200 bytes a tunnel). [`KeptPolicies::keep`] checks that the ids
/// come out again, and keeps others as they are. The form kept depends only on
/// the ids, so equal ids compare and hash equal.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeptPolicies(KeptIds);

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum KeptIds {
    Pairs {
        out: Box<[Selector]>,
        fwd: bool,
        mark: Option<Mark>,
        if_id: Option<u32>,
    },
    Whole(Box<[PolicyId]>),
}

impl KeptPolicies {
    /// Keeps the ids of the installed policies, in their order.
    pub fn keep(ids: Vec<PolicyId>) -> KeptPolicies {
        if let Some(first) = ids.first() {
            let fwd = ids.get(2).is_some_and(|p| p.dir == Dir::Fwd);
            let per_pair = if fwd { 3 } else { 2 };
            let pairs = KeptPolicies(KeptIds::Pairs {
                out: ids.iter().step_by(per_pair).map(|p| p.selector).collect(),
                fwd,
                mark: first.mark,
                if_id: first.if_id,
            });
            if pairs.ids().eq(ids.iter().copied()) {
                return pairs;
            }
        }
        KeptPolicies(KeptIds::Whole(ids.into()))
    }

    /// The ids, in the order installed.
    pub fn ids(&self) -> impl Iterator<Item = PolicyId> + '_ {
        let (pairs, whole) = match &self.0 {
            KeptIds::Pairs {
                out,
                fwd,
                mark,
                if_id,
            } => (Some((out, *fwd, *mark, *if_id)), None),
            KeptIds::Whole(ids) => (None, Some(ids)),
        };
        let pairs = pairs.into_iter().flat_map(|(out, fwd, mark, if_id)| {
            out.iter().flat_map(move |&sel| {
                let id = |selector, dir| PolicyId {
                    selector,
                    dir,
                    mark,
                    if_id,
                };
                let back = sel.reversed();
                [
                    Some(id(sel, Dir::Out)),
                    Some(id(back, Dir::In)),
                    fwd.then(|| id(back, Dir::Fwd)),
                ]
                .into_iter()
                .flatten()
            })
        });
        pairs.chain(whole.into_iter().flat_map(|ids| ids.iter().copied()))
    }
}

/// Whether two Child SAs carry the same traffic (same connection and policies): a
/// rekey's successor, as opposed to another road warrior of the same template.
pub fn same_traffic(a: &ChildRec, b: &ChildRec) -> bool {
    a.connection == b.connection && a.policies == b.policies
}

impl Children {
    fn traffic_key(&self, c: &ChildRec) -> u64 {
        let mut h = self.hasher.build_hasher();
        c.connection.hash(&mut h);
        c.policies.hash(&mut h);
        h.finish()
    }

    /// Adds (or replaces) Child SA `serial`. Its connection name becomes the one
    /// the connection's other Child SAs hold (one copy however many road warriors
    /// a template has).
    pub fn insert(&mut self, serial: SaSerial, mut rec: ChildRec) {
        self.remove(&serial);
        let k = self.traffic_key(&rec);
        self.by_traffic.insert((k, serial));
        match self.per_conn.get_key_value(&*rec.connection) {
            Some((name, _)) => rec.connection = name.clone(),
            None => {
                self.per_conn.insert(rec.connection.clone(), 0);
            }
        }
        if let Some(n) = self.per_conn.get_mut(&*rec.connection) {
            *n += 1;
        }
        self.map.insert(serial, Box::new(rec));
    }

    /// Removes Child SA `serial`.
    pub fn remove(&mut self, serial: &SaSerial) -> Option<ChildRec> {
        let rec = *self.map.remove(serial)?;
        let k = self.traffic_key(&rec);
        self.by_traffic.remove(&(k, *serial));
        if let Some(n) = self.per_conn.get_mut(&*rec.connection) {
            *n -= 1;
            if *n == 0 {
                self.per_conn.remove(&*rec.connection);
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

    /// Every shape of pair `child_plan` builds: tunnel and transport (host
    /// selectors), AEAD and cipher + integrity, ESN, NAT-T, a mark; IPv4 and IPv6.
    fn plans() -> Vec<crate::xfrm::ChildPlan> {
        use crate::xfrm::{child_plan, reqid, testutil::install};
        use ike::ikev2::{Mode, UdpEncap};
        let mut out = Vec::new();
        for mode in [Mode::Tunnel, Mode::Transport] {
            for gcm in [true, false] {
                for variant in 0..4 {
                    let mut req = install(mode, gcm);
                    if variant >= 1 {
                        req.encap = Some(UdpEncap {
                            local_port: 4500,
                            remote_port: 31337,
                        });
                    }
                    if variant == 2 {
                        req.esn = true;
                    }
                    if variant == 3 {
                        for (d, src, dst) in [
                            (&mut req.inbound, "2001:db8::2", "2001:db8::1"),
                            (&mut req.outbound, "2001:db8::1", "2001:db8::2"),
                        ] {
                            d.src = src.parse().unwrap();
                            d.dst = dst.parse().unwrap();
                        }
                    }
                    let mut plan = child_plan(&req, reqid(1)).unwrap();
                    if variant == 2 {
                        crate::xfrm::set_mark(
                            &mut plan,
                            Some(Mark {
                                value: 0x10,
                                mask: 0xff,
                            }),
                        );
                    }
                    out.push(plan);
                }
            }
        }
        out
    }

    #[test]
    fn kept_sas_build_the_installed_specs_again() {
        for plan in plans() {
            let kept = KeptSas::keep(plan.inbound.clone(), plan.outbound.clone());
            assert!(
                matches!(kept.0, Kept::Compact(_)),
                "a pair child_plan builds is kept compact: {plan:?}"
            );
            assert_eq!(kept.specs(), (plan.inbound.clone(), plan.outbound.clone()));
            assert_eq!(kept.mark(), plan.inbound.mark);
        }
    }

    #[test]
    fn kept_sas_after_a_nat_mapping_change_are_the_updated_specs() {
        for plan in plans().into_iter().filter(|p| p.inbound.encap.is_some()) {
            let kept = KeptSas::keep(plan.inbound.clone(), plan.outbound.clone());
            let peer = plan.outbound.id.dst;
            let (i, o) = kept.specs();
            let (i2, o2) = crate::xfrm::remap_encap(
                &i,
                &o,
                std::net::SocketAddr::new(peer, 31337),
                std::net::SocketAddr::new(peer, 40000),
            )
            .unwrap()
            .unwrap();
            let again = KeptSas::keep(i2.clone(), o2.clone());
            assert!(matches!(again.0, Kept::Compact(_)));
            let (i3, o3) = again.specs();
            assert_eq!((&i3, &o3), (&i2, &o2));
            assert_eq!(i3.encap.unwrap().sport, 40000);
            assert_eq!(o3.encap.unwrap().dport, 40000);
        }
    }

    #[test]
    fn a_pair_of_another_shape_is_kept_whole() {
        let plan = plans().remove(1);
        let mut odd_encap = plan.outbound.clone();
        if let Some(e) = &mut odd_encap.encap {
            e.original = Some("192.0.2.9".parse().unwrap());
        }
        let mut odd_reqid = plan.outbound.clone();
        odd_reqid.reqid += 1;
        let mut no_encap = plan.outbound.clone();
        no_encap.encap = None;
        let mut byte_limit = plan.outbound.clone();
        byte_limit.lifetimes.soft.bytes = 1 << 30;
        let mut odd_key = plan.outbound.clone();
        if let SaCrypto::Esp { encr_key, .. } = &mut odd_key.crypto {
            *encr_key = SecretKey::from_slice(&[1; 20]);
        }
        for o in [odd_encap, odd_reqid, no_encap, byte_limit, odd_key] {
            let kept = KeptSas::keep(plan.inbound.clone(), o.clone());
            assert!(matches!(kept.0, Kept::Whole(_)));
            assert_eq!(kept.specs(), (plan.inbound.clone(), o));
        }
    }

    #[test]
    fn kept_policies_give_the_installed_ids_again() {
        use crate::xfrm::{policies, testutil::ts};
        use ike::ikev2::Mode;
        let me: std::net::IpAddr = "192.0.2.1".parse().unwrap();
        let peer: std::net::IpAddr = "192.0.2.2".parse().unwrap();
        let mut lists: Vec<Vec<PolicyId>> = plans()
            .iter()
            .map(|p| p.policies.iter().map(|p| p.id()).collect())
            .collect();
        // Two selector pairs each way, in both modes.
        for mode in [Mode::Tunnel, Mode::Transport] {
            let ps = policies(
                &[ts("198.51.100.0", 24), ts("198.51.101.0", 24)],
                &[ts("203.0.113.0", 24)],
                mode,
                me,
                peer,
                16388,
                false,
            )
            .unwrap();
            assert_eq!(ps.len(), if mode == Mode::Tunnel { 6 } else { 4 });
            lists.push(ps.iter().map(|p| p.id()).collect());
        }
        for ids in lists {
            let kept = KeptPolicies::keep(ids.clone());
            assert!(matches!(kept.0, KeptIds::Pairs { .. }), "{ids:?}");
            assert_eq!(kept.ids().collect::<Vec<_>>(), ids);
        }
    }

    #[test]
    fn policies_of_another_shape_are_kept_whole() {
        let base: Vec<PolicyId> = plans()[0].policies.iter().map(|p| p.id()).collect();
        let mut one_mark = base.clone();
        one_mark[1].mark = Some(Mark { value: 1, mask: 1 });
        let mut swapped = base.clone();
        swapped.swap(1, 2);
        for ids in [one_mark, swapped, base[..1].to_vec(), Vec::new()] {
            let kept = KeptPolicies::keep(ids.clone());
            assert!(matches!(kept.0, KeptIds::Whole(_)), "{ids:?}");
            assert_eq!(kept.ids().collect::<Vec<_>>(), ids);
        }
        assert_eq!(
            KeptPolicies::keep(base.clone()),
            KeptPolicies::keep(base.clone())
        );
        assert_ne!(
            KeptPolicies::keep(base.clone()),
            KeptPolicies::keep(base[..2].to_vec())
        );
    }

    #[test]
    fn records_of_a_connection_share_its_name() {
        let mut c = Children::default();
        c.insert(SaSerial(2), rec("rw", "192.0.2.1"));
        c.insert(SaSerial(3), rec("rw", "192.0.2.2"));
        let (a, b) = (c.get(&SaSerial(2)).unwrap(), c.get(&SaSerial(3)).unwrap());
        assert!(Arc::ptr_eq(&a.connection, &b.connection));
        assert_eq!(&*b.connection, "rw");
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
