//! What the device's arithmetic does where WGSL leaves it open, measured
//! once when the context is created.

use wgpu::util::DeviceExt;

use crate::gpu::{GpuContext, GpuError};

/// `fma(a, b, c)` with inputs the compiler cannot see, read back.
const FMA_PROBE: &str = "
@group(0) @binding(0) var<storage, read_write> v: array<f32, 4>;
@compute @workgroup_size(1)
fn main() {
    v[3] = fma(v[0], v[1], v[2]);
}
";

/// Whether WGSL's `fma` rounds once on this device. With a = 1 + 2^-23 and
/// b = 1 - 2^-23, a·b - 1 is -2^-46 when fused and 0 when the product is
/// rounded first (as on lavapipe). The ggml-exact kernels use the native
/// `fma` only where this holds, else an integer one (`fma_rn`).
pub async fn fma_is_fused(ctx: &GpuContext) -> Result<bool, GpuError> {
    let (a, b) = (1.0 + f32::EPSILON, 1.0 - f32::EPSILON);
    let values = [a, b, -1.0, 0.0];
    let buffer = ctx
        .device
        .create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("fma probe"),
            contents: bytemuck::cast_slice(&values),
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
        });
    let module = ctx
        .device
        .create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("fma probe"),
            source: wgpu::ShaderSource::Wgsl(FMA_PROBE.into()),
        });
    let pipeline = ctx
        .device
        .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some("fma probe"),
            layout: None,
            module: &module,
            entry_point: Some("main"),
            compilation_options: Default::default(),
            cache: None,
        });
    let bind_group = ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: Some("fma probe"),
        layout: &pipeline.get_bind_group_layout(0),
        entries: &[wgpu::BindGroupEntry {
            binding: 0,
            resource: buffer.as_entire_binding(),
        }],
    });
    let mut encoder = ctx.device.create_command_encoder(&Default::default());
    {
        let mut pass = encoder.begin_compute_pass(&Default::default());
        pass.set_pipeline(&pipeline);
        pass.set_bind_group(0, &bind_group, &[]);
        pass.dispatch_workgroups(1, 1, 1);
    }
    ctx.queue.submit([encoder.finish()]);
    let raw = ctx.read_buffer(&buffer, 16).await?;
    ctx.check()?;
    let result: &[f32] = bytemuck::cast_slice(&raw);
    Ok(result[3] == a.mul_add(b, -1.0))
}
