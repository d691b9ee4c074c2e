//! Seeded random weights and activations for the GPU kernel tests, and the
//! CPU reference they are checked against (`quant::dequantize`, then f64).
//!
//! Weights are random GGUF blocks: random bytes with the f16 scale fields
//! overwritten by sane values (never subnormal, so a GPU that flushes f16
//! subnormals cannot differ from the CPU on them).

#![allow(dead_code)]

use locus::quant::{self, GgmlType};
use rand::Rng;
use rand::rngs::SmallRng;

/// A sane f16 scale: ±10^[-3, -1).
fn scale(rng: &mut SmallRng) -> half::f16 {
    let magnitude = 10f32.powf(rng.random_range(-3.0..-1.0));
    half::f16::from_f32(if rng.random() { magnitude } else { -magnitude })
}

/// Byte offsets of the f16 fields (scales, mins) within one block of `ty`.
fn f16_fields(ty: GgmlType) -> &'static [usize] {
    use GgmlType::*;
    match ty {
        Q4_0 | Q5_0 | Q8_0 => &[0],
        Q4_1 | Q5_1 | Q4_K | Q5_K => &[0, 2],
        Q6_K => &[208],
        _ => &[],
    }
}

/// `rows` × `cols` random weights of type `ty`, as GGUF bytes.
pub fn random_matrix(rng: &mut SmallRng, ty: GgmlType, rows: usize, cols: usize) -> Vec<u8> {
    let n = rows * cols;
    let values = |rng: &mut SmallRng| -> Vec<f32> {
        // Away from zero, so f16 values are never subnormal either.
        (0..n)
            .map(|_| {
                let v: f32 = rng.random_range(1e-3..1.0);
                if rng.random() { v } else { -v }
            })
            .collect()
    };
    match ty {
        GgmlType::F32 => values(rng).iter().flat_map(|v| v.to_le_bytes()).collect(),
        GgmlType::F16 => values(rng)
            .iter()
            .flat_map(|&v| half::f16::from_f32(v).to_le_bytes())
            .collect(),
        GgmlType::BF16 => values(rng)
            .iter()
            .flat_map(|&v| half::bf16::from_f32(v).to_le_bytes())
            .collect(),
        _ => {
            let mut bytes = vec![0u8; rows * ty.row_bytes(cols).unwrap()];
            rng.fill(&mut bytes[..]);
            for block in bytes.chunks_exact_mut(ty.type_size()) {
                for &field in f16_fields(ty) {
                    block[field..field + 2].copy_from_slice(&scale(rng).to_le_bytes());
                }
            }
            bytes
        }
    }
}

pub fn random_x(rng: &mut SmallRng, n: usize) -> Vec<f32> {
    (0..n).map(|_| rng.random_range(-1.0..1.0)).collect()
}

/// The weights as f32, row by row, dequantised on the CPU.
pub fn dequantize(ty: GgmlType, bytes: &[u8], cols: usize) -> Vec<f32> {
    let mut w = vec![0.0f32; bytes.len() / ty.row_bytes(cols).unwrap() * cols];
    for (row, out) in bytes
        .chunks_exact(ty.row_bytes(cols).unwrap())
        .zip(w.chunks_exact_mut(cols))
    {
        quant::dequantize(ty, row, out).unwrap();
    }
    w
}

/// The exact dot of two f32 rows (in f64) and its scale Σ|w·x|.
pub fn dot(w: &[f32], x: &[f32]) -> (f64, f64) {
    w.iter().zip(x).fold((0.0, 0.0), |(dot, size), (&w, &x)| {
        let p = f64::from(w) * f64::from(x);
        (dot + p, size + p.abs())
    })
}

/// Column counts: several blocks, not powers of two; for float types, odd
/// counts and counts that are not multiples of 8 or 32.
pub fn col_cases(ty: GgmlType) -> &'static [usize] {
    match ty.block_size() {
        1 => &[1, 13, 96, 608],
        32 => &[32, 96, 608],
        256 => &[256, 768],
        other => panic!("no shapes for blocks of {other}"),
    }
}
