//! The whack forms through `Pluto::handle`, as whack sends them.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use conn::connection::HostAddrs;
use ike::ikev2::{Endpoint, EndpointConfig};

use control::request::{DdosMode, DebugChange, ImpairChange, RedirectMode, RereadKind, StatusKind};
use control::server::Responder;
use control::{rc, Envelope, Request};

use crate::args::Options;
use crate::engine::Route;
use crate::pluto::{pace_auto_start, Flow, Pluto, AUTO_START_WINDOW};
use control::{ConnSpec, Reply};

fn pluto() -> Pluto {
    Pluto::new(Options {
        secretsfile: "/nonexistent/ipsec.secrets".into(),
        ..Options::default()
    })
}

/// Runs one envelope; returns (status, lines).
fn run(p: &mut Pluto, reqs: Vec<Request>, json: bool) -> (u32, Vec<String>, Flow) {
    let (r, mut rx, _answers) = Responder::detached();
    let mut env = Envelope::new(reqs);
    env.output.json = json;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (flow, r) = rt.block_on(async {
        let mut out = p.handle(&env, r).await;
        // As the main loop does: parked requests go on once their read is in.
        while p.loads.parked() > 0 {
            let l = p.loads.next().await.expect("a read reports");
            out = p.secrets_loaded(l).await;
        }
        out
    });
    drop(r);
    let mut lines = Vec::new();
    let mut status = 0;
    while let Ok(m) = rx.try_recv() {
        match m {
            Reply::Line { text, .. } => lines.push(text),
            Reply::Done { status: s } => status = s,
            _ => {}
        }
    }
    (status, lines, flow)
}

fn spec(name: &str) -> Box<ConnSpec> {
    let mut s = ConnSpec::named(name);
    s.left.host = Some("127.0.0.1".into());
    s.right.host = Some("203.0.113.2".into());
    s.psk = true;
    Box::new(s)
}

#[test]
fn listevents_shows_the_cores_timers_and_crash_removes_the_peers_sas() {
    let mut p = pluto();
    let mut s = spec("a");
    s.encrypt = true;
    let (st, _, _) = run(&mut p, vec![Request::AddConnection { spec: s }], false);
    assert_eq!(st, 0);
    let c = p.ike_conn("a", None).unwrap();
    let serial = p.ike.initiate(c, std::time::Instant::now()).unwrap();
    // --showstates: the state lines of --status, alone.
    let status = |what| Request::Status { what };
    let (st, states, _) = run(&mut p, vec![status(StatusKind::States)], false);
    assert_eq!(st, 0);
    assert_eq!(states.len(), 1, "{states:?}");
    assert!(
        states[0].starts_with(&format!("{serial}: \"a\":")),
        "{states:?}"
    );
    let (_, all, _) = run(&mut p, vec![status(StatusKind::Status)], false);
    assert!(all.contains(&states[0]), "{all:?}");
    let (st, lines, _) = run(&mut p, vec![Request::ListEvents], false);
    assert_eq!(st, 0);
    // The IKE_SA_INIT request waits for its first retransmission (0.5 s).
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].starts_with("event EVENT_v2_RETRANSMIT schd: ")
            && lines[0].ends_with(&format!("s (in 1s) \"a\" {serial}")),
        "{lines:?}"
    );
    let (_, lines, _) = run(&mut p, vec![Request::ListEvents], true);
    assert!(
        lines.iter().any(|l| l.contains("EVENT_v2_RETRANSMIT")),
        "{lines:?}"
    );
    let crash = |a: &str| Request::Crash {
        address: a.parse().unwrap(),
    };
    let (_, lines, _) = run(&mut p, vec![crash("198.51.100.7")], false);
    assert_eq!(
        lines,
        ["no IKE SAs with peer 198.51.100.7; nothing to restart"]
    );
    assert_eq!(p.ike.status().len(), 1);
    let (st, lines, _) = run(&mut p, vec![crash("203.0.113.2")], false);
    assert_eq!(st, 0);
    assert_eq!(
        lines,
        [format!("peer 203.0.113.2 crashed: deleted IKE SA {serial}")]
    );
    assert!(p.ike.status().is_empty());
    let (_, lines, _) = run(&mut p, vec![Request::ListEvents], false);
    assert!(lines.is_empty(), "{lines:?}");
}

