//! The `fast` one-token mat-vec (`kernels/fast/matvec.wgsl`): `y =
//! epilogue(W · norm(x))` with the weights decoded in registers and dotted
//! with the f32 activations, the input's RMSNorm, a bias, the residual add
//! or the gated activation fused in, so a linear layer and its neighbours
//! are one dispatch.

use crate::gpu::matvec::{GpuMatrix, choice};
use crate::gpu::pass::{self, KernelPass, check_words, to_u32};
use crate::gpu::{GpuContext, GpuError, Kernel};
use crate::quant::GgmlType;

/// Row groups one workgroup computes (`ROWS` in the WGSL).
pub const ROWS_PER_WORKGROUP: usize = 4;

/// Rows per row group of the `WIDE` variant (`RPG` in the WGSL).
const WIDE_ROWS_PER_GROUP: usize = 4;

/// Outputs from which a mat-vec takes the `WIDE` variant: 4 rows per
/// thread group, so each staged chunk of x serves 16 rows. Measured on an
/// H100 (`decode_matvec_time` in tests/gpu_fast_speed.rs): the Qwen2.5-0.5B
/// head (151,936 × 896 Q8_0) took 252.6 µs with 4 rows a workgroup (every
/// workgroup staged and normalised all of x for 4 rows: more bytes than
/// the rows' weights) and 217.0 µs WIDE; its gate+up (4,864 outputs) went
/// from 21.6 to 22.9 µs WIDE, too few workgroups left. So: the heads.
pub const WIDE_FROM_ROWS: usize = 16_384;

/// What the kernel does with a row's dot product.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Epilogue {
    /// `y[r] = dot`
    Store,
    /// `y[r] += dot` (the residual add, in place on the hidden state).
    Add,
    /// `y[r] = silu(dot_gate) · dot_up`: the matrix is the gate rows, then
    /// as many up rows.
    SiluMul,
    /// `y[r] = gelu_tanh(dot_gate) · dot_up`, rows as for `SiluMul`.
    GeluMul,
}

impl Epilogue {
    fn flag(self) -> &'static str {
        match self {
            Epilogue::Store => "STORE",
            Epilogue::Add => "ADD",
            Epilogue::SiluMul => "SILU_MUL",
            Epilogue::GeluMul => "GELU_MUL",
        }
    }

    /// Whether the matrix holds two rows (gate, up) per output.
    pub fn is_gated(self) -> bool {
        matches!(self, Epilogue::SiluMul | Epilogue::GeluMul)
    }
}

/// One fused linear layer: `y[y_offset..] = epilogue(W · norm(x[x_offset..]))`.
#[derive(Debug, Clone, Copy)]
pub struct FastLinear<'a> {
    pub matrix: &'a GpuMatrix,
    pub x: &'a wgpu::Buffer,
    pub x_offset: u32,
    pub y: &'a wgpu::Buffer,
    pub y_offset: u32,
    pub epilogue: Epilogue,
    /// RMSNorm of `x` first: its weights (`cols` of them) and epsilon.
    pub norm: Option<(&'a wgpu::Buffer, f32)>,
    /// A bias per output row: its buffer and the index of row 0's.
    pub bias: Option<(&'a wgpu::Buffer, u32)>,
    /// `x` is split attention's scratch, combined while it is read
    /// (`x_offset` must be 0).
    pub combine: Option<Combine>,
}

/// The split of the attention whose chunks a [`FastLinear`] combines as its
/// input (`COMBINE` in the WGSL; the layout of
/// `gpu::fast::attention::split_attention_scratch`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Combine {
    pub heads: u32,
    /// Values per head: the matrix has `heads × width` columns.
    pub width: u32,
    /// Chunks per head in the scratch (`SplitChunks::max_chunks`).
    pub chunks: u32,
}

impl Combine {
    /// Most heads the kernel combines (`MAX_HEADS` in the WGSL).
    pub const MAX_HEADS: u32 = 64;
}

/// The kernel's uniform block; layout matches `Params` in the WGSL.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    rows: u32,
    cols: u32,
    row_bytes: u32,
    w_offset: u32,
    x_offset: u32,
    y_offset: u32,
    up_rows: u32,
    bias_offset: u32,
    eps: f32,
    combine_heads: u32,
    combine_width: u32,
    combine_chunks: u32,
}

