//! From the connection database (`crates/conn`) to what the IKEv2 core is configured
//! with (`ike::ikev2::Connection`), and the responder's lookup over the database.
//!
//! The core never sees `conn` types: it gets plain values built here each time an
//! exchange starts, so a `whack --delete` + re-add never leaves a stale copy inside
//! an SA being negotiated except the one that SA was started with.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use conn::addr::{ProtoPort as ConnProtoPort, Subnet as ConnSubnet};
use conn::connection::Connection as ConnConnection;
use conn::db::ConnDb;
use conn::id::Id;
use conn::secrets::Secrets;
use conn::spec::OnTraffic;
use conn::spec::{Encapsulation, Fragmentation, IkeVersion, Mode as ConnMode};
use ike::crypto::SecretBytes;
use ike::ikev2::{ConfigSource, ConnProfile, Connection, Identity, Mode, Retransmit};
use ike::ts::{ProtoPort, Subnet, TrafficSelector};

/// Why a connection cannot be negotiated by the IKEv2 core.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConvertError {
    /// Not oriented: neither end is this machine.
    #[error("neither end of the connection is an address of this machine")]
    NotOriented,
    /// The peer's address is not known (`%any` without `--remote-host`).
    #[error("the peer's IP address is not known; give --remote-host or a right= address")]
    NoPeer,
    /// IKEv1 connections are not negotiated by this build.
    #[error("IKEv1 negotiation is not implemented in pluto-rs; use --ikev2")]
    Ikev1,
    /// Only PSK authentication is implemented.
    #[error("only authby=secret (PSK) is implemented in pluto-rs; this connection allows no PSK")]
    NotPsk,
    /// `--compress` without `--encrypt` or `--authenticate`: an IPComp-only Child SA.
    #[error("--compress without --encrypt or --authenticate asks for an IPComp-only Child SA, which pluto-rs does not negotiate; add --encrypt")]
    CompressOnly,
    /// `--encrypt` and `--authenticate` together: an AH+ESP bundle.
    #[error("--encrypt together with --authenticate asks for an AH+ESP bundle, which IKEv2 in pluto-rs (like libreswan) does not negotiate; give one of them")]
    AhAndEsp,
    /// `ike=` or `esp=` does not parse.
    #[error("{0}")]
    Proposals(String),
    /// An ID type the IKEv2 core cannot send.
    #[error("{0} ID '{1}' cannot be used with PSK authentication in pluto-rs; use an address, @fqdn or user@fqdn ID")]
    Id(&'static str, String),
    /// A subnet does not make a traffic selector.
    #[error("{0}")]
    Subnet(String),
}

/// libreswan's ID (conn crate) as the IKEv2 core's identity; `None` for wildcards.
pub fn identity(id: &Id, host: Option<IpAddr>) -> Result<Option<Identity>, ConvertError> {
    Ok(match id {
        Id::Ip(a) => Some(Identity::from_addr(*a)),
        Id::Fqdn(s) => Some(Identity::Fqdn(s.clone())),
        Id::UserFqdn(s) => Some(Identity::UserFqdn(s.clone())),
        // No ID configured: libreswan uses the host address.
        Id::None => host.map(Identity::from_addr),
        Id::Any => None,
        other => return Err(ConvertError::Id(other.type_name(), format!("{other:?}"))),
    })
}

/// The IKEv2 core's identity as libreswan's ID, for ipsec.secrets and connection
/// lookups. IDs the conn crate cannot express come back as `None`.
pub fn conn_id(id: &Identity) -> Option<Id> {
    match id {
        Identity::Ipv4(a) => Some(Id::Ip(IpAddr::V4(*a))),
        Identity::Ipv6(a) => Some(Id::Ip(IpAddr::V6(*a))),
        Identity::Fqdn(s) => Some(Id::Fqdn(s.clone())),
        Identity::UserFqdn(s) => Some(Id::UserFqdn(s.clone())),
        Identity::Other { id_type, data } => Id::from_wire(*id_type, data).ok(),
    }
}

