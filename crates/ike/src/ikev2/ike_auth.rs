//! IKE_AUTH (RFC 7296 1.2, 2.15) with pre-shared keys, carrying the first Child SA
//! (ESP or AH, tunnel or transport, traffic selectors narrowed per 2.9), or none
//! for a connection without a Child SA policy (RFC 6023 childless IKE SA).

use std::sync::Arc;

use crate::codec::v2::{Authentication, Identification, Notify, Payload};
use crate::codec::Spi;
use crate::crypto::ikev2::{maced_id, psk_auth, verify_psk_auth, Role};
use crate::crypto::SecretBytes;
use crate::proposal::{check_answer, select};
use crate::registry::{AuthMethod, ExchangeType, NotifyType};
use crate::ts::{check_narrowed, narrow};

use super::config::{ConfigSource, Connection, Identity, Mode};
use super::create_child_sa::{answer_or_hold, install, Keying, NewChild};
use super::output::{Event, Rc, SaEnd};
use super::sa::{
    ah_through_nat, error_notify, find_notify, later, payload_list, proposal_spi, rekey_time,
    sa_payload, set_without_ke, strip_ke, ts_from_payload, ts_payload, wire_proposals, Ctx,
    HeldResponse, IkeSa, IkeState, PendingChild, RequestKind,
};
use super::Error;

/// AUTH data for our side: `prf(prf(PSK, "Key Pad for IKEv2"), our first message |
/// peer nonce | prf(SK_p, IDx'))`.
fn our_auth(sa: &IkeSa, psk: &[u8], id: &Identification) -> Result<Vec<u8>, Error> {
    let suite = sa.suite.as_ref().ok_or(Error::NoKeys)?;
    let keys = sa.keys.as_ref().ok_or(Error::NoKeys)?;
    let (message, peer_nonce, sk_p) = match sa.role {
        Role::Initiator => (sa.init_request(), sa.nr(), keys.sk_pi()),
        Role::Responder => (sa.init_response(), sa.ni(), keys.sk_pr()),
    };
    let mac = maced_id(suite.prf, sk_p, &id.body_bytes())?;
    Ok(psk_auth(suite.prf, psk, message, peer_nonce, &mac)?.to_vec())
}

/// Checks the peer's AUTH payload against the PSK.
fn verify_peer_auth(
    sa: &IkeSa,
    psk: &[u8],
    id: &Identification,
    auth: &Authentication,
) -> Result<bool, Error> {
    if auth.method != AuthMethod::SHARED_KEY_MIC {
        return Ok(false);
    }
    let suite = sa.suite.as_ref().ok_or(Error::NoKeys)?;
    let keys = sa.keys.as_ref().ok_or(Error::NoKeys)?;
    let (message, our_nonce, sk_p) = match sa.role {
        Role::Initiator => (sa.init_response(), sa.ni(), keys.sk_pr()),
        Role::Responder => (sa.init_request(), sa.nr(), keys.sk_pi()),
    };
    let mac = maced_id(suite.prf, sk_p, &id.body_bytes())?;
    Ok(verify_psk_auth(suite.prf, psk, message, our_nonce, &mac, &auth.data).is_ok())
}

/// The identity we expect the peer to prove, for the PSK lookup before its ID is known.
fn expected_peer(conn: &Connection) -> Identity {
    conn.remote_id
        .clone()
        .unwrap_or_else(|| Identity::from_addr(conn.remote_addr))
}

