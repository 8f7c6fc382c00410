//! Child SAs beyond IKE_AUTH: keying (RFC 7296 2.17, shared with the first Child SA
//! of IKE_AUTH) and the CREATE_CHILD_SA exchange (1.3): rekeying Child SAs (with PFS
//! when configured) and rekeying the IKE SA (2.18), in both roles.
//!
//! Either end may add Child SAs to the IKE SA (1.3.1), for the IKE SA's
//! connection: a peer's traffic selectors are narrowed against it, ours are its
//! own (`Endpoint::create_child_sa`, e.g. after the first Child SA was refused). Simultaneous rekeys (2.8.1) are settled
//! when our response arrives after we answered the peer's rekey of the same SA: the
//! new SA made with the lowest of the four nonces is deleted by its creator (a
//! redundant Child SA of ours is never installed), and the creator of the other one
//! deletes the old SA; a redundant IKE SA hands its Child SAs to the survivor.

use crate::codec::v2::{KeyExchange as KePayload, Notify, Payload};
use crate::codec::Spi;
use crate::crypto::ikev2::{skeyseed_rekey, Role};
use crate::crypto::{ChildSaKeys, EncrAlg, IkeSaKeys, IntegAlg, KeAlg, SecretBytes};
use crate::proposal::{check_answer, select, Chosen};
use crate::registry::{EncrId, ExchangeType, IntegId, KeId, NotifyType, ProtocolId};
use crate::ts::{check_narrowed, narrow, TrafficSelector};

use super::config::Mode;
use super::output::{
    ChildSaDelete, ChildSaDirection, ChildSaInstall, Event, KernelRequest, Rc, RekeyResult,
    SaSerial, UdpEncap,
};
use super::sa::{
    ah_through_nat, child_protocol, error_notify, find_notify, lowest_nonce, mode_name,
    nonce_len_ok, proposal_spi, retry_time, sa_payload, ts_from_payload, ts_pair, ts_payload,
    wire_proposals, ChildSa, Ctx, HeldResponse, IkeSa, IkeState, PendingCreateChild,
    PendingIkeRekey, RequestKind, Unconfirmed,
};
use super::Error;

/// The inputs of KEYMAT = prf+(SK_d, [g^ir (new)] | Ni | Nr) for one Child SA.
pub(crate) struct Keying {
    /// The nonce of the exchange's initiator.
    pub ni: Vec<u8>,
    /// The nonce of the exchange's responder.
    pub nr: Vec<u8>,
    /// The PFS shared secret, if a KE was exchanged.
    pub shared: Option<SecretBytes>,
    /// Whether we sent the request of the exchange: KEYMAT's first half keys the
    /// exchange initiator's outbound direction.
    pub we_initiated: bool,
}

impl Keying {
    /// The first Child SA: the IKE SA's nonces and roles, no PFS.
    pub fn ike_auth(sa: &IkeSa) -> Self {
        Keying {
            ni: sa.hs().ni.to_vec(),
            nr: sa.hs().nr.to_vec(),
            shared: None,
            we_initiated: sa.role == crate::crypto::ikev2::Role::Initiator,
        }
    }
}

/// What a negotiated Child SA needs to be keyed and installed.
pub(crate) struct NewChild<'a> {
    pub serial: SaSerial,
    pub chosen: &'a Chosen,
    pub inbound_spi: u32,
    pub outbound_spi: u32,
    pub local_ts: Vec<TrafficSelector>,
    pub remote_ts: Vec<TrafficSelector>,
    pub mode: Mode,
    pub keying: Keying,
    /// The Child SA this one replaces, for the log line.
    pub rekey_of: Option<SaSerial>,
}

/// Derives KEYMAT, asks the kernel to install both SAs, records the Child SA and
/// logs libreswan's "established Child SA" (or "rekeyed Child SA") line.
pub(crate) fn install(ctx: &mut Ctx<'_>, sa: &mut IkeSa, c: NewChild<'_>) -> Result<(), Error> {
    let ah = c.chosen.protocol == ProtocolId::AH;
    // AH (RFC 4302) has no cipher: its KEYMAT is the integrity keys alone
    // (RFC 7296 2.17), and the install request says ENCR_NULL with no key.
    let (encr_id, encr) = if ah {
        (EncrId::NULL, None)
    } else {
        let (encr_id, bits) = c.chosen.encr.ok_or(Error::Incomplete("ENCR"))?;
        (encr_id, Some(EncrAlg::lookup(encr_id, bits)?))
    };
    let integ_id = c.chosen.integ.unwrap_or(IntegId::NONE);
    let integ = if integ_id == IntegId::NONE {
        None
    } else {
        Some(IntegAlg::lookup(integ_id)?)
    };
    if !encr.is_some_and(|e| e.is_aead()) && integ.is_none() {
        return Err(Error::Incomplete("INTEG"));
    }
    let suite = sa.suite.as_ref().ok_or(Error::NoKeys)?;
    let keys = sa.keys.as_ref().ok_or(Error::NoKeys)?;
    let pfs: Vec<&[u8]> = c.keying.shared.iter().map(|s| &s[..]).collect();
    let km = ChildSaKeys::derive(
        suite.prf,
        keys.sk_d(),
        &pfs,
        &c.keying.ni,
        &c.keying.nr,
        encr.map_or(0, |e| e.keymat_len()),
        integ.map_or(0, |i| i.key_len),
    )?;
    let (i2r, r2i) = (km.initiator_to_responder(), km.responder_to_initiator());
    let (inb, outb) = if c.keying.we_initiated {
        (r2i, i2r)
    } else {
        (i2r, r2i)
    };
    let encap = (!ah && (sa.nat_local || sa.nat_remote)).then_some(UdpEncap {
        local_port: sa.local.port(),
        remote_port: sa.remote.port(),
    });
    let conn = sa.conn.clone();
    let esn = c.chosen.esn_enabled();
    let install = ChildSaInstall {
        connection: conn.name.to_string(),
        child: c.serial,
        ike: sa.serial,
        protocol: child_protocol(sa),
        mode: c.mode,
        encr: encr_id,
        encr_key_bits: encr.map_or(0, |e| e.key_bits),
        salt_len: encr.map_or(0, |e| e.salt_len),
        integ: integ_id,
        inbound: ChildSaDirection {
            spi: c.inbound_spi,
            src: sa.remote.ip(),
            dst: sa.local.ip(),
            encr_key: SecretBytes::from_slice(inb.0),
            integ_key: SecretBytes::from_slice(inb.1),
        },
        outbound: ChildSaDirection {
            spi: c.outbound_spi,
            src: sa.local.ip(),
            dst: sa.remote.ip(),
            encr_key: SecretBytes::from_slice(outb.0),
            integ_key: SecretBytes::from_slice(outb.1),
        },
        esn,
        replay_window: conn.replay_window,
        local_ts: c.local_ts.clone(),
        remote_ts: c.remote_ts.clone(),
        encap,
        lifetime: conn.child_lifetime,
        rekey_margin: conn.rekey_margin,
    };
    ctx.out
        .events
        .push_back(Event::Kernel(KernelRequest::InstallChildSa(Box::new(
            install,
        ))));
    let role = if c.keying.we_initiated {
        "initiator"
    } else {
        "responder"
    };
    let what = match c.rekey_of {
        Some(old) => format!("rekeyed Child SA {old}"),
        None => "established Child SA".to_owned(),
    };
    let proto = match (ah, encap.is_some(), esn) {
        (true, _, false) => "AH".to_owned(),
        (true, _, true) => "AH/ESN".to_owned(),
        (false, false, false) => "ESP".to_owned(),
        (false, false, true) => "ESP/ESN".to_owned(),
        (false, true, false) => "ESPinUDP".to_owned(),
        (false, true, true) => "ESPinUDP/ESN".to_owned(),
    };
    // libreswan's xfrm= names the cipher and the integrity algorithm of ESP, the
    // integrity algorithm alone of AH.
    let xfrm = match encr {
        Some(e) => format!("{}-{}", e.name, integ.map_or("NONE", |i| i.name)),
        None => integ.map_or("NONE", |i| i.name).to_owned(),
    };
    let natd = if encap.is_some() {
        format!(" NATD={}:{}", sa.remote.ip(), sa.remote.port())
    } else {
        String::new()
    };
    let dpd = if conn.dpd_delay.is_some() {
        "active"
    } else {
        "passive"
    };
    let text = format!(
        "{role} {what} using {}; IPsec {} {} {{{proto}=>{:#010x} <{:#010x} xfrm={xfrm}{natd} DPD={dpd}}}",
        sa.serial,
        mode_name(c.mode),
        ts_pair(&c.local_ts, &c.remote_ts),
        c.outbound_spi,
        c.inbound_spi,
    );
    let unconfirmed = if ctx.cfg.confirm_child_installs {
        tracing::debug!(
            "\"{}\" {}: waiting for the kernel to accept the Child SA",
            conn.name,
            c.serial
        );
        Some(Box::new(Unconfirmed { text, retire: None }))
    } else {
        announce(ctx, sa, c.serial, text);
        None
    };
    let mut child = ChildSa::new(
        ctx,
        &conn,
        c.serial,
        c.inbound_spi,
        c.outbound_spi,
        c.local_ts,
        c.remote_ts,
        c.keying.we_initiated,
    );
    child.unconfirmed = unconfirmed;
    // Most IKE SAs have one Child SA for life: no room for three more.
    sa.children.reserve_exact(1);
    sa.children.push(child);
    Ok(())
}

