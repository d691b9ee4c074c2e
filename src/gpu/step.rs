//! The per-step uniform shared by the kernels of one forward pass: written
//! once per step with `queue.write_buffer`, so bind groups built at load time
//! serve every step (and, for the prefill mat-mul, every prompt length).

use wgpu::util::DeviceExt;

use crate::gpu::GpuContext;

/// Layout matches `struct Step` in the WGSL kernels (16 bytes).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct Step {
    /// Position of the step's first token in the sequence.
    pub pos0: u32,
    /// Tokens processed in this step (the prompt's length in prefill, 1 in
    /// decode).
    pub n_tokens: u32,
    /// Keys and values in the cache after this step.
    pub kv_len: u32,
    _pad: u32,
}

impl Step {
    pub fn new(pos0: u32, n_tokens: u32, kv_len: u32) -> Self {
        Step {
            pos0,
            n_tokens,
            kv_len,
            _pad: 0,
        }
    }

    /// A uniform buffer holding `self`, writable with [`Step::write`].
    pub fn to_buffer(&self, ctx: &GpuContext) -> wgpu::Buffer {
        ctx.device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some("step"),
                contents: bytemuck::bytes_of(self),
                usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            })
    }

    /// Queues `self` into `buffer` (one from [`Step::to_buffer`]); takes effect
    /// for work submitted after it.
    pub fn write(&self, ctx: &GpuContext, buffer: &wgpu::Buffer) {
        ctx.queue.write_buffer(buffer, 0, bytemuck::bytes_of(self));
    }
}
