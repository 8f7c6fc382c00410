//! The IKEv2 core driven by the daemon: datagrams in, transmits out, the core's
//! events carried out (kernel SAs and policies, updown, whack progress), kernel
//! events (ACQUIRE, EXPIRE) fed back.
//!
//! Everything here is `impl Pluto`: the main loop calls [`Pluto::datagram`],
//! [`Pluto::timeout`] and [`Pluto::kernel_event`], then [`Pluto::pump`] to drain
//! what the core produced. Kernel changes and updown runs are queued to the kernel
//! worker ([`crate::kworker`]) in per-connection order; its results come back as
//! an input, [`Pluto::kernel_done`]. Reads (counters for liveness and
//! `--trafficstatus`, the resync dump, route lookups) are still awaited in line.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use conn::spec::{FailShunt, OnTraffic};
use control::rc;
use control::server::Responder;
use ike::ikev2::{
    ChildSaDelete, ChildSaInstall, Connection as IkeConn, Event, KernelRequest, Mode, Progress,
    RekeyResult, SaEnd, SaSerial,
};
use ike::ts::TrafficSelector;
use kernel::{IpsecProto, Kernel, KernelError, KernelEvent, PolicySpec, SaId};

use crate::children::{KeptPolicies, KeptSas};
use crate::convert::{self, Lookup};
use crate::kworker::{self, Done, Job, Lane, Op, OpResult, Tag};
use crate::pluto::Pluto;
use crate::sockets::Datagram;
use crate::updown::{self, Verb};
use crate::xfrm::{self, ChildPlan};

/// A whack `--initiate` waiting for the outcome.
#[derive(Debug)]
pub struct Waiter {
    /// The connection (the core's name for it).
    pub connection: String,
    /// Where progress goes.
    pub responder: Responder,
}

/// An installed Child SA.
#[derive(Debug, Clone)]
pub struct ChildRec {
    /// Connection (its name, shared by the connection's records: see
    /// [`Children::insert`](crate::children::Children::insert)).
    pub connection: Arc<str>,
    /// Its IKE SA.
    pub ike: SaSerial,
    /// Our inbound SA.
    pub inbound: SaId,
    /// The outbound SA.
    pub outbound: SaId,
    /// The policies installed for it: what deleting them and telling rekeys from
    /// other tunnels need.
    pub policies: KeptPolicies,
    /// The inbound and outbound SAs as installed (keys zeroized on drop), kept
    /// to update their encapsulation after a NAT mapping change.
    pub sa_specs: KeptSas,
    /// Reqid.
    pub reqid: u32,
    /// Tunnel or transport.
    pub mode: Mode,
    /// When it was installed.
    pub added: SystemTime,
    /// Monotonic install time, for REPLACE/EXPIRE countdowns.
    pub added_at: Instant,
    /// Its lifetime.
    pub lifetime: Duration,
    /// Bytes in, as last read from the kernel.
    pub in_bytes: u64,
    /// Bytes out, as last read from the kernel.
    pub out_bytes: u64,
    /// The peer's ID, libreswan's text form.
    pub peer_id: String,
    /// updown contexts, one per client pair, for "down".
    pub updown: Vec<updown::Context>,
    /// The updown command, if any.
    pub updown_cmd: Option<String>,
    /// Whether "up" ran (so "down" should).
    pub up: bool,
}

/// A Child SA queued for install, until the kernel worker answers: what a
/// delete queued meanwhile needs, and what its record is made of then.
#[derive(Debug, Clone)]
pub struct Installing {
    /// Connection.
    pub connection: String,
    /// Its IKE SA.
    pub ike: SaSerial,
    /// Reqid.
    pub reqid: u32,
    /// Tunnel or transport.
    pub mode: Mode,
    /// Its lifetime.
    pub lifetime: Duration,
    /// Our inbound SA.
    pub inbound: SaId,
    /// The outbound SA.
    pub outbound: SaId,
    /// The SAs' and policies' mark.
    pub mark: Option<kernel::Mark>,
    /// Its policies.
    pub policies: Vec<kernel::PolicyId>,
    /// Our selectors (for updown).
    pub local_ts: Vec<TrafficSelector>,
    /// The peer's.
    pub remote_ts: Vec<TrafficSelector>,
}

/// What the removal of a Child SA needs of it.
struct Gone {
    inbound: SaId,
    outbound: SaId,
    mark: Option<kernel::Mark>,
    last: (u64, u64),
    up: bool,
    updown: Option<(String, Vec<updown::Context>)>,
    policies: Vec<kernel::PolicyId>,
}

/// An established IKE SA's timing, for status.
#[derive(Debug, Clone, Copy)]
pub struct IkeRec {
    /// When it was established.
    pub at: Instant,
    /// Its lifetime.
    pub lifetime: Duration,
}

/// A routed connection's prospective policies and bare shunts.
#[derive(Debug, Clone)]
pub struct Route {
    /// Reqid of its policies (ties ACQUIREs to it).
    pub reqid: u32,
    /// The prospective policies: traps (`--initiateontraffic`) or `--pass`,
    /// `--drop`, `--reject` shunts over the connection's selectors.
    pub traps: Vec<PolicySpec>,
    /// What to install when a negotiation fails (`--fail*`).
    pub failure: FailShunt,
    /// The connection's XFRM mark (`--conn-mark`).
    pub mark: Option<kernel::Mark>,
    /// The packet whose ACQUIRE started the negotiation under way, if any.
    pub flow: Option<kernel::Selector>,
    /// Failure shunts installed for this connection (libreswan's bare shunts).
    pub shunts: Vec<BareShunt>,
}

/// A bare shunt: a template-less policy for a flow whose negotiation failed.
#[derive(Debug, Clone)]
pub struct BareShunt {
    /// The policy as installed.
    pub policy: PolicySpec,
    /// libreswan's reason text.
    pub why: &'static str,
}

/// How long a shutdown (SIGTERM, SIGINT or `--shutdown`) spends on courtesy: the
/// Deletes to every peer and what the kernel worker has queued, with the updown
/// "down" and "unroute" runs. What is not done by then is dropped (a running
/// script is killed) and the flush of pluto's own kernel state follows, so that
/// pluto is gone about two seconds after it was told to go, however loaded it is
/// and whatever a script does (a service manager that waits no longer must not
/// find it half-stopped).
pub const SHUTDOWN_GRACE: Duration = Duration::from_millis(1500);

/// libreswan's reason for a failure shunt that replaced a negotiation shunt.
pub const FAILURE_SHUNT_WHY: &str = "oe-failing";

/// What updown needs to know of a Child SA or a routed connection.
struct SaShape<'a> {
    connection: &'a str,
    mode: Mode,
    me: IpAddr,
    peer: IpAddr,
    local_ts: &'a [TrafficSelector],
    remote_ts: &'a [TrafficSelector],
}

/// The packet an ACQUIRE reports (the kernel narrows its selector to the packet's
/// hosts, protocol and ports) as the core's single-host traffic selectors.
fn triggering_packet(sel: &kernel::Selector) -> Option<ike::ikev2::TriggeringPacket> {
    let ts = |addr: IpAddr, port: Option<u16>| {
        let (lo, hi) = port.map_or((0, 65535), |p| (p, p));
        TrafficSelector::new(sel.proto, lo, hi, addr, addr).ok()
    };
    Some(ike::ikev2::TriggeringPacket {
        local: ts(sel.src.addr(), sel.sport)?,
        remote: ts(sel.dst.addr(), sel.dport)?,
    })
}

/// The Child SAs whose inbound or outbound SA is not among the kernel's `present`
/// SAs (a hard EXPIRE lost in an event socket overflow), with the missing SA.
pub fn missing_children<'a>(
    children: impl IntoIterator<Item = (&'a SaSerial, &'a ChildRec)>,
    present: &std::collections::HashSet<SaId>,
) -> Vec<(SaSerial, SaId)> {
    children
        .into_iter()
        .filter_map(|(s, c)| {
            [c.inbound, c.outbound]
                .into_iter()
                .find(|id| !present.contains(id))
                .map(|id| (*s, id))
        })
        .collect()
}

/// The whack code for a negotiation that failed with notification `n`: libreswan's
/// RC_NOTIFICATION + n (224 for AUTHENTICATION_FAILED, 214 for NO_PROPOSAL_CHOSEN,
/// 238 for TS_UNACCEPTABLE), which its whack exits with. Notify types too large
/// for an exit status (private-use errors) give RC_FATAL instead.
pub fn notification_rc(n: ike::registry::NotifyType) -> u32 {
    let code = rc::NOTIFICATION + u32::from(n.0);
    if code <= 255 {
        code
    } else {
        rc::FATAL
    }
}

/// A byte count as libreswan's status prints it: `84B`, `29KB`, `3MB`, `2GB`.
pub fn amount(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KB", "MB", "GB"];
    let mut n = bytes;
    let mut u = 0;
    while n >= 1024 && u + 1 < UNITS.len() {
        n /= 1024;
        u += 1;
    }
    format!("{n}{}", UNITS[u])
}

/// A job's kernel failures: installs at warning level, deletes (mostly of what
/// is gone already) at debug level, as the inline code logged them.
fn log_kernel_errors(connection: &str, d: &Done) {
    for r in &d.results {
        if let OpResult::Kernel(what, e) = r {
            if *what == kworker::INSTALLING_POLICY {
                tracing::warn!("\"{connection}\": {what}: {e}");
            } else {
                tracing::debug!("\"{connection}\": {what}: {e}");
            }
        }
    }
}

/// updown runs of `verbs` for each of `ctxs`, in that order.
fn script_ops(cmd: &str, verbs: &[Verb], ctxs: &[updown::Context]) -> Vec<Op> {
    let cmd: Arc<str> = Arc::from(cmd);
    verbs
        .iter()
        .flat_map(|v| {
            ctxs.iter().map(|c| Op::Updown {
                cmd: cmd.clone(),
                verb: *v,
                ctx: Box::new(c.clone()),
            })
        })
        .collect()
}

fn no_kernel() -> KernelError {
    KernelError::Invalid(
        "pluto has no kernel interface (XFRM netlink could not be opened at start; see the log)"
            .into(),
    )
}

impl Pluto {
    /// The core's configuration of a connection by name, with `peer` for one whose
    /// peer is `%any`.
    pub fn ike_conn(
        &self,
        name: &str,
        peer: Option<IpAddr>,
    ) -> Result<Arc<IkeConn>, convert::ConvertError> {
        let c = self
            .conns
            .find(name)
            .ok_or(convert::ConvertError::NotOriented)?;
        convert::connection(c, peer).map(Arc::new)
    }

    /// The reqid of a connection by name (its database serial decides it).
    pub fn reqid_of(&self, name: &str) -> u32 {
        self.conns
            .find(name)
            .map(|c| xfrm::reqid(c.serial.0))
            .unwrap_or(xfrm::REQID_BASE)
    }

    /// The routed connection whose policies carry `reqid`: the reqid names the
    /// connection's database serial ([`xfrm::reqid`]), so this is two lookups, not
    /// a scan of the routed connections.
    fn routed_by_reqid(&self, reqid: u32) -> Option<String> {
        let serial = reqid.checked_sub(xfrm::REQID_BASE)? / 4;
        let c = self
            .conns
            .get(conn::connection::ConnSerial(u64::from(serial)))?;
        let rt = self.routed.get(&*c.name)?;
        (rt.reqid == reqid).then(|| c.name.to_string())
    }

    /// Hands one received datagram to the core.
    pub fn datagram(&mut self, d: Datagram) {
        let now = Instant::now();
        // The core needs the lookup while it is borrowed mutably: build the lookup
        // over disjoint fields.
        let lookup = Lookup {
            conns: &self.conns,
            secrets: &self.secrets,
        };
        self.totals.add("total.ike.traffic.in", d.data.len() as u64);
        self.ike.handle(now, d.local, d.remote, &d.data, &lookup);
    }

    /// When the core next needs [`Pluto::timeout`].
    pub fn next_timeout(&self) -> Option<Instant> {
        self.ike.poll_timeout()
    }

