//! One row of activations converted for dot products with quantised
//! weights, as llama.cpp's CPU backend converts them: [`vec_dot_type`] names
//! the format, [`QuantizedRow`] holds the converted values and reuses its
//! buffers from row to row.
//!
//! ggml's `type_traits_cpu[w].vec_dot_type` names the format the f32
//! activations are converted to before they are dotted with weights of type
//! `w`: Q8_0 for Q4_0, Q5_0 and Q8_0; Q8_1 for Q4_1
//! and Q5_1; Q8_K for the K-quants; f16 for f16 and bf16 for bf16; f32 stays
//! f32. The dot product is then an integer sum per block, scaled by the two
//! blocks' scales. The block quantisers are in `activations.rs`.
//!
//! [`dot_quantized_rows`](super::dot_quantized_rows) (`dot.rs`) dots weight
//! rows with a converted row. Its float arithmetic is ggml's, operation for operation (see `legacy.rs`,
//! `k_quants.rs` and `x86.rs`), and was checked against llama.cpp 0.3.36's
//! CPU backend on the three test models: given llama.cpp's own input rows,
//! every Q4_1, Q5_0, Q8_0, Q4_K and Q6_K mat-vec of a single-token decode
//! gives bit-identical outputs (so do the Q4_1/Q5_0/Q8_0 ones of a batch;
//! llama.cpp's batched K-quant kernels accumulate in another order, which
//! [`DotOrder::Gemm`](super::DotOrder::Gemm) follows: see `batched.rs`).

use half::bf16;

use super::activations::{
    ActQ8_0, ActQ8_1, ActQ8K, quantize_q8_0, quantize_q8_1, quantize_q8_k, round_f16,
};
use super::{GgmlType, QuantError};

/// ggml's `vec_dot_type` on the CPU: the format activations are converted
/// to before their dot product with weights of type `weights`. Errors for
/// types Locus cannot dot.
pub fn vec_dot_type(weights: GgmlType) -> Result<GgmlType, QuantError> {
    use GgmlType::*;
    match weights {
        F32 => Ok(F32),
        F16 => Ok(F16),
        BF16 => Ok(BF16),
        Q4_0 | Q5_0 | Q8_0 => Ok(Q8_0),
        Q4_1 | Q5_1 => Ok(Q8_1),
        Q4_K | Q5_K | Q6_K => Ok(Q8_K),
        _ => Err(QuantError::Unsupported(weights)),
    }
}

/// The converted values, by format.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Data {
    /// f32, f16-rounded or bf16-rounded values, widened to f32.
    Float(Vec<f32>),
    Q8_0(Vec<ActQ8_0>),
    Q8_1(Vec<ActQ8_1>),
    Q8K(Vec<ActQ8K>),
}

/// One row of activations converted for dot products with weights of one
/// type, exactly as llama.cpp's CPU backend converts `src1` of a `mul_mat`
/// (its `vec_dot_type`). Convert once per row, then [`dot_quantized`](super::dot_quantized) it
/// with every weight row. The buffers are reused by later conversions.
#[derive(Clone, Debug, PartialEq)]
pub struct QuantizedRow {
    /// The `vec_dot_type` the data is in.
    pub(super) format: GgmlType,
    pub(super) len: usize,
    pub(super) data: Data,
}

impl Default for QuantizedRow {
    fn default() -> Self {
        Self::new()
    }
}

impl QuantizedRow {
    /// An empty f32 row.
    pub fn new() -> QuantizedRow {
        QuantizedRow {
            format: GgmlType::F32,
            len: 0,
            data: Data::Float(Vec::new()),
        }
    }

    /// `x` converted for dot products with `weights`-typed rows.
    pub fn quantize(weights: GgmlType, x: &[f32]) -> Result<QuantizedRow, QuantError> {
        let mut row = QuantizedRow::new();
        row.set(weights, x)?;
        Ok(row)
    }

