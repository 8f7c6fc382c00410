//! IKE_SA_INIT (RFC 7296 1.2): proposals, KE, nonces, NAT detection, COOKIE (2.6) and
//! INVALID_KE_PAYLOAD (1.2, 2.7), for both roles.

use std::net::SocketAddr;
use std::sync::Arc;

use aws_lc_rs::digest;

use crate::codec::v2::{Header, KeyExchange as KePayload, Message, Notify, Payload};
use crate::codec::Spi;
use crate::crypto::ikev2::Role;
use crate::crypto::{EncrAlg, IkeSaKeys, IkeSuite, IntegAlg, KeAlg, KeyExchange, PrfAlg};
use crate::proposal::{check_answer, check_ke_payload, select, Chosen};
use crate::registry::{ExchangeType, IntegId, KeId, NotifyType};

use super::compute::{InitDone, InitKeying, JobError, Work};
use super::config::{ConfigSource, Connection, Encapsulation};
use super::output::{Rc, SaEnd};
use super::sa::{
    find_notify, later, nonce_len_ok, sa_payload, wire_proposals, Ctx, IkeSa, IkeState, RequestKind,
};
use super::{natt, Error};

/// RFC 7427 hash algorithms we announce: SHA2-256, SHA2-384, SHA2-512.
const SIGNATURE_HASHES: [u16; 3] = [2, 3, 4];
/// How often an initiator follows COOKIE or INVALID_KE_PAYLOAD before giving up.
const MAX_INIT_RETRIES: u32 = 3;

/// Secret for responder cookies (RFC 7296 2.6), with a version so it can be rolled.
pub(crate) struct CookieSecret {
    pub version: u32,
    pub secret: [u8; 32],
}

impl CookieSecret {
    /// `version | SHA-256(len(Ni) | Ni | family | IPi | SPIi | secret)`.
    ///
    /// The nonce's length and the address family go into the hash because Ni is
    /// of variable length and the address is 4 or 16 bytes: without them, the
    /// input for (Ni, an IPv4 address) is also the input for (Ni less its last 12
    /// bytes, the IPv6 address made of those 12 bytes and the IPv4 address), so a
    /// cookie fetched at one's own IPv4 address would verify for 2^96 spoofed
    /// IPv6 sources. The port is not bound (RFC 7296 2.6 names IPi only).
    pub fn cookie(&self, ni: &[u8], remote: SocketAddr, spi_i: &[u8; 8]) -> Vec<u8> {
        let mut ctx = digest::Context::new(&digest::SHA256);
        // A datagram is at most 64 KiB, so a nonce from one fits the u32.
        let ni_len = u32::try_from(ni.len()).unwrap_or(u32::MAX);
        ctx.update(&ni_len.to_be_bytes());
        ctx.update(ni);
        match remote.ip() {
            std::net::IpAddr::V4(a) => {
                ctx.update(&[4]);
                ctx.update(&a.octets())
            }
            std::net::IpAddr::V6(a) => {
                ctx.update(&[6]);
                ctx.update(&a.octets())
            }
        }
        ctx.update(spi_i);
        ctx.update(&self.secret);
        let mut out = self.version.to_be_bytes().to_vec();
        out.extend_from_slice(ctx.finish().as_ref());
        out
    }

    /// Whether `cookie` is the one we issue for this initiator (compared in
    /// constant time, so the comparison leaks nothing of the expected value).
    pub fn verify(&self, cookie: &[u8], ni: &[u8], remote: SocketAddr, spi_i: &[u8; 8]) -> bool {
        let expected = self.cookie(ni, remote, spi_i);
        aws_lc_rs::constant_time::verify_slices_are_equal(cookie, &expected).is_ok()
    }
}

