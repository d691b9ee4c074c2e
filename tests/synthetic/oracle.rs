//! A synthetic model against llama.cpp's fixture for the same file: the CPU
//! path teacher-forced along llama.cpp's tokens, and the GPU's two numerics
//! against the CPU.

use std::path::Path;
use std::rc::Rc;

use crate::common::{Fixture, GenerationFixture};
use locus::cpu::Logits;
use locus::engine::{Decode, GpuModel, LoadedModel, Sampler, SamplingParams, argmax};
use locus::gpu::{GpuContext, GpuOptions, Numerics};

/// Below this top-2 margin llama.cpp itself is at a near-tie.
pub const NEAR_TIE: f32 = 0.1;
/// The `fast` GPU numerics against `exact` (the project's bound, see
/// `tests/gpu_fast.rs`).
pub const MAX_FAST_NMSE: f64 = 2e-2;

pub fn load_cpu(path: &Path) -> LoadedModel {
    let mut file = std::fs::File::open(path).unwrap();
    LoadedModel::load(&mut file).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn load_gpu(
    ctx: &Rc<GpuContext>,
    path: &Path,
    numerics: Numerics,
    capacity: usize,
) -> GpuModel {
    let options = GpuOptions {
        capacity,
        prefill_tokens: 512,
        numerics,
    };
    let mut file = std::fs::File::open(path).unwrap();
    GpuModel::load(ctx.clone(), &mut file, &options, &mut |_| {})
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Our CPU logits at every generated position, teacher-forced along
/// llama.cpp's tokens: the prompt as one batch, then one token at a time.
pub fn forced_logits(model: &LoadedModel, g: &GenerationFixture) -> Vec<Vec<f32>> {
    let mut cache = model.new_cache(g.prompt_ids.len() + g.tokens.len());
    let mut out = vec![
        model
            .decoder
            .forward(&g.prompt_ids, &mut cache, Logits::Last)
            .unwrap(),
    ];
    for &token in &g.tokens[..g.tokens.len() - 1] {
        out.push(
            model
                .decoder
                .forward(&[token], &mut cache, Logits::Last)
                .unwrap(),
        );
    }
    out
}

/// How the CPU's forced decoding compares with llama.cpp's.
pub struct CpuComparison {
    pub agree: usize,
    pub positions: usize,
    /// Largest difference over llama.cpp's top-10 logits.
    pub max_diff: f32,
    /// Top-1 disagreements where llama.cpp's choice was clear.
    pub failures: Vec<String>,
}

pub fn compare_cpu(model: &LoadedModel, fixture: &Fixture) -> CpuComparison {
    let mut result = CpuComparison {
        agree: 0,
        positions: 0,
        max_diff: 0.0,
        failures: Vec::new(),
    };
    for (index, g) in fixture.generations.iter().enumerate() {
        for (step, logits) in forced_logits(model, g).iter().enumerate() {
            let candidates: Vec<(u32, f32)> = (0..).zip(logits.iter().copied()).collect();
            let ours = argmax(&candidates);
            result.positions += 1;
            if ours == g.tokens[step] {
                result.agree += 1;
            } else if g.margins[step] >= NEAR_TIE {
                result.failures.push(format!(
                    "prompt {index} step {step}: top-1 {ours} vs llama.cpp {} (margin {:.3})",
                    g.tokens[step], g.margins[step]
                ));
            }
            for &(id, logit) in g.top10.get(step).into_iter().flatten() {
                result.max_diff = result.max_diff.max((logits[id as usize] - logit).abs());
            }
        }
    }
    result
}

pub fn nmse(got: &[f32], want: &[f32]) -> f64 {
    let (mut err, mut norm) = (0.0f64, 0.0f64);
    for (&g, &w) in got.iter().zip(want) {
        err += (f64::from(g) - f64::from(w)).powi(2);
        norm += f64::from(w).powi(2);
    }
    err / norm.max(1e-30)
}

/// On the fixture's shortest prompt and `steps` forced steps: the largest
/// difference of the GPU's exact logits from the CPU's, and the largest
/// NMSE of its fast logits against its exact ones.
pub fn compare_gpu(path: &Path, fixture: &Fixture, steps: usize) -> (f32, f64) {
    let ctx = Rc::new(pollster::block_on(GpuContext::create()).expect("a Vulkan adapter"));
    let g = fixture
        .generations
        .iter()
        .min_by_key(|g| g.prompt_ids.len())
        .unwrap();
    let cpu = forced_logits(&load_cpu(path), g);
    let capacity = g.prompt_ids.len() + steps + 1;
    let mut exact = load_gpu(&ctx, path, Numerics::Exact, capacity);
    let mut fast = load_gpu(&ctx, path, Numerics::Fast, capacity);
    // One step per submission: the logits read back are this step's.
    fast.decoder.set_group_steps(1);
    let mut input = g.prompt_ids.clone();
    let (mut worst_exact, mut worst_fast) = (0.0f32, 0.0f64);
    for (step, want) in cpu.iter().enumerate().take(steps) {
        let run = |model: &mut GpuModel| {
            let mut sampler = Sampler::new(SamplingParams::greedy());
            pollster::block_on(model.decoder.decode(&input, &mut sampler, &[])).unwrap();
            pollster::block_on(model.decoder.read_logits()).unwrap()
        };
        let got_exact = run(&mut exact);
        let got_fast = run(&mut fast);
        let diff = got_exact
            .iter()
            .zip(want)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        let err = nmse(&got_fast, &got_exact);
        eprintln!(
            "{} step {step}: GPU exact vs CPU max |Δ| {diff:.3e}; fast vs exact NMSE {err:.3e}",
            path.display()
        );
        worst_exact = worst_exact.max(diff);
        worst_fast = worst_fast.max(err);
        input = vec![g.tokens[step]];
    }
    (worst_exact, worst_fast)
}
