//! Dot products of quantised weight rows with a [`QuantizedRow`], in the
//! float order of the llama.cpp kernel that computes them, and the lane
//! arithmetic the kernels share.

use super::k_quants;
use super::legacy;
use super::quantized_row::{Data, QuantizedRow, vec_dot_type};
use super::{GgmlType, QuantError, batched, block, float};

/// Dot product of one weight row (`ty.row_bytes(x.len())` bytes) with
/// activations converted by [`QuantizedRow`] for `ty`, computed as llama.cpp's
/// CPU backend computes it (see [`dot_quantized_rows`]).
pub fn dot_quantized(ty: GgmlType, bytes: &[u8], x: &QuantizedRow) -> Result<f32, QuantError> {
    let mut out = [0.0];
    dot_quantized_rows(ty, bytes, x, &mut out)?;
    Ok(out[0])
}

/// Dot products of `out.len()` consecutive weight rows (`rows` holds
/// exactly that many rows of `ty.row_bytes(x.len())` bytes, any alignment)
/// with activations converted by [`QuantizedRow`] for `ty`.
///
/// Each is computed as ggml's `ggml_vec_dot_<ty>_<vec_dot_type>` in an
/// x86 AVX2/FMA build computes it (for Q4_K: the repacked
/// `ggml_gemv_q4_K_8x8_q8_K`): exact integer sums per block, scaled by the
/// product of the blocks' f16/f32 scales and accumulated in f32 with fused
/// multiply-adds in the same lanes and order, so the results are bit for bit
/// llama.cpp's (checked against its CPU backend for Q4_1, Q5_0, Q8_0, Q4_K
/// and Q6_K). Where the CPU has AVX2, FMA and F16C this runs the
/// `x86.rs` kernels; in wasm32 builds with SIMD128 the `wasm_simd.rs` ones;
/// elsewhere portable code with the same arithmetic (fused multiply-adds
/// emulated through f64 where there is no FMA, as on wasm32 without relaxed
/// SIMD, where the SIMD128 kernels emulate them the same way: see `fma`;
/// with relaxed SIMD they use the CPU's FMA, see `wasm_simd.rs`).
/// Q5_K and the float types are not bit-exact: no test model has them.
pub fn dot_quantized_rows(
    ty: GgmlType,
    rows: &[u8],
    x: &QuantizedRow,
    out: &mut [f32],
) -> Result<(), QuantError> {
    dot_quantized_rows_ordered(ty, rows, x, DotOrder::VecDot, out)
}

/// Which of llama.cpp's kernels' float order a dot product follows: the
/// single-token `vec_dot`/`gemv` one, or that of its batched kernels (see
/// `batched.rs`; the same for types whose batched kernels do not differ).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DotOrder {
    VecDot,
    Gemm,
}

/// [`dot_quantized_rows`] in the float order `order`.
pub fn dot_quantized_rows_ordered(
    ty: GgmlType,
    rows: &[u8],
    x: &QuantizedRow,
    order: DotOrder,
    out: &mut [f32],
) -> Result<(), QuantError> {
    if !ty.is_supported() {
        return Err(QuantError::Unsupported(ty));
    }
    let row_bytes = ty.row_bytes(x.len)?;
    let expected = row_bytes
        .checked_mul(out.len())
        .ok_or(QuantError::Overflow)?;
    if rows.len() != expected {
        return Err(QuantError::LengthMismatch {
            expected,
            actual: rows.len(),
        });
    }
    let format = vec_dot_type(ty)?;
    if format != x.format {
        return Err(QuantError::ActivationFormat {
            weights: ty,
            expected: format,
            actual: x.format,
        });
    }
    if row_bytes == 0 {
        out.fill(0.0);
        return Ok(());
    }
    #[cfg(target_arch = "x86_64")]
    if has_avx2_fma_f16c() {
        // SAFETY: `kernels_x86` needs AVX2, FMA and F16C, which this CPU has.
        return unsafe { kernels_x86(ty, rows, row_bytes, &x.data, order, out) };
    }
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    return kernels_simd128(ty, rows, row_bytes, &x.data, order, out);
    #[allow(unreachable_code)]
    kernels::<NATIVE_FMA>(ty, rows, row_bytes, &x.data, order, out)
}