/// Logs libreswan's "established Child SA" line and reports the Child SA up.
fn announce(ctx: &mut Ctx<'_>, sa: &IkeSa, child: SaSerial, text: String) {
    ctx.out
        .progress(&sa.conn.name, Some(child), Rc::SUCCESS, text);
    ctx.out.events.push_back(Event::ChildSaEstablished {
        connection: sa.conn.name.to_string(),
        ike: sa.serial,
        child,
    });
}

/// Responder: sends the answer to the request that created Child SA `h.child`,
/// or, while the kernel has not confirmed that Child SA yet (with
/// `EndpointConfig::confirm_child_installs`), holds it until [`confirm`] or
/// [`install_failed`]. Retransmissions of the request are absorbed meanwhile.
pub(crate) fn answer_or_hold(
    ctx: &mut Ctx<'_>,
    sa: &mut IkeSa,
    h: HeldResponse,
) -> Result<(), Error> {
    let waiting = sa
        .children
        .iter()
        .any(|c| c.serial == h.child && c.unconfirmed.is_some());
    if waiting {
        tracing::debug!(
            "{}: holding the {} response until the kernel has Child SA {}",
            ctx.out.label(&sa.conn.name, sa.serial),
            h.exchange,
            h.child
        );
        sa.held = Some(Box::new(h));
        return Ok(());
    }
    ctx.out.stats.sent(h.exchange, true, &h.accepted);
    let msg = sa.seal(ctx.rng, h.exchange, true, h.msgid, &h.accepted)?;
    ctx.respond(sa, &h.request, h.msgid, msg);
    Ok(())
}

/// The held response of Child SA `child`, if it is the one held.
fn take_held(sa: &mut IkeSa, child: SaSerial) -> Option<HeldResponse> {
    if sa.held.as_ref().is_some_and(|h| h.child == child) {
        sa.held.take().map(|h| *h)
    } else {
        None
    }
}

/// The kernel accepted Child SA `child`: announces it, sends the held answer
/// that carries it (responder) and, for a rekey we initiated, retires the Child
/// SA it replaces. False when it was announced already.
pub(crate) fn confirm(ctx: &mut Ctx<'_>, sa: &mut IkeSa, child: SaSerial) -> Result<bool, Error> {
    let Some(u) = sa
        .children
        .iter_mut()
        .find(|c| c.serial == child)
        .and_then(|c| c.unconfirmed.take())
    else {
        return Ok(false);
    };
    if let Some(h) = take_held(sa, child) {
        ctx.out.stats.sent(h.exchange, true, &h.accepted);
        let msg = sa.seal(ctx.rng, h.exchange, true, h.msgid, &h.accepted)?;
        ctx.respond(sa, &h.request, h.msgid, msg);
    }
    announce(ctx, sa, child, u.text);
    if let Some(old) = u.retire {
        retire(ctx, sa, old);
    }
    Ok(true)
}

/// The notify a responder answers with when the kernel refused the Child SA the
/// request created. libreswan moved its kernel install ahead of the response so
/// that such a failure can be answered with TS_UNACCEPTABLE (libreswan issue
/// #441); RFC 7296 2.21.2 keeps the IKE SA when only the Child SA fails.
pub(crate) const INSTALL_FAILED_NOTIFY: NotifyType = NotifyType::TS_UNACCEPTABLE;

/// The kernel refused Child SA `child`: it is removed (with whatever part the
/// kernel did take). A responder whose answer was held answers now, refusing
/// the Child SA with [`INSTALL_FAILED_NOTIFY`]; otherwise the Child SA is deleted
/// with the peer, as libreswan does. The IKE SA stays. False when no such Child
/// SA exists.
pub(crate) fn install_failed(
    ctx: &mut Ctx<'_>,
    sa: &mut IkeSa,
    child: SaSerial,
    reason: &str,
) -> Result<bool, Error> {
    let Some(i) = sa.children.iter().position(|c| c.serial == child) else {
        return Ok(false);
    };
    let c = sa.children.remove(i);
    if let Some(h) = take_held(sa, child) {
        let n = INSTALL_FAILED_NOTIFY;
        ctx.out.progress(
            &sa.conn.name,
            Some(child),
            Rc::notification(n),
            format!(
                "cannot install Child SA in the kernel ({reason}); responding with {n}, IKE SA {} stays",
                sa.serial
            ),
        );
        uninstall(ctx, sa, &c);
        ctx.out.events.push_back(Event::ChildSaFailed {
            connection: sa.conn.name.to_string(),
            child,
            notify: n,
        });
        // A rekey by the peer that did not happen: the old Child SA is ours to
        // rekey again.
        for old in &mut sa.children {
            if old
                .rekeyed_by_peer
                .as_ref()
                .is_some_and(|(new, _)| *new == child)
            {
                old.rekeyed_by_peer = None;
            }
        }
        sa.peer_child_rekeys.retain(|(_, new, _)| *new != child);
        let mut payloads = h.refused;
        payloads.push(Payload::Notify(Notify::new(n)));
        ctx.out.stats.sent(h.exchange, true, &payloads);
        let msg = sa.seal(ctx.rng, h.exchange, true, h.msgid, &payloads)?;
        ctx.respond(sa, &h.request, h.msgid, msg);
        return Ok(true);
    }
    ctx.out.progress(
        &sa.conn.name,
        Some(child),
        Rc::LOG_SERIOUS,
        format!(
            "cannot install Child SA in the kernel ({reason}); deleting it using {} and sending notification",
            sa.serial
        ),
    );
    uninstall(ctx, sa, &c);
    if sa.state == IkeState::Established {
        sa.queue
            .push_back(RequestKind::DeleteChild(vec![c.inbound_spi]));
    }
    Ok(true)
}

/// Uninstalls a Child SA replaced by a rekey we initiated and queues its Delete.
fn retire(ctx: &mut Ctx<'_>, sa: &mut IkeSa, old: SaSerial) {
    if let Some(i) = sa.children.iter().position(|c| c.serial == old) {
        let old = sa.children.remove(i);
        uninstall(ctx, sa, &old);
        sa.queue
            .push_back(RequestKind::DeleteChild(vec![old.inbound_spi]));
    }
}

