//! `pluto-flood`: a spoofed IKE_SA_INIT flood for the hostile test-net tier (issue 10).
//!
//! An attacker who forges source addresses cannot see the answers, so it never
//! returns a cookie and never goes on to IKE_AUTH: every request it sends is a new
//! half-open SA for a responder that does not demand cookies. The flooder sends one
//! well-formed IKE_SA_INIT request (built once by the sans-IO core, so its proposals,
//! KE and nonce are what a real initiator sends) again and again with a fresh
//! initiator SPI each time, from many source addresses in turn (one UDP socket
//! bound to each, all inside the test net's namespace), at a fixed rate.
//!
//! The answers do reach it (the spoofed addresses are routed back to its namespace),
//! and it counts them by kind, without ever acting on them: full answers (the
//! responder did the DH work and holds a half-open SA), COOKIE demands (stateless),
//! and error notifications (refusals). That is how a run shows that the responder
//! switched to cookies by itself.

use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use ike::crypto::SystemRandomSource;
use ike::ikev2::{Endpoint, EndpointConfig};
use ike::registry::{NotifyType, PayloadType};

use crate::args::Options;
use crate::run::{connection, RunError};

/// The IKEv2 header's length (RFC 7296 3.1).
const HEADER_LEN: usize = 28;

/// What one answer to a flood request was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// An IKE_SA_INIT response with an SA payload: the responder made a half-open SA.
    Answer,
    /// A COOKIE demand: nothing kept by the responder.
    Cookie,
    /// Any other notification first (INVALID_KE_PAYLOAD, NO_PROPOSAL_CHOSEN, ...).
    Notify(u16),
    /// Not an IKEv2 response we can read.
    Other,
}

/// Reads the kind of an answer from its first payload, without decoding the rest
/// (the flooder must stay cheap at tens of thousands of answers a second).
pub fn classify(d: &[u8]) -> Reply {
    if d.len() < HEADER_LEN + 8 || d[17] >> 4 != 2 || d[19] & 0x20 == 0 {
        return Reply::Other;
    }
    match PayloadType(d[16]) {
        PayloadType::SA => Reply::Answer,
        PayloadType::NOTIFY => {
            // generic header (4) then protocol ID (1), SPI size (1), type (2)
            let t = u16::from_be_bytes([d[HEADER_LEN + 6], d[HEADER_LEN + 7]]);
            if NotifyType(t) == NotifyType::COOKIE {
                Reply::Cookie
            } else {
                Reply::Notify(t)
            }
        }
        _ => Reply::Other,
    }
}

/// Puts a new initiator SPI into a request (bytes 0..8 of the header): to the
/// responder a new IKE SA. Zero is not a valid SPI, so `n` is offset by one.
pub fn stamp(request: &mut [u8], n: u64) {
    if let Some(spi) = request.get_mut(..8) {
        // a multiplicative hash spreads consecutive numbers over the SPI space
        let v = (n.wrapping_add(1)).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        spi.copy_from_slice(&v.to_be_bytes());
    }
}

/// The IKE_SA_INIT request the sans-IO core sends for `opts` (proposals from
/// `--ike`/`--esp`, one KE value of the first group, NAT detection, fragmentation).
pub fn template(opts: &Options) -> Result<Vec<u8>, RunError> {
    let conn = connection(opts)?;
    let mut ep = Endpoint::new(
        EndpointConfig::default(),
        Box::new(SystemRandomSource::new()),
    )?;
    ep.initiate(std::sync::Arc::new(conn), Instant::now())?;
    let t = ep.poll_transmit().ok_or_else(|| RunError::Io {
        what: "building the IKE_SA_INIT request".into(),
        source: io::Error::other("the core queued nothing to send"),
    })?;
    Ok(t.contents)
}

/// The answers counted so far.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub sent: u64,
    pub send_errors: u64,
    pub answers: u64,
    pub cookies: u64,
    pub notifies: u64,
    pub other: u64,
}

impl Counts {
    pub fn add(&mut self, r: Reply) {
        match r {
            Reply::Answer => self.answers += 1,
            Reply::Cookie => self.cookies += 1,
            Reply::Notify(_) => self.notifies += 1,
            Reply::Other => self.other += 1,
        }
    }
}

/// A flood: one socket per source address.
pub struct Flood {
    socks: Vec<UdpSocket>,
    remote: SocketAddr,
    request: Vec<u8>,
    buf: Vec<u8>,
    pub counts: Counts,
}

