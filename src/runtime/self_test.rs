//! The start-up check that the GPU computes what the CPU does.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::cpu;
use crate::gpu::{self, GpuContext, GpuError};
use crate::report::SelfTestReport;

/// Largest absolute difference the start-up self-test accepts between the
/// GPU RMSNorm and the f64 CPU reference (outputs are of order 1).
pub const SELF_TEST_TOLERANCE: f32 = 1e-4;

/// Runs RMSNorm on seeded random data on the GPU and compares it with the CPU.
pub async fn self_test(ctx: &GpuContext) -> Result<SelfTestReport, GpuError> {
    let (rows, dim) = (3, 577);
    let mut rng = SmallRng::seed_from_u64(0x10c05);
    let input: Vec<f32> = (0..rows * dim)
        .map(|_| rng.random_range(-2.0..2.0))
        .collect();
    let weight: Vec<f32> = (0..dim).map(|_| rng.random_range(0.5..1.5)).collect();
    let flags = gpu::rmsnorm::preferred_flags(ctx);
    let got = gpu::rmsnorm::rms_norm(ctx, &input, &weight, 1e-5, &flags).await?;
    let want = cpu::norm::rms_norm(&input, &weight, 1e-5);
    let max_abs_error = got
        .iter()
        .zip(&want)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    let passed = got.len() == want.len()
        && max_abs_error <= SELF_TEST_TOLERANCE
        && max_abs_error.is_finite();
    Ok(SelfTestReport {
        kernel: "rmsnorm".into(),
        variant: flags.join(" "),
        elements: rows * dim,
        max_abs_error,
        passed,
    })
}

/// Where the device granted subgroups: the argmax's subgroup variant (the
/// one greedy decoding runs) on seeded logits spanning two first-stage
/// workgroups, against the host's argmax. `None` without subgroups.
pub async fn subgroup_self_test(ctx: &GpuContext) -> Result<Option<SelfTestReport>, GpuError> {
    if !ctx.capabilities.subgroups {
        return Ok(None);
    }
    let count = gpu::argmax::CHUNK + 907;
    let mut rng = SmallRng::seed_from_u64(0x5b9);
    let logits: Vec<f32> = (0..count).map(|_| rng.random_range(-8.0..8.0)).collect();
    let want = logits
        .iter()
        .enumerate()
        .fold(0, |best, (i, &v)| if v > logits[best] { i } else { best });
    let got = gpu::argmax::argmax(ctx, &logits, true).await? as usize;
    let picked = logits.get(got).copied().unwrap_or(f32::NAN);
    let max_abs_error = (picked - logits[want]).abs();
    Ok(Some(SelfTestReport {
        kernel: "argmax".into(),
        variant: "SUBGROUPS".into(),
        elements: count,
        max_abs_error,
        passed: got == want,
    }))
}
