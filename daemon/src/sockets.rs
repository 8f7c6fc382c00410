//! The IKE UDP sockets: one on the IKE port (500) and one on the NAT-T port (4500)
//! for every local address pluto listens on, as libreswan's "adding UDP interface"
//! does.
//!
//! Each socket is bound to its own address, so a reply sent on the socket a
//! request arrived on always leaves from the address the peer wrote to (what
//! IP_PKTINFO achieves for a wildcard socket). Every socket gets the per-socket
//! IPsec bypass policies so IKE is never caught by the SAs it negotiates, and the
//! NAT-T socket gets `UDP_ENCAP_ESPINUDP` so the kernel takes ESP-in-UDP off it and
//! only IKE messages (behind the non-ESP marker) reach pluto.
//!
//! A reader task per socket forwards datagrams into one channel the main loop
//! selects on; closing a socket aborts its task.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsFd;
use std::sync::Arc;

use ike::ikev2::Transmit;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// One received IKE datagram.
#[derive(Debug, Clone)]
pub struct Datagram {
    /// Our address and port it arrived on.
    pub local: SocketAddr,
    /// The sender.
    pub remote: SocketAddr,
    /// The UDP payload (on the NAT-T port still with the non-ESP marker).
    pub data: Vec<u8>,
}

struct Sock {
    iface: String,
    sock: Arc<UdpSocket>,
    reader: JoinHandle<()>,
}

/// Why an IKE socket could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum SocketError {
    /// bind(2) failed.
    #[error("cannot bind UDP socket to {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The socket could not be handed to tokio.
    #[error("cannot register UDP socket {addr} with the runtime: {source}")]
    Register {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// The open IKE sockets.
pub struct IkeSockets {
    socks: BTreeMap<SocketAddr, Sock>,
    tx: mpsc::Sender<Datagram>,
}

impl std::fmt::Debug for IkeSockets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.socks.keys()).finish()
    }
}

/// Whether pluto listens on this address: not IPv6 link-local (a scope would be
/// needed to use it, and libreswan skips them too), not unspecified.
pub fn usable(addr: IpAddr) -> bool {
    match addr {
        IpAddr::V4(a) => !a.is_unspecified(),
        IpAddr::V6(a) => !a.is_unspecified() && (a.segments()[0] & 0xffc0) != 0xfe80,
    }
}

impl IkeSockets {
    /// No sockets yet; received datagrams will go to `tx`.
    pub fn new(tx: mpsc::Sender<Datagram>) -> Self {
        IkeSockets {
            socks: BTreeMap::new(),
            tx,
        }
    }

    /// Opens one socket; `natt` marks the NAT-T port. Returns false when it was
    /// open already. Socket options that fail (without CAP_NET_ADMIN) are logged
    /// and the socket is kept: IKE still works, only ESP through it would not.
    pub fn open(&mut self, iface: &str, addr: SocketAddr, natt: bool) -> Result<bool, SocketError> {
        if self.socks.contains_key(&addr) {
            return Ok(false);
        }
        let std_sock =
            std::net::UdpSocket::bind(addr).map_err(|source| SocketError::Bind { addr, source })?;
        std_sock
            .set_nonblocking(true)
            .map_err(|source| SocketError::Register { addr, source })?;
        if let Err(e) = kernel::socket::bypass_ipsec(std_sock.as_fd()) {
            tracing::warn!(
                "{iface} {addr}: cannot set IPsec bypass policy on IKE socket: {e}; IKE to peers covered by our own policies will fail"
            );
        }
        if natt {
            if let Err(e) = kernel::socket::set_udp_encap(std_sock.as_fd()) {
                tracing::warn!("{iface} {addr}: cannot enable ESP-in-UDP on the NAT-T socket: {e}");
            }
        }
        let sock = Arc::new(
            UdpSocket::from_std(std_sock)
                .map_err(|source| SocketError::Register { addr, source })?,
        );
        let reader = tokio::spawn(read_loop(sock.clone(), addr, self.tx.clone()));
        self.socks.insert(
            addr,
            Sock {
                iface: iface.to_string(),
                sock,
                reader,
            },
        );
        Ok(true)
    }

    /// Closes every socket (`whack --unlisten`, shutdown).
    pub fn close_all(&mut self) {
        for (addr, s) in std::mem::take(&mut self.socks) {
            s.reader.abort();
            tracing::info!("shutting down interface {} {addr}", s.iface);
        }
    }

