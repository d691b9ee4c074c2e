//! Activation blocks quantised the way llama.cpp's CPU backend quantises
//! them before every mat-vec with quantised weights: the Q8_0, Q8_1 and Q8_K
//! block types and one quantiser for each. [`QuantizedRow`](super::QuantizedRow)
//! (`quantized_row.rs`) applies them to whole rows. The rounding of the
//! activations is what makes llama.cpp's CPU logits differ from an f32
//! reference, so to match llama.cpp we do the same.
//!
//! The quantisers follow the code an x86 AVX2/AVX-512 build of ggml runs
//! (ggml-cpu/arch/x86/quants.c), which differs from the scalar reference:
//!
//! - Q8_0: `amax = max|x|`, `d = amax / 127` stored as f16, and the values
//!   are `x * (127 / amax)` rounded half to even (`_mm256_round_ps`), where
//!   the scalar reference multiplies by `1 / d` and rounds half away from 0.
//! - Q8_1: as Q8_0, plus `s = f16(d * Σq)` with the f32 `d` and the integer
//!   sum of the quantised values.
//! - Q8_K: x86 uses the scalar reference `quantize_row_q8_K_ref`: the value
//!   of largest magnitude `max` (first one on ties, sign kept), `iscale =
//!   -127 / max`, `q = min(127, nearest_int(iscale * x))` (half to even),
//!   `d = 1 / iscale` in f32, and `bsums` the sums of each 16 values.
//!
//! (For batches, llama.cpp's repacked Q4_K path quantises groups of four
//! rows with `ggml_quantize_mat_q8_K_4x8`, which only differs when two
//! values of opposite sign share the largest magnitude.)
//!
//! Quantised blocks are kept decoded (scales as f32 holding the f16 value)
//! rather than in ggml's byte layout, which no one else reads.

use super::k_quants::QK_K;
use super::legacy::QK;

/// A Q8_0 activation block: `x ≈ d * q`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct ActQ8_0 {
    /// The f16 scale, widened to f32.
    pub(crate) d: f32,
    pub(crate) qs: [i8; QK],
}

/// A Q8_1 activation block: Q8_0 plus `s = f16(d * Σq)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct ActQ8_1 {
    pub(crate) d: f32,
    /// The f16 `d * Σq`, widened to f32.
    pub(crate) s: f32,
    pub(crate) qs: [i8; QK],
}

/// A Q8_K activation block: `x ≈ d * q` over 256 values, with the sums of
/// each 16 quantised values.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct ActQ8K {
    /// An f32 scale (not rounded to f16).
    pub(crate) d: f32,
    pub(crate) qs: [i8; QK_K],
    pub(crate) bsums: [i16; QK_K / 16],
}

/// ggml's `nearest_int`: round half to even through the f32 adder, exact for
/// `|v| <= 2^22` (activations times their inverse scale are at most ~127).
/// Also what `_mm256_round_ps(_MM_ROUND_NEAREST)` computes in that range.
#[inline(always)]
fn nearest_int(v: f32) -> i32 {
    let bits = (v + 12_582_912.0f32).to_bits();
    (bits & 0x007f_ffff) as i32 - 0x0040_0000
}

/// `max|x|`, as the AVX code's `_mm256_max_ps` over absolute values.
#[inline(always)]
fn abs_max(x: &[f32]) -> f32 {
    x.iter().fold(0.0f32, |m, v| {
        let a = v.abs();
        if a > m { a } else { m }
    })
}

/// Rounds `v` to f16 and back (`half` where the CPU converts; in wasm32
/// without its branches).
#[inline(always)]
pub(crate) fn round_f16(v: f32) -> f32 {
    #[cfg(target_arch = "wasm32")]
    return super::f16_bits::round_to_f16(v);
    #[cfg(not(target_arch = "wasm32"))]
    half::f16::from_f32(v).to_f32()
}

/// The integer codes `x * id` of one 32-value block, rounded half to even
/// and saturated to i8 (the AVX code's `packs`; the codes are within ±127
/// anyway).
#[inline(always)]
fn q8_codes(x: &[f32; QK], id: f32) -> [i8; QK] {
    let mut qs = [0i8; QK];
    for (q, &v) in qs.iter_mut().zip(x) {
        *q = nearest_int(v * id).clamp(-128, 127) as i8;
    }
    qs
}

