//! A bounds-checked little-endian cursor over the model bytes. Every read
//! that depends on a count from the file checks the count against the bytes
//! left before allocating.

use super::LidError;

pub(crate) struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, pos: 0 }
    }

    pub fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    pub fn take(&mut self, n: u64, what: &'static str) -> Result<&'a [u8], LidError> {
        let available = self.remaining();
        if n > available as u64 {
            return Err(LidError::Truncated {
                what,
                offset: self.pos,
                needed: n,
                available,
            });
        }
        let n = n as usize;
        let slice = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], LidError> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N as u64, what)?);
        Ok(out)
    }

    pub fn u8(&mut self, what: &'static str) -> Result<u8, LidError> {
        Ok(self.array::<1>(what)?[0])
    }

    pub fn i32(&mut self, what: &'static str) -> Result<i32, LidError> {
        self.array(what).map(i32::from_le_bytes)
    }

    pub fn i64(&mut self, what: &'static str) -> Result<i64, LidError> {
        self.array(what).map(i64::from_le_bytes)
    }

    pub fn f64(&mut self, what: &'static str) -> Result<f64, LidError> {
        self.array(what).map(f64::from_le_bytes)
    }

    /// A C++ `bool` as fastText writes it: one byte, 0 or 1.
    pub fn bool(&mut self, what: &'static str) -> Result<bool, LidError> {
        match self.u8(what)? {
            0 => Ok(false),
            1 => Ok(true),
            other => Err(LidError::AbsurdCount {
                what,
                value: other.into(),
            }),
        }
    }

    /// Bytes up to (not including) the next NUL, which is consumed.
    pub fn c_string(&mut self, what: &'static str) -> Result<&'a [u8], LidError> {
        let rest = &self.bytes[self.pos..];
        let Some(len) = rest.iter().position(|&b| b == 0) else {
            return Err(LidError::Truncated {
                what,
                offset: self.pos,
                needed: rest.len() as u64 + 1,
                available: rest.len(),
            });
        };
        self.pos += len + 1;
        Ok(&rest[..len])
    }

    /// `count` little-endian f32s; the count is checked before allocating.
    pub fn f32s(&mut self, count: u64, what: &'static str) -> Result<Vec<f32>, LidError> {
        let bytes = count.checked_mul(4).ok_or(LidError::AbsurdCount {
            what,
            value: count as i64,
        })?;
        let raw = self.take(bytes, what)?;
        Ok(raw
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    }

    /// A count read from the file, checked to be non-negative (else
    /// `AbsurdCount`) and small enough that `count` items of at least
    /// `min_item_bytes` each fit in what is left of the file (else `Truncated`).
    pub fn count(
        &self,
        value: i64,
        min_item_bytes: u64,
        what: &'static str,
    ) -> Result<usize, LidError> {
        let absurd = LidError::AbsurdCount { what, value };
        let count = u64::try_from(value).map_err(|_| absurd.clone())?;
        let needed = count.checked_mul(min_item_bytes).ok_or(absurd.clone())?;
        if needed > self.remaining() as u64 {
            return Err(LidError::Truncated {
                what,
                offset: self.pos,
                needed,
                available: self.remaining(),
            });
        }
        usize::try_from(count).map_err(|_| absurd)
    }
}
