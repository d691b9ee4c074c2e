//! Typed errors of the fastText reader. Loading never panics: every way a
//! file can be short, foreign or inconsistent is one of these.

/// Why a fastText model could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LidError {
    #[error(
        "not a fastText model (magic {found:#010x}, expected {:#010x})",
        super::MAGIC
    )]
    BadMagic { found: u32 },
    #[error("fastText format version {0} is not supported (11 or 12)")]
    UnsupportedVersion(i32),
    #[error("model truncated: {what} needs {needed} bytes at offset {offset}, {available} left")]
    Truncated {
        what: &'static str,
        offset: usize,
        needed: u64,
        available: usize,
    },
    /// A count or size that cannot be right: negative, or more than the
    /// bytes left in the file could hold.
    #[error("absurd {what} in the model header: {value}")]
    AbsurdCount { what: &'static str, value: i64 },
    /// Parts of the model that disagree with each other (matrix shapes,
    /// quantiser layout, dictionary order).
    #[error("inconsistent model: {0}")]
    Inconsistent(String),
    /// A well-formed model this runtime cannot run (not supervised, unknown loss).
    #[error("unsupported model: {0}")]
    Unsupported(String),
    #[error("{0} unexpected bytes after the end of the model")]
    TrailingBytes(usize),
}
