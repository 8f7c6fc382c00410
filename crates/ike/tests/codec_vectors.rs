//! End-to-end decoding of datagrams written out byte by byte from the RFC layouts
//! (not produced by our encoder), checking every typed field and that re-encoding
//! reproduces the bytes.

use ike::codec::{v1, v2, DecodeError, Spi};
use ike::registry::{
    EncrId, ExchangeType, IdType, KeId, NotifyType, OakleyAttr, PayloadType, PrfId, ProtocolId,
    V1NotifyType,
};

fn unhex(s: &str) -> Vec<u8> {
    let digits: String = s
        .lines()
        .map(|l| l.split('#').next().unwrap_or(""))
        .flat_map(|l| l.chars())
        .filter(|c| !c.is_whitespace())
        .collect();
    hex::decode(digits).expect("test vector is valid hex")
}

/// An IKE_SA_INIT request as RFC 7296 1.2 / 3 lays it out: SA, KE, Ni, N(NAT-D) x2,
/// N(IKEV2_FRAGMENTATION_SUPPORTED), N(SIGNATURE_HASH_ALGORITHMS), V.
const IKE_SA_INIT: &str = "
    0102030405060708 0000000000000000   # SPIi, SPIr
    21 20 22 08 00000000 000000f2       # next SA, v2.0, IKE_SA_INIT, I, msgid 0, len 242
    22 00 0030                          # SA: next KE, len 48
      00 00 002c 01 01 00 04            #   proposal: last, len 44, #1, IKE, no SPI, 4 transforms
        03 00 000c 01 00 0014 800e 0100 #     ENCR AES_GCM_16, key length 256
        03 00 0008 02 00 0007           #     PRF HMAC_SHA2_512
        03 00 0008 04 00 001f           #     KE DH31
        00 00 0008 04 00 0013           #     KE DH19 (last)
    28 00 0028 001f 0000                # KE: next Ni, len 40, DH31
      1111111111111111111111111111111111111111111111111111111111111111
    29 00 0024                          # Ni: next N, len 36
      2222222222222222222222222222222222222222222222222222222222222222
    29 00 001c 00 00 4004               # N(NAT_DETECTION_SOURCE_IP), len 28
      3333333333333333333333333333333333333333
    29 00 001c 00 00 4005               # N(NAT_DETECTION_DESTINATION_IP)
      4444444444444444444444444444444444444444
    29 00 0008 00 00 402e               # N(IKEV2_FRAGMENTATION_SUPPORTED)
    2b 00 000e 00 00 402f 0002 0003 0004 # N(SIGNATURE_HASH_ALGORITHMS): SHA2-256/384/512
    00 00 000c 706c75746f2d7273         # V: last, len 12
";

#[test]
fn rfc7296_ike_sa_init_request_decodes() {
    let bytes = unhex(IKE_SA_INIT);
    assert_eq!(bytes.len(), 242);
    let m = v2::Message::decode(&bytes).expect("valid IKE_SA_INIT");
    assert_eq!(m.header.exchange, ExchangeType::IKE_SA_INIT);
    assert!(m.header.flags.initiator && !m.header.flags.response);
    assert_eq!(m.payloads.len(), 8);
    let v2::Payload::Sa(sa) = &m.payloads[0] else {
        panic!("first payload is SA: {:?}", m.payloads[0]);
    };
    let p = &sa.proposals[0];
    assert_eq!(
        (p.number, p.protocol, p.spi),
        (1, ProtocolId::IKE, Spi::EMPTY)
    );
    assert_eq!(
        p.transforms[0].id,
        v2::TransformId::Encr(EncrId::AES_GCM_16)
    );
    assert_eq!(p.transforms[0].key_length(), Some(256));
    assert_eq!(
        p.transforms[1].id,
        v2::TransformId::Prf(PrfId::HMAC_SHA2_512)
    );
    assert_eq!(p.transforms[2].id, v2::TransformId::Ke(KeId::CURVE25519));
    assert_eq!(p.transforms[3].id, v2::TransformId::Ke(KeId::ECP_256));
    assert!(
        matches!(&m.payloads[1], v2::Payload::Ke(ke) if ke.group == KeId::CURVE25519 && ke.data == [0x11; 32])
    );
    assert!(matches!(&m.payloads[2], v2::Payload::Nonce(n) if n == &[0x22; 32]));
    let notifies: Vec<NotifyType> = m
        .payloads
        .iter()
        .filter_map(|p| match p {
            v2::Payload::Notify(n) => Some(n.ty),
            _ => None,
        })
        .collect();
    assert_eq!(
        notifies,
        [
            NotifyType::NAT_DETECTION_SOURCE_IP,
            NotifyType::NAT_DETECTION_DESTINATION_IP,
            NotifyType::IKEV2_FRAGMENTATION_SUPPORTED,
            NotifyType::SIGNATURE_HASH_ALGORITHMS
        ]
    );
    let v2::Payload::Notify(sha) = &m.payloads[6] else {
        panic!("seventh payload is a notify");
    };
    assert_eq!(sha.hash_algorithms(), Some(vec![2, 3, 4]));
    assert!(matches!(&m.payloads[7], v2::Payload::VendorId(v) if v == b"pluto-rs"));
    assert_eq!(m.to_bytes().expect("encodes"), bytes);
}