/// Asks the kernel to remove a Child SA and reports it gone.
pub(crate) fn uninstall(ctx: &mut Ctx<'_>, sa: &IkeSa, child: &ChildSa) {
    ctx.out
        .events
        .push_back(Event::Kernel(KernelRequest::DeleteChildSa(ChildSaDelete {
            connection: sa.conn.name.to_string(),
            child: child.serial,
            protocol: child_protocol(sa),
            inbound_spi: child.inbound_spi,
            inbound_dst: sa.local.ip(),
            outbound_spi: child.outbound_spi,
            outbound_dst: sa.remote.ip(),
            local_ts: child.local_ts.clone(),
            remote_ts: child.remote_ts.clone(),
        })));
    ctx.out.events.push_back(Event::ChildSaDeleted {
        connection: sa.conn.name.to_string(),
        child: child.serial,
    });
    // Its instance name goes with it: an instance that rekeys its Child SA
    // for months must not keep a name per Child SA it ever had.
    ctx.out.instances.remove(&child.serial);
}

/// The payloads of a CREATE_CHILD_SA message, collected.
#[derive(Default)]
struct CreatePayloads<'a> {
    sa: Option<&'a crate::codec::v2::SecurityAssociation>,
    nonce: Option<&'a Vec<u8>>,
    ke: Option<&'a KePayload>,
    tsi: Option<&'a crate::codec::v2::TrafficSelectors>,
    tsr: Option<&'a crate::codec::v2::TrafficSelectors>,
    rekey: Option<&'a Notify>,
    transport: bool,
}

fn collect(payloads: &[Payload]) -> CreatePayloads<'_> {
    let mut c = CreatePayloads::default();
    for p in payloads {
        match p {
            Payload::Sa(x) => c.sa = c.sa.or(Some(x)),
            Payload::Nonce(x) => c.nonce = c.nonce.or(Some(x)),
            Payload::Ke(x) => c.ke = c.ke.or(Some(x)),
            Payload::TsI(x) => c.tsi = c.tsi.or(Some(x)),
            Payload::TsR(x) => c.tsr = c.tsr.or(Some(x)),
            Payload::Notify(n) if n.ty == NotifyType::REKEY_SA => c.rekey = c.rekey.or(Some(n)),
            Payload::Notify(n) if n.ty == NotifyType::USE_TRANSPORT_MODE => c.transport = true,
            _ => {}
        }
    }
    c
}

/// The Child SA proposals to offer or accept in CREATE_CHILD_SA: with PFS, every
/// proposal that names no group gets the IKE SA's.
fn child_proposals(sa: &IkeSa, pfs: bool) -> crate::proposal::ProposalSet {
    if pfs {
        sa.conn.esp_proposals.with_pfs(sa.ke_group)
    } else {
        super::sa::set_without_ke(&sa.conn.esp_proposals)
    }
}

/// Responder: a CREATE_CHILD_SA request: a Child SA rekey, an additional Child SA,
/// or an IKE SA rekey.
pub(crate) fn process_request(
    ctx: &mut Ctx<'_>,
    sa: &mut IkeSa,
    raw: &[u8],
    msgid: u32,
    payloads: &[Payload],
) -> Result<(), Error> {
    let p = collect(payloads);
    let reply = |ctx: &mut Ctx<'_>, sa: &mut IkeSa, inner: &[Payload]| -> Result<(), Error> {
        ctx.out
            .stats
            .sent(ExchangeType::CREATE_CHILD_SA, true, inner);
        let resp = sa.seal(ctx.rng, ExchangeType::CREATE_CHILD_SA, true, msgid, inner)?;
        ctx.respond(sa, raw, msgid, resp);
        Ok(())
    };
    let refuse = |ctx: &mut Ctx<'_>, sa: &mut IkeSa, n: NotifyType, why: String| {
        ctx.out.progress(
            &sa.conn.name,
            Some(sa.serial),
            Rc::LOG_SERIOUS,
            format!("CREATE_CHILD_SA request refused with {n}: {why}"),
        );
        reply(ctx, sa, &[Payload::Notify(Notify::new(n))])
    };
    let Some(sa_pl) = p.sa else {
        return refuse(ctx, sa, NotifyType::INVALID_SYNTAX, "no SA payload".into());
    };
    if sa_pl
        .proposals
        .iter()
        .any(|q| q.protocol == ProtocolId::IKE)
    {
        return process_ike_rekey_request(ctx, sa, raw, msgid, sa_pl, &p);
    }
    let (Some(ni), Some(tsi), Some(tsr)) = (p.nonce, p.tsi, p.tsr) else {
        return refuse(
            ctx,
            sa,
            NotifyType::INVALID_SYNTAX,
            "Ni, TSi or TSr missing".into(),
        );
    };
    if !nonce_len_ok(ni) {
        return refuse(
            ctx,
            sa,
            NotifyType::INVALID_SYNTAX,
            "bad nonce length".into(),
        );
    }
    // REKEY_SA names the SA by the sender's inbound SPI (RFC 7296 1.3.3): our
    // outbound. A peer that names our inbound SPI instead is understood too; the
    // SPIs are random, so the two cannot be confused. Without REKEY_SA the request
    // is for an additional Child SA of this connection.
    let old = match p.rekey {
        None => None,
        Some(rekey) => {
            let found = rekey.spi.as_u32().and_then(|spi| {
                sa.children
                    .iter()
                    .find(|c| c.outbound_spi == spi)
                    .or_else(|| sa.children.iter().find(|c| c.inbound_spi == spi))
            });
            match found {
                Some(c) => Some(c.serial),
                None => {
                    return refuse(
                        ctx,
                        sa,
                        NotifyType::CHILD_SA_NOT_FOUND,
                        "REKEY_SA names no Child SA of ours".into(),
                    )
                }
            }
        }
    };
    let offered = wire_proposals(sa_pl);
    let chosen = select(&child_proposals(sa, true), &offered, p.ke.map(|k| k.group))
        .or_else(|_| select(&child_proposals(sa, false), &offered, None));
    let chosen = match chosen {
        Ok(c) => c,
        Err(e) => return refuse(ctx, sa, NotifyType::NO_PROPOSAL_CHOSEN, e.to_string()),
    };
    let group = chosen.ke_group();
    if let Some(g) = group {
        if p.ke.map(|k| k.group) != Some(g) {
            ctx.out.progress(
                &sa.conn.name,
                Some(sa.serial),
                Rc::LOG,
                format!("CREATE_CHILD_SA request: answering INVALID_KE_PAYLOAD suggesting {g}"),
            );
            return reply(ctx, sa, &[Payload::Notify(Notify::invalid_ke_payload(g))]);
        }
    }
    let Some(peer_spi) = proposal_spi(sa_pl, chosen.number)
        .and_then(|s| s.as_u32())
        .filter(|&s| s > 0xff)
    else {
        return refuse(
            ctx,
            sa,
            NotifyType::INVALID_SYNTAX,
            "no valid ESP SPI".into(),
        );
    };
    if let Some(why) = ah_through_nat(sa) {
        return refuse(ctx, sa, NotifyType::NO_PROPOSAL_CHOSEN, why);
    }
    let mode = sa.conn.mode;
    if p.transport != (mode == Mode::Transport) {
        return refuse(
            ctx,
            sa,
            NotifyType::NO_PROPOSAL_CHOSEN,
            "mode differs from the connection's".into(),
        );
    }
    let narrowed = match narrow(
        &ts_from_payload(tsi),
        &ts_from_payload(tsr),
        &sa.conn.remote_ts,
        &sa.conn.local_ts,
    ) {
        Ok(n) => n,
        Err(e) => return refuse(ctx, sa, NotifyType::TS_UNACCEPTABLE, e.to_string()),
    };
    let nr = ctx.random(ctx.cfg.nonce_len)?;
    let (our_ke, shared) = match (group, p.ke) {
        (Some(g), Some(ke)) => match KeAlg::lookup(g)?.respond(ctx.rng, &ke.data) {
            Ok((pubv, shared)) => (
                Some(KePayload {
                    group: g,
                    data: pubv,
                }),
                Some(shared),
            ),
            Err(e) => return refuse(ctx, sa, NotifyType::INVALID_SYNTAX, format!("bad KE: {e}")),
        },
        _ => (None, None),
    };
    let serial = ctx.serial_under(sa.serial);
    let spi = ctx.esp_spi()?;
    let mut resp = vec![
        Payload::Sa(sa_payload(&[chosen.to_wire()], Spi::from_u32(spi))),
        Payload::Nonce(nr.clone()),
    ];
    resp.extend(our_ke.map(Payload::Ke));
    resp.push(Payload::TsI(ts_payload(&narrowed.tsi)));
    resp.push(Payload::TsR(ts_payload(&narrowed.tsr)));
    if mode == Mode::Transport {
        resp.push(Payload::Notify(Notify::new(NotifyType::USE_TRANSPORT_MODE)));
    }
    let lowest = lowest_nonce(ni, &nr);
    install(
        ctx,
        sa,
        NewChild {
            serial,
            chosen: &chosen,
            inbound_spi: spi,
            outbound_spi: peer_spi,
            local_ts: narrowed.tsr,
            remote_ts: narrowed.tsi,
            mode,
            keying: Keying {
                ni: ni.clone(),
                nr,
                shared,
                we_initiated: false,
            },
            rekey_of: old,
        },
    )?;
    // The peer deletes the old one; remember the rekey in case ours of the same
    // Child SA is under way (RFC 7296 2.8.1).
    if let Some(old) = old {
        if sa
            .pending_create_child
            .as_ref()
            .is_some_and(|p| p.old == Some(old))
        {
            sa.peer_child_rekeys.push((old, serial, lowest.clone()));
        }
        if let Some(c) = sa.children.iter_mut().find(|c| c.serial == old) {
            c.rekeyed_by_peer = Some((serial, lowest));
            // Replaced: the peer deletes it; it never rekeys itself.
            c.rekey_at = None;
        }
    }
    // Answered once the kernel has the new Child SA (see `answer_or_hold`).
    answer_or_hold(
        ctx,
        sa,
        HeldResponse {
            msgid,
            request: raw.to_vec(),
            exchange: ExchangeType::CREATE_CHILD_SA,
            child: serial,
            accepted: resp,
            refused: Vec::new(),
        },
    )
}

