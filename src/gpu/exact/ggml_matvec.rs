//! Quantised weights times activations packed by `gpu::exact::ggml_quantize`, bit
//! for bit as llama.cpp's CPU backend computes them
//! (`kernels/exact/ggml_matvec.wgsl`; the spec is
//! `quant::dot_quantized_rows_ordered` in the order `cpu::matmul::dot_order`
//! picks per token). One kernel serves prefill (up to `max_tokens`): the
//! number of tokens is read from the [`Step`] uniform at run time, and with
//! it the order (Q4_K's gemm/gemv split, Q6_K's tiled path from 8 tokens).
//! Bindings for one token (decode) take `kernels/exact/ggml_matvec_decode.wgsl`
//! instead: a workgroup per row that issues all of a chunk's loads and
//! integer work before the float chains, so a row costs a memory latency
//! or two rather than one per block.
//!
//! Weights are a [`GpuMatrix`] (raw GGUF blocks, possibly split into row
//! chunks): one dispatch per chunk, as `GpuMatrix::bind` does.
//!
//! [`Step`]: crate::gpu::step::StepUniform

use crate::gpu::exact::ggml_quantize::{activation_words, is_exact};
use crate::gpu::matvec::GpuMatrix;
use crate::gpu::pass::{self, KernelPass, Rows, check_words, to_u32};
use crate::gpu::step::StepUniform;
use crate::gpu::{GpuContext, GpuError, Kernel, workgroup_grid};
use crate::quant::GgmlType;

/// Rows per workgroup (`ROWS` in the WGSL).
pub const ROWS_PER_WORKGROUP: usize = 8;
/// Tokens per workgroup (`TILE` in the WGSL).
pub const TOKENS_PER_WORKGROUP: usize = 8;
/// Rows per workgroup of the one-token kernel (`ROWS` in its WGSL).
pub const DECODE_ROWS_PER_WORKGROUP: usize = 1;

/// The kernel's uniform block; layout matches `Params` in the WGSL.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    rows: u32,
    blocks: u32,
    row_bytes: u32,
    w_offset: u32,
    y_offset: u32,
    y_stride: u32,
    act_words: u32,
    matrix_rows: u32,
    max_tokens: u32,
    _pad: [u32; 3],
}

/// The kernel variant for weights of type `ty`.
fn flag(ty: GgmlType) -> Result<&'static str, GpuError> {
    use GgmlType::*;
    Ok(match ty {
        Q4_0 => "Q4_0",
        Q4_1 => "Q4_1",
        Q5_0 => "Q5_0",
        Q5_1 => "Q5_1",
        Q8_0 => "Q8_0",
        Q4_K => "Q4_K",
        Q5_K => "Q5_K",
        Q6_K => "Q6_K",
        _ => {
            return Err(GpuError::Kernel {
                kernel: Kernel::GgmlMatVec.name(),
                message: format!("no ggml-exact mat-vec for tensor type {ty}"),
            });
        }
    })
}

