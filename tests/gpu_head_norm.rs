//! Gemma 3's per-head q/k RMSNorm needs no kernel of its own: the RMSNorm
//! kernel normalises rows of `weight.len()` values, so `tokens × heads` rows
//! of `head_dim` with the `head_dim`-wide q_norm/k_norm weight is exactly
//! what the CPU decoder does (`ops::rms_norm_rows(&mut q, q_norm, eps)`).
//!
//! Compared bit for bit, as RMSNorm in tests/gpu_kernels.rs. Using the whole
//! row instead of one head, or the wrong head's statistics, changes values
//! by whole percents.

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
        // Heads of very different sizes, so per-head statistics matter.
        let x: Vec<f32> = (0..tokens * heads * head_dim)
            .map(|i| rng.random_range(-1.0..1.0) * (1 + i / head_dim % 5) as f32)
            .collect();
        let weight: Vec<f32> = (0..head_dim).map(|_| rng.random_range(0.5..1.5)).collect();
        let got = pollster::block_on(gpu::rmsnorm::rms_norm(&ctx, &x, &weight, 1e-6, &[])).unwrap();
        let mut want = x.clone();
        ops::rms_norm_rows(&mut want, &weight, 1e-6);
        let differ = got
            .iter()
            .zip(&want)
            .filter(|(a, b)| a.to_bits() != b.to_bits())
            .count();
        assert!(
            differ == 0,
            "{tokens}×{heads}×{head_dim}: {differ} values differ"
        );
    }
}
