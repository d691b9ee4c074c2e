//! Unquantised element types: F32, F16 and BF16, all little-endian.
//!
//! These are "blocks" of one element, so they skip the block driver. Rows
//! are decoded [`STEP`] elements at a time (from bytes that need not be
//! aligned) into a stack buffer; the dot product feeds that to a [`DotAcc`].

use half::slice::HalfFloatSliceExt;

use super::block::DotAcc;

/// Elements decoded per step.
const STEP: usize = 64;

/// An element encoding of `WIDTH` little-endian bytes.
pub(crate) trait FloatCodec {
    const WIDTH: usize;

    /// Decodes `out.len()` (at most [`STEP`]) elements from `bytes`, which
    /// holds exactly `WIDTH` bytes for each.
    fn decode_into(bytes: &[u8], out: &mut [f32]);
}

pub(crate) struct F32;
pub(crate) struct F16;
pub(crate) struct Bf16;

impl FloatCodec for F32 {
    const WIDTH: usize = 4;

    #[inline]
    fn decode_into(bytes: &[u8], out: &mut [f32]) {
        for (y, c) in out.iter_mut().zip(bytes.chunks_exact(4)) {
            *y = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        }
    }
}

impl FloatCodec for F16 {
    const WIDTH: usize = 2;

    /// Gathers the (possibly unaligned) halves into an aligned buffer, then
    /// converts them with `half`'s slice routine, which uses F16C/NEON where
    /// available instead of one conversion call per element.
    #[inline]
    fn decode_into(bytes: &[u8], out: &mut [f32]) {
        let mut halves = [half::f16::ZERO; STEP];
        for (h, c) in halves.iter_mut().zip(bytes.chunks_exact(2)) {
            *h = half::f16::from_bits(u16::from_le_bytes([c[0], c[1]]));
        }
        let n = out.len().min(STEP);
        halves[..n].convert_to_f32_slice(&mut out[..n]);
    }
}

impl FloatCodec for Bf16 {
    const WIDTH: usize = 2;

    #[inline]
    fn decode_into(bytes: &[u8], out: &mut [f32]) {
        for (y, c) in out.iter_mut().zip(bytes.chunks_exact(2)) {
            *y = half::bf16::from_le_bytes([c[0], c[1]]).to_f32();
        }
    }
}

/// Decodes `out.len()` elements; the caller has checked that `bytes` holds
/// exactly that many.
pub(crate) fn dequantize<C: FloatCodec>(bytes: &[u8], out: &mut [f32]) {
    for (y, b) in out.chunks_mut(STEP).zip(bytes.chunks(STEP * C::WIDTH)) {
        C::decode_into(b, y);
    }
}

/// Dot product of `x.len()` encoded elements with `x`, accumulated in f32.
pub(crate) fn dot<C: FloatCodec>(bytes: &[u8], x: &[f32]) -> f32 {
    let mut buf = [0.0f32; STEP];
    let mut acc = DotAcc::new();
    for (b, x) in bytes.chunks(STEP * C::WIDTH).zip(x.chunks(STEP)) {
        // `chunks(STEP)` never yields more than STEP values.
        let y = &mut buf[..x.len()];
        C::decode_into(b, y);
        acc.add(y, x);
    }
    acc.sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f32_known_values() {
        let vals = [1.5f32, -0.0, f32::MIN_POSITIVE, -1234.5];
        let bytes: Vec<u8> = vals.iter().flat_map(|v| v.to_le_bytes()).collect();
        let mut out = [0.0f32; 4];
        dequantize::<F32>(&bytes, &mut out);
        assert_eq!(out.map(f32::to_bits), vals.map(f32::to_bits));
        assert_eq!(dot::<F32>(&bytes, &[2.0, 5.0, 0.0, 1.0]), 3.0 - 1234.5);
    }

    #[test]
    fn f16_known_values() {
        // 0x3C00 = 1, 0xC100 = -2.5, 0x7BFF = 65504 (max), 0x0001 = 2^-24.
        let bytes = [0x00, 0x3C, 0x00, 0xC1, 0xFF, 0x7B, 0x01, 0x00];
        let mut out = [0.0f32; 4];
        dequantize::<F16>(&bytes, &mut out);
        assert_eq!(out, [1.0, -2.5, 65504.0, 2.0f32.powi(-24)]);
    }

    #[test]
    fn bf16_known_values() {
        // bf16 is the top half of an f32: 0x3F80 = 1, 0xC0A0 = -5, 0x4049 ≈ 3.140625.
        let bytes = [0x80, 0x3F, 0xA0, 0xC0, 0x49, 0x40];
        let mut out = [0.0f32; 3];
        dequantize::<Bf16>(&bytes, &mut out);
        assert_eq!(out, [1.0, -5.0, 3.140625]);
    }

    /// Rows of 150 = 2 × STEP + 22 values 0, 1, 2, ...: two full steps and a
    /// short one, for both dequantize and dot.
    fn check_several_steps<C: FloatCodec>(encode: impl Fn(f32) -> Vec<u8>) {
        let n = 2 * STEP + 22;
        let bytes: Vec<u8> = (0..n).flat_map(|i| encode(i as f32)).collect();
        let mut out = vec![f32::NAN; n];
        dequantize::<C>(&bytes, &mut out);
        assert!(
            out.iter().enumerate().all(|(i, &v)| v == i as f32),
            "{out:?}"
        );
        let x = vec![1.0f32; n];
        assert_eq!(dot::<C>(&bytes, &x), (n * (n - 1) / 2) as f32);
    }

    #[test]
    fn rows_span_several_steps() {
        check_several_steps::<F32>(|v| v.to_le_bytes().to_vec());
        check_several_steps::<F16>(|v| half::f16::from_f32(v).to_le_bytes().to_vec());
        check_several_steps::<Bf16>(|v| half::bf16::from_f32(v).to_le_bytes().to_vec());
    }
}
