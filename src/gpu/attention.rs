//! Attention on the GPU: storing a step's keys and values into the f16 KV
//! cache (`kernels/kv_store.wgsl`) and causal grouped-query attention over it
//! (`kernels/attention.wgsl`), bit for bit as `cpu::attention::attend`.
//!
//! The cache of one layer is position-major like `model::KvCache`:
//! `capacity × kv_heads × head_dim` f16 keys and `capacity × kv_heads ×
//! value_dim` f16 values, packed two per u32 (low half first), anywhere in
//! one or two buffers ([`KvCacheView`]). Both passes read `pos0` and
//! `n_tokens` from the shared step uniform and are dispatched for
//! `max_tokens` tokens, given at bind time: work past `n_tokens` is skipped.
//!
//! Attention keeps each (token, head)'s scores in a scratch buffer
//! ([`attention_scratch`]), one `capacity`-long row per workgroup; when a
//! batch needs more rows than the scratch holds, the pass is split into
//! dispatches over groups of tokens that reuse it. One scratch can serve
//! every layer.

use half::f16;

use crate::cpu::attention::AttentionShape;
pub use crate::gpu::pass::Rows;
use crate::gpu::pass::{self, KernelPass, check_words, to_u32};
use crate::gpu::step::{StepUniform, step_buffer, write_step};
use crate::gpu::{GpuContext, GpuError, Kernel};

/// Largest head width the attention kernel holds (`MAX_HEAD_DIM`).
pub const MAX_HEAD_DIM: usize = 256;
/// Bytes of attention scratch worth splitting a batch for (more tokens per
/// dispatch only when they fit in this).
const SCRATCH_BUDGET: u64 = 32 << 20;

/// Where one layer's KV cache lives: word offsets of position 0 of its keys
/// and values (the buffers may be the same), and its capacity in positions.
#[derive(Debug, Clone, Copy)]
pub struct KvCacheView<'a> {
    pub keys: &'a wgpu::Buffer,
    pub k_offset: u32,
    pub values: &'a wgpu::Buffer,
    pub v_offset: u32,
    pub capacity: u32,
}

/// u32 words per cached position: `(keys, values)`.
pub fn kv_words(shape: &AttentionShape) -> (usize, usize) {
    (
        shape.kv_heads * shape.head_dim / 2,
        shape.kv_heads * shape.value_dim / 2,
    )
}

