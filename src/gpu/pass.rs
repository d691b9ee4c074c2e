//! Prepared dispatches and the small helpers the kernel families share.
//!
//! Every family binds its buffers once (`bind_*` functions) into a
//! [`KernelPass`]: pipelines, bind groups and grids, recorded into a compute
//! pass by [`KernelPass::encode`] with no uploads. Buffers are bound whole and
//! kernels take element offsets from their uniform, so no binding needs
//! WebGPU's 256-byte offset alignment.

use std::rc::Rc;

use wgpu::util::DeviceExt;

use crate::gpu::{GpuContext, GpuError, workgroup_grid};

#[derive(Debug)]
struct Dispatch {
    pipeline: Rc<wgpu::ComputePipeline>,
    bind_group: wgpu::BindGroup,
    grid: [u32; 3],
}

/// One or more prepared dispatches, recorded in order by [`Self::encode`].
#[derive(Debug, Default)]
pub struct KernelPass {
    dispatches: Vec<Dispatch>,
}

impl KernelPass {
    /// Records the dispatches into `pass`.
    pub fn encode(&self, pass: &mut wgpu::ComputePass<'_>) {
        for d in &self.dispatches {
            pass.set_pipeline(&d.pipeline);
            pass.set_bind_group(0, &d.bind_group, &[]);
            pass.dispatch_workgroups(d.grid[0], d.grid[1], d.grid[2]);
        }
    }

    /// How many dispatches it records.
    pub fn dispatch_count(&self) -> usize {
        self.dispatches.len()
    }

    /// Adds a dispatch of `groups` workgroups (spilling into y past 65535).
    pub(crate) fn push(
        &mut self,
        pipeline: Rc<wgpu::ComputePipeline>,
        bind_group: wgpu::BindGroup,
        groups: u32,
    ) {
        let (x, y) = workgroup_grid(groups);
        self.push_grid(pipeline, bind_group, [x, y, 1]);
    }

    /// Adds a dispatch of an explicit workgroup grid.
    pub(crate) fn push_grid(
        &mut self,
        pipeline: Rc<wgpu::ComputePipeline>,
        bind_group: wgpu::BindGroup,
        grid: [u32; 3],
    ) {
        self.dispatches.push(Dispatch {
            pipeline,
            bind_group,
            grid,
        });
    }

    /// The dispatches of `self`, then those of `next`.
    pub fn then(mut self, next: KernelPass) -> KernelPass {
        self.dispatches.extend(next.dispatches);
        self
    }
}

/// Per-token rows of f32 activations: token t starts at `offset + t · stride`.
#[derive(Debug, Clone, Copy)]
pub struct Rows<'a> {
    pub buffer: &'a wgpu::Buffer,
    pub offset: u32,
    pub stride: u32,
}

impl<'a> Rows<'a> {
    /// Rows `stride` elements apart from the start of `buffer`.
    pub fn from_start(buffer: &'a wgpu::Buffer, stride: u32) -> Rows<'a> {
        Rows {
            buffer,
            offset: 0,
            stride,
        }
    }

    /// Elements needed for `tokens` rows of `width`.
    pub(crate) fn end(&self, tokens: u32, width: u32) -> u64 {
        u64::from(self.offset)
            + u64::from(tokens.max(1) - 1) * u64::from(self.stride)
            + u64::from(width)
    }
}

/// A uniform buffer holding `value`.
pub(crate) fn uniform<T: bytemuck::Pod>(ctx: &GpuContext, label: &str, value: &T) -> wgpu::Buffer {
    ctx.device
        .create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some(label),
            contents: bytemuck::bytes_of(value),
            usage: wgpu::BufferUsages::UNIFORM,
        })
}

/// A bind group of whole buffers, `(binding, buffer)`, for `pipeline`'s group 0.
pub(crate) fn bind_group(
    ctx: &GpuContext,
    pipeline: &wgpu::ComputePipeline,
    label: &str,
    buffers: &[(u32, &wgpu::Buffer)],
) -> wgpu::BindGroup {
    let entries: Vec<wgpu::BindGroupEntry<'_>> = buffers
        .iter()
        .map(|&(binding, buffer)| wgpu::BindGroupEntry {
            binding,
            resource: buffer.as_entire_binding(),
        })
        .collect();
    ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: Some(label),
        layout: &pipeline.get_bind_group_layout(0),
        entries: &entries,
    })
}

/// Checks that `buffer` holds 4-byte elements `..end` and fits one binding.
pub(crate) fn check_words(
    ctx: &GpuContext,
    what: &'static str,
    buffer: &wgpu::Buffer,
    end: u64,
) -> Result<(), GpuError> {
    if end * 4 > buffer.size() {
        return Err(GpuError::Shape(format!(
            "{what} needs {} bytes, its buffer has {}",
            end * 4,
            buffer.size()
        )));
    }
    ctx.check_binding(what, buffer.size())
}

/// `value` as u32, or a shape error naming `what`.
pub(crate) fn to_u32(what: &str, value: usize) -> Result<u32, GpuError> {
    u32::try_from(value).map_err(|_| GpuError::Shape(format!("{what} = {value} overflows u32")))
}

/// A storage buffer holding `data` (also a copy source and target).
pub(crate) fn storage_init(ctx: &GpuContext, label: &str, data: &[u8]) -> wgpu::Buffer {
    ctx.device
        .create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some(label),
            contents: data,
            usage: wgpu::BufferUsages::STORAGE
                | wgpu::BufferUsages::COPY_SRC
                | wgpu::BufferUsages::COPY_DST,
        })
}

/// A zeroed storage buffer of `bytes` bytes (at least 4).
pub(crate) fn storage_zeroed(ctx: &GpuContext, label: &str, bytes: u64) -> wgpu::Buffer {
    ctx.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some(label),
        size: bytes.max(4).next_multiple_of(4),
        usage: wgpu::BufferUsages::STORAGE
            | wgpu::BufferUsages::COPY_SRC
            | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    })
}

/// Encodes `passes` into one compute pass, submits, and reads back the first
/// `bytes` bytes of `result`. For the one-shot test helpers.
pub(crate) async fn run_and_read(
    ctx: &GpuContext,
    passes: &[&KernelPass],
    result: &wgpu::Buffer,
    bytes: u64,
) -> Result<Vec<u8>, GpuError> {
    let mut encoder = ctx.device.create_command_encoder(&Default::default());
    {
        let mut pass = encoder.begin_compute_pass(&Default::default());
        for p in passes {
            p.encode(&mut pass);
        }
    }
    ctx.queue.submit([encoder.finish()]);
    ctx.read_buffer(result, bytes).await
}
