//! Every SYNOPSIS line of ipsec-whack(8), with example values filled in, parsed and
//! checked; then prefixes and errors.

use std::net::IpAddr;
use std::path::PathBuf;

use conn::spec::{
    AddrFamily, Encapsulation, FailShunt, Fragmentation, IkeVersion, Mode, OnTraffic, SendCa,
    SendCert,
};
use control::request::{
    DdosMode, DebugChange, ImpairChange, IpVersion, ListKind, OppoTrigger, RedirectMode,
    RereadKind, SaKind, StatusKind,
};
use control::Request;
use whack::{parse, Invocation, Parsed};

fn words(line: &str) -> Vec<String> {
    line.split_whitespace().map(str::to_string).collect()
}

fn run(line: &str) -> Invocation {
    match parse(words(line)) {
        Ok(Parsed::Run(inv)) => inv,
        other => panic!("{line}: {other:?}"),
    }
}

fn reqs(line: &str) -> Vec<Request> {
    run(line).envelope.requests
}

fn fails(line: &str) -> String {
    match parse(words(line)) {
        Err(e) => e.0,
        other => panic!("{line}: expected an error, got {other:?}"),
    }
}

#[test]
fn help_and_version() {
    assert_eq!(parse(words("--help")), Ok(Parsed::Help));
    assert_eq!(parse(words("--version")), Ok(Parsed::Version));
}

#[test]
fn connection_form_left_before_to_right_after() {
    let line = "--name west-east --ipv4 --tunnelipv4 \
        --id @west --host 192.0.2.1 --cert westcert --ckaid 0a1b2c --ca CN=ca \
        --groups g1,g2 --sendcert always --sendca issuer --certtype 4 --ikeport 500 \
        --nexthop 192.0.2.254 --client 198.51.100.0/25 --subnet 198.51.100.128/25 \
        --clientprotoport tcp/22 --fragmentation force --sourceip 198.51.100.1 \
        --xauthserver --modecfgserver --modecfgdns 192.0.2.53,192.0.2.54 \
        --modecfgdomains example.com,example.net --modecfgbanner hello --dnskeyondemand \
        --updown /bin/true \
        --to \
        --id @east --host 203.0.113.1 --cert eastcert --ckaid ff00 --ca CN=otherca \
        --groups g3 --sendcert never --certtype 1 --ikeport 4500 --nexthop 203.0.113.254 \
        --subnet 2001:db8::/64 --client 2001:db8:1::/64 --clientprotoport udp/53 \
        --srcip 2001:db8::2 \
        --xauthclient --modecfgclient --modecfgdns 2001:db8::53 --modecfgdomains example.org \
        --dnskeyondemand --updown /bin/false \
        --tunnel --psk --rsasig --encapsulation yes --encrypt --authenticate --compress \
        --pfs --pfsgroup modp2048 --ikelifetime 3600 --ipseclifetime 1800 \
        --rekeymargin 540 --rekeyfuzz 100 --esp aes-sha2 --dontrekey --aggrmode \
        --modecfgpull --metric 5 --nflog-group 3 --conn-mark 0x10/0xff --dpddelay 30 \
        --dpdtimeout 120 --no-keep-alive --initiateontraffic --failpass \
        --rundir /tmp/rd --label lbl";
    let inv = run(line);
    assert_eq!(inv.ctlsocket, PathBuf::from("/tmp/rd/pluto.ctl"));
    assert_eq!(inv.envelope.label.as_deref(), Some("lbl"));
    let [Request::AddConnection { spec }] = inv.envelope.requests.as_slice() else {
        panic!("{:?}", inv.envelope.requests)
    };
    assert_eq!(spec.name, "west-east");
    assert_eq!(spec.host_addr_family, Some(AddrFamily::Ipv4));
    assert_eq!(spec.tunnel_addr_family, Some(AddrFamily::Ipv4));
    let l = &spec.left;
    assert_eq!(l.id.as_deref(), Some("@west"));
    assert_eq!(l.host.as_deref(), Some("192.0.2.1"));
    assert_eq!(l.cert.as_deref(), Some("westcert"));
    assert_eq!(l.ckaid.as_deref(), Some("0a1b2c"));
    assert_eq!(l.ca.as_deref(), Some("CN=ca"));
    assert_eq!(l.groups, vec!["g1", "g2"]);
    assert_eq!(l.sendcert, Some(SendCert::Always));
    assert_eq!(l.sendca, Some(SendCa::Issuer));
    assert_eq!(l.certtype, Some(4));
    assert_eq!(l.ikeport, Some(500));
    assert_eq!(l.nexthop.as_deref(), Some("192.0.2.254"));
    assert_eq!(l.subnets, vec!["198.51.100.0/25", "198.51.100.128/25"]);
    assert_eq!(l.clientprotoport.as_deref(), Some("tcp/22"));
    assert_eq!(l.sourceip.as_deref(), Some("198.51.100.1"));
    assert!(l.xauthserver && l.modecfgserver && l.dnskeyondemand);
    assert!(!l.xauthclient && !l.modecfgclient);
    assert_eq!(l.modecfgdns, vec!["192.0.2.53", "192.0.2.54"]);
    assert_eq!(l.modecfgdomains, vec!["example.com", "example.net"]);
    assert_eq!(l.modecfgbanner.as_deref(), Some("hello"));
    assert_eq!(l.updown.as_deref(), Some("/bin/true"));
    let r = &spec.right;
    assert_eq!(r.id.as_deref(), Some("@east"));
    assert_eq!(r.host.as_deref(), Some("203.0.113.1"));
    assert_eq!(r.cert.as_deref(), Some("eastcert"));
    assert_eq!(r.ckaid.as_deref(), Some("ff00"));
    assert_eq!(r.groups, vec!["g3"]);
    assert_eq!(r.sendcert, Some(SendCert::Never));
    assert_eq!(r.certtype, Some(1));
    assert_eq!(r.ikeport, Some(4500));
    assert_eq!(r.subnets, vec!["2001:db8::/64", "2001:db8:1::/64"]);
    assert_eq!(r.clientprotoport.as_deref(), Some("udp/53"));
    assert_eq!(r.sourceip.as_deref(), Some("2001:db8::2"));
}

