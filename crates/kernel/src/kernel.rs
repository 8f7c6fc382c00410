//! The daemon's handle on the kernel IPsec stack.

use std::collections::HashSet;
use std::net::IpAddr;
use std::ops::RangeInclusive;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::sync::{Arc, Mutex};

use crate::error::{KernelError, Op};
use crate::event::EventStream;
use crate::netns;
use crate::nl::{open_raw, MsgBuilder, NlSocket, Requester};
use crate::policy::{priority, Dir, PolicyAction, PolicyId, PolicyInfo, PolicySpec};
use crate::route::{self, Interface, Route};
use crate::rule::{self, Rule};
use crate::sa::{IpsecProto, Mark, SaCounters, SaId, SaInfo, SaSpec};
use crate::wire;

/// SPIs 0x100-0xFFF are left to manually keyed SAs (ipsec-whack(8)); negotiated
/// SPIs come from above them.
pub const SPI_RANGE: RangeInclusive<u32> = 0x1000..=0xffff_ffff;
/// IPComp CPIs: above the well-known and manual values, below the 0xF000 block
/// libreswan keeps out of negotiation.
pub const CPI_RANGE: RangeInclusive<u32> = 0x1000..=0xefff;
const MANUAL_SPIS: RangeInclusive<u32> = 0x100..=0xfff;
/// Changes per [`Kernel::apply`] batch when flushing.
const FLUSH_BATCH: usize = 1024;

/// Which kernel state belongs to this daemon.
///
/// SAs and IPsec/trap policies are recognised by their reqid (SAs by their own, policies
/// by their templates'). Pass/drop/reject policies have no template, so the handle
/// remembers the ones it installed; after a crash those are found by nothing and must be
/// flushed by hand (`ip xfrm policy`), as they are not tied to any reqid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ownership {
    /// Reqids this daemon hands out. libreswan's automatic reqids start at 16384
    /// (manual ones stay below), so that is the default start.
    pub reqids: RangeInclusive<u32>,
}

impl Default for Ownership {
    fn default() -> Self {
        Ownership {
            reqids: 16384..=u32::MAX,
        }
    }
}

/// What [`Kernel::flush_owned`] removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FlushReport {
    /// SAs deleted.
    pub sas: usize,
    /// Policies deleted.
    pub policies: usize,
}

#[derive(Debug)]
struct Inner {
    xfrm: Requester,
    route: Requester,
    owned: Ownership,
    shunts: Mutex<HashSet<PolicyId>>,
    /// Outbound `%reject` policies that have their FIB rule (see [`rule`]), IPv4
    /// ones first, IPv6 second: a family's IKE exceptions live while its set is
    /// not empty.
    rejects: Mutex<[HashSet<PolicyId>; 2]>,
}