impl Flood {
    /// Binds one socket to each of `sources` on `sport` (0: any port).
    pub fn new(
        sources: &[IpAddr],
        sport: u16,
        remote: SocketAddr,
        request: Vec<u8>,
    ) -> Result<Flood, RunError> {
        let mut socks = Vec::with_capacity(sources.len());
        for a in sources {
            let s = UdpSocket::bind(SocketAddr::new(*a, sport)).map_err(|source| RunError::Io {
                what: format!("bind {a}:{sport}"),
                source,
            })?;
            s.set_nonblocking(true).map_err(|source| RunError::Io {
                what: "non-blocking socket".into(),
                source,
            })?;
            socks.push(s);
        }
        Ok(Flood {
            socks,
            remote,
            request,
            buf: vec![0; 65536],
            counts: Counts::default(),
        })
    }

    /// Reads and counts every answer waiting on every socket.
    fn drain(&mut self) {
        for s in &self.socks {
            loop {
                match s.recv_from(&mut self.buf) {
                    Ok((n, _)) => self.counts.add(classify(&self.buf[..n])),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(_) => break,
                }
            }
        }
    }

    /// Sends `rate` requests a second for `duration`, over the sources in turn;
    /// `progress` gets the counts once a second.
    pub fn run(&mut self, rate: u64, duration: Duration, progress: &mut dyn FnMut(&Counts)) {
        let start = Instant::now();
        let mut shown = start;
        let mut drained = start;
        let mut next = 0usize;
        while start.elapsed() < duration {
            let due = (start.elapsed().as_secs_f64() * rate as f64) as u64;
            while self.counts.sent < due {
                stamp(&mut self.request, self.counts.sent);
                let s = &self.socks[next];
                next = (next + 1) % self.socks.len();
                if s.send_to(&self.request, self.remote).is_err() {
                    self.counts.send_errors += 1;
                }
                self.counts.sent += 1;
            }
            // Each socket holds a few hundred answers; at 20k/s over 254 sockets
            // 50 ms brings about 4 to each.
            if drained.elapsed() >= Duration::from_millis(50) {
                drained = Instant::now();
                self.drain();
            }
            if shown.elapsed() >= Duration::from_secs(1) {
                shown += Duration::from_secs(1);
                progress(&self.counts);
            }
            std::thread::sleep(Duration::from_micros(500));
        }
        // the answers to the last requests
        std::thread::sleep(Duration::from_millis(200));
        self.drain();
    }
}

/// `first` and the `n - 1` addresses after it (IPv4: the last octet counts up;
/// IPv6: the last 16 bits).
pub fn sources(first: IpAddr, n: u16) -> Vec<IpAddr> {
    (0..n)
        .filter_map(|i| match first {
            IpAddr::V4(a) => u32::from(a)
                .checked_add(u32::from(i))
                .map(|v| IpAddr::V4(v.into())),
            IpAddr::V6(a) => u128::from(a)
                .checked_add(u128::from(i))
                .map(|v| IpAddr::V6(v.into())),
        })
        .collect()
}

/// The command line of `pluto-flood`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FloodArgs {
    /// The responder (`--remote`, `--port`).
    pub remote: SocketAddr,
    /// The first source address (`--source`) and how many (`--sources`).
    pub first: IpAddr,
    pub count: u16,
    /// The source port of every socket (`--sport`; 0: any).
    pub sport: u16,
    /// Requests a second (`--rate`) and for how long (`--duration SECONDS`).
    pub rate: u64,
    pub duration: Duration,
    /// The request's IKE proposals (`--ike`, libreswan's syntax).
    pub ike: String,
}

pub const FLOOD_USAGE: &str = "pluto-flood --remote ADDR --source FIRST-ADDR [--sources 254] \
[--port 500] [--sport 500] [--rate 20000] [--duration 60] [--ike aes128-sha2_256-dh31]";

