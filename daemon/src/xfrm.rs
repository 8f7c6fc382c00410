//! The IKEv2 core's kernel requests as `crates/kernel` specs: the two SAs of a Child
//! SA, the in/out/fwd policies that send traffic through them, and the trap
//! policies of a routed connection.
//!
//! Pure functions, so what reaches the kernel is unit-tested without one; the daemon
//! loop carries the specs out with [`kernel::Kernel`].

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use conn::policy::ConnMark;
use conn::spec::{FailShunt, OnTraffic};
use ike::ikev2::{ChildSaInstall, Connection, Mode};
use ike::registry::ProtocolId;
use ike::ts::TrafficSelector;
use kernel::{
    Dir, Encap, Encr, Integ, IpsecProto, KernelError, Lifetimes, Limits, Mark, PolicyAction,
    PolicySpec, SaCrypto, SaId, SaSpec, SecretKey, Selector, Subnet, Template,
};

/// The first reqid pluto-rs hands out: libreswan's automatic reqids start here, and
/// the kernel crate treats reqids from here on as this daemon's own.
pub const REQID_BASE: u32 = 16384;

/// The reqid of a connection (by its database serial). libreswan steps by 4 so that
/// ESP, AH and IPComp of one connection could each get one.
pub fn reqid(conn_serial: u64) -> u32 {
    let n = u32::try_from(conn_serial).unwrap_or(u32::MAX / 8);
    REQID_BASE.saturating_add(n.saturating_mul(4))
}

/// What to install for one Child SA.
#[derive(Debug, Clone)]
pub struct ChildPlan {
    /// Peer to us.
    pub inbound: SaSpec,
    /// Us to peer.
    pub outbound: SaSpec,
    /// Out, in (and fwd in tunnel mode) per selector pair.
    pub policies: Vec<PolicySpec>,
}

/// A traffic selector as a kernel prefix with protocol and port. XFRM selectors are
/// prefixes with one port or any: a range that is no prefix, or a port range, is
/// widened to what contains it and logged.
fn prefix_of(ts: &TrafficSelector) -> Result<(Subnet, u8, Option<u16>), KernelError> {
    let sub = match ts.subnet() {
        Some(s) => Subnet::new(s.addr(), s.prefix())?,
        None => {
            tracing::warn!(
                "traffic selector {}-{} is not a prefix; the kernel policy covers the whole address family instead",
                ts.start_addr(),
                ts.end_addr()
            );
            Subnet::any(ts.is_ipv6())
        }
    };
    let port = if ts.start_port() == ts.end_port() {
        Some(ts.start_port())
    } else {
        if (ts.start_port(), ts.end_port()) != (0, 65535) {
            tracing::warn!(
                "port range {}-{} cannot be expressed in an XFRM selector; the policy covers every port",
                ts.start_port(),
                ts.end_port()
            );
        }
        None
    };
    Ok((sub, ts.ip_proto(), port))
}

/// The selector for traffic from `local` to `remote`.
fn selector(local: &TrafficSelector, remote: &TrafficSelector) -> Result<Selector, KernelError> {
    let (ls, lp, lport) = prefix_of(local)?;
    let (rs, rp, rport) = prefix_of(remote)?;
    let proto = if lp != 0 { lp } else { rp };
    Ok(Selector::new(ls, rs)?
        .with_proto(proto)
        .with_ports(lport, rport))
}

fn template(mode: Mode, src: IpAddr, dst: IpAddr, reqid: u32) -> Template {
    match mode {
        Mode::Tunnel => Template::tunnel(IpsecProto::Esp, src, dst, reqid),
        Mode::Transport => Template::transport(IpsecProto::Esp, reqid),
    }
}

