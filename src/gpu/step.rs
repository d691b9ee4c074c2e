//! The per-step uniform every decoder kernel reads: where this step's tokens
//! sit in the sequence. The decoder writes it once per step with
//! `queue.write_buffer` ([`write_step`]); passes bind it once ([`step_buffer`]).

use crate::gpu::GpuContext;

/// This step's tokens: `n_tokens` tokens at positions `pos0..pos0 + n_tokens`,
/// attending `kv_len = pos0 + n_tokens` cached positions. Layout matches
/// `Step` in the WGSL kernels.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct StepUniform {
    pub pos0: u32,
    pub n_tokens: u32,
    pub kv_len: u32,
    /// Always 0. Kernels xor float bits with it (`unfused` in
    /// `kernels/lib/ggml_numerics.wgsl`): a value the shader compiler
    /// cannot know stops it fusing a multiply into the next add.
    pub zero: u32,
}

impl StepUniform {
    /// `n_tokens` tokens starting at position `pos0`.
    pub fn new(pos0: u32, n_tokens: u32) -> StepUniform {
        StepUniform {
            pos0,
            n_tokens,
            kv_len: pos0 + n_tokens,
            zero: 0,
        }
    }
}

impl StepUniform {
    /// A uniform buffer holding `self`, rewritable with [`write_step`].
    pub fn to_buffer(self, ctx: &GpuContext) -> wgpu::Buffer {
        let buffer = step_buffer(ctx);
        write_step(ctx, &buffer, self);
        buffer
    }
}

/// A uniform buffer for [`StepUniform`], written with [`write_step`].
pub fn step_buffer(ctx: &GpuContext) -> wgpu::Buffer {
    ctx.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("step"),
        size: std::mem::size_of::<StepUniform>() as u64,
        usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    })
}

/// Queues the write of `step` into `buffer` (takes effect at the next submit).
pub fn write_step(ctx: &GpuContext, buffer: &wgpu::Buffer, step: StepUniform) {
    ctx.queue.write_buffer(buffer, 0, bytemuck::bytes_of(&step));
}
