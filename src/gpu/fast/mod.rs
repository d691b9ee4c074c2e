//! The `fast` numerics' own kernels: whatever arithmetic is fastest on the
//! adapter, judged by margins against the `exact` oracle and llama.cpp
//! (see `gpu::Numerics`), never bit for bit.

pub mod attention;
pub mod concat;
pub(crate) mod fused;
pub mod linears;
pub mod matmul;
pub mod matmul_q8;
pub mod matvec;
pub mod norm_add;
pub(crate) mod plan;
