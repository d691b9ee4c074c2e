//! GGUF bytes from an OPFS file through its synchronous access handle
//! (dedicated workers only): tensors are read straight into the WASM heap
//! one at a time, never the whole file.

use web_sys::{FileSystemReadWriteOptions, FileSystemSyncAccessHandle};

use crate::gguf::{ByteSource, GgufError};

pub struct SyncFileSource {
    handle: FileSystemSyncAccessHandle,
    len: u64,
}

impl SyncFileSource {
    pub fn new(handle: FileSystemSyncAccessHandle) -> Result<Self, GgufError> {
        let len = handle
            .get_size()
            .map_err(|e| GgufError::Io(format!("the file's size is unreadable: {e:?}")))?;
        Ok(SyncFileSource {
            handle,
            len: len as u64,
        })
    }
}

impl ByteSource for SyncFileSource {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), GgufError> {
        let options = FileSystemReadWriteOptions::new();
        options.set_at(offset as f64);
        let read = self
            .handle
            .read_with_u8_array_and_options(buf, &options)
            .map_err(|e| GgufError::Io(format!("reading at {offset}: {e:?}")))?;
        if read as usize != buf.len() {
            return Err(GgufError::Io(format!(
                "short read at {offset}: {read} of {} bytes",
                buf.len()
            )));
        }
        Ok(())
    }
}

/// Largest language-identification model read whole (`lid.176.bin`, the
/// unquantised one, is 126 MB; the `.ftz` we ship is under 1 MB).
const MAX_WHOLE_FILE: u64 = 256 << 20;

/// The whole file, for small models that are parsed from one buffer.
pub fn read_whole(handle: FileSystemSyncAccessHandle) -> Result<Vec<u8>, GgufError> {
    let mut source = SyncFileSource::new(handle)?;
    if source.len > MAX_WHOLE_FILE {
        return Err(GgufError::Io(format!(
            "the file is {} bytes, more than the {MAX_WHOLE_FILE} a language model may be",
            source.len
        )));
    }
    let mut bytes = vec![0; source.len as usize];
    if !bytes.is_empty() {
        source.read_at(0, &mut bytes)?;
    }
    Ok(bytes)
}
