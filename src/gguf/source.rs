//! Where GGUF bytes come from: a file natively, a byte buffer in tests, an
//! OPFS file handle in the browser.

use super::GgufError;

pub trait ByteSource {
    /// Total length in bytes.
    fn len(&self) -> u64;

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Fills `buf` from `offset`; the caller has checked the range is inside `len()`.
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), GgufError>;
}

impl ByteSource for &[u8] {
    fn len(&self) -> u64 {
        <[u8]>::len(self) as u64
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), GgufError> {
        let start =
            usize::try_from(offset).map_err(|_| GgufError::Io("offset out of range".into()))?;
        let bytes = self
            .get(start..start + buf.len())
            .ok_or_else(|| GgufError::Io(format!("read past the end at {offset}")))?;
        buf.copy_from_slice(bytes);
        Ok(())
    }
}

impl ByteSource for Vec<u8> {
    fn len(&self) -> u64 {
        self.as_slice().len() as u64
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), GgufError> {
        self.as_slice().read_at(offset, buf)
    }
}

#[cfg(not(target_arch = "wasm32"))]
impl ByteSource for std::fs::File {
    fn len(&self) -> u64 {
        self.metadata().map(|m| m.len()).unwrap_or(0)
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), GgufError> {
        use std::io::{Read, Seek, SeekFrom};
        self.seek(SeekFrom::Start(offset))
            .map_err(|e| GgufError::Io(e.to_string()))?;
        self.read_exact(buf)
            .map_err(|e| GgufError::Io(e.to_string()))
    }
}
