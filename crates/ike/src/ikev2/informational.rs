//! INFORMATIONAL (RFC 7296 1.4): Delete of Child and IKE SAs, liveness checks, and
//! error notifies about the IKE SA.

use crate::codec::v2::{Delete, Notify, Payload};
use crate::registry::{ExchangeType, NotifyType, ProtocolId};

use super::create_child_sa::uninstall;
use super::output::Rc;
use super::sa::{child_protocol, Ctx, IkeSa, IkeState, RequestKind};
use super::Error;

/// What a request did to the IKE SA.
pub(crate) enum InfoOutcome {
    /// Nothing that ends the IKE SA.
    Continue,
    /// The peer deleted the IKE SA (or reported that it failed to authenticate us):
    /// it is gone, Child SAs already uninstalled.
    IkeDeleted(Option<NotifyType>),
}

/// Responder side of an INFORMATIONAL exchange: answers it and acts on its Deletes.
pub(crate) fn process_request(
    ctx: &mut Ctx<'_>,
    sa: &mut IkeSa,
    raw: &[u8],
    msgid: u32,
    payloads: &[Payload],
) -> Result<InfoOutcome, Error> {
    let mut delete_ike = false;
    let mut deleted_child_spis = Vec::new();
    let mut auth_failed = false;
    let proto = child_protocol(sa);
    for p in payloads {
        match p {
            Payload::Delete(d) if d.protocol == ProtocolId::IKE => delete_ike = true,
            Payload::Delete(d) if d.protocol == proto => {
                for spi in d.spis.iter().filter_map(|s| s.as_u32()) {
                    // The peer names its inbound SPI: our outbound.
                    if let Some(i) = sa.children.iter().position(|c| c.outbound_spi == spi) {
                        let child = sa.children.remove(i);
                        ctx.out.progress(
                            &sa.conn.name,
                            Some(child.serial),
                            Rc::LOG,
                            format!(
                                "received Delete SA payload: deleting Child SA {} ({proto} {:#010x})",
                                child.serial, spi
                            ),
                        );
                        uninstall(ctx, sa, &child);
                        deleted_child_spis.push(child.inbound_spi);
                    } else {
                        tracing::info!(
                            "{}: received Delete for unknown {proto} SPI {spi:#010x}; ignored",
                            ctx.out.label(&sa.conn.name, sa.serial)
                        );
                    }
                }
            }
            Payload::Delete(d) => tracing::info!(
                "{}: ignoring Delete for protocol {}",
                ctx.out.label(&sa.conn.name, sa.serial),
                d.protocol
            ),
            Payload::Notify(n) if n.ty == NotifyType::AUTHENTICATION_FAILED => auth_failed = true,
            Payload::Notify(n) if n.ty.is_error() => tracing::info!(
                "{}: INFORMATIONAL request carries notification {}",
                ctx.out.label(&sa.conn.name, sa.serial),
                n.ty
            ),
            _ => {}
        }
    }
    let mut resp = Vec::new();
    if !delete_ike && !deleted_child_spis.is_empty() {
        resp.push(Payload::Delete(Delete::child(proto, &deleted_child_spis)));
    }
    ctx.out.stats.sent(ExchangeType::INFORMATIONAL, true, &resp);
    let msg = sa.seal(ctx.rng, ExchangeType::INFORMATIONAL, true, msgid, &resp)?;
    ctx.respond(sa, raw, msgid, msg);
    if delete_ike || auth_failed {
        let text = if auth_failed {
            "peer reports AUTHENTICATION_FAILED; deleting IKE SA".to_owned()
        } else {
            "received Delete SA payload: deleting IKE SA".to_owned()
        };
        let rc = if auth_failed {
            Rc::notification(NotifyType::AUTHENTICATION_FAILED)
        } else {
            Rc::LOG
        };
        ctx.out.progress(&sa.conn.name, Some(sa.serial), rc, text);
        // Rekeyed by the peer: its Child SAs live on in the new IKE SA (the
        // endpoint hands over any still held back by a simultaneous rekey).
        if sa.rekeyed_by_peer.is_none() {
            for child in std::mem::take(&mut sa.children) {
                uninstall(ctx, sa, &child);
            }
        }
        return Ok(InfoOutcome::IkeDeleted(
            auth_failed.then_some(NotifyType::AUTHENTICATION_FAILED),
        ));
    }
    Ok(InfoOutcome::Continue)
}

/// Builds and sends (or queues) one of our INFORMATIONAL requests.
pub(crate) fn send_request(
    ctx: &mut Ctx<'_>,
    sa: &mut IkeSa,
    kind: RequestKind,
) -> Result<(), Error> {
    let payloads = match &kind {
        RequestKind::DeleteIke => vec![Payload::Delete(Delete::ike())],
        RequestKind::DeleteChild(spis) => {
            vec![Payload::Delete(Delete::child(child_protocol(sa), spis))]
        }
        RequestKind::Liveness => Vec::new(),
        RequestKind::IkeSaInit
        | RequestKind::IkeAuth
        | RequestKind::RekeyChild(_)
        | RequestKind::NewChild(_)
        | RequestKind::RekeyIke => return Err(Error::NotInformational),
    };
    ctx.out
        .stats
        .sent(ExchangeType::INFORMATIONAL, false, &payloads);
    let msg = sa.seal(
        ctx.rng,
        ExchangeType::INFORMATIONAL,
        false,
        sa.next_msgid,
        &payloads,
    )?;
    if kind == RequestKind::DeleteIke {
        sa.state = IkeState::Deleting;
    }
    ctx.start_request(sa, ExchangeType::INFORMATIONAL, kind, msg);
    Ok(())
}

/// The one-shot INFORMATIONAL an initiator sends when the responder's AUTH does not
/// verify (RFC 7296 2.21.2): AUTHENTICATION_FAILED plus a Delete of the IKE SA, so
/// the responder drops the SA it thinks is established. The SA is forgotten at once;
/// the answer, if any, is dropped as being for an unknown SPI.
pub(crate) fn send_auth_failed(ctx: &mut Ctx<'_>, sa: &mut IkeSa) -> Result<(), Error> {
    let payloads = [
        Payload::Notify(Notify::new(NotifyType::AUTHENTICATION_FAILED)),
        Payload::Delete(Delete::ike()),
    ];
    ctx.out
        .stats
        .sent(ExchangeType::INFORMATIONAL, false, &payloads);
    let msg = sa.seal(
        ctx.rng,
        ExchangeType::INFORMATIONAL,
        false,
        sa.next_msgid,
        &payloads,
    )?;
    sa.next_msgid = sa.next_msgid.wrapping_add(1);
    for m in &msg {
        ctx.out.send(ctx.cfg, sa.local, sa.remote, m);
    }
    Ok(())
}
