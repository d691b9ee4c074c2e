//! Typed errors. Every error carries a stable [`ErrorCode`] that crosses the
//! WASM boundary and the extension's message protocol unchanged.

use serde::{Deserialize, Serialize};

/// Stable error codes shared with `extension/protocol.js` (`ERROR_CODES`).
/// The JS side is checked against [`ErrorCode::ALL`] by a test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The message is not valid JSON of the protocol's shape.
    BadMessage,
    /// The request names a kind this runtime does not know.
    UnknownKind,
    /// The sender is not one of our own extension contexts.
    ForeignSender,
    /// The sender's context may not make this kind of request.
    Forbidden,
    /// The request was cancelled by `abort`.
    Aborted,
    /// No model is installed or loaded for this task.
    NoModel,
    /// The offscreen runtime went away while the request was running.
    RuntimeLost,
    /// The GPU device was lost or could not be created.
    GpuUnavailable,
    /// A GPU kernel disagreed with the CPU reference.
    SelfTestFailed,
    /// A model file is corrupt, truncated or of an unsupported kind.
    BadModel,
    /// The input does not fit the model's context window.
    TooLong,
    /// A model download failed or was cut off (it can be resumed).
    DownloadFailed,
    /// The browser's storage quota cannot hold the model.
    Quota,
    /// An invariant broke inside the runtime: a bug, reported instead of a panic.
    Internal,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 14] = [
        ErrorCode::BadMessage,
        ErrorCode::UnknownKind,
        ErrorCode::ForeignSender,
        ErrorCode::Forbidden,
        ErrorCode::Aborted,
        ErrorCode::NoModel,
        ErrorCode::RuntimeLost,
        ErrorCode::GpuUnavailable,
        ErrorCode::SelfTestFailed,
        ErrorCode::BadModel,
        ErrorCode::TooLong,
        ErrorCode::DownloadFailed,
        ErrorCode::Quota,
        ErrorCode::Internal,
    ];

    /// The wire name, e.g. `bad_message`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadMessage => "bad_message",
            ErrorCode::UnknownKind => "unknown_kind",
            ErrorCode::ForeignSender => "foreign_sender",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::Aborted => "aborted",
            ErrorCode::NoModel => "no_model",
            ErrorCode::RuntimeLost => "runtime_lost",
            ErrorCode::GpuUnavailable => "gpu_unavailable",
            ErrorCode::SelfTestFailed => "self_test_failed",
            ErrorCode::BadModel => "bad_model",
            ErrorCode::TooLong => "too_long",
            ErrorCode::DownloadFailed => "download_failed",
            ErrorCode::Quota => "quota",
            ErrorCode::Internal => "internal",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LocusError {
    #[error("malformed message: {0}")]
    BadMessage(String),
    #[error("unknown request kind `{0}`")]
    UnknownKind(String),
    #[error("request aborted")]
    Aborted,
    #[error("no language model is loaded yet for `{task}`; install one in the Models tab")]
    NoModel { task: &'static str },
    #[error("GPU unavailable: {0}")]
    Gpu(#[from] crate::gpu::GpuError),
    #[error("kernel self-test failed: {0}")]
    SelfTest(String),
    #[error("the model cannot be used: {0}")]
    BadModel(String),
    #[error("the input is {tokens} tokens, more than the model's context of {context}")]
    TooLong { tokens: usize, context: usize },
    #[error("internal error: {0}")]
    Internal(String),
}

impl LocusError {
    pub fn code(&self) -> ErrorCode {
        match self {
            LocusError::BadMessage(_) => ErrorCode::BadMessage,
            LocusError::UnknownKind(_) => ErrorCode::UnknownKind,
            LocusError::Aborted => ErrorCode::Aborted,
            LocusError::NoModel { .. } => ErrorCode::NoModel,
            LocusError::Gpu(_) => ErrorCode::GpuUnavailable,
            LocusError::SelfTest(_) => ErrorCode::SelfTestFailed,
            LocusError::BadModel(_) => ErrorCode::BadModel,
            LocusError::TooLong { .. } => ErrorCode::TooLong,
            LocusError::Internal(_) => ErrorCode::Internal,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_match_serde() {
        for code in ErrorCode::ALL {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
        }
    }
}
