//! SIMD128 versions of the quantised dot products, for wasm32 builds with
//! `+simd128` (every Chrome with Manifest V3 has it), faster with
//! `+relaxed-simd` (Chrome 114 on; the extension's build enables it).
//!
//! The integer lane sums are exact in any order, so they only need ggml's
//! AVX2 lane assignment (lane `l` of 8 holds values `4l..4l+4` of each 32);
//! the float steps are the same operations in the same order. An AVX2 8-lane
//! f32 accumulator is two `v128`s. What differs between the two builds is
//! how ggml's fused multiply-adds (`_mm256_fmadd_ps`) and byte dots are done:
//!
//! - With relaxed SIMD, a multiply-add is `f32x4.relaxed_madd`, which the
//!   engine compiles to the CPU's FMA instruction where it has one (x86 with
//!   FMA3, every ARM64): then it is ggml's arithmetic bit for bit, checked
//!   by `tests/cpu_simd.rs` under wasm against the portable kernels with
//!   correctly rounded `mul_add`. On a CPU without FMA (x86 before 2013)
//!   it is a multiply and an add, rounded twice: close to llama.cpp, not
//!   bit for bit. A byte dot is `i16x8.relaxed_dot_i8x16_i7x16_s`, pair
//!   sums in one instruction (`pmaddubsw` on x86), exact (deterministic)
//!   because one operand is a weight code of at most 7 bits without sign
//!   (Q4: 0..15, Q5: 0..31, Q6_K: 0..63; signed codes are taken as unsigned
//!   minus their offset, or as |q| against sign(q)·y for Q8_0) and the i16
//!   pair sums cannot saturate: |2 · 127 · 128| < 2^15. They are widened to
//!   i32 once per sum (`extadd_pairwise`), or with a K-quant sub-block's
//!   scale in one `i32x4.dot_i16x8_s`. (Node 20's V8 11.3, where relaxed
//!   SIMD was still experimental, miscompiled the i32 form of these dots;
//!   Chromium gets them right, so `tests/wasm` checks these kernels there.)
//! - With SIMD128 only, a multiply-add is rounded once through f64 as
//!   `dot::fma::<false>` does (wasm has no FMA), two lanes per `f64x2`, and
//!   the pair sums are widening multiplies and shuffles: bit for bit the
//!   portable kernels without fused multiply-adds (`FUSED = false`).

use core::arch::wasm32::*;

use super::activations::{ActQ8_0, ActQ8_1, ActQ8K};
use super::block::f16_le;
#[cfg(not(target_feature = "relaxed-simd"))]
use super::dot::fma;
use super::k_quants::{BlockQ4K, BlockQ5K, BlockQ6K, scale_min_k4};
use super::legacy::{BlockQ4_0, BlockQ4_1, BlockQ5_0, BlockQ5_1, BlockQ8_0};

/// 16 bytes as a vector.
#[inline(always)]
fn load(b: &[u8; 16]) -> v128 {
    // SAFETY: `b` is 16 readable bytes; `v128_load` has no alignment needs.
    unsafe { v128_load(b.as_ptr().cast()) }
}

/// The two 16-byte halves of 32 signed codes.
#[inline(always)]
fn halves(q: &[i8; 32]) -> [v128; 2] {
    let q: &[[u8; 16]; 2] = bytemuck::cast_ref(q);
    [load(&q[0]), load(&q[1])]
}

/// The 16-byte vectors of `N` bytes.
#[inline(always)]
fn vectors<const N: usize, const V: usize>(q: &[u8; N]) -> [v128; V] {
    let q: &[[u8; 16]] = bytemuck::cast_slice(q.as_slice());
    std::array::from_fn(|i| load(&q[i]))
}

/// Lane `k` (i16) = y[2k]·q[2k] + y[2k+1]·q[2k+1], for activations `y` and
/// codes `q` within 0..128: exact, |2 · 128 · 127| < 2^15 (see the module's
/// notes). One `pmaddubsw` on x86, where `i32x4.relaxed_dot_i8x16_i7x16_add_s`
/// is five instructions; the widening to i32 is then done once per sum
/// ([`quads`]) or fused with a sub-block's scale ([`scaled_quads`]).
#[cfg(target_feature = "relaxed-simd")]
#[inline(always)]
fn pair_sums(y: v128, q: v128) -> v128 {
    i16x8_relaxed_dot_i8x16_i7x16(y, q)
}

