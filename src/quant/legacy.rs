//! ggml's original 32-value formats: Q4_0, Q4_1, Q5_0, Q5_1 and Q8_0.
//!
//! Each block stores one f16 scale `d` (and, for the `_1` kinds, an f16
//! offset `m`) and 32 small integers. 4-bit kinds pack value `j` in the low
//! nibble of `qs[j]` and value `j + 16` in its high nibble; 5-bit kinds add
//! the fifth bit of value `i` as bit `i` of the little-endian u32 `qh`.

use bytemuck::{Pod, Zeroable};

use super::activations::{ActQ8_0, ActQ8_1};
use super::block::{Block, f16_le};
use super::dot::{Acc8, fma, lanes8};

/// Values per block of every format in this file (ggml's `QK4_0` etc.).
pub(crate) const QK: usize = 32;

/// Q4_0: `y = (q - 8) * d`, q in 0..16.
#[derive(Clone, Copy, Pod, Zeroable)]
#[repr(C)]
pub(crate) struct BlockQ4_0 {
    pub(super) d: [u8; 2],
    pub(super) qs: [u8; QK / 2],
}

/// Q4_1: `y = q * d + m`, q in 0..16.
#[derive(Clone, Copy, Pod, Zeroable)]
#[repr(C)]
pub(crate) struct BlockQ4_1 {
    pub(super) d: [u8; 2],
    pub(super) m: [u8; 2],
    pub(super) qs: [u8; QK / 2],
}

/// Q5_0: `y = (q - 16) * d`, q in 0..32.
#[derive(Clone, Copy, Pod, Zeroable)]
#[repr(C)]
pub(crate) struct BlockQ5_0 {
    pub(super) d: [u8; 2],
    pub(super) qh: [u8; 4],
    pub(super) qs: [u8; QK / 2],
}

/// Q5_1: `y = q * d + m`, q in 0..32.
#[derive(Clone, Copy, Pod, Zeroable)]
#[repr(C)]
pub(crate) struct BlockQ5_1 {
    pub(super) d: [u8; 2],
    pub(super) m: [u8; 2],
    pub(super) qh: [u8; 4],
    pub(super) qs: [u8; QK / 2],
}

/// Q8_0: `y = q * d`, q an i8.
#[derive(Clone, Copy, Pod, Zeroable)]
#[repr(C)]
pub(crate) struct BlockQ8_0 {
    pub(super) d: [u8; 2],
    pub(super) qs: [i8; QK],
}

// Sizes match ggml's `sizeof(block_q*)`; alignment 1 allows in-place views.
const _: () = assert!(size_of::<BlockQ4_0>() == 18 && align_of::<BlockQ4_0>() == 1);
const _: () = assert!(size_of::<BlockQ4_1>() == 20 && align_of::<BlockQ4_1>() == 1);
const _: () = assert!(size_of::<BlockQ5_0>() == 22 && align_of::<BlockQ5_0>() == 1);
const _: () = assert!(size_of::<BlockQ5_1>() == 24 && align_of::<BlockQ5_1>() == 1);
const _: () = assert!(size_of::<BlockQ8_0>() == 34 && align_of::<BlockQ8_0>() == 1);

/// The 5-bit codes of a Q5 block, unsigned (0..32), in value order. Value `j`
/// takes bit `j` of `qh` and value `j + 16` bit `j + 16`, written as ggml does.
#[inline]
fn q5_codes(qh: [u8; 4], qs: &[u8; QK / 2]) -> [u8; QK] {
    let qh = u32::from_le_bytes(qh);
    let mut q = [0u8; QK];
    let (lo, hi) = q.split_at_mut(QK / 2);
    for (j, ((&b, lo), hi)) in qs.iter().zip(lo).zip(hi).enumerate() {
        let xh0 = ((qh >> j) << 4) & 0x10;
        let xh1 = (qh >> (j + 12)) & 0x10;
        // Each is at most 0x10, so the `as u8` casts are exact.
        *lo = (b & 0x0F) | xh0 as u8;
        *hi = (b >> 4) | xh1 as u8;
    }
    q
}

impl Block<QK> for BlockQ4_0 {
    fn dequantize(&self, y: &mut [f32; QK]) {
        let d = f16_le(self.d);
        let (lo, hi) = y.split_at_mut(QK / 2);
        for ((&b, lo), hi) in self.qs.iter().zip(lo).zip(hi) {
            *lo = (i32::from(b & 0x0F) - 8) as f32 * d;
            *hi = (i32::from(b >> 4) - 8) as f32 * d;
        }
    }
}

impl Block<QK> for BlockQ4_1 {
    fn dequantize(&self, y: &mut [f32; QK]) {
        let d = f16_le(self.d);
        let m = f16_le(self.m);
        let (lo, hi) = y.split_at_mut(QK / 2);
        for ((&b, lo), hi) in self.qs.iter().zip(lo).zip(hi) {
            *lo = f32::from(b & 0x0F) * d + m;
            *hi = f32::from(b >> 4) * d + m;
        }
    }
}

