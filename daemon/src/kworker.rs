//! The kernel worker: XFRM changes and updown runs, off the main loop.
//!
//! The main loop (`engine.rs`) no longer awaits a netlink round trip or an updown
//! script in line: it queues a [`Job`] (an ordered list of [`Op`]s, and a [`Tag`]
//! saying what it was for) and goes on with its next input; the worker carries the
//! job out and sends a [`Done`] back, which the main loop feeds to the core
//! (`Endpoint::child_sa_installed` / `child_sa_install_failed`) and to its records
//! as the inline code did.
//!
//! Ordering. Jobs run in [`Lane`]s: one per connection (per instance for a
//! template's road warriors). A lane runs one job at a time, in the order the jobs
//! were queued, so a Child SA's delete never overtakes its install, "down" never
//! overtakes "up", "unroute" never overtakes "route", and while a connection's
//! script runs nothing else of that connection reaches the kernel (the manual's
//! guarantee: pluto does not change a connection while its updown runs). Lanes
//! are independent: a slow script holds up its own connection only.
//!
//! Bounds. At most [`QUEUE_LIMIT`] jobs are out at the worker (waiting in their
//! lane or running); a job's place is given back when its result is sent. With
//! all places taken, [`Worker::submit`] waits for one: the main loop then goes at
//! the kernel's pace, as it did when every call was awaited in line, instead of
//! buffering without limit. Results wait on an unbounded channel, but each is one
//! job's, and jobs come only from inputs the main loop took. A script that runs
//! longer than its limit ([`updown::TIMEOUT`], 30 s, by default) is killed with its
//! process group, so a lane always moves on.
//!
//! Where it runs. The worker is a tokio task beside the main loop on the daemon's
//! one-threaded runtime; a job that runs a script is a task of its own, one that
//! only calls the kernel runs in the worker's task when its lane is idle. XFRM requests are answered
//! inside the `sendmsg` of the request (the kernel handles netlink synchronously
//! in the sender's context), so a netlink call has no wait that another thread
//! could overlap, and a thread would only add a cross-thread hand-off per request
//! on a machine whose other cores run the crypto helpers. What does wait is the
//! updown script (a fork, an exec and whatever it runs): as a task it waits
//! without holding the loop.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use ike::ikev2::SaSerial;
use kernel::{Kernel, KernelError, Mark, PolicyId, PolicySpec, SaId, SaSpec};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

use crate::updown::{self, UpdownError, Verb};
use crate::xfrm::ChildPlan;

/// How many jobs may be out at the worker at once.
pub const QUEUE_LIMIT: usize = 4096;

/// The kernel calls the worker makes: [`Kernel`]'s, and a recording fake in tests.
pub trait Xfrm: Clone + Send + Sync + 'static {
    /// XFRM_MSG_NEWSA.
    fn add_sa(&self, spec: &SaSpec) -> impl Future<Output = Result<(), KernelError>> + Send;
    /// XFRM_MSG_UPDSA.
    fn update_sa(&self, spec: &SaSpec) -> impl Future<Output = Result<(), KernelError>> + Send;
    /// XFRM_MSG_DELSA.
    fn del_sa(
        &self,
        id: &SaId,
        mark: Option<Mark>,
    ) -> impl Future<Output = Result<(), KernelError>> + Send;
    /// XFRM_MSG_UPDPOLICY.
    fn replace_policy(
        &self,
        spec: &PolicySpec,
    ) -> impl Future<Output = Result<(), KernelError>> + Send;
    /// XFRM_MSG_DELPOLICY.
    fn del_policy(&self, id: &PolicyId) -> impl Future<Output = Result<(), KernelError>> + Send;
    /// An SA's byte counter.
    fn sa_bytes(
        &self,
        id: &SaId,
        mark: Option<Mark>,
    ) -> impl Future<Output = Result<u64, KernelError>> + Send;
}