/// Lane `k` (i16) = y[2k]·q[2k] + y[2k+1]·q[2k+1], for activations `y` and
/// codes `q` within 0..128, taken without sign as x86's `pmaddubsw` does
/// (exact in i16).
#[cfg(not(target_feature = "relaxed-simd"))]
#[inline(always)]
fn pair_sums(y: v128, q: v128) -> v128 {
    let lo = i16x8_mul(i16x8_extend_low_i8x16(y), i16x8_extend_low_u8x16(q));
    let hi = i16x8_mul(i16x8_extend_high_i8x16(y), i16x8_extend_high_u8x16(q));
    i16x8_add(
        i8x16_shuffle::<0, 1, 4, 5, 8, 9, 12, 13, 16, 17, 20, 21, 24, 25, 28, 29>(lo, hi),
        i8x16_shuffle::<2, 3, 6, 7, 10, 11, 14, 15, 18, 19, 22, 23, 26, 27, 30, 31>(lo, hi),
    )
}

/// Lane `l` (i32) = the sum of pair sums 2l and 2l + 1: the four products
/// 4l..4l+4, ggml's AVX2 lane (exact).
#[inline(always)]
fn quads(pairs: v128) -> v128 {
    i32x4_extadd_pairwise_i16x8(pairs)
}

/// [`quads`] times `scale`, in one `i32x4.dot_i16x8_s` (exact: at most
/// 2 · 2^15 · 2^7 in magnitude for the 8-bit scales here).
#[inline(always)]
fn scaled_quads(pairs: v128, scale: i16) -> v128 {
    i32x4_dot_i16x8(pairs, i16x8_splat(scale))
}

/// Lane `l` = Σ y[i]·q[i] over i in 4l..4l+4 for signed codes `q` and
/// activations `y` within ±127, as ggml's AVX2 does it: |q| against y with
/// q's sign, so that one operand is unsigned. Exact; a code of -128 (never
/// written by ggml's quantisers) has |q| = 128 = 0x80, taken without sign
/// as ggml's `maddubs` does (an ARM engine may take it as -128: relaxed SIMD
/// leaves that bit to the engine).
#[inline(always)]
fn signed_lanes(y: v128, q: v128) -> v128 {
    let negative = i8x16_lt(q, i8x16_splat(0));
    let signed_y = i8x16_sub(v128_xor(y, negative), negative);
    quads(pair_sums(signed_y, i8x16_abs(q)))
}

/// `a * b + c` rounded once, as `_mm256_fmadd_ps` in one lane: the CPU's
/// FMA through relaxed SIMD (see the module's notes), else through f64.
#[inline(always)]
fn fma1(a: f32, b: f32, c: f32) -> f32 {
    #[cfg(target_feature = "relaxed-simd")]
    return f32x4_extract_lane::<0>(f32x4_relaxed_madd(
        f32x4_splat(a),
        f32x4_splat(b),
        f32x4_splat(c),
    ));
    #[cfg(not(target_feature = "relaxed-simd"))]
    fma::<false>(a, b, c)
}

/// Lanes 0 and 1: `fma1(a[i], b, c[i])`, in one vector operation.
#[inline(always)]
fn fma1_x2(a: [f32; 2], b: f32, c: v128) -> v128 {
    #[cfg(target_feature = "relaxed-simd")]
    return f32x4_relaxed_madd(f32x4(a[0], a[1], 0.0, 0.0), f32x4_splat(b), c);
    #[cfg(not(target_feature = "relaxed-simd"))]
    f32x4(
        fma1(a[0], b, f32x4_extract_lane::<0>(c)),
        fma1(a[1], b, f32x4_extract_lane::<1>(c)),
        0.0,
        0.0,
    )
}

/// Sum of four i32 lanes (integer: any order).
#[inline(always)]
fn hsum_i32(v: v128) -> i32 {
    let v = i32x4_add(v, i32x4_shuffle::<2, 3, 0, 1>(v, v));
    let v = i32x4_add(v, i32x4_shuffle::<1, 0, 3, 2>(v, v));
    i32x4_extract_lane::<0>(v)
}

/// `Acc8`: an AVX2 `__m256` accumulator as two f32x4 (lanes 0..4, 4..8).
struct Acc8([v128; 2]);

impl Acc8 {
    fn new() -> Self {
        Acc8([f32x4_splat(0.0); 2])
    }