    /// Runs the core's due timers. When a liveness check is due, the inbound byte
    /// counters of that IKE SA's Child SAs are read first: ESP traffic from the
    /// peer counts as contact (RFC 7296 2.4), so a busy tunnel is not probed.
    pub async fn timeout(&mut self) {
        let now = Instant::now();
        let due = self.ike.liveness_due(now);
        if !due.is_empty() {
            self.poll_traffic(&due, now).await;
        }
        self.ike.handle_timeout(now);
    }

    /// Reads the inbound counters of the Child SAs of IKE SAs `ikes` and tells the
    /// core of those that grew.
    async fn poll_traffic(&mut self, ikes: &[SaSerial], now: Instant) {
        let Some(k) = self.kernel.clone() else { return };
        let mut grew = Vec::new();
        for (serial, c) in self
            .children
            .iter_mut()
            .filter(|(_, c)| ikes.contains(&c.ike))
        {
            match k.sa_counters(&c.inbound, None).await {
                Ok(n) if n.bytes > c.in_bytes => {
                    c.in_bytes = n.bytes;
                    grew.push(*serial);
                }
                Ok(_) => {}
                Err(e) => tracing::debug!("counters of {}: {e}", c.inbound),
            }
        }
        for s in grew {
            self.ike.note_peer_traffic(s, now);
        }
    }

    /// A kernel event: ACQUIRE on a routed connection initiates; EXPIRE rekeys
    /// (soft) or deletes (hard) the Child SA; MAPPING moves the peer's NAT port.
    pub async fn kernel_event(&mut self, ev: KernelEvent) {
        let now = Instant::now();
        match ev {
            KernelEvent::Acquire {
                src,
                dst,
                reqid,
                selector,
                ..
            } => {
                let Some(name) = reqid.and_then(|r| self.routed_by_reqid(r)) else {
                    tracing::debug!(
                        "ACQUIRE {src} -> {dst} (reqid {reqid:?}) matches no routed connection; ignored"
                    );
                    return;
                };
                tracing::info!("\"{name}\": acquired {src} -> {dst}: initiating");
                if let Some(rt) = self.routed.get_mut(&name) {
                    rt.flow = Some(selector);
                }
                match self.ike_conn(&name, None) {
                    Ok(c) => {
                        let res = match triggering_packet(&selector) {
                            Some(p) => self.ike.handle_acquire_packet(c, p, now),
                            None => self.ike.handle_acquire(c, now),
                        };
                        if let Err(e) = res {
                            tracing::warn!("\"{name}\": cannot initiate on ACQUIRE: {e}");
                        }
                    }
                    Err(e) => tracing::warn!("\"{name}\": cannot initiate on ACQUIRE: {e}"),
                }
            }
            KernelEvent::Expire { sa, hard, .. } => {
                // The core schedules rekeys and expiries itself; the kernel's soft
                // limit comes after its rekey time (xfrm::lifetimes), so a soft
                // EXPIRE is only a hint for a rekey that never started.
                tracing::debug!(
                    "{} EXPIRE for SA {sa}: {}",
                    if hard { "hard" } else { "soft" },
                    if hard {
                        "deleting its Child SA"
                    } else {
                        "rekeying its Child SA unless under way or not wanted"
                    }
                );
                if let Err(e) = self.ike.handle_expire(sa.spi, hard, now) {
                    tracing::warn!("EXPIRE for SA {sa}: {e}");
                }
            }
            KernelEvent::Mapping { sa, old, new, .. } => self.nat_mapping(sa, old, new, now).await,
            KernelEvent::PolExpire {
                selector: Some(selector),
                dir: Some(dir),
                hard: true,
                mark,
                if_id,
                ..
            } => {
                let id = kernel::PolicyId {
                    selector,
                    dir,
                    mark,
                    if_id,
                };
                if let Some(k) = self.kernel.clone() {
                    k.policy_expired(&id).await;
                }
                self.shunt_expired(&id).await;
            }
            KernelEvent::PolExpire { .. } => {}
            KernelEvent::Lost => self.resync(now).await,
        }
    }

    /// Sends what the core queued and carries out its events, until both queues are
    /// empty (handling an event may queue more); compute jobs go to the helpers.
    pub async fn pump(&mut self) {
        loop {
            while let Some(job) = self.ike.poll_compute() {
                self.compute.submit(job);
            }
            while let Some(t) = self.ike.poll_transmit() {
                self.totals
                    .add("total.ike.traffic.out", t.contents.len() as u64);
                self.sockets.send(&t).await;
            }
            let Some(ev) = self.ike.poll_event() else {
                break;
            };
            self.on_event(ev).await;
        }
    }

    fn tell(&mut self, connection: &str, code: u32, text: &str) {
        self.waiters.tell(connection, code, text);
    }

    /// Ends every waiting `--initiate` of `connection`; `fail` adds a last line with
    /// that code so whack exits with it.
    fn finish(&mut self, connection: &str, fail: Option<(u32, String)>) {
        for mut w in self.waiters.take(connection) {
            if let Some((code, text)) = &fail {
                w.responder.line(*code, text.clone());
            }
            w.responder.finish();
        }
    }

    /// A progress line of the core (which has logged it already) for the waiting
    /// whacks.
    fn progress(&mut self, p: &Progress) {
        let line = p.to_string();
        self.tell(&p.connection, p.rc.0, &line);
    }

    async fn on_event(&mut self, ev: Event) {
        let now = Instant::now();
        self.shunts_follow(&ev).await;
        match ev {
            Event::Progress(p) => self.progress(&p),
            Event::Kernel(KernelRequest::InstallChildSa(req)) => {
                // The core announces the Child SA (and retires the one a rekey
                // replaces) only once the kernel has taken it: the worker's
                // answer comes back through `kernel_done`.
                if let Err(e) = self.install(&req).await {
                    self.install_failed(&req.connection, req.child, &e, now);
                }
            }
            Event::Kernel(KernelRequest::DeleteChildSa(d)) => self.uninstall(&d).await,
            Event::IkeSaEstablished {
                ike,
                connection,
                replaces,
            } => {
                // Read from the database: building the core's connection just
                // for its lifetime cost more than the rest of this event.
                let lifetime = self
                    .conns
                    .find(&connection)
                    .map(|c| c.policy.ike_lifetime)
                    .unwrap_or(conn::policy::DEFAULT_IKE_LIFETIME);
                if self
                    .ike_sas
                    .insert(ike, IkeRec { at: now, lifetime })
                    .is_none()
                {
                    self.per_conn.ike_up(&connection, replaces.is_some());
                }
                self.totals.add("total.ike.ikev2.established", 1);
                self.instantiate(&connection, ike, replaces);
                // Without --encrypt/--authenticate the IKE SA is all there is: a
                // waiting --initiate is done (exit 0), as with libreswan.
                let ike_only = self
                    .conns
                    .find(&connection)
                    .is_some_and(|c| !c.policy.has_ipsec());
                if ike_only {
                    self.finish(&connection, None);
                }
            }
            Event::ChildSaEstablished {
                connection, child, ..
            } => {
                self.set_routing(&connection);
                // A rekey replaces a Child SA that is already up: the routes and
                // firewall rules of "up" are in place and stay.
                let rekey = self.children.same_traffic_as(child).any(|(_, c)| c.up);
                if rekey {
                    self.per_conn.child_rekeyed(&connection);
                }
                // Otherwise a waiting whack is released once "up" has run.
                if rekey || !self.queue_up(child).await {
                    if let Some(c) = self.children.get_mut(&child) {
                        c.up = true;
                    }
                    self.finish(&connection, None);
                }
            }
            Event::ChildSaFailed {
                connection,
                child,
                notify,
            } => {
                let failed = crate::stats::FailedSa::Child;
                self.per_conn
                    .failed(&connection, failed, notify.to_string());
                self.finish(
                    &connection,
                    Some((
                        notification_rc(notify),
                        format!("\"{connection}\" {child}: Child SA failed: {notify}"),
                    )),
                );
            }
            Event::ChildSaDeleted { child, connection } => {
                self.children.remove(&child);
                self.set_routing(&connection);
            }
            Event::RekeyFinished {
                connection,
                old,
                result,
            } => {
                // Ends a waiting `--rekey-ike/--rekey-child`: 0 once rekeyed,
                // RC_NOTIFICATION + n when the peer refused (as --initiate does).
                if let RekeyResult::Refused(n) = &result {
                    let failed = crate::stats::FailedSa::Rekey;
                    self.per_conn.failed(&connection, failed, n.to_string());
                }
                let fail = match result {
                    RekeyResult::Rekeyed(new) => {
                        tracing::debug!("\"{connection}\" {old}: rekeyed by {new}");
                        None
                    }
                    RekeyResult::Refused(n) => Some((
                        notification_rc(n),
                        format!("\"{connection}\" {old}: rekey failed: the peer answered {n}"),
                    )),
                    RekeyResult::Failed(why) => Some((
                        rc::FATAL,
                        format!("\"{connection}\" {old}: rekey failed: {why}"),
                    )),
                };
                self.finish(&connection, fail);
            }
            Event::IkeSaDeleted {
                connection,
                ike,
                reason,
                final_failure,
            } => {
                if self.ike_sas.remove(&ike).is_some() {
                    self.per_conn.ike_down(&connection);
                }
                if let Some(inst) = self.instances.remove(&ike) {
                    if let Some(c) = self.conns.remove(inst) {
                        tracing::info!("{}: deleting connection instance", c.display_name());
                    }
                }
                let failed = !matches!(reason, SaEnd::Deleted | SaEnd::LifetimeExpired);
                if failed {
                    self.totals.add("total.ike.ikev2.failed", 1);
                }
                if let Some(why) = crate::stats::failure_reason(&reason) {
                    let failed = crate::stats::FailedSa::Ike;
                    self.per_conn.failed(&connection, failed, why);
                }
                if final_failure || failed {
                    let (code, why) = match &reason {
                        SaEnd::Timeout => (
                            rc::NORETRANSMISSION,
                            "no response (or no acceptable response) from the peer".to_string(),
                        ),
                        SaEnd::Failed(n) => {
                            (notification_rc(*n), format!("negotiation failed: {n}"))
                        }
                        SaEnd::HalfOpenExpired => (rc::FATAL, "IKE_AUTH never arrived".to_string()),
                        SaEnd::PeerDead => (
                            rc::NORETRANSMISSION,
                            "the peer is dead (liveness)".to_string(),
                        ),
                        SaEnd::Error(e) => (rc::FATAL, e.clone()),
                        SaEnd::Deleted | SaEnd::LifetimeExpired => (
                            rc::FATAL,
                            "IKE SA deleted before the Child SA was up".into(),
                        ),
                    };
                    // Like libreswan, whack is released after the first failed
                    // attempt; further keying tries go on in the background.
                    let more = if final_failure || !self.ike_pending(&connection) {
                        ""
                    } else {
                        "; keying attempts continue in the background, but releasing whack"
                    };
                    self.finish(
                        &connection,
                        Some((code, format!("\"{connection}\" {ike}: {why}{more}"))),
                    );
                }
                if reason == SaEnd::PeerDead {
                    self.liveness_action(&connection, ike, now);
                }
            }
        }
    }

    /// The peer of IKE SA `ike` is dead (liveness, or `whack --crash`); its Child
    /// SAs are gone already, with updown `down` run and a routed connection's trap
    /// policies put back by their uninstall. What is left is libreswan 5's
    /// revival: an `auto=start` connection is initiated again; a routed one stays
    /// on its trap (the next packet initiates); any other is left down. An
    /// instance of a template was removed with its IKE SA above: nothing to do.
    fn liveness_action(&mut self, connection: &str, ike: SaSerial, now: Instant) {
        let Some(c) = self.conns.find(connection) else {
            return;
        };
        if c.is_template() {
            tracing::info!(
                "\"{connection}\" {ike}: liveness action - clearing connection kind CK_INSTANCE"
            );
            return;
        }
        if self.ike_pending(connection) {
            // Another IKE SA of the connection lives on (a successor).
            return;
        }
        if self.keep_up.contains(connection) {
            tracing::info!(
                "\"{connection}\" {ike}: liveness action - restarting all connections that share this peer"
            );
            match self.ike_conn(connection, None) {
                Ok(k) => {
                    if let Err(e) = self.ike.initiate(k, now) {
                        tracing::warn!("\"{connection}\": cannot restart: {e}");
                    }
                }
                Err(e) => tracing::warn!("\"{connection}\": cannot restart: {e}"),
            }
        } else if self.routed.contains_key(connection) {
            tracing::info!(
                "\"{connection}\" {ike}: liveness action - putting connection into hold (trap policy restored; traffic initiates it again)"
            );
        } else {
            tracing::info!(
                "\"{connection}\" {ike}: liveness action - clearing connection kind CK_PERMANENT"
            );
        }
    }

