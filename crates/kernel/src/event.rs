//! Kernel-initiated XFRM events, read from their own multicast socket.
//!
//! The event socket joins only the ACQUIRE, EXPIRE and MAPPING groups (POLEXPIRE is
//! sent to the EXPIRE group). It does not join the SA and POLICY groups, so the
//! kernel's notifications of changes this daemon made itself never reach it; the
//! replies to our own requests arrive on the request socket, matched by sequence
//! number.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};

use crate::error::{KernelError, Op};
use crate::nl::{split_messages, NlSocket, NLMSG_ERROR};
use crate::policy::Dir;
use crate::sa::{IpsecProto, Mark, SaId};
use crate::selector::Selector;
use crate::wire::parse_event;

/// Something the kernel tells the daemon without being asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KernelEvent {
    /// Outbound traffic hit a trap policy with no SA: negotiate one.
    Acquire {
        /// Local (outer) address of the SA to negotiate.
        src: IpAddr,
        /// Remote (outer) address.
        dst: IpAddr,
        /// Protocol of the template that needs an SA.
        proto: Option<IpsecProto>,
        /// The packet's addresses/protocol/ports (narrowed to host prefixes).
        selector: Selector,
        /// Index of the policy that trapped.
        policy_index: u32,
        /// Direction of that policy.
        policy_dir: Option<Dir>,
        /// Reqid of the policy's first template (ties it to a connection).
        reqid: Option<u32>,
        /// Sequence number to quote when installing the SA.
        seq: u32,
        /// Mark of the policy.
        mark: Option<Mark>,
        /// XFRM interface ID of the policy.
        if_id: Option<u32>,
    },
    /// An SA reached a lifetime: soft means rekey now, hard means the kernel deleted it.
    Expire {
        /// The SA.
        sa: SaId,
        /// Its source address.
        src: IpAddr,
        /// Its reqid.
        reqid: u32,
        /// Hard (deleted) or soft (rekey).
        hard: bool,
        /// Its mark.
        mark: Option<Mark>,
        /// Its XFRM interface ID.
        if_id: Option<u32>,
    },
    /// The peer's NAT mapping changed (ESP-in-UDP arrived from a new address/port).
    Mapping {
        /// The inbound SA.
        sa: SaId,
        /// Its reqid.
        reqid: u32,
        /// The peer's previous address and port.
        old: SocketAddr,
        /// The peer's new address and port.
        new: SocketAddr,
    },
    /// The event socket overflowed (ENOBUFS): some events were lost, once per
    /// overflow. The daemon should resynchronise by dumping the SAs.
    Lost,
    /// A policy reached a lifetime.
    PolExpire {
        /// Its selector.
        selector: Option<Selector>,
        /// Its direction.
        dir: Option<Dir>,
        /// Kernel index.
        index: u32,
        /// Hard (deleted) or soft.
        hard: bool,
        /// Mark.
        mark: Option<Mark>,
        /// XFRM interface ID.
        if_id: Option<u32>,
    },
}

/// The stream of [`KernelEvent`]s. Owned by one task (the daemon's event loop).
#[derive(Debug)]
pub struct EventStream {
    /// `None` for the fake kernel's stream, which never has an event.
    sock: Option<NlSocket>,
    pending: VecDeque<KernelEvent>,
}

impl EventStream {
    pub(crate) fn new(sock: NlSocket) -> Self {
        Self {
            sock: Some(sock),
            pending: VecDeque::new(),
        }
    }

    /// The stream of a kernel that sends no events.
    pub(crate) fn silent() -> Self {
        Self {
            sock: None,
            pending: VecDeque::new(),
        }
    }

    /// Waits for the next event. Cancel-safe: dropping the future (e.g. in a
    /// `tokio::select!`) loses no event.
    ///
    /// When the socket overflows (ENOBUFS) events were lost: that is logged and
    /// reported once as [`KernelEvent::Lost`], so the daemon resynchronises by
    /// dumping state; the stream goes on.
    /// Malformed messages are logged and skipped: one bad event must not stop the rest.
    pub async fn next(&mut self) -> Result<KernelEvent, KernelError> {
        loop {
            if let Some(ev) = self.pending.pop_front() {
                return Ok(ev);
            }
            let Some(sock) = &self.sock else {
                return std::future::pending().await;
            };
            let data = match sock.recv().await {
                Ok(d) => d,
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                    tracing::warn!(
                        "XFRM event socket overflowed: some ACQUIRE/EXPIRE events were lost"
                    );
                    return Ok(KernelEvent::Lost);
                }
                Err(e) => {
                    return Err(KernelError::Io {
                        op: Op::Events,
                        source: e,
                    })
                }
            };
            let msgs = match split_messages(&data) {
                Ok(m) => m,
                Err(e) => {
                    tracing::warn!("skipping malformed XFRM event datagram: {e}");
                    continue;
                }
            };
            for m in msgs {
                if m.msg_type == NLMSG_ERROR {
                    continue;
                }
                match parse_event(m.msg_type, &m.payload) {
                    Ok(Some(ev)) => {
                        tracing::debug!(?ev, "XFRM event");
                        self.pending.push_back(ev);
                    }
                    Ok(None) => {}
                    Err(e) => tracing::warn!(msg_type = m.msg_type, "skipping XFRM event: {e}"),
                }
            }
        }
    }
}
