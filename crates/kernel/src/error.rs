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
    /// Adding, deleting or listing a FIB rule (the ICMP answer of `%reject`).
    Rule,
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
            Op::Rule => "changing a routing rule",
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
    /// The kernel did not answer a request in time (5 s
    /// between replies); the request's outcome is unknown.
    #[error("{op}: no answer from the kernel within {}s; the request may or may not have been carried out", .waited.as_secs())]
    Timeout {
        /// What was being done.
        op: Op,
        /// How long was waited.
        waited: std::time::Duration,
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

    /// True when the kernel said an algorithm of an SA was not found. That is also
    /// what a kernel without ESP (or AH) says for an AEAD or other cipher whose
    /// module is missing too, because the kernel looks the algorithms up before
    /// the protocol: the cause must then be told apart by a probe (see
    /// [`KernelError::protocol_missing`]).
    pub fn is_algorithm_missing(&self) -> bool {
        match self {
            KernelError::Kernel {
                op: Op::AddSa | Op::UpdateSa,
                errno: libc::ENOSYS,
                extack,
                ..
            } => extack
                .as_deref()
                .is_some_and(|m| m.to_ascii_lowercase().contains("algorithm")),
            _ => false,
        }
    }

    /// The same refusal with the hint that the kernel lacks the IPsec protocol
    /// itself, once a probe SA of that protocol with common algorithms failed
    /// with [`KernelError::is_no_ipsec_support`] as well.
    pub fn protocol_missing(self, proto: crate::sa::IpsecProto) -> Self {
        match self {
            KernelError::Kernel {
                op, errno, extack, ..
            } => KernelError::Kernel {
                op,
                errno,
                extack,
                hint: protocol_hint(proto),
            },
            other => other,
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

/// What to say when the kernel has no support for `proto` at all.
pub(crate) fn protocol_hint(proto: crate::sa::IpsecProto) -> &'static str {
    use crate::sa::IpsecProto as P;
    match proto {
        P::Esp => "this kernel has no ESP support (load esp4/esp6 or use the test net's UML kernel)",
        P::Ah => "this kernel has no AH support (load ah4/ah6 or use the test net's UML kernel)",
        P::Comp => "this kernel has no IPComp support (load ipcomp/ipcomp6 or use the test net's UML kernel)",
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
    fn missing_protocol_beats_missing_algorithm_once_probed() {
        // A kernel without ESP refuses an AEAD SA with "algorithm not found"...
        let aead = KernelError::from_errno(
            Op::AddSa,
            libc::ENOSYS,
            Some("Requested AEAD algorithm not found".into()),
        );
        assert!(aead.is_algorithm_missing());
        // ...and a plain cbc/sha256 probe with "type not found".
        let probe = KernelError::from_errno(
            Op::AddSa,
            libc::EPROTONOSUPPORT,
            Some("Requested type not found".into()),
        );
        assert!(probe.is_no_ipsec_support() && !probe.is_algorithm_missing());
        let s = aead
            .protocol_missing(crate::sa::IpsecProto::Esp)
            .to_string();
        assert!(s.contains("this kernel has no ESP support"), "{s}");
        assert!(!s.contains("crypto algorithm"), "{s}");
        // The kernel's own words stay.
        assert!(s.contains("Requested AEAD algorithm not found"), "{s}");
        let ah =
            KernelError::from_errno(Op::AddSa, libc::ENOSYS, Some("algorithm not found".into()))
                .protocol_missing(crate::sa::IpsecProto::Ah)
                .to_string();
        assert!(ah.contains("no AH support"), "{ah}");
        // Other refusals are no algorithm question.
        assert!(!KernelError::from_errno(Op::AddSa, libc::EINVAL, None).is_algorithm_missing());
        assert!(!KernelError::from_errno(Op::AddSa, libc::ENOSYS, None).is_algorithm_missing());
    }

    #[test]
    fn not_found_and_permission() {
        assert!(KernelError::from_errno(Op::DeleteSa, libc::ESRCH, None).is_not_found());
        let s = KernelError::from_errno(Op::AddPolicy, libc::EPERM, None).to_string();
        assert!(s.contains("CAP_NET_ADMIN"), "{s}");
    }
}
