//! The linear layers of a `fast` step: `y = W·x` with the weights decoded
//! in the kernel and dotted with the f32 activations as they are (no
//! rounding of the activations to llama.cpp's formats).

use crate::gpu::matvec::GpuMatrix;
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
        .map(|&(matrix, y)| matrix.bind_linear(ctx, x, y, max_tokens, step))
        .collect()
}
