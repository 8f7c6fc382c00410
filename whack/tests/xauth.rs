//! whack answers pluto's XAUTH prompts (041 user name, 040 password) from
//! --xauthuser/--xauthpass without a terminal, and streams lines as they come.

use control::server::{Command, Server};
use control::{rc, Request};
use tokio::sync::mpsc;

#[test]
fn prompts_are_answered_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pluto.ctl");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt.block_on(async { Server::bind(&path) }).unwrap();
    let (tx, mut rx) = mpsc::channel::<Command>(4);
    rt.spawn(server.run(tx));
    rt.spawn(async move {
        while let Some(Command {
            envelope,
            mut responder,
        }) = rx.recv().await
        {
            let asked = matches!(envelope.requests.as_slice(), [Request::Initiate { .. }]);
            responder.comment("initiating");
            if asked {
                let u = responder.prompt(rc::USERPROMPT, "XAUTH username:").await;
                let p = responder.prompt(rc::ENTERSECRET, "XAUTH password:").await;
                let ok = u.as_ref().map(|s| s.expose()) == Some("alice")
                    && p.as_ref().map(|s| s.expose()) == Some("wonderland");
                if ok {
                    responder.comment("XAUTH: user alice authenticated");
                } else {
                    responder.line(rc::FATAL, "XAUTH: bad credentials");
                }
            }
        }
    });
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let st = whack::run::run(
        [
            "--ctlsocket",
            path.to_str().unwrap(),
            "--initiate",
            "--name",
            "road",
            "--xauthuser",
            "alice",
            "--xauthpass",
            "wonderland",
        ],
        &mut out,
        &mut err,
    );
    let out = String::from_utf8(out).unwrap();
    assert_eq!(st, 0, "{out}{}", String::from_utf8_lossy(&err));
    assert_eq!(out, "initiating\nXAUTH: user alice authenticated\n");
    assert!(!out.contains("wonderland"));
}
