//! Decode-path mat-vec on the GPU (`kernels/matvec.wgsl`): `y = W·x` with
//! `W` a weight matrix kept as the raw GGUF blocks of its tensor type and `x`
//! an f32 vector.
//!
//! A [`GpuMatrix`] holds the tensor's bytes exactly as in the file. A tensor
//! larger than one storage binding (`max_storage_buffer_binding_size`) is
//! split by rows into several buffers ([`row_chunks`]), each dispatched with
//! its own bind group. [`GpuMatrix::bind`] builds those bind groups once for
//! a given `x` and `y`; [`KernelPass::encode`] records the dispatches into a
//! compute pass, so the decode loop only encodes. [`matvec`] is the one-shot
//! helper for tests: upload `x`, dispatch, read `y` back.

use std::ops::Range;

use wgpu::util::DeviceExt;

use crate::gpu::workgroup_grid;
use crate::gpu::{GpuContext, GpuError, Kernel, KernelPass};
use crate::quant::GgmlType;

/// Rows one workgroup computes (`ROWS` in the WGSL; checked by a test).
pub const ROWS_PER_WORKGROUP: usize = 4;

/// The tensor types with a kernel variant, and the kernel's `choose` name
/// for each (checked against the WGSL by a test).
const VARIANTS: [(GgmlType, &str); 11] = [
    (GgmlType::F32, "F32"),
    (GgmlType::F16, "F16"),
    (GgmlType::BF16, "BF16"),
    (GgmlType::Q4_0, "Q4_0"),
    (GgmlType::Q4_1, "Q4_1"),
    (GgmlType::Q5_0, "Q5_0"),
    (GgmlType::Q5_1, "Q5_1"),
    (GgmlType::Q8_0, "Q8_0"),
    (GgmlType::Q4_K, "Q4_K"),
    (GgmlType::Q5_K, "Q5_K"),
    (GgmlType::Q6_K, "Q6_K"),
];

/// The tensor types [`GpuMatrix`] handles: every type the CPU path supports.
pub fn supported_types() -> impl Iterator<Item = GgmlType> {
    VARIANTS.into_iter().map(|(ty, _)| ty)
}

fn choice(ty: GgmlType) -> Result<&'static str, GpuError> {
    VARIANTS
        .iter()
        .find(|(t, _)| *t == ty)
        .map(|(_, name)| *name)
        .ok_or_else(|| GpuError::Kernel {
            kernel: Kernel::MatVec.name(),
            message: format!(
                "no GPU mat-vec for tensor type {ty} (supported: {})",
                supported_types()
                    .map(GgmlType::name)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })
}

/// The kernel variant for `ty`: its type choice, plus `SUBGROUPS` if asked.
/// An unsupported type is an error.
pub fn variant_flags(ty: GgmlType, subgroups: bool) -> Result<Vec<&'static str>, GpuError> {
    let mut flags = vec![choice(ty)?];
    if subgroups {
        flags.push("SUBGROUPS");
    }
    Ok(flags)
}

/// The variant this device should use for `ty`: `SUBGROUPS` where the
/// device has subgroups, the shared-memory reduction otherwise.
pub fn matvec_flags(ctx: &GpuContext, ty: GgmlType) -> Result<Vec<&'static str>, GpuError> {
    variant_flags(ty, ctx.capabilities.subgroups)
}

/// The workgroup grid for `rows` rows: x up to 65535, the rest spills into y.
pub fn dispatch_grid(rows: usize) -> (u32, u32) {
    let groups = rows.div_ceil(ROWS_PER_WORKGROUP);
    workgroup_grid(u32::try_from(groups).unwrap_or(u32::MAX))
}

