//! Child SAs announced only once the kernel took them
//! (`EndpointConfig::confirm_child_installs`, interop finding F2), and a
//! responder that answers IKE_AUTH / CREATE_CHILD_SA only after its kernel did.

mod ikev2_sim;

use std::time::Duration;

use ike::codec::v2::Header;
use ike::ikev2::{EndpointConfig, Event, SaSerial};
use ike::registry::{ExchangeType, NotifyType};
use ikev2_sim::*;

fn confirm_cfg() -> EndpointConfig {
    EndpointConfig {
        confirm_child_installs: true,
        ..EndpointConfig::default()
    }
}

/// West initiates; east, the responder, confirms its installs. Runs until
/// east's IKE_AUTH answer waits for the kernel.
fn responder_confirming() -> Net {
    let (w, e) = pair();
    let mut net = Net::new(w, e.clone(), b"k", b"k");
    net.east = Host::with_config(e, b"k", 2, confirm_cfg());
    net.initiate();
    net.run_for(Duration::from_secs(1));
    net
}

/// Responses east put on the wire for `exchange`.
fn east_responses(net: &Net, exchange: ExchangeType) -> usize {
    net.wire
        .iter()
        .filter(|t| t.local.ip() == net.east.addr)
        .filter_map(|t| Header::decode(&t.contents).ok())
        .filter(|h| h.header.exchange == exchange && h.header.flags.response)
        .count()
}

/// West and east established, west confirming its installs (east announces at once).
fn confirming() -> Net {
    let (w, e) = pair();
    let mut net = Net::new(w.clone(), e, b"k", b"k");
    net.west = Host::with_config(w, b"k", 1, confirm_cfg());
    net.initiate();
    net.run_for(Duration::from_secs(5));
    net
}

fn established(host: &Host) -> Vec<SaSerial> {
    host.events
        .iter()
        .filter_map(|e| match e {
            Event::ChildSaEstablished { child, .. } => Some(*child),
            _ => None,
        })
        .collect()
}

fn child_deleted(host: &Host) -> Vec<SaSerial> {
    host.events
        .iter()
        .filter_map(|e| match e {
            Event::ChildSaDeleted { child, .. } => Some(*child),
            _ => None,
        })
        .collect()
}

#[test]
fn established_is_announced_only_after_confirmation() {
    let mut net = confirming();
    net.assert_matching_children();
    let child = net.west.installs()[0].child;
    assert!(established(&net.west).is_empty());
    assert!(!net.west.has_line("established Child SA"));
    assert_eq!(established(&net.east).len(), 1);

    net.west.ep.child_sa_installed(child, net.now).unwrap();
    net.collect();
    assert_eq!(established(&net.west), vec![child]);
    assert!(net
        .west
        .has_line("#2: initiator established Child SA using #1; IPsec tunnel"));
    // A second confirmation announces nothing more.
    net.west.ep.child_sa_installed(child, net.now).unwrap();
    net.collect();
    assert_eq!(established(&net.west).len(), 1);
    assert!(net
        .west
        .ep
        .child_sa_installed(SaSerial(99), net.now)
        .is_err());
}

#[test]
fn failed_install_deletes_the_child_sa_with_the_peer() {
    let mut net = confirming();
    let child = net.west.installs()[0].child;
    net.west
        .ep
        .child_sa_install_failed(child, "adding an SA: Function not implemented", net.now)
        .unwrap();
    net.run_for(Duration::from_secs(5));
    assert!(established(&net.west).is_empty());
    assert!(!net.west.has_line("established Child SA"));
    assert!(net.west.has_line(
        "#2: cannot install Child SA in the kernel (adding an SA: Function not implemented); deleting it using #1 and sending notification"
    ));
    // West removed whatever got in; east removed its pair on our Delete.
    assert_eq!(net.west.deletes(), 1);
    assert_eq!(child_deleted(&net.west), vec![child]);
    assert_eq!(net.east.deletes(), 1);
    assert!(net.west.ep.status()[0].children.is_empty());
    assert!(net.east.ep.status()[0].children.is_empty());
    // The IKE SA stays up on both ends.
    assert!(net.west.ike_deleted().is_empty() && net.east.ike_deleted().is_empty());
    assert_eq!(net.west.ep.status()[0].state, "ESTABLISHED_IKE_SA");
    assert!(net
        .west
        .ep
        .child_sa_install_failed(child, "again", net.now)
        .is_err());
}

