//! Gemma 3's per-head q/k RMSNorm needs no kernel of its own: the RMSNorm
//! kernel normalises rows of `weight.len()` values, so `tokens × heads` rows
//! of `head_dim` with the `head_dim`-wide q_norm/k_norm weight is exactly
//! what the CPU decoder does (`ops::rms_norm_rows(&mut q, q_norm, eps)`).
//!
//! Tolerance as for RMSNorm (tests/gpu_kernels.rs): max |gpu − cpu| ≤ 1e-5
//! × max |cpu|; the GPU sums squares in f32, the CPU in f64 (≲ 1e-6 apart
//! over 256 values). Using the whole row instead of one head, or the wrong
//! head's statistics, changes values by whole percents.

use locus::cpu::ops;
use locus::gpu::{self, GpuContext};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

fn context() -> GpuContext {
    pollster::block_on(GpuContext::create())
        .expect("a GPU adapter (CI uses Mesa's lavapipe); none found")
}

#[test]
fn rmsnorm_over_heads_matches_the_cpu_q_and_k_norms() {
    let ctx = context();
    let mut rng = SmallRng::seed_from_u64(21);
    // (tokens, heads, head_dim): Gemma 3 270M's q and k, decode and prefill.
    for (tokens, heads, head_dim) in [(1, 4, 256), (7, 4, 256), (7, 1, 256), (3, 9, 64)] {
        for subgroups in [false, ctx.capabilities.subgroups] {
            // Heads of very different sizes, so per-head statistics matter.
            let x: Vec<f32> = (0..tokens * heads * head_dim)
                .map(|i| rng.random_range(-1.0..1.0) * (1 + i / head_dim % 5) as f32)
                .collect();
            let weight: Vec<f32> = (0..head_dim).map(|_| rng.random_range(0.5..1.5)).collect();
            let flags: &[&'static str] = if subgroups { &["SUBGROUPS"] } else { &[] };
            let got =
                pollster::block_on(gpu::rmsnorm::rms_norm(&ctx, &x, &weight, 1e-6, flags)).unwrap();
            let mut want = x.clone();
            ops::rms_norm_rows(&mut want, &weight, 1e-6);
            let scale = want.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            let error = got
                .iter()
                .zip(&want)
                .map(|(a, b)| (a - b).abs() / scale)
                .fold(0.0, f32::max);
            assert!(
                error <= 1e-5,
                "{tokens}×{heads}×{head_dim} subgroups={subgroups}: {error:e}"
            );
        }
    }
}
