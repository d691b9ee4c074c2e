//! Locus runtime: on-device language models for the Locus Chrome extension.
//!
//! The same crate builds natively (CLI, tests, benchmarks on wgpu/Vulkan) and to
//! `wasm32-unknown-unknown` (the extension's offscreen document, on WebGPU).
//! Each module has one job; see `DESIGN.md` in the shared notes for the map.

pub mod cpu;
pub mod error;
pub mod gpu;
pub mod protocol;
pub mod quant;
pub mod report;
pub mod runtime;

#[cfg(target_arch = "wasm32")]
pub mod web;

pub use error::{ErrorCode, LocusError};