    /// Replaces the contents with `x` converted for dot products with
    /// `weights`-typed rows. `x.len()` must be a whole number of that
    /// format's blocks.
    pub fn set(&mut self, weights: GgmlType, x: &[f32]) -> Result<(), QuantError> {
        let format = vec_dot_type(weights)?;
        let block = format.block_size();
        if !x.len().is_multiple_of(block) {
            return Err(QuantError::NotBlockMultiple {
                ty: format,
                n: x.len(),
            });
        }
        self.format = format;
        self.len = x.len();
        let old = std::mem::replace(&mut self.data, Data::Float(Vec::new()));
        self.data = match format {
            GgmlType::Q8_0 => Data::Q8_0(refill(old, x, quantize_q8_0, |d| match d {
                Data::Q8_0(v) => v,
                _ => Vec::new(),
            })),
            GgmlType::Q8_1 => Data::Q8_1(refill(old, x, quantize_q8_1, |d| match d {
                Data::Q8_1(v) => v,
                _ => Vec::new(),
            })),
            GgmlType::Q8_K => Data::Q8K(refill(old, x, quantize_q8_k, |d| match d {
                Data::Q8K(v) => v,
                _ => Vec::new(),
            })),
            _ => {
                let mut v = match old {
                    Data::Float(v) => v,
                    _ => Vec::new(),
                };
                v.clear();
                match format {
                    GgmlType::F16 => v.extend(x.iter().map(|&a| round_f16(a))),
                    GgmlType::BF16 => v.extend(x.iter().map(|&a| bf16::from_f32(a).to_f32())),
                    _ => v.extend_from_slice(x),
                }
                Data::Float(v)
            }
        };
        Ok(())
    }

    /// The format the values are in (ggml's `vec_dot_type`).
    pub fn format(&self) -> GgmlType {
        self.format
    }

    /// Number of values.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The values the row stands for (`d * q` per value), for checks.
    pub fn dequantize(&self) -> Vec<f32> {
        match &self.data {
            Data::Float(v) => v.clone(),
            Data::Q8_0(b) => b
                .iter()
                .flat_map(|b| b.qs.map(|q| b.d * f32::from(q)))
                .collect(),
            Data::Q8_1(b) => b
                .iter()
                .flat_map(|b| b.qs.map(|q| b.d * f32::from(q)))
                .collect(),
            Data::Q8K(b) => b
                .iter()
                .flat_map(|b| b.qs.map(|q| b.d * f32::from(q)))
                .collect(),
        }
    }

    /// The converted blocks, for packers outside `quant` (the GPU's).
    pub(crate) fn data(&self) -> &Data {
        &self.data
    }

    #[cfg(test)]
    pub(crate) fn q8_1_blocks(&self) -> &[ActQ8_1] {
        match &self.data {
            Data::Q8_1(v) => v,
            _ => &[],
        }
    }
}

/// Quantises `x` block by block into the buffer `take` finds in `old` (or
/// a new one).
fn refill<A, const N: usize>(
    old: Data,
    x: &[f32],
    quantize: fn(&[f32; N]) -> A,
    take: fn(Data) -> Vec<A>,
) -> Vec<A> {
    let mut v = take(old);
    v.clear();
    v.extend(
        x.chunks_exact(N)
            .filter_map(|c| <&[f32; N]>::try_from(c).ok())
            .map(quantize),
    );
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vec_dot_types_match_ggml() {
        use GgmlType::*;
        for (w, a) in [
            (F32, F32),
            (F16, F16),
            (BF16, BF16),
            (Q4_0, Q8_0),
            (Q4_1, Q8_1),
            (Q5_0, Q8_0),
            (Q5_1, Q8_1),
            (Q8_0, Q8_0),
            (Q4_K, Q8_K),
            (Q5_K, Q8_K),
            (Q6_K, Q8_K),
        ] {
            assert_eq!(vec_dot_type(w), Ok(a));
        }
        assert_eq!(vec_dot_type(Q2_K), Err(QuantError::Unsupported(Q2_K)));
    }

    #[test]
    fn rows_convert_and_reuse_buffers() {
        let x: Vec<f32> = (0..512).map(|i| (i as f32 * 0.37).sin()).collect();
        let mut row = QuantizedRow::new();
        for ty in [
            GgmlType::Q4_1,
            GgmlType::Q6_K,
            GgmlType::Q8_0,
            GgmlType::F16,
            GgmlType::F32,
        ] {
            row.set(ty, &x).unwrap();
            assert_eq!(row, QuantizedRow::quantize(ty, &x).unwrap());
            assert_eq!(row.len(), 512);
            assert_eq!(row.format(), vec_dot_type(ty).unwrap());
            let back = row.dequantize();
            let tolerance = match row.format() {
                GgmlType::F32 => 0.0,
                GgmlType::F16 => 1e-3,
                // Half a step (amax / 254) plus the f16 rounding of d.
                _ => 0.006,
            };
            for (a, b) in back.iter().zip(&x) {
                assert!((a - b).abs() <= tolerance, "{ty}: {a} vs {b}");
            }
        }
        assert_eq!(
            row.set(GgmlType::Q4_K, &x[..100]),
            Err(QuantError::NotBlockMultiple {
                ty: GgmlType::Q8_K,
                n: 100
            })
        );
        assert_eq!(
            QuantizedRow::quantize(GgmlType::F16, &[1.0 / 3.0])
                .unwrap()
                .dequantize(),
            [0.333_251_95]
        );
    }
}
