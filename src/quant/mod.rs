//! GGML/GGUF tensor element types: the full type table, and CPU
//! dequantisation and dot products for the formats Locus supports.
//!
//! This is the reference the GPU kernels are checked against, so every
//! supported format dequantises exactly as ggml's `dequantize_row_*` does:
//! same bit layout, same f32 operations in the same order.
//!
//! Two dot products are offered:
//!
//! - [`dot`] keeps the activations in f32: each block's values are
//!   dequantised into a reused stack buffer and the products accumulated in
//!   f32 (like ggml, never f64), spread over 32 interleaved partial sums so
//!   the loop vectorises. The result is within f32 rounding of
//!   `sum(dequantize(w) * x)`.
//! - [`dot_quantized`] / [`dot_quantized_rows`] are what llama.cpp's CPU
//!   backend computes, and what the CPU decoder uses: the activations are
//!   first converted once per row to the weight type's `vec_dot_type`
//!   ([`QuantizedRow`]: Q8_0, Q8_1 or Q8_K blocks, or f16/bf16-rounded
//!   values), then each weight block is dotted with integer arithmetic and
//!   scaled, as `ggml_vec_dot_*` does, with the same float operations in the
//!   same order, so the results are llama.cpp's bit for bit. The activation
//!   rounding is part of llama.cpp's logits; it also makes them sensitive to
//!   the last bit of every activation (a value on the edge of a rounding step
//!   moves a whole step), which is why the float order matters here.
//!
//! Files: `block.rs` (block trait and row drivers), `float.rs` (F32, F16,
//! BF16), `legacy.rs` (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0), `k_quants.rs` (Q4_K,
//! Q5_K, Q6_K), `activations.rs` (Q8_0/Q8_1/Q8_K activation blocks and
//! their quantisers), `quantized_row.rs` ([`vec_dot_type`] and
//! [`QuantizedRow`]), `dot.rs` (the quantised dot product's dispatch),
//! `batched.rs` (llama.cpp's batched K-quant orders), `x86.rs` (the same dot
//! products with AVX2/FMA/F16C intrinsics, chosen at run time),
//! `wasm_simd.rs` (the same with SIMD128, in wasm32 builds with `+simd128`),
//! `f16_bits.rs` (half → f32 without branches, for wasm32).

mod activations;
mod batched;
mod block;
mod dot;
mod f16_bits;
mod float;
mod k_quants;
mod legacy;
mod quantized_row;
#[cfg(test)]
mod tests;
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod wasm_simd;
#[cfg(target_arch = "x86_64")]
mod x86;

use std::fmt;

use k_quants::{BlockQ4K, BlockQ5K, BlockQ6K, QK_K};
use legacy::{BlockQ4_0, BlockQ4_1, BlockQ5_0, BlockQ5_1, BlockQ8_0, QK};

pub(crate) use activations::round_f16;
pub(crate) use dot::fma;
// For the wasm32 tests (`tests/cpu_simd.rs`) and the CPU attention.
pub use dot::{
    DotOrder, dot_quantized, dot_quantized_rows, dot_quantized_rows_ordered,
    dot_quantized_rows_portable,
};
#[doc(hidden)]
pub use f16_bits::{f16_to_f32, lookup as f16_lookup, round_to_f16, widen as widen_f16};
pub(crate) use quantized_row::Data as ActivationData;
pub use quantized_row::{QuantizedRow, vec_dot_type};

/// Every tensor type in ggml's `enum ggml_type`, with ggml's ids. Ids 4, 5,
/// 31..=33 and 36..=38 were removed from ggml and are unknown here too.
#[allow(non_camel_case_types)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum GgmlType {
    F32 = 0,
    F16 = 1,
    Q4_0 = 2,
    Q4_1 = 3,
    Q5_0 = 6,
    Q5_1 = 7,
    Q8_0 = 8,
    Q8_1 = 9,
    Q2_K = 10,
    Q3_K = 11,
    Q4_K = 12,
    Q5_K = 13,
    Q6_K = 14,
    Q8_K = 15,
    IQ2_XXS = 16,
    IQ2_XS = 17,
    IQ3_XXS = 18,
    IQ1_S = 19,
    IQ4_NL = 20,
    IQ3_S = 21,
    IQ2_S = 22,
    IQ4_XS = 23,
    I8 = 24,
    I16 = 25,
    I32 = 26,
    I64 = 27,
    F64 = 28,
    IQ1_M = 29,
    BF16 = 30,
    TQ1_0 = 34,
    TQ2_0 = 35,
    MXFP4 = 39,
    NVFP4 = 40,
    Q1_0 = 41,
}