/// Splits `rows` rows of `row_bytes` bytes into runs of whole rows that each
/// fit one storage binding of `max_binding` bytes. Runs are as long as the
/// limit allows (the last one takes the rest). The kernel addresses bytes with
/// u32, so a run is also kept below 4 GiB. A single row over the limit is an
/// error.
pub fn row_chunks(
    rows: usize,
    row_bytes: usize,
    max_binding: u64,
) -> Result<Vec<Range<usize>>, GpuError> {
    if row_bytes == 0 {
        return Err(GpuError::Shape("mat-vec: rows of zero bytes".into()));
    }
    // Whole u32 words, and byte offsets that fit a u32 in the shader.
    let limit = max_binding.min(u64::from(u32::MAX)) & !3;
    let per_chunk = usize::try_from(limit / row_bytes as u64).unwrap_or(usize::MAX);
    if per_chunk == 0 {
        return Err(GpuError::TooLarge("one row of a weight matrix", limit));
    }
    Ok((0..rows)
        .step_by(per_chunk)
        .map(|start| start..rows.min(start.saturating_add(per_chunk)))
        .collect())
}

/// A storage buffer holding `bytes` (zero-padded to whole words). Written
/// with `queue.write_buffer`, which in the browser copies straight from the
/// WASM heap: `create_buffer_init` would mirror the whole tensor in the heap
/// a second time while it is mapped.
fn upload_bytes(ctx: &GpuContext, bytes: &[u8]) -> wgpu::Buffer {
    let size = (bytes.len() as u64).next_multiple_of(4).max(4);
    let buffer = ctx.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("matvec weights"),
        size,
        usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    let whole = bytes.len() - bytes.len() % 4;
    if whole > 0 {
        ctx.queue.write_buffer(&buffer, 0, &bytes[..whole]);
    }
    if whole < bytes.len() {
        let mut tail = [0u8; 4];
        tail[..bytes.len() - whole].copy_from_slice(&bytes[whole..]);
        ctx.queue.write_buffer(&buffer, whole as u64, &tail);
    }
    buffer
}

/// One run of rows of a [`GpuMatrix`], in one buffer.
#[derive(Debug, Clone)]
pub struct MatrixChunk {
    pub buffer: wgpu::Buffer,
    /// Byte offset of the run's first row in `buffer` (even).
    pub byte_offset: u64,
    /// The rows of the matrix this run holds.
    pub rows: Range<usize>,
}

/// A weight matrix on the GPU as raw GGUF blocks: `rows` rows of `cols`
/// values of type `ty`, `row_bytes` bytes each, split by rows into chunks
/// that each fit one storage binding.
#[derive(Debug, Clone)]
pub struct GpuMatrix {
    pub ty: GgmlType,
    pub rows: usize,
    pub cols: usize,
    pub row_bytes: usize,
    pub chunks: Vec<MatrixChunk>,
}

/// Bytes per row of a `rows` × `cols` matrix of `ty`, with shape errors.
fn check_shape(ty: GgmlType, rows: usize, cols: usize) -> Result<usize, GpuError> {
    choice(ty)?;
    if rows == 0 || cols == 0 {
        return Err(GpuError::Shape(format!(
            "mat-vec: empty {rows} × {cols} matrix"
        )));
    }
    let row_bytes = ty
        .row_bytes(cols)
        .map_err(|e| GpuError::Shape(format!("mat-vec: {e}")))?;
    if u32::try_from(row_bytes).is_err() {
        return Err(GpuError::Shape(format!(
            "mat-vec: rows of {row_bytes} bytes overflow u32"
        )));
    }
    Ok(row_bytes)
}

impl GpuMatrix {
    /// Uploads a `rows` × `cols` tensor of type `ty` from its GGUF bytes
    /// (`rows` × `ty.row_bytes(cols)` of them), split by rows into buffers
    /// that each fit one storage binding of this device.
    pub fn upload(
        ctx: &GpuContext,
        ty: GgmlType,
        rows: usize,
        cols: usize,
        bytes: &[u8],
    ) -> Result<Self, GpuError> {
        let row_bytes = check_shape(ty, rows, cols)?;
        if Some(bytes.len()) != rows.checked_mul(row_bytes) {
            return Err(GpuError::Shape(format!(
                "mat-vec: {} bytes are not {rows} rows of {row_bytes} bytes ({ty}, {cols} columns)",
                bytes.len()
            )));
        }
        let limit = ctx
            .limits
            .max_storage_buffer_binding_size
            .min(ctx.limits.max_buffer_size);
        let chunks = row_chunks(rows, row_bytes, limit)?
            .into_iter()
            .map(|rows| MatrixChunk {
                buffer: upload_bytes(ctx, &bytes[rows.start * row_bytes..rows.end * row_bytes]),
                byte_offset: 0,
                rows,
            })
            .collect();
        Ok(GpuMatrix {
            ty,
            rows,
            cols,
            row_bytes,
            chunks,
        })
    }

