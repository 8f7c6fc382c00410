//! Shared helpers for the end-to-end tests: namespaces, skipping, and the two-host
//! veth topology the ESP cases use.
//!
//! Tests that need root or network namespaces print why and return (pass) when those
//! are missing; tests that need ESP do the same when the kernel has none, unless
//! `PLUTO_TESTNET=1` (set by `cargo xtask testnet` inside UML), where a skip would hide
//! a broken test bed and so is a failure instead.

#![allow(dead_code)]

use std::future::Future;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use kernel::{
    Encr, EventStream, Integ, IpsecProto, Kernel, KernelEvent, Mode, Ownership, SaCrypto, SaId,
    SaSpec, SecretKey,
};

/// True inside the project's test net, where skipping is not allowed.
pub fn in_testnet() -> bool {
    std::env::var_os("PLUTO_TESTNET").is_some_and(|v| v == "1")
}

fn skip(test: &str, why: &str) {
    if in_testnet() {
        panic!("{test}: cannot run in the test net: {why}");
    }
    eprintln!("skipped {test}: {why}");
}

/// Whether this process may create network namespaces (root with CAP_SYS_ADMIN).
pub fn can_unshare() -> bool {
    static OK: OnceLock<bool> = OnceLock::new();
    *OK.get_or_init(|| {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return false;
        }
        std::thread::spawn(|| {
            // SAFETY: unshare on this short-lived thread only.
            unsafe { libc::unshare(libc::CLONE_NEWNET) == 0 }
        })
        .join()
        .unwrap_or(false)
    })
}

/// Runs `f` on a current-thread runtime, on a thread inside a fresh, private network
/// namespace (gone when the thread ends). Skips without root.
pub fn in_fresh_netns<F, Fut>(test: &str, f: F)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = ()>,
{
    if !can_unshare() {
        return skip(test, "needs root and network namespaces (run as root)");
    }
    let r = std::thread::spawn(move || {
        // SAFETY: affects only this thread, which owns the namespace for its life.
        assert_eq!(unsafe { libc::unshare(libc::CLONE_NEWNET) }, 0);
        let _ = Command::new("ip")
            .args(["link", "set", "lo", "up"])
            .status();
        // Loopback skips XFRM by default; these tests use it as their only link.
        for knob in ["disable_xfrm", "disable_policy"] {
            let _ = std::fs::write(format!("/proc/sys/net/ipv4/conf/lo/{knob}"), "0");
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        rt.block_on(f());
    })
    .join();
    if let Err(p) = r {
        std::panic::resume_unwind(p);
    }
}

/// Whether the kernel can hold ESP SAs (probed once in a throwaway namespace).
pub fn esp_available() -> bool {
    static OK: OnceLock<bool> = OnceLock::new();
    *OK.get_or_init(|| {
        if !can_unshare() {
            return false;
        }
        load_modules();
        std::thread::spawn(|| {
            // SAFETY: this thread only.
            if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
                return false;
            }
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("tokio runtime");
            rt.block_on(async {
                let Ok((k, _ev)) = Kernel::new() else {
                    return false;
                };
                let spec = esp_spec(
                    ip("192.0.2.1"),
                    ip("192.0.2.2"),
                    0x2000,
                    Mode::Tunnel,
                    cbc_sha256(),
                );
                match k.add_sa(&spec).await {
                    Ok(()) => true,
                    Err(e) => {
                        eprintln!("ESP probe: {e}");
                        false
                    }
                }
            })
        })
        .join()
        .unwrap_or(false)
    })
}

