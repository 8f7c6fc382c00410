//! Wire codec benchmarks on the hand-written RFC 7296 vectors (the fuzz seeds):
//! decode and encode of an IKE_SA_INIT request, locating the SK payload of an IKE_AUTH
//! message and encoding it, and decode/encode of the IKE_AUTH inner payload chain.
//!
//! `cargo bench -p ike --bench codec`; add `-- --measurement-time 2 --warm-up-time 1`
//! for a quick run.

use criterion::measurement::WallTime;
use criterion::{
    black_box, criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput,
};

use ike::codec::v2::{self, Payload};
use ike::registry::PayloadType;

/// RFC 7296 IKE_SA_INIT request: SA (4 transforms), KE (DH31), Ni, two NAT-D,
/// IKEV2_FRAGMENTATION_SUPPORTED, SIGNATURE_HASH_ALGORITHMS, V; 242 bytes.
const IKE_SA_INIT: &[u8] = include_bytes!("../fuzz/seeds/ikev2_message/ike_sa_init");
/// An IKE_AUTH message: header and SK payload (96 bytes as written).
const IKE_AUTH_SK: &[u8] = include_bytes!("../fuzz/seeds/ikev2_message/ike_auth_sk");
/// `[first payload type][inner chain]`: IDi, CERT, CERTREQ, AUTH, CP, SA, TSi, TSr, N,
/// D, EAP, as an IKE_AUTH request carries them once decrypted.
const IKE_AUTH_INNER: &[u8] = include_bytes!("../fuzz/seeds/ikev2_message/ike_auth_inner_chain");

/// The IKE_AUTH message with its SK body grown to what AES_GCM_16 would send for the
/// inner chain above (8-byte IV, chain + pad length byte, 16-byte ICV), so that the
/// SK-locating and encoding figures are for a realistic size.
fn ike_auth_message() -> Vec<u8> {
    let mut m = v2::Message::decode(IKE_AUTH_SK).unwrap();
    let body_len = 8 + IKE_AUTH_INNER.len() + 16;
    match m.payloads.last_mut() {
        Some(Payload::Sk(sk)) => sk.body = vec![0x5a; body_len],
        _ => panic!("the ike_auth_sk seed ends with an SK payload"),
    }
    m.to_bytes().unwrap()
}

/// `encode`: the message `bytes` decode to, encoded into a reused buffer.
fn bench_encode(group: &mut BenchmarkGroup<'_, WallTime>, bytes: &[u8]) {
    let msg = v2::Message::decode(bytes).unwrap();
    let mut out = Vec::with_capacity(512);
    group.bench_function("encode", |b| {
        b.iter(|| {
            out.clear();
            black_box(&msg).encode(&mut out).unwrap();
            black_box(out.len())
        })
    });
}

fn ike_sa_init(c: &mut Criterion) {
    let mut group = c.benchmark_group("codec_ike_sa_init_request");
    group.throughput(Throughput::Bytes(IKE_SA_INIT.len() as u64));
    group.bench_function("decode", |b| {
        b.iter(|| black_box(v2::Message::decode(black_box(IKE_SA_INIT)).unwrap()))
    });
    bench_encode(&mut group, IKE_SA_INIT);
    group.finish();
}

fn ike_auth(c: &mut Criterion) {
    let bytes = ike_auth_message();
    let mut group = c.benchmark_group("codec_ike_auth");
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    group.bench_function("decode_locate_sk", |b| {
        b.iter(|| {
            let (m, span) = v2::Message::decode_located(black_box(&bytes)).unwrap();
            black_box((m, span.unwrap().body()))
        })
    });
    bench_encode(&mut group, &bytes);
    group.finish();

    let (&first, chain) = IKE_AUTH_INNER.split_first().unwrap();
    let mut group = c.benchmark_group("codec_ike_auth_inner_chain");
    group.throughput(Throughput::Bytes(chain.len() as u64));
    group.bench_function("decode", |b| {
        b.iter(|| black_box(v2::decode_chain(PayloadType(first), black_box(chain)).unwrap()))
    });
    let payloads = v2::decode_chain(PayloadType(first), chain).unwrap();
    let mut out = Vec::with_capacity(512);
    group.bench_function("encode", |b| {
        b.iter(|| {
            out.clear();
            black_box(v2::encode_chain(black_box(&payloads), &mut out).unwrap())
        })
    });
    group.finish();
}

criterion_group!(benches, ike_sa_init, ike_auth);
criterion_main!(benches);
