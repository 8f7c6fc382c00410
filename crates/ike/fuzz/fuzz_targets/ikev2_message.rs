//! Decodes arbitrary bytes as an IKEv2 datagram and as a decrypted inner payload
//! chain. Whatever decodes must re-encode, and the re-encoding must decode to the same
//! value (and, for whole messages, to the same SK/SKF location).
#![no_main]

use ike::codec::v2;
use ike::registry::PayloadType;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok((m, span)) = v2::Message::decode_located(data) {
        let bytes = m.to_bytes().expect("a decoded message re-encodes");
        let (again, span2) = v2::Message::decode_located(&bytes).expect("re-encoding decodes");
        assert_eq!(again, m);
        assert_eq!(again.to_bytes().expect("canonical"), bytes);
        if let Some(s) = span {
            let s2 = span2.expect("SK/SKF still located");
            assert_eq!(data.len() - s.body_start, bytes.len() - s2.body_start);
            assert_eq!(&data[s.body()], &bytes[s2.body()]);
        }
    }
    if let Some((&first, rest)) = data.split_first() {
        if let Ok(chain) = v2::decode_chain(PayloadType(first), rest) {
            let mut out = Vec::new();
            let t = v2::encode_chain(&chain, &mut out).expect("a decoded chain re-encodes");
            assert_eq!(
                v2::decode_chain(t, &out).expect("re-encoded chain decodes"),
                chain
            );
        }
    }
});
