//! Security associations: what the daemon asks the kernel to install, and what it
//! reads back.

use std::fmt;
use std::net::IpAddr;

use crate::alg::{Comp, Encr, Integ, SecretKey};
use crate::error::KernelError;
use crate::selector::Selector;

/// The IPsec protocol of an SA or template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IpsecProto {
    /// ESP (IP protocol 50).
    Esp,
    /// AH (IP protocol 51).
    Ah,
    /// IPComp (IP protocol 108); the SPI is the 16-bit CPI.
    Comp,
}

impl IpsecProto {
    /// The IP protocol number.
    pub fn number(self) -> u8 {
        match self {
            IpsecProto::Esp => 50,
            IpsecProto::Ah => 51,
            IpsecProto::Comp => 108,
        }
    }

    /// From an IP protocol number.
    pub fn from_number(n: u8) -> Option<Self> {
        match n {
            50 => Some(IpsecProto::Esp),
            51 => Some(IpsecProto::Ah),
            108 => Some(IpsecProto::Comp),
            _ => None,
        }
    }
}

impl fmt::Display for IpsecProto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IpsecProto::Esp => "esp",
            IpsecProto::Ah => "ah",
            IpsecProto::Comp => "comp",
        })
    }
}

/// Tunnel or transport mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Transport mode: the original IP header is kept.
    Transport,
    /// Tunnel mode: the packet is wrapped in a new IP header between the endpoints.
    Tunnel,
}

impl Mode {
    pub(crate) fn number(self) -> u8 {
        match self {
            Mode::Transport => 0,
            Mode::Tunnel => 1,
        }
    }

    pub(crate) fn from_number(n: u8) -> Option<Self> {
        match n {
            0 => Some(Mode::Transport),
            1 => Some(Mode::Tunnel),
            _ => None,
        }
    }
}

/// What identifies an SA in the kernel: destination, SPI and protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SaId {
    /// Destination (outer) address.
    pub dst: IpAddr,
    /// SPI in host byte order (for IPComp, the CPI).
    pub spi: u32,
    /// Protocol.
    pub proto: IpsecProto,
}

impl fmt::Display for SaId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:08x}@{}", self.proto, self.spi, self.dst)
    }
}

/// One set of lifetime limits, with the kernel's conventions: `u64::MAX` bytes or
/// packets means no limit, 0 seconds means no time limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Limits {
    /// Bytes processed.
    pub bytes: u64,
    /// Packets processed.
    pub packets: u64,
    /// Seconds since the SA was added (0 = none).
    pub add_seconds: u64,
    /// Seconds since the SA was first used (0 = none).
    pub use_seconds: u64,
}

impl Limits {
    /// No limit at all.
    pub const INFINITE: Limits = Limits {
        bytes: u64::MAX,
        packets: u64::MAX,
        add_seconds: 0,
        use_seconds: 0,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Limits::INFINITE
    }
}

/// Soft limits raise an EXPIRE (soft) event so the daemon can rekey; hard limits
/// delete the SA and raise an EXPIRE (hard) event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Lifetimes {
    /// Rekey point.
    pub soft: Limits,
    /// Deletion point.
    pub hard: Limits,
}

/// UDP encapsulation of ESP for NAT traversal (RFC 3948).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Encap {
    /// Source UDP port (4500, or the floated port).
    pub sport: u16,
    /// Destination UDP port.
    pub dport: u16,
    /// The peer's original address before NAT, when known (used for checksum fix-ups
    /// in transport mode).
    pub original: Option<IpAddr>,
}

impl Encap {
    /// ESP in UDP between two port-4500 sockets.
    pub fn nat_t() -> Self {
        Encap {
            sport: 4500,
            dport: 4500,
            original: None,
        }
    }
}

/// An XFRM mark (value and mask) that the SA or policy only applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Mark {
    /// Value.
    pub value: u32,
    /// Mask.
    pub mask: u32,
}