#[test]
fn connection_form_policy() {
    let line = "--name a --host 192.0.2.1 --to --host 192.0.2.2 \
        --tunnel --psk --rsasig --encapsulation=no --encrypt --authenticate --compress \
        --pfs --pfsgroup dh23 --ikelifetime 3600 --ipseclifetime 1800 --rekeymargin 540 \
        --rekeyfuzz 50 --keyingtries 3 --esp aes128-sha1 --ike aes256-sha2;dh19 \
        --dontrekey --aggrmode --modecfgpull --metric 5 --nflog-group 3 \
        --conn-mark 16/255 --dpddelay 30 --dpdtimeout 120 --no-keep-alive --reject \
        --failreject --fragmentation no --ikev1";
    let r = reqs(line);
    let [Request::AddConnection { spec }] = r.as_slice() else {
        panic!("{r:?}")
    };
    assert_eq!(spec.mode, Some(Mode::Tunnel));
    assert!(spec.psk && spec.rsasig && spec.encrypt && spec.authenticate && spec.compress);
    assert_eq!(spec.encapsulation, Some(Encapsulation::No));
    assert_eq!(spec.pfs, Some(true));
    assert_eq!(spec.pfsgroup.as_deref(), Some("dh23"));
    assert_eq!(
        (spec.ikelifetime, spec.ipseclifetime, spec.rekeymargin),
        (Some(3600), Some(1800), Some(540))
    );
    assert_eq!(spec.rekeyfuzz, Some(50));
    assert_eq!(spec.keyingtries, Some(3));
    assert_eq!(spec.esp.as_deref(), Some("aes128-sha1"));
    assert_eq!(spec.ike.as_deref(), Some("aes256-sha2;dh19"));
    assert!(spec.dontrekey && spec.aggrmode && spec.modecfgpull && spec.no_keep_alive);
    assert_eq!(spec.metric, Some(5));
    assert_eq!(spec.nflog_group, Some(3));
    assert_eq!(spec.conn_mark.as_deref(), Some("16/255"));
    assert_eq!((spec.dpddelay, spec.dpdtimeout), (Some(30), Some(120)));
    assert_eq!(spec.on_traffic, Some(OnTraffic::Reject));
    assert_eq!(spec.failure_shunt, Some(FailShunt::Reject));
    assert_eq!(spec.fragmentation, Some(Fragmentation::No));
    assert_eq!(spec.ike_version, Some(IkeVersion::V1));
}

