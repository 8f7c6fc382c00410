//! Owned secret byte strings that are wiped on drop and never printed.

use core::fmt;
use core::ops::Deref;

use zeroize::Zeroizing;

/// Variable-length secret bytes (key material, shared secrets).
///
/// The heap buffer is zeroized when dropped; `Debug` shows only the length so a stray
/// `{:?}` in a log line cannot leak a key.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretBytes(Zeroizing<Vec<u8>>);

impl SecretBytes {
    /// Copies `bytes` into a new secret buffer.
    pub fn from_slice(bytes: &[u8]) -> Self {
        Self(Zeroizing::new(bytes.to_vec()))
    }

    /// A zero-filled secret of `len` bytes, to be filled in place.
    pub fn zeroed(len: usize) -> Self {
        Self(Zeroizing::new(vec![0; len]))
    }

    /// Mutable access for filling the buffer.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        self.0.as_mut_slice()
    }
}

impl From<Vec<u8>> for SecretBytes {
    fn from(v: Vec<u8>) -> Self {
        Self(Zeroizing::new(v))
    }
}

impl Deref for SecretBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.0.as_slice()
    }
}

impl AsRef<[u8]> for SecretBytes {
    fn as_ref(&self) -> &[u8] {
        self.0.as_slice()
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretBytes({} bytes)", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_bytes() {
        let s = SecretBytes::from_slice(&[0xde, 0xad, 0xbe, 0xef]);
        let shown = format!("{s:?}");
        assert_eq!(shown, "SecretBytes(4 bytes)");
        assert!(!shown.to_lowercase().contains("de"));
    }
}