impl Xfrm for Kernel {
    fn add_sa(&self, spec: &SaSpec) -> impl Future<Output = Result<(), KernelError>> + Send {
        Kernel::add_sa(self, spec)
    }
    fn update_sa(&self, spec: &SaSpec) -> impl Future<Output = Result<(), KernelError>> + Send {
        Kernel::update_sa(self, spec)
    }
    fn del_sa(
        &self,
        id: &SaId,
        mark: Option<Mark>,
    ) -> impl Future<Output = Result<(), KernelError>> + Send {
        Kernel::del_sa(self, id, mark)
    }
    fn replace_policy(
        &self,
        spec: &PolicySpec,
    ) -> impl Future<Output = Result<(), KernelError>> + Send {
        Kernel::replace_policy(self, spec)
    }
    fn del_policy(&self, id: &PolicyId) -> impl Future<Output = Result<(), KernelError>> + Send {
        Kernel::del_policy(self, id)
    }
    async fn sa_bytes(&self, id: &SaId, mark: Option<Mark>) -> Result<u64, KernelError> {
        Ok(self.sa_counters(id, mark).await?.bytes)
    }
}

/// Which jobs are ordered with respect to each other: those of one connection,
/// and for a template those of one instance (its peer's address).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Lane {
    /// The connection (the core's name for it).
    pub connection: String,
    /// The peer, for a template's instances; `None` for any other connection.
    pub peer: Option<IpAddr>,
}

/// One step of a job.
#[derive(Debug)]
pub enum Op {
    /// A Child SA: both SAs, then its policies with UPDPOLICY (which turns a trap
    /// into the IPsec policy atomically). When a step fails, what got in is taken
    /// out again and `restore` (the routed connection's traps) put back.
    Install {
        /// The SAs and policies.
        plan: Box<ChildPlan>,
        /// The traps to put back after a failure.
        restore: Vec<PolicySpec>,
    },
    /// Reads both SAs' byte counters; a later `Down` run of the same job reports them.
    Counters {
        /// Our inbound SA.
        inbound: SaId,
        /// The outbound SA.
        outbound: SaId,
        /// Their mark.
        mark: Option<Mark>,
    },
    /// One run of the updown command.
    Updown {
        /// The command.
        cmd: Arc<str>,
        /// The verb.
        verb: Verb,
        /// Its environment.
        ctx: Box<updown::Context>,
    },
    /// UPDPOLICY.
    ReplacePolicy(Box<PolicySpec>),
    /// DELPOLICY.
    DelPolicy(PolicyId),
    /// DELSA.
    DelSa(SaId, Option<Mark>),
    /// UPDSA.
    UpdateSa(Box<SaSpec>),
}

/// What one [`Op`] gave, in the order of the job's ops.
#[derive(Debug)]
pub enum OpResult {
    /// Done.
    Ok,
    /// The Child SA is in the kernel: its plan back, for its record (taken).
    Installed(Option<Box<ChildPlan>>),
    /// The kernel refused; what was being done.
    Kernel(&'static str, KernelError),
    /// The counters read (`None`: not readable).
    Bytes(Option<u64>, Option<u64>),
    /// The updown run failed or was killed.
    Updown(UpdownError),
}

/// What a job was for: tells the main loop what to do with its results.
#[derive(Debug, Clone)]
pub enum Tag {
    /// A Child SA's install (the core waits for the answer).
    Install {
        /// The Child SA.
        child: SaSerial,
        /// AH rather than ESP (for the `total.ipsec.type.*` counters).
        ah: bool,
        /// ESP-in-UDP.
        encap: bool,
    },
    /// updown "up" of a Child SA; a waiting whack is released after it.
    Up {
        /// The connection.
        connection: String,
        /// The Child SA.
        child: SaSerial,
    },
    /// A Child SA's removal ("down", counters, policies, SAs).
    Delete {
        /// The connection.
        connection: String,
        /// The Child SA.
        child: SaSerial,
        /// Its bytes in and out as last known (when the kernel cannot be read).
        last: (u64, u64),
    },
    /// A connection's own policies and scripts (route, unroute, traps, shunts).
    Connection {
        /// The connection.
        connection: String,
    },
    /// Failure shunts installed, in the order of the job's ops.
    FailureShunts {
        /// The connection.
        connection: String,
        /// The shunts, one per op.
        shunts: Vec<PolicySpec>,
    },
    /// A NAT mapping change applied to a Child SA's SAs.
    Mapping {
        /// The Child SA.
        child: SaSerial,
        /// Its log prefix (`"conn" #1` or the instance's name).
        name: String,
        /// The peer's new address.
        new: SocketAddr,
        /// The SAs as updated, kept once the kernel took them.
        specs: Box<(SaSpec, SaSpec)>,
    },
}

/// A queued job.
#[derive(Debug)]
pub struct Job {
    /// Its lane.
    pub lane: Lane,
    /// What it is for.
    pub tag: Tag,
    /// Its steps, run in order.
    pub ops: Vec<Op>,
}

impl Job {
    /// Whether it runs the updown command (which may take long).
    fn runs_scripts(&self) -> bool {
        self.ops.iter().any(|o| matches!(o, Op::Updown { .. }))
    }
}

/// A finished job.
#[derive(Debug)]
pub struct Done {
    /// Its lane.
    pub lane: Lane,
    /// What it was for.
    pub tag: Tag,
    /// One result per op.
    pub results: Vec<OpResult>,
}

impl Done {
    /// The first kernel error among the results.
    pub fn kernel_error(&self) -> Option<&KernelError> {
        self.results.iter().find_map(|r| match r {
            OpResult::Kernel(_, e) => Some(e),
            _ => None,
        })
    }