/// The IKE suite of a chosen IKE proposal.
pub(crate) fn suite_of(chosen: &Chosen) -> Result<IkeSuite, Error> {
    let (encr, bits) = chosen.encr.ok_or(Error::Incomplete("ENCR"))?;
    let encr = EncrAlg::lookup(encr, bits)?;
    let prf = PrfAlg::lookup(chosen.prf.ok_or(Error::Incomplete("PRF"))?)?;
    let integ = match chosen.integ.filter(|&i| i != IntegId::NONE) {
        Some(i) => Some(IntegAlg::lookup(i)?),
        None => None,
    };
    Ok(IkeSuite { encr, prf, integ })
}

/// `{cipher=AES_GCM_16_256 integ=n/a prf=HMAC_SHA2_512 group=DH19}`.
pub(crate) fn suite_desc(suite: &IkeSuite, group: KeId) -> String {
    format!(
        "{{cipher={} integ={} prf={} group={}}}",
        suite.encr.name,
        suite.integ.map_or("n/a", |i| i.name),
        suite.prf.name,
        group
    )
}

/// What the key schedule of a compute job needs from the SA (its suite from the
/// chosen proposal, copies of nonces and SPIs), once both nonces are known.
fn keying_of(sa: &IkeSa) -> Result<InitKeying, Error> {
    let chosen = sa.chosen.as_ref().ok_or(Error::NoKeys)?;
    Ok(InitKeying {
        suite: suite_of(chosen)?,
        ni: sa.ni().to_vec(),
        nr: sa.nr().to_vec(),
        spi_i: sa.spi_i,
        spi_r: sa.spi_r,
    })
}

/// Takes the IKE SA keys a compute job derived: records them and builds the SK
/// cipher states (a key schedule of well under a microsecond, left in line).
fn install_keys(sa: &mut IkeSa, keys: IkeSaKeys) -> Result<(), Error> {
    let chosen = sa.chosen.as_ref().ok_or(Error::NoKeys)?;
    let suite = suite_of(chosen)?;
    // Checked now; kept as SK_e/SK_a in `keys` until the SA is established
    // (`IkeSa::trim`), so a half-open SA holds no cipher state of its own.
    keys.sk_ciphers(&suite, sa.role)?;
    sa.suite = Some(suite);
    sa.keys = Some(keys);
    Ok(())
}

/// Our KE value for an IKE_SA_INIT request: fresh, or the shared one of
/// [`EndpointConfig::reuse_ke`](super::EndpointConfig::reuse_ke).
fn initiator_ke(ctx: &Ctx<'_>, group: KeId) -> Result<KeyExchange, Error> {
    let alg = KeAlg::lookup(group)?;
    Ok(match &ctx.cfg.reuse_ke {
        Some(cache) => cache.initiate(alg, ctx.rng)?,
        None => alg.initiate(ctx.rng)?,
    })
}

/// Starts an initiator: picks SPI, group, nonce and sends the first request.
pub(crate) fn initiate(
    ctx: &mut Ctx<'_>,
    conn: Arc<Connection>,
    attempt: u32,
) -> Result<IkeSa, Error> {
    let group = conn.ike_proposals.initial_ke().ok_or(Error::NoKeGroup)?;
    let local = SocketAddr::new(conn.local_addr, ctx.cfg.ike_port);
    let remote = SocketAddr::new(conn.remote_addr, conn.remote_port);
    let serial = ctx.serial();
    let spi_i = ctx.ike_spi()?;
    let mut sa = IkeSa::new(
        serial,
        conn.clone(),
        Role::Initiator,
        IkeState::InitSent,
        spi_i,
        [0; 8],
        local,
        remote,
    );
    sa.attempt = attempt;
    sa.hs_mut().ni = ctx.random(ctx.cfg.nonce_len)?.into();
    sa.ke_group = group;
    sa.hs_mut().ke = Some(Box::new(initiator_ke(ctx, group)?));
    ctx.out.progress(
        &conn.name,
        Some(serial),
        Rc::LOG,
        format!("initiating IKEv2 connection to {} using UDP", remote.ip()),
    );
    send_request(ctx, &mut sa)?;
    Ok(sa)
}

