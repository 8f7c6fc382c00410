//! cargo xtask: test-net runner, benchmarks, fuzzing and release helpers.
fn main() {
    eprintln!("usage: cargo xtask <testnet|bench|fuzz>");
    std::process::exit(2);
}
