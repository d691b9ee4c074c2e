//! ggml's "k-quants" with 256-value super-blocks: Q4_K, Q5_K and Q6_K.
//!
//! Q4_K and Q5_K split a super-block into 8 sub-blocks of 32 values, each
//! with a 6-bit scale and a 6-bit min packed into 12 bytes (see
//! [`scale_min_k4`]); value = `d * scale * q - dmin * min`. Q6_K splits it
//! into 16 groups of 16 values with a signed 8-bit scale each; value =
//! `d * scale * (q - 32)`.
//!
//! Quantised nibbles are laid out in chunks of 64 values: in chunk `c`, byte
//! `qs[32c + l]` holds value `64c + l` in its low nibble and `64c + 32 + l`
//! in its high one.

use bytemuck::{Pod, Zeroable};

use super::activations::ActQ8K;
use super::block::{Block, f16_le};
use super::dot::{Acc8, fma, idot, lanes8};

/// Values per super-block (ggml's `QK_K`).
pub(crate) const QK_K: usize = 256;
/// Bytes of packed 6-bit scales and mins in Q4_K and Q5_K (`K_SCALE_SIZE`).
const K_SCALE_SIZE: usize = 12;

/// Q4_K: 4-bit codes, 8 sub-blocks with 6-bit scale and min.
#[derive(Clone, Copy, Pod, Zeroable)]
#[repr(C)]
pub(crate) struct BlockQ4K {
    pub(super) d: [u8; 2],
    pub(super) dmin: [u8; 2],
    pub(super) scales: [u8; K_SCALE_SIZE],
    pub(super) qs: [u8; QK_K / 2],
}

/// Q5_K: Q4_K plus one high bit per value in `qh`.
#[derive(Clone, Copy, Pod, Zeroable)]
#[repr(C)]
pub(crate) struct BlockQ5K {
    pub(super) d: [u8; 2],
    pub(super) dmin: [u8; 2],
    pub(super) scales: [u8; K_SCALE_SIZE],
    pub(super) qh: [u8; QK_K / 8],
    pub(super) qs: [u8; QK_K / 2],
}

/// Q6_K: 4 low bits in `ql`, 2 high bits in `qh`, 16 signed scales, and the
/// f16 super-scale `d` last.
#[derive(Clone, Copy, Pod, Zeroable)]
#[repr(C)]
pub(crate) struct BlockQ6K {
    pub(super) ql: [u8; QK_K / 2],
    pub(super) qh: [u8; QK_K / 4],
    pub(super) scales: [i8; QK_K / 16],
    pub(super) d: [u8; 2],
}

const _: () = assert!(size_of::<BlockQ4K>() == 144 && align_of::<BlockQ4K>() == 1);
const _: () = assert!(size_of::<BlockQ5K>() == 176 && align_of::<BlockQ5K>() == 1);
const _: () = assert!(size_of::<BlockQ6K>() == 210 && align_of::<BlockQ6K>() == 1);

/// Unpacks the 8 (scale, min) pairs of a Q4_K/Q5_K super-block, as ggml's
/// `get_scale_min_k4(j, q)` for j in 0..8.
///
/// Sub-blocks 0..4 keep their 6 bits in the low bits of `q[j]` (scale) and
/// `q[j + 4]` (min). Sub-blocks 4..8 keep their low 4 bits in the nibbles of
/// `q[j + 4]` and their top 2 bits in the spare top bits of `q[j - 4]`
/// (scale) and `q[j]` (min).
pub(crate) fn scale_min_k4(q: &[u8; K_SCALE_SIZE]) -> [(u8, u8); 8] {
    std::array::from_fn(|j| {
        if j < 4 {
            (q[j] & 63, q[j + 4] & 63)
        } else {
            (
                (q[j + 4] & 0x0F) | ((q[j - 4] >> 6) << 4),
                (q[j + 4] >> 4) | ((q[j] >> 6) << 4),
            )
        }
    })
}

/// Per-sub-block multipliers `(d * scale, dmin * min)` in f32, as ggml forms
/// them before the inner loop.
#[inline]
fn sub_block_factors(d: [u8; 2], dmin: [u8; 2], scales: &[u8; K_SCALE_SIZE]) -> [(f32, f32); 8] {
    let (d, dmin) = (f16_le(d), f16_le(dmin));
    scale_min_k4(scales).map(|(sc, m)| (d * f32::from(sc), dmin * f32::from(m)))
}

