//! Property tests for `ike::codec`: for generated IKEv2 and IKEv1 messages,
//! decode(encode(m)) == m and encode is canonical (re-encoding the decoded message
//! gives the same bytes); mutated encodings never panic and, when they decode, round-trip.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ike::codec::{v1, v2, Attribute, Spi};
use ike::registry::{
    AuthMethod, CertEncoding, CfgAttr, CfgType, ExchangeType, IdType, KeId, NotifyType,
    PayloadType, ProtocolId, TransformType, TsType, V1NotifyType,
};
use proptest::collection::vec;
use proptest::prelude::*;

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..=max)
}

fn spi() -> impl Strategy<Value = Spi> {
    bytes(16).prop_map(|b| Spi::from_slice(&b).unwrap_or_default())
}

fn attribute() -> impl Strategy<Value = Attribute> {
    prop_oneof![
        (0u16..0x8000, any::<u16>()).prop_map(|(t, v)| Attribute::short(t, v)),
        (0u16..0x8000, bytes(12)).prop_map(|(t, v)| Attribute::long(t, v)),
    ]
}

/// SPI size and SPIs for a delete: either a size with that many-byte SPIs, or a size
/// with no SPIs at all.
fn delete_spis() -> impl Strategy<Value = (u8, Vec<Spi>)> {
    prop_oneof![
        (1usize..=16).prop_flat_map(|n| {
            vec(vec(any::<u8>(), n), 0..4).prop_map(move |v| {
                (
                    n as u8,
                    v.iter()
                        .map(|s| Spi::from_slice(s).unwrap_or_default())
                        .collect(),
                )
            })
        }),
        any::<u8>().prop_map(|n| (n, Vec::new())),
    ]
}

// ---------------------------------------------------------------- IKEv2

fn v2_transform() -> impl Strategy<Value = v2::Transform> {
    (any::<u8>(), any::<u16>(), vec(attribute(), 0..3)).prop_map(|(t, id, attributes)| {
        v2::Transform {
            id: v2::TransformId::from_wire(TransformType(t), id),
            attributes,
        }
    })
}

fn v2_sa() -> impl Strategy<Value = v2::SecurityAssociation> {
    vec(
        (any::<u8>(), any::<u8>(), spi(), vec(v2_transform(), 0..6)).prop_map(
            |(number, p, spi, transforms)| v2::Proposal {
                number,
                protocol: ProtocolId(p),
                spi,
                transforms,
            },
        ),
        1..4,
    )
    .prop_map(|proposals| v2::SecurityAssociation { proposals })
}

fn ip_range() -> impl Strategy<Value = (IpAddr, IpAddr)> {
    prop_oneof![
        (any::<u32>(), any::<u32>())
            .prop_map(|(a, b)| (IpAddr::V4(Ipv4Addr::from(a)), IpAddr::V4(Ipv4Addr::from(b)))),
        (any::<u128>(), any::<u128>())
            .prop_map(|(a, b)| (IpAddr::V6(Ipv6Addr::from(a)), IpAddr::V6(Ipv6Addr::from(b)))),
    ]
}

fn traffic_selector() -> impl Strategy<Value = v2::TrafficSelector> {
    prop_oneof![
        (any::<u8>(), any::<u16>(), any::<u16>(), ip_range()).prop_map(
            |(ip_protocol, start_port, end_port, (start, end))| {
                v2::TrafficSelector::Range(v2::AddressRange {
                    ip_protocol,
                    start_port,
                    end_port,
                    start,
                    end,
                })
            }
        ),
        bytes(24).prop_map(v2::TrafficSelector::SecLabel),
        (
            any::<u8>().prop_filter("typed TS types", |t| !matches!(t, 7 | 8 | 10)),
            any::<u8>(),
            bytes(24)
        )
            .prop_map(|(t, field, data)| v2::TrafficSelector::Other {
                ty: TsType(t),
                field,
                data,
            }),
    ]
}

