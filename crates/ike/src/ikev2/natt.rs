//! NAT detection (RFC 7296 2.23): `SHA-1(SPIi | SPIr | IP | port)` in the
//! NAT_DETECTION_SOURCE_IP / NAT_DETECTION_DESTINATION_IP notifies.

use std::net::{IpAddr, SocketAddr};

use aws_lc_rs::digest;

use crate::codec::v2::{Notify, Payload};
use crate::registry::NotifyType;

/// The NAT detection hash of one address.
pub(crate) fn hash(spi_i: &[u8; 8], spi_r: &[u8; 8], addr: SocketAddr) -> Vec<u8> {
    let mut ctx = digest::Context::new(&digest::SHA1_FOR_LEGACY_USE_ONLY);
    ctx.update(spi_i);
    ctx.update(spi_r);
    match addr.ip() {
        IpAddr::V4(a) => ctx.update(&a.octets()),
        IpAddr::V6(a) => ctx.update(&a.octets()),
    }
    ctx.update(&addr.port().to_be_bytes());
    ctx.finish().as_ref().to_vec()
}

/// The two notifies for a message from `local` to `remote`.
pub(crate) fn notifies(
    spi_i: &[u8; 8],
    spi_r: &[u8; 8],
    local: SocketAddr,
    remote: SocketAddr,
) -> [Payload; 2] {
    [
        Payload::Notify(Notify::with_data(
            NotifyType::NAT_DETECTION_SOURCE_IP,
            hash(spi_i, spi_r, local),
        )),
        Payload::Notify(Notify::with_data(
            NotifyType::NAT_DETECTION_DESTINATION_IP,
            hash(spi_i, spi_r, remote),
        )),
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
