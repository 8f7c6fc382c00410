//! `pluto-hostile`: hostile packets at a live responder, for the hostile test-net
//! tier (issue 10, acceptance "Hostile packets").
//!
//! Stateless families are built from a real IKE_SA_INIT request (the sans-IO core's,
//! as in [`crate::flood`]) by breaking one thing at a time: every truncation, wrong
//! header and payload lengths, off-curve and low-order KE values, absurd counts
//! (transforms, SPI sizes, thousands of payloads), 64 KiB datagrams, IKEv1 and IKEv3
//! headers at an IKEv2-only connection, and NAT-T non-ESP-marker games on port 4500.
//!
//! The stateful family needs real keys: the sender completes IKE_SA_INIT and
//! IKE_AUTH with the responder (PSK) on the core, has the core build an encrypted
//! INFORMATIONAL request (the Delete of that IKE SA), and sends, instead of it, that
//! request with each byte flipped, truncated at every length, with other message
//! IDs and flags, and replays of the IKE_AUTH request; then the real request, which
//! must still be answered. A last handshake shows the responder still serves.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ike::crypto::{SecretBytes, SystemRandomSource};
use ike::ikev2::{Endpoint, EndpointConfig, Event, SaSerial};
use ike::registry::PayloadType;

use crate::args::Options;
use crate::flood::stamp;
use crate::run::{connection, Psk, RunError};

/// The IKEv2 header's length (RFC 7296 3.1).
const HEADER_LEN: usize = 28;
/// The largest UDP payload over IPv4.
const MAX_UDP4: usize = 65507;

/// A datagram to send and the port it goes to (500 or the NAT-T port).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hostile {
    pub family: &'static str,
    pub natt: bool,
    pub bytes: Vec<u8>,
}

/// (offset, type) of each payload of an IKEv2 message's chain (stops at a length
/// that does not fit).
pub fn payloads(m: &[u8]) -> Vec<(usize, PayloadType)> {
    let mut out = Vec::new();
    let Some(&first) = m.get(16) else {
        return out;
    };
    let mut next = PayloadType(first);
    let mut at = HEADER_LEN;
    while next != PayloadType::NONE && at + 4 <= m.len() {
        out.push((at, next));
        let len = usize::from(u16::from_be_bytes([m[at + 2], m[at + 3]]));
        next = PayloadType(m[at]);
        if len < 4 {
            break;
        }
        at += len;
    }
    out
}

fn set_u16(m: &mut [u8], at: usize, v: u16) {
    if let Some(b) = m.get_mut(at..at + 2) {
        b.copy_from_slice(&v.to_be_bytes());
    }
}

fn set_u32(m: &mut [u8], at: usize, v: u32) {
    if let Some(b) = m.get_mut(at..at + 4) {
        b.copy_from_slice(&v.to_be_bytes());
    }
}

/// A message with the header's length field fixed up after an edit.
fn relength(mut m: Vec<u8>) -> Vec<u8> {
    let n = m.len() as u32;
    set_u32(&mut m, 24, n);
    m
}

/// Replaces the KE payload's key data (keeping its group), lengths fixed up.
fn with_ke_data(t: &[u8], data: &[u8]) -> Option<Vec<u8>> {
    let (at, _) = *payloads(t).iter().find(|(_, p)| *p == PayloadType::KE)?;
    let len = usize::from(u16::from_be_bytes([t[at + 2], t[at + 3]]));
    let mut m = t[..at + 8].to_vec();
    m.extend_from_slice(data);
    set_u16(&mut m, at + 2, (8 + data.len()) as u16);
    m.extend_from_slice(t.get(at + len..)?);
    Some(relength(m))
}

