//! Runs whack's command-line parser on arbitrary arguments (the input split at NUL
//! bytes). Nothing may panic; every invocation it accepts encodes as a control line.
#![no_main]

use libfuzzer_sys::fuzz_target;
use whack::Parsed;

fuzz_target!(|data: &[u8]| {
    let args: Vec<String> = data
        .split(|b| *b == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    if let Ok(Parsed::Run(inv)) = whack::parse(args) {
        control::wire::encode_line(&inv.envelope).expect("an accepted invocation encodes");
    }
});
