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
//!
//! `--ike-socket-bufsize` (SO_RCVBUF/SO_SNDBUF, forced past the system maximum
//! where CAP_NET_ADMIN allows, as libreswan does) and `--ike-socket-errqueue-toggle`
//! (IP_RECVERR / IPV6_RECVERR, on by default as in libreswan) apply to the open
//! sockets at once and to every socket opened later; [`IkeSockets::readback`] reads
//! the kernel's values back. With the error queue on, the reader drains it and logs
//! each ICMP error the kernel reports for a datagram pluto sent.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use ike::ikev2::Transmit;
use tokio::io::Interest;
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
    /// Errors drained from the socket's error queue.
    async_errors: Arc<AtomicU64>,
}

/// The IKE socket settings (`--ike-socket-bufsize`, `--ike-socket-errqueue-toggle`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SocketOptions {
    /// SO_RCVBUF and SO_SNDBUF to ask for; `None` leaves the kernel's default.
    pub bufsize: Option<u32>,
    /// IP_RECVERR / IPV6_RECVERR.
    pub errqueue: bool,
}

impl Default for SocketOptions {
    fn default() -> Self {
        SocketOptions {
            bufsize: None,
            errqueue: true,
        }
    }
}

/// One socket's options as the kernel reports them (getsockopt).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Readback {
    /// The interface.
    pub iface: String,
    /// The bound address.
    pub addr: SocketAddr,
    /// SO_RCVBUF (the kernel doubles what was asked, for its bookkeeping).
    pub rcvbuf: u32,
    /// SO_SNDBUF.
    pub sndbuf: u32,
    /// IP_RECVERR (IPV6_RECVERR on IPv6 sockets).
    pub errqueue: bool,
}

