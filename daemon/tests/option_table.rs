//! The rule "every option acts or is refused", held by docs/whack.md's option tables.
//!
//! Every long option of whack's table (`whack::options::OPTIONS`) and every pluto
//! command-line option (`pluto::args::FLAGS`/`VALUED`) must have a row in the
//! matching table of docs/whack.md that names at least one test, and each named
//! test must exist in the workspace exactly once (a `fn` under `#[test]` or
//! `#[tokio::test]`). A row marked `TODO:` fails: an option whose effect is not shown
//! yet has no place in a release. A row for an option that does not exist fails too.
//!
//! The second test drives the refusals end to end: whack's command line, parsed by
//! whack, carried out by pluto, folded into whack's exit status.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the daemon crate lives in the workspace")
        .to_path_buf()
}

/// One table row: the options it covers, its effect text and its test cell.
#[derive(Debug)]
struct Row {
    options: Vec<String>,
    effect: String,
    tests: String,
}

/// The backticked words of a cell.
fn ticked(cell: &str) -> Vec<String> {
    cell.split('`')
        .enumerate()
        .filter(|(i, _)| i % 2 == 1)
        .map(|(_, w)| w.to_string())
        .collect()
}

/// The rows of the table under the heading `heading` (up to the next heading).
fn table(doc: &str, heading: &str) -> Vec<Row> {
    let mut lines = doc.lines().skip_while(|l| l.trim() != heading);
    assert!(
        lines.next().is_some(),
        "docs/whack.md has no heading \"{heading}\""
    );
    let mut rows = Vec::new();
    for l in lines.take_while(|l| !l.starts_with('#')) {
        let l = l.trim();
        if !l.starts_with('|') || l.starts_with("| ---") || l.starts_with("| option") {
            continue;
        }
        let cells: Vec<&str> = l.trim_matches('|').split(" | ").map(str::trim).collect();
        assert_eq!(cells.len(), 3, "a row has option | effect | test: {l}");
        let options = ticked(cells[0])
            .into_iter()
            .flat_map(|t| {
                t.split_whitespace()
                    .filter(|w| w.starts_with("--"))
                    .map(|w| w.trim_start_matches("--").to_string())
                    .collect::<Vec<_>>()
            })
            .collect();
        rows.push(Row {
            options,
            effect: cells[1].to_string(),
            tests: cells[2].to_string(),
        });
    }
    assert!(!rows.is_empty(), "the table under \"{heading}\" is empty");
    rows
}

/// How many times each test function is defined in the workspace's Rust sources.
fn test_functions() -> BTreeMap<String, usize> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let p = e.path();
            let name = e.file_name();
            if name == "target" || name.to_string_lossy().starts_with('.') {
                continue;
            }
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    walk(&root(), &mut files);
    let mut found = BTreeMap::new();
    for f in files {
        let Ok(text) = std::fs::read_to_string(&f) else {
            continue;
        };
        let lines: Vec<&str> = text.lines().collect();
        for (i, l) in lines.iter().enumerate() {
            let t = l.trim_start();
            let Some(rest) = t
                .strip_prefix("fn ")
                .or_else(|| t.strip_prefix("async fn "))
            else {
                continue;
            };
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            // The attributes right above the fn (doc comments and other attributes
            // may sit in between).
            let is_test = lines[..i]
                .iter()
                .rev()
                .map(|l| l.trim())
                .take_while(|l| l.starts_with("#[") || l.starts_with("///"))
                .any(|l| l.starts_with("#[test]") || l.starts_with("#[tokio::test"));
            if is_test {
                *found.entry(name).or_insert(0) += 1;
            }
        }
    }
    found
}