#[test]
fn rfc7296_ike_sa_init_truncations_and_bad_lengths_fail_cleanly() {
    let bytes = unhex(IKE_SA_INIT);
    for n in 0..bytes.len() {
        let e = v2::Message::decode(&bytes[..n]).expect_err("truncated message");
        assert_eq!(e.v2_notify(), NotifyType::INVALID_SYNTAX, "at {n}: {e}");
    }
    // Every length field one byte too long or too short must be caught.
    for at in [
        30usize, 34, 42, 54, 62, 70, 78, 118, 154, 182, 210, 218, 232,
    ] {
        for delta in [1i32, -1] {
            let mut bad = bytes.clone();
            let v = u16::from_be_bytes([bad[at], bad[at + 1]]) as i32 + delta;
            bad[at..at + 2].copy_from_slice(&(v as u16).to_be_bytes());
            assert!(
                v2::Message::decode(&bad).is_err(),
                "length at {at} {delta:+}"
            );
        }
    }
}

/// An IKE_AUTH response: header and one SK payload whose first inner payload is IDr,
/// with a 16-byte IV, 32 bytes of ciphertext and a 16-byte ICV.
#[test]
fn rfc7296_sk_payload_span() {
    let mut bytes = unhex(
        "
        0102030405060708 1112131415161718
        2e 20 23 20 00000001 00000060       # next SK, IKE_AUTH, R, msgid 1, len 96
        24 00 0044                          # SK: first inner IDr, len 68
    ",
    );
    bytes.extend((0u8..64).map(|i| i ^ 0x5a));
    let (m, span) = v2::Message::decode_located(&bytes).expect("valid IKE_AUTH");
    let span = span.expect("SK located");
    assert_eq!(
        (span.payload_start, span.body_start, span.end),
        (28, 32, 96)
    );
    assert_eq!(span.aad(), 0..32);
    let v2::Payload::Sk(sk) = &m.payloads[0] else {
        panic!("SK payload");
    };
    assert_eq!(sk.next_inner, PayloadType::IDR);
    assert_eq!(sk.body, &bytes[32..]);
    // The prefix the sender builds for the same body is byte-identical.
    let mut out = Vec::new();
    let built = v2::encode_encrypted_prefix(&m.header, &[], PayloadType::IDR, None, 64, &mut out)
        .expect("prefix");
    assert_eq!(built, span);
    assert_eq!(out, bytes[..32]);
}

#[test]
fn rfc7296_unknown_critical_payload_is_reported_with_its_type() {
    let bytes = unhex(
        "
        0102030405060708 0000000000000000
        fe 20 22 08 00000000 00000024       # next payload 254 (unassigned)
        00 80 0008 deadbeef                 # critical bit set
    ",
    );
    let e = v2::Message::decode(&bytes).expect_err("critical unknown payload");
    assert_eq!(e, DecodeError::UnsupportedCriticalPayload(PayloadType(254)));
    assert_eq!(e.v2_notify(), NotifyType::UNSUPPORTED_CRITICAL_PAYLOAD);
    let mut ok = bytes.clone();
    ok[29] = 0;
    let m = v2::Message::decode(&ok).expect("non-critical unknown payload is skipped");
    assert_eq!(
        m.payloads,
        [v2::Payload::Unknown {
            ty: PayloadType(254),
            body: vec![0xde, 0xad, 0xbe, 0xef]
        }]
    );
}