/// The algorithms and keys of an SA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SaCrypto {
    /// ESP: a cipher (AEAD or not) and, for non-AEAD ciphers, an integrity algorithm.
    Esp {
        /// Cipher.
        encr: Encr,
        /// Cipher key, including any salt/nonce (see [`Encr::salt_len`]).
        encr_key: SecretKey,
        /// Integrity algorithm and key; must be `None` for AEAD ciphers.
        integ: Option<(Integ, SecretKey)>,
    },
    /// AH with an integrity algorithm.
    Ah {
        /// Integrity algorithm.
        integ: Integ,
        /// Its key.
        key: SecretKey,
    },
    /// IPComp.
    Comp {
        /// Compression algorithm.
        alg: Comp,
    },
}

impl SaCrypto {
    /// The protocol these algorithms belong to.
    pub fn proto(&self) -> IpsecProto {
        match self {
            SaCrypto::Esp { .. } => IpsecProto::Esp,
            SaCrypto::Ah { .. } => IpsecProto::Ah,
            SaCrypto::Comp { .. } => IpsecProto::Comp,
        }
    }

    /// Checks algorithm combinations and key sizes.
    pub fn check(&self) -> Result<(), KernelError> {
        match self {
            SaCrypto::Esp {
                encr,
                encr_key,
                integ,
            } => {
                encr.check_key(encr_key)?;
                match (encr.is_aead(), integ) {
                    (true, Some((i, _))) => Err(KernelError::Invalid(format!(
                        "{} is a combined-mode cipher: it takes no separate integrity algorithm (got {})",
                        encr.kernel_name(),
                        i.kernel_name()
                    ))),
                    (false, None) if *encr == Encr::Null => Err(KernelError::Invalid(
                        "ESP with neither encryption nor integrity protects nothing (RFC 4303 3.2)".into(),
                    )),
                    (_, Some((i, k))) => i.check_key(k),
                    _ => Ok(()),
                }
            }
            SaCrypto::Ah { integ, key } => integ.check_key(key),
            SaCrypto::Comp { .. } => Ok(()),
        }
    }
}

/// Everything needed to install one SA (one direction).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaSpec {
    /// Destination, SPI and protocol; the protocol must match `crypto`.
    pub id: SaId,
    /// Source (outer) address; same family as `id.dst`.
    pub src: IpAddr,
    /// Tunnel or transport.
    pub mode: Mode,
    /// Request ID tying the SA to its policies' templates; also how this daemon
    /// recognises its own state (see [`crate::Ownership`]).
    pub reqid: u32,
    /// Algorithms and keys.
    pub crypto: SaCrypto,
    /// Inner traffic the SA may carry. `None` means any: in tunnel mode the SA is
    /// installed family-neutral (XFRM_STATE_AF_UNSPEC), so an IPv4 SA can carry IPv6.
    pub selector: Option<Selector>,
    /// Anti-replay window in packets (0 disables replay protection; inbound only).
    pub replay_window: u32,
    /// Extended sequence numbers (RFC 4303 2.2.1).
    pub esn: bool,
    /// Soft and hard lifetimes.
    pub lifetimes: Lifetimes,
    /// NAT-T UDP encapsulation (ESP only).
    pub encap: Option<Encap>,
    /// Mark the SA applies to.
    pub mark: Option<Mark>,
    /// XFRM interface ID (for ipsec-interface= / xfrmi).
    pub if_id: Option<u32>,
}

impl SaSpec {
    /// An SA with defaults: no selector, replay window 0 (set it for inbound SAs), no
    /// ESN, no lifetimes, no encapsulation, mark or if_id.
    pub fn new(id: SaId, src: IpAddr, mode: Mode, reqid: u32, crypto: SaCrypto) -> Self {
        Self {
            id,
            src,
            mode,
            reqid,
            crypto,
            selector: None,
            replay_window: 0,
            esn: false,
            lifetimes: Lifetimes::default(),
            encap: None,
            mark: None,
            if_id: None,
        }
    }

