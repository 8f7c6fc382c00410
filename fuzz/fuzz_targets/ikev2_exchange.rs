//! Two `ike::ikev2::Endpoint`s, west (initiator) and east (responder), one PSK
//! connection each (the unit tests' builder, `ike::ikev2::fuzzing::conn`),
//! deterministic randomness (seeded `TestRandom`, X25519 whose scalars are drawn
//! from it too) and a simulated clock. After a real handshake (or, by the first
//! input byte, during it) the input is a list of actions on the datagrams in
//! flight between them: deliver, drop, duplicate, replay, reorder, truncate, flip
//! bits, overwrite bytes and length fields, splice two datagrams, advance the clock
//! through the timers, run the queued compute jobs, and start exchanges (IKE and
//! Child rekeys, a new Child SA, liveness, deletes, a kernel expiry, a new IKE
//! SA). Small fragments (RFC 7383) and a busy responder (cookies) are options.
//!
//! Asserted, besides "no panic":
//! * a datagram that is not one the endpoints sent, cut from a protected (SK or
//!   SKF) one, leaves the receiver's SAs as they were (it cannot pass the ICV);
//! * a datagram delivered twice in a row changes nothing the second time;
//! * one delivery adds at most one IKE SA and one Child SA to the receiver;
//! * handling the timers due leaves no timer due at the same instant (no spin);
//! * at the end, delivering what is left in order settles: the endpoints fall
//!   quiet within a bounded number of round trips.
#![no_main]

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ike::crypto::rng::TestRandom;
use ike::ikev2::fuzzing::{conn, OneConn};
use ike::ikev2::{Ddos, Endpoint, EndpointConfig, IkeSaStatus, SaSerial};
use ike::proposal::{ProposalKind, ProposalSet};
use libfuzzer_sys::fuzz_target;

/// Payload types of protected messages: SK and SKF (RFC 7383).
const SK: u8 = 46;
const SKF: u8 = 53;
/// IKE_SA_INIT: unprotected, so a tampered one is a new message, not a forgery.
const IKE_SA_INIT: u8 = 34;
/// Round trips allowed for the final in-order delivery to fall quiet.
const SETTLE_ROUNDS: usize = 64;

struct Packet {
    to_east: bool,
    /// The receiver's address (`Transmit::remote`) and the sender's.
    dst: SocketAddr,
    src: SocketAddr,
    bytes: Vec<u8>,
    /// Whether the datagram it was cut from was an SK or SKF message.
    protected: bool,
}

impl Clone for Packet {
    fn clone(&self) -> Self {
        Packet {
            bytes: self.bytes.clone(),
            ..*self
        }
    }
}

/// The IKE header's offset (after the non-ESP marker on port 4500).
fn ike_offset(p: &Packet) -> usize {
    if p.dst.port() == 4500 && p.bytes.starts_with(&[0; 4]) {
        4
    } else {
        0
    }
}

struct Side {
    ep: Endpoint,
    cfg: OneConn,
}

struct World {
    west: Side,
    east: Side,
    now: Instant,
    wire: Vec<Packet>,
    /// Every datagram the endpoints sent, to tell tampered copies from originals.
    sent: HashSet<Vec<u8>>,
    /// Recently delivered datagrams, for replays.
    history: Vec<Packet>,
}

fn count(status: &[IkeSaStatus]) -> (usize, usize) {
    (
        status.len(),
        status.iter().map(|s| s.children.len()).sum::<usize>(),
    )
}

impl World {
    fn new(flags: u8) -> World {
        let side = |local: &str, remote: &str, seed: u64| {
            let mut c = conn(local, remote, "aes_gcm256-x25519");
            let profile = Arc::make_mut(&mut c.profile);
            // One group whose scalars come from the seeded source (ECP keys would
            // come from aws-lc's own generator): a run replays exactly.
            profile.ike_proposals =
                match ProposalSet::parse("aes_gcm256-sha2_256-x25519", ProposalKind::IKEV2_IKE) {
                    Ok(p) => p,
                    Err(e) => panic!("ike=: {e}"),
                };
            let mut cfg = EndpointConfig {
                inline_compute: false,
                ..EndpointConfig::default()
            };
            if flags & 2 != 0 {
                cfg.fragment_size = 160;
            }
            let ep = match Endpoint::new(cfg, Box::new(TestRandom::new(seed))) {
                Ok(ep) => ep,
                Err(e) => panic!("endpoint: {e}"),
            };
            Side {
                ep,
                cfg: OneConn(Arc::new(c)),
            }
        };
        let mut w = World {
            west: side("192.0.2.1", "192.0.2.2", 1),
            east: side("192.0.2.2", "192.0.2.1", 2),
            now: Instant::now(),
            wire: Vec::new(),
            sent: HashSet::new(),
            history: Vec::new(),
        };
        if flags & 4 != 0 {
            w.east.ep.set_ddos(Ddos::Busy);
        }
        w
    }

    fn side(&mut self, east: bool) -> &mut Side {
        if east {
            &mut self.east
        } else {
            &mut self.west
        }
    }

