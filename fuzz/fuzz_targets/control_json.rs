//! Decodes arbitrary bytes as a control-socket line: a whack envelope (what pluto
//! reads) and a reply (what whack reads). Nothing may panic; an envelope that decodes
//! re-encodes to a line that decodes to the same envelope.
#![no_main]

use control::wire::{decode_envelope, encode_line, Reply};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(env) = decode_envelope(data) {
        let line = encode_line(&env).expect("a decoded envelope encodes");
        let again = decode_envelope(line.strip_suffix(b"\n").unwrap_or(&line))
            .expect("an encoded envelope decodes");
        assert_eq!(again, env);
    }
    let _ = serde_json::from_slice::<Reply>(data);
});