#[test]
fn connection_form_defaults_are_whacks() {
    // The manual's own example; whack means transport without PFS unless told.
    let r = reqs(
        "--name conn_name --host 192.0.2.1 --client 198.51.100.0/24 --to \
         --host 192.0.2.2 --client 203.0.113.0/24 --encrypt",
    );
    let [Request::AddConnection { spec }] = r.as_slice() else {
        panic!("{r:?}")
    };
    assert_eq!(spec.mode, Some(Mode::Transport));
    assert_eq!(spec.pfs, Some(false));
    assert_eq!(spec.ike_version, None, "IKEv2 is the default");
    assert_eq!(spec.encapsulation, None);
    for (flag, want) in [
        ("--pass", OnTraffic::Pass),
        ("--drop", OnTraffic::Drop),
        ("--initiateontraffic", OnTraffic::Initiate),
    ] {
        let r = reqs(&format!(
            "--name a --host 192.0.2.1 --to --host %any {flag}"
        ));
        let [Request::AddConnection { spec }] = r.as_slice() else {
            panic!()
        };
        assert_eq!(spec.on_traffic, Some(want));
    }
    for (flag, want) in [
        ("--failnone", FailShunt::None),
        ("--faildrop", FailShunt::Drop),
        ("--failpass", FailShunt::Pass),
    ] {
        let r = reqs(&format!("--name a --to --host %any {flag}"));
        let [Request::AddConnection { spec }] = r.as_slice() else {
            panic!()
        };
        assert_eq!(spec.failure_shunt, Some(want));
    }
    // Bare --encapsulation means yes; a following keyword is taken.
    let r = reqs("--name a --to --encapsulation");
    let [Request::AddConnection { spec }] = r.as_slice() else {
        panic!()
    };
    assert_eq!(spec.encapsulation, Some(Encapsulation::Yes));
    let r = reqs("--name a --to --encapsulation auto --ipv6 --tunnelipv6 --ikev2");
    let [Request::AddConnection { spec }] = r.as_slice() else {
        panic!()
    };
    assert_eq!(spec.encapsulation, Some(Encapsulation::Auto));
    assert_eq!(spec.host_addr_family, Some(AddrFamily::Ipv6));
    assert_eq!(spec.tunnel_addr_family, Some(AddrFamily::Ipv6));
    assert_eq!(spec.ike_version, Some(IkeVersion::V2));
}

#[test]
fn key_form_is_refused() {
    // Raw public keys serve RSA authentication only, which pluto-rs lacks.
    for line in [
        "--keyid @east --addkey --pubkeyrsa 0sAQOabc",
        "--keyid @east",
        "--pubkeyrsa 0sAQOabc",
        "--addkey",
    ] {
        let e = fails(line);
        assert!(
            e.ends_with(
                ": raw public keys are used only by RSA authentication, which pluto-rs does not support yet; use --psk"
            ),
            "{line}: {e}"
        );
        assert!(
            e.starts_with("--keyid") || e.starts_with("--pubkeyrsa") || e.starts_with("--addkey"),
            "{e}"
        );
    }
}

#[test]
fn libreswan_5_options_outside_the_manual_are_refused_in_one_line() {
    for (line, says) in [
        (
            "--rereadcerts",
            "--rereadcerts: X.509 certificates are not supported",
        ),
        ("--listpsks", "--listpsks: not implemented yet in pluto-rs"),
        (
            "--deleteid --name @east",
            "--deleteid: not implemented yet in pluto-rs",
        ),
        (
            "--name c --connalias other",
            "--connalias: connection aliases are not implemented",
        ),
    ] {
        let e = fails(line);
        assert!(e.starts_with(says), "{line}: {e}");
        assert!(!e.contains('\n'), "{e}");
    }
}

