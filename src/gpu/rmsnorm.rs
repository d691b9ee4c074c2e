//! RMSNorm on the GPU (`kernels/rmsnorm.wgsl`).

use wgpu::util::DeviceExt;

use crate::gpu::{GpuContext, GpuError, Kernel, workgroup_grid};

/// The kernel's uniform block; layout matches `Params` in the WGSL.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    rows: u32,
    dim: u32,
    eps: f32,
    _pad: u32,
}

/// The variant flags this device should use.
pub fn preferred_flags(ctx: &GpuContext) -> Vec<&'static str> {
    if ctx.capabilities.subgroups {
        vec!["SUBGROUPS"]
    } else {
        vec![]
    }
}

/// Normalises each row of `input` (rows × `weight.len()`) and scales by `weight`.
/// A one-shot helper: uploads, dispatches once and reads the result back.
pub async fn rms_norm(
    ctx: &GpuContext,
    input: &[f32],
    weight: &[f32],
    eps: f32,
    flags: &[&'static str],
) -> Result<Vec<f32>, GpuError> {
    let dim = weight.len();
    if dim == 0 || !input.len().is_multiple_of(dim) {
        return Err(GpuError::Shape(format!(
            "rmsnorm: {} values are not rows of {dim}",
            input.len()
        )));
    }
    let rows = input.len() / dim;
    let bytes = std::mem::size_of_val(input) as u64;
    ctx.check_binding("rmsnorm input", bytes)?;
    let pipeline = ctx.pipeline(Kernel::RmsNorm, flags)?;
    let device = &ctx.device;
    let storage = |label, data: &[f32]| {
        device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some(label),
            contents: bytemuck::cast_slice(data),
            usage: wgpu::BufferUsages::STORAGE,
        })
    };
    let x = storage("rmsnorm x", input);
    let w = storage("rmsnorm w", weight);
    let y = device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("rmsnorm y"),
        size: bytes,
        usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
        mapped_at_creation: false,
    });
    let params = Params {
        rows: rows as u32,
        dim: dim as u32,
        eps,
        _pad: 0,
    };
    let uniform = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
        label: Some("rmsnorm params"),
        contents: bytemuck::bytes_of(&params),
        usage: wgpu::BufferUsages::UNIFORM,
    });
    let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: Some("rmsnorm"),
        layout: &pipeline.get_bind_group_layout(0),
        entries: &[
            wgpu::BindGroupEntry {
                binding: 0,
                resource: x.as_entire_binding(),
            },
            wgpu::BindGroupEntry {
                binding: 1,
                resource: w.as_entire_binding(),
            },
            wgpu::BindGroupEntry {
                binding: 2,
                resource: y.as_entire_binding(),
            },
            wgpu::BindGroupEntry {
                binding: 3,
                resource: uniform.as_entire_binding(),
            },
        ],
    });
    let mut encoder = device.create_command_encoder(&Default::default());
    {
        let mut pass = encoder.begin_compute_pass(&Default::default());
        pass.set_pipeline(&pipeline);
        pass.set_bind_group(0, &bind_group, &[]);
        let (gx, gy) = workgroup_grid(rows as u32);
        pass.dispatch_workgroups(gx, gy, 1);
    }
    ctx.queue.submit([encoder.finish()]);
    let raw = ctx.read_buffer(&y, bytes).await?;
    Ok(bytemuck::cast_slice(&raw).to_vec())
}