/// [`dot_quantized_rows_ordered`] through the portable kernels, with the
/// fused multiply-adds the fast kernels of this build use (x86 FMA where
/// the x86 kernels run; on wasm32 with relaxed SIMD, correctly rounded ones,
/// which `f32x4.relaxed_madd` is on a CPU with FMA; else this target's
/// own: none on wasm32): what the SIMD kernels must reproduce bit for bit.
/// For tests only.
#[doc(hidden)]
pub fn dot_quantized_rows_portable(
    ty: GgmlType,
    rows: &[u8],
    x: &QuantizedRow,
    order: DotOrder,
    out: &mut [f32],
) -> Result<(), QuantError> {
    let row_bytes = ty.row_bytes(x.len)?;
    if row_bytes == 0 || rows.len() != row_bytes * out.len() || vec_dot_type(ty)? != x.format {
        return dot_quantized_rows_ordered(ty, rows, x, order, out);
    }
    #[cfg(target_arch = "x86_64")]
    if has_avx2_fma_f16c() {
        return kernels::<true>(ty, rows, row_bytes, &x.data, order, out);
    }
    // `mul_add` is libm's correctly rounded `fmaf` here: ggml's FMA.
    #[cfg(all(target_arch = "wasm32", target_feature = "relaxed-simd"))]
    return kernels::<true>(ty, rows, row_bytes, &x.data, order, out);
    #[allow(unreachable_code)]
    kernels::<NATIVE_FMA>(ty, rows, row_bytes, &x.data, order, out)
}

/// [`dot_quantized_rows`] through the portable kernels with fused
/// multiply-adds, for checking the x86 ones against.
#[cfg(test)]
pub(crate) fn dot_portable_fused(
    ty: GgmlType,
    rows: &[u8],
    x: &QuantizedRow,
    order: DotOrder,
    out: &mut [f32],
) -> Result<(), QuantError> {
    let row_bytes = ty.row_bytes(x.len)?;
    kernels::<true>(ty, rows, row_bytes, &x.data, order, out)
}

/// Whether the `x86.rs` kernels can run here.
#[cfg(target_arch = "x86_64")]
pub(crate) fn has_avx2_fma_f16c() -> bool {
    std::arch::is_x86_feature_detected!("avx2")
        && std::arch::is_x86_feature_detected!("fma")
        && std::arch::is_x86_feature_detected!("f16c")
}

/// Whether `f32::mul_add` is a single instruction on this target without
/// run-time detection (aarch64 always has FMA; wasm32 has none).
const NATIVE_FMA: bool = cfg!(any(target_arch = "aarch64", target_feature = "fma"));

/// `out[i] = $kernel(row i's blocks, $y)` for the rows in `$rows`.
macro_rules! each_row {
    ($rows:expr, $row_bytes:expr, $out:expr, $kernel:expr, $y:expr) => {{
        let blocks = block::blocks($rows)?;
        let per_row = blocks.len() / $out.len().max(1);
        if per_row > 0 {
            for (o, row) in $out.iter_mut().zip(blocks.chunks_exact(per_row)) {
                *o = $kernel(row, $y);
            }
        }
        let _ = $row_bytes;
    }};
}

/// [`each_row!`] with a kernel of two rows (`$pair(row a, row b, $y)`),
/// sharing the activations' loads; an odd last row runs `$single`.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
macro_rules! row_pairs {
    ($rows:expr, $out:expr, $pair:expr, $single:expr, $y:expr) => {{
        let blocks = block::blocks($rows)?;
        let per_row = blocks.len() / $out.len().max(1);
        if per_row > 0 {
            let mut outs = $out.chunks_exact_mut(2);
            let mut pairs = blocks.chunks_exact(2 * per_row);
            for (o, pair) in (&mut outs).zip(&mut pairs) {
                let (a, b) = pair.split_at(per_row);
                let [ra, rb] = $pair(a, b, $y);
                o[0] = ra;
                o[1] = rb;
            }
            if let [last] = outs.into_remainder() {
                *last = $single(pairs.remainder(), $y);
            }
        }
    }};
}

