//! End-to-end tests that need XFRM but not ESP: they run for real on any Linux host
//! as root, each in a throwaway network namespace, and skip (saying so) otherwise.

mod common;

use std::net::UdpSocket;
use std::os::fd::AsFd;
use std::time::Duration;

use common::{in_fresh_netns, ip, run};
use kernel::{
    priority, Change, Dir, IpsecProto, Kernel, KernelEvent, Lifetimes, Mode, Ownership,
    PolicyAction, PolicySpec, Priority, Selector, Template,
};

fn nets() -> Selector {
    Selector::new(
        "198.51.100.0/24".parse().unwrap(),
        "203.0.113.0/24".parse().unwrap(),
    )
    .unwrap()
}

fn tunnel(reqid: u32) -> Template {
    Template::tunnel(IpsecProto::Esp, ip("192.0.2.1"), ip("192.0.2.2"), reqid)
}

#[test]
fn spi_allocation_avoids_the_manual_range() {
    in_fresh_netns("spi_allocation_avoids_the_manual_range", || async {
        let (k, _ev) = Kernel::new().unwrap();
        let (a, b) = (ip("192.0.2.2"), ip("192.0.2.1"));
        let s1 = k.alloc_spi(a, b, IpsecProto::Esp, 16384).await.unwrap();
        let s2 = k.alloc_spi(a, b, IpsecProto::Esp, 16384).await.unwrap();
        assert!(s1 >= 0x1000 && s2 >= 0x1000, "{s1:#x} {s2:#x}");
        assert_ne!(s1, s2);
        let cpi = k.alloc_spi(a, b, IpsecProto::Comp, 16384).await.unwrap();
        assert!((0x1000..=0xefff).contains(&cpi), "{cpi:#x}");
        let v6 = k
            .alloc_spi(ip("2001:db8::2"), ip("2001:db8::1"), IpsecProto::Esp, 16384)
            .await
            .unwrap();
        assert!(v6 >= 0x1000);
        // an explicit narrow range is honoured
        let s3 = k
            .alloc_spi_in(a, b, IpsecProto::Ah, 16384, 0x5000..=0x5001)
            .await
            .unwrap();
        assert!(s3 == 0x5000 || s3 == 0x5001);
        let err = k
            .alloc_spi_in(a, b, IpsecProto::Esp, 16384, 0x100..=0x2000)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("manual keying"), "{err}");
    });
}

#[test]
fn policy_add_replace_delete_and_dump() {
    in_fresh_netns("policy_add_replace_delete_and_dump", || async {
        let (k, _ev) = Kernel::new().unwrap();
        let spec = PolicySpec::new(nets(), Dir::Out, PolicyAction::Ipsec(vec![tunnel(16384)]));
        k.add_policy(&spec).await.unwrap();
        let err = k.add_policy(&spec).await.unwrap_err();
        assert_eq!(err.errno(), Some(libc::EEXIST));
        assert!(
            err.to_string().contains("replace or delete it first"),
            "{err}"
        );
        let dump = k.owned_policies().await.unwrap();
        assert_eq!(dump.len(), 1);
        assert_eq!(dump[0].selector, Some(nets()));
        assert_eq!(dump[0].priority, priority(&nets(), Priority::Auto));
        assert_eq!(dump[0].templates, vec![tunnel(16384)]);

        // atomic replace: new template and priority, same identity
        let mut newer = spec.clone();
        newer.action = PolicyAction::Ipsec(vec![tunnel(16388)]);
        newer.priority = Priority::Explicit(100);
        k.replace_policy(&newer).await.unwrap();
        let dump = k.policies().await.unwrap();
        assert_eq!(dump.len(), 1);
        assert_eq!(dump[0].priority, 100);
        assert_eq!(dump[0].templates[0].reqid, 16388);

        // in and fwd, IPv6, transport templates, ports
        let sel6 = Selector::new(
            "2001:db8:100::/48".parse().unwrap(),
            "2001:db8:113::/48".parse().unwrap(),
        )
        .unwrap()
        .with_proto(6)
        .with_ports(None, Some(443));
        for dir in [Dir::In, Dir::Fwd] {
            let p = PolicySpec::new(
                sel6,
                dir,
                PolicyAction::Ipsec(vec![Template::transport(IpsecProto::Esp, 16392)]),
            );
            k.add_policy(&p).await.unwrap();
        }
        let dump = k.owned_policies().await.unwrap();
        assert_eq!(dump.len(), 3);
        let fwd = dump.iter().find(|p| p.dir == Some(Dir::Fwd)).unwrap();
        assert_eq!(fwd.selector, Some(sel6));
        assert_eq!(fwd.templates[0].mode, Mode::Transport);

        k.del_policy(&spec.id()).await.unwrap();
        let err = k.del_policy(&spec.id()).await.unwrap_err();
        assert!(err.is_not_found(), "{err}");
        assert_eq!(k.policies().await.unwrap().len(), 2);
    });
}

