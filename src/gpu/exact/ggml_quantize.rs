//! Activations quantised on the GPU exactly as llama.cpp's CPU backend
//! quantises them (`kernels/exact/ggml_quantize.wgsl`; the spec is
//! `quant::QuantizedRow`), packed for the ggml-exact mat-vec
//! (`gpu::exact::ggml_matvec`).
//!
//! Packed layout, per token row, block after block, in u32 words:
//!
//! - Q8_0 (for Q4_0, Q5_0, Q8_0 weights): 9 words per 32 values: `d` (the
//!   f32 bits of the f16 scale's value), then 8 words of i8 codes.
//! - Q8_1 (Q4_1, Q5_1): 10 words: `d`, `s` (both f16 values as f32 bits),
//!   then the codes.
//! - Q8_K (Q4_K, Q5_K, Q6_K): 73 words per 256 values: `d` (f32), 64 words
//!   of codes, 8 words of `bsums` (i16 pairs: `bsums[2w]` in the low half of
//!   word `w`, `bsums[2w + 1]` in the high half).
//!
//! Codes are four to a word, lowest value in the lowest byte. Token `t`'s row
//! starts at word `t * activation_words(ty, cols)`.

use crate::gpu::pass::{self, KernelPass, Rows, check_words, to_u32};
use crate::gpu::{GpuContext, GpuError, Kernel};
use crate::quant::{ActivationData, GgmlType, QuantizedRow, vec_dot_type};

/// Values each workgroup quantises (`256u` in the WGSL).
const VALUES_PER_WORKGROUP: usize = 256;

/// The kernel's uniform block; layout matches `Params` in the WGSL.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    cols: u32,
    x_offset: u32,
    x_stride: u32,
    words: u32,
    max_tokens: u32,
    _pad: [u32; 3],
}

/// Whether the ggml-exact kernels handle weights of type `ty`.
///
/// Q5_K is included: the GPU matches the CPU's Q5_K bit for bit, though
/// the CPU's Q5_K order itself is unverified against llama.cpp.
pub fn is_exact(ty: GgmlType) -> bool {
    use GgmlType::*;
    matches!(ty, Q4_0 | Q4_1 | Q5_0 | Q5_1 | Q8_0 | Q4_K | Q5_K | Q6_K)
}

/// The activation format for `ty`: its kernel variant, values per block and
/// packed words per block.
fn format(ty: GgmlType) -> Result<(&'static str, usize, usize), GpuError> {
    let unsupported = || GpuError::Kernel {
        kernel: Kernel::GgmlQuantize.name(),
        message: format!("no ggml-exact kernels for tensor type {ty}"),
    };
    if !is_exact(ty) {
        return Err(unsupported());
    }
    match vec_dot_type(ty).map_err(|_| unsupported())? {
        GgmlType::Q8_0 => Ok(("Q8_0", 32, 9)),
        GgmlType::Q8_1 => Ok(("Q8_1", 32, 10)),
        GgmlType::Q8_K => Ok(("Q8_K", 256, 73)),
        _ => Err(unsupported()),
    }
}

/// u32 words per token row of packed activations for weights of type `ty`
/// and `cols` values.
pub fn activation_words(ty: GgmlType, cols: usize) -> Result<usize, GpuError> {
    let (_, block, words) = format(ty)?;
    if cols == 0 || !cols.is_multiple_of(block) {
        return Err(GpuError::Shape(format!(
            "ggml quantize: {cols} values are not whole blocks of {block} ({ty} weights)"
        )));
    }
    Ok(cols / block * words)
}