/// The x86 kernels, for every type that has one; the rest run [`kernels`]
/// with AVX2 and FMA code generation.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c")]
fn kernels_x86(
    ty: GgmlType,
    rows: &[u8],
    row_bytes: usize,
    data: &Data,
    order: DotOrder,
    out: &mut [f32],
) -> Result<(), QuantError> {
    use super::x86;
    use GgmlType as T;
    let gemm = order == DotOrder::Gemm;
    match (ty, data) {
        (T::Q4_K, Data::Q8K(y)) if gemm => each_row!(rows, row_bytes, out, x86::gemm_q4_k_q8_k, y),
        (T::Q6_K, Data::Q8K(y)) if gemm => each_row!(rows, row_bytes, out, x86::tiled_q6_k_q8_k, y),
        (T::Q4_0, Data::Q8_0(y)) => each_row!(rows, row_bytes, out, x86::q4_0_q8_0, y),
        (T::Q5_0, Data::Q8_0(y)) => each_row!(rows, row_bytes, out, x86::q5_0_q8_0, y),
        (T::Q8_0, Data::Q8_0(y)) => each_row!(rows, row_bytes, out, x86::q8_0_q8_0, y),
        (T::Q4_1, Data::Q8_1(y)) => each_row!(rows, row_bytes, out, x86::q4_1_q8_1, y),
        (T::Q5_1, Data::Q8_1(y)) => each_row!(rows, row_bytes, out, x86::q5_1_q8_1, y),
        (T::Q4_K, Data::Q8K(y)) => each_row!(rows, row_bytes, out, x86::q4_k_q8_k, y),
        (T::Q6_K, Data::Q8K(y)) => each_row!(rows, row_bytes, out, x86::q6_k_q8_k, y),
        _ => return kernels::<true>(ty, rows, row_bytes, data, order, out),
    }
    Ok(())
}

/// The SIMD128 kernels (`wasm_simd.rs`), for every quantised type; the
/// float types run the portable [`kernels`] (auto-vectorised).
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
fn kernels_simd128(
    ty: GgmlType,
    rows: &[u8],
    row_bytes: usize,
    data: &Data,
    order: DotOrder,
    out: &mut [f32],
) -> Result<(), QuantError> {
    use super::wasm_simd as simd;
    use GgmlType as T;
    let gemm = order == DotOrder::Gemm;
    match (ty, data) {
        (T::Q4_K, Data::Q8K(y)) if gemm => each_row!(rows, row_bytes, out, simd::gemm_q4_k_q8_k, y),
        (T::Q6_K, Data::Q8K(y)) if gemm => {
            each_row!(rows, row_bytes, out, simd::tiled_q6_k_q8_k, y)
        }
        (T::Q4_0, Data::Q8_0(y)) => each_row!(rows, row_bytes, out, simd::q4_0_q8_0, y),
        (T::Q5_0, Data::Q8_0(y)) => each_row!(rows, row_bytes, out, simd::q5_0_q8_0, y),
        (T::Q8_0, Data::Q8_0(y)) => each_row!(rows, row_bytes, out, simd::q8_0_q8_0, y),
        (T::Q4_1, Data::Q8_1(y)) => row_pairs!(rows, out, simd::q4_1_q8_1_x2, simd::q4_1_q8_1, y),
        (T::Q5_1, Data::Q8_1(y)) => each_row!(rows, row_bytes, out, simd::q5_1_q8_1, y),
        (T::Q4_K, Data::Q8K(y)) => each_row!(rows, row_bytes, out, simd::q4_k_q8_k, y),
        (T::Q5_K, Data::Q8K(y)) => each_row!(rows, row_bytes, out, simd::q5_k_q8_k, y),
        (T::Q6_K, Data::Q8K(y)) => each_row!(rows, row_bytes, out, simd::q6_k_q8_k, y),
        _ => return kernels::<NATIVE_FMA>(ty, rows, row_bytes, data, order, out),
    }
    Ok(())
}