#[test]
fn shunt_policies_pass_drop_reject() {
    in_fresh_netns("shunt_policies_pass_drop_reject", || async {
        let (k, _ev) = Kernel::new().unwrap();
        let hosts = |d: &str| Selector::hosts(ip("192.0.2.1"), ip(d)).unwrap();
        for (d, action) in [
            ("192.0.2.10", PolicyAction::Pass),
            ("192.0.2.11", PolicyAction::Drop),
            ("192.0.2.12", PolicyAction::Reject),
        ] {
            let mut p = PolicySpec::new(hosts(d), Dir::Out, action);
            p.priority = Priority::Fallback;
            k.add_policy(&p).await.unwrap();
        }
        let dump = k.owned_policies().await.unwrap();
        assert_eq!(dump.len(), 3);
        for p in &dump {
            let d = p.selector.unwrap().dst.addr();
            assert_eq!(p.block, d != ip("192.0.2.10"), "{p:?}");
            assert!(p.templates.is_empty());
            assert!(p.priority >= (2 << 20));
        }
        let r = k.flush_owned().await.unwrap();
        assert_eq!(r.policies, 3);
        assert!(k.policies().await.unwrap().is_empty());
    });
}

/// `%reject` also installs a FIB rule that refuses the traffic before XFRM sees it
/// (a local sender gets ENETUNREACH instead of the block policy's EPERM; a
/// forwarded packet gets ICMP unreachable, shown by the lifecycle tier), keeps
/// UDP from the IKE ports out of it, and takes both away with the policy.
#[test]
fn reject_shunt_adds_an_unreachable_rule_that_spares_ike() {
    in_fresh_netns(
        "reject_shunt_adds_an_unreachable_rule_that_spares_ike",
        || async {
            let rules = || {
                let o = std::process::Command::new("ip")
                    .args(["rule"])
                    .output()
                    .unwrap();
                String::from_utf8_lossy(&o.stdout).into_owned()
            };
            run(&["ip", "route", "add", "192.0.2.0/24", "dev", "lo"]);
            let (k, _ev) = Kernel::new().unwrap();
            let sel = Selector::new(
                "0.0.0.0/0".parse().unwrap(),
                "192.0.2.12/32".parse().unwrap(),
            )
            .unwrap();
            let p = PolicySpec::new(sel, Dir::Out, PolicyAction::Reject);
            k.add_policy(&p).await.unwrap();
            let r = rules();
            assert!(
                r.contains("32600:\tfrom all to 192.0.2.12 unreachable proto 251"),
                "{r}"
            );
            assert!(
                r.contains("32599:\tfrom all ipproto udp sport 500 lookup main proto 251"),
                "{r}"
            );
            assert!(r.contains("sport 4500"), "{r}");
            let send = |sport: u16| {
                let s = UdpSocket::bind(("0.0.0.0", sport)).unwrap();
                s.send_to(b"x", "192.0.2.12:9").unwrap_err().raw_os_error()
            };
            assert_eq!(send(0), Some(libc::ENETUNREACH), "refused by the rule");
            // IKE's ports pass the rule and meet the block policy (an IKE socket
            // has its bypass policy and would go out).
            assert_eq!(send(500), Some(libc::EPERM));
            // Replacing it does not add a second rule; deleting takes it away.
            k.replace_policy(&p).await.unwrap();
            assert_eq!(rules().matches("unreachable").count(), 1);
            k.del_policy(&p.id()).await.unwrap();
            let r = rules();
            assert!(!r.contains("proto 251"), "{r}");
            // A marked shunt's rule matches the mark as fwmark; a policy the kernel
            // expired (POLEXPIRE) takes its rule along.
            let mut marked = p.clone();
            marked.mark = Some(kernel::Mark {
                value: 0x10,
                mask: 0xff,
            });
            k.add_policy(&marked).await.unwrap();
            assert!(
                rules().contains("fwmark 0x10/0xff unreachable"),
                "{}",
                rules()
            );
            k.policy_expired(&marked.id()).await;
            assert!(!rules().contains("unreachable"), "{}", rules());
            k.del_policy(&marked.id()).await.unwrap();
            // flush_owned also sweeps rules a crashed daemon left in our band.
            k.add_policy(&p).await.unwrap();
            let (again, _e) = Kernel::new().unwrap();
            again.flush_owned().await.unwrap();
            assert!(!rules().contains("proto 251"), "{}", rules());
        },
    );
}

