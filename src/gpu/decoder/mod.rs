//! The decoder on the GPU: weights, persistent activation and KV buffers,
//! and the per-step plan of kernel dispatches.

mod weights;

pub use weights::{GpuLoadError, GpuWeights, LayerVectors};
