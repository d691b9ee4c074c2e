//! The CPU backend: plain, obviously correct code. It is the ground truth the
//! GPU kernels are tested against, and the fallback where there is no WebGPU.

pub mod attention;
pub mod decoder;
pub mod ggml_numerics;
pub mod matmul;
pub mod norm;
pub mod ops;
pub mod pool;
pub mod rope;
mod team;

pub use decoder::{CpuDecoder, Logits};
