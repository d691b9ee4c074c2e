//! The fast quantised dot products (SIMD128 in wasm32 builds, AVX2 on x86)
//! against the portable kernels they must reproduce bit for bit, on seeded
//! random blocks of every quantised type, in both of llama.cpp's float
//! orders. Natively this checks the x86 kernels; under wasm (run from
//! `tests/wasm` with `cargo test --target wasm32-unknown-unknown --test
//! cpu_simd`, which runs it in headless Chromium through
//! wasm-bindgen-test-runner) the SIMD128 / relaxed-SIMD ones, whose fused
//! multiply-adds are the CPU's FMA: bit for bit here, on a CPU with FMA.

use locus::quant::{
    DotOrder, GgmlType, QuantizedRow, dot_quantized_rows_ordered, dot_quantized_rows_portable,
};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

/// Every quantised type Locus dots.
const TYPES: [GgmlType; 8] = [
    GgmlType::Q4_0,
    GgmlType::Q4_1,
    GgmlType::Q5_0,
    GgmlType::Q5_1,
    GgmlType::Q8_0,
    GgmlType::Q4_K,
    GgmlType::Q5_K,
    GgmlType::Q6_K,
];

/// Byte offsets of a block's f16 scales (kept finite; the rest is random).
fn scale_offsets(ty: GgmlType) -> &'static [usize] {
    match ty {
        GgmlType::Q4_1 | GgmlType::Q5_1 | GgmlType::Q4_K | GgmlType::Q5_K => &[0, 2],
        GgmlType::Q6_K => &[208],
        _ => &[0],
    }
}

