//! The `exact` numerics' own kernels: linear layers computed the way
//! llama.cpp's x86 CPU backend computes them, bit for bit — activations
//! quantised and packed as ggml quantises them, integer sums and float
//! chains in ggml's lane order. They are the oracle every other path is
//! measured against (see `gpu::Numerics`). The ops both numerics share
//! (attention, norms, RoPE, embedding, sampling) live beside this folder.

pub mod ggml_matvec;
pub mod ggml_quantize;
pub mod quantize;
