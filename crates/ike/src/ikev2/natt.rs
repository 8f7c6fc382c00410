//! NAT detection (RFC 7296 2.23): which end is behind a NAT, from the
//! NAT_DETECTION_SOURCE_IP / NAT_DETECTION_DESTINATION_IP notifies.

use std::net::SocketAddr;

use crate::codec::v2::{Notify, Payload};
use crate::crypto::ikev2::nat_detection_hash;
use crate::registry::NotifyType;

/// The NAT detection hash of one address: `SHA-1(SPIi | SPIr | IP | port)`.
pub(crate) fn hash(spi_i: &[u8; 8], spi_r: &[u8; 8], addr: SocketAddr) -> [u8; 20] {
    nat_detection_hash(spi_i, spi_r, addr.ip(), addr.port())
}

/// The two notifies for a message from `local` to `remote`.
pub(crate) fn notifies(
    spi_i: &[u8; 8],
    spi_r: &[u8; 8],
    local: SocketAddr,
    remote: SocketAddr,
) -> [Payload; 2] {
    [
        Payload::Notify(Notify::nat_detection(true, hash(spi_i, spi_r, local))),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_nat_when_addresses_match() {
        let (i, r) = ([1u8; 8], [2u8; 8]);
        let a: SocketAddr = "192.0.2.1:500".parse().unwrap();
        let b: SocketAddr = "198.51.100.1:500".parse().unwrap();
        let sent = notifies(&i, &r, a, b);
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
}
