//! Locus runtime: on-device language models for the Locus Chrome extension.
//!
//! The same crate builds natively (CLI, tests, benchmarks on wgpu/Vulkan) and to
//! `wasm32-unknown-unknown` (the extension's offscreen document, on WebGPU).
//! Each module has one job; see `DESIGN.md` in the shared notes for the map.

pub mod chat;
pub mod cpu;
pub mod engine;
pub mod error;
pub mod gguf;
pub mod gpu;
pub mod lid;
pub mod model;
pub mod protocol;
pub mod quant;
pub mod report;
pub mod runtime;
pub mod tasks;
pub mod tokenizer;

#[cfg(target_arch = "wasm32")]
pub mod web;

pub use error::{ErrorCode, LocusError};
