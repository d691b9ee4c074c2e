//! Token embeddings on the GPU (`kernels/embedding.wgsl`): the rows of this
//! step's tokens, read from a GPU buffer (the sampled token never leaves
//! the GPU), decoded from the raw GGUF tensor into f32, times an optional
//! scale (Gemma 3's sqrt(width)).
//!
//! The table is a [`GpuMatrix`], so it is uploaded like any weight matrix
//! (split by rows where it exceeds one binding; a tied output projection can
//! share it), and every tensor type of the mat-vec has a variant here.

use crate::gpu::matvec::{self, GpuMatrix};
use crate::gpu::pass::{self, KernelPass, Rows, check_words, to_u32};
use crate::gpu::step::{StepUniform, step_buffer, write_step};
use crate::gpu::{GpuContext, GpuError, Kernel};

/// Threads per workgroup (`@workgroup_size` in the WGSL).
const WG: u64 = 256;

/// The kernel's uniform block; layout matches `Params` in the WGSL.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    rows: u32,
    first_row: u32,
    vocab: u32,
    cols: u32,
    row_bytes: u32,
    w_offset: u32,
    tokens_offset: u32,
    out_offset: u32,
    out_stride: u32,
    scale: f32,
    _pad: [u32; 2],
}

/// Prepares the lookup of `max_tokens` token ids (u32, from word
/// `tokens_offset` of `tokens`; this step's `n_tokens` of them) into rows of
/// `table.cols` values of `out`, each times `scale` if given. A token past
/// the vocabulary gets a row of zeros. One dispatch per chunk of the table.
#[allow(clippy::too_many_arguments)]
pub fn bind_embedding(
    ctx: &GpuContext,
    table: &GpuMatrix,
    tokens: &wgpu::Buffer,
    tokens_offset: u32,
    out: Rows<'_>,
    scale: Option<f32>,
    step: &wgpu::Buffer,
    max_tokens: u32,
) -> Result<KernelPass, GpuError> {
    // The mat-vec's type choice names are this kernel's too.
    let flags = matvec::variant_flags(table.ty, false)?;
    let cols = to_u32("embedding width", table.cols)?;
    let end = u64::from(tokens_offset) + u64::from(max_tokens);
    check_words(ctx, "embedding tokens", tokens, end)?;
    check_words(ctx, "embedding out", out.buffer, out.end(max_tokens, cols))?;
    let pipeline = ctx.pipeline(Kernel::Embedding, &flags)?;
    let groups = (u64::from(max_tokens) * u64::from(cols)).div_ceil(WG);
    let groups = to_u32("embedding workgroups", groups as usize)?;
    let mut prepared = KernelPass::default();
    for chunk in &table.chunks {
        let params = Params {
            rows: to_u32("embedding rows", chunk.rows.len())?,
            first_row: to_u32("embedding rows", chunk.rows.start)?,
            vocab: to_u32("vocabulary", table.rows)?,
            cols,
            row_bytes: to_u32("embedding row bytes", table.row_bytes)?,
            w_offset: to_u32("embedding offset", chunk.byte_offset as usize)?,
            tokens_offset,
            out_offset: out.offset,
            out_stride: out.stride,
            scale: scale.unwrap_or(1.0),
            _pad: [0; 2],
        };
        let uniform = pass::uniform(ctx, "embedding params", &params);
        let bind_group = pass::bind_group(
            ctx,
            &pipeline,
            "embedding",
            &[
                (0, &chunk.buffer),
                (1, tokens),
                (2, out.buffer),
                (3, step),
                (4, &uniform),
            ],
        );
        prepared.push(pipeline.clone(), bind_group, groups);
    }
    Ok(prepared)
}

/// One shot: the rows of `tokens`, times `scale` if given. For tests.
pub async fn embed(
    ctx: &GpuContext,
    table: &GpuMatrix,
    tokens: &[u32],
    scale: Option<f32>,
) -> Result<Vec<f32>, GpuError> {
    if tokens.is_empty() {
        return Ok(Vec::new());
    }
    let n = to_u32("tokens", tokens.len())?;
    let token_buffer = pass::storage_init(ctx, "tokens", bytemuck::cast_slice(tokens));
    let bytes = (tokens.len() * table.cols * 4) as u64;
    let out = pass::storage_zeroed(ctx, "embeddings", bytes);
    let step = step_buffer(ctx);
    write_step(ctx, &step, StepUniform::new(0, n));
    let rows = Rows {
        buffer: &out,
        offset: 0,
        stride: to_u32("embedding width", table.cols)?,
    };
    let prepared = bind_embedding(ctx, table, &token_buffer, 0, rows, scale, &step, n)?;
    let raw = pass::run_and_read(ctx, &[&prepared], &out, bytes).await?;
    Ok(bytemuck::cast_slice(&raw).to_vec())
}