#[test]
fn a_rekey_retires_the_old_child_sa_only_once_the_new_one_is_in() {
    let mut net = confirming();
    let old = net.west.installs()[0].child;
    net.west.ep.child_sa_installed(old, net.now).unwrap();
    net.west.ep.rekey_child_sa(old, net.now).unwrap();
    net.run_for(Duration::from_secs(5));
    let new = net.west.installs()[1].child;
    // Both are still there on west: the old one waits for the new one's install.
    assert_eq!(net.west.ep.status()[0].children.len(), 2);
    assert_eq!(net.west.deletes(), 0);
    assert!(!net.west.has_line("initiator rekeyed Child SA"));

    net.west.ep.child_sa_installed(new, net.now).unwrap();
    net.run_for(Duration::from_secs(5));
    assert!(net
        .west
        .has_line("#3: initiator rekeyed Child SA #2 using #1"));
    assert_eq!(child_deleted(&net.west), vec![old]);
    assert_eq!((net.west.deletes(), net.east.deletes()), (1, 1));
    let (ws, es) = (net.west.ep.status(), net.east.ep.status());
    assert_eq!(ws[0].children.len(), 1);
    assert_eq!(es[0].children.len(), 1);
    assert_eq!(ws[0].children[0].serial, new);
}

#[test]
fn a_failed_rekey_install_keeps_the_old_child_sa() {
    let mut net = confirming();
    let old = net.west.installs()[0].child;
    net.west.ep.child_sa_installed(old, net.now).unwrap();
    net.west.ep.rekey_child_sa(old, net.now).unwrap();
    net.run_for(Duration::from_secs(5));
    let new = net.west.installs()[1].child;
    net.west
        .ep
        .child_sa_install_failed(new, "no memory", net.now)
        .unwrap();
    net.run_for(Duration::from_secs(5));
    let (ws, es) = (net.west.ep.status(), net.east.ep.status());
    assert_eq!(ws[0].children.len(), 1);
    assert_eq!(ws[0].children[0].serial, old);
    // East dropped the new pair on our Delete and keeps the old one.
    assert_eq!(es[0].children.len(), 1);
    assert_eq!(
        es[0].children[0].inbound_spi,
        net.west.installs()[0].outbound.spi
    );
}

#[test]
fn a_child_sa_whose_successor_awaits_the_kernel_is_not_rekeyed_again() {
    let mut net = confirming();
    let old = net.west.installs()[0].child;
    let old_spi = net.west.installs()[0].inbound.spi;
    net.west.ep.child_sa_installed(old, net.now).unwrap();
    net.west.ep.rekey_child_sa(old, net.now).unwrap();
    net.run_for(Duration::from_secs(5));
    // A soft EXPIRE of the old one before the new one is confirmed changes nothing.
    net.west.ep.handle_expire(old_spi, false, net.now).unwrap();
    net.run_for(Duration::from_secs(5));
    assert_eq!(net.west.installs().len(), 2);
    assert_eq!(net.east.installs().len(), 2);
}

#[test]
fn responder_answers_ike_auth_only_once_its_kernel_has_the_child_sa() {
    let mut net = responder_confirming();
    // East authenticated west and asked its kernel for the Child SA ...
    assert_eq!(net.east.established_ike(), 1);
    assert_eq!(net.east.installs().len(), 1);
    let child = net.east.installs()[0].child;
    assert!(established(&net.east).is_empty());
    // ... but west has no answer yet.
    assert_eq!(east_responses(&net, ExchangeType::IKE_AUTH), 0);
    assert_eq!(net.west.established_ike(), 0);
    // West retransmits meanwhile: absorbed, no second install, still no answer.
    net.run_for(Duration::from_secs(4));
    assert!(
        net.wire
            .iter()
            .filter(|t| t.local.ip() == net.west.addr)
            .filter_map(|t| Header::decode(&t.contents).ok())
            .filter(|h| h.header.exchange == ExchangeType::IKE_AUTH)
            .count()
            >= 3
    );
    assert_eq!(net.east.installs().len(), 1);
    assert_eq!(east_responses(&net, ExchangeType::IKE_AUTH), 0);

    net.east.ep.child_sa_installed(child, net.now).unwrap();
    net.run_for(Duration::from_secs(1));
    assert_eq!(east_responses(&net, ExchangeType::IKE_AUTH), 1);
    assert_eq!(established(&net.east), vec![child]);
    assert_eq!(established(&net.west).len(), 1);
    net.assert_matching_children();
    // A retransmission after the answer gets the cached answer, nothing more.
    assert_eq!(net.east.installs().len(), 1);
}

