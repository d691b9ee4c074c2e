//! The `fast` attention kernels over the f16 KV cache of
//! `gpu::attention` (same layout, same [`KvCacheView`], keys and values
//! stored by `gpu::attention::bind_kv_store`):
//! - [`bind_flash_attention`] (`kernels/fast/flash_attention.wgsl`): a batch
//!   (the prompt), tiles of 16 queries × 16 keys in workgroup memory, online
//!   softmax in f32, no scratch buffer;
//! - [`bind_split_attention`] (`kernels/fast/split_attention.wgsl`): one
//!   token (decode), its positions split into chunks over workgroups
//!   (flash-decoding), then a reduce pass; the chunk count follows the
//!   context length at run time ([`SplitChunks`]). With a [`SplitRope`] it
//!   also does the step between the QKV mat-vec and attention (q/k norms,
//!   RoPE, the query scale, the KV store), and the decode plan replaces the
//!   reduce pass with the output projection's `Combine`.
//!
//! Both read `pos0` (and `n_tokens`) from the shared step uniform; queries
//! are rounded to f16 like the cache, everything else is f32. Their error
//! against exact attention is measured in `tests/gpu_fast_attention.rs`.

use half::f16;

use crate::cpu::attention::AttentionShape;
use crate::gpu::attention::{KvCacheView, OneShotStep, attention_bindings, kv_words};
use crate::gpu::pass::{self, KernelPass, Rows, check_words, to_u32};
use crate::gpu::rope::RopeTable;
use crate::gpu::{GpuContext, GpuError, Kernel};
use crate::model::RopeStyle;

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
    let entries = attention_bindings(&q, cache, &out, step, &uniform);
    let bind_group = pass::bind_group(ctx, &pipeline, "flash attention", &entries);
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
    /// Fewest positions per chunk by default: one per thread of the
    /// 128-thread workgroup; a context this short runs as one chunk.
    pub const MIN_CHUNK: u32 = 128;
    /// Most chunks per head by default. More chunks fill the GPU sooner
    /// but every workgroup of the output projection combines them all
    /// (`Combine`): on an H100, Qwen2.5-0.5B at 8,192 positions ran 348
    /// tokens/s with 64 chunks of 128, the combine's reads dominating.
    pub const MAX_CHUNKS: u32 = 16;

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

/// Floats before the first chunk's record in the scratch (`HEADER` in the
/// WGSL); word 0 counts the chunks the last pass used.
const SCRATCH_HEADER: u64 = 4;

/// Floats in a split attention scratch of `heads` heads of `width` values
/// and `chunks` chunks per head.
pub fn split_scratch_words(heads: u32, width: u32, chunks: u32) -> u64 {
    SCRATCH_HEADER + u64::from(heads) * u64::from(chunks) * (u64::from(width) + 2)
}

/// Gemma 3's per-head norms of q and k (weights of `head_dim`) and epsilon.
#[derive(Debug, Clone, Copy)]
pub struct HeadNorms<'a> {
    pub q: &'a wgpu::Buffer,
    pub k: &'a wgpu::Buffer,
    pub eps: f32,
}

/// The step between the QKV mat-vec and attention, done by
/// [`bind_split_attention`]'s pass: the query buffer is then the mat-vec's
/// raw q | k | v of the token (q from `q.offset`, k from `k_src`, v from
/// `v_src`), and the pass normalises (Gemma 3), rotates and scales the
/// query, and rotates and stores the key and value into the cache.
#[derive(Debug, Clone, Copy)]
pub struct SplitRope<'a> {
    pub style: RopeStyle,
    pub table: &'a RopeTable,
    pub k_src: u32,
    pub v_src: u32,
    pub norms: Option<HeadNorms<'a>>,
    /// Multiplies the rotated query (Gemma 3); 1 otherwise.
    pub q_scale: f32,
}

/// `SplitRope`'s uniform block; layout matches `Rope` in the WGSL.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct RopeParams {
    k_src: u32,
    v_src: u32,
    pairs: u32,
    positions: u32,
    neox: u32,
    capacity: u32,
    eps: f32,
    q_scale: f32,
}

/// A scratch buffer for [`bind_split_attention`]: a header, then per head
/// and chunk, the chunk's max, sum and `value_dim` weighted values (f32).
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
    let heads = u32::try_from(shape.heads).unwrap_or(u32::MAX);
    let width = u32::try_from(shape.value_dim).unwrap_or(u32::MAX);
    split_scratch_words(heads, width, chunks.max_chunks) * 4
}

