//! Why a model cannot be loaded or run.

use crate::gguf::GgufError;
use crate::quant::QuantError;

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("architecture `{0}` is not supported (supported: llama, qwen2, qwen3, gemma3)")]
    UnsupportedArchitecture(String),
    #[error(transparent)]
    Gguf(#[from] GgufError),
    #[error("tensor `{tensor}`: {source}")]
    Quant { tensor: String, source: QuantError },
    #[error("the model has no tensor `{0}`")]
    MissingTensor(String),
    #[error("tensor `{tensor}` has shape {found:?}, the architecture needs {expected:?}")]
    ShapeMismatch {
        tensor: String,
        expected: Vec<u64>,
        found: Vec<u64>,
    },
    #[error("the model's metadata is inconsistent: {0}")]
    BadConfig(String),
    #[error("the context window is full ({capacity} tokens)")]
    ContextFull { capacity: usize },
    #[error("token id {id} is outside the vocabulary of {vocab} tokens")]
    BadToken { id: u32, vocab: usize },
}