/// The kernel variant of a layer on this device.
pub fn fast_flags(
    ctx: &GpuContext,
    linear: &FastLinear<'_>,
) -> Result<Vec<&'static str>, GpuError> {
    let mut flags = vec![choice(linear.matrix.ty)?, linear.epilogue.flag()];
    if ctx.capabilities.subgroups {
        flags.push("SUBGROUPS");
    }
    if linear.norm.is_some() {
        flags.push("NORM");
    }
    if linear.bias.is_some() {
        flags.push("BIAS");
    }
    if linear.combine.is_some() {
        flags.push("COMBINE");
    }
    // 64-value K-quant units stage twice the x: with WIDE's slots that
    // would pass WebGPU's 16 KiB of workgroup memory.
    let wide_units = !matches!(linear.matrix.ty, GgmlType::Q4_K | GgmlType::Q5_K);
    if output_rows(linear) >= WIDE_FROM_ROWS && wide_units {
        flags.push("WIDE");
    }
    Ok(flags)
}

/// The outputs of `linear` (half the matrix's rows when gated).
fn output_rows(linear: &FastLinear<'_>) -> usize {
    if linear.epilogue.is_gated() {
        linear.matrix.rows / 2
    } else {
        linear.matrix.rows
    }
}

/// Prepares `linear`, one dispatch per row chunk of the matrix (a gated
/// epilogue needs the matrix in one chunk).
pub fn bind_fast_linear(ctx: &GpuContext, linear: &FastLinear<'_>) -> Result<KernelPass, GpuError> {
    let flags = fast_flags(ctx, linear)?;
    bind_with_flags(ctx, linear, &flags)
}

/// [`bind_fast_linear`] with an explicit variant (tests: the shared-memory
/// reduction on a device with subgroups).
pub fn bind_with_flags(
    ctx: &GpuContext,
    linear: &FastLinear<'_>,
    flags: &[&'static str],
) -> Result<KernelPass, GpuError> {
    let m = linear.matrix;
    let gated = linear.epilogue.is_gated();
    if gated && (m.chunks.len() != 1 || !m.rows.is_multiple_of(2)) {
        return Err(GpuError::Shape(format!(
            "fast mat-vec: a gated layer needs gate and up rows in one buffer ({} rows, {} chunks)",
            m.rows,
            m.chunks.len()
        )));
    }
    if flags.contains(&"SUBGROUPS") && !ctx.capabilities.subgroups {
        return Err(GpuError::Kernel {
            kernel: Kernel::FastMatVec.name(),
            message: "the SUBGROUPS variant needs a device with subgroups".into(),
        });
    }
    let out_rows = if gated { m.rows / 2 } else { m.rows };
    let cols = to_u32("fast mat-vec cols", m.cols)?;
    let x_end = match linear.combine {
        None => u64::from(linear.x_offset) + u64::from(cols),
        Some(c) => {
            if c.heads == 0
                || c.heads > Combine::MAX_HEADS
                || c.chunks == 0
                || u64::from(c.heads) * u64::from(c.width) != u64::from(cols)
                || linear.x_offset != 0
            {
                return Err(GpuError::Shape(format!(
                    "fast mat-vec: combining {c:?} into {cols} columns from x offset {}",
                    linear.x_offset
                )));
            }
            crate::gpu::fast::attention::split_scratch_words(c.heads, c.width, c.chunks)
        }
    };
    check_words(ctx, "fast mat-vec x", linear.x, x_end)?;
    check_words(
        ctx,
        "fast mat-vec y",
        linear.y,
        u64::from(linear.y_offset) + out_rows as u64,
    )?;
    if let Some((norm, _)) = linear.norm {
        check_words(ctx, "fast mat-vec norm", norm, u64::from(cols))?;
    }
    if let Some((bias, offset)) = linear.bias {
        check_words(
            ctx,
            "fast mat-vec bias",
            bias,
            u64::from(offset) + out_rows as u64,
        )?;
    }
    let pipeline = ctx.pipeline(Kernel::FastMatVec, flags)?;
    let layout = pipeline.get_bind_group_layout(0);
    let gelu_table =
        (linear.epilogue == Epilogue::GeluMul).then(|| crate::gpu::elementwise::gelu_table(ctx));
    let mut prepared = KernelPass::default();
    for chunk in &m.chunks {
        let rows = if gated { out_rows } else { chunk.rows.len() };
        let first = to_u32("fast mat-vec row", chunk.rows.start)?;
        let params = Params {
            rows: to_u32("fast mat-vec rows", rows)?,
            cols,
            row_bytes: to_u32("fast mat-vec row bytes", m.row_bytes)?,
            w_offset: to_u32("fast mat-vec weights offset", chunk.byte_offset as usize)?,
            x_offset: linear.x_offset,
            y_offset: linear.y_offset + first,
            up_rows: to_u32("fast mat-vec up rows", out_rows)?,
            bias_offset: linear.bias.map_or(0, |(_, offset)| offset + first),
            eps: linear.norm.map_or(0.0, |(_, eps)| eps),
            combine_heads: linear.combine.map_or(0, |c| c.heads),
            combine_width: linear.combine.map_or(0, |c| c.width),
            combine_chunks: linear.combine.map_or(0, |c| c.chunks),
        };
        let uniform = pass::uniform(ctx, "fast matvec params", &params);
        let weights_end =
            (chunk.byte_offset + (chunk.rows.len() * m.row_bytes) as u64).next_multiple_of(4);
        let mut entries = vec![
            wgpu::BindGroupEntry {
                binding: 0,
                resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                    buffer: &chunk.buffer,
                    offset: 0,
                    size: wgpu::BufferSize::new(weights_end),
                }),
            },
            wgpu::BindGroupEntry {
                binding: 1,
                resource: linear.x.as_entire_binding(),
            },
            wgpu::BindGroupEntry {
                binding: 2,
                resource: linear.y.as_entire_binding(),
            },
            wgpu::BindGroupEntry {
                binding: 3,
                resource: uniform.as_entire_binding(),
            },
        ];
        if let Some((norm, _)) = linear.norm {
            entries.push(wgpu::BindGroupEntry {
                binding: 4,
                resource: norm.as_entire_binding(),
            });
        }
        if let Some((bias, _)) = linear.bias {
            entries.push(wgpu::BindGroupEntry {
                binding: 5,
                resource: bias.as_entire_binding(),
            });
        }
        if let Some(table) = &gelu_table {
            entries.push(wgpu::BindGroupEntry {
                binding: 6,
                resource: table.as_entire_binding(),
            });
        }
        let bind_group = ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("fast matvec"),
            layout: &layout,
            entries: &entries,
        });
        let per_group = if flags.contains(&"WIDE") {
            WIDE_ROWS_PER_GROUP
        } else {
            1
        };
        let groups = to_u32(
            "fast mat-vec workgroups",
            rows.div_ceil(ROWS_PER_WORKGROUP * per_group),
        )?;
        prepared.push(pipeline.clone(), bind_group, groups);
    }
    Ok(prepared)
}

