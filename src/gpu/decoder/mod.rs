//! The decoder on the GPU: weights, persistent activation and KV buffers,
//! and the per-step plan of kernel dispatches.

mod ahead;
pub(crate) mod buffers;
mod head;
mod linears;
pub(crate) mod plan;
#[cfg(not(target_arch = "wasm32"))]
mod profile;
mod session;
mod weights;

pub use session::GpuDecoder;
pub use weights::{GpuLoadError, GpuWeights, LayerVectors};