/// Main Mode message 1 (RFC 2409 5, RFC 2408 3) with one Oakley transform and the
/// RFC 3947 NAT-Traversal vendor ID.
const MAIN_MODE_1: &str = "
    a1a2a3a4a5a6a7a8 0000000000000000   # icookie, rcookie
    01 10 02 00 00000000 0000006c       # next SA, v1.0, Main Mode, no flags, len 108
    0d 00 003c 00000001 00000001        # SA: next VID, len 60, IPsec DOI, SIT_IDENTITY_ONLY
      00 00 0030 01 01 00 01            #   proposal: last, len 48, #1, PROTO_ISAKMP, no SPI, 1 transform
        00 00 0028 00 01 0000           #     transform: last, len 40, #0, KEY_IKE
          8001 0007                     #       encryption AES-CBC
          800e 0080                     #       key length 128
          8002 0002                     #       hash SHA1
          8003 0001                     #       auth PSK
          8004 000e                     #       group 14
          800b 0001                     #       life type seconds
          000c 0004 00015180            #       life duration 86400 (TLV)
    00 00 0014 4a131c81070358455c5728f20e95452f   # VID: RFC 3947
";

#[test]
fn rfc2409_main_mode_message_1_decodes() {
    let bytes = unhex(MAIN_MODE_1);
    assert_eq!(bytes.len(), 108);
    let m = v1::Message::decode(&bytes).expect("valid Main Mode message");
    assert_eq!(m.header.exchange, ExchangeType::V1_IDPROT);
    let v1::Body::Plain(payloads) = &m.body else {
        panic!("plaintext body");
    };
    let v1::Payload::Sa(sa) = &payloads[0] else {
        panic!("SA first");
    };
    assert_eq!((sa.doi, sa.situation), (1, 1));
    let t = &sa.proposals[0].transforms[0];
    assert_eq!(t.id, 1);
    let attr = |a: OakleyAttr| t.attribute(a.0).and_then(|x| x.as_u64());
    assert_eq!(attr(OakleyAttr::ENCRYPTION_ALGORITHM), Some(7));
    assert_eq!(attr(OakleyAttr::KEY_LENGTH), Some(128));
    assert_eq!(attr(OakleyAttr::GROUP_DESCRIPTION), Some(14));
    assert_eq!(
        t.lifetimes(OakleyAttr::LIFE_TYPE.0, OakleyAttr::LIFE_DURATION.0),
        [(v1::LIFE_SECONDS, 86_400)]
    );
    assert!(matches!(&payloads[1], v1::Payload::VendorId(v) if v[..4] == [0x4a, 0x13, 0x1c, 0x81]));
    assert_eq!(m.to_bytes().expect("encodes"), bytes);
    for n in 0..bytes.len() {
        let e = v1::Message::decode(&bytes[..n]).expect_err("truncated");
        assert_eq!(
            e.v1_notify(),
            V1NotifyType::PAYLOAD_MALFORMED,
            "at {n}: {e}"
        );
    }
}