/// (Re)builds and sends the IKE_SA_INIT request from the SA's current cookie, group
/// and nonce, always with message ID 0.
fn send_request(ctx: &mut Ctx<'_>, sa: &mut IkeSa) -> Result<(), Error> {
    let ke = sa.hs().ke.as_ref().ok_or(Error::NoKeys)?;
    let mut payloads = Vec::with_capacity(8);
    if let Some(c) = &sa.hs().cookie {
        payloads.push(Payload::Notify(Notify::with_data(
            NotifyType::COOKIE,
            c.clone(),
        )));
    }
    payloads.push(Payload::Sa(sa_payload(
        &sa.conn.ike_proposals.offer(),
        Spi::EMPTY,
    )));
    payloads.push(Payload::Ke(KePayload {
        group: sa.ke_group,
        data: ke.public_value().to_vec(),
    }));
    payloads.push(Payload::Nonce(sa.hs().ni.to_vec()));
    if sa.conn.nat_traversal {
        let force = sa.conn.encapsulation == Encapsulation::Yes;
        payloads.extend(natt::notifies(
            &sa.spi_i, &[0; 8], sa.local, sa.remote, force,
        ));
    }
    push_capabilities(&mut payloads, sa.conn.fragmentation);
    let msg = Message {
        header: sa.header(ExchangeType::IKE_SA_INIT, false, 0),
        payloads,
    }
    .to_bytes()?;
    ctx.out.stats.sent_plain(&msg);
    sa.hs_mut().init_request = msg.clone();
    sa.next_msgid = 0;
    sa.outstanding = None;
    ctx.start_request(
        sa,
        ExchangeType::IKE_SA_INIT,
        RequestKind::IkeSaInit,
        vec![msg],
    );
    ctx.out.progress(
        &sa.conn.name,
        Some(sa.serial),
        Rc::NEW_V2_STATE,
        format!("sent IKE_SA_INIT request to {}", sa.remote_desc()),
    );
    Ok(())
}

/// What became of an initiator's IKE_SA_INIT response.
pub(crate) enum InitOutcome {
    /// Keys derived: send IKE_AUTH next.
    Proceed,
    /// The agreement and key schedule were queued as a compute job; its result
    /// continues in [`response_computed`].
    Computing,
    /// Resent the request (COOKIE or INVALID_KE_PAYLOAD); keep waiting.
    Resent,
    /// The SA failed for good.
    Failed(SaEnd),
}