/// The inputs of a one-shot [`fast_matvec`].
#[derive(Debug, Clone, Copy)]
pub struct FastInputs<'a> {
    pub x: &'a [f32],
    pub epilogue: Epilogue,
    /// RMSNorm weights and epsilon.
    pub norm: Option<(&'a [f32], f32)>,
    pub bias: Option<&'a [f32]>,
    /// `y` before the kernel (what `Add` adds to); zeros when `None`.
    pub y: Option<&'a [f32]>,
    /// The shared-memory reduction even where the device has subgroups.
    pub no_subgroups: bool,
    /// `x` is a split attention scratch to combine (its whole contents).
    pub combine: Option<Combine>,
}

/// One shot: uploads the inputs, runs the kernel, reads `y` back. For tests.
pub async fn fast_matvec(
    ctx: &GpuContext,
    matrix: &GpuMatrix,
    inputs: FastInputs<'_>,
) -> Result<Vec<f32>, GpuError> {
    let out_rows = if inputs.epilogue.is_gated() {
        matrix.rows / 2
    } else {
        matrix.rows
    };
    if inputs.combine.is_none() && inputs.x.len() != matrix.cols {
        return Err(GpuError::Shape(format!(
            "fast mat-vec: x has {} values, the matrix {} columns",
            inputs.x.len(),
            matrix.cols
        )));
    }
    let x = pass::storage_init(ctx, "x", bytemuck::cast_slice(inputs.x));
    let zeros = vec![0f32; out_rows];
    let y_init = inputs.y.unwrap_or(&zeros);
    let y = pass::storage_init(ctx, "y", bytemuck::cast_slice(y_init));
    let norm = inputs.norm.map(|(w, eps)| {
        (
            pass::storage_init(ctx, "norm", bytemuck::cast_slice(w)),
            eps,
        )
    });
    let bias = inputs
        .bias
        .map(|b| pass::storage_init(ctx, "bias", bytemuck::cast_slice(b)));
    let linear = FastLinear {
        matrix,
        x: &x,
        x_offset: 0,
        y: &y,
        y_offset: 0,
        epilogue: inputs.epilogue,
        norm: norm.as_ref().map(|(b, eps)| (b, *eps)),
        bias: bias.as_ref().map(|b| (b, 0)),
        combine: inputs.combine,
    };
    let mut flags = fast_flags(ctx, &linear)?;
    if inputs.no_subgroups {
        flags.retain(|f| *f != "SUBGROUPS");
    }
    let prepared = bind_with_flags(ctx, &linear, &flags)?;
    let raw = pass::run_and_read(ctx, &[&prepared], &y, (out_rows * 4) as u64).await?;
    Ok(bytemuck::cast_slice(&raw).to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_per_workgroup_matches_the_kernel() {
        let source = Kernel::FastMatVec.source(&["Q5_0", "STORE"]).unwrap();
        let line = format!("const ROWS: u32 = {ROWS_PER_WORKGROUP}u;");
        assert!(source.contains(&line), "kernel lost `{line}`");
    }
}
