//! Every kernel variant against the CPU reference, natively on wgpu (lavapipe
//! in CI), on seeded random data with odd shapes.

use locus::cpu;
use locus::gpu::{self, GpuContext, Kernel};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

fn context() -> GpuContext {
    pollster::block_on(GpuContext::create())
        .expect("a GPU adapter (CI uses Mesa's lavapipe); none found")
}

fn random(rng: &mut SmallRng, n: usize, range: std::ops::Range<f32>) -> Vec<f32> {
    (0..n).map(|_| rng.random_range(range.clone())).collect()
}

/// Max |gpu - cpu| relative to the largest reference value. f32 reductions of
/// a few thousand terms stay near 1e-6; an off-by-one in the row, the sum or
/// the mean shifts results by far more than the 1e-5 allowed here.
fn max_relative_error(got: &[f32], want: &[f32]) -> f32 {
    assert_eq!(got.len(), want.len());
    let scale = want.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-12);
    got.iter()
        .zip(want)
        .map(|(a, b)| (a - b).abs() / scale)
        .fold(0.0, f32::max)
}

fn check_rmsnorm(ctx: &GpuContext, flags: &[&'static str]) {
    let mut rng = SmallRng::seed_from_u64(7);
    // (rows, dim): one value, under/over a workgroup, not a multiple of 256,
    // and more rows than one dispatch dimension holds.
    for (rows, dim) in [(1, 1), (2, 255), (7, 577), (3, 4097), (5, 256), (70_001, 3)] {
        let input = random(&mut rng, rows * dim, -3.0..3.0);
        let weight = random(&mut rng, dim, -1.5..1.5);
        let got =
            pollster::block_on(gpu::rmsnorm::rms_norm(ctx, &input, &weight, 1e-6, flags)).unwrap();
        let want = cpu::norm::rms_norm(&input, &weight, 1e-6);
        let error = max_relative_error(&got, &want);
        assert!(
            error <= 1e-5,
            "rmsnorm {flags:?} rows={rows} dim={dim}: relative error {error:e}"
        );
    }
}

#[test]
fn rmsnorm_shared_memory_variant_matches_cpu() {
    check_rmsnorm(&context(), &[]);
}

#[test]
fn rmsnorm_subgroup_variant_matches_cpu() {
    let ctx = context();
    assert!(
        ctx.capabilities.subgroups,
        "this adapter lacks subgroups, so the SUBGROUPS variant cannot be tested"
    );
    check_rmsnorm(&ctx, &["SUBGROUPS"]);
}

#[test]
fn a_wrong_shape_is_an_error_not_a_panic() {
    let ctx = context();
    let result = pollster::block_on(gpu::rmsnorm::rms_norm(
        &ctx,
        &[1.0; 5],
        &[1.0; 2],
        1e-6,
        &[],
    ));
    assert!(matches!(result, Err(gpu::GpuError::Shape(_))), "{result:?}");
}

#[test]
fn every_kernel_variant_compiles_on_the_device() {
    let ctx = context();
    for kernel in Kernel::ALL {
        let flags = kernel.declared_flags();
        for variant in gpu::preprocess::all_variants(&flags) {
            if variant.contains(&"SUBGROUPS") && !ctx.capabilities.subgroups {
                continue;
            }
            ctx.pipeline(kernel, &variant)
                .unwrap_or_else(|e| panic!("{} {variant:?}: {e}", kernel.name()));
        }
    }
}

#[test]
fn runtime_self_test_passes_and_reports_the_adapter() {
    let runtime = pollster::block_on(locus::runtime::Runtime::start());
    let report = runtime.report();
    assert_eq!(
        report.backend,
        locus::report::BackendKind::Gpu,
        "{:?}",
        report.fallback_reason
    );
    let test = report.self_test.as_ref().unwrap();
    assert!(test.passed && test.max_abs_error < 1e-4, "{test:?}");
    assert!(
        report.summary().starts_with("Vulkan · "),
        "{}",
        report.summary()
    );
}