/// The types [`dequantize`] and [`dot`] accept, in the order errors list them.
pub const SUPPORTED: [GgmlType; 11] = [
    GgmlType::F32,
    GgmlType::F16,
    GgmlType::BF16,
    GgmlType::Q4_0,
    GgmlType::Q4_1,
    GgmlType::Q5_0,
    GgmlType::Q5_1,
    GgmlType::Q8_0,
    GgmlType::Q4_K,
    GgmlType::Q5_K,
    GgmlType::Q6_K,
];

/// The names of [`SUPPORTED`], for error messages (checked by a test).
const SUPPORTED_NAMES: &str = "f32, f16, bf16, q4_0, q4_1, q5_0, q5_1, q8_0, q4_K, q5_K, q6_K";

impl GgmlType {
    /// Every type, in id order.
    pub const ALL: [GgmlType; 34] = {
        use GgmlType::*;
        [
            F32, F16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, Q8_K,
            IQ2_XXS, IQ2_XS, IQ3_XXS, IQ1_S, IQ4_NL, IQ3_S, IQ2_S, IQ4_XS, I8, I16, I32, I64, F64,
            IQ1_M, BF16, TQ1_0, TQ2_0, MXFP4, NVFP4, Q1_0,
        ]
    };

    /// The type with ggml id `id`, or [`QuantError::UnknownType`].
    pub fn from_id(id: u32) -> Result<GgmlType, QuantError> {
        Self::ALL
            .into_iter()
            .find(|ty| ty.id() == id)
            .ok_or(QuantError::UnknownType(id))
    }

    /// ggml's id, as stored in GGUF tensor infos.
    pub fn id(self) -> u32 {
        self as u32
    }

    /// ggml's name (`type_traits[].type_name`): "f32", "q4_0", "q4_K", ...
    pub fn name(self) -> &'static str {
        self.traits().0
    }

    /// Values per block: 1 for plain element types, 32 or 256 for most
    /// quantised ones.
    pub fn block_size(self) -> usize {
        self.traits().1
    }

    /// Bytes per block.
    pub fn type_size(self) -> usize {
        self.traits().2
    }

    /// Whether [`dequantize`] and [`dot`] handle this type.
    pub fn is_supported(self) -> bool {
        SUPPORTED.contains(&self)
    }

    /// Bytes in a row of `n` values. `n` must be a whole number of blocks.
    pub fn row_bytes(self, n: usize) -> Result<usize, QuantError> {
        let block = self.block_size();
        if !n.is_multiple_of(block) {
            return Err(QuantError::NotBlockMultiple { ty: self, n });
        }
        (n / block)
            .checked_mul(self.type_size())
            .ok_or(QuantError::Overflow)
    }

    /// (name, block size, type size), as in ggml's `type_traits` table. Sizes
    /// of supported formats come from their block structs.
    fn traits(self) -> (&'static str, usize, usize) {
        use GgmlType::*;
        match self {
            F32 => ("f32", 1, 4),
            F16 => ("f16", 1, 2),
            Q4_0 => ("q4_0", QK, size_of::<BlockQ4_0>()),
            Q4_1 => ("q4_1", QK, size_of::<BlockQ4_1>()),
            Q5_0 => ("q5_0", QK, size_of::<BlockQ5_0>()),
            Q5_1 => ("q5_1", QK, size_of::<BlockQ5_1>()),
            Q8_0 => ("q8_0", QK, size_of::<BlockQ8_0>()),
            // Two f16 (d, s) and 32 i8. gguf-py's table still says 40 (from
            // when d and s were f32); ggml's block_q8_1 is 36.
            Q8_1 => ("q8_1", 32, 36),
            Q2_K => ("q2_K", QK_K, 84),
            Q3_K => ("q3_K", QK_K, 110),
            Q4_K => ("q4_K", QK_K, size_of::<BlockQ4K>()),
            Q5_K => ("q5_K", QK_K, size_of::<BlockQ5K>()),
            Q6_K => ("q6_K", QK_K, size_of::<BlockQ6K>()),
            Q8_K => ("q8_K", QK_K, 292),
            IQ2_XXS => ("iq2_xxs", QK_K, 66),
            IQ2_XS => ("iq2_xs", QK_K, 74),
            IQ3_XXS => ("iq3_xxs", QK_K, 98),
            IQ1_S => ("iq1_s", QK_K, 50),
            IQ4_NL => ("iq4_nl", 32, 18),
            IQ3_S => ("iq3_s", QK_K, 110),
            IQ2_S => ("iq2_s", QK_K, 82),
            IQ4_XS => ("iq4_xs", QK_K, 136),
            I8 => ("i8", 1, 1),
            I16 => ("i16", 1, 2),
            I32 => ("i32", 1, 4),
            I64 => ("i64", 1, 8),
            F64 => ("f64", 1, 8),
            IQ1_M => ("iq1_m", QK_K, 56),
            BF16 => ("bf16", 1, 2),
            TQ1_0 => ("tq1_0", QK_K, 54),
            TQ2_0 => ("tq2_0", QK_K, 66),
            MXFP4 => ("mxfp4", 32, 17),
            NVFP4 => ("nvfp4", 64, 36),
            Q1_0 => ("q1_0", 128, 18),
        }
    }
}