fn check_shape(shape: &AttentionShape) -> Result<(), GpuError> {
    let bad = |why: String| Err(GpuError::Shape(format!("attention: {why}")));
    if shape.heads == 0 || shape.kv_heads == 0 || !shape.heads.is_multiple_of(shape.kv_heads) {
        return bad(format!(
            "{} heads over {} KV heads",
            shape.heads, shape.kv_heads
        ));
    }
    if shape.head_dim == 0 || !shape.head_dim.is_multiple_of(2) || shape.head_dim > MAX_HEAD_DIM {
        return bad(format!(
            "head_dim {} (even, ≤ {MAX_HEAD_DIM})",
            shape.head_dim
        ));
    }
    if shape.value_dim == 0 || !shape.value_dim.is_multiple_of(2) {
        return bad(format!("value_dim {} (even)", shape.value_dim));
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

/// The kernel's uniform block; layout matches `Params` in kv_store.wgsl.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct StoreParams {
    k_words: u32,
    v_words: u32,
    k_src: u32,
    k_stride: u32,
    v_src: u32,
    v_stride: u32,
    k_dst: u32,
    v_dst: u32,
    capacity: u32,
    _pad: [u32; 3],
}

/// Prepares the store of `max_tokens` tokens' keys `k` (`kv_heads ×
/// head_dim` per token) and values `v` into `cache` at positions `pos0..`
/// (from `step`). Positions at or past the capacity are dropped.
pub fn bind_kv_store(
    ctx: &GpuContext,
    shape: &AttentionShape,
    cache: &KvCacheView<'_>,
    k: Rows<'_>,
    v: Rows<'_>,
    step: &wgpu::Buffer,
    max_tokens: u32,
) -> Result<KernelPass, GpuError> {
    check_shape(shape)?;
    check_cache(ctx, shape, cache)?;
    let (kw, vw) = kv_words(shape);
    check_words(
        ctx,
        "attention keys in",
        k.buffer,
        k.end(max_tokens, 2 * kw as u32),
    )?;
    check_words(
        ctx,
        "attention values in",
        v.buffer,
        v.end(max_tokens, 2 * vw as u32),
    )?;
    let params = StoreParams {
        k_words: to_u32("key words", kw)?,
        v_words: to_u32("value words", vw)?,
        k_src: k.offset,
        k_stride: k.stride,
        v_src: v.offset,
        v_stride: v.stride,
        k_dst: cache.k_offset,
        v_dst: cache.v_offset,
        capacity: cache.capacity,
        _pad: [0; 3],
    };
    let uniform = pass::uniform(ctx, "kv store params", &params);
    let pipeline = ctx.pipeline(Kernel::KvStore, &[])?;
    let bind_group = pass::bind_group(
        ctx,
        &pipeline,
        "kv store",
        &[
            (0, k.buffer),
            (1, v.buffer),
            (2, cache.keys),
            (3, cache.values),
            (4, step),
            (5, &uniform),
        ],
    );
    let threads = u64::from(max_tokens) * kw.max(vw) as u64;
    let mut prepared = KernelPass::default();
    prepared.push(
        pipeline,
        bind_group,
        to_u32("kv store workgroups", threads.div_ceil(64) as usize)?,
    );
    Ok(prepared)
}

/// The kernel's uniform block; layout matches `Params` in attention.wgsl.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct AttentionParams {
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
    t_base: u32,
    capacity: u32,
    _pad: [u32; 2],
}

/// Bytes of one token's scores: a `capacity`-long f32 row per head.
fn scratch_row_bytes(heads: usize, capacity: u32) -> u64 {
    heads as u64 * u64::from(capacity.max(1)) * 4
}

/// A scratch buffer for [`bind_attention`] of `heads` heads over a cache of
/// `capacity` positions, batches of up to `max_tokens`: room for all their
/// scores where that takes at most 32 MiB, else for as many tokens as fit
/// (at least one).
pub fn attention_scratch(
    ctx: &GpuContext,
    heads: usize,
    capacity: u32,
    max_tokens: u32,
) -> Result<wgpu::Buffer, GpuError> {
    let row = scratch_row_bytes(heads, capacity);
    let tokens = (SCRATCH_BUDGET / row).clamp(1, u64::from(max_tokens.max(1)));
    let bytes = tokens * row;
    ctx.check_binding("attention scratch", bytes)?;
    Ok(pass::storage_zeroed(ctx, "attention scratch", bytes))
}

/// Prepares attention of `max_tokens` queries `q` (`heads × head_dim` per
/// token) over `cache` (their own keys and values already stored), writing
/// `heads × value_dim` values per token to `out`, with `scratch` from
/// [`attention_scratch`] (for these heads and at least this capacity). `out`
/// and `scratch` must not share a buffer with `q`, the cache or each other
/// (a binding cannot be both read and written).
#[allow(clippy::too_many_arguments)]
pub fn bind_attention(
    ctx: &GpuContext,
    shape: &AttentionShape,
    cache: &KvCacheView<'_>,
    q: Rows<'_>,
    out: Rows<'_>,
    scratch: &wgpu::Buffer,
    step: &wgpu::Buffer,
    max_tokens: u32,
) -> Result<KernelPass, GpuError> {
    check_shape(shape)?;
    check_cache(ctx, shape, cache)?;
    let q_width = to_u32("q width", shape.heads * shape.head_dim)?;
    let out_width = to_u32("attention out width", shape.heads * shape.value_dim)?;
    check_words(ctx, "attention q", q.buffer, q.end(max_tokens, q_width))?;
    check_words(
        ctx,
        "attention out",
        out.buffer,
        out.end(max_tokens, out_width),
    )?;
    let row = scratch_row_bytes(shape.heads, cache.capacity);
    let per_dispatch = u32::try_from(scratch.size() / row)
        .unwrap_or(u32::MAX)
        .min(max_tokens.max(1));
    if per_dispatch == 0 {
        return Err(GpuError::Shape(format!(
            "attention scratch of {} bytes, one token needs {row}",
            scratch.size()
        )));
    }
    ctx.check_binding("attention scratch", scratch.size())?;
    let pipeline = ctx.pipeline(Kernel::Attention, &[])?;
    let mut prepared = KernelPass::default();
    for t_base in (0..max_tokens.max(1)).step_by(per_dispatch as usize) {
        let params = AttentionParams {
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
            t_base,
            capacity: cache.capacity,
            _pad: [0; 2],
        };
        let uniform = pass::uniform(ctx, "attention params", &params);
        let mut entries = attention_bindings(&q, cache, &out, step, &uniform);
        entries.push((6, scratch));
        let bind_group = pass::bind_group(ctx, &pipeline, "attention", &entries);
        let tokens = per_dispatch.min(max_tokens.max(1) - t_base);
        let groups = u64::from(tokens) * u64::from(params.heads);
        prepared.push(
            pipeline.clone(),
            bind_group,
            to_u32("attention workgroups", groups as usize)?,
        );
    }
    Ok(prepared)
}

