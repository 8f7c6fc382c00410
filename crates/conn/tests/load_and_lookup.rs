//! End to end: read an ipsec.conf and ipsec.secrets from disk as the daemon does at
//! start, load the conns on both peers, negotiate-style lookups, and status output.

use std::net::IpAddr;
use std::path::PathBuf;

use conn::conf::{Auto, Config};
use conn::db::TrafficSelector;
use conn::secrets::Secrets;
use conn::status::{connection_list, StatusExtra};
use conn::{ConnDb, DbError, HostAddrs, Id, Side};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let d = std::env::temp_dir().join(format!("conn-e2e-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(d.join("ipsec.d")).unwrap();
        TempDir(d)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const CONF: &str = r#"
config setup
    uniqueids=yes

conn %default
    authby=secret
    ikelifetime=1h

conn west-east
    left=192.0.2.1
    leftid=@west
    leftsubnet=198.51.100.0/24
    right=192.0.2.2
    rightid=@east
    rightsubnet=203.0.113.0/24
    ike=aes256-sha2_256-modp2048
    esp=aes_gcm128
    pfsgroup=dh19
    auto=start

include ipsec.d/*.conf
"#;

const RW_CONF: &str = r#"
conn rw
    left=192.0.2.2
    leftid=@east
    leftsubnet=0.0.0.0/0
    right=%any
    rightid=%any
    auto=add

conn rw-carol
    also=rw
    rightid=carol@example.org
    auto=add
"#;

const SECRETS: &str = r#"
@west @east : PSK "west-east secret"
include ipsec.d/*.secrets
"#;

const RW_SECRETS: &str = r#"
@east %any : PSK 0sZ2VuZXJpYw==
@east carol@example.org : PSK 0x636172_6f6c
"#;

fn setup(tag: &str) -> (TempDir, Config, Secrets) {
    let d = TempDir::new(tag);
    std::fs::write(d.0.join("ipsec.conf"), CONF).unwrap();
    std::fs::write(d.0.join("ipsec.d/rw.conf"), RW_CONF).unwrap();
    std::fs::write(d.0.join("ipsec.secrets"), SECRETS).unwrap();
    std::fs::write(d.0.join("ipsec.d/rw.secrets"), RW_SECRETS).unwrap();
    let conf = Config::load(&d.0.join("ipsec.conf")).unwrap();
    let secrets = Secrets::load(&d.0.join("ipsec.secrets")).unwrap();
    (d, conf, secrets)
}

fn load(conf: &Config, addrs: &HostAddrs) -> ConnDb {
    let mut db = ConnDb::new();
    for c in conf.conns.iter().filter(|c| c.auto != Auto::Ignore) {
        db.add(c.spec.clone(), addrs).unwrap();
    }
    db
}

#[test]
fn same_files_load_on_both_peers() {
    let (_d, conf, _) = setup("both");
    assert_eq!(conf.conns.len(), 3);
    let west = load(&conf, &HostAddrs::new([ip("192.0.2.1")]));
    let east = load(&conf, &HostAddrs::new([ip("192.0.2.2")]));
    assert_eq!(west.find("west-east").unwrap().local, Some(Side::Left));
    assert_eq!(east.find("west-east").unwrap().local, Some(Side::Right));
    // On west the road-warrior conns are unoriented (no local end), not errors.
    assert!(!west.find("rw").unwrap().is_oriented());
    assert!(east.find("rw").unwrap().is_template());
    assert_eq!(
        east.find("west-east")
            .unwrap()
            .policy
            .ike_lifetime
            .as_secs(),
        3600
    );
}

#[test]
fn duplicate_and_unknown_names() {
    let (_d, conf, _) = setup("dup");
    let addrs = HostAddrs::new([ip("192.0.2.2")]);
    let mut db = load(&conf, &addrs);
    let again = db.add(conf.conns[0].spec.clone(), &addrs);
    assert_eq!(again, Err(DbError::Duplicate("west-east".into())));
    assert_eq!(db.delete("nope"), Err(DbError::Unknown("nope".into())));
}

#[test]
fn road_warrior_negotiation_lookups() {
    let (_d, conf, secrets) = setup("rw");
    let mut db = load(&conf, &HostAddrs::new([ip("192.0.2.2")]));
    let (us, peer) = (ip("192.0.2.2"), ip("192.0.2.99"));

    // IKE_SA_INIT from an unknown address: the first road-warrior template.
    let t = db.find_by_addrs(us, peer).unwrap();
    assert_eq!(&*db.get(t).unwrap().name, "rw");
    let inst = db.instantiate(t, peer, None).unwrap();

    // IDi says carol: switch to the connection naming her.
    let carol = Id::parse("carol@example.org").unwrap();
    let better = db.find_by_peer_id(inst, &carol).unwrap();
    assert_eq!(&*db.get(better).unwrap().name, "rw-carol");
    let ours = db.get(better).unwrap().local_end().unwrap().id.clone();
    assert_eq!(secrets.psk(&ours, &carol).unwrap().expose(), b"carol");
    let dave = Id::parse("@dave").unwrap();
    assert_eq!(secrets.psk(&ours, &dave).unwrap().expose(), b"generic");

    // The child SA's selectors: 0.0.0.0/0 on our side, the peer's address on theirs.
    let ts_ours = TrafficSelector::all(false);
    let ts_theirs = TrafficSelector::host(peer);
    assert_eq!(
        db.find_by_traffic_selectors(us, peer, &[ts_ours], &[ts_theirs]),
        Some(inst)
    );

    // The PSK for the site-to-site connection, from both sides.
    let w = Id::parse("@west").unwrap();
    let e = Id::parse("@east").unwrap();
    assert_eq!(secrets.psk(&e, &w).unwrap().expose(), b"west-east secret");
}

#[test]
fn status_lists_every_connection() {
    let (_d, conf, _) = setup("status");
    let mut db = load(&conf, &HostAddrs::new([ip("192.0.2.2")]));
    let t = db.find("rw").unwrap().serial;
    db.instantiate(t, ip("192.0.2.99"), None).unwrap();
    let lines = connection_list(&db, 0, |_| StatusExtra::default());
    let firsts: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("; unrouted; my_ip="))
        .collect();
    assert_eq!(firsts.len(), 4);
    assert!(firsts[0].starts_with("\"rw\": 0.0.0.0/0===192.0.2.2[@east]...%any[%any];"));
    assert!(firsts[1]
        .starts_with("\"rw\"[1] 192.0.2.99: 0.0.0.0/0===192.0.2.2[@east]...192.0.2.99[%any];"));
    assert!(firsts[3].starts_with(
        "\"west-east\": 203.0.113.0/24===192.0.2.2[@east]...192.0.2.1[@west]===198.51.100.0/24;"
    ));
    assert_eq!(
        lines.last().unwrap(),
        "Total IPsec connections: loaded 4, active 0"
    );
}

#[test]
fn what_the_ike_daemon_builds_a_negotiation_from() {
    let (_d, conf, _) = setup("ike");
    let west = load(&conf, &HostAddrs::new([ip("192.0.2.1")]));
    let east = load(&conf, &HostAddrs::new([ip("192.0.2.2")]));
    let w = west.find("west-east").unwrap();
    let e = east.find("west-east").unwrap();

    // Proposals parsed from ike=/esp= with pfsgroup= applied, the same on both peers.
    assert_eq!(w.proposals, e.proposals);
    assert_eq!(
        w.proposals.ike().to_string(),
        "AES_CBC_256-HMAC_SHA2_256-MODP2048"
    );
    assert_eq!(w.proposals.child().to_string(), "AES_GCM_16_128;DH19");
    assert_eq!(
        w.proposals.ike().kind(),
        ike::proposal::ProposalKind::IKEV2_IKE
    );
    // The road-warrior conns set none: libreswan's defaults.
    let rw = east.find("rw").unwrap();
    assert_eq!(
        rw.proposals.ike(),
        &ike::proposal::ProposalSet::defaults(ike::proposal::ProposalKind::IKEV2_IKE)
    );

    // TSi/TSr: what west sends as TSi is what east expects of the peer, and vice versa.
    assert_eq!(w.local_traffic_selectors(), e.remote_traffic_selectors());
    assert_eq!(w.remote_traffic_selectors(), e.local_traffic_selectors());
    let tsi = w.local_traffic_selectors();
    let tsr = w.remote_traffic_selectors();
    let narrowed = ike::ts::narrow(
        &tsi,
        &tsr,
        &e.remote_traffic_selectors(),
        &e.local_traffic_selectors(),
    )
    .unwrap();
    assert_eq!(narrowed.tsi, tsi);
    // East finds the connection from the selectors it received.
    assert_eq!(
        east.find_by_traffic_selectors(ip("192.0.2.2"), ip("192.0.2.1"), &tsr, &tsi),
        Some(e.serial)
    );

    // IDi as west sends it, and as east reads it back.
    let (ty, data) = w.local_end().unwrap().id.to_wire().unwrap();
    assert_eq!(ty, ike::registry::IdType::FQDN);
    assert_eq!(data, b"west");
    let idi = Id::from_wire(ty, &data).unwrap();
    assert!(e.remote_end().unwrap().id.matches(&idi));

    // Status shows the configured proposals in canonical form.
    let lines = connection_list(&east, 0, |_| StatusExtra::default());
    assert!(lines.contains(
        &"\"west-east\":   IKE algorithms: AES_CBC_256-HMAC_SHA2_256-MODP2048".to_string()
    ));
    assert!(lines.contains(&"\"west-east\":   ESP algorithms: AES_GCM_16_128;DH19".to_string()));
}