#[test]
fn add_duplicate_delete() {
    let mut p = pluto();
    let (st, lines, _) = run(
        &mut p,
        vec![Request::AddConnection { spec: spec("a") }],
        false,
    );
    assert_eq!(st, 0);
    assert_eq!(lines, vec!["added IKEv2 connection \"a\""]);
    let (st, _, _) = run(
        &mut p,
        vec![Request::AddConnection { spec: spec("a") }],
        false,
    );
    assert_eq!(st, rc::DUPNAME);
    let (st, lines, _) = run(&mut p, vec![Request::Delete { name: "a".into() }], false);
    assert_eq!(
        (st, lines),
        (0, vec!["\"a\": deleting connection".to_string()])
    );
    let (st, _, _) = run(&mut p, vec![Request::Delete { name: "a".into() }], false);
    assert_eq!(st, rc::UNKNOWN_NAME);
}

#[test]
fn invalid_description_is_whack_problem() {
    let mut p = pluto();
    let mut s = spec("bad");
    s.left.subnets = vec!["198.51.100.1/24".into()];
    s.encrypt = true;
    let (st, lines, _) = run(&mut p, vec![Request::AddConnection { spec: s }], false);
    assert_eq!(st, rc::WHACK_PROBLEM);
    assert!(
        lines[0].starts_with("\"bad\": failed to add connection: "),
        "{lines:?}"
    );
}

#[test]
fn json_status_is_one_document_and_shutdown_flows() {
    let mut p = pluto();
    run(
        &mut p,
        vec![Request::AddConnection { spec: spec("a") }],
        false,
    );
    let (st, lines, flow) = run(
        &mut p,
        vec![
            Request::Status {
                what: StatusKind::Connection,
            },
            Request::Status {
                what: StatusKind::Brief,
            },
            Request::Shutdown { leave_state: true },
        ],
        true,
    );
    assert_eq!(st, 0);
    assert_eq!(flow, Flow::Shutdown { leave_state: true });
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0], "shutting down");
    let doc: serde_json::Value = serde_json::from_str(&lines[1]).unwrap();
    assert_eq!(doc["connectionstatus"]["connections"][0]["name"], "a");
    assert_eq!(doc["briefstatus"]["ike_sas"]["total"], 0);
}

#[test]
fn debug_changes_reach_the_log_hook() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let mut p = pluto();
    let on = Arc::new(AtomicBool::new(false));
    let on2 = on.clone();
    p.set_debug_hook(Box::new(move |b| on2.store(b, Ordering::SeqCst)));
    run(
        &mut p,
        vec![Request::Debug {
            name: None,
            changes: vec![DebugChange::Enable("base".into())],
        }],
        false,
    );
    assert!(on.load(Ordering::SeqCst));
    run(
        &mut p,
        vec![Request::Debug {
            name: None,
            changes: vec![DebugChange::None],
        }],
        false,
    );
    assert!(!on.load(Ordering::SeqCst));
    assert_eq!(p.debug_names(), "none");
}

/// Sends a fresh IKE_SA_INIT request from a west endpoint to `p` and returns
/// whether `p` answered it with a COOKIE notify.
fn answers_with_cookie(p: &mut Pluto) -> bool {
    use ike::codec::v2::{Message, Payload};
    use ike::registry::NotifyType;
    let mut s = ConnSpec::named("cookie");
    s.left.host = Some("192.0.2.1".into());
    s.right.host = Some("192.0.2.2".into());
    s.psk = true;
    s.encrypt = true;
    let c = conn::connection::Connection::from_spec(
        s,
        &HostAddrs::new(["192.0.2.1".parse::<IpAddr>().unwrap()]),
    )
    .unwrap();
    let k = crate::convert::connection(&c, None).unwrap();
    let mut west = Endpoint::new(
        EndpointConfig::default(),
        Box::new(ike::crypto::SystemRandomSource::new()),
    )
    .unwrap();
    let now = Instant::now();
    west.initiate(std::sync::Arc::new(k), now).unwrap();
    let t = west.poll_transmit().unwrap();
    let lookup = crate::convert::Lookup {
        conns: &p.conns,
        secrets: &p.secrets,
    };
    p.ike.handle(now, t.remote, t.local, &t.contents, &lookup);
    let Some(answer) = p.ike.poll_transmit() else {
        return false;
    };
    let msg = Message::decode(&answer.contents).unwrap();
    msg.payloads
        .iter()
        .any(|pl| matches!(pl, Payload::Notify(n) if n.ty == NotifyType::COOKIE))
}

