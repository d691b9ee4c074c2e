//! The `fast` prefill mat-mul in packed 8-bit dot products
//! (`kernels/fast/matmul_q8.wgsl`), the way llama.cpp's MMQ/DP4A paths
//! work: `X` is quantised once per linear input and batch to Q8 blocks of
//! 32 (`kernels/fast/quantize_q8.wgsl`: int8 codes, `d = amax / 127`,
//! `s = d·Σq`), each weight block is unpacked to int8 codes, and every
//! block's dot product is an exact integer sum (`dot4I8Packed`, four
//! products an instruction) scaled once in f32.
//!
//! Why: adapters without cooperative matrices (browsers) multiply f32 or
//! f16 tiles four values an instruction at best; packed int8 products do
//! four per lane with a quarter of the workgroup-memory traffic, and the
//! quantised weights need no dequantisation to floats. The price is
//! rounding `X` to 8 bits (an NMSE of about 1.5e-5 on uniform
//! activations, llama.cpp's own trade on CPUs and in MMQ).
//!
//! It is [`TilePrecision::Int8`] of the fast mat-mul: the autotune times it
//! beside the float tiles where the adapter reports WGSL's
//! `packed_4x8_integer_dot_product` ([`Capabilities::packed_int8_dot`]), and
//! nothing picks it untimed. Float weights (F32, F16, BF16) have no int8
//! codes and stay on the float tiles ([`int8_weights`]).
//!
//! [`TilePrecision::Int8`]: super::matmul::TilePrecision::Int8
//! [`Capabilities::packed_int8_dot`]: crate::gpu::Capabilities

use super::matmul::{Bias, ChunkBuffers, TileRows, chunk_bind_group, dispatch_grid};
use crate::gpu::matvec::GpuMatrix;
use crate::gpu::pass::{self, KernelPass, Rows, check_words, to_u32};
use crate::gpu::step::StepUniform;
use crate::gpu::{GpuContext, GpuError, Kernel, workgroup_grid};
use crate::quant::GgmlType;

/// Values per Q8 block of the quantised activations.
pub const Q8_BLOCK: usize = 32;
/// Bytes per Q8 block: 32 int8 codes, then `d` and `s` (f32) and 8 bytes
/// of padding (three `vec4<u32>`s, see kernels/fast/quantize_q8.wgsl).
pub const Q8_BLOCK_BYTES: usize = 48;
/// Threads per workgroup of the quantise pass (`WG` in its WGSL).
const QUANTIZE_WG: u32 = 64;

/// The int8 kernel's `choose` name for weights of type `ty`: the quantised
/// types whose blocks (or K-quant sub-blocks) are 32 values.
fn int8_choice(ty: GgmlType) -> Option<&'static str> {
    use GgmlType::*;
    Some(match ty {
        Q4_0 => "Q4_0",
        Q4_1 => "Q4_1",
        Q5_0 => "Q5_0",
        Q5_1 => "Q5_1",
        Q8_0 => "Q8_0",
        Q4_K => "Q4_K",
        Q5_K => "Q5_K",
        Q6_K => "Q6_K",
        _ => return None,
    })
}

/// Whether the int8 tiles take weights of type `ty`.
pub fn int8_weights(ty: GgmlType) -> bool {
    int8_choice(ty).is_some()
}

/// Bytes of Q8 activations for `tokens` tokens of `cols` values.
pub fn q8_bytes(cols: usize, tokens: u32) -> u64 {
    (cols / Q8_BLOCK * Q8_BLOCK_BYTES) as u64 * u64::from(tokens.max(1))
}

fn shape_error(why: String) -> GpuError {
    GpuError::Shape(format!("int8 mat-mul: {why}"))
}

fn check_device(ctx: &GpuContext) -> Result<(), GpuError> {
    if ctx.capabilities.packed_int8_dot {
        Ok(())
    } else {
        Err(GpuError::Kernel {
            kernel: Kernel::FastMatMulQ8.name(),
            message: "int8 tiles need WGSL's packed_4x8_integer_dot_product".into(),
        })
    }
}

