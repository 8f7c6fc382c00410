//! What the XFRM requests of one Child SA cost, one round trip each against one
//! batched exchange (`Kernel::apply`). Needs root: it runs in a private network
//! namespace of its own and says so and does nothing otherwise.
//!
//! The changes are policies (an IPsec policy out, in and fwd, then their deletes):
//! they work on any kernel with XFRM netlink, where SAs need ESP, which the
//! development host lacks. Run: `cargo bench -p pluto-kernel --bench netlink`.

use std::net::IpAddr;

use criterion::{criterion_group, criterion_main, Criterion};
use kernel::{Change, Dir, IpsecProto, Kernel, PolicyAction, PolicySpec, Selector, Template};

fn policies() -> Vec<PolicySpec> {
    let ip = |s: &str| s.parse::<IpAddr>().expect("address");
    let t = Template::tunnel(IpsecProto::Esp, ip("192.0.2.1"), ip("192.0.2.2"), 16384);
    let out = Selector::new(
        "198.51.100.0/24".parse().expect("subnet"),
        "203.0.113.0/24".parse().expect("subnet"),
    )
    .expect("selector");
    vec![
        PolicySpec::new(out, Dir::Out, PolicyAction::Ipsec(vec![t])),
        PolicySpec::new(out.reversed(), Dir::In, PolicyAction::Ipsec(vec![t])),
        PolicySpec::new(out.reversed(), Dir::Fwd, PolicyAction::Ipsec(vec![t])),
    ]
}

fn bench(c: &mut Criterion) {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("netlink bench skipped: needs root (a private network namespace)");
        return;
    }
    // SAFETY: the bench's main thread moves into a private namespace of its own.
    if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
        eprintln!("netlink bench skipped: cannot unshare the network namespace");
        return;
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let (k, _ev) = rt.block_on(async { Kernel::new() }).expect("XFRM netlink");
    let ps = policies();
    let ids: Vec<_> = ps.iter().map(|p| p.id()).collect();
    let mut g = c.benchmark_group("xfrm 3 policies added and deleted");
    g.bench_function("one request each", |b| {
        b.iter(|| {
            rt.block_on(async {
                for p in &ps {
                    k.replace_policy(p).await.expect("policy");
                }
                for id in &ids {
                    k.del_policy(id).await.expect("delete");
                }
            })
        })
    });
    g.bench_function("apply, two batches", |b| {
        let add: Vec<Change<'_>> = ps.iter().map(Change::ReplacePolicy).collect();
        let del: Vec<Change<'_>> = ids.iter().map(Change::DelPolicy).collect();
        b.iter(|| {
            rt.block_on(async {
                assert!(k.apply(&add).await.iter().all(|r| r.is_ok()));
                assert!(k.apply(&del).await.iter().all(|r| r.is_ok()));
            })
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
