//! RMSNorm on the GPU (`kernels/rmsnorm.wgsl`), bit for bit as
//! `cpu::ops::rms_norm`: hidden states (one row per token) and Gemma 3's
//! per-head q/k norms (one row per head).

use crate::gpu::pass::{self, KernelPass, Rows, check_words, to_u32};
use crate::gpu::step::StepUniform;
use crate::gpu::{GpuContext, GpuError, Kernel};

/// The kernel's uniform block; layout matches `Params` in the WGSL.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    rows: u32,
    dim: u32,
    eps: f32,
    per_token: u32,
    x_offset: u32,
    x_stride: u32,
    y_offset: u32,
    y_stride: u32,
}

/// The variant flags this device should use: none any more (the kernel
/// has one variant since its sum became exact; kept for callers).
pub fn preferred_flags(_ctx: &GpuContext) -> Vec<&'static str> {
    Vec::new()
}

/// What one RMSNorm pass normalises: `per_token` rows of `dim` values per
/// token, from `x` into `y` (different buffers), scaled by `weight` (`dim`
/// f32 values).
pub struct NormRows<'a> {
    pub x: Rows<'a>,
    pub y: Rows<'a>,
    pub weight: &'a wgpu::Buffer,
    pub dim: usize,
    pub per_token: usize,
    pub eps: f32,
}

/// Prepares RMSNorm of this step's tokens (`n_tokens` from `step`, at most
/// `max_tokens`), or of exactly `fixed_tokens` tokens when given, with the
/// kernel variant `flags` (see [`preferred_flags`]).
pub fn bind_rms_norm(
    ctx: &GpuContext,
    norm: &NormRows<'_>,
    step: &wgpu::Buffer,
    max_tokens: u32,
    fixed_tokens: Option<u32>,
    flags: &[&'static str],
) -> Result<KernelPass, GpuError> {
    let dim = to_u32("rmsnorm width", norm.dim)?;
    let per_token = to_u32("rmsnorm rows per token", norm.per_token.max(1))?;
    let tokens = fixed_tokens.unwrap_or(max_tokens).max(1);
    let width = dim * per_token;
    check_words(ctx, "rmsnorm x", norm.x.buffer, norm.x.end(tokens, width))?;
    check_words(ctx, "rmsnorm y", norm.y.buffer, norm.y.end(tokens, width))?;
    check_words(ctx, "rmsnorm weight", norm.weight, u64::from(dim))?;
    let params = Params {
        rows: fixed_tokens.map_or(0, |t| t * per_token),
        dim,
        eps: norm.eps,
        per_token,
        x_offset: norm.x.offset,
        x_stride: norm.x.stride,
        y_offset: norm.y.offset,
        y_stride: norm.y.stride,
    };
    let uniform = pass::uniform(ctx, "rmsnorm params", &params);
    let pipeline = ctx.pipeline(Kernel::RmsNorm, flags)?;
    let bind_group = pass::bind_group(
        ctx,
        &pipeline,
        "rmsnorm",
        &[
            (0, norm.x.buffer),
            (1, norm.weight),
            (2, norm.y.buffer),
            (3, &uniform),
            (4, step),
        ],
    );
    let mut prepared = KernelPass::default();
    prepared.push(pipeline, bind_group, tokens * per_token);
    Ok(prepared)
}

/// Normalises each row of `input` (rows × `weight.len()`) and scales by
/// `weight`. A one-shot helper: uploads, dispatches once and reads back.
pub async fn rms_norm(
    ctx: &GpuContext,
    input: &[f32],
    weight: &[f32],
    eps: f32,
    flags: &[&'static str],
) -> Result<Vec<f32>, GpuError> {
    let dim = weight.len();
    if dim == 0 || !input.len().is_multiple_of(dim) {
        return Err(GpuError::Shape(format!(
            "rmsnorm: {} values are not rows of {dim}",
            input.len()
        )));
    }
    let rows = to_u32("rmsnorm rows", input.len() / dim)?;
    let bytes = std::mem::size_of_val(input) as u64;
    ctx.check_binding("rmsnorm input", bytes)?;
    let x = pass::storage_init(ctx, "rmsnorm x", bytemuck::cast_slice(input));
    let w = pass::storage_init(ctx, "rmsnorm w", bytemuck::cast_slice(weight));
    let y = pass::storage_zeroed(ctx, "rmsnorm y", bytes);
    let step = StepUniform::new(0, rows).to_buffer(ctx);
    let stride = to_u32("rmsnorm width", dim)?;
    let norm = NormRows {
        x: Rows {
            buffer: &x,
            offset: 0,
            stride,
        },
        y: Rows {
            buffer: &y,
            offset: 0,
            stride,
        },
        weight: &w,
        dim,
        per_token: 1,
        eps,
    };
    let prepared = bind_rms_norm(ctx, &norm, &step, rows, Some(rows), flags)?;
    let mut encoder = ctx.device.create_command_encoder(&Default::default());
    {
        let mut compute = encoder.begin_compute_pass(&Default::default());
        prepared.encode(&mut compute);
    }
    ctx.queue.submit([encoder.finish()]);
    let raw = ctx.read_buffer(&y, bytes).await?;
    Ok(bytemuck::cast_slice(&raw).to_vec())
}
