//! The linear layers of a `fast` step: `y = W·x` with the weights decoded
//! in the kernel and dotted with the f32 activations as they are (no
//! rounding of the activations to llama.cpp's formats). Batches (prefill)
//! take the fast tiled mat-mul (`gpu::fast::matmul`) in the variant
//! [`MatMulChoices`] names for the weight's shape, one token the f32
//! mat-vec (the fast decode plan has its own fused mat-vecs).

use std::collections::BTreeMap;

use super::matmul::{FastMatMulIo, FastMatMulKernel, bind_fast_matmul};
use crate::gpu::decoder::plan::rows;
use crate::gpu::matvec::{GpuMatrix, choice};
use crate::gpu::pass::KernelPass;
use crate::gpu::{GpuContext, GpuError};

/// A weight matrix's shape as the tuning table keys it: type, rows ×
/// columns (e.g. `Q5_0 4864x896`).
pub fn shape_key(matrix: &GpuMatrix) -> String {
    format!("{} {}x{}", matrix.ty, matrix.rows, matrix.cols)
}

/// The fast mat-mul variant chosen for each weight shape ([`shape_key`]),
/// e.g. by the per-adapter autotune (`gpu::tuning`). A shape without a
/// choice, or whose choice the device cannot run, takes
/// [`FastMatMulKernel::best`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MatMulChoices {
    by_shape: BTreeMap<String, FastMatMulKernel>,
}

impl MatMulChoices {
    pub fn insert(&mut self, shape: String, kernel: FastMatMulKernel) {
        self.by_shape.insert(shape, kernel);
    }

    /// The variant `matrix` is bound with for batches of up to `max_tokens`.
    pub fn kernel(
        &self,
        ctx: &GpuContext,
        matrix: &GpuMatrix,
        max_tokens: u32,
    ) -> FastMatMulKernel {
        self.by_shape
            .get(&shape_key(matrix))
            .copied()
            .filter(|kernel| kernel.runs_on(ctx))
            .unwrap_or_else(|| FastMatMulKernel::best(ctx, matrix.rows, max_tokens))
    }
}

/// `y = W·x` for each (W, y) of `outputs`, all reading `x`, for the tokens
/// `step` says (at most `max_tokens`), each mat-mul in the variant
/// `choices` gives its shape.
pub fn bind_linears(
    ctx: &GpuContext,
    x: &wgpu::Buffer,
    outputs: &[(&GpuMatrix, &wgpu::Buffer)],
    max_tokens: u32,
    step: &wgpu::Buffer,
    choices: &MatMulChoices,
) -> Result<Vec<KernelPass>, GpuError> {
    outputs
        .iter()
        .map(|&(matrix, y)| bind_linear(ctx, matrix, x, y, max_tokens, step, choices))
        .collect()
}

fn bind_linear(
    ctx: &GpuContext,
    matrix: &GpuMatrix,
    x: &wgpu::Buffer,
    y: &wgpu::Buffer,
    max_tokens: u32,
    step: &wgpu::Buffer,
    choices: &MatMulChoices,
) -> Result<KernelPass, GpuError> {
    // One token, or a type the fast mat-mul does not decode (Q2_K, Q3_K):
    // the shared f32 kernels.
    if !uses_fast_matmul(matrix, max_tokens) {
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
    bind_fast_matmul(ctx, matrix, choices.kernel(ctx, matrix, max_tokens), io)
}

/// Whether a batch of up to `max_tokens` through `matrix` runs the fast
/// mat-mul (and so has a variant to tune).
pub fn uses_fast_matmul(matrix: &GpuMatrix, max_tokens: u32) -> bool {
    max_tokens > 1 && choice(matrix.ty).is_ok()
}
