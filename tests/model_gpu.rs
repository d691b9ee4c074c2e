//! The GPU backend against llama.cpp on the three test models, natively on
//! whatever Vulkan device there is (lavapipe in CI): greedy decoding along
//! llama.cpp's tokens. While our pick equals llama.cpp's token this is both
//! free-running greedy text and forced decoding; after a divergence the test
//! keeps feeding llama.cpp's tokens (forced decoding) and checks that every
//! disagreement is at a near-tie of llama.cpp's own logits.

mod common;

use std::rc::Rc;

use common::{MODELS, fixture, model_path};
use locus::engine::{Decode, GpuModel, Sampler, SamplingParams};
use locus::gpu::{GpuContext, GpuOptions, Numerics};

/// Below this top-2 margin llama.cpp itself is at a near-tie.
const NEAR_TIE: f32 = 0.1;

fn check_model(name: &str, file_name: &str, tokens: usize) {
    let ctx = match pollster::block_on(GpuContext::create()) {
        Ok(ctx) => Rc::new(ctx),
        Err(error) => panic!("no Vulkan adapter for the GPU model test: {error}"),
    };
    let fixture = fixture(name);
    let mut file = std::fs::File::open(model_path(file_name)).unwrap();
    let capacity = fixture
        .generations
        .iter()
        .map(|g| g.prompt_ids.len() + tokens + 1)
        .max()
        .unwrap();
    let options = GpuOptions {
        capacity,
        prefill_tokens: 512,
        numerics: Numerics::Exact,
    };
    let mut model = GpuModel::load(ctx, &mut file, &options, &mut |_| {})
        .unwrap_or_else(|e| panic!("{file_name}: {e}"));
    let (mut agree, mut positions, mut exact) = (0, 0, 0);
    let mut failures = Vec::new();
    for (index, g) in fixture.generations.iter().enumerate() {
        let n = tokens.min(g.tokens.len());
        let n = g.first_eog.map_or(n, |eog| eog.min(n));
        model.decoder.truncate(0);
        let mut sampler = Sampler::new(SamplingParams::greedy());
        let mut input = g.prompt_ids.clone();
        let mut diverged = None;
        for step in 0..n {
            let ours = pollster::block_on(model.decoder.decode(&input, &mut sampler, &[])).unwrap();
            positions += 1;
            if ours == g.tokens[step] {
                agree += 1;
            } else {
                diverged.get_or_insert(step);
                if g.margins[step] >= NEAR_TIE {
                    failures.push(format!(
                        "prompt {index} step {step}: top-1 {ours} vs llama.cpp {} (margin {:.3})",
                        g.tokens[step], g.margins[step]
                    ));
                }
            }
            input = vec![g.tokens[step]];
        }
        match diverged {
            None => exact += 1,
            Some(step) => eprintln!(
                "{name} prompt {index}: greedy text diverges at step {step} (llama.cpp margin {:.3})",
                g.margins[step]
            ),
        }
    }
    eprintln!(
        "{name} on {}: forced top-1 agreement {agree}/{positions}; greedy exact {exact}/{} over {tokens} tokens",
        model.decoder.config().name,
        fixture.generations.len()
    );
    assert!(failures.is_empty(), "{name}:\n{}", failures.join("\n"));
    assert!(
        exact + 1 >= fixture.generations.len(),
        "{name}: greedy text equal on only {exact} prompts"
    );
}

#[test]
#[ignore = "37 min for the three on lavapipe with 2 cores, too long for CI, where gpu_logits_equal_the_cpu_bit_for_bit checks the same arithmetic; measured: forced top-1 295/295, 141/141, 160/160, greedy text 10/10 on every model. Run with --ignored"]
fn smollm2_on_the_gpu_matches_llama_cpp() {
    check_model(MODELS[0].0, MODELS[0].1, 32);
}