/// Initiator: sends the CREATE_CHILD_SA request rekeying Child SA `old` (RFC 7296
/// 1.3.3). Returns false when that Child SA no longer exists.
pub(crate) fn send_rekey(ctx: &mut Ctx<'_>, sa: &mut IkeSa, old: SaSerial) -> Result<bool, Error> {
    let Some(child) = sa.children.iter().find(|c| c.serial == old).cloned() else {
        rekey_finished(
            ctx,
            sa,
            old,
            RekeyResult::Failed("the Child SA no longer exists".into()),
        );
        return Ok(false);
    };
    if let Some((new, _)) = child.rekeyed_by_peer {
        tracing::debug!(
            "\"{}\" {old}: not rekeying: the peer already replaced it with {new}",
            sa.conn.name
        );
        rekey_finished(ctx, sa, old, RekeyResult::Rekeyed(new));
        return Ok(false);
    }
    if let Some(new) = sa.children.iter().find(|c| {
        c.unconfirmed
            .as_ref()
            .is_some_and(|u| u.retire == Some(old))
    }) {
        tracing::debug!(
            "\"{}\" {old}: not rekeying: {} replaces it once the kernel has it",
            sa.conn.name,
            new.serial
        );
        let new = new.serial;
        rekey_finished(ctx, sa, old, RekeyResult::Rekeyed(new));
        return Ok(false);
    }
    let serial = ctx.serial_under(sa.serial);
    let pending = pending_request(ctx, sa, Some(old), serial, child.local_ts, child.remote_ts)?;
    send_child_request(ctx, sa, pending, Some(child.inbound_spi))?;
    Ok(true)
}

/// Initiator: sends the CREATE_CHILD_SA request for an additional Child SA
/// `serial` of the IKE SA's connection (RFC 7296 1.3.1), with the connection's
/// traffic selectors.
pub(crate) fn send_new_child(
    ctx: &mut Ctx<'_>,
    sa: &mut IkeSa,
    serial: SaSerial,
) -> Result<(), Error> {
    let (tsi, tsr) = (sa.conn.local_ts.clone(), sa.conn.remote_ts.clone());
    let pending = pending_request(ctx, sa, None, serial, tsi, tsr)?;
    send_child_request(ctx, sa, pending, None)
}

/// The state of a CREATE_CHILD_SA request for Child SA `serial`: the
/// connection's Child SA proposals, with a KE of the first group offered when
/// the connection has PFS.
fn pending_request(
    ctx: &mut Ctx<'_>,
    sa: &IkeSa,
    old: Option<SaSerial>,
    serial: SaSerial,
    tsi: Vec<TrafficSelector>,
    tsr: Vec<TrafficSelector>,
) -> Result<PendingCreateChild, Error> {
    let proposals = child_proposals(sa, sa.conn.pfs);
    let ke_group = proposals.initial_ke().unwrap_or(KeId::NONE);
    let ke = match ke_group {
        KeId::NONE => None,
        g => Some(KeAlg::lookup(g)?.initiate(ctx.rng)?),
    };
    Ok(PendingCreateChild {
        old,
        serial,
        inbound_spi: ctx.esp_spi()?,
        ni: ctx.random(ctx.cfg.nonce_len)?,
        ke,
        ke_group,
        proposals,
        tsi,
        tsr,
        ke_retried: false,
    })
}

/// Sends the CREATE_CHILD_SA request of `pending`; `rekey_spi` is the inbound SPI
/// of the Child SA a rekey replaces (REKEY_SA names it).
fn send_child_request(
    ctx: &mut Ctx<'_>,
    sa: &mut IkeSa,
    pending: PendingCreateChild,
    rekey_spi: Option<u32>,
) -> Result<(), Error> {
    let mut payloads = Vec::new();
    if let Some(spi) = rekey_spi {
        payloads.push(Payload::Notify(Notify::rekey_sa(child_protocol(sa), spi)));
    }
    if sa.conn.mode == Mode::Transport {
        payloads.push(Payload::Notify(Notify::new(NotifyType::USE_TRANSPORT_MODE)));
    }
    payloads.push(Payload::Sa(sa_payload(
        &pending.proposals.offer(),
        Spi::from_u32(pending.inbound_spi),
    )));
    payloads.push(Payload::Nonce(pending.ni.clone()));
    if let Some(ke) = &pending.ke {
        payloads.push(Payload::Ke(KePayload {
            group: pending.ke_group,
            data: ke.public_value().to_vec(),
        }));
    }
    payloads.push(Payload::TsI(ts_payload(&pending.tsi)));
    payloads.push(Payload::TsR(ts_payload(&pending.tsr)));
    ctx.out
        .stats
        .sent(ExchangeType::CREATE_CHILD_SA, false, &payloads);
    let msg = sa.seal(
        ctx.rng,
        ExchangeType::CREATE_CHILD_SA,
        false,
        sa.next_msgid,
        &payloads,
    )?;
    let spis = format!("{{{} <{:#010x}}}", child_protocol(sa), pending.inbound_spi);
    let (shown, text, kind) = match pending.old {
        Some(old) => (
            old,
            format!(
                "initiating rekey to replace Child SA {old} using {}; new Child SA {} {spis}",
                sa.serial, pending.serial
            ),
            RequestKind::RekeyChild(old),
        ),
        None => (
            pending.serial,
            format!("initiating Child SA using IKE SA {} {spis}", sa.serial),
            RequestKind::NewChild(pending.serial),
        ),
    };
    ctx.out.progress(&sa.conn.name, Some(shown), Rc::LOG, text);
    sa.pending_create_child = Some(Box::new(pending));
    ctx.start_request(sa, ExchangeType::CREATE_CHILD_SA, kind, msg);
    Ok(())
}