impl FloodArgs {
    pub fn parse(args: &[String]) -> Result<FloodArgs, crate::args::ArgsError> {
        use crate::args::ArgsError;
        let mut remote: Option<IpAddr> = None;
        let mut first = None;
        let mut port = 500u16;
        let mut o = FloodArgs {
            remote: SocketAddr::new(IpAddr::from([0, 0, 0, 0]), 500),
            first: IpAddr::from([0, 0, 0, 0]),
            count: 254,
            sport: 500,
            rate: 20_000,
            duration: Duration::from_secs(60),
            ike: "aes128-sha2_256-dh31".into(),
        };
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let v = it.next().ok_or_else(|| ArgsError::Missing(a.clone()))?;
            let bad = |what| ArgsError::Bad {
                option: a.clone(),
                value: v.clone(),
                what,
            };
            match a.as_str() {
                "--remote" => remote = Some(v.parse().map_err(|_| bad("an IP address"))?),
                "--source" => first = Some(v.parse().map_err(|_| bad("an IP address"))?),
                "--sources" => o.count = v.parse().map_err(|_| bad("a count (1-65535)"))?,
                "--port" => port = v.parse().map_err(|_| bad("a port"))?,
                "--sport" => o.sport = v.parse().map_err(|_| bad("a port"))?,
                "--rate" => o.rate = v.parse().map_err(|_| bad("a number"))?,
                "--duration" => {
                    o.duration = Duration::from_secs(v.parse().map_err(|_| bad("seconds"))?)
                }
                "--ike" => o.ike = v.clone(),
                _ => return Err(ArgsError::Unknown(a.clone())),
            }
        }
        o.remote = SocketAddr::new(remote.ok_or(ArgsError::Required("--remote"))?, port);
        o.first = first.ok_or(ArgsError::Required("--source"))?;
        if o.count == 0 || o.rate == 0 || o.duration.is_zero() {
            return Err(ArgsError::Zero);
        }
        Ok(o)
    }

    /// The loadgen options the request template is built from.
    pub fn template_options(&self) -> Options {
        Options {
            local: self.first,
            remote: self.remote.ip(),
            port: self.remote.port(),
            n: 1,
            limit: 1,
            sockets: 1,
            ike: self.ike.clone(),
            esp: "aes_gcm128-none".into(),
            psk: String::new(),
            id: None,
            remote_id: None,
            delete: false,
            hold: false,
            reuse_ke: false,
            timeout: Duration::from_secs(30),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    fn opts() -> Options {
        FloodArgs::parse(&args("--remote 192.0.2.2 --source 198.51.100.1"))
            .unwrap()
            .template_options()
    }

    #[test]
    fn flood_arguments() {
        let a = FloodArgs::parse(&args(
            "--remote 192.0.2.2 --source 198.51.100.1 --sources 10 --rate 500 --duration 5 \
             --port 4500 --sport 0 --ike aes256-sha2_256-dh19",
        ))
        .unwrap();
        assert_eq!(a.remote, "192.0.2.2:4500".parse().unwrap());
        assert_eq!((a.count, a.rate, a.sport), (10, 500, 0));
        assert_eq!(a.duration, Duration::from_secs(5));
        assert_eq!(a.template_options().ike, "aes256-sha2_256-dh19");
        use crate::args::ArgsError;
        assert_eq!(
            FloodArgs::parse(&args("--source 198.51.100.1")),
            Err(ArgsError::Required("--remote"))
        );
        assert_eq!(
            FloodArgs::parse(&args("--remote 192.0.2.2 --source 198.51.100.1 --rate 0")),
            Err(ArgsError::Zero)
        );
        assert!(matches!(
            FloodArgs::parse(&args("--remote 192.0.2.2 --source x")),
            Err(ArgsError::Bad { .. })
        ));
        assert_eq!(
            FloodArgs::parse(&args("--remote")),
            Err(ArgsError::Missing("--remote".into()))
        );
    }

    #[test]
    fn the_template_is_an_ike_sa_init_request_and_stamping_changes_only_the_spi() {
        let t = template(&opts()).unwrap();
        let m = ike::codec::v2::Message::decode(&t).unwrap();
        assert_eq!(m.header.exchange, ike::registry::ExchangeType::IKE_SA_INIT);
        assert!(m.header.flags.initiator && !m.header.flags.response);
        let mut a = t.clone();
        let mut b = t.clone();
        stamp(&mut a, 0);
        stamp(&mut b, 1);
        assert_ne!(a[..8], b[..8]);
        assert_ne!(a[..8], [0; 8]);
        assert_eq!(a[8..], t[8..]);
        assert_eq!(b[8..], t[8..]);
    }

    #[test]
    fn answers_are_told_apart_by_their_first_payload() {
        let mut h = [0u8; 36];
        h[17] = 0x20; // IKEv2
        h[18] = 34; // IKE_SA_INIT
        h[19] = 0x20; // response
        h[16] = 33;
        assert_eq!(classify(&h), Reply::Answer);
        h[16] = 41;
        h[34..36].copy_from_slice(&16390u16.to_be_bytes());
        assert_eq!(classify(&h), Reply::Cookie);
        h[34..36].copy_from_slice(&17u16.to_be_bytes());
        assert_eq!(classify(&h), Reply::Notify(17));
        h[19] = 0x08; // a request
        assert_eq!(classify(&h), Reply::Other);
        assert_eq!(classify(&h[..20]), Reply::Other);
        let mut c = Counts::default();
        for r in [
            Reply::Answer,
            Reply::Cookie,
            Reply::Cookie,
            Reply::Notify(14),
        ] {
            c.add(r);
        }
        assert_eq!((c.answers, c.cookies, c.notifies, c.other), (1, 2, 1, 0));
    }

    #[test]
    fn sources_count_up_from_the_first() {
        let v = sources("198.51.100.1".parse().unwrap(), 254);
        assert_eq!(v.len(), 254);
        assert_eq!(v[253], "198.51.100.254".parse::<IpAddr>().unwrap());
        let v6 = sources("2001:db8:99::1".parse().unwrap(), 2);
        assert_eq!(v6[1], "2001:db8:99::2".parse::<IpAddr>().unwrap());
    }
}