    /// Checks the spec before anything is sent to the kernel.
    pub fn check(&self) -> Result<(), KernelError> {
        self.crypto.check()?;
        if self.crypto.proto() != self.id.proto {
            return Err(KernelError::Invalid(format!(
                "SA {} carries {} algorithms",
                self.id,
                self.crypto.proto()
            )));
        }
        if self.src.is_ipv6() != self.id.dst.is_ipv6() {
            return Err(KernelError::Invalid(format!(
                "SA endpoints {} and {} are of different families",
                self.src, self.id.dst
            )));
        }
        if self.encap.is_some() && self.id.proto != IpsecProto::Esp {
            return Err(KernelError::Invalid(
                "UDP encapsulation applies to ESP only".into(),
            ));
        }
        if self.id.proto == IpsecProto::Comp && self.id.spi > 0xffff {
            return Err(KernelError::Invalid(format!(
                "IPComp CPI {:#x} does not fit 16 bits",
                self.id.spi
            )));
        }
        if self.mode == Mode::Transport {
            if let Some(sel) = &self.selector {
                if sel.is_ipv6() != self.src.is_ipv6() {
                    return Err(KernelError::Invalid(
                        "a transport-mode SA's selector must be of the SA's family".into(),
                    ));
                }
            }
        }
        if self.esn && self.replay_window == 0 && self.id.proto != IpsecProto::Comp {
            return Err(KernelError::Invalid(
                "ESN needs a replay window of at least 1 (the kernel keeps ESN state in it)".into(),
            ));
        }
        Ok(())
    }
}

/// Traffic counters of an SA, as `whack --trafficstatus` shows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SaCounters {
    /// Bytes processed.
    pub bytes: u64,
    /// Packets processed.
    pub packets: u64,
    /// When the SA was added (seconds since the epoch).
    pub add_time: u64,
    /// When the SA was first used (seconds since the epoch; 0 = not yet).
    pub use_time: u64,
    /// Packets dropped by the replay check.
    pub replay_errors: u32,
    /// Packets that failed the integrity check.
    pub integrity_failed: u32,
}

/// An SA as read back from the kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaInfo {
    /// Destination, SPI, protocol.
    pub id: SaId,
    /// Source address.
    pub src: IpAddr,
    /// Mode (`None` for modes this crate does not install, e.g. BEET).
    pub mode: Option<Mode>,
    /// Request ID.
    pub reqid: u32,
    /// Replay window (from the ESN replay state when present).
    pub replay_window: u32,
    /// ESN enabled.
    pub esn: bool,
    /// Lifetimes configured.
    pub lifetimes: Lifetimes,
    /// Counters.
    pub counters: SaCounters,
    /// NAT-T encapsulation.
    pub encap: Option<Encap>,
    /// Mark.
    pub mark: Option<Mark>,
    /// XFRM interface ID.
    pub if_id: Option<u32>,
    /// Names of the kernel algorithms (cipher/aead, integrity, compression) installed.
    pub algorithms: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn esp(encr: Encr, klen: usize, integ: Option<(Integ, usize)>) -> SaCrypto {
        SaCrypto::Esp {
            encr,
            encr_key: SecretKey::new(vec![1; klen]),
            integ: integ.map(|(i, l)| (i, SecretKey::new(vec![2; l]))),
        }
    }

    #[test]
    fn spec_checks() {
        let id = SaId {
            dst: "192.0.2.2".parse().unwrap(),
            spi: 0x1000,
            proto: IpsecProto::Esp,
        };
        let src: IpAddr = "192.0.2.1".parse().unwrap();
        let ok = SaSpec::new(
            id,
            src,
            Mode::Tunnel,
            1,
            esp(Encr::AesCbc, 16, Some((Integ::HmacSha256_128, 32))),
        );
        ok.check().unwrap();
        let aead_with_integ = SaSpec::new(
            id,
            src,
            Mode::Tunnel,
            1,
            esp(
                Encr::AesGcm { icv_bytes: 16 },
                20,
                Some((Integ::HmacSha1_96, 20)),
            ),
        );
        assert!(aead_with_integ.check().is_err());
        let null_null = SaSpec::new(id, src, Mode::Tunnel, 1, esp(Encr::Null, 0, None));
        assert!(null_null.check().is_err());
        let mut mixed = ok.clone();
        mixed.src = "2001:db8::1".parse().unwrap();
        assert!(mixed.check().is_err());
        let mut esn = ok.clone();
        esn.esn = true;
        assert!(esn.check().is_err());
        esn.replay_window = 64;
        esn.check().unwrap();
        let ah_wrong = SaSpec::new(
            SaId {
                proto: IpsecProto::Ah,
                ..id
            },
            src,
            Mode::Tunnel,
            1,
            esp(Encr::AesCbc, 16, Some((Integ::HmacSha256_128, 32))),
        );
        assert!(ah_wrong.check().is_err());
    }
}