/// Policies between our selectors and the peer's: out with a template us -> peer,
/// in (and fwd for tunnel mode) with peer -> us. Families that do not match are
/// skipped (IPv4 and IPv6 selectors may both be configured).
pub fn policies(
    local_ts: &[TrafficSelector],
    remote_ts: &[TrafficSelector],
    mode: Mode,
    me: IpAddr,
    peer: IpAddr,
    reqid: u32,
    trap: bool,
) -> Result<Vec<PolicySpec>, KernelError> {
    let mut out = Vec::new();
    for l in local_ts {
        for r in remote_ts {
            if l.is_ipv6() != r.is_ipv6() {
                continue;
            }
            let sel = selector(l, r)?;
            let tout = template(mode, me, peer, reqid);
            out.push(PolicySpec::new(
                sel,
                Dir::Out,
                if trap {
                    PolicyAction::trap(tout)
                } else {
                    PolicyAction::Ipsec(vec![tout])
                },
            ));
            if trap {
                // A trap only needs the outbound half: inbound traffic cannot start
                // a negotiation and is let through until the SA exists.
                continue;
            }
            let tin = template(mode, peer, me, reqid);
            out.push(PolicySpec::new(
                sel.reversed(),
                Dir::In,
                PolicyAction::Ipsec(vec![tin]),
            ));
            if mode == Mode::Tunnel {
                out.push(PolicySpec::new(
                    sel.reversed(),
                    Dir::Fwd,
                    PolicyAction::Ipsec(vec![tin]),
                ));
            }
        }
    }
    Ok(out)
}

/// The trap (on-demand) policies of a routed connection; their templates name
/// the protocol its Child SAs will have (ESP, or AH for `--authenticate`), so the
/// kernel's ACQUIRE asks for that and the SA, once installed, matches the trap.
pub fn trap_policies(c: &Connection, reqid: u32) -> Result<Vec<PolicySpec>, KernelError> {
    let mut traps = policies(
        &c.local_ts,
        &c.remote_ts,
        c.mode,
        c.local_addr,
        c.remote_addr,
        reqid,
        true,
    )?;
    let proto = match c.child_protocol() {
        ike::registry::ProtocolId::AH => IpsecProto::Ah,
        _ => IpsecProto::Esp,
    };
    set_proto(&mut traps, proto);
    Ok(traps)
}

/// Makes every template of `policies` name `proto`.
fn set_proto(policies: &mut [PolicySpec], proto: IpsecProto) {
    for p in policies {
        if let PolicyAction::Ipsec(templates) = &mut p.action {
            for t in templates {
                t.proto = proto;
            }
        }
    }
}

/// How long a bare (failure) shunt stays before the kernel removes it and
/// negotiation may be tried again: libreswan's `shuntlifetime=` default, 15
/// minutes. The kernel enforces it as the policy's hard lifetime and reports the
/// removal with POLEXPIRE.
pub const SHUNT_LIFETIME: Duration = Duration::from_secs(15 * 60);

/// What a routed connection's policy does with its traffic. `--initiateontraffic`
/// (the default) keeps the trap (an IPsec template without SA: the kernel raises
/// ACQUIRE and pluto negotiates). `--pass`, `--drop` and `--reject` make the
/// connection a never-negotiate shunt, as libreswan 5's whack does
/// (`never_negotiate_shunt`): `--pass` lets the traffic through in the clear
/// (allow, no template), `--drop` blocks it silently, `--reject` blocks it and
/// answers: libreswan's XFRM backend installs `%reject` as `%drop` (XFRM has no
/// action that sends ICMP), pluto-rs's kernel crate adds a FIB rule that refuses
/// the traffic with ICMP unreachable (crates/kernel `rule`).
pub fn prospective_action(on: OnTraffic, trap: PolicyAction) -> PolicyAction {
    match on {
        OnTraffic::Initiate => trap,
        OnTraffic::Pass => PolicyAction::Pass,
        OnTraffic::Drop => PolicyAction::Drop,
        OnTraffic::Reject => PolicyAction::Reject,
    }
}

/// The outbound policies a routed connection installs: its traps (from
/// [`trap_policies`]), or the `--pass/--drop/--reject` shunts over the same
/// selectors, with the connection's mark.
pub fn prospective_policies(
    mut traps: Vec<PolicySpec>,
    on: OnTraffic,
    mark: Option<Mark>,
) -> Vec<PolicySpec> {
    for p in &mut traps {
        p.action = prospective_action(on, p.action.clone());
        p.mark = mark;
    }
    traps
}