impl Block<QK> for BlockQ5_0 {
    fn dequantize(&self, y: &mut [f32; QK]) {
        let d = f16_le(self.d);
        for (y, &q) in y.iter_mut().zip(&q5_codes(self.qh, &self.qs)) {
            *y = (i32::from(q) - 16) as f32 * d;
        }
    }
}

impl Block<QK> for BlockQ5_1 {
    fn dequantize(&self, y: &mut [f32; QK]) {
        let d = f16_le(self.d);
        let m = f16_le(self.m);
        for (y, &q) in y.iter_mut().zip(&q5_codes(self.qh, &self.qs)) {
            *y = f32::from(q) * d + m;
        }
    }
}

impl Block<QK> for BlockQ8_0 {
    fn dequantize(&self, y: &mut [f32; QK]) {
        let d = f16_le(self.d);
        for (y, &q) in y.iter_mut().zip(&self.qs) {
            *y = f32::from(q) * d;
        }
    }
}

/// The codes of a 4-bit block (`nibble - offset`), in value order.
#[inline(always)]
fn q4_codes(qs: &[u8; QK / 2], offset: i8) -> [i8; QK] {
    let mut q = [0i8; QK];
    let (lo, hi) = q.split_at_mut(QK / 2);
    for ((&b, lo), hi) in qs.iter().zip(lo).zip(hi) {
        // Nibbles are below 16, so the casts are exact.
        *lo = (b & 0x0F) as i8 - offset;
        *hi = (b >> 4) as i8 - offset;
    }
    q
}

/// The codes of a 5-bit block minus `offset`, in value order.
#[inline(always)]
fn q5_signed(qh: [u8; 4], qs: &[u8; QK / 2], offset: i8) -> [i8; QK] {
    // Codes are below 32, so the casts are exact.
    q5_codes(qh, qs).map(|q| q as i8 - offset)
}

// Dot products with quantised activations, computed exactly as the AVX2
// `ggml_vec_dot_*` of an x86 (AVX2/AVX-512, FMA) build of ggml: per block,
// eight exact integer lane sums (values 4l..4l+4 in lane l, as `maddubs` +
// `madd` or VNNI's `dpbusd` leave them) are converted to f32 and
// fused-multiply-added into eight f32 accumulators with `d_x * d_y`, which
// are summed as `hsum_float_8` does at the end; the `_1` kinds also
// accumulate `m_x * s_y` in a scalar fused multiply-add. With `FUSED` false
// (targets without FMA) the fused multiply-adds are emulated through f64.

/// ggml's `ggml_vec_dot_q4_0_q8_0`.
#[inline(always)]
pub(crate) fn vec_dot_q4_0_q8_0<const FUSED: bool>(x: &[BlockQ4_0], y: &[ActQ8_0]) -> f32 {
    let mut acc = Acc8::new();
    for (x, y) in x.iter().zip(y) {
        acc.fma::<FUSED>(f16_le(x.d) * y.d, lanes8(&q4_codes(&x.qs, 8), &y.qs));
    }
    acc.hsum()
}

/// ggml's `ggml_vec_dot_q4_1_q8_1`.
#[inline(always)]
pub(crate) fn vec_dot_q4_1_q8_1<const FUSED: bool>(x: &[BlockQ4_1], y: &[ActQ8_1]) -> f32 {
    let mut acc = Acc8::new();
    let mut summs = 0.0f32;
    for (x, y) in x.iter().zip(y) {
        summs = fma::<FUSED>(f16_le(x.m), y.s, summs);
        acc.fma::<FUSED>(f16_le(x.d) * y.d, lanes8(&q4_codes(&x.qs, 0), &y.qs));
    }
    acc.hsum() + summs
}

/// ggml's `ggml_vec_dot_q5_0_q8_0`.
#[inline(always)]
pub(crate) fn vec_dot_q5_0_q8_0<const FUSED: bool>(x: &[BlockQ5_0], y: &[ActQ8_0]) -> f32 {
    let mut acc = Acc8::new();
    for (x, y) in x.iter().zip(y) {
        acc.fma::<FUSED>(
            f16_le(x.d) * y.d,
            lanes8(&q5_signed(x.qh, &x.qs, 16), &y.qs),
        );
    }
    acc.hsum()
}

/// ggml's `ggml_vec_dot_q5_1_q8_1`.
#[inline(always)]
pub(crate) fn vec_dot_q5_1_q8_1<const FUSED: bool>(x: &[BlockQ5_1], y: &[ActQ8_1]) -> f32 {
    let mut acc = Acc8::new();
    let mut summs = 0.0f32;
    for (x, y) in x.iter().zip(y) {
        summs = fma::<FUSED>(f16_le(x.m), y.s, summs);
        acc.fma::<FUSED>(f16_le(x.d) * y.d, lanes8(&q5_signed(x.qh, &x.qs, 0), &y.qs));
    }
    acc.hsum() + summs
}