/// Every stateless hostile datagram, from IKE_SA_INIT requests for x25519 (`t`)
/// and ecp256 (`t19`).
pub fn stateless(t: &[u8], t19: &[u8]) -> Vec<Hostile> {
    let mut v = Vec::new();
    let mut push = |family, natt, bytes: Vec<u8>| {
        v.push(Hostile {
            family,
            natt,
            bytes,
        })
    };
    // every truncation
    for n in 0..t.len() {
        push("truncated", false, t[..n].to_vec());
    }
    // wrong header length, wrong payload lengths
    for l in [
        0u32,
        1,
        27,
        28,
        t.len() as u32 - 1,
        t.len() as u32 + 1,
        0xffff,
        u32::MAX,
    ] {
        let mut m = t.to_vec();
        set_u32(&mut m, 24, l);
        push("bad-length", false, m);
    }
    for (at, _) in payloads(t) {
        let len = u16::from_be_bytes([t[at + 2], t[at + 3]]);
        for l in [0u16, 1, 3, 4, len - 1, len + 1, 0xffff] {
            let mut m = t.to_vec();
            set_u16(&mut m, at + 2, l);
            push("bad-length", false, m);
        }
    }
    // off-curve and low-order KE values, wrong KE lengths
    let p256_len = 64;
    for data in [
        vec![0u8; 32],                       // x25519 all-zero: low order
        [vec![1u8], vec![0u8; 31]].concat(), // x25519 u = 1: low order
        vec![0xffu8; 32],                    // x25519 non-canonical
        vec![0u8; 31],                       // x25519 one byte short
        vec![0u8; 33],                       // x25519 one byte long
    ] {
        if let Some(m) = with_ke_data(t, &data) {
            push("bad-ke", false, m);
        }
    }
    for data in [
        vec![0u8; p256_len],                      // (0, 0): not on P-256
        (0..p256_len as u8).collect::<Vec<u8>>(), // an arbitrary off-curve point
        vec![0xffu8; p256_len],                   // coordinates above p
        vec![7u8; p256_len - 1],                  // one byte short
    ] {
        if let Some(m) = with_ke_data(t19, &data) {
            push("bad-ke", false, m);
        }
    }
    // absurd counts: transforms, SPI size, proposal length
    if let Some(&(sa, _)) = payloads(t).iter().find(|(_, p)| *p == PayloadType::SA) {
        for (off, val) in [(7usize, 0u8), (7, 255), (6, 255), (6, 8), (5, 0), (5, 200)] {
            let mut m = t.to_vec();
            if let Some(b) = m.get_mut(sa + 4 + off) {
                *b = val;
            }
            push("absurd-count", false, m);
        }
        let mut m = t.to_vec();
        set_u16(&mut m, sa + 4 + 2, 0xffff);
        push("absurd-count", false, m);
    }
    // thousands of payloads: the request followed by 8,000 empty vendor IDs
    {
        let mut m = t.to_vec();
        let chain = payloads(t);
        if let Some(&(last, _)) = chain.last() {
            m[last] = PayloadType::VENDOR_ID.0;
            for i in 0..8000 {
                let next = if i == 7999 {
                    0
                } else {
                    PayloadType::VENDOR_ID.0
                };
                m.extend_from_slice(&[next, 0, 0, 4]);
            }
            push("absurd-count", false, relength(m));
        }
    }
    // 64 KiB: a request padded with one vendor ID to the largest UDP payload, and
    // a header claiming that much in front of garbage
    {
        let mut m = t.to_vec();
        if let Some(&(last, _)) = payloads(t).last() {
            m[last] = PayloadType::VENDOR_ID.0;
            let pad = MAX_UDP4 - m.len();
            m.extend_from_slice(&[0, 0]);
            m.extend_from_slice(&(pad.min(0xffff) as u16).to_be_bytes());
            m.resize(MAX_UDP4, 0x5a);
            push("64k", false, relength(m));
        }
        let mut g = t[..HEADER_LEN].to_vec();
        g.resize(MAX_UDP4, 0xa5);
        let g = relength(g);
        let behind_marker = relength(g[..MAX_UDP4 - 4].to_vec());
        push("64k", true, [vec![0u8; 4], behind_marker].concat());
        push("64k", false, g);
    }
    // IKEv1 at an IKEv2 connection: Main Mode and Aggressive Mode message 1 headers
    // with a minimal SA payload; an IKEv3 header
    for exchange in [2u8, 4] {
        let mut m = t[..8].to_vec();
        m.extend_from_slice(&[0; 8]); // responder cookie
        m.extend_from_slice(&[1, 0x10, exchange, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        // SA: DOI 1 (IPsec), situation 1, no proposals
        m.extend_from_slice(&[0, 0, 0, 12, 0, 0, 0, 1, 0, 0, 0, 1]);
        push("ikev1", false, relength(m.clone()));
        push("ikev1", true, [vec![0u8; 4], relength(m)].concat());
    }
    {
        let mut m = t.to_vec();
        m[17] = 0x30;
        push("ikev3", false, m);
    }
    // NAT-T marker games on 4500: no marker (taken for ESP with the SPI's first
    // four bytes), marker alone, marker and a stub, a keepalive, the marker twice,
    // a truncated request behind the marker
    push("natt", true, t.to_vec());
    push("natt", true, vec![0; 4]);
    push("natt", true, vec![0, 0, 0, 0, 0x20]);
    push("natt", true, vec![0xff]);
    push("natt", true, vec![0; 8]);
    push("natt", true, [vec![0u8; 8], t.to_vec()].concat());
    for n in [1usize, 20, HEADER_LEN, t.len() / 2] {
        push("natt", true, [vec![0u8; 4], t[..n].to_vec()].concat());
    }
    // every datagram a new IKE SA to the responder, unless the SPI is the test
    for (i, h) in v.iter_mut().enumerate() {
        let off = if h.natt && h.bytes.len() >= 12 && h.bytes[..4] == [0; 4] {
            4
        } else {
            0
        };
        if h.bytes.len() >= off + 8 && h.family != "natt" {
            stamp(&mut h.bytes[off..], 0x4854_0000 + i as u64);
        }
    }
    v
}

/// Every mutation of one encrypted request: each byte flipped, every truncation,
/// message ID and flag changes.
pub fn mutations(req: &[u8]) -> Vec<Vec<u8>> {
    let mut v = Vec::new();
    for i in 0..req.len() {
        let mut m = req.to_vec();
        m[i] ^= 0x41;
        v.push(m);
    }
    for n in 0..req.len() {
        v.push(req[..n].to_vec());
    }
    for id in [0u32, 2, 1000, u32::MAX] {
        let mut m = req.to_vec();
        set_u32(&mut m, 20, id);
        v.push(m);
    }
    let mut m = req.to_vec();
    m[19] |= 0x20; // a "response"
    v.push(m);
    let mut m = req.to_vec();
    m.extend_from_slice(&[0; 16]); // trailing bytes beyond the header's length
    v.push(m);
    // a message ID change can give the request back (its own ID is one of them)
    v.retain(|m| m != req);
    v
}

/// An IKEv2 initiator over one socket, on the sans-IO core.
pub struct Peer {
    sock: UdpSocket,
    local: SocketAddr,
    ep: Endpoint,
    psk: Psk,
    opts: Options,
    buf: Vec<u8>,
    /// Every request this peer sent, in order.
    pub sent: Vec<(SocketAddr, Vec<u8>)>,
    /// The IKE SA [`Peer::establish`] set up.
    ike: Option<SaSerial>,
}

fn io_err(what: &str) -> impl FnOnce(io::Error) -> RunError + '_ {
    move |source| RunError::Io {
        what: what.into(),
        source,
    }
}

impl Peer {
    pub fn new(opts: &Options) -> Result<Peer, RunError> {
        let sock = UdpSocket::bind(SocketAddr::new(opts.local, 0)).map_err(io_err("bind"))?;
        sock.set_read_timeout(Some(Duration::from_millis(50)))
            .map_err(io_err("socket timeout"))?;
        let local = sock.local_addr().map_err(io_err("local address"))?;
        let config = EndpointConfig {
            ike_port: local.port(),
            ..EndpointConfig::default()
        };
        Ok(Peer {
            sock,
            local,
            ep: Endpoint::new(config, Box::new(SystemRandomSource::new()))?,
            psk: Psk(SecretBytes::from_slice(opts.psk.as_bytes())),
            opts: opts.clone(),
            buf: vec![0; 65536],
            sent: Vec::new(),
            ike: None,
        })
    }

    /// The datagrams the core queued, not sent.
    pub fn queued(&mut self) -> Vec<(SocketAddr, Vec<u8>)> {
        let mut v = Vec::new();
        while let Some(t) = self.ep.poll_transmit() {
            v.push((t.remote, t.contents));
        }
        v
    }

    pub fn send_raw(&self, to: SocketAddr, bytes: &[u8]) -> bool {
        self.sock.send_to(bytes, to).is_ok()
    }

    /// Runs the core until `done` says so from an event, or `limit` passes.
    fn run_until(&mut self, limit: Duration, done: &mut dyn FnMut(&Event) -> bool) -> bool {
        let end = Instant::now() + limit;
        while Instant::now() < end {
            for (to, bytes) in self.queued() {
                let _ = self.sock.send_to(&bytes, to);
                self.sent.push((to, bytes));
            }
            while let Some(e) = self.ep.poll_event() {
                if done(&e) {
                    return true;
                }
            }
            match self.sock.recv_from(&mut self.buf) {
                Ok((n, from)) => {
                    let now = Instant::now();
                    self.ep
                        .handle(now, self.local, from, &self.buf[..n], &self.psk);
                }
                Err(_) => {
                    let now = Instant::now();
                    if self.ep.poll_timeout().is_some_and(|t| t <= now) {
                        self.ep.handle_timeout(now);
                    }
                }
            }
        }
        false
    }

    /// IKE_SA_INIT + IKE_AUTH with its Child SA; the IKE SA's serial.
    pub fn establish(&mut self, limit: Duration) -> Result<Option<SaSerial>, RunError> {
        let conn = Arc::new(connection(&self.opts)?);
        self.ep.initiate(conn, Instant::now())?;
        let mut ike = None;
        let up = self.run_until(limit, &mut |e| match e {
            Event::IkeSaEstablished { ike: s, .. } => {
                ike = Some(*s);
                false
            }
            Event::ChildSaEstablished { .. } => true,
            Event::IkeSaDeleted { .. } => {
                ike = None;
                true
            }
            _ => false,
        });
        self.ike = if up { ike } else { None };
        Ok(self.ike)
    }

    /// The IKE SA the last [`Peer::establish`] set up.
    pub fn ike_sa(&self) -> Option<SaSerial> {
        self.ike
    }

    /// Has the core build the Delete of `sa` and hands it back unsent.
    pub fn delete_request(&mut self, sa: SaSerial) -> Result<Vec<(SocketAddr, Vec<u8>)>, RunError> {
        self.ep.delete_ike_sa(sa, Instant::now())?;
        Ok(self.queued())
    }

    /// Feeds the real request back to the core's own retransmission (it is still
    /// waiting for its answer) by sending it, then waits until the IKE SA is gone.
    pub fn finish_delete(&mut self, req: &[(SocketAddr, Vec<u8>)], limit: Duration) -> bool {
        for (to, bytes) in req {
            let _ = self.sock.send_to(bytes, *to);
        }
        self.run_until(limit, &mut |e| matches!(e, Event::IkeSaDeleted { .. }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flood::{template, FloodArgs};

    fn t(ike: &str) -> Vec<u8> {
        let a = FloodArgs::parse(
            &format!("--remote 192.0.2.2 --source 198.51.100.1 --ike {ike}")
                .split_whitespace()
                .map(String::from)
                .collect::<Vec<_>>(),
        )
        .unwrap();
        template(&a.template_options()).unwrap()
    }

    #[test]
    fn every_family_is_built_and_each_breaks_what_it_says() {
        let (a, b) = (t("aes128-sha2_256-dh31"), t("aes128-sha2_256-dh19"));
        let chain = payloads(&a);
        assert_eq!(chain[0].1, PayloadType::SA);
        assert!(chain.iter().any(|(_, p)| *p == PayloadType::KE));
        let v = stateless(&a, &b);
        for f in [
            "truncated",
            "bad-length",
            "bad-ke",
            "absurd-count",
            "64k",
            "ikev1",
            "ikev3",
            "natt",
        ] {
            assert!(v.iter().any(|h| h.family == f), "no {f} datagram");
        }
        assert_eq!(
            v.iter().filter(|h| h.family == "truncated").count(),
            a.len()
        );
        assert!(v.iter().all(|h| h.bytes.len() <= MAX_UDP4));
        assert!(v.iter().any(|h| h.bytes.len() == MAX_UDP4));
        // a replaced KE decodes with the new value and the right lengths
        let ke = v.iter().find(|h| h.family == "bad-ke").unwrap();
        let m = ike::codec::v2::Message::decode(&ke.bytes).unwrap();
        assert_eq!(m.header.exchange, ike::registry::ExchangeType::IKE_SA_INIT);
        // the thousands-of-payloads message is well-formed
        let many = v
            .iter()
            .find(|h| h.family == "absurd-count" && h.bytes.len() > 30_000)
            .unwrap();
        assert!(payloads(&many.bytes).len() > 8000);
        assert!(ike::codec::v2::Message::decode(&many.bytes).is_ok());
    }

    #[test]
    fn mutations_cover_every_byte_and_length() {
        let mut req: Vec<u8> = (0..40).collect();
        set_u32(&mut req, 20, 2);
        let m = mutations(&req);
        assert_eq!(m.len(), 40 + 40 + 3 + 2);
        assert!(m.iter().all(|x| *x != req));
    }
}
