//! The remote-access forms still to come: IKEv2 redirect (RFC 5685),
//! opportunistic encryption and XAUTH users. Each is refused with one line
//! saying so, except where the answer is already true (`--global-redirect no`,
//! clearing `--global-redirect-to`).

use control::rc;
use control::request::{OppoTrigger, RedirectMode};
use control::server::Responder;

use crate::pluto::Pluto;

/// Why the redirect forms are refused.
const NO_REDIRECT: &str = "IKEv2 redirect (RFC 5685) is not supported by pluto-rs yet";

impl Pluto {
    /// `--global-redirect`: nothing sends REDIRECT, so only "no" is true.
    pub(crate) fn global_redirect_form(&mut self, mode: RedirectMode, r: &mut Responder) {
        if mode == RedirectMode::No {
            self.global_redirect = RedirectMode::No;
            r.comment("set global-redirect=no");
        } else {
            r.line(
                rc::WHACK_PROBLEM,
                format!("--global-redirect {}: {NO_REDIRECT}", mode.name()),
            );
        }
    }

    /// `--global-redirect-to`: only clearing it is true.
    pub(crate) fn global_redirect_to_form(&mut self, to: &str, r: &mut Responder) {
        if to.trim().is_empty() {
            self.global_redirect_to = None;
            r.comment("cleared global-redirect-to");
        } else {
            r.line(
                rc::WHACK_PROBLEM,
                format!("--global-redirect-to {to}: {NO_REDIRECT}"),
            );
        }
    }

    /// `--redirect-to` (with or without `--name`).
    pub(crate) fn redirect_to_form(&mut self, name: Option<&str>, to: &str, r: &mut Responder) {
        let ok = match name {
            Some(n) => self.known(n, r),
            None => true,
        };
        if ok {
            r.line(
                rc::WHACK_PROBLEM,
                format!("--redirect-to {to}: {NO_REDIRECT}"),
            );
        }
    }
}

/// `--oppohere ... --oppothere ...`.
pub(crate) fn oppo_form(t: &OppoTrigger, r: &mut Responder) {
    r.line(
        rc::OPPOFAILURE,
        format!(
            "--oppohere {} --oppothere {}: opportunistic encryption is not supported by pluto-rs yet (no initiation for {}:{} -> {}:{} proto {}); describe the peer with a connection and --initiate it",
            t.here, t.there, t.here, t.sport, t.there, t.dport, t.proto
        ),
    );
}

/// `--deleteuser`.
pub(crate) fn delete_user_form(user: &str, r: &mut Responder) {
    r.line(
        rc::FATAL,
        format!("--deleteuser \"{user}\": XAUTH is not supported yet, so there are no XAUTH users"),
    );
}