impl Block<QK_K> for BlockQ4K {
    fn dequantize(&self, y: &mut [f32; QK_K]) {
        let factors = sub_block_factors(self.d, self.dmin, &self.scales);
        let chunks = y.chunks_exact_mut(64).zip(self.qs.chunks_exact(32));
        for ((y, qs), f) in chunks.zip(factors.chunks_exact(2)) {
            let ((d1, m1), (d2, m2)) = (f[0], f[1]);
            let (lo, hi) = y.split_at_mut(32);
            for ((&b, lo), hi) in qs.iter().zip(lo).zip(hi) {
                *lo = d1 * f32::from(b & 0x0F) - m1;
                *hi = d2 * f32::from(b >> 4) - m2;
            }
        }
    }
}

impl Block<QK_K> for BlockQ5K {
    fn dequantize(&self, y: &mut [f32; QK_K]) {
        let factors = sub_block_factors(self.d, self.dmin, &self.scales);
        let chunks = y.chunks_exact_mut(64).zip(self.qs.chunks_exact(32));
        for (c, ((y, qs), f)) in chunks.zip(factors.chunks_exact(2)).enumerate() {
            let ((d1, m1), (d2, m2)) = (f[0], f[1]);
            // Chunk c takes its fifth bits from bits 2c and 2c + 1 of qh[l].
            let (u1, u2) = (1u8 << (2 * c), 2u8 << (2 * c));
            let (lo, hi) = y.split_at_mut(32);
            for (((&b, &h), lo), hi) in qs.iter().zip(&self.qh).zip(lo).zip(hi) {
                let h1 = if h & u1 != 0 { 16 } else { 0 };
                let h2 = if h & u2 != 0 { 16 } else { 0 };
                *lo = d1 * f32::from((b & 0x0F) + h1) - m1;
                *hi = d2 * f32::from((b >> 4) + h2) - m2;
            }
        }
    }
}

impl Block<QK_K> for BlockQ6K {
    fn dequantize(&self, y: &mut [f32; QK_K]) {
        let d = f16_le(self.d);
        // Two halves of 128 values, each with 64 bytes of ql, 32 of qh and 8
        // scales. In a half, value 32k + l (k in 0..4) takes its low bits
        // from nibble k / 2 of ql[l + 32 (k % 2)] and its high bits from bits
        // 2k..2k+2 of qh[l]; its scale is scales[l / 16 + 2k].
        let halves = y.chunks_exact_mut(128).zip(self.ql.chunks_exact(64));
        let halves = halves.zip(self.qh.chunks_exact(32).zip(self.scales.chunks_exact(8)));
        for ((y, ql), (qh, sc)) in halves {
            for l in 0..32 {
                let is = l / 16;
                let (a, b, h) = (ql[l], ql[l + 32], qh[l]);
                let q1 = i32::from((a & 0x0F) | ((h & 3) << 4)) - 32;
                let q2 = i32::from((b & 0x0F) | (((h >> 2) & 3) << 4)) - 32;
                let q3 = i32::from((a >> 4) | (((h >> 4) & 3) << 4)) - 32;
                let q4 = i32::from((b >> 4) | ((h >> 6) << 4)) - 32;
                y[l] = d * f32::from(sc[is]) * q1 as f32;
                y[l + 32] = d * f32::from(sc[is + 2]) * q2 as f32;
                y[l + 64] = d * f32::from(sc[is + 4]) * q3 as f32;
                y[l + 96] = d * f32::from(sc[is + 6]) * q4 as f32;
            }
        }
    }
}

// Dot products with Q8_K activations, computed exactly as an x86
// (AVX2/AVX-512, FMA) build of ggml does.

/// Σ_j min_j · (sum of the 32 activation codes of sub-block j), from bsums.
#[inline(always)]
pub(super) fn mins_dot(sm: &[(u8, u8); 8], bsums: &[i16; QK_K / 16]) -> i32 {
    let mut sum = 0i32;
    for (&(_, m), pair) in sm.iter().zip(bsums.chunks_exact(2)) {
        sum += i32::from(m) * (i32::from(pair[0]) + i32::from(pair[1]));
    }
    sum
}