/// `d` and `id` of a Q8_0/Q8_1 block as ggml's AVX quantiser forms them.
#[inline(always)]
fn q8_scales(x: &[f32; QK]) -> (f32, f32) {
    let amax = abs_max(x);
    let d = amax / 127.0;
    let id = if amax != 0.0 { 127.0 / amax } else { 0.0 };
    (d, id)
}

/// ggml's `quantize_row_q8_0` (x86 AVX path) for one block.
pub(crate) fn quantize_q8_0(x: &[f32; QK]) -> ActQ8_0 {
    let (d, id) = q8_scales(x);
    ActQ8_0 {
        d: round_f16(d),
        qs: q8_codes(x, id),
    }
}

/// ggml's `quantize_row_q8_1` (x86 AVX path) for one block.
pub(crate) fn quantize_q8_1(x: &[f32; QK]) -> ActQ8_1 {
    let (d, id) = q8_scales(x);
    let qs = q8_codes(x, id);
    let sum: i32 = qs.iter().map(|&q| i32::from(q)).sum();
    ActQ8_1 {
        d: round_f16(d),
        s: round_f16(d * sum as f32),
        qs,
    }
}

/// ggml's `quantize_row_q8_K_ref` (what x86 runs) for one block.
pub(crate) fn quantize_q8_k(x: &[f32; QK_K]) -> ActQ8K {
    let mut amax = 0.0f32;
    let mut max = 0.0f32;
    for &v in x {
        if v.abs() > amax {
            amax = v.abs();
            max = v;
        }
    }
    let mut block = ActQ8K {
        d: 0.0,
        qs: [0; QK_K],
        bsums: [0; QK_K / 16],
    };
    if amax == 0.0 {
        return block;
    }
    let iscale = -127.0 / max;
    for (q, &v) in block.qs.iter_mut().zip(x) {
        *q = nearest_int(iscale * v).min(127) as i8;
    }
    for (sum, qs) in block.bsums.iter_mut().zip(block.qs.chunks_exact(16)) {
        // 16 values of at most 128 in magnitude: fits i16.
        *sum = qs.iter().map(|&q| i16::from(q)).sum();
    }
    block.d = 1.0 / iscale;
    block
}

#[cfg(test)]
mod tests {
    use super::*;
    use half::f16;

    fn block32(f: impl Fn(usize) -> f32) -> [f32; QK] {
        std::array::from_fn(f)
    }

    #[test]
    fn nearest_int_rounds_half_to_even() {
        let cases = [
            (0.5, 0),
            (1.5, 2),
            (2.5, 2),
            (-0.5, 0),
            (-1.5, -2),
            (-2.5, -2),
            (126.5, 126),
            (0.49999997, 0),
            (3.7, 4),
            (-3.7, -4),
            (127.0, 127),
            (-127.0, -127),
        ];
        for (v, expected) in cases {
            assert_eq!(nearest_int(v), expected, "{v}");
            assert_eq!(v.round_ties_even() as i32, expected, "{v}");
        }
    }

    #[test]
    fn q8_0_known_values() {
        // amax 127: d = 1, id = 1, so the codes are the values rounded half
        // to even (the scalar reference's roundf would give 1, 3, -3).
        let x = block32(|i| match i {
            0 => 127.0,
            1 => 0.5,
            2 => 2.5,
            3 => -2.5,
            4 => -127.0,
            5 => 1.5,
            _ => i as f32 - 16.0,
        });
        let b = quantize_q8_0(&x);
        assert_eq!(b.d, 1.0);
        assert_eq!(&b.qs[..6], &[127, 0, 2, -2, -127, 2]);
        for i in 6..QK {
            assert_eq!(i32::from(b.qs[i]), i as i32 - 16);
        }
        // Scaled: amax 2 → d = 2/127 (stored as f16), id = 63.5.
        let x = block32(|i| if i == 7 { -2.0 } else { 0.01 * i as f32 });
        let b = quantize_q8_0(&x);
        assert_eq!(b.d, f16::from_f32(2.0 / 127.0).to_f32());
        assert_eq!(b.qs[7], -127);
        assert_eq!(b.qs[1], 1); // 0.635 → 1
        assert_eq!(b.qs[31], 20); // 19.685 → 20
        for (i, &q) in b.qs.iter().enumerate() {
            assert_eq!(i32::from(q), (x[i] * 63.5).round_ties_even() as i32);
        }
    }