/// Why a CREATE_CHILD_SA request of ours for a Child SA made none.
enum Failure {
    /// The peer answered with this error notify.
    Refused(NotifyType),
    /// The answer is unusable: why, and the notify that names the problem.
    Bad(NotifyType, String),
}

/// Initiator: the CREATE_CHILD_SA response to our rekey or additional Child SA.
/// On success the new Child SA is installed; a rekey then uninstalls the old one
/// and queues its Delete.
pub(crate) fn process_child_response(
    ctx: &mut Ctx<'_>,
    sa: &mut IkeSa,
    payloads: &[Payload],
) -> Result<(), Error> {
    let Some(mut pending) = sa.pending_create_child.take() else {
        return Ok(());
    };
    let fail = |ctx: &mut Ctx<'_>, sa: &mut IkeSa, pending: &PendingCreateChild, f: Failure| {
        match pending.old {
            Some(old) => match f {
                Failure::Refused(n) => {
                    child_rekey_failed(ctx, sa, old, Some(n), format!("peer answered {n}"));
                }
                Failure::Bad(_, why) => child_rekey_failed(ctx, sa, old, None, why),
            },
            None => new_child_failed(ctx, sa, pending, f),
        }
        Ok(())
    };
    if let Some(n) = find_notify(payloads, NotifyType::INVALID_KE_PAYLOAD) {
        let retry = n
            .wanted_ke()
            .and_then(|g| pending.proposals.retry_ke(pending.ke_group, g).ok());
        let Some(g) = retry.filter(|_| !pending.ke_retried) else {
            let f = Failure::Refused(NotifyType::INVALID_KE_PAYLOAD);
            return fail(ctx, sa, &pending, f);
        };
        let rekey_spi = match pending.old {
            None => None,
            Some(old) => {
                let Some(spi) = sa
                    .children
                    .iter()
                    .find(|c| c.serial == old)
                    .map(|c| c.inbound_spi)
                else {
                    rekey_finished(
                        ctx,
                        sa,
                        old,
                        RekeyResult::Failed("the Child SA no longer exists".into()),
                    );
                    return Ok(());
                };
                Some(spi)
            }
        };
        pending.ke_group = g;
        pending.ke = Some(KeAlg::lookup(g)?.initiate(ctx.rng)?);
        pending.ke_retried = true;
        return send_child_request(ctx, sa, *pending, rekey_spi);
    }
    if let Some(n) = error_notify(payloads) {
        return fail(ctx, sa, &pending, Failure::Refused(n));
    }
    let p = collect(payloads);
    let (Some(sa_pl), Some(nr), Some(tsi), Some(tsr)) = (p.sa, p.nonce, p.tsi, p.tsr) else {
        let f = Failure::Bad(
            NotifyType::INVALID_SYNTAX,
            "response lacks SA, Nr, TSi or TSr".into(),
        );
        return fail(ctx, sa, &pending, f);
    };
    let chosen = match check_answer(&pending.proposals, &wire_proposals(sa_pl)) {
        Ok(c) => c,
        Err(e) => {
            let f = Failure::Bad(NotifyType::NO_PROPOSAL_CHOSEN, e.to_string());
            return fail(ctx, sa, &pending, f);
        }
    };
    let shared = match (chosen.ke_group(), &pending.ke, p.ke) {
        (None, _, _) => None,
        (Some(g), Some(ours), Some(theirs)) if g == pending.ke_group && theirs.group == g => {
            match ours.complete(&theirs.data) {
                Ok(s) => Some(s),
                Err(e) => {
                    let f =
                        Failure::Bad(NotifyType::INVALID_SYNTAX, format!("bad KE payload: {e}"));
                    return fail(ctx, sa, &pending, f);
                }
            }
        }
        _ => {
            let f = Failure::Bad(
                NotifyType::INVALID_SYNTAX,
                "KE payload missing or of the wrong group".into(),
            );
            return fail(ctx, sa, &pending, f);
        }
    };
    let Some(peer_spi) = proposal_spi(sa_pl, chosen.number)
        .and_then(|s| s.as_u32())
        .filter(|&s| s > 0xff)
    else {
        let f = Failure::Bad(
            NotifyType::INVALID_SYNTAX,
            "no valid ESP SPI in the answer".into(),
        );
        return fail(ctx, sa, &pending, f);
    };
    let (got_tsi, got_tsr) = (ts_from_payload(tsi), ts_from_payload(tsr));
    if let Err(e) = check_narrowed(&pending.tsi, &pending.tsr, &got_tsi, &got_tsr) {
        let f = Failure::Bad(NotifyType::TS_UNACCEPTABLE, e.to_string());
        return fail(ctx, sa, &pending, f);
    }
    if p.transport != (sa.conn.mode == Mode::Transport) {
        let f = Failure::Bad(
            NotifyType::NO_PROPOSAL_CHOSEN,
            "responder answered in the other mode".into(),
        );
        return fail(ctx, sa, &pending, f);
    }
    if let Some(old) = pending.old {
        if simultaneous_rekey_lost(ctx, sa, &pending, old, nr) {
            return Ok(());
        }
    }
    let mode = sa.conn.mode;
    install(
        ctx,
        sa,
        NewChild {
            serial: pending.serial,
            chosen: &chosen,
            inbound_spi: pending.inbound_spi,
            outbound_spi: peer_spi,
            local_ts: got_tsi,
            remote_ts: got_tsr,
            mode,
            keying: Keying {
                ni: pending.ni.clone(),
                nr: nr.clone(),
                shared,
                we_initiated: true,
            },
            rekey_of: pending.old,
        },
    )?;
    let Some(old) = pending.old else {
        return Ok(());
    };
    // With confirmed installs the old Child SA goes once the new one is in.
    match sa
        .children
        .iter_mut()
        .find(|c| c.serial == pending.serial)
        .and_then(|c| c.unconfirmed.as_mut())
    {
        Some(u) => u.retire = Some(old),
        None => retire(ctx, sa, old),
    }
    rekey_finished(ctx, sa, old, RekeyResult::Rekeyed(pending.serial));
    Ok(())
}

/// RFC 7296 2.8.1: if the peer rekeyed Child SA `old` too while our rekey of it
/// was outstanding, the new Child SA made with the lowest of the four nonces is
/// redundant and deleted by its creator; the creator of the other one deletes the
/// old Child SA. True when ours is the redundant one (its Delete is queued and
/// the rekey reported done by the peer's).
fn simultaneous_rekey_lost(
    ctx: &mut Ctx<'_>,
    sa: &mut IkeSa,
    pending: &PendingCreateChild,
    old: SaSerial,
    nr: &[u8],
) -> bool {
    let peer_rekey = sa
        .peer_child_rekeys
        .iter()
        .find(|(o, _, _)| *o == old)
        .map(|(_, new, lowest)| (*new, lowest.clone()));
    sa.peer_child_rekeys.retain(|(o, _, _)| *o != old);
    let Some((theirs, their_lowest)) = peer_rekey else {
        return false;
    };
    let name = sa.conn.name.clone();
    if lowest_nonce(&pending.ni, nr) < their_lowest {
        ctx.out.progress(
            &name,
            Some(pending.serial),
            Rc::LOG,
            format!(
                "simultaneous rekey of Child SA {old}: the peer's {theirs} stays; deleting our redundant Child SA {} (it has the lowest nonce)",
                pending.serial
            ),
        );
        sa.queue
            .push_back(RequestKind::DeleteChild(vec![pending.inbound_spi]));
        rekey_finished(ctx, sa, old, RekeyResult::Rekeyed(theirs));
        return true;
    }
    ctx.out.progress(
        &name,
        Some(pending.serial),
        Rc::LOG,
        format!(
            "simultaneous rekey of Child SA {old}: ours stays; the peer deletes its redundant Child SA {theirs}"
        ),
    );
    false
}