/// The 8 sub-blocks of 32 codes (0..16) of a Q4_K super-block, in value order.
#[inline(always)]
pub(super) fn q4_k_codes(qs: &[u8; QK_K / 2]) -> [[i8; 32]; 8] {
    let mut q = [[0i8; 32]; 8];
    for (c, qs) in qs.chunks_exact(32).enumerate() {
        for (l, &b) in qs.iter().enumerate() {
            q[2 * c][l] = (b & 0x0F) as i8;
            q[2 * c + 1][l] = (b >> 4) as i8;
        }
    }
    q
}

/// Q4_K weights against Q8_K activations as ggml's CPU backend computes
/// them on x86. llama.cpp repacks every Q4_K matrix whose row count is a
/// multiple of 8 (all of them in practice) and runs
/// `ggml_gemv_q4_K_8x8_q8_K`/`ggml_gemm_q4_K_8x8_q8_K`, which per weight row
/// fuse-multiply-add, super-block by super-block, the exact integer sums
/// `Σ_j scale_j Σ q·q8` with `f16(d) * y.d` and `Σ_j min_j Σ q8` with
/// `f16(dmin) * y.d` into two scalars, and subtract them at the end.
#[inline(always)]
pub(crate) fn vec_dot_q4_k_q8_k<const FUSED: bool>(x: &[BlockQ4K], y: &[ActQ8K]) -> f32 {
    let (mut acc, mut acc_m) = (0.0f32, 0.0f32);
    for (x, y) in x.iter().zip(y) {
        let sm = scale_min_k4(&x.scales);
        let q = q4_k_codes(&x.qs);
        let mut sumi = 0i32;
        for (j, q) in q.iter().enumerate() {
            sumi += i32::from(sm[j].0) * idot(q, &y.qs[32 * j..]);
        }
        acc = fma::<FUSED>(sumi as f32, f16_le(x.d) * y.d, acc);
        acc_m = fma::<FUSED>(mins_dot(&sm, &y.bsums) as f32, f16_le(x.dmin) * y.d, acc_m);
    }
    acc - acc_m
}

/// ggml's `ggml_vec_dot_q5_K_q8_K`, up to the order of its float operations
/// (no test model has Q5_K weights to check it against): per super-block
/// `d * Σ_j scale_j Σ q·q8 - dmin * Σ_j min_j Σ q8`.
#[inline(always)]
pub(crate) fn vec_dot_q5_k_q8_k<const FUSED: bool>(x: &[BlockQ5K], y: &[ActQ8K]) -> f32 {
    let (mut acc, mut acc_m) = (0.0f32, 0.0f32);
    for (x, y) in x.iter().zip(y) {
        let sm = scale_min_k4(&x.scales);
        let mut sumi = 0i32;
        for (c, qs) in x.qs.chunks_exact(32).enumerate() {
            let mut lo = [0i8; 32];
            let mut hi = [0i8; 32];
            let (s1, s2) = (2 * c, 2 * c + 1);
            for (((&b, &h), lo), hi) in qs.iter().zip(&x.qh).zip(&mut lo).zip(&mut hi) {
                *lo = ((b & 0x0F) | (((h >> s1) & 1) << 4)) as i8;
                *hi = ((b >> 4) | (((h >> s2) & 1) << 4)) as i8;
            }
            let q8 = &y.qs[64 * c..];
            sumi += i32::from(sm[s1].0) * idot(&lo, q8);
            sumi += i32::from(sm[s2].0) * idot(&hi, &q8[32..]);
        }
        acc = fma::<FUSED>(y.d * f16_le(x.d), sumi as f32, acc);
        acc_m = fma::<FUSED>(-y.d * f16_le(x.dmin), mins_dot(&sm, &y.bsums) as f32, acc_m);
    }
    acc + acc_m
}

/// ggml's AVX2 `ggml_vec_dot_q6_K_q8_K`, exactly: the unsigned 6-bit codes
/// times the activations in eight integer lanes (lane l takes values 4l..4l+4
/// of every 32, times the scale of their 16), minus `32 · (sc[2l] ·
/// bsums[2l] + sc[2l+1] · bsums[2l+1])`, then one fused multiply-add per
/// lane with `f16(d) * y.d` per super-block and `hsum_float_8` at the end.
#[inline(always)]
pub(crate) fn vec_dot_q6_k_q8_k<const FUSED: bool>(x: &[BlockQ6K], y: &[ActQ8K]) -> f32 {
    let mut acc = Acc8::new();
    for (x, y) in x.iter().zip(y) {
        acc.fma::<FUSED>(f16_le(x.d) * y.d, q6_k_lanes(x, y));
    }
    acc.hsum()
}

