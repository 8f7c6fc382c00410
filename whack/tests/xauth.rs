//! XAUTH is IKEv1-only and pluto-rs has none: whack refuses --xauthuser/--xauthpass
//! with one line and exit 1, before contacting pluto.

use control::server::{Command, Server};
use control::Request;
use tokio::sync::mpsc;

#[test]
fn xauth_options_refused_before_contacting_pluto() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pluto.ctl");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt.block_on(async { Server::bind(&path) }).unwrap();
    let (tx, mut rx) = mpsc::channel::<Command>(4);
    rt.spawn(server.run(tx));
    let (seen_tx, mut seen_rx) = mpsc::unbounded_channel::<Vec<Request>>();
    rt.spawn(async move {
        while let Some(Command {
            envelope,
            mut responder,
        }) = rx.recv().await
        {
            responder.comment("ok");
            let _ = seen_tx.send(envelope.requests);
        }
    });
    let ctl = path.to_str().unwrap();
    for (opt, val) in [("--xauthuser", "alice"), ("--xauthpass", "wonderland")] {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let st = whack::run::run(
            ["--ctlsocket", ctl, "--initiate", "--name", "road", opt, val],
            &mut out,
            &mut err,
        );
        let err = String::from_utf8(err).unwrap();
        assert_eq!(st, 1, "{err}");
        assert!(out.is_empty());
        assert_eq!(
            err,
            format!("whack: {opt}: XAUTH is an IKEv1 mechanism and is not supported by pluto-rs\n")
        );
        assert!(!err.contains("wonderland"));
    }
    // The first request pluto ever sees is the one sent after the refusals.
    let (mut out, mut err) = (Vec::new(), Vec::new());
    assert_eq!(
        whack::run::run(["--ctlsocket", ctl, "--fipsstatus"], &mut out, &mut err),
        0
    );
    let first = rt.block_on(seen_rx.recv()).unwrap();
    assert!(
        matches!(first.as_slice(), [Request::Status { .. }]),
        "{first:?}"
    );
}
