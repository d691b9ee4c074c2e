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
