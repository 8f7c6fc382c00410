//! The route and unroute forms, the initiate and terminate forms, and the forms
//! acting on single SAs and states (`--rekey-*`, `--delete-*`/`--down-*`,
//! `--crash`, `--deletestate`).

use std::net::IpAddr;

use control::rc;
use control::request::SaKind;
use control::server::Responder;
use ike::ikev2::{SaSerial, Up};

use crate::pluto::Pluto;

impl Pluto {
    /// `--route`: trap (or the connection's shunt) policies installed.
    pub(crate) async fn route_form(&mut self, name: &str, r: &mut Responder) {
        if !self.known(name, r) {
            return;
        }
        let oriented = self.conns.find(name).is_some_and(|c| c.is_oriented());
        if !oriented {
            r.line(
                rc::ROUTE,
                format!("\"{name}\": cannot route: neither end of the connection is an address of this machine"),
            );
            return;
        }
        match self.route(name).await {
            Ok(n) => {
                let kind = match self
                    .routed
                    .get(name)
                    .and_then(|rt| rt.traps.first())
                    .map(|p| crate::xfrm::shunt_name(&p.action))
                {
                    None | Some("%trap") => "trap (on-demand)",
                    Some(s) => s,
                };
                tracing::info!("\"{name}\": route: installed {n} {kind} policies");
                r.comment(format!("\"{name}\": routed: {n} {kind} policies installed"));
            }
            Err(e) => {
                tracing::warn!("\"{name}\": cannot route: {e}");
                r.line(rc::ROUTE, format!("\"{name}\": cannot route: {e}"));
            }
        }
    }

    /// `--unroute`.
    pub(crate) async fn unroute_form(&mut self, name: &str, r: &mut Responder) {
        if self.known(name, r) {
            if self.unroute(name).await {
                r.comment(format!("\"{name}\": unrouted: trap policies removed"));
            } else {
                r.comment(format!("\"{name}\": connection is not routed"));
            }
        }
    }

    /// `--initiate`: whack waits on the connection's outcome unless
    /// `--asynchronous`.
    pub(crate) fn initiate_form(
        &mut self,
        name: &str,
        remote_host: Option<&str>,
        asynchronous: bool,
        r: &mut Responder,
        wait: &mut Option<String>,
    ) {
        if self.initiate(name, remote_host, r) {
            if remote_host.is_none() {
                self.keep_up.insert(name.to_string());
            }
            if !asynchronous {
                *wait = Some(name.to_string());
            }
        }
    }

    /// `--terminate` (`--down`): every SA of the connection deleted.
    pub(crate) async fn terminate_form(&mut self, name: &str, r: &mut Responder) {
        if self.known(name, r) {
            self.keep_up.remove(name);
            r.comment(format!("\"{name}\": terminating SAs using this connection"));
            let n = self.down(name);
            if n == 0 {
                r.comment(format!("\"{name}\": no SAs to terminate"));
            }
            self.abandon_waiters(name, &format!("\"{name}\": connection taken down"));
            self.pump().await;
        }
    }

    /// `--rekey-ike` / `--rekey-child`.
    pub(crate) async fn rekey_form(
        &mut self,
        name: &str,
        sa: SaKind,
        asynchronous: bool,
        r: &mut Responder,
        wait: &mut Option<String>,
    ) {
        if self.known(name, r) {
            if self.rekey(name, sa, r) && !asynchronous {
                *wait = Some(name.to_string());
            }
            self.pump().await;
        }
    }

    /// `--delete-ike` / `--delete-child` / `--down-ike` / `--down-child`.
    pub(crate) async fn delete_sa_form(&mut self, name: &str, sa: SaKind, r: &mut Responder) {
        if self.known(name, r) {
            self.delete_sa(name, sa, r);
            self.pump().await;
        }
    }