/// The quantise pass's uniform block; layout matches `Params` in the WGSL.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct QuantizeParams {
    blocks: u32,
    x_offset: u32,
    x_stride: u32,
    max_tokens: u32,
}

/// Prepares the quantisation of `x` (`cols` values per token, `cols` a
/// multiple of 32, offset and stride multiples of 4) into `q8`, densely
/// from its start ([`q8_bytes`]), for the tokens `step` says (at most
/// `max_tokens`).
pub fn bind_quantize_q8(
    ctx: &GpuContext,
    x: Rows<'_>,
    cols: usize,
    q8: &wgpu::Buffer,
    max_tokens: u32,
    step: &wgpu::Buffer,
) -> Result<KernelPass, GpuError> {
    check_device(ctx)?;
    if max_tokens == 0 {
        return Err(shape_error("bound for zero tokens".into()));
    }
    if !cols.is_multiple_of(Q8_BLOCK) || !x.offset.is_multiple_of(4) || !x.stride.is_multiple_of(4)
    {
        return Err(shape_error(format!(
            "X in blocks of 32 read as vec4: cols {cols} must be a multiple of 32, \
             offset {} and stride {} of 4",
            x.offset, x.stride
        )));
    }
    let width = to_u32("int8 mat-mul cols", cols)?;
    check_words(ctx, "int8 mat-mul X", x.buffer, x.end(max_tokens, width))?;
    let q8_size = q8_bytes(cols, max_tokens);
    if q8.size() < q8_size {
        return Err(shape_error(format!(
            "Q8 activations need {q8_size} bytes, the buffer has {}",
            q8.size()
        )));
    }
    ctx.check_binding("int8 mat-mul Q8 activations", q8.size())?;
    if step.size() < size_of::<StepUniform>() as u64 {
        return Err(shape_error("the step buffer is short".into()));
    }
    let blocks = width / Q8_BLOCK as u32;
    let params = QuantizeParams {
        blocks,
        x_offset: x.offset / 4,
        x_stride: x.stride / 4,
        max_tokens,
    };
    let uniform = pass::uniform(ctx, "quantize q8 params", &params);
    let pipeline = ctx.pipeline(Kernel::FastQuantizeQ8, &[])?;
    let bind_group = pass::bind_group(
        ctx,
        &pipeline,
        "quantize q8",
        &[(0, x.buffer), (1, q8), (2, &uniform), (3, step)],
    );
    let threads = u64::from(blocks) * u64::from(max_tokens);
    let groups = u32::try_from(threads.div_ceil(u64::from(QUANTIZE_WG)))
        .map_err(|_| shape_error(format!("{threads} blocks overflow one dispatch")))?;
    if workgroup_grid(groups).1 > 65_535 {
        return Err(shape_error(format!("{threads} blocks exceed one dispatch")));
    }
    let mut prepared = KernelPass::default();
    prepared.push(pipeline, bind_group, groups);
    Ok(prepared)
}

/// Where an int8 mat-mul reads its quantised `X` and writes `Y`, and how.
#[derive(Debug, Clone, Copy)]
pub struct Q8MatMulIo<'a> {
    /// `X` as [`bind_quantize_q8`] wrote it, for the matrix's `cols`.
    pub q8: &'a wgpu::Buffer,
    /// The matrix's `rows` values per token.
    pub y: Rows<'a>,
    pub bias: Option<Bias<'a>>,
    /// `Y += X·Wᵀ` (a residual) instead of `Y = X·Wᵀ`.
    pub accumulate: bool,
    pub max_tokens: u32,
    /// A step uniform; its `n_tokens` (capped at `max_tokens`) is the
    /// number of tokens each dispatch multiplies.
    pub step: &'a wgpu::Buffer,
}