    /// `acc = fma(d, lanes as f32, acc)` lane by lane: the CPU's FMA.
    #[cfg(target_feature = "relaxed-simd")]
    #[inline(always)]
    fn fma(&mut self, d: f32, lanes: [v128; 2]) {
        let d = f32x4_splat(d);
        for (acc, lanes) in self.0.iter_mut().zip(lanes) {
            *acc = f32x4_relaxed_madd(d, f32x4_convert_i32x4(lanes), *acc);
        }
    }

    /// `acc = fma(d, lanes as f32, acc)` lane by lane, each rounded once
    /// through f64 as `dot::fma::<false>` does.
    #[cfg(not(target_feature = "relaxed-simd"))]
    #[inline(always)]
    fn fma(&mut self, d: f32, lanes: [v128; 2]) {
        let d = f64x2_splat(f64::from(d));
        for (acc, lanes) in self.0.iter_mut().zip(lanes) {
            let v = f32x4_convert_i32x4(lanes);
            let a = *acc;
            let v_hi = i32x4_shuffle::<2, 3, 0, 1>(v, v);
            let a_hi = i32x4_shuffle::<2, 3, 0, 1>(a, a);
            let lo = f64x2_add(
                f64x2_mul(d, f64x2_promote_low_f32x4(v)),
                f64x2_promote_low_f32x4(a),
            );
            let hi = f64x2_add(
                f64x2_mul(d, f64x2_promote_low_f32x4(v_hi)),
                f64x2_promote_low_f32x4(a_hi),
            );
            *acc = i32x4_shuffle::<0, 1, 4, 5>(
                f32x4_demote_f64x2_zero(lo),
                f32x4_demote_f64x2_zero(hi),
            );
        }
    }

    /// ggml's `hsum_float_8`: ((x0+x4) + (x2+x6)) + ((x1+x5) + (x3+x7)).
    #[inline(always)]
    fn hsum(&self) -> f32 {
        let r = f32x4_add(self.0[1], self.0[0]);
        let (r0, r1) = (f32x4_extract_lane::<0>(r), f32x4_extract_lane::<1>(r));
        let (r2, r3) = (f32x4_extract_lane::<2>(r), f32x4_extract_lane::<3>(r));
        (r0 + r2) + (r1 + r3)
    }
}

/// The low and high nibbles of 16 bytes: values 0..16 and 16..32 of a
/// 32-value block (or sub-blocks 2c and 2c + 1 of a K-quant chunk).
#[inline(always)]
fn nibbles(q: v128) -> [v128; 2] {
    // A 16-bit shift and the same mask: `i8x16.shr_u` has no x86
    // instruction and costs five.
    let m4 = u8x16_splat(0x0F);
    [v128_and(q, m4), v128_and(u16x8_shr(q, 4), m4)]
}

/// 0x10 in byte i where bit i of `qh` is set, for values 0..16 and 16..32.
#[inline(always)]
fn fifth_bits(qh: [u8; 4]) -> [v128; 2] {
    let v = u32x4_splat(u32::from_le_bytes(qh));
    let bit = u8x16(1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128);
    let pick = |a: u8, b: u8| {
        let bytes = u8x16_swizzle(v, u8x16(a, a, a, a, a, a, a, a, b, b, b, b, b, b, b, b));
        v128_and(u8x16_eq(v128_and(bytes, bit), bit), u8x16_splat(0x10))
    };
    [pick(0, 1), pick(2, 3)]
}

/// The eight integer lanes of a 32-value block's codes minus `offset`
/// against activations, from the unsigned codes (0..32): Σ y·q − offset·Σ y
/// per lane, exact.
#[inline(always)]
fn block_lanes(codes: [v128; 2], offset: i8, y: &[i8; 32]) -> [v128; 2] {
    let y = halves(y);
    let pairs = [pair_sums(y[0], codes[0]), pair_sums(y[1], codes[1])];
    if offset == 0 {
        return pairs.map(quads);
    }
    // In i16: |Σ y·q| ≤ 2 · 128 · 31 and |offset · Σ y| ≤ 16 · 256 per pair.
    let off = i8x16_splat(offset);
    [
        quads(i16x8_sub(pairs[0], pair_sums(y[0], off))),
        quads(i16x8_sub(pairs[1], pair_sums(y[1], off))),
    ]
}

/// A Q4 block's unsigned codes (0..16): values 0..16 and 16..32.
#[inline(always)]
fn q4_codes(qs: &[u8; 16]) -> [v128; 2] {
    nibbles(load(qs))
}

