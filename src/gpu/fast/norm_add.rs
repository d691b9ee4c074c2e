//! The `fast` post-norm residual (`kernels/fast/norm_add.wgsl`, Gemma 3):
//! `hidden += rmsnorm(x) · w` for this step's tokens, one dispatch.

use crate::gpu::pass::{self, KernelPass, check_words, to_u32};
use crate::gpu::{GpuContext, GpuError, Kernel};

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    width: u32,
    eps: f32,
    _pad: [u32; 2],
}

/// Prepares `hidden += rmsnorm(x) · weight` over rows of `width` for up to
/// `max_tokens` tokens (the step's `n_tokens` of them).
#[allow(clippy::too_many_arguments)]
pub fn bind_norm_add(
    ctx: &GpuContext,
    x: &wgpu::Buffer,
    weight: &wgpu::Buffer,
    hidden: &wgpu::Buffer,
    width: usize,
    eps: f32,
    step: &wgpu::Buffer,
    max_tokens: u32,
) -> Result<KernelPass, GpuError> {
    let end = u64::from(max_tokens) * width as u64;
    check_words(ctx, "norm-add x", x, end)?;
    check_words(ctx, "norm-add hidden", hidden, end)?;
    check_words(ctx, "norm-add weight", weight, width as u64)?;
    let params = Params {
        width: to_u32("norm-add width", width)?,
        eps,
        _pad: [0; 2],
    };
    let pipeline = ctx.pipeline(Kernel::FastNormAdd, &[])?;
    let uniform = pass::uniform(ctx, "norm-add params", &params);
    let bind_group = pass::bind_group(
        ctx,
        &pipeline,
        "norm-add",
        &[(0, x), (1, weight), (2, hidden), (3, &uniform), (4, step)],
    );
    let mut prepared = KernelPass::default();
    prepared.push(pipeline, bind_group, max_tokens.max(1));
    Ok(prepared)
}
