//! AVX2/FMA/F16C versions of the quantised dot products, written with the
//! same intrinsics, in the same order, as the AVX2 `ggml_vec_dot_*` (and
//! `ggml_gemv_q4_K_8x8_q8_K`) of an x86 build of ggml, so that they give
//! bit-identical results. The portable kernels in `legacy.rs` and
//! `k_quants.rs` compute the same values (checked by a test); these are the
//! fast ones.
//!
//! Everything here is only called through `kernels_x86`, itself only called
//! once the CPU is known to have AVX2, FMA and F16C. No pointers are used:
//! blocks are loaded into registers with `bytemuck::cast`.

use std::arch::x86_64::*;

use bytemuck::cast;

use super::activations::{ActQ8_0, ActQ8_1, ActQ8K};
use super::k_quants::{BlockQ4K, BlockQ6K, mins_dot, scale_min_k4};
use super::legacy::{BlockQ4_0, BlockQ4_1, BlockQ5_0, BlockQ5_1, BlockQ8_0};

/// An f16 (little-endian bytes) widened to f32 with F16C.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn f16(bytes: [u8; 2]) -> f32 {
    _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(i32::from(
        u16::from_le_bytes(bytes),
    ))))
}

/// 32 bytes from the start of `s`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn load32(s: &[i8]) -> __m256i {
    let mut a = [0i8; 32];
    a.copy_from_slice(&s[..32]);
    cast(a)
}

/// ggml's `hsum_float_8`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn hsum_float_8(x: __m256) -> f32 {
    let mut res = _mm256_extractf128_ps::<1>(x);
    res = _mm_add_ps(res, _mm256_castps256_ps128(x));
    res = _mm_add_ps(res, _mm_movehl_ps(res, res));
    res = _mm_add_ss(res, _mm_movehdup_ps(res));
    _mm_cvtss_f32(res)
}

/// Sum of the 8 i32 lanes (integer: any order).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn hsum_i32_8(a: __m256i) -> i32 {
    let sum128 = _mm_add_epi32(_mm256_castsi256_si128(a), _mm256_extracti128_si256::<1>(a));
    let hi64 = _mm_unpackhi_epi64(sum128, sum128);
    let sum64 = _mm_add_epi32(hi64, sum128);
    let hi32 = _mm_shuffle_epi32::<0b10_11_00_01>(sum64);
    _mm_cvtsi128_si32(_mm_add_epi32(sum64, hi32))
}

/// Unsigned × signed bytes, summed in fours into 8 f32 lanes (exact).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn mul_sum_us8_pairs_float(ax: __m256i, sy: __m256i) -> __m256 {
    let dot = _mm256_maddubs_epi16(ax, sy);
    _mm256_cvtepi32_ps(_mm256_madd_epi16(_mm256_set1_epi16(1), dot))
}

/// Signed × signed bytes, summed in fours into 8 f32 lanes (exact).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn mul_sum_i8_pairs_float(x: __m256i, y: __m256i) -> __m256 {
    let ax = _mm256_sign_epi8(x, x);
    let sy = _mm256_sign_epi8(y, x);
    mul_sum_us8_pairs_float(ax, sy)
}

/// The 32 nibbles of 16 bytes, low nibbles first.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn bytes_from_nibbles_32(qs: [u8; 16]) -> __m256i {
    let tmp: __m128i = cast(qs);
    let bytes = _mm256_set_m128i(_mm_srli_epi16::<4>(tmp), tmp);
    _mm256_and_si256(_mm256_set1_epi8(0x0F), bytes)
}

/// Bit i of the u32 as byte i: 0xFF where set, 0 where clear.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn bytes_from_bits_32(qh: [u8; 4]) -> __m256i {
    let x32 = i32::from_le_bytes(qh);
    let shuf = _mm256_set_epi64x(
        0x0303_0303_0303_0303,
        0x0202_0202_0202_0202,
        0x0101_0101_0101_0101,
        0,
    );
    let bytes = _mm256_shuffle_epi8(_mm256_set1_epi32(x32), shuf);
    let bit_mask = _mm256_set1_epi64x(0x7fbf_dfef_f7fb_fdfe);
    _mm256_cmpeq_epi8(_mm256_or_si256(bytes, bit_mask), _mm256_set1_epi64x(-1))
}

#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn q4_0_q8_0(x: &[BlockQ4_0], y: &[ActQ8_0]) -> f32 {
    let mut acc = _mm256_setzero_ps();
    for (x, y) in x.iter().zip(y) {
        let d = _mm256_set1_ps(f16(x.d) * y.d);
        let qx = _mm256_sub_epi8(bytes_from_nibbles_32(x.qs), _mm256_set1_epi8(8));
        let q = mul_sum_i8_pairs_float(qx, cast(y.qs));
        acc = _mm256_fmadd_ps(d, q, acc);
    }
    hsum_float_8(acc)
}