    /// `--crash ADDRESS`: the peer rebooted, so its SAs are gone; ours are removed
    /// at once (nothing is sent to it) and the connections restored as after a
    /// failed liveness check (engine.rs, liveness_action).
    pub(crate) async fn crash_form(&mut self, address: IpAddr, r: &mut Responder) {
        let now = std::time::Instant::now();
        let gone = self.ike.peer_crashed(address, now);
        if gone.is_empty() {
            r.comment(format!(
                "no IKE SAs with peer {address}; nothing to restart"
            ));
        }
        for s in gone {
            r.comment(format!("peer {address} crashed: deleted IKE SA {s}"));
        }
        self.pump().await;
    }

    /// `--deletestate N`: an IKE SA or Child SA by serial.
    pub(crate) async fn delete_state_form(&mut self, serial: u64, r: &mut Responder) {
        let s = SaSerial(serial);
        let now = std::time::Instant::now();
        let ok = if self.ike.ike_sa_status(s).is_some() {
            self.ike.delete_ike_sa(s, now).is_ok()
        } else {
            self.children.contains_key(&s) && self.ike.delete_child_sa(s, now).is_ok()
        };
        if ok {
            r.comment(format!("deleting state #{serial}"));
            self.pump().await;
        } else {
            r.line(rc::UNKNOWN_NAME, format!("no state #{serial}"));
        }
    }

    /// Starts negotiating a connection. Returns true when an IKE SA, or a Child SA
    /// over the connection's established IKE SA, was started (whack then waits
    /// for the outcome unless `--asynchronous`); an IKE-only connection whose IKE
    /// SA is up, or one being negotiated, is reported and left as it is.
    pub(crate) fn initiate(
        &mut self,
        name: &str,
        remote_host: Option<&str>,
        r: &mut Responder,
    ) -> bool {
        let Some(c) = self.conns.find(name) else {
            self.known(name, r);
            return false;
        };
        if !self.listening || self.sockets.is_empty() {
            r.line(
                rc::DEAF,
                "we have no IKE interfaces: need --listen before --initiate",
            );
            return false;
        }
        if !c.is_oriented() {
            r.line(
                rc::ORIENT,
                format!("\"{name}\": cannot initiate: neither end of the connection is an address of this machine"),
            );
            return false;
        }
        let peer_known = c.remote_end().is_some_and(|e| e.host_addr.is_some());
        let mut peer = None;
        if !peer_known {
            match remote_host {
                None => {
                    r.line(
                        rc::NOPEERIP,
                        format!("\"{name}\": cannot initiate connection without knowing peer IP address (kind={}); give --remote-host",
                            if c.is_template() { "CK_TEMPLATE" } else { "CK_PERMANENT" }),
                    );
                    return false;
                }
                Some(h) => match h.parse::<IpAddr>() {
                    Ok(a) => peer = Some(a),
                    Err(_) => {
                        r.line(
                            rc::WHACK_PROBLEM,
                            format!("--remote-host \"{h}\" is not an IP address"),
                        );
                        return false;
                    }
                },
            }
        }
        if self.children.has_connection(name) {
            r.comment(format!(
                "\"{name}\": connection is already up; use --down first to renegotiate"
            ));
            return false;
        }
        if c.policy.authby.never() {
            r.line(
                rc::WHACK_PROBLEM,
                format!(
                    "\"{name}\": cannot initiate: authby=never: the connection never negotiates (route it to install its shunt)"
                ),
            );
            return false;
        }
        let ikec = match crate::convert::connection(c, peer) {
            Ok(k) => std::sync::Arc::new(k),
            Err(e) => {
                r.line(
                    rc::WHACK_PROBLEM,
                    format!("\"{name}\": cannot initiate: {e}"),
                );
                return false;
            }
        };
        // An IKE SA of the connection that is up (or coming up) is used, as
        // libreswan does, rather than a second one negotiated.
        match self.ike.up(ikec, std::time::Instant::now()) {
            Ok(Up::NewIkeSa(serial)) => {
                tracing::debug!("\"{name}\" {serial}: initiating");
                true
            }
            Ok(Up::NewChildSa { ike, child }) => {
                tracing::debug!("\"{name}\" {child}: initiating Child SA using {ike}");
                true
            }
            Ok(Up::IkeSaUp(ike)) => {
                r.comment(format!("\"{name}\": IKE SA {ike} is already established"));
                false
            }
            Ok(Up::ChildSaUp { .. }) => {
                r.comment(format!(
                    "\"{name}\": connection is already up; use --down first to renegotiate"
                ));
                false
            }
            Ok(Up::InProgress(serial)) => {
                r.comment(format!(
                    "\"{name}\" {serial}: negotiation already in progress"
                ));
                false
            }
            Err(e) => {
                r.line(
                    rc::WHACK_PROBLEM,
                    format!("\"{name}\": cannot initiate: {e}"),
                );
                false
            }
        }
    }