/// An additional Child SA we asked for was not made: reported failed with the
/// notify (the IKE SA stays). When the peer did answer with a Child SA that we
/// cannot use, it is deleted with the peer.
fn new_child_failed(ctx: &mut Ctx<'_>, sa: &mut IkeSa, pending: &PendingCreateChild, f: Failure) {
    let (n, text) = match f {
        Failure::Refused(n) => (
            n,
            format!("CREATE_CHILD_SA response rejected Child SA with {n}"),
        ),
        Failure::Bad(n, why) => {
            sa.queue
                .push_back(RequestKind::DeleteChild(vec![pending.inbound_spi]));
            (
                n,
                format!("CREATE_CHILD_SA response unusable ({why}); deleting the Child SA with the peer"),
            )
        }
    };
    ctx.out.progress(
        &sa.conn.name,
        Some(pending.serial),
        Rc::notification(n),
        format!("{text}; IKE SA {} stays up", sa.serial),
    );
    ctx.out.events.push_back(Event::ChildSaFailed {
        connection: sa.conn.name.to_string(),
        child: pending.serial,
        notify: n,
    });
}

/// Reports the end of a rekey we started.
fn rekey_finished(ctx: &mut Ctx<'_>, sa: &IkeSa, old: SaSerial, result: RekeyResult) {
    ctx.out.events.push_back(Event::RekeyFinished {
        connection: sa.conn.name.to_string(),
        old,
        result,
    });
}

/// A rekey of Child SA `old` failed: it stays up until its lifetime ends, and a
/// retry is scheduled within what is left of it (unless `--dontrekey`).
fn child_rekey_failed(
    ctx: &mut Ctx<'_>,
    sa: &mut IkeSa,
    old: SaSerial,
    notify: Option<NotifyType>,
    why: String,
) {
    let (now, rekey) = (ctx.now, sa.conn.rekey);
    let retry = sa
        .children
        .iter_mut()
        .find(|c| c.serial == old)
        .and_then(|c| {
            c.rekey_failures = c.rekey_failures.saturating_add(1);
            c.rekey_at = if rekey {
                retry_time(now, c.expires_at, c.rekey_failures)
            } else {
                None
            };
            c.rekey_at
        });
    let then = match retry {
        Some(t) => format!(
            "; retrying in {:.1} seconds",
            t.saturating_duration_since(now).as_secs_f64()
        ),
        None => "; it stays until it expires".to_owned(),
    };
    ctx.out.progress(
        &sa.conn.name,
        Some(old),
        Rc::LOG_SERIOUS,
        format!("rekey of Child SA {old} failed: {why}{then}"),
    );
    let result = match notify {
        Some(n) => RekeyResult::Refused(n),
        None => RekeyResult::Failed(why),
    };
    rekey_finished(ctx, sa, old, result);
}

/// The IKE SA that replaces `old` after a rekey (RFC 7296 2.18): keys from
/// `SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr)`, the Child SAs moved over. The
/// end that sent the rekey request is the new SA's original initiator.
#[allow(clippy::too_many_arguments)]
fn successor(
    ctx: &mut Ctx<'_>,
    old: &mut IkeSa,
    role: Role,
    spi_i: [u8; 8],
    spi_r: [u8; 8],
    ni: &[u8],
    nr: &[u8],
    chosen: Chosen,
    shared: &[u8],
) -> Result<IkeSa, Error> {
    let group = chosen.ke_group().ok_or(Error::NoKeGroup)?;
    let suite = super::ike_sa_init::suite_of(&chosen)?;
    let old_prf = old.suite.as_ref().ok_or(Error::NoKeys)?.prf;
    let old_keys = old.keys.as_ref().ok_or(Error::NoKeys)?;
    let seed = skeyseed_rekey(old_prf, old_keys.sk_d(), &[shared], ni, nr)?;
    let keys = IkeSaKeys::derive(&suite, &seed, ni, nr, &spi_i, &spi_r)?;
    let (tx, rx) = keys.sk_ciphers(&suite, role)?;
    let mut sa = IkeSa::new(
        ctx.serial_under(old.serial),
        old.conn.clone(),
        role,
        IkeState::Established,
        spi_i,
        spi_r,
        old.local,
        old.remote,
    );
    sa.init_remote = old.init_remote;
    sa.ke_group = group;
    sa.chosen = Some(chosen);
    sa.suite = Some(suite);
    sa.keys = Some(keys);
    sa.tx = Some(Box::new(tx));
    sa.rx = Some(Box::new(rx));
    sa.nat_local = old.nat_local;
    sa.nat_remote = old.nat_remote;
    sa.peer_fragmentation = old.peer_fragmentation;
    sa.fragment_size = old.fragment_size;
    sa.peer_id = old.peer_id.clone();
    sa.children = std::mem::take(&mut old.children);
    super::ike_auth::start_lifetime(ctx, &mut sa);
    let what = if role == Role::Initiator {
        "initiator"
    } else {
        "responder"
    };
    ctx.out.progress(
        &sa.conn.name,
        Some(sa.serial),
        Rc::LOG,
        format!(
            "{what} rekeyed IKE SA {} {}",
            old.serial,
            super::ike_sa_init::suite_desc(&suite, group)
        ),
    );
    ctx.out.events.push_back(Event::IkeSaEstablished {
        connection: sa.conn.name.to_string(),
        ike: sa.serial,
        replaces: Some(old.serial),
    });
    old.replaced_by = Some(sa.serial);
    old.expires = None;
    old.rekey_at = None;
    old.next_dpd = None;
    old.next_keepalive = None;
    Ok(sa)
}