#[test]
fn rfc3947_nat_d_nat_oa_and_rfc3706_dpd() {
    // Quick Mode-style plaintext chain: NAT-OA (IPv4), then an informational R_U_THERE.
    let chain = unhex(
        "
        0b 00 000c 01 000000 c0000207       # NAT-OA: next N, ID_IPV4_ADDR 192.0.2.7
        00 00 0020 00000001 01 10 8d28      # N: DOI 1, PROTO_ISAKMP, SPI size 16, R_U_THERE
          a1a2a3a4a5a6a7a8 b1b2b3b4b5b6b7b8 # cookies
          0000002a                          # sequence 42
        000000                              # padding
    ",
    );
    let d = v1::decode_chain(PayloadType::V1_NATOA, &chain).expect("valid chain");
    assert_eq!(d.padding_len, 3);
    assert!(
        matches!(d.payloads[0], v1::Payload::NatOa(oa) if oa.address.to_string() == "192.0.2.7")
    );
    let v1::Payload::Notify(n) = &d.payloads[1] else {
        panic!("notify");
    };
    assert_eq!(n.ty, V1NotifyType::R_U_THERE);
    assert_eq!(n.dpd_sequence(), Some(42));
    assert_eq!(n.spi.len(), 16);
    // An ID_FQDN NAT-OA is invalid.
    let mut bad = chain.clone();
    bad[4] = IdType::FQDN.0;
    assert_eq!(
        v1::decode_chain(PayloadType::V1_NATOA, &bad)
            .unwrap_err()
            .v1_notify(),
        V1NotifyType::PAYLOAD_MALFORMED
    );
}

/// The inner payloads of an IKE_AUTH exchange (as they are after decryption), one of
/// each kind, written from the RFC 7296 section 3 figures.
const IKE_AUTH_INNER: &str = "
    25 00 0014 02 000000 776573742e6578616d706c65       # IDi: next CERT, ID_FQDN west.example
    26 00 0009 04 deadbeef                              # CERT: next CERTREQ, X509_SIGNATURE
    27 00 0019 04 5555555555555555555555555555555555555555 # CERTREQ: next AUTH, one CA hash
    2f 00 0010 02 000000 6666666666666666               # AUTH: next CP, PSK
    21 00 0014 01 000000 0001 0000 0003 0004 c0000235   # CP: next SA, REQUEST IP4 address, DNS
    2c 00 002c                                          # SA: next TSi, len 44
      00 00 0028 01 03 04 03 12345678                   #   ESP proposal, SPI 0x12345678
        03 00 000c 01 00 000c 800e 0080                 #     ENCR AES_CBC 128
        03 00 0008 03 00 000c                           #     INTEG HMAC_SHA2_256_128
        00 00 0008 05 00 0000                           #     ESN none
    2d 00 0018 01 000000                                # TSi: next TSr, one selector
      07 00 0010 0000 ffff c0000200 c00002ff            #   192.0.2.0-192.0.2.255 any
    29 00 0030 01 000000                                # TSr: next N
      08 06 0028 0050 0050                              #   IPv6 TCP port 80
      20010db8000000000000000000000000
      20010db800000000ffffffffffffffff
    2a 00 0008 00 00 4007                               # N(USE_TRANSPORT_MODE): next D
    30 00 0010 03 04 0002 aabbccdd 11223344             # D: next EAP, two ESP SPIs
    00 00 000a 02 07 0006 01 61                         # EAP Response/Identity 'a'
";