    #[test]
    fn q8_0_uses_127_over_amax_not_one_over_d() {
        // 127 / amax and 1 / (amax / 127) differ in the last bit for some
        // amax; search for one where that flips a code, and check that we
        // take ggml's AVX choice.
        let mut found = false;
        for k in 1..20000 {
            let amax = 0.3 + k as f32 * 1.37e-4;
            let id_avx = 127.0 / amax;
            let id_ref = 1.0 / (amax / 127.0);
            if id_avx == id_ref {
                continue;
            }
            for j in 1..127 {
                // A value whose code lands right at a half under one id.
                let v = (j as f32 + 0.5) / id_avx;
                let (a, r) = (nearest_int(v * id_avx), nearest_int(v * id_ref));
                if a != r {
                    let x = block32(|i| match i {
                        0 => amax,
                        1 => v,
                        _ => 0.0,
                    });
                    assert_eq!(i32::from(quantize_q8_0(&x).qs[1]), a);
                    found = true;
                    break;
                }
            }
            if found {
                break;
            }
        }
        assert!(found, "no distinguishing case found");
    }

    #[test]
    fn zero_blocks_quantise_to_zero() {
        let b = quantize_q8_0(&[0.0; QK]);
        assert_eq!((b.d, b.qs), (0.0, [0; QK]));
        let b = quantize_q8_1(&[0.0; QK]);
        assert_eq!((b.d, b.s, b.qs), (0.0, 0.0, [0; QK]));
        let b = quantize_q8_k(&[0.0; QK_K]);
        assert_eq!((b.d, b.qs, b.bsums), (0.0, [0; QK_K], [0; 16]));
        let b = quantize_q8_0(&[-0.0; QK]);
        assert_eq!(b.qs, [0; QK]);
    }

    #[test]
    fn q8_1_sum_uses_f32_d() {
        let x = block32(|i| (i as f32 - 10.0) * 0.013);
        let b = quantize_q8_1(&x);
        let amax = 21.0 * 0.013f32;
        let d = amax / 127.0;
        assert_eq!(b.d, f16::from_f32(d).to_f32());
        assert_eq!(b.qs, quantize_q8_0(&x).qs);
        let sum: i32 = b.qs.iter().map(|&q| i32::from(q)).sum();
        assert_eq!(b.s, f16::from_f32(d * sum as f32).to_f32());
        assert!(sum != 0);
    }

    #[test]
    fn q8_k_known_values() {
        // Largest magnitude negative: iscale = -127 / -3.96875 = 32 exactly.
        let mut x = [0.0f32; QK_K];
        x[3] = -3.968_75;
        x[4] = 3.968_75; // same magnitude, later: the first one wins
        x[10] = 1.0;
        x[17] = -0.5 / 32.0; // -0.5 → half to even → 0
        x[18] = 1.5 / 32.0; // 1.5 → 2
        x[19] = 2.5 / 32.0; // 2.5 → 2
        x[255] = 2.0;
        let b = quantize_q8_k(&x);
        assert_eq!(b.d, 1.0 / 32.0);
        assert_eq!((b.qs[3], b.qs[4], b.qs[10]), (-127, 127, 32));
        assert_eq!((b.qs[17], b.qs[18], b.qs[19], b.qs[255]), (0, 2, 2, 64));
        assert_eq!((b.bsums[0], b.bsums[1], b.bsums[15]), (32, 4, 64));
        // Largest magnitude positive: the codes are negated.
        let x: [f32; QK_K] = std::array::from_fn(|i| if i == 100 { 8.0 } else { i as f32 / 64.0 });
        let b = quantize_q8_k(&x);
        assert_eq!(b.d, 1.0 / (-127.0 / 8.0));
        assert_eq!(b.qs[100], -127);
        assert_eq!(b.qs[64], nearest_int(-127.0 / 8.0 * 1.0) as i8);
        for g in 0..16 {
            let s: i16 = b.qs[16 * g..16 * (g + 1)]
                .iter()
                .map(|&q| i16::from(q))
                .sum();
            assert_eq!(b.bsums[g], s);
        }
    }
}