/// Initiator: handles the IKE_SA_INIT response: COOKIE and INVALID_KE_PAYLOAD are
/// followed here; an acceptable answer queues the agreement and key schedule as a
/// compute job (`Computing`), continued in [`response_computed`].
pub(crate) fn process_response(
    ctx: &mut Ctx<'_>,
    sa: &mut IkeSa,
    hdr: &Header,
    msg: &Message,
    raw: &[u8],
) -> Result<InitOutcome, Error> {
    let name = sa.conn.name.clone();
    if let Some(c) = find_notify(&msg.payloads, NotifyType::COOKIE) {
        if sa.hs().cookie.as_ref() == Some(&c.data) {
            // A duplicate of the answer we already followed.
            return Ok(InitOutcome::Resent);
        }
        if sa.hs().cookie_retries >= MAX_INIT_RETRIES || c.data.is_empty() || c.data.len() > 64 {
            ctx.out.progress(
                &name,
                Some(sa.serial),
                Rc::LOG_SERIOUS,
                "dropping COOKIE response: too many cookie requests or a malformed cookie"
                    .to_owned(),
            );
            return Ok(InitOutcome::Resent);
        }
        sa.hs_mut().cookie_retries += 1;
        sa.hs_mut().cookie = Some(c.data.clone());
        ctx.out.progress(
            &name,
            Some(sa.serial),
            Rc::LOG,
            "received anti-DDOS COOKIE response; resending IKE_SA_INIT request with cookie"
                .to_owned(),
        );
        send_request(ctx, sa)?;
        return Ok(InitOutcome::Resent);
    }
    if let Some(n) = find_notify(&msg.payloads, NotifyType::INVALID_KE_PAYLOAD) {
        let Some(wanted) = n.wanted_ke() else {
            return Ok(InitOutcome::Failed(SaEnd::Failed(
                NotifyType::INVALID_KE_PAYLOAD,
            )));
        };
        if wanted == sa.ke_group && sa.hs().ke_retries > 0 {
            // A duplicate of the answer we already followed.
            return Ok(InitOutcome::Resent);
        }
        let retry = sa.conn.ike_proposals.retry_ke(sa.ke_group, wanted);
        match retry {
            Ok(group) if sa.hs().ke_retries < MAX_INIT_RETRIES => {
                sa.hs_mut().ke_retries += 1;
                ctx.out.progress(
                    &name,
                    Some(sa.serial),
                    Rc::LOG,
                    format!(
                        "received INVALID_KE_PAYLOAD response suggesting {group}; resending IKE_SA_INIT request with {group}"
                    ),
                );
                sa.ke_group = group;
                sa.hs_mut().ke = Some(Box::new(initiator_ke(ctx, group)?));
                send_request(ctx, sa)?;
                return Ok(InitOutcome::Resent);
            }
            Ok(_) => {}
            Err(e) => {
                ctx.out.progress(
                    &name,
                    Some(sa.serial),
                    Rc::notification(NotifyType::INVALID_KE_PAYLOAD),
                    e.to_string(),
                );
            }
        }
        return Ok(InitOutcome::Failed(SaEnd::Failed(
            NotifyType::INVALID_KE_PAYLOAD,
        )));
    }
    if let Some(err) = super::sa::error_notify(&msg.payloads) {
        ctx.out.progress(
            &name,
            Some(sa.serial),
            Rc::notification(err),
            format!("IKE_SA_INIT response rejected our request: {err}"),
        );
        return Ok(InitOutcome::Failed(SaEnd::Failed(err)));
    }

    let mut sa_pl = None;
    let mut ke = None;
    let mut nr = None;
    for p in &msg.payloads {
        match p {
            Payload::Sa(s) => sa_pl = sa_pl.or(Some(s)),
            Payload::Ke(k) => ke = ke.or(Some(k)),
            Payload::Nonce(n) => nr = nr.or(Some(n)),
            Payload::Notify(n) if n.ty == NotifyType::IKEV2_FRAGMENTATION_SUPPORTED => {
                sa.peer_fragmentation = true
            }
            Payload::Notify(n) if n.ty == NotifyType::CHILDLESS_IKEV2_SUPPORTED => {
                sa.peer_childless = true
            }
            _ => {}
        }
    }
    let (Some(sa_pl), Some(ke), Some(nr)) = (sa_pl, ke, nr) else {
        ctx.out.progress(
            &name,
            Some(sa.serial),
            Rc::notification(NotifyType::INVALID_SYNTAX),
            "IKE_SA_INIT response lacks an SA, KE or Nr payload".to_owned(),
        );
        return Ok(InitOutcome::Failed(SaEnd::Failed(
            NotifyType::INVALID_SYNTAX,
        )));
    };
    let fail = |ctx: &mut Ctx<'_>, sa: &IkeSa, n: NotifyType, why: String| {
        ctx.out
            .progress(&sa.conn.name, Some(sa.serial), Rc::notification(n), why);
        Ok(InitOutcome::Failed(SaEnd::Failed(n)))
    };
    if hdr.spi_r == [0; 8] {
        return fail(
            ctx,
            sa,
            NotifyType::INVALID_SYNTAX,
            "IKE_SA_INIT response has a zero responder SPI".into(),
        );
    }
    let chosen = match check_answer(&sa.conn.ike_proposals, &wire_proposals(sa_pl)) {
        Ok(c) => c,
        Err(e) => return fail(ctx, sa, NotifyType::NO_PROPOSAL_CHOSEN, e.to_string()),
    };
    if chosen.ke_group() != Some(sa.ke_group) || ke.group != sa.ke_group {
        return fail(
            ctx,
            sa,
            NotifyType::INVALID_KE_PAYLOAD,
            format!(
                "IKE_SA_INIT response uses {} but we sent {}",
                ke.group, sa.ke_group
            ),
        );
    }
    if !nonce_len_ok(nr) {
        return fail(
            ctx,
            sa,
            NotifyType::INVALID_SYNTAX,
            format!("responder nonce of {} bytes is outside 16..256", nr.len()),
        );
    }
    sa.spi_r = hdr.spi_r;
    sa.hs_mut().nr = nr.as_slice().into();
    sa.hs_mut().init_response = raw.to_vec();
    let ours = sa.hs_mut().ke.take().ok_or(Error::NoKeys)?;
    sa.chosen = Some(chosen);
    sa.peer_fragmentation &= sa.conn.fragmentation;
    sa.fragment_size = sa.peer_fragmentation.then_some(ctx.cfg.fragment_size);
    // NAT detection needs the message, which the job does not carry.
    if sa.conn.nat_traversal {
        let detected = natt::detect(&msg.payloads, &sa.spi_i, &sa.spi_r, sa.local, sa.remote);
        apply_nat_detection(ctx, sa, detected);
    }
    let work = Work::InitInitiator {
        ke: *ours,
        peer: ke.data.clone(),
        keying: keying_of(sa)?,
    };
    sa.hs_mut().computing = Some(ctx.out.compute.submit(sa.serial, work));
    Ok(InitOutcome::Computing)
}

