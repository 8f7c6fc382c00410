//! Expensive crypto as self-contained values, so the daemon can run it on other
//! threads while the protocol core stays single-threaded and deterministic.
//!
//! Where an exchange needs a key exchange and the key schedule, the core does not
//! compute them in line: it queues a [`ComputeJob`] (taken with
//! [`Endpoint::poll_compute`](super::Endpoint::poll_compute)) holding copies of
//! everything the work needs and no reference into the endpoint, and parks the SA
//! (`IkeSa::computing`). Whoever runs [`ComputeJob::run`] (a worker thread, a test,
//! or the endpoint itself with [`EndpointConfig::inline_compute`]) hands the
//! [`ComputeResult`] back with [`Endpoint::computed`](super::Endpoint::computed),
//! and the exchange carries on from there. A result whose SA is gone, or that is not
//! the one the SA waits for, is dropped: the id names both the SA and the job.
//!
//! [`EndpointConfig::inline_compute`]: super::EndpointConfig::inline_compute

use core::fmt;
use std::collections::VecDeque;
use std::sync::Arc;

use crate::crypto::ikev2::skeyseed;
use crate::crypto::{CryptoError, IkeSaKeys, IkeSuite, KeAlg, KeyExchange, RandomSource};

use super::output::SaSerial;

/// Names one compute job: the SA it belongs to and a sequence number unique within
/// the endpoint, so a result for an SA that was replaced, or for an earlier job of
/// the same SA, cannot be mistaken for the awaited one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ComputeId {
    sa: SaSerial,
    seq: u64,
}

impl ComputeId {
    /// The IKE SA waiting for the job.
    pub fn sa(&self) -> SaSerial {
        self.sa
    }
}

impl fmt::Display for ComputeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "compute job {} of {}", self.seq, self.sa)
    }
}

/// What the IKE_SA_INIT key schedule needs besides the shared secret: copies of the
/// SA's suite, nonces and SPIs (a few dozen bytes), so the job owns its inputs.
pub(crate) struct InitKeying {
    pub suite: IkeSuite,
    pub ni: Vec<u8>,
    pub nr: Vec<u8>,
    pub spi_i: [u8; 8],
    pub spi_r: [u8; 8],
}

/// The work of a job.
pub(crate) enum Work {
    /// Responder's IKE_SA_INIT: our KE data, the agreement with the initiator's,
    /// SKEYSEED and prf+ for the seven SK_* keys. The random source is shared
    /// (MODP exponents and X448 scalars are drawn from it; the other groups use
    /// aws-lc's own generator).
    InitResponder {
        alg: &'static KeAlg,
        peer: Vec<u8>,
        rng: Arc<dyn RandomSource>,
        keying: InitKeying,
        /// The request asked for NAT detection, so the response answers it.
        natd: bool,
    },
    /// Initiator's IKE_SA_INIT response: the agreement with the responder's KE
    /// data (our half moves into the job), SKEYSEED and prf+.
    InitInitiator {
        ke: KeyExchange,
        peer: Vec<u8>,
        keying: InitKeying,
    },
}

/// A piece of expensive crypto for one SA, to run anywhere (it is `Send` and holds
/// no reference into the endpoint). Dropping it instead of running it only leaves
/// its SA waiting until its timers end it.
pub struct ComputeJob {
    id: ComputeId,
    work: Work,
}

impl fmt::Debug for ComputeJob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &self.work {
            Work::InitResponder { .. } => "IKE_SA_INIT responder",
            Work::InitInitiator { .. } => "IKE_SA_INIT initiator",
        };
        f.debug_struct("ComputeJob")
            .field("id", &self.id)
            .field("kind", &kind)
            .finish_non_exhaustive()
    }
}

/// Why a job's work failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum JobError {
    /// The peer's KE data was refused (wrong length, not on the curve, low order):
    /// the peer's fault, answered as the exchange prescribes.
    #[error("invalid KE payload: {0}")]
    PeerKe(CryptoError),
    /// Our own crypto failed (key derivation, random source).
    #[error("{0}")]
    Local(CryptoError),
}

/// The keys an IKE_SA_INIT job derived.
pub(crate) struct InitDone {
    /// Our KE data for the response (responder only).
    pub our_ke: Option<Vec<u8>>,
    pub keys: IkeSaKeys,
    pub natd: bool,
}