#[test]
fn a_failed_responder_install_is_refused_inside_ike_auth() {
    let mut net = responder_confirming();
    let child = net.east.installs()[0].child;
    net.east
        .ep
        .child_sa_install_failed(child, "adding an SA: Protocol not supported", net.now)
        .unwrap();
    net.collect();
    // East removed what the kernel may have taken, and keeps its IKE SA.
    assert_eq!(net.east.deletes(), 1);
    assert_eq!(child_deleted(&net.east), vec![child]);
    assert_eq!(net.east.child_failed(), vec![NotifyType::TS_UNACCEPTABLE]);
    assert!(net.east.has_line(
        "#2: cannot install Child SA in the kernel (adding an SA: Protocol not supported); responding with TS_UNACCEPTABLE, IKE SA #1 stays"
    ));
    assert_eq!(net.east.ep.status()[0].state, "ESTABLISHED_IKE_SA");
    assert!(net.east.ep.status()[0].children.is_empty());
    assert!(established(&net.east).is_empty());
    net.run_for(Duration::from_millis(20));
    // West got the IKE_AUTH answer: IKE SA authenticated, Child SA refused.
    assert_eq!(east_responses(&net, ExchangeType::IKE_AUTH), 1);
    assert_eq!(net.west.established_ike(), 1);
    assert_eq!(net.west.child_failed(), vec![NotifyType::TS_UNACCEPTABLE]);
    assert!(net.west.installs().is_empty());
    // East sent no Delete for a Child SA west never heard of.
    assert!(!net
        .wire
        .iter()
        .filter(|t| t.local.ip() == net.east.addr)
        .filter_map(|t| Header::decode(&t.contents).ok())
        .any(|h| h.header.exchange == ExchangeType::INFORMATIONAL && !h.header.flags.response));
}

/// Both ends up with their first Child SA confirmed by east's kernel.
fn responder_confirming_established() -> Net {
    let mut net = responder_confirming();
    let child = net.east.installs()[0].child;
    net.east.ep.child_sa_installed(child, net.now).unwrap();
    net.run_for(Duration::from_secs(1));
    net.assert_matching_children();
    net
}

#[test]
fn responder_answers_create_child_sa_only_once_its_kernel_has_the_child_sa() {
    let mut net = responder_confirming_established();
    let old = net.west.installs()[0].child;
    net.west.ep.rekey_child_sa(old, net.now).unwrap();
    net.run_for(Duration::from_secs(2));
    assert_eq!(net.east.installs().len(), 2);
    assert_eq!(east_responses(&net, ExchangeType::CREATE_CHILD_SA), 0);
    assert_eq!(net.west.installs().len(), 1);
    let new = net.east.installs()[1].child;
    net.east.ep.child_sa_installed(new, net.now).unwrap();
    net.run_for(Duration::from_secs(2));
    assert_eq!(east_responses(&net, ExchangeType::CREATE_CHILD_SA), 1);
    assert_eq!(net.west.installs().len(), 2);
    assert_eq!(
        net.east.installs().len(),
        2,
        "retransmissions did not install twice"
    );
    assert!(net.east.has_line("responder rekeyed Child SA #2 using #1"));
    // West retired the old Child SA; both ends keep only the new one.
    assert_eq!(net.west.ep.status()[0].children.len(), 1);
    assert_eq!(net.east.ep.status()[0].children.len(), 1);
    assert_eq!(
        net.east.ep.status()[0].children[0].inbound_spi,
        net.west.installs()[1].outbound.spi
    );
}

#[test]
fn a_failed_responder_rekey_install_keeps_the_old_child_sa() {
    let mut net = responder_confirming_established();
    let old = net.west.installs()[0].child;
    net.west.ep.rekey_child_sa(old, net.now).unwrap();
    net.run_for(Duration::from_secs(2));
    let new = net.east.installs()[1].child;
    net.east
        .ep
        .child_sa_install_failed(new, "no memory", net.now)
        .unwrap();
    net.run_for(Duration::from_secs(2));
    assert_eq!(east_responses(&net, ExchangeType::CREATE_CHILD_SA), 1);
    assert!(net.west.has_line(&format!(
        "rekey of Child SA {old} failed: peer answered TS_UNACCEPTABLE; retrying in"
    )));
    assert_eq!(net.west.installs().len(), 1);
    let (ws, es) = (net.west.ep.status(), net.east.ep.status());
    assert_eq!((ws[0].children.len(), es[0].children.len()), (1, 1));
    assert_eq!(ws[0].children[0].serial, old);
    // The old Child SA is east's to rekey again.
    let east_old = es[0].children[0].serial;
    net.east.ep.rekey_child_sa(east_old, net.now).unwrap();
    net.run_for(Duration::from_secs(2));
    assert_eq!(net.east.installs().len(), 3);
}