/// Loads the modules the ESP cases use (harmless where built in or absent).
pub fn load_modules() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        if std::path::Path::new("/sys/module/esp4").exists() {
            return; // loaded already (the test net's guest does it once)
        }
        for m in [
            "xfrm_user",
            "esp4",
            "esp6",
            "ah4",
            "ah6",
            "xfrm4_tunnel",
            "xfrm6_tunnel",
            "ipcomp",
            "ipcomp6",
            "deflate",
            "veth",
            "gcm",
            "ccm",
            "ctr",
            "seqiv",
            "echainiv",
            "chacha20poly1305",
            "cmac",
            "xcbc",
            "des3_ede",
            "des_generic",
            "sha512",
            "sha512_generic",
            "sha256",
            "sha1",
            "md5",
            "camellia_generic",
        ] {
            let _ = Command::new("modprobe")
                .arg("-q")
                .arg(m)
                .stderr(std::process::Stdio::null())
                .status();
        }
    });
}

/// Skips (returns false) unless ESP is available; in the test net a missing ESP is a
/// failure.
pub fn need_esp(test: &str) -> bool {
    if !can_unshare() {
        skip(test, "needs root and network namespaces (run as root)");
        return false;
    }
    if !esp_available() {
        skip(
            test,
            "this kernel has no ESP support (run `cargo xtask testnet kernel`, which uses the UML kernel)",
        );
        return false;
    }
    true
}

pub fn ip(s: &str) -> IpAddr {
    s.parse().expect("address literal")
}

pub fn key(len: usize, seed: u8) -> SecretKey {
    SecretKey::new(
        (0..len)
            .map(|i| (i as u8).wrapping_mul(7).wrapping_add(seed))
            .collect(),
    )
}

pub fn cbc_sha256() -> SaCrypto {
    SaCrypto::Esp {
        encr: Encr::AesCbc,
        encr_key: key(16, 1),
        integ: Some((Integ::HmacSha256_128, key(32, 2))),
    }
}

pub fn esp_spec(src: IpAddr, dst: IpAddr, spi: u32, mode: Mode, crypto: SaCrypto) -> SaSpec {
    SaSpec::new(
        SaId {
            dst,
            spi,
            proto: crypto.proto(),
        },
        src,
        mode,
        16384,
        crypto,
    )
}