    /// The failed updown runs.
    pub fn updown_errors(&self) -> impl Iterator<Item = &UpdownError> {
        self.results.iter().filter_map(|r| match r {
            OpResult::Updown(e) => Some(e),
            _ => None,
        })
    }
}

/// The main loop's handle on the worker.
#[derive(Debug)]
pub struct Worker {
    jobs: mpsc::UnboundedSender<(Job, OwnedSemaphorePermit)>,
    room: Arc<Semaphore>,
    done: Option<mpsc::UnboundedReceiver<Done>>,
    outstanding: usize,
    /// Jobs out per lane (lanes with none are absent), so that a whack request
    /// can be answered once its connection's work is done.
    lanes: HashMap<Lane, usize>,
    /// Jobs out per connection (all its lanes), so that [`Worker::busy`] is a
    /// lookup rather than a scan of every lane (a template has one per peer).
    by_connection: HashMap<String, usize>,
    /// The worker task, for [`Worker::abort`].
    task: tokio::task::JoinHandle<()>,
}

impl Worker {
    /// Starts the worker task over `k` (inside a tokio runtime); `updown_limit` is
    /// how long one updown run may take before it is killed.
    pub fn start<K: Xfrm>(k: K, updown_limit: Duration) -> Worker {
        Self::with_limit(k, updown_limit, QUEUE_LIMIT)
    }

    /// [`Worker::start`] with another queue bound.
    pub fn with_limit<K: Xfrm>(k: K, updown_limit: Duration, limit: usize) -> Worker {
        let (jobs, rx) = mpsc::unbounded_channel();
        let (done_tx, done) = mpsc::unbounded_channel();
        let task = tokio::spawn(run(k, rx, done_tx, updown_limit));
        Worker {
            jobs,
            room: Arc::new(Semaphore::new(limit)),
            done: Some(done),
            outstanding: 0,
            lanes: HashMap::new(),
            by_connection: HashMap::new(),
            task,
        }
    }