#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn q4_1_q8_1(x: &[BlockQ4_1], y: &[ActQ8_1]) -> f32 {
    let mut acc = _mm256_setzero_ps();
    let mut summs = 0.0f32;
    for (x, y) in x.iter().zip(y) {
        summs = f16(x.m).mul_add(y.s, summs);
        let d0d1 = _mm256_set1_ps(f16(x.d) * y.d);
        let xy = mul_sum_us8_pairs_float(bytes_from_nibbles_32(x.qs), cast(y.qs));
        acc = _mm256_fmadd_ps(d0d1, xy, acc);
    }
    hsum_float_8(acc) + summs
}

#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn q5_0_q8_0(x: &[BlockQ5_0], y: &[ActQ8_0]) -> f32 {
    let mut acc = _mm256_setzero_ps();
    for (x, y) in x.iter().zip(y) {
        let d = _mm256_set1_ps(f16(x.d) * y.d);
        let bxhi = _mm256_andnot_si256(bytes_from_bits_32(x.qh), _mm256_set1_epi8(0xF0u8 as i8));
        let qx = _mm256_or_si256(bytes_from_nibbles_32(x.qs), bxhi);
        let q = mul_sum_i8_pairs_float(qx, cast(y.qs));
        acc = _mm256_fmadd_ps(d, q, acc);
    }
    hsum_float_8(acc)
}

#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn q5_1_q8_1(x: &[BlockQ5_1], y: &[ActQ8_1]) -> f32 {
    let mut acc = _mm256_setzero_ps();
    let mut summs = 0.0f32;
    for (x, y) in x.iter().zip(y) {
        summs = f16(x.m).mul_add(y.s, summs);
        let bxhi = _mm256_and_si256(bytes_from_bits_32(x.qh), _mm256_set1_epi8(0x10));
        let qx = _mm256_or_si256(bytes_from_nibbles_32(x.qs), bxhi);
        let q = mul_sum_us8_pairs_float(qx, cast(y.qs));
        acc = _mm256_fmadd_ps(q, _mm256_set1_ps(f16(x.d) * y.d), acc);
    }
    hsum_float_8(acc) + summs
}

#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn q8_0_q8_0(x: &[BlockQ8_0], y: &[ActQ8_0]) -> f32 {
    let mut acc = _mm256_setzero_ps();
    for (x, y) in x.iter().zip(y) {
        let d = _mm256_set1_ps(f16(x.d) * y.d);
        let q = mul_sum_i8_pairs_float(cast(x.qs), cast(y.qs));
        acc = _mm256_fmadd_ps(d, q, acc);
    }
    hsum_float_8(acc)
}

/// The repacked-Q4_K semantics of `k_quants::vec_dot_q4_k_q8_k`: exact
/// integer sums per super-block, two scalar fused multiply-adds.
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn q4_k_q8_k(x: &[BlockQ4K], y: &[ActQ8K]) -> f32 {
    let (mut acc, mut acc_m) = (0.0f32, 0.0f32);
    for (x, y) in x.iter().zip(y) {
        let sm = scale_min_k4(&x.scales);
        let sums = q4_k_pair_sums(x, y, &sm);
        let sumi = hsum_i32_8(_mm256_add_epi32(
            _mm256_add_epi32(sums[0], sums[1]),
            _mm256_add_epi32(sums[2], sums[3]),
        ));
        acc = (sumi as f32).mul_add(f16(x.d) * y.d, acc);
        acc_m = (mins_dot(&sm, &y.bsums) as f32).mul_add(f16(x.dmin) * y.d, acc_m);
    }
    acc - acc_m
}

/// `batched::gemm_q4_k_q8_k` (ggml's repacked Q4_K gemm): one fused
/// multiply-add per pair of sub-blocks for the sums and one for the mins.
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn gemm_q4_k_q8_k(x: &[BlockQ4K], y: &[ActQ8K]) -> f32 {
    let (mut acc, mut acc_m) = (0.0f32, 0.0f32);
    for (x, y) in x.iter().zip(y) {
        let sm = scale_min_k4(&x.scales);
        let (d, dmin) = (f16(x.d) * y.d, f16(x.dmin) * y.d);
        for (c, sum) in q4_k_pair_sums(x, y, &sm).into_iter().enumerate() {
            let mins: i32 = (2 * c..2 * c + 2)
                .map(|j| {
                    let bsum = i32::from(y.bsums[2 * j]) + i32::from(y.bsums[2 * j + 1]);
                    i32::from(sm[j].1) * bsum
                })
                .sum();
            acc = (hsum_i32_8(sum) as f32).mul_add(d, acc);
            acc_m = (mins as f32).mul_add(dmin, acc_m);
        }
    }
    acc - acc_m
}