/// Checks one table against the option names it must cover; returns the problems.
fn check(
    what: &str,
    rows: &[Row],
    names: &BTreeSet<String>,
    tests: &BTreeMap<String, usize>,
) -> Vec<String> {
    let mut problems = Vec::new();
    let mut covered: BTreeMap<&str, usize> = BTreeMap::new();
    for r in rows {
        let label = r.options.join(" --");
        if r.options.is_empty() {
            problems.push(format!("{what}: a row names no option: {r:?}"));
        }
        for o in &r.options {
            if !names.contains(o) {
                problems.push(format!("{what}: row for --{o}, which is not an option"));
            }
            *covered.entry(o.as_str()).or_insert(0) += 1;
        }
        if r.tests.contains("TODO:") {
            problems.push(format!(
                "{what}: --{label}: TODO row (effect not shown by a test yet): {}",
                r.tests
            ));
            continue;
        }
        let refused = r.effect.starts_with("refused");
        if refused && !r.tests.starts_with("refused:") {
            problems.push(format!(
                "{what}: --{label}: a refused option names its refusal test as \"refused: `test`\""
            ));
        }
        let names_here = ticked(&r.tests);
        if names_here.is_empty() {
            problems.push(format!("{what}: --{label}: no test named"));
        }
        for t in names_here {
            let short = t.rsplit("::").next().unwrap_or(&t).to_string();
            match tests.get(&short).copied().unwrap_or(0) {
                1 => {}
                0 => problems.push(format!(
                    "{what}: --{label}: test `{t}` does not exist in the workspace"
                )),
                n => problems.push(format!(
                    "{what}: --{label}: test `{t}` is defined {n} times; name a unique one"
                )),
            }
        }
    }
    for n in names {
        match covered.get(n.as_str()).copied().unwrap_or(0) {
            1 => {}
            0 => problems.push(format!(
                "{what}: --{n} has no row: give it an effect and a test, or refuse it"
            )),
            k => problems.push(format!("{what}: --{n} has {k} rows")),
        }
    }
    problems
}

#[test]
fn every_option_has_a_tested_effect_or_a_tested_refusal() {
    let doc = std::fs::read_to_string(root().join("docs/whack.md")).unwrap();
    let tests = test_functions();
    let whack_names: BTreeSet<String> = whack::options::OPTIONS
        .iter()
        .map(|(n, _, _)| n.to_string())
        .collect();
    let pluto_names: BTreeSet<String> = pluto::args::FLAGS
        .iter()
        .chain(pluto::args::VALUED)
        .map(|n| n.to_string())
        .collect();
    let mut problems = check(
        "whack",
        &table(&doc, "### whack options"),
        &whack_names,
        &tests,
    );
    problems.extend(check(
        "pluto",
        &table(&doc, "### pluto options"),
        &pluto_names,
        &tests,
    ));
    assert!(
        problems.is_empty(),
        "docs/whack.md option tables:\n  {}",
        problems.join("\n  ")
    );
}

#[test]
fn the_table_checker_catches_missing_todo_and_unknown_tests() {
    let doc = "### t\n\n| option | effect | test |\n| --- | --- | --- |\n\
        | `--a` | does a | `real_test` |\n\
        | `--b` | refused: no b | `real_test` |\n\
        | `--c` | in progress | TODO: `later` |\n\
        | `--d` | does d | `no_such_test` |\n\
        | `--gone` | does nothing | `real_test` |\n\n## next\n";
    let rows = table(doc, "### t");
    let names: BTreeSet<String> = ["a", "b", "c", "d", "e"].map(String::from).into();
    let tests: BTreeMap<String, usize> = [("real_test".to_string(), 1)].into();
    let p = check("t", &rows, &names, &tests);
    let has = |s: &str| p.iter().any(|x| x.contains(s));
    assert!(has("--b: a refused option names its refusal test"), "{p:?}");
    assert!(has("--c: TODO row"), "{p:?}");
    assert!(has("test `no_such_test` does not exist"), "{p:?}");
    assert!(has("row for --gone, which is not an option"), "{p:?}");
    assert!(has("--e has no row"), "{p:?}");
    assert!(!has("--a"), "{p:?}");
    assert_eq!(p.len(), 5, "{p:?}");
}