/// Initiator: the compute job of the IKE_SA_INIT response is done. `Proceed` means
/// the keys are in place and IKE_AUTH goes next.
pub(crate) fn response_computed(
    ctx: &mut Ctx<'_>,
    sa: &mut IkeSa,
    done: Result<InitDone, JobError>,
) -> Result<InitOutcome, Error> {
    let done = match done {
        Ok(d) => d,
        Err(JobError::PeerKe(e)) => {
            let n = NotifyType::INVALID_SYNTAX;
            ctx.out.progress(
                &sa.conn.name,
                Some(sa.serial),
                Rc::notification(n),
                format!("responder's KE payload is invalid: {e}"),
            );
            return Ok(InitOutcome::Failed(SaEnd::Failed(n)));
        }
        Err(JobError::Local(e)) => return Err(e.into()),
    };
    install_keys(sa, done.keys)?;
    let suite = sa.suite.as_ref().ok_or(Error::NoKeys)?;
    let desc = suite_desc(suite, sa.ke_group);
    ctx.out.progress(
        &sa.conn.name,
        Some(sa.serial),
        Rc::NEW_V2_STATE,
        format!(
            "processed IKE_SA_INIT response from {} {desc}, initiating IKE_AUTH",
            sa.remote_desc()
        ),
    );
    if sa.nat_local || sa.nat_remote {
        // RFC 7296 2.23: float to the NAT-T port for everything after IKE_SA_INIT.
        sa.local.set_port(ctx.cfg.natt_port);
        sa.remote.set_port(ctx.cfg.natt_port);
    }
    Ok(InitOutcome::Proceed)
}

/// Records what NAT detection found, as the connection's `encapsulation=` has it
/// (forced or refused ESP-in-UDP), and logs when the policy overrides it.
fn apply_nat_detection(ctx: &mut Ctx<'_>, sa: &mut IkeSa, detected: Option<(bool, bool)>) {
    let ((local, remote), note) = natt::apply(sa.conn.encapsulation, detected);
    sa.nat_local = local;
    sa.nat_remote = remote;
    if let Some(note) = note {
        let name = sa.conn.name.clone();
        ctx.out
            .progress(&name, Some(sa.serial), Rc::LOG, note.to_string());
    }
}

