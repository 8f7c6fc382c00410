//! Crypto suite benchmarks: per-group key exchange (keygen + agree, both ends),
//! SKEYSEED + prf+ for the SK_* keys, and SK payload seal + open of 200 bytes per
//! cipher.
//!
//! `cargo bench -p ike --bench crypto`; add `-- --measurement-time 2 --warm-up-time 1`
//! for a quick run.

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

use ike::crypto::encr::{self, EncrAlg};
use ike::crypto::ikev2::{self, IkeSaKeys, IkeSuite};
use ike::crypto::{integ, ke, prf, SkCipher, SystemRandomSource};

fn key_exchange(c: &mut Criterion) {
    let rng = SystemRandomSource::new();
    let mut group = c.benchmark_group("ke_keygen_agree");
    group.sample_size(10);
    for alg in ke::ALL {
        // One full exchange: initiator keygen, responder keygen + agree (or
        // encapsulate), initiator agree (or decapsulate).
        group.bench_function(BenchmarkId::from_parameter(alg.name), |b| {
            b.iter(|| {
                let i = alg.initiate(&rng).unwrap();
                let (resp, _shared_r) = alg.respond(&rng, i.public_value()).unwrap();
                black_box(i.complete(&resp).unwrap())
            })
        });
    }
    group.finish();
}

fn key_derivation(c: &mut Criterion) {
    let mut group = c.benchmark_group("skeyseed_prfplus");
    let suites = [
        IkeSuite {
            encr: &encr::AES_GCM_16_256,
            prf: &prf::HMAC_SHA2_512,
            integ: None,
        },
        IkeSuite {
            encr: &encr::AES_GCM_16_256,
            prf: &prf::HMAC_SHA2_256,
            integ: None,
        },
        IkeSuite {
            encr: &encr::AES_CBC_256,
            prf: &prf::HMAC_SHA2_256,
            integ: Some(&integ::HMAC_SHA2_256_128),
        },
        IkeSuite {
            encr: &encr::AES_CBC_128,
            prf: &prf::HMAC_SHA1,
            integ: Some(&integ::HMAC_SHA1_96),
        },
        IkeSuite {
            encr: &encr::AES_CBC_128,
            prf: &prf::AES128_XCBC,
            integ: Some(&integ::AES_XCBC_96),
        },
        IkeSuite {
            encr: &encr::AES_CBC_128,
            prf: &prf::AES128_CMAC,
            integ: Some(&integ::AES_CMAC_96),
        },
    ];
    let (ni, nr, g_ir) = ([0x11u8; 32], [0x22u8; 32], [0x33u8; 32]);
    for suite in suites {
        let name = format!("{}/{}", suite.prf.name, suite.encr.name);
        group.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| {
                let seed = ikev2::skeyseed(suite.prf, &ni, &nr, &g_ir).unwrap();
                black_box(IkeSaKeys::derive(&suite, &seed, &ni, &nr, &[1; 8], &[2; 8]).unwrap())
            })
        });
    }
    group.finish();
}

fn sk_seal_open(c: &mut Criterion) {
    let rng = SystemRandomSource::new();
    let mut group = c.benchmark_group("sk_seal_open_200B");
    group.throughput(Throughput::Bytes(200));
    let aad = [0x5au8; 32];
    let plaintext = [0xa5u8; 200];
    let ciphers: [&'static EncrAlg; 8] = [
        &encr::AES_GCM_16_128,
        &encr::AES_GCM_16_256,
        &encr::AES_GCM_8_256,
        &encr::CHACHA20_POLY1305,
        &encr::AES_CBC_128,
        &encr::AES_CBC_256,
        &encr::AES_CTR_256,
        &encr::TRIPLE_DES_CBC,
    ];
    for alg in ciphers {
        let keymat: Vec<u8> = (0..alg.keymat_len())
            .map(|i| (i as u8).wrapping_mul(29).wrapping_add(7))
            .collect();
        let ikey = [0x42u8; 32];
        let integ = (!alg.is_aead()).then_some((&integ::HMAC_SHA2_256_128, &ikey[..]));
        let sk = SkCipher::new(alg, &keymat, integ).unwrap();
        let mut body = vec![0u8; sk.sealed_len(plaintext.len())];
        let name = match integ {
            Some((i, _)) => format!("{}+{}", alg.name, i.name),
            None => alg.name.to_string(),
        };
        group.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| {
                sk.seal_into(&rng, &aad, &plaintext, &mut body).unwrap();
                black_box(sk.open(&aad, &mut body).unwrap().len())
            })
        });
    }
    group.finish();
}

criterion_group!(benches, key_exchange, key_derivation, sk_seal_open);
criterion_main!(benches);