/// The failure shunt that replaces the trap for a flow whose negotiation failed:
/// `--failpass` passes, `--faildrop` blocks, `--failreject` blocks with ICMP
/// unreachable (see [`prospective_action`]); `--failnone` (`None`) keeps the
/// negotiation shunt.
pub fn failure_action(f: FailShunt) -> Option<PolicyAction> {
    match f {
        FailShunt::None => None,
        FailShunt::Pass => Some(PolicyAction::Pass),
        FailShunt::Drop => Some(PolicyAction::Drop),
        FailShunt::Reject => Some(PolicyAction::Reject),
    }
}

/// The flow a bare shunt covers for the packet an ACQUIRE reported: its two
/// hosts, every protocol and port (as libreswan's `-0->` bare shunts), so the
/// next connection attempt of the same hosts meets the shunt too.
pub fn failed_flow(packet: &Selector) -> Result<Selector, KernelError> {
    Selector::new(
        Subnet::new(
            packet.src.addr(),
            if packet.src.is_ipv6() { 128 } else { 32 },
        )?,
        Subnet::new(
            packet.dst.addr(),
            if packet.dst.is_ipv6() { 128 } else { 32 },
        )?,
    )
}

/// An outbound bare shunt (a policy without template) over `flow`. The
/// computed priority makes a host-to-host shunt win over the connection's wider
/// trap; over the trap's own selector it replaces the trap (same policy id).
/// The kernel removes it after [`SHUNT_LIFETIME`].
pub fn bare_shunt(flow: Selector, action: PolicyAction, mark: Option<Mark>) -> PolicySpec {
    let mut p = PolicySpec::new(flow, Dir::Out, action);
    p.mark = mark;
    p.lifetimes.hard.add_seconds = SHUNT_LIFETIME.as_secs();
    p
}

/// libreswan's name of a shunt action in `--shuntstatus`.
pub fn shunt_name(a: &PolicyAction) -> &'static str {
    match a {
        PolicyAction::Pass => "%pass",
        PolicyAction::Drop => "%drop",
        PolicyAction::Reject => "%reject",
        PolicyAction::Ipsec(_) => "%trap",
    }
}

/// One `--shuntstatus` line as libreswan 5 prints a bare shunt:
/// `192.0.2.1/32 -0-> 192.0.2.2/32 => %pass    oe-failing` (a port follows
/// its prefix as `:port` only when the selector has one).
pub fn shunt_line(p: &PolicySpec, why: &str) -> String {
    let end = |s: &Subnet, port: Option<u16>| match port {
        Some(n) => format!("{s}:{n}"),
        None => s.to_string(),
    };
    format!(
        "{} -{}-> {} => {}    {why}",
        end(&p.selector.src, p.selector.sport),
        p.selector.proto,
        end(&p.selector.dst, p.selector.dport),
        shunt_name(&p.action)
    )
}

/// The XFRM mark of `--conn-mark`. A unique mark (`-1`) is the connection's
/// database serial (instances have their own), which must fit the mask.
pub fn conn_mark(m: &ConnMark, conn_serial: u64) -> Result<Mark, KernelError> {
    if !m.unique {
        return Ok(Mark {
            value: m.value,
            mask: m.mask,
        });
    }
    match u32::try_from(conn_serial) {
        Ok(v) if v & !m.mask == 0 => Ok(Mark {
            value: v,
            mask: m.mask,
        }),
        _ => Err(KernelError::Invalid(format!(
            "--conn-mark -1/{:#x}: the unique mark {conn_serial} does not fit the mask",
            m.mask
        ))),
    }
}

/// Puts the connection's mark on both SAs and every policy of a Child SA.
pub fn set_mark(plan: &mut ChildPlan, mark: Option<Mark>) {
    plan.inbound.mark = mark;
    plan.outbound.mark = mark;
    for p in &mut plan.policies {
        p.mark = mark;
    }
}

