//! Netlink framing shared by the XFRM and rtnetlink sides: message and attribute
//! building, parsing of what the kernel sends back, and an async socket that matches
//! replies to requests by sequence number.
//!
//! Every parse here treats kernel bytes as untrusted input: lengths are checked before
//! use and a malformed message is an error, never a panic.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicU32, Ordering};

use tokio::io::unix::AsyncFd;
use tokio::sync::Mutex;

use crate::error::{KernelError, Op};

pub(crate) const NLMSG_HDRLEN: usize = 16;

pub(crate) const NLMSG_NOOP: u16 = 1;
pub(crate) const NLMSG_ERROR: u16 = 2;
pub(crate) const NLMSG_DONE: u16 = 3;
pub(crate) const NLMSG_OVERRUN: u16 = 4;

pub(crate) const NLM_F_REQUEST: u16 = 0x1;
pub(crate) const NLM_F_ACK: u16 = 0x4;
pub(crate) const NLM_F_DUMP: u16 = 0x300;
/// On a dump part: the table changed while it was being dumped.
const NLM_F_DUMP_INTR: u16 = 0x10;
/// In an NLMSG_ERROR: the original request is not echoed back.
const NLM_F_CAPPED: u16 = 0x100;
/// In an NLMSG_ERROR: extended-ack attributes follow.
const NLM_F_ACK_TLVS: u16 = 0x200;
const NLMSGERR_ATTR_MSG: u16 = 1;

const SOL_NETLINK: libc::c_int = 270;
const NETLINK_EXT_ACK: libc::c_int = 11;

/// How long a request waits for the kernel's next reply. XFRM answers within the
/// `sendmsg` of the request, so this only ends a wait that would otherwise last
/// forever (a reply lost to a full receive buffer), freeing the request socket
/// for the requests behind it; a later stale reply is dropped by its sequence
/// number.
pub(crate) const REPLY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

pub(crate) const fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// A netlink message under construction: the header is filled in by [`Self::finish`].
#[derive(Debug, Clone)]
pub(crate) struct MsgBuilder {
    buf: Vec<u8>,
}

impl MsgBuilder {
    pub(crate) fn new(msg_type: u16, flags: u16) -> Self {
        let mut buf = Vec::with_capacity(512);
        buf.extend_from_slice(&0u32.to_ne_bytes());
        buf.extend_from_slice(&msg_type.to_ne_bytes());
        buf.extend_from_slice(&flags.to_ne_bytes());
        buf.extend_from_slice(&0u32.to_ne_bytes()); // seq, set when sent
        buf.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel fills it in
        Self { buf }
    }

    /// Appends the fixed part of the message (a C struct already laid out in bytes).
    pub(crate) fn body(&mut self, bytes: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(bytes);
        self.pad();
        self
    }

    /// Appends one attribute (rtattr/nlattr: length, type, value, padding).
    pub(crate) fn attr(&mut self, ty: u16, value: &[u8]) -> &mut Self {
        let len = (4 + value.len()) as u16;
        self.buf.extend_from_slice(&len.to_ne_bytes());
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self.buf.extend_from_slice(value);
        self.pad();
        self
    }

    fn pad(&mut self) {
        let n = align4(self.buf.len());
        self.buf.resize(n, 0);
    }

    /// Sets the length and sequence number and returns the wire bytes.
    pub(crate) fn finish(mut self, seq: u32) -> Vec<u8> {
        let len = self.buf.len() as u32;
        // `new` wrote the 16-byte header, so these ranges exist.
        self.buf[0..4].copy_from_slice(&len.to_ne_bytes());
        self.buf[8..12].copy_from_slice(&seq.to_ne_bytes());
        self.buf
    }
}

/// One message received from the kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Message {
    pub(crate) msg_type: u16,
    pub(crate) flags: u16,
    pub(crate) seq: u32,
    pub(crate) payload: Vec<u8>,
}

