//! The whack forms pluto answers, one module per group of forms as
//! ipsec-whack(8) groups them: the connection, public-key and delete forms
//! (`connection`), route/unroute, initiate, terminate, rekey and the SA and
//! state forms (`negotiation`), the listen form with the socket and DDoS
//! settings (`listen`), the debug and impair forms (`debug`), the list and
//! reread forms (`lists`), the status forms (`show`), and the remote-access
//! forms still to come (`remote_access`: redirect, opportunistic, XAUTH).
//! This module runs one whack invocation's requests in order and routes each to
//! its form's handler; the handlers are `impl Pluto` blocks of their modules, so
//! the state they act on stays in [`Pluto`].

mod connection;
mod debug;
mod listen;
mod lists;
mod negotiation;
mod remote_access;
mod show;
#[cfg(test)]
mod tests;

pub(crate) use debug::apply_debug;

use control::server::Responder;
use control::{rc, Envelope, Request};

use crate::engine::Waiter;
use crate::pluto::{Flow, Pluto};

/// How far a request's parts ran.
#[derive(Debug)]
pub(crate) enum Step {
    /// All of them: what the main loop does next.
    Done(Flow),
    /// Up to one that wants ipsec.secrets read; the rest, from `next`, wait for it.
    ReadSecrets {
        /// Whether a failed read fails the request.
        strict: bool,
        /// The first part not run yet.
        next: usize,
    },
}

impl Pluto {
    /// Carries out every request of one whack invocation, in order. The responder
    /// comes back unless an `--initiate` keeps it to stream progress until the
    /// Child SA is up or fails (it is then answered from [`Pluto::pump`]).
    pub async fn handle(&mut self, env: &Envelope, mut r: Responder) -> (Flow, Option<Responder>) {
        let mut wait = None;
        let mut json = serde_json::Map::new();
        let step = self.handle_all(env, &mut r, &mut wait, &mut json, 0).await;
        self.handled(env, step, r, wait, json)
    }

    /// A read of ipsec.secrets a parked request waited for is in: its result is
    /// applied and told, and the request's remaining parts run.
    pub async fn secrets_loaded(
        &mut self,
        l: crate::secrets_load::Loaded,
    ) -> (Flow, Option<Responder>) {
        let Some(mut p) = self.loads.unpark(l.id) else {
            return (Flow::Continue, None);
        };
        self.apply_secrets(l, &mut p.responder, p.strict);
        let step = self
            .handle_all(&p.env, &mut p.responder, &mut p.wait, &mut p.json, p.next)
            .await;
        self.handled(&p.env, step, p.responder, p.wait, p.json)
    }

    /// What becomes of a request once its parts ran: parked for a read, waiting
    /// for an outcome or for the kernel worker, or answered.
    fn handled(
        &mut self,
        env: &Envelope,
        step: Step,
        r: Responder,
        wait: Option<String>,
        json: serde_json::Map<String, serde_json::Value>,
    ) -> (Flow, Option<Responder>) {
        let flow = match step {
            Step::Done(flow) => flow,
            Step::ReadSecrets { strict, next } => {
                let id = self.loads.start(self.opts.secretsfile.clone());
                self.loads.park(
                    id,
                    crate::secrets_load::Parked {
                        env: env.clone(),
                        next,
                        json,
                        wait,
                        responder: r,
                        strict,
                    },
                );
                return (Flow::Continue, None);
            }
        };
        match wait {
            Some(connection) if flow == Flow::Continue && r.status() == 0 => {
                self.waiters.push(Waiter {
                    connection,
                    responder: r,
                });
                (flow, None)
            }
            _ if flow == Flow::Continue => {
                // The answer says the kernel state is there: it waits for the
                // kernel worker's jobs of the connections named (their updown
                // runs included), without holding up the main loop.
                let names: Vec<String> = env
                    .requests
                    .iter()
                    .filter_map(changed_connection)
                    .filter(|n| self.kernel_busy(n))
                    .map(str::to_string)
                    .collect();
                if names.is_empty() {
                    (flow, Some(r))
                } else {
                    self.settling.push((names, r));
                    (flow, None)
                }
            }
            _ => (flow, Some(r)),
        }
    }

