//! The connection database: add, delete, look up and iterate connections.
//!
//! Connections are keyed by serial (`$1`, `$2`, ...), unique by name; a template's
//! instances share its name and are told apart by their instance number (`"rw"[3]`).
//! Iteration is in a stable order (name, then instance number) for status output.
//!
//! The lookups are the ones negotiation needs: by name, by (local, remote) address pair
//! when an IKE_SA_INIT arrives, by peer ID once IDi is decrypted (road-warrior
//! switching), and by traffic selectors for a CREATE_CHILD_SA / IKE_AUTH child.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

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

/// The connection database.
#[derive(Debug, Default)]
pub struct ConnDb {
    conns: BTreeMap<ConnSerial, Connection>,
    next_serial: u64,
    next_instance: HashMap<ConnSerial, u32>,
}

impl ConnDb {
    /// An empty database.
    pub fn new() -> ConnDb {
        ConnDb::default()
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
        if !matches!(c.kind, Kind::Instance { .. }) && self.find(&c.name).is_some() {
            return Err(DbError::Duplicate(c.name));
        }
        self.next_serial += 1;
        let serial = ConnSerial(self.next_serial);
        c.serial = serial;
        tracing::debug!("added connection {} {}", c.display_name(), serial);
        self.conns.insert(serial, c);
        Ok(serial)
    }

    /// Delete a connection by name (`name` or `name[N]` for one instance). Deleting a
    /// template deletes its instances too. Returns what was removed so the daemon can
    /// tear down SAs and routes.
    pub fn delete(&mut self, name: &str) -> Result<Vec<Connection>, DbError> {
        let serial = self
            .find(name)
            .map(|c| c.serial)
            .ok_or_else(|| DbError::Unknown(name.to_string()))?;
        let mut doomed: Vec<ConnSerial> = self
            .conns
            .values()
            .filter(|c| matches!(c.kind, Kind::Instance { template, .. } if template == serial))
            .map(|c| c.serial)
            .collect();
        doomed.push(serial);
        self.next_instance.remove(&serial);
        Ok(doomed
            .into_iter()
            .filter_map(|s| self.conns.remove(&s))
            .collect())
    }

    /// Delete one connection by serial (e.g. an instance whose IKE SA died).
    pub fn remove(&mut self, serial: ConnSerial) -> Option<Connection> {
        self.conns.remove(&serial)
    }

    /// By serial.
    pub fn get(&self, serial: ConnSerial) -> Option<&Connection> {
        self.conns.get(&serial)
    }

    /// By serial, mutable (routing state, re-orientation).
    pub fn get_mut(&mut self, serial: ConnSerial) -> Option<&mut Connection> {
        self.conns.get_mut(&serial)
    }

    /// By name: the permanent connection or template called `name`, or with
    /// `name[N]`, instance N of the template `name`.
    pub fn find(&self, name: &str) -> Option<&Connection> {
        if let Some((base, rest)) = name.split_once('[') {
            let n: u32 = rest.strip_suffix(']')?.parse().ok()?;
            let base = base.trim_matches('"');
            return self
                .conns
                .values()
                .find(|c| c.name == base && c.instance_number() == Some(n));
        }
        let name = name.trim_matches('"');
        self.conns
            .values()
            .find(|c| c.name == name && !matches!(c.kind, Kind::Instance { .. }))
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
        let mut v: Vec<&Connection> = self.conns.values().collect();
        v.sort_by(|a, b| {
            (a.name.as_str(), a.instance_number(), a.serial).cmp(&(
                b.name.as_str(),
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
        for c in self.conns.values_mut() {
            if let Err(e) = c.orient(addrs) {
                c.local = None;
                errs.push((c.display_name(), e));
            }
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

    /// The best connection for an IKE exchange between our `local` and the peer's
    /// `remote` address: a connection naming the peer exactly beats a template; among
    /// equals the oldest wins. A template is returned as is; the caller instantiates it.
    pub fn find_by_addrs(&self, local: IpAddr, remote: IpAddr) -> Option<ConnSerial> {
        self.conns
            .values()
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
        let cur = self.conns.get(&current)?;
        let local = cur.local_end()?.host_addr?;
        let remote = cur.remote_end()?.host_addr;
        self.conns
            .values()
            .filter_map(|c| {
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
                    (a.psk && b.psk)
                        || (a.rsasig && b.rsasig)
                        || (a.ecdsa && b.ecdsa)
                        || (a.null && b.null)
                };
                if !auth_overlap {
                    return None;
                }
                Some(((id_score, hosts, c.serial == current), c.serial))
            })
            .max_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)))
            .map(|(_, s)| s)
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
        self.conns
            .values()
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
        let p = &mut db.get_mut(cert).unwrap().policy;
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
}