/// Runs a shell-free command and panics with its output on failure.
pub fn run(args: &[&str]) {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", args[0]));
    assert!(
        out.status.success(),
        "{:?} failed: {}{}",
        args,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Two namespaces, "west" and "east", joined by a veth pair:
/// outer 192.0.2.1/24 and 2001:db8:1::1/64 (west) to 192.0.2.2 and 2001:db8:1::2 (east);
/// inner (on lo) 198.51.100.1 and 2001:db8:100::1 (west), 203.0.113.1 and
/// 2001:db8:113::1 (east), with routes to the other side's inner prefixes over the veth.
pub struct Pair {
    pub west: String,
    pub east: String,
}

pub const W_OUT4: &str = "192.0.2.1";
pub const E_OUT4: &str = "192.0.2.2";
pub const W_OUT6: &str = "2001:db8:1::1";
pub const E_OUT6: &str = "2001:db8:1::2";
pub const W_IN4: &str = "198.51.100.1";
pub const E_IN4: &str = "203.0.113.1";
pub const W_IN6: &str = "2001:db8:100::1";
pub const E_IN6: &str = "2001:db8:113::1";

impl Pair {
    pub fn new(tag: &str) -> Pair {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tag: String = tag
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .take(12)
            .collect();
        let pid = std::process::id();
        let west = format!("w{pid}-{n}-{tag}");
        let east = format!("e{pid}-{n}-{tag}");
        let pair = Pair { west, east };
        let (w, e) = (pair.west.as_str(), pair.east.as_str());
        run(&["ip", "netns", "add", w]);
        run(&["ip", "netns", "add", e]);
        run(&[
            "ip", "link", "add", "vw", "netns", w, "type", "veth", "peer", "name", "ve", "netns", e,
        ]);
        let side = |dev: &str,
                    out4: &str,
                    out6: &str,
                    in4: &str,
                    in6: &str,
                    gw4: &str,
                    gw6: &str,
                    net4: &str,
                    net6: &str| {
            format!(
                "link set lo up\n\
                 addr add {out4}/24 dev {dev}\n\
                 addr add {out6}/64 dev {dev} nodad\n\
                 addr add {in4}/32 dev lo\n\
                 addr add {in6}/128 dev lo nodad\n\
                 link set {dev} up\n\
                 route add {net4} via {gw4} src {in4}\n\
                 route add {net6} via {gw6} src {in6}\n"
            )
        };
        pair.batch(
            w,
            &side(
                "vw",
                W_OUT4,
                W_OUT6,
                W_IN4,
                W_IN6,
                E_OUT4,
                E_OUT6,
                "203.0.113.0/24",
                "2001:db8:113::/48",
            ),
        );
        pair.batch(
            e,
            &side(
                "ve",
                E_OUT4,
                E_OUT6,
                E_IN4,
                E_IN6,
                W_OUT4,
                W_OUT6,
                "198.51.100.0/24",
                "2001:db8:100::/48",
            ),
        );
        pair
    }

    /// Runs `ip -batch` lines inside namespace `ns`.
    pub fn batch(&self, ns: &str, lines: &str) {
        use std::io::Write;
        let mut child = Command::new("ip")
            .args(["-n", ns, "-batch", "-"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("ip");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(lines.as_bytes())
            .expect("write batch");
        let out = child.wait_with_output().expect("ip -batch");
        assert!(
            out.status.success(),
            "ip -batch failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub fn path(ns: &str) -> PathBuf {
        PathBuf::from(format!("/run/netns/{ns}"))
    }

    pub fn kernels(&self) -> ((Kernel, EventStream), (Kernel, EventStream)) {
        (
            Kernel::in_netns(&Self::path(&self.west), Ownership::default()).expect("west"),
            Kernel::in_netns(&Self::path(&self.east), Ownership::default()).expect("east"),
        )
    }

    /// Pings from `ns` (source `src`) to `dst`; true when answered.
    pub fn ping(&self, ns: &str, src: &str, dst: &str, count: u32, extra: &[&str]) -> bool {
        let count = count.to_string();
        let out = Command::new("ip")
            .args(["netns", "exec", ns, "ping", "-n", "-q", "-c", &count])
            .args(["-i", "0.2", "-W", "2", "-I", src])
            .args(extra)
            .arg(dst)
            .output()
            .expect("ping");
        if !out.status.success() {
            eprintln!(
                "ping {src} -> {dst} in {ns} failed:\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            let xfrm = Command::new("ip")
                .args(["-s", "-n", ns, "xfrm", "state"])
                .output();
            if let Ok(x) = xfrm {
                eprintln!("{}", String::from_utf8_lossy(&x.stdout));
            }
            let stat = std::fs::read_to_string("/proc/net/xfrm_stat");
            if let Ok(s) = stat {
                eprintln!("{s}");
            }
        }
        out.status.success()
    }
}

impl Drop for Pair {
    fn drop(&mut self) {
        for ns in [&self.west, &self.east] {
            let _ = Command::new("ip")
                .args(["netns", "del", ns])
                .stderr(std::process::Stdio::null())
                .status();
        }
    }
}

/// Runs a test body on a current-thread runtime (for the named-namespace tests).
pub fn block_on<Fut: Future<Output = ()>>(f: Fut) {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(f)
}

/// Waits for the first event matching `pred`, failing after `secs`.
pub async fn wait_event(
    events: &mut EventStream,
    secs: u64,
    mut pred: impl FnMut(&KernelEvent) -> bool,
) -> KernelEvent {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let ev = tokio::time::timeout_at(deadline, events.next())
            .await
            .expect("timed out waiting for the kernel event")
            .expect("event stream");
        if pred(&ev) {
            return ev;
        }
    }
}

pub fn esp_id(dst: IpAddr, spi: u32) -> SaId {
    SaId {
        dst,
        spi,
        proto: IpsecProto::Esp,
    }
}
