//! The RoPE kernel (`kernels/rope.wgsl`) against `cpu::rope`, natively on
//! wgpu (lavapipe in CI), for both styles, partial rotation, linear scaling
//! and positions in the thousands.
//!
//! Bit for bit: the angles' cos/sin come from a table the host builds with
//! the CPU code, so both sides rotate by the same bits, and the kernel's
//! fused multiply-add rounds once everywhere (`fma_rn`; lavapipe's own `fma`
//! rounds twice, which left one-ulp differences). A wrong position, pair or
//! style rotates by another angle: errors of order 1.

use locus::cpu;
use locus::gpu::{self, GpuContext};
use locus::model::RopeStyle;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

fn context() -> GpuContext {
    pollster::block_on(GpuContext::create())
        .expect("a GPU adapter (CI uses Mesa's lavapipe); none found")
}

struct Case {
    heads: usize,
    head_dim: usize,
    dims: usize,
    base: f32,
    scale: f32,
}

/// Checks every value's bits; returns the largest error relative to the
/// output scale (0).
#[allow(clippy::too_many_arguments)]
fn check(ctx: &GpuContext, c: &Case, n: usize, pos0: usize, style: RopeStyle, seed: u64) -> f32 {
    let mut rng = SmallRng::seed_from_u64(seed);
    let width = c.heads * c.head_dim;
    let x: Vec<f32> = (0..n * width)
        .map(|_| rng.random_range(-4.0..4.0))
        .collect();
    let got = pollster::block_on(gpu::rope::rope(
        ctx, &x, c.heads, c.head_dim, c.dims, pos0, c.base, c.scale, style,
    ))
    .unwrap();
    let mut want = x.clone();
    for (t, row) in want.chunks_exact_mut(width).enumerate() {
        cpu::rope::apply(row, c.head_dim, c.dims, pos0 + t, c.base, c.scale, style);
    }
    let scale = want.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let error = got
        .iter()
        .zip(&want)
        .map(|(a, b)| (a - b).abs() / scale)
        .fold(0.0, f32::max);
    let what = format!(
        "{style:?} {}×{} dims {} base {} scale {} n {n} pos0 {pos0}",
        c.heads, c.head_dim, c.dims, c.base, c.scale
    );
    let differ = got
        .iter()
        .zip(&want)
        .filter(|(a, b)| a.to_bits() != b.to_bits())
        .count();
    assert_eq!(differ, 0, "{what}: {differ} values differ (max {error:e})");
    // Dimensions past `dims` are untouched, exactly.
    for (g, x) in got.chunks_exact(c.head_dim).zip(x.chunks_exact(c.head_dim)) {
        assert_eq!(&g[c.dims..], &x[c.dims..], "{what}: unrotated tail changed");
    }
    eprintln!("rope {what}: relative error {error:.2e}");
    error
}

const CASES: [Case; 5] = [
    // SmolLM2 (Llama), Qwen2.5, Gemma 3 global and sliding layers.
    Case {
        heads: 9,
        head_dim: 64,
        dims: 64,
        base: 100_000.0,
        scale: 1.0,
    },
    Case {
        heads: 14,
        head_dim: 64,
        dims: 64,
        base: 1_000_000.0,
        scale: 1.0,
    },
    Case {
        heads: 4,
        head_dim: 256,
        dims: 256,
        base: 1_000_000.0,
        scale: 0.125,
    },
    Case {
        heads: 1,
        head_dim: 256,
        dims: 256,
        base: 10_000.0,
        scale: 1.0,
    },
    // Partial rotation of an 80-wide head.
    Case {
        heads: 3,
        head_dim: 80,
        dims: 32,
        base: 10_000.0,
        scale: 0.25,
    },
];

fn check_style(style: RopeStyle) {
    let ctx = context();
    for (i, c) in CASES.iter().enumerate() {
        for (j, (n, pos0)) in [(1, 0), (7, 0), (1, 36), (37, 476), (3, 4090)]
            .into_iter()
            .enumerate()
        {
            check(&ctx, c, n, pos0, style, (i * 10 + j) as u64);
        }
    }
}

#[test]
fn normal_style_matches_cpu() {
    check_style(RopeStyle::Normal);
}

#[test]
fn neox_style_matches_cpu() {
    check_style(RopeStyle::Neox);
}

/// The styles differ, and so do neighbouring positions: the tolerance
/// catches a wrong style or an off-by-one position.
#[test]
fn a_wrong_style_or_position_would_fail() {
    let c = &CASES[0];
    let x: Vec<f32> = (0..c.heads * c.head_dim)
        .map(|i| (i as f32 * 0.37).sin())
        .collect();
    let rotated = |pos, style| {
        let mut v = x.clone();
        cpu::rope::apply(&mut v, c.head_dim, c.dims, pos, c.base, c.scale, style);
        v
    };
    let diff = |a: &[f32], b: &[f32]| {
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max)
    };
    let want = rotated(100, RopeStyle::Normal);
    assert!(diff(&want, &rotated(101, RopeStyle::Normal)) > 1e-2);
    assert!(diff(&want, &rotated(100, RopeStyle::Neox)) > 1e-2);
}
