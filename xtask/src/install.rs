//! `cargo xtask install [--destdir DIR] [--no-build]`: puts pluto-rs where
//! libreswan's package puts libreswan, so the `ipsec` command, the service and
//! users' scripts find it: `/usr/libexec/ipsec/{pluto,whack}`, `/usr/sbin/ipsec`,
//! `/usr/lib/systemd/system/ipsec.service`, a sample `/etc/ipsec.conf` and an empty
//! `/etc/ipsec.secrets` (mode 0600) when none exist (an existing one is never
//! touched), and the documentation in `/usr/share/doc/pluto-rs`. `--destdir`
//! installs under a staging root instead of `/`, as packagers do; the unit is then
//! checked with `systemd-analyze verify --root` when systemd-analyze exists.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Where each file goes, relative to the root.
const BINARIES: &[(&str, &str)] = &[
    ("pluto", "usr/libexec/ipsec/pluto"),
    ("whack", "usr/libexec/ipsec/whack"),
    ("ipsec", "usr/sbin/ipsec"),
];
const UNIT: (&str, &str) = (
    "daemon/systemd/ipsec.service",
    "usr/lib/systemd/system/ipsec.service",
);
const DOCS: &[&str] = &[
    "README.md",
    "docs/configuration.md",
    "docs/whack.md",
    "docs/architecture.md",
    "docs/interop.md",
];

/// A first ipsec.conf: one commented example, nothing loaded.
const SAMPLE_CONF: &str = "\
# /etc/ipsec.conf for pluto-rs (libreswan's syntax; see
# /usr/share/doc/pluto-rs/configuration.md). Nothing is loaded until a conn has auto=.
config setup
\tlogfile=/var/log/pluto.log

# conn example
# \tauthby=secret
# \tleft=192.0.2.1
# \tright=192.0.2.2
# \tauto=start

