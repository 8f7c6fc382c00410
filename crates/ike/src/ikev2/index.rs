//! Indexes over the IKE SA table that keep the endpoint's per-call cost independent
//! of how many SAs it holds: the timer queue (every SA's earliest deadline, ordered,
//! so [`Endpoint::poll_timeout`](super::Endpoint::poll_timeout) is a lookup of the
//! first entry and [`Endpoint::handle_timeout`](super::Endpoint::handle_timeout)
//! visits only the SAs that are due), the SAs of each connection (for ACQUIREs,
//! `whack --down`), the SAs of each (connection, authenticated peer ID) pair (for
//! INITIAL_CONTACT and `--uniqueids`: a template's road warriors all share one
//! connection, so scanning the connection's SAs would make every new IKE SA cost
//! all the others) and the owners of Child SAs by serial and by SPI (for whack
//! commands and kernel EXPIREs).
//!
//! The exchange handlers change an SA's timers and even its connection (a responder
//! switches connection in IKE_AUTH) in many places. Rather than have each of them
//! tell the index, the endpoint calls [`SaIndex::update`] whenever it is done with
//! an SA (in `settle`, after every message, command and timer), which compares what
//! is registered with what the SA now says. The invariant is: outside the
//! endpoint's methods, every SA in the table is registered with exactly its
//! [`IkeSa::next_timer`], its connection's name and its Child SAs.

use std::collections::hash_map::RandomState;
use std::collections::{BTreeSet, HashMap};
use std::hash::BuildHasher;
use std::sync::Arc;
use std::time::Instant;

use super::config::{Connection, Identity};
use super::output::SaSerial;
use super::sa::IkeSa;

/// What the index holds for one SA, to find and replace its entries.
#[derive(Debug)]
struct Registered {
    timer: Option<Instant>,
    conn: Arc<Connection>,
    /// (serial, inbound SPI, outbound SPI) of each Child SA, in the SA's order.
    children: Vec<ChildKey>,
    /// The key of (connection name, peer ID) in `by_peer`, once the peer is
    /// authenticated.
    peer: Option<u64>,
    /// Counted in `half_open`.
    half_open: bool,
}

/// Whether `sa` counts as a responder half-open IKE SA (for the DDoS thresholds).
fn is_half_open(sa: &IkeSa) -> bool {
    sa.state == super::sa::IkeState::HalfOpen
}

type ChildKey = (SaSerial, u32, u32);

fn child_keys(sa: &IkeSa) -> impl Iterator<Item = ChildKey> + '_ {
    sa.children
        .iter()
        .map(|c| (c.serial, c.inbound_spi, c.outbound_spi))
}

/// The timer queue and the by-connection index of an endpoint's IKE SAs.
#[derive(Debug, Default)]
pub(crate) struct SaIndex {
    registered: HashMap<SaSerial, Registered>,
    /// (deadline, serial) of every SA that has a timer, earliest first.
    timers: BTreeSet<(Instant, SaSerial)>,
    /// The SAs of each connection, by connection name.
    by_conn: HashMap<String, BTreeSet<SaSerial>>,
    /// (Child SA serial, owning IKE SA). A set of pairs rather than a map: while
    /// the endpoint hands Child SAs from one IKE SA to another, both may hold it
    /// for a moment.
    child_owner: BTreeSet<(SaSerial, SaSerial)>,
    /// (either SPI of a Child SA, owning IKE SA). The peer picks the outbound SPIs,
    /// so two peers may well pick the same one.
    child_spi: BTreeSet<(u32, SaSerial)>,
    /// (hash of connection name and peer ID, serial) of every SA whose peer is
    /// authenticated. A hash keeps the entry small; a lookup compares the names and
    /// IDs of what it finds, so a collision costs a comparison, never a wrong
    /// answer. The hasher is keyed per process, so peers cannot aim IDs at one
    /// bucket.
    by_peer: BTreeSet<(u64, SaSerial)>,
    hasher: RandomState,
    /// Responder half-open IKE SAs (IKE_SA_INIT answered, IKE_AUTH not yet), kept
    /// as a count so the DDoS thresholds cost nothing per datagram.
    half_open: usize,
}

fn peer_key(hasher: &RandomState, name: &str, id: &Identity) -> u64 {
    hasher.hash_one((name, id))
}