/// f16 values packed two per u32, low half first (`len` even).
pub(crate) fn pack(values: &[f16]) -> Vec<u32> {
    values
        .chunks_exact(2)
        .map(|p| u32::from(p[0].to_bits()) | (u32::from(p[1].to_bits()) << 16))
        .collect()
}

pub(crate) fn unpack(words: &[u32]) -> Vec<f16> {
    words
        .iter()
        .flat_map(|&w| [f16::from_bits(w as u16), f16::from_bits((w >> 16) as u16)])
        .collect()
}

/// The set-up of a one-shot attention step, for tests: a copy of the cache
/// `(keys, values)` on the GPU, the step's `q`, `k` and `v` (`tokens` of
/// them, stored from position `pos0`), an output buffer, the step uniform
/// and the pass storing `k` and `v` into the cache. Each attention kernel's
/// one-shot helper binds its own pass over these and calls [`Self::run`].
pub struct OneShotStep {
    pub keys: wgpu::Buffer,
    pub values: wgpu::Buffer,
    q: wgpu::Buffer,
    out: wgpu::Buffer,
    pub step: wgpu::Buffer,
    store: KernelPass,
    pub capacity: u32,
    pub tokens: u32,
    q_width: usize,
    out_width: usize,
}

impl OneShotStep {
    /// Checks the sizes (`Err(Shape)` naming `what`) and uploads.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        ctx: &GpuContext,
        what: &str,
        shape: &AttentionShape,
        cache: (&[f16], &[f16]),
        q: &[f32],
        k: &[f32],
        v: &[f32],
        pos0: usize,
    ) -> Result<OneShotStep, GpuError> {
        check_shape(shape)?;
        let q_width = shape.heads * shape.head_dim;
        let (kw, vw) = kv_words(shape);
        let n = q.len() / q_width;
        let capacity = cache.0.len() / (2 * kw);
        if n == 0
            || q.len() != n * q_width
            || k.len() != n * 2 * kw
            || v.len() != n * 2 * vw
            || cache.0.len() != capacity * 2 * kw
            || cache.1.len() != capacity * 2 * vw
            || pos0 + n > capacity
        {
            return Err(GpuError::Shape(format!(
                "{what}: q {}, k {}, v {}, cache {}/{} at pos {pos0}",
                q.len(),
                k.len(),
                v.len(),
                cache.0.len(),
                cache.1.len()
            )));
        }
        let tokens = to_u32("tokens", n)?;
        let bytes = |words: &[u32]| bytemuck::cast_slice::<u32, u8>(words).to_vec();
        let keys = pass::storage_init(ctx, "kv keys", &bytes(&pack(cache.0)));
        let values = pass::storage_init(ctx, "kv values", &bytes(&pack(cache.1)));
        let f32s = |label, data: &[f32]| pass::storage_init(ctx, label, bytemuck::cast_slice(data));
        let (q_buf, k_buf, v_buf) = (f32s("q", q), f32s("k", k), f32s("v", v));
        let out_width = shape.heads * shape.value_dim;
        let out = pass::storage_zeroed(ctx, "attention out", (n * out_width * 4) as u64);
        let step = step_buffer(ctx);
        write_step(ctx, &step, StepUniform::new(to_u32("pos0", pos0)?, tokens));
        let mut one = OneShotStep {
            keys,
            values,
            q: q_buf,
            out,
            step,
            store: KernelPass::default(),
            capacity: to_u32("capacity", capacity)?,
            tokens,
            q_width,
            out_width,
        };
        one.store = bind_kv_store(
            ctx,
            shape,
            &one.view(),
            rows(&k_buf, 2 * kw),
            rows(&v_buf, 2 * vw),
            &one.step,
            tokens,
        )?;
        Ok(one)
    }

    pub fn view(&self) -> KvCacheView<'_> {
        KvCacheView {
            keys: &self.keys,
            k_offset: 0,
            values: &self.values,
            v_offset: 0,
            capacity: self.capacity,
        }
    }

    pub fn q_rows(&self) -> Rows<'_> {
        rows(&self.q, self.q_width)
    }

    pub fn out_rows(&self) -> Rows<'_> {
        rows(&self.out, self.out_width)
    }

    /// Stores the step's keys and values, runs `attend`, and reads the
    /// attention output.
    pub async fn run(&self, ctx: &GpuContext, attend: &KernelPass) -> Result<Vec<f32>, GpuError> {
        let raw =
            pass::run_and_read(ctx, &[&self.store, attend], &self.out, self.out.size()).await?;
        Ok(bytemuck::cast_slice(&raw).to_vec())
    }
}