#[test]
fn rfc7296_every_inner_payload_layout() {
    use ike::registry::{AuthMethod, CertEncoding, CfgAttr, CfgType, EsnId, IntegId};
    let bytes = unhex(IKE_AUTH_INNER);
    let p = v2::decode_chain(PayloadType::IDI, &bytes).expect("valid inner chain");
    assert_eq!(p.len(), 11);
    assert!(
        matches!(&p[0], v2::Payload::IdI(id) if id.id_type == IdType::FQDN && id.data == b"west.example")
    );
    assert!(
        matches!(&p[1], v2::Payload::Cert(c) if c.encoding == CertEncoding::X509_SIGNATURE && c.data == [0xde, 0xad, 0xbe, 0xef])
    );
    let v2::Payload::CertReq(cr) = &p[2] else {
        panic!("CERTREQ")
    };
    assert_eq!(cr.ca_hashes().collect::<Vec<_>>(), [&[0x55u8; 20][..]]);
    assert!(
        matches!(&p[3], v2::Payload::Auth(a) if a.method == AuthMethod::SHARED_KEY_MIC && a.data == [0x66; 8])
    );
    let v2::Payload::Cp(cp) = &p[4] else {
        panic!("CP")
    };
    assert_eq!(cp.cfg_type, CfgType::REQUEST);
    assert_eq!(cp.attributes[0].ty, CfgAttr::INTERNAL_IP4_ADDRESS);
    assert!(cp.attributes[0].value.is_empty());
    assert_eq!(cp.attributes[1].value, [192, 0, 2, 53]);
    let v2::Payload::Sa(sa) = &p[5] else {
        panic!("SA")
    };
    let prop = &sa.proposals[0];
    assert_eq!(
        (prop.protocol, prop.spi.as_u32()),
        (ProtocolId::ESP, Some(0x1234_5678))
    );
    assert_eq!(
        prop.transforms[0].id,
        v2::TransformId::Encr(EncrId::AES_CBC)
    );
    assert_eq!(prop.transforms[0].key_length(), Some(128));
    assert_eq!(
        prop.transforms[1].id,
        v2::TransformId::Integ(IntegId::HMAC_SHA2_256_128)
    );
    assert_eq!(prop.transforms[2].id, v2::TransformId::Esn(EsnId::NO));
    let v2::Payload::TsI(tsi) = &p[6] else {
        panic!("TSi")
    };
    assert_eq!(
        tsi.selectors,
        [v2::TrafficSelector::Range(v2::AddressRange {
            ip_protocol: 0,
            start_port: 0,
            end_port: 65535,
            start: "192.0.2.0".parse().unwrap(),
            end: "192.0.2.255".parse().unwrap(),
        })]
    );
    let v2::Payload::TsR(tsr) = &p[7] else {
        panic!("TSr")
    };
    assert_eq!(
        tsr.selectors,
        [v2::TrafficSelector::Range(v2::AddressRange {
            ip_protocol: 6,
            start_port: 80,
            end_port: 80,
            start: "2001:db8::".parse().unwrap(),
            end: "2001:db8:0:0:ffff:ffff:ffff:ffff".parse().unwrap(),
        })]
    );
    assert!(
        matches!(&p[8], v2::Payload::Notify(n) if n.ty == NotifyType::USE_TRANSPORT_MODE && n.spi.is_empty())
    );
    let v2::Payload::Delete(d) = &p[9] else {
        panic!("D")
    };
    assert_eq!(
        d,
        &v2::Delete::child(ProtocolId::ESP, &[0xaabb_ccdd, 0x1122_3344])
    );
    assert!(matches!(&p[10], v2::Payload::Eap(e) if e == &[2, 7, 0, 6, 1, b'a']));
    let mut out = Vec::new();
    assert_eq!(
        v2::encode_chain(&p, &mut out).expect("encodes"),
        PayloadType::IDI
    );
    assert_eq!(out, bytes);
}

/// A decrypted ISAKMP chain with one of each remaining IKEv1 payload kind, written
/// from the RFC 2408 section 3 / RFC 2407 section 4 figures, then padding.
const V1_CHAIN: &str = "
    01 00 0018 7777777777777777777777777777777777777777 # HASH: next SA
    0a 00 0034 00000001 00000001                         # SA: next NONCE, IPsec DOI
      00 00 0028 01 03 04 01 0a0b0c0d                    #   ESP proposal, SPI
        00 00 001c 01 0c 0000                            #     transform #1 ESP_AES
          8001 0001 8002 0e10                            #       life seconds, 3600
          8004 0001 8005 0002 8006 0080                  #       tunnel, HMAC-SHA1, 128 bits
    05 00 0014 88888888888888888888888888888888          # NONCE: next ID
    05 00 0010 04 00 0000 c0000200 ffffff00              # IDci: next ID, 192.0.2.0/24
    0c 00 0010 04 11 01f4 c6336400 ffffff00              # IDcr: next D, UDP/500 198.51.100.0/24
    07 00 0014 00000001 03 04 0002 aabbccdd 11223344     # D: next CR, two ESP SPIs
    06 00 0005 04                                        # CR: next CERT, X509_SIGNATURE, any CA
    0e 00 0008 04 010203                                 # CERT: next ModeCFG
    04 00 0014 02 00 0001 0001 0004 c0000264 c08f 0001   # ModeCFG REPLY: next KE; IP4 address, XAUTH-STATUS OK
    09 00 0008 01020304                                  # KE: next SIG
    14 00 0008 05060708                                  # SIG: next NAT-D
    84 00 0008 090a0b0c                                  # NAT-D: next fragment
    00 00 000b 0001 01 00 aabbcc                         # fragment: id 1, #1, not last
    0000                                                 # padding
