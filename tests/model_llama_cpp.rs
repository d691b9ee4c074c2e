//! The CPU runtime against llama.cpp on the three test models: forced
//! decoding along llama.cpp's greedy tokens, top-10 logits, and free-running
//! greedy text. Fixtures come from `scripts/make_fixtures.py`. The CPU path
//! repeats llama.cpp's x86 arithmetic (`cpu::ggml_numerics`, the quantised
//! kernels' float orders), so the logits agree to the fixtures' 4 decimals;
//! the bars below are the acceptance.

mod common;

use std::ops::ControlFlow;

use common::{GenerationFixture, MODELS, fixture, model_path};
use locus::cpu::Logits;
use locus::engine::{GenerateOptions, LoadedModel, argmax, generate};

/// Below this top-2 margin llama.cpp itself is at a near-tie.
const NEAR_TIE: f32 = 0.1;
const LOGIT_TOLERANCE: f32 = 0.1;

fn load(file_name: &str) -> LoadedModel {
    let mut file = std::fs::File::open(model_path(file_name)).unwrap();
    LoadedModel::load(&mut file).unwrap_or_else(|e| panic!("{file_name}: {e}"))
}

/// Our logits at every generated position, teacher-forced along llama.cpp's
/// tokens the way the fixture was made: the prompt as one batch, then one
/// token at a time.
fn forced_logits(model: &LoadedModel, g: &GenerationFixture) -> Vec<Vec<f32>> {
    let mut cache = model.new_cache(g.prompt_ids.len() + g.tokens.len());
    let mut logits = vec![
        model
            .decoder
            .forward(&g.prompt_ids, &mut cache, Logits::Last)
            .unwrap(),
    ];
    for &token in &g.tokens[..g.tokens.len() - 1] {
        logits.push(
            model
                .decoder
                .forward(&[token], &mut cache, Logits::Last)
                .unwrap(),
        );
    }
    logits
}

fn check_model(name: &str, file_name: &str, greedy_tokens: usize) {
    let fixture = fixture(name);
    let model = load(file_name);
    let mut agree = 0;
    let mut positions = 0;
    let mut max_logit_diff = 0.0f32;
    let mut exact = 0;
    let mut failures = Vec::new();
    for (index, g) in fixture.generations.iter().enumerate() {
        // Forced decoding: same top-1 wherever llama.cpp's margin is clear.
        for (step, logits) in forced_logits(&model, g).iter().enumerate() {
            let candidates: Vec<(u32, f32)> = logits
                .iter()
                .enumerate()
                .map(|(i, &l)| (i as u32, l))
                .collect();
            let ours = argmax(&candidates);
            positions += 1;
            if ours == g.tokens[step] {
                agree += 1;
            } else if g.margins[step] >= NEAR_TIE {
                failures.push(format!(
                    "prompt {index} step {step}: top-1 {ours} vs llama.cpp {} (margin {:.3})",
                    g.tokens[step], g.margins[step]
                ));
            }
            if let Some(top) = g.top10.get(step) {
                for &(id, logit) in top {
                    max_logit_diff = max_logit_diff.max((logits[id as usize] - logit).abs());
                }
            }
        }
        // Free-running greedy text.
        let n = greedy_tokens.min(g.tokens.len());
        // Up to and including llama.cpp's first end-of-generation token, where we stop.
        let expected = &g.tokens[..g.first_eog.map_or(n, |eog| eog.min(n))];
        let options = GenerateOptions {
            max_tokens: n,
            ..GenerateOptions::default()
        };
        let mut cache = model.new_cache(g.prompt_ids.len() + n + 1);
        let ours = generate(
            &model.decoder,
            &model.tokenizer,
            &mut cache,
            &g.prompt_ids,
            &options,
            &mut |_| ControlFlow::Continue(()),
        )
        .unwrap();
        match ours.tokens.iter().zip(expected).position(|(a, b)| a != b) {
            None if ours.tokens.len() == expected.len() => exact += 1,
            None => failures.push(format!(
                "prompt {index}: stopped after {} of {n} tokens ({:?})",
                ours.tokens.len(),
                ours.stop
            )),
            Some(step) if g.margins[step] < NEAR_TIE => {
                eprintln!(
                    "{name} prompt {index}: greedy text diverges at step {step}, a near-tie (margin {:.3})",
                    g.margins[step]
                )
            }
            Some(step) => failures.push(format!(
                "prompt {index}: greedy diverges at step {step} with margin {:.3}",
                g.margins[step]
            )),
        }
    }
    eprintln!(
        "{name}: forced top-1 agreement {agree}/{positions}; max top-10 logit difference {max_logit_diff:.5}; greedy exact {exact}/{} over {greedy_tokens} tokens",
        fixture.generations.len()
    );
    assert!(failures.is_empty(), "{name}:\n{}", failures.join("\n"));
    assert!(
        max_logit_diff <= LOGIT_TOLERANCE,
        "{name}: top-10 logits differ by up to {max_logit_diff}"
    );
    assert!(
        fixture.generations.len() >= 8,
        "{name}: the fixture needs at least 8 prompts"
    );
    assert!(
        exact + 1 >= fixture.generations.len(),
        "{name}: greedy text equal on only {exact} prompts"
    );
}

#[test]
fn smollm2_matches_llama_cpp() {
    check_model(MODELS[0].0, MODELS[0].1, 48);
}

#[test]
fn qwen2_matches_llama_cpp() {
    check_model(MODELS[1].0, MODELS[1].1, 16);
}

#[test]
fn gemma3_matches_llama_cpp() {
    check_model(MODELS[2].0, MODELS[2].1, 16);
}