/// The portable kernels; `FUSED` says whether their multiply-adds are fused.
#[inline(always)]
fn kernels<const FUSED: bool>(
    ty: GgmlType,
    rows: &[u8],
    row_bytes: usize,
    data: &Data,
    order: DotOrder,
    out: &mut [f32],
) -> Result<(), QuantError> {
    use GgmlType as T;
    let gemm = order == DotOrder::Gemm;
    match (ty, data) {
        (T::F32 | T::F16 | T::BF16, Data::Float(v)) => {
            for (o, row) in out.iter_mut().zip(rows.chunks_exact(row_bytes)) {
                *o = match ty {
                    T::F16 => float::dot::<float::F16>(row, v),
                    T::BF16 => float::dot::<float::Bf16>(row, v),
                    _ => float::dot::<float::F32>(row, v),
                };
            }
        }
        (T::Q4_0, Data::Q8_0(y)) => {
            each_row!(rows, row_bytes, out, legacy::vec_dot_q4_0_q8_0::<FUSED>, y)
        }
        (T::Q5_0, Data::Q8_0(y)) => {
            each_row!(rows, row_bytes, out, legacy::vec_dot_q5_0_q8_0::<FUSED>, y)
        }
        (T::Q8_0, Data::Q8_0(y)) => {
            each_row!(rows, row_bytes, out, legacy::vec_dot_q8_0_q8_0::<FUSED>, y)
        }
        (T::Q4_1, Data::Q8_1(y)) => {
            each_row!(rows, row_bytes, out, legacy::vec_dot_q4_1_q8_1::<FUSED>, y)
        }
        (T::Q5_1, Data::Q8_1(y)) => {
            each_row!(rows, row_bytes, out, legacy::vec_dot_q5_1_q8_1::<FUSED>, y)
        }
        (T::Q4_K, Data::Q8K(y)) if gemm => {
            each_row!(rows, row_bytes, out, batched::gemm_q4_k_q8_k::<FUSED>, y)
        }
        (T::Q6_K, Data::Q8K(y)) if gemm => {
            each_row!(rows, row_bytes, out, batched::tiled_q6_k_q8_k::<FUSED>, y)
        }
        (T::Q4_K, Data::Q8K(y)) => each_row!(
            rows,
            row_bytes,
            out,
            k_quants::vec_dot_q4_k_q8_k::<FUSED>,
            y
        ),
        (T::Q5_K, Data::Q8K(y)) => each_row!(
            rows,
            row_bytes,
            out,
            k_quants::vec_dot_q5_k_q8_k::<FUSED>,
            y
        ),
        (T::Q6_K, Data::Q8K(y)) => each_row!(
            rows,
            row_bytes,
            out,
            k_quants::vec_dot_q6_k_q8_k::<FUSED>,
            y
        ),
        _ => return Err(QuantError::Unsupported(ty)),
    }
    Ok(())
}

/// Σ a·b over the `N` values of `a` and the first `N` of `b`, exact in i32
/// (as ggml's `maddubs`/`madd` or VNNI sums are: no partial sum saturates
/// for codes of at most 8 bits against Q8 activations within ±127).
#[inline(always)]
pub(crate) fn idot<const N: usize>(a: &[i8; N], b: &[i8]) -> i32 {
    let b = &b[..N];
    let mut sum = 0i32;
    for (&x, &y) in a.iter().zip(b) {
        sum += i32::from(i16::from(x) * i16::from(y));
    }
    sum
}