    /// Runs the requests of `env` from index `from` on, in order, until one of
    /// them wants ipsec.secrets read (the rest wait for that, off the main loop).
    async fn handle_all(
        &mut self,
        env: &Envelope,
        r: &mut Responder,
        wait: &mut Option<String>,
        json: &mut serde_json::Map<String, serde_json::Value>,
        from: usize,
    ) -> Step {
        if from == 0 {
            if let Some(label) = &env.label {
                tracing::info!("whack request [{label}]");
            }
            if self.debug.contains("whackwatch") {
                tracing::debug!("whack requests: {:?}", env.requests);
            }
        }
        let mut flow = Flow::Continue;
        for (i, req) in env.requests.iter().enumerate().skip(from) {
            if let Flow::Shutdown { .. } = flow {
                break;
            }
            flow = self.one(req, env, r, json, wait).await;
            if let Some(strict) = self.secrets_wanted.take() {
                return Step::ReadSecrets {
                    strict,
                    next: i + 1,
                };
            }
        }
        if !json.is_empty() {
            let doc = serde_json::Value::Object(std::mem::take(json));
            match serde_json::to_string_pretty(&doc) {
                Ok(text) => r.comment(text),
                Err(e) => r.line(
                    rc::INTERNAL_ERROR,
                    format!("cannot encode JSON status: {e}"),
                ),
            }
        }
        Step::Done(flow)
    }

    pub(crate) fn known(&self, name: &str, r: &mut Responder) -> bool {
        if self.conns.find(name).is_some() {
            return true;
        }
        r.line(
            rc::UNKNOWN_NAME,
            format!("no connection or alias named \"{name}\""),
        );
        false
    }

    /// One request: to the handler of its form.
    async fn one(
        &mut self,
        req: &Request,
        env: &Envelope,
        r: &mut Responder,
        json: &mut serde_json::Map<String, serde_json::Value>,
        wait: &mut Option<String>,
    ) -> Flow {
        let json_out = env.output.json;
        match req {
            // connection.rs
            Request::AddConnection { spec } => self.add_connection(spec, r),
            Request::Delete { name } => self.delete_form(name, r).await,
            Request::Key {
                keyid,
                add,
                pubkey_rsa,
            } => self.key(keyid, *add, pubkey_rsa.as_deref(), r),
            // negotiation.rs
            Request::Route { name } => self.route_form(name, r).await,
            Request::Unroute { name } => self.unroute_form(name, r).await,
            Request::Initiate {
                name,
                remote_host,
                asynchronous,
                ..
            } => self.initiate_form(name, remote_host.as_deref(), *asynchronous, r, wait),
            Request::Down { name, .. } => self.terminate_form(name, r).await,
            Request::Rekey {
                name,
                sa,
                asynchronous,
            } => self.rekey_form(name, *sa, *asynchronous, r, wait).await,
            Request::DeleteSa { name, sa, .. } | Request::DownSa { name, sa, .. } => {
                self.delete_sa_form(name, *sa, r).await
            }
            Request::Crash { address } => self.crash_form(*address, r).await,
            Request::DeleteState { serial } => self.delete_state_form(*serial, r).await,
            // listen.rs
            Request::Listen => self.listen_form(r).await,
            Request::Unlisten => self.unlisten_form(r).await,
            Request::Ddos { mode } => self.ddos_form(*mode, r),
            Request::IkeSocketBufsize { bytes } => self.ike_socket_bufsize_form(*bytes, r),
            Request::IkeSocketErrqueueToggle => self.ike_socket_errqueue_form(r),
            // remote_access.rs
            Request::GlobalRedirect { mode } => self.global_redirect_form(*mode, r),
            Request::GlobalRedirectTo { to } => self.global_redirect_to_form(to, r),
            Request::RedirectTo { name, to } => self.redirect_to_form(name.as_deref(), to, r),
            Request::Oppo(t) => remote_access::oppo_form(t, r),
            Request::DeleteUser { user } => remote_access::delete_user_form(user, r),
            // debug.rs
            Request::Debug { name, changes } => self.debug(name.as_deref(), changes, r),
            Request::Impair { name, changes } => self.impair(name.as_deref(), changes, r),
            // lists.rs
            Request::List { what } => self.list(*what, env.output.utc, json_out, r, json),
            Request::Reread { what } => self.reread_form(*what, r),
            Request::Ddns => self.ddns_form(r),
            Request::PurgeOcsp => lists::purge_ocsp_form(r),
            // show.rs
            Request::Status { what } => self.status_form(*what, json_out, r, json).await,
            Request::ListEvents => self.list_events_form(json_out, r, json),
            Request::ClearStats => self.clear_stats_form(r),
            Request::Shutdown { leave_state } => {
                tracing::info!("shutting down");
                r.comment("shutting down");
                return Flow::Shutdown {
                    leave_state: *leave_state,
                };
            }
        }
        Flow::Continue
    }
}

/// The connection whose kernel state a whack request changes, for the answer to
/// wait on (see [`Pluto::handle`]).
fn changed_connection(req: &Request) -> Option<&str> {
    match req {
        Request::Route { name }
        | Request::Unroute { name }
        | Request::Delete { name }
        | Request::Down { name, .. }
        | Request::DeleteSa { name, .. }
        | Request::DownSa { name, .. } => Some(name),
        _ => None,
    }
}
