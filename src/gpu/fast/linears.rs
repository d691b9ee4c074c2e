//! The linear layers of a `fast` step: `y = W·x` with the weights decoded
//! in the kernel and dotted with the f32 activations as they are (no
//! rounding of the activations to llama.cpp's formats). Batches (prefill)
//! take the fast tiled mat-mul (`gpu::fast::matmul`) in the variant
//! [`MatMulChoices`] names for the weight's shape, one token the f32
//! mat-vec (the fast decode plan has its own fused mat-vecs). Where the
//! choice is int8 tiles (`gpu::fast::matmul_q8`), the input is quantised to
//! Q8 once for all the linears that read it (Q, K and V; gate and up).

use std::collections::BTreeMap;

use super::matmul::{FastMatMulIo, FastMatMulKernel, TilePrecision, bind_fast_matmul};
use super::matmul_q8::{Q8MatMulIo, bind_q8_matmul, bind_quantize_q8};
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
            .filter(|kernel| kernel.runs_on(ctx) && kernel.takes(matrix.ty))
            .unwrap_or_else(|| FastMatMulKernel::best(ctx, matrix.rows, max_tokens))
    }
}

/// Where the linears of one input run.
pub struct LinearInput<'a> {
    /// `x`: the f32 activations every linear reads, `cols` values a token.
    pub x: &'a wgpu::Buffer,
    pub max_tokens: u32,
    /// The step uniform: the batch's token count (at most `max_tokens`).
    pub step: &'a wgpu::Buffer,
    /// Scratch for `x` quantised to Q8 when int8 tiles read it: at least
    /// `matmul_q8::q8_bytes(cols, max_tokens)` bytes.
    pub q8: &'a wgpu::Buffer,
}

/// `y = W·x` for each (W, y) of `outputs`, all reading `input.x`, each
/// mat-mul in the variant `choices` gives its shape; `x` is quantised once
/// if any of them takes int8 tiles.
pub fn bind_linears(
    ctx: &GpuContext,
    input: &LinearInput<'_>,
    outputs: &[(&GpuMatrix, &wgpu::Buffer)],
    choices: &MatMulChoices,
) -> Result<Vec<KernelPass>, GpuError> {
    let max_tokens = input.max_tokens;
    let kernels: Vec<Option<FastMatMulKernel>> = outputs
        .iter()
        .map(|&(matrix, _)| {
            uses_fast_matmul(matrix, max_tokens).then(|| choices.kernel(ctx, matrix, max_tokens))
        })
        .collect();
    let int8 = |kernel: &Option<FastMatMulKernel>| {
        kernel.is_some_and(|k| k.precision == TilePrecision::Int8)
    };
    let mut passes = Vec::new();
    if let Some(((matrix, _), _)) = outputs.iter().zip(&kernels).find(|(_, k)| int8(k)) {
        let x = rows(input.x, matrix.cols);
        passes.push(bind_quantize_q8(
            ctx,
            x,
            matrix.cols,
            input.q8,
            max_tokens,
            input.step,
        )?);
    }
    for (&(matrix, y), kernel) in outputs.iter().zip(kernels) {
        let y_rows = rows(y, matrix.rows);
        passes.push(match kernel {
            // One token, or a type the fast mat-mul does not decode (Q2_K,
            // Q3_K): the shared f32 kernels.
            None => matrix.bind_linear(ctx, input.x, y, max_tokens, input.step)?,
            Some(kernel) if kernel.precision == TilePrecision::Int8 => {
                let io = Q8MatMulIo {
                    q8: input.q8,
                    y: y_rows,
                    bias: None,
                    accumulate: false,
                    max_tokens,
                    step: input.step,
                };
                bind_q8_matmul(ctx, matrix, kernel.tiles, io)?
            }
            Some(kernel) => {
                let io = FastMatMulIo {
                    x: rows(input.x, matrix.cols),
                    y: y_rows,
                    bias: None,
                    accumulate: false,
                    max_tokens,
                    step: input.step,
                };
                bind_fast_matmul(ctx, matrix, kernel, io)?
            }
        });
    }
    Ok(passes)
}

/// Whether a batch of up to `max_tokens` through `matrix` runs the fast
/// mat-mul (and so has a variant to tune).
pub fn uses_fast_matmul(matrix: &GpuMatrix, max_tokens: u32) -> bool {
    max_tokens > 1 && choice(matrix.ty).is_ok()
}