/// `a * b + c` rounded once, as x86 FMA and ggml's `_mm256_fmadd_ps` do:
/// by the FMA instruction when `FUSED`, else (targets without FMA, such as
/// wasm32) through f64, where the product is exact, so that only the rare
/// double rounding of the sum can differ. A plain `a * b + c` rounds twice,
/// and those ulps, amplified over the layers, moved logits by up to 1.0.
#[inline(always)]
pub(crate) fn fma<const FUSED: bool>(a: f32, b: f32, c: f32) -> f32 {
    if FUSED {
        a.mul_add(b, c)
    } else {
        (f64::from(a) * f64::from(b) + f64::from(c)) as f32
    }
}

/// Lane `l` of ggml's AVX2 integer dot: Σ a[i]·b[i] over i in 4l..4l+4
/// (what `maddubs` + `madd`, or VNNI's `dpbusd`, leave in 32-bit lane l).
#[inline(always)]
pub(crate) fn lanes8(a: &[i8; 32], b: &[i8]) -> [i32; 8] {
    let b = &b[..32];
    let mut p = [0i32; 32];
    for ((p, &x), &y) in p.iter_mut().zip(a).zip(b) {
        *p = i32::from(i16::from(x) * i16::from(y));
    }
    std::array::from_fn(|l| p[4 * l] + p[4 * l + 1] + p[4 * l + 2] + p[4 * l + 3])
}

/// An AVX2 `__m256` accumulator: 8 f32 lanes, fused multiply-adds, and
/// ggml's `hsum_float_8` at the end.
#[derive(Clone, Copy)]
pub(crate) struct Acc8(pub(crate) [f32; 8]);

impl Acc8 {
    pub(crate) fn new() -> Self {
        Acc8([0.0; 8])
    }

    /// `acc = fma(d, lanes, acc)`, lane by lane.
    #[inline(always)]
    pub(crate) fn fma<const FUSED: bool>(&mut self, d: f32, lanes: [i32; 8]) {
        for (a, &v) in self.0.iter_mut().zip(&lanes) {
            *a = fma::<FUSED>(d, v as f32, *a);
        }
    }

    /// ggml's `hsum_float_8`: ((x0+x4) + (x2+x6)) + ((x1+x5) + (x3+x7)).
    #[inline(always)]
    pub(crate) fn hsum(&self) -> f32 {
        let x = self.0;
        let r: [f32; 4] = std::array::from_fn(|i| x[i + 4] + x[i]);
        (r[0] + r[2]) + (r[1] + r[3])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acc8_sums_lanes_as_hsum_float_8() {
        // ((x0 + x4) + (x2 + x6)) + ((x1 + x5) + (x3 + x7)): with these
        // values any other order rounds differently.
        let acc = Acc8([1e8, 1.0, -1e8, 1.0, 3.0, 1e-8, 5.0, 7.0]);
        let expected = ((1e8f32 + 3.0) + (-1e8f32 + 5.0)) + ((1.0f32 + 1e-8) + (1.0f32 + 7.0));
        assert_eq!(acc.hsum(), expected);
        assert_ne!(acc.0.iter().sum::<f32>(), expected);
        // Lanes hold the sums of values 4l..4l+4.
        let a: [i8; 32] = std::array::from_fn(|i| i as i8 - 16);
        let b: [i8; 32] = std::array::from_fn(|i| if i % 3 == 0 { -127 } else { 127 });
        let lanes = lanes8(&a, &b);
        for (l, &lane) in lanes.iter().enumerate() {
            let want: i32 = (4 * l..4 * l + 4)
                .map(|i| i32::from(a[i]) * i32::from(b[i]))
                .sum();
            assert_eq!(lane, want);
        }
        // Rounded once, natively or through f64 (`x * y - 1` alone gives 0).
        let (x, y) = (1.0 + f32::EPSILON, 1.0 - f32::EPSILON);
        assert_eq!(fma::<true>(x, y, -1.0), -f32::EPSILON * f32::EPSILON);
        assert_eq!(fma::<false>(x, y, -1.0), -f32::EPSILON * f32::EPSILON);
        assert_eq!(x * y - 1.0, 0.0);
    }
}
