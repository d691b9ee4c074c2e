//! The `fast` attention kernels over the f16 KV cache of
//! `gpu::attention` (same layout, same [`KvCacheView`], keys and values
//! stored by `gpu::attention::bind_kv_store`):
//! - [`bind_flash_attention`] (`kernels/fast/flash_attention.wgsl`): a batch
//!   (the prompt), tiles of 16 queries × 16 keys in workgroup memory, online
//!   softmax in f32, no scratch buffer;
//! - [`bind_split_attention`] (`kernels/fast/split_attention.wgsl`): one
//!   token (decode), its positions split into chunks over workgroups
//!   (flash-decoding), then a reduce pass; the chunk count follows the
//!   context length at run time ([`SplitChunks`]).
//!
//! Both read `pos0` (and `n_tokens`) from the shared step uniform; queries
//! are rounded to f16 like the cache, everything else is f32. Their error
//! against exact attention is measured in `tests/gpu_fast_attention.rs`.

use half::f16;

use crate::cpu::attention::AttentionShape;
use crate::gpu::attention::{KvCacheView, OneShotStep, kv_words};
use crate::gpu::pass::{self, KernelPass, Rows, check_words, to_u32};
use crate::gpu::{GpuContext, GpuError, Kernel};

/// Largest head (and value) width the fast kernels hold.
pub const MAX_HEAD_DIM: usize = 256;
/// Tokens per flash-attention workgroup (`BQ` in the WGSL).
pub const FLASH_TOKENS: u32 = 16;
/// Workgroup memory the flash kernel declares, in bytes.
const FLASH_WORKGROUP_BYTES: u32 = (2 * 16 * 129 + 256) * 4;

fn shape_error(why: String) -> GpuError {
    GpuError::Shape(format!("fast attention: {why}"))
}

fn check_shape(shape: &AttentionShape) -> Result<(), GpuError> {
    if shape.heads == 0 || shape.kv_heads == 0 || !shape.heads.is_multiple_of(shape.kv_heads) {
        return Err(shape_error(format!(
            "{} heads over {} KV heads",
            shape.heads, shape.kv_heads
        )));
    }
    for (what, dim) in [("head_dim", shape.head_dim), ("value_dim", shape.value_dim)] {
        if dim == 0 || !dim.is_multiple_of(2) || dim > MAX_HEAD_DIM {
            return Err(shape_error(format!(
                "{what} {dim} (even, ≤ {MAX_HEAD_DIM})"
            )));
        }
    }
    Ok(())
}

fn check_cache(
    ctx: &GpuContext,
    shape: &AttentionShape,
    cache: &KvCacheView<'_>,
) -> Result<(), GpuError> {
    let (kw, vw) = kv_words(shape);
    let capacity = u64::from(cache.capacity);
    check_words(
        ctx,
        "KV cache keys",
        cache.keys,
        u64::from(cache.k_offset) + capacity * kw as u64,
    )?;
    check_words(
        ctx,
        "KV cache values",
        cache.values,
        u64::from(cache.v_offset) + capacity * vw as u64,
    )
}

/// The flash kernel's uniform block; layout matches `Params` in the WGSL.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct FlashParams {
    heads: u32,
    kv_heads: u32,
    head_dim: u32,
    value_dim: u32,
    q_offset: u32,
    q_stride: u32,
    out_offset: u32,
    out_stride: u32,
    k_offset: u32,
    v_offset: u32,
    window: u32,
    scale: f32,
    max_tokens: u32,
    _pad: [u32; 3],
}

/// Whether the device has the workgroup memory flash attention needs (more
/// than WebGPU's guaranteed 16 KiB: SwiftShader, say, may not).
pub fn flash_attention_fits(ctx: &GpuContext) -> bool {
    ctx.limits.max_compute_workgroup_storage_size >= FLASH_WORKGROUP_BYTES
}

