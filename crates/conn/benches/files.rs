//! What hostile or merely large local files cost to read (issue 10: the reading of
//! ipsec.conf and ipsec.secrets must stay linear and bounded). Run:
//! `cargo bench -p conn --bench files`.
//!
//! - 20,000 conns in one ipsec.conf, parsed and built;
//! - an `also=` chain 50,000 deep (refused at the depth limit; it used to overflow
//!   the stack, and 2,000 deep took 39 s);
//! - 2,000 conns that each pull in the same 32-level `also=` chain (every conn
//!   walks its whole chain);
//! - an ipsec.secrets entry continued over 100,000 lines (it used to be quadratic).

use std::path::Path;

use conn::conf::Config;
use conn::secrets::Secrets;
use criterion::{criterion_group, criterion_main, Criterion};

fn many_conns(n: usize) -> String {
    let mut t = String::new();
    for i in 0..n {
        t.push_str(&format!(
            "conn c{i}\n  left=192.0.2.1\n  right=198.51.100.{}\n  leftid=@west\n  rightid=@east{i}\n  authby=secret\n  auto=add\n",
            i % 250 + 1
        ));
    }
    t
}

fn deep_chain(n: usize) -> String {
    let mut t = String::from("conn c0\n  left=192.0.2.1\n  right=192.0.2.2\n  also=c1\n");
    for i in 1..n {
        t.push_str(&format!("conn c{i}\n  also=c{}\n  auto=ignore\n", i + 1));
    }
    t.push_str(&format!("conn c{n}\n  auto=ignore\n"));
    t
}

fn shared_chain(conns: usize, depth: usize) -> String {
    let mut t = String::new();
    for i in 1..depth {
        t.push_str(&format!("conn l{i}\n  also=l{}\n  auto=ignore\n", i + 1));
    }
    t.push_str(&format!("conn l{depth}\n  ikelifetime=2h\n  auto=ignore\n"));
    for i in 0..conns {
        t.push_str(&format!(
            "conn c{i}\n  left=192.0.2.1\n  right=198.51.100.{}\n  rightid=@east{i}\n  also=l1\n  auto=add\n",
            i % 250 + 1
        ));
    }
    t
}

fn continued_secret(lines: usize) -> String {
    let mut t = String::from("@west @east : PSK \"first\n");
    for _ in 0..lines {
        t.push_str("    part\n");
    }
    t.push_str("    \"\n");
    t
}

fn bench(c: &mut Criterion) {
    let conf = Path::new("/etc/ipsec.conf");
    let mut g = c.benchmark_group("local files");
    g.sample_size(10);
    let t = many_conns(20_000);
    g.bench_function("ipsec.conf, 20,000 conns", |b| {
        b.iter(|| assert_eq!(Config::parse_str(&t, conf).unwrap().conns.len(), 20_000))
    });
    let t = deep_chain(50_000);
    g.bench_function(
        "ipsec.conf, also= chain 50,000 deep (each conn deeper than 32 refused)",
        |b| {
            b.iter(|| {
                let c = Config::parse_str(&t, conf).unwrap();
                assert_eq!(c.errors.len() + c.conns.len(), 50_001);
                assert!(!c.errors.is_empty());
            })
        },
    );
    let t = shared_chain(2_000, 32);
    g.bench_function(
        "ipsec.conf, 2,000 conns each with a 32-level also= chain",
        |b| b.iter(|| assert_eq!(Config::parse_str(&t, conf).unwrap().conns.len(), 2_000 + 32)),
    );
    let t = continued_secret(100_000);
    g.bench_function("ipsec.secrets, one entry over 100,000 lines", |b| {
        b.iter(|| {
            let _ = Secrets::parse_str(&t, Path::new("/etc/ipsec.secrets"));
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