/// Rows of `width` values from the start of `buffer`.
fn rows(buffer: &wgpu::Buffer, width: usize) -> Rows<'_> {
    Rows::from_start(buffer, width as u32)
}

/// The bindings every attention kernel shares: q, the cache's keys and
/// values, the output, the step and the kernel's uniform (bindings 0-5).
pub(crate) fn attention_bindings<'a>(
    q: &Rows<'a>,
    cache: &KvCacheView<'a>,
    out: &Rows<'a>,
    step: &'a wgpu::Buffer,
    uniform: &'a wgpu::Buffer,
) -> Vec<(u32, &'a wgpu::Buffer)> {
    vec![
        (0, q.buffer),
        (1, cache.keys),
        (2, cache.values),
        (3, out.buffer),
        (4, step),
        (5, uniform),
    ]
}

/// One step, one shot: stores `k` and `v` (`n` tokens) into a copy of the
/// cache `(keys, values)` (`capacity` positions each) at `pos0..pos0 + n`,
/// then attends the queries `q` (`n × heads × head_dim`). Returns the
/// attention output and the cache after the store. For tests.
pub async fn attention_step(
    ctx: &GpuContext,
    shape: &AttentionShape,
    cache: (&[f16], &[f16]),
    q: &[f32],
    k: &[f32],
    v: &[f32],
    pos0: usize,
) -> Result<(Vec<f32>, Vec<f16>, Vec<f16>), GpuError> {
    let one = OneShotStep::new(ctx, "attention step", shape, cache, q, k, v, pos0)?;
    let scratch = attention_scratch(ctx, shape.heads, one.capacity, one.tokens)?;
    let attend = bind_attention(
        ctx,
        shape,
        &one.view(),
        one.q_rows(),
        one.out_rows(),
        &scratch,
        &one.step,
        one.tokens,
    )?;
    let out = one.run(ctx, &attend).await?;
    let keys = ctx.read_buffer(&one.keys, one.keys.size()).await?;
    let values = ctx.read_buffer(&one.values, one.values.size()).await?;
    let (keys, values) = (
        unpack(bytemuck::cast_slice(&keys)),
        unpack(bytemuck::cast_slice(&values)),
    );
    Ok((out, keys, values))
}