/// `rows` random rows of `blocks` blocks of `ty`: random codes, scales,
/// mins and sub-block scales, with f16 super-scales of either sign.
fn random_rows(ty: GgmlType, rows: usize, blocks: usize, rng: &mut SmallRng) -> Vec<u8> {
    let mut bytes = vec![0u8; rows * blocks * ty.type_size()];
    rng.fill(&mut bytes[..]);
    for block in bytes.chunks_exact_mut(ty.type_size()) {
        for &at in scale_offsets(ty) {
            let v: f32 = rng.random_range(0.001..1.0);
            let v = if rng.random() { v } else { -v };
            block[at..at + 2].copy_from_slice(&half::f16::from_f32(v).to_le_bytes());
        }
    }
    bytes
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

#[test]
fn fast_kernels_match_the_portable_ones_bit_for_bit() {
    let mut rng = SmallRng::seed_from_u64(0x51_3D);
    for ty in TYPES {
        let blocks = if ty.block_size() == 32 { 19 } else { 3 };
        let n = blocks * ty.block_size();
        for trial in 0..12 {
            let rows = 7;
            let bytes = random_rows(ty, rows, blocks, &mut rng);
            // Activations of very different magnitudes, some with outliers.
            let scale = [1.0, 1e-3, 40.0, 0.2][trial % 4];
            let mut x: Vec<f32> = (0..n)
                .map(|_| scale * rng.random_range(-2.0..2.0))
                .collect();
            if trial % 3 == 0 {
                x[rng.random_range(0..n)] *= 50.0;
            }
            let act = QuantizedRow::quantize(ty, &x).unwrap();
            for order in [DotOrder::VecDot, DotOrder::Gemm] {
                let mut fast = vec![f32::NAN; rows];
                let mut portable = vec![f32::NAN; rows];
                dot_quantized_rows_ordered(ty, &bytes, &act, order, &mut fast).unwrap();
                dot_quantized_rows_portable(ty, &bytes, &act, order, &mut portable).unwrap();
                assert!(fast.iter().all(|v| v.is_finite()), "{ty}: {fast:?}");
                assert_eq!(
                    bits(&fast),
                    bits(&portable),
                    "{ty} {order:?} trial {trial}: {fast:?} vs {portable:?}"
                );
            }
        }
    }
}

#[test]
fn fast_kernels_handle_extreme_codes() {
    // All-ones bytes: every nibble 15, every fifth bit set, Q8_0 codes -1,
    // Q6_K codes 63 with scales -1; and all-zero codes. Activations at
    // ±amax so codes reach ±127.
    for ty in TYPES {
        let blocks = if ty.block_size() == 32 { 4 } else { 2 };
        let n = blocks * ty.block_size();
        for fill in [0xFFu8, 0x00, 0x80, 0x7F] {
            let mut bytes = vec![fill; 3 * blocks * ty.type_size()];
            for block in bytes.chunks_exact_mut(ty.type_size()) {
                for &at in scale_offsets(ty) {
                    block[at..at + 2].copy_from_slice(&half::f16::from_f32(0.75).to_le_bytes());
                }
            }
            let x: Vec<f32> = (0..n)
                .map(|i| if i % 2 == 0 { 3.0 } else { -3.0 })
                .collect();
            let act = QuantizedRow::quantize(ty, &x).unwrap();
            for order in [DotOrder::VecDot, DotOrder::Gemm] {
                let (mut fast, mut portable) = (vec![f32::NAN; 3], vec![f32::NAN; 3]);
                dot_quantized_rows_ordered(ty, &bytes, &act, order, &mut fast).unwrap();
                dot_quantized_rows_portable(ty, &bytes, &act, order, &mut portable).unwrap();
                assert_eq!(
                    bits(&fast),
                    bits(&portable),
                    "{ty} {order:?} fill {fill:#x}"
                );
            }
        }
    }
}

#[test]
fn fast_kernels_widen_every_f16_scale() {
    // One block per row, whose f16 scale (and min) takes every bit pattern:
    // subnormals, zeros, infinities and NaNs included (a NaN's payload may
    // differ between ways of widening it, so any NaN matches any NaN).
    let mut rng = SmallRng::seed_from_u64(0xF16);
    for ty in [
        GgmlType::Q4_0,
        GgmlType::Q4_1,
        GgmlType::Q5_1,
        GgmlType::Q8_0,
        GgmlType::Q6_K,
    ] {
        let rows = 1 << 16;
        let mut bytes = random_rows(ty, rows, 1, &mut rng);
        for (bits, block) in bytes.chunks_exact_mut(ty.type_size()).enumerate() {
            let bits = bits as u16;
            for (k, &at) in scale_offsets(ty).iter().enumerate() {
                let pattern = if k == 0 { bits } else { bits.rotate_left(5) };
                block[at..at + 2].copy_from_slice(&pattern.to_le_bytes());
            }
        }
        let x: Vec<f32> = (0..ty.block_size())
            .map(|_| rng.random_range(-2.0..2.0))
            .collect();
        let act = QuantizedRow::quantize(ty, &x).unwrap();
        let (mut fast, mut portable) = (vec![0.0; rows], vec![0.0; rows]);
        dot_quantized_rows_ordered(ty, &bytes, &act, DotOrder::VecDot, &mut fast).unwrap();
        dot_quantized_rows_portable(ty, &bytes, &act, DotOrder::VecDot, &mut portable).unwrap();
        for (row, (f, p)) in fast.iter().zip(&portable).enumerate() {
            assert!(
                f.to_bits() == p.to_bits() || (f.is_nan() && p.is_nan()),
                "{ty} scale bits {row:#06x}: {f} vs {p}"
            );
        }
    }
}

/// The f16 → f32 conversions of wasm32 builds (`quant/f16_bits.rs`: the
/// block scales' table and the KV cache's conversion) give `half`'s bits for every half, in
/// a slice of odd length (SIMD128 chunks and a scalar tail under wasm).
#[test]
fn every_half_widens_to_the_bits_half_gives() {
    let src: Vec<half::f16> = (0..=u16::MAX)
        .map(half::f16::from_bits)
        .take(65_533)
        .collect();
    let mut got = vec![0.0; src.len()];
    locus::quant::widen_f16(&src, &mut got);
    for (s, g) in src.iter().zip(&got) {
        let want = s.to_f32().to_bits();
        assert_eq!(g.to_bits(), want, "half {:#06x} in a slice", s.to_bits());
        assert_eq!(
            locus::quant::f16_to_f32(s.to_bits()).to_bits(),
            want,
            "half {:#06x}",
            s.to_bits()
        );
    }
}

/// The f32 → nearest half → f32 rounding of the WASM build (attention's
/// queries and weights, the activations' f16 scales) gives `half`'s bits:
/// every sign, exponent and top mantissa bits against low bits around the
/// rounding point, the edges, and a stride through every f32.
#[test]
fn rounding_to_half_gives_the_bits_half_gives() {
    let check = |bits: u32| {
        let x = f32::from_bits(bits);
        let (got, want) = (
            locus::quant::round_to_f16(x),
            half::f16::from_f32(x).to_f32(),
        );
        let same = got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan());
        assert!(same, "{x:e} ({bits:#010x}): {got:e} vs {want:e}");
    };
    for high in 0..=u16::MAX {
        for low in [
            0, 1, 0x0fff, 0x1000, 0x1001, 0x1fff, 0x2000, 0x2fff, 0x3000, 0x3001, 0xf000, 0xffff,
        ] {
            check(u32::from(high) << 16 | low);
        }
    }
    // The edges: the largest half, the overflow midpoint, the smallest
    // normal half and the subnormal steps.
    for x in [
        65504.0,
        65519.996,
        65520.0,
        65536.0,
        6.1035156e-5,
        6.1035153e-5,
        5.9604645e-8,
        2.9802322e-8,
        2.9802326e-8,
        8.940697e-8,
    ] {
        check(f32::to_bits(x));
        check(f32::to_bits(-x));
    }
    for bits in (0..=u32::MAX).step_by(65_537) {
        check(bits);
    }
}