/// Prepares the attention of one query `q` (token 0 of the step, at
/// position `pos0` from `step`, `heads × head_dim` values from `q.offset`)
/// over `cache` (its own key and value already stored), writing `heads ×
/// value_dim` values to `out` from `out.offset`; `scratch` from
/// [`split_attention_scratch`] with the same `chunks`. Two dispatches: the
/// chunks, then their reduction (empty when one chunk covers the context);
/// [`KernelPass::then`] order, so a caller that combines the scratch itself
/// takes only the first ([`SplitAttention::chunks`]). `out` and `scratch`
/// must not share a buffer with `q`, the cache or each other. With `rope`,
/// see [`SplitRope`]: the token's key and value are not in the cache yet.
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
    rope: Option<&SplitRope<'_>>,
) -> Result<SplitAttention, GpuError> {
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
    let mut flags = vec!["PARTIAL"];
    let rope_uniform = match rope {
        None => None,
        Some(r) => {
            let p = rope_params(ctx, shape, cache, q, r)?;
            flags.push("ROPE");
            if r.norms.is_some() {
                flags.push("QK_NORM");
            }
            Some(pass::uniform(ctx, "split attention rope", &p))
        }
    };
    let partial = ctx.pipeline(Kernel::SplitAttention, &flags)?;
    let reduce = ctx.pipeline(Kernel::SplitAttention, &["REDUCE"])?;
    let mut entries = attention_bindings(&q, cache, &out, step, &uniform);
    entries.push((6, scratch));
    if let (Some(r), Some(u)) = (rope, &rope_uniform) {
        entries.extend([(7, r.table.buffer()), (8, u)]);
        if let Some(n) = r.norms {
            entries.extend([(9, n.q), (10, n.k)]);
        }
    }
    let partial_group = pass::bind_group(ctx, &partial, "split attention", &entries);
    let reduce_group = pass::bind_group(
        ctx,
        &reduce,
        "split attention reduce",
        &[(3, out.buffer), (4, step), (5, &uniform), (6, scratch)],
    );
    let mut split = SplitAttention::default();
    split
        .chunks
        .push_grid(partial, partial_group, [chunks.max_chunks, params.heads, 1]);
    split
        .reduce
        .push_grid(reduce, reduce_group, [params.heads, 1, 1]);
    Ok(split)
}

/// The two passes of [`bind_split_attention`].
#[derive(Debug, Default)]
pub struct SplitAttention {
    /// The chunks: partial results in the scratch (and the output itself
    /// when one chunk covers the context).
    pub chunks: KernelPass,
    /// Their reduction into the output.
    pub reduce: KernelPass,
}

impl SplitAttention {
    /// Both passes, in order.
    pub fn both(self) -> KernelPass {
        self.chunks.then(self.reduce)
    }
}

/// Checks a [`SplitRope`] against the shapes and builds its uniform.
fn rope_params(
    ctx: &GpuContext,
    shape: &AttentionShape,
    cache: &KvCacheView<'_>,
    q: Rows<'_>,
    r: &SplitRope<'_>,
) -> Result<RopeParams, GpuError> {
    let dims = r.table.dims();
    if dims > shape.head_dim || !shape.head_dim.is_multiple_of(2) {
        return Err(shape_error(format!(
            "rotating {dims} dims of {}-wide heads",
            shape.head_dim
        )));
    }
    let k_end = u64::from(r.k_src) + (shape.kv_heads * shape.head_dim) as u64;
    let v_end = u64::from(r.v_src) + (shape.kv_heads * shape.value_dim) as u64;
    check_words(ctx, "attention k source", q.buffer, k_end)?;
    check_words(ctx, "attention v source", q.buffer, v_end)?;
    if let Some(n) = r.norms {
        check_words(ctx, "attention q norm", n.q, shape.head_dim as u64)?;
        check_words(ctx, "attention k norm", n.k, shape.head_dim as u64)?;
    }
    Ok(RopeParams {
        k_src: r.k_src,
        v_src: r.v_src,
        pairs: to_u32("rope pairs", dims / 2)?,
        positions: to_u32("rope positions", r.table.positions())?,
        neox: u32::from(r.style == RopeStyle::Neox),
        capacity: cache.capacity,
        eps: r.norms.map_or(0.0, |n| n.eps),
        q_scale: r.q_scale,
    })
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
                ctx, shape, &view, q_rows, out_rows, &scratch, &one.step, chunks, None,
            )?
            .both()
        }
    };
    one.run(ctx, &attend).await
}

/// The rotation of a [`split_rope_step`]: a table for `dims` dimensions
/// with `base`, and Gemma 3's head norms `(q, k, eps)` where given.
#[derive(Debug, Clone, Copy)]
pub struct RopeSpec<'a> {
    pub style: RopeStyle,
    pub dims: usize,
    pub base: f32,
    pub norms: Option<(&'a [f32], &'a [f32], f32)>,
    pub q_scale: f32,
}