/// Prepares causal attention of up to `max_tokens` queries `q` (`heads ×
/// head_dim` per token, at positions `pos0..` from `step`) over `cache`
/// (their own keys and values already stored), writing `heads × value_dim`
/// values per token to `out`. `out` must not share a buffer with `q` or the
/// cache.
pub fn bind_flash_attention(
    ctx: &GpuContext,
    shape: &AttentionShape,
    cache: &KvCacheView<'_>,
    q: Rows<'_>,
    out: Rows<'_>,
    step: &wgpu::Buffer,
    max_tokens: u32,
) -> Result<KernelPass, GpuError> {
    check_shape(shape)?;
    check_cache(ctx, shape, cache)?;
    if max_tokens == 0 {
        return Err(shape_error("bound for zero tokens".into()));
    }
    let q_width = to_u32("q width", shape.heads * shape.head_dim)?;
    let out_width = to_u32("attention out width", shape.heads * shape.value_dim)?;
    check_words(ctx, "attention q", q.buffer, q.end(max_tokens, q_width))?;
    check_words(
        ctx,
        "attention out",
        out.buffer,
        out.end(max_tokens, out_width),
    )?;
    let offered = ctx.limits.max_compute_workgroup_storage_size;
    if offered < FLASH_WORKGROUP_BYTES {
        return Err(GpuError::Kernel {
            kernel: Kernel::FlashAttention.name(),
            message: format!(
                "needs {FLASH_WORKGROUP_BYTES} bytes of workgroup memory, the device offers {offered}"
            ),
        });
    }
    let params = FlashParams {
        heads: to_u32("heads", shape.heads)?,
        kv_heads: to_u32("kv heads", shape.kv_heads)?,
        head_dim: to_u32("head dim", shape.head_dim)?,
        value_dim: to_u32("value dim", shape.value_dim)?,
        q_offset: q.offset,
        q_stride: q.stride,
        out_offset: out.offset,
        out_stride: out.stride,
        k_offset: cache.k_offset,
        v_offset: cache.v_offset,
        window: to_u32("window", shape.window.unwrap_or(0))?,
        scale: shape.scale,
        max_tokens,
        _pad: [0; 3],
    };
    let blocks = max_tokens.div_ceil(FLASH_TOKENS);
    if blocks > 65_535 || params.heads > 65_535 {
        return Err(shape_error(format!(
            "{max_tokens} tokens × {} heads exceed one dispatch",
            params.heads
        )));
    }
    let uniform = pass::uniform(ctx, "flash attention params", &params);
    let pipeline = ctx.pipeline(Kernel::FlashAttention, &[])?;
    let bind_group = pass::bind_group(
        ctx,
        &pipeline,
        "flash attention",
        &[
            (0, q.buffer),
            (1, cache.keys),
            (2, cache.values),
            (3, out.buffer),
            (4, step),
            (5, &uniform),
        ],
    );
    let mut prepared = KernelPass::default();
    prepared.push_grid(pipeline, bind_group, [blocks, params.heads, 1]);
    Ok(prepared)
}

/// How [`bind_split_attention`] cuts the positions: chunks of at least
/// `min_chunk` positions, at most `max_chunks` of them per head (the
/// dispatch's size). With `n` positions attended, a chunk is
/// `max(min_chunk, ⌈n / max_chunks⌉)` long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SplitChunks {
    pub min_chunk: u32,
    pub max_chunks: u32,
}

impl SplitChunks {
    /// Fewest positions per chunk by default: a context this short runs as
    /// one pass (one workgroup per head), which is cheapest there.
    pub const MIN_CHUNK: u32 = 64;
    /// Most chunks per head by default: with a dozen heads, several
    /// hundred workgroups, enough for any GPU.
    pub const MAX_CHUNKS: u32 = 64;