/// The kernel's limits of a Child SA: hard = the lifetime; soft = a quarter of
/// the rekey margin before it.
///
/// The core schedules rekeys itself: at margin (+ fuzz) before the end for SAs
/// we initiated, at half the margin for the peer's. The soft limit lies after
/// both (hard - margin/4), and the kernel counts from the install, a moment
/// after the core armed its timers, so a soft EXPIRE never comes first; the core
/// takes it only as a hint (rekey now if its own rekey never started). A margin
/// not below the lifetime counts as half the lifetime, as in the core.
fn lifetimes(hard: Duration, margin: Duration) -> Lifetimes {
    let secs = hard.as_secs();
    if secs == 0 {
        return Lifetimes::default();
    }
    let margin = if margin >= hard { hard / 2 } else { margin };
    let before_end = (margin.as_secs() / 4).max(1);
    Lifetimes {
        soft: Limits {
            add_seconds: secs.saturating_sub(before_end).max(1),
            ..Limits::INFINITE
        },
        hard: Limits {
            add_seconds: secs,
            ..Limits::INFINITE
        },
    }
}

/// The kernel algorithms of a negotiated Child SA.
#[derive(Clone, Copy)]
enum ChildAlgs {
    /// `--encrypt`: a cipher and, unless it is AEAD, an integrity algorithm.
    Esp(Encr, Option<Integ>),
    /// `--authenticate`: an integrity algorithm only.
    Ah(Integ),
}

impl ChildAlgs {
    fn of(req: &ChildSaInstall) -> Result<Self, KernelError> {
        let integ = Integ::from_ike(req.integ)?;
        match req.protocol {
            ProtocolId::ESP => {
                let encr = Encr::from_ike(req.encr).ok_or_else(|| {
                    KernelError::Invalid(format!(
                        "negotiated ESP cipher {} has no kernel equivalent",
                        req.encr
                    ))
                })?;
                Ok(ChildAlgs::Esp(encr, integ))
            }
            ProtocolId::AH => integ.map(ChildAlgs::Ah).ok_or_else(|| {
                KernelError::Invalid("an AH Child SA needs an integrity algorithm".into())
            }),
            other => Err(KernelError::Invalid(format!(
                "Child SA protocol {other} cannot be installed (ESP or AH)"
            ))),
        }
    }

    fn proto(self) -> IpsecProto {
        match self {
            ChildAlgs::Esp(..) => IpsecProto::Esp,
            ChildAlgs::Ah(_) => IpsecProto::Ah,
        }
    }

    fn crypto(self, d: &ike::ikev2::ChildSaDirection) -> SaCrypto {
        match self {
            ChildAlgs::Esp(encr, integ) => SaCrypto::Esp {
                encr,
                encr_key: SecretKey::from_slice(&d.encr_key),
                integ: integ.map(|i| (i, SecretKey::from_slice(&d.integ_key))),
            },
            ChildAlgs::Ah(integ) => SaCrypto::Ah {
                integ,
                key: SecretKey::from_slice(&d.integ_key),
            },
        }
    }
}

/// The SAs and policies of a negotiated Child SA.
pub fn child_plan(req: &ChildSaInstall, reqid: u32) -> Result<ChildPlan, KernelError> {
    let algs = ChildAlgs::of(req)?;
    let proto = algs.proto();
    let mode = match req.mode {
        Mode::Tunnel => kernel::Mode::Tunnel,
        Mode::Transport => kernel::Mode::Transport,
    };
    let crypto = |d: &ike::ikev2::ChildSaDirection| algs.crypto(d);
    let me = req.inbound.dst;
    let peer = req.outbound.dst;
    let mut inbound = SaSpec::new(
        SaId {
            dst: req.inbound.dst,
            spi: req.inbound.spi,
            proto,
        },
        req.inbound.src,
        mode,
        reqid,
        crypto(&req.inbound),
    );
    let mut outbound = SaSpec::new(
        SaId {
            dst: req.outbound.dst,
            spi: req.outbound.spi,
            proto,
        },
        req.outbound.src,
        mode,
        reqid,
        crypto(&req.outbound),
    );
    inbound.replay_window = req.replay_window;
    inbound.esn = req.esn;
    outbound.esn = req.esn;
    if req.esn {
        outbound.replay_window = req.replay_window.max(1);
    }
    let lt = lifetimes(req.lifetime, req.rekey_margin);
    inbound.lifetimes = lt;
    outbound.lifetimes = lt;
    if let Some(e) = req.encap {
        inbound.encap = Some(Encap {
            sport: e.remote_port,
            dport: e.local_port,
            original: None,
        });
        outbound.encap = Some(Encap {
            sport: e.local_port,
            dport: e.remote_port,
            original: None,
        });
    }
    if req.mode == Mode::Transport {
        // Transport SAs carry a host-to-host selector (docs/kernel.md).
        inbound.selector = Some(Selector::hosts(peer, me)?);
        outbound.selector = Some(Selector::hosts(me, peer)?);
    }
    let mut policies = policies(
        &req.local_ts,
        &req.remote_ts,
        req.mode,
        me,
        peer,
        reqid,
        false,
    )?;
    // The policies' templates name the Child SA's protocol.
    set_proto(&mut policies, proto);
    Ok(ChildPlan {
        inbound,
        outbound,
        policies,
    })
}