/// The int8 kernel's variant: the weight type's choice, then the flags.
pub fn q8_matmul_flags(
    ty: GgmlType,
    tiles: TileRows,
    bias: bool,
    accumulate: bool,
) -> Result<Vec<&'static str>, GpuError> {
    let mut flags = vec![int8_choice(ty).ok_or_else(|| GpuError::Kernel {
        kernel: Kernel::FastMatMulQ8.name(),
        message: format!("no int8 mat-mul for {ty} weights"),
    })?];
    if tiles == TileRows::Narrow {
        flags.push("NARROW");
    }
    if accumulate {
        flags.push("ACCUMULATE");
    }
    if bias {
        flags.push("BIAS");
    }
    Ok(flags)
}

/// The mat-mul's uniform block; layout matches `Params` in the WGSL.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    rows: u32,
    blocks: u32,
    row_bytes: u32,
    w_offset: u32,
    y_offset: u32,
    y_stride: u32,
    max_tokens: u32,
    bias_offset: u32,
}

/// Prepares `Y (+)= X·Wᵀ (+ bias)` from Q8 activations for up to
/// `io.max_tokens` tokens with `tiles`-row workgroup tiles. `Y` must not
/// share a buffer with the activations or the bias.
pub fn bind_q8_matmul(
    ctx: &GpuContext,
    matrix: &GpuMatrix,
    tiles: TileRows,
    io: Q8MatMulIo<'_>,
) -> Result<KernelPass, GpuError> {
    check_device(ctx)?;
    let flags = q8_matmul_flags(matrix.ty, tiles, io.bias.is_some(), io.accumulate)?;
    if io.max_tokens == 0 {
        return Err(shape_error("bound for zero tokens".into()));
    }
    let rows = to_u32("int8 mat-mul rows", matrix.rows)?;
    let q8_size = q8_bytes(matrix.cols, io.max_tokens);
    if io.q8.size() < q8_size {
        return Err(shape_error(format!(
            "Q8 activations need {q8_size} bytes, the buffer has {}",
            io.q8.size()
        )));
    }
    ctx.check_binding("int8 mat-mul Q8 activations", io.q8.size())?;
    check_words(
        ctx,
        "int8 mat-mul Y",
        io.y.buffer,
        io.y.end(io.max_tokens, rows),
    )?;
    if io.y.end(io.max_tokens, rows) > u64::from(u32::MAX) {
        return Err(shape_error("Y indices overflow u32".into()));
    }
    if let Some(bias) = io.bias {
        check_words(
            ctx,
            "int8 mat-mul bias",
            bias.buffer,
            u64::from(bias.offset) + u64::from(rows),
        )?;
    }
    if io.step.size() < size_of::<StepUniform>() as u64 {
        return Err(shape_error("the step buffer is short".into()));
    }

    let pipeline = ctx.pipeline(Kernel::FastMatMulQ8, &flags)?;
    let layout = pipeline.get_bind_group_layout(0);
    let mut prepared = KernelPass::default();
    for chunk in &matrix.chunks {
        let chunk_rows = chunk.rows.len();
        let start = to_u32("chunk start", chunk.rows.start)?;
        let params = Params {
            rows: to_u32("chunk rows", chunk_rows)?,
            blocks: to_u32("int8 mat-mul blocks", matrix.cols / Q8_BLOCK)?,
            row_bytes: to_u32("row bytes", matrix.row_bytes)?,
            w_offset: u32::try_from(chunk.byte_offset)
                .map_err(|_| shape_error("weights offset overflows u32".into()))?,
            // Checked above: every index of Y fits a u32.
            y_offset: io.y.offset + start,
            y_stride: io.y.stride,
            max_tokens: io.max_tokens,
            bias_offset: io.bias.map_or(0, |b| b.offset + start),
        };
        let uniform = pass::uniform(ctx, "int8 matmul params", &params);
        let weights_end =
            (chunk.byte_offset + (chunk_rows * matrix.row_bytes) as u64).next_multiple_of(4);
        let bind_group = chunk_bind_group(
            ctx,
            &layout,
            "int8 matmul",
            ChunkBuffers {
                weights: &chunk.buffer,
                weights_end,
                input: io.q8,
                y: io.y.buffer,
                params: &uniform,
                step: io.step,
                bias: io.bias.map(|b| b.buffer),
            },
        );
        prepared.push_grid(
            pipeline.clone(),
            bind_group,
            dispatch_grid(chunk_rows, tiles, io.max_tokens)?,
        );
    }
    Ok(prepared)
}