fn setsockopt_int(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    name: libc::c_int,
    v: libc::c_int,
) -> std::io::Result<()> {
    // SAFETY: a valid descriptor, a pointer to an int and its size.
    let r = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&v as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

fn getsockopt_int(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    name: libc::c_int,
) -> std::io::Result<libc::c_int> {
    let mut v: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: a valid descriptor, a pointer to an int and its size.
    let r = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&mut v as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if r == 0 {
        Ok(v)
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// SO_RCVBUFFORCE / SO_SNDBUFFORCE (Linux, generic socket option numbers).
const SO_SNDBUFFORCE: libc::c_int = 32;
const SO_RCVBUFFORCE: libc::c_int = 33;

/// Sets both buffer sizes: forced past net.core.[rw]mem_max where CAP_NET_ADMIN
/// allows it, else plainly (capped by the system maximum).
fn set_bufsize(fd: BorrowedFd<'_>, bytes: u32) -> std::io::Result<()> {
    let v = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    for (force, plain) in [
        (SO_RCVBUFFORCE, libc::SO_RCVBUF),
        (SO_SNDBUFFORCE, libc::SO_SNDBUF),
    ] {
        if setsockopt_int(fd, libc::SOL_SOCKET, force, v).is_err() {
            setsockopt_int(fd, libc::SOL_SOCKET, plain, v)?;
        }
    }
    Ok(())
}

fn recverr_opt(v6: bool) -> (libc::c_int, libc::c_int) {
    if v6 {
        (libc::IPPROTO_IPV6, libc::IPV6_RECVERR)
    } else {
        (libc::IPPROTO_IP, libc::IP_RECVERR)
    }
}

fn set_errqueue(fd: BorrowedFd<'_>, v6: bool, on: bool) -> std::io::Result<()> {
    let (level, name) = recverr_opt(v6);
    setsockopt_int(fd, level, name, libc::c_int::from(on))
}

fn apply(fd: BorrowedFd<'_>, addr: SocketAddr, o: &SocketOptions, fresh: bool) -> Vec<String> {
    let mut problems = Vec::new();
    if let Some(n) = o.bufsize {
        if let Err(e) = set_bufsize(fd, n) {
            problems.push(format!("cannot set socket buffer size to {n}: {e}"));
        }
    }
    // A fresh socket has the error queue off already.
    if !fresh || o.errqueue {
        if let Err(e) = set_errqueue(fd, addr.is_ipv6(), o.errqueue) {
            problems.push(format!(
                "cannot {} MSG_ERRQUEUE: {e}",
                if o.errqueue { "enable" } else { "disable" }
            ));
        }
    }
    problems
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
    opts: SocketOptions,
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
            opts: SocketOptions::default(),
        }
    }

    /// The settings applied to every socket.
    pub fn options(&self) -> SocketOptions {
        self.opts
    }

    /// `--ike-socket-bufsize`: applies `bytes` to every open socket now and to the
    /// ones opened later. Returns the problems, one line per socket that refused.
    pub fn set_bufsize(&mut self, bytes: u32) -> Vec<String> {
        self.opts.bufsize = Some(bytes);
        self.socks
            .iter()
            .filter_map(|(a, s)| {
                set_bufsize(s.sock.as_fd(), bytes).err().map(|e| {
                    format!(
                        "{} {a}: cannot set socket buffer size to {bytes}: {e}",
                        s.iface
                    )
                })
            })
            .collect()
    }

    /// `--ike-socket-errqueue-toggle`: turns the error queue on or off on every
    /// open socket and for the ones opened later. Returns the problems.
    pub fn set_errqueue(&mut self, on: bool) -> Vec<String> {
        self.opts.errqueue = on;
        self.socks
            .iter()
            .filter_map(|(a, s)| {
                set_errqueue(s.sock.as_fd(), a.is_ipv6(), on)
                    .err()
                    .map(|e| format!("{} {a}: cannot toggle MSG_ERRQUEUE: {e}", s.iface))
            })
            .collect()
    }

    /// Every open socket's options as the kernel reports them.
    pub fn readback(&self) -> Vec<Readback> {
        self.socks
            .iter()
            .map(|(a, s)| {
                let fd = s.sock.as_fd();
                let get = |level, name| {
                    getsockopt_int(fd, level, name)
                        .ok()
                        .and_then(|v| u32::try_from(v).ok())
                        .unwrap_or(0)
                };
                let (level, name) = recverr_opt(a.is_ipv6());
                Readback {
                    iface: s.iface.clone(),
                    addr: *a,
                    rcvbuf: get(libc::SOL_SOCKET, libc::SO_RCVBUF),
                    sndbuf: get(libc::SOL_SOCKET, libc::SO_SNDBUF),
                    errqueue: get(level, name) != 0,
                }
            })
            .collect()
    }

    /// How many errors the sockets' error queues reported (ICMP unreachable and
    /// the like, for datagrams pluto sent).
    pub fn async_errors(&self) -> u64 {
        self.socks
            .values()
            .map(|s| s.async_errors.load(Ordering::Relaxed))
            .sum()
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
        for p in apply(std_sock.as_fd(), addr, &self.opts, true) {
            tracing::warn!("{iface} {addr}: {p}");
        }
        let sock = Arc::new(
            UdpSocket::from_std(std_sock)
                .map_err(|source| SocketError::Register { addr, source })?,
        );
        let async_errors = Arc::new(AtomicU64::new(0));
        let reader = tokio::spawn(read_loop(
            sock.clone(),
            iface.to_string(),
            addr,
            self.tx.clone(),
            async_errors.clone(),
        ));
        self.socks.insert(
            addr,
            Sock {
                iface: iface.to_string(),
                sock,
                reader,
                async_errors,
            },
        );
        Ok(true)
    }

    /// Closes every socket (`whack --unlisten`, shutdown). Returns once they are
    /// closed, so a `--listen` right after can bind the same ports again.
    pub async fn close_all(&mut self) {
        let mut readers = Vec::new();
        for (addr, s) in std::mem::take(&mut self.socks) {
            s.reader.abort();
            tracing::info!("shutting down interface {} {addr}", s.iface);
            readers.push(s.reader);
        }
        finish(readers).await;
    }

    /// Closes the sockets of addresses no longer in `keep` (a `--listen` re-scan
    /// after an address vanished) and returns them as (interface, address) so the
    /// caller can report each as libreswan does ("shutting down interface ...").
    /// Sockets of addresses still present are left alone.
    pub async fn retain(&mut self, keep: &[IpAddr]) -> Vec<(String, SocketAddr)> {
        let gone: Vec<SocketAddr> = self
            .socks
            .keys()
            .filter(|a| !keep.contains(&a.ip()))
            .copied()
            .collect();
        let (mut closed, mut readers) = (Vec::new(), Vec::new());
        for a in gone {
            if let Some(s) = self.socks.remove(&a) {
                s.reader.abort();
                closed.push((s.iface, a));
                readers.push(s.reader);
            }
        }
        finish(readers).await;
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

/// Waits for aborted reader tasks to end: each holds its socket, which closes
/// only when the task is gone.
async fn finish(readers: Vec<JoinHandle<()>>) {
    for r in readers {
        let _ = r.await;
    }
}

impl Drop for IkeSockets {
    fn drop(&mut self) {
        for s in self.socks.values() {
            s.reader.abort();
        }
    }
}

async fn read_loop(
    sock: Arc<UdpSocket>,
    iface: String,
    local: SocketAddr,
    tx: mpsc::Sender<Datagram>,
    async_errors: Arc<AtomicU64>,
) {
    let mut buf = vec![0u8; 65536];
    loop {
        tokio::select! {
            r = sock.recv_from(&mut buf) => match r {
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
            },
            r = sock.ready(Interest::ERROR) => {
                if r.is_err() {
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    continue;
                }
                // Drain the error queue until the kernel says it is empty.
                loop {
                    match sock.try_io(Interest::ERROR, || read_errqueue(sock.as_fd())) {
                        Ok(report) => {
                            async_errors.fetch_add(1, Ordering::Relaxed);
                            tracing::info!(
                                "ERROR: asynchronous network error report on {iface} ({local}){report}"
                            );
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                        Err(e) => {
                            tracing::debug!("reading the error queue of {local} failed: {e}");
                            break;
                        }
                    }
                }
            }
        }
    }
}

/// Reads one entry of the socket's error queue: ", for a message to PEER: REASON".
fn read_errqueue(fd: BorrowedFd<'_>) -> std::io::Result<String> {
    let mut data = [0u8; 64];
    let mut iov = libc::iovec {
        iov_base: data.as_mut_ptr().cast(),
        iov_len: data.len(),
    };
    // SAFETY: all-zero is a valid sockaddr_storage and msghdr.
    let mut name: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut control = [0u64; 64];
    // SAFETY: as above.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_name = (&mut name as *mut libc::sockaddr_storage).cast();
    msg.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control) as _;
    // SAFETY: msg points at buffers that live until the call returns.
    let n = unsafe {
        libc::recvmsg(
            fd.as_raw_fd(),
            &mut msg,
            libc::MSG_ERRQUEUE | libc::MSG_DONTWAIT,
        )
    };
    if n < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let peer = sockaddr_to(&name).map(|a| a.to_string());
    let mut errno = None;
    // SAFETY: walking the control messages recvmsg filled in, with the libc macros.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            let (lvl, ty) = ((*c).cmsg_level, (*c).cmsg_type);
            if (lvl == libc::IPPROTO_IP && ty == libc::IP_RECVERR)
                || (lvl == libc::IPPROTO_IPV6 && ty == libc::IPV6_RECVERR)
            {
                let ee: libc::sock_extended_err =
                    std::ptr::read_unaligned(libc::CMSG_DATA(c).cast());
                errno = Some(ee.ee_errno);
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    let reason = match errno.and_then(|e| i32::try_from(e).ok()) {
        Some(e) => format!("{} [errno {e}]", std::io::Error::from_raw_os_error(e)),
        None => "unknown error".into(),
    };
    Ok(match peer {
        Some(p) => format!(", for a message to {p}: {reason}"),
        None => format!(": {reason}"),
    })
}

fn sockaddr_to(s: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match libc::c_int::from(s.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says it is a sockaddr_in.
            let a: &libc::sockaddr_in = unsafe { &*(s as *const libc::sockaddr_storage).cast() };
            Some(SocketAddr::from((
                std::net::Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr)),
                u16::from_be(a.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says it is a sockaddr_in6.
            let a: &libc::sockaddr_in6 = unsafe { &*(s as *const libc::sockaddr_storage).cast() };
            Some(SocketAddr::from((
                std::net::Ipv6Addr::from(a.sin6_addr.s6_addr),
                u16::from_be(a.sin6_port),
            )))
        }
        _ => None,
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
        let closed = s.retain(&[v4.ip()]).await;
        assert_eq!(closed, vec![("lo".to_string(), other)]);
        assert_eq!(s.list(), vec![("lo".to_string(), v4)]);
        // Nothing vanished: nothing closed, nothing reopened.
        assert!(s.retain(&[v4.ip()]).await.is_empty());
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
        s.close_all().await;
        assert!(s.is_empty());
    }

    fn free_port(ip: &str) -> SocketAddr {
        let probe = std::net::UdpSocket::bind((ip, 0)).unwrap();
        probe.local_addr().unwrap()
    }

    #[tokio::test]
    async fn bufsize_and_errqueue_reach_open_and_later_sockets() {
        let (tx, _rx) = mpsc::channel(4);
        let mut s = IkeSockets::new(tx);
        let a = free_port("127.0.0.1");
        assert!(s.open("lo", a, false).unwrap());
        // libreswan's default: the error queue is on.
        let r = s.readback();
        assert!(r[0].errqueue, "{r:?}");
        let default_rcv = r[0].rcvbuf;
        // Applied to the open socket at once; Linux reports twice what was set.
        assert!(s.set_bufsize(65536).is_empty());
        let r = s.readback();
        assert_eq!((r[0].rcvbuf, r[0].sndbuf), (131072, 131072), "{r:?}");
        assert_ne!(default_rcv, 131072);
        assert!(s.set_errqueue(false).is_empty());
        assert!(!s.readback()[0].errqueue);
        // A socket opened later gets the current settings.
        let b = free_port("127.0.0.1");
        assert!(s.open("lo", b, false).unwrap());
        let r = s.readback();
        let rb = r.iter().find(|x| x.addr == b).unwrap();
        assert_eq!((rb.rcvbuf, rb.sndbuf, rb.errqueue), (131072, 131072, false));
        assert!(s.set_errqueue(true).is_empty());
        assert!(s.readback().iter().all(|x| x.errqueue));
        assert_eq!(
            s.options(),
            SocketOptions {
                bufsize: Some(65536),
                errqueue: true
            }
        );
        let v6 = std::net::UdpSocket::bind("[::1]:0").map(|p| p.local_addr().unwrap());
        if let Ok(v6) = v6 {
            assert!(s.open("lo", v6, false).unwrap());
            let r = s.readback();
            let r6 = r.iter().find(|x| x.addr == v6).unwrap();
            assert!(r6.errqueue && r6.rcvbuf == 131072, "{r6:?}");
        }
    }

    #[tokio::test]
    async fn the_error_queue_is_drained_and_counted() {
        let (tx, _rx) = mpsc::channel(4);
        let mut s = IkeSockets::new(tx);
        let a = free_port("127.0.0.1");
        assert!(s.open("lo", a, false).unwrap());
        // Nobody listens there: the kernel answers ICMP port unreachable.
        let closed = free_port("127.0.0.1");
        let t = Transmit {
            local: a,
            remote: closed,
            contents: b"ike".to_vec(),
            non_esp_marker: false,
        };
        // The kernel rate-limits ICMP errors per destination (and other tests
        // on this host send to 127.0.0.1 too): send again every 250 ms.
        let mut seen = false;
        for i in 0..800 {
            if i % 25 == 0 {
                s.send(&t).await;
            }
            if s.async_errors() >= 1 {
                seen = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert!(seen, "the ICMP error was not read from the error queue");
    }
}
