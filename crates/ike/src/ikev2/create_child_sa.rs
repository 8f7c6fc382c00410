//! Child SA keying (RFC 7296 2.17), shared by the first Child SA of IKE_AUTH, and the
//! CREATE_CHILD_SA exchange (1.3).
//!
//! Not implemented yet: creating or rekeying Child SAs and rekeying the IKE SA with
//! CREATE_CHILD_SA. A CREATE_CHILD_SA request from the peer is answered with
//! NO_ADDITIONAL_SAS (RFC 7296 3.10.1), which tells it this IKE SA takes no more
//! SAs, and the refusal is logged saying so.

use crate::codec::v2::{Notify, Payload};
use crate::crypto::ikev2::Role;
use crate::crypto::{ChildSaKeys, EncrAlg, IntegAlg, SecretBytes};
use crate::proposal::Chosen;
use crate::registry::{ExchangeType, IntegId, NotifyType};
use crate::ts::TrafficSelector;

use super::config::Mode;
use super::output::{
    ChildSaDelete, ChildSaDirection, ChildSaInstall, Event, KernelRequest, Rc, SaSerial, UdpEncap,
};
use super::sa::{mode_name, ts_pair, ChildSa, Ctx, IkeSa, CHILD_PROTOCOL};
use super::Error;

/// What a negotiated Child SA needs to be keyed and installed.
pub(crate) struct NewChild<'a> {
    pub serial: SaSerial,
    pub chosen: &'a Chosen,
    pub inbound_spi: u32,
    pub outbound_spi: u32,
    pub local_ts: Vec<TrafficSelector>,
    pub remote_ts: Vec<TrafficSelector>,
    pub mode: Mode,
}