#[test]
fn flush_owned_leaves_foreign_state_alone() {
    in_fresh_netns("flush_owned_leaves_foreign_state_alone", || async {
        let (ours, _e1) = Kernel::new().unwrap();
        // another daemon (say strongSwan, reqids from 1) in the same namespace
        let (theirs, _e2) = Kernel::with_ownership(Ownership { reqids: 1..=1000 }).unwrap();
        let mut mine = PolicySpec::new(nets(), Dir::Out, PolicyAction::Ipsec(vec![tunnel(20000)]));
        ours.add_policy(&mine).await.unwrap();
        mine.dir = Dir::In;
        ours.add_policy(&mine).await.unwrap();
        let foreign = PolicySpec::new(
            nets().reversed(),
            Dir::Out,
            PolicyAction::Ipsec(vec![tunnel(7)]),
        );
        theirs.add_policy(&foreign).await.unwrap();
        let foreign_shunt = PolicySpec::new(
            Selector::hosts(ip("192.0.2.1"), ip("192.0.2.99")).unwrap(),
            Dir::Out,
            PolicyAction::Drop,
        );
        theirs.add_policy(&foreign_shunt).await.unwrap();
        assert_eq!(ours.owned_policies().await.unwrap().len(), 2);
        let r = ours.flush_owned().await.unwrap();
        assert_eq!(r.policies, 2);
        let left = ours.policies().await.unwrap();
        assert_eq!(left.len(), 2, "{left:?}");
        assert_eq!(theirs.owned_policies().await.unwrap().len(), 2);
        // and --leave-state: simply not flushing keeps everything
        assert_eq!(ours.flush_owned().await.unwrap().policies, 0);
    });
}

#[test]
fn sa_add_reports_what_the_kernel_said() {
    in_fresh_netns("sa_add_reports_what_the_kernel_said", || async {
        common::load_modules();
        let (k, _ev) = Kernel::new().unwrap();
        let spec = common::esp_spec(
            ip("192.0.2.1"),
            ip("192.0.2.2"),
            0x3000,
            Mode::Tunnel,
            common::cbc_sha256(),
        );
        match k.add_sa(&spec).await {
            Err(e) => {
                // the development host: no ESP
                assert!(e.is_no_ipsec_support(), "{e}");
                let s = e.to_string();
                assert!(
                    s.contains("this kernel has no ESP support (load esp4/esp6 or use the test net's UML kernel)")
                        || s.contains("crypto algorithm"),
                    "{s}"
                );
                assert!(s.contains("errno"), "{s}");
            }
            Ok(()) => {
                // a kernel with ESP: the SA is there and a duplicate is refused
                let info = k.get_sa(&spec.id, None).await.unwrap();
                assert_eq!(info.reqid, 16384);
                let err = k.add_sa(&spec).await.unwrap_err();
                assert_eq!(err.errno(), Some(libc::EEXIST), "{err}");
            }
        }
        // a bad key never reaches the kernel
        let mut bad = spec.clone();
        bad.crypto = kernel::SaCrypto::Esp {
            encr: kernel::Encr::AesGcm { icv_bytes: 16 },
            encr_key: common::key(16, 0),
            integ: None,
        };
        let err = k.add_sa(&bad).await.unwrap_err();
        assert!(err.to_string().contains("4-byte salt"), "{err}");
        // deleting what is not there says so
        let err = k
            .del_sa(&common::esp_id(ip("192.0.2.2"), 0x7777), None)
            .await
            .unwrap_err();
        assert!(err.is_not_found(), "{err}");
    });
}