/// Initiator: sends IKE_AUTH with IDi, AUTH and the first Child SA. Returns the failure
/// when no PSK is configured.
pub(crate) fn send_request(
    ctx: &mut Ctx<'_>,
    config: &dyn ConfigSource,
    sa: &mut IkeSa,
) -> Result<Option<SaEnd>, Error> {
    let conn = sa.conn.clone();
    let peer = expected_peer(&conn);
    let Some(psk) = config.psk(&conn, &conn.local_id, &peer) else {
        ctx.out.progress(
            &conn.name,
            Some(sa.serial),
            Rc::LOG_SERIOUS,
            format!(
                "no pre-shared key found for {} and {}; add one to ipsec.secrets",
                conn.local_id, peer
            ),
        );
        return Ok(Some(SaEnd::Error("no pre-shared key".to_owned())));
    };
    let idi = conn.local_id.to_payload();
    let auth = our_auth(sa, &psk, &idi)?;
    sa.hs_mut().psk = Some(psk);
    let mut payloads = vec![Payload::IdI(idi)];
    if conn.initial_contact {
        payloads.push(Payload::Notify(Notify::new(NotifyType::INITIAL_CONTACT)));
    }
    payloads.push(Payload::Auth(Authentication {
        method: AuthMethod::SHARED_KEY_MIC,
        data: auth,
    }));
    if conn.ike_only {
        return send_childless_request(ctx, sa, payloads);
    }
    let child_serial = ctx.serial_under(sa.serial);
    let spi = ctx.esp_spi()?;
    if conn.mode == Mode::Transport {
        payloads.push(Payload::Notify(Notify::new(NotifyType::USE_TRANSPORT_MODE)));
    }
    payloads.push(Payload::Sa(sa_payload(
        &set_without_ke(&conn.esp_proposals).offer(),
        Spi::from_u32(spi),
    )));
    // RFC 7296 2.9: the packet that triggered an ACQUIRE goes first.
    let (mut tsi, mut tsr) = (Vec::new(), Vec::new());
    if let Some(t) = &sa.trigger {
        tsi.push(t.local);
        tsr.push(t.remote);
    }
    tsi.extend(conn.local_ts.iter().cloned());
    tsr.extend(conn.remote_ts.iter().cloned());
    payloads.push(Payload::TsI(ts_payload(&tsi)));
    payloads.push(Payload::TsR(ts_payload(&tsr)));
    let pending = PendingChild {
        serial: child_serial,
        inbound_spi: spi,
        tsi,
        tsr,
    };
    seal_and_send(ctx, sa, &payloads, Some(pending))?;
    ctx.out.progress(
        &conn.name,
        Some(sa.serial),
        Rc::NEW_V2_STATE,
        format!(
            "sent IKE_AUTH request to {} with shared-key-mac and {}; Child SA {child_serial} {{{} <{spi:#010x}}}",
            sa.remote_desc(),
            conn.local_id,
            conn.child_protocol(),
        ),
    );
    Ok(None)
}

/// Initiator, connection without a Child SA policy: IKE_AUTH with IDi and AUTH
/// only (RFC 6023). Like libreswan 5 this is done whether or not the peer
/// announced CHILDLESS_IKEV2_SUPPORTED (the connection has no Child SA to
/// propose), but the user is told when it did not, as the peer may then refuse.
fn send_childless_request(
    ctx: &mut Ctx<'_>,
    sa: &mut IkeSa,
    payloads: Vec<Payload>,
) -> Result<Option<SaEnd>, Error> {
    let conn = sa.conn.clone();
    if !sa.peer_childless {
        ctx.out.progress(
            &conn.name,
            Some(sa.serial),
            Rc::LOG_SERIOUS,
            "peer did not announce CHILDLESS_IKEV2_SUPPORTED (RFC 6023); it may refuse an IKE_AUTH request without a Child SA".to_owned(),
        );
    }
    ctx.out.progress(
        &conn.name,
        Some(sa.serial),
        Rc::LOG,
        "omitting CHILD SA payloads".to_owned(),
    );
    seal_and_send(ctx, sa, &payloads, None)?;
    ctx.out.progress(
        &conn.name,
        Some(sa.serial),
        Rc::NEW_V2_STATE,
        format!(
            "sent IKE_AUTH request to {} with shared-key-mac and {}",
            sa.remote_desc(),
            conn.local_id
        ),
    );
    Ok(None)
}

/// Seals and sends our IKE_AUTH request (counted in `--globalstatus`), with the
/// first Child SA it proposes, if any, waiting for the answer.
fn seal_and_send(
    ctx: &mut Ctx<'_>,
    sa: &mut IkeSa,
    payloads: &[Payload],
    child: Option<PendingChild>,
) -> Result<(), Error> {
    let msgid = sa.next_msgid;
    ctx.out.stats.sent(ExchangeType::IKE_AUTH, false, payloads);
    let msg = sa.seal(ctx.rng, ExchangeType::IKE_AUTH, false, msgid, payloads)?;
    sa.pending_child = child.map(Box::new);
    sa.state = IkeState::AuthSent;
    ctx.start_request(sa, ExchangeType::IKE_AUTH, RequestKind::IkeAuth, msg);
    Ok(())
}