#[test]
fn ddos_busy_makes_the_engine_demand_cookies() {
    let mut p = pluto();
    assert!(!answers_with_cookie(&mut p));
    let (st, lines, _) = run(
        &mut p,
        vec![Request::Ddos {
            mode: DdosMode::Busy,
        }],
        false,
    );
    assert_eq!(
        (st, lines[0].as_str()),
        (0, "pluto DDoS protection mode set to busy")
    );
    assert!(answers_with_cookie(&mut p));
    let (st, _, _) = run(
        &mut p,
        vec![Request::Ddos {
            mode: DdosMode::Unlimited,
        }],
        false,
    );
    assert_eq!(st, 0);
    assert!(!answers_with_cookie(&mut p));
}

/// `--ddos-auto` hands pluto's thresholds to the core, which enforces them
/// (crates/ike `ddos_auto_demands_cookies_then_refuses_by_half_open_count`),
/// and `--globalstatus` shows the thresholds in force.
#[test]
fn ddos_auto_enforces_the_configured_thresholds() {
    let mut p = Pluto::new(Options {
        secretsfile: "/nonexistent/ipsec.secrets".into(),
        ddos_ike_threshold: 7,
        max_halfopen_ike: 9,
        ..Options::default()
    });
    let auto = ike::ikev2::Ddos::Auto {
        cookies_from: 7,
        refuse_from: 9,
    };
    assert_eq!(p.ike.ddos(), auto);
    for (mode, want) in [
        (DdosMode::Unlimited, ike::ikev2::Ddos::Unlimited),
        (DdosMode::Auto, auto),
    ] {
        let (st, lines, _) = run(&mut p, vec![Request::Ddos { mode }], false);
        assert_eq!(st, 0);
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert_eq!(p.ike.ddos(), want);
    }
    assert!(!answers_with_cookie(&mut p));
    let g = p.global_counters();
    assert!(g.contains(&("config.setup.ike.ddos_threshold".into(), 7)));
    assert!(g.contains(&("config.setup.ike.max_halfopen".into(), 9)));
    assert!(g.contains(&("total.ike.halfopen.refused".into(), 0)));
}

#[test]
fn force_busy_starts_the_engine_demanding_cookies() {
    let mut p = Pluto::new(Options {
        secretsfile: "/nonexistent/ipsec.secrets".into(),
        ddos_mode: control::request::DdosMode::Busy,
        ..Options::default()
    });
    assert!(answers_with_cookie(&mut p));
}

#[test]
fn impair_is_refused_except_help_list_none() {
    let mut p = pluto();
    for change in [ImpairChange::Help, ImpairChange::List, ImpairChange::None] {
        let (st, lines, _) = run(
            &mut p,
            vec![Request::Impair {
                name: None,
                changes: vec![change],
            }],
            false,
        );
        assert_eq!(st, 0, "{lines:?}");
    }
    let (st, lines, _) = run(
        &mut p,
        vec![Request::Impair {
            name: None,
            changes: vec![ImpairChange::Set {
                behaviour: "revival".into(),
                how: None,
            }],
        }],
        false,
    );
    assert_eq!(st, rc::WHACK_PROBLEM);
    assert_eq!(
        lines,
        ["--impair revival: impairments are not implemented by pluto-rs; nothing was changed"]
    );
    let (st, lines, _) = run(
        &mut p,
        vec![Request::Impair {
            name: None,
            changes: vec![ImpairChange::Clear("revival".into()), ImpairChange::List],
        }],
        false,
    );
    assert_eq!(st, rc::WHACK_PROBLEM);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].starts_with("--no-impair revival: "), "{lines:?}");
    let (_, lines, _) = run(
        &mut p,
        vec![Request::Impair {
            name: None,
            changes: vec![ImpairChange::List],
        }],
        false,
    );
    assert_eq!(lines, ["no impairments"]);
}

