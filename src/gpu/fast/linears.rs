//! The linear layers of a `fast` step: `y = W·x` with the weights decoded
//! in the kernel and dotted with the f32 activations as they are (no
//! rounding of the activations to llama.cpp's formats). Batches (prefill)
//! take the fast tiled mat-mul (`gpu::fast::matmul`), one token the f32
//! mat-vec (the fast decode plan has its own fused mat-vecs).

use super::matmul::{FastMatMulIo, FastMatMulKernel, bind_fast_matmul};
use crate::gpu::decoder::plan::rows;
use crate::gpu::matvec::{GpuMatrix, choice};
use crate::gpu::pass::KernelPass;
use crate::gpu::{GpuContext, GpuError};

/// `y = W·x` for each (W, y) of `outputs`, all reading `x`, for the tokens
/// `step` says (at most `max_tokens`).
pub fn bind_linears(
    ctx: &GpuContext,
    x: &wgpu::Buffer,
    outputs: &[(&GpuMatrix, &wgpu::Buffer)],
    max_tokens: u32,
    step: &wgpu::Buffer,
) -> Result<Vec<KernelPass>, GpuError> {
    outputs
        .iter()
        .map(|&(matrix, y)| bind_linear(ctx, matrix, x, y, max_tokens, step))
        .collect()
}

fn bind_linear(
    ctx: &GpuContext,
    matrix: &GpuMatrix,
    x: &wgpu::Buffer,
    y: &wgpu::Buffer,
    max_tokens: u32,
    step: &wgpu::Buffer,
) -> Result<KernelPass, GpuError> {
    // One token, or a type the fast mat-mul does not decode (Q2_K, Q3_K):
    // the shared f32 kernels.
    if max_tokens == 1 || choice(matrix.ty).is_err() {
        return matrix.bind_linear(ctx, x, y, max_tokens, step);
    }
    let io = FastMatMulIo {
        x: rows(x, matrix.cols),
        y: rows(y, matrix.rows),
        bias: None,
        accumulate: false,
        max_tokens,
        step,
    };
    let kernel = FastMatMulKernel::best(ctx, matrix.rows, max_tokens);
    bind_fast_matmul(ctx, matrix, kernel, io)
}