#[test]
fn trap_policy_raises_acquire_and_own_changes_do_not_leak() {
    in_fresh_netns("trap_policy_raises_acquire", || async {
        run(&["ip", "addr", "add", "198.51.100.1/32", "dev", "lo"]);
        run(&["ip", "route", "add", "203.0.113.0/24", "dev", "lo"]);
        let (k, mut events) = Kernel::new().unwrap();
        // our own changes first: none of these may show up as events
        k.alloc_spi(ip("192.0.2.2"), ip("192.0.2.1"), IpsecProto::Esp, 16400)
            .await
            .unwrap();
        let scratch = PolicySpec::new(
            nets().reversed(),
            Dir::In,
            PolicyAction::Ipsec(vec![tunnel(16400)]),
        );
        k.add_policy(&scratch).await.unwrap();
        k.del_policy(&scratch.id()).await.unwrap();
        let trap = PolicySpec::new(nets(), Dir::Out, PolicyAction::trap(tunnel(16400)));
        k.add_policy(&trap).await.unwrap();

        let sock = UdpSocket::bind("198.51.100.1:0").unwrap();
        let _ = sock.send_to(b"hello", "203.0.113.7:9");
        let ev = tokio::time::timeout(Duration::from_secs(5), events.next())
            .await
            .expect("no ACQUIRE within 5 s")
            .unwrap();
        match ev {
            KernelEvent::Acquire {
                src,
                dst,
                proto,
                selector,
                reqid,
                policy_dir,
                ..
            } => {
                assert_eq!(src, ip("192.0.2.1"));
                assert_eq!(dst, ip("192.0.2.2"));
                assert_eq!(proto, Some(IpsecProto::Esp));
                assert_eq!(reqid, Some(16400));
                assert_eq!(policy_dir, Some(Dir::Out));
                assert!(selector.dst.contains(ip("203.0.113.7")), "{selector}");
                assert_eq!(selector.proto, 17);
            }
            other => panic!("expected ACQUIRE first, got {other:?}"),
        }
    });
}

#[test]
fn policy_lifetime_raises_polexpire() {
    in_fresh_netns("policy_lifetime_raises_polexpire", || async {
        let (k, mut events) = Kernel::new().unwrap();
        let mut p = PolicySpec::new(nets(), Dir::Out, PolicyAction::Drop);
        p.lifetimes = Lifetimes::default();
        p.lifetimes.hard.add_seconds = 1;
        k.add_policy(&p).await.unwrap();
        let ev = common::wait_event(&mut events, 6, |e| {
            matches!(e, KernelEvent::PolExpire { .. })
        })
        .await;
        match ev {
            KernelEvent::PolExpire {
                selector,
                dir,
                hard,
                ..
            } => {
                assert_eq!(selector, Some(nets()));
                assert_eq!(dir, Some(Dir::Out));
                assert!(hard);
            }
            other => panic!("{other:?}"),
        }
        // a hard-expired policy is gone
        assert!(k.policies().await.unwrap().is_empty());
    });
}