    /// Closes the sockets of addresses no longer in `keep` (a `--listen` re-scan
    /// after an address vanished) and returns them as (interface, address) so the
    /// caller can report each as libreswan does ("shutting down interface ...").
    /// Sockets of addresses still present are left alone.
    pub fn retain(&mut self, keep: &[IpAddr]) -> Vec<(String, SocketAddr)> {
        let gone: Vec<SocketAddr> = self
            .socks
            .keys()
            .filter(|a| !keep.contains(&a.ip()))
            .copied()
            .collect();
        let mut closed = Vec::new();
        for a in gone {
            if let Some(s) = self.socks.remove(&a) {
                s.reader.abort();
                closed.push((s.iface, a));
            }
        }
        closed
    }

    /// The open sockets as (interface, address).
    pub fn list(&self) -> Vec<(String, SocketAddr)> {
        self.socks
            .iter()
            .map(|(a, s)| (s.iface.clone(), *a))
            .collect()
    }

    /// Whether any socket is open.
    pub fn is_empty(&self) -> bool {
        self.socks.is_empty()
    }

    /// Sends one datagram from the socket bound to `t.local`.
    pub async fn send(&self, t: &Transmit) {
        let Some(s) = self.socks.get(&t.local) else {
            tracing::warn!(
                "no IKE socket on {} to send {} bytes to {}; is the address still configured (whack --listen)?",
                t.local,
                t.contents.len(),
                t.remote
            );
            return;
        };
        if let Err(e) = s.sock.send_to(&t.contents, t.remote).await {
            tracing::warn!(
                "sending {} bytes from {} to {} failed: {e}",
                t.contents.len(),
                t.local,
                t.remote
            );
        }
    }
}

impl Drop for IkeSockets {
    fn drop(&mut self) {
        for s in self.socks.values() {
            s.reader.abort();
        }
    }
}

async fn read_loop(sock: Arc<UdpSocket>, local: SocketAddr, tx: mpsc::Sender<Datagram>) {
    let mut buf = vec![0u8; 65536];
    loop {
        match sock.recv_from(&mut buf).await {
            Ok((n, remote)) => {
                let d = Datagram {
                    local,
                    remote,
                    data: buf.get(..n).unwrap_or_default().to_vec(),
                };
                if tx.send(d).await.is_err() {
                    return;
                }
            }
            Err(e) => {
                tracing::debug!("receive on {local} failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_local_and_unspecified_are_skipped() {
        assert!(usable("127.0.0.1".parse().unwrap()));
        assert!(usable("2001:db8::1".parse().unwrap()));
        assert!(!usable("fe80::1".parse().unwrap()));
        assert!(!usable("0.0.0.0".parse().unwrap()));
    }

    #[tokio::test]
    async fn retain_closes_only_vanished_addresses() {
        let (tx, _rx) = mpsc::channel(4);
        let mut s = IkeSockets::new(tx);
        let probe = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let v4 = probe.local_addr().unwrap();
        drop(probe);
        let probe = std::net::UdpSocket::bind("127.0.0.2:0").unwrap();
        let other = probe.local_addr().unwrap();
        drop(probe);
        assert!(s.open("lo", v4, false).unwrap());
        assert!(s.open("lo", other, false).unwrap());
        let closed = s.retain(&[v4.ip()]);
        assert_eq!(closed, vec![("lo".to_string(), other)]);
        assert_eq!(s.list(), vec![("lo".to_string(), v4)]);
        // Nothing vanished: nothing closed, nothing reopened.
        assert!(s.retain(&[v4.ip()]).is_empty());
        assert!(!s.open("lo", v4, false).unwrap());
    }

    #[tokio::test]
    async fn datagrams_reach_the_channel_and_replies_leave_from_the_bound_address() {
        let (tx, mut rx) = mpsc::channel(4);
        let mut s = IkeSockets::new(tx);
        // Port 0 is not what pluto uses, but lets the test run unprivileged.
        let probe = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let free = probe.local_addr().unwrap();
        drop(probe);
        assert!(s.open("lo", free, false).unwrap());
        assert!(!s.open("lo", free, false).unwrap());
        let peer = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        peer.send_to(b"hello", free).await.unwrap();
        let d = rx.recv().await.unwrap();
        assert_eq!(d.data, b"hello");
        assert_eq!(d.local, free);
        assert_eq!(d.remote, peer.local_addr().unwrap());
        s.send(&Transmit {
            local: free,
            remote: d.remote,
            contents: b"reply".to_vec(),
            non_esp_marker: false,
        })
        .await;
        let mut buf = [0u8; 16];
        let (n, from) = peer.recv_from(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"reply");
        assert_eq!(from, free);
        s.close_all();
        assert!(s.is_empty());
    }
}
