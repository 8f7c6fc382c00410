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
    fn system_random_fills() {
        let mut x = [0u8; 32];
        SystemRandomSource::new().fill(&mut x).unwrap();
        assert_ne!(x, [0u8; 32]);
    }
}