    /// A template that answered a peer gets an instance for it in the database (as
    /// libreswan's `"rw"[1] 192.0.2.9`), shown by `--connectionstatus` and removed
    /// with the IKE SA. The core keeps the template's name for lookups but prefixes
    /// the SA's log and whack lines with the instance's, as libreswan does. An IKE
    /// SA that replaces one of an instance (IKE rekey) inherits the instance
    /// rather than making a new one (`replaces`: found by the old serial, not by
    /// looking through every instance).
    fn instantiate(&mut self, connection: &str, ike: SaSerial, replaces: Option<SaSerial>) {
        let Some(t) = self.conns.find(connection).filter(|c| c.is_template()) else {
            return;
        };
        let template = t.serial;
        if let Some(inst) = replaces.and_then(|old| self.instances.remove(&old)) {
            self.instances.insert(ike, inst);
            return;
        }
        let Some(peer) = self.ike.ike_sa_status(ike).map(|s| s.remote.ip()) else {
            return;
        };
        match self.conns.instantiate(template, peer, None) {
            Ok(inst) => {
                if let Some(c) = self.conns.get(inst) {
                    let name = c.display_name();
                    tracing::info!("{name}: instantiated for IKE SA {ike}");
                    if let Err(e) = self.ike.set_instance_name(ike, name) {
                        tracing::debug!("cannot name the instance of IKE SA {ike}: {e}");
                    }
                }
                self.instances.insert(ike, inst);
            }
            Err(e) => tracing::warn!("\"{connection}\": cannot instantiate for {peer}: {e}"),
        }
    }

    /// Events were lost (ENOBUFS on the XFRM event socket): one SA dump, and every
    /// Child SA the kernel no longer has is handled as hard-expired. Lost
    /// ACQUIREs come back by themselves (the kernel repeats them for as long as
    /// traffic hits the trap).
    async fn resync(&mut self, now: Instant) {
        let Some(k) = self.kernel.clone() else { return };
        let present: std::collections::HashSet<SaId> = match k.sas().await {
            Ok(v) => v.into_iter().map(|i| i.id).collect(),
            Err(e) => {
                tracing::warn!("XFRM events were lost and the SAs cannot be listed: {e}");
                return;
            }
        };
        let gone = missing_children(self.children.iter(), &present);
        tracing::info!(
            "XFRM events were lost: resynchronised with {} kernel SA(s); {} Child SA(s) gone from the kernel",
            present.len(),
            gone.len()
        );
        for (child, sa) in gone {
            let name = self
                .children
                .get(&child)
                .map(|c| c.connection.clone())
                .unwrap_or_default();
            tracing::info!(
                "\"{name}\" {child}: SA {sa} is gone from the kernel: treating it as hard-expired"
            );
            if let Err(e) = self.ike.handle_expire(sa.spi, true, now) {
                tracing::warn!("\"{name}\" {child}: {e}");
            }
        }
    }