#[test]
fn interfaces_addresses_and_routes() {
    in_fresh_netns("interfaces_addresses_and_routes", || async {
        run(&[
            "ip", "link", "add", "v0", "type", "veth", "peer", "name", "v1",
        ]);
        run(&["ip", "link", "set", "v0", "up"]);
        run(&["ip", "link", "set", "v1", "up"]);
        run(&["ip", "addr", "add", "192.0.2.1/24", "dev", "v0"]);
        run(&["ip", "addr", "add", "2001:db8::1/64", "dev", "v0", "nodad"]);
        run(&[
            "ip",
            "route",
            "add",
            "default",
            "via",
            "192.0.2.254",
            "dev",
            "v0",
        ]);
        let (k, _ev) = Kernel::new().unwrap();
        let ifs = k.interfaces().await.unwrap();
        let lo = ifs.iter().find(|i| i.name == "lo").expect("lo listed");
        assert!(lo.up && lo.loopback);
        assert!(lo.addrs.contains(&(ip("127.0.0.1"), 8)), "{:?}", lo.addrs);
        let v0 = ifs.iter().find(|i| i.name == "v0").expect("v0 listed");
        assert!(v0.up && !v0.loopback);
        assert_eq!(v0.mtu, 1500);
        assert!(v0.addrs.contains(&(ip("192.0.2.1"), 24)), "{:?}", v0.addrs);
        assert!(
            v0.addrs.contains(&(ip("2001:db8::1"), 64)),
            "{:?}",
            v0.addrs
        );
        let r = k.route_to(ip("203.0.113.9")).await.unwrap();
        assert_eq!(r.gateway, Some(ip("192.0.2.254")));
        assert_eq!(r.oif, Some(v0.index));
        assert_eq!(r.pref_src, Some(ip("192.0.2.1")));
        let d = k
            .default_route(false)
            .await
            .unwrap()
            .expect("default route");
        assert_eq!(d.gateway, Some(ip("192.0.2.254")));
        assert_eq!(d.prefix, 0);
        assert!(k.default_route(true).await.unwrap().is_none());
    });
}

#[test]
fn ike_socket_options() {
    in_fresh_netns("ike_socket_options", || async {
        let (k, _ev) = Kernel::new().unwrap();
        let s4 = UdpSocket::bind("127.0.0.1:0").unwrap();
        kernel::socket::set_udp_encap(s4.as_fd()).unwrap();
        kernel::socket::bypass_ipsec(s4.as_fd()).unwrap();
        let s6 = UdpSocket::bind("[::1]:0").unwrap();
        kernel::socket::bypass_ipsec(s6.as_fd()).unwrap();
        // socket policies are not global policies, and never this daemon's to flush
        assert!(k.owned_policies().await.unwrap().is_empty());
        // the bypass really lets traffic through a drop-everything policy
        for dir in [Dir::Out, Dir::In] {
            let p = PolicySpec::new(
                Selector::new(kernel::Subnet::any(false), kernel::Subnet::any(false)).unwrap(),
                dir,
                PolicyAction::Drop,
            );
            k.add_policy(&p).await.unwrap();
        }
        let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
        kernel::socket::bypass_ipsec(peer.as_fd()).unwrap();
        peer.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        s4.send_to(b"ike", peer.local_addr().unwrap()).unwrap();
        let mut buf = [0u8; 8];
        let (n, _) = peer.recv_from(&mut buf).expect("bypassed datagram");
        assert_eq!(&buf[..n], b"ike");
        // without the bypass the same datagram is blocked
        let plain = UdpSocket::bind("127.0.0.1:0").unwrap();
        assert!(plain.send_to(b"x", peer.local_addr().unwrap()).is_err());
    });
}

/// On a kernel without ESP an AEAD SA is refused with "algorithm not found"
/// (the kernel looks the algorithm up first); the error must then say that ESP
/// is missing, not GCM. On a kernel with ESP and GCM the SA is simply added.
#[test]
fn aead_sa_on_a_kernel_without_esp_says_esp_is_missing() {
    in_fresh_netns("aead_sa_without_esp", || async {
        common::load_modules();
        let (k, _ev) = Kernel::new().unwrap();
        let aead = common::esp_spec(
            ip("192.0.2.1"),
            ip("192.0.2.2"),
            0x3100,
            Mode::Tunnel,
            kernel::SaCrypto::Esp {
                encr: kernel::Encr::AesGcm { icv_bytes: 16 },
                encr_key: common::key(20, 3),
                integ: None,
            },
        );
        let plain = common::esp_spec(
            ip("192.0.2.1"),
            ip("192.0.2.2"),
            0x3101,
            Mode::Tunnel,
            common::cbc_sha256(),
        );
        let esp = match k.add_sa(&plain).await {
            Ok(()) => true,
            Err(e) if e.is_no_ipsec_support() => false,
            Err(e) => panic!("{e}"),
        };
        match k.add_sa(&aead).await {
            Ok(()) => assert!(esp, "an AEAD SA without ESP?"),
            Err(e) => {
                let s = e.to_string();
                if esp {
                    assert!(s.contains("crypto algorithm"), "{s}");
                } else {
                    assert!(s.contains("this kernel has no ESP support"), "{s}");
                    assert!(!s.contains("crypto algorithm"), "{s}");
                }
                // The probe left nothing behind.
                let left = k.sas().await.unwrap();
                assert!(left.iter().all(|i| i.id.spi != 0x3100), "{left:?}");
            }
        }
    });
}

