//! A small benchmark any user can run on their own device (the extension's
//! "Test this device" page): prompt processing and generation speed, and the
//! time to the first token, measured on a loaded model through the same
//! [`Decode`] the tasks use. Asynchronous, so the GPU's readbacks are
//! awaited in the browser; `between` runs between prompt chunks and steps
//! (the browser yields there, so the worker stays responsive).

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

/// Arbitrary but fixed token ids below `vocab` (speed does not depend on them).
pub fn bench_tokens(count: usize, vocab: usize) -> Vec<u32> {
    let vocab = vocab.max(1) as u64;
    (0..count as u64)
        .map(|i| ((i.wrapping_mul(2_654_435_761) >> 7) % vocab) as u32)
        .collect()
}

/// Runs `plan` on `session` from an empty cache: one untimed warm-up token,
/// then the prompt in the session's chunks (timed to the first token), then
/// the answer one greedy step at a time.
pub async fn run_bench<D: Decode, F: std::future::Future<Output = ()>>(
    session: &mut D,
    vocab: usize,
    plan: BenchPlan,
    mut between: impl FnMut() -> F,
) -> Result<BenchFigures, EngineError> {
    let prompt = bench_tokens(plan.prompt_tokens.max(1), vocab);
    let mut sampler = Sampler::new(SamplingParams::greedy());
    // Warm-up: pipelines, buffers and caches that the first call builds.
    session.truncate(0);
    session.decode(&prompt[..1], &mut sampler, &[]).await?;
    session.truncate(0);
    between().await;

    let started = Instant::now();
    let mut next = 0;
    for chunk in prompt.chunks(session.prefill_chunk().max(1)) {
        next = session.decode(chunk, &mut sampler, &[]).await?;
        between().await;
    }
    let prompt_seconds = started.elapsed().as_secs_f64().max(1e-9);

    let started = Instant::now();
    for _ in 0..plan.answer_tokens {
        next = session.decode(&[next], &mut sampler, &[]).await?;
        between().await;
    }
    let answer_seconds = started.elapsed().as_secs_f64().max(1e-9);
    session.truncate(0);
    Ok(BenchFigures {
        prompt_tokens: prompt.len(),
        answer_tokens: plan.answer_tokens,
        first_token_ms: prompt_seconds * 1e3,
        prompt_tokens_per_second: prompt.len() as f64 / prompt_seconds,
        answer_tokens_per_second: plan.answer_tokens as f64 / answer_seconds,
    })
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
