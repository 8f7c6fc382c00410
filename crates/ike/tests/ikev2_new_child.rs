//! Additional Child SAs we ask for over an established IKE SA (CREATE_CHILD_SA
//! without REKEY_SA, RFC 7296 1.3.1), and `Endpoint::up` (`whack --initiate`)
//! using an IKE SA that is up instead of negotiating a second one.

mod ikev2_sim;

use std::time::Duration;

use ike::codec::v2::Header;
use ike::ikev2::{Connection, EndpointConfig, SaSerial, Up};
use ike::registry::{ExchangeType, NotifyType};
use ikev2_sim::*;

fn ike_only(mut c: Connection) -> Connection {
    c.profile_mut().ike_only = true;
    c
}

/// West's one IKE SA.
fn west_ike(net: &Net) -> SaSerial {
    let st = net.west.ep.status();
    assert_eq!(st.len(), 1, "{:?}", net.west.progress());
    st[0].serial
}

/// A childless IKE SA between west (IKE-only) and east (with a Child SA policy).
fn childless(w: Connection, e: Connection) -> Net {
    let mut net = Net::new(ike_only(w), e, b"k", b"k");
    net.initiate();
    net.run_for(Duration::from_secs(5));
    assert!(net.west.installs().is_empty());
    net
}

/// West and east whose selectors do not fit: east refuses every Child SA of
/// west with TS_UNACCEPTABLE.
fn refused_first_child() -> Net {
    let w = west_conn("c", "", "");
    let e = conn("c", EAST, WEST, EAST_NET, "192.0.3.0/24", "", "");
    Net::new(w, e, b"k", b"k")
}

/// CREATE_CHILD_SA requests west put on the wire.
fn west_requests(net: &Net) -> Vec<usize> {
    net.wire
        .iter()
        .filter(|t| t.local.ip() == net.west.addr)
        .filter_map(|t| {
            Header::decode(&t.contents)
                .ok()
                .map(|h| (h, t.contents.len()))
        })
        .filter(|(h, _)| {
            h.header.exchange == ExchangeType::CREATE_CHILD_SA && !h.header.flags.response
        })
        .map(|(_, len)| len)
        .collect()
}

#[test]
fn create_child_sa_adds_child_sas_to_an_established_ike_sa() {
    let (w, e) = pair();
    let mut net = childless(w, e);
    let ike = west_ike(&net);
    let child = net.west.ep.create_child_sa(ike, net.now).unwrap();
    net.run_for(Duration::from_secs(5));
    let (w, _) = net.assert_matching_children();
    assert_eq!(w.child, child);
    assert_eq!(w.ike, ike);
    assert!(net
        .west
        .has_line(&format!("{child}: initiating Child SA using IKE SA {ike}")));
    assert!(net.west.has_line(&format!(
        "{child}: initiator established Child SA using {ike}; IPsec tunnel"
    )));
    // A second call makes a second Child SA over the same IKE SA.
    let second = net.west.ep.create_child_sa(ike, net.now).unwrap();
    assert_ne!(second, child);
    net.run_for(Duration::from_secs(5));
    assert_eq!(net.west.installs().len(), 2);
    assert_eq!(net.east.installs().len(), 2);
    assert_eq!(net.west.ep.status()[0].children.len(), 2);
    assert_eq!(net.east.ep.status()[0].children.len(), 2);
    assert_eq!(
        (net.west.established_ike(), net.east.established_ike()),
        (1, 1)
    );
    assert!(net.west.child_failed().is_empty());
}

#[test]
fn a_refused_additional_child_sa_fails_and_the_ike_sa_stays() {
    let mut net = refused_first_child();
    net.initiate();
    net.run_for(Duration::from_secs(5));
    assert_eq!(net.west.child_failed(), vec![NotifyType::TS_UNACCEPTABLE]);
    let ike = west_ike(&net);
    let child = net.west.ep.create_child_sa(ike, net.now).unwrap();
    net.run_for(Duration::from_secs(5));
    assert_eq!(
        net.west.child_failed(),
        vec![NotifyType::TS_UNACCEPTABLE, NotifyType::TS_UNACCEPTABLE]
    );
    assert!(net.west.has_line(&format!(
        "{child}: CREATE_CHILD_SA response rejected Child SA with TS_UNACCEPTABLE; IKE SA {ike} stays up"
    )));
    assert!(net.west.installs().is_empty() && net.east.installs().is_empty());
    assert!(net.west.ike_deleted().is_empty() && net.east.ike_deleted().is_empty());
    assert_eq!(net.west.ep.status().len(), 1);
    assert_eq!(net.east.ep.status().len(), 1);
}