/// A Q5 block's unsigned codes (0..32): values 0..16 and 16..32.
#[inline(always)]
fn q5_codes(qh: [u8; 4], qs: &[u8; 16]) -> [v128; 2] {
    let [lo, hi] = nibbles(load(qs));
    let [h_lo, h_hi] = fifth_bits(qh);
    [v128_or(lo, h_lo), v128_or(hi, h_hi)]
}

/// `legacy::vec_dot_q4_0_q8_0::<false>`.
pub(super) fn q4_0_q8_0(x: &[BlockQ4_0], y: &[ActQ8_0]) -> f32 {
    let mut acc = Acc8::new();
    for (x, y) in x.iter().zip(y) {
        acc.fma(f16_le(x.d) * y.d, block_lanes(q4_codes(&x.qs), 8, &y.qs));
    }
    acc.hsum()
}

/// `legacy::vec_dot_q4_1_q8_1::<false>`.
pub(super) fn q4_1_q8_1(x: &[BlockQ4_1], y: &[ActQ8_1]) -> f32 {
    let mut acc = Acc8::new();
    let mut summs = 0.0f32;
    for (x, y) in x.iter().zip(y) {
        summs = fma1(f16_le(x.m), y.s, summs);
        acc.fma(f16_le(x.d) * y.d, block_lanes(q4_codes(&x.qs), 0, &y.qs));
    }
    acc.hsum() + summs
}

/// [`q4_1_q8_1`] on two rows at once: every activation block is loaded
/// once for both, and the two rows' chains overlap. Each row's operations
/// are those of [`q4_1_q8_1`], in the same order: the same bits.
pub(super) fn q4_1_q8_1_x2(a: &[BlockQ4_1], b: &[BlockQ4_1], y: &[ActQ8_1]) -> [f32; 2] {
    let (mut acc_a, mut acc_b) = (Acc8::new(), Acc8::new());
    // Row a's sum of mins in lane 0, row b's in lane 1.
    let mut summs = f32x4_splat(0.0);
    for ((a, b), y) in a.iter().zip(b).zip(y) {
        summs = fma1_x2([f16_le(a.m), f16_le(b.m)], y.s, summs);
        acc_a.fma(f16_le(a.d) * y.d, block_lanes(q4_codes(&a.qs), 0, &y.qs));
        acc_b.fma(f16_le(b.d) * y.d, block_lanes(q4_codes(&b.qs), 0, &y.qs));
    }
    [
        acc_a.hsum() + f32x4_extract_lane::<0>(summs),
        acc_b.hsum() + f32x4_extract_lane::<1>(summs),
    ]
}

/// `legacy::vec_dot_q5_0_q8_0::<false>`.
pub(super) fn q5_0_q8_0(x: &[BlockQ5_0], y: &[ActQ8_0]) -> f32 {
    let mut acc = Acc8::new();
    for (x, y) in x.iter().zip(y) {
        acc.fma(
            f16_le(x.d) * y.d,
            block_lanes(q5_codes(x.qh, &x.qs), 16, &y.qs),
        );
    }
    acc.hsum()
}

/// `legacy::vec_dot_q5_1_q8_1::<false>`.
pub(super) fn q5_1_q8_1(x: &[BlockQ5_1], y: &[ActQ8_1]) -> f32 {
    let mut acc = Acc8::new();
    let mut summs = 0.0f32;
    for (x, y) in x.iter().zip(y) {
        summs = fma1(f16_le(x.m), y.s, summs);
        acc.fma(
            f16_le(x.d) * y.d,
            block_lanes(q5_codes(x.qh, &x.qs), 0, &y.qs),
        );
    }
    acc.hsum() + summs
}

/// `legacy::vec_dot_q8_0_q8_0::<false>`.
pub(super) fn q8_0_q8_0(x: &[BlockQ8_0], y: &[ActQ8_0]) -> f32 {
    let mut acc = Acc8::new();
    for (x, y) in x.iter().zip(y) {
        let (q, y8) = (halves(&x.qs), halves(&y.qs));
        acc.fma(
            f16_le(x.d) * y.d,
            [signed_lanes(y8[0], q[0]), signed_lanes(y8[1], q[1])],
        );
    }
    acc.hsum()
}

