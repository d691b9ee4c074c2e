//! A weight matrix on the GPU as the raw GGUF blocks of its tensor type
//! ([`GpuMatrix`]): uploaded, or found in a buffer that already holds it.
//!
//! A [`GpuMatrix`] holds the tensor's bytes exactly as in the file. A tensor
//! larger than one storage binding (`max_storage_buffer_binding_size`) is
//! split by rows into several buffers ([`row_chunks`]), each dispatched with
//! its own bind group by the kernels that read it (`matvec.rs`, `matmul.rs`,
//! `ggml_matvec.rs`, `embedding.rs`).

use std::ops::Range;

use crate::gpu::matvec::choice;
use crate::gpu::{GpuContext, GpuError};
use crate::quant::GgmlType;

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
        // COPY_SRC: `gpu::fast::concat` moves matrices of one layer together.
        usage: wgpu::BufferUsages::STORAGE
            | wgpu::BufferUsages::COPY_DST
            | wgpu::BufferUsages::COPY_SRC,
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
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