    /// XFRM MAPPING: ESP-in-UDP for our inbound SA `sa` arrived from `new` instead
    /// of `old` (the NAT in front of the peer re-mapped it). The IKE SA follows
    /// (the core logs libreswan's "NAT-T: new mapping"), and every Child SA of that
    /// IKE SA gets its encapsulation updated in the kernel (UPDSA), so ESP goes to
    /// the port the peer is now reachable at.
    async fn nat_mapping(&mut self, sa: SaId, old: SocketAddr, new: SocketAddr, now: Instant) {
        // By the core's SPI index, then checked against what was installed (the
        // destination and protocol too).
        let Some(child) = self
            .ike
            .child_of_inbound_spi(sa.spi)
            .filter(|c| self.children.get(c).is_some_and(|r| r.inbound == sa))
        else {
            tracing::debug!("NAT mapping change for SA {sa}, which is not ours; ignored");
            return;
        };
        let ike = match self.ike.handle_mapping(child, new, now) {
            Ok(ike) => ike,
            Err(e) => {
                tracing::warn!("NAT mapping change {old} -> {new} of SA {sa}: {e}");
                return;
            }
        };
        let Some(st) = self.ike.ike_sa_status(ike) else {
            return;
        };
        let name = st
            .instance
            .clone()
            .unwrap_or_else(|| format!("\"{}\"", st.connection));
        if self.kworker.is_none() {
            tracing::warn!(
                "{name} {ike}: NAT-T: cannot update the Child SAs: {}",
                no_kernel()
            );
            return;
        }
        for c in st.children.iter().map(|c| c.serial) {
            let Some(rec) = self.children.get(&c) else {
                continue;
            };
            let (i0, o0) = rec.sa_specs.specs();
            let (i, o) = match crate::xfrm::remap_encap(&i0, &o0, old, new) {
                Ok(Some(specs)) => specs,
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!("{name} {c}: NAT-T: {e}");
                    continue;
                }
            };
            let lane = self.lane(&rec.connection, rec.outbound.dst);
            let ops = vec![
                Op::UpdateSa(Box::new(i.clone())),
                Op::UpdateSa(Box::new(o.clone())),
            ];
            let tag = Tag::Mapping {
                child: c,
                name: name.clone(),
                new,
                specs: Box::new((i, o)),
            };
            self.submit(lane, tag, ops).await;
        }
    }

    /// The peer's ID for `--trafficstatus` and updown: the one it authenticated
    /// with in IKE SA `ike` (a template's `%any` says nothing), else the
    /// connection's configured one.
    fn peer_id_text(&self, ike: SaSerial, connection: &str) -> String {
        let authenticated = self
            .ike
            .ike_sa_status(ike)
            .and_then(|s| s.peer_id)
            .and_then(|i| crate::convert::conn_id(&i));
        match authenticated {
            Some(id) => id.to_string(),
            None => self
                .conns
                .find(connection)
                .and_then(|c| c.remote_end().map(|e| e.id.to_string()))
                .unwrap_or_default(),
        }
    }

    /// Whether an IKE SA of the connection still exists (a retry under way).
    fn ike_pending(&self, connection: &str) -> bool {
        self.ike.has_ike_sa(connection)
    }

    fn kernel(&self) -> Result<Kernel, KernelError> {
        self.kernel.clone().ok_or_else(no_kernel)
    }

    /// The lane of a connection's kernel work: the connection, or for a
    /// template the instance for `peer`.
    fn lane(&self, connection: &str, peer: IpAddr) -> Lane {
        let template = self.conns.find(connection).is_some_and(|c| c.is_template());
        Lane {
            connection: connection.to_string(),
            peer: template.then_some(peer),
        }
    }

    /// The lane of a connection's own work (routes, traps, shunts); a template's
    /// is apart from its instances'.
    fn conn_lane(&self, connection: &str) -> Lane {
        self.lane(connection, IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED))
    }

    /// Whether a Child SA of the connection is installed or queued to the kernel
    /// worker (whose policies then replace the traps): what later work of the
    /// connection, queued behind it, must leave alone. The queued ones are few
    /// (the worker's bound) and this serves whack and failure paths only.
    fn has_child_sa(&self, name: &str) -> bool {
        self.children.has_connection(name) || self.installing.values().any(|r| r.connection == name)
    }

    /// Queues a job to the kernel worker; false without one (no kernel).
    async fn submit(&mut self, lane: Lane, tag: Tag, ops: Vec<Op>) -> bool {
        if ops.is_empty() {
            return false;
        }
        match self.kworker.as_mut() {
            Some(w) => {
                w.submit(Job { lane, tag, ops }).await;
                true
            }
            None => {
                tracing::debug!("no kernel worker: {tag:?} not carried out");
                false
            }
        }
    }

    /// Queues a Child SA's install. What a delete needs of it waits in
    /// `installing` until the worker answers ([`Pluto::kernel_done`]); the record
    /// in `children` is made then, so `--status` shows only what the kernel holds.
    async fn install(&mut self, req: &ChildSaInstall) -> Result<(), KernelError> {
        if self.kworker.is_none() {
            return Err(no_kernel());
        }
        let reqid = self.reqid_of(&req.connection);
        let mut plan = xfrm::child_plan(req, reqid)?;
        xfrm::set_mark(&mut plan, self.mark_of(&req.connection)?);
        let restore = self
            .routed
            .get(&req.connection)
            .map(|r| r.traps.clone())
            .unwrap_or_default();
        self.touched_kernel = true;
        self.installing.insert(
            req.child,
            Installing {
                connection: req.connection.clone(),
                ike: req.ike,
                reqid,
                mode: req.mode,
                lifetime: req.lifetime,
                inbound: plan.inbound.id,
                outbound: plan.outbound.id,
                mark: plan.inbound.mark,
                policies: plan.policies.iter().map(|p| p.id()).collect(),
                local_ts: req.local_ts.clone(),
                remote_ts: req.remote_ts.clone(),
            },
        );
        let ops = vec![Op::Install {
            plan: Box::new(plan),
            restore,
        }];
        let tag = Tag::Install {
            child: req.child,
            ah: req.protocol == ike::registry::ProtocolId::AH,
            encap: req.encap.is_some(),
        };
        let lane = self.lane(&req.connection, req.outbound.dst);
        self.submit(lane, tag, ops).await;
        Ok(())
    }

    /// The record of a Child SA the kernel took, with its updown environments
    /// (built now, as when the install was awaited in line: a Child SA the
    /// kernel refuses costs no route lookup).
    async fn installed_rec(&self, i: Installing, plan: ChildPlan) -> ChildRec {
        let peer_id = self.peer_id_text(i.ike, &i.connection);
        let shape = SaShape {
            connection: &i.connection,
            mode: i.mode,
            me: plan.inbound.id.dst,
            peer: plan.outbound.id.dst,
            local_ts: &i.local_ts,
            remote_ts: &i.remote_ts,
        };
        let (mut ctxs, cmd) = self.updown_contexts(&shape, i.reqid).await;
        // PLUTO_PEER_ID is the ID the peer authenticated with (a template's
        // configured `%any` says nothing about who connected).
        for c in &mut ctxs {
            c.peer_id.clone_from(&peer_id);
        }
        ChildRec {
            connection: i.connection.as_str().into(),
            ike: i.ike,
            inbound: plan.inbound.id,
            outbound: plan.outbound.id,
            policies: KeptPolicies::keep(plan.policies.iter().map(PolicySpec::id).collect()),
            sa_specs: KeptSas::keep(plan.inbound, plan.outbound),
            reqid: i.reqid,
            mode: i.mode,
            added: SystemTime::now(),
            added_at: Instant::now(),
            lifetime: i.lifetime,
            in_bytes: 0,
            out_bytes: 0,
            peer_id,
            updown: ctxs,
            updown_cmd: cmd,
            up: false,
        }
    }

    /// The kernel did not take Child SA `child`: whack hears why, the core deletes
    /// it with the peer (or refuses it in its held response).
    fn install_failed(
        &mut self,
        connection: &str,
        child: SaSerial,
        e: &dyn std::fmt::Display,
        now: Instant,
    ) {
        let text = format!("\"{connection}\" {child}: cannot install Child SA in the kernel: {e}");
        self.tell(connection, rc::LOG, &text);
        if let Err(e2) = self.ike.child_sa_install_failed(child, &e.to_string(), now) {
            tracing::error!("{text}");
            tracing::debug!("\"{connection}\" {child}: {e2}");
        }
        self.finish(
            connection,
            Some((
                rc::FATAL,
                format!("\"{connection}\" {child}: Child SA not installed; the IKE SA stays up"),
            )),
        );
    }

    /// A job of the kernel worker finished: its results go where the inline code
    /// put them (the core, whack, the records and counters, the log). The main
    /// loop pumps after this, as after any input.
    pub async fn kernel_done(&mut self, mut d: Done) {
        if let Some(w) = self.kworker.as_mut() {
            w.completed(&d.lane);
        }
        self.kernel_result(&mut d).await;
        self.answer_settled();
    }

    /// whack requests answered once their connections' kernel work is done.
    fn answer_settled(&mut self) {
        if self.settling.is_empty() {
            return;
        }
        let Some(w) = self.kworker.as_ref() else {
            return;
        };
        let (done, wait): (Vec<_>, Vec<_>) = std::mem::take(&mut self.settling)
            .into_iter()
            .partition(|(names, _)| !names.iter().any(|n| w.busy(n)));
        self.settling = wait;
        for (_, r) in done {
            r.finish();
        }
    }

    /// Whether the kernel worker still has work of `connection`.
    pub fn kernel_busy(&self, connection: &str) -> bool {
        self.kworker.as_ref().is_some_and(|w| w.busy(connection))
    }

    async fn kernel_result(&mut self, d: &mut Done) {
        let now = Instant::now();
        match &d.tag {
            Tag::Install { child, ah, encap } => {
                let child = *child;
                let Some(pending) = self.installing.remove(&child) else {
                    // Deleted while queued: its delete job follows in the lane.
                    tracing::debug!("{child}: install answered after the Child SA went");
                    return;
                };
                let plan = d.results.iter_mut().find_map(|r| match r {
                    OpResult::Installed(p) => p.take(),
                    _ => None,
                });
                match (plan, d.kernel_error()) {
                    (Some(plan), None) => {
                        self.count_child_sa(*ah, *encap);
                        let rec = self.installed_rec(pending, *plan).await;
                        let connection = rec.connection.clone();
                        self.children.insert(child, rec);
                        if let Err(e) = self.ike.child_sa_installed(child, now) {
                            tracing::warn!("\"{connection}\" {child}: {e}");
                        }
                    }
                    (_, Some(e)) => {
                        let e = e.to_string();
                        self.install_failed(&pending.connection, child, &e, now);
                    }
                    (None, None) => {
                        let e = "the kernel worker returned no plan".to_string();
                        self.install_failed(&pending.connection, child, &e, now);
                    }
                }
            }
            Tag::Up { connection, child } => {
                self.tell_updown_errors(connection, Some(*child), d);
                self.finish(connection, None);
            }
            Tag::Delete {
                connection,
                child,
                last,
            } => {
                // total.ipsec.traffic.*: the bytes a Child SA carried, read last.
                let (i, o) = d
                    .results
                    .iter()
                    .find_map(|r| match r {
                        OpResult::Bytes(i, o) => Some((i.unwrap_or(last.0), o.unwrap_or(last.1))),
                        _ => None,
                    })
                    .unwrap_or(*last);
                self.totals.add("total.ipsec.traffic.in", i);
                self.totals.add("total.ipsec.traffic.out", o);
                self.per_conn.bytes(connection, i, o);
                self.tell_updown_errors(connection, Some(*child), d);
                log_kernel_errors(connection, d);
            }
            Tag::Connection { connection } => {
                for e in d.updown_errors() {
                    tracing::warn!("\"{connection}\": {e}");
                }
                log_kernel_errors(connection, d);
            }
            Tag::FailureShunts { connection, shunts } => {
                for (spec, r) in shunts.iter().zip(&d.results) {
                    match r {
                        OpResult::Kernel(_, e) => {
                            tracing::warn!(
                                "\"{connection}\": cannot install the failure shunt: {e}"
                            );
                            if let Some(rt) = self.routed.get_mut(connection) {
                                rt.shunts.retain(|s| s.policy.id() != spec.id());
                            }
                        }
                        _ => tracing::info!(
                            "\"{connection}\": negotiation failed: installed failure shunt {}",
                            xfrm::shunt_line(spec, FAILURE_SHUNT_WHY)
                        ),
                    }
                }
            }
            Tag::Mapping {
                child,
                name,
                new,
                specs,
            } => match d.kernel_error() {
                None => {
                    tracing::info!("{name} {child}: NAT-T: ESP-in-UDP now to {new}");
                    if let Some(rec) = self.children.get_mut(child) {
                        rec.sa_specs = KeptSas::keep(specs.0.clone(), specs.1.clone());
                    }
                }
                Some(e) => tracing::warn!(
                    "{name} {child}: NAT-T: cannot update the encapsulation to {new}: {e}"
                ),
            },
        }
    }

    /// updown failures of a Child SA's job: logged and told to a waiting whack.
    fn tell_updown_errors(&mut self, connection: &str, child: Option<SaSerial>, d: &Done) {
        let at = child.map(|c| format!(" {c}")).unwrap_or_default();
        for e in d.updown_errors() {
            let text = format!("\"{connection}\"{at}: {e}");
            tracing::warn!("{text}");
            self.tell(connection, rc::LOG, &text);
        }
    }

    /// Waits (at most `limit`) until the kernel worker has carried out everything
    /// queued, feeding each result in as the main loop would (which may queue
    /// more). False when time ran out first.
    pub async fn drain_kernel(&mut self, limit: Duration) -> bool {
        self.drain_kernel_until(tokio::time::Instant::now() + limit)
            .await
    }

    /// [`Pluto::drain_kernel`] up to a point in time.
    async fn drain_kernel_until(&mut self, deadline: tokio::time::Instant) -> bool {
        let Some(mut done) = self.kworker.as_mut().and_then(kworker::Worker::take_done) else {
            return true;
        };
        let all = self.drain_from(&mut done, deadline).await;
        if let Some(w) = self.kworker.as_mut() {
            w.put_done(done);
        }
        all
    }

    async fn drain_from(
        &mut self,
        done: &mut tokio::sync::mpsc::UnboundedReceiver<Done>,
        deadline: tokio::time::Instant,
    ) -> bool {
        let start = tokio::time::Instant::now();
        while let Some(n) = self.kworker.as_ref().map(kworker::Worker::outstanding) {
            if n == 0 {
                break;
            }
            match tokio::time::timeout_at(deadline, done.recv()).await {
                Ok(Some(d)) => {
                    self.kernel_done(d).await;
                    self.pump().await;
                }
                Ok(None) => return false,
                Err(_) => {
                    tracing::warn!(
                        "kernel worker: {n} request(s) still not carried out after {} ms; going on without them",
                        deadline.saturating_duration_since(start).as_millis()
                    );
                    return false;
                }
            }
        }
        true
    }

    /// `total.ipsec.type.*` for a Child SA the kernel took.
    fn count_child_sa(&mut self, ah: bool, encap: bool) {
        self.totals.add("total.ipsec.type.all", 1);
        if ah {
            self.totals.add("total.ipsec.type.ah", 1);
        } else {
            self.totals.add("total.ipsec.type.esp", 1);
        }
        if encap {
            self.totals.add("total.ipsec.type.encap", 1);
        } else {
            self.totals.add("total.ipsec.type.non_encap", 1);
        }
    }

    /// Queues a Child SA's removal, behind whatever its connection has queued:
    /// "down" (unless a rekey's successor carries on) with the counters read just
    /// before, "route" again for a routed connection, its trap back, its policies
    /// and SAs deleted.
    async fn uninstall(&mut self, d: &ChildSaDelete) {
        // One still being installed: what its delete needs is in `installing`,
        // and the install runs first in the lane.
        let gone = match self.installing.remove(&d.child) {
            Some(p) => Some(Gone {
                inbound: p.inbound,
                outbound: p.outbound,
                mark: p.mark,
                last: (0, 0),
                up: false,
                updown: None,
                policies: p.policies,
            }),
            None => self.children.get(&d.child).map(|r| Gone {
                inbound: r.inbound,
                outbound: r.outbound,
                mark: r.sa_specs.mark(),
                last: (r.in_bytes, r.out_bytes),
                up: r.up,
                updown: r.updown_cmd.clone().map(|c| (c, r.updown.clone())),
                policies: r.policies.ids().collect(),
            }),
        };
        let replaced = self.children.same_traffic_as(d.child).next().is_some();
        let routed = self.routed.contains_key(&d.connection);
        let mark = gone.as_ref().and_then(|g| g.mark);
        let mut ops = Vec::new();
        let mut last = (0, 0);
        if let Some(rec) = &gone {
            last = rec.last;
            ops.push(Op::Counters {
                inbound: rec.inbound,
                outbound: rec.outbound,
                mark,
            });
            // The old Child SA of a rekey goes without "down": its successor is up.
            if rec.up && !replaced {
                if let Some((cmd, ctxs)) = &rec.updown {
                    let mut ctxs = ctxs.clone();
                    for c in &mut ctxs {
                        c.bytes = Some(last);
                    }
                    ops.extend(script_ops(cmd, &[Verb::Down], &ctxs));
                }
                // "down" took the route away; a routed connection keeps its trap.
                if let Some(rt) = self.routed.get(&d.connection) {
                    let reqid = rt.reqid;
                    if let Ok(c) = self.ike_conn(&d.connection, None) {
                        ops.extend(self.route_scripts(&c, reqid, &[Verb::Route]).await);
                    }
                }
            }
            // Another Child SA may use the same policies (a second initiate of the
            // connection): those stay; a road-warrior template's instances each have
            // their own selectors and are not held back by one another.
            // Asked of the traffic index (its rekey predecessor or successor), not
            // of every Child SA: a delete must not cost all the others. One still
            // being installed is not in the index yet; its (rare) delete scans.
            let in_use: Vec<kernel::PolicyId> = if self.children.get(&d.child).is_some() {
                self.children
                    .same_traffic_as(d.child)
                    .flat_map(|(_, c)| c.policies.ids())
                    .collect()
            } else {
                self.children
                    .iter()
                    .filter(|(s, _)| **s != d.child)
                    .flat_map(|(_, c)| c.policies.ids())
                    .collect()
            };
            let traps: Vec<PolicySpec> = self
                .routed
                .get(&d.connection)
                .map(|r| r.traps.clone())
                .unwrap_or_default();
            if routed && in_use.is_empty() {
                ops.extend(traps.iter().map(|t| Op::ReplacePolicy(Box::new(t.clone()))));
            }
            for &id in &rec.policies {
                // Already back to its trap (replaced above), or still in use.
                if in_use.contains(&id) || traps.iter().any(|t| t.id() == id) {
                    continue;
                }
                ops.push(Op::DelPolicy(id));
            }
        }
        // The protocol the Child SA was negotiated with (an AH Child SA deleted
        // as ESP would stay in the kernel until shutdown).
        let proto = match d.protocol {
            ike::registry::ProtocolId::AH => IpsecProto::Ah,
            _ => IpsecProto::Esp,
        };
        for (spi, dst) in [
            (d.inbound_spi, d.inbound_dst),
            (d.outbound_spi, d.outbound_dst),
        ] {
            ops.push(Op::DelSa(SaId { dst, spi, proto }, mark));
        }
        let tag = Tag::Delete {
            connection: d.connection.clone(),
            child: d.child,
            last,
        };
        let lane = self.lane(&d.connection, d.outbound_dst);
        self.submit(lane, tag, ops).await;
    }

    async fn updown_contexts(
        &self,
        sa: &SaShape<'_>,
        reqid: u32,
    ) -> (Vec<updown::Context>, Option<String>) {
        let Some(c) = self.conns.find(sa.connection) else {
            return (Vec::new(), None);
        };
        let (Some(l), Some(r)) = (c.local_end(), c.remote_end()) else {
            return (Vec::new(), None);
        };
        let cmd = updown::command(l.updown.as_deref(), &self.updown_default);
        if cmd.is_none() {
            // `--updown %disabled`: nothing will read the variables, so neither
            // the route lookup for PLUTO_NEXT_HOP nor the contexts' memory (about
            // 1.3 KiB per tunnel) is spent.
            return (Vec::new(), None);
        }
        let (me, peer) = (sa.me, sa.peer);
        let req = sa;
        let interface = self
            .addrs_list()
            .into_iter()
            .find(|(_, a)| *a == me)
            .map(|(i, _)| i)
            .unwrap_or_default();
        let next_hop = match (l.nexthop, &self.kernel) {
            (Some(n), _) => n,
            (None, Some(k)) => match k.route_to(peer).await {
                Ok(rt) => rt.gateway.unwrap_or(peer),
                Err(_) => peer,
            },
            (None, None) => peer,
        };
        let subnet = |ts: &TrafficSelector| {
            ts.subnet()
                .and_then(|s| conn::addr::Subnet::new(s.addr(), s.prefix()))
                .unwrap_or_else(|| conn::addr::Subnet::all(ts.is_ipv6()))
        };
        let port = |ts: &TrafficSelector| {
            if ts.start_port() == ts.end_port() {
                ts.start_port()
            } else {
                0
            }
        };
        let mut out = Vec::new();
        for lt in req.local_ts.iter() {
            for rt in req.remote_ts.iter() {
                if lt.is_ipv6() != rt.is_ipv6() {
                    continue;
                }
                let my_client = subnet(lt);
                let sourceip = l.sourceip.or_else(|| {
                    if req.mode != Mode::Tunnel || my_client.is_host() {
                        return None;
                    }
                    self.addrs_list()
                        .into_iter()
                        .map(|(_, a)| a)
                        .find(|a| my_client.contains(*a))
                });
                out.push(updown::Context {
                    connection: req.connection.to_string(),
                    tunnel: req.mode == Mode::Tunnel,
                    me,
                    my_id: l.id.to_string(),
                    my_client,
                    my_protocol: lt.ip_proto(),
                    my_port: port(lt),
                    my_sourceip: sourceip,
                    peer,
                    peer_id: r.id.to_string(),
                    peer_client: subnet(rt),
                    peer_protocol: rt.ip_proto(),
                    peer_port: port(rt),
                    peer_ca: String::new(),
                    interface: interface.clone(),
                    next_hop,
                    reqid,
                    sa_type: "ESP",
                    conn_policy: c.policy.flags(),
                    bytes: None,
                    metric: c.policy.metric,
                    nflog_group: c.policy.nflog_group,
                    // A unique mark (-1) is allocated per instance, not known here.
                    conn_mark: c
                        .policy
                        .conn_mark
                        .filter(|m| !m.unique)
                        .map(|m| (m.value, m.mask)),
                });
            }
        }
        (out, cmd)
    }

    /// Queues updown "up" of an installed Child SA and marks it up (the lane runs
    /// a later "down" after it). False when there is no script to run.
    async fn queue_up(&mut self, child: SaSerial) -> bool {
        let Some(rec) = self.children.get_mut(&child) else {
            return false;
        };
        rec.up = true;
        let Some(cmd) = rec.updown_cmd.clone() else {
            // No script: "up" still counts as done, so the Child SA is known to
            // be up (a later Child SA of the same traffic is its rekey, not a
            // second tunnel that would look at every other one).
            return false;
        };
        let ops = script_ops(&cmd, &[Verb::Up], &rec.updown);
        let connection = rec.connection.clone();
        let peer = rec.outbound.dst;
        let lane = self.lane(&connection, peer);
        let tag = Tag::Up {
            connection: connection.to_string(),
            child,
        };
        self.submit(lane, tag, ops).await
    }

    /// Reads every Child SA's byte counters from the kernel. Inbound bytes that
    /// grew count as contact with the peer for liveness.
    /// One SA dump for all of them: two requests per Child SA would make a
    /// `--trafficstatus` of 100,000 tunnels 200,000 netlink round trips.
    pub async fn refresh_counters(&mut self) {
        let Some(k) = self.kernel.clone() else { return };
        let dump = match k.sas().await {
            Ok(v) => v,
            Err(e) => {
                tracing::debug!("cannot dump the kernel's SAs for their counters: {e}");
                return;
            }
        };
        let bytes: std::collections::HashMap<SaId, u64> =
            dump.into_iter().map(|i| (i.id, i.counters.bytes)).collect();
        let now = Instant::now();
        let mut grew = Vec::new();
        for (serial, c) in self.children.iter_mut() {
            if let Some(&n) = bytes.get(&c.inbound) {
                if n > c.in_bytes {
                    grew.push(*serial);
                }
                c.in_bytes = n;
            }
            if let Some(&n) = bytes.get(&c.outbound) {
                c.out_bytes = n;
            }
        }
        for s in grew {
            self.ike.note_peer_traffic(s, now);
        }
    }

    /// Installs a connection's trap policies (`--route`) and runs updown's prepare
    /// and route verbs.
    pub async fn route(&mut self, name: &str) -> Result<usize, String> {
        let c = self.ike_conn(name, None).map_err(|e| e.to_string())?;
        if c.ike_only {
            // A trap would start an IKE SA that never carries the trapped packet.
            return Err("the connection negotiates no Child SA (none of --encrypt, --authenticate), so there is no traffic to trap".into());
        }
        let reqid = self.reqid_of(name);
        let (on, failure, mark) = self.shunt_policy(name).map_err(|e| e.to_string())?;
        let traps = xfrm::prospective_policies(
            xfrm::trap_policies(&c, reqid).map_err(|e| e.to_string())?,
            on,
            mark,
        );
        let k = self.kernel().map_err(|e| e.to_string())?;
        let up = self.has_child_sa(name);
        if !up {
            for (i, p) in traps.iter().enumerate() {
                if let Err(e) = k.replace_policy(p).await {
                    for q in traps.iter().take(i) {
                        let _ = k.del_policy(&q.id()).await;
                    }
                    return Err(e.to_string());
                }
            }
        }
        let n = traps.len();
        self.touched_kernel = true;
        if on != OnTraffic::Initiate {
            tracing::info!(
                "\"{name}\": prospective shunt {} installed for {n} selector pair(s)",
                traps
                    .first()
                    .map(|p| xfrm::shunt_name(&p.action))
                    .unwrap_or("%trap")
            );
        }
        self.routed.insert(
            name.to_string(),
            Route {
                reqid,
                traps,
                failure,
                mark,
                flow: None,
                shunts: Vec::new(),
            },
        );
        self.set_routing(name);
        let ops = self
            .route_scripts(&c, reqid, &[Verb::Prepare, Verb::Route])
            .await;
        let lane = self.conn_lane(name);
        let tag = Tag::Connection {
            connection: name.to_string(),
        };
        self.submit(lane, tag, ops).await;
        Ok(n)
    }

    /// Removes a connection's trap policies (`--unroute`). Policies of an
    /// established Child SA stay until it goes down.
    pub async fn unroute(&mut self, name: &str) -> bool {
        let Some(rt) = self.routed.remove(name) else {
            return false;
        };
        self.set_routing(name);
        // "unroute" first, then the policies, in the connection's lane.
        let mut ops = match self.ike_conn(name, None) {
            Ok(c) => self.route_scripts(&c, rt.reqid, &[Verb::Unroute]).await,
            Err(_) => Vec::new(),
        };
        let up = self.has_child_sa(name);
        let trap_ids: Vec<kernel::PolicyId> = rt.traps.iter().map(|p| p.id()).collect();
        for s in &rt.shunts {
            // A shunt over a trap's own selector goes with the trap below.
            if !trap_ids.contains(&s.policy.id()) {
                ops.push(Op::DelPolicy(s.policy.id()));
            }
        }
        if !up {
            ops.extend(trap_ids.into_iter().map(Op::DelPolicy));
        }
        let lane = self.conn_lane(name);
        let tag = Tag::Connection {
            connection: name.to_string(),
        };
        self.submit(lane, tag, ops).await;
        true
    }

    /// A connection's prospective shunt, failure shunt and XFRM mark.
    fn shunt_policy(
        &self,
        name: &str,
    ) -> Result<(OnTraffic, FailShunt, Option<kernel::Mark>), KernelError> {
        let Some(c) = self.conns.find(name) else {
            return Ok((OnTraffic::Initiate, FailShunt::None, None));
        };
        let mark = c
            .policy
            .conn_mark
            .as_ref()
            .map(|m| xfrm::conn_mark(m, c.serial.0))
            .transpose()?;
        Ok((c.policy.on_traffic, c.policy.failure_shunt, mark))
    }

    /// The connection's XFRM mark, for its SAs and policies.
    fn mark_of(&self, name: &str) -> Result<Option<kernel::Mark>, KernelError> {
        self.shunt_policy(name).map(|(_, _, m)| m)
    }

    /// Keeps a routed connection's bare shunts in line with its negotiations:
    /// a failed negotiation installs the failure shunt for the flow that
    /// triggered it (or for the connection's selectors when whack started it);
    /// an established Child SA removes them.
    async fn shunts_follow(&mut self, ev: &Event) {
        match ev {
            Event::ChildSaEstablished { connection, .. } => {
                self.remove_shunts(connection).await;
            }
            Event::ChildSaFailed { connection, .. } => self.negotiation_failed(connection).await,
            Event::IkeSaDeleted {
                connection,
                ike,
                reason,
                final_failure,
            } => {
                let failed = !matches!(reason, SaEnd::Deleted | SaEnd::LifetimeExpired);
                // Only a negotiation that never got its IKE SA up: an established
                // one that dies is the liveness code's business.
                let negotiating = !self.ike_sas.contains_key(ike);
                if failed && negotiating && (*final_failure || !self.ike_pending(connection)) {
                    self.negotiation_failed(connection).await;
                }
            }
            _ => {}
        }
    }

    /// Installs the failure shunt of a routed connection whose negotiation failed
    /// (nothing with `--failnone`: the negotiation shunt stays).
    async fn negotiation_failed(&mut self, name: &str) {
        if self.has_child_sa(name) {
            return;
        }
        // Only our own negotiations: traffic through the trap (ACQUIRE) or a
        // waiting `--initiate`; a peer's failed attempt changes nothing here.
        let whack = self.waiters.has(name);
        let Some(rt) = self.routed.get_mut(name) else {
            return;
        };
        if rt.flow.is_none() && !whack {
            return;
        }
        let flow = rt.flow.take();
        let Some(action) = xfrm::failure_action(rt.failure) else {
            return;
        };
        if self.kworker.is_none() {
            return;
        }
        let Some(rt) = self.routed.get_mut(name) else {
            return;
        };
        let flows: Vec<kernel::Selector> = match flow.map(|f| xfrm::failed_flow(&f)) {
            Some(Ok(f)) => vec![f],
            Some(Err(e)) => {
                tracing::warn!("\"{name}\": cannot install the failure shunt: {e}");
                return;
            }
            None => rt.traps.iter().map(|p| p.selector).collect(),
        };
        let mark = rt.mark;
        let shunts: Vec<PolicySpec> = flows
            .into_iter()
            .map(|f| xfrm::bare_shunt(f, action.clone(), mark))
            .collect();
        // Recorded now (a failed install takes it out again when the worker says
        // so), so that what follows in the lane and `--shuntstatus` see it.
        for spec in &shunts {
            rt.shunts.retain(|s| s.policy.id() != spec.id());
            rt.shunts.push(BareShunt {
                policy: spec.clone(),
                why: FAILURE_SHUNT_WHY,
            });
        }
        self.touched_kernel = true;
        let ops = shunts
            .iter()
            .map(|p| Op::ReplacePolicy(Box::new(p.clone())))
            .collect();
        let lane = self.conn_lane(name);
        let tag = Tag::FailureShunts {
            connection: name.to_string(),
            shunts,
        };
        self.submit(lane, tag, ops).await;
    }

    /// Removes a connection's bare shunts once its Child SA is up. One over a
    /// trap's selector was already replaced by the Child SA's policy.
    async fn remove_shunts(&mut self, name: &str) {
        let Some(rt) = self.routed.get_mut(name) else {
            return;
        };
        rt.flow = None;
        let trap_ids: Vec<kernel::PolicyId> = rt.traps.iter().map(|p| p.id()).collect();
        let gone = std::mem::take(&mut rt.shunts);
        let ops = gone
            .iter()
            .map(|s| s.policy.id())
            .filter(|id| !trap_ids.contains(id))
            .map(Op::DelPolicy)
            .collect();
        let lane = self.conn_lane(name);
        let tag = Tag::Connection {
            connection: name.to_string(),
        };
        self.submit(lane, tag, ops).await;
    }

    /// POLEXPIRE: the kernel removed a bare shunt at the end of its lifetime.
    /// One that covered a trap's selector gives the trap back.
    async fn shunt_expired(&mut self, id: &kernel::PolicyId) {
        let Some((name, trap)) = self.routed.iter_mut().find_map(|(n, rt)| {
            let i = rt.shunts.iter().position(|s| s.policy.id() == *id)?;
            rt.shunts.remove(i);
            Some((n.clone(), rt.traps.iter().find(|t| t.id() == *id).cloned()))
        }) else {
            return;
        };
        tracing::info!(
            "\"{name}\": bare shunt {} -> {} expired",
            id.selector.src,
            id.selector.dst
        );
        let up = self.has_child_sa(&name);
        if let (Some(t), false) = (trap, up) {
            let lane = self.conn_lane(&name);
            let tag = Tag::Connection {
                connection: name.clone(),
            };
            self.submit(lane, tag, vec![Op::ReplacePolicy(Box::new(t))])
                .await;
        }
    }

    /// Every bare shunt, for `--shuntstatus` and the shunt counter.
    pub fn bare_shunts(&self) -> Vec<&BareShunt> {
        self.routed.values().flat_map(|r| r.shunts.iter()).collect()
    }

    /// The updown runs of `verbs` for a routed connection (prepare, route, unroute).
    async fn route_scripts(&self, c: &IkeConn, reqid: u32, verbs: &[Verb]) -> Vec<Op> {
        let shape = SaShape {
            connection: &c.name,
            mode: c.mode,
            me: c.local_addr,
            peer: c.remote_addr,
            local_ts: &c.local_ts,
            remote_ts: &c.remote_ts,
        };
        let (ctxs, cmd) = self.updown_contexts(&shape, reqid).await;
        match cmd {
            Some(cmd) => script_ops(&cmd, verbs, &ctxs),
            None => Vec::new(),
        }
    }

    /// Brings the connection's routing state (shown by `--connectionstatus`) in
    /// line with what is installed: a Child SA's policies, else traps, else none.
    fn set_routing(&mut self, name: &str) {
        use conn::connection::Routing;
        let routing = if self.children.has_connection(name) {
            Routing::RoutedTunnel
        } else if self.routed.contains_key(name) {
            Routing::RoutedOndemand
        } else {
            Routing::Unrouted
        };
        let serial = self.conns.find(name).map(|c| c.serial);
        if let Some(c) = serial.and_then(|s| self.conns.get_mut(s)) {
            c.routing = routing;
        }
    }

    /// Deletes every IKE SA of a connection (their Child SAs with them).
    pub fn down(&mut self, name: &str) -> usize {
        self.ike.delete_connection(name, Instant::now())
    }

    /// `--shutdown`: Deletes to every peer and the kernel state pluto owns removed,
    /// unless `leave_state`. What the kernel worker has queued is carried out first
    /// (results from `done`) within [`SHUTDOWN_GRACE`], counted from the start: the
    /// updown "down" and "unroute" runs and the deletes of every Child SA, in their
    /// lanes' order. Whatever is left then is dropped ([`kworker::Worker::abort`]).
    pub async fn shutdown(&mut self, leave_state: bool) {
        if !leave_state {
            let deadline = tokio::time::Instant::now() + SHUTDOWN_GRACE;
            let courtesy = async {
                let now = Instant::now();
                let serials: Vec<SaSerial> = self.ike.status().iter().map(|s| s.serial).collect();
                for s in serials {
                    if let Err(e) = self.ike.delete_ike_sa(s, now) {
                        tracing::debug!("{s}: {e}");
                    }
                }
                self.pump().await;
                let names: Vec<String> = self.routed.keys().cloned().collect();
                for n in names {
                    self.unroute(&n).await;
                }
                self.drain_kernel_until(deadline).await
            };
            let done = match tokio::time::timeout_at(deadline, courtesy).await {
                Ok(done) => done,
                Err(_) => {
                    tracing::warn!(
                        "shutting down: the Deletes and kernel requests were not all sent within {} ms; going on without them",
                        SHUTDOWN_GRACE.as_millis()
                    );
                    false
                }
            };
            if !done {
                if let Some(n) = self.kworker.as_mut().map(kworker::Worker::abort) {
                    if n > 0 {
                        tracing::warn!(
                            "shutting down: {n} kernel request(s) or updown run(s) dropped; removing pluto's kernel state instead"
                        );
                    }
                }
            }
            // Only a pluto that installed something removes "its" state: several
            // test daemons may share one namespace.
            if let (true, Some(k)) = (self.touched_kernel, self.kernel.clone()) {
                // The kernel crate logs what it removed.
                if let Err(e) = k.flush_owned().await {
                    tracing::warn!("cannot remove pluto's kernel state: {e}");
                }
            }
        }
        for (_, r) in std::mem::take(&mut self.settling) {
            r.finish();
        }
        for w in self.waiters.take_all() {
            let mut r = w.responder;
            r.line(
                rc::FATAL,
                format!("\"{}\": pluto is shutting down", w.connection),
            );
        }
        for mut p in self.loads.take_parked() {
            p.responder.line(
                rc::FATAL,
                "pluto is shutting down before ipsec.secrets was read",
            );
        }
        self.sockets.close_all().await;
    }

    /// The state lines of `--status`, libreswan 5's layout.
    pub fn state_lines(&self) -> Vec<String> {
        let now = Instant::now();
        let mut v = Vec::new();
        let sts = self.ike.status();
        let newest: BTreeMap<&str, SaSerial> = sts.iter().fold(BTreeMap::new(), |mut m, s| {
            let e = m.entry(s.connection.as_str()).or_insert(s.serial);
            if s.serial > *e {
                *e = s.serial;
            }
            m
        });
        for s in &sts {
            let port = s.remote.port();
            let left = |at: Instant, life: Duration| {
                life.saturating_sub(now.saturating_duration_since(at))
                    .as_secs()
            };
            let timer = match self.ike_sas.get(&s.serial) {
                // The core rekeys an IKE SA when its lifetime ends.
                Some(r) => format!(" REKEY in {}s;", left(r.at, r.lifetime)),
                None => String::new(),
            };
            let newest_s = if newest.get(s.connection.as_str()) == Some(&s.serial) {
                " newest;"
            } else {
                ""
            };
            let what = if s.state == "ESTABLISHED_IKE_SA" {
                "established IKE SA"
            } else {
                "negotiating IKE SA"
            };
            let name = s
                .instance
                .clone()
                .unwrap_or_else(|| format!("\"{}\"", s.connection));
            v.push(format!(
                "#{}: {name}:{port} {} ({what});{timer}{newest_s} idle;",
                s.serial.0, s.state
            ));
            for ch in &s.children {
                let Some(rec) = self.children.get(&ch.serial) else {
                    continue;
                };
                v.push(format!(
                    "#{}: {name}:{port} ESTABLISHED_CHILD_SA (established Child SA); REKEY in {}s; EXPIRE in {}s; newest; eroute owner; IKE SA #{}; idle;",
                    ch.serial.0,
                    // The kernel's soft limit (90%) starts the rekey.
                    left(rec.added_at, rec.lifetime.mul_f64(0.9)),
                    left(rec.added_at, rec.lifetime),
                    s.serial.0
                ));
                let tun = if rec.mode == Mode::Tunnel {
                    format!(" tun.0@{} tun.0@{}", rec.outbound.dst, rec.inbound.dst)
                } else {
                    String::new()
                };
                v.push(format!(
                    "#{}: {name} esp.{:x}@{} esp.{:x}@{}{tun} Traffic: ESPin={} ESPout={} ESPmax=2^63B",
                    ch.serial.0,
                    rec.outbound.spi,
                    rec.outbound.dst,
                    rec.inbound.spi,
                    rec.inbound.dst,
                    amount(rec.in_bytes),
                    amount(rec.out_bytes)
                ));
            }
        }
        v
    }

    /// `--listen`: re-scans like libreswan. Sockets of addresses still configured
    /// are kept as they are and not reported; sockets of vanished addresses are
    /// closed ("shutting down interface ..."); new addresses get sockets ("adding
    /// UDP interface ..."). Returns those lines, flagged false for failures.
    pub async fn open_sockets(&mut self) -> Vec<(bool, String)> {
        let mut out = Vec::new();
        let port = self.opts.ikeport;
        let natt = self.natt_port();
        let addrs: Vec<(String, IpAddr)> = self
            .addrs_list()
            .into_iter()
            .filter(|(_, a)| crate::sockets::usable(*a))
            .collect();
        for (iface, a) in self
            .sockets
            .retain(&addrs.iter().map(|(_, a)| *a).collect::<Vec<_>>())
            .await
        {
            out.push((
                true,
                format!(
                    "shutting down interface {iface} {}",
                    crate::status::sock(a.ip(), a.port())
                ),
            ));
        }
        for (iface, a) in addrs {
            for (p, is_natt) in [(port, false), (natt, true)] {
                let sa = SocketAddr::new(a, p);
                match self.sockets.open(&iface, sa, is_natt) {
                    Ok(true) => out.push((
                        true,
                        format!("adding UDP interface {iface} {}", crate::status::sock(a, p)),
                    )),
                    Ok(false) => {}
                    Err(e) => out.push((false, format!("{iface}: {e}"))),
                }
            }
        }
        out
    }

    /// The NAT-T port: 4500, or the IKE port + 4000 when `--ikeport` moved it (so
    /// two test daemons on one host do not collide).
    pub fn natt_port(&self) -> u16 {
        if self.opts.ikeport == 500 {
            4500
        } else {
            self.opts.ikeport.wrapping_add(4000)
        }
    }

    /// Fails the waiting initiates of a connection that is going away.
    pub fn abandon_waiters(&mut self, connection: &str, why: &str) {
        self.finish(connection, Some((rc::FATAL, why.to_string())));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::Options;
    use control::Reply;
    use ike::ikev2::Rc;
    use tokio::sync::mpsc::UnboundedReceiver;

    fn pluto(dir: &std::path::Path) -> Pluto {
        Pluto::new(Options {
            secretsfile: "/nonexistent/ipsec.secrets".into(),
            rundir: dir.to_path_buf(),
            ..Options::default()
        })
    }

    fn wait(p: &mut Pluto, conn: &str) -> UnboundedReceiver<Reply> {
        let (r, rx, _answers) = Responder::detached();
        p.waiters.push(Waiter {
            connection: conn.into(),
            responder: r,
        });
        rx
    }

    fn drain(rx: &mut UnboundedReceiver<Reply>) -> (Vec<(u32, String)>, Option<u32>) {
        let mut lines = Vec::new();
        let mut done = None;
        while let Ok(m) = rx.try_recv() {
            match m {
                Reply::Line { code, text } => lines.push((code, text)),
                Reply::Done { status } => done = Some(status),
                _ => {}
            }
        }
        (lines, done)
    }

    #[test]
    fn amounts_use_libreswans_units() {
        assert_eq!(amount(0), "0B");
        assert_eq!(amount(84), "84B");
        assert_eq!(amount(29 * 1024 + 5), "29KB");
        assert_eq!(amount(3 << 20), "3MB");
        assert_eq!(amount(5 << 40), "5120GB");
    }

    #[tokio::test]
    async fn initiate_streams_progress_and_fails_on_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let mut p = pluto(dir.path());
        let mut rx = wait(&mut p, "west-east");
        let mut other = wait(&mut p, "other");
        p.on_event(Event::Progress(Progress {
            connection: "west-east".into(),
            instance: None,
            serial: Some(SaSerial(1)),
            rc: Rc::LOG,
            text: "sent IKE_SA_INIT request".into(),
        }))
        .await;
        p.on_event(Event::IkeSaDeleted {
            connection: "west-east".into(),
            ike: SaSerial(1),
            reason: SaEnd::Timeout,
            final_failure: true,
        })
        .await;
        let (lines, done) = drain(&mut rx);
        assert_eq!(
            lines[0],
            (2, "\"west-east\" #1: sent IKE_SA_INIT request".into())
        );
        assert!(lines[1].1.contains("no response"), "{lines:?}");
        assert_eq!(done, Some(rc::NORETRANSMISSION));
        // Another connection's whack is neither told nor released.
        assert_eq!(drain(&mut other), (Vec::new(), None));
        assert_eq!(p.waiters.len(), 1);
    }

    #[tokio::test]
    async fn rekey_waiters_exit_with_the_notify_code_or_zero() {
        let dir = tempfile::tempdir().unwrap();
        let mut p = pluto(dir.path());
        let mut refused = wait(&mut p, "west-east");
        p.on_event(Event::RekeyFinished {
            connection: "west-east".into(),
            old: SaSerial(2),
            result: RekeyResult::Refused(ike::registry::NotifyType::NO_PROPOSAL_CHOSEN),
        })
        .await;
        let (lines, done) = drain(&mut refused);
        assert_eq!(done, Some(214), "{lines:?}");
        assert!(lines[0]
            .1
            .contains("rekey failed: the peer answered NO_PROPOSAL_CHOSEN"));
        let mut ok = wait(&mut p, "west-east");
        p.on_event(Event::RekeyFinished {
            connection: "west-east".into(),
            old: SaSerial(2),
            result: RekeyResult::Rekeyed(SaSerial(3)),
        })
        .await;
        assert_eq!(drain(&mut ok), (Vec::new(), Some(0)));
        assert!(p.waiters.is_empty());
    }

    #[tokio::test]
    async fn dead_peer_ends_a_waiting_whack() {
        let dir = tempfile::tempdir().unwrap();
        let mut p = pluto(dir.path());
        let mut rx = wait(&mut p, "west-east");
        p.on_event(Event::IkeSaDeleted {
            connection: "west-east".into(),
            ike: SaSerial(1),
            reason: SaEnd::PeerDead,
            final_failure: false,
        })
        .await;
        let (lines, done) = drain(&mut rx);
        assert_eq!(done, Some(rc::NORETRANSMISSION));
        assert!(lines[0].1.contains("the peer is dead"), "{lines:?}");
    }

    /// A PSK connection between 192.0.2.1 (this machine) and 192.0.2.2.
    fn add_conn(p: &mut Pluto, name: &str) {
        let mut s = control::ConnSpec::named(name);
        s.left.host = Some("192.0.2.1".into());
        s.right.host = Some("192.0.2.2".into());
        s.psk = true;
        s.encrypt = true;
        let host = conn::connection::HostAddrs::new(["192.0.2.1".parse::<IpAddr>().unwrap()]);
        p.conns.add(s, &host).unwrap();
    }

    fn dead(name: &str) -> Event {
        Event::IkeSaDeleted {
            connection: name.into(),
            ike: SaSerial(1),
            reason: SaEnd::PeerDead,
            final_failure: false,
        }
    }

    #[tokio::test]
    async fn dead_peer_restarts_auto_start_connections_only() {
        let dir = tempfile::tempdir().unwrap();
        let mut p = pluto(dir.path());
        add_conn(&mut p, "started");
        add_conn(&mut p, "added");
        p.keep_up.insert("started".into());
        p.on_event(dead("added")).await;
        assert!(p.ike.status().is_empty(), "a plain connection stays down");
        p.on_event(dead("started")).await;
        let st = p.ike.status();
        assert_eq!(st.len(), 1, "auto=start is initiated again");
        assert_eq!(st[0].connection, "started");
        assert_eq!(st[0].state, "IKE_SA_INIT_I");
        // Another IKE SA of it going the same way does not start a second one.
        p.on_event(dead("started")).await;
        assert_eq!(p.ike.status().len(), 1);
    }

    #[tokio::test]
    async fn initiate_of_an_ike_only_connection_ends_once_the_ike_sa_is_up() {
        let dir = tempfile::tempdir().unwrap();
        let mut p = pluto(dir.path());
        let host = conn::connection::HostAddrs::new(["127.0.0.1".parse::<IpAddr>().unwrap()]);
        for (name, encrypt) in [("silly", false), ("tunnel", true)] {
            let mut s = control::ConnSpec::named(name);
            s.left.host = Some("127.0.0.1".into());
            s.right.host = Some("127.0.0.2".into());
            s.psk = true;
            s.encrypt = encrypt;
            p.conns.add(s, &host).unwrap();
        }
        let mut silly = wait(&mut p, "silly");
        let mut tunnel = wait(&mut p, "tunnel");
        for (i, name) in ["silly", "tunnel"].into_iter().enumerate() {
            p.on_event(Event::IkeSaEstablished {
                connection: name.into(),
                ike: SaSerial(i as u64 + 1),
                replaces: None,
            })
            .await;
        }
        // Without --encrypt/--authenticate the IKE SA is the whole connection.
        assert_eq!(drain(&mut silly).1, Some(0));
        // With --encrypt whack still waits for the Child SA.
        assert_eq!(drain(&mut tunnel).1, None);
        assert_eq!(p.waiters.len(), 1);
    }

    #[tokio::test]
    async fn failed_install_is_reported_and_not_announced_as_established() {
        let dir = tempfile::tempdir().unwrap();
        let mut p = pluto(dir.path());
        let mut rx = wait(&mut p, "west-east");
        let req = crate::xfrm::testutil::install(Mode::Tunnel, true);
        p.on_event(Event::Kernel(KernelRequest::InstallChildSa(Box::new(req))))
            .await;
        let (lines, done) = drain(&mut rx);
        assert!(
            lines[0].1.contains("cannot install Child SA in the kernel")
                && lines[0].1.contains("no kernel interface"),
            "{lines:?}"
        );
        assert!(
            !lines.iter().any(|l| l.1.contains("established Child SA")),
            "{lines:?}"
        );
        assert_eq!(done, Some(rc::FATAL));
        assert!(p.children.is_empty());
    }

    #[test]
    fn notification_codes_are_libreswans() {
        use ike::registry::NotifyType;
        assert_eq!(notification_rc(NotifyType::AUTHENTICATION_FAILED), 224);
        assert_eq!(notification_rc(NotifyType::NO_PROPOSAL_CHOSEN), 214);
        assert_eq!(notification_rc(NotifyType::TS_UNACCEPTABLE), 238);
        assert_eq!(notification_rc(NotifyType::INVALID_KE_PAYLOAD), 217);
        // Too large for an exit status.
        assert_eq!(notification_rc(NotifyType(8192)), rc::FATAL);
        for code in [214, 224, 238] {
            assert!(rc::sets_exit_status(code));
        }
    }

    #[tokio::test]
    async fn failed_ike_sa_ends_whack_with_the_notification_code() {
        let dir = tempfile::tempdir().unwrap();
        let mut p = pluto(dir.path());
        let mut rx = wait(&mut p, "west-east");
        p.on_event(Event::IkeSaDeleted {
            connection: "west-east".into(),
            ike: SaSerial(1),
            reason: SaEnd::Failed(ike::registry::NotifyType::AUTHENTICATION_FAILED),
            final_failure: true,
        })
        .await;
        let (lines, done) = drain(&mut rx);
        assert!(
            lines.iter().any(|l| l.1.contains("AUTHENTICATION_FAILED")),
            "{lines:?}"
        );
        assert_eq!(done, Some(224));
    }

    #[tokio::test]
    async fn child_failure_and_unknown_acquire() {
        let dir = tempfile::tempdir().unwrap();
        let mut p = pluto(dir.path());
        let mut rx = wait(&mut p, "west-east");
        p.on_event(Event::ChildSaFailed {
            connection: "west-east".into(),
            child: SaSerial(2),
            notify: ike::registry::NotifyType::TS_UNACCEPTABLE,
        })
        .await;
        let (lines, done) = drain(&mut rx);
        assert!(lines[0].1.contains("TS_UNACCEPTABLE"), "{lines:?}");
        // libreswan's RC_NOTIFICATION + TS_UNACCEPTABLE (38).
        assert_eq!(done, Some(238));
        // An ACQUIRE for a reqid no routed connection has is ignored.
        p.kernel_event(KernelEvent::Acquire {
            src: "192.0.2.1".parse().unwrap(),
            dst: "192.0.2.2".parse().unwrap(),
            proto: Some(IpsecProto::Esp),
            selector: kernel::Selector::hosts(
                "192.0.2.1".parse().unwrap(),
                "192.0.2.2".parse().unwrap(),
            )
            .unwrap(),
            policy_index: 1,
            policy_dir: None,
            reqid: Some(99),
            seq: 1,
            mark: None,
            if_id: None,
        })
        .await;
        assert!(p.ike.status().is_empty());
        assert!(p.ike.poll_transmit().is_none());
    }

    #[tokio::test]
    async fn established_child_sa_clears_the_bare_shunts() {
        let dir = tempfile::tempdir().unwrap();
        let mut p = pluto(dir.path());
        let flow = kernel::Selector::hosts(
            "198.51.100.7".parse().unwrap(),
            "203.0.113.9".parse().unwrap(),
        )
        .unwrap();
        p.routed.insert(
            "west-east".into(),
            Route {
                reqid: xfrm::reqid(1),
                traps: Vec::new(),
                failure: FailShunt::Pass,
                mark: None,
                flow: Some(flow),
                shunts: vec![BareShunt {
                    policy: xfrm::bare_shunt(flow, kernel::PolicyAction::Pass, None),
                    why: FAILURE_SHUNT_WHY,
                }],
            },
        );
        assert_eq!(
            crate::status::shunts(&p),
            vec![
                "Bare Shunt list:".to_string(),
                String::new(),
                "198.51.100.7/32 -0-> 203.0.113.9/32 => %pass    oe-failing".to_string()
            ]
        );
        assert!(p
            .global_counters()
            .contains(&("current.states.shunts".to_string(), 1)));
        p.on_event(Event::ChildSaEstablished {
            connection: "west-east".into(),
            child: SaSerial(2),
            ike: SaSerial(1),
        })
        .await;
        assert!(p.bare_shunts().is_empty());
        assert_eq!(p.routed["west-east"].flow, None);
        assert_eq!(crate::status::shunts(&p).len(), 2);
    }

    /// A PSK connection like [`add_conn`]'s whose updown command is `updown`.
    fn add_conn_with_updown(p: &mut Pluto, name: &str, updown: &str) {
        let mut s = control::ConnSpec::named(name);
        s.left.host = Some("192.0.2.1".into());
        s.right.host = Some("192.0.2.2".into());
        s.left.updown = Some(updown.into());
        s.psk = true;
        s.encrypt = true;
        let host = conn::connection::HostAddrs::new(["192.0.2.1".parse::<IpAddr>().unwrap()]);
        p.conns.add(s, &host).unwrap();
    }

    #[tokio::test]
    async fn an_ike_sa_rekey_keeps_the_instance_of_the_sa_it_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let mut p = pluto(dir.path());
        let mut s = control::ConnSpec::named("rw");
        s.left.host = Some("192.0.2.1".into());
        s.right.host = Some("%any".into());
        s.psk = true;
        let host = conn::connection::HostAddrs::new(["192.0.2.1".parse::<IpAddr>().unwrap()]);
        let template = p.conns.add(s, &host).unwrap();
        let inst = p
            .conns
            .instantiate(template, "198.51.100.7".parse().unwrap(), None)
            .unwrap();
        p.instances.insert(SaSerial(1), inst);
        let conns = p.conns.len();
        p.on_event(Event::IkeSaEstablished {
            connection: "rw".into(),
            ike: SaSerial(3),
            replaces: Some(SaSerial(1)),
        })
        .await;
        assert_eq!(p.instances.get(&SaSerial(3)), Some(&inst));
        assert!(!p.instances.contains_key(&SaSerial(1)));
        assert_eq!(p.conns.len(), conns, "no second instance");
    }

    /// The core's delete of the Child SA `req` installed.
    fn delete_req(req: &ChildSaInstall, protocol: ike::registry::ProtocolId) -> ChildSaDelete {
        ChildSaDelete {
            connection: req.connection.clone(),
            child: req.child,
            protocol,
            inbound_spi: req.inbound.spi,
            inbound_dst: req.inbound.dst,
            outbound_spi: req.outbound.spi,
            outbound_dst: req.outbound.dst,
            local_ts: req.local_ts.clone(),
            remote_ts: req.remote_ts.clone(),
        }
    }

    fn install_req(conn: &str, child: u64) -> ChildSaInstall {
        let mut req = crate::xfrm::testutil::install(Mode::Tunnel, true);
        req.connection = conn.into();
        req.child = SaSerial(child);
        req.inbound.spi += child as u32;
        req.outbound.spi += child as u32;
        req
    }

    async fn kernel_answer(p: &mut Pluto, rx: &mut UnboundedReceiver<Done>) -> Lane {
        let d = tokio::time::timeout(Duration::from_secs(20), rx.recv())
            .await
            .expect("the kernel worker answers in time")
            .expect("the kernel worker runs");
        let lane = d.lane.clone();
        p.kernel_done(d).await;
        p.pump().await;
        lane
    }

    #[tokio::test]
    async fn a_slow_up_script_does_not_hold_up_another_connections_child_sa() {
        let dir = tempfile::tempdir().unwrap();
        let go = dir.path().join("go");
        let mut p = pluto(dir.path());
        let slow = format!("while [ ! -e {} ]; do sleep 0.02; done", go.display());
        add_conn_with_updown(&mut p, "slow", &slow);
        add_conn_with_updown(&mut p, "fast", "%disabled");
        let k = crate::kworker::testutil::Recorder::default();
        p.kworker = Some(crate::kworker::Worker::start(k.clone(), updown::TIMEOUT));
        let mut rx = p.kworker.as_mut().and_then(|w| w.take_done()).unwrap();

        let mut slow_whack = wait(&mut p, "slow");
        p.on_event(Event::Kernel(KernelRequest::InstallChildSa(Box::new(
            install_req("slow", 2),
        ))))
        .await;
        // Not shown as installed before the kernel said so.
        assert!(p.children.is_empty() && p.installing.contains_key(&SaSerial(2)));
        kernel_answer(&mut p, &mut rx).await;
        assert!(p.children.contains_key(&SaSerial(2)));
        p.on_event(Event::ChildSaEstablished {
            connection: "slow".into(),
            child: SaSerial(2),
            ike: SaSerial(1),
        })
        .await;
        // Its "up" runs (and waits): whack is not answered yet.
        assert!(p.kernel_busy("slow"));
        assert_eq!(drain(&mut slow_whack).1, None);

        let mut fast_whack = wait(&mut p, "fast");
        p.on_event(Event::Kernel(KernelRequest::InstallChildSa(Box::new(
            install_req("fast", 3),
        ))))
        .await;
        let lane = kernel_answer(&mut p, &mut rx).await;
        assert_eq!(lane.connection, "fast");
        assert!(p.children.contains_key(&SaSerial(3)));
        p.on_event(Event::ChildSaEstablished {
            connection: "fast".into(),
            child: SaSerial(3),
            ike: SaSerial(4),
        })
        .await;
        assert_eq!(drain(&mut fast_whack).1, Some(0), "fast is up");
        assert_eq!(drain(&mut slow_whack).1, None, "slow's script still runs");
        assert!(p.kernel_busy("slow"));

        std::fs::write(&go, b"").unwrap();
        let lane = kernel_answer(&mut p, &mut rx).await;
        assert_eq!(lane.connection, "slow");
        assert_eq!(
            drain(&mut slow_whack).1,
            Some(0),
            "slow is up once its script ran"
        );
        assert!(!p.kernel_busy("slow"));
    }

    /// Installs Child SA `child` of `conn` through the worker and queues its "up".
    async fn up_with_script(
        p: &mut Pluto,
        rx: &mut UnboundedReceiver<Done>,
        conn: &str,
        child: u64,
    ) {
        p.on_event(Event::Kernel(KernelRequest::InstallChildSa(Box::new(
            install_req(conn, child),
        ))))
        .await;
        kernel_answer(p, rx).await;
        p.on_event(Event::ChildSaEstablished {
            connection: conn.into(),
            child: SaSerial(child),
            ike: SaSerial(1),
        })
        .await;
    }

    #[tokio::test]
    async fn the_shutdown_drain_waits_for_queued_work_within_its_bound() {
        let dir = tempfile::tempdir().unwrap();
        let mut p = pluto(dir.path());
        add_conn_with_updown(&mut p, "brief", "sleep 0.2");
        add_conn_with_updown(&mut p, "hung", "sleep 30");
        let k = crate::kworker::testutil::Recorder::default();
        p.kworker = Some(crate::kworker::Worker::start(k, updown::TIMEOUT));
        let mut rx = p.kworker.as_mut().and_then(|w| w.take_done()).unwrap();
        let mut whack = wait(&mut p, "brief");
        up_with_script(&mut p, &mut rx, "brief", 2).await;
        assert_eq!(drain(&mut whack).1, None);
        p.kworker.as_mut().unwrap().put_done(rx);
        assert!(p.drain_kernel(Duration::from_secs(20)).await);
        assert_eq!(drain(&mut whack).1, Some(0), "its result was fed in");
        assert!(!p.kernel_busy("brief"));

        let mut rx = p.kworker.as_mut().and_then(|w| w.take_done()).unwrap();
        up_with_script(&mut p, &mut rx, "hung", 3).await;
        p.kworker.as_mut().unwrap().put_done(rx);
        assert!(!p.drain_kernel(Duration::from_millis(300)).await);
        assert!(p.kernel_busy("hung"));
    }

    #[tokio::test]
    async fn a_shutdown_drops_what_is_not_done_within_its_grace_and_kills_the_script() {
        let dir = tempfile::tempdir().unwrap();
        let pidf = dir.path().join("pid");
        let mut p = pluto(dir.path());
        // The script's group: the shell and the sleep it starts.
        let hung = format!("echo $$ > {}; sleep 30; true", pidf.display());
        add_conn_with_updown(&mut p, "hung", &hung);
        let k = crate::kworker::testutil::Recorder::default();
        p.kworker = Some(crate::kworker::Worker::start(k, updown::TIMEOUT));
        let mut rx = p.kworker.as_mut().and_then(|w| w.take_done()).unwrap();
        up_with_script(&mut p, &mut rx, "hung", 3).await;
        p.kworker.as_mut().unwrap().put_done(rx);
        while std::fs::read_to_string(&pidf).map_or(true, |s| s.trim().is_empty()) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let pgid: i32 = std::fs::read_to_string(&pidf)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        // Far more than the grace: a shutdown that waited for the script (30 s)
        // or for the worker's old 10 s bound fails here.
        tokio::time::timeout(Duration::from_secs(8), p.shutdown(false))
            .await
            .expect("the shutdown ends within its grace, not when the script does");
        assert_eq!(p.kworker.as_ref().map(|w| w.outstanding()), Some(0));
        // The group was killed: no process of it is left running (a zombie not
        // yet reaped by tokio's reaper is dead already).
        let alive = |pgid: i32| {
            std::fs::read_dir("/proc").unwrap().flatten().any(|e| {
                let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
                // pid (comm) state ppid pgrp ...
                let Some(rest) = stat.rsplit_once(") ").map(|(_, r)| r) else {
                    return false;
                };
                let f: Vec<&str> = rest.split_whitespace().collect();
                f.len() > 2 && f[2] == pgid.to_string() && f[0] != "Z"
            })
        };
        for _ in 0..100 {
            if !alive(pgid) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(!alive(pgid), "the updown script's process group still runs");
    }

    #[tokio::test]
    async fn an_ah_child_sa_is_deleted_as_ah() {
        use crate::kworker::testutil::Call;
        let dir = tempfile::tempdir().unwrap();
        let mut p = pluto(dir.path());
        add_conn_with_updown(&mut p, "west-east", "%disabled");
        let k = crate::kworker::testutil::Recorder::default();
        p.kworker = Some(crate::kworker::Worker::start(k.clone(), updown::TIMEOUT));
        let mut rx = p.kworker.as_mut().and_then(|w| w.take_done()).unwrap();
        let req = install_req("west-east", 2);
        p.on_event(Event::Kernel(KernelRequest::DeleteChildSa(delete_req(
            &req,
            ike::registry::ProtocolId::AH,
        ))))
        .await;
        kernel_answer(&mut p, &mut rx).await;
        let calls = k.calls();
        assert!(calls.contains(&Call::DelAhSa(req.inbound.spi)), "{calls:?}");
        assert!(
            calls.contains(&Call::DelAhSa(req.outbound.spi)),
            "{calls:?}"
        );
        assert!(
            !calls.iter().any(|c| matches!(c, Call::DelSa(_))),
            "{calls:?}"
        );
    }

    #[tokio::test]
    async fn a_child_sa_deleted_while_installing_is_removed_after_its_install() {
        use crate::kworker::testutil::Call;
        let dir = tempfile::tempdir().unwrap();
        let mut p = pluto(dir.path());
        add_conn_with_updown(&mut p, "west-east", "%disabled");
        let k = crate::kworker::testutil::Recorder {
            delay: Duration::from_millis(5),
            ..Default::default()
        };
        p.kworker = Some(crate::kworker::Worker::start(k.clone(), updown::TIMEOUT));
        let mut rx = p.kworker.as_mut().and_then(|w| w.take_done()).unwrap();
        let req = install_req("west-east", 2);
        p.on_event(Event::Kernel(KernelRequest::InstallChildSa(Box::new(
            req.clone(),
        ))))
        .await;
        // The core gives up on it before the kernel answered (its IKE SA went).
        p.on_event(Event::Kernel(KernelRequest::DeleteChildSa(delete_req(
            &req,
            ike::registry::ProtocolId::ESP,
        ))))
        .await;
        kernel_answer(&mut p, &mut rx).await;
        kernel_answer(&mut p, &mut rx).await;
        assert!(p.children.is_empty() && p.installing.is_empty());
        let calls = k.calls();
        let last_add = calls
            .iter()
            .rposition(|c| matches!(c, Call::ReplacePolicy(_)))
            .unwrap();
        let first_del = calls
            .iter()
            .position(|c| matches!(c, Call::DelPolicy(_) | Call::DelSa(_)))
            .unwrap();
        assert!(last_add < first_del, "{calls:?}");
        assert!(calls.contains(&Call::DelSa(req.outbound.spi)), "{calls:?}");
    }

    #[test]
    fn resync_finds_child_sas_the_kernel_lost() {
        let rec = |n: u32| {
            let mut r = tests_support::child_rec("west-east", "198.51.100.0/24");
            r.inbound.spi += n;
            r.outbound.spi += n;
            r
        };
        let children: BTreeMap<SaSerial, ChildRec> = [(SaSerial(2), rec(0)), (SaSerial(3), rec(1))]
            .into_iter()
            .collect();
        let mut present: std::collections::HashSet<SaId> = children
            .values()
            .flat_map(|c| [c.inbound, c.outbound])
            .collect();
        assert!(missing_children(children.iter(), &present).is_empty());
        let lost = children[&SaSerial(3)].outbound;
        present.remove(&lost);
        assert_eq!(
            missing_children(children.iter(), &present),
            vec![(SaSerial(3), lost)]
        );
    }
}

