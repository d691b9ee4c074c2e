//! The decoder on the GPU: weights, persistent activation and KV buffers,
//! and the per-step plan of kernel dispatches.

mod ahead;
pub(crate) mod buffers;
mod head;
mod linears;
pub(crate) mod plan;
#[cfg(not(target_arch = "wasm32"))]
mod prefill_profile;
#[cfg(not(target_arch = "wasm32"))]
mod profile;
mod session;
mod weights;

#[cfg(not(target_arch = "wasm32"))]
pub use prefill_profile::DecodeDispatches;
pub use session::GpuDecoder;
pub use weights::{GpuLoadError, GpuWeights, LayerVectors};
