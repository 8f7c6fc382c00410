//! NAT detection (RFC 7296 2.23): which end is behind a NAT, from the
//! NAT_DETECTION_SOURCE_IP / NAT_DETECTION_DESTINATION_IP notifies.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::config::Encapsulation;
use crate::codec::v2::{Notify, Payload};
use crate::crypto::ikev2::nat_detection_hash;
use crate::registry::NotifyType;

/// The NAT detection hash of one address: `SHA-1(SPIi | SPIr | IP | port)`.
pub(crate) fn hash(spi_i: &[u8; 8], spi_r: &[u8; 8], addr: SocketAddr) -> [u8; 20] {
    nat_detection_hash(spi_i, spi_r, addr.ip(), addr.port())
}

/// The two notifies for a message from `local` to `remote`. With `force` (the
/// connection's `encapsulation=yes`) the source hash is of the unspecified address
/// and port 0, which no datagram can arrive from: the peer then sees a NAT in
/// front of us and both ends float to the NAT-T port and encapsulate ESP, as with
/// libreswan's and strongSwan's forced encapsulation.
pub(crate) fn notifies(
    spi_i: &[u8; 8],
    spi_r: &[u8; 8],
    local: SocketAddr,
    remote: SocketAddr,
    force: bool,
) -> [Payload; 2] {
    let source = if force {
        let bogus: IpAddr = match local.ip() {
            IpAddr::V4(_) => Ipv4Addr::UNSPECIFIED.into(),
            IpAddr::V6(_) => Ipv6Addr::UNSPECIFIED.into(),
        };
        SocketAddr::new(bogus, 0)
    } else {
        local
    };
    [
        Payload::Notify(Notify::nat_detection(true, hash(spi_i, spi_r, source))),
        Payload::Notify(Notify::nat_detection(false, hash(spi_i, spi_r, remote))),
    ]
}

/// What the peer's NAT_DETECTION notifies say about a message received on `local`
/// from `remote`: `(we are behind a NAT, the peer is)`. `None` when the peer sent
/// none (it does not do NAT-T).
pub(crate) fn detect(
    payloads: &[Payload],
    spi_i: &[u8; 8],
    spi_r: &[u8; 8],
    local: SocketAddr,
    remote: SocketAddr,
) -> Option<(bool, bool)> {
    let mut sources = Vec::new();
    let mut dest = None;
    for p in payloads {
        if let Payload::Notify(n) = p {
            match n.ty {
                NotifyType::NAT_DETECTION_SOURCE_IP => sources.push(n.data.as_slice()),
                NotifyType::NAT_DETECTION_DESTINATION_IP => dest = Some(n.data.as_slice()),
                _ => {}
            }
        }
    }
    let dest = dest?;
    if sources.is_empty() {
        return None;
    }
    let ours = hash(spi_i, spi_r, local);
    let theirs = hash(spi_i, spi_r, remote);
    let local_nat = dest != ours.as_slice();
    let remote_nat = !sources.contains(&theirs.as_slice());
    Some((local_nat, remote_nat))
}