/// Σ_j scale_j Σ q·q8 of one Q4_K super-block per pair of sub-blocks
/// (chunks of 64 values), exact.
#[inline(always)]
fn q4_k_pair_sums(x: &BlockQ4K, y: &ActQ8K, sm: &[(u8, u8); 8]) -> [i32; 4] {
    let qs: [v128; 8] = vectors(&x.qs);
    let q8: &[[u8; 16]; 16] = bytemuck::cast_ref(&y.qs);
    std::array::from_fn(|c| {
        // Pair sums of two 16-value halves in i16: at most 2 · 2 · 128 · 15.
        let (mut lo, mut hi) = (i16x8_splat(0), i16x8_splat(0));
        for h in 0..2 {
            let [l, u] = nibbles(qs[2 * c + h]);
            lo = i16x8_add(lo, pair_sums(load(&q8[4 * c + h]), l));
            hi = i16x8_add(hi, pair_sums(load(&q8[4 * c + 2 + h]), u));
        }
        let lo = scaled_quads(lo, i16::from(sm[2 * c].0));
        let hi = scaled_quads(hi, i16::from(sm[2 * c + 1].0));
        hsum_i32(i32x4_add(lo, hi))
    })
}

/// Σ_j min_j · (sum of the 32 activation codes of sub-block j).
#[inline(always)]
fn mins_pair(sm: &[(u8, u8); 8], bsums: &[i16; 16], pair: usize) -> i32 {
    (2 * pair..2 * pair + 2)
        .map(|j| i32::from(sm[j].1) * (i32::from(bsums[2 * j]) + i32::from(bsums[2 * j + 1])))
        .sum()
}

/// `k_quants::vec_dot_q4_k_q8_k::<false>`.
pub(super) fn q4_k_q8_k(x: &[BlockQ4K], y: &[ActQ8K]) -> f32 {
    let (mut acc, mut acc_m) = (0.0f32, 0.0f32);
    for (x, y) in x.iter().zip(y) {
        let sm = scale_min_k4(&x.scales);
        let sumi: i32 = q4_k_pair_sums(x, y, &sm).iter().sum();
        let mins: i32 = (0..4).map(|p| mins_pair(&sm, &y.bsums, p)).sum();
        acc = fma1(sumi as f32, f16_le(x.d) * y.d, acc);
        acc_m = fma1(mins as f32, f16_le(x.dmin) * y.d, acc_m);
    }
    acc - acc_m
}

/// `batched::gemm_q4_k_q8_k::<false>`.
pub(super) fn gemm_q4_k_q8_k(x: &[BlockQ4K], y: &[ActQ8K]) -> f32 {
    let (mut acc, mut acc_m) = (0.0f32, 0.0f32);
    for (x, y) in x.iter().zip(y) {
        let sm = scale_min_k4(&x.scales);
        let (d, dmin) = (f16_le(x.d) * y.d, f16_le(x.dmin) * y.d);
        for (pair, sum) in q4_k_pair_sums(x, y, &sm).into_iter().enumerate() {
            acc = fma1(sum as f32, d, acc);
            acc_m = fma1(mins_pair(&sm, &y.bsums, pair) as f32, dmin, acc_m);
        }
    }
    acc - acc_m
}

/// `k_quants::vec_dot_q5_k_q8_k::<false>`.
pub(super) fn q5_k_q8_k(x: &[BlockQ5K], y: &[ActQ8K]) -> f32 {
    let (mut acc, mut acc_m) = (0.0f32, 0.0f32);
    for (x, y) in x.iter().zip(y) {
        let sm = scale_min_k4(&x.scales);
        let qs: [v128; 8] = vectors(&x.qs);
        let qh: [v128; 2] = vectors(&x.qh);
        let q8: &[[u8; 16]; 16] = bytemuck::cast_ref(&y.qs);
        let mut sumi = i32x4_splat(0);
        for c in 0..4 {
            // In i16, as for Q4_K: at most 2 · 2 · 128 · 31.
            let (mut lo, mut hi) = (i16x8_splat(0), i16x8_splat(0));
            let (b1, b2) = (u8x16_splat(1 << (2 * c)), u8x16_splat(2 << (2 * c)));
            for h in 0..2 {
                let [l, u] = nibbles(qs[2 * c + h]);
                let fifth =
                    |bit: v128| v128_and(u8x16_eq(v128_and(qh[h], bit), bit), u8x16_splat(0x10));
                let l = v128_or(l, fifth(b1));
                let u = v128_or(u, fifth(b2));
                lo = i16x8_add(lo, pair_sums(load(&q8[4 * c + h]), l));
                hi = i16x8_add(hi, pair_sums(load(&q8[4 * c + 2 + h]), u));
            }
            sumi = i32x4_add(sumi, scaled_quads(lo, i16::from(sm[2 * c].0)));
            sumi = i32x4_add(sumi, scaled_quads(hi, i16::from(sm[2 * c + 1].0)));
        }
        let mins: i32 = (0..4).map(|p| mins_pair(&sm, &y.bsums, p)).sum();
        acc = fma1(y.d * f16_le(x.d), hsum_i32(sumi) as f32, acc);
        acc_m = fma1(-y.d * f16_le(x.dmin), mins as f32, acc_m);
    }
    acc + acc_m
}