fn v2_payload() -> impl Strategy<Value = v2::Payload> {
    use v2::Payload as P;
    prop_oneof![
        v2_sa().prop_map(P::Sa),
        (any::<u16>(), bytes(64)).prop_map(|(g, data)| P::Ke(v2::KeyExchange {
            group: KeId(g),
            data
        })),
        (any::<u8>(), bytes(32)).prop_map(|(t, data)| P::IdI(v2::Identification {
            id_type: IdType(t),
            data
        })),
        (any::<u8>(), bytes(32)).prop_map(|(t, data)| P::IdR(v2::Identification {
            id_type: IdType(t),
            data
        })),
        (any::<u8>(), bytes(64)).prop_map(|(e, data)| P::Cert(v2::Certificate {
            encoding: CertEncoding(e),
            data
        })),
        (any::<u8>(), bytes(40)).prop_map(|(e, data)| P::CertReq(v2::Certificate {
            encoding: CertEncoding(e),
            data
        })),
        (any::<u8>(), bytes(48)).prop_map(|(m, data)| P::Auth(v2::Authentication {
            method: AuthMethod(m),
            data
        })),
        bytes(64).prop_map(P::Nonce),
        (any::<u8>(), spi(), any::<u16>(), bytes(24)).prop_map(|(p, spi, t, data)| {
            P::Notify(v2::Notify {
                protocol: ProtocolId(p),
                spi,
                ty: NotifyType(t),
                data,
            })
        }),
        (any::<u8>(), delete_spis()).prop_map(|(p, (spi_size, spis))| P::Delete(v2::Delete {
            protocol: ProtocolId(p),
            spi_size,
            spis
        })),
        bytes(20).prop_map(P::VendorId),
        vec(traffic_selector(), 0..4)
            .prop_map(|selectors| P::TsI(v2::TrafficSelectors { selectors })),
        vec(traffic_selector(), 0..4)
            .prop_map(|selectors| P::TsR(v2::TrafficSelectors { selectors })),
        (
            any::<u8>(),
            vec(
                (0u16..0x8000, bytes(16)).prop_map(|(t, value)| v2::CfgAttribute {
                    ty: CfgAttr(t),
                    value
                }),
                0..4
            )
        )
            .prop_map(|(t, attributes)| P::Cp(v2::Configuration {
                cfg_type: CfgType(t),
                attributes
            })),
        bytes(32).prop_map(P::Eap),
        bytes(32).prop_map(P::Gspm),
        (
            any::<u8>().prop_filter("typed payload types", |t| {
                *t != 0 && !v2::Payload::is_known_type(PayloadType(*t))
            }),
            bytes(32)
        )
            .prop_map(|(t, body)| P::Unknown {
                ty: PayloadType(t),
                body
            }),
    ]
}

fn v2_encrypted() -> impl Strategy<Value = v2::Payload> {
    prop_oneof![
        (any::<u8>(), bytes(96)).prop_map(|(n, body)| v2::Payload::Sk(v2::Encrypted {
            next_inner: PayloadType(n),
            body
        })),
        (any::<u8>(), 1u16..=u16::MAX, any::<u16>(), bytes(96)).prop_map(|(n, total, k, body)| {
            v2::Payload::Skf(v2::EncryptedFragment {
                next_inner: PayloadType(n),
                number: 1 + k % total,
                total,
                body,
            })
        }),
    ]
}

fn v2_header() -> impl Strategy<Value = v2::Header> {
    (
        any::<[u8; 8]>(),
        any::<[u8; 8]>(),
        0u8..16,
        any::<u8>(),
        any::<(bool, bool, bool)>(),
        any::<u32>(),
    )
        .prop_map(
            |(spi_i, spi_r, minor_version, x, (i, v, r), message_id)| v2::Header {
                spi_i,
                spi_r,
                minor_version,
                exchange: ExchangeType(x),
                flags: v2::Flags {
                    initiator: i,
                    version: v,
                    response: r,
                },
                message_id,
            },
        )
}

fn v2_message() -> impl Strategy<Value = v2::Message> {
    (
        v2_header(),
        vec(v2_payload(), 0..6),
        proptest::option::of(v2_encrypted()),
    )
        .prop_map(|(header, mut payloads, sk)| {
            payloads.extend(sk);
            v2::Message { header, payloads }
        })
}

// ---------------------------------------------------------------- IKEv1

