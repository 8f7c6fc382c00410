//! The listen form (`--listen`, `--unlisten`) and the daemon-wide IKE socket
//! and DDoS settings (`--ike-socket-*`, `--ddos-*`).

use control::rc;
use control::request::DdosMode;
use control::server::Responder;

use crate::pluto::{ddos_policy, Pluto};

impl Pluto {
    /// Opens the IKE sockets and reports each as libreswan does.
    pub async fn listen(&mut self, r: &mut Responder) {
        self.listening = true;
        tracing::info!("listening for IKE messages");
        r.comment("listening for IKE messages");
        for (ok, line) in self.open_sockets().await {
            if ok {
                tracing::info!("{line}");
                r.comment(line);
            } else {
                tracing::warn!("{line}");
                r.line(rc::LOG, line);
            }
        }
    }

    /// `--listen`: interfaces read again and the IKE sockets opened; as the
    /// manual says, it also rereads ipsec.secrets (a missing file is reported
    /// but does not fail the listen).
    pub(crate) async fn listen_form(&mut self, r: &mut Responder) {
        self.discover_interfaces().await;
        self.listen(r).await;
        self.reread_secrets(r, false);
    }

    /// `--unlisten`.
    pub(crate) async fn unlisten_form(&mut self, r: &mut Responder) {
        self.listening = false;
        self.sockets.close_all().await;
        tracing::info!("no longer listening for IKE messages");
        r.comment("no longer listening for IKE messages");
    }

    /// `--ddos-busy|--ddos-auto|--ddos-unlimited`. busy: every new initiator must
    /// return a COOKIE (RFC 7296 2.6); auto: from --ddos-ike-threshold half-open
    /// IKE SAs on, and no new IKE_SA_INIT answered from --max-halfopen-ike on;
    /// unlimited: never.
    pub(crate) fn ddos_form(&mut self, mode: DdosMode, r: &mut Responder) {
        self.ddos = mode;
        self.ike.set_ddos(ddos_policy(mode, &self.opts));
        tracing::info!("set DDoS mode to {}", mode.name());
        r.comment(format!("pluto DDoS protection mode set to {}", mode.name()));
    }

    /// `--ike-socket-bufsize`.
    pub(crate) fn ike_socket_bufsize_form(&mut self, bytes: u32, r: &mut Responder) {
        r.comment(format!("set IKE socket buffer to {bytes}"));
        for p in self.sockets.set_bufsize(bytes) {
            tracing::warn!("{p}");
            r.comment(p);
        }
        r.comment(crate::status::socket_summary(&self.sockets));
    }

    /// `--ike-socket-errqueue-toggle`.
    pub(crate) fn ike_socket_errqueue_form(&mut self, r: &mut Responder) {
        let on = !self.sockets.options().errqueue;
        r.comment(format!(
            "{} IKE socket MSG_ERRQUEUEs",
            if on { "enabling" } else { "disabling" }
        ));
        for p in self.sockets.set_errqueue(on) {
            tracing::warn!("{p}");
            r.comment(p);
        }
        r.comment(crate::status::socket_summary(&self.sockets));
    }
}