/// The payloads of an IKE_AUTH message, collected.
#[derive(Default)]
struct AuthPayloads<'a> {
    id: Option<&'a Identification>,
    id_r: Option<&'a Identification>,
    auth: Option<&'a Authentication>,
    sa: Option<&'a crate::codec::v2::SecurityAssociation>,
    tsi: Option<&'a crate::codec::v2::TrafficSelectors>,
    tsr: Option<&'a crate::codec::v2::TrafficSelectors>,
    transport: bool,
}

fn collect(payloads: &[Payload], role_of_sender: Role) -> AuthPayloads<'_> {
    let mut a = AuthPayloads::default();
    for p in payloads {
        match p {
            Payload::IdI(i) if role_of_sender == Role::Initiator => a.id = a.id.or(Some(i)),
            Payload::IdR(i) if role_of_sender == Role::Responder => a.id = a.id.or(Some(i)),
            Payload::IdR(i) => a.id_r = a.id_r.or(Some(i)),
            Payload::Auth(x) => a.auth = a.auth.or(Some(x)),
            Payload::Sa(x) => a.sa = a.sa.or(Some(x)),
            Payload::TsI(x) => a.tsi = a.tsi.or(Some(x)),
            Payload::TsR(x) => a.tsr = a.tsr.or(Some(x)),
            Payload::Notify(n) if n.ty == NotifyType::USE_TRANSPORT_MODE => a.transport = true,
            _ => {}
        }
    }
    a
}

/// What the responder's IKE_AUTH processing did.
pub(crate) enum AuthOutcome {
    /// The IKE SA is established (the Child SA may have failed).
    Established,
    /// Authentication failed: the SA is to be deleted.
    Failed(SaEnd),
}