/// Appends the notifies both IKE_SA_INIT request and response announce: IKEv2
/// fragmentation (RFC 7383), childless IKE SAs (RFC 6023: we accept an IKE_AUTH
/// without a Child SA, and leave it out ourselves for a connection without
/// one) and the signature hash algorithms (RFC 7427).
fn push_capabilities(payloads: &mut Vec<Payload>, fragmentation: bool) {
    if fragmentation {
        payloads.push(Payload::Notify(Notify::new(
            NotifyType::IKEV2_FRAGMENTATION_SUPPORTED,
        )));
    }
    payloads.push(Payload::Notify(Notify::new(
        NotifyType::CHILDLESS_IKEV2_SUPPORTED,
    )));
    payloads.push(Payload::Notify(Notify::signature_hash_algorithms(
        &SIGNATURE_HASHES,
    )));
}

/// Sends an unprotected IKE_SA_INIT error response (SPIr zero: no state is kept),
/// so the caller has no SA to return.
fn send_notify(
    ctx: &mut Ctx<'_>,
    spi_i: [u8; 8],
    local: SocketAddr,
    remote: SocketAddr,
    notify: Notify,
) -> Result<Option<IkeSa>, Error> {
    let msg = Message {
        header: Header {
            spi_i,
            spi_r: [0; 8],
            minor_version: 0,
            exchange: ExchangeType::IKE_SA_INIT,
            flags: crate::codec::v2::Flags {
                initiator: false,
                version: false,
                response: true,
            },
            message_id: 0,
        },
        payloads: vec![Payload::Notify(notify)],
    }
    .to_bytes()?;
    ctx.out.stats.sent_plain(&msg);
    ctx.out.send(ctx.cfg, local, remote, &msg);
    Ok(None)
}