    /// The default split for a cache of `capacity` positions.
    pub fn for_capacity(capacity: u32) -> SplitChunks {
        SplitChunks {
            min_chunk: Self::MIN_CHUNK,
            max_chunks: capacity
                .div_ceil(Self::MIN_CHUNK)
                .clamp(1, Self::MAX_CHUNKS),
        }
    }
}

/// The split kernel's uniform block; layout matches `Params` in the WGSL.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct SplitParams {
    heads: u32,
    kv_heads: u32,
    head_dim: u32,
    value_dim: u32,
    q_offset: u32,
    out_offset: u32,
    k_offset: u32,
    v_offset: u32,
    window: u32,
    scale: f32,
    max_chunks: u32,
    min_chunk: u32,
}

/// A scratch buffer for [`bind_split_attention`]: per head and chunk, the
/// chunk's max, sum and `value_dim` weighted values (f32).
pub fn split_attention_scratch(
    ctx: &GpuContext,
    shape: &AttentionShape,
    chunks: SplitChunks,
) -> Result<wgpu::Buffer, GpuError> {
    let bytes = split_scratch_bytes(shape, chunks);
    ctx.check_binding("split attention scratch", bytes)?;
    Ok(pass::storage_zeroed(ctx, "split attention scratch", bytes))
}

fn split_scratch_bytes(shape: &AttentionShape, chunks: SplitChunks) -> u64 {
    shape.heads as u64 * u64::from(chunks.max_chunks) * (shape.value_dim as u64 + 2) * 4
}

/// Prepares the attention of one query `q` (token 0 of the step, at
/// position `pos0` from `step`, `heads × head_dim` values from `q.offset`)
/// over `cache` (its own key and value already stored), writing `heads ×
/// value_dim` values to `out` from `out.offset`; `scratch` from
/// [`split_attention_scratch`] with the same `chunks`. Two dispatches: the
/// chunks, then their reduction (empty when one chunk covers the context).
/// `out` and `scratch` must not share a buffer with `q`, the cache or each
/// other.
#[allow(clippy::too_many_arguments)]
pub fn bind_split_attention(
    ctx: &GpuContext,
    shape: &AttentionShape,
    cache: &KvCacheView<'_>,
    q: Rows<'_>,
    out: Rows<'_>,
    scratch: &wgpu::Buffer,
    step: &wgpu::Buffer,
    chunks: SplitChunks,
) -> Result<KernelPass, GpuError> {
    check_shape(shape)?;
    check_cache(ctx, shape, cache)?;
    if chunks.min_chunk == 0 || chunks.max_chunks == 0 || chunks.max_chunks > 65_535 {
        return Err(shape_error(format!("split {chunks:?}")));
    }
    let q_width = to_u32("q width", shape.heads * shape.head_dim)?;
    let out_width = to_u32("attention out width", shape.heads * shape.value_dim)?;
    check_words(ctx, "attention q", q.buffer, q.end(1, q_width))?;
    check_words(ctx, "attention out", out.buffer, out.end(1, out_width))?;
    let needed = split_scratch_bytes(shape, chunks);
    if scratch.size() < needed {
        return Err(shape_error(format!(
            "split scratch of {} bytes, {chunks:?} needs {needed}",
            scratch.size()
        )));
    }
    ctx.check_binding("split attention scratch", scratch.size())?;
    let params = SplitParams {
        heads: to_u32("heads", shape.heads)?,
        kv_heads: to_u32("kv heads", shape.kv_heads)?,
        head_dim: to_u32("head dim", shape.head_dim)?,
        value_dim: to_u32("value dim", shape.value_dim)?,
        q_offset: q.offset,
        out_offset: out.offset,
        k_offset: cache.k_offset,
        v_offset: cache.v_offset,
        window: to_u32("window", shape.window.unwrap_or(0))?,
        scale: shape.scale,
        max_chunks: chunks.max_chunks,
        min_chunk: chunks.min_chunk,
    };
    if params.heads > 65_535 {
        return Err(shape_error(format!(
            "{} heads in one dispatch",
            params.heads
        )));
    }
    let uniform = pass::uniform(ctx, "split attention params", &params);
    let partial = ctx.pipeline(Kernel::SplitAttention, &["PARTIAL"])?;
    let reduce = ctx.pipeline(Kernel::SplitAttention, &["REDUCE"])?;
    let partial_group = pass::bind_group(
        ctx,
        &partial,
        "split attention",
        &[
            (0, q.buffer),
            (1, cache.keys),
            (2, cache.values),
            (3, out.buffer),
            (4, step),
            (5, &uniform),
            (6, scratch),
        ],
    );
    let reduce_group = pass::bind_group(
        ctx,
        &reduce,
        "split attention reduce",
        &[(3, out.buffer), (4, step), (5, &uniform), (6, scratch)],
    );
    let mut prepared = KernelPass::default();
    prepared.push_grid(partial, partial_group, [chunks.max_chunks, params.heads, 1]);
    prepared.push_grid(reduce, reduce_group, [params.heads, 1, 1]);
    Ok(prepared)
}