/// Splits a datagram into netlink messages.
pub(crate) fn split_messages(mut data: &[u8]) -> Result<Vec<Message>, KernelError> {
    let mut out = Vec::new();
    while data.len() >= NLMSG_HDRLEN {
        let len = u32_at(data, 0)? as usize;
        if len < NLMSG_HDRLEN || len > data.len() {
            return Err(KernelError::Malformed(
                "netlink message length out of bounds",
            ));
        }
        out.push(Message {
            msg_type: u16_at(data, 4)?,
            flags: u16_at(data, 6)?,
            seq: u32_at(data, 8)?,
            payload: data
                .get(NLMSG_HDRLEN..len)
                .ok_or(KernelError::Malformed(
                    "netlink message length out of bounds",
                ))?
                .to_vec(),
        });
        data = data.get(align4(len)..).unwrap_or(&[]);
    }
    Ok(out)
}

/// Iterates the attributes after a fixed header of `skip` bytes (already aligned).
pub(crate) fn attrs(payload: &[u8], skip: usize) -> Result<Vec<(u16, &[u8])>, KernelError> {
    let mut data = payload.get(align4(skip)..).unwrap_or(&[]);
    let mut out = Vec::new();
    while data.len() >= 4 {
        let len = u16_at(data, 0)? as usize;
        let ty = u16_at(data, 2)? & 0x3fff; // strip NLA_F_NESTED / NLA_F_NET_BYTEORDER
        if len < 4 || len > data.len() {
            return Err(KernelError::Malformed(
                "netlink attribute length out of bounds",
            ));
        }
        let value = data.get(4..len).ok_or(KernelError::Malformed(
            "netlink attribute length out of bounds",
        ))?;
        out.push((ty, value));
        data = data.get(align4(len)..).unwrap_or(&[]);
    }
    Ok(out)
}

/// The `N` bytes at `at`, or an error when the message is shorter (an `at` near
/// `usize::MAX` is "too short" too, not an overflow).
fn bytes_at<const N: usize>(b: &[u8], at: usize) -> Result<[u8; N], KernelError> {
    at.checked_add(N)
        .and_then(|end| b.get(at..end))
        .and_then(|s| <[u8; N]>::try_from(s).ok())
        .ok_or(KernelError::Malformed("message too short"))
}

pub(crate) fn u16_at(b: &[u8], at: usize) -> Result<u16, KernelError> {
    bytes_at(b, at).map(u16::from_ne_bytes)
}

pub(crate) fn u32_at(b: &[u8], at: usize) -> Result<u32, KernelError> {
    bytes_at(b, at).map(u32::from_ne_bytes)
}

pub(crate) fn u64_at(b: &[u8], at: usize) -> Result<u64, KernelError> {
    bytes_at(b, at).map(u64::from_ne_bytes)
}

/// The errno carried (negated) in the first four bytes of NLMSG_ERROR and
/// NLMSG_DONE. `wrapping_neg` so that a kernel word of 0x80000000 cannot overflow.
fn errno_at(payload: &[u8]) -> Result<i32, KernelError> {
    bytes_at(payload, 0).map(|b| i32::from_ne_bytes(b).wrapping_neg())
}

/// Decodes an NLMSG_ERROR payload: the errno (0 = ack) and the extended-ack text.
pub(crate) fn parse_error(msg: &Message) -> Result<(i32, Option<String>), KernelError> {
    let errno = errno_at(&msg.payload)?;
    let mut text = None;
    if msg.flags & NLM_F_ACK_TLVS != 0 {
        // nlmsgerr = error code + the original header (and its payload unless capped)
        let skip = if msg.flags & NLM_F_CAPPED != 0 {
            4 + NLMSG_HDRLEN
        } else {
            let orig_len = u32_at(&msg.payload, 4)? as usize;
            4 + orig_len
        };
        for (ty, val) in attrs(&msg.payload, skip)? {
            if ty == NLMSGERR_ATTR_MSG {
                let s = val.split(|b| *b == 0).next().unwrap_or(&[]);
                text = Some(String::from_utf8_lossy(s).into_owned());
            }
        }
    }
    Ok((errno, text))
}

