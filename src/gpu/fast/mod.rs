//! The `fast` numerics' own kernels: whatever arithmetic is fastest on the
//! adapter, judged by margins against the `exact` oracle and llama.cpp
//! (see `gpu::Numerics`), never bit for bit.

pub mod attention;
pub mod linears;
pub mod matmul;