#[test]
fn xauth_credentials_are_refused() {
    assert_eq!(
        fails("--initiate --name c --xauthuser u"),
        "--xauthuser: XAUTH is an IKEv1 mechanism and is not supported by pluto-rs"
    );
    assert_eq!(
        fails("--initiate --name c --xauthpass p"),
        "--xauthpass: XAUTH is an IKEv1 mechanism and is not supported by pluto-rs"
    );
    assert!(fails("--initiate --name c --xauthname u").starts_with("--xauthname: XAUTH"));
}

#[test]
fn ctlsocket_wins_over_rundir() {
    let inv = run("--status --rundir /r --ctlsocket /c/s.ctl --label x");
    assert_eq!(inv.ctlsocket, PathBuf::from("/c/s.ctl"));
    assert_eq!(inv.envelope.label.as_deref(), Some("x"));
    assert_eq!(
        run("--status --rundir /r").ctlsocket,
        PathBuf::from("/r/pluto.ctl")
    );
}

#[test]
fn listen_ddos_route() {
    assert_eq!(
        reqs("--listen --rundir /r --label l"),
        vec![Request::Listen]
    );
    assert_eq!(reqs("--unlisten"), vec![Request::Unlisten]);
    for (f, mode) in [
        ("--ddos-auto", DdosMode::Auto),
        ("--ddos-busy", DdosMode::Busy),
        ("--ddos-unlimited", DdosMode::Unlimited),
    ] {
        assert_eq!(
            reqs(&format!("{f} --rundir /r")),
            vec![Request::Ddos { mode }]
        );
    }
    assert_eq!(
        reqs("--route --name c --rundir /r --ctlsocket /s"),
        vec![Request::Route { name: "c".into() }]
    );
    assert_eq!(
        reqs("--unroute --name c"),
        vec![Request::Unroute { name: "c".into() }]
    );
    // The manual's "ipsec whack --route conn_name".
    assert_eq!(
        reqs("--route conn_name"),
        vec![Request::Route {
            name: "conn_name".into()
        }]
    );
}

#[test]
fn initiate_and_down() {
    let inv = run("--initiate --name c --remote-host 192.0.2.9 --asynchronous");
    assert_eq!(
        inv.envelope.requests,
        vec![Request::Initiate {
            name: "c".into(),
            remote_host: Some("192.0.2.9".into()),
            xauth_user: None,
            xauth_pass: None,
            asynchronous: true,
        }]
    );
    assert_eq!(
        reqs("--down --name c --asynchronous"),
        vec![Request::Down {
            name: "c".into(),
            asynchronous: true
        }]
    );
    assert_eq!(
        reqs("--down --name c"),
        vec![Request::Down {
            name: "c".into(),
            asynchronous: false
        }]
    );
}

type MakeSa = fn(String, SaKind, bool) -> Request;

#[test]
fn rekey_delete_down_sa() {
    let cases: [(&str, MakeSa, SaKind); 6] = [
        (
            "--rekey-ike",
            |name, sa, asynchronous| Request::Rekey {
                name,
                sa,
                asynchronous,
            },
            SaKind::Ike,
        ),
        (
            "--rekey-child",
            |name, sa, asynchronous| Request::Rekey {
                name,
                sa,
                asynchronous,
            },
            SaKind::Child,
        ),
        (
            "--delete-ike",
            |name, sa, asynchronous| Request::DeleteSa {
                name,
                sa,
                asynchronous,
            },
            SaKind::Ike,
        ),
        (
            "--delete-child",
            |name, sa, asynchronous| Request::DeleteSa {
                name,
                sa,
                asynchronous,
            },
            SaKind::Child,
        ),
        (
            "--down-ike",
            |name, sa, asynchronous| Request::DownSa {
                name,
                sa,
                asynchronous,
            },
            SaKind::Ike,
        ),
        (
            "--down-child",
            |name, sa, asynchronous| Request::DownSa {
                name,
                sa,
                asynchronous,
            },
            SaKind::Child,
        ),
    ];
    for (flag, make, sa) in cases {
        assert_eq!(
            reqs(&format!("{flag} --name c --asynchronous")),
            vec![make("c".into(), sa, true)]
        );
        assert_eq!(
            reqs(&format!("{flag} --name c")),
            vec![make("c".into(), sa, false)]
        );
    }
}

