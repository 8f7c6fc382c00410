//! The connection database: add, delete, look up and iterate connections.
//!
//! Connections are keyed by serial (`$1`, `$2`, ...), unique by name; a template's
//! instances share its name and are told apart by their instance number (`"rw"[3]`).
//! Iteration is in a stable order (name, then instance number) for status output.
//!
//! The lookups are the ones negotiation needs: by name, by (local, remote) address pair
//! when an IKE_SA_INIT arrives, by peer ID once IDi is decrypted (road-warrior
//! switching), and by traffic selectors for a CREATE_CHILD_SA / IKE_AUTH child.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::Arc;

use crate::addr::{same_family, traffic_selector, ProtoPort, Subnet};
use crate::connection::{ConnError, ConnSerial, Connection, HostAddrs, Kind};
use crate::id::Id;
use crate::spec::ConnSpec;

/// Why a database operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DbError {
    /// `add` with a name already in use (whack exits 20, like libreswan).
    #[error("attempt to redefine connection \"{0}\"; delete it first (whack --delete --name {0})")]
    Duplicate(String),
    /// No connection by that name (whack exits 21).
    #[error("no connection or alias named \"{0}\"")]
    Unknown(String),
    /// The description was refused.
    #[error(transparent)]
    Invalid(#[from] ConnError),
}

pub use ike::ts::TrafficSelector;

/// How well one side's configured clients (subnets with a protocol/port
/// restriction) fit a selector the peer proposed: 4 = exactly one of ours, 3 = within
/// one of ours, 2 = wider than one of ours (we narrow to ours), 1 = overlapping one of
/// ours (narrowed to the intersection), 0 = not at all. Protocol and ports count as
/// part of the selector, so `tcp/22` fits a connection with `protoport=tcp/22` or
/// none, but not one with `udp/1701`.
fn ts_fit(clients: &[Subnet], pp: Option<ProtoPort>, ts: &TrafficSelector) -> u32 {
    clients
        .iter()
        .map(|&c| {
            let ours = traffic_selector(c, pp);
            if ours == *ts {
                4
            } else if ours.contains(ts) {
                3
            } else if ts.contains(&ours) {
                2
            } else if ours.intersect(ts).is_some() {
                1
            } else {
                0
            }
        })
        .max()
        .unwrap_or(0)
}

/// The index entry of a peer ID: a concrete ID normalized so that equal keys are
/// exactly the IDs [`Id::matches`] pairs (FQDNs, user FQDNs and DNs without `*`
/// compare case-insensitively), or "wildcard" for the IDs that accept many.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum PeerKey {
    Exact(Id),
    Wild,
}

impl PeerKey {
    fn of(id: &Id) -> PeerKey {
        if id.is_wildcard() {
            return PeerKey::Wild;
        }
        PeerKey::Exact(match id {
            Id::Fqdn(s) => Id::Fqdn(s.to_ascii_lowercase()),
            Id::UserFqdn(s) => Id::UserFqdn(s.to_ascii_lowercase()),
            Id::Dn(rdns) => Id::Dn(
                rdns.iter()
                    .map(|(a, v)| (a.to_ascii_lowercase(), v.to_ascii_lowercase()))
                    .collect(),
            ),
            other => other.clone(),
        })
    }
}

/// Where one connection is filed in the [`Index`]. Not stored: a connection's keys
/// are worked out again to take it out, which is right because it is taken out
/// before it can change ([`ConnDb::get_mut`]); storing them cost about 230 bytes per
/// road warrior.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Keys {
    /// Name (shared with the connection) and, for an instance, its number.
    name: (Arc<str>, Option<u32>),
    /// The template of an instance.
    template: Option<ConnSerial>,
    /// Oriented with both host addresses: (local, remote).
    hosts: Option<(IpAddr, IpAddr)>,
    /// An oriented template whose peer is `%any`: its local address.
    template_local: Option<IpAddr>,
    /// (local, remote or `None` for such a template, peer ID) for the peer-ID lookup.
    peer: Option<(IpAddr, Option<IpAddr>, PeerKey)>,
}

impl Keys {
    fn of(c: &Connection) -> Keys {
        let ends = c.local_end().zip(c.remote_end());
        let local = ends.and_then(|(l, _)| l.host_addr);
        let remote = ends.and_then(|(_, r)| r.host_addr);
        let template_local = local.filter(|_| remote.is_none() && c.is_template());
        let peer = match (local, remote, ends) {
            (Some(l), Some(r), Some((_, re))) => Some((l, Some(r), PeerKey::of(&re.id))),
            (Some(l), None, Some((_, re))) if template_local.is_some() => {
                Some((l, None, PeerKey::of(&re.id)))
            }
            _ => None,
        };
        Keys {
            name: (c.name.clone(), c.instance_number()),
            template: match c.kind {
                Kind::Instance { template, .. } => Some(template),
                _ => None,
            },
            hosts: local.zip(remote),
            template_local,
            peer,
        }
    }
}

/// Serials in ascending order. A sorted vector rather than a set: most buckets hold
/// one connection (a name, a peer's address, a peer ID), where a tree node would
/// cost ten times the entry, and new serials are the largest, so adding appends.
/// One serial is held inline: a road warrior's instance has three buckets of its own
/// (its name and number, its host pair, its peer ID), and a vector of one costs a
/// heap block each.
#[derive(Debug, Default)]
enum Bucket {
    #[default]
    Empty,
    One(ConnSerial),
    Many(Vec<ConnSerial>),
}

impl Bucket {
    fn insert(&mut self, s: ConnSerial) {
        match self {
            Bucket::Empty => *self = Bucket::One(s),
            Bucket::One(o) if *o == s => {}
            Bucket::One(o) => {
                let o = *o;
                *self = Bucket::Many(if o < s { vec![o, s] } else { vec![s, o] });
            }
            Bucket::Many(v) => {
                if let Err(i) = v.binary_search(&s) {
                    v.insert(i, s);
                }
            }
        }
    }