/// Responder: authenticates the initiator, negotiates the first Child SA and answers.
pub(crate) fn process_request(
    ctx: &mut Ctx<'_>,
    config: &dyn ConfigSource,
    sa: &mut IkeSa,
    raw: &[u8],
    msgid: u32,
    payloads: &[Payload],
) -> Result<AuthOutcome, Error> {
    let p = collect(payloads, Role::Initiator);
    let serial = sa.serial;
    ctx.out.progress(
        &sa.conn.name,
        Some(serial),
        Rc::NEW_V2_STATE,
        format!(
            "processing IKE_AUTH request from {} containing {}",
            sa.remote_desc(),
            payload_list(payloads)
        ),
    );
    let fail = |ctx: &mut Ctx<'_>,
                sa: &mut IkeSa,
                n: NotifyType,
                why: String|
     -> Result<AuthOutcome, Error> {
        ctx.out.progress(
            &sa.conn.name,
            Some(sa.serial),
            Rc::notification(n),
            format!("{why}; responding with {n}"),
        );
        let failed = [Payload::Notify(Notify::new(n))];
        ctx.out.stats.sent(ExchangeType::IKE_AUTH, true, &failed);
        let resp = sa.seal(ctx.rng, ExchangeType::IKE_AUTH, true, msgid, &failed)?;
        ctx.respond(sa, raw, msgid, resp);
        Ok(AuthOutcome::Failed(SaEnd::Failed(n)))
    };
    let fail_auth = |ctx: &mut Ctx<'_>, sa: &mut IkeSa, why: String| {
        fail(ctx, sa, NotifyType::AUTHENTICATION_FAILED, why)
    };
    // RFC 7296 1.2: IKE_AUTH proposes the first Child SA with SA, TSi and TSr;
    // RFC 6023 lets an initiator leave all three out once both ends announced
    // CHILDLESS_IKEV2_SUPPORTED. Anything else is a malformed request.
    let child_payloads = match (p.sa, p.tsi, p.tsr) {
        (Some(a), Some(i), Some(r)) => Some((a, i, r)),
        (None, None, None) if sa.peer_childless => None,
        (None, None, None) => {
            return fail(
                ctx,
                sa,
                NotifyType::INVALID_SYNTAX,
                "IKE_AUTH request proposes no Child SA (SA, TSi and TSr missing) but the peer did not announce CHILDLESS_IKEV2_SUPPORTED (RFC 6023)".to_owned(),
            )
        }
        _ => {
            return fail(
                ctx,
                sa,
                NotifyType::INVALID_SYNTAX,
                "IKE_AUTH request has only some of the SA, TSi and TSr payloads".to_owned(),
            )
        }
    };
    let (Some(idi), Some(auth)) = (p.id, p.auth) else {
        return fail_auth(ctx, sa, "IKE_AUTH request lacks IDi or AUTH".to_owned());
    };
    let peer_id = Identity::from_payload(idi);
    let our_id = p.id_r.map(Identity::from_payload);
    let Some(conn) = config.connection_for_auth(&sa.conn, &peer_id, our_id.as_ref()) else {
        return fail_auth(ctx, sa, format!("no connection accepts peer {peer_id}"));
    };
    // The selectors of the proposed Child SA may belong to another connection
    // between the same gateways (one conn per subnet pair).
    let conn = match &child_payloads {
        Some((_, tsi, tsr)) => {
            let (tsi, tsr) = (ts_from_payload(tsi), ts_from_payload(tsr));
            if narrow(&tsi, &tsr, &conn.remote_ts, &conn.local_ts).is_ok() {
                conn
            } else {
                match config.connection_for_child(&conn, &peer_id, &tsi, &tsr) {
                    Some(other) if other.local_id == conn.local_id => {
                        ctx.out.progress(
                            &conn.name,
                            Some(serial),
                            Rc::LOG,
                            format!(
                                "switched from \"{}\" to \"{}\" for the proposed traffic selectors",
                                conn.name, other.name
                            ),
                        );
                        other
                    }
                    _ => conn,
                }
            }
        }
        None => conn,
    };
    if auth.method != AuthMethod::SHARED_KEY_MIC {
        return fail_auth(
            ctx,
            sa,
            format!(
                "peer authenticates with {}, only PSK is supported",
                auth.method
            ),
        );
    }
    let Some(psk) = config.psk(&conn, &conn.local_id, &peer_id) else {
        return fail_auth(
            ctx,
            sa,
            format!(
                "no pre-shared key found for {} and {peer_id}",
                conn.local_id
            ),
        );
    };
    if !verify_peer_auth(sa, &psk, idi, auth)? {
        return fail_auth(
            ctx,
            sa,
            format!("authentication of {peer_id} using shared-key-mac failed"),
        );
    }
    sa.conn = conn.clone();
    sa.peer_id = Some(peer_id.clone());
    sa.initial_contact = find_notify(payloads, NotifyType::INITIAL_CONTACT).is_some();
    sa.state = IkeState::Established;
    sa.just_authenticated = true;
    sa.half_open_deadline = None;
    let idr = conn.local_id.to_payload();
    let our = our_auth(sa, &psk, &idr)?;
    sa.hs_mut().psk = Some(psk);
    ctx.out.progress(
        &conn.name,
        Some(serial),
        Rc::LOG,
        format!(
            "responder established IKE SA; authenticated peer using authby=secret and {peer_id}"
        ),
    );
    ctx.out.events.push_back(Event::IkeSaEstablished {
        connection: conn.name.to_string(),
        ike: serial,
        replaces: None,
    });
    let mut resp = vec![
        Payload::IdR(idr),
        Payload::Auth(Authentication {
            method: AuthMethod::SHARED_KEY_MIC,
            data: our,
        }),
    ];
    let without_child = resp.clone();
    let mut child_ok = None;
    if child_payloads.is_none() {
        ctx.out.progress(
            &conn.name,
            Some(serial),
            Rc::LOG,
            "IKE_AUTH request proposes no Child SA (RFC 6023 childless IKE SA)".to_owned(),
        );
    }
    if let Some((sa_pl, tsi, tsr)) = child_payloads {
        let child_serial = ctx.serial_under(sa.serial);
        let negotiated = if conn.ike_only {
            Err((
                NotifyType::NO_PROPOSAL_CHOSEN,
                "the connection has no Child SA policy (none of --encrypt, --authenticate)"
                    .to_owned(),
            ))
        } else {
            match ah_through_nat(sa) {
                Some(why) => Err((NotifyType::NO_PROPOSAL_CHOSEN, why)),
                None => negotiate_child(&conn, sa_pl, tsi, tsr, p.transport),
            }
        };
        match negotiated {
            Ok((chosen, peer_spi, narrowed)) => {
                let spi = ctx.esp_spi()?;
                resp.push(Payload::Sa(sa_payload(
                    &[chosen.to_wire()],
                    Spi::from_u32(spi),
                )));
                resp.push(Payload::TsI(ts_payload(&narrowed.tsi)));
                resp.push(Payload::TsR(ts_payload(&narrowed.tsr)));
                if conn.mode == Mode::Transport {
                    resp.push(Payload::Notify(Notify::new(NotifyType::USE_TRANSPORT_MODE)));
                }
                child_ok = Some((child_serial, chosen, spi, peer_spi, narrowed));
            }
            Err((n, why)) => {
                ctx.out.progress(
                    &conn.name,
                    Some(child_serial),
                    Rc::notification(n),
                    format!("Child SA rejected: {why}; responding with {n}"),
                );
                ctx.out.events.push_back(Event::ChildSaFailed {
                    connection: conn.name.to_string(),
                    child: child_serial,
                    notify: n,
                });
                resp.push(Payload::Notify(Notify::new(n)));
            }
        }
    }
    start_lifetime(ctx, sa);
    let Some((child, chosen, spi, peer_spi, narrowed)) = child_ok else {
        ctx.out.stats.sent(ExchangeType::IKE_AUTH, true, &resp);
        let msg = sa.seal(ctx.rng, ExchangeType::IKE_AUTH, true, msgid, &resp)?;
        ctx.respond(sa, raw, msgid, msg);
        return Ok(AuthOutcome::Established);
    };
    // The kernel is asked first; with confirmed installs the answer waits for
    // it, so the initiator never hears of a Child SA we could not install.
    // The initiator's TSi is its side: the peer's selectors, from our view.
    install(
        ctx,
        sa,
        NewChild {
            serial: child,
            chosen: &chosen,
            inbound_spi: spi,
            outbound_spi: peer_spi,
            local_ts: narrowed.tsr,
            remote_ts: narrowed.tsi,
            mode: conn.mode,
            keying: Keying::ike_auth(sa),
            rekey_of: None,
        },
    )?;
    answer_or_hold(
        ctx,
        sa,
        HeldResponse {
            msgid,
            request: raw.to_vec(),
            exchange: ExchangeType::IKE_AUTH,
            child,
            accepted: resp,
            refused: without_child,
        },
    )?;
    Ok(AuthOutcome::Established)
}