/// Records for the tests of other modules.
#[cfg(test)]
pub mod tests_support {
    use super::*;

    /// A tunnel Child SA of `conn` whose policies cover `src` (one host) to
    /// 198.51.100.0/24.
    pub fn child_rec(conn: &str, src: &str) -> ChildRec {
        let req = crate::xfrm::testutil::install(Mode::Tunnel, true);
        let plan = crate::xfrm::child_plan(&req, xfrm::reqid(1)).expect("test plan");
        let mut policies: Vec<kernel::PolicyId> =
            plan.policies.iter().map(PolicySpec::id).collect();
        for p in &mut policies {
            p.selector.src = src.parse().expect("test address");
        }
        ChildRec {
            connection: conn.into(),
            ike: SaSerial(1),
            inbound: plan.inbound.id,
            outbound: plan.outbound.id,
            policies: KeptPolicies::keep(policies),
            sa_specs: KeptSas::keep(plan.inbound.clone(), plan.outbound.clone()),
            reqid: 1,
            mode: Mode::Tunnel,
            added: SystemTime::now(),
            added_at: Instant::now(),
            lifetime: Duration::from_secs(60),
            in_bytes: 0,
            out_bytes: 0,
            peer_id: String::new(),
            updown: Vec::new(),
            updown_cmd: None,
            up: true,
        }
    }
}