fn v1_sa() -> impl Strategy<Value = v1::SecurityAssociation> {
    let transform =
        (any::<u8>(), any::<u8>(), vec(attribute(), 0..6)).prop_map(|(number, id, attributes)| {
            v1::Transform {
                number,
                id,
                attributes,
            }
        });
    let proposal = (any::<u8>(), any::<u8>(), spi(), vec(transform, 0..4)).prop_map(
        |(number, p, spi, transforms)| v1::Proposal {
            number,
            protocol: ProtocolId(p),
            spi,
            transforms,
        },
    );
    (any::<u32>(), vec(proposal, 1..4)).prop_map(|(sit, proposals)| v1::SecurityAssociation {
        doi: v1::DOI_IPSEC,
        situation: sit & !0x6,
        proposals,
    })
}

fn v1_payload() -> impl Strategy<Value = v1::Payload> {
    use v1::Payload as P;
    prop_oneof![
        v1_sa().prop_map(P::Sa),
        bytes(64).prop_map(P::Ke),
        (any::<u8>(), any::<u8>(), any::<u16>(), bytes(32)).prop_map(
            |(t, protocol, port, data)| P::Id(v1::Identification {
                id_type: IdType(t),
                protocol,
                port,
                data
            })
        ),
        (any::<u8>(), bytes(64)).prop_map(|(e, data)| P::Cert(v1::Certificate {
            encoding: CertEncoding(e),
            data
        })),
        (any::<u8>(), bytes(32)).prop_map(|(e, data)| P::CertReq(v1::Certificate {
            encoding: CertEncoding(e),
            data
        })),
        bytes(32).prop_map(P::Hash),
        bytes(64).prop_map(P::Sig),
        bytes(64).prop_map(P::Nonce),
        (any::<u32>(), any::<u8>(), any::<u16>(), spi(), bytes(16)).prop_map(
            |(doi, p, t, spi, data)| P::Notify(v1::Notify {
                doi,
                protocol: ProtocolId(p),
                ty: V1NotifyType(t),
                spi,
                data
            })
        ),
        (any::<u32>(), any::<u8>(), delete_spis()).prop_map(|(doi, p, (spi_size, spis))| {
            P::Delete(v1::Delete {
                doi,
                protocol: ProtocolId(p),
                spi_size,
                spis,
            })
        }),
        bytes(20).prop_map(P::VendorId),
        (any::<u8>(), any::<u16>(), vec(attribute(), 0..5)).prop_map(
            |(t, identifier, attributes)| P::ModeCfg(v1::ModeCfg {
                msg_type: CfgType(t),
                identifier,
                attributes
            })
        ),
        bytes(32).prop_map(P::NatD),
        ip_range().prop_map(|(a, _)| P::NatOa(v1::NatOa { address: a })),
        (any::<u16>(), 1u8..=255, any::<bool>(), bytes(64)).prop_map(|(id, number, last, data)| {
            P::Fragment(v1::Fragment {
                id,
                number,
                last,
                data,
            })
        }),
    ]
}

fn v1_message() -> impl Strategy<Value = v1::Message> {
    let body = prop_oneof![
        vec(v1_payload(), 0..6).prop_map(v1::Body::Plain),
        (any::<u8>(), bytes(96)).prop_map(|(f, ciphertext)| v1::Body::Encrypted {
            first: PayloadType(f),
            ciphertext
        }),
    ];
    (
        any::<[u8; 8]>(),
        any::<[u8; 8]>(),
        0u8..16,
        any::<u8>(),
        any::<(bool, bool)>(),
        any::<u32>(),
        body,
    )
        .prop_map(
            |(icookie, rcookie, minor_version, x, (c, a), message_id, body)| v1::Message {
                header: v1::Header {
                    icookie,
                    rcookie,
                    minor_version,
                    exchange: ExchangeType(x),
                    flags: v1::Flags {
                        encryption: matches!(body, v1::Body::Encrypted { .. }),
                        commit: c,
                        authentication_only: a,
                    },
                    message_id,
                },
                body,
            },
        )
}

