//! Decodes arbitrary bytes as an ISAKMP/IKEv1 datagram and as a decrypted payload
//! chain with padding. Whatever decodes must re-encode and decode to the same value.
#![no_main]

use ike::codec::v1;
use ike::registry::PayloadType;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = v1::Message::decode(data) {
        let bytes = m.to_bytes().expect("a decoded message re-encodes");
        let again = v1::Message::decode(&bytes).expect("re-encoding decodes");
        assert_eq!(again, m);
        assert_eq!(again.to_bytes().expect("canonical"), bytes);
    }
    if let Some((&first, rest)) = data.split_first() {
        if let Ok(chain) = v1::decode_chain(PayloadType(first), rest) {
            let mut out = Vec::new();
            let t =
                v1::encode_chain(&chain.payloads, &mut out).expect("a decoded chain re-encodes");
            let again = v1::decode_chain(t, &out).expect("re-encoded chain decodes");
            assert_eq!(again.payloads, chain.payloads);
            assert_eq!(again.padding_len, 0);
        }
    }
});