/// The eight exact integer lanes of [`vec_dot_q6_k_q8_k`] for one super-block
/// (their sum is the super-block's exact `Σ scale · (q - 32) · q8`).
#[inline(always)]
pub(crate) fn q6_k_lanes(x: &BlockQ6K, y: &ActQ8K) -> [i32; 8] {
    let mut lanes = [0i32; 8];
    // Layout as in `dequantize`: half h, group k of 32 values.
    let halves =
        x.ql.chunks_exact(64)
            .zip(x.qh.chunks_exact(32))
            .zip(x.scales.chunks_exact(8));
    for (h, ((ql, qh), sc)) in halves.enumerate() {
        let mut q = [[0i8; 32]; 4];
        for l in 0..32 {
            let (a, b, hb) = (ql[l], ql[l + 32], qh[l]);
            // Unsigned 6-bit codes: below 64, so the casts are exact.
            q[0][l] = ((a & 0x0F) | ((hb & 3) << 4)) as i8;
            q[1][l] = ((b & 0x0F) | (((hb >> 2) & 3) << 4)) as i8;
            q[2][l] = ((a >> 4) | (((hb >> 4) & 3) << 4)) as i8;
            q[3][l] = ((b >> 4) | ((hb >> 6) << 4)) as i8;
        }
        for (k, q) in q.iter().enumerate() {
            let p = lanes8(q, &y.qs[128 * h + 32 * k..]);
            let (lo, hi) = (i32::from(sc[2 * k]), i32::from(sc[2 * k + 1]));
            for (l, (lane, &p)) in lanes.iter_mut().zip(&p).enumerate() {
                *lane += if l < 4 { lo } else { hi } * p;
            }
        }
    }
    for (l, lane) in lanes.iter_mut().enumerate() {
        let (s0, s1) = (i32::from(x.scales[2 * l]), i32::from(x.scales[2 * l + 1]));
        *lane -= 32 * (s0 * i32::from(y.bsums[2 * l]) + s1 * i32::from(y.bsums[2 * l + 1]));
    }
    lanes
}

#[cfg(test)]
mod tests {
    use super::*;

    const HALF: [u8; 2] = [0x00, 0x38]; // f16 0.5
    const QUARTER: [u8; 2] = [0x00, 0x34]; // f16 0.25

    // Sub-block scales and mins, chosen so sub-blocks 4..8 need their top 2 bits.
    const SC: [u8; 8] = [1, 63, 17, 32, 48, 5, 60, 33];
    const MN: [u8; 8] = [0, 2, 63, 40, 21, 62, 7, 16];

    /// ggml's packing of 6-bit scales and mins (the inverse of `scale_min_k4`).
    fn pack_scales(sc: [u8; 8], m: [u8; 8]) -> [u8; K_SCALE_SIZE] {
        let mut q = [0u8; K_SCALE_SIZE];
        for j in 0..4 {
            q[j] = sc[j] | ((sc[j + 4] >> 4) << 6);
            q[j + 4] = m[j] | ((m[j + 4] >> 4) << 6);
            q[j + 8] = (sc[j + 4] & 0x0F) | ((m[j + 4] & 0x0F) << 4);
        }
        q
    }

    fn dequant<B: Block<QK_K>>(block: B) -> [f32; QK_K] {
        let mut y = [f32::NAN; QK_K];
        block.dequantize(&mut y);
        y
    }

    /// The 4-bit code of value `i` in a Q4_K/Q5_K `qs`, from the layout.
    fn nibble(qs: &[u8; QK_K / 2], i: usize) -> u8 {
        let (c, r) = (i / 64, i % 64);
        let byte = qs[32 * c + r % 32];
        if r < 32 { byte & 0x0F } else { byte >> 4 }
    }

    #[test]
    fn scale_min_unpacking_both_branches() {
        let q = [
            0xC1, 0x02, 0x03, 0x04, 0x45, 0x06, 0x07, 0x88, 0x9A, 0x0B, 0x0C, 0xFD,
        ];
        let sm = scale_min_k4(&q);
        assert_eq!(sm[0], (1, 5)); // 0xC1 & 63, 0x45 & 63
        assert_eq!(sm[3], (4, 8)); // 0x04, 0x88 & 63
        assert_eq!(sm[4], (0x3A, 25)); // 0xA | (3 << 4), 9 | (1 << 4)
        assert_eq!(sm[7], (13, 47)); // 0xD | (0 << 4), 0xF | (2 << 4)
        let unpacked = scale_min_k4(&pack_scales(SC, MN));
        assert_eq!(unpacked, std::array::from_fn(|j| (SC[j], MN[j])));
    }