/// Per 64 values (a pair of sub-blocks), the scaled integer sums in 8 lanes.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn q4_k_pair_sums(x: &BlockQ4K, y: &ActQ8K, sm: &[(u8, u8); 8]) -> [__m256i; 4] {
    let m4 = _mm256_set1_epi8(0x0F);
    std::array::from_fn(|c| {
        let mut bits = [0u8; 32];
        bits.copy_from_slice(&x.qs[32 * c..32 * c + 32]);
        let bits: __m256i = cast(bits);
        let lo = _mm256_and_si256(bits, m4);
        let hi = _mm256_and_si256(_mm256_srli_epi16::<4>(bits), m4);
        let q8 = &y.qs[64 * c..];
        let p_lo = _mm256_maddubs_epi16(lo, load32(q8));
        let p_hi = _mm256_maddubs_epi16(hi, load32(&q8[32..]));
        let p_lo = _mm256_madd_epi16(p_lo, _mm256_set1_epi16(i16::from(sm[2 * c].0)));
        let p_hi = _mm256_madd_epi16(p_hi, _mm256_set1_epi16(i16::from(sm[2 * c + 1].0)));
        _mm256_add_epi32(p_lo, p_hi)
    })
}

/// `get_scale_shuffle(i)`: scale 2i for the first 8 i16 lanes, 2i + 1 for
/// the last 8.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn scale_shuffle(i: usize) -> __m128i {
    let (a, b) = ((2 * i) as i8, (2 * i + 1) as i8);
    _mm_setr_epi8(a, a, a, a, a, a, a, a, b, b, b, b, b, b, b, b)
}

/// ggml's AVX2 `ggml_vec_dot_q6_K_q8_K`.
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn q6_k_q8_k(x: &[BlockQ6K], y: &[ActQ8K]) -> f32 {
    let mut acc = _mm256_setzero_ps();
    for (x, y) in x.iter().zip(y) {
        let d = f16(x.d) * y.d;
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(q6_k_sumi(x, y)), acc);
    }
    hsum_float_8(acc)
}

/// `batched::tiled_q6_k_q8_k` (ggml's tiled K-quant path): per super-block
/// the exact integer total times `f16(d)`, fused-multiply-added with `y.d`.
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn tiled_q6_k_q8_k(x: &[BlockQ6K], y: &[ActQ8K]) -> f32 {
    let mut acc = 0.0f32;
    for (x, y) in x.iter().zip(y) {
        let total = hsum_i32_8(q6_k_sumi(x, y));
        acc = (total as f32 * f16(x.d)).mul_add(y.d, acc);
    }
    acc
}

/// One Q6_K super-block's exact integer lanes, as ggml's AVX2 kernel has
/// them before scaling.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn q6_k_sumi(x: &BlockQ6K, y: &ActQ8K) -> __m256i {
    let m4 = _mm256_set1_epi8(0x0F);
    let m2 = _mm256_set1_epi8(3);
    let scales: __m128i = cast(x.scales);
    let mut sumi = _mm256_setzero_si256();
    for j in 0..2 {
        let ql = &x.ql[64 * j..];
        let mut b1 = [0u8; 32];
        let mut b2 = [0u8; 32];
        let mut bh = [0u8; 32];
        b1.copy_from_slice(&ql[..32]);
        b2.copy_from_slice(&ql[32..64]);
        bh.copy_from_slice(&x.qh[32 * j..32 * j + 32]);
        let (q4bits1, q4bits2, q4bits_h): (__m256i, __m256i, __m256i) =
            (cast(b1), cast(b2), cast(bh));
        let q4h_0 = _mm256_slli_epi16::<4>(_mm256_and_si256(q4bits_h, m2));
        let q4h_1 = _mm256_slli_epi16::<2>(_mm256_and_si256(q4bits_h, _mm256_set1_epi8(3 << 2)));
        let q4h_2 = _mm256_and_si256(q4bits_h, _mm256_set1_epi8(3 << 4));
        let q4h_3 = _mm256_srli_epi16::<2>(_mm256_and_si256(
            q4bits_h,
            _mm256_set1_epi8((3u8 << 6) as i8),
        ));
        let q = [
            _mm256_or_si256(_mm256_and_si256(q4bits1, m4), q4h_0),
            _mm256_or_si256(_mm256_and_si256(q4bits2, m4), q4h_1),
            _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16::<4>(q4bits1), m4), q4h_2),
            _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16::<4>(q4bits2), m4), q4h_3),
        ];
        for (k, q) in q.into_iter().enumerate() {
            let q8 = load32(&y.qs[128 * j + 32 * k..]);
            let scale = _mm256_cvtepi8_epi16(_mm_shuffle_epi8(scales, scale_shuffle(4 * j + k)));
            let p16 = _mm256_madd_epi16(scale, _mm256_maddubs_epi16(q, q8));
            sumi = _mm256_add_epi32(sumi, p16);
        }
    }
    let q8sums: __m256i = cast(y.bsums);
    let q8sclsub = _mm256_slli_epi32::<5>(_mm256_madd_epi16(q8sums, _mm256_cvtepi8_epi16(scales)));
    _mm256_sub_epi32(sumi, q8sclsub)
}
