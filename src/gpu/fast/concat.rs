//! Matrices of one layer that read the same input (Q, K, V; gate, up) moved
//! back to back into one buffer, so that one `fast` mat-vec dispatch computes
//! them all. The originals are replaced by views into the new buffer
//! (`GpuMatrix::in_buffer`), so the weights are not held twice.

use crate::gpu::matvec::GpuMatrix;
use crate::gpu::{GpuContext, GpuError};

/// Moves `parts` into one new buffer, back to back in order, and returns
/// the matrix of all their rows; each part becomes a view of its rows in
/// that buffer. `None` (and nothing moved) unless the parts share a type
/// and a width, each lives in one chunk, every part's bytes are whole u32
/// words (buffer copies move words), and together they fit one binding.
pub fn concat_rows(
    ctx: &GpuContext,
    parts: &mut [&mut GpuMatrix],
) -> Result<Option<GpuMatrix>, GpuError> {
    let Some(first) = parts.first() else {
        return Ok(None);
    };
    let (ty, cols) = (first.ty, first.cols);
    let fits = parts.iter().all(|m| {
        m.ty == ty
            && m.cols == cols
            && m.chunks.len() == 1
            && m.chunks[0].byte_offset.is_multiple_of(4)
            && (m.rows * m.row_bytes).is_multiple_of(4)
    });
    let total: u64 = parts.iter().map(|m| (m.rows * m.row_bytes) as u64).sum();
    let limit = ctx.device.limits().max_storage_buffer_binding_size;
    if parts.len() < 2 || !fits || total > limit.min(u64::from(u32::MAX)) {
        return Ok(None);
    }
    let buffer = ctx.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("fused weights"),
        size: total.max(4),
        usage: wgpu::BufferUsages::STORAGE
            | wgpu::BufferUsages::COPY_DST
            | wgpu::BufferUsages::COPY_SRC,
        mapped_at_creation: false,
    });
    let mut encoder = ctx.device.create_command_encoder(&Default::default());
    let mut offset = 0u64;
    let mut views = Vec::with_capacity(parts.len());
    for part in parts.iter() {
        let bytes = (part.rows * part.row_bytes) as u64;
        let chunk = &part.chunks[0];
        encoder.copy_buffer_to_buffer(&chunk.buffer, chunk.byte_offset, &buffer, offset, bytes);
        views.push(GpuMatrix::in_buffer(
            ctx, ty, part.rows, cols, &buffer, offset,
        )?);
        offset += bytes;
    }
    ctx.queue.submit([encoder.finish()]);
    for (part, view) in parts.iter_mut().zip(views) {
        **part = view;
    }
    let rows = parts.iter().map(|m| m.rows).sum();
    GpuMatrix::in_buffer(ctx, ty, rows, cols, &buffer, 0).map(Some)
}