    /// A matrix that already lives in `buffer`, starting `byte_offset` bytes
    /// in (even; GGUF aligns tensors to 32 bytes, storage bindings need 256,
    /// so the kernel takes the offset itself). The buffer is bound from its
    /// start, so the whole tensor must end within one binding.
    pub fn in_buffer(
        ctx: &GpuContext,
        ty: GgmlType,
        rows: usize,
        cols: usize,
        buffer: &wgpu::Buffer,
        byte_offset: u64,
    ) -> Result<Self, GpuError> {
        let row_bytes = check_shape(ty, rows, cols)?;
        if !byte_offset.is_multiple_of(2) {
            return Err(GpuError::Shape(format!(
                "mat-vec: weights at odd byte offset {byte_offset}"
            )));
        }
        let end = (rows as u64)
            .checked_mul(row_bytes as u64)
            .and_then(|bytes| bytes.checked_add(byte_offset))
            .ok_or_else(|| GpuError::Shape("mat-vec: tensor size overflows".into()))?;
        if end.next_multiple_of(4) > buffer.size() {
            return Err(GpuError::Shape(format!(
                "mat-vec: tensor ends at byte {end}, past its buffer of {}",
                buffer.size()
            )));
        }
        if end > u64::from(u32::MAX) {
            return Err(GpuError::TooLarge(
                "a weight matrix in a shared buffer",
                u64::from(u32::MAX),
            ));
        }
        ctx.check_binding(
            "a weight matrix in a shared buffer",
            end.next_multiple_of(4),
        )?;
        Ok(GpuMatrix {
            ty,
            rows,
            cols,
            row_bytes,
            chunks: vec![MatrixChunk {
                buffer: buffer.clone(),
                byte_offset,
                rows: 0..rows,
            }],
        })
    }

    /// Builds the bind groups computing `y[y_offset..][..rows] = W ·
    /// x[x_offset..][..cols]` with the kernel variant `flags` (see
    /// [`matvec_flags`]). `x` and `y` are bound whole.
    pub fn bind(
        &self,
        ctx: &GpuContext,
        flags: &[&'static str],
        io: MatVecIo<'_>,
    ) -> Result<KernelPass, GpuError> {
        let wanted = choice(self.ty)?;
        if !flags.contains(&wanted) {
            return Err(GpuError::Kernel {
                kernel: Kernel::MatVec.name(),
                message: format!("variant {flags:?} does not decode {}", self.ty),
            });
        }
        if flags.contains(&"SUBGROUPS") && !ctx.capabilities.subgroups {
            return Err(GpuError::Kernel {
                kernel: Kernel::MatVec.name(),
                message: "the SUBGROUPS variant needs a device with subgroups".into(),
            });
        }
        let words = |what: &str, buffer: &wgpu::Buffer, offset: u32, len: usize| {
            let needed = (u64::from(offset) + len as u64) * 4;
            if needed > buffer.size() {
                return Err(GpuError::Shape(format!(
                    "mat-vec: {what} needs {needed} bytes, its buffer has {}",
                    buffer.size()
                )));
            }
            Ok(())
        };
        words("x", io.x, io.x_offset, self.cols)?;
        words("y", io.y, io.y_offset, self.rows)?;
        ctx.check_binding("mat-vec x", io.x.size())?;
        ctx.check_binding("mat-vec y", io.y.size())?;
        let too_big = |_| GpuError::Shape("mat-vec: offsets overflow u32".into());

        let pipeline = ctx.pipeline(Kernel::MatVec, flags)?;
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
                y_offset: u32::try_from(chunk.rows.start)
                    .ok()
                    .and_then(|start| start.checked_add(io.y_offset))
                    .ok_or_else(|| GpuError::Shape("mat-vec: offsets overflow u32".into()))?,
                _pad: [0; 2],
            };
            let uniform = ctx
                .device
                .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                    label: Some("matvec params"),
                    contents: bytemuck::bytes_of(&params),
                    usage: wgpu::BufferUsages::UNIFORM,
                });
            let weights_end =
                (chunk.byte_offset + (rows * self.row_bytes) as u64).next_multiple_of(4);
            let bind_group = ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some("matvec"),
                layout: &layout,
                entries: &[
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
                        resource: io.x.as_entire_binding(),
                    },
                    wgpu::BindGroupEntry {
                        binding: 2,
                        resource: io.y.as_entire_binding(),
                    },
                    wgpu::BindGroupEntry {
                        binding: 3,
                        resource: uniform.as_entire_binding(),
                    },
                ],
            });
            let (gx, gy) = dispatch_grid(rows);
            prepared.push_grid(pipeline.clone(), bind_group, [gx, gy, 1]);
        }
        Ok(prepared)
    }
}

