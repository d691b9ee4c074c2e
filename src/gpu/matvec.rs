//! Decode-path mat-vec on the GPU (`kernels/matvec.wgsl`): `y = W·x` with
//! `W` a weight matrix kept as the raw GGUF blocks of its tensor type (a
//! [`GpuMatrix`], see `matrix.rs`) and `x` an f32 vector.
//!
//! Each of the matrix's row chunks is dispatched with its own bind group.
//! [`GpuMatrix::bind`] builds those bind groups once for a given `x` and
//! `y`; [`KernelPass::encode`] records the dispatches into a compute pass, so
//! the decode loop only encodes. [`matvec`] is the one-shot helper for tests:
//! upload `x`, dispatch, read `y` back.

use wgpu::util::DeviceExt;

pub use crate::gpu::matrix::{GpuMatrix, MatrixChunk, row_chunks};
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

/// The kernel's `choose` name for `ty`, or an error naming the supported
/// types.
pub(crate) fn choice(ty: GgmlType) -> Result<&'static str, GpuError> {
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
impl GpuMatrix {
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