    fn remove(&mut self, s: ConnSerial) {
        match self {
            Bucket::One(o) if *o == s => *self = Bucket::Empty,
            Bucket::Many(v) => {
                if let Ok(i) = v.binary_search(&s) {
                    v.remove(i);
                }
                if let [one] = v.as_slice() {
                    *self = Bucket::One(*one);
                }
            }
            _ => {}
        }
    }

    fn is_empty(&self) -> bool {
        matches!(self, Bucket::Empty)
    }

    fn iter(&self) -> impl Iterator<Item = &ConnSerial> + '_ {
        match self {
            Bucket::Empty => [].iter(),
            Bucket::One(s) => std::slice::from_ref(s).iter(),
            Bucket::Many(v) => v.iter(),
        }
    }
}

fn file<K: std::hash::Hash + Eq>(map: &mut HashMap<K, Bucket>, key: K, s: ConnSerial) {
    map.entry(key).or_default().insert(s);
}

fn unfile<K: std::hash::Hash + Eq>(map: &mut HashMap<K, Bucket>, key: &K, s: ConnSerial) {
    if let Some(b) = map.get_mut(key) {
        b.remove(s);
        if b.is_empty() {
            map.remove(key);
        }
    }
}

/// The lookups' indexes, so that finding a connection costs what the candidates
/// cost, not the number of connections. Every bucket is ordered by serial, which is
/// the "oldest wins" tie-break of the lookups.
#[derive(Debug, Default)]
struct Index {
    by_name: HashMap<(Arc<str>, Option<u32>), Bucket>,
    instances: HashMap<ConnSerial, Bucket>,
    by_hosts: HashMap<(IpAddr, IpAddr), Bucket>,
    templates: HashMap<IpAddr, Bucket>,
    by_peer: HashMap<(IpAddr, Option<IpAddr>, PeerKey), Bucket>,
}

impl Index {
    /// Files `c`, which is not filed.
    fn add(&mut self, c: &Connection) {
        let s = c.serial;
        let k = Keys::of(c);
        file(&mut self.by_name, k.name, s);
        if let Some(t) = k.template {
            file(&mut self.instances, t, s);
        }
        if let Some(h) = k.hosts {
            file(&mut self.by_hosts, h, s);
        }
        if let Some(l) = k.template_local {
            file(&mut self.templates, l, s);
        }
        if let Some(p) = k.peer {
            file(&mut self.by_peer, p, s);
        }
    }

    /// Takes `c` out, as filed: unchanged since [`Index::add`].
    fn remove(&mut self, c: &Connection) {
        let s = c.serial;
        let k = Keys::of(c);
        unfile(&mut self.by_name, &k.name, s);
        if let Some(t) = k.template {
            unfile(&mut self.instances, &t, s);
        }
        if let Some(h) = k.hosts {
            unfile(&mut self.by_hosts, &h, s);
        }
        if let Some(l) = k.template_local {
            unfile(&mut self.templates, &l, s);
        }
        if let Some(p) = &k.peer {
            unfile(&mut self.by_peer, p, s);
        }
    }

    fn bucket<'a, K: std::hash::Hash + Eq>(
        map: &'a HashMap<K, Bucket>,
        key: &K,
    ) -> impl Iterator<Item = ConnSerial> + 'a {
        map.get(key).into_iter().flat_map(|b| b.iter().copied())
    }
}

/// The connection database.
#[derive(Debug, Default)]
pub struct ConnDb {
    /// Boxed: a connection is a few KiB and B-tree nodes keep spare slots.
    conns: BTreeMap<ConnSerial, Box<Connection>>,
    next_serial: u64,
    next_instance: HashMap<ConnSerial, u32>,
    index: Index,
    /// Connections handed out by [`ConnDb::get_mut`] since the index last saw them:
    /// their index entries may be stale, so lookups judge them directly and the next
    /// change to the database files them again.
    dirty: BTreeSet<ConnSerial>,
}

impl ConnDb {
    /// An empty database.
    pub fn new() -> ConnDb {
        ConnDb::default()
    }

    /// Files the connections changed through [`ConnDb::get_mut`] again (it took
    /// them out).
    fn refile(&mut self) {
        for s in std::mem::take(&mut self.dirty) {
            if let Some(c) = self.conns.get(&s) {
                self.index.add(c);
            }
        }
    }

