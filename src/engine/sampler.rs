//! Choosing the next token from logits: greedy, or llama.cpp's default chain
//! (repetition penalty → top-k → top-p → min-p → temperature → draw).

use std::collections::HashSet;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

#[derive(Debug, Clone, PartialEq)]
pub struct SamplingParams {
    /// 0 means greedy.
    pub temperature: f32,
    /// 0 means off.
    pub top_k: usize,
    /// 1 means off.
    pub top_p: f32,
    /// 0 means off.
    pub min_p: f32,
    /// 1 means off.
    pub repeat_penalty: f32,
    pub repeat_last_n: usize,
    pub seed: u64,
}

impl Default for SamplingParams {
    fn default() -> Self {
        SamplingParams {
            temperature: 0.0,
            top_k: 40,
            top_p: 0.95,
            min_p: 0.05,
            repeat_penalty: 1.0,
            repeat_last_n: 64,
            seed: 0,
        }
    }
}

impl SamplingParams {
    pub fn greedy() -> Self {
        SamplingParams::default()
    }
}

pub struct Sampler {
    params: SamplingParams,
    rng: SmallRng,
    /// Tokens the next pick may not be (a guard refused them there).
    excluded: Vec<u32>,
}

impl Sampler {
    pub fn new(params: SamplingParams) -> Sampler {
        let rng = SmallRng::seed_from_u64(params.seed);
        Sampler {
            params,
            rng,
            excluded: Vec::new(),
        }
    }

    /// Keeps the next picks off `tokens` until this is called again.
    pub fn exclude(&mut self, tokens: Vec<u32>) {
        self.excluded = tokens;
    }

    /// Whether this sampler takes the largest logit (no penalty, no
    /// temperature, nothing excluded): then the GPU can pick the token by
    /// itself.
    pub fn is_greedy(&self) -> bool {
        self.params.temperature <= 0.0
            && self.params.repeat_penalty == 1.0
            && self.excluded.is_empty()
    }

    /// Picks a token; `history` is every token so far (for the penalty).
    pub fn sample(&mut self, logits: &[f32], history: &[u32]) -> u32 {
        let mut candidates: Vec<(u32, f32)> = logits
            .iter()
            .enumerate()
            .map(|(i, &l)| (i as u32, l))
            .collect();
        // Every token is here at its own index: penalise by index.
        for token in self.recent(history) {
            if let Some((_, logit)) = candidates.get_mut(token as usize) {
                *logit = self.penalised(*logit);
            }
        }
        for &token in &self.excluded {
            if let Some((_, logit)) = candidates.get_mut(token as usize) {
                *logit = f32::NEG_INFINITY;
            }
        }
        self.choose(candidates)
    }

    /// Picks among `candidates` (token, logit): the best few the GPU found.
    /// A penalised token can then fall below tokens outside the list that
    /// would have overtaken it: the list is long (64) next to top-k (40), so
    /// this rarely matters.
    pub fn sample_candidates(&mut self, mut candidates: Vec<(u32, f32)>, history: &[u32]) -> u32 {
        candidates.retain(|(token, _)| !self.excluded.contains(token));
        let recent = self.recent(history);
        for (token, logit) in &mut candidates {
            if recent.contains(token) {
                *logit = self.penalised(*logit);
            }
        }
        self.choose(candidates)
    }

    /// The distinct recent tokens the repetition penalty applies to (each is
    /// penalised once, as in llama.cpp); none when there is no penalty.
    fn recent(&self, history: &[u32]) -> HashSet<u32> {
        if self.params.repeat_penalty == 1.0 {
            return HashSet::new();
        }
        history
            .iter()
            .rev()
            .take(self.params.repeat_last_n)
            .copied()
            .collect()
    }

    fn penalised(&self, logit: f32) -> f32 {
        if logit > 0.0 {
            logit / self.params.repeat_penalty
        } else {
            logit * self.params.repeat_penalty
        }
    }

