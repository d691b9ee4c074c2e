//! A small benchmark any user can run on their own device (the extension's
//! "Test this device" page): prompt processing and generation speed, and the
//! time to the first token, measured on a loaded model through the same
//! [`Decode`] the tasks use. Asynchronous, so the GPU's readbacks are
//! awaited in the browser; `between` runs after every step (the warm-up,
//! each prompt chunk, each generated token): the browser yields there, so
//! the worker stays responsive, reports progress and may stop the run.

use std::ops::ControlFlow;

use serde::Serialize;
use web_time::Instant;

use super::{Decode, EngineError, Sampler, SamplingParams};

/// What to run: an `prompt_tokens` prompt, then `answer_tokens` steps.
#[derive(Debug, Clone, Copy)]
pub struct BenchPlan {
    pub prompt_tokens: usize,
    pub answer_tokens: usize,
}

/// What one run measured.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BenchFigures {
    pub prompt_tokens: usize,
    pub answer_tokens: usize,
    /// From an empty cache to the first sampled token of the prompt.
    pub first_token_ms: f64,
    pub prompt_tokens_per_second: f64,
    pub answer_tokens_per_second: f64,
}

/// The parts of a benchmark run, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum BenchPhase {
    /// One untimed token: pipelines, buffers and caches the first call builds.
    Warmup,
    /// The prompt, a chunk at a time (timed to the first token).
    Prompt,
    /// The answer, one greedy token at a time.
    Answer,
}

/// A step just finished: `done` of `total` in `phase` (tokens, or 1 of 1
/// for the warm-up).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BenchStep {
    pub phase: BenchPhase,
    pub done: usize,
    pub total: usize,
}

/// Why a benchmark run ended without figures.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// `between` asked to stop (the user pressed Stop).
    #[error("the benchmark was stopped")]
    Stopped,
    #[error(transparent)]
    Engine(#[from] EngineError),
}

/// Arbitrary but fixed token ids below `vocab` (speed does not depend on them).
pub fn bench_tokens(count: usize, vocab: usize) -> Vec<u32> {
    let vocab = vocab.max(1) as u64;
    (0..count as u64)
        .map(|i| ((i.wrapping_mul(2_654_435_761) >> 7) % vocab) as u32)
        .collect()
}

/// Runs `plan` on `session` from an empty cache: one untimed warm-up token,
/// then the prompt in the session's chunks (timed to the first token), then
/// the answer one greedy step at a time. After each step `between` hears
/// which one finished; `Break` stops the run there ([`BenchError::Stopped`],
/// the cache emptied).
pub async fn run_bench<D: Decode, F: std::future::Future<Output = ControlFlow<()>>>(
    session: &mut D,
    vocab: usize,
    plan: BenchPlan,
    mut between: impl FnMut(BenchStep) -> F,
) -> Result<BenchFigures, BenchError> {
    let result = run_steps(session, vocab, plan, &mut between).await;
    session.truncate(0);
    result
}

async fn run_steps<D: Decode, F: std::future::Future<Output = ControlFlow<()>>>(
    session: &mut D,
    vocab: usize,
    plan: BenchPlan,
    between: &mut impl FnMut(BenchStep) -> F,
) -> Result<BenchFigures, BenchError> {
    let prompt = bench_tokens(plan.prompt_tokens.max(1), vocab);
    let mut sampler = Sampler::new(SamplingParams::greedy());
    // A decoder that runs greedy steps ahead of the calls (the GPU's
    // groups) is told where the run ends: on a software adapter a group
    // past it costs more than the whole measurement.
    session.truncate(0);
    session.expect_at_most(1);
    session.decode(&prompt[..1], &mut sampler, &[]).await?;
    session.truncate(0);
    step(between, BenchPhase::Warmup, 1, 1).await?;

    session.expect_at_most(prompt.len() + plan.answer_tokens);

    let started = Instant::now();
    let mut next = 0;
    let mut read = 0;
    for chunk in prompt.chunks(session.prefill_chunk().max(1)) {
        next = session.decode(chunk, &mut sampler, &[]).await?;
        read += chunk.len();
        step(between, BenchPhase::Prompt, read, prompt.len()).await?;
    }
    let prompt_seconds = started.elapsed().as_secs_f64().max(1e-9);

    let started = Instant::now();
    for done in 1..=plan.answer_tokens {
        next = session.decode(&[next], &mut sampler, &[]).await?;
        step(between, BenchPhase::Answer, done, plan.answer_tokens).await?;
    }
    let answer_seconds = started.elapsed().as_secs_f64().max(1e-9);
    Ok(BenchFigures {
        prompt_tokens: prompt.len(),
        answer_tokens: plan.answer_tokens,
        first_token_ms: prompt_seconds * 1e3,
        prompt_tokens_per_second: prompt.len() as f64 / prompt_seconds,
        answer_tokens_per_second: plan.answer_tokens as f64 / answer_seconds,
    })
}

/// Tells `between` that a step finished; `Stopped` if it says to stop.
async fn step<F: std::future::Future<Output = ControlFlow<()>>>(
    between: &mut impl FnMut(BenchStep) -> F,
    phase: BenchPhase,
    done: usize,
    total: usize,
) -> Result<(), BenchError> {
    match between(BenchStep { phase, done, total }).await {
        ControlFlow::Continue(()) => Ok(()),
        ControlFlow::Break(()) => Err(BenchError::Stopped),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bench_tokens_stay_in_the_vocabulary_and_repeat() {
        let ids = bench_tokens(500, 49_152);
        assert!(ids.iter().all(|&t| t < 49_152));
        assert_eq!(ids, bench_tokens(500, 49_152));
        assert!(ids.windows(2).any(|w| w[0] != w[1]));
    }
}