/// What a job produced.
pub(crate) enum Outcome {
    Init(Result<InitDone, JobError>),
}

/// The result of [`ComputeJob::run`], for
/// [`Endpoint::computed`](super::Endpoint::computed). Holds key material (zeroized
/// on drop), so it should go back to the endpoint rather than be kept.
pub struct ComputeResult {
    id: ComputeId,
    pub(crate) outcome: Outcome,
}

impl fmt::Debug for ComputeResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ok = match &self.outcome {
            Outcome::Init(r) => r.is_ok(),
        };
        f.debug_struct("ComputeResult")
            .field("id", &self.id)
            .field("ok", &ok)
            .finish()
    }
}

impl ComputeResult {
    /// The job this is the result of.
    pub fn id(&self) -> ComputeId {
        self.id
    }
}

impl ComputeJob {
    /// The job's id (its result carries the same).
    pub fn id(&self) -> ComputeId {
        self.id
    }

    /// Does the work: tens of microseconds for the ECDH groups, milliseconds for
    /// MODP. Touches nothing but the job's own inputs.
    pub fn run(self) -> ComputeResult {
        let outcome = match self.work {
            Work::InitResponder {
                alg,
                peer,
                rng,
                keying,
                natd,
            } => Outcome::Init(
                alg.respond(&*rng, &peer)
                    .map_err(JobError::PeerKe)
                    .and_then(|(ours, shared)| {
                        Ok(InitDone {
                            our_ke: Some(ours),
                            keys: init_keys(&keying, &shared).map_err(JobError::Local)?,
                            natd,
                        })
                    }),
            ),
            Work::InitInitiator { ke, peer, keying } => Outcome::Init(
                ke.complete(&peer)
                    .map_err(JobError::PeerKe)
                    .and_then(|shared| {
                        Ok(InitDone {
                            our_ke: None,
                            keys: init_keys(&keying, &shared).map_err(JobError::Local)?,
                            natd: false,
                        })
                    }),
            ),
        };
        ComputeResult {
            id: self.id,
            outcome,
        }
    }
}

/// `SKEYSEED = prf(Ni | Nr, g^ir)` and the SK_* keys (RFC 7296 2.14).
fn init_keys(k: &InitKeying, shared: &[u8]) -> Result<IkeSaKeys, CryptoError> {
    let seed = skeyseed(k.suite.prf, &k.ni, &k.nr, shared)?;
    IkeSaKeys::derive(&k.suite, &seed, &k.ni, &k.nr, &k.spi_i, &k.spi_r)
}

/// Jobs queued for the daemon, and the numbering of new ones. Part of the core's
/// output queues (`Out`), so exchange handlers can submit with the context they have.
#[derive(Default)]
pub(crate) struct ComputeQueue {
    jobs: VecDeque<ComputeJob>,
    next: u64,
    /// The endpoint's random source, shared with responder jobs.
    rng: Option<Arc<dyn RandomSource>>,
}

impl fmt::Debug for ComputeQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ComputeQueue")
            .field("queued", &self.jobs.len())
            .field("next", &self.next)
            .finish()
    }
}

impl ComputeQueue {
    /// A queue whose responder jobs draw from `rng`.
    pub fn new(rng: Arc<dyn RandomSource>) -> Self {
        ComputeQueue {
            jobs: VecDeque::new(),
            next: 0,
            rng: Some(rng),
        }
    }

    /// The random source for a job.
    pub fn rng(&self) -> Arc<dyn RandomSource> {
        self.rng
            .clone()
            .unwrap_or_else(|| Arc::new(crate::crypto::SystemRandomSource::new()))
    }

    /// Queues `work` for SA `sa`; the SA must record the returned id and wait.
    pub fn submit(&mut self, sa: SaSerial, work: Work) -> ComputeId {
        self.next += 1;
        let id = ComputeId { sa, seq: self.next };
        self.jobs.push_back(ComputeJob { id, work });
        id
    }

    /// The oldest queued job.
    pub fn pop(&mut self) -> Option<ComputeJob> {
        self.jobs.pop_front()
    }
}