// ---------------------------------------------------------------- properties

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn v2_round_trip_and_canonical(m in v2_message()) {
        let bytes = m.to_bytes().expect("generated messages fit their length fields");
        let (back, span) = v2::Message::decode_located(&bytes).expect("own encoding decodes");
        prop_assert_eq!(&back, &m);
        prop_assert_eq!(back.to_bytes().expect("re-encode"), bytes.clone());
        match m.payloads.last() {
            Some(v2::Payload::Sk(sk)) => {
                let span = span.expect("SK located");
                prop_assert_eq!(span.end, bytes.len());
                prop_assert_eq!(&bytes[span.body()], sk.body.as_slice());
                prop_assert_eq!(span.body_start - span.payload_start, 4);
            }
            Some(v2::Payload::Skf(f)) => {
                let span = span.expect("SKF located");
                prop_assert_eq!(&bytes[span.body()], f.body.as_slice());
                prop_assert_eq!(span.body_start - span.payload_start, 8);
            }
            _ => prop_assert!(span.is_none()),
        }
    }

    #[test]
    fn v2_encrypted_prefix_matches_message_encoding(m in v2_message()) {
        let (leading, sk) = match m.payloads.split_last() {
            Some((v2::Payload::Sk(sk), rest)) => (rest, (sk.next_inner, None, sk.body.clone())),
            Some((v2::Payload::Skf(f), rest)) => (
                rest,
                (f.next_inner, Some(v2::FragmentInfo { number: f.number, total: f.total }), f.body.clone()),
            ),
            _ => return Ok(()),
        };
        let mut out = Vec::new();
        let span = v2::encode_encrypted_prefix(&m.header, leading, sk.0, sk.1, sk.2.len(), &mut out)
            .expect("prefix");
        prop_assert_eq!(span.body_start, out.len());
        out.extend_from_slice(&sk.2);
        prop_assert_eq!(&out, &m.to_bytes().expect("encode"));
    }

    #[test]
    fn v2_inner_chain_round_trip(payloads in vec(v2_payload(), 0..8)) {
        let mut plain = Vec::new();
        let first = v2::encode_chain(&payloads, &mut plain).expect("encode chain");
        prop_assert_eq!(v2::decode_chain(first, &plain).expect("decode chain"), payloads);
    }

    #[test]
    fn v2_mutations_never_panic(m in v2_message(), edits in vec((any::<usize>(), any::<u8>()), 1..4)) {
        let mut bytes = m.to_bytes().expect("encode");
        for (at, v) in edits {
            let i = at % bytes.len();
            bytes[i] = v;
        }
        if let Ok(d) = v2::Message::decode(&bytes) {
            let again = d.to_bytes().expect("decoded values re-encode");
            prop_assert_eq!(v2::Message::decode(&again).expect("re-encoding decodes"), d);
        }
    }

    #[test]
    fn v1_round_trip_and_canonical(m in v1_message()) {
        let bytes = m.to_bytes().expect("generated messages fit their length fields");
        let back = v1::Message::decode(&bytes).expect("own encoding decodes");
        prop_assert_eq!(&back, &m);
        prop_assert_eq!(back.to_bytes().expect("re-encode"), bytes);
    }

    #[test]
    fn v1_decrypted_chain_with_padding(payloads in vec(v1_payload(), 0..6), pad in bytes(15)) {
        let mut plain = Vec::new();
        let first = v1::encode_chain(&payloads, &mut plain).expect("encode chain");
        plain.extend_from_slice(&pad);
        let chain = v1::decode_chain(first, &plain).expect("decode chain");
        prop_assert_eq!(chain.payloads, payloads);
        prop_assert_eq!(chain.padding_len, pad.len());
    }

    #[test]
    fn v1_mutations_never_panic(m in v1_message(), edits in vec((any::<usize>(), any::<u8>()), 1..4)) {
        let mut bytes = m.to_bytes().expect("encode");
        for (at, v) in edits {
            let i = at % bytes.len();
            bytes[i] = v;
        }
        if let Ok(d) = v1::Message::decode(&bytes) {
            let again = d.to_bytes().expect("decoded values re-encode");
            prop_assert_eq!(v1::Message::decode(&again).expect("re-encoding decodes"), d);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(b in bytes(200)) {
        let _ = v2::Message::decode(&b);
        let _ = v1::Message::decode(&b);
        let _ = v2::SecurityAssociation::decode(&b);
        let _ = v1::SecurityAssociation::decode(&b);
        let _ = v2::TrafficSelectors::decode(&b);
        if let Some(&first) = b.first() {
            let _ = v2::decode_chain(PayloadType(first), &b[1..]);
            let _ = v1::decode_chain(PayloadType(first), &b[1..]);
        }
    }
}
