//! Bounds-checked reading and length-patching writing, shared by both IKE versions.
//!
//! Every read from peer bytes goes through [`Reader`], which returns
//! [`DecodeError::Truncated`] instead of panicking. Writers append to a caller-owned
//! `Vec<u8>` so a whole message is built in one buffer that can be reused.

use super::error::{DecodeError, EncodeError};

/// A cursor over untrusted bytes. It never panics: every accessor checks the length.
#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    /// Bytes consumed so far.
    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// Takes the next `n` bytes.
    pub(crate) fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        let have = self.remaining();
        if n > have {
            return Err(DecodeError::Truncated {
                what,
                need: n,
                have,
            });
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    /// Takes everything that is left.
    pub(crate) fn rest(&mut self) -> &'a [u8] {
        let out = &self.buf[self.pos..];
        self.pos = self.buf.len();
        out
    }

    pub(crate) fn array<const N: usize>(
        &mut self,
        what: &'static str,
    ) -> Result<[u8; N], DecodeError> {
        let s = self.take(N, what)?;
        let mut out = [0u8; N];
        out.copy_from_slice(s);
        Ok(out)
    }

    pub(crate) fn u8(&mut self, what: &'static str) -> Result<u8, DecodeError> {
        Ok(self.array::<1>(what)?[0])
    }

    pub(crate) fn u16(&mut self, what: &'static str) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.array(what)?))
    }

    pub(crate) fn u32(&mut self, what: &'static str) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array(what)?))
    }

    pub(crate) fn skip(&mut self, n: usize, what: &'static str) -> Result<(), DecodeError> {
        self.take(n, what).map(|_| ())
    }
}

/// Reserves a big-endian u16 length field at the current end of `buf`; returns its offset.
pub(crate) fn reserve_u16(buf: &mut Vec<u8>) -> usize {
    let at = buf.len();
    buf.extend_from_slice(&[0, 0]);
    at
}

/// Fills the u16 at `at` with the number of bytes written since `start`.
pub(crate) fn patch_len16(
    buf: &mut [u8],
    at: usize,
    start: usize,
    what: &'static str,
) -> Result<(), EncodeError> {
    let len = buf.len() - start;
    let v = u16::try_from(len).map_err(|_| EncodeError::TooLong {
        what,
        len,
        max: u16::MAX as usize,
    })?;
    buf[at..at + 2].copy_from_slice(&v.to_be_bytes());
    Ok(())
}

/// Appends `items` as a run of substructures, the way both versions chain proposals
/// in an SA and transforms in a proposal (RFC 2408 3.5/3.6, RFC 7296 3.3.1/3.3.2):
/// each gets a 4-byte generic header whose first byte is `more` on all but the last
/// item (0 there), a reserved byte and the length, then what `body` writes.
pub(crate) fn encode_substructures<T>(
    items: &[T],
    more: u8,
    what: &'static str,
    out: &mut Vec<u8>,
    mut body: impl FnMut(&T, &mut Vec<u8>) -> Result<(), EncodeError>,
) -> Result<(), EncodeError> {
    let mut rest = items.iter().peekable();
    while let Some(item) = rest.next() {
        let start = out.len();
        out.push(if rest.peek().is_some() { more } else { 0 });
        out.push(0);
        let at = reserve_u16(out);
        body(item, out)?;
        patch_len16(out, at, start, what)?;
    }
    Ok(())
}

/// Converts a count or size to the width of its wire field.
pub(crate) fn fit_u8(n: usize, what: &'static str) -> Result<u8, EncodeError> {
    u8::try_from(n).map_err(|_| EncodeError::TooLong {
        what,
        len: n,
        max: u8::MAX as usize,
    })
}

/// Converts a count or size to the width of its wire field.
pub(crate) fn fit_u16(n: usize, what: &'static str) -> Result<u16, EncodeError> {
    u16::try_from(n).map_err(|_| EncodeError::TooLong {
        what,
        len: n,
        max: u16::MAX as usize,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reader_never_reads_past_the_end() {
        let mut r = Reader::new(&[1, 2, 3]);
        assert_eq!(r.u16("x"), Ok(0x0102));
        assert_eq!(
            r.u16("y"),
            Err(DecodeError::Truncated {
                what: "y",
                need: 2,
                have: 1
            })
        );
        assert_eq!(r.u8("z"), Ok(3));
        assert!(r.is_empty());
        assert_eq!(r.take(usize::MAX, "w").unwrap_err().v2_notify().0, 7);
    }

    #[test]
    fn substructures_chain_with_more_flags_and_lengths() {
        let mut out = Vec::new();
        encode_substructures(&[&b"ab"[..], b"", b"xyz"], 2, "s", &mut out, |b, out| {
            out.extend_from_slice(b);
            Ok(())
        })
        .unwrap();
        assert_eq!(
            out,
            [2, 0, 0, 6, b'a', b'b', 2, 0, 0, 4, 0, 0, 0, 7, b'x', b'y', b'z']
        );
        let mut none = Vec::new();
        encode_substructures(&[] as &[u8], 2, "s", &mut none, |_, _| Ok(())).unwrap();
        assert!(none.is_empty());
    }

    #[test]
    fn patch_rejects_oversize() {
        let mut buf = Vec::new();
        let at = reserve_u16(&mut buf);
        buf.resize(70_000, 0);
        assert!(patch_len16(&mut buf, at, 0, "p").is_err());
    }
}