// Jobs and results cross threads in the daemon.
const _: () = {
    const fn send<T: Send>() {}
    send::<ComputeJob>();
    send::<ComputeResult>();
};

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::testutil::{OneConn, Pair};
    use super::super::{Endpoint, EndpointConfig, Event, IkeState, Transmit};
    use super::*;
    use crate::codec::v2::{Message, Payload};
    use crate::crypto::rng::TestRandom;
    use crate::registry::NotifyType;

    const ESP: &str = "aes_gcm256-null";

    fn deferred() -> EndpointConfig {
        EndpointConfig {
            inline_compute: false,
            ..EndpointConfig::default()
        }
    }

    fn established(events: &[Event]) -> usize {
        events
            .iter()
            .filter(|e| matches!(e, Event::IkeSaEstablished { .. }))
            .count()
    }

    fn transmits(ep: &mut Endpoint) -> Vec<Transmit> {
        std::iter::from_fn(|| ep.poll_transmit()).collect()
    }

    fn jobs(ep: &mut Endpoint) -> Vec<ComputeJob> {
        std::iter::from_fn(|| ep.poll_compute()).collect()
    }

    /// Delivers datagrams both ways and runs every queued job (in the order
    /// queued) until nothing moves.
    fn pump_with_jobs(p: &mut Pair) {
        loop {
            p.pump();
            let mut ran = false;
            for job in jobs(&mut p.west) {
                ran = true;
                p.west.computed(job.run(), p.now, &p.wcfg);
            }
            for job in jobs(&mut p.east) {
                ran = true;
                p.east.computed(job.run(), p.now, &p.ecfg);
            }
            if !ran {
                return;
            }
        }
    }

    #[test]
    fn handshake_with_jobs_run_by_the_test() {
        let mut p = Pair::with_configs(ESP, deferred(), deferred());
        let w = p.wcfg.0.clone();
        p.west.initiate(w, p.now).unwrap();
        p.pump();
        // East parks the SA and answers nothing until its job is back.
        assert!(p
            .west_events
            .iter()
            .all(|e| !matches!(e, Event::IkeSaEstablished { .. })));
        assert_eq!(p.east.sas.len(), 1);
        assert!(p.east.sas.values().all(|sa| sa.hs().computing.is_some()));
        pump_with_jobs(&mut p);
        assert_eq!(established(&p.west_events), 1);
        assert_eq!(established(&p.east_events), 1);
        for ep in [&p.west, &p.east] {
            assert!(ep.sas.values().all(|sa| sa.state == IkeState::Established
                && sa.hs().computing.is_none()
                && sa.children.len() == 1));
        }
    }

    /// West's IKE_SA_INIT request, as east would receive it.
    fn init_request(p: &mut Pair) -> Transmit {
        let w = p.wcfg.0.clone();
        p.west.initiate(w, p.now).unwrap();
        let mut t = transmits(&mut p.west);
        assert_eq!(t.len(), 1);
        t.remove(0)
    }

    #[test]
    fn a_retransmitted_request_starts_no_second_job_and_gets_the_response_later() {
        let mut p = Pair::with_configs(ESP, EndpointConfig::default(), deferred());
        let req = init_request(&mut p);
        let deliver = |p: &mut Pair| {
            p.east
                .handle(p.now, req.remote, req.local, &req.contents, &p.ecfg)
        };
        deliver(&mut p);
        deliver(&mut p);
        assert!(
            transmits(&mut p.east).is_empty(),
            "answered before its job ran"
        );
        let mut js = jobs(&mut p.east);
        assert_eq!(js.len(), 1, "a retransmit started a second job");
        p.east.computed(js.remove(0).run(), p.now, &p.ecfg);
        assert_eq!(transmits(&mut p.east).len(), 1);
        // Now a retransmit is answered from the cache, still without a job.
        deliver(&mut p);
        assert_eq!(transmits(&mut p.east).len(), 1);
        assert!(jobs(&mut p.east).is_empty());
    }

    #[test]
    fn results_out_of_order_each_reach_their_sa() {
        let mut east = Endpoint::new(deferred(), Box::new(TestRandom::new(2))).unwrap();
        let mut p = Pair::new(ESP);
        let ecfg = OneConn(p.ecfg.0.clone());
        // Two initiators with the same addresses but different SPIs.
        let mut west2 =
            Endpoint::new(EndpointConfig::default(), Box::new(TestRandom::new(7))).unwrap();
        let r1 = init_request(&mut p);
        west2.initiate(p.wcfg.0.clone(), p.now).unwrap();
        let r2 = west2.poll_transmit().unwrap();
        east.handle(p.now, r1.remote, r1.local, &r1.contents, &ecfg);
        east.handle(p.now, r2.remote, r2.local, &r2.contents, &ecfg);
        let js = jobs(&mut east);
        assert_eq!(js.len(), 2);
        assert_ne!(js[0].id().sa(), js[1].id().sa());
        // Run on other threads, come back in the other order.
        let results: Vec<ComputeResult> = js
            .into_iter()
            .map(|j| std::thread::spawn(move || j.run()))
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .map(|h| h.join().unwrap())
            .collect();
        for r in results {
            east.computed(r, p.now, &ecfg);
        }
        let answers = transmits(&mut east);
        assert_eq!(answers.len(), 2);
        // Each initiator takes the answer to its own request (the other one's
        // SPIs do not match) and moves on to IKE_AUTH, which east can open: the
        // keys of each SA are its own.
        let mut auths = Vec::new();
        for west in [&mut p.west, &mut west2] {
            for a in &answers {
                west.handle(p.now, a.remote, a.local, &a.contents, &p.wcfg);
            }
            let mut t = transmits(west);
            assert_eq!(t.len(), 1, "exactly one IKE_AUTH request");
            auths.append(&mut t);
        }
        for a in &auths {
            east.handle(p.now, a.remote, a.local, &a.contents, &ecfg);
        }
        let events: Vec<Event> = std::iter::from_fn(|| east.poll_event()).collect();
        assert_eq!(established(&events), 2);
    }

    #[test]
    fn a_result_after_half_open_expiry_is_ignored() {
        let mut p = Pair::with_configs(ESP, EndpointConfig::default(), deferred());
        let req = init_request(&mut p);
        p.east
            .handle(p.now, req.remote, req.local, &req.contents, &p.ecfg);
        let job = p.east.poll_compute().unwrap();
        // Timers keep running while the job is out: the half-open SA expires.
        let later = p.now + p.east.config.half_open_timeout + Duration::from_secs(1);
        assert!(p.east.poll_timeout().is_some_and(|t| t <= later));
        p.east.handle_timeout(later);
        assert!(p.east.sas.is_empty());
        p.east.computed(job.run(), later, &p.ecfg);
        assert!(p.east.sas.is_empty());
        assert!(transmits(&mut p.east).is_empty());
    }

    #[test]
    fn initiator_drops_duplicate_responses_and_ignores_a_result_after_delete() {
        let mut p = Pair::with_configs(ESP, deferred(), EndpointConfig::default());
        let req = init_request(&mut p);
        p.east
            .handle(p.now, req.remote, req.local, &req.contents, &p.ecfg);
        let resp = transmits(&mut p.east).remove(0);
        for _ in 0..2 {
            p.west
                .handle(p.now, resp.remote, resp.local, &resp.contents, &p.wcfg);
        }
        let js = jobs(&mut p.west);
        assert_eq!(js.len(), 1, "a duplicate response started a second job");
        // The retransmission timer still runs: the request goes out again.
        let t = p.west.poll_timeout().unwrap();
        p.west.handle_timeout(t);
        assert_eq!(transmits(&mut p.west).len(), 1);
        let serial = js[0].id().sa();
        p.west.delete_ike_sa(serial, t).unwrap();
        assert!(p.west.sas.is_empty());
        let r = js.into_iter().next().unwrap().run();
        p.west.computed(r, t, &p.wcfg);
        assert!(p.west.sas.is_empty());
        assert!(transmits(&mut p.west).is_empty());
    }

    /// The KE payload of an IKE_SA_INIT request.
    fn ke_data(req: &Transmit) -> Vec<u8> {
        Message::decode(&req.contents)
            .unwrap()
            .payloads
            .into_iter()
            .find_map(|pl| match pl {
                Payload::Ke(k) => Some(k.data),
                _ => None,
            })
            .unwrap()
    }

    #[test]
    fn an_initiator_reusing_its_ke_value_sends_it_to_every_sa_and_each_establishes() {
        let reuse = EndpointConfig {
            reuse_ke: Some(Arc::new(crate::crypto::KeReuse::new())),
            ..deferred()
        };
        let mut p = Pair::with_configs(ESP, reuse, EndpointConfig::default());
        let reqs: Vec<Transmit> = (0..3).map(|_| init_request(&mut p)).collect();
        let kes: Vec<Vec<u8>> = reqs.iter().map(ke_data).collect();
        assert!(kes.iter().all(|k| *k == kes[0]), "one value for all SAs");
        for r in &reqs {
            p.east
                .handle(p.now, r.remote, r.local, &r.contents, &p.ecfg);
        }
        for a in transmits(&mut p.east) {
            p.west
                .handle(p.now, a.remote, a.local, &a.contents, &p.wcfg);
        }
        // The agreement with each responder's own value is still done, in the
        // initiator's jobs, and gives each SA keys the responder shares.
        pump_with_jobs(&mut p);
        assert_eq!(established(&p.west_events), 3);
        assert_eq!(established(&p.east_events), 3);
        // Without the setting every request carries its own value.
        let mut q = Pair::new(ESP);
        let a = ke_data(&init_request(&mut q));
        let b = ke_data(&init_request(&mut q));
        assert_ne!(a, b);
    }

    #[test]
    fn a_result_given_twice_counts_once() {
        let mut p = Pair::with_configs(ESP, deferred(), EndpointConfig::default());
        let req = init_request(&mut p);
        p.east
            .handle(p.now, req.remote, req.local, &req.contents, &p.ecfg);
        let resp = transmits(&mut p.east).remove(0);
        p.west
            .handle(p.now, resp.remote, resp.local, &resp.contents, &p.wcfg);
        let job = p.west.poll_compute().unwrap();
        // The same job run twice (a confused runner): the second result is
        // stale, whatever it holds.
        let again = ComputeJob {
            id: job.id(),
            work: match &job.work {
                Work::InitInitiator { keying, peer, .. } => Work::InitInitiator {
                    ke: KeAlg::lookup(p.wcfg.0.ike_proposals.initial_ke().unwrap())
                        .unwrap()
                        .initiate(&TestRandom::new(9))
                        .unwrap(),
                    peer: peer.clone(),
                    keying: InitKeying {
                        suite: keying.suite,
                        ni: keying.ni.clone(),
                        nr: keying.nr.clone(),
                        spi_i: keying.spi_i,
                        spi_r: keying.spi_r,
                    },
                },
                Work::InitResponder { .. } => unreachable!(),
            },
        };
        p.west.computed(job.run(), p.now, &p.wcfg);
        assert_eq!(transmits(&mut p.west).len(), 1, "IKE_AUTH request");
        p.west.computed(again.run(), p.now, &p.wcfg);
        assert!(transmits(&mut p.west).is_empty());
        assert!(p.west.sas.values().all(|sa| sa.state == IkeState::AuthSent));
    }

    #[test]
    fn an_invalid_ke_found_by_the_job_is_refused_without_state() {
        let mut p = Pair::with_configs(ESP, EndpointConfig::default(), deferred());
        let req = init_request(&mut p);
        // Replace the KE data by zeros of the same length: no valid point or
        // public value of any group.
        let mut msg = Message::decode(&req.contents).unwrap();
        for pl in &mut msg.payloads {
            if let Payload::Ke(k) = pl {
                k.data.iter_mut().for_each(|b| *b = 0);
            }
        }
        let bad = msg.to_bytes().unwrap();
        p.east.handle(p.now, req.remote, req.local, &bad, &p.ecfg);
        let job = p.east.poll_compute().unwrap();
        p.east.computed(job.run(), p.now, &p.ecfg);
        assert!(p.east.sas.is_empty());
        assert!(p.east.by_init.is_empty() && p.east.by_spi.is_empty());
        let answer = transmits(&mut p.east);
        assert_eq!(answer.len(), 1);
        let m = Message::decode(&answer[0].contents).unwrap();
        assert!(
            matches!(&m.payloads[..], [Payload::Notify(n)] if n.ty == NotifyType::INVALID_SYNTAX)
        );
        let events: Vec<Event> = std::iter::from_fn(|| p.east.poll_event()).collect();
        assert!(!events
            .iter()
            .any(|e| matches!(e, Event::IkeSaDeleted { .. })));
    }
}