/// Opens a raw netlink socket of `protocol`, subscribed to `groups` (a bitmask), in the
/// calling thread's network namespace. Non-blocking, close-on-exec, with extended acks.
pub(crate) fn open_raw(protocol: libc::c_int, groups: u32, rcvbuf: usize) -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2) call; the result is checked before being wrapped.
    let fd = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            protocol,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is a freshly created descriptor that nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let one: libc::c_int = 1;
    // Extended acks are best effort: older kernels ignore the option.
    // SAFETY: the option value points at a live c_int of the size given.
    unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            SOL_NETLINK,
            NETLINK_EXT_ACK,
            &one as *const _ as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
    let size = rcvbuf as libc::c_int;
    // SAFETY: as above. A failure only leaves the default buffer size.
    unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            &size as *const _ as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
    // SAFETY: sockaddr_nl is plain old data; zeroed is a valid value.
    let mut sa: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    sa.nl_family = libc::AF_NETLINK as libc::sa_family_t;
    sa.nl_groups = groups;
    // SAFETY: sa is a valid sockaddr_nl and the length matches it.
    let rc = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            &sa as *const _ as *const libc::sockaddr,
            std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(fd)
}

/// An async netlink socket.
#[derive(Debug)]
pub(crate) struct NlSocket {
    fd: AsyncFd<OwnedFd>,
}

/// Large enough for any single XFRM/rtnetlink datagram the kernel sends (dumps are
/// split by the kernel into datagrams of at most a page or 32 KiB).
const RECV_BUF: usize = 64 * 1024;

impl NlSocket {
    /// Wraps a descriptor from [`open_raw`]; must be called inside a tokio runtime.
    pub(crate) fn new(fd: OwnedFd) -> io::Result<Self> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(io::Error::other(
                "the kernel handle must be created inside a tokio runtime",
            ));
        }
        // SAFETY: the OwnedFd is moved into the AsyncFd, which keeps it open and
        // unchanged for as long as it is registered.
        let fd = unsafe { AsyncFd::register(fd) }.map_err(io::Error::from)?;
        Ok(Self { fd })
    }

    pub(crate) async fn send(&self, buf: &[u8]) -> io::Result<()> {
        loop {
            let mut guard = self.fd.writable().await?;
            match guard.try_io(|fd| {
                // SAFETY: buf is a live slice; the kernel address is the default (pid 0).
                let n = unsafe {
                    libc::send(
                        fd.as_raw_fd(),
                        buf.as_ptr() as *const libc::c_void,
                        buf.len(),
                        0,
                    )
                };
                if n < 0 {
                    Err(io::Error::last_os_error())
                } else {
                    Ok(n as usize)
                }
            }) {
                Ok(r) => {
                    r?;
                    return Ok(());
                }
                Err(_would_block) => continue,
            }
        }
    }

    /// Receives one datagram.
    pub(crate) async fn recv(&self) -> io::Result<Vec<u8>> {
        let mut buf = vec![0u8; RECV_BUF];
        let n = self.recv_into(&mut buf).await?;
        buf.truncate(n);
        Ok(buf)
    }

    /// Receives one datagram into `buf` (at least [`RECV_BUF`] bytes long, so that no
    /// datagram the kernel sends is cut) and returns its length. The request socket
    /// keeps one such buffer for its whole life: a fresh 64 KiB buffer per reply was
    /// a zeroed allocation per kernel request.
    pub(crate) async fn recv_into(&self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let mut guard = self.fd.readable().await?;
            match guard.try_io(|fd| {
                // SAFETY: buf is a live, writable buffer of the length given.
                // MSG_TRUNC makes the kernel report the datagram's real length.
                let n = unsafe {
                    libc::recv(
                        fd.as_raw_fd(),
                        buf.as_mut_ptr() as *mut libc::c_void,
                        buf.len(),
                        libc::MSG_TRUNC,
                    )
                };
                if n < 0 {
                    Err(io::Error::last_os_error())
                } else if n as usize > buf.len() {
                    Err(io::Error::other(format!(
                        "netlink datagram of {n} bytes exceeds the {}-byte buffer",
                        buf.len()
                    )))
                } else {
                    Ok(n as usize)
                }
            }) {
                Ok(r) => return r,
                Err(_would_block) => continue,
            }
        }
    }
}

