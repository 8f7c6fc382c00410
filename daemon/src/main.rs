//! pluto: the IKE keying daemon. Owns the sockets, timers and the runtime; the protocol lives in `ike`.
fn main() {
    eprintln!("pluto: not yet wired");
    std::process::exit(1);
}