/// Sample Child SA installs for the daemon's unit tests.
/// Why a NAT mapping change (XFRM MAPPING event) cannot be applied to a Child SA.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MappingError {
    /// The SA does not use ESP-in-UDP, so no NAT port can have changed.
    #[error("the SA is not UDP-encapsulated; NAT mapping change ignored")]
    NotEncapsulated,
    /// The peer's public address changed, not only its port: the outbound SA's
    /// destination is part of its identity and would have to be migrated.
    #[error("address change currently not supported [{old} -> {new}]; the Child SA keeps sending to {old} until it is rekeyed or restarted")]
    AddressChange {
        /// The peer's mapped address and port so far.
        old: SocketAddr,
        /// The one the kernel saw.
        new: SocketAddr,
    },
}

/// The two SAs of a Child SA with their ESP-in-UDP encapsulation moved to the
/// peer's new NAT port: the inbound SA expects packets from `new`'s port (its
/// encap source port), the outbound SA sends to it (its encap destination port).
/// Everything else, keys included, is as installed, so the kernel's UPDSA only
/// changes the encapsulation. `None` when the port is already `new`'s.
pub fn remap_encap(
    inbound: &SaSpec,
    outbound: &SaSpec,
    old: SocketAddr,
    new: SocketAddr,
) -> Result<Option<(SaSpec, SaSpec)>, MappingError> {
    let (Some(ie), Some(oe)) = (inbound.encap, outbound.encap) else {
        return Err(MappingError::NotEncapsulated);
    };
    if new.ip() != old.ip() || outbound.id.dst != new.ip() {
        return Err(MappingError::AddressChange { old, new });
    }
    if ie.sport == new.port() && oe.dport == new.port() {
        return Ok(None);
    }
    let mut i = inbound.clone();
    let mut o = outbound.clone();
    i.encap = Some(Encap {
        sport: new.port(),
        ..ie
    });
    o.encap = Some(Encap {
        dport: new.port(),
        ..oe
    });
    Ok(Some((i, o)))
}

#[cfg(test)]
pub(crate) mod testutil {
    use super::*;
    use ike::crypto::SecretBytes;
    use ike::ikev2::{ChildSaDirection, SaSerial};
    use ike::registry::{EncrId, IntegId, ProtocolId};
    use ike::ts::{ProtoPort, Subnet as TsSubnet};

    pub fn ts(net: &str, prefix: u8) -> TrafficSelector {
        TrafficSelector::from_subnet(
            TsSubnet::new(net.parse().unwrap(), prefix).unwrap(),
            ProtoPort::ANY,
        )
    }