    /// The serials of `bucket`, and every connection out of the index while it may
    /// be changing: a superset of the connections a lookup can pick.
    fn candidates<'a>(
        &'a self,
        bucket: impl Iterator<Item = ConnSerial> + 'a,
    ) -> impl Iterator<Item = &'a Connection> + 'a {
        bucket
            .filter(|s| !self.dirty.contains(s))
            .chain(self.dirty.iter().copied())
            .filter_map(|s| self.get(s))
    }

    /// Validate, orient and add a description.
    pub fn add(&mut self, spec: ConnSpec, addrs: &HostAddrs) -> Result<ConnSerial, DbError> {
        if self.find(&spec.name).is_some() {
            return Err(DbError::Duplicate(spec.name));
        }
        let c = Connection::from_spec(spec, addrs)?;
        self.insert(c)
    }

    /// Add an already validated connection (its serial is replaced by a fresh one).
    pub fn insert(&mut self, mut c: Connection) -> Result<ConnSerial, DbError> {
        self.refile();
        if !matches!(c.kind, Kind::Instance { .. }) && self.find(&c.name).is_some() {
            return Err(DbError::Duplicate(c.name.to_string()));
        }
        self.next_serial += 1;
        let serial = ConnSerial(self.next_serial);
        c.serial = serial;
        tracing::debug!("added connection {} {}", c.display_name(), serial);
        self.index.add(&c);
        self.conns.insert(serial, Box::new(c));
        Ok(serial)
    }

    /// Delete a connection by name (`name` or `name[N]` for one instance). Deleting a
    /// template deletes its instances too. Returns what was removed so the daemon can
    /// tear down SAs and routes.
    pub fn delete(&mut self, name: &str) -> Result<Vec<Connection>, DbError> {
        self.refile();
        let serial = self
            .find(name)
            .map(|c| c.serial)
            .ok_or_else(|| DbError::Unknown(name.to_string()))?;
        let mut doomed: Vec<ConnSerial> = self
            .index
            .instances
            .get(&serial)
            .map(|b| b.iter().copied().collect())
            .unwrap_or_default();
        doomed.push(serial);
        self.next_instance.remove(&serial);
        Ok(doomed.into_iter().filter_map(|s| self.remove(s)).collect())
    }

    /// Delete one connection by serial (e.g. an instance whose IKE SA died).
    pub fn remove(&mut self, serial: ConnSerial) -> Option<Connection> {
        self.refile();
        let c = self.conns.remove(&serial)?;
        self.index.remove(&c);
        Some(*c)
    }

    /// By serial.
    pub fn get(&self, serial: ConnSerial) -> Option<&Connection> {
        self.conns.get(&serial).map(|c| &**c)
    }

    /// By serial, mutable (routing state, re-orientation). The connection leaves
    /// the lookup indexes and is filed again on the next change to the database;
    /// until then lookups judge it as it is now.
    pub fn get_mut(&mut self, serial: ConnSerial) -> Option<&mut Connection> {
        self.refile();
        let c = self.conns.get_mut(&serial)?.as_mut();
        if self.dirty.insert(serial) {
            self.index.remove(c);
        }
        Some(c)
    }

    /// By name: the permanent connection or template called `name`, or with
    /// `name[N]`, instance N of the template `name`.
    pub fn find(&self, name: &str) -> Option<&Connection> {
        let key = if let Some((base, rest)) = name.split_once('[') {
            let n: u32 = rest.strip_suffix(']')?.parse().ok()?;
            (Arc::<str>::from(base.trim_matches('"')), Some(n))
        } else {
            (Arc::<str>::from(name.trim_matches('"')), None)
        };
        self.candidates(Index::bucket(&self.index.by_name, &key))
            .filter(|c| c.name == key.0 && c.instance_number() == key.1)
            .min_by_key(|c| c.serial)
    }
    /// Number of connections (instances included).
    pub fn len(&self) -> usize {
        self.conns.len()
    }

    /// No connections at all?
    pub fn is_empty(&self) -> bool {
        self.conns.is_empty()
    }

    /// All connections in status order: by name, the template before its instances,
    /// instances by number.
    pub fn iter(&self) -> impl Iterator<Item = &Connection> {
        let mut v: Vec<&Connection> = self.conns.values().map(|c| &**c).collect();
        v.sort_by(|a, b| {
            (&*a.name, a.instance_number(), a.serial).cmp(&(
                &*b.name,
                b.instance_number(),
                b.serial,
            ))
        });
        v.into_iter()
    }

    /// Re-orient every connection after the machine's addresses changed. Connections
    /// that became invalid (both ends local) are left unoriented and reported.
    pub fn reorient(&mut self, addrs: &HostAddrs) -> Vec<(String, ConnError)> {
        let mut errs = Vec::new();
        self.dirty.clear();
        self.index = Index::default();
        for c in self.conns.values_mut() {
            if let Err(e) = c.orient(addrs) {
                c.local = None;
                errs.push((c.display_name(), e));
            }
            self.index.add(c);
        }
        errs
    }

    /// Make an instance of template `template` for `peer` and add it.
    pub fn instantiate(
        &mut self,
        template: ConnSerial,
        peer: IpAddr,
        peer_id: Option<Id>,
    ) -> Result<ConnSerial, DbError> {
        let t = self
            .conns
            .get(&template)
            .ok_or_else(|| DbError::Unknown(template.to_string()))?;
        let mut inst = t.instantiate(peer, peer_id)?;
        let n = self.next_instance.entry(template).or_insert(0);
        *n += 1;
        inst.kind = Kind::Instance {
            template,
            number: *n,
        };
        self.insert(inst)
    }

    /// How well a connection's hosts fit a (local, remote) address pair:
    /// 2 = exact remote host, 1 = template accepting the remote, 0 = no fit.
    fn host_fit(c: &Connection, local: IpAddr, remote: IpAddr) -> u32 {
        let (Some(l), Some(r)) = (c.local_end(), c.remote_end()) else {
            return 0;
        };
        if l.host_addr != Some(local) {
            return 0;
        }
        match r.host_addr {
            Some(a) if a == remote => 2,
            None if c.is_template() && same_family(local, remote) => 1,
            _ => 0,
        }
    }

    /// Every connection whose hosts can fit (`local`, `remote`) (and possibly more):
    /// the exact host pair's bucket, then the templates on `local`.
    fn host_candidates(
        &self,
        local: IpAddr,
        remote: IpAddr,
    ) -> impl Iterator<Item = &Connection> + '_ {
        let templates = same_family(local, remote)
            .then(|| Index::bucket(&self.index.templates, &local))
            .into_iter()
            .flatten();
        self.candidates(Index::bucket(&self.index.by_hosts, &(local, remote)).chain(templates))
    }

    /// The best connection for an IKE exchange between our `local` and the peer's
    /// `remote` address: a connection naming the peer exactly beats a template; among
    /// equals the oldest wins. A template is returned as is; the caller instantiates it.
    pub fn find_by_addrs(&self, local: IpAddr, remote: IpAddr) -> Option<ConnSerial> {
        // The oldest current entry of each bucket is that bucket's best; entries that
        // may be stale are judged on their own.
        let first = |b: Option<&Bucket>| {
            b.into_iter()
                .flat_map(|b| b.iter().copied())
                .find(|s| !self.dirty.contains(s))
        };
        let exact = first(self.index.by_hosts.get(&(local, remote)));
        let template = same_family(local, remote)
            .then(|| first(self.index.templates.get(&local)))
            .flatten();
        exact
            .into_iter()
            .chain(template)
            .chain(self.dirty.iter().copied())
            .filter_map(|s| self.get(s))
            .map(|c| (Self::host_fit(c, local, remote), c.serial))
            .filter(|&(f, _)| f > 0)
            .max_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)))
            .map(|(_, s)| s)
    }

    /// Road-warrior switching: once the peer's ID is known, find the connection that
    /// fits it best among those that could serve the same address pair as `current`.
    /// A connection whose remote ID names the peer exactly beats a wildcard one; the
    /// current connection wins ties. `None` if nothing accepts the ID.
    pub fn find_by_peer_id(&self, current: ConnSerial, peer_id: &Id) -> Option<ConnSerial> {
        let cur = self.get(current)?;
        let local = cur.local_end()?.host_addr?;
        let remote = cur.remote_end()?.host_addr;
        let score = |c: &Connection| Self::peer_id_score(c, cur, current, local, remote, peer_id);
        let best = |it: &mut dyn Iterator<Item = &Connection>| {
            it.filter_map(&score)
                .max_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)))
                .map(|(_, s)| s)
        };
        let Some(r) = remote else {
            // Only the current connection can serve a peer whose address we do not know.
            return best(&mut std::iter::once(cur));
        };
        // The buckets naming the peer's ID and the wildcard ones, judged together:
        // the score puts an exact ID first anyway. (Judging the exact ones first
        // and returning early was wrong: connections changed through `get_mut`
        // since the last refile are candidates of every lookup, so a wildcard one
        // among them could win before the current connection was looked at.)
        let key = PeerKey::of(peer_id);
        let bucket = |remote: Option<IpAddr>, key: &PeerKey| {
            Index::bucket(&self.index.by_peer, &(local, remote, key.clone()))
        };
        let exact = (key != PeerKey::Wild)
            .then(|| bucket(Some(r), &key).chain(bucket(None, &key)))
            .into_iter()
            .flatten();
        let wild = bucket(Some(r), &PeerKey::Wild).chain(bucket(None, &PeerKey::Wild));
        best(&mut self.candidates(exact.chain(wild)))
    }

    /// libreswan's precedence for [`ConnDb::find_by_peer_id`]: (ID exact over
    /// wildcard, host exact over template, the current connection) for a connection
    /// that accepts the ID with an authentication method the current one allows.
    fn peer_id_score(
        c: &Connection,
        cur: &Connection,
        current: ConnSerial,
        local: IpAddr,
        remote: Option<IpAddr>,
        peer_id: &Id,
    ) -> Option<((u32, u32, bool), ConnSerial)> {
        let hosts = match remote {
            Some(r) => Self::host_fit(c, local, r),
            None => u32::from(c.serial == current),
        };
        if hosts == 0 {
            return None;
        }
        let want = &c.remote_end()?.id;
        if !want.matches(peer_id) {
            return None;
        }
        let id_score = if want.is_wildcard() { 1 } else { 2 };
        let auth_overlap = {
            let (a, b) = (c.policy.authby, cur.policy.authby);
            (a.psk && b.psk) || (a.rsasig && b.rsasig) || (a.ecdsa && b.ecdsa) || (a.null && b.null)
        };
        if !auth_overlap {
            return None;
        }
        Some(((id_score, hosts, c.serial == current), c.serial))
    }

    /// The connection whose clients best fit the traffic selectors of a child SA
    /// request between `local` and `remote` hosts. `ours` are the selectors for our
    /// side (TSr when we respond), `theirs` the peer's (TSi), as the codec decoded
    /// them. Every selector must fit some client of its side; exact fits beat
    /// narrowing. The answer is then narrowed with [`ike::ts::narrow`] against the
    /// connection's [`Connection::local_traffic_selectors`] /
    /// [`Connection::remote_traffic_selectors`].
    pub fn find_by_traffic_selectors(
        &self,
        local: IpAddr,
        remote: IpAddr,
        ours: &[TrafficSelector],
        theirs: &[TrafficSelector],
    ) -> Option<ConnSerial> {
        if ours.is_empty() || theirs.is_empty() {
            return None;
        }
        self.host_candidates(local, remote)
            .filter_map(|c| {
                let hosts = Self::host_fit(c, local, remote);
                if hosts == 0 || !c.policy.has_ipsec() {
                    return None;
                }
                let (l, r) = (c.local_end()?, c.remote_end()?);
                let lc = l.clients();
                let mut rc = r.clients();
                if rc.is_empty() {
                    rc = vec![Subnet::host(remote)];
                }
                let mut score = 0;
                for ts in ours {
                    let f = ts_fit(&lc, l.protoport, ts);
                    if f == 0 {
                        return None;
                    }
                    score += f;
                }
                for ts in theirs {
                    let f = ts_fit(&rc, r.protoport, ts);
                    if f == 0 {
                        return None;
                    }
                    score += f;
                }
                Some(((score, hosts), c.serial))
            })
            .max_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)))
            .map(|(_, s)| s)
    }
}