/// Responder: a CREATE_CHILD_SA request rekeying the IKE SA.
fn process_ike_rekey_request(
    ctx: &mut Ctx<'_>,
    sa: &mut IkeSa,
    raw: &[u8],
    msgid: u32,
    sa_pl: &crate::codec::v2::SecurityAssociation,
    p: &CreatePayloads<'_>,
) -> Result<(), Error> {
    let reply = |ctx: &mut Ctx<'_>, sa: &mut IkeSa, inner: &[Payload]| -> Result<(), Error> {
        ctx.out
            .stats
            .sent(ExchangeType::CREATE_CHILD_SA, true, inner);
        let resp = sa.seal(ctx.rng, ExchangeType::CREATE_CHILD_SA, true, msgid, inner)?;
        ctx.respond(sa, raw, msgid, resp);
        Ok(())
    };
    let refuse = |ctx: &mut Ctx<'_>, sa: &mut IkeSa, n: NotifyType, why: String| {
        ctx.out.progress(
            &sa.conn.name,
            Some(sa.serial),
            Rc::LOG_SERIOUS,
            format!("IKE SA rekey request refused with {n}: {why}"),
        );
        reply(ctx, sa, &[Payload::Notify(Notify::new(n))])
    };
    if sa.replaced_by.is_some() {
        return refuse(
            ctx,
            sa,
            NotifyType::TEMPORARY_FAILURE,
            "the IKE SA is already rekeyed".into(),
        );
    }
    let (Some(ni), Some(ke)) = (p.nonce, p.ke) else {
        return refuse(
            ctx,
            sa,
            NotifyType::INVALID_SYNTAX,
            "Ni or KE missing".into(),
        );
    };
    if !nonce_len_ok(ni) {
        return refuse(
            ctx,
            sa,
            NotifyType::INVALID_SYNTAX,
            "bad nonce length".into(),
        );
    }
    let chosen = match select(
        &sa.conn.ike_proposals,
        &wire_proposals(sa_pl),
        Some(ke.group),
    ) {
        Ok(c) => c,
        Err(e) => return refuse(ctx, sa, NotifyType::NO_PROPOSAL_CHOSEN, e.to_string()),
    };
    let Some(group) = chosen.ke_group() else {
        return refuse(
            ctx,
            sa,
            NotifyType::NO_PROPOSAL_CHOSEN,
            "no key exchange chosen".into(),
        );
    };
    if ke.group != group {
        return reply(
            ctx,
            sa,
            &[Payload::Notify(Notify::invalid_ke_payload(group))],
        );
    }
    let Some(spi_i) = proposal_spi(sa_pl, chosen.number)
        .and_then(|s| s.as_ike())
        .filter(|s| *s != [0; 8])
    else {
        return refuse(
            ctx,
            sa,
            NotifyType::INVALID_SYNTAX,
            "no valid 8-byte IKE SPI".into(),
        );
    };
    let (our_ke, shared) = match KeAlg::lookup(group)?.respond(ctx.rng, &ke.data) {
        Ok(v) => v,
        Err(e) => return refuse(ctx, sa, NotifyType::INVALID_SYNTAX, format!("bad KE: {e}")),
    };
    let spi_r = ctx.ike_spi()?;
    let nr = ctx.random(ctx.cfg.nonce_len)?;
    reply(
        ctx,
        sa,
        &[
            Payload::Sa(sa_payload(&[chosen.to_wire()], Spi::from_ike(spi_r))),
            Payload::Nonce(nr.clone()),
            Payload::Ke(KePayload {
                group,
                data: our_ke,
            }),
        ],
    )?;
    let mut new = successor(
        ctx,
        sa,
        Role::Responder,
        spi_i,
        spi_r,
        ni,
        &nr,
        chosen,
        &shared,
    )?;
    // The initiator of the rekey deletes this SA; if it never does, we do.
    sa.expires = Some(super::sa::later(ctx.now, sa.conn.retransmit.timeout));
    sa.rekeyed_by_peer = Some((new.serial, lowest_nonce(ni, &nr)));
    if sa.pending_ike_rekey.is_some() {
        // Our own rekey of this SA is under way (RFC 7296 2.8.1): the Child SAs
        // stay until its answer says which new IKE SA survives.
        sa.children = std::mem::take(&mut new.children);
    }
    sa.spawned = Some(Box::new(new));
    Ok(())
}

/// Initiator: sends the CREATE_CHILD_SA request rekeying this IKE SA.
pub(crate) fn send_ike_rekey(
    ctx: &mut Ctx<'_>,
    sa: &mut IkeSa,
    retry_group: Option<KeId>,
) -> Result<(), Error> {
    let group = match retry_group {
        Some(g) => g,
        None if sa.conn.ike_proposals.accepts_ke(sa.ke_group) => sa.ke_group,
        None => sa.conn.ike_proposals.initial_ke().ok_or(Error::NoKeGroup)?,
    };
    let ke = KeAlg::lookup(group)?.initiate(ctx.rng)?;
    let spi_i = match &sa.pending_ike_rekey {
        Some(p) => p.spi_i,
        None => ctx.ike_spi()?,
    };
    let ni = ctx.random(ctx.cfg.nonce_len)?;
    // Offer our current suite first so an unchanged SA is the likely outcome.
    let mut offer = sa.conn.ike_proposals.offer();
    if let Some(i) = sa
        .chosen
        .as_ref()
        .and_then(|c| offer.iter().position(|o| o.number == c.number))
    {
        offer.swap(0, i);
    }
    let payloads = vec![
        Payload::Sa(sa_payload(&offer, Spi::from_ike(spi_i))),
        Payload::Nonce(ni.clone()),
        Payload::Ke(KePayload {
            group,
            data: ke.public_value().to_vec(),
        }),
    ];
    ctx.out
        .stats
        .sent(ExchangeType::CREATE_CHILD_SA, false, &payloads);
    let msg = sa.seal(
        ctx.rng,
        ExchangeType::CREATE_CHILD_SA,
        false,
        sa.next_msgid,
        &payloads,
    )?;
    ctx.out.progress(
        &sa.conn.name,
        Some(sa.serial),
        Rc::LOG,
        format!("initiating rekey to replace IKE SA {}", sa.serial),
    );
    sa.pending_ike_rekey = Some(Box::new(PendingIkeRekey {
        spi_i,
        ni,
        ke,
        group,
        retried: retry_group.is_some(),
    }));
    ctx.start_request(
        sa,
        ExchangeType::CREATE_CHILD_SA,
        RequestKind::RekeyIke,
        msg,
    );
    Ok(())
}