    /// Queues a job. With [`QUEUE_LIMIT`] jobs out this waits until one is done
    /// (logged: the main loop then runs at the kernel's pace).
    pub async fn submit(&mut self, job: Job) {
        let permit = match self.room.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                tracing::warn!(
                    "kernel worker: {} requests outstanding; waiting for one to finish",
                    self.outstanding
                );
                match self.room.clone().acquire_owned().await {
                    Ok(p) => p,
                    Err(_) => {
                        tracing::error!("kernel worker is gone; {:?} not carried out", job.tag);
                        return;
                    }
                }
            }
        };
        let lane = job.lane.clone();
        if let Err(e) = self.jobs.send((job, permit)) {
            tracing::error!("kernel worker is gone; {:?} not carried out", e.0 .0.tag);
            return;
        }
        self.outstanding += 1;
        match self.by_connection.get_mut(&lane.connection) {
            Some(n) => *n += 1,
            None => {
                self.by_connection.insert(lane.connection.clone(), 1);
            }
        }
        *self.lanes.entry(lane).or_default() += 1;
    }

    /// The results, for the main loop.
    pub fn done_mut(&mut self) -> Option<&mut mpsc::UnboundedReceiver<Done>> {
        self.done.as_mut()
    }

    /// The results, taken (to wait on them while `self` is borrowed elsewhere);
    /// [`Worker::put_done`] gives them back.
    pub fn take_done(&mut self) -> Option<mpsc::UnboundedReceiver<Done>> {
        self.done.take()
    }

    /// Gives back what [`Worker::take_done`] took.
    pub fn put_done(&mut self, rx: mpsc::UnboundedReceiver<Done>) {
        self.done = Some(rx);
    }

    /// The main loop took the result of a job of `lane`.
    pub fn completed(&mut self, lane: &Lane) {
        self.outstanding = self.outstanding.saturating_sub(1);
        if let Some(n) = self.lanes.get_mut(lane) {
            *n -= 1;
            if *n == 0 {
                self.lanes.remove(lane);
            }
            if let Some(c) = self.by_connection.get_mut(&lane.connection) {
                *c -= 1;
                if *c == 0 {
                    self.by_connection.remove(&lane.connection);
                }
            }
        }
    }

    /// Whether jobs of `connection` (any of its lanes) are out.
    pub fn busy(&self, connection: &str) -> bool {
        self.by_connection.contains_key(connection)
    }

    /// Jobs queued whose result the main loop has not taken yet.
    pub fn outstanding(&self) -> usize {
        self.outstanding
    }

    /// Stops the worker where it is, for a shutdown out of time: queued jobs are
    /// dropped, running ones cancelled (an updown script is killed, since its child
    /// process is killed on drop) and later submits are refused with a log line.
    /// Returns how many jobs were not carried out. The kernel state they would
    /// have changed is what the shutdown's flush of pluto's own state removes.
    pub fn abort(&mut self) -> usize {
        self.task.abort();
        self.lanes.clear();
        self.by_connection.clear();
        std::mem::take(&mut self.outstanding)
    }
}

async fn run<K: Xfrm>(
    k: K,
    mut jobs: mpsc::UnboundedReceiver<(Job, OwnedSemaphorePermit)>,
    done: mpsc::UnboundedSender<Done>,
    updown_limit: Duration,
) {
    // Jobs waiting behind the running one of their lane; a lane is present while
    // one of its jobs runs.
    let mut lanes: HashMap<Lane, VecDeque<(Job, OwnedSemaphorePermit)>> = HashMap::new();
    let mut running: JoinSet<(Lane, Done, OwnedSemaphorePermit)> = JoinSet::new();
    let mut ids: HashMap<tokio::task::Id, Lane> = HashMap::new();
    let start = |running: &mut JoinSet<_>,
                 ids: &mut HashMap<tokio::task::Id, Lane>,
                 (job, permit): (Job, OwnedSemaphorePermit)| {
        let k = k.clone();
        let lane = job.lane.clone();
        let h = running.spawn(async move {
            let d = exec(&k, job, updown_limit).await;
            (d.lane.clone(), d, permit)
        });
        ids.insert(h.id(), lane);
    };
    let mut open = true;
    while open || !running.is_empty() {
        tokio::select! {
            j = jobs.recv(), if open => match j {
                Some(j) => match lanes.get_mut(&j.0.lane) {
                    Some(q) => q.push_back(j),
                    // Kernel calls only, and nothing of its lane before it: run it
                    // here. XFRM answers within the request, so this holds up the
                    // other lanes no longer than a task of its own would, without
                    // the task.
                    None if !j.0.runs_scripts() => {
                        let (job, permit) = j;
                        let _ = done.send(exec(&k, job, updown_limit).await);
                        drop(permit);
                    }
                    None => {
                        lanes.insert(j.0.lane.clone(), VecDeque::new());
                        start(&mut running, &mut ids, j);
                    }
                },
                None => open = false,
            },
            Some(r) = running.join_next_with_id(), if !running.is_empty() => {
                let lane = match r {
                    Ok((id, (lane, d, permit))) => {
                        ids.remove(&id);
                        // The permit goes back only once the result is on its way,
                        // so the bound covers everything between submit and here.
                        let _ = done.send(d);
                        drop(permit);
                        Some(lane)
                    }
                    Err(e) => {
                        tracing::error!("kernel worker: a job failed: {e}; its connection's later jobs go on");
                        ids.remove(&e.id())
                    }
                };
                if let Some(lane) = lane {
                    match lanes.get_mut(&lane).and_then(VecDeque::pop_front) {
                        Some(next) => start(&mut running, &mut ids, next),
                        None => {
                            lanes.remove(&lane);
                        }
                    }
                }
            }
        }
    }
}

