//! Random bytes for nonces, SPIs, IVs and DH exponents, behind a trait so tests and
//! benchmarks can be deterministic.

use std::sync::Mutex;

use aws_lc_rs::digest;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};

use super::CryptoError;

/// A source of random bytes.
///
/// The daemon uses [`SystemRandomSource`]; tests use [`TestRandom`] to make IVs and
/// exponents reproducible. Implementations must be safe to share between threads.
pub trait RandomSource: Send + Sync {
    /// Fills `dest` entirely with random bytes.
    fn fill(&self, dest: &mut [u8]) -> Result<(), CryptoError>;

    /// A fresh IKE SPI (IKEv1 cookie): 8 random bytes, never all zero, since a zero
    /// responder SPI means "not yet known" (RFC 7296 section 3.1).
    fn ike_spi(&self) -> Result<[u8; 8], CryptoError> {
        loop {
            let mut spi = [0u8; 8];
            self.fill(&mut spi)?;
            if spi != [0u8; 8] {
                return Ok(spi);
            }
        }
    }

    /// A fresh nonce of `len` bytes. RFC 7296 section 2.10 allows 16 to 256 bytes and
    /// asks for at least half the PRF key size; callers pick at least 32.
    fn nonce(&self, len: usize) -> Result<Vec<u8>, CryptoError> {
        if !(16..=256).contains(&len) {
            return Err(CryptoError::InvalidCombination(
                "nonces are 16 to 256 bytes (RFC 7296 section 2.10)",
            ));
        }
        let mut n = vec![0u8; len];
        self.fill(&mut n)?;
        Ok(n)
    }
}

/// The operating system's CSPRNG, through aws-lc's `SystemRandom`.
#[derive(Debug, Default, Clone)]
pub struct SystemRandomSource(SystemRandom);

impl SystemRandomSource {
    /// A handle on the system random source (cheap; holds no state).
    pub fn new() -> Self {
        Self(SystemRandom::new())
    }
}

impl RandomSource for SystemRandomSource {
    fn fill(&self, dest: &mut [u8]) -> Result<(), CryptoError> {
        self.0.fill(dest).map_err(|_| CryptoError::Random)
    }
}

/// A deterministic byte stream (SHA-256 in counter mode over a seed).
///
/// **Only for tests and benchmarks**: anyone who knows the seed knows every byte.
#[derive(Debug)]
pub struct TestRandom {
    seed: u64,
    counter: Mutex<u64>,
}

impl TestRandom {
    /// A stream determined entirely by `seed`.
    pub fn new(seed: u64) -> Self {
        Self {
            seed,
            counter: Mutex::new(0),
        }
    }
}

impl RandomSource for TestRandom {
    fn fill(&self, dest: &mut [u8]) -> Result<(), CryptoError> {
        let mut counter = self.counter.lock().map_err(|_| CryptoError::Random)?;
        for chunk in dest.chunks_mut(32) {
            let mut ctx = digest::Context::new(&digest::SHA256);
            ctx.update(&self.seed.to_be_bytes());
            ctx.update(&counter.to_be_bytes());
            *counter += 1;
            let block = ctx.finish();
            chunk.copy_from_slice(&block.as_ref()[..chunk.len()]);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_random_is_deterministic_and_varies() {
        let (a, b) = (TestRandom::new(7), TestRandom::new(7));
        let (mut x, mut y) = ([0u8; 40], [0u8; 40]);
        a.fill(&mut x).unwrap();
        b.fill(&mut y).unwrap();
        assert_eq!(x, y);
        a.fill(&mut y).unwrap();
        assert_ne!(x, y);
    }

    #[test]
    fn spi_and_nonce_helpers() {
        let r = TestRandom::new(3);
        assert_ne!(r.ike_spi().unwrap(), [0u8; 8]);
        assert_ne!(r.ike_spi().unwrap(), r.ike_spi().unwrap());
        assert_eq!(r.nonce(32).unwrap().len(), 32);
        assert!(r.nonce(15).is_err());
        assert!(r.nonce(257).is_err());
    }

    /// A source that returns zeros first, to show the SPI helper retries.
    struct ZerosThenCount(Mutex<u8>);
    impl RandomSource for ZerosThenCount {
        fn fill(&self, dest: &mut [u8]) -> Result<(), CryptoError> {
            let mut calls = self.0.lock().unwrap();
            dest.fill(*calls);
            *calls += 1;
            Ok(())
        }
    }

    #[test]
    fn ike_spi_is_never_zero() {
        let r = ZerosThenCount(Mutex::new(0));
        assert_eq!(r.ike_spi().unwrap(), [1u8; 8]);
    }

    #[test]
    fn system_random_fills() {
        let mut x = [0u8; 32];
        SystemRandomSource::new().fill(&mut x).unwrap();
        assert_ne!(x, [0u8; 32]);
    }
}