#[test]
fn redirect_forms_are_refused() {
    let mut p = pluto();
    let one = |p: &mut Pluto, r: Request| {
        let (st, lines, _) = run(p, vec![r], false);
        assert_eq!(lines.len(), 1, "{lines:?}");
        (st, lines[0].clone())
    };
    let (st, l) = one(
        &mut p,
        Request::GlobalRedirect {
            mode: RedirectMode::Yes,
        },
    );
    assert_eq!(st, rc::WHACK_PROBLEM);
    assert_eq!(
        l,
        "--global-redirect yes: IKEv2 redirect (RFC 5685) is not supported by pluto-rs yet"
    );
    let (st, _) = one(
        &mut p,
        Request::GlobalRedirect {
            mode: RedirectMode::Auto,
        },
    );
    assert_eq!(st, rc::WHACK_PROBLEM);
    assert_eq!(
        one(
            &mut p,
            Request::GlobalRedirect {
                mode: RedirectMode::No
            }
        ),
        (0, "set global-redirect=no".to_string())
    );
    let (st, l) = one(
        &mut p,
        Request::GlobalRedirectTo {
            to: "192.0.2.9".into(),
        },
    );
    assert_eq!(st, rc::WHACK_PROBLEM);
    assert!(
        l.starts_with("--global-redirect-to 192.0.2.9: IKEv2 redirect"),
        "{l}"
    );
    let (st, l) = one(
        &mut p,
        Request::RedirectTo {
            name: None,
            to: "192.0.2.9".into(),
        },
    );
    assert_eq!(st, rc::WHACK_PROBLEM);
    assert!(
        l.starts_with("--redirect-to 192.0.2.9: IKEv2 redirect"),
        "{l}"
    );
    assert_eq!(p.global_redirect, RedirectMode::No);
    assert_eq!(p.global_redirect_to, None);
}

#[test]
fn oppo_is_refused_with_oppofailure() {
    let mut p = pluto();
    let (st, lines, _) = run(
        &mut p,
        vec![Request::Oppo(control::request::OppoTrigger {
            ip_version: None,
            here: "192.0.2.1".parse().unwrap(),
            there: "203.0.113.5".parse().unwrap(),
            sport: 0,
            dport: 80,
            proto: 6,
        })],
        false,
    );
    assert_eq!(st, rc::OPPOFAILURE);
    assert_eq!(lines.len(), 1);
    assert!(
        lines[0].starts_with("--oppohere 192.0.2.1 --oppothere 203.0.113.5: opportunistic encryption is not supported"),
        "{lines:?}"
    );
}

#[test]
fn globalstatus_counts_ike_traffic_and_notifies_and_clearstats_clears_them() {
    let mut p = pluto();
    let get = |p: &mut Pluto, k: &str| -> u64 {
        let (_, lines, _) = run(
            p,
            vec![Request::Status {
                what: StatusKind::Global,
            }],
            false,
        );
        lines
            .iter()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .unwrap_or_else(|| panic!("no {k} in {lines:?}"))
            .parse()
            .unwrap()
    };
    // Not an IKE message: counted as IKE traffic in, then dropped by the core.
    p.datagram(crate::sockets::Datagram {
        local: "192.0.2.1:500".parse().unwrap(),
        remote: "192.0.2.2:500".parse().unwrap(),
        data: vec![0; 40],
    });
    assert_eq!(get(&mut p, "total.ike.traffic.in"), 40);
    assert_eq!(get(&mut p, "total.ike.dpd.sent"), 0);
    assert_eq!(
        get(&mut p, "total.ikev2.recv.notifies.error.NO_PROPOSAL_CHOSEN"),
        0
    );
    let (st, lines, _) = run(&mut p, vec![Request::ClearStats], false);
    assert_eq!((st, lines.len()), (0, 1));
    assert_eq!(get(&mut p, "total.ike.traffic.in"), 0);
    // Names libreswan never prints for pluto-rs' features are gone.
    let (_, lines, _) = run(
        &mut p,
        vec![Request::Status {
            what: StatusKind::Global,
        }],
        false,
    );
    assert!(
        lines
            .iter()
            .all(|l| !l.contains("ikev1") && !l.contains("xauth") && !l.contains("ipcomp")),
        "{lines:?}"
    );
}