async fn exec<K: Xfrm>(k: &K, job: Job, updown_limit: Duration) -> Done {
    let mut results = Vec::with_capacity(job.ops.len());
    let mut bytes = (None, None);
    for op in job.ops {
        let r = match op {
            Op::Install { plan, restore } => match install(k, &plan, &restore).await {
                Ok(()) => OpResult::Installed(Some(plan)),
                Err(e) => OpResult::Kernel("installing the Child SA", e),
            },
            Op::Counters {
                inbound,
                outbound,
                mark,
            } => {
                bytes = (
                    k.sa_bytes(&inbound, mark).await.ok(),
                    k.sa_bytes(&outbound, mark).await.ok(),
                );
                OpResult::Bytes(bytes.0, bytes.1)
            }
            Op::Updown { cmd, verb, mut ctx } => {
                if verb == Verb::Down {
                    if let Some(b) = ctx.bytes.as_mut() {
                        b.0 = bytes.0.unwrap_or(b.0);
                        b.1 = bytes.1.unwrap_or(b.1);
                    }
                }
                let limit = tokio::time::sleep(updown_limit);
                match updown::run_until(&cmd, verb, &ctx, limit, updown_limit).await {
                    Ok(()) => OpResult::Ok,
                    Err(e) => OpResult::Updown(e),
                }
            }
            Op::ReplacePolicy(p) => kernel_result(INSTALLING_POLICY, k.replace_policy(&p).await),
            Op::DelPolicy(id) => kernel_result("deleting policy", k.del_policy(&id).await),
            Op::DelSa(id, mark) => kernel_result("deleting SA", k.del_sa(&id, mark).await),
            Op::UpdateSa(s) => kernel_result("updating SA", k.update_sa(&s).await),
        };
        results.push(r);
    }
    Done {
        lane: job.lane,
        tag: job.tag,
        results,
    }
}

/// What a failed [`Op::ReplacePolicy`] says it was doing (such failures are worth
/// a warning; failed deletes mostly find the policy gone already).
pub const INSTALLING_POLICY: &str = "installing policy";

fn kernel_result(what: &'static str, r: Result<(), KernelError>) -> OpResult {
    match r {
        Ok(()) => OpResult::Ok,
        Err(e) => OpResult::Kernel(what, e),
    }
}

/// A Child SA into the kernel, or nothing of it.
async fn install<K: Xfrm>(
    k: &K,
    plan: &ChildPlan,
    restore: &[PolicySpec],
) -> Result<(), KernelError> {
    k.add_sa(&plan.inbound).await?;
    if let Err(e) = k.add_sa(&plan.outbound).await {
        let _ = k.del_sa(&plan.inbound.id, plan.inbound.mark).await;
        return Err(e);
    }
    for p in &plan.policies {
        // UPDPOLICY: replaces a trap policy of the same selector atomically.
        if let Err(e) = k.replace_policy(p).await {
            for q in &plan.policies {
                let _ = k.del_policy(&q.id()).await;
            }
            let _ = k.del_sa(&plan.inbound.id, plan.inbound.mark).await;
            let _ = k.del_sa(&plan.outbound.id, plan.outbound.mark).await;
            for t in restore {
                if let Err(e) = k.replace_policy(t).await {
                    tracing::warn!("cannot restore trap policy: {e}");
                }
            }
            return Err(e);
        }
    }
    Ok(())
}

/// A kernel that records what it was asked, for the tests here and in `engine.rs`.
#[cfg(test)]
pub mod testutil {
    use super::*;
    use std::sync::Mutex;