";

#[test]
fn rfc2408_every_isakmp_payload_layout() {
    use ike::registry::{CertEncoding, CfgType, IpsecAttr, ModeCfgAttr};
    let bytes = unhex(V1_CHAIN);
    let c = v1::decode_chain(PayloadType::V1_HASH, &bytes).expect("valid chain");
    assert_eq!(c.padding_len, 2);
    let p = &c.payloads;
    assert_eq!(p.len(), 13);
    assert!(matches!(&p[0], v1::Payload::Hash(h) if h == &[0x77; 20]));
    let v1::Payload::Sa(sa) = &p[1] else {
        panic!("SA")
    };
    let prop = &sa.proposals[0];
    assert_eq!(
        (prop.protocol, prop.spi.as_u32()),
        (ProtocolId::ESP, Some(0x0a0b_0c0d))
    );
    let t = &prop.transforms[0];
    assert_eq!((t.number, t.id), (1, 12));
    assert_eq!(
        t.lifetimes(IpsecAttr::SA_LIFE_TYPE.0, IpsecAttr::SA_LIFE_DURATION.0),
        [(v1::LIFE_SECONDS, 3600)]
    );
    assert_eq!(
        t.attribute(IpsecAttr::KEY_LENGTH.0)
            .and_then(|a| a.as_u64()),
        Some(128)
    );
    assert!(matches!(&p[2], v1::Payload::Nonce(n) if n == &[0x88; 16]));
    let v1::Payload::Id(ci) = &p[3] else {
        panic!("IDci")
    };
    assert_eq!(ci.id_type, IdType::V1_IPV4_ADDR_SUBNET);
    let (a, m) = ci.address_pair().expect("subnet");
    assert_eq!(
        (a.to_string(), m.to_string()),
        ("192.0.2.0".to_string(), "255.255.255.0".to_string())
    );
    let v1::Payload::Id(cr) = &p[4] else {
        panic!("IDcr")
    };
    assert_eq!((cr.protocol, cr.port), (17, 500));
    let v1::Payload::Delete(d) = &p[5] else {
        panic!("D")
    };
    assert_eq!(
        (d.doi, d.protocol, d.spi_size, d.spis.len()),
        (1, ProtocolId::ESP, 4, 2)
    );
    assert_eq!(d.spis[1].as_u32(), Some(0x1122_3344));
    assert!(
        matches!(&p[6], v1::Payload::CertReq(c) if c.encoding == CertEncoding::X509_SIGNATURE && c.data.is_empty())
    );
    assert!(matches!(&p[7], v1::Payload::Cert(c) if c.data == [1, 2, 3]));
    let v1::Payload::ModeCfg(mc) = &p[8] else {
        panic!("ModeCFG")
    };
    assert_eq!((mc.msg_type, mc.identifier), (CfgType::REPLY, 1));
    assert_eq!(mc.attributes[0].ty, ModeCfgAttr::INTERNAL_IP4_ADDRESS.0);
    assert_eq!(mc.attributes[1].ty, ModeCfgAttr::XAUTH_STATUS.0);
    assert_eq!(mc.attributes[1].as_u64(), Some(1));
    assert!(matches!(&p[9], v1::Payload::Ke(k) if k == &[1, 2, 3, 4]));
    assert!(matches!(&p[10], v1::Payload::Sig(s) if s == &[5, 6, 7, 8]));
    assert!(matches!(&p[11], v1::Payload::NatD(h) if h == &[9, 10, 11, 12]));
    assert!(
        matches!(&p[12], v1::Payload::Fragment(f) if f.id == 1 && f.number == 1 && !f.last && f.data == [0xaa, 0xbb, 0xcc])
    );
    let mut out = Vec::new();
    assert_eq!(
        v1::encode_chain(p, &mut out).expect("encodes"),
        PayloadType::V1_HASH
    );
    assert_eq!(out, bytes[..bytes.len() - 2]);
}