/// ggml's `ggml_vec_dot_q8_0_q8_0`.
#[inline(always)]
pub(crate) fn vec_dot_q8_0_q8_0<const FUSED: bool>(x: &[BlockQ8_0], y: &[ActQ8_0]) -> f32 {
    let mut acc = Acc8::new();
    for (x, y) in x.iter().zip(y) {
        acc.fma::<FUSED>(f16_le(x.d) * y.d, lanes8(&x.qs, &y.qs));
    }
    acc.hsum()
}

#[cfg(test)]
mod tests {
    use super::*;

    // f16 bit patterns, little-endian.
    const HALF: [u8; 2] = [0x00, 0x38]; // 0.5
    const QUARTER: [u8; 2] = [0x00, 0x34]; // 0.25
    const MINUS_ONE: [u8; 2] = [0x00, 0xBC]; // -1.0
    const ONE: [u8; 2] = [0x00, 0x3C]; // 1.0

    fn dequant<B: Block<QK>>(block: B) -> [f32; QK] {
        let mut y = [f32::NAN; QK];
        block.dequantize(&mut y);
        y
    }

    /// Low nibble `j`, high nibble `15 - j`: value j = j, value j+16 = 15-j.
    fn ramp() -> [u8; 16] {
        std::array::from_fn(|j| j as u8 | ((15 - j as u8) << 4))
    }

    #[test]
    fn q4_0_known_values() {
        let y = dequant(BlockQ4_0 {
            d: HALF,
            qs: ramp(),
        });
        assert_eq!((y[0], y[1], y[15]), (-4.0, -3.5, 3.5));
        assert_eq!((y[16], y[17], y[31]), (3.5, 3.0, -4.0));
        for j in 0..16 {
            assert_eq!(y[j], (j as f32 - 8.0) * 0.5);
            assert_eq!(y[j + 16], (7.0 - j as f32) * 0.5);
        }
    }

    #[test]
    fn q4_1_known_values() {
        let y = dequant(BlockQ4_1 {
            d: QUARTER,
            m: MINUS_ONE,
            qs: ramp(),
        });
        assert_eq!((y[0], y[15], y[16], y[31]), (-1.0, 2.75, 2.75, -1.0));
        for j in 0..16 {
            assert_eq!(y[j], j as f32 * 0.25 - 1.0);
            assert_eq!(y[j + 16], (15 - j) as f32 * 0.25 - 1.0);
        }
    }

    /// High bits for values 0, 5, 16 and 31: both halves, both ends.
    const QH_BITS: u32 = (1 << 0) | (1 << 5) | (1 << 16) | (1 << 31);

    /// The 5-bit code of value `i` for a block of `ramp()` nibbles and `QH_BITS`.
    fn q5_expected_code(i: usize) -> u32 {
        let nibble = if i < 16 { i } else { 31 - i } as u32;
        nibble + if (QH_BITS >> i) & 1 == 1 { 16 } else { 0 }
    }

    #[test]
    fn q5_0_known_values() {
        let qh = QH_BITS.to_le_bytes();
        let y = dequant(BlockQ5_0 {
            d: HALF,
            qh,
            qs: ramp(),
        });
        // value 0: nibble 0 + 16 → 0; value 1: nibble 1 → -15 × 0.5.
        assert_eq!((y[0], y[1], y[5], y[16], y[31]), (0.0, -7.5, 2.5, 7.5, 0.0));
        for (i, &v) in y.iter().enumerate() {
            assert_eq!(v, (q5_expected_code(i) as f32 - 16.0) * 0.5, "value {i}");
        }
    }

    #[test]
    fn q5_1_known_values() {
        let qh = QH_BITS.to_le_bytes();
        let y = dequant(BlockQ5_1 {
            d: ONE,
            m: MINUS_ONE,
            qh,
            qs: ramp(),
        });
        assert_eq!(
            (y[0], y[1], y[16], y[17], y[31]),
            (15.0, 0.0, 30.0, 13.0, 15.0)
        );
        for (i, &v) in y.iter().enumerate() {
            assert_eq!(v, q5_expected_code(i) as f32 - 1.0, "value {i}");
        }
    }

    #[test]
    fn q8_0_known_values() {
        let mut qs: [i8; QK] = std::array::from_fn(|j| j as i8 - 16);
        qs[0] = i8::MIN;
        qs[31] = i8::MAX;
        let y = dequant(BlockQ8_0 { d: HALF, qs });
        assert_eq!((y[0], y[1], y[16], y[31]), (-64.0, -7.5, 0.0, 63.5));
        for (j, &v) in y.iter().enumerate().take(31).skip(1) {
            assert_eq!(v, (j as f32 - 16.0) * 0.5);
        }
    }
}
