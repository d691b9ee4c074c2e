//! The argmax kernel (`kernels/argmax.wgsl`) against the CPU sampler's
//! `argmax`, natively on wgpu (lavapipe in CI), both reductions, on seeded
//! random logits of the models' vocabulary sizes and around the kernel's
//! chunk size. Exact: an index is right or wrong.

use locus::engine::argmax as cpu_argmax;
use locus::gpu::GpuContext;
use locus::gpu::argmax::{CHUNK, argmax};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

fn context() -> GpuContext {
    pollster::block_on(GpuContext::create())
        .expect("a GPU adapter (CI uses Mesa's lavapipe); none found")
}

fn want(logits: &[f32]) -> u32 {
    let candidates: Vec<(u32, f32)> = logits
        .iter()
        .enumerate()
        .map(|(i, &l)| (i as u32, l))
        .collect();
    cpu_argmax(&candidates)
}

fn check(ctx: &GpuContext, logits: &[f32], subgroups: bool, what: &str) {
    let got = pollster::block_on(argmax(ctx, logits, subgroups)).unwrap();
    assert_eq!(
        got,
        want(logits),
        "{what}, {} logits, subgroups={subgroups}",
        logits.len()
    );
}

/// Sizes: tiny, around one chunk, SmolLM2, Qwen2.5 and Gemma 3 vocabularies.
const SIZES: [usize; 8] = [1, 7, CHUNK - 1, CHUNK, CHUNK + 1, 49_152, 151_936, 262_144];

fn check_all(subgroups: bool) {
    let ctx = context();
    if subgroups {
        assert!(
            ctx.capabilities.subgroups,
            "this adapter lacks subgroups, so the SUBGROUPS variant cannot be tested"
        );
    }
    let mut rng = SmallRng::seed_from_u64(11);
    for n in SIZES {
        let mut logits: Vec<f32> = (0..n).map(|_| rng.random_range(-30.0..30.0)).collect();
        check(&ctx, &logits, subgroups, "random");
        // The maximum at the last index, then tied at several places (in
        // different chunks and lanes): the lowest index wins.
        let top = 100.0;
        logits[n - 1] = top;
        check(&ctx, &logits, subgroups, "last");
        for i in [n * 3 / 4, n / 2 + 1, n / 3].map(|i| i.min(n - 1)) {
            logits[i] = top;
            check(&ctx, &logits, subgroups, "tie");
        }
        // NaN is never chosen, even where it would win.
        logits[0] = f32::NAN;
        logits[n / 5] = f32::NAN;
        check(&ctx, &logits, subgroups, "NaN");
        // All negative, with -inf.
        let negative: Vec<f32> = (0..n)
            .map(|i| {
                if i % 3 == 0 {
                    f32::NEG_INFINITY
                } else {
                    -1e3 - rng.random_range(0.0..1.0f32)
                }
            })
            .collect();
        check(&ctx, &negative, subgroups, "negative");
    }
    // Nothing beats -inf: index 0, as on the CPU.
    check(&ctx, &vec![f32::NEG_INFINITY; 5000], subgroups, "all -inf");
    check(
        &ctx,
        &[f32::NAN, f32::NEG_INFINITY, f32::NAN],
        subgroups,
        "NaN and -inf",
    );
    check(
        &ctx,
        &[f32::NEG_INFINITY, f32::MIN, 0.0f32.min(f32::MIN)],
        subgroups,
        "f32::MIN",
    );
}

#[test]
fn shared_memory_variant_matches_cpu() {
    check_all(false);
}

#[test]
fn subgroup_variant_matches_cpu() {
    check_all(true);
}

/// The CPU sampler's candidate order: a stable sort by descending logit
/// (ties keep the lower index first), NaN and -inf dropped, first k.
fn want_top_k(logits: &[f32], k: usize) -> Vec<(u32, f32)> {
    let mut candidates: Vec<(u32, f32)> = logits
        .iter()
        .enumerate()
        .filter(|(_, l)| **l > f32::NEG_INFINITY)
        .map(|(i, &l)| (i as u32, l))
        .collect();
    candidates.sort_by(|a, b| b.1.total_cmp(&a.1));
    candidates.truncate(k);
    candidates
}

#[test]
fn top_k_matches_the_cpu_order() {
    let ctx = context();
    let mut rng = SmallRng::seed_from_u64(12);
    for n in SIZES {
        for k in [1, 5, 40, 64] {
            // Coarse values: many ties, inside and across chunks.
            let mut logits: Vec<f32> = (0..n)
                .map(|_| f32::from(rng.random_range(-400i16..400)) / 8.0)
                .collect();
            logits[0] = f32::NAN;
            logits[n - 1] = f32::NEG_INFINITY;
            let got = pollster::block_on(locus::gpu::argmax::top_k(&ctx, &logits, k)).unwrap();
            let want = want_top_k(&logits, k);
            assert_eq!(got, want, "top-{k} of {n}");
        }
    }
}
