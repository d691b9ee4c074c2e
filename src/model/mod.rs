//! Decoder-only transformers described by GGUF metadata: Llama (SmolLM2,
//! Llama 3.x), Qwen2, Qwen3 and Gemma 3 share one decoder with per-family
//! switches.

mod config;
mod error;
mod kv_cache;
mod weights;

pub use config::{Activation, Architecture, ModelConfig, RopeStyle};
pub use error::ModelError;
pub use kv_cache::KvCache;
pub use weights::{LayerWeights, QTensor, Weights};
