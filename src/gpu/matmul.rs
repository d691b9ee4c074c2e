//! Prefill mat-mul on the GPU (`kernels/matmul.wgsl`): `Y = X·Wᵀ` for `n`
//! tokens at once, `X` (n × cols) and `Y` (n × rows) f32 and token-major,
//! `W` a [`GpuMatrix`] (raw GGUF blocks), the same upload the decode mat-vec
//! uses, so a model's weights live on the GPU once.
//!
//! [`GpuMatrix::bind_matmul`] builds the bind groups once (one per row chunk
//! of the matrix) for buffers sized for `max_tokens` tokens; the number of
//! tokens actually multiplied is read at run time from the shared [`Step`]
//! uniform, so the prefill of any prompt up to `max_tokens` reuses the same
//! [`KernelPass`] and only writes the step. [`matmul`] is the one-shot helper
//! for tests: upload `X`, dispatch, read `Y` back.
//!
//! The kernel's WGSL loaders (byte/f16 reads, K-quant scales) are copies of
//! the mat-vec's, kept identical by a test, rather than a shared include: an
//! include would break the preprocessor's "every line keeps its number" (so
//! naga's errors point into the file) for eight small functions, and the
//! per-type decoders differ anyway: the mat-vec fuses decoding into a dot
//! product, the mat-mul dequantises 8 values at a time into a tile.
//!
//! Possible next steps, unmeasured here (lavapipe cannot rank them): the
//! tile stores have 4-way bank conflicts (a warp's 4 threads per row write
//! k values 8 apart); an f16 tile variant where `shader-f16` exists would
//! halve workgroup memory and allow 128-wide tiles.

use wgpu::util::DeviceExt;

use crate::gpu::matvec::{self, GpuMatrix};
use crate::gpu::step::StepUniform;
use crate::gpu::{GpuContext, GpuError, Kernel, KernelPass, workgroup_grid};
use crate::quant::GgmlType;

/// Rows of `W` (columns of `Y`) per workgroup tile (`TILE_ROWS` in the WGSL).
pub const TILE_ROWS: usize = 64;
/// Tokens per workgroup tile (`TILE_TOKENS` in the WGSL).
pub const TILE_TOKENS: usize = 64;

/// The kernel variant for `ty`: its type choice (the same names as the
/// mat-vec's). An unsupported type is an error.
pub fn matmul_flags(ty: GgmlType) -> Result<Vec<&'static str>, GpuError> {
    matvec::variant_flags(ty, false).map_err(|error| match error {
        GpuError::Kernel { message, .. } => GpuError::Kernel {
            kernel: Kernel::MatMul.name(),
            message: message.replace("mat-vec", "mat-mul"),
        },
        other => other,
    })
}

/// Where a mat-mul reads `X` and writes `Y`, and for how many tokens at most.
/// Offsets are in f32 elements; `X` holds `max_tokens` rows of `cols` values
/// from `x_offset`, `Y` `max_tokens` rows of the matrix's `rows` values from
/// `y_offset`.
#[derive(Debug, Clone, Copy)]
pub struct MatMulIo<'a> {
    pub x: &'a wgpu::Buffer,
    pub x_offset: u32,
    pub y: &'a wgpu::Buffer,
    pub y_offset: u32,
    pub max_tokens: u32,
    /// A [`Step`] uniform; its `n_tokens` (capped at `max_tokens`) is the
    /// number of tokens each dispatch multiplies.
    pub step: &'a wgpu::Buffer,
}

/// The workgroup grid of one chunk: (row tiles, spilling into z past 65535)
/// × token tiles in y.
fn dispatch_grid(rows: usize, max_tokens: u32) -> Result<[u32; 3], GpuError> {
    let row_tiles = u32::try_from(rows.div_ceil(TILE_ROWS)).unwrap_or(u32::MAX);
    let (gx, gz) = workgroup_grid(row_tiles);
    let gy = max_tokens.div_ceil(TILE_TOKENS as u32);
    if gy > 65_535 || gz > 65_535 {
        return Err(GpuError::Shape(format!(
            "mat-mul: {rows} rows × {max_tokens} tokens exceed one dispatch"
        )));
    }
    Ok([gx, gy, gz])
}