/// A buffer for [`q8_bytes`]`(cols, max_tokens)` of Q8 activations.
pub fn q8_buffer(ctx: &GpuContext, cols: usize, max_tokens: u32) -> wgpu::Buffer {
    pass::storage_zeroed(ctx, "q8 activations", q8_bytes(cols, max_tokens))
}

/// `x` (`x.len() / cols` tokens of `cols` values) quantised to Q8 blocks,
/// one shot: the bytes the quantise pass writes ([`Q8_BLOCK_BYTES`] a
/// block, token-major). For tests and checks, not the prefill loop.
pub async fn quantize_q8(ctx: &GpuContext, x: &[f32], cols: usize) -> Result<Vec<u8>, GpuError> {
    if x.is_empty() || cols == 0 || !x.len().is_multiple_of(cols) {
        return Err(shape_error(format!(
            "{} values are not whole tokens of {cols} columns",
            x.len()
        )));
    }
    let n = to_u32("tokens", x.len() / cols)?;
    let x_buffer = pass::storage_init(ctx, "quantize q8 x", bytemuck::cast_slice(x));
    let q8 = q8_buffer(ctx, cols, n);
    let step = StepUniform::new(0, n).to_buffer(ctx);
    let x_rows = Rows::from_start(&x_buffer, to_u32("cols", cols)?);
    let prepared = bind_quantize_q8(ctx, x_rows, cols, &q8, n, &step)?;
    pass::run_and_read(ctx, &[&prepared], &q8, q8_bytes(cols, n)).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gpu::preprocess;

    #[test]
    fn variants_cover_the_quantised_types_and_epilogues() {
        let declared = Kernel::FastMatMulQ8.declared_flags();
        assert_eq!(declared.flags, ["NARROW", "ACCUMULATE", "BIAS"]);
        assert_eq!(preprocess::all_variants(&declared).len(), 8 * 8);
        let takes: Vec<&str> = GgmlType::ALL.into_iter().filter_map(int8_choice).collect();
        assert_eq!(declared.choices[0], takes);
        for ty in [GgmlType::F32, GgmlType::F16, GgmlType::BF16, GgmlType::Q2_K] {
            assert!(!int8_weights(ty), "{ty}");
        }
        let flags = q8_matmul_flags(GgmlType::Q6_K, TileRows::Narrow, true, true).unwrap();
        assert_eq!(flags, ["Q6_K", "NARROW", "ACCUMULATE", "BIAS"]);
        Kernel::FastMatMulQ8.source(&flags).unwrap();
        assert!(q8_matmul_flags(GgmlType::F16, TileRows::Wide, false, false).is_err());
        Kernel::FastQuantizeQ8.source(&[]).unwrap();
    }

    #[test]
    fn tile_sizes_match_the_float_kernel() {
        use super::super::matmul::{NARROW_ROWS, TILE_TOKENS, WIDE_ROWS};
        for (flags, rows) in [
            (vec!["Q8_0"], WIDE_ROWS),
            (vec!["Q8_0", "NARROW"], NARROW_ROWS),
        ] {
            let source = Kernel::FastMatMulQ8.source(&flags).unwrap();
            for line in [
                format!("const TILE_ROWS: u32 = {rows}u;"),
                format!("const TILE_TOKENS: u32 = {TILE_TOKENS}u;"),
            ] {
                assert_eq!(source.matches(&line).count(), 1, "{flags:?}: `{line}`");
            }
        }
    }

    #[test]
    fn q8_activations_take_48_bytes_a_block() {
        assert_eq!(q8_bytes(576, 512), 576 / 32 * 48 * 512);
        assert_eq!(q8_bytes(64, 0), 96);
    }
}