include /etc/ipsec.d/*.conf
";

#[derive(Debug, PartialEq, Eq)]
struct Opts {
    destdir: PathBuf,
    build: bool,
}

fn parse_opts(args: &[String]) -> Result<Opts, String> {
    let mut o = Opts {
        destdir: PathBuf::from("/"),
        build: true,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--destdir" => {
                o.destdir = it.next().ok_or("--destdir needs a directory")?.into();
            }
            "--no-build" => o.build = false,
            other => {
                return Err(format!(
                "unknown option {other:?}; usage: cargo xtask install [--destdir DIR] [--no-build]"
            ))
            }
        }
    }
    Ok(o)
}

/// Copies `from` to `root/rel` with `mode`, creating the directories.
fn put(from: &Path, root: &Path, rel: &str, mode: u32) -> Result<(), String> {
    let to = root.join(rel);
    if let Some(dir) = to.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    std::fs::copy(from, &to).map_err(|e| format!("{} -> {}: {e}", from.display(), to.display()))?;
    std::fs::set_permissions(&to, std::fs::Permissions::from_mode(mode))
        .map_err(|e| format!("{}: {e}", to.display()))?;
    println!("installed {}", to.display());
    Ok(())
}

/// Writes `text` to `root/rel` with `mode` unless the file exists.
fn put_new(text: &str, root: &Path, rel: &str, mode: u32) -> Result<(), String> {
    let to = root.join(rel);
    if to.exists() {
        println!("kept {} (it exists)", to.display());
        return Ok(());
    }
    if let Some(dir) = to.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    std::fs::write(&to, text).map_err(|e| format!("{}: {e}", to.display()))?;
    std::fs::set_permissions(&to, std::fs::Permissions::from_mode(mode))
        .map_err(|e| format!("{}: {e}", to.display()))?;
    println!("installed {}", to.display());
    Ok(())
}

/// Installs from `bins` (a directory with the three binaries) and the source tree
/// `src` under `root`.
fn install_tree(src: &Path, bins: &Path, root: &Path) -> Result<(), String> {
    for (bin, rel) in BINARIES {
        put(&bins.join(bin), root, rel, 0o755)?;
    }
    put(&src.join(UNIT.0), root, UNIT.1, 0o644)?;
    for doc in DOCS {
        let name = Path::new(doc)
            .file_name()
            .unwrap_or_default()
            .to_string_lossy();
        put(
            &src.join(doc),
            root,
            &format!("usr/share/doc/pluto-rs/{name}"),
            0o644,
        )?;
    }
    put_new(SAMPLE_CONF, root, "etc/ipsec.conf", 0o644)?;
    put_new("", root, "etc/ipsec.secrets", 0o600)?;
    std::fs::create_dir_all(root.join("etc/ipsec.d"))
        .map_err(|e| format!("{}: {e}", root.join("etc/ipsec.d").display()))?;
    Ok(())
}

/// `systemd-analyze verify` of the installed unit; `None` when systemd-analyze is
/// not installed (said, not passed).
fn verify_unit(root: &Path) -> Option<Result<(), String>> {
    let unit = root.join(UNIT.1);
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(format!("--root={}", root.display()))
        .arg(&unit)
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stderr).into_owned();
    // A staging root has no system units, so the default dependencies
    // (sysinit.target ...) are "not found" there and verify fails for that alone;
    // every other line about the unit (an unknown key, a missing binary) counts.
    let staging = root != Path::new("/");
    let problems: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("ipsec.service"))
        .filter(|l| !(staging && l.contains("Unit ") && l.contains(".target not found")))
        .collect();
    Some(
        if problems.is_empty() && (out.status.success() || staging) {
            Ok(())
        } else {
            Err(format!(
                "systemd-analyze verify {}:\n{text}",
                unit.display()
            ))
        },
    )
}

/// Entry point; returns the exit code.
pub fn main(root: &Path, args: &[String]) -> Result<i32, String> {
    let o = parse_opts(args)?;
    if o.build {
        let ok = Command::new("cargo")
            .current_dir(root)
            .args(["build", "--release", "-p", "pluto", "-p", "whack"])
            .status()
            .map_err(|e| format!("cannot run cargo build: {e}"))?
            .success();
        if !ok {
            return Err("cargo build --release failed".into());
        }
    }
    install_tree(root, &root.join("target/release"), &o.destdir)?;
    match verify_unit(&o.destdir) {
        Some(Ok(())) => println!("systemd-analyze verify: ipsec.service is valid"),
        Some(Err(e)) => return Err(e),
        None => println!("systemd-analyze not found: the unit was not verified"),
    }
    if o.destdir == Path::new("/") {
        println!("start it with: systemctl daemon-reload && systemctl enable --now ipsec");
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_args as args;

    #[test]
    fn options() {
        assert_eq!(
            parse_opts(&[]).unwrap(),
            Opts {
                destdir: "/".into(),
                build: true
            }
        );
        assert_eq!(
            parse_opts(&args("--destdir /tmp/stage --no-build")).unwrap(),
            Opts {
                destdir: "/tmp/stage".into(),
                build: false
            }
        );
        assert!(parse_opts(&args("--destdir")).is_err());
        assert!(parse_opts(&args("--prefix /usr")).is_err());
    }

    #[test]
    fn installs_libreswans_layout_keeps_existing_config_and_the_unit_verifies() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let tmp = tempfile::tempdir().unwrap();
        let bins = tmp.path().join("bins");
        std::fs::create_dir(&bins).unwrap();
        for (b, _) in BINARIES {
            std::fs::write(bins.join(b), "#!/bin/sh\n").unwrap();
        }
        let root = tmp.path().join("root");
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::write(root.join("etc/ipsec.conf"), "conn mine\n").unwrap();
        install_tree(&src, &bins, &root).unwrap();
        for (_, rel) in BINARIES {
            let m = std::fs::metadata(root.join(rel)).unwrap();
            assert_eq!(m.permissions().mode() & 0o777, 0o755, "{rel}");
        }
        assert_eq!(
            std::fs::read_to_string(root.join("etc/ipsec.conf")).unwrap(),
            "conn mine\n",
            "an existing ipsec.conf is kept"
        );
        let secrets = std::fs::metadata(root.join("etc/ipsec.secrets")).unwrap();
        assert_eq!(secrets.permissions().mode() & 0o777, 0o600);
        let unit = std::fs::read_to_string(root.join(UNIT.1)).unwrap();
        for line in [
            "Type=notify",
            "WatchdogSec=",
            "ExecStart=/usr/libexec/ipsec/pluto --config /etc/ipsec.conf --nofork",
            "ExecReload=/usr/libexec/ipsec/whack --rereadall",
            "CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_BIND_SERVICE CAP_NET_RAW",
        ] {
            assert!(unit.contains(line), "{line}");
        }
        match verify_unit(&root) {
            Some(r) => r.unwrap(),
            None => eprintln!("skipped: systemd-analyze is not installed"),
        }
    }
}
