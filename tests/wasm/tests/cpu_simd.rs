//! `tests/cpu_simd.rs`, run under wasm32: the SIMD128 kernels against the
//! portable ones, bit for bit.

#[path = "../../cpu_simd.rs"]
mod cpu_simd;