    /// Greedy, or temperature with top-k, top-p and min-p, over `candidates`.
    fn choose(&mut self, mut candidates: Vec<(u32, f32)>) -> u32 {
        let p = &self.params;
        if p.temperature <= 0.0 {
            return argmax(&candidates);
        }
        // Largest logit first, ties by id: a total order, so that picking
        // the top k before sorting (instead of sorting the whole vocabulary
        // every token) keeps the same candidates in the same order.
        let order = |a: &(u32, f32), b: &(u32, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
        if p.top_k > 0 && p.top_k < candidates.len() {
            candidates.select_nth_unstable_by(p.top_k - 1, order);
            candidates.truncate(p.top_k);
        }
        candidates.sort_unstable_by(order);
        let mut probs = softmax(&candidates);
        if p.top_p < 1.0 {
            let mut total = 0.0;
            let keep = probs.iter().position(|&q| {
                total += q;
                total >= p.top_p
            });
            let keep = keep.map_or(probs.len(), |i| i + 1);
            candidates.truncate(keep);
        }
        if p.min_p > 0.0 {
            let floor = candidates[0].1 + p.min_p.ln();
            let keep = candidates
                .iter()
                .take_while(|c| c.1 >= floor)
                .count()
                .max(1);
            candidates.truncate(keep);
        }
        candidates.iter_mut().for_each(|c| c.1 /= p.temperature);
        probs = softmax(&candidates);
        let mut draw: f32 = self.rng.random();
        for (candidate, q) in candidates.iter().zip(&probs) {
            if draw < *q {
                return candidate.0;
            }
            draw -= q;
        }
        candidates.last().map_or(0, |c| c.0)
    }
}

/// The first index of the largest logit.
pub fn argmax(candidates: &[(u32, f32)]) -> u32 {
    let mut best = (0u32, f32::NEG_INFINITY);
    for &(id, logit) in candidates {
        if logit > best.1 {
            best = (id, logit);
        }
    }
    best.0
}

fn softmax(candidates: &[(u32, f32)]) -> Vec<f32> {
    let max = candidates
        .iter()
        .map(|c| c.1)
        .fold(f32::NEG_INFINITY, |m, x| if m > x { m } else { x });
    let exps: Vec<f32> = candidates.iter().map(|c| (c.1 - max).exp()).collect();
    let sum: f32 = exps.iter().sum();
    exps.into_iter().map(|e| e / sum).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greedy_takes_the_first_maximum() {
        let mut s = Sampler::new(SamplingParams::greedy());
        assert_eq!(s.sample(&[0.1, 2.0, 2.0, -1.0], &[]), 1);
    }

    #[test]
    fn excluded_tokens_are_never_picked_until_the_exclusion_ends() {
        let mut s = Sampler::new(SamplingParams::greedy());
        s.exclude(vec![1, 3]);
        assert!(!s.is_greedy(), "the GPU must hand over candidates");
        assert_eq!(s.sample(&[0.1, 2.0, 1.5, 3.0], &[]), 2);
        assert_eq!(
            s.sample_candidates(vec![(3, 3.0), (1, 2.0), (2, 1.5)], &[]),
            2
        );
        s.exclude(Vec::new());
        assert!(s.is_greedy());
        assert_eq!(s.sample(&[0.1, 2.0, 1.5, 3.0], &[]), 3);
    }

    #[test]
    fn top_k_one_is_greedy_whatever_the_temperature() {
        let params = SamplingParams {
            temperature: 5.0,
            top_k: 1,
            ..SamplingParams::default()
        };
        let mut s = Sampler::new(params);
        for _ in 0..20 {
            assert_eq!(s.sample(&[0.0, 1.0, 0.9], &[]), 1);
        }
    }

    #[test]
    fn the_same_seed_draws_the_same_tokens() {
        let params = SamplingParams {
            temperature: 1.0,
            top_k: 0,
            top_p: 1.0,
            min_p: 0.0,
            seed: 42,
            ..SamplingParams::default()
        };
        let logits: Vec<f32> = (0..50).map(|i| (i % 7) as f32 * 0.3).collect();
        let draws = |mut s: Sampler| (0..30).map(|_| s.sample(&logits, &[])).collect::<Vec<_>>();
        let a = draws(Sampler::new(params.clone()));
        assert_eq!(a, draws(Sampler::new(params)));
        assert!(
            a.iter().collect::<std::collections::HashSet<_>>().len() > 3,
            "it does sample"
        );
    }

    #[test]
    fn repetition_penalty_can_change_the_choice() {
        let params = SamplingParams {
            repeat_penalty: 2.0,
            ..SamplingParams::greedy()
        };
        let mut s = Sampler::new(params);
        assert_eq!(
            s.sample(&[1.0, 0.8], &[0, 0, 0]),
            1,
            "token 0 penalised once: 0.5 < 0.8"
        );
    }

    #[test]
    fn min_p_drops_unlikely_tokens() {
        let params = SamplingParams {
            temperature: 1.0,
            top_k: 0,
            top_p: 1.0,
            min_p: 0.5,
            seed: 1,
            ..SamplingParams::default()
        };
        let mut s = Sampler::new(params);
        for _ in 0..50 {
            assert_ne!(s.sample(&[5.0, 4.9, -3.0], &[]), 2);
        }
    }
}