/// Prepares `y[t][r] = W[r] · q[t]` for this step's tokens (at most
/// `max_tokens`): `q` holds the tokens' activations as `bind_quantize`
/// packs them for `matrix.ty`, and token t's outputs go to `y.offset + t ·
/// y.stride + r`.
pub fn bind_ggml_linear(
    ctx: &GpuContext,
    matrix: &GpuMatrix,
    q: &wgpu::Buffer,
    y: Rows<'_>,
    step: &wgpu::Buffer,
    max_tokens: u32,
) -> Result<KernelPass, GpuError> {
    let flag = flag(matrix.ty)?;
    debug_assert!(is_exact(matrix.ty));
    let act_words = activation_words(matrix.ty, matrix.cols)?;
    if max_tokens == 0 {
        return Err(GpuError::Shape(
            "ggml mat-vec: bound for zero tokens".into(),
        ));
    }
    let token_tiles = max_tokens.div_ceil(TOKENS_PER_WORKGROUP as u32);
    if token_tiles > 65_535 {
        return Err(GpuError::Shape(format!(
            "ggml mat-vec: {max_tokens} tokens exceed one dispatch"
        )));
    }
    let rows32 = to_u32("matrix rows", matrix.rows)?;
    check_words(
        ctx,
        "ggml mat-vec output",
        y.buffer,
        y.end(max_tokens, rows32),
    )?;
    let q_end = u64::from(max_tokens) * act_words as u64;
    check_words(ctx, "ggml mat-vec activations", q, q_end)?;
    if q_end > u64::from(u32::MAX) || y.end(max_tokens, rows32) > u64::from(u32::MAX) {
        return Err(GpuError::Shape("ggml mat-vec: indices overflow u32".into()));
    }
    if step.size() < size_of::<StepUniform>() as u64 {
        return Err(GpuError::Shape(
            "ggml mat-vec: the step buffer is short".into(),
        ));
    }
    let blocks = matrix.cols / matrix.ty.block_size();
    // One token: the decode kernel.
    let (kernel, rows_per_group) = if max_tokens == 1 {
        (Kernel::GgmlMatVecDecode, DECODE_ROWS_PER_WORKGROUP)
    } else {
        (Kernel::GgmlMatVec, ROWS_PER_WORKGROUP)
    };
    let pipeline = ctx.pipeline(kernel, &[flag])?;
    let layout = pipeline.get_bind_group_layout(0);
    let mut prepared = KernelPass::default();
    for chunk in &matrix.chunks {
        let rows = chunk.rows.len();
        let params = Params {
            rows: to_u32("chunk rows", rows)?,
            blocks: to_u32("blocks per row", blocks)?,
            row_bytes: to_u32("row bytes", matrix.row_bytes)?,
            w_offset: u32::try_from(chunk.byte_offset)
                .map_err(|_| GpuError::Shape("ggml mat-vec: weight offset overflows".into()))?,
            // Checked above: every index of y fits a u32.
            y_offset: y.offset + chunk.rows.start as u32,
            y_stride: y.stride,
            act_words: to_u32("activation words", act_words)?,
            matrix_rows: rows32,
            max_tokens,
            _pad: [0; 3],
        };
        let uniform = pass::uniform(ctx, "ggml matvec params", &params);
        let weights_end =
            (chunk.byte_offset + (rows * matrix.row_bytes) as u64).next_multiple_of(4);
        let entry = |binding, resource| wgpu::BindGroupEntry { binding, resource };
        let bind_group = ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("ggml matvec"),
            layout: &layout,
            entries: &[
                entry(
                    0,
                    wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                        buffer: &chunk.buffer,
                        offset: 0,
                        size: wgpu::BufferSize::new(weights_end),
                    }),
                ),
                entry(1, q.as_entire_binding()),
                entry(2, y.buffer.as_entire_binding()),
                entry(3, step.as_entire_binding()),
                entry(4, uniform.as_entire_binding()),
            ],
        });
        let groups = to_u32("row groups", rows.div_ceil(rows_per_group))?;
        let (gx, gz) = workgroup_grid(groups);
        prepared.push_grid(pipeline.clone(), bind_group, [gx, token_tiles, gz]);
    }
    Ok(prepared)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gpu::preprocess;

    #[test]
    fn constants_match_the_kernel() {
        let source = Kernel::GgmlMatVec.source(&["Q4_K"]).unwrap();
        for line in [
            format!("const ROWS: u32 = {ROWS_PER_WORKGROUP}u;"),
            format!("const TILE: u32 = {TOKENS_PER_WORKGROUP}u;"),
        ] {
            assert!(source.contains(&line), "kernel lost `{line}`");
        }
        let decode_source = Kernel::GgmlMatVecDecode.source(&["Q4_0"]).unwrap();
        let line = format!("const ROWS: u32 = {DECODE_ROWS_PER_WORKGROUP}u;");
        assert!(decode_source.contains(&line), "decode kernel lost `{line}`");
        let decode = Kernel::GgmlMatVecDecode.declared_flags();
        let declared = Kernel::GgmlMatVec.declared_flags();
        assert_eq!(decode, declared, "both kernels take the same variants");
        let variants = preprocess::all_variants(&declared);
        assert_eq!(variants.len(), 8);
        for variant in variants {
            let ty = crate::quant::SUPPORTED
                .iter()
                .copied()
                .find(|ty| flag(*ty).ok() == Some(variant[0]))
                .unwrap();
            assert!(is_exact(ty), "{ty}");
        }
        assert!(flag(GgmlType::F16).is_err());
    }
}