/// Which fast kernel [`fast_attention_step`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FastAttention {
    Flash,
    Split(SplitChunks),
}

/// One step, one shot: stores `k` and `v` (`n` tokens) into a copy of the
/// cache `(keys, values)` (`capacity` positions each) at `pos0..pos0 + n`
/// with `gpu::attention::bind_kv_store`, then attends the queries `q` (`n ×
/// heads × head_dim`) with `kernel` (`Split` takes one token). Returns the
/// attention output. For tests.
#[allow(clippy::too_many_arguments)]
pub async fn fast_attention_step(
    ctx: &GpuContext,
    shape: &AttentionShape,
    cache: (&[f16], &[f16]),
    q: &[f32],
    k: &[f32],
    v: &[f32],
    pos0: usize,
    kernel: FastAttention,
) -> Result<Vec<f32>, GpuError> {
    let one = OneShotStep::new(ctx, "fast attention: step", shape, cache, q, k, v, pos0)?;
    if matches!(kernel, FastAttention::Split(_)) && one.tokens != 1 {
        return Err(shape_error(format!(
            "a split-attention step takes one token, not {}",
            one.tokens
        )));
    }
    let (view, q_rows, out_rows) = (one.view(), one.q_rows(), one.out_rows());
    let attend = match kernel {
        FastAttention::Flash => {
            bind_flash_attention(ctx, shape, &view, q_rows, out_rows, &one.step, one.tokens)?
        }
        FastAttention::Split(chunks) => {
            let scratch = split_attention_scratch(ctx, shape, chunks)?;
            bind_split_attention(
                ctx, shape, &view, q_rows, out_rows, &scratch, &one.step, chunks,
            )?
        }
    };
    one.run(ctx, &attend).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flash_workgroup_memory_matches_the_kernel() {
        let source = Kernel::FlashAttention.source(&[]).unwrap();
        for line in [
            "var<workgroup> q_tile: array<u32, 2064>;",
            "var<workgroup> kv_tile: array<u32, 2064>;",
            "var<workgroup> p_tile: array<f32, 256>;",
            &format!("const BQ: u32 = {FLASH_TOKENS}u;"),
        ] {
            assert!(source.contains(line), "kernel lost `{line}`");
        }
        assert_eq!(FLASH_WORKGROUP_BYTES, (2064 * 2 + 256) * 4);
    }

    #[test]
    fn default_split_grows_with_the_cache() {
        assert_eq!(SplitChunks::for_capacity(64).max_chunks, 1);
        assert_eq!(SplitChunks::for_capacity(100).max_chunks, 2);
        assert_eq!(SplitChunks::for_capacity(2048).max_chunks, 32);
        assert_eq!(SplitChunks::for_capacity(1 << 20).max_chunks, 64);
    }
}