#[test]
fn redirect_forms() {
    for (w, mode) in [
        ("yes", RedirectMode::Yes),
        ("no", RedirectMode::No),
        ("auto", RedirectMode::Auto),
    ] {
        assert_eq!(
            reqs(&format!("--global-redirect {w}")),
            vec![Request::GlobalRedirect { mode }]
        );
    }
    assert_eq!(
        reqs("--global-redirect-to 192.0.2.7,192.0.2.8"),
        vec![Request::GlobalRedirectTo {
            to: "192.0.2.7,192.0.2.8".into()
        }]
    );
    assert_eq!(
        reqs("--name c --redirect-to 192.0.2.7"),
        vec![Request::RedirectTo {
            name: Some("c".into()),
            to: "192.0.2.7".into()
        }]
    );
    assert_eq!(
        reqs("--redirect-to 192.0.2.7"),
        vec![Request::RedirectTo {
            name: None,
            to: "192.0.2.7".into()
        }]
    );
}

#[test]
fn oppo_form() {
    assert_eq!(
        reqs("--tunnelipv4 --oppohere 192.0.2.1 --oppothere 192.0.2.2 --opposport 1234 --oppodport 80 --oppoproto tcp"),
        vec![Request::Oppo(OppoTrigger {
            ip_version: Some(IpVersion::V4),
            here: "192.0.2.1".parse().unwrap(),
            there: "192.0.2.2".parse().unwrap(),
            sport: 1234,
            dport: 80,
            proto: 6,
        })]
    );
    let r = reqs("--tunnelipv6 --oppohere 2001:db8::1 --oppothere 2001:db8::2 --opposport 0 --oppodport 0 --oppoproto 58");
    let [Request::Oppo(t)] = r.as_slice() else {
        panic!()
    };
    assert_eq!((t.ip_version, t.proto), (Some(IpVersion::V6), 58));
}

#[test]
fn crash_delete_deletestate_deleteuser() {
    let a: IpAddr = "192.0.2.5".parse().unwrap();
    assert_eq!(
        reqs("--crash 192.0.2.5"),
        vec![Request::Crash { address: a }]
    );
    assert_eq!(
        reqs("--name c --delete --label l"),
        vec![Request::Delete { name: "c".into() }]
    );
    assert_eq!(
        reqs("--deletestate 42 --rundir /r --ctlsocket /s --label l"),
        vec![Request::DeleteState { serial: 42 }]
    );
    assert_eq!(
        reqs("--deletestate #7"),
        vec![Request::DeleteState { serial: 7 }]
    );
    assert_eq!(
        reqs("--deleteuser --name alice --rundir /r"),
        vec![Request::DeleteUser {
            user: "alice".into()
        }]
    );
}

#[test]
fn debug_and_impair() {
    assert_eq!(
        reqs("--debug help"),
        vec![Request::Debug {
            name: None,
            changes: vec![DebugChange::Help]
        }]
    );
    assert_eq!(
        reqs(
            "--name c --debug none --debug base --debug cpu-usage --debug no-crypt --no-debug tmi"
        ),
        vec![Request::Debug {
            name: Some("c".into()),
            changes: vec![
                DebugChange::None,
                DebugChange::Enable("base".into()),
                DebugChange::Enable("cpu-usage".into()),
                DebugChange::Disable("crypt".into()),
                DebugChange::Disable("tmi".into()),
            ]
        }]
    );
    assert_eq!(
        reqs("--impair help --impair list --impair none --impair revival --impair ke-payload:omit --no-impair drop-i1"),
        vec![Request::Impair {
            name: None,
            changes: vec![
                ImpairChange::Help,
                ImpairChange::List,
                ImpairChange::None,
                ImpairChange::Set { behaviour: "revival".into(), how: None },
                ImpairChange::Set { behaviour: "ke-payload".into(), how: Some("omit".into()) },
                ImpairChange::Clear("drop-i1".into()),
            ]
        }]
    );
}