/// The lookups as plain scans over every connection, as they were before the
/// indexes: the tests check that the indexed lookups give the same answers.
#[cfg(test)]
impl ConnDb {
    fn find_scan(&self, name: &str) -> Option<&Connection> {
        if let Some((base, rest)) = name.split_once('[') {
            let n: u32 = rest.strip_suffix(']')?.parse().ok()?;
            let base = base.trim_matches('"');
            return self
                .conns
                .values()
                .map(|c| &**c)
                .find(|c| *c.name == *base && c.instance_number() == Some(n));
        }
        let name = name.trim_matches('"');
        self.conns
            .values()
            .map(|c| &**c)
            .find(|c| *c.name == *name && !matches!(c.kind, Kind::Instance { .. }))
    }

    fn find_by_addrs_scan(&self, local: IpAddr, remote: IpAddr) -> Option<ConnSerial> {
        self.conns
            .values()
            .map(|c| (Self::host_fit(c, local, remote), c.serial))
            .filter(|&(f, _)| f > 0)
            .max_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)))
            .map(|(_, s)| s)
    }

    fn find_by_peer_id_scan(&self, current: ConnSerial, peer_id: &Id) -> Option<ConnSerial> {
        let cur = self.get(current)?;
        let local = cur.local_end()?.host_addr?;
        let remote = cur.remote_end()?.host_addr;
        self.conns
            .values()
            .filter_map(|c| Self::peer_id_score(c, cur, current, local, remote, peer_id))
            .max_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)))
            .map(|(_, s)| s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn spec(name: &str, left: &str, right: &str) -> ConnSpec {
        let mut s = ConnSpec::named(name);
        s.left.host = Some(left.into());
        s.right.host = Some(right.into());
        s.psk = true;
        s.encrypt = true;
        s
    }

    fn west() -> HostAddrs {
        HostAddrs::new([ip("192.0.2.1")])
    }

    #[test]
    fn add_duplicate_delete_unknown() {
        let mut db = ConnDb::new();
        let s1 = db
            .add(spec("a", "192.0.2.1", "192.0.2.2"), &west())
            .unwrap();
        assert_eq!(s1, ConnSerial(1));
        assert_eq!(s1.to_string(), "$1");
        assert_eq!(
            db.add(spec("a", "192.0.2.1", "192.0.2.3"), &west()),
            Err(DbError::Duplicate("a".into()))
        );
        let s2 = db
            .add(spec("b", "192.0.2.1", "192.0.2.3"), &west())
            .unwrap();
        assert_eq!(s2, ConnSerial(2));
        assert_eq!(db.len(), 2);
        assert_eq!(db.delete("a").unwrap().len(), 1);
        assert_eq!(db.delete("a"), Err(DbError::Unknown("a".into())));
        assert!(db.find("a").is_none());
        // Serials are never reused.
        let s3 = db
            .add(spec("a", "192.0.2.1", "192.0.2.2"), &west())
            .unwrap();
        assert_eq!(s3, ConnSerial(3));
    }

    #[test]
    fn invalid_spec_is_refused_and_not_added() {
        let mut db = ConnDb::new();
        let e = db.add(spec("bad", "192.0.2.1", "nonsense host"), &west());
        assert!(matches!(e, Err(DbError::Invalid(_))));
        assert!(db.is_empty());
    }

    #[test]
    fn iteration_is_sorted_with_instances_after_template() {
        let mut db = ConnDb::new();
        db.add(spec("zeta", "192.0.2.1", "192.0.2.2"), &west())
            .unwrap();
        let t = db.add(spec("rw", "192.0.2.1", "%any"), &west()).unwrap();
        db.add(spec("alpha", "192.0.2.1", "192.0.2.3"), &west())
            .unwrap();
        db.instantiate(t, ip("192.0.2.50"), None).unwrap();
        db.instantiate(t, ip("192.0.2.51"), None).unwrap();
        let names: Vec<String> = db.iter().map(|c| c.display_name()).collect();
        assert_eq!(
            names,
            [
                "\"alpha\"",
                "\"rw\"",
                "\"rw\"[1] 192.0.2.50",
                "\"rw\"[2] 192.0.2.51",
                "\"zeta\""
            ]
        );
        assert_eq!(
            db.find("rw[2]").unwrap().remote_end().unwrap().host_addr,
            Some(ip("192.0.2.51"))
        );
        assert!(db.find("rw[9]").is_none());
        // Deleting one instance leaves the template; deleting the template takes all.
        assert_eq!(db.delete("rw[1]").unwrap().len(), 1);
        assert_eq!(db.delete("rw").unwrap().len(), 2);
        assert_eq!(db.len(), 2);
    }

    #[test]
    fn lookup_by_addresses_prefers_exact_peer() {
        let mut db = ConnDb::new();
        let t = db.add(spec("rw", "192.0.2.1", "%any"), &west()).unwrap();
        let p = db
            .add(spec("p", "192.0.2.1", "192.0.2.2"), &west())
            .unwrap();
        assert_eq!(db.find_by_addrs(ip("192.0.2.1"), ip("192.0.2.2")), Some(p));
        assert_eq!(db.find_by_addrs(ip("192.0.2.1"), ip("192.0.2.9")), Some(t));
        assert_eq!(db.find_by_addrs(ip("192.0.2.5"), ip("192.0.2.2")), None);
        assert_eq!(db.find_by_addrs(ip("192.0.2.1"), ip("2001:db8::1")), None);
        // Unoriented connections are never found.
        db.add(spec("far", "198.51.100.1", "198.51.100.2"), &west())
            .unwrap();
        assert_eq!(
            db.find_by_addrs(ip("198.51.100.1"), ip("198.51.100.2")),
            None
        );
    }

    #[test]
    fn road_warrior_switching_by_peer_id() {
        let mut db = ConnDb::new();
        let mut a = spec("rw-any", "192.0.2.1", "%any");
        a.right.id = Some("%any".into());
        let any = db.add(a, &west()).unwrap();
        let mut b = spec("rw-road", "192.0.2.1", "%any");
        b.right.id = Some("@road".into());
        let road = db.add(b, &west()).unwrap();
        let mut c = spec("rw-cert", "192.0.2.1", "%any");
        c.right.id = Some("@other".into());
        let cert = db.add(c, &west()).unwrap();
        // --rsasig is refused at add until RSA exists; the lookup still keeps methods apart.
        let p = Arc::make_mut(&mut db.get_mut(cert).unwrap().policy);
        p.authby.psk = false;
        p.authby.rsasig = true;

        let cur = db.find_by_addrs(ip("192.0.2.1"), ip("192.0.2.60")).unwrap();
        assert_eq!(cur, any);
        let inst = db.instantiate(cur, ip("192.0.2.60"), None).unwrap();
        assert_eq!(
            db.find_by_peer_id(inst, &Id::Fqdn("road".into())),
            Some(road)
        );
        // An ID nobody names exactly stays on the wildcard connection (current wins).
        assert_eq!(db.find_by_peer_id(inst, &Id::Fqdn("x".into())), Some(inst));
        // @other is only acceptable with RSA, which the current PSK connection lacks.
        let got = db.find_by_peer_id(inst, &Id::Fqdn("other".into()));
        assert_eq!(got, Some(inst));
    }

    #[test]
    fn peer_id_with_no_acceptable_connection() {
        let mut db = ConnDb::new();
        let mut a = spec("p", "192.0.2.1", "192.0.2.2");
        a.right.id = Some("@east".into());
        let p = db.add(a, &west()).unwrap();
        assert_eq!(db.find_by_peer_id(p, &Id::Fqdn("east".into())), Some(p));
        assert_eq!(db.find_by_peer_id(p, &Id::Fqdn("mallory".into())), None);
    }

    #[test]
    fn lookup_by_traffic_selectors() {
        let mut db = ConnDb::new();
        let mut wide = spec("wide", "192.0.2.1", "192.0.2.2");
        wide.left.subnets = vec!["198.51.100.0/24".into()];
        wide.right.subnets = vec!["203.0.113.0/24".into()];
        let wide = db.add(wide, &west()).unwrap();
        let mut narrow = spec("narrow", "192.0.2.1", "192.0.2.2");
        narrow.left.subnets = vec!["198.51.100.0/25".into()];
        narrow.right.subnets = vec!["203.0.113.0/25".into()];
        let narrow = db.add(narrow, &west()).unwrap();
        let ts = |s: &str| traffic_selector(Subnet::parse(s).unwrap(), None);
        let (l, r) = (ip("192.0.2.1"), ip("192.0.2.2"));
        assert_eq!(
            db.find_by_traffic_selectors(l, r, &[ts("198.51.100.0/25")], &[ts("203.0.113.0/25")]),
            Some(narrow)
        );
        assert_eq!(
            db.find_by_traffic_selectors(l, r, &[ts("198.51.100.0/24")], &[ts("203.0.113.0/24")]),
            Some(wide)
        );
        assert_eq!(
            db.find_by_traffic_selectors(l, r, &[ts("198.51.100.128/26")], &[ts("203.0.113.0/24")]),
            Some(wide)
        );
        assert_eq!(
            db.find_by_traffic_selectors(l, r, &[ts("192.0.2.0/24")], &[ts("203.0.113.0/24")]),
            None
        );
        assert_eq!(db.find_by_traffic_selectors(l, r, &[], &[]), None);
    }

    #[test]
    fn traffic_selectors_respect_protoport_and_road_warrior_host() {
        let mut db = ConnDb::new();
        let mut l2tp = spec("l2tp", "192.0.2.1", "%any");
        l2tp.left.clientprotoport = Some("udp/1701".into());
        l2tp.mode = Some(crate::spec::Mode::Transport);
        let s = db.add(l2tp, &west()).unwrap();
        let (l, r) = (ip("192.0.2.1"), ip("192.0.2.99"));
        let host = |a: IpAddr, pp: Option<&str>| {
            traffic_selector(Subnet::host(a), pp.map(|p| ProtoPort::parse(p).unwrap()))
        };
        let theirs = host(r, None);
        assert_eq!(
            db.find_by_traffic_selectors(l, r, &[host(l, None)], &[theirs]),
            Some(s),
            "the peer asks for all of our host: narrowed to udp/1701"
        );
        assert_eq!(
            db.find_by_traffic_selectors(l, r, &[host(l, Some("tcp"))], &[theirs]),
            None
        );
        assert_eq!(
            db.find_by_traffic_selectors(l, r, &[host(l, Some("udp/1701"))], &[theirs]),
            Some(s)
        );
        assert_eq!(
            db.find_by_traffic_selectors(l, r, &[host(l, Some("udp/500"))], &[theirs]),
            None
        );
        // OPAQUE ports (65535..0) never fit a specific port.
        let opaque = TrafficSelector::new(17, 65535, 0, l, l).unwrap();
        assert_eq!(
            db.find_by_traffic_selectors(l, r, &[opaque], &[theirs]),
            None
        );
    }

    #[test]
    fn traffic_selector_fit_ranks_exact_within_wider_overlap() {
        let c = [Subnet::parse("198.51.100.0/24").unwrap()];
        let range = |a: &str, b: &str| TrafficSelector::new(0, 0, 65535, ip(a), ip(b)).unwrap();
        assert_eq!(
            ts_fit(&c, None, &range("198.51.100.0", "198.51.100.255")),
            4
        );
        assert_eq!(ts_fit(&c, None, &range("198.51.100.5", "198.51.100.9")), 3);
        assert_eq!(ts_fit(&c, None, &range("198.51.0.0", "198.51.255.255")), 2);
        assert_eq!(
            ts_fit(&c, None, &range("198.51.100.200", "198.51.101.9")),
            1
        );
        assert_eq!(ts_fit(&c, None, &range("198.51.101.0", "198.51.101.9")), 0);
        assert_eq!(
            ts_fit(&[], None, &range("198.51.100.0", "198.51.100.255")),
            0
        );
        let v6 = TrafficSelector::all(true);
        assert_eq!(ts_fit(&c, None, &v6), 0);
    }

    #[test]
    fn reorient_reports_both_local() {
        let mut db = ConnDb::new();
        db.add(spec("a", "192.0.2.1", "192.0.2.2"), &west())
            .unwrap();
        let errs = db.reorient(&HostAddrs::new([ip("192.0.2.1"), ip("192.0.2.2")]));
        assert_eq!(errs.len(), 1);
        assert!(!db.find("a").unwrap().is_oriented());
        assert!(db.reorient(&HostAddrs::new([ip("192.0.2.2")])).is_empty());
        assert!(db.find("a").unwrap().is_oriented());
    }

    /// Every lookup of `db` answered by the indexes and by the old scans alike.
    fn assert_index_agrees(db: &ConnDb, ids: &[Id]) {
        let addrs: Vec<IpAddr> = [
            "192.0.2.1",
            "192.0.2.2",
            "192.0.2.3",
            "192.0.2.9",
            "198.51.100.1",
            "2001:db8::1",
            "2001:db8::2",
        ]
        .iter()
        .map(|a| ip(a))
        .collect();
        for &l in &addrs {
            for &r in &addrs {
                assert_eq!(
                    db.find_by_addrs(l, r),
                    db.find_by_addrs_scan(l, r),
                    "{l} {r}"
                );
            }
        }
        for c in db.conns.values() {
            let name = match c.instance_number() {
                Some(n) => format!("{}[{n}]", c.name),
                None => c.name.to_string(),
            };
            for n in [name.as_str(), &*c.name, "nope", "x[", "x[1"] {
                assert_eq!(
                    db.find(n).map(|c| c.serial),
                    db.find_scan(n).map(|c| c.serial),
                    "{n}"
                );
            }
            for id in ids {
                assert_eq!(
                    db.find_by_peer_id(c.serial, id),
                    db.find_by_peer_id_scan(c.serial, id),
                    "{} {id:?}",
                    c.display_name()
                );
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        /// Random databases of permanent conns, templates, their instances, %any and
        /// concrete peer IDs (differing in case too), with deletions, removals,
        /// re-orientation and changes through get_mut: the indexed lookups answer
        /// what the old scans answer at every step.
        #[test]
        fn indexes_agree_with_the_scans(ops in proptest::collection::vec((0u8..9, 0usize..6, 0usize..6, 0usize..6), 1..40)) {
            let hosts = ["192.0.2.1", "192.0.2.2", "192.0.2.3", "%any", "2001:db8::1", "2001:db8::2"];
            let rids = ["%any", "@road", "@ROAD", "@east", "east@example.com", "192.0.2.9"];
            let ids: Vec<Id> = ["@road", "@east", "@Road", "east@EXAMPLE.com", "192.0.2.9", "@x"]
                .iter()
                .map(|s| Id::parse(s).unwrap())
                .collect();
            let here = HostAddrs::new([ip("192.0.2.1"), ip("2001:db8::1")]);
            let mut db = ConnDb::new();
            for (n, (op, a, b, c)) in ops.into_iter().enumerate() {
                match op {
                    0..=3 => {
                        let (left, right) = if a % 3 == 2 { ("2001:db8::1", hosts[4 + b % 2]) } else { ("192.0.2.1", hosts[b % 4]) };
                        let mut sp = spec(&format!("c{}", n % 12), left, right);
                        sp.right.id = Some(rids[c].into());
                        let _ = db.add(sp, &here);
                    }
                    4 => {
                        let templates: Vec<ConnSerial> =
                            db.conns.values().filter(|c| c.is_template()).map(|c| c.serial).collect();
                        if let Some(&t) = templates.get(a % templates.len().max(1)) {
                            let peer = if db.get(t).and_then(|c| c.local_end()?.host_addr).is_some_and(|h| h.is_ipv6()) { ip("2001:db8::2") } else { ip(["192.0.2.2", "192.0.2.9"][b % 2]) };
                            let pid = (c % 2 == 0).then(|| ids[c % ids.len()].clone());
                            let _ = db.instantiate(t, peer, pid);
                        }
                    }
                    5 => { let _ = db.delete(&format!("c{}", a * 2 + b % 2)); }
                    6 => {
                        let all: Vec<ConnSerial> = db.conns.keys().copied().collect();
                        if let Some(&s) = all.get(a % all.len().max(1)) { db.remove(s); }
                    }
                    7 => {
                        // A change through get_mut that moves the conn in the index.
                        let all: Vec<ConnSerial> = db.conns.keys().copied().collect();
                        if let Some(&s) = all.get(a % all.len().max(1)) {
                            let c = db.get_mut(s).unwrap();
                            if b % 2 == 0 { c.local = None; } else { let p = Arc::make_mut(&mut c.policy); p.authby.psk = !p.authby.psk; }
                        }
                    }
                    _ => {
                        let addrs = if a % 2 == 0 { here.clone() } else { HostAddrs::new([ip("192.0.2.2")]) };
                        db.reorient(&addrs);
                    }
                }
                assert_index_agrees(&db, &ids);
            }
        }
    }

    #[test]
    fn index_follows_templates_instances_and_removal() {
        let mut db = ConnDb::new();
        let mut t = spec("rw", "192.0.2.1", "%any");
        t.right.id = Some("%any".into());
        let t = db.add(t, &west()).unwrap();
        let mut road = spec("road", "192.0.2.1", "%any");
        road.right.id = Some("@Road".into());
        let road = db.add(road, &west()).unwrap();
        let inst = db.instantiate(t, ip("192.0.2.7"), None).unwrap();
        let ids = [Id::Fqdn("road".into()), Id::Fqdn("other".into())];
        assert_index_agrees(&db, &ids);
        // The instance names the peer exactly: it beats both templates for its address.
        assert_eq!(
            db.find_by_addrs(ip("192.0.2.1"), ip("192.0.2.7")),
            Some(inst)
        );
        assert_eq!(db.find_by_peer_id(inst, &ids[0]), Some(road));
        db.remove(inst);
        assert_eq!(db.find_by_addrs(ip("192.0.2.1"), ip("192.0.2.7")), Some(t));
        assert!(db.find("rw[1]").is_none());
        assert_index_agrees(&db, &ids);
        db.delete("rw").unwrap();
        assert_eq!(
            db.find_by_addrs(ip("192.0.2.1"), ip("192.0.2.7")),
            Some(road)
        );
        assert_index_agrees(&db, &ids);
    }

    /// An instance refers to its template's description and proposal lists instead of
    /// copying them (the copies were most of a road warrior's connection).
    #[test]
    fn instances_share_the_template_description_and_proposals() {
        let mut db = ConnDb::new();
        let t = db.add(spec("rw", "192.0.2.1", "%any"), &west()).unwrap();
        let inst = db.instantiate(t, ip("192.0.2.7"), None).unwrap();
        let (t, inst) = (db.get(t).unwrap(), db.get(inst).unwrap());
        assert!(std::sync::Arc::ptr_eq(&t.spec, &inst.spec));
        assert!(std::ptr::eq(
            t.proposals.ike().proposals(),
            inst.proposals.ike().proposals()
        ));
        assert!(std::ptr::eq(
            t.proposals.child().proposals(),
            inst.proposals.child().proposals()
        ));
        assert_eq!(
            inst.remote_end().and_then(|e| e.host_addr),
            Some(ip("192.0.2.7"))
        );
    }

    #[test]
    fn instances_own_only_the_peer_end() {
        let mut db = ConnDb::new();
        let t = db.add(spec("rw", "192.0.2.1", "%any"), &west()).unwrap();
        let a = db.instantiate(t, ip("192.0.2.7"), None).unwrap();
        let b = db
            .instantiate(t, ip("192.0.2.8"), Some(Id::Fqdn("road".into())))
            .unwrap();
        let (t, a, b) = (db.get(t).unwrap(), db.get(a).unwrap(), db.get(b).unwrap());
        for inst in [a, b] {
            assert!(Arc::ptr_eq(&t.name, &inst.name));
            assert!(
                Arc::ptr_eq(&t.left, &inst.left),
                "our end is the template's"
            );
            assert!(Arc::ptr_eq(&t.policy, &inst.policy));
            assert!(!Arc::ptr_eq(&t.right, &inst.right), "the peer's end is not");
            assert!(
                Arc::ptr_eq(&t.right.conf, &inst.right.conf),
                "but all of it except the peer's address and ID is"
            );
        }
        assert_eq!(
            t.right.host_addr, None,
            "the template's peer end is unchanged"
        );
        assert_eq!(a.right.host_addr, Some(ip("192.0.2.7")));
        assert_eq!(b.right.host_addr, Some(ip("192.0.2.8")));
        assert_eq!(b.right.id, Id::Fqdn("road".into()));
        assert_eq!(b.display_name(), "\"rw\"[2] 192.0.2.8");
        assert_eq!(t.right.id, Id::None, "nor its ID");
    }

    #[test]
    fn a_changed_instance_does_not_change_its_template() {
        let mut db = ConnDb::new();
        let t = db.add(spec("rw", "192.0.2.1", "%any"), &west()).unwrap();
        let a = db.instantiate(t, ip("192.0.2.7"), None).unwrap();
        let c = db.get_mut(a).unwrap();
        Arc::make_mut(&mut c.policy).metric = 7;
        Arc::make_mut(&mut c.left).conf_mut().nexthop = Some(ip("192.0.2.254"));
        assert_eq!(db.get(t).unwrap().policy.metric, 1);
        assert_eq!(db.get(t).unwrap().left.nexthop, None);
        assert_eq!(db.get(a).unwrap().policy.metric, 7);
    }

    #[test]
    fn the_index_empties_with_the_database() {
        let mut db = ConnDb::new();
        let t = db.add(spec("rw", "192.0.2.1", "%any"), &west()).unwrap();
        db.add(spec("p", "192.0.2.1", "192.0.2.2"), &west())
            .unwrap();
        let a = db.instantiate(t, ip("192.0.2.7"), None).unwrap();
        let b = db
            .instantiate(t, ip("192.0.2.8"), Some(Id::Fqdn("road".into())))
            .unwrap();
        // Changed while out of the index, then removed before being filed again.
        db.get_mut(a).unwrap().local = None;
        db.get_mut(b).unwrap().routing = crate::connection::Routing::RoutedTunnel;
        db.remove(b);
        db.delete("rw").unwrap();
        db.delete("p").unwrap();
        assert!(db.is_empty());
        let i = &db.index;
        assert!(
            i.by_name.is_empty()
                && i.instances.is_empty()
                && i.by_hosts.is_empty()
                && i.templates.is_empty()
                && i.by_peer.is_empty(),
            "{i:?}"
        );
    }

    #[test]
    fn buckets_keep_serials_sorted_inline_or_not() {
        let mut b = Bucket::default();
        let v = |b: &Bucket| b.iter().map(|s| s.0).collect::<Vec<_>>();
        assert!(b.is_empty());
        b.insert(ConnSerial(5));
        b.insert(ConnSerial(5));
        assert!(matches!(b, Bucket::One(ConnSerial(5))));
        b.insert(ConnSerial(3));
        b.insert(ConnSerial(9));
        assert_eq!(v(&b), [3, 5, 9]);
        b.remove(ConnSerial(5));
        b.remove(ConnSerial(4));
        assert_eq!(v(&b), [3, 9]);
        b.remove(ConnSerial(3));
        assert!(matches!(b, Bucket::One(ConnSerial(9))));
        b.remove(ConnSerial(8));
        assert_eq!(v(&b), [9]);
        b.remove(ConnSerial(9));
        assert!(b.is_empty());
        assert_eq!(v(&b), Vec::<u64>::new());
    }
}