/// Arms the IKE SA lifetime (rekey) and liveness timers of a newly established SA.
/// The rekey time follows the manual's "Rekeying" rules (`rekey_time`): this end
/// initiated the IKE SA (IKE_SA_INIT, or the rekey that made it) when its role is
/// initiator. NAT keepalives only while behind a NAT and not `--no-keep-alive`.
pub(crate) fn start_lifetime(ctx: &mut Ctx<'_>, sa: &mut IkeSa) {
    let conn = sa.conn.clone();
    sa.expires = Some(later(ctx.now, conn.ike_lifetime));
    sa.rekey_at = rekey_time(ctx, &conn, conn.ike_lifetime, sa.role == Role::Initiator);
    sa.rekey_failures = 0;
    sa.last_contact = Some(ctx.now);
    sa.next_dpd = conn.dpd_delay.map(|d| later(ctx.now, d));
    sa.next_keepalive =
        (sa.nat_local && conn.nat_keepalive).then(|| later(ctx.now, ctx.cfg.nat_keepalive));
}

type ChildChoice = (crate::proposal::Chosen, u32, crate::ts::Narrowed);

/// Responder's Child SA choice: proposal, the peer's SPI, narrowed selectors, mode.
fn negotiate_child(
    conn: &Arc<Connection>,
    sa_pl: &crate::codec::v2::SecurityAssociation,
    tsi: &crate::codec::v2::TrafficSelectors,
    tsr: &crate::codec::v2::TrafficSelectors,
    transport: bool,
) -> Result<ChildChoice, (NotifyType, String)> {
    let chosen = select(
        &set_without_ke(&conn.esp_proposals),
        &strip_ke(wire_proposals(sa_pl)),
        None,
    )
    .map_err(|e| (NotifyType::NO_PROPOSAL_CHOSEN, e.to_string()))?;
    let peer_spi = proposal_spi(sa_pl, chosen.number)
        .and_then(|s| s.as_u32())
        .filter(|&s| s > 0xff)
        .ok_or((
            NotifyType::INVALID_SYNTAX,
            "the chosen proposal has no valid 4-byte ESP SPI".to_owned(),
        ))?;
    if transport != (conn.mode == Mode::Transport) {
        return Err((
            NotifyType::NO_PROPOSAL_CHOSEN,
            format!(
                "peer asks for {} mode, connection is type={}",
                if transport { "transport" } else { "tunnel" },
                super::sa::mode_name(conn.mode)
            ),
        ));
    }
    let narrowed = narrow(
        &ts_from_payload(tsi),
        &ts_from_payload(tsr),
        &conn.remote_ts,
        &conn.local_ts,
    )
    .map_err(|e| (NotifyType::TS_UNACCEPTABLE, e.to_string()))?;
    Ok((chosen, peer_spi, narrowed))
}