#[test]
fn fake_xfrm_acknowledges_every_request_and_the_kernel_sees_none() {
    in_fresh_netns(
        "fake_xfrm_acknowledges_every_request_and_the_kernel_sees_none",
        || async {
            let (fake, _silent) = Kernel::fake_xfrm(Ownership::default()).unwrap();
            let (real, _ev) = Kernel::new().unwrap();
            // Accepted whether or not this kernel has ESP (the host here has none).
            let sa = common::esp_spec(
                ip("192.0.2.1"),
                ip("192.0.2.2"),
                0x1234_5678,
                Mode::Tunnel,
                common::cbc_sha256(),
            );
            fake.add_sa(&sa).await.unwrap();
            let pol = PolicySpec::new(nets(), Dir::Out, PolicyAction::Drop);
            fake.replace_policy(&pol).await.unwrap();
            fake.del_policy(&pol.id()).await.unwrap();
            let batch = fake
                .apply(&[
                    Change::AddSa(&sa),
                    Change::ReplacePolicy(&pol),
                    Change::DelPolicy(&pol.id()),
                ])
                .await;
            assert!(batch.iter().all(|r| r.is_ok()), "{batch:?}");
            assert!(fake.sas().await.unwrap().is_empty());
            // Nothing reached the kernel.
            assert!(real.sas().await.unwrap().is_empty());
            assert!(real.policies().await.unwrap().is_empty());
            // Interfaces are the real ones.
            assert!(!fake.interfaces().await.unwrap().is_empty());
        },
    );
}