#[test]
fn list_and_reread_forms() {
    let inv =
        run("--utc --listall --listpubkeys --listcerts --listcacerts --listcrls --checkpubkeys");
    assert!(inv.envelope.output.utc);
    let kinds: Vec<ListKind> = inv
        .envelope
        .requests
        .iter()
        .map(|r| match r {
            Request::List { what } => *what,
            other => panic!("{other:?}"),
        })
        .collect();
    for k in [
        ListKind::All,
        ListKind::PubKeys,
        ListKind::Certs,
        ListKind::CaCerts,
        ListKind::Crls,
        ListKind::CheckPubKeys,
    ] {
        assert!(kinds.contains(&k), "{k:?}");
    }
    assert_eq!(
        reqs("--utc --rereadsecrets --fetchcrls --rereadall"),
        vec![
            Request::Reread {
                what: RereadKind::Secrets
            },
            Request::Reread {
                what: RereadKind::FetchCrls
            },
            Request::Reread {
                what: RereadKind::All
            },
        ]
    );
    assert_eq!(
        reqs("--rereadcrls"),
        vec![Request::Reread {
            what: RereadKind::Crls
        }]
    );
    assert_eq!(reqs("--ddns"), vec![Request::Ddns]);
    assert_eq!(reqs("--listevents"), vec![Request::ListEvents]);
    assert_eq!(reqs("--purgeocsp"), vec![Request::PurgeOcsp]);
}

#[test]
fn status_forms() {
    let inv = run("--status --addresspoolstatus --briefstatus --connectionstatus --fipsstatus --processstatus --shuntstatus --trafficstatus --rundir /r --ctlsocket /s --label l");
    assert_eq!(
        inv.envelope.requests,
        [
            StatusKind::Status,
            StatusKind::Brief,
            StatusKind::Connection,
            StatusKind::Traffic,
            StatusKind::Shunt,
            StatusKind::AddressPool,
            StatusKind::Fips,
            StatusKind::Process,
        ]
        .map(|what| Request::Status { what })
        .to_vec()
    );
    assert_eq!(
        reqs("--globalstatus --clearstats --rundir /r"),
        vec![
            Request::Status {
                what: StatusKind::Global
            },
            Request::ClearStats
        ]
    );
    let inv = run("--json --status");
    assert!(inv.envelope.output.json);
    assert!(run("--json --listall").envelope.output.json);
}

#[test]
fn socket_and_shutdown_forms() {
    assert_eq!(
        reqs("--ike-socket-bufsize 65536 --ike-socket-errqueue-toggle --rundir /r --ctlsocket /s --label l"),
        vec![
            Request::IkeSocketBufsize { bytes: 65536 },
            Request::IkeSocketErrqueueToggle
        ]
    );
    assert_eq!(
        reqs("--shutdown --rundir /r --ctlsocket /s --label l --leave-state"),
        vec![Request::Shutdown { leave_state: true }]
    );
    assert_eq!(
        reqs("--shutdown"),
        vec![Request::Shutdown { leave_state: false }]
    );
    assert_eq!(
        run("--shutdown").ctlsocket,
        PathBuf::from("/run/pluto/pluto.ctl")
    );
}

