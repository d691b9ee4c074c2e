//! Locus's side of the benchmark, measured as llama-bench measures:
//!
//! - `pp N`: N prompt tokens from an empty cache (or after the depth
//!   prefill), in prompt batches, up to the last token's logits (the GPU
//!   also picks its argmax, four bytes read back, which waits for the GPU);
//! - `tg N`: N single-token steps from an empty context (or after the depth
//!   prefill), each waited for before the next, as llama-bench synchronises
//!   after each;
//! - `ttft N`: an N-token prompt from an empty cache to its first sampled
//!   token.
//!
//! Each test has one untimed warm-up first (llama-bench's: the whole prompt
//! for pp, one token for tg) and then `repetitions` timed runs, each starting
//! from a cleared cache refilled to `depth` untimed.

use web_time::Instant;

use locus::engine::{Decode, Sampler, SamplingParams};

use super::stats::Runs;

/// What to measure.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// Prompt tokens of `pp` (0: no pp test).
    pub pp: usize,
    /// Generated tokens of `tg` (0: no tg test).
    pub tg: usize,
    /// Tokens in the cache before each pp and tg run.
    pub depth: usize,
    /// Prompt tokens of the time-to-first-token test, if asked.
    pub ttft: Option<usize>,
    pub repetitions: usize,
}

impl Plan {
    /// KV cache positions the plan needs.
    pub fn capacity(&self) -> usize {
        let pp_tg = self.depth + self.pp.max(self.tg);
        pp_tg.max(self.ttft.unwrap_or(0)).max(1)
    }
}

/// The timed runs of each test that was asked for.
#[derive(Debug, Clone, Default)]
pub struct Measured {
    pub pp: Option<Runs>,
    pub tg: Option<Runs>,
    pub ttft: Option<Runs>,
}

/// Arbitrary but fixed token ids below `vocab`, different for each `stream`
/// (speed does not depend on them).
pub fn token_ids(count: usize, vocab: usize, stream: u32) -> Vec<u32> {
    let vocab = vocab.max(1) as u64;
    (0..count as u64)
        .map(|i| {
            let mixed = (i + u64::from(stream) * 0x9E37_79B9).wrapping_mul(2_654_435_761) >> 7;
            (mixed % vocab) as u32
        })
        .collect()
}

/// Runs every test of `plan` on `session` (a model of `vocab` tokens).
pub fn measure<D: Decode>(session: &mut D, vocab: usize, plan: &Plan) -> Result<Measured, String> {
    let depth_tokens = token_ids(plan.depth, vocab, 1);
    let mut bench = Bench {
        session,
        depth_tokens: &depth_tokens,
        repetitions: plan.repetitions,
    };
    let mut measured = Measured::default();
    if plan.pp > 0 {
        let prompt = token_ids(plan.pp, vocab, 2);
        bench.warm_up(|s| decode(s, &prompt).map(drop), plan.depth)?;
        measured.pp = Some(bench.runs(plan.pp, plan.depth, |s| decode(s, &prompt).map(drop))?);
    }
    if plan.tg > 0 {
        let first = token_ids(1, vocab, 3)[0];
        bench.warm_up(|s| decode(s, &[first]).map(drop), plan.depth)?;
        measured.tg = Some(bench.runs(plan.tg, plan.depth, |s| {
            let mut token = first;
            for _ in 0..plan.tg {
                token = decode(s, &[token])?;
            }
            Ok(())
        })?);
    }
    if let Some(n) = plan.ttft.filter(|&n| n > 0) {
        let prompt = token_ids(n, vocab, 4);
        bench.warm_up(|s| decode(s, &prompt).map(drop), 0)?;
        measured.ttft = Some(bench.runs(n, 0, |s| decode(s, &prompt).map(drop))?);
    }
    Ok(measured)
}

struct Bench<'a, D: Decode> {
    session: &'a mut D,
    depth_tokens: &'a [u32],
    repetitions: usize,
}

impl<D: Decode> Bench<'_, D> {
    /// Clears the cache and refills it to `depth` tokens.
    fn reset(&mut self, depth: usize) -> Result<(), String> {
        self.session.truncate(0);
        if depth > 0 {
            decode(self.session, &self.depth_tokens[..depth])?;
        }
        Ok(())
    }

    fn warm_up(
        &mut self,
        run: impl FnOnce(&mut D) -> Result<(), String>,
        depth: usize,
    ) -> Result<(), String> {
        self.reset(depth)?;
        run(self.session)
    }

    /// `repetitions` timed runs of `run`, each after a reset to `depth`.
    fn runs(
        &mut self,
        tokens: usize,
        depth: usize,
        mut run: impl FnMut(&mut D) -> Result<(), String>,
    ) -> Result<Runs, String> {
        let mut seconds = Vec::with_capacity(self.repetitions);
        for _ in 0..self.repetitions {
            self.reset(depth)?;
            let started = Instant::now();
            run(self.session)?;
            seconds.push(started.elapsed().as_secs_f64().max(1e-9));
        }
        Ok(Runs { tokens, seconds })
    }
}

/// Runs `tokens` at the next positions; the greedy pick after the last.
fn decode<D: Decode>(session: &mut D, tokens: &[u32]) -> Result<u32, String> {
    let mut sampler = Sampler::new(SamplingParams::greedy());
    pollster::block_on(session.decode(tokens, &mut sampler, &[])).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_ids_are_in_range_and_differ_between_streams() {
        let a = token_ids(600, 49_152, 2);
        let b = token_ids(600, 49_152, 3);
        assert!(a.iter().chain(&b).all(|&t| t < 49_152));
        assert_ne!(a, b);
        assert_eq!(a, token_ids(600, 49_152, 2));
    }

    #[test]
    fn capacity_covers_depth_plus_the_longer_test() {
        let plan = Plan {
            pp: 512,
            tg: 128,
            depth: 1024,
            ttft: Some(1500),
            repetitions: 5,
        };
        assert_eq!(plan.capacity(), 1536);
        let plan = Plan {
            ttft: Some(4000),
            ..plan
        };
        assert_eq!(plan.capacity(), 4000);
    }
}