/// Runs one whack command line against an in-process pluto; returns whack's exit
/// status and the lines it would print (pluto's, or whack's own complaint).
fn whack(p: &mut pluto::pluto::Pluto, line: &str) -> (u32, Vec<String>) {
    let words: Vec<String> = line.split_whitespace().map(str::to_string).collect();
    let inv = match whack::parse(words) {
        Ok(whack::Parsed::Run(inv)) => inv,
        Ok(other) => panic!("{line}: {other:?}"),
        Err(e) => return (1, vec![format!("whack: {e}")]),
    };
    let (r, mut rx, _answers) = control::server::Responder::detached();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (_flow, r) = rt.block_on(p.handle(&inv.envelope, r));
    drop(r);
    let mut status = control::rc::ExitStatus::default();
    let mut lines = Vec::new();
    while let Ok(m) = rx.try_recv() {
        if let control::Reply::Line { code, text } = m {
            status.observe(code);
            lines.push(text);
        }
    }
    (status.code(), lines)
}

#[test]
fn refused_options_exit_non_zero_with_one_line_naming_them() {
    let mut p = pluto::pluto::Pluto::new(pluto::args::Options {
        secretsfile: "/nonexistent/ipsec.secrets".into(),
        ..pluto::args::Options::default()
    });
    const CONN: &str = "--name c --host 192.0.2.1 --to --host 192.0.2.2 --psk --encrypt";
    let add = |extra: &str| format!("{CONN} {extra}");
    let problem = control::rc::WHACK_PROBLEM;
    for (line, code, want) in [
        (add("--compress"), problem, "\"c\": failed to add connection: --compress (compress=yes): IPComp is not supported yet"),
        (add("--ikev1"), problem, "--ikev1 (keyexchange=ikev1): IKEv1 is not implemented"),
        (add("--ikev1 --aggrmode"), problem, "--ikev1 (keyexchange=ikev1)"),
        (add("--aggrmode"), problem, "--aggrmode (aggressive=yes)"),
        (add("--rsasig"), problem, "--rsasig (authby=rsasig)"),
        (add("--cert west"), problem, "right --cert (rightcert=)"),
        (add("--ckaid 0a0b"), problem, "right --ckaid"),
        (add("--ca CN=ca"), problem, "right --ca"),
        (add("--groups g"), problem, "right --groups"),
        (add("--sendcert never"), problem, "right --sendcert"),
        (add("--sendca all"), problem, "right --sendca"),
        (add("--certtype 4"), problem, "right --certtype"),
        (add("--dnskeyondemand"), problem, "right --dnskeyondemand"),
        (add("--xauthserver"), problem, "right --xauthserver"),
        (add("--xauthclient"), problem, "right --xauthclient"),
        (add("--modecfgserver"), problem, "right --modecfgserver"),
        (add("--modecfgclient"), problem, "right --modecfgclient"),
        (add("--modecfgdns 192.0.2.53"), problem, "right --modecfgdns"),
        (add("--modecfgdomains example.com"), problem, "right --modecfgdomains"),
        (add("--modecfgbanner hi"), problem, "right --modecfgbanner"),
        (add("--modecfgpull"), problem, "--modecfgpull"),
        ("--impair revival".into(), problem, "--impair revival: impairments are not implemented"),
        ("--no-impair revival".into(), problem, "--no-impair revival"),
        ("--global-redirect yes".into(), problem, "--global-redirect yes: IKEv2 redirect"),
        ("--global-redirect-to 192.0.2.9".into(), problem, "--global-redirect-to 192.0.2.9"),
        ("--redirect-to 192.0.2.9".into(), problem, "--redirect-to 192.0.2.9"),
        ("--purgeocsp".into(), problem, "--purgeocsp: OCSP is not supported"),
        ("--fetchcrls".into(), control::rc::CRLERROR, "--fetchcrls: X.509 CRLs"),
        ("--rereadcrls".into(), control::rc::CRLERROR, "--rereadcrls: obsolete"),
        (
            "--oppohere 192.0.2.1 --oppothere 203.0.113.5 --opposport 0 --oppodport 80 --oppoproto tcp".into(),
            control::rc::OPPOFAILURE,
            "--oppohere 192.0.2.1 --oppothere 203.0.113.5: opportunistic encryption is not supported",
        ),
        ("--keyid @east --pubkeyrsa 0sAQO".into(), 1, "whack: --keyid: raw public keys"),
        ("--initiate --name c --xauthuser u".into(), 1, "whack: --xauthuser: XAUTH"),
        ("--initiate --name c --xauthpass p".into(), 1, "whack: --xauthpass: XAUTH"),
    ] {
        let (st, lines) = whack(&mut p, &line);
        assert_eq!(st, code, "{line}: {lines:?}");
        let refusals: Vec<&String> = lines.iter().filter(|l| l.contains(want)).collect();
        assert_eq!(refusals.len(), 1, "{line}: want one line with {want:?}: {lines:?}");
        assert!(p.conns.find("c").is_none(), "{line}: the connection was added");
    }
    // The truthful forms of partly refused options still act.
    for f in ["yes", "no", "force"] {
        let (st, lines) = whack(&mut p, &add(&format!("--fragmentation {f}")));
        assert_eq!(st, 0, "{f}: {lines:?}");
        let (st, _) = whack(&mut p, "--delete --name c");
        assert_eq!(st, 0);
    }
    let (st, lines) = whack(&mut p, "--global-redirect no --impair list --impair none");
    assert_eq!(st, 0, "{lines:?}");
}

