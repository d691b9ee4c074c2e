//! GGUF files (versions 2 and 3): header, metadata, tensor table, and tensor
//! data read one tensor at a time from any byte source, so a model never has
//! to sit whole in memory.
//!
//! Every count in a header is checked against the bytes that are actually
//! left in the file before anything is allocated: a hostile header can make
//! the reader fail, never make it allocate gigabytes.

mod error;
mod header;
mod metadata;
mod source;
mod synthetic;
mod writer;

pub use error::GgufError;
pub use header::{GgufFile, TensorInfo};
pub use metadata::{Metadata, Value};
pub use source::ByteSource;
pub use synthetic::SyntheticSource;
pub use writer::{TensorSpec, WrittenHeader, put_str, put_value, type_id, write_header};

/// "GGUF" read as a little-endian u32.
pub const MAGIC: [u8; 4] = *b"GGUF";
pub const DEFAULT_ALIGNMENT: u64 = 32;

#[cfg(test)]
mod tests;