impl fmt::Display for GgmlType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a tensor row could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuantError {
    #[error("unknown ggml tensor type id {0}")]
    UnknownType(u32),
    #[error("tensor type {0} is not supported yet (supported: {SUPPORTED_NAMES})")]
    Unsupported(GgmlType),
    #[error("{n} values is not a whole number of {ty} blocks of {block}", block = .ty.block_size())]
    NotBlockMultiple { ty: GgmlType, n: usize },
    #[error("quantised data is {actual} bytes long, expected {expected}")]
    LengthMismatch { expected: usize, actual: usize },
    #[error("tensor size overflows the address space")]
    Overflow,
    #[error("{weights} weights need activations converted to {expected}, got {actual}")]
    ActivationFormat {
        weights: GgmlType,
        expected: GgmlType,
        actual: GgmlType,
    },
}

/// Checks that `ty` is supported and `bytes` holds exactly `n` values of it.
fn check_row(ty: GgmlType, bytes: &[u8], n: usize) -> Result<(), QuantError> {
    if !ty.is_supported() {
        return Err(QuantError::Unsupported(ty));
    }
    let expected = ty.row_bytes(n)?;
    if bytes.len() != expected {
        return Err(QuantError::LengthMismatch {
            expected,
            actual: bytes.len(),
        });
    }
    Ok(())
}

/// Dequantise `n = out.len()` values stored in `bytes` (exactly
/// `ty.row_bytes(n)` long, any alignment).
pub fn dequantize(ty: GgmlType, bytes: &[u8], out: &mut [f32]) -> Result<(), QuantError> {
    use block::dequantize_row as row;
    check_row(ty, bytes, out.len())?;
    match ty {
        GgmlType::F32 => float::dequantize::<float::F32>(bytes, out),
        GgmlType::F16 => float::dequantize::<float::F16>(bytes, out),
        GgmlType::BF16 => float::dequantize::<float::Bf16>(bytes, out),
        GgmlType::Q4_0 => row::<BlockQ4_0, QK>(bytes, out)?,
        GgmlType::Q4_1 => row::<BlockQ4_1, QK>(bytes, out)?,
        GgmlType::Q5_0 => row::<BlockQ5_0, QK>(bytes, out)?,
        GgmlType::Q5_1 => row::<BlockQ5_1, QK>(bytes, out)?,
        GgmlType::Q8_0 => row::<BlockQ8_0, QK>(bytes, out)?,
        GgmlType::Q4_K => row::<BlockQ4K, QK_K>(bytes, out)?,
        GgmlType::Q5_K => row::<BlockQ5K, QK_K>(bytes, out)?,
        GgmlType::Q6_K => row::<BlockQ6K, QK_K>(bytes, out)?,
        _ => return Err(QuantError::Unsupported(ty)),
    }
    Ok(())
}

/// Dot product of one quantised row (`ty.row_bytes(x.len())` bytes) with the
/// f32 activations `x`.
pub fn dot(ty: GgmlType, bytes: &[u8], x: &[f32]) -> Result<f32, QuantError> {
    use block::dot_row as row;
    check_row(ty, bytes, x.len())?;
    match ty {
        GgmlType::F32 => Ok(float::dot::<float::F32>(bytes, x)),
        GgmlType::F16 => Ok(float::dot::<float::F16>(bytes, x)),
        GgmlType::BF16 => Ok(float::dot::<float::Bf16>(bytes, x)),
        GgmlType::Q4_0 => row::<BlockQ4_0, QK>(bytes, x),
        GgmlType::Q4_1 => row::<BlockQ4_1, QK>(bytes, x),
        GgmlType::Q5_0 => row::<BlockQ5_0, QK>(bytes, x),
        GgmlType::Q5_1 => row::<BlockQ5_1, QK>(bytes, x),
        GgmlType::Q8_0 => row::<BlockQ8_0, QK>(bytes, x),
        GgmlType::Q4_K => row::<BlockQ4K, QK_K>(bytes, x),
        GgmlType::Q5_K => row::<BlockQ5K, QK_K>(bytes, x),
        GgmlType::Q6_K => row::<BlockQ6K, QK_K>(bytes, x),
        _ => Err(QuantError::Unsupported(ty)),
    }
}