    pub fn install(mode: Mode, gcm: bool) -> ChildSaInstall {
        let dir = |spi, src: &str, dst: &str| ChildSaDirection {
            spi,
            src: src.parse().unwrap(),
            dst: dst.parse().unwrap(),
            encr_key: SecretBytes::from_slice(&[7u8; 36][..if gcm { 36 } else { 32 }]),
            integ_key: SecretBytes::from_slice(if gcm { &[] } else { &[9u8; 32] }),
        };
        ChildSaInstall {
            connection: "west-east".into(),
            child: SaSerial(2),
            ike: SaSerial(1),
            protocol: ProtocolId::ESP,
            mode,
            encr: if gcm {
                EncrId::AES_GCM_16
            } else {
                EncrId::AES_CBC
            },
            encr_key_bits: 256,
            salt_len: if gcm { 4 } else { 0 },
            integ: if gcm {
                IntegId::NONE
            } else {
                IntegId::HMAC_SHA2_256_128
            },
            inbound: dir(0x1234, "192.0.2.2", "192.0.2.1"),
            outbound: dir(0xc0ffee, "192.0.2.1", "192.0.2.2"),
            esn: false,
            replay_window: 128,
            local_ts: vec![ts("198.51.100.0", 24)],
            remote_ts: vec![ts("203.0.113.0", 24)],
            encap: None,
            lifetime: Duration::from_secs(28800),
            rekey_margin: Duration::from_secs(540),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testutil::{install, ts};
    use super::*;
    use ike::ikev2::UdpEncap;

    #[test]
    fn tunnel_plan_has_both_sas_and_three_policies() {
        let p = child_plan(&install(Mode::Tunnel, true), reqid(1)).unwrap();
        assert_eq!(p.inbound.id.spi, 0x1234);
        assert_eq!(p.inbound.id.dst.to_string(), "192.0.2.1");
        assert_eq!(p.outbound.id.spi, 0xc0ffee);
        assert_eq!(p.outbound.id.dst.to_string(), "192.0.2.2");
        assert_eq!(p.inbound.reqid, 16388);
        assert_eq!(p.inbound.replay_window, 128);
        assert_eq!(p.inbound.lifetimes.hard.add_seconds, 28800);
        // Soft = hard - margin/4 (540 s / 4 = 135 s): after the core's own rekey
        // times (hard - 540 s - fuzz as initiator, hard - 270 s as responder).
        assert_eq!(p.inbound.lifetimes.soft.add_seconds, 28800 - 135);
        assert!(matches!(
            p.inbound.crypto,
            SaCrypto::Esp {
                encr: Encr::AesGcm { icv_bytes: 16 },
                integ: None,
                ..
            }
        ));
        p.inbound.check().unwrap();
        p.outbound.check().unwrap();
        let dirs: Vec<Dir> = p.policies.iter().map(|s| s.dir).collect();
        assert_eq!(dirs, vec![Dir::Out, Dir::In, Dir::Fwd]);
        let out = &p.policies[0];
        assert_eq!(out.selector.src.to_string(), "198.51.100.0/24");
        assert_eq!(out.selector.dst.to_string(), "203.0.113.0/24");
        match &out.action {
            PolicyAction::Ipsec(t) => {
                assert_eq!(t[0].mode, kernel::Mode::Tunnel);
                assert_eq!(t[0].src, Some("192.0.2.1".parse().unwrap()));
                assert_eq!(t[0].dst, Some("192.0.2.2".parse().unwrap()));
            }
            a => panic!("{a:?}"),
        }
        assert_eq!(p.policies[1].selector.src.to_string(), "203.0.113.0/24");
    }

    #[test]
    fn ah_plan_installs_integrity_only_sas_and_ah_templates() {
        let mut req = install(Mode::Tunnel, false);
        req.protocol = ProtocolId::AH;
        req.encr = ike::registry::EncrId::NULL;
        req.encr_key_bits = 0;
        req.inbound.encr_key = ike::crypto::SecretBytes::from_slice(&[]);
        req.outbound.encr_key = ike::crypto::SecretBytes::from_slice(&[]);
        let p = child_plan(&req, reqid(1)).unwrap();
        assert_eq!(p.inbound.id.proto, IpsecProto::Ah);
        assert_eq!(p.outbound.id.proto, IpsecProto::Ah);
        assert_eq!(p.inbound.crypto.proto(), IpsecProto::Ah);
        match &p.outbound.crypto {
            SaCrypto::Ah { integ, key } => {
                assert_eq!(*integ, Integ::HmacSha256_128);
                assert_eq!(key.len(), 32);
            }
            c => panic!("{c:?}"),
        }
        p.inbound.check().unwrap();
        p.outbound.check().unwrap();
        for pol in &p.policies {
            match &pol.action {
                PolicyAction::Ipsec(t) => assert_eq!(t[0].proto, IpsecProto::Ah),
                a => panic!("{a:?}"),
            }
        }
        // AH without an integrity algorithm cannot be installed.
        req.integ = ike::registry::IntegId::NONE;
        assert!(child_plan(&req, reqid(1)).is_err());
    }

    #[test]
    fn nat_mapping_moves_only_the_peer_port() {
        let mut req = install(Mode::Tunnel, true);
        req.encap = Some(UdpEncap {
            local_port: 4500,
            remote_port: 4500,
        });
        let p = child_plan(&req, reqid(0)).unwrap();
        let old: SocketAddr = "192.0.2.2:4500".parse().unwrap();
        let new: SocketAddr = "192.0.2.2:4501".parse().unwrap();
        let (i, o) = remap_encap(&p.inbound, &p.outbound, old, new)
            .unwrap()
            .unwrap();
        let (ie, oe) = (i.encap.unwrap(), o.encap.unwrap());
        assert_eq!((ie.sport, ie.dport), (4501, 4500));
        assert_eq!((oe.sport, oe.dport), (4500, 4501));
        // Nothing but the encapsulation changes: same SAs, same keys.
        assert_eq!(i.id, p.inbound.id);
        assert_eq!(o.id, p.outbound.id);
        assert_eq!(i.crypto, p.inbound.crypto);
        assert_eq!(o.reqid, p.outbound.reqid);
        o.check().unwrap();
        // Applying the same mapping again is a no-op.
        assert_eq!(remap_encap(&i, &o, old, new), Ok(None));
        // A new address cannot be applied by an update.
        let moved: SocketAddr = "192.0.2.9:4501".parse().unwrap();
        assert_eq!(
            remap_encap(&p.inbound, &p.outbound, old, moved),
            Err(MappingError::AddressChange { old, new: moved })
        );
        // Plain ESP has no NAT port to move.
        let plain = child_plan(&install(Mode::Tunnel, true), reqid(0)).unwrap();
        assert_eq!(
            remap_encap(&plain.inbound, &plain.outbound, old, new),
            Err(MappingError::NotEncapsulated)
        );
    }

    #[test]
    fn transport_cbc_with_encap() {
        let mut req = install(Mode::Transport, false);
        req.local_ts = vec![TrafficSelector::host("192.0.2.1".parse().unwrap())];
        req.remote_ts = vec![TrafficSelector::host("192.0.2.2".parse().unwrap())];
        req.encap = Some(UdpEncap {
            local_port: 4500,
            remote_port: 4501,
        });
        let p = child_plan(&req, reqid(0)).unwrap();
        assert!(matches!(
            p.outbound.crypto,
            SaCrypto::Esp {
                encr: Encr::AesCbc,
                integ: Some((Integ::HmacSha256_128, _)),
                ..
            }
        ));
        assert_eq!(p.outbound.encap.unwrap().dport, 4501);
        assert_eq!(p.inbound.encap.unwrap().sport, 4501);
        assert!(p.inbound.selector.is_some());
        p.outbound.check().unwrap();
        assert_eq!(p.policies.len(), 2, "no fwd policy in transport mode");
    }

    #[test]
    fn traps_are_outbound_only_and_skip_other_families() {
        let pols = policies(
            &[ts("198.51.100.0", 24), ts("2001:db8::", 64)],
            &[ts("203.0.113.0", 24)],
            Mode::Tunnel,
            "192.0.2.1".parse().unwrap(),
            "192.0.2.2".parse().unwrap(),
            reqid(3),
            true,
        )
        .unwrap();
        assert_eq!(pols.len(), 1);
        assert_eq!(pols[0].dir, Dir::Out);
    }

    /// west-east's trap: 198.51.100.0/24 -> 203.0.113.0/24 through 192.0.2.2.
    fn traps() -> Vec<PolicySpec> {
        policies(
            &[ts("198.51.100.0", 24)],
            &[ts("203.0.113.0", 24)],
            Mode::Tunnel,
            "192.0.2.1".parse().unwrap(),
            "192.0.2.2".parse().unwrap(),
            reqid(1),
            true,
        )
        .unwrap()
    }

    fn only(v: Vec<PolicySpec>) -> PolicySpec {
        assert_eq!(v.len(), 1, "{v:?}");
        v.into_iter().next().unwrap()
    }

    #[test]
    fn initiateontraffic_installs_a_trap() {
        let p = only(prospective_policies(traps(), OnTraffic::Initiate, None));
        assert_eq!(p.dir, Dir::Out);
        match &p.action {
            PolicyAction::Ipsec(t) => {
                assert_eq!(t.len(), 1);
                assert_eq!(t[0].reqid, reqid(1));
                assert_eq!(t[0].dst, Some("192.0.2.2".parse().unwrap()));
            }
            a => panic!("a trap has a template: {a:?}"),
        }
        assert_eq!(p.priority, kernel::Priority::Auto);
    }

    #[test]
    fn pass_drop_reject_install_template_less_shunts_over_the_traps_selector() {
        let trap = only(traps());
        for (on, want) in [
            (OnTraffic::Pass, PolicyAction::Pass),
            (OnTraffic::Drop, PolicyAction::Drop),
            // libreswan 5: %reject is a block policy like %drop.
            (OnTraffic::Reject, PolicyAction::Reject),
        ] {
            let p = only(prospective_policies(traps(), on, None));
            assert_eq!(p.action, want, "{on:?}");
            // Same identity as the trap: routing one replaces the other.
            assert_eq!(p.id(), trap.id());
            assert_eq!(p.priority, trap.priority);
        }
    }

    #[test]
    fn failure_shunt_actions() {
        assert_eq!(
            failure_action(FailShunt::None),
            None,
            "--failnone keeps the trap"
        );
        assert_eq!(failure_action(FailShunt::Pass), Some(PolicyAction::Pass));
        assert_eq!(failure_action(FailShunt::Drop), Some(PolicyAction::Drop));
        assert_eq!(
            failure_action(FailShunt::Reject),
            Some(PolicyAction::Reject)
        );
    }

    #[test]
    fn failed_flow_shunt_is_host_to_host_beats_the_trap_and_expires() {
        let packet = Selector::hosts(
            "198.51.100.7".parse().unwrap(),
            "203.0.113.9".parse().unwrap(),
        )
        .unwrap()
        .with_proto(1)
        .with_ports(Some(8), Some(0));
        let flow = failed_flow(&packet).unwrap();
        assert_eq!(flow.proto, 0);
        assert_eq!((flow.sport, flow.dport), (None, None));
        let s = bare_shunt(flow, PolicyAction::Pass, None);
        assert_eq!(s.dir, Dir::Out);
        assert_eq!(s.lifetimes.hard.add_seconds, 900);
        let trap = only(traps());
        assert!(
            kernel::priority(&s.selector, s.priority)
                < kernel::priority(&trap.selector, trap.priority),
            "the host-to-host shunt must win over the /24 trap"
        );
        assert_eq!(
            shunt_line(&s, "oe-failing"),
            "198.51.100.7/32 -0-> 203.0.113.9/32 => %pass    oe-failing"
        );
        let d = bare_shunt(packet, PolicyAction::Drop, None);
        assert_eq!(
            shunt_line(&d, "oe-failing"),
            "198.51.100.7/32:8 -1-> 203.0.113.9/32:0 => %drop    oe-failing"
        );
    }

    #[test]
    fn conn_mark_on_sas_policies_and_traps() {
        let m = conn_mark(&ConnMark::parse("0x10/0xff").unwrap(), 3).unwrap();
        assert_eq!((m.value, m.mask), (0x10, 0xff));
        let mut p = child_plan(&install(Mode::Tunnel, true), reqid(1)).unwrap();
        set_mark(&mut p, Some(m));
        assert_eq!(p.inbound.mark, Some(m));
        assert_eq!(p.outbound.mark, Some(m));
        assert!(p.policies.iter().all(|x| x.mark == Some(m)));
        let t = only(prospective_policies(traps(), OnTraffic::Initiate, Some(m)));
        assert_eq!(t.mark, Some(m));
        // The marked IPsec policy replaces the marked trap (same id).
        assert_eq!(t.id(), p.policies[0].id());
        // -1: unique per connection serial, within the mask.
        let u = conn_mark(&ConnMark::parse("-1/0xff").unwrap(), 7).unwrap();
        assert_eq!((u.value, u.mask), (7, 0xff));
        let e = conn_mark(&ConnMark::parse("-1/0xf").unwrap(), 300).unwrap_err();
        assert!(e.to_string().contains("--conn-mark"), "{e}");
    }
}