/// What the initiator's IKE_AUTH response processing decided.
pub(crate) enum ResponseOutcome {
    /// Established; the Child SA may have failed, in which case the IKE SA is
    /// deleted (`true`) since nothing uses it.
    Established { delete_ike: bool },
    /// Rejected by the peer (notify received): forget the SA.
    Rejected(SaEnd),
    /// We could not authenticate the responder: tell it and forget the SA.
    PeerAuthFailed,
}

/// Initiator: checks the responder's AUTH and installs the first Child SA.
pub(crate) fn process_response(
    ctx: &mut Ctx<'_>,
    config: &dyn ConfigSource,
    sa: &mut IkeSa,
    payloads: &[Payload],
) -> Result<ResponseOutcome, Error> {
    let conn = sa.conn.clone();
    let p = collect(payloads, Role::Responder);
    ctx.out.progress(
        &conn.name,
        Some(sa.serial),
        Rc::NEW_V2_STATE,
        format!(
            "processed IKE_AUTH response from {} containing {}",
            sa.remote_desc(),
            payload_list(payloads)
        ),
    );
    let (Some(idr), Some(auth)) = (p.id, p.auth) else {
        let n = error_notify(payloads).unwrap_or(NotifyType::AUTHENTICATION_FAILED);
        ctx.out.progress(
            &conn.name,
            Some(sa.serial),
            Rc::notification(n),
            format!("IKE SA authentication request rejected by peer: {n}"),
        );
        return Ok(ResponseOutcome::Rejected(SaEnd::Failed(n)));
    };
    let peer_id = Identity::from_payload(idr);
    let fail = |ctx: &mut Ctx<'_>, why: String| {
        ctx.out.progress(
            &conn.name,
            Some(sa.serial),
            Rc::notification(NotifyType::AUTHENTICATION_FAILED),
            format!("{why}; deleting the IKE SA"),
        );
        Ok(ResponseOutcome::PeerAuthFailed)
    };
    if let Some(want) = &conn.remote_id {
        if *want != peer_id {
            return fail(ctx, format!("peer ID is {peer_id}, expected {want}"));
        }
    }
    let psk = match (&sa.hs().psk, conn.remote_id.is_some()) {
        (Some(k), true) => Some(k.clone()),
        _ => config.psk(&conn, &conn.local_id, &peer_id),
    };
    let Some(psk): Option<SecretBytes> = psk else {
        return fail(
            ctx,
            format!(
                "no pre-shared key found for {} and {peer_id}",
                conn.local_id
            ),
        );
    };
    if !verify_peer_auth(sa, &psk, idr, auth)? {
        return fail(
            ctx,
            format!("authentication of {peer_id} using shared-key-mac failed"),
        );
    }
    sa.peer_id = Some(peer_id.clone());
    sa.state = IkeState::Established;
    sa.just_authenticated = true;
    ctx.out.progress(
        &conn.name,
        Some(sa.serial),
        Rc::LOG,
        format!(
            "initiator established IKE SA; authenticated peer using authby=secret and {peer_id}"
        ),
    );
    ctx.out.events.push_back(Event::IkeSaEstablished {
        connection: conn.name.to_string(),
        ike: sa.serial,
        replaces: None,
    });
    start_lifetime(ctx, sa);

    let Some(pending) = sa.pending_child.take() else {
        if p.sa.is_some() || p.tsi.is_some() || p.tsr.is_some() {
            ctx.out.progress(
                &conn.name,
                Some(sa.serial),
                Rc::notification(NotifyType::INVALID_SYNTAX),
                "IKE_AUTH response contains SA, TSi or TSr but no Child SA was requested; deleting the IKE SA".to_owned(),
            );
            return Ok(ResponseOutcome::Established { delete_ike: true });
        }
        return Ok(ResponseOutcome::Established { delete_ike: false });
    };
    // A first Child SA the responder refused leaves the IKE SA up for a later one
    // (libreswan 5 keeps it too), unless the IKE SA exists only for trapped
    // traffic. One the responder set up but we reject takes the IKE SA with it:
    // that is the one delete that also removes the responder's Child SA.
    let on_demand = sa.on_demand;
    let failed = |ctx: &mut Ctx<'_>, n: NotifyType, why: String, delete_ike: bool| {
        ctx.out
            .progress(&conn.name, Some(pending.serial), Rc::notification(n), why);
        ctx.out.events.push_back(Event::ChildSaFailed {
            connection: conn.name.to_string(),
            child: pending.serial,
            notify: n,
        });
        Ok(ResponseOutcome::Established { delete_ike })
    };
    let refused = |ctx: &mut Ctx<'_>, n: NotifyType, why: String| failed(ctx, n, why, on_demand);
    let child_fail = |ctx: &mut Ctx<'_>, n: NotifyType, why: String| failed(ctx, n, why, true);
    if let Some(n) = error_notify(payloads) {
        ctx.out.progress(
            &conn.name,
            Some(sa.serial),
            Rc::LOG_SERIOUS,
            "IKE SA established but responder rejected Child SA request".to_owned(),
        );
        return refused(
            ctx,
            n,
            format!("IKE_AUTH response rejected Child SA with {n}"),
        );
    }
    let (Some(sa_pl), Some(tsi), Some(tsr)) = (p.sa, p.tsi, p.tsr) else {
        return refused(
            ctx,
            NotifyType::INVALID_SYNTAX,
            "IKE_AUTH response has no Child SA (SA, TSi, TSr missing)".to_owned(),
        );
    };
    if let Some(why) = ah_through_nat(sa) {
        return child_fail(ctx, NotifyType::NO_PROPOSAL_CHOSEN, why);
    }
    let chosen = match check_answer(&set_without_ke(&conn.esp_proposals), &wire_proposals(sa_pl)) {
        Ok(c) => c,
        Err(e) => return child_fail(ctx, NotifyType::NO_PROPOSAL_CHOSEN, e.to_string()),
    };
    let Some(peer_spi) = proposal_spi(sa_pl, chosen.number)
        .and_then(|s| s.as_u32())
        .filter(|&s| s > 0xff)
    else {
        return child_fail(
            ctx,
            NotifyType::INVALID_SYNTAX,
            "responder's ESP proposal has no valid 4-byte SPI".to_owned(),
        );
    };
    let (got_tsi, got_tsr) = (ts_from_payload(tsi), ts_from_payload(tsr));
    if let Err(e) = check_narrowed(&pending.tsi, &pending.tsr, &got_tsi, &got_tsr) {
        return child_fail(ctx, NotifyType::TS_UNACCEPTABLE, e.to_string());
    }
    if p.transport != (conn.mode == Mode::Transport) {
        return child_fail(
            ctx,
            NotifyType::NO_PROPOSAL_CHOSEN,
            format!(
                "responder answered in {} mode, connection is type={}",
                if p.transport { "transport" } else { "tunnel" },
                super::sa::mode_name(conn.mode)
            ),
        );
    }
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
            mode: conn.mode,
            keying: Keying::ike_auth(sa),
            rekey_of: None,
        },
    )?;
    Ok(ResponseOutcome::Established { delete_ike: false })
}