/// The paced auto=start keeps at most AUTO_START_WINDOW initiations unanswered,
/// frees a place once an IKE_SA_INIT is answered (the second new-state line), and
/// initiates every connection once, in order.
#[tokio::test]
async fn auto_start_is_paced_by_answered_ike_sa_inits() {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let dir = std::env::temp_dir().join(format!("pluto-pace-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ctl = dir.join("pluto.ctl");
    let _ = std::fs::remove_file(&ctl);
    let listener = tokio::net::UnixListener::bind(&ctl).unwrap();
    let names: Vec<String> = (0..100).map(|i| format!("c{i}")).collect();
    let pacer = tokio::spawn(pace_auto_start(ctl.clone(), names.clone()));
    let unanswered = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut most = 0;
    let mut seen = Vec::new();
    let mut held = Vec::new();
    for _ in 0..100 {
        let (stream, _) = listener.accept().await.unwrap();
        let now = unanswered.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        most = most.max(now);
        let (rd, mut wr) = stream.into_split();
        let mut line = String::new();
        BufReader::new(rd).read_line(&mut line).await.unwrap();
        let env: Envelope = serde_json::from_str(&line).unwrap();
        match &env.requests[..] {
            [Request::Initiate {
                name,
                asynchronous: false,
                ..
            }] => seen.push(name.clone()),
            other => panic!("not an initiate: {other:?}"),
        }
        let unanswered = unanswered.clone();
        held.push(tokio::spawn(async move {
            let state = |text: &str| {
                let mut l = serde_json::to_vec(&control::Reply::Line {
                    code: ike::ikev2::Rc::NEW_V2_STATE.0,
                    text: text.into(),
                })
                .unwrap();
                l.push(b'\n');
                l
            };
            wr.write_all(&state("sent IKE_SA_INIT request"))
                .await
                .unwrap();
            tokio::time::sleep(Duration::from_millis(5)).await;
            unanswered.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
            // The pacer may have hung up already; that is fine.
            let _ = wr.write_all(&state("sent IKE_AUTH request")).await;
            wr
        }));
    }
    pacer.await.unwrap();
    assert_eq!(seen, names);
    assert!(most <= AUTO_START_WINDOW, "{most} unanswered at once");
    assert!(most > 1, "the window was used: {most}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn crl_and_ocsp_forms_are_refused() {
    let mut p = pluto();
    for (what, code, start) in [
        (RereadKind::Crls, rc::CRLERROR, "--rereadcrls: obsolete"),
        (
            RereadKind::FetchCrls,
            rc::CRLERROR,
            "--fetchcrls: X.509 CRLs are not supported",
        ),
    ] {
        let (st, lines, _) = run(&mut p, vec![Request::Reread { what }], false);
        assert_eq!(st, code);
        assert_eq!(lines.len(), 1);
        assert!(lines[0].starts_with(start), "{lines:?}");
    }
    let (st, lines, _) = run(&mut p, vec![Request::PurgeOcsp], false);
    assert_eq!(st, rc::WHACK_PROBLEM);
    assert_eq!(
        lines,
        ["--purgeocsp: OCSP is not supported by pluto-rs yet; there is no OCSP cache to purge"]
    );
}

#[test]
fn interface_limits_the_addresses_used() {
    let p = Pluto::new(Options {
        secretsfile: "/nonexistent/ipsec.secrets".into(),
        interfaces: vec!["lo".into()],
        ..Options::default()
    });
    let all = p.addrs_list();
    assert!(!all.is_empty());
    assert!(all.iter().all(|(i, _)| i == "lo"), "{all:?}");
    let p = Pluto::new(Options {
        secretsfile: "/nonexistent/ipsec.secrets".into(),
        interfaces: vec!["nosuch0".into()],
        ..Options::default()
    });
    assert!(p.addrs_list().is_empty());
}

#[test]
fn debug_option_enables_classes_from_the_start() {
    let p = Pluto::new(Options {
        secretsfile: "/nonexistent/ipsec.secrets".into(),
        debug: vec!["base".into(), "cpu-usage".into(), "no-base".into()],
        ..Options::default()
    });
    assert_eq!(p.debug_names(), "cpu-usage");
}

/// A pluto on `lo` whose IKE port (and NAT-T port, 4000 above) is free.
fn on_lo_at_a_free_port() -> (Pluto, u16) {
    let port = loop {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = s.local_addr().unwrap().port();
        if port < 60000 {
            break port;
        }
    };
    let p = Pluto::new(Options {
        secretsfile: "/nonexistent/ipsec.secrets".into(),
        interfaces: vec!["lo".into()],
        ikeport: port,
        ..Options::default()
    });
    (p, port)
}

#[test]
fn ikeport_moves_the_ike_sockets() {
    let (mut p, port) = on_lo_at_a_free_port();
    let (_, lines, _) = run(&mut p, vec![Request::Listen, Request::Unlisten], false);
    let want = format!("adding UDP interface lo 127.0.0.1:{port}");
    assert!(lines.contains(&want), "{lines:?}");
    let natt = format!("adding UDP interface lo 127.0.0.1:{}", port + 4000);
    assert!(lines.contains(&natt), "{lines:?}");
}

#[test]
fn initiate_while_the_ike_sa_is_being_negotiated_starts_no_second_one() {
    let (mut p, _) = on_lo_at_a_free_port();
    let mut s = spec("a");
    s.right.host = Some("127.0.0.2".into());
    s.encrypt = true;
    let initiate = || Request::Initiate {
        name: "a".into(),
        remote_host: None,
        xauth_user: None,
        xauth_pass: None,
        asynchronous: true,
    };
    let reqs = vec![
        Request::Listen,
        Request::AddConnection { spec: s },
        initiate(),
    ];
    let (st, _, _) = run(&mut p, reqs, false);
    assert_eq!(st, 0);
    let sts = p.ike.status();
    assert_eq!(sts.len(), 1);
    let (st, lines, _) = run(&mut p, vec![initiate()], false);
    assert_eq!(st, 0, "{lines:?}");
    let want = format!("\"a\" {}: negotiation already in progress", sts[0].serial);
    assert!(lines.contains(&want), "{lines:?}");
    assert_eq!(p.ike.status().len(), 1);
}

#[test]
fn unroute_forgets_the_trap_policies() {
    let mut p = pluto();
    run(
        &mut p,
        vec![Request::AddConnection { spec: spec("a") }],
        false,
    );
    p.routed.insert(
        "a".into(),
        Route {
            reqid: 7,
            traps: Vec::new(),
            failure: conn::spec::FailShunt::None,
            mark: None,
            flow: None,
            shunts: Vec::new(),
        },
    );
    let serial = p.conns.find("a").unwrap().serial;
    p.conns.get_mut(serial).unwrap().routing = conn::connection::Routing::RoutedOndemand;
    let routing = |p: &Pluto| p.conns.find("a").unwrap().routing;
    assert_eq!(routing(&p), conn::connection::Routing::RoutedOndemand);
    let (st, lines, _) = run(&mut p, vec![Request::Unroute { name: "a".into() }], false);
    assert_eq!(st, 0);
    assert_eq!(lines, ["\"a\": unrouted: trap policies removed"]);
    assert!(!p.routed.contains_key("a"));
    assert_eq!(routing(&p), conn::connection::Routing::Unrouted);
    let (_, lines, _) = run(&mut p, vec![Request::Unroute { name: "a".into() }], false);
    assert_eq!(lines, ["\"a\": connection is not routed"]);
}

#[test]
fn rereadall_rereads_the_secrets_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ipsec.secrets");
    std::fs::write(&path, "@a @b : PSK \"one\"\n").unwrap();
    let mut p = Pluto::new(Options {
        secretsfile: path.clone(),
        ..Options::default()
    });
    std::fs::write(&path, "@a @b : PSK \"one\"\n@a @c : PSK \"two\"\n").unwrap();
    let (st, lines, _) = run(
        &mut p,
        vec![Request::Reread {
            what: RereadKind::All,
        }],
        false,
    );
    assert_eq!(st, 0, "{lines:?}");
    assert!(lines.iter().any(|l| l == "loaded 2 secrets"), "{lines:?}");
}

#[test]
fn a_reread_parks_its_request_while_others_are_answered() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ipsec.secrets");
    std::fs::write(&path, "@a @b : PSK \"one\"\n").unwrap();
    let mut p = Pluto::new(Options {
        secretsfile: path.clone(),
        ..Options::default()
    });
    std::fs::write(&path, "@a @b : PSK \"one\"\n@a @c : PSK \"two\"\n").unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (r, mut rx, _answers) = Responder::detached();
    let env = Envelope::new(vec![
        Request::Reread {
            what: RereadKind::Secrets,
        },
        Request::Status {
            what: StatusKind::Global,
        },
    ]);
    let (flow, kept) = rt.block_on(p.handle(&env, r));
    assert_eq!(flow, Flow::Continue);
    assert!(kept.is_none(), "parked, not answered");
    assert_eq!(p.loads.parked(), 1);
    // Another whack is served while the read is out.
    let (other, mut other_rx, _other_answers) = Responder::detached();
    let (_, other) = rt.block_on(p.handle(&Envelope::new(vec![Request::ListEvents]), other));
    drop(other);
    let mut answered = false;
    while let Ok(m) = other_rx.try_recv() {
        answered |= matches!(m, Reply::Done { status: 0 });
    }
    assert!(answered, "the other request was answered at once");
    let texts = |rx: &mut tokio::sync::mpsc::UnboundedReceiver<Reply>| {
        let mut v = Vec::new();
        let mut done = false;
        while let Ok(m) = rx.try_recv() {
            match m {
                Reply::Line { text, .. } => v.push(text),
                Reply::Done { .. } => done = true,
                _ => {}
            }
        }
        (v, done)
    };
    let (before, done) = texts(&mut rx);
    assert!(!done);
    assert_eq!(before.len(), 1, "{before:?}");
    assert!(before[0].starts_with("loading secrets from"), "{before:?}");
    assert_eq!(p.secrets.len(), 1, "not applied before it is read");
    let (flow, r) = rt.block_on(async {
        let l = p.loads.next().await.unwrap();
        p.secrets_loaded(l).await
    });
    assert_eq!(flow, Flow::Continue);
    drop(r);
    assert_eq!(p.secrets.len(), 2);
    let (after, done) = texts(&mut rx);
    assert!(done, "{after:?}");
    assert_eq!(after.first().map(String::as_str), Some("loaded 2 secrets"));
    // The request's next part ran after the read, in order.
    assert!(after.len() > 1, "the --globalstatus part ran: {after:?}");
}

#[test]
fn deleteuser_is_refused_until_xauth_exists() {
    let mut p = pluto();
    let (st, lines, _) = run(
        &mut p,
        vec![Request::DeleteUser {
            user: "alice".into(),
        }],
        false,
    );
    assert_eq!(st, rc::FATAL);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains("XAUTH is not supported yet"), "{lines:?}");
}

#[test]
fn my_updown_shows_the_script_that_runs() {
    let mut p = pluto();
    let mut disabled = spec("off");
    disabled.left.updown = Some("%disabled".into());
    let (st, _, _) = run(
        &mut p,
        vec![
            Request::AddConnection { spec: spec("a") },
            Request::AddConnection { spec: disabled },
        ],
        false,
    );
    assert_eq!(st, 0);
    let (_, lines, _) = run(
        &mut p,
        vec![Request::Status {
            what: StatusKind::Connection,
        }],
        false,
    );
    let want = format!("\"a\":   my_updown={};", p.updown_default.display());
    assert!(lines.contains(&want), "{want}\n{lines:#?}");
    assert!(
        lines.iter().any(|l| l == "\"off\":   my_updown=%disabled;"),
        "{lines:#?}"
    );
}