/// Initiator: the response to our IKE SA rekey. A failed rekey leaves the IKE SA
/// as it is, with a retry scheduled within its remaining lifetime.
pub(crate) fn process_ike_rekey_response(
    ctx: &mut Ctx<'_>,
    sa: &mut IkeSa,
    payloads: &[Payload],
) -> Result<(), Error> {
    let Some(pending) = sa.pending_ike_rekey.take() else {
        return Ok(());
    };
    let fail = |ctx: &mut Ctx<'_>, sa: &mut IkeSa, notify: Option<NotifyType>, why: String| {
        sa.rekey_failures = sa.rekey_failures.saturating_add(1);
        sa.rekey_at = if sa.conn.rekey {
            retry_time(ctx.now, sa.expires, sa.rekey_failures)
        } else {
            None
        };
        let then = match sa.rekey_at {
            Some(t) => format!(
                "; retrying in {:.1} seconds",
                t.saturating_duration_since(ctx.now).as_secs_f64()
            ),
            None => "; it stays until it expires".to_owned(),
        };
        ctx.out.progress(
            &sa.conn.name,
            Some(sa.serial),
            Rc::LOG_SERIOUS,
            format!("rekey of IKE SA {} failed: {why}{then}", sa.serial),
        );
        let result = match notify {
            Some(n) => RekeyResult::Refused(n),
            None => RekeyResult::Failed(why),
        };
        let old = sa.serial;
        rekey_finished(ctx, sa, old, result);
        Ok(())
    };
    if let Some(n) = find_notify(payloads, NotifyType::INVALID_KE_PAYLOAD) {
        if let (Some(g), false) = (n.wanted_ke(), pending.retried) {
            if sa.conn.ike_proposals.retry_ke(pending.group, g).is_ok() {
                sa.pending_ike_rekey = Some(pending);
                send_ike_rekey(ctx, sa, Some(g))?;
                return Ok(());
            }
        }
        return fail(
            ctx,
            sa,
            Some(NotifyType::INVALID_KE_PAYLOAD),
            "peer answered INVALID_KE_PAYLOAD".into(),
        );
    }
    if let Some(n) = error_notify(payloads) {
        return fail(ctx, sa, Some(n), format!("peer answered {n}"));
    }
    let p = collect(payloads);
    let (Some(sa_pl), Some(nr), Some(ke)) = (p.sa, p.nonce, p.ke) else {
        return fail(ctx, sa, None, "response lacks SA, Nr or KE".into());
    };
    let chosen = match check_answer(&sa.conn.ike_proposals, &wire_proposals(sa_pl)) {
        Ok(c) => c,
        Err(e) => return fail(ctx, sa, None, e.to_string()),
    };
    if chosen.ke_group() != Some(pending.group) || ke.group != pending.group {
        return fail(ctx, sa, None, "KE payload of the wrong group".into());
    }
    let Some(spi_r) = proposal_spi(sa_pl, chosen.number)
        .and_then(|s| s.as_ike())
        .filter(|s| *s != [0; 8])
    else {
        return fail(
            ctx,
            sa,
            None,
            "no valid 8-byte IKE SPI in the answer".into(),
        );
    };
    let shared = match pending.ke.complete(&ke.data) {
        Ok(s) => s,
        Err(e) => return fail(ctx, sa, None, format!("bad KE payload: {e}")),
    };
    let peer_rekey = sa.rekeyed_by_peer.clone();
    let mut new = successor(
        ctx,
        sa,
        Role::Initiator,
        pending.spi_i,
        spi_r,
        &pending.ni,
        nr,
        chosen,
        &shared,
    )?;
    // RFC 7296 2.8.1: the peer rekeyed this IKE SA too. The new IKE SA made with
    // the lowest of the four nonces is deleted by its creator; the other one gets
    // the Child SAs, and its creator deletes the old IKE SA.
    if let Some((theirs, their_lowest)) = peer_rekey {
        if lowest_nonce(&pending.ni, nr) < their_lowest {
            ctx.out.progress(
                &sa.conn.name,
                Some(new.serial),
                Rc::LOG,
                format!(
                    "simultaneous rekey of IKE SA {}: the peer's {theirs} stays; deleting our redundant IKE SA {} (it has the lowest nonce)",
                    sa.serial, new.serial
                ),
            );
            sa.replaced_by = Some(theirs);
            // The peer deletes the old IKE SA; if it never does, we do.
            sa.expires = Some(super::sa::later(ctx.now, sa.conn.retransmit.timeout));
            sa.children = std::mem::take(&mut new.children);
            sa.hand_children_to = Some(theirs);
            super::informational::send_request(ctx, &mut new, RequestKind::DeleteIke)?;
            sa.spawned = Some(Box::new(new));
            let old = sa.serial;
            rekey_finished(ctx, sa, old, RekeyResult::Rekeyed(theirs));
            return Ok(());
        }
        ctx.out.progress(
            &sa.conn.name,
            Some(new.serial),
            Rc::LOG,
            format!(
                "simultaneous rekey of IKE SA {}: ours stays; the peer deletes its redundant IKE SA {theirs}",
                sa.serial
            ),
        );
        new.won_over = Some(theirs);
    }
    // Child SA rekeys that came due while this rekey was outstanding waited in the
    // old IKE SA's queue, their timers spent: make them due again on the new IKE
    // SA, which now holds the Child SAs, instead of dropping them with the queue.
    for r in &sa.queue {
        if let RequestKind::RekeyChild(child) = r {
            if let Some(c) = new.children.iter_mut().find(|c| c.serial == *child) {
                c.rekey_at = Some(ctx.now);
            }
        }
    }
    let (old, new_serial) = (sa.serial, new.serial);
    sa.spawned = Some(Box::new(new));
    sa.queue.clear();
    sa.queue.push_back(RequestKind::DeleteIke);
    rekey_finished(ctx, sa, old, RekeyResult::Rekeyed(new_serial));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::testutil::Pair;
    use super::super::{Event, KernelRequest};
    use crate::codec::v2::Payload;
    use crate::crypto::ikev2::prf_plus;
    use crate::registry::ExchangeType;

    fn install(events: &[Event]) -> super::ChildSaInstall {
        events
            .iter()
            .find_map(|e| match e {
                Event::Kernel(KernelRequest::InstallChildSa(i)) => Some((**i).clone()),
                _ => None,
            })
            .unwrap()
    }

    #[test]
    fn keymat_split_follows_rfc7296_2_17() {
        let mut p = Pair::new("aes256-sha2_256");
        let w = p.wcfg.0.clone();
        p.west.initiate(w, p.now).unwrap();
        // IKE_SA_INIT both ways by hand: the nonces are read before IKE_AUTH ends
        // west's handshake state.
        let t = p.west.poll_transmit().unwrap();
        p.east
            .handle(p.now, t.remote, t.local, &t.contents, &p.ecfg);
        let t = p.east.poll_transmit().unwrap();
        p.west
            .handle(p.now, t.remote, t.local, &t.contents, &p.wcfg);
        let sa = p.west.sas.values().next().unwrap();
        let (ni, nr) = (sa.hs().ni.to_vec(), sa.hs().nr.to_vec());
        p.pump();
        let sa = p.west.sas.values().next().unwrap();
        let suite = sa.suite.unwrap();
        let keys = sa.keys.as_ref().unwrap();
        // KEYMAT = prf+(SK_d, Ni | Nr); taken as encr(i->r) | integ(i->r) |
        // encr(r->i) | integ(r->i).
        let mut km = vec![0u8; 2 * (32 + 32)];
        prf_plus(&suite.prf.key(keys.sk_d()).unwrap(), &[&ni, &nr], &mut km).unwrap();
        let w = install(&p.west_events);
        let e = install(&p.east_events);
        assert_eq!(&*w.outbound.encr_key, &km[0..32]);
        assert_eq!(&*w.outbound.integ_key, &km[32..64]);
        assert_eq!(&*w.inbound.encr_key, &km[64..96]);
        assert_eq!(&*w.inbound.integ_key, &km[96..128]);
        assert_eq!(&*e.inbound.encr_key, &km[0..32]);
        assert_eq!(&*e.outbound.integ_key, &km[96..128]);
    }

    #[test]
    fn additional_child_sa_keyed_from_the_exchange_nonces() {
        let mut p = Pair::established("aes_gcm256");
        let serial = *p.west.sas.keys().next().unwrap();
        let sa = p.west.sas.get_mut(&serial).unwrap();
        let msgid = sa.next_msgid;
        let offer = super::super::sa::sa_payload(
            &super::super::sa::set_without_ke(&sa.conn.esp_proposals).offer(),
            crate::codec::Spi::from_u32(0x1234_5678),
        );
        let ni = vec![7u8; 32];
        let ts = super::super::sa::ts_payload(&sa.conn.local_ts);
        let tsr = super::super::sa::ts_payload(&sa.conn.remote_ts);
        let req = sa
            .seal(
                p.west.rng.as_ref(),
                ExchangeType::CREATE_CHILD_SA,
                false,
                msgid,
                &[
                    Payload::Sa(offer),
                    Payload::Nonce(ni.clone()),
                    Payload::TsI(ts),
                    Payload::TsR(tsr),
                ],
            )
            .unwrap();
        let (local, remote) = (sa.local, sa.remote);
        let [req] = &req[..] else {
            panic!("fragmented")
        };
        p.east.handle(p.now, remote, local, req, &p.ecfg);
        let t = p.east.poll_transmit().unwrap();
        let sa = p.west.sas.get_mut(&serial).unwrap();
        let hdr = crate::codec::v2::Header::decode(&t.contents)
            .unwrap()
            .header;
        let payloads = sa.open(&hdr, &t.contents).unwrap().unwrap();
        let nr = payloads
            .iter()
            .find_map(|p| match p {
                Payload::Nonce(n) => Some(n.clone()),
                _ => None,
            })
            .expect("Nr in the response");
        // KEYMAT = prf+(SK_d, Ni | Nr) with this exchange's nonces; west sent the
        // request, so the first 36 bytes key west -> east.
        let suite = sa.suite.unwrap();
        let mut km = vec![0u8; 72];
        let sk_d = sa.keys.as_ref().unwrap().sk_d();
        prf_plus(&suite.prf.key(sk_d).unwrap(), &[&ni, &nr], &mut km).unwrap();
        let mut east_events = Vec::new();
        while let Some(e) = p.east.poll_event() {
            east_events.push(e);
        }
        let added = install(&east_events);
        assert_eq!(added.outbound.spi, 0x1234_5678);
        assert_eq!(&*added.inbound.encr_key, &km[..36]);
        assert_eq!(&*added.outbound.encr_key, &km[36..]);
        assert_eq!(p.east.status()[0].children.len(), 2);
        // A retransmission of the same request gets the cached answer.
        p.east.handle(p.now, remote, local, req, &p.ecfg);
        assert_eq!(p.east.poll_transmit().unwrap().contents, t.contents);
        assert_eq!(p.east.status()[0].children.len(), 2);
    }
}