/// `k_quants::q6_k_lanes`: one Q6_K super-block's eight exact integer lanes.
#[inline(always)]
fn q6_k_lanes(x: &BlockQ6K, y: &ActQ8K) -> [v128; 2] {
    let ql: [v128; 8] = vectors(&x.ql);
    let qh: [v128; 4] = vectors(&x.qh);
    let q8: &[[u8; 16]; 16] = bytemuck::cast_ref(&y.qs);
    let sc = &x.scales;
    let m4 = u8x16_splat(0x0F);
    let mut lanes = [i32x4_splat(0); 2];
    for h in 0..2 {
        // Values 16i..16i+16 of each group of 32 (lanes 4i..4i+4).
        for (i, lanes) in lanes.iter_mut().enumerate() {
            let (a, b, hb) = (ql[4 * h + i], ql[4 * h + 2 + i], qh[2 * h + i]);
            // 16-bit shifts where no bit crosses a byte (masked first), as
            // in [`nibbles`].
            let q = [
                v128_or(v128_and(a, m4), u16x8_shl(v128_and(hb, u8x16_splat(3)), 4)),
                v128_or(
                    v128_and(b, m4),
                    u16x8_shl(v128_and(hb, u8x16_splat(0x0C)), 2),
                ),
                v128_or(
                    v128_and(u16x8_shr(a, 4), m4),
                    v128_and(hb, u8x16_splat(0x30)),
                ),
                v128_or(
                    v128_and(u16x8_shr(b, 4), m4),
                    u16x8_shr(v128_and(hb, u8x16_splat(0xC0)), 2),
                ),
            ];
            for (k, q) in q.into_iter().enumerate() {
                // Pair sums at most 2 · 128 · 63: i16.
                let p = pair_sums(load(&q8[8 * h + 2 * k + i]), q);
                let scale = i16::from(sc[8 * h + 2 * k + i]);
                *lanes = i32x4_add(*lanes, scaled_quads(p, scale));
            }
        }
    }
    // Minus 32 · (sc[2l] · bsums[2l] + sc[2l+1] · bsums[2l+1]) in lane l.
    let bsums: &[[u8; 16]; 2] = bytemuck::cast_ref(&y.bsums);
    let scales = load(bytemuck::cast_ref(&x.scales));
    let (s_lo, s_hi) = (
        i16x8_extend_low_i8x16(scales),
        i16x8_extend_high_i8x16(scales),
    );
    let corr_lo = i32x4_shl(i32x4_dot_i16x8(load(&bsums[0]), s_lo), 5);
    let corr_hi = i32x4_shl(i32x4_dot_i16x8(load(&bsums[1]), s_hi), 5);
    [i32x4_sub(lanes[0], corr_lo), i32x4_sub(lanes[1], corr_hi)]
}

/// `k_quants::vec_dot_q6_k_q8_k::<false>`.
pub(super) fn q6_k_q8_k(x: &[BlockQ6K], y: &[ActQ8K]) -> f32 {
    let mut acc = Acc8::new();
    for (x, y) in x.iter().zip(y) {
        acc.fma(f16_le(x.d) * y.d, q6_k_lanes(x, y));
    }
    acc.hsum()
}

/// `batched::tiled_q6_k_q8_k::<false>`.
pub(super) fn tiled_q6_k_q8_k(x: &[BlockQ6K], y: &[ActQ8K]) -> f32 {
    let mut acc = 0.0f32;
    for (x, y) in x.iter().zip(y) {
        let [lo, hi] = q6_k_lanes(x, y);
        let total = hsum_i32(i32x4_add(lo, hi));
        acc = fma1(total as f32 * f16_le(x.d), y.d, acc);
    }
    acc
}
