//! Errors that say what the kernel said and what to do about it.

use std::fmt;
use std::io;

/// The kernel operation an error belongs to (for messages and for picking the hint).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Opening the netlink sockets.
    Open,
    /// XFRM_MSG_ALLOCSPI.
    AllocSpi,
    /// XFRM_MSG_NEWSA.
    AddSa,
    /// XFRM_MSG_UPDSA.
    UpdateSa,
    /// XFRM_MSG_DELSA.
    DeleteSa,
    /// XFRM_MSG_GETSA.
    GetSa,
    /// XFRM_MSG_GETSA dump.
    DumpSa,
    /// XFRM_MSG_NEWPOLICY.
    AddPolicy,
    /// XFRM_MSG_UPDPOLICY.
    ReplacePolicy,
    /// XFRM_MSG_DELPOLICY.
    DeletePolicy,
    /// XFRM_MSG_GETPOLICY dump.
    DumpPolicy,
    /// Reading the XFRM event socket.
    Events,
    /// An rtnetlink query (links, addresses, routes).
    Route,
    /// A setsockopt on an IKE socket.
    SocketOption,
    /// Entering a network namespace.
    Netns,
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Op::Open => "opening the XFRM netlink socket",
            Op::AllocSpi => "allocating an SPI",
            Op::AddSa => "adding an SA",
            Op::UpdateSa => "updating an SA",
            Op::DeleteSa => "deleting an SA",
            Op::GetSa => "reading an SA",
            Op::DumpSa => "listing SAs",
            Op::AddPolicy => "adding a policy",
            Op::ReplacePolicy => "replacing a policy",
            Op::DeletePolicy => "deleting a policy",
            Op::DumpPolicy => "listing policies",
            Op::Events => "reading XFRM events",
            Op::Route => "querying rtnetlink",
            Op::SocketOption => "setting an IPsec socket option",
            Op::Netns => "entering the network namespace",
        })
    }
}

/// Everything that can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    /// The kernel refused a request.
    #[error("{op}: the kernel said {} (errno {errno}){}; {hint}",
        io::Error::from_raw_os_error(*errno), extack.as_deref().map(|m| format!(": {m}")).unwrap_or_default())]
    Kernel {
        /// What was being done.
        op: Op,
        /// The positive errno the kernel returned.
        errno: i32,
        /// The kernel's extended-ack message, when it sent one.
        extack: Option<String>,
        /// What to do about it.
        hint: &'static str,
    },
    /// A socket call failed.
    #[error("{op}: {source}; check that this runs as root (CAP_NET_ADMIN) on a kernel with XFRM (xfrm_user)")]
    Io {
        /// What was being done.
        op: Op,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The kernel sent something this crate cannot parse.
    #[error("malformed netlink message from the kernel ({0}); this is a bug or a kernel ABI change, please report it")]
    Malformed(&'static str),
    /// A request this crate refuses to send because it cannot be right.
    #[error("invalid request: {0}")]
    Invalid(String),
}

impl KernelError {
    /// Builds the error for a negative netlink ack, choosing the hint from the
    /// operation and errno.
    pub(crate) fn from_errno(op: Op, errno: i32, extack: Option<String>) -> Self {
        let alg_missing = extack
            .as_deref()
            .map(|m| m.to_ascii_lowercase().contains("algorithm"))
            .unwrap_or(false);
        let hint = match (op, errno) {
            (Op::AddSa | Op::UpdateSa, libc::ENOSYS) if alg_missing => {
                "this kernel lacks the crypto algorithm (load its module, e.g. gcm, seqiv, chacha20poly1305, cmac, xcbc)"
            }
            (Op::AddSa | Op::UpdateSa, libc::ENOSYS | libc::EPROTONOSUPPORT) => {
                "this kernel has no ESP support (load esp4/esp6 or use the test net's UML kernel)"
            }
            (_, libc::EPERM | libc::EACCES) => "this needs CAP_NET_ADMIN: run pluto as root",
            (Op::AddSa | Op::AllocSpi, libc::EEXIST) => {
                "an SA with this SPI, destination and protocol already exists: update or delete it first"
            }
            (Op::AddPolicy, libc::EEXIST) => {
                "a policy with this selector and direction already exists: replace or delete it first"
            }
            (_, libc::ESRCH | libc::ENOENT) => {
                "no such SA or policy in the kernel (it may have expired or been flushed already)"
            }
            (Op::AllocSpi, _) => "no free SPI in the requested range, or the kernel lacks xfrm_user",
            (_, libc::EINVAL) => "the kernel rejected the parameters (check key sizes, selector families and the replay window)",
            (_, libc::ENOBUFS) => "the netlink socket overflowed: events were lost, resynchronise by dumping state",
            (_, libc::EAFNOSUPPORT) => "this kernel lacks the address family (IPv6 disabled?)",
            _ => "see the kernel log (dmesg) for details",
        };
        KernelError::Kernel {
            op,
            errno,
            extack,
            hint,
        }
    }

    /// The errno the kernel returned, if this is a kernel refusal.
    pub fn errno(&self) -> Option<i32> {
        match self {
            KernelError::Kernel { errno, .. } => Some(*errno),
            KernelError::Io { source, .. } => source.raw_os_error(),
            _ => None,
        }
    }

    /// True when the kernel refused an ESP/AH/IPComp state because it has no support
    /// for the protocol (ENOSYS or EPROTONOSUPPORT), e.g. on the development host.
    pub fn is_no_ipsec_support(&self) -> bool {
        matches!(
            self,
            KernelError::Kernel {
                op: Op::AddSa | Op::UpdateSa,
                errno: libc::ENOSYS | libc::EPROTONOSUPPORT,
                ..
            }
        )
    }

    /// True for "no such SA/policy" (ESRCH/ENOENT).
    pub fn is_not_found(&self) -> bool {
        matches!(self.errno(), Some(libc::ESRCH | libc::ENOENT))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn esp_missing_message_says_what_to_do() {
        for errno in [38, 93] {
            let e = KernelError::from_errno(Op::AddSa, errno, None);
            let s = e.to_string();
            assert!(s.contains("this kernel has no ESP support (load esp4/esp6 or use the test net's UML kernel)"), "{s}");
            assert!(s.contains(&format!("errno {errno}")), "{s}");
            assert!(e.is_no_ipsec_support());
        }
    }

    #[test]
    fn missing_algorithm_is_told_apart() {
        let e = KernelError::from_errno(
            Op::AddSa,
            38,
            Some("Requested AEAD algorithm not found".into()),
        );
        let s = e.to_string();
        assert!(s.contains("crypto algorithm"), "{s}");
        assert!(s.contains("Requested AEAD algorithm not found"), "{s}");
    }

    #[test]
    fn not_found_and_permission() {
        assert!(KernelError::from_errno(Op::DeleteSa, libc::ESRCH, None).is_not_found());
        let s = KernelError::from_errno(Op::AddPolicy, libc::EPERM, None).to_string();
        assert!(s.contains("CAP_NET_ADMIN"), "{s}");
    }
}