/// `Kernel::apply` sends its changes together and reports each one as the single
/// call would: a refused change in the middle (a duplicate, a missing one, one that
/// is invalid before it is sent) leaves the others done, and a batch larger than one
/// datagram is split and still complete.
#[test]
fn apply_reports_every_change_of_a_batch_on_its_own() {
    in_fresh_netns("apply_reports_every_change_of_a_batch", || async {
        common::load_modules();
        let (k, _ev) = Kernel::new().unwrap();
        let out = PolicySpec::new(nets(), Dir::Out, PolicyAction::Ipsec(vec![tunnel(16384)]));
        let inb = PolicySpec::new(
            nets().reversed(),
            Dir::In,
            PolicyAction::Ipsec(vec![tunnel(16384)]),
        );
        let empty = PolicySpec::new(
            Selector::new(
                "198.51.100.7/32".parse().unwrap(),
                "203.0.113.7/32".parse().unwrap(),
            )
            .unwrap(),
            Dir::Out,
            PolicyAction::Ipsec(vec![]),
        );
        let missing = PolicySpec::new(
            Selector::new(
                "198.51.100.9/32".parse().unwrap(),
                "203.0.113.9/32".parse().unwrap(),
            )
            .unwrap(),
            Dir::Fwd,
            PolicyAction::Drop,
        );
        let r = k
            .apply(&[
                Change::AddPolicy(&out),
                Change::AddPolicy(&out),
                Change::AddPolicy(&empty),
                Change::DelPolicy(&missing.id()),
                Change::AddPolicy(&inb),
            ])
            .await;
        assert_eq!(r.len(), 5);
        assert!(r[0].is_ok(), "{:?}", r[0]);
        let dup = r[1].as_ref().unwrap_err();
        assert_eq!(dup.errno(), Some(libc::EEXIST), "{dup}");
        assert!(dup.to_string().contains("adding a policy"), "{dup}");
        let inval = r[2].as_ref().unwrap_err();
        assert!(
            inval.to_string().contains("at least one template"),
            "{inval}"
        );
        assert!(r[3].as_ref().unwrap_err().is_not_found(), "{:?}", r[3]);
        assert!(r[4].is_ok(), "{:?}", r[4]);
        let mut got: Vec<_> = k
            .owned_policies()
            .await
            .unwrap()
            .into_iter()
            .filter_map(|p| p.dir)
            .collect();
        got.sort_by_key(|d| format!("{d:?}"));
        assert_eq!(got, vec![Dir::In, Dir::Out]);

        // A shunt installed in a batch is remembered as the handle's own, as
        // replace_policy's is: flush_owned removes it.
        let r = k.apply(&[Change::ReplacePolicy(&missing)]).await;
        assert!(r[0].is_ok(), "{:?}", r[0]);

        // 600 policies (about 100 KB of requests): several datagrams, all applied.
        let many: Vec<PolicySpec> = (0..600u32)
            .map(|i| {
                let a = std::net::Ipv4Addr::from(0xc633_6400 | (i & 0xff)); // 198.51.100.x
                let b = std::net::Ipv4Addr::from(0xcb00_7100 | (i >> 8)); // 203.0.113.y
                PolicySpec::new(
                    Selector::new(
                        format!("{a}/32").parse().unwrap(),
                        format!("{b}/32").parse().unwrap(),
                    )
                    .unwrap(),
                    Dir::Out,
                    PolicyAction::Ipsec(vec![tunnel(16400 + i)]),
                )
            })
            .collect();
        let changes: Vec<Change<'_>> = many.iter().map(Change::AddPolicy).collect();
        let r = k.apply(&changes).await;
        assert!(
            r.iter().all(|x| x.is_ok()),
            "{:?}",
            r.iter().find(|x| x.is_err())
        );
        assert_eq!(k.owned_policies().await.unwrap().len(), 3 + 600);
        let ids: Vec<_> = many.iter().map(|p| p.id()).collect();
        let changes: Vec<Change<'_>> = ids.iter().map(Change::DelPolicy).collect();
        let r = k.apply(&changes).await;
        assert!(
            r.iter().all(|x| x.is_ok()),
            "{:?}",
            r.iter().find(|x| x.is_err())
        );
        assert_eq!(k.owned_policies().await.unwrap().len(), 3);
        let report = k.flush_owned().await.unwrap();
        assert_eq!(report.policies, 3, "{report:?}");
        assert!(k.policies().await.unwrap().is_empty());
    });
}

/// An SA install in a batch gets the single call's diagnosis: on a kernel without
/// ESP, "no ESP support" after the same probe; with ESP the SA is there. The batch's
/// other changes are unaffected either way.
#[test]
fn apply_installs_sas_with_the_single_calls_diagnosis() {
    in_fresh_netns("apply_installs_sas", || async {
        common::load_modules();
        let (k, _ev) = Kernel::new().unwrap();
        let sa = common::esp_spec(
            ip("192.0.2.1"),
            ip("192.0.2.2"),
            0x3200,
            Mode::Tunnel,
            common::cbc_sha256(),
        );
        let pol = PolicySpec::new(nets(), Dir::Out, PolicyAction::Ipsec(vec![tunnel(16384)]));
        let single = k.add_sa(&sa).await.err().map(|e| e.to_string());
        if single.is_none() {
            k.del_sa(&sa.id, None).await.unwrap();
        }
        let r = k
            .apply(&[Change::AddSa(&sa), Change::AddPolicy(&pol)])
            .await;
        assert_eq!(r[0].as_ref().err().map(|e| e.to_string()), single);
        assert!(r[1].is_ok(), "{:?}", r[1]);
        let r = k
            .apply(&[Change::DelPolicy(&pol.id()), Change::DelSa(&sa.id, None)])
            .await;
        assert!(r[0].is_ok(), "{:?}", r[0]);
        assert_eq!(r[1].is_ok(), single.is_none(), "{:?}", r[1]);
        assert!(k.sas().await.unwrap().is_empty());
    });
}