/// Responder: takes a new IKE_SA_INIT request. Returns the new half-open SA, waiting
/// for the compute job that makes our KE data and the keys (the response goes out
/// from [`request_computed`]), or `None` when the request was answered with a
/// notify (or dropped) and no state kept.
#[allow(clippy::too_many_arguments)]
pub(crate) fn process_request(
    ctx: &mut Ctx<'_>,
    config: &dyn ConfigSource,
    cookies: &CookieSecret,
    busy: bool,
    local: SocketAddr,
    remote: SocketAddr,
    msg: &Message,
    raw: &[u8],
) -> Result<Option<IkeSa>, Error> {
    let hdr = &msg.header;
    // Every refusal below answers with one notify and keeps no state.
    let reject =
        |ctx: &mut Ctx<'_>, notify: Notify| send_notify(ctx, hdr.spi_i, local, remote, notify);
    let mut sa_pl = None;
    let mut ke = None;
    let mut ni = None;
    let mut cookie = None;
    let mut frag = false;
    let mut childless = false;
    for p in &msg.payloads {
        match p {
            Payload::Sa(s) => sa_pl = sa_pl.or(Some(s)),
            Payload::Ke(k) => ke = ke.or(Some(k)),
            Payload::Nonce(n) => ni = ni.or(Some(n)),
            Payload::Notify(n) if n.ty == NotifyType::COOKIE => cookie = cookie.or(Some(n)),
            Payload::Notify(n) if n.ty == NotifyType::IKEV2_FRAGMENTATION_SUPPORTED => frag = true,
            Payload::Notify(n) if n.ty == NotifyType::CHILDLESS_IKEV2_SUPPORTED => childless = true,
            _ => {}
        }
    }
    let (Some(sa_pl), Some(ke), Some(ni)) = (sa_pl, ke, ni) else {
        tracing::info!(
            "dropping IKE_SA_INIT request from {remote}: it lacks an SA, KE or Ni payload"
        );
        return reject(ctx, Notify::new(NotifyType::INVALID_SYNTAX));
    };
    if !nonce_len_ok(ni) {
        tracing::info!(
            "dropping IKE_SA_INIT request from {remote}: nonce of {} bytes",
            ni.len()
        );
        return reject(ctx, Notify::new(NotifyType::INVALID_SYNTAX));
    }
    if busy {
        let ok = cookie.is_some_and(|c| cookies.verify(&c.data, ni, remote, &hdr.spi_i));
        if !ok {
            // Debug only: under a flood this is every datagram (the COOKIEs sent
            // are counted in the notify counters of --globalstatus).
            tracing::debug!("busy: answering IKE_SA_INIT request from {remote} with a COOKIE");
            let expected = cookies.cookie(ni, remote, &hdr.spi_i);
            return reject(ctx, Notify::with_data(NotifyType::COOKIE, expected));
        }
    }
    let Some(conn) = config.connection_for_init(local.ip(), remote.ip()) else {
        tracing::info!(
            "no connection found for IKE_SA_INIT request from {remote} to {local}; answering NO_PROPOSAL_CHOSEN"
        );
        return reject(ctx, Notify::new(NotifyType::NO_PROPOSAL_CHOSEN));
    };
    let offered = wire_proposals(sa_pl);
    let chosen = match select(&conn.ike_proposals, &offered, Some(ke.group)) {
        Ok(c) => c,
        Err(e) => {
            ctx.out.progress(
                &conn.name,
                None,
                Rc::notification(NotifyType::NO_PROPOSAL_CHOSEN),
                format!("IKE_SA_INIT request from {remote}: {e}"),
            );
            return reject(ctx, Notify::new(NotifyType::NO_PROPOSAL_CHOSEN));
        }
    };
    if let Err(e) = check_ke_payload(&chosen, ke.group) {
        ctx.out.progress(
            &conn.name,
            None,
            Rc::LOG,
            format!("IKE_SA_INIT request from {remote}: {e}"),
        );
        return reject(ctx, Notify::invalid_ke_payload(e.wanted));
    }
    let group = chosen.ke_group().ok_or(Error::NoKeGroup)?;
    let ke_alg = KeAlg::lookup(group)?;

    let serial = ctx.serial();
    let spi_r = ctx.ike_spi()?;
    let mut sa = IkeSa::new(
        serial,
        conn.clone(),
        Role::Responder,
        IkeState::HalfOpen,
        hdr.spi_i,
        spi_r,
        local,
        remote,
    );
    sa.hs_mut().ni = ni.as_slice().into();
    sa.hs_mut().nr = ctx.random(ctx.cfg.nonce_len)?.into();
    sa.ke_group = group;
    let frag = frag && conn.fragmentation;
    sa.peer_fragmentation = frag;
    sa.peer_childless = childless;
    sa.fragment_size = frag.then_some(ctx.cfg.fragment_size);
    sa.hs_mut().init_request = raw.to_vec();
    sa.chosen = Some(chosen);
    if conn.nat_traversal {
        let detected = natt::detect(&msg.payloads, &hdr.spi_i, &[0; 8], local, remote);
        apply_nat_detection(ctx, &mut sa, detected);
    }
    // The half-open SA's clock runs from now, so an SA whose job never comes
    // back still goes.
    sa.half_open_deadline = Some(later(ctx.now, ctx.cfg.half_open_timeout));
    // Only answer NAT detection when the initiator asked for it (RFC 7296 2.23).
    let natd = conn.nat_traversal
        && find_notify(&msg.payloads, NotifyType::NAT_DETECTION_SOURCE_IP).is_some();
    let work = Work::InitResponder {
        alg: ke_alg,
        peer: ke.data.clone(),
        rng: ctx.out.compute.rng(),
        keying: keying_of(&sa)?,
        natd,
    };
    sa.hs_mut().computing = Some(ctx.out.compute.submit(serial, work));
    Ok(Some(sa))
}

