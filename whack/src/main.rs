//! whack: the thin control client that drives pluto over its control socket.
fn main() {
    eprintln!("whack: not yet wired");
    std::process::exit(1);
}