/// A request socket: one exchange (a request, or a batch of them) in flight at a
/// time, replies matched by sequence number; anything else that arrives (a stale reply
/// of a cancelled request) is dropped. Without a socket ([`Requester::fake`]) every
/// request is built as usual and then acknowledged without being sent, and every dump
/// is empty.
#[derive(Debug)]
pub(crate) struct Requester {
    chan: Option<Mutex<Chan>>,
    seq: AtomicU32,
}

/// The socket and the receive buffer it keeps for its life.
#[derive(Debug)]
struct Chan {
    sock: NlSocket,
    buf: Box<[u8]>,
}

/// At most this many bytes of requests go out in one datagram of a batch: well inside
/// the socket's send buffer and the kernel's per-datagram limit, so that a batch of
/// any length is sent as a few datagrams rather than refused.
const BATCH_DATAGRAM: usize = 16 * 1024;

/// The result of one request of a batch: its replies before the ack, or the error.
pub(crate) type Reply = Result<Vec<Message>, KernelError>;

impl Requester {
    pub(crate) fn new(sock: NlSocket) -> Self {
        // Start from a time-derived value so a restarted daemon does not reuse numbers.
        let start = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as u32)
            .unwrap_or(1);
        Self {
            chan: Some(Mutex::new(Chan {
                sock,
                buf: vec![0u8; RECV_BUF].into_boxed_slice(),
            })),
            seq: AtomicU32::new(start),
        }
    }

    /// A requester that answers every request itself, as a kernel that accepts
    /// everything and holds nothing would (see [`Kernel::fake_xfrm`](crate::Kernel::fake_xfrm)).
    pub(crate) fn fake() -> Self {
        Self {
            chan: None,
            seq: AtomicU32::new(1),
        }
    }

    /// Sends a request with NLM_F_ACK and collects the replies until the ack.
    pub(crate) async fn request(
        &self,
        op: Op,
        msg: MsgBuilder,
    ) -> Result<Vec<Message>, KernelError> {
        self.exchange(op, msg, false).await
    }

    /// Sends a dump request and collects every message until NLMSG_DONE. A dump the
    /// kernel marks as interrupted (the table changed meanwhile) is retried a few
    /// times so callers get a consistent list.
    pub(crate) async fn dump(&self, op: Op, msg: MsgBuilder) -> Result<Vec<Message>, KernelError> {
        let mut tries = 0;
        loop {
            let replies = self.exchange(op, msg.clone(), true).await?;
            let interrupted = replies.iter().any(|m| m.flags & NLM_F_DUMP_INTR != 0);
            tries += 1;
            if !interrupted || tries >= 4 {
                if interrupted {
                    tracing::warn!("{op}: the kernel's table kept changing during the dump; the list may be inconsistent");
                }
                return Ok(replies);
            }
        }
    }

    async fn exchange(
        &self,
        op: Op,
        msg: MsgBuilder,
        dump: bool,
    ) -> Result<Vec<Message>, KernelError> {
        let seq = self.next_seqs(1);
        let Some(chan) = &self.chan else {
            // The fake kernel: the message was built (what a request costs us) and
            // is acknowledged unsent.
            let mut bytes = msg.finish(seq);
            zeroize::Zeroize::zeroize(&mut bytes);
            return Ok(Vec::new());
        };
        let mut chan = chan.lock().await;
        let Chan { sock, buf } = &mut *chan;
        let mut bytes = msg.finish(seq);
        let sent = sock.send(&bytes).await;
        // SA requests carry keys: wipe the copy we built.
        zeroize::Zeroize::zeroize(&mut bytes);
        sent.map_err(|e| KernelError::Io { op, source: e })?;
        let mut replies = Vec::new();
        loop {
            let n = tokio::time::timeout(REPLY_TIMEOUT, sock.recv_into(buf))
                .await
                .map_err(|_| KernelError::Timeout {
                    op,
                    waited: REPLY_TIMEOUT,
                })?
                .map_err(|e| KernelError::Io { op, source: e })?;
            for m in split_messages(&buf[..n])? {
                if m.seq != seq {
                    tracing::debug!(seq = m.seq, "dropping stale netlink reply");
                    continue;
                }
                match m.msg_type {
                    NLMSG_ERROR => {
                        let (errno, text) = parse_error(&m)?;
                        if errno != 0 {
                            return Err(KernelError::from_errno(op, errno, text));
                        }
                        if !dump {
                            return Ok(replies);
                        }
                    }
                    NLMSG_DONE => {
                        let errno = errno_at(&m.payload).unwrap_or(0);
                        if errno != 0 {
                            return Err(KernelError::from_errno(op, errno, None));
                        }
                        return Ok(replies);
                    }
                    NLMSG_NOOP | NLMSG_OVERRUN => {}
                    // A non-dump GET's reply is followed by the ack; a dump's
                    // parts carry NLM_F_MULTI and end with NLMSG_DONE.
                    _ => replies.push(m),
                }
            }
        }
    }

    /// Reserves `n` consecutive sequence numbers and returns the first.
    fn next_seqs(&self, n: u32) -> u32 {
        self.seq.fetch_add(n, Ordering::Relaxed).wrapping_add(1)
    }

    /// Sends several requests (each with NLM_F_ACK, none a dump) packed into as few
    /// datagrams as fit, and returns each one's result in order. The kernel handles
    /// the messages of a datagram one after the other and acknowledges each on its
    /// own, so a refused request does not stop the ones after it: the caller sees
    /// every outcome and undoes what it must. Installing a Child SA (two SAs and two
    /// or three policies) is then one send and one or two receives instead of a round
    /// trip, and a wake-up, per message.
    pub(crate) async fn batch(&self, reqs: Vec<(Op, MsgBuilder)>) -> Vec<Reply> {
        let count = reqs.len();
        if count == 0 {
            return Vec::new();
        }
        let first = self.next_seqs(count as u32);
        let Some(chan) = &self.chan else {
            return reqs
                .into_iter()
                .enumerate()
                .map(|(i, (_, msg))| {
                    let mut bytes = msg.finish(first.wrapping_add(i as u32));
                    zeroize::Zeroize::zeroize(&mut bytes);
                    Ok(Vec::new())
                })
                .collect();
        };
        let ops: Vec<Op> = reqs.iter().map(|(op, _)| *op).collect();
        let mut results: Vec<Option<Reply>> = (0..count).map(|_| None).collect();
        let mut chan = chan.lock().await;
        let Chan { sock, buf } = &mut *chan;
        // Pack into datagrams of at most BATCH_DATAGRAM bytes (a larger single
        // message goes alone).
        // (bytes, number of requests in them)
        let mut datagrams: Vec<(Vec<u8>, usize)> = Vec::new();
        let mut cur: (Vec<u8>, usize) = (Vec::new(), 0);
        for (i, (_, msg)) in reqs.into_iter().enumerate() {
            let mut bytes = msg.finish(first.wrapping_add(i as u32));
            if cur.1 > 0 && cur.0.len() + bytes.len() > BATCH_DATAGRAM {
                datagrams.push(std::mem::take(&mut cur));
            }
            cur.0.extend_from_slice(&bytes);
            cur.1 += 1;
            zeroize::Zeroize::zeroize(&mut bytes);
        }
        datagrams.push(cur);
        let mut sent_upto = 0; // requests of the datagrams sent so far
        let mut failed: Option<io::Error> = None;
        let mut unsent = datagrams.into_iter();
        for (mut d, n_in) in unsent.by_ref() {
            let sent = sock.send(&d).await;
            // SA requests carry keys: wipe the copy we built.
            zeroize::Zeroize::zeroize(&mut d);
            if let Err(e) = sent {
                failed = Some(e);
                break;
            }
            sent_upto += n_in;
        }
        for (mut d, _) in unsent {
            zeroize::Zeroize::zeroize(&mut d);
        }
        // Collect the acks of what was sent (the kernel answers every request of a
        // datagram it took before this returns; a send error leaves the rest unsent).
        let mut outstanding = sent_upto;
        let mut replies: Vec<Vec<Message>> = (0..count).map(|_| Vec::new()).collect();
        while outstanding > 0 {
            let n = match tokio::time::timeout(REPLY_TIMEOUT, sock.recv_into(buf)).await {
                Ok(Ok(n)) => n,
                Ok(Err(e)) => {
                    failed = Some(e);
                    break;
                }
                Err(_) => {
                    failed = Some(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!(
                            "no answer from the kernel within {}s",
                            REPLY_TIMEOUT.as_secs()
                        ),
                    ));
                    break;
                }
            };
            let msgs = match split_messages(&buf[..n]) {
                Ok(m) => m,
                Err(e) => {
                    tracing::warn!("dropping a malformed netlink reply to a batch: {e}");
                    continue;
                }
            };
            for m in msgs {
                let i = m.seq.wrapping_sub(first) as usize;
                if i >= sent_upto || results[i].is_some() {
                    tracing::debug!(seq = m.seq, "dropping stale netlink reply");
                    continue;
                }
                match m.msg_type {
                    NLMSG_ERROR => {
                        let r = match parse_error(&m) {
                            Ok((0, _)) => Ok(std::mem::take(&mut replies[i])),
                            Ok((errno, text)) => Err(KernelError::from_errno(ops[i], errno, text)),
                            Err(e) => Err(e),
                        };
                        results[i] = Some(r);
                        outstanding -= 1;
                    }
                    NLMSG_NOOP | NLMSG_OVERRUN | NLMSG_DONE => {}
                    _ => replies[i].push(m),
                }
            }
        }
        results
            .into_iter()
            .enumerate()
            .map(|(i, r)| {
                r.unwrap_or_else(|| {
                    let source = match &failed {
                        Some(e) => io::Error::new(e.kind(), e.to_string()),
                        None => io::Error::other("no reply from the kernel"),
                    };
                    Err(KernelError::Io { op: ops[i], source })
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A request the kernel never answers (a NOOP without NLM_F_ACK) ends in a
    /// timeout instead of holding the request socket for ever. The clock is
    /// paused, so the 5 s pass at once.
    #[tokio::test(start_paused = true)]
    async fn an_unanswered_request_times_out() {
        let fd = match open_raw(crate::wire::NETLINK_XFRM, 0, 1 << 16) {
            Ok(fd) => fd,
            Err(e) => {
                eprintln!("skipped: no XFRM netlink socket here ({e})");
                return;
            }
        };
        let r = Requester::new(NlSocket::new(fd).unwrap());
        let e = r
            .request(Op::AddSa, MsgBuilder::new(NLMSG_NOOP, NLM_F_REQUEST))
            .await
            .unwrap_err();
        assert!(
            matches!(e, KernelError::Timeout { op: Op::AddSa, waited } if waited == REPLY_TIMEOUT),
            "{e}"
        );
        // The socket is free again: the next request is answered (an ack).
        let b = r
            .batch(vec![(
                Op::AddSa,
                MsgBuilder::new(NLMSG_NOOP, NLM_F_REQUEST | NLM_F_ACK),
            )])
            .await;
        assert!(b[0].is_ok(), "{:?}", b[0]);
    }

    #[test]
    fn builder_pads_and_sets_header() {
        let mut b = MsgBuilder::new(0x10, NLM_F_REQUEST | NLM_F_ACK);
        b.body(&[1, 2, 3]).attr(7, &[9]);
        let bytes = b.finish(42);
        assert_eq!(bytes.len(), 16 + 4 + 8);
        assert_eq!(u32_at(&bytes, 0).unwrap(), 28);
        assert_eq!(u16_at(&bytes, 4).unwrap(), 0x10);
        assert_eq!(u16_at(&bytes, 6).unwrap(), 5);
        assert_eq!(u32_at(&bytes, 8).unwrap(), 42);
        assert_eq!(&bytes[16..20], &[1, 2, 3, 0]);
        assert_eq!(&bytes[20..28], &[5, 0, 7, 0, 9, 0, 0, 0]);
    }

    #[test]
    fn split_and_attrs_round_trip() {
        let mut b = MsgBuilder::new(0x10, 0);
        b.body(&[0; 8]).attr(1, b"abc").attr(2, &[1, 2, 3, 4]);
        let mut data = b.finish(1);
        let mut b2 = MsgBuilder::new(NLMSG_DONE, 0);
        b2.body(&[0; 4]);
        data.extend(b2.finish(1));
        let msgs = split_messages(&data).unwrap();
        assert_eq!(msgs.len(), 2);
        let a = attrs(&msgs[0].payload, 8).unwrap();
        assert_eq!(a, vec![(1, &b"abc"[..]), (2, &[1u8, 2, 3, 4][..])]);
        assert_eq!(msgs[1].msg_type, NLMSG_DONE);
    }

    #[test]
    fn malformed_lengths_are_errors_not_panics() {
        let mut data = MsgBuilder::new(0x10, 0).finish(1);
        data[0] = 200;
        assert!(split_messages(&data).is_err());
        let bad_attr = [0u8, 0, 0, 0, 50, 0, 1, 0];
        assert!(attrs(&bad_attr, 4).is_err());
        assert!(split_messages(&[1, 2, 3]).unwrap().is_empty());
        // offsets near usize::MAX are "too short", not an overflow
        assert!(u16_at(&data, usize::MAX).is_err());
        assert!(u64_at(&data, usize::MAX - 3).is_err());
        assert_eq!(u64_at(&[0xff; 8], 0).unwrap(), u64::MAX);
    }

    #[test]
    fn errno_of_any_kernel_word() {
        let m = |word: i32| Message {
            msg_type: NLMSG_ERROR,
            flags: 0,
            seq: 1,
            payload: word.to_ne_bytes().to_vec(),
        };
        assert_eq!(parse_error(&m(0)).unwrap(), (0, None));
        assert_eq!(parse_error(&m(-1)).unwrap(), (1, None));
        // -(i32::MIN) does not exist: it must not overflow
        assert_eq!(parse_error(&m(i32::MIN)).unwrap(), (i32::MIN, None));
        assert!(parse_error(&Message {
            payload: vec![0; 3],
            ..m(0)
        })
        .is_err());
    }

    #[test]
    fn error_with_extack_text() {
        let mut b = MsgBuilder::new(NLMSG_ERROR, NLM_F_CAPPED | NLM_F_ACK_TLVS);
        let mut body = (-22i32).to_ne_bytes().to_vec();
        body.extend_from_slice(&[0u8; 16]);
        b.body(&body).attr(NLMSGERR_ATTR_MSG, b"bad thing\0");
        let m = split_messages(&b.finish(3)).unwrap().remove(0);
        assert_eq!(
            parse_error(&m).unwrap(),
            (22, Some("bad thing".to_string()))
        );
    }
}
