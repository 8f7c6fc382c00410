//! Socket options for the daemon's IKE sockets: ESP-in-UDP decapsulation on the NAT-T
//! port, and per-socket policies that keep IKE packets out of IPsec.
//!
//! No crate wraps these, so they are plain setsockopt calls.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

use crate::error::{KernelError, Op};
use crate::sa::Lifetimes;
use crate::wire::{userpolicy_info_bytes, USERPOLICY_INFO_LEN};

const SOL_UDP: libc::c_int = 17;
const UDP_ENCAP: libc::c_int = 100;
const UDP_ENCAP_ESPINUDP: libc::c_int = 2;
const IP_XFRM_POLICY: libc::c_int = 17;
const IPV6_XFRM_POLICY: libc::c_int = 35;

fn setsockopt(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    name: libc::c_int,
    val: &[u8],
) -> io::Result<()> {
    // SAFETY: val is a live buffer of the length passed; fd is a valid borrowed descriptor.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            val.as_ptr() as *const libc::c_void,
            val.len() as libc::socklen_t,
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

fn socket_is_ipv6(fd: BorrowedFd<'_>) -> io::Result<bool> {
    // SAFETY: sockaddr_storage is plain old data; zeroed is valid.
    let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: ss and len are valid for writes of the sizes given.
    let rc = unsafe {
        libc::getsockname(
            fd.as_raw_fd(),
            &mut ss as *mut _ as *mut libc::sockaddr,
            &mut len,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(i32::from(ss.ss_family) == libc::AF_INET6)
}

fn opt_err(what: &str, e: io::Error) -> KernelError {
    KernelError::Io {
        op: Op::SocketOption,
        source: io::Error::new(e.kind(), format!("{what}: {e}")),
    }
}

/// Makes the kernel strip ESP-in-UDP (RFC 3948) arriving on this UDP socket (the
/// port-4500 one) and hand it to XFRM; IKE packets, which start with the non-ESP
/// marker, still reach the socket.
pub fn set_udp_encap(fd: BorrowedFd<'_>) -> Result<(), KernelError> {
    setsockopt(fd, SOL_UDP, UDP_ENCAP, &UDP_ENCAP_ESPINUDP.to_ne_bytes())
        .map_err(|e| opt_err("UDP_ENCAP_ESPINUDP", e))
}

/// Installs per-socket "allow" policies in both directions, so packets sent and
/// received on this IKE socket bypass whatever IPsec policy covers the peer (IKE must
/// never be encrypted by the SAs it negotiates). Needs CAP_NET_ADMIN.
pub fn bypass_ipsec(fd: BorrowedFd<'_>) -> Result<(), KernelError> {
    let v6 = socket_is_ipv6(fd).map_err(|e| opt_err("getsockname", e))?;
    let (level, name, family) = if v6 {
        (libc::IPPROTO_IPV6, IPV6_XFRM_POLICY, libc::AF_INET6 as u16)
    } else {
        (libc::IPPROTO_IP, IP_XFRM_POLICY, libc::AF_INET as u16)
    };
    for dir in [0u8, 1u8] {
        let pol: [u8; USERPOLICY_INFO_LEN] =
            userpolicy_info_bytes(None, family, &Lifetimes::default(), 0, dir, false);
        setsockopt(fd, level, name, &pol).map_err(|e| {
            opt_err(
                if v6 {
                    "IPV6_XFRM_POLICY"
                } else {
                    "IP_XFRM_POLICY"
                },
                e,
            )
        })?;
    }
    Ok(())
}