/// Prepares the quantisation of this step's tokens (at most `max_tokens`)
/// of `x`, `cols` values each, into `q` for dot products with `ty` weights.
pub fn bind_quantize(
    ctx: &GpuContext,
    ty: GgmlType,
    x: Rows<'_>,
    q: &wgpu::Buffer,
    cols: usize,
    step: &wgpu::Buffer,
    max_tokens: u32,
) -> Result<KernelPass, GpuError> {
    let (flag, _, _) = format(ty)?;
    let words = activation_words(ty, cols)?;
    if max_tokens == 0 || max_tokens > 65_535 {
        return Err(GpuError::Shape(format!(
            "ggml quantize: bound for {max_tokens} tokens (1 to 65535)"
        )));
    }
    let cols32 = to_u32("activation width", cols)?;
    check_words(
        ctx,
        "ggml quantize input",
        x.buffer,
        x.end(max_tokens, cols32),
    )?;
    let q_end = u64::from(max_tokens) * words as u64;
    check_words(ctx, "ggml quantize output", q, q_end)?;
    if q_end > u64::from(u32::MAX) {
        return Err(GpuError::Shape(
            "ggml quantize: output indices overflow u32".into(),
        ));
    }
    let params = Params {
        cols: cols32,
        x_offset: x.offset,
        x_stride: x.stride,
        words: to_u32("activation words", words)?,
        max_tokens,
        _pad: [0; 3],
    };
    let uniform = pass::uniform(ctx, "ggml quantize params", &params);
    let pipeline = ctx.pipeline(Kernel::GgmlQuantize, &[flag])?;
    let bind_group = pass::bind_group(
        ctx,
        &pipeline,
        "ggml quantize",
        &[(0, x.buffer), (1, q), (2, step), (3, &uniform)],
    );
    let groups = to_u32(
        "ggml quantize workgroups",
        cols.div_ceil(VALUES_PER_WORKGROUP),
    )?;
    if groups > 65_535 {
        return Err(GpuError::Shape(format!(
            "ggml quantize: {cols} values exceed one dispatch"
        )));
    }
    let mut prepared = KernelPass::default();
    prepared.push_grid(pipeline, bind_group, [groups, max_tokens, 1]);
    Ok(prepared)
}

/// `row` in the packed GPU layout: what [`bind_quantize`] writes for the
/// same values. For checks (the CPU quantiser is the spec).
pub fn pack_quantized_row(row: &QuantizedRow) -> Result<Vec<u32>, GpuError> {
    let codes = |qs: &[i8]| -> Vec<u32> {
        qs.chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0] as u8, c[1] as u8, c[2] as u8, c[3] as u8]))
            .collect()
    };
    let mut out = Vec::new();
    match row.data() {
        ActivationData::Q8_0(blocks) => {
            for b in blocks {
                out.push(b.d.to_bits());
                out.extend(codes(&b.qs));
            }
        }
        ActivationData::Q8_1(blocks) => {
            for b in blocks {
                out.extend([b.d.to_bits(), b.s.to_bits()]);
                out.extend(codes(&b.qs));
            }
        }
        ActivationData::Q8K(blocks) => {
            for b in blocks {
                out.push(b.d.to_bits());
                out.extend(codes(&b.qs));
                out.extend(
                    b.bsums
                        .chunks_exact(2)
                        .map(|p| u32::from(p[0] as u16) | (u32::from(p[1] as u16) << 16)),
                );
            }
        }
        ActivationData::Float(_) => {
            return Err(GpuError::Shape(format!(
                "ggml quantize: {} activations have no packed form",
                row.format()
            )));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gpu::preprocess;

    #[test]
    fn words_per_row_follow_the_layout() {
        assert_eq!(activation_words(GgmlType::Q4_0, 96).unwrap(), 27);
        assert_eq!(activation_words(GgmlType::Q5_1, 64).unwrap(), 20);
        assert_eq!(activation_words(GgmlType::Q6_K, 512).unwrap(), 146);
        assert!(activation_words(GgmlType::Q4_K, 96).is_err());
        assert!(activation_words(GgmlType::F16, 96).is_err());
        assert!(!is_exact(GgmlType::Q2_K) && is_exact(GgmlType::Q8_0));
        let declared = Kernel::GgmlQuantize.declared_flags();
        assert_eq!(preprocess::all_variants(&declared).len(), 3);
    }

    #[test]
    fn packing_matches_the_documented_layout() {
        let x: Vec<f32> = (0..256).map(|i| (i as f32 * 0.37).sin() * 3.0).collect();
        let row = QuantizedRow::quantize(GgmlType::Q6_K, &x).unwrap();
        let ActivationData::Q8K(blocks) = row.data() else {
            panic!("not Q8_K");
        };
        let words = pack_quantized_row(&row).unwrap();
        assert_eq!(words.len(), 73);
        assert_eq!(f32::from_bits(words[0]), blocks[0].d);
        assert_eq!(words[1] & 0xff, blocks[0].qs[0] as u8 as u32);
        assert_eq!((words[65] >> 16) as u16 as i16, blocks[0].bsums[1]);
    }
}