    #[test]
    fn q4_k_known_values() {
        let qs: [u8; 128] = std::array::from_fn(|k| k as u8);
        let scales = pack_scales(SC, MN);
        let y = dequant(BlockQ4K {
            d: HALF,
            dmin: QUARTER,
            scales,
            qs,
        });
        assert_eq!((y[0], y[31], y[32], y[63]), (0.0, 7.5, -0.5, 31.0));
        assert_eq!(
            (y[64], y[130], y[200], y[255]),
            (-15.75, 42.75, 238.25, 111.5)
        );
        for i in 0..QK_K {
            let (sc, m) = (f32::from(SC[i / 32]), f32::from(MN[i / 32]));
            let expected = 0.5 * sc * f32::from(nibble(&qs, i)) - 0.25 * m;
            assert_eq!(y[i], expected, "value {i}");
        }
    }

    #[test]
    fn q5_k_known_values() {
        let qs: [u8; 128] = std::array::from_fn(|k| k as u8);
        let scales = pack_scales(SC, MN);
        let mut qh = [0u8; 32];
        qh[0] = 0x81; // values 0 and 224 (chunk 3, high half)
        qh[31] = 0x40; // value 223 (chunk 3, low half, l = 31)
        let y = dequant(BlockQ5K {
            d: HALF,
            dmin: QUARTER,
            scales,
            qh,
            qs,
        });
        assert_eq!((y[0], y[32], y[223], y[224]), (8.0, -0.5, 928.25, 359.0));
        // Every qh bit pattern: value 64c + 32h + l takes bit 2c + h of qh[l].
        let qh: [u8; 32] = std::array::from_fn(|l| (l as u8).wrapping_mul(37) ^ 0x5A);
        let y = dequant(BlockQ5K {
            d: HALF,
            dmin: QUARTER,
            scales,
            qh,
            qs,
        });
        for i in 0..QK_K {
            let (c, h, l) = (i / 64, (i % 64) / 32, i % 32);
            let high = (qh[l] >> (2 * c + h)) & 1;
            let q = f32::from(nibble(&qs, i) + 16 * high);
            let (sc, m) = (f32::from(SC[i / 32]), f32::from(MN[i / 32]));
            assert_eq!(y[i], 0.5 * sc * q - 0.25 * m, "value {i}");
        }
    }

    const SC6: [i8; 16] = [
        1, -1, 2, -2, 127, -128, 3, -3, 5, -5, 7, -7, 11, -11, 13, -13,
    ];

    #[test]
    fn q6_k_known_values() {
        let ql: [u8; 128] = std::array::from_fn(|k| k as u8);
        let mut qh = [0u8; 64];
        qh[0] = 0b11_10_01_00; // high bits 0, 1, 2, 3 for values 0, 32, 64, 96
        let y = dequant(BlockQ6K {
            ql,
            qh,
            scales: SC6,
            d: QUARTER,
        });
        assert_eq!((y[0], y[16], y[32], y[64]), (-8.0, 8.0, -8.0, 0.0));
        assert_eq!((y[80], y[96], y[128], y[255]), (992.0, 13.5, -40.0, 81.25));
        // Full layout: value 128h + 32k + l has low bits in nibble k / 2 of
        // ql[64h + 32(k % 2) + l], high bits 2k..2k+2 of qh[32h + l], scale i / 16.
        let qh: [u8; 64] = std::array::from_fn(|l| (l as u8).wrapping_mul(37).wrapping_add(11));
        let y = dequant(BlockQ6K {
            ql,
            qh,
            scales: SC6,
            d: QUARTER,
        });
        for i in 0..QK_K {
            let (h, k, l) = (i / 128, (i % 128) / 32, i % 32);
            let byte = ql[64 * h + 32 * (k % 2) + l];
            let low = if k < 2 { byte & 0x0F } else { byte >> 4 };
            let high = (qh[32 * h + l] >> (2 * k)) & 3;
            let q = f32::from(low | (high << 4)) - 32.0;
            assert_eq!(y[i], 0.25 * f32::from(SC6[i / 16]) * q, "value {i}");
        }
    }
}