impl SaIndex {
    /// Registers `sa`, or brings its entries up to date with its timers and
    /// connection. O(log n) when something changed, one hash lookup otherwise.
    pub fn update(&mut self, sa: &IkeSa) {
        let timer = sa.next_timer();
        let half_open = is_half_open(sa);
        match self.registered.get_mut(&sa.serial) {
            Some(r) => {
                if r.half_open != half_open {
                    if half_open {
                        self.half_open += 1;
                    } else {
                        self.half_open -= 1;
                    }
                    r.half_open = half_open;
                }
                if r.timer != timer {
                    if let Some(old) = r.timer {
                        self.timers.remove(&(old, sa.serial));
                    }
                    if let Some(new) = timer {
                        self.timers.insert((new, sa.serial));
                    }
                    r.timer = timer;
                }
                if !Arc::ptr_eq(&r.conn, &sa.conn) {
                    if r.conn.name != sa.conn.name {
                        remove_from(&mut self.by_conn, &r.conn.name, sa.serial);
                        self.by_conn
                            .entry(sa.conn.name.to_string())
                            .or_default()
                            .insert(sa.serial);
                    }
                    r.conn = sa.conn.clone();
                }
                let peer = sa
                    .peer_id
                    .as_ref()
                    .map(|id| peer_key(&self.hasher, &sa.conn.name, id));
                if r.peer != peer {
                    if let Some(old) = r.peer {
                        self.by_peer.remove(&(old, sa.serial));
                    }
                    if let Some(new) = peer {
                        self.by_peer.insert((new, sa.serial));
                    }
                    r.peer = peer;
                }
                if !r.children.iter().copied().eq(child_keys(sa)) {
                    for (child, inbound, outbound) in r.children.drain(..) {
                        self.child_owner.remove(&(child, sa.serial));
                        self.child_spi.remove(&(inbound, sa.serial));
                        self.child_spi.remove(&(outbound, sa.serial));
                    }
                    r.children.extend(child_keys(sa));
                    // Kept per IKE SA: no room for Child SAs it does not have.
                    r.children.shrink_to_fit();
                    add_children(
                        &mut self.child_owner,
                        &mut self.child_spi,
                        sa.serial,
                        &r.children,
                    );
                }
            }
            None => {
                if let Some(new) = timer {
                    self.timers.insert((new, sa.serial));
                }
                self.by_conn
                    .entry(sa.conn.name.to_string())
                    .or_default()
                    .insert(sa.serial);
                let children: Vec<ChildKey> = child_keys(sa).collect();
                add_children(
                    &mut self.child_owner,
                    &mut self.child_spi,
                    sa.serial,
                    &children,
                );
                let peer = sa
                    .peer_id
                    .as_ref()
                    .map(|id| peer_key(&self.hasher, &sa.conn.name, id));
                if let Some(p) = peer {
                    self.by_peer.insert((p, sa.serial));
                }
                self.half_open += usize::from(half_open);
                self.registered.insert(
                    sa.serial,
                    Registered {
                        timer,
                        conn: sa.conn.clone(),
                        children,
                        peer,
                        half_open,
                    },
                );
            }
        }
    }

    /// Responder half-open IKE SAs registered.
    pub fn half_open(&self) -> usize {
        self.half_open
    }

    /// Drops every entry of an SA that left the table.
    pub fn remove(&mut self, serial: SaSerial) {
        if let Some(r) = self.registered.remove(&serial) {
            self.half_open -= usize::from(r.half_open);
            if let Some(t) = r.timer {
                self.timers.remove(&(t, serial));
            }
            remove_from(&mut self.by_conn, &r.conn.name, serial);
            if let Some(p) = r.peer {
                self.by_peer.remove(&(p, serial));
            }
            for (child, inbound, outbound) in r.children {
                self.child_owner.remove(&(child, serial));
                self.child_spi.remove(&(inbound, serial));
                self.child_spi.remove(&(outbound, serial));
            }
        }
    }

