//! Rotary position embeddings on the GPU (`kernels/rope.wgsl`), in place.
//!
//! The angles live in a [`RopeTable`] built once on the host by the CPU code
//! (`cpu::rope::Rotation`) for one (dims, base, scale), so GPU and CPU
//! rotate by the same cos/sin bits; Gemma 3 needs two tables (its sliding
//! layers use another base). [`bind_rope`] prepares one region (q or k) for
//! `max_tokens` tokens at positions `pos0..` read from the step uniform.

use crate::cpu::rope::Rotation;
use crate::gpu::pass::{self, KernelPass, Rows, check_words, to_u32};
use crate::gpu::step::{StepUniform, step_buffer, write_step};
use crate::gpu::{GpuContext, GpuError, Kernel};
use crate::model::RopeStyle;

/// Threads per workgroup (`@workgroup_size` in the WGSL).
const WG: u64 = 64;

/// `(cos, sin)` of every (position, pair) for one RoPE setting, on the GPU.
#[derive(Debug)]
pub struct RopeTable {
    buffer: wgpu::Buffer,
    dims: usize,
    positions: usize,
}

impl RopeTable {
    /// The table for rotating `dims` dimensions (even) of a head at
    /// positions `0..positions`, theta_i = `scale · pos · base^(-2i/dims)`.
    pub fn new(
        ctx: &GpuContext,
        dims: usize,
        positions: usize,
        base: f32,
        scale: f32,
    ) -> Result<RopeTable, GpuError> {
        RopeTable::with_factors(ctx, dims, positions, base, scale, &[])
    }

    /// As [`RopeTable::new`], with Llama 3.x's frequency factors
    /// (`Rotation::with_factors`).
    pub fn with_factors(
        ctx: &GpuContext,
        dims: usize,
        positions: usize,
        base: f32,
        scale: f32,
        factors: &[f32],
    ) -> Result<RopeTable, GpuError> {
        if dims == 0 || !dims.is_multiple_of(2) || positions == 0 {
            return Err(GpuError::Shape(format!(
                "rope table: {dims} dims (even, > 0) × {positions} positions"
            )));
        }
        let bytes = (positions * dims * 4) as u64;
        ctx.check_binding("rope table", bytes)?;
        to_u32("rope table positions", positions)?;
        let mut data = Vec::with_capacity(positions * dims);
        for pos in 0..positions {
            for (cos, sin) in Rotation::with_factors(dims, pos, base, scale, factors).cos_sin() {
                data.extend([cos, sin]);
            }
        }
        Ok(RopeTable {
            buffer: pass::storage_init(ctx, "rope table", bytemuck::cast_slice(&data)),
            dims,
            positions,
        })
    }

    /// Dimensions rotated per head.
    pub fn dims(&self) -> usize {
        self.dims
    }

    /// Positions covered; tokens at later positions are left unrotated.
    pub fn positions(&self) -> usize {
        self.positions
    }

    /// The (cos, sin) pairs, position-major (for kernels that rotate as
    /// part of a larger pass, e.g. `gpu::fast::attention`).
    pub(crate) fn buffer(&self) -> &wgpu::Buffer {
        &self.buffer
    }
}

/// The kernel's uniform block; layout matches `Params` in the WGSL.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    heads: u32,
    head_dim: u32,
    pairs: u32,
    offset: u32,
    stride: u32,
    positions: u32,
    _pad: [u32; 2],
}

/// The kernel variant for a style.
pub fn style_flag(style: RopeStyle) -> &'static str {
    match style {
        RopeStyle::Normal => "NORMAL",
        RopeStyle::Neox => "NEOX",
    }
}

/// Prepares the rotation, in place, of `heads` heads of `head_dim` values
/// per token in `x`, for `max_tokens` tokens at positions `pos0..` (from
/// `step`), the first `table.dims()` of each head.
#[allow(clippy::too_many_arguments)]
pub fn bind_rope(
    ctx: &GpuContext,
    table: &RopeTable,
    style: RopeStyle,
    x: Rows<'_>,
    heads: usize,
    head_dim: usize,
    step: &wgpu::Buffer,
    max_tokens: u32,
) -> Result<KernelPass, GpuError> {
    if heads == 0 || table.dims > head_dim {
        return Err(GpuError::Shape(format!(
            "rope: {} dims of {heads} heads of {head_dim}",
            table.dims
        )));
    }
    let width = to_u32("rope width", heads * head_dim)?;
    check_words(ctx, "rope x", x.buffer, x.end(max_tokens, width))?;
    let params = Params {
        heads: to_u32("heads", heads)?,
        head_dim: to_u32("head dim", head_dim)?,
        pairs: to_u32("rope pairs", table.dims / 2)?,
        offset: x.offset,
        stride: x.stride,
        positions: to_u32("rope positions", table.positions)?,
        _pad: [0; 2],
    };
    let uniform = pass::uniform(ctx, "rope params", &params);
    let pipeline = ctx.pipeline(Kernel::Rope, &[style_flag(style)])?;
    let bind_group = pass::bind_group(
        ctx,
        &pipeline,
        "rope",
        &[(0, x.buffer), (1, &table.buffer), (2, step), (3, &uniform)],
    );
    let threads = u64::from(max_tokens) * u64::from(params.heads) * u64::from(params.pairs);
    let mut prepared = KernelPass::default();
    prepared.push(
        pipeline,
        bind_group,
        to_u32("rope workgroups", threads.div_ceil(WG) as usize)?,
    );
    Ok(prepared)
}

/// One shot: rotates `x` (tokens × `heads` × `head_dim`) for tokens at
/// positions `pos0..` with a fresh table. For tests.
#[allow(clippy::too_many_arguments)]
pub async fn rope(
    ctx: &GpuContext,
    x: &[f32],
    heads: usize,
    head_dim: usize,
    dims: usize,
    pos0: usize,
    base: f32,
    scale: f32,
    style: RopeStyle,
) -> Result<Vec<f32>, GpuError> {
    let width = heads * head_dim;
    if width == 0 || x.is_empty() || !x.len().is_multiple_of(width) {
        return Err(GpuError::Shape(format!(
            "rope: {} values are not rows of {width}",
            x.len()
        )));
    }
    let n = to_u32("tokens", x.len() / width)?;
    let table = RopeTable::new(ctx, dims, pos0 + n as usize, base, scale)?;
    let buffer = pass::storage_init(ctx, "rope x", bytemuck::cast_slice(x));
    let step = step_buffer(ctx);
    write_step(ctx, &step, StepUniform::new(to_u32("pos0", pos0)?, n));
    let rows = Rows {
        buffer: &buffer,
        offset: 0,
        stride: to_u32("rope width", width)?,
    };
    let prepared = bind_rope(ctx, &table, style, rows, heads, head_dim, &step, n)?;
    let raw = pass::run_and_read(ctx, &[&prepared], &buffer, (x.len() * 4) as u64).await?;
    Ok(bytemuck::cast_slice(&raw).to_vec())
}