    /// Moves what both endpoints queued onto the wire; events are dropped (the
    /// daemon's business).
    fn collect(&mut self) {
        for east in [false, true] {
            let side = self.side(east);
            let mut out = Vec::new();
            while let Some(t) = side.ep.poll_transmit() {
                out.push(t);
            }
            while side.ep.poll_event().is_some() {}
            for t in out {
                let mut p = Packet {
                    to_east: !east,
                    dst: t.remote,
                    src: t.local,
                    bytes: t.contents,
                    protected: false,
                };
                let o = ike_offset(&p);
                p.protected = matches!(p.bytes.get(o + 16), Some(&SK | &SKF));
                self.sent.insert(p.bytes.clone());
                self.wire.push(p);
            }
        }
    }

    /// Runs the compute jobs both endpoints queued (key exchange and key schedule
    /// of IKE_SA_INIT), as the daemon's helpers would, and hands back the results.
    fn compute(&mut self) {
        let now = self.now;
        for east in [false, true] {
            let side = self.side(east);
            while let Some(job) = side.ep.poll_compute() {
                let r = job.run();
                side.ep.computed(r, now, &side.cfg);
            }
        }
        self.collect();
    }

    fn deliver(&mut self, p: Packet) {
        let now = self.now;
        let tampered = !self.sent.contains(&p.bytes);
        let o = ike_offset(&p);
        let forged = tampered && p.protected && p.bytes.get(o + 18) != Some(&IKE_SA_INIT);
        let side = self.side(p.to_east);
        let before = side.ep.status();
        side.ep.handle(now, p.dst, p.src, &p.bytes, &side.cfg);
        let after = side.ep.status();
        if forged {
            assert_eq!(
                before, after,
                "a tampered protected datagram changed the SAs: {:02x?}",
                p.bytes
            );
        }
        let (b, a) = (count(&before), count(&after));
        assert!(
            a.0 <= b.0 + 1 && a.1 <= b.1 + 1,
            "one datagram took the SAs from {b:?} to {a:?}"
        );
        self.history.push(p);
        if self.history.len() > 32 {
            self.history.remove(0);
        }
        self.collect();
    }

    fn deliver_twice(&mut self, p: Packet) {
        let to_east = p.to_east;
        self.deliver(p.clone());
        let before = self.side(to_east).ep.status();
        self.deliver(p);
        let after = self.side(to_east).ep.status();
        assert_eq!(before, after, "a datagram delivered again changed the SAs");
    }

    /// Advances the clock by `d`, handling each timer when it is due.
    fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        loop {
            let next = [self.west.ep.poll_timeout(), self.east.ep.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            let Some(next) = next.filter(|&t| t <= end) else {
                break;
            };
            self.now = self.now.max(next);
            let now = self.now;
            for east in [false, true] {
                let side = self.side(east);
                if side.ep.poll_timeout().is_some_and(|t| t <= now) {
                    side.ep.handle_timeout(now);
                    assert!(
                        side.ep.poll_timeout().is_none_or(|t| t > now),
                        "a timer is still due after handle_timeout"
                    );
                }
            }
            self.collect();
        }
        self.now = end;
    }

    fn ike_sas(&self, east: bool) -> Vec<SaSerial> {
        let ep = if east { &self.east.ep } else { &self.west.ep };
        ep.status().iter().map(|s| s.serial).collect()
    }

    fn children(&self, east: bool) -> Vec<(SaSerial, u32)> {
        let ep = if east { &self.east.ep } else { &self.west.ep };
        ep.status()
            .iter()
            .flat_map(|s| s.children.iter().map(|c| (c.serial, c.inbound_spi)))
            .collect()
    }

    /// Starts exchange `what` on one side, on the SA `pick` selects.
    fn start(&mut self, what: u8, pick: u8) {
        let east = what & 8 != 0;
        let now = self.now;
        let ikes = self.ike_sas(east);
        let children = self.children(east);
        let ike = (!ikes.is_empty()).then(|| ikes[usize::from(pick) % ikes.len()]);
        let child = (!children.is_empty()).then(|| children[usize::from(pick) % children.len()]);
        let side = self.side(east);
        // Refusals (no such SA, an exchange already outstanding) are part of the game.
        let _ = match (what & 7, ike, child) {
            (0, Some(s), _) => side.ep.rekey_ike_sa(s, now),
            (1, _, Some((c, _))) => side.ep.rekey_child_sa(c, now),
            (2, Some(s), _) => side.ep.create_child_sa(s, now).map(drop),
            (3, Some(s), _) => side.ep.send_liveness(s, now),
            (4, _, Some((c, _))) => side.ep.delete_child_sa(c, now),
            (5, Some(s), _) => side.ep.delete_ike_sa(s, now),
            (6, _, _) => {
                let c = side.cfg.0.clone();
                side.ep.initiate(c, now).map(drop)
            }
            (7, _, Some((_, spi))) => side.ep.handle_expire(spi, pick & 0x80 != 0, now),
            _ => Ok(()),
        };
        self.collect();
    }
}