    /// The earliest deadline of any SA.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.timers.first().map(|(t, _)| *t)
    }

    /// The SAs with a deadline at or before `now`, in serial order.
    pub fn due(&self, now: Instant) -> Vec<SaSerial> {
        let mut due: Vec<SaSerial> = self
            .timers
            .iter()
            .take_while(|(t, _)| *t <= now)
            .map(|(_, s)| *s)
            .collect();
        due.sort_unstable();
        due
    }

    /// The SAs of the connection named `name`, in serial order.
    pub fn of_connection(&self, name: &str) -> impl Iterator<Item = SaSerial> + '_ {
        self.by_conn.get(name).into_iter().flatten().copied()
    }

    /// The SAs that may have connection `name` and authenticated peer `id`, in
    /// serial order: a superset (hash collisions), which the caller filters.
    pub fn of_peer(&self, name: &str, id: &Identity) -> impl Iterator<Item = SaSerial> + '_ {
        let k = peer_key(&self.hasher, name, id);
        self.by_peer
            .range((k, SaSerial(0))..=(k, SaSerial(u64::MAX)))
            .map(|(_, s)| *s)
    }

    /// The IKE SAs holding Child SA `child`, in serial order (one, except while
    /// the endpoint moves it).
    pub fn owners_of_child(&self, child: SaSerial) -> impl Iterator<Item = SaSerial> + '_ {
        self.child_owner
            .range((child, SaSerial(0))..=(child, SaSerial(u64::MAX)))
            .map(|(_, ike)| *ike)
    }

    /// The IKE SAs with a Child SA that has `spi` as either SPI, in serial order.
    pub fn owners_of_spi(&self, spi: u32) -> impl Iterator<Item = SaSerial> + '_ {
        self.child_spi
            .range((spi, SaSerial(0))..=(spi, SaSerial(u64::MAX)))
            .map(|(_, ike)| *ike)
    }

    /// Whether the entries of `sa` are up to date (for debug checks).
    pub fn is_current(&self, sa: &IkeSa) -> bool {
        self.registered.get(&sa.serial).is_some_and(|r| {
            r.timer == sa.next_timer()
                && r.conn.name == sa.conn.name
                && r.timer
                    .is_none_or(|t| self.timers.contains(&(t, sa.serial)))
                && self
                    .by_conn
                    .get(&*sa.conn.name)
                    .is_some_and(|s| s.contains(&sa.serial))
                && r.peer
                    == sa
                        .peer_id
                        .as_ref()
                        .map(|id| peer_key(&self.hasher, &sa.conn.name, id))
                && r.peer
                    .is_none_or(|p| self.by_peer.contains(&(p, sa.serial)))
                && r.children.iter().copied().eq(child_keys(sa))
                && r.children.iter().all(|(c, i, o)| {
                    self.child_owner.contains(&(*c, sa.serial))
                        && self.child_spi.contains(&(*i, sa.serial))
                        && self.child_spi.contains(&(*o, sa.serial))
                })
        })
    }

    /// How many SAs are registered.
    pub fn len(&self) -> usize {
        self.registered.len()
    }
}

fn add_children(
    child_owner: &mut BTreeSet<(SaSerial, SaSerial)>,
    child_spi: &mut BTreeSet<(u32, SaSerial)>,
    ike: SaSerial,
    children: &[ChildKey],
) {
    for (child, inbound, outbound) in children {
        child_owner.insert((*child, ike));
        child_spi.insert((*inbound, ike));
        child_spi.insert((*outbound, ike));
    }
}

