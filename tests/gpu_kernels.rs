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

/// How many values differ in their bits.
fn mismatches(got: &[f32], want: &[f32]) -> usize {
    assert_eq!(got.len(), want.len());
    got.iter()
        .zip(want)
        .filter(|(a, b)| a.to_bits() != b.to_bits())
        .count()
}

/// RMSNorm with the sum of squares in f32 instead of f64: a plausible
/// mistake that the bitwise comparison must catch.
fn rms_norm_f32_sum(rows: &mut [f32], weight: &[f32], eps: f32) {
    for row in rows.chunks_exact_mut(weight.len()) {
        let mean = row.iter().map(|v| v * v).sum::<f32>() / row.len() as f32;
        let scale = 1.0 / (mean + eps).sqrt();
        row.iter_mut()
            .zip(weight)
            .for_each(|(v, w)| *v = *v * scale * w);
    }
}

/// Bit for bit as `cpu::ops::rms_norm` (ggml's arithmetic).
#[test]
fn rmsnorm_matches_cpu_bit_for_bit() {
    let ctx = context();
    let mut rng = SmallRng::seed_from_u64(7);
    let mut caught = 0;
    // (rows, dim): one value, under/over a workgroup, not a multiple of 256,
    // and more rows than one dispatch dimension holds.
    for (rows, dim) in [(1, 1), (2, 255), (7, 577), (3, 4097), (5, 256), (70_001, 3)] {
        let input = random(&mut rng, rows * dim, -3.0..3.0);
        let weight = random(&mut rng, dim, -1.5..1.5);
        let got =
            pollster::block_on(gpu::rmsnorm::rms_norm(&ctx, &input, &weight, 1e-6, &[])).unwrap();
        let mut want = input.clone();
        cpu::ops::rms_norm_rows(&mut want, &weight, 1e-6);
        let count = mismatches(&got, &want);
        let first = (0..want.len()).find(|&i| got[i].to_bits() != want[i].to_bits());
        assert!(
            count == 0,
            "rmsnorm rows={rows} dim={dim}: {count} values differ; first: {:?}",
            first.map(|i| {
                let row = &input[i / dim * dim..][..dim];
                (i, got[i], want[i], row.to_vec(), weight[i % dim])
            })
        );
        let mut wrong = input.clone();
        rms_norm_f32_sum(&mut wrong, &weight, 1e-6);
        caught += mismatches(&wrong, &want);
    }
    assert!(caught > 0, "an f32 sum would have passed");
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
            if variant.contains(&"HALF") && !ctx.capabilities.shader_f16 {
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