fn protoport(pp: Option<&ConnProtoPort>) -> ProtoPort {
    match pp {
        None => ProtoPort::ANY,
        Some(p) => match p.port {
            Some(port) => ProtoPort {
                proto: p.proto,
                start_port: port,
                end_port: port,
            },
            None => ProtoPort {
                proto: p.proto,
                ..ProtoPort::ANY
            },
        },
    }
}

fn selectors(
    clients: &[ConnSubnet],
    pp: Option<&ConnProtoPort>,
) -> Result<Vec<TrafficSelector>, ConvertError> {
    let pp = protoport(pp);
    clients
        .iter()
        .map(|s| {
            Subnet::new(s.addr(), s.prefix_len())
                .map(|sub| TrafficSelector::from_subnet(sub, pp))
                .map_err(|e| ConvertError::Subnet(e.to_string()))
        })
        .collect()
}

/// Builds the IKEv2 core's view of `c`. `peer` is the peer's address when the
/// connection does not name one (a template answering, or `--remote-host`).
pub fn connection(c: &ConnConnection, peer: Option<IpAddr>) -> Result<Connection, ConvertError> {
    let (Some(l), Some(r)) = (c.local_end(), c.remote_end()) else {
        return Err(ConvertError::NotOriented);
    };
    if c.policy.ike_version == IkeVersion::V1 {
        return Err(ConvertError::Ikev1);
    }
    // A shunt connection with authby=never is only ever routed (its policies come
    // from the same selectors); --initiate refuses it before this.
    let shunt_only = c.policy.authby.never() && c.policy.on_traffic != OnTraffic::Initiate;
    if !c.policy.authby.psk && !shunt_only {
        return Err(ConvertError::NotPsk);
    }
    // The Child SA: ESP (--encrypt), AH (--authenticate; the proposals are then
    // AH's), or none at all: without --encrypt, --authenticate and --compress the
    // connection builds only the IKE SA (whack manual).
    let (encrypt, authenticate) = (c.policy.encrypt, c.policy.authenticate);
    if encrypt && authenticate {
        return Err(ConvertError::AhAndEsp);
    }
    if c.policy.compress && !encrypt && !authenticate {
        return Err(ConvertError::CompressOnly);
    }
    let ike_only = !c.policy.has_ipsec();
    let local_addr = l.host_addr.ok_or(ConvertError::NotOriented)?;
    let remote_addr = r.host_addr.or(peer).ok_or(ConvertError::NoPeer)?;
    let ike_proposals = c.proposals.ike().clone();
    let esp_proposals = c.proposals.child().clone();
    let local_id = identity(&l.id, Some(local_addr))?
        .ok_or_else(|| ConvertError::Id("%any", "our own ID".into()))?;
    let remote_id = identity(&r.id, Some(remote_addr))?;
    let local_ts = c.local_traffic_selectors();
    let mut remote_ts = c.remote_traffic_selectors();
    if remote_ts.is_empty() {
        // A template answering (or initiating with --remote-host) protects the
        // peer's own address unless it names a subnet.
        remote_ts = selectors(&[ConnSubnet::host(remote_addr)], r.protoport.as_ref())?;
    }
    let profile = ConnProfile {
        local_id,
        ike_proposals,
        esp_proposals,
        local_ts,
        pfs: c.policy.pfs,
        mode: match c.policy.mode {
            ConnMode::Tunnel => Mode::Tunnel,
            ConnMode::Transport => Mode::Transport,
        },
        ike_lifetime: c.policy.ike_lifetime,
        child_lifetime: c.policy.ipsec_lifetime,
        rekey_margin: c.policy.rekey_margin,
        rekey_fuzz_percent: c.policy.rekey_fuzz,
        rekey: c.policy.rekey,
        keyingtries: c.policy.keying_tries,
        retransmit: Retransmit::default(),
        // NAT detection is always on (libreswan's `nat-traversal=yes`);
        // `encapsulation=` decides what is done with its result.
        nat_traversal: true,
        // fragmentation=force only changes IKEv1 (libreswan): for IKEv2 it is yes.
        fragmentation: c.policy.fragmentation != Fragmentation::No,
        encapsulation: match c.policy.encapsulation {
            Encapsulation::Auto => ike::ikev2::Encapsulation::Auto,
            Encapsulation::Yes => ike::ikev2::Encapsulation::Yes,
            Encapsulation::No => ike::ikev2::Encapsulation::No,
        },
        initial_contact: true,
        replay_window: 128,
        dpd_delay: c.policy.dpd_delay.filter(|d| *d > Duration::ZERO),
        dpd_timeout: c.policy.dpd_timeout.filter(|d| *d > Duration::ZERO),
        nat_keepalive: c.policy.nat_keepalive,
        ike_only,
    };
    Ok(Connection {
        name: c.name.clone(),
        local_addr,
        remote_addr,
        remote_port: r.ikeport,
        remote_id,
        remote_ts,
        profile: PROFILES.with_borrow_mut(|p| p.intern(&c.name, profile)),
    })
}