/// Where a mat-vec reads `x` and writes `y` (offsets in f32 elements).
#[derive(Debug, Clone, Copy)]
pub struct MatVecIo<'a> {
    pub x: &'a wgpu::Buffer,
    pub x_offset: u32,
    pub y: &'a wgpu::Buffer,
    pub y_offset: u32,
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
    _pad: [u32; 2],
}

/// `W·x`, one shot: uploads `x`, dispatches with this device's preferred
/// variant ([`matvec_flags`]) and reads `y` back. For tests and checks, not
/// the decode loop.
pub async fn matvec(ctx: &GpuContext, matrix: &GpuMatrix, x: &[f32]) -> Result<Vec<f32>, GpuError> {
    let flags = matvec_flags(ctx, matrix.ty)?;
    matvec_with_flags(ctx, matrix, x, &flags).await
}

/// [`matvec`] with an explicit kernel variant (e.g. the shared-memory one
/// on a device that has subgroups).
pub async fn matvec_with_flags(
    ctx: &GpuContext,
    matrix: &GpuMatrix,
    x: &[f32],
    flags: &[&'static str],
) -> Result<Vec<f32>, GpuError> {
    if x.len() != matrix.cols {
        return Err(GpuError::Shape(format!(
            "mat-vec: x has {} values, the matrix {} columns",
            x.len(),
            matrix.cols
        )));
    }
    let device = &ctx.device;
    let x_buffer = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
        label: Some("matvec x"),
        contents: bytemuck::cast_slice(x),
        usage: wgpu::BufferUsages::STORAGE,
    });
    let y_bytes = (matrix.rows * 4) as u64;
    let y_buffer = device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("matvec y"),
        size: y_bytes,
        usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
        mapped_at_creation: false,
    });
    let prepared = matrix.bind(
        ctx,
        flags,
        MatVecIo {
            x: &x_buffer,
            x_offset: 0,
            y: &y_buffer,
            y_offset: 0,
        },
    )?;
    let mut encoder = device.create_command_encoder(&Default::default());
    {
        let mut pass = encoder.begin_compute_pass(&Default::default());
        prepared.encode(&mut pass);
    }
    ctx.queue.submit([encoder.finish()]);
    let raw = ctx.read_buffer(&y_buffer, y_bytes).await?;
    Ok(bytemuck::cast_slice(&raw).to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gpu::preprocess;

    #[test]
    fn chunks_cover_every_row_within_the_limit() {
        // 10 rows of 18 bytes under a 64-byte binding: 3 rows (54 bytes) each.
        assert_eq!(row_chunks(10, 18, 64).unwrap(), [0..3, 3..6, 6..9, 9..10]);
        // Exactly at the limit, and a limit that is not a whole word.
        assert_eq!(row_chunks(4, 16, 32).unwrap(), [0..2, 2..4]);
        assert_eq!(row_chunks(4, 16, 35).unwrap(), [0..2, 2..4]);
        // Everything fits one binding.
        assert_eq!(row_chunks(7, 210, 1 << 20).unwrap(), vec![0..7usize]);
        assert_eq!(
            row_chunks(0, 34, 1 << 20).unwrap(),
            Vec::<Range<usize>>::new()
        );
        // A huge device limit is still cut below 4 GiB for u32 addressing.
        let rows = 40_000;
        let chunks = row_chunks(rows, 210 * 1024, u64::MAX).unwrap();
        assert!(chunks.len() > 1);
        for chunk in &chunks {
            assert!((chunk.len() * 210 * 1024) as u64 <= u64::from(u32::MAX));
        }
        for (rows, row_bytes, limit) in [(1001, 34, 1000), (5, 144, 144), (70_001, 18, 4096)] {
            let chunks = row_chunks(rows, row_bytes, limit).unwrap();
            assert_eq!(chunks.first().unwrap().start, 0);
            assert_eq!(chunks.last().unwrap().end, rows);
            for pair in chunks.windows(2) {
                assert_eq!(pair[0].end, pair[1].start);
            }
            for chunk in &chunks {
                assert!(!chunk.is_empty() && (chunk.len() * row_bytes) as u64 <= limit);
            }
        }
    }

    #[test]
    fn a_row_larger_than_a_binding_is_an_error() {
        assert!(matches!(
            row_chunks(3, 210, 208),
            Err(GpuError::TooLarge(_, 208))
        ));
        assert!(matches!(row_chunks(3, 0, 208), Err(GpuError::Shape(_))));
    }

    #[test]
    fn every_supported_type_has_a_declared_variant() {
        let declared = Kernel::MatVec.declared_flags();
        let names: Vec<&str> = VARIANTS.iter().map(|(_, name)| *name).collect();
        assert_eq!(declared.choices, [names]);
        assert_eq!(declared.flags, ["SUBGROUPS"]);
        assert_eq!(
            preprocess::all_variants(&declared).len(),
            2 * VARIANTS.len()
        );
        // The GPU covers exactly the types the CPU path supports.
        let mut cpu: Vec<u32> = crate::quant::SUPPORTED.iter().map(|t| t.id()).collect();
        let mut gpu: Vec<u32> = supported_types().map(GgmlType::id).collect();
        cpu.sort_unstable();
        gpu.sort_unstable();
        assert_eq!(cpu, gpu);
        for ty in supported_types() {
            for subgroups in [false, true] {
                let flags = variant_flags(ty, subgroups).unwrap();
                Kernel::MatVec.source(&flags).unwrap();
                assert_eq!(flags.contains(&"SUBGROUPS"), subgroups);
            }
        }
    }

    #[test]
    fn an_unsupported_type_is_a_typed_error() {
        let error = variant_flags(GgmlType::Q2_K, false).unwrap_err();
        assert!(matches!(
            error,
            GpuError::Kernel {
                kernel: "matvec",
                ..
            }
        ));
        assert!(error.to_string().contains("tensor type q2_K"), "{error}");
    }

    #[test]
    fn rows_per_workgroup_matches_the_kernel() {
        let source = Kernel::MatVec.source(&["Q8_0"]).unwrap();
        let line = format!("const ROWS: u32 = {ROWS_PER_WORKGROUP}u;");
        assert!(source.contains(&line), "kernel lost `{line}`");
    }

    #[test]
    fn grid_spills_into_y() {
        assert_eq!(dispatch_grid(1), (1, 1));
        assert_eq!(dispatch_grid(4 * 65_535), (65_535, 1));
        let (x, y) = dispatch_grid(4 * 65_535 + 1);
        assert_eq!((x, y), (65_535, 2));
    }
}