#[test]
fn an_additional_child_sa_carries_ke_with_pfs_and_follows_invalid_ke_payload() {
    let w = west_conn("c", "", "aes_gcm256-dh31+dh19");
    let e = east_conn("c", "", "aes_gcm256-dh19");
    let mut net = childless(w, e);
    let ike = west_ike(&net);
    net.west.ep.create_child_sa(ike, net.now).unwrap();
    net.run_for(Duration::from_secs(5));
    assert!(net
        .east
        .has_line("CREATE_CHILD_SA request: answering INVALID_KE_PAYLOAD suggesting DH19"));
    net.assert_matching_children();
    // The first request offered DH31, the retry DH19 (a larger KE payload).
    let sizes = west_requests(&net);
    assert_eq!(sizes.len(), 2, "{sizes:?}");
    assert!(sizes[1] > sizes[0]);
}

#[test]
fn an_additional_child_sa_without_pfs_has_no_ke() {
    let len = |pfs: bool| {
        let (mut w, e) = pair();
        w.profile_mut().pfs = pfs;
        let mut net = childless(w, e);
        let ike = west_ike(&net);
        net.west.ep.create_child_sa(ike, net.now).unwrap();
        net.run_for(Duration::from_secs(5));
        net.assert_matching_children();
        west_requests(&net)[0]
    };
    // The default IKE group is DH19: its KE payload adds 8 + 64 bytes.
    let (with, without) = (len(true), len(false));
    assert!(with >= without + 72, "{with} vs {without}");
}

#[test]
fn up_uses_the_established_ike_sa_instead_of_a_second_one() {
    // The first Child SA is refused; `up` asks for one over the same IKE SA.
    let mut net = refused_first_child();
    let c = net.west.conn();
    let first = net.west.ep.up(c.clone(), net.now).unwrap();
    let Up::NewIkeSa(ike) = first else {
        panic!("{first:?}")
    };
    net.collect();
    // While IKE_SA_INIT/IKE_AUTH are in flight nothing new starts.
    assert_eq!(
        net.west.ep.up(c.clone(), net.now).unwrap(),
        Up::InProgress(ike)
    );
    net.run_for(Duration::from_secs(5));
    let again = net.west.ep.up(c.clone(), net.now).unwrap();
    let Up::NewChildSa { ike: used, child } = again else {
        panic!("{again:?}")
    };
    assert_eq!(used, ike);
    // And while that Child SA is negotiated, nothing more either.
    assert_eq!(net.west.ep.up(c, net.now).unwrap(), Up::InProgress(ike));
    net.collect();
    net.run_for(Duration::from_secs(5));
    assert!(net
        .west
        .has_line(&format!("{child}: initiating Child SA using IKE SA {ike}")));
    assert_eq!(net.west.established_ike(), 1);
    assert_eq!(net.west.ep.status().len(), 1);
    assert_eq!(net.east.ep.status().len(), 1);
}

#[test]
fn up_of_an_ike_only_or_established_connection_does_nothing() {
    let (w, e) = pair();
    let mut net = childless(w, e);
    let ike = west_ike(&net);
    let c = net.west.conn();
    assert_eq!(net.west.ep.up(c, net.now).unwrap(), Up::IkeSaUp(ike));
    let mut net = Net::default_pair();
    net.initiate();
    net.run_for(Duration::from_secs(5));
    let (w, _) = net.assert_matching_children();
    let c = net.west.conn();
    assert_eq!(
        net.west.ep.up(c, net.now).unwrap(),
        Up::ChildSaUp {
            ike: w.ike,
            child: w.child
        }
    );
    net.run_for(Duration::from_secs(5));
    assert_eq!(net.west.installs().len(), 1);
    assert_eq!(net.west.ep.status().len(), 1);
}

#[test]
fn a_child_sa_the_responder_kernel_refused_is_made_again_by_up() {
    // East's kernel refuses the first Child SA: east answers IKE_AUTH with
    // TS_UNACCEPTABLE, the IKE SA stays, and `up` then adds the Child SA.
    let (w, e) = pair();
    let mut net = Net::new(w, e.clone(), b"k", b"k");
    let cfg = EndpointConfig {
        confirm_child_installs: true,
        ..EndpointConfig::default()
    };
    net.east = Host::with_config(e, b"k", 2, cfg);
    net.initiate();
    net.run_for(Duration::from_secs(1));
    let first = net.east.installs()[0].child;
    net.east
        .ep
        .child_sa_install_failed(first, "no room", net.now)
        .unwrap();
    net.run_for(Duration::from_secs(5));
    assert_eq!(net.west.child_failed(), vec![NotifyType::TS_UNACCEPTABLE]);
    let c = net.west.conn();
    let Up::NewChildSa { child, .. } = net.west.ep.up(c, net.now).unwrap() else {
        panic!("no Child SA asked for")
    };
    net.run_for(Duration::from_secs(1));
    let second = net.east.installs()[1].child;
    net.east.ep.child_sa_installed(second, net.now).unwrap();
    net.run_for(Duration::from_secs(5));
    assert_eq!(net.west.installs().len(), 1);
    assert_eq!(net.west.installs()[0].child, child);
    assert_eq!(
        net.west.installs()[0].outbound.spi,
        net.east.installs()[1].inbound.spi
    );
    assert_eq!(net.west.ep.status()[0].children.len(), 1);
    assert_eq!(net.east.ep.status()[0].children.len(), 1);
}