impl GpuMatrix {
    /// Builds the bind groups computing `Y = X·Wᵀ` with the kernel variant
    /// `flags` (see [`matmul_flags`]); `X` and `Y` are bound whole.
    pub fn bind_matmul(
        &self,
        ctx: &GpuContext,
        flags: &[&'static str],
        io: MatMulIo<'_>,
    ) -> Result<KernelPass, GpuError> {
        let wanted = matmul_flags(self.ty)?;
        if flags != wanted.as_slice() {
            return Err(GpuError::Kernel {
                kernel: Kernel::MatMul.name(),
                message: format!("variant {flags:?} does not decode {}", self.ty),
            });
        }
        if io.max_tokens == 0 {
            return Err(GpuError::Shape("mat-mul: bound for zero tokens".into()));
        }
        let tokens = io.max_tokens as u64;
        let words = |what: &str, buffer: &wgpu::Buffer, offset: u32, width: usize| {
            let needed = (u64::from(offset) + tokens * width as u64) * 4;
            if needed > buffer.size() {
                return Err(GpuError::Shape(format!(
                    "mat-mul: {what} needs {needed} bytes for {tokens} tokens, its buffer has {}",
                    buffer.size()
                )));
            }
            // The kernel indexes with u32.
            if needed / 4 > u64::from(u32::MAX) {
                return Err(GpuError::Shape(format!(
                    "mat-mul: {what} indices overflow u32"
                )));
            }
            Ok(())
        };
        words("X", io.x, io.x_offset, self.cols)?;
        words("Y", io.y, io.y_offset, self.rows)?;
        ctx.check_binding("mat-mul X", io.x.size())?;
        ctx.check_binding("mat-mul Y", io.y.size())?;
        if io.step.size() < size_of::<StepUniform>() as u64 {
            return Err(GpuError::Shape("mat-mul: the step buffer is short".into()));
        }
        let too_big = |_| GpuError::Shape("mat-mul: sizes overflow u32".into());

        let pipeline = ctx.pipeline(Kernel::MatMul, flags)?;
        let layout = pipeline.get_bind_group_layout(0);
        let mut prepared = KernelPass::default();
        for chunk in &self.chunks {
            let rows = chunk.rows.len();
            let params = Params {
                rows: u32::try_from(rows).map_err(too_big)?,
                cols: u32::try_from(self.cols).map_err(too_big)?,
                row_bytes: u32::try_from(self.row_bytes).map_err(too_big)?,
                w_offset: u32::try_from(chunk.byte_offset).map_err(too_big)?,
                x_offset: io.x_offset,
                // Checked by `words` above: every index of Y fits a u32.
                y_offset: io.y_offset + chunk.rows.start as u32,
                y_stride: u32::try_from(self.rows).map_err(too_big)?,
                max_tokens: io.max_tokens,
            };
            let uniform = ctx
                .device
                .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                    label: Some("matmul params"),
                    contents: bytemuck::bytes_of(&params),
                    usage: wgpu::BufferUsages::UNIFORM,
                });
            let weights_end =
                (chunk.byte_offset + (rows * self.row_bytes) as u64).next_multiple_of(4);
            let buffer = |binding, resource| wgpu::BindGroupEntry { binding, resource };
            let bind_group = ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some("matmul"),
                layout: &layout,
                entries: &[
                    buffer(
                        0,
                        wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                            buffer: &chunk.buffer,
                            offset: 0,
                            size: wgpu::BufferSize::new(weights_end),
                        }),
                    ),
                    buffer(1, io.x.as_entire_binding()),
                    buffer(2, io.y.as_entire_binding()),
                    buffer(3, uniform.as_entire_binding()),
                    buffer(4, io.step.as_entire_binding()),
                ],
            });
            prepared.push_grid(
                pipeline.clone(),
                bind_group,
                dispatch_grid(rows, io.max_tokens)?,
            );
        }
        Ok(prepared)
    }
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
    y_stride: u32,
    max_tokens: u32,
}

/// `X·Wᵀ`, one shot: `x` holds `x.len() / cols` tokens of `cols` values;
/// uploads it, dispatches and reads `Y` (tokens × rows) back. For tests and
/// checks, not the prefill loop.
pub async fn matmul(ctx: &GpuContext, matrix: &GpuMatrix, x: &[f32]) -> Result<Vec<f32>, GpuError> {
    if x.is_empty() || !x.len().is_multiple_of(matrix.cols) {
        return Err(GpuError::Shape(format!(
            "mat-mul: {} values are not whole tokens of {} columns",
            x.len(),
            matrix.cols
        )));
    }
    let n = u32::try_from(x.len() / matrix.cols)
        .map_err(|_| GpuError::Shape("mat-mul: too many tokens".into()))?;
    let device = &ctx.device;
    let x_buffer = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
        label: Some("matmul x"),
        contents: bytemuck::cast_slice(x),
        usage: wgpu::BufferUsages::STORAGE,
    });
    let y_bytes = u64::from(n) * matrix.rows as u64 * 4;
    let y_buffer = device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("matmul y"),
        size: y_bytes,
        usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
        mapped_at_creation: false,
    });
    let step = StepUniform::new(0, n).to_buffer(ctx);
    let prepared = matrix.bind_matmul(
        ctx,
        &matmul_flags(matrix.ty)?,
        MatMulIo {
            x: &x_buffer,
            x_offset: 0,
            y: &y_buffer,
            y_offset: 0,
            max_tokens: n,
            step: &step,
        },
    )?;
    let mut encoder = device.create_command_encoder(&Default::default());
    prepared.encode(&mut encoder.begin_compute_pass(&Default::default()));
    ctx.queue.submit([encoder.finish()]);
    let raw = ctx.read_buffer(&y_buffer, y_bytes).await?;
    Ok(bytemuck::cast_slice(&raw).to_vec())
}

