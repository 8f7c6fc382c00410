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