/// Derives KEYMAT, asks the kernel to install both SAs, records the Child SA and
/// logs libreswan's "established Child SA" line.
pub(crate) fn install(ctx: &mut Ctx<'_>, sa: &mut IkeSa, c: NewChild<'_>) -> Result<(), Error> {
    let (encr_id, bits) = c.chosen.encr.ok_or(Error::Incomplete("ENCR"))?;
    let encr = EncrAlg::lookup(encr_id, bits)?;
    let integ_id = c.chosen.integ.unwrap_or(IntegId::NONE);
    let integ = if integ_id == IntegId::NONE {
        None
    } else {
        Some(IntegAlg::lookup(integ_id)?)
    };
    if !encr.is_aead() && integ.is_none() {
        return Err(Error::Incomplete("INTEG"));
    }
    let suite = sa.suite.as_ref().ok_or(Error::NoKeys)?;
    let keys = sa.keys.as_ref().ok_or(Error::NoKeys)?;
    let km = ChildSaKeys::derive(
        suite.prf,
        keys.sk_d(),
        &[],
        &sa.ni,
        &sa.nr,
        encr.keymat_len(),
        integ.map_or(0, |i| i.key_len),
    )?;
    let (i2r, r2i) = (km.initiator_to_responder(), km.responder_to_initiator());
    let (inb, outb) = match sa.role {
        Role::Initiator => (r2i, i2r),
        Role::Responder => (i2r, r2i),
    };
    let encap = (sa.nat_local || sa.nat_remote).then_some(UdpEncap {
        local_port: sa.local.port(),
        remote_port: sa.remote.port(),
    });
    let conn = sa.conn.clone();
    let esn = c.chosen.esn_enabled();
    let install = ChildSaInstall {
        connection: conn.name.clone(),
        child: c.serial,
        ike: sa.serial,
        protocol: CHILD_PROTOCOL,
        mode: c.mode,
        encr: encr_id,
        encr_key_bits: encr.key_bits,
        salt_len: encr.salt_len,
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
    };
    ctx.out
        .events
        .push_back(Event::Kernel(KernelRequest::InstallChildSa(Box::new(
            install,
        ))));
    let role = match sa.role {
        Role::Initiator => "initiator",
        Role::Responder => "responder",
    };
    let proto = match (encap.is_some(), esn) {
        (false, false) => "ESP".to_owned(),
        (false, true) => "ESP/ESN".to_owned(),
        (true, false) => "ESPinUDP".to_owned(),
        (true, true) => "ESPinUDP/ESN".to_owned(),
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
    ctx.out.progress(
        &conn.name,
        Some(c.serial),
        Rc::SUCCESS,
        format!(
            "{role} established Child SA using {}; IPsec {} {} {{{proto}=>{:#010x} <{:#010x} xfrm={}-{}{natd} DPD={dpd}}}",
            sa.serial,
            mode_name(c.mode),
            ts_pair(&c.local_ts, &c.remote_ts),
            c.outbound_spi,
            c.inbound_spi,
            encr.name,
            integ.map_or("NONE", |i| i.name),
        ),
    );
    sa.children.push(ChildSa {
        serial: c.serial,
        inbound_spi: c.inbound_spi,
        outbound_spi: c.outbound_spi,
        local_ts: c.local_ts,
        remote_ts: c.remote_ts,
    });
    ctx.out.events.push_back(Event::ChildSaEstablished {
        connection: conn.name.clone(),
        ike: sa.serial,
        child: c.serial,
    });
    Ok(())
}

/// Asks the kernel to remove a Child SA and reports it gone.
pub(crate) fn uninstall(ctx: &mut Ctx<'_>, sa: &IkeSa, child: &ChildSa) {
    ctx.out
        .events
        .push_back(Event::Kernel(KernelRequest::DeleteChildSa(ChildSaDelete {
            connection: sa.conn.name.clone(),
            child: child.serial,
            protocol: CHILD_PROTOCOL,
            inbound_spi: child.inbound_spi,
            inbound_dst: sa.local.ip(),
            outbound_spi: child.outbound_spi,
            outbound_dst: sa.remote.ip(),
            local_ts: child.local_ts.clone(),
            remote_ts: child.remote_ts.clone(),
        })));
    ctx.out.events.push_back(Event::ChildSaDeleted {
        connection: sa.conn.name.clone(),
        child: child.serial,
    });
}

/// Responder: a CREATE_CHILD_SA request. New Child SAs and rekeys are not
/// implemented, so it is refused with NO_ADDITIONAL_SAS, as RFC 7296 allows.
pub(crate) fn process_request(
    ctx: &mut Ctx<'_>,
    sa: &mut IkeSa,
    raw: &[u8],
    msgid: u32,
    payloads: &[Payload],
) -> Result<(), Error> {
    let rekey = payloads
        .iter()
        .any(|p| matches!(p, Payload::Notify(n) if n.ty == NotifyType::REKEY_SA));
    let ike_rekey = payloads.iter().any(|p| {
        matches!(p, Payload::Sa(s) if s.proposals.iter().any(|q| q.protocol == crate::registry::ProtocolId::IKE))
    });
    let what = if ike_rekey {
        "rekeying the IKE SA"
    } else if rekey {
        "rekeying a Child SA"
    } else {
        "creating another Child SA"
    };
    ctx.out.progress(
        &sa.conn.name,
        Some(sa.serial),
        Rc::LOG_SERIOUS,
        format!(
            "CREATE_CHILD_SA request ({what}) refused with NO_ADDITIONAL_SAS: not implemented by pluto-rs yet"
        ),
    );
    let resp = sa.seal(
        ctx.rng,
        ExchangeType::CREATE_CHILD_SA,
        true,
        msgid,
        &[Payload::Notify(Notify::new(NotifyType::NO_ADDITIONAL_SAS))],
    )?;
    ctx.respond(sa, raw, msgid, resp);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::testutil::Pair;
    use super::super::{Event, KernelRequest};
    use crate::codec::v2::{Notify, Payload};
    use crate::crypto::ikev2::prf_plus;
    use crate::registry::{ExchangeType, NotifyType};

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
        let p = Pair::established("aes256-sha2_256");
        let sa = p.west.sas.values().next().unwrap();
        let suite = sa.suite.unwrap();
        let keys = sa.keys.as_ref().unwrap();
        // KEYMAT = prf+(SK_d, Ni | Nr); taken as encr(i->r) | integ(i->r) |
        // encr(r->i) | integ(r->i).
        let mut km = vec![0u8; 2 * (32 + 32)];
        prf_plus(
            &suite.prf.key(keys.sk_d()).unwrap(),
            &[&sa.ni, &sa.nr],
            &mut km,
        )
        .unwrap();
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
    fn create_child_sa_request_is_refused_with_no_additional_sas() {
        let mut p = Pair::established("aes_gcm256");
        let serial = *p.west.sas.keys().next().unwrap();
        let sa = p.west.sas.get_mut(&serial).unwrap();
        let msgid = sa.next_msgid;
        let req = sa
            .seal(
                p.west.rng.as_ref(),
                ExchangeType::CREATE_CHILD_SA,
                false,
                msgid,
                &[Payload::Notify(Notify::new(NotifyType::REKEY_SA))],
            )
            .unwrap();
        let (local, remote) = (sa.local, sa.remote);
        p.east.handle(p.now, remote, local, &req, &p.ecfg);
        let t = p.east.poll_transmit().unwrap();
        let sa = p.west.sas.get(&serial).unwrap();
        let payloads = sa.open(&t.contents).unwrap();
        assert!(
            matches!(&payloads[..], [Payload::Notify(n)] if n.ty == NotifyType::NO_ADDITIONAL_SAS)
        );
        let mut lines = Vec::new();
        while let Some(e) = p.east.poll_event() {
            if let Event::Progress(l) = e {
                lines.push(l.text);
            }
        }
        assert!(lines
            .iter()
            .any(|l| l.contains("refused with NO_ADDITIONAL_SAS: not implemented")));
        // A retransmission of the same request gets the cached answer.
        p.east.handle(p.now, remote, local, &req, &p.ecfg);
        assert_eq!(p.east.poll_transmit().unwrap().contents, t.contents);
        // The IKE SA is unaffected.
        assert_eq!(p.east.status()[0].state, "ESTABLISHED_IKE_SA");
    }
}