#[test]
fn pluto_version_and_ctlsocket_options() {
    use std::process::{Command, Stdio};
    let out = Command::new(env!("CARGO_BIN_EXE_pluto"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("pluto-rs"),
        "{out:?}"
    );
    // --ctlsocket puts the control socket where it says, outside --rundir.
    let dir = tempfile::tempdir().unwrap();
    let ctl = dir.path().join("elsewhere.ctl");
    let run = dir.path().join("run");
    std::fs::create_dir(&run).unwrap();
    let probe = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = probe.local_addr().unwrap().port();
    drop(probe);
    let mut child = Command::new(env!("CARGO_BIN_EXE_pluto"))
        .args(["--nofork", "--ikeport", &port.to_string(), "--rundir"])
        .arg(&run)
        .arg("--ctlsocket")
        .arg(&ctl)
        .arg("--secretsfile")
        .arg(dir.path().join("none"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    // The pid file is written (and locked) before the control socket is bound:
    // wait for both, or a loaded machine sees the first without the second.
    while !(run.join("pluto.pid").exists() && ctl.exists()) {
        assert!(std::time::Instant::now() < deadline, "pluto did not start");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(!run.join("pluto.ctl").exists());
    let (mut o, mut e) = (Vec::new(), Vec::new());
    let st = whack::run::run(
        ["--ctlsocket", ctl.to_str().unwrap(), "--shutdown"],
        &mut o,
        &mut e,
    );
    assert_eq!(st, 0, "{}", String::from_utf8_lossy(&e));
    assert!(child.wait().unwrap().success());
}

#[test]
fn peer_ikeport_is_where_ike_is_sent() {
    let line = "--name c --host 192.0.2.1 --to --host 192.0.2.2 --ikeport 4500 --psk --encrypt";
    let words: Vec<String> = line.split_whitespace().map(str::to_string).collect();
    let Ok(whack::Parsed::Run(inv)) = whack::parse(words) else {
        panic!("{line}")
    };
    let [control::Request::AddConnection { spec }] = inv.envelope.requests.as_slice() else {
        panic!("{:?}", inv.envelope.requests)
    };
    let here = conn::connection::HostAddrs::new(["192.0.2.1".parse::<std::net::IpAddr>().unwrap()]);
    let c = conn::connection::Connection::from_spec((**spec).clone(), &here).unwrap();
    let k = pluto::convert::connection(&c, None).unwrap();
    assert_eq!(k.remote_port, 4500);
    assert_eq!(k.remote_addr.to_string(), "192.0.2.2");
}