    /// `--rekey-ike` / `--rekey-child`: the newest SA of that kind of the connection
    /// is rekeyed with CREATE_CHILD_SA. Returns true when the rekey was started:
    /// whack then waits (unless `--asynchronous`) for the core's
    /// `Event::RekeyFinished`, exiting 0 once rekeyed and with the notify's code
    /// (RC_NOTIFICATION + n) when the peer refused.
    pub(crate) fn rekey(
        &mut self,
        name: &str,
        sa: control::request::SaKind,
        r: &mut Responder,
    ) -> bool {
        let now = std::time::Instant::now();
        let sts = self.ike.status_of_connection(name);
        let established = sts.iter().filter(|s| s.state == "ESTABLISHED_IKE_SA");
        let Some(t) = newest(established, sa) else {
            r.line(
                rc::WHACK_PROBLEM,
                format!(
                    "\"{name}\": cannot rekey: the connection has no established {} SA",
                    sa.label()
                ),
            );
            return false;
        };
        let res = match sa {
            control::request::SaKind::Ike => self.ike.rekey_ike_sa(t, now),
            control::request::SaKind::Child => self.ike.rekey_child_sa(t, now),
        };
        match res {
            Ok(()) => {
                r.comment(format!("\"{name}\" {t}: rekeying {} SA", sa.label()));
                true
            }
            Err(e) => {
                r.line(
                    rc::WHACK_PROBLEM,
                    format!("\"{name}\" {t}: cannot rekey: {e}"),
                );
                false
            }
        }
    }

    /// `--delete-ike`/`--down-ike` and `--delete-child`/`--down-child`: the newest
    /// SA of that kind of the connection.
    pub(crate) fn delete_sa(
        &mut self,
        name: &str,
        sa: control::request::SaKind,
        r: &mut Responder,
    ) {
        let now = std::time::Instant::now();
        let sts = self.ike.status_of_connection(name);
        let Some(t) = newest(sts.iter(), sa) else {
            r.line(
                rc::WHACK_PROBLEM,
                format!(
                    "\"{name}\": the connection has no established {} SA",
                    sa.label()
                ),
            );
            return;
        };
        let res = match sa {
            control::request::SaKind::Ike => self.ike.delete_ike_sa(t, now),
            control::request::SaKind::Child => self.ike.delete_child_sa(t, now),
        };
        match res {
            Ok(()) => r.comment(format!("\"{name}\" {t}: deleting {} SA", sa.label())),
            Err(e) => r.line(rc::WHACK_PROBLEM, format!("\"{name}\" {t}: {e}")),
        }
    }
}

/// The newest SA of kind `sa` among these IKE SAs (an IKE SA, or a Child SA of
/// one): what `--rekey-*` and `--delete-*` act on.
fn newest<'a>(
    ikes: impl Iterator<Item = &'a ike::ikev2::IkeSaStatus>,
    sa: control::request::SaKind,
) -> Option<SaSerial> {
    match sa {
        control::request::SaKind::Ike => ikes.map(|s| s.serial).max(),
        control::request::SaKind::Child => {
            ikes.flat_map(|s| s.children.iter().map(|c| c.serial)).max()
        }
    }
}
