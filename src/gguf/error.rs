//! What can be wrong with a GGUF file, each with enough detail to act on.

use crate::quant::QuantError;

#[derive(Debug, thiserror::Error)]
pub enum GgufError {
    #[error("not a GGUF file (magic bytes {0:02x?}, expected \"GGUF\")")]
    BadMagic([u8; 4]),
    #[error("GGUF version {0} is not supported (versions 2 and 3 are)")]
    UnsupportedVersion(u32),
    #[error(
        "the file is truncated: {what} at byte {offset} needs {needed} bytes, but the file has {file_len}"
    )]
    Truncated {
        what: String,
        offset: u64,
        needed: u64,
        file_len: u64,
    },
    #[error("the header claims {count} {what}, more than the file's {file_len} bytes could hold")]
    ImplausibleCount {
        what: &'static str,
        count: u64,
        file_len: u64,
    },
    #[error("{what} is not valid UTF-8")]
    BadUtf8 { what: String },
    #[error("metadata `{key}` has an unknown value type {type_id}")]
    BadValueType { key: String, type_id: u32 },
    #[error("metadata arrays nest deeper than {0} levels")]
    TooDeep(usize),
    #[error("metadata key `{0}` appears twice")]
    DuplicateKey(String),
    #[error("tensor `{0}` appears twice")]
    DuplicateTensor(String),
    #[error("tensor `{tensor}`: {source}")]
    TensorType { tensor: String, source: QuantError },
    #[error("tensor `{tensor}`: {reason}")]
    BadTensor { tensor: String, reason: String },
    #[error("metadata `{0}` is missing")]
    MissingKey(String),
    #[error("metadata `{key}` should be {expected}, but is {found}")]
    WrongType {
        key: String,
        expected: &'static str,
        found: &'static str,
    },
    #[error("metadata `{key}` would take more than the {limit} bytes allowed for all metadata")]
    MetadataTooLarge { key: String, limit: u64 },
    #[error("alignment {0} is not a power of two")]
    BadAlignment(u64),
    #[error("reading the file failed: {0}")]
    Io(String),
}
