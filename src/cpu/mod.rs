//! The CPU backend: plain, obviously correct reference code. The GPU kernels
//! are tested against it, and it is the fallback where there is no WebGPU.

pub mod norm;
