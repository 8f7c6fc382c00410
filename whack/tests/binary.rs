//! The whack binary itself: exit statuses for help, usage errors and no pluto.

use std::process::Command;

fn whack(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_whack"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn help_and_version_exit_0() {
    let (code, out, _) = whack(&["--help"]);
    assert_eq!(code, Some(0));
    assert!(out.starts_with("Usage: whack"), "{out}");
    let (code, out, _) = whack(&["--vers"]);
    assert_eq!(code, Some(0));
    assert!(out.starts_with("pluto-rs whack "), "{out}");
}

#[test]
fn usage_errors_exit_1_with_one_line() {
    for (args, want) in [
        (&["--bogus"][..], "whack: unrecognized option '--bogus'\n"),
        (&["--list"][..], "whack: option '--list' is ambiguous"),
        (
            &["--name"][..],
            "whack: option '--name' requires an argument\n",
        ),
        (&["--route"][..], "whack: --route needs --name\n"),
    ] {
        let (code, out, err) = whack(args);
        assert_eq!(code, Some(1), "{args:?}");
        assert!(out.is_empty());
        assert!(err.starts_with(want), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
}

#[test]
fn no_pluto_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, err) = whack(&["--rundir", dir.path().to_str().unwrap(), "--status"]);
    assert_eq!(code, Some(1));
    assert!(err.starts_with("whack: pluto is not running"), "{err}");
}

/// A whack that may not use the socket (mode 0600, owned by root) says so instead of
/// claiming pluto is not running. Needs root (to drop to nobody with setpriv);
/// skipped, saying so, otherwise.
#[test]
fn non_root_whack_says_permission_denied() {
    use std::os::unix::fs::PermissionsExt;
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let setpriv = std::path::Path::new("/usr/bin/setpriv");
    if !root || !setpriv.exists() {
        eprintln!("SKIP non_root_whack_says_permission_denied: needs root and setpriv(1)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let sock = dir.path().join("pluto.ctl");
    let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = Command::new(setpriv)
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(env!("CARGO_BIN_EXE_whack"))
        .args(["--ctlsocket", sock.to_str().unwrap(), "--status"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.starts_with("whack: permission denied: pluto's control socket"),
        "{err}"
    );
    assert!(err.contains("is root-only"), "{err}");
}
