//! The `fast` step between the QKV mat-vec and attention, one dispatch
//! (`kernels/fast/rope_store.wgsl`): Gemma 3's per-head q/k RMSNorm, the
//! rotary embedding, the query's scale, the query to its own buffer and the
//! key and value to the layer's f16 KV cache.

use crate::cpu::attention::AttentionShape;
use crate::gpu::attention::{KvCacheView, MAX_HEAD_DIM};
use crate::gpu::pass::{self, KernelPass, check_words, to_u32};
use crate::gpu::rope::{RopeTable, style_flag};
use crate::gpu::{GpuContext, GpuError, Kernel};
use crate::model::RopeStyle;

/// Where a step's q, k and v sit in the QKV mat-vec's output, per token.
#[derive(Debug, Clone, Copy)]
pub struct QkvLayout {
    pub q: u32,
    pub k: u32,
    pub v: u32,
    /// Elements between tokens.
    pub stride: u32,
}

/// Gemma 3's per-head norms of q and k (weights of `head_dim`) and epsilon.
#[derive(Debug, Clone, Copy)]
pub struct HeadNorms<'a> {
    pub q: &'a wgpu::Buffer,
    pub k: &'a wgpu::Buffer,
    pub eps: f32,
}

/// Everything one layer's rope-and-store binds.
#[derive(Clone, Copy)]
pub struct RopeStore<'a> {
    pub shape: &'a AttentionShape,
    pub style: RopeStyle,
    pub table: &'a RopeTable,
    pub qkv: &'a wgpu::Buffer,
    pub layout: QkvLayout,
    /// Rotated (and scaled) queries, `heads × head_dim` per token.
    pub q_out: &'a wgpu::Buffer,
    pub cache: &'a KvCacheView<'a>,
    pub norms: Option<HeadNorms<'a>>,
    pub q_scale: f32,
}

/// The kernel's uniform block; layout matches `Params` in the WGSL.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    heads: u32,
    kv_heads: u32,
    head_dim: u32,
    value_dim: u32,
    pairs: u32,
    positions: u32,
    q_src: u32,
    k_src: u32,
    v_src: u32,
    src_stride: u32,
    q_stride: u32,
    capacity: u32,
    eps: f32,
    q_scale: f32,
    _pad: [u32; 2],
}

/// Prepares the pass for up to `max_tokens` tokens at positions `pos0..`
/// (from `step`).
pub fn bind_rope_store(
    ctx: &GpuContext,
    r: &RopeStore<'_>,
    step: &wgpu::Buffer,
    max_tokens: u32,
) -> Result<KernelPass, GpuError> {
    let s = r.shape;
    if s.head_dim > MAX_HEAD_DIM
        || !s.head_dim.is_multiple_of(2)
        || !s.value_dim.is_multiple_of(2)
        || r.table.dims() > s.head_dim
        || s.kv_heads == 0
    {
        return Err(GpuError::Shape(format!(
            "rope-store: heads of {} (even, ≤ {MAX_HEAD_DIM}), values of {}, {} rotated dims",
            s.head_dim,
            s.value_dim,
            r.table.dims()
        )));
    }
    // The cache is addressed from word 0 of its buffers.
    if r.cache.k_offset != 0 || r.cache.v_offset != 0 {
        return Err(GpuError::Shape(
            "rope-store: the KV cache must start its buffers".into(),
        ));
    }
    let l = r.layout;
    let q_width = s.heads * s.head_dim;
    let end = |start: u32, width: usize| {
        u64::from(start) + u64::from(max_tokens.max(1) - 1) * u64::from(l.stride) + width as u64
    };
    check_words(ctx, "rope-store q", r.qkv, end(l.q, q_width))?;
    check_words(
        ctx,
        "rope-store k",
        r.qkv,
        end(l.k, s.kv_heads * s.head_dim),
    )?;
    check_words(
        ctx,
        "rope-store v",
        r.qkv,
        end(l.v, s.kv_heads * s.value_dim),
    )?;
    check_words(
        ctx,
        "rope-store q out",
        r.q_out,
        u64::from(max_tokens) * q_width as u64,
    )?;
    let capacity = u64::from(r.cache.capacity);
    check_words(
        ctx,
        "rope-store keys",
        r.cache.keys,
        capacity * (s.kv_heads * s.head_dim / 2) as u64,
    )?;
    check_words(
        ctx,
        "rope-store values",
        r.cache.values,
        capacity * (s.kv_heads * s.value_dim / 2) as u64,
    )?;
    let params = Params {
        heads: to_u32("heads", s.heads)?,
        kv_heads: to_u32("kv heads", s.kv_heads)?,
        head_dim: to_u32("head dim", s.head_dim)?,
        value_dim: to_u32("value dim", s.value_dim)?,
        pairs: to_u32("rope pairs", r.table.dims() / 2)?,
        positions: to_u32("rope positions", r.table.positions())?,
        q_src: l.q,
        k_src: l.k,
        v_src: l.v,
        src_stride: l.stride,
        q_stride: to_u32("q width", q_width)?,
        capacity: r.cache.capacity,
        eps: r.norms.map_or(0.0, |n| n.eps),
        q_scale: r.q_scale,
        _pad: [0; 2],
    };
    let mut flags = vec![style_flag(r.style)];
    if r.norms.is_some() {
        flags.push("QK_NORM");
    }
    let pipeline = ctx.pipeline(Kernel::FastRopeStore, &flags)?;
    let uniform = pass::uniform(ctx, "rope-store params", &params);
    let mut entries = vec![
        (0, r.qkv),
        (1, r.q_out),
        (2, r.cache.keys),
        (3, r.cache.values),
        (4, r.table.buffer()),
        (5, step),
        (6, &uniform),
    ];
    if let Some(norms) = r.norms {
        entries.extend([(7, norms.q), (8, norms.k)]);
    }
    let bind_group = pass::bind_group(ctx, &pipeline, "rope-store", &entries);
    let mut prepared = KernelPass::default();
    prepared.push_grid(
        pipeline,
        bind_group,
        [params.heads + params.kv_heads, max_tokens.max(1), 1],
    );
    Ok(prepared)
}