    /// One call, as recorded.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum Call {
        /// add_sa(spi).
        AddSa(u32),
        /// update_sa(spi).
        UpdateSa(u32),
        /// del_sa(spi) of an ESP SA.
        DelSa(u32),
        /// del_sa(spi) of an AH SA.
        DelAhSa(u32),
        /// replace_policy(dir).
        ReplacePolicy(kernel::Dir),
        /// del_policy(dir).
        DelPolicy(kernel::Dir),
        /// sa_bytes(spi).
        Bytes(u32),
    }

    /// Records calls; each takes `delay`; `refuse` SPIs fail add_sa.
    #[derive(Debug, Clone, Default)]
    pub struct Recorder {
        /// What was called, in order.
        pub calls: Arc<Mutex<Vec<Call>>>,
        /// How long each call takes.
        pub delay: Duration,
        /// SPIs whose add_sa fails.
        pub refuse: Vec<u32>,
    }

    impl Recorder {
        /// The calls so far.
        pub fn calls(&self) -> Vec<Call> {
            self.calls.lock().map(|c| c.clone()).unwrap_or_default()
        }

        async fn call(&self, c: Call) {
            tokio::time::sleep(self.delay).await;
            if let Ok(mut v) = self.calls.lock() {
                v.push(c);
            }
        }
    }

    impl Xfrm for Recorder {
        async fn add_sa(&self, spec: &SaSpec) -> Result<(), KernelError> {
            self.call(Call::AddSa(spec.id.spi)).await;
            if self.refuse.contains(&spec.id.spi) {
                return Err(KernelError::Invalid("refused by the test".into()));
            }
            Ok(())
        }
        async fn update_sa(&self, spec: &SaSpec) -> Result<(), KernelError> {
            self.call(Call::UpdateSa(spec.id.spi)).await;
            Ok(())
        }
        async fn del_sa(&self, id: &SaId, _: Option<Mark>) -> Result<(), KernelError> {
            self.call(match id.proto {
                kernel::IpsecProto::Ah => Call::DelAhSa(id.spi),
                _ => Call::DelSa(id.spi),
            })
            .await;
            Ok(())
        }
        async fn replace_policy(&self, spec: &PolicySpec) -> Result<(), KernelError> {
            self.call(Call::ReplacePolicy(spec.dir)).await;
            Ok(())
        }
        async fn del_policy(&self, id: &PolicyId) -> Result<(), KernelError> {
            self.call(Call::DelPolicy(id.dir)).await;
            Ok(())
        }
        async fn sa_bytes(&self, id: &SaId, _: Option<Mark>) -> Result<u64, KernelError> {
            self.call(Call::Bytes(id.spi)).await;
            Ok(u64::from(id.spi))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testutil::{Call, Recorder};
    use super::*;
    use ike::ikev2::Mode;
    use std::path::Path;

    fn lane(c: &str) -> Lane {
        Lane {
            connection: c.into(),
            peer: None,
        }
    }

    /// The test Child SA's plan with its SPIs moved by `n`.
    fn plan(n: u32) -> ChildPlan {
        let req = crate::xfrm::testutil::install(Mode::Tunnel, true);
        let mut p = crate::xfrm::child_plan(&req, crate::xfrm::reqid(1)).expect("test plan");
        p.inbound.id.spi += n;
        p.outbound.id.spi += n;
        p
    }

    fn install_job(c: &str, n: u32) -> Job {
        Job {
            lane: lane(c),
            tag: Tag::Install {
                child: SaSerial(u64::from(n) + 2),
                ah: false,
                encap: false,
            },
            ops: vec![Op::Install {
                plan: Box::new(plan(n)),
                restore: Vec::new(),
            }],
        }
    }

    fn delete_job(c: &str, n: u32) -> Job {
        let p = plan(n);
        let mut ops: Vec<Op> = p.policies.iter().map(|q| Op::DelPolicy(q.id())).collect();
        ops.push(Op::DelSa(p.inbound.id, None));
        ops.push(Op::DelSa(p.outbound.id, None));
        Job {
            lane: lane(c),
            tag: Tag::Delete {
                connection: c.into(),
                child: SaSerial(u64::from(n) + 2),
                last: (0, 0),
            },
            ops,
        }
    }

    /// An updown run of `cmd` for connection `c`.
    fn script_job(c: &str, cmd: &str) -> Job {
        let ctx = updown::Context {
            connection: c.into(),
            tunnel: true,
            me: "192.0.2.1".parse().expect("address"),
            my_id: "@west".into(),
            my_client: conn::addr::Subnet::parse("198.51.100.0/24").expect("subnet"),
            my_protocol: 0,
            my_port: 0,
            my_sourceip: None,
            peer: "192.0.2.2".parse().expect("address"),
            peer_id: "@east".into(),
            peer_client: conn::addr::Subnet::parse("203.0.113.0/24").expect("subnet"),
            peer_protocol: 0,
            peer_port: 0,
            peer_ca: String::new(),
            interface: "eth0".into(),
            next_hop: "192.0.2.2".parse().expect("address"),
            reqid: 16388,
            sa_type: "ESP",
            conn_policy: "PSK+ENCRYPT+TUNNEL".into(),
            bytes: None,
            metric: 1,
            nflog_group: None,
            conn_mark: None,
        };
        Job {
            lane: lane(c),
            tag: Tag::Up {
                connection: c.into(),
                child: SaSerial(9),
            },
            ops: vec![Op::Updown {
                cmd: Arc::from(cmd),
                verb: Verb::Up,
                ctx: Box::new(ctx),
            }],
        }
    }

    /// A script that waits until `go` exists.
    fn wait_for(go: &Path) -> String {
        format!("while [ ! -e {} ]; do sleep 0.02; done", go.display())
    }

    async fn next(rx: &mut mpsc::UnboundedReceiver<Done>) -> Done {
        tokio::time::timeout(Duration::from_secs(20), rx.recv())
            .await
            .expect("a result in time")
            .expect("the worker runs")
    }

    #[tokio::test]
    async fn a_template_stays_busy_until_every_instance_lane_is_done() {
        let mut w = Worker::start(Recorder::default(), updown::TIMEOUT);
        let mut rx = w.take_done().expect("results");
        for (n, peer) in ["192.0.2.10", "192.0.2.11"].iter().enumerate() {
            let mut j = install_job("rw", n as u32);
            j.lane.peer = Some(peer.parse().unwrap());
            w.submit(j).await;
        }
        assert!(w.busy("rw"));
        let first = next(&mut rx).await;
        w.completed(&first.lane);
        assert!(w.busy("rw"), "the other instance's job is still out");
        let second = next(&mut rx).await;
        assert_ne!(first.lane, second.lane);
        w.completed(&second.lane);
        assert!(!w.busy("rw"));
        // A result taken twice does not make another connection's count wrong.
        w.completed(&second.lane);
        assert!(!w.busy("rw"));
    }

    #[tokio::test]
    async fn a_delete_queued_with_its_install_runs_after_it() {
        // Every call takes a while, so two jobs run side by side would interleave.
        let k = Recorder {
            delay: Duration::from_millis(5),
            ..Recorder::default()
        };
        let mut w = Worker::start(k.clone(), updown::TIMEOUT);
        let mut rx = w.take_done().expect("results");
        w.submit(install_job("a", 0)).await;
        w.submit(delete_job("a", 0)).await;
        assert_eq!(w.outstanding(), 2);
        assert!(w.busy("a") && !w.busy("b"));
        let first = next(&mut rx).await;
        assert!(matches!(first.tag, Tag::Install { .. }), "{first:?}");
        assert!(first.kernel_error().is_none(), "{first:?}");
        w.completed(&first.lane);
        let second = next(&mut rx).await;
        assert!(matches!(second.tag, Tag::Delete { .. }), "{second:?}");
        w.completed(&second.lane);
        assert_eq!(w.outstanding(), 0);
        assert!(!w.busy("a"));
        let p = plan(0);
        let mut want = vec![
            Call::AddSa(p.inbound.id.spi),
            Call::AddSa(p.outbound.id.spi),
        ];
        want.extend(p.policies.iter().map(|q| Call::ReplacePolicy(q.dir)));
        want.extend(p.policies.iter().map(|q| Call::DelPolicy(q.dir)));
        want.extend([
            Call::DelSa(p.inbound.id.spi),
            Call::DelSa(p.outbound.id.spi),
        ]);
        assert_eq!(k.calls(), want);
    }

    #[tokio::test]
    async fn a_failed_install_takes_out_what_got_in_before_the_next_job() {
        let p = plan(0);
        let k = Recorder {
            refuse: vec![p.outbound.id.spi],
            ..Recorder::default()
        };
        let mut w = Worker::start(k.clone(), updown::TIMEOUT);
        let mut rx = w.take_done().expect("results");
        w.submit(install_job("a", 0)).await;
        w.submit(delete_job("a", 0)).await;
        let first = next(&mut rx).await;
        assert!(first.kernel_error().is_some(), "{first:?}");
        next(&mut rx).await;
        let calls = k.calls();
        assert_eq!(
            &calls[..3],
            &[
                Call::AddSa(p.inbound.id.spi),
                Call::AddSa(p.outbound.id.spi),
                Call::DelSa(p.inbound.id.spi)
            ]
        );
        assert!(!calls.contains(&Call::ReplacePolicy(kernel::Dir::Out)));
    }

    #[tokio::test]
    async fn a_slow_script_holds_up_its_own_connection_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        let go = dir.path().join("go");
        let k = Recorder::default();
        let mut w = Worker::start(k.clone(), updown::TIMEOUT);
        let mut rx = w.take_done().expect("results");
        // "slow": its up script waits, and its next Child SA waits behind it.
        w.submit(script_job("slow", &wait_for(&go))).await;
        w.submit(install_job("slow", 1)).await;
        // "fast" is established meanwhile.
        w.submit(install_job("fast", 0)).await;
        let d = next(&mut rx).await;
        assert_eq!(d.lane, lane("fast"), "{d:?}");
        let fast = plan(0);
        assert_eq!(k.calls().first(), Some(&Call::AddSa(fast.inbound.id.spi)));
        let slow = plan(1);
        assert!(
            !k.calls().contains(&Call::AddSa(slow.inbound.id.spi)),
            "the slow connection's install overtook its script"
        );
        std::fs::write(&go, b"").expect("go");
        let d = next(&mut rx).await;
        assert!(matches!(d.tag, Tag::Up { .. }), "{d:?}");
        assert_eq!(d.updown_errors().count(), 0, "{d:?}");
        let d = next(&mut rx).await;
        assert!(matches!(d.tag, Tag::Install { .. }), "{d:?}");
        assert!(k.calls().contains(&Call::AddSa(slow.inbound.id.spi)));
    }

    #[tokio::test]
    async fn a_hung_script_is_killed_and_its_connection_goes_on() {
        let k = Recorder::default();
        let mut w = Worker::start(k.clone(), Duration::from_millis(300));
        let mut rx = w.take_done().expect("results");
        w.submit(script_job("hung", "sleep 30")).await;
        w.submit(delete_job("hung", 0)).await;
        w.submit(install_job("other", 1)).await;
        let d = next(&mut rx).await;
        assert_eq!(d.lane, lane("other"), "another connection waits for no one");
        let d = next(&mut rx).await;
        let errors: Vec<_> = d.updown_errors().collect();
        assert!(matches!(errors[..], [UpdownError::Timeout { .. }]), "{d:?}");
        assert!(errors[0].to_string().contains("up-client"), "{}", errors[0]);
        let d = next(&mut rx).await;
        assert!(matches!(d.tag, Tag::Delete { .. }), "{d:?}");
        assert!(k.calls().contains(&Call::DelSa(plan(0).inbound.id.spi)));
    }

    #[tokio::test]
    async fn a_full_queue_makes_submit_wait() {
        let dir = tempfile::tempdir().expect("tempdir");
        let go = dir.path().join("go");
        let k = Recorder::default();
        let mut w = Worker::with_limit(k, updown::TIMEOUT, 2);
        let mut rx = w.take_done().expect("results");
        w.submit(script_job("a", &wait_for(&go))).await;
        w.submit(script_job("b", &wait_for(&go))).await;
        let third = tokio::time::timeout(Duration::from_millis(200), w.submit(install_job("c", 0)));
        assert!(third.await.is_err(), "a third job got in past the bound");
        assert_eq!(w.outstanding(), 2);
        std::fs::write(&go, b"").expect("go");
        next(&mut rx).await;
        tokio::time::timeout(Duration::from_secs(20), w.submit(install_job("c", 0)))
            .await
            .expect("room once a job finished");
        assert_eq!(w.outstanding(), 3);
    }
}