thread_local! {
    static PROFILES: std::cell::RefCell<Profiles> = Default::default();
}

/// The profiles handed out ([`ConnProfile`]: what the core's connection holds for
/// every peer alike), by connection name, so that the `Connection` built for each
/// peer of a template shares one instead of carrying its own (proposals, our ID and
/// selectors, timers: some 450 bytes per road warrior). Equal profiles are one; a
/// changed connection (a re-add under the same name, a re-orientation) gets a new
/// one. A profile that only this table holds is dropped when its name gets another
/// one, and all such are when the table has doubled since it was last swept, so the
/// table holds about the profiles in use.
#[derive(Debug, Default)]
struct Profiles {
    by_name: HashMap<Arc<str>, Vec<Arc<ConnProfile>>>,
    swept_at: usize,
}

impl Profiles {
    fn intern(&mut self, name: &Arc<str>, profile: ConnProfile) -> Arc<ConnProfile> {
        let in_use = |p: &Arc<ConnProfile>| Arc::strong_count(p) > 1;
        if let Some(v) = self.by_name.get_mut(&**name) {
            if let Some(p) = v.iter().find(|p| ***p == profile) {
                return p.clone();
            }
            v.retain(in_use);
        }
        if self.by_name.len() >= 2 * self.swept_at.max(16) {
            self.by_name.retain(|_, v| {
                v.retain(in_use);
                !v.is_empty()
            });
            self.swept_at = self.by_name.len();
        }
        let p = Arc::new(profile);
        self.by_name
            .entry(name.clone())
            .or_default()
            .push(p.clone());
        p
    }
}

/// The responder's view of the database and secrets, borrowed for one datagram.
pub struct Lookup<'a> {
    /// Connections.
    pub conns: &'a ConnDb,
    /// ipsec.secrets.
    pub secrets: &'a Secrets,
}

impl Lookup<'_> {
    fn build(&self, serial: conn::connection::ConnSerial, peer: IpAddr) -> Option<Arc<Connection>> {
        let c = self.conns.get(serial)?;
        match connection(c, Some(peer)) {
            Ok(k) => Some(Arc::new(k)),
            Err(e) => {
                tracing::info!(
                    "{}: cannot respond to {peer} with this connection: {e}",
                    c.display_name()
                );
                None
            }
        }
    }
}