#[test]
fn combined_forms_go_in_pluto_order() {
    let r = reqs("--status --name c --initiate --to --delete --listen --debug base");
    let ops: Vec<&'static str> = r
        .iter()
        .map(|r| match r {
            Request::Debug { .. } => "debug",
            Request::Delete { .. } => "delete",
            Request::AddConnection { .. } => "add",
            Request::Listen => "listen",
            Request::Initiate { .. } => "initiate",
            Request::Status { .. } => "status",
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        ops,
        ["debug", "delete", "add", "listen", "initiate", "status"]
    );
}

#[test]
fn prefixes() {
    assert_eq!(
        reqs("--stat"),
        vec![Request::Status {
            what: StatusKind::Status
        }]
    );
    assert_eq!(
        reqs("--traffic"),
        vec![Request::Status {
            what: StatusKind::Traffic
        }]
    );
    assert_eq!(
        reqs("--shut --leave"),
        vec![Request::Shutdown { leave_state: true }]
    );
    assert_eq!(
        reqs("--nam c --delete"),
        vec![Request::Delete { name: "c".into() }]
    );
    assert!(fails("--nam c --del").contains("ambiguous"));
    assert!(fails("--deleteuser --name u --route")
        .contains("--deleteuser and --route cannot go together"));
    assert_eq!(
        reqs("--down --nam c"),
        vec![Request::Down {
            name: "c".into(),
            asynchronous: false
        }]
    );
    assert_eq!(
        reqs("--name=c --route"),
        vec![Request::Route { name: "c".into() }]
    );
    let e = fails("--list");
    assert!(
        e.starts_with("option '--list' is ambiguous; possibilities:"),
        "{e}"
    );
    assert!(e.contains("'--listen'") && e.contains("'--listall'"), "{e}");
    assert!(fails("--init --name c").contains("ambiguous"));
}

#[test]
fn errors_are_one_clear_line() {
    let cases = [
        ("--frobnicate", "unrecognized option '--frobnicate'"),
        ("-x", "unrecognized option '-x'"),
        ("--name", "option '--name' requires an argument"),
        (
            "--listen=yes",
            "option '--listen' doesn't allow an argument",
        ),
        (
            "--listen --unlisten",
            "--listen and --unlisten cannot go together",
        ),
        ("--route", "--route needs --name"),
        ("--initiate", "--initiate needs --name"),
        ("--asynchronous --status", "--asynchronous needs"),
        ("--leave-state", "--leave-state needs --shutdown"),
        ("--name c --host 192.0.2.1", "needs --to"),
        ("--host 192.0.2.1 --to", "needs --name"),
        ("--name c --to --to", "--to given twice"),
        (
            "--name c --host 192.0.2.1 --host 192.0.2.2 --to",
            "--host given twice for the left end",
        ),
        (
            "--name c --to --sendcert maybe",
            "--sendcert: unknown value \"maybe\"",
        ),
        (
            "--name c --to --pfsgroup modp512",
            "--pfsgroup: unknown group",
        ),
        (
            "--name c --to --ikelifetime soon",
            "--ikelifetime: \"soon\" is not a number of seconds",
        ),
        ("--name c --to --ikeport 0", "--ikeport: port 0"),
        (
            "--name c --to --ikev1 --ikev2",
            "--ikev1 and --ikev2 cannot go together",
        ),
        (
            "--name c --to --pass --drop",
            "only one of --initiateontraffic",
        ),
        (
            "--name c --to --nflog-group 0",
            "--nflog-group: 0 is not in 1-65535",
        ),
        ("--name c --to --conn-mark x", "--conn-mark"),
        (
            "--crash nowhere",
            "--crash: \"nowhere\" is not an IP address",
        ),
        (
            "--deletestate x",
            "--deletestate: \"x\" is not a state number",
        ),
        ("--debug bogus", "unknown debug class \"bogus\""),
        ("--impair bogus", "unknown impairment \"bogus\""),
        (
            "--global-redirect maybe",
            "--global-redirect: unknown value",
        ),
        ("--oppohere 192.0.2.1", "needs all of --oppohere"),
        (
            "--json --listen",
            "--json applies only to the status and list forms",
        ),
        ("", "no action given"),
        ("--name c", "nothing to do for \"c\""),
        ("--status extra --name c", "unexpected argument \"extra\""),
        ("--ike-socket-bufsize 0", "size must be positive"),
    ];
    for (line, want) in cases {
        let e = fails(line);
        assert!(e.contains(want), "{line}: got {e:?}, want {want:?}");
        assert!(!e.contains('\n'), "{line}: multi-line error {e:?}");
    }
    // --srcip is --sourceip: the second on one end is a repeat.
    assert!(fails("--name c --sourceip 192.0.2.1 --srcip 192.0.2.2 --to").contains("given twice"));
}

#[test]
fn every_option_parses_or_fails_cleanly() {
    // Each option alone, with a plausible value, with junk, and with no value:
    // never a panic, and every error is a single line.
    for (name, _, _) in whack::options::OPTIONS {
        for line in [
            vec![format!("--{name}")],
            vec![format!("--{name}"), "x".into()],
            vec![format!("--{name}=")],
            vec![
                "--name".into(),
                "c".into(),
                format!("--{name}"),
                "192.0.2.1".into(),
            ],
            vec![
                "--name".into(),
                "c".into(),
                "--to".into(),
                format!("--{name}"),
                "1".into(),
            ],
        ] {
            if let Err(e) = parse(line.clone()) {
                assert!(!e.0.is_empty() && !e.0.contains('\n'), "{line:?}: {e:?}");
            }
        }
    }
}