/// What [`split_rope_step`] reads back.
#[derive(Debug, Clone)]
pub struct RopeStepOutput {
    /// The attention output after the reduce pass.
    pub out: Vec<f32>,
    /// The scratch after the chunks' pass (what `Combine` reads).
    pub scratch: Vec<f32>,
    /// The cache after the step.
    pub keys: Vec<f16>,
    pub values: Vec<f16>,
}

/// One decode step, one shot, through [`SplitRope`]: `qkv` is the token's
/// raw q | k | v (as the QKV mat-vec writes them), the cache `(keys,
/// values)` holds positions `..pos0`. For tests.
pub async fn split_rope_step(
    ctx: &GpuContext,
    shape: &AttentionShape,
    cache: (&[f16], &[f16]),
    qkv: &[f32],
    pos0: usize,
    rope: &RopeSpec<'_>,
    chunks: SplitChunks,
) -> Result<RopeStepOutput, GpuError> {
    let (kw, vw) = kv_words(shape);
    let q_width = shape.heads * shape.head_dim;
    let capacity = cache.0.len() / (2 * kw).max(1);
    if qkv.len() != q_width + 2 * (kw + vw)
        || cache.1.len() != capacity * 2 * vw
        || pos0 >= capacity
    {
        return Err(shape_error(format!(
            "a rope step of {} values, cache {}/{} at pos {pos0}",
            qkv.len(),
            cache.0.len(),
            cache.1.len()
        )));
    }
    let words =
        |data: &[f16]| bytemuck::cast_slice::<u32, u8>(&crate::gpu::attention::pack(data)).to_vec();
    let keys = pass::storage_init(ctx, "keys", &words(cache.0));
    let values = pass::storage_init(ctx, "values", &words(cache.1));
    let source = pass::storage_init(ctx, "qkv", bytemuck::cast_slice(qkv));
    let out_width = shape.heads * shape.value_dim;
    let out = pass::storage_zeroed(ctx, "attention out", (out_width * 4) as u64);
    let scratch = split_attention_scratch(ctx, shape, chunks)?;
    let step = crate::gpu::step::step_buffer(ctx);
    crate::gpu::step::write_step(
        ctx,
        &step,
        crate::gpu::step::StepUniform::new(to_u32("pos0", pos0)?, 1),
    );
    let table = RopeTable::new(ctx, rope.dims, capacity, rope.base, 1.0)?;
    let norms = rope.norms.map(|(q, k, eps)| {
        let up = |label, w: &[f32]| pass::storage_init(ctx, label, bytemuck::cast_slice(w));
        (up("q norm", q), up("k norm", k), eps)
    });
    let split_rope = SplitRope {
        style: rope.style,
        table: &table,
        k_src: to_u32("k source", q_width)?,
        v_src: to_u32("v source", q_width + 2 * kw)?,
        norms: norms
            .as_ref()
            .map(|(q, k, eps)| HeadNorms { q, k, eps: *eps }),
        q_scale: rope.q_scale,
    };
    let view = KvCacheView {
        keys: &keys,
        k_offset: 0,
        values: &values,
        v_offset: 0,
        capacity: to_u32("capacity", capacity)?,
    };
    let split = bind_split_attention(
        ctx,
        shape,
        &view,
        Rows::from_start(&source, to_u32("q width", q_width)?),
        Rows::from_start(&out, to_u32("out width", out_width)?),
        &scratch,
        &step,
        chunks,
        Some(&split_rope),
    )?;
    let mut encoder = ctx.device.create_command_encoder(&Default::default());
    {
        let mut pass = encoder.begin_compute_pass(&Default::default());
        split.chunks.encode(&mut pass);
    }
    // The scratch as the chunks left it, before the reduce reads it.
    let scratch_copy = pass::storage_zeroed(ctx, "scratch copy", scratch.size());
    encoder.copy_buffer_to_buffer(&scratch, 0, &scratch_copy, 0, scratch.size());
    {
        let mut pass = encoder.begin_compute_pass(&Default::default());
        split.reduce.encode(&mut pass);
    }
    ctx.queue.submit([encoder.finish()]);
    let f32s = |raw: Vec<u8>| bytemuck::cast_slice::<u8, f32>(&raw).to_vec();
    let f16s = |raw: Vec<u8>| crate::gpu::attention::unpack(bytemuck::cast_slice(&raw));
    Ok(RopeStepOutput {
        out: f32s(ctx.read_buffer(&out, out.size()).await?),
        scratch: f32s(ctx.read_buffer(&scratch_copy, scratch.size()).await?),
        keys: f16s(ctx.read_buffer(&keys, keys.size()).await?),
        values: f16s(ctx.read_buffer(&values, values.size()).await?),
    })
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
        assert_eq!(SplitChunks::for_capacity(200).max_chunks, 2);
        assert_eq!(SplitChunks::for_capacity(1024).max_chunks, 8);
        assert_eq!(SplitChunks::for_capacity(1 << 20).max_chunks, 16);
    }
}