impl ConfigSource for Lookup<'_> {
    fn connection_for_init(&self, local: IpAddr, remote: IpAddr) -> Option<Arc<Connection>> {
        let serial = self.conns.find_by_addrs(local, remote);
        if serial.is_none() {
            tracing::info!(
                "no connection between {local} and {remote}: refusing IKE_SA_INIT with NO_PROPOSAL_CHOSEN"
            );
        }
        self.build(serial?, remote)
    }

    fn connection_for_auth(
        &self,
        current: &Arc<Connection>,
        peer_id: &Identity,
        _our_id: Option<&Identity>,
    ) -> Option<Arc<Connection>> {
        let cur = self.conns.find(&current.name)?;
        let pid = conn_id(peer_id)?;
        let want = cur.remote_end()?;
        // The connection the exchange started with, when its rightid= accepts the peer.
        // No rightid=: any ID is accepted; the PSK found for the ID the peer sent
        // is what authenticates it.
        let ok_here = match &want.id {
            Id::None => true,
            w => w.matches(&pid),
        };
        if ok_here {
            return Some(current.clone());
        }
        let serial = self.conns.find_by_peer_id(cur.serial, &pid)?;
        let c = self.conns.get(serial)?;
        tracing::info!(
            "\"{}\": switched to connection {} for peer ID {peer_id}",
            current.name,
            c.display_name()
        );
        self.build(serial, current.remote_addr)
    }

    fn connection_for_child(
        &self,
        current: &Arc<Connection>,
        peer_id: &Identity,
        tsi: &[TrafficSelector],
        tsr: &[TrafficSelector],
    ) -> Option<Arc<Connection>> {
        let cur = self.conns.find(&current.name)?;
        let local = cur.local_end()?.host_addr?;
        let remote = current.remote_addr;
        // Ours are TSr, the peer's TSi (we respond).
        let serial = self
            .conns
            .find_by_traffic_selectors(local, remote, tsr, tsi)?;
        if serial == cur.serial {
            return None;
        }
        let c = self.conns.get(serial)?;
        let pid = conn_id(peer_id)?;
        let accepts = match &c.remote_end()?.id {
            Id::None => true,
            w => w.matches(&pid),
        };
        let same_auth = c.policy.authby.psk && cur.policy.authby.psk;
        if !accepts || !same_auth {
            return None;
        }
        self.build(serial, remote)
    }

    fn psk(&self, _conn: &Connection, local: &Identity, remote: &Identity) -> Option<SecretBytes> {
        let ours = conn_id(local)?;
        let peer = conn_id(remote)?;
        self.secrets
            .psk(&ours, &peer)
            .map(|s| SecretBytes::from_slice(s.expose()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use conn::connection::HostAddrs;
    use control::ConnSpec;

    fn host() -> HostAddrs {
        HostAddrs::new(["192.0.2.1".parse::<IpAddr>().unwrap()])
    }

    fn spec() -> ConnSpec {
        let mut s = ConnSpec::named("west-east");
        s.left.host = Some("192.0.2.1".into());
        s.left.subnets = vec!["198.51.100.0/24".into()];
        s.left.id = Some("@west".into());
        s.right.host = Some("192.0.2.2".into());
        s.right.subnets = vec!["203.0.113.0/24".into()];
        s.right.id = Some("@east".into());
        s.psk = true;
        s.encrypt = true;
        s
    }

    #[test]
    fn peers_of_a_template_share_one_profile() {
        let mut s = spec();
        s.name = "rw-profile".into();
        s.right.host = Some("%any".into());
        s.right.id = None;
        s.right.subnets.clear();
        let t = ConnConnection::from_spec(s, &host()).unwrap();
        let a = connection(&t, Some("192.0.2.7".parse().unwrap())).unwrap();
        let b = connection(&t, Some("192.0.2.8".parse().unwrap())).unwrap();
        assert!(Arc::ptr_eq(&a.profile, &b.profile));
        assert!(Arc::ptr_eq(&a.name, &t.name));
        // What differs is the peer's: its address, ID and selectors.
        assert_eq!(a.remote_addr.to_string(), "192.0.2.7");
        assert_eq!(b.remote_ts[0].to_string(), "192.0.2.8/32");
        assert_eq!(b.remote_id, Some(Identity::from_addr(b.remote_addr)));
        assert_eq!(a.local_ts[0].to_string(), "198.51.100.0/24");
        // An instance of the template answers with the same profile.
        let mut db = ConnDb::new();
        let ts = db.insert(t.clone()).unwrap();
        let i = db
            .instantiate(ts, "192.0.2.9".parse().unwrap(), None)
            .unwrap();
        let c = connection(db.get(i).unwrap(), None).unwrap();
        assert!(Arc::ptr_eq(&a.profile, &c.profile));
        assert_eq!(c.remote_addr.to_string(), "192.0.2.9");
        // A changed connection gets a profile of its own, and the old one stays
        // with the SAs that hold it.
        let mut changed = t.clone();
        Arc::make_mut(&mut changed.policy).ike_lifetime = Duration::from_secs(600);
        let d = connection(&changed, Some("192.0.2.7".parse().unwrap())).unwrap();
        assert!(!Arc::ptr_eq(&a.profile, &d.profile));
        assert_eq!(d.ike_lifetime, Duration::from_secs(600));
        assert_eq!(a.ike_lifetime, t.policy.ike_lifetime);
    }

    #[test]
    fn profiles_no_one_holds_are_dropped() {
        let mut p = Profiles::default();
        let c = ConnConnection::from_spec(spec(), &host()).unwrap();
        let base = connection(&c, None).unwrap().profile.as_ref().clone();
        let name: Arc<str> = "x".into();
        let first = p.intern(&name, base.clone());
        assert!(Arc::ptr_eq(&first, &p.intern(&name, base.clone())));
        let mut other = base.clone();
        other.rekey = !other.rekey;
        let second = p.intern(&name, other.clone());
        assert_eq!(p.by_name[&name].len(), 2, "both in use");
        drop(first);
        let _third = p.intern(&name, {
            let mut o = base.clone();
            o.pfs = !o.pfs;
            o
        });
        assert_eq!(p.by_name[&name].len(), 2, "the unused one went");
        assert!(Arc::ptr_eq(&second, &p.intern(&name, other)));
        // Names whose profiles nobody holds go when the table has doubled.
        for n in 0..40 {
            let name: Arc<str> = format!("n{n}").into();
            drop(p.intern(&name, base.clone()));
        }
        assert!(p.by_name.len() < 40, "{} names kept", p.by_name.len());
    }

    #[test]
    fn tunnel_with_subnets_and_ids() {
        let c = ConnConnection::from_spec(spec(), &host()).unwrap();
        let k = connection(&c, None).unwrap();
        assert_eq!(&*k.name, "west-east");
        assert_eq!(k.local_addr.to_string(), "192.0.2.1");
        assert_eq!(k.remote_addr.to_string(), "192.0.2.2");
        assert_eq!(k.local_id, Identity::Fqdn("west".into()));
        assert_eq!(k.remote_id, Some(Identity::Fqdn("east".into())));
        assert_eq!(k.mode, Mode::Tunnel);
        assert_eq!(k.local_ts.len(), 1);
        assert_eq!(k.local_ts[0].start_addr().to_string(), "198.51.100.0");
        assert_eq!(k.local_ts[0].end_addr().to_string(), "198.51.100.255");
        assert_eq!(k.remote_ts[0].start_addr().to_string(), "203.0.113.0");
        assert_eq!(k.remote_port, 500);
        assert!(k.nat_traversal);
        assert_eq!(k.encapsulation, ike::ikev2::Encapsulation::Auto);
    }

    #[test]
    fn rekey_liveness_and_keepalive_options_reach_the_core() {
        // libreswan 5's defaults.
        let c = ConnConnection::from_spec(spec(), &host()).unwrap();
        let k = connection(&c, None).unwrap();
        assert_eq!(k.ike_lifetime, Duration::from_secs(8 * 3600));
        assert_eq!(k.child_lifetime, Duration::from_secs(8 * 3600));
        assert_eq!(k.rekey_margin, Duration::from_secs(540));
        assert_eq!(k.rekey_fuzz_percent, 100);
        assert!(k.rekey && k.pfs && k.nat_keepalive);
        assert_eq!((k.dpd_delay, k.dpd_timeout), (None, None));
        // Each option as given.
        let mut s = spec();
        s.ikelifetime = Some(3600);
        s.ipseclifetime = Some(1800);
        s.rekeymargin = Some(60);
        s.rekeyfuzz = Some(25);
        s.dontrekey = true;
        s.pfs = Some(false);
        s.dpddelay = Some(10);
        s.dpdtimeout = Some(30);
        s.no_keep_alive = true;
        let c = ConnConnection::from_spec(s, &host()).unwrap();
        let k = connection(&c, None).unwrap();
        assert_eq!(k.ike_lifetime, Duration::from_secs(3600));
        assert_eq!(k.child_lifetime, Duration::from_secs(1800));
        assert_eq!(k.rekey_margin, Duration::from_secs(60));
        assert_eq!(k.rekey_fuzz_percent, 25);
        assert!(!k.rekey && !k.pfs && !k.nat_keepalive);
        assert_eq!(k.dpd_delay, Some(Duration::from_secs(10)));
        assert_eq!(k.dpd_timeout, Some(Duration::from_secs(30)));
    }

    #[test]
    fn encapsulation_reaches_the_ikev2_connection() {
        for (conf, core) in [
            (Encapsulation::Yes, ike::ikev2::Encapsulation::Yes),
            (Encapsulation::No, ike::ikev2::Encapsulation::No),
            (Encapsulation::Auto, ike::ikev2::Encapsulation::Auto),
        ] {
            let mut s = spec();
            s.encapsulation = Some(conf);
            let c = ConnConnection::from_spec(s, &host()).unwrap();
            let k = connection(&c, None).unwrap();
            assert_eq!(k.encapsulation, core);
            assert!(k.nat_traversal, "NAT detection stays on for {conf}");
        }
    }

    #[test]
    fn host_to_host_transport_uses_addresses() {
        let mut s = spec();
        s.left.subnets.clear();
        s.right.subnets.clear();
        s.left.id = None;
        s.right.id = None;
        s.left.clientprotoport = Some("tcp/22".into());
        s.mode = Some(ConnMode::Transport);
        let c = ConnConnection::from_spec(s, &host()).unwrap();
        let k = connection(&c, None).unwrap();
        assert_eq!(k.mode, Mode::Transport);
        assert_eq!(
            k.local_id,
            Identity::from_addr("192.0.2.1".parse().unwrap())
        );
        assert!(k.local_ts[0].is_host());
        assert_eq!(k.local_ts[0].ip_proto(), 6);
        assert_eq!(k.local_ts[0].start_port(), 22);
        assert_eq!(k.remote_ts[0].start_addr().to_string(), "192.0.2.2");
    }

    #[test]
    fn child_sa_policy_selects_esp_ah_or_none() {
        let k = connection(&ConnConnection::from_spec(spec(), &host()).unwrap(), None).unwrap();
        assert!(!k.ike_only);
        assert_eq!(k.child_protocol(), ike::registry::ProtocolId::ESP);
        let esp = crate::xfrm::trap_policies(&k, 1).unwrap();
        assert!(
            matches!(&esp[0].action, kernel::PolicyAction::Ipsec(t) if t[0].proto == kernel::IpsecProto::Esp)
        );

        let mut s = spec();
        s.encrypt = false;
        s.authenticate = true;
        s.esp = Some("sha2_512".into());
        let k = connection(&ConnConnection::from_spec(s, &host()).unwrap(), None).unwrap();
        assert!(!k.ike_only);
        assert_eq!(k.child_protocol(), ike::registry::ProtocolId::AH);
        assert_eq!(k.esp_proposals.to_string(), "HMAC_SHA2_512_256");
        // Its trap asks the kernel for an AH SA, not ESP.
        let protos = |k: &Connection| -> Vec<kernel::IpsecProto> {
            crate::xfrm::trap_policies(k, 1)
                .unwrap()
                .iter()
                .flat_map(|p| match &p.action {
                    kernel::PolicyAction::Ipsec(t) => t.iter().map(|t| t.proto).collect(),
                    _ => Vec::new(),
                })
                .collect()
        };
        assert_eq!(protos(&k), vec![kernel::IpsecProto::Ah]);

        // The manual's `silly` connection: neither --encrypt nor --authenticate,
        // no subnets: only an IKE SA.
        let mut s = spec();
        s.encrypt = false;
        s.left.subnets.clear();
        s.right.subnets.clear();
        let k = connection(&ConnConnection::from_spec(s, &host()).unwrap(), None).unwrap();
        assert!(k.ike_only);

        let mut s = spec();
        s.authenticate = true;
        let c = ConnConnection::from_spec(s, &host()).unwrap();
        assert_eq!(connection(&c, None).unwrap_err(), ConvertError::AhAndEsp);
        // --compress is refused at add; should an IPComp-only policy reach here
        // anyway, it is not handed to the core as an IKE-only connection.
        let mut c = ConnConnection::from_spec(spec(), &host()).unwrap();
        Arc::make_mut(&mut c.policy).encrypt = false;
        Arc::make_mut(&mut c.policy).compress = true;
        assert_eq!(
            connection(&c, None).unwrap_err(),
            ConvertError::CompressOnly
        );
    }

    #[test]
    fn template_needs_a_peer_and_ikev1_is_refused() {
        let mut s = spec();
        s.right.host = Some("%any".into());
        s.right.subnets.clear();
        let c = ConnConnection::from_spec(s, &host()).unwrap();
        assert_eq!(connection(&c, None).unwrap_err(), ConvertError::NoPeer);
        let k = connection(&c, Some("192.0.2.9".parse().unwrap())).unwrap();
        assert_eq!(k.remote_ts[0].start_addr().to_string(), "192.0.2.9");

        // --ikev1 is refused at add; should an IKEv1 connection reach here anyway, it
        // is still not handed to the IKEv2 core.
        let mut c = ConnConnection::from_spec(spec(), &host()).unwrap();
        Arc::make_mut(&mut c.policy).ike_version = IkeVersion::V1;
        assert_eq!(connection(&c, None).unwrap_err(), ConvertError::Ikev1);
    }

    #[test]
    fn lookup_finds_psk_by_ids_and_connection_by_addresses() {
        let mut db = ConnDb::new();
        db.add(spec(), &host()).unwrap();
        let secrets = Secrets::parse_str(
            "@west @east : PSK \"right one\"\n192.0.2.1 192.0.2.2 : PSK \"by address\"\n",
            std::path::Path::new("test.secrets"),
        )
        .unwrap();
        let l = Lookup {
            conns: &db,
            secrets: &secrets,
        };
        let k = l
            .connection_for_init("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap())
            .unwrap();
        assert_eq!(&*k.name, "west-east");
        assert!(l
            .connection_for_init("192.0.2.1".parse().unwrap(), "192.0.2.3".parse().unwrap())
            .is_none());
        let psk = l
            .psk(
                &k,
                &Identity::Fqdn("west".into()),
                &Identity::Fqdn("east".into()),
            )
            .unwrap();
        assert_eq!(psk.as_ref(), b"right one");
        let by_addr = l
            .psk(
                &k,
                &Identity::from_addr("192.0.2.1".parse().unwrap()),
                &Identity::from_addr("192.0.2.2".parse().unwrap()),
            )
            .unwrap();
        assert_eq!(by_addr.as_ref(), b"by address");
        assert!(l
            .connection_for_auth(&k, &Identity::Fqdn("east".into()), None)
            .is_some());
        assert!(l
            .connection_for_auth(&k, &Identity::Fqdn("mallory".into()), None)
            .is_none());
    }
}