#[test]
#[ignore = "37 min for the three on lavapipe with 2 cores, too long for CI, where gpu_logits_equal_the_cpu_bit_for_bit checks the same arithmetic; measured: forced top-1 295/295, 141/141, 160/160, greedy text 10/10 on every model. Run with --ignored"]
fn qwen2_on_the_gpu_matches_llama_cpp() {
    check_model(MODELS[1].0, MODELS[1].1, 16);
}

#[test]
#[ignore = "37 min for the three on lavapipe with 2 cores, too long for CI, where gpu_logits_equal_the_cpu_bit_for_bit checks the same arithmetic; measured: forced top-1 295/295, 141/141, 160/160, greedy text 10/10 on every model. Run with --ignored"]
fn gemma3_on_the_gpu_matches_llama_cpp() {
    check_model(MODELS[2].0, MODELS[2].1, 16);
}

/// The GPU's logits against the CPU path's after a prompt batch and a few
/// single-token steps: the same bits, as both compute what llama.cpp's CPU
/// backend computes, operation for operation.
#[test]
fn gpu_logits_equal_the_cpu_bit_for_bit() {
    use locus::engine::LoadedModel;
    let ctx = Rc::new(pollster::block_on(GpuContext::create()).expect("a Vulkan adapter"));
    for (name, file_name) in MODELS {
        let path = model_path(file_name);
        let cpu = LoadedModel::load(&mut std::fs::File::open(&path).unwrap()).unwrap();
        let mut gpu = GpuModel::load(
            ctx.clone(),
            &mut std::fs::File::open(&path).unwrap(),
            &GpuOptions {
                capacity: 128,
                prefill_tokens: 512,
                numerics: Numerics::Exact,
            },
            &mut |_| {},
        )
        .unwrap();
        // A short prompt (one token group of the batched kernels) and the
        // fixtures' longest of at most 12 tokens that leaves a tail after
        // whole groups of four (Q4_K's batched order for the groups, the
        // one-token order for the tail; Q6_K's tiled path).
        let short = cpu
            .tokenizer
            .encode("The night train left the station at", true, true)
            .unwrap();
        let longest = fixture(name)
            .generations
            .into_iter()
            .map(|g| g.prompt_ids)
            .filter(|ids| ids.len() <= 12 && ids.len() % 4 != 0)
            .max_by_key(Vec::len)
            .unwrap();
        for prompt in [short, longest] {
            check_prompt_steps(name, &cpu, &mut gpu, &prompt);
        }
    }
}

/// Prefill `prompt` on both backends from an empty cache, then three
/// greedy steps: every logit's bits must agree.
fn check_prompt_steps(
    name: &str,
    cpu: &locus::engine::LoadedModel,
    gpu: &mut GpuModel,
    prompt: &[u32],
) {
    use locus::cpu::Logits;
    gpu.decoder.truncate(0);
    let mut cache = cpu.new_cache(128);
    let mut sampler = Sampler::new(SamplingParams::greedy());
    let mut input = prompt.to_vec();
    eprintln!("{name}: prompt of {} tokens", input.len());
    for step in 0..4 {
        let want = cpu
            .decoder
            .forward(&input, &mut cache, Logits::Last)
            .unwrap();
        let picked = pollster::block_on(gpu.decoder.decode(&input, &mut sampler, &[])).unwrap();
        let got = pollster::block_on(gpu.decoder.read_logits()).unwrap();
        let differ = want
            .iter()
            .zip(&got)
            .filter(|(a, b)| a.to_bits() != b.to_bits())
            .count();
        let max_diff = want
            .iter()
            .zip(&got)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        eprintln!(
            "{name} step {step}: {differ} of {} logits differ from the CPU's (max |Δ| {max_diff}); picked {picked}",
            want.len()
        );
        assert_eq!(got.len(), want.len());
        assert_eq!(
            differ, 0,
            "{name} step {step}: the GPU's logits are not the CPU's"
        );
        input = vec![picked];
    }
}