/// Reads action parameters, zero once the input ends.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((b, rest)) => {
                self.0 = rest;
                *b
            }
            None => 0,
        }
    }
    fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.byte(), self.byte()])
    }
    fn index(&mut self, len: usize) -> Option<usize> {
        let b = self.byte();
        (len > 0).then(|| usize::from(b) % len)
    }
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input(data);
    let flags = input.byte();
    let mut w = World::new(flags);
    let c = w.west.cfg.0.clone();
    if w.west.ep.initiate(c, w.now).is_err() {
        return;
    }
    w.collect();
    if flags & 1 == 0 {
        // The handshake first, in order, so the actions start on keyed SAs.
        for _ in 0..SETTLE_ROUNDS {
            w.compute();
            if w.wire.is_empty() {
                break;
            }
            for p in std::mem::take(&mut w.wire) {
                w.deliver(p);
            }
        }
    }
    while !input.0.is_empty() {
        let op = input.byte();
        let len = w.wire.len();
        match op % 16 {
            0 => {
                if let Some(i) = input.index(len) {
                    let p = w.wire.remove(i);
                    w.deliver(p);
                }
            }
            1 => {
                if let Some(i) = input.index(len) {
                    w.wire.remove(i);
                }
            }
            2 => {
                if let Some(i) = input.index(len) {
                    let p = w.wire.remove(i);
                    w.deliver_twice(p);
                }
            }
            3 => {
                if let Some(i) = input.index(len) {
                    let p = w.wire[i].clone();
                    w.wire.push(p);
                }
            }
            4 => {
                if let Some(i) = input.index(w.history.len()) {
                    let p = w.history[i].clone();
                    w.deliver(p);
                }
            }
            5 => {
                if let (Some(i), Some(j)) = (input.index(len), input.index(len)) {
                    w.wire.swap(i, j);
                }
            }
            6 => {
                if let Some(i) = input.index(len) {
                    let n = usize::from(input.u16());
                    let b = &mut w.wire[i].bytes;
                    b.truncate(n % (b.len() + 1));
                }
            }
            7 => {
                if let Some(i) = input.index(len) {
                    let (off, bit) = (usize::from(input.u16()), input.byte());
                    let b = &mut w.wire[i].bytes;
                    if !b.is_empty() {
                        let n = b.len();
                        b[off % n] ^= 1 << (bit % 8);
                    }
                }
            }
            8 => {
                if let Some(i) = input.index(len) {
                    let (off, v) = (usize::from(input.u16()), input.byte());
                    let b = &mut w.wire[i].bytes;
                    if !b.is_empty() {
                        let n = b.len();
                        b[off % n] = v;
                    }
                }
            }
            9 => {
                // A length field: the IKE header's (32 bits at 24) or a payload
                // header's (16 bits, at an offset the input gives), set or nudged.
                if let Some(i) = input.index(len) {
                    let (which, off, v) = (input.byte(), usize::from(input.u16()), input.u16());
                    let o = ike_offset(&w.wire[i]);
                    let b = &mut w.wire[i].bytes;
                    if which & 1 == 0 {
                        if let Some(f) = b.get_mut(o + 24..o + 28) {
                            let old = u32::from_be_bytes([f[0], f[1], f[2], f[3]]);
                            let new = if which & 2 == 0 {
                                old.wrapping_add(u32::from(v as i16 as u32))
                            } else {
                                u32::from(v)
                            };
                            f.copy_from_slice(&new.to_be_bytes());
                        }
                    } else if b.len() >= 2 {
                        let at = off % (b.len() - 1);
                        b[at..at + 2].copy_from_slice(&v.to_be_bytes());
                    }
                }
            }
            10 => {
                if let (Some(i), Some(j)) = (input.index(len), input.index(len)) {
                    let k = usize::from(input.u16());
                    let a = &w.wire[i].bytes;
                    let k = k % (a.len() + 1);
                    let mut spliced = a[..k].to_vec();
                    spliced.extend_from_slice(w.wire[j].bytes.get(k..).unwrap_or_default());
                    w.wire[i].bytes = spliced;
                }
            }
            11 => {
                // Up to 255 units of 1 s, 1 min or 10 min.
                let n = u64::from(input.byte());
                let unit = [1, 60, 600][usize::from(input.byte() % 3)];
                w.advance(Duration::from_secs(n * unit));
            }
            12 => w.compute(),
            13 | 14 => {
                let (what, pick) = (input.byte(), input.byte());
                w.start(what, pick);
            }
            _ => {
                for p in std::mem::take(&mut w.wire) {
                    w.deliver(p);
                }
            }
        }
    }
    // What is left, in order, until quiet.
    for _ in 0..SETTLE_ROUNDS {
        w.compute();
        if w.wire.is_empty() {
            return;
        }
        for p in std::mem::take(&mut w.wire) {
            w.deliver(p);
        }
    }
    w.compute();
    assert!(
        w.wire.is_empty(),
        "still {} datagrams in flight after {SETTLE_ROUNDS} rounds",
        w.wire.len()
    );
});