impl GpuMatrix {
    /// `y = W·x` through the f32 kernels for `max_tokens` rows of `x`: the
    /// mat-vec for one token, the tiled mat-mul for a batch.
    pub fn bind_linear(
        &self,
        ctx: &GpuContext,
        x: &wgpu::Buffer,
        y: &wgpu::Buffer,
        max_tokens: u32,
        step: &wgpu::Buffer,
    ) -> Result<KernelPass, GpuError> {
        if max_tokens == 1 {
            let flags = matvec::matvec_flags(ctx, self.ty)?;
            let io = matvec::MatVecIo {
                x,
                x_offset: 0,
                y,
                y_offset: 0,
            };
            self.bind(ctx, &flags, io)
        } else {
            let flags = matmul_flags(self.ty)?;
            let io = MatMulIo {
                x,
                x_offset: 0,
                y,
                y_offset: 0,
                max_tokens,
                step,
            };
            self.bind_matmul(ctx, &flags, io)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gpu::preprocess;

    /// The body of `fn name(` in `source`, up to its closing `}` line.
    fn function<'a>(source: &'a str, name: &str) -> &'a str {
        let start = source
            .find(&format!("\nfn {name}("))
            .unwrap_or_else(|| panic!("no `fn {name}`"));
        let end = source[start..].find("\n}\n").expect("closing brace") + start;
        &source[start..end]
    }

    #[test]
    fn loaders_match_the_matvec_kernel() {
        let (matvec, matmul) = (
            Kernel::MatVec.source(&["Q8_0"]).unwrap(),
            Kernel::MatMul.source(&["Q8_0"]).unwrap(),
        );
        for name in [
            "load_u8",
            "load_i8",
            "load_u16",
            "load_u32",
            "load_f16",
            "bytes4",
            "sbytes4",
            "scale_min_k4",
        ] {
            assert_eq!(
                function(&matvec, name),
                function(&matmul, name),
                "`{name}` differs"
            );
        }
    }

    #[test]
    fn every_supported_type_has_a_declared_variant() {
        let declared = Kernel::MatMul.declared_flags();
        assert_eq!(declared.choices, Kernel::MatVec.declared_flags().choices);
        assert!(declared.flags.is_empty());
        assert_eq!(
            preprocess::all_variants(&declared).len(),
            matvec::supported_types().count()
        );
        for ty in matvec::supported_types() {
            Kernel::MatMul.source(&matmul_flags(ty).unwrap()).unwrap();
        }
        let error = matmul_flags(GgmlType::Q2_K).unwrap_err();
        assert!(
            matches!(
                error,
                GpuError::Kernel {
                    kernel: "matmul",
                    ..
                }
            ),
            "{error}"
        );
    }

    #[test]
    fn tile_sizes_match_the_kernel() {
        let source = Kernel::MatMul.source(&["Q4_K"]).unwrap();
        for line in [
            format!("const TILE_ROWS: u32 = {TILE_ROWS}u;"),
            format!("const TILE_TOKENS: u32 = {TILE_TOKENS}u;"),
        ] {
            assert!(source.contains(&line), "kernel lost `{line}`");
        }
    }

    #[test]
    fn grid_covers_rows_and_tokens() {
        assert_eq!(dispatch_grid(1, 1).unwrap(), [1, 1, 1]);
        assert_eq!(dispatch_grid(129, 65).unwrap(), [3, 2, 1]);
        assert_eq!(dispatch_grid(151_936, 512).unwrap(), [2374, 8, 1]);
        let [x, _, z] = dispatch_grid(64 * 65_535 + 1, 1).unwrap();
        assert_eq!((x, z), (65_535, 2));
        assert!(dispatch_grid(1, u32::MAX).is_err());
    }
}