fn remove_from(by_conn: &mut HashMap<String, BTreeSet<SaSerial>>, name: &str, serial: SaSerial) {
    if let Some(set) = by_conn.get_mut(name) {
        set.remove(&serial);
        if set.is_empty() {
            by_conn.remove(name);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::sa::IkeState;
    use super::*;
    use crate::crypto::ikev2::Role;

    fn sa(serial: u64, conn: &Arc<Connection>) -> IkeSa {
        IkeSa::new(
            SaSerial(serial),
            conn.clone(),
            Role::Responder,
            IkeState::HalfOpen,
            [1; 8],
            [2; 8],
            "192.0.2.1:500".parse().unwrap(),
            "192.0.2.2:500".parse().unwrap(),
        )
    }

    fn conn(name: &str) -> Arc<Connection> {
        let mut c = super::super::testutil::conn("192.0.2.1", "192.0.2.2", "aes_gcm256");
        c.name = name.into();
        Arc::new(c)
    }

    #[test]
    fn timers_follow_the_sa_and_come_out_in_order() {
        let now = Instant::now();
        let c = conn("a");
        let mut idx = SaIndex::default();
        let mut a = sa(1, &c);
        let mut b = sa(2, &c);
        idx.update(&a);
        idx.update(&b);
        assert_eq!(idx.next_deadline(), None);
        a.half_open_deadline = Some(now + Duration::from_secs(5));
        b.half_open_deadline = Some(now + Duration::from_secs(3));
        idx.update(&a);
        idx.update(&b);
        assert_eq!(idx.next_deadline(), b.half_open_deadline);
        assert_eq!(idx.due(now + Duration::from_secs(3)), [SaSerial(2)]);
        assert_eq!(
            idx.due(now + Duration::from_secs(9)),
            [SaSerial(1), SaSerial(2)]
        );
        // Moving a deadline replaces the old entry rather than adding one.
        b.half_open_deadline = Some(now + Duration::from_secs(7));
        idx.update(&b);
        assert_eq!(idx.next_deadline(), a.half_open_deadline);
        assert_eq!(idx.due(now + Duration::from_secs(6)), [SaSerial(1)]);
        assert!(idx.is_current(&a) && idx.is_current(&b));
        idx.remove(SaSerial(1));
        assert_eq!(idx.next_deadline(), b.half_open_deadline);
        assert!(!idx.is_current(&a));
        b.half_open_deadline = None;
        idx.update(&b);
        assert_eq!(idx.next_deadline(), None);
        assert_eq!(idx.len(), 1);
    }

    fn child(serial: u64, inbound: u32, outbound: u32) -> super::super::sa::ChildSa {
        super::super::sa::ChildSa {
            serial: SaSerial(serial),
            inbound_spi: inbound,
            outbound_spi: outbound,
            local_ts: Vec::new(),
            remote_ts: Vec::new(),
            unconfirmed: None,
            rekeyed_by_peer: None,
            rekey_at: None,
            expires_at: None,
            rekey_failures: 0,
        }
    }

    #[test]
    fn child_sas_are_found_by_serial_and_either_spi() {
        let c = conn("a");
        let mut idx = SaIndex::default();
        let (mut a, mut b) = (sa(1, &c), sa(2, &c));
        a.children.push(child(3, 0x1000, 0x2000));
        // The peer of b picked the same outbound SPI as a's peer.
        b.children.push(child(4, 0x3000, 0x2000));
        idx.update(&a);
        idx.update(&b);
        let owners = |it: &mut dyn Iterator<Item = SaSerial>| it.collect::<Vec<_>>();
        assert_eq!(owners(&mut idx.owners_of_child(SaSerial(3))), [SaSerial(1)]);
        assert_eq!(owners(&mut idx.owners_of_spi(0x1000)), [SaSerial(1)]);
        assert_eq!(owners(&mut idx.owners_of_spi(0x3000)), [SaSerial(2)]);
        assert_eq!(
            owners(&mut idx.owners_of_spi(0x2000)),
            [SaSerial(1), SaSerial(2)]
        );
        // Handing a's Child SA to b: while only b is updated both hold it.
        b.children.append(&mut a.children);
        idx.update(&b);
        assert_eq!(
            owners(&mut idx.owners_of_child(SaSerial(3))),
            [SaSerial(1), SaSerial(2)]
        );
        idx.update(&a);
        assert_eq!(owners(&mut idx.owners_of_child(SaSerial(3))), [SaSerial(2)]);
        assert_eq!(owners(&mut idx.owners_of_spi(0x1000)), [SaSerial(2)]);
        assert!(idx.is_current(&a) && idx.is_current(&b));
        // b's own Child SA deleted, then b itself.
        b.children.retain(|c| c.serial != SaSerial(4));
        idx.update(&b);
        assert_eq!(idx.owners_of_spi(0x3000).count(), 0);
        assert_eq!(owners(&mut idx.owners_of_spi(0x2000)), [SaSerial(2)]);
        idx.remove(SaSerial(2));
        assert!(idx.child_owner.is_empty() && idx.child_spi.is_empty());
    }

    #[test]
    fn connections_are_indexed_by_their_current_name() {
        let (x, y) = (conn("x"), conn("y"));
        let mut idx = SaIndex::default();
        let mut a = sa(1, &x);
        idx.update(&a);
        idx.update(&sa(2, &x));
        assert_eq!(
            idx.of_connection("x").collect::<Vec<_>>(),
            [SaSerial(1), SaSerial(2)]
        );
        // A responder switching connection in IKE_AUTH.
        a.conn = y.clone();
        idx.update(&a);
        assert_eq!(idx.of_connection("x").collect::<Vec<_>>(), [SaSerial(2)]);
        assert_eq!(idx.of_connection("y").collect::<Vec<_>>(), [SaSerial(1)]);
        idx.remove(SaSerial(1));
        idx.remove(SaSerial(2));
        assert_eq!(idx.of_connection("x").count(), 0);
        assert!(idx.by_conn.is_empty() && idx.timers.is_empty());
    }
}
