//! Element-wise operations on the GPU (`kernels/elementwise.wgsl`), in place
//! on rows of `width` values: the FFN activations (SiLU / GELU-tanh times
//! up), residual and bias adds, scaling, and the logit soft-cap, with the
//! formulas of `cpu::ops`. The activations are bit for bit `ops::glu`'s.

use std::rc::Rc;

use crate::gpu::pass::{self, KernelPass, Rows, check_words, to_u32};
use crate::gpu::step::{StepUniform, step_buffer, write_step};
use crate::gpu::{GpuContext, GpuError, Kernel};

/// Threads per workgroup (`@workgroup_size` in the WGSL).
const WG: u64 = 256;

/// What to compute, in place on `a` (with `b` where the op has one).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Op {
    /// `a = silu(a) · b` with ggml's exp polynomial, as `cpu::ops::glu`
    /// (rows a multiple of 16 wide: ggml takes libm's exp for a row's tail).
    SiluMul,
    /// `a = gelu_tanh(a) · b` through ggml's f16 table (uploaded once per
    /// device), as `cpu::ops::gelu_tanh`.
    GeluMul,
    /// `a = a + b`; with `b.stride = 0`, `b` is a bias added to every row.
    Add,
    /// `a = a · factor`.
    Scale(f32),
    /// `a = cap · tanh(a / cap)`.
    SoftCap(f32),
}

impl Op {
    /// The kernel variant.
    pub fn flag(self) -> &'static str {
        match self {
            Op::SiluMul => "SILU_MUL",
            Op::GeluMul => "GELU_MUL",
            Op::Add => "ADD",
            Op::Scale(_) => "SCALE",
            Op::SoftCap(_) => "SOFTCAP",
        }
    }

    /// Whether the op reads a second operand `b`.
    pub fn binary(self) -> bool {
        matches!(self, Op::SiluMul | Op::GeluMul | Op::Add)
    }

    fn value(self) -> f32 {
        match self {
            Op::Scale(v) | Op::SoftCap(v) => v,
            _ => 0.0,
        }
    }
}

/// How many rows a pass covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowCount {
    /// This step's `n_tokens` (from the step uniform); the dispatch covers
    /// up to `max` rows.
    Step { max: u32 },
    /// Always this many (e.g. 1 for the logits of the last token).
    Fixed(u32),
}

/// The kernel's uniform block; layout matches `Params` in the WGSL.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    width: u32,
    rows: u32,
    a_offset: u32,
    a_stride: u32,
    b_offset: u32,
    b_stride: u32,
    value: f32,
    _pad: u32,
}

/// Prepares `op` over `rows` rows of `width` values of `a` (and `b` for the
/// binary ops; it must not share `a`'s buffer). `step` is read only for
/// [`RowCount::Step`] but always bound.
pub fn bind_elementwise(
    ctx: &GpuContext,
    op: Op,
    a: Rows<'_>,
    b: Option<Rows<'_>>,
    width: u32,
    rows: RowCount,
    step: &wgpu::Buffer,
) -> Result<KernelPass, GpuError> {
    let (fixed, max_rows) = match rows {
        RowCount::Step { max } => (0, max),
        RowCount::Fixed(rows) => (rows, rows),
    };
    if width == 0 || max_rows == 0 || b.is_some() != op.binary() {
        return Err(GpuError::Shape(format!(
            "elementwise {op:?}: {max_rows} rows of {width}, second operand {}",
            if b.is_some() { "given" } else { "missing" }
        )));
    }
    if op == Op::SiluMul && !width.is_multiple_of(16) {
        return Err(GpuError::Shape(format!(
            "SiLU rows of {width}: ggml's lanes need a multiple of 16"
        )));
    }
    check_words(ctx, "elementwise a", a.buffer, a.end(max_rows, width))?;
    if let Some(b) = &b {
        check_words(ctx, "elementwise b", b.buffer, b.end(max_rows, width))?;
    }
    let params = Params {
        width,
        rows: fixed,
        a_offset: a.offset,
        a_stride: a.stride,
        b_offset: b.map_or(0, |b| b.offset),
        b_stride: b.map_or(0, |b| b.stride),
        value: op.value(),
        _pad: 0,
    };
    let uniform = pass::uniform(ctx, "elementwise params", &params);
    let pipeline = ctx.pipeline(Kernel::Elementwise, &[op.flag()])?;
    let table = (op == Op::GeluMul).then(|| gelu_table(ctx));
    let mut buffers = vec![(0, a.buffer), (2, step), (3, &uniform)];
    if let Some(b) = &b {
        buffers.push((1, b.buffer));
    }
    if let Some(table) = &table {
        buffers.push((6, table.as_ref()));
    }
    let bind_group = pass::bind_group(ctx, &pipeline, "elementwise", &buffers);
    let threads = u64::from(max_rows) * u64::from(width);
    let mut prepared = KernelPass::default();
    prepared.push(
        pipeline,
        bind_group,
        to_u32("elementwise workgroups", threads.div_ceil(WG) as usize)?,
    );
    Ok(prepared)
}

/// One shot: `op` on `a` (rows of `width`), with `b` of the same length or,
/// for a bias, of one row. Returns the new `a`. For tests.
pub async fn elementwise(
    ctx: &GpuContext,
    op: Op,
    a: &[f32],
    b: Option<&[f32]>,
    width: usize,
) -> Result<Vec<f32>, GpuError> {
    let shape_error = || {
        GpuError::Shape(format!(
            "elementwise {op:?}: {} and {:?} values in rows of {width}",
            a.len(),
            b.map(<[f32]>::len)
        ))
    };
    if width == 0 || a.is_empty() || !a.len().is_multiple_of(width) {
        return Err(shape_error());
    }
    let rows = to_u32("rows", a.len() / width)?;
    let width32 = to_u32("width", width)?;
    let a_buf = pass::storage_init(ctx, "elementwise a", bytemuck::cast_slice(a));
    let b_buf = b.map(|b| pass::storage_init(ctx, "elementwise b", bytemuck::cast_slice(b)));
    let b_rows = match (b, &b_buf) {
        (Some(values), Some(buffer)) if values.len() == a.len() || values.len() == width => {
            Some(Rows {
                buffer,
                offset: 0,
                stride: if values.len() == a.len() { width32 } else { 0 },
            })
        }
        (None, None) => None,
        _ => return Err(shape_error()),
    };
    let step = step_buffer(ctx);
    write_step(ctx, &step, StepUniform::new(0, rows));
    let a_rows = Rows {
        buffer: &a_buf,
        offset: 0,
        stride: width32,
    };
    let rows = RowCount::Step { max: rows };
    let prepared = bind_elementwise(ctx, op, a_rows, b_rows, width32, rows, &step)?;
    let raw = pass::run_and_read(ctx, &[&prepared], &a_buf, (a.len() * 4) as u64).await?;
    Ok(bytemuck::cast_slice(&raw).to_vec())
}

/// ggml's GELU table (`kernels/lib/gelu_table.wgsl`, bound at 6): 65536 f16
/// values two per word, low half first, uploaded once per device.
pub(crate) fn gelu_table(ctx: &GpuContext) -> Rc<wgpu::Buffer> {
    ctx.table("gelu table", || {
        let bytes = bytemuck::cast_slice::<u16, u8>(crate::cpu::ops::gelu_table());
        pass::storage_init(ctx, "gelu table", bytes)
    })
}
