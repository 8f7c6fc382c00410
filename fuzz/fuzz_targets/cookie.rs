//! RFC 7296 2.6 cookies as the responder issues and checks them
//! (`ike::ikev2::fuzzing::{cookie, cookie_verifies}`): a cookie issued for one
//! initiator (secret, Ni, address, SPIi) is checked against a second initiator the
//! input describes, with cookie bytes the input chooses. Nothing may panic, the
//! issued cookie verifies for its own initiator (any port: only IPi is bound), and
//! a candidate verifies exactly when it is the issued cookie and the second
//! initiator is the first one.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use ike::ikev2::fuzzing::{cookie, cookie_verifies};
use libfuzzer_sys::fuzz_target;

/// What the cookie binds: the responder's secret and version, Ni, IPi, SPIi; the
/// port rides along unbound.
#[derive(Clone, PartialEq, Eq)]
struct Initiator {
    secret: [u8; 32],
    version: u32,
    ni: Vec<u8>,
    addr: SocketAddr,
    spi: [u8; 8],
}

impl Initiator {
    fn bound_equal(&self, o: &Initiator) -> bool {
        self.secret == o.secret
            && self.version == o.version
            && self.ni == o.ni
            && self.addr.ip() == o.addr.ip()
            && self.spi == o.spi
    }
}

/// Takes `n` bytes off the front, or fewer if the input ends.
fn take<'a>(d: &mut &'a [u8], n: usize) -> &'a [u8] {
    let (head, tail) = d.split_at(n.min(d.len()));
    *d = tail;
    head
}

fn array<const N: usize>(d: &mut &[u8]) -> [u8; N] {
    let mut a = [0u8; N];
    let b = take(d, N);
    a[..b.len()].copy_from_slice(b);
    a
}

fn addr(v6: bool, ip: &[u8], port: u16) -> SocketAddr {
    let ip = if v6 {
        let mut a = [0u8; 16];
        a[..ip.len().min(16)].copy_from_slice(&ip[..ip.len().min(16)]);
        IpAddr::V6(Ipv6Addr::from(a))
    } else {
        let mut a = [0u8; 4];
        a[..ip.len().min(4)].copy_from_slice(&ip[..ip.len().min(4)]);
        IpAddr::V4(Ipv4Addr::from(a))
    };
    SocketAddr::new(ip, port)
}

fn initiator(d: &mut &[u8]) -> Initiator {
    let secret = array::<32>(d);
    let version = u32::from_be_bytes(array::<4>(d));
    let spi = array::<8>(d);
    let flags = array::<1>(d)[0];
    let v6 = flags & 1 != 0;
    let ip = take(d, if v6 { 16 } else { 4 }).to_vec();
    let port = u16::from_be_bytes(array::<2>(d));
    let ni_len = usize::from(array::<1>(d)[0]);
    let ni = take(d, ni_len).to_vec();
    Initiator {
        secret,
        version,
        ni,
        addr: addr(v6, &ip, port),
        spi,
    }
}

fn octets(a: &SocketAddr) -> Vec<u8> {
    match a.ip() {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

fn issue(i: &Initiator) -> Vec<u8> {
    cookie(i.secret, i.version, &i.ni, i.addr, &i.spi)
}

fn verifies(c: &[u8], i: &Initiator) -> bool {
    cookie_verifies(i.secret, i.version, c, &i.ni, i.addr, &i.spi)
}

fuzz_target!(|data: &[u8]| {
    let mut d = data;
    let mode = array::<1>(&mut d)[0];
    let first = initiator(&mut d);
    let issued = issue(&first);
    assert!(verifies(&issued, &first), "an issued cookie must verify");
    let other_port = Initiator {
        addr: SocketAddr::new(first.addr.ip(), first.addr.port().wrapping_add(1)),
        ..first.clone()
    };
    assert!(verifies(&issued, &other_port), "the port is not bound");

    // The second initiator and the candidate cookie.
    let (second, candidate) = match mode % 4 {
        // Both from the input: arbitrary bytes at an arbitrary initiator.
        0 => {
            let second = initiator(&mut d);
            (second, d.to_vec())
        }
        // The issued cookie at an arbitrary initiator.
        1 => (initiator(&mut d), issued.clone()),
        // The issued cookie at the same bytes Ni | IPi regrouped: the boundary
        // between nonce and address moved, the other address family.
        2 => {
            let mut joined = first.ni.clone();
            joined.extend_from_slice(&octets(&first.addr));
            let v6 = first.addr.is_ipv4();
            let alen = if v6 { 16 } else { 4 };
            let Some(split) = joined.len().checked_sub(alen) else {
                return;
            };
            let second = Initiator {
                ni: joined[..split].to_vec(),
                addr: addr(v6, &joined[split..], first.addr.port()),
                ..first.clone()
            };
            (second, issued.clone())
        }
        // The issued cookie, edited by the input (xor at offsets, truncation),
        // at the same initiator.
        _ => {
            let mut c = issued.clone();
            for pair in d.chunks(2) {
                match pair {
                    [0xff, n] => c.truncate(usize::from(*n)),
                    [off, x] if !c.is_empty() => {
                        let i = usize::from(*off) % c.len();
                        c[i] ^= x;
                    }
                    [b] => c.push(*b),
                    _ => {}
                }
            }
            (first.clone(), c)
        }
    };
    let accepted = verifies(&candidate, &second);
    let genuine = candidate == issued && first.bound_equal(&second);
    assert_eq!(
        accepted, genuine,
        "cookie {candidate:02x?} for Ni {:02x?} at {} SPIi {:02x?}: verified {accepted}, \
         issued for Ni {:02x?} at {} SPIi {:02x?}",
        second.ni, second.addr, second.spi, first.ni, first.addr, first.spi
    );
});