/// One change of a [`Kernel::apply`] batch.
#[derive(Debug, Clone, Copy)]
pub enum Change<'a> {
    /// As [`Kernel::add_sa`].
    AddSa(&'a SaSpec),
    /// As [`Kernel::update_sa`].
    UpdateSa(&'a SaSpec),
    /// As [`Kernel::del_sa`].
    DelSa(&'a SaId, Option<Mark>),
    /// As [`Kernel::add_policy`].
    AddPolicy(&'a PolicySpec),
    /// As [`Kernel::replace_policy`].
    ReplacePolicy(&'a PolicySpec),
    /// As [`Kernel::del_policy`].
    DelPolicy(&'a PolicyId),
}

/// An async handle on XFRM (and rtnetlink for interfaces and routes). Cheap to clone;
/// requests from clones are serialised on one request socket.
#[derive(Debug, Clone)]
pub struct Kernel {
    inner: Arc<Inner>,
}

struct Fds {
    xfrm: OwnedFd,
    events: OwnedFd,
    route: OwnedFd,
}

fn open_fds() -> Result<Fds, KernelError> {
    let io = |e| KernelError::Io {
        op: Op::Open,
        source: e,
    };
    let groups = (1 << (wire::XFRMNLGRP_ACQUIRE - 1))
        | (1 << (wire::XFRMNLGRP_EXPIRE - 1))
        | (1 << (wire::XFRMNLGRP_MAPPING - 1));
    Ok(Fds {
        xfrm: open_raw(wire::NETLINK_XFRM, 0, 1 << 20).map_err(io)?,
        events: open_raw(wire::NETLINK_XFRM, groups, 4 << 20).map_err(io)?,
        route: open_raw(libc::NETLINK_ROUTE, 0, 1 << 20).map_err(io)?,
    })
}

impl Kernel {
    /// Opens the request and event sockets in the current network namespace with the
    /// default [`Ownership`]. Must be called inside a tokio runtime.
    pub fn new() -> Result<(Kernel, EventStream), KernelError> {
        Self::with_ownership(Ownership::default())
    }

    /// Like [`Kernel::new`] with an explicit ownership scope.
    pub fn with_ownership(owned: Ownership) -> Result<(Kernel, EventStream), KernelError> {
        Self::from_fds(open_fds()?, owned)
    }

    /// Opens the sockets inside the network namespace at `path` (e.g.
    /// `/run/netns/west`); the handle then acts on that namespace only, whatever
    /// namespace the calling threads are in.
    pub fn in_netns(path: &Path, owned: Ownership) -> Result<(Kernel, EventStream), KernelError> {
        let fds = netns::run_in(path, open_fds)??;
        Self::from_fds(fds, owned)
    }

    /// A handle whose XFRM side is faked at the netlink boundary: every SA and
    /// policy request is built exactly as for the kernel and then acknowledged
    /// without being sent; dumps are empty and no event ever comes. Interfaces and
    /// routes are the real ones (rtnetlink). For benchmarks that hold more tunnels
    /// than a test kernel can (`pluto --fake-xfrm`): the daemon does all of its own
    /// work per Child SA, the kernel none.
    pub fn fake_xfrm(owned: Ownership) -> Result<(Kernel, EventStream), KernelError> {
        let io = |e| KernelError::Io {
            op: Op::Open,
            source: e,
        };
        let route = open_raw(libc::NETLINK_ROUTE, 0, 1 << 20).map_err(io)?;
        let kernel = Kernel {
            inner: Arc::new(Inner {
                xfrm: Requester::fake(),
                route: Requester::new(NlSocket::new(route).map_err(io)?),
                owned,
                shunts: Mutex::new(HashSet::new()),
                rejects: Mutex::new([HashSet::new(), HashSet::new()]),
            }),
        };
        Ok((kernel, EventStream::silent()))
    }

    fn from_fds(fds: Fds, owned: Ownership) -> Result<(Kernel, EventStream), KernelError> {
        let io = |e| KernelError::Io {
            op: Op::Open,
            source: e,
        };
        let kernel = Kernel {
            inner: Arc::new(Inner {
                xfrm: Requester::new(NlSocket::new(fds.xfrm).map_err(io)?),
                route: Requester::new(NlSocket::new(fds.route).map_err(io)?),
                owned,
                shunts: Mutex::new(HashSet::new()),
                rejects: Mutex::new([HashSet::new(), HashSet::new()]),
            }),
        };
        let events = EventStream::new(NlSocket::new(fds.events).map_err(io)?);
        Ok((kernel, events))
    }

    /// The ownership scope.
    pub fn ownership(&self) -> &Ownership {
        &self.inner.owned
    }

    /// Allocates an inbound SPI (or IPComp CPI) for SAs from `src` (the peer) to `dst`
    /// (us), from [`SPI_RANGE`] or [`CPI_RANGE`]. The kernel keeps a larval SA that
    /// [`Kernel::update_sa`] later fills in (or that expires on its own).
    pub async fn alloc_spi(
        &self,
        src: IpAddr,
        dst: IpAddr,
        proto: IpsecProto,
        reqid: u32,
    ) -> Result<u32, KernelError> {
        let range = if proto == IpsecProto::Comp {
            CPI_RANGE
        } else {
            SPI_RANGE
        };
        self.alloc_spi_in(src, dst, proto, reqid, range).await
    }

    /// [`Kernel::alloc_spi`] from an explicit range, which may not overlap the manual
    /// range 0x100-0xFFF.
    pub async fn alloc_spi_in(
        &self,
        src: IpAddr,
        dst: IpAddr,
        proto: IpsecProto,
        reqid: u32,
        range: RangeInclusive<u32>,
    ) -> Result<u32, KernelError> {
        if range.start() > range.end()
            || (range.start() <= MANUAL_SPIS.end() && range.end() >= MANUAL_SPIS.start())
            || *range.start() == 0
        {
            return Err(KernelError::Invalid(format!(
                "SPI range {:#x}-{:#x} is empty or overlaps 0 or 0x100-0xfff, which are reserved for manual keying",
                range.start(),
                range.end()
            )));
        }
        if src.is_ipv6() != dst.is_ipv6() {
            return Err(KernelError::Invalid(format!(
                "SPI requested for {src} -> {dst}: mixed address families"
            )));
        }
        let msg = wire::allocspi_msg(src, dst, proto, reqid, *range.start(), *range.end());
        let replies = self.inner.xfrm.request(Op::AllocSpi, msg).await?;
        let reply = replies
            .iter()
            .find(|m| m.msg_type == wire::XFRM_MSG_NEWSA)
            .ok_or(KernelError::Malformed("ALLOCSPI answered without an SA"))?;
        let info = wire::parse_sa(&reply.payload)?;
        tracing::debug!(spi = format_args!("{:#08x}", info.id.spi), %src, %dst, "allocated SPI");
        Ok(info.id.spi)
    }

    /// Adds a new SA (XFRM_MSG_NEWSA); fails if one with the same id exists, including
    /// the larval SA of an [`Kernel::alloc_spi`]: use [`Kernel::update_sa`] for those.
    pub async fn add_sa(&self, spec: &SaSpec) -> Result<(), KernelError> {
        self.install_sa(spec, false).await
    }

    /// Adds or replaces an SA (XFRM_MSG_UPDSA): completes an allocated SPI's larval SA,
    /// or changes an existing one (e.g. the encapsulation after a NAT mapping change).
    pub async fn update_sa(&self, spec: &SaSpec) -> Result<(), KernelError> {
        self.install_sa(spec, true).await
    }

    async fn install_sa(&self, spec: &SaSpec, update: bool) -> Result<(), KernelError> {
        let (op, msg) = Self::sa_request(spec, update)?;
        let res = self.inner.xfrm.request(op, msg).await.map(|_| ());
        self.sa_installed(spec, update, res).await
    }

    fn sa_request(spec: &SaSpec, update: bool) -> Result<(Op, MsgBuilder), KernelError> {
        spec.check()?;
        let op = if update { Op::UpdateSa } else { Op::AddSa };
        Ok((op, wire::sa_msg(spec, update)))
    }

    /// What follows the kernel's answer to an SA install: the probe that tells a
    /// missing algorithm from a missing protocol.
    async fn sa_installed(
        &self,
        spec: &SaSpec,
        update: bool,
        res: Result<(), KernelError>,
    ) -> Result<(), KernelError> {
        if let Err(e) = res {
            if !update && e.is_algorithm_missing() {
                return Err(self.probe_protocol(spec, e).await);
            }
            return Err(e);
        }
        tracing::debug!(sa = %spec.id, reqid = spec.reqid, "installed SA");
        Ok(())
    }

    /// The kernel said an algorithm of `spec` was not found. A kernel without ESP
    /// (or AH) says the same for an AEAD whose module is missing too, since it
    /// looks the algorithms up before the protocol. Probe: the same SA with
    /// cbc(aes)/hmac(sha256) (AH: hmac(sha256)); when that is refused for lack of
    /// the protocol, the protocol is what is missing. A probe SA that the kernel
    /// takes is deleted at once (its id is the failed one's, so nobody else has it).
    async fn probe_protocol(&self, spec: &SaSpec, err: KernelError) -> KernelError {
        use crate::alg::{Encr, Integ, SecretKey};
        use crate::sa::SaCrypto;
        let proto = spec.id.proto;
        let crypto = match proto {
            IpsecProto::Esp => SaCrypto::Esp {
                encr: Encr::AesCbc,
                encr_key: SecretKey::new(vec![0; 16]),
                integ: Some((Integ::HmacSha256_128, SecretKey::new(vec![0; 32]))),
            },
            IpsecProto::Ah => SaCrypto::Ah {
                integ: Integ::HmacSha256_128,
                key: SecretKey::new(vec![0; 32]),
            },
            IpsecProto::Comp => return err,
        };
        let mut probe = spec.clone();
        probe.crypto = crypto;
        match self
            .inner
            .xfrm
            .request(Op::AddSa, wire::sa_msg(&probe, false))
            .await
        {
            Ok(_) => {
                if let Err(e) = self.del_sa(&probe.id, probe.mark).await {
                    tracing::warn!(sa = %probe.id, "cannot delete the probe SA: {e}");
                }
                err
            }
            Err(p) if p.is_no_ipsec_support() && !p.is_algorithm_missing() => {
                tracing::debug!("probe SA refused too ({p}): the protocol is missing");
                err.protocol_missing(proto)
            }
            Err(_) => err,
        }
    }

    /// Deletes an SA.
    pub async fn del_sa(&self, id: &SaId, mark: Option<Mark>) -> Result<(), KernelError> {
        self.inner
            .xfrm
            .request(
                Op::DeleteSa,
                wire::sa_id_msg(wire::XFRM_MSG_DELSA, id, mark),
            )
            .await?;
        tracing::debug!(sa = %id, "deleted SA");
        Ok(())
    }

    /// Reads an SA back, with its counters.
    pub async fn get_sa(&self, id: &SaId, mark: Option<Mark>) -> Result<SaInfo, KernelError> {
        let replies = self
            .inner
            .xfrm
            .request(Op::GetSa, wire::sa_id_msg(wire::XFRM_MSG_GETSA, id, mark))
            .await?;
        let m = replies
            .iter()
            .find(|m| m.msg_type == wire::XFRM_MSG_NEWSA)
            .ok_or(KernelError::Malformed("GETSA answered without an SA"))?;
        wire::parse_sa(&m.payload)
    }

    /// The traffic counters of an SA (bytes, packets, add and use time), for
    /// `whack --trafficstatus`.
    pub async fn sa_counters(
        &self,
        id: &SaId,
        mark: Option<Mark>,
    ) -> Result<SaCounters, KernelError> {
        Ok(self.get_sa(id, mark).await?.counters)
    }

    /// Every SA in the namespace (including other daemons').
    pub async fn sas(&self) -> Result<Vec<SaInfo>, KernelError> {
        let replies = self
            .inner
            .xfrm
            .dump(Op::DumpSa, wire::dump_msg(wire::XFRM_MSG_GETSA))
            .await?;
        replies
            .iter()
            .filter(|m| m.msg_type == wire::XFRM_MSG_NEWSA)
            .map(|m| wire::parse_sa(&m.payload))
            .collect()
    }

    /// The SAs this daemon owns (reqid in the ownership range).
    pub async fn owned_sas(&self) -> Result<Vec<SaInfo>, KernelError> {
        let r = &self.inner.owned.reqids;
        Ok(self
            .sas()
            .await?
            .into_iter()
            .filter(|s| r.contains(&s.reqid))
            .collect())
    }

    /// Adds a policy (XFRM_MSG_NEWPOLICY); fails if one with the same selector,
    /// direction, mark and if_id exists.
    pub async fn add_policy(&self, spec: &PolicySpec) -> Result<(), KernelError> {
        self.install_policy(spec, false).await
    }

    /// Adds or atomically replaces a policy (XFRM_MSG_UPDPOLICY): during a rekey or
    /// when a trap becomes an IPsec policy, no packet sees the gap a delete+add leaves.
    pub async fn replace_policy(&self, spec: &PolicySpec) -> Result<(), KernelError> {
        self.install_policy(spec, true).await
    }

    async fn install_policy(&self, spec: &PolicySpec, update: bool) -> Result<(), KernelError> {
        let (op, msg) = Self::policy_request(spec, update)?;
        self.inner.xfrm.request(op, msg).await?;
        self.policy_installed(spec).await;
        Ok(())
    }

    fn policy_request(spec: &PolicySpec, update: bool) -> Result<(Op, MsgBuilder), KernelError> {
        if let PolicyAction::Ipsec(t) = &spec.action {
            if t.is_empty() {
                return Err(KernelError::Invalid(
                    "an IPsec policy needs at least one template".into(),
                ));
            }
        }
        let prio = priority(&spec.selector, spec.priority);
        let op = if update {
            Op::ReplacePolicy
        } else {
            Op::AddPolicy
        };
        Ok((op, wire::policy_msg(spec, prio, update)))
    }

    /// What the handle keeps for a policy the kernel took: whether it is a shunt,
    /// and a `%reject` policy's FIB rule.
    async fn policy_installed(&self, spec: &PolicySpec) {
        {
            let mut shunts = self.inner.shunts.lock().unwrap_or_else(|p| p.into_inner());
            if matches!(spec.action, PolicyAction::Ipsec(_)) {
                shunts.remove(&spec.id());
            } else {
                shunts.insert(spec.id());
            }
        }
        let reject = spec.action == PolicyAction::Reject && spec.dir == Dir::Out;
        self.set_reject_rule(&spec.id(), reject).await;
        tracing::debug!(selector = %spec.selector, dir = %spec.dir, priority = priority(&spec.selector, spec.priority), "installed policy");
    }

    /// Deletes a policy.
    pub async fn del_policy(&self, id: &PolicyId) -> Result<(), KernelError> {
        let deleted = self
            .inner
            .xfrm
            .request(Op::DeletePolicy, wire::policy_del_msg(id))
            .await
            .map(|_| ());
        self.policy_deleted(id, deleted).await
    }

    async fn policy_deleted(
        &self,
        id: &PolicyId,
        deleted: Result<(), KernelError>,
    ) -> Result<(), KernelError> {
        // Gone either way (an already missing one expired meanwhile): what the
        // handle keeps for it goes, its %reject rule included.
        if deleted.as_ref().map_or_else(|e| e.is_not_found(), |_| true) {
            self.policy_expired(id).await;
        }
        deleted
    }

    /// Makes several changes with one exchange with the kernel ([`Change`]): the
    /// requests go out together (a few datagrams at most) and the kernel answers
    /// each on its own, so a refused change does not stop the ones after it. The
    /// result has one entry per change, in order, each what the single call
    /// (`add_sa`, `replace_policy`, ...) would have returned, with the same
    /// bookkeeping after it; the caller undoes what it must. Installing a Child SA
    /// is then one send and one or two receives instead of a round trip per SA and
    /// per policy.
    pub async fn apply(&self, changes: &[Change<'_>]) -> Vec<Result<(), KernelError>> {
        let mut reqs = Vec::with_capacity(changes.len());
        let mut early: Vec<Option<KernelError>> = Vec::with_capacity(changes.len());
        for c in changes {
            let built = match c {
                Change::AddSa(s) => Self::sa_request(s, false),
                Change::UpdateSa(s) => Self::sa_request(s, true),
                Change::DelSa(id, mark) => Ok((
                    Op::DeleteSa,
                    wire::sa_id_msg(wire::XFRM_MSG_DELSA, id, *mark),
                )),
                Change::AddPolicy(p) => Self::policy_request(p, false),
                Change::ReplacePolicy(p) => Self::policy_request(p, true),
                Change::DelPolicy(id) => Ok((Op::DeletePolicy, wire::policy_del_msg(id))),
            };
            match built {
                Ok(r) => {
                    reqs.push(r);
                    early.push(None);
                }
                Err(e) => early.push(Some(e)),
            }
        }
        let mut answers = self.inner.xfrm.batch(reqs).await.into_iter();
        let mut out = Vec::with_capacity(changes.len());
        for (c, e) in changes.iter().zip(early) {
            if let Some(e) = e {
                out.push(Err(e));
                continue;
            }
            let res = match answers.next() {
                Some(r) => r.map(|_| ()),
                None => Err(KernelError::Malformed(
                    "a batch answered fewer requests than it sent",
                )),
            };
            out.push(match c {
                Change::AddSa(s) => self.sa_installed(s, false, res).await,
                Change::UpdateSa(s) => self.sa_installed(s, true, res).await,
                Change::DelSa(id, _) => {
                    if res.is_ok() {
                        tracing::debug!(sa = %id, "deleted SA");
                    }
                    res
                }
                Change::AddPolicy(p) | Change::ReplacePolicy(p) => match res {
                    Ok(()) => {
                        self.policy_installed(p).await;
                        Ok(())
                    }
                    Err(e) => Err(e),
                },
                Change::DelPolicy(id) => self.policy_deleted(id, res).await,
            });
        }
        out
    }

    /// The kernel removed policy `id` at its hard lifetime (POLEXPIRE; a bare
    /// shunt's end): what the handle keeps for it goes too, its `%reject` rule
    /// included.
    pub async fn policy_expired(&self, id: &PolicyId) {
        self.inner
            .shunts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
        self.set_reject_rule(id, false).await;
    }

    /// Gives the outbound policy `id` its `%reject` FIB rule, or takes it away,
    /// with the IKE exceptions of its family while any reject rule of that family
    /// exists. A rule that cannot be added leaves the block policy alone doing
    /// the work (silently): that is logged, not an error of the policy.
    async fn set_reject_rule(&self, id: &PolicyId, want: bool) {
        let ipv6 = id.selector.src.is_ipv6();
        // Whether this is the family's first reject rule (adding) or its last
        // (deleting): the IKE exceptions come and go with it.
        let family_edge = {
            let mut rejects = self.inner.rejects.lock().unwrap_or_else(|p| p.into_inner());
            let family = &mut rejects[usize::from(ipv6)];
            let changed = if want {
                family.insert(*id)
            } else {
                family.remove(id)
            };
            if !changed {
                return;
            }
            family.len() == usize::from(want)
        };
        let req = &self.inner.route;
        let r = Rule::reject(&id.selector, id.mark);
        if want {
            if family_edge {
                for x in Rule::ike_exceptions(ipv6) {
                    if let Err(e) = rule::add(req, &x).await {
                        tracing::warn!("%reject: cannot add the IKE exception rule: {e}");
                    }
                }
            }
            match rule::add(req, &r).await {
                Ok(()) => {
                    tracing::debug!(selector = %id.selector, "%reject: ICMP unreachable rule added")
                }
                Err(e) => {
                    tracing::warn!(selector = %id.selector, "%reject: cannot add the rule that answers with ICMP unreachable ({e}); the traffic is dropped silently")
                }
            }
        } else {
            if let Err(e) = rule::delete(req, &r).await {
                if !e.is_not_found() {
                    tracing::warn!(selector = %id.selector, "%reject: cannot delete its ICMP rule: {e}");
                }
            }
            if family_edge {
                for x in Rule::ike_exceptions(ipv6) {
                    if let Err(e) = rule::delete(req, &x).await {
                        if !e.is_not_found() {
                            tracing::warn!("%reject: cannot delete the IKE exception rule: {e}");
                        }
                    }
                }
            }
        }
    }

    /// Every policy in the namespace.
    pub async fn policies(&self) -> Result<Vec<PolicyInfo>, KernelError> {
        let replies = self
            .inner
            .xfrm
            .dump(Op::DumpPolicy, wire::dump_msg(wire::XFRM_MSG_GETPOLICY))
            .await?;
        replies
            .iter()
            .filter(|m| m.msg_type == wire::XFRM_MSG_NEWPOLICY)
            .map(|m| wire::parse_policy(&m.payload))
            .collect()
    }

    fn owns_policy(&self, p: &PolicyInfo) -> bool {
        let (Some(selector), Some(dir)) = (p.selector, p.dir) else {
            return false;
        };
        if !p.templates.is_empty() {
            return p
                .templates
                .iter()
                .any(|t| self.inner.owned.reqids.contains(&t.reqid));
        }
        let id = PolicyId {
            selector,
            dir,
            mark: p.mark,
            if_id: p.if_id,
        };
        self.inner
            .shunts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&id)
    }

    /// The policies this daemon owns.
    pub async fn owned_policies(&self) -> Result<Vec<PolicyInfo>, KernelError> {
        Ok(self
            .policies()
            .await?
            .into_iter()
            .filter(|p| self.owns_policy(p))
            .collect())
    }

    /// Deletes every SA and policy this daemon owns and nothing else (`whack
    /// --shutdown`; with `--leave-state` the daemon simply does not call this).
    /// Policies go first, so nothing new is steered into SAs being removed, then the
    /// SAs. Entries that vanish meanwhile (expiry) are not errors.
    pub async fn flush_owned(&self) -> Result<FlushReport, KernelError> {
        let mut report = FlushReport::default();
        // Deleted in batches ([`Kernel::apply`]): a gateway's shutdown with 100,000
        // tunnels is then a few thousand exchanges with the kernel, not 500,000. A
        // change that fails for another reason than "already gone" does not stop
        // the others; the first such error is returned once all were tried.
        let mut first_err = None;
        let mut tally = |results: Vec<Result<(), KernelError>>, n: &mut usize| {
            for r in results {
                match r {
                    Ok(()) => *n += 1,
                    Err(e) if e.is_not_found() => {}
                    Err(e) => {
                        first_err.get_or_insert(e);
                    }
                }
            }
        };
        let ids: Vec<PolicyId> = self
            .owned_policies()
            .await?
            .into_iter()
            .filter_map(|p| {
                Some(PolicyId {
                    selector: p.selector?,
                    dir: p.dir?,
                    mark: p.mark,
                    if_id: p.if_id,
                })
            })
            .collect();
        for chunk in ids.chunks(FLUSH_BATCH) {
            let changes: Vec<Change<'_>> = chunk.iter().map(Change::DelPolicy).collect();
            tally(self.apply(&changes).await, &mut report.policies);
        }
        let sas = self.owned_sas().await?;
        for chunk in sas.chunks(FLUSH_BATCH) {
            let changes: Vec<Change<'_>> =
                chunk.iter().map(|s| Change::DelSa(&s.id, s.mark)).collect();
            tally(self.apply(&changes).await, &mut report.sas);
        }
        if let Some(e) = first_err {
            return Err(e);
        }
        // The %reject rules went with their policies; this also takes what a
        // crashed daemon left in our priority band.
        match rule::flush(&self.inner.route).await {
            Ok(0) => {}
            Ok(n) => tracing::debug!("removed {n} leftover %reject routing rule(s)"),
            Err(e) => tracing::warn!("cannot list the %reject routing rules: {e}"),
        }
        for family in self
            .inner
            .rejects
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter_mut()
        {
            family.clear();
        }
        tracing::info!(
            sas = report.sas,
            policies = report.policies,
            "flushed this daemon's IPsec state"
        );
        Ok(report)
    }

    /// Network interfaces with their addresses (for `--listen` and `%defaultroute`).
    pub async fn interfaces(&self) -> Result<Vec<Interface>, KernelError> {
        route::interfaces(&self.inner.route).await
    }

    /// The route the kernel would use to reach `dst` (gateway, preferred source,
    /// interface).
    pub async fn route_to(&self, dst: IpAddr) -> Result<Route, KernelError> {
        route::route_to(&self.inner.route, dst).await
    }

    /// The default route of a family, if there is one (`%defaultroute`,
    /// `%defaultroute` nexthop).
    pub async fn default_route(&self, ipv6: bool) -> Result<Option<Route>, KernelError> {
        route::default_route(&self.inner.route, ipv6).await
    }
}