/// Responder: the compute job of an IKE_SA_INIT request is done; sends the
/// response. `Ok(false)`: the initiator's KE data was invalid, the request was
/// answered with INVALID_SYNTAX and the SA must go without a trace, as if it had
/// never been made (as a request refused before any state is kept).
pub(crate) fn request_computed(
    ctx: &mut Ctx<'_>,
    sa: &mut IkeSa,
    done: Result<InitDone, JobError>,
) -> Result<bool, Error> {
    let done = match done {
        Ok(d) => d,
        Err(JobError::PeerKe(e)) => {
            tracing::info!(
                "dropping IKE_SA_INIT request from {}: invalid KE payload: {e}",
                sa.remote
            );
            let n = Notify::new(NotifyType::INVALID_SYNTAX);
            send_notify(ctx, sa.spi_i, sa.local, sa.remote, n)?;
            return Ok(false);
        }
        Err(JobError::Local(e)) => return Err(e.into()),
    };
    install_keys(sa, done.keys)?;
    let conn = sa.conn.clone();
    let group = sa.ke_group;
    let suite = sa.suite.as_ref().ok_or(Error::NoKeys)?;
    ctx.out.progress(
        &conn.name,
        Some(sa.serial),
        Rc::NEW_V2_STATE,
        format!(
            "processed IKE_SA_INIT request from {} {}",
            sa.remote_desc(),
            suite_desc(suite, group)
        ),
    );
    let chosen = sa.chosen.as_ref().ok_or(Error::NoKeys)?;
    let mut payloads = vec![
        Payload::Sa(sa_payload(&[chosen.to_wire()], Spi::EMPTY)),
        Payload::Ke(KePayload {
            group,
            data: done.our_ke.ok_or(Error::NoKeys)?,
        }),
        Payload::Nonce(sa.hs().nr.to_vec()),
    ];
    if done.natd {
        let force = conn.encapsulation == Encapsulation::Yes;
        payloads.extend(natt::notifies(
            &sa.spi_i, &sa.spi_r, sa.local, sa.remote, force,
        ));
    }
    push_capabilities(&mut payloads, conn.fragmentation);
    let resp = Message {
        header: sa.header(ExchangeType::IKE_SA_INIT, true, 0),
        payloads,
    }
    .to_bytes()?;
    ctx.out.stats.sent_plain(&resp);
    sa.half_open_deadline = Some(later(ctx.now, ctx.cfg.half_open_timeout));
    let request = sa.init_request().to_vec();
    ctx.respond(sa, &request, 0, vec![resp]);
    ctx.out.progress(
        &conn.name,
        Some(sa.serial),
        Rc::NEW_V2_STATE,
        format!("sent IKE_SA_INIT response to {}", sa.remote_desc()),
    );
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> CookieSecret {
        CookieSecret {
            version: 1,
            secret: [7; 32],
        }
    }

    #[test]
    fn cookie_verifies_for_the_initiator_it_was_issued_to_only() {
        let s = secret();
        let ni = [0x11; 32];
        let from: SocketAddr = "192.0.2.1:500".parse().unwrap();
        let spi = [1, 2, 3, 4, 5, 6, 7, 8];
        let c = s.cookie(&ni, from, &spi);
        assert!(s.verify(&c, &ni, from, &spi));
        // Another port of the same address: RFC 7296 2.6 binds IPi only.
        assert!(s.verify(&c, &ni, "192.0.2.1:4500".parse().unwrap(), &spi));
        assert!(!s.verify(&c, &ni, "192.0.2.2:500".parse().unwrap(), &spi));
        assert!(!s.verify(&c, &ni[1..], from, &spi));
        assert!(!s.verify(&c, &ni, from, &[0; 8]));
        assert!(!s.verify(&c[..c.len() - 1], &ni, from, &spi));
        let other = CookieSecret {
            version: 2,
            ..secret()
        };
        assert!(!other.verify(&c, &ni, from, &spi));
    }

    /// Regression (found writing the `cookie` fuzz target): the hash input was
    /// `Ni | IPi | SPIi`, so moving Ni's last 12 bytes in front of an IPv4 address
    /// gave an IPv6 address for which the same cookie verified.
    #[test]
    fn cookie_is_not_valid_for_a_regrouped_nonce_and_address() {
        let s = secret();
        let mut ni = vec![0x22; 20];
        ni.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0]);
        let v4: SocketAddr = "192.0.2.1:500".parse().unwrap();
        let spi = [9; 8];
        let c = s.cookie(&ni, v4, &spi);
        let v6: SocketAddr = "[2001:db8::c000:201]:500".parse().unwrap();
        assert!(!s.verify(&c, &ni[..20], v6, &spi));
    }
}