/// What NAT detection amounts to under the connection's `encapsulation=`:
/// `(we are behind a NAT, the peer is)` to act on, and a line to log when the
/// policy overrides or cannot be honoured.
pub(crate) fn apply(
    policy: Encapsulation,
    detected: Option<(bool, bool)>,
) -> ((bool, bool), Option<&'static str>) {
    match (policy, detected) {
        (Encapsulation::Auto, d) => (d.unwrap_or((false, false)), None),
        // We told the peer we are behind a NAT; act as if we were.
        (Encapsulation::Yes, Some((_, remote))) => ((true, remote), None),
        (Encapsulation::Yes, None) => (
            (false, false),
            Some(
                "encapsulation=yes, but the peer sent no NAT_DETECTION notifies \
                 (no NAT-T support): ESP is not encapsulated",
            ),
        ),
        (Encapsulation::No, Some((true, _) | (_, true))) => (
            (false, false),
            Some(
                "NAT detected, but encapsulation=no: staying on this port and \
                 not encapsulating ESP (ESP may not pass the NAT)",
            ),
        ),
        (Encapsulation::No, _) => ((false, false), None),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::ikev2::testutil::Pair;
    use crate::ikev2::{ChildSaInstall, Event, KernelRequest, UdpEncap};

    #[test]
    fn no_nat_when_addresses_match() {
        let (i, r) = ([1u8; 8], [2u8; 8]);
        let a: SocketAddr = "192.0.2.1:500".parse().unwrap();
        let b: SocketAddr = "198.51.100.1:500".parse().unwrap();
        let sent = notifies(&i, &r, a, b, false);
        assert_eq!(detect(&sent, &i, &r, b, a), Some((false, false)));
        // the peer's source was rewritten by a NAT
        let natted: SocketAddr = "203.0.113.9:1024".parse().unwrap();
        assert_eq!(detect(&sent, &i, &r, b, natted), Some((false, true)));
        // we are not where the peer sent to
        let other: SocketAddr = "198.51.100.2:500".parse().unwrap();
        assert_eq!(detect(&sent, &i, &r, other, a), Some((true, false)));
        assert_eq!(detect(&[], &i, &r, b, a), None);
        assert_eq!(hash(&i, &r, a).len(), 20);
    }

    #[test]
    fn forced_source_hash_never_matches() {
        let (i, r) = ([1u8; 8], [2u8; 8]);
        for (a, b) in [
            ("192.0.2.1:500", "198.51.100.1:500"),
            ("[2001:db8::1]:500", "[2001:db8::2]:500"),
        ] {
            let (a, b): (SocketAddr, SocketAddr) = (a.parse().unwrap(), b.parse().unwrap());
            let sent = notifies(&i, &r, a, b, true);
            // The peer believes we are NATed; the destination hash is still true.
            assert_eq!(detect(&sent, &i, &r, b, a), Some((false, true)));
        }
    }

    #[test]
    fn policy_overrides_detection() {
        use Encapsulation::*;
        assert_eq!(apply(Auto, Some((false, true))), ((false, true), None));
        assert_eq!(apply(Auto, None), ((false, false), None));
        assert_eq!(apply(Yes, Some((false, false))), ((true, false), None));
        assert_eq!(apply(Yes, Some((false, true))), ((true, true), None));
        let (nat, log) = apply(Yes, None);
        assert_eq!(nat, (false, false));
        assert!(log.is_some_and(|l| l.contains("no NAT-T support")));
        let (nat, log) = apply(No, Some((true, false)));
        assert_eq!(nat, (false, false));
        assert!(log.is_some_and(|l| l.contains("encapsulation=no")));
        assert_eq!(apply(No, Some((false, false))), ((false, false), None));
    }

    /// Two endpoints whose connections have these `encapsulation=` policies, after
    /// a full handshake: the Child SA each asked the kernel to install, the lines
    /// each logged and the peer's IKE port each ended up with.
    fn handshake(
        west: Encapsulation,
        east: Encapsulation,
    ) -> [(ChildSaInstall, Vec<String>, u16); 2] {
        let mut p = Pair::new("aes_gcm256");
        let mut w = (*p.wcfg.0).clone();
        w.profile_mut().encapsulation = west;
        p.wcfg.0 = Arc::new(w);
        let mut e = (*p.ecfg.0).clone();
        e.profile_mut().encapsulation = east;
        p.ecfg.0 = Arc::new(e);
        let w = p.wcfg.0.clone();
        p.west.initiate(w, p.now).unwrap();
        p.pump();
        let ports = [&p.west, &p.east].map(|ep| ep.status()[0].remote.port());
        [(&p.west_events, ports[0]), (&p.east_events, ports[1])].map(|(events, port)| {
            let install = events
                .iter()
                .find_map(|e| match e {
                    Event::Kernel(KernelRequest::InstallChildSa(i)) => Some((**i).clone()),
                    _ => None,
                })
                .expect("the Child SA is installed");
            let lines = events
                .iter()
                .filter_map(|e| match e {
                    Event::Progress(pr) => Some(pr.to_string()),
                    _ => None,
                })
                .collect();
            (install, lines, port)
        })
    }

    const FORCED: Option<UdpEncap> = Some(UdpEncap {
        local_port: 4500,
        remote_port: 4500,
    });

    #[test]
    fn either_end_forcing_encapsulation_makes_both_encapsulate() {
        for (west, east) in [
            (Encapsulation::Yes, Encapsulation::Auto),
            (Encapsulation::Auto, Encapsulation::Yes),
            (Encapsulation::Yes, Encapsulation::Yes),
        ] {
            let [(w, _, wport), (e, _, eport)] = handshake(west, east);
            assert_eq!(w.encap, FORCED, "west {west:?} east {east:?}");
            assert_eq!(e.encap, FORCED, "west {west:?} east {east:?}");
            // IKE floated to the NAT-T port too.
            assert_eq!((wport, eport), (4500, 4500), "west {west:?} east {east:?}");
        }
    }

    #[test]
    fn no_nat_and_no_forcing_means_plain_esp() {
        let [(w, _, wport), (e, _, eport)] = handshake(Encapsulation::Auto, Encapsulation::Auto);
        assert_eq!((w.encap, e.encap), (None, None));
        assert_eq!((wport, eport), (500, 500));
    }

    #[test]
    fn encapsulation_no_refuses_what_the_peer_forces() {
        let [(w, _, _), (e, lines, _)] = handshake(Encapsulation::Yes, Encapsulation::No);
        assert_eq!(w.encap, FORCED);
        assert_eq!(e.encap, None);
        assert!(
            lines
                .iter()
                .any(|l| l.contains("NAT detected, but encapsulation=no")),
            "{lines:?}"
        );
    }
}
