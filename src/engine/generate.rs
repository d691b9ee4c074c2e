//! The decode loop: prefill the prompt, then sample, stream and stop.

use std::ops::ControlFlow;

use web_time::Instant;

use super::decode::{CpuSession, Decode, run_ready};
use super::{EngineError, Sampler, SamplingParams, StopCheck, StopMatcher};
use crate::chat::ThinkFilter;
use crate::cpu::CpuDecoder;
use crate::model::{KvCache, ModelError};
use crate::tokenizer::{StreamDecoder, Tokenizer};

#[derive(Debug, Clone)]
pub struct GenerateOptions {
    pub max_tokens: usize,
    pub sampling: SamplingParams,
    pub stop_strings: Vec<String>,
    /// Prompt tokens per prefill step; 0: the decoder's own
    /// ([`Decode::prefill_chunk`]).
    pub prefill_chunk: usize,
    /// A run cut short (its budget, Stop, a full context) ends at its last
    /// whole character: the user's text. Otherwise an incomplete character
    /// ends it as U+FFFD, as llama.cpp's lossy decode does (the reference
    /// tests compare against that).
    pub whole_characters: bool,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions {
            max_tokens: 256,
            sampling: SamplingParams::greedy(),
            stop_strings: Vec::new(),
            prefill_chunk: 0,
            whole_characters: false,
        }
    }
}

/// Refuses tokens by their text, as the model writes: a summary that may not
/// copy long runs of its source (`tasks::CopyGuard`). A refused token's
/// step runs again without it, up to [`MAX_REFUSALS`] times in a row.
pub trait TextGuard {
    /// Whether `piece` may follow `text` (all the text decoded so far).
    fn allows(&self, text: &str, piece: &str) -> bool;
}

/// Tokens refused in a row at one position before the model's next choice
/// stands: each refusal costs a decode step, and a model that insists
/// (a name spelled in pieces) is let through.
pub const MAX_REFUSALS: usize = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    MaxTokens,
    EndOfGeneration,
    StopString,
    Cancelled,
    ContextFull,
}

#[derive(Debug, Clone)]
pub struct Generation {
    pub tokens: Vec<u32>,
    pub text: String,
    pub stop: StopReason,
    pub prompt_tokens: usize,
    pub prompt_seconds: f64,
    pub generation_seconds: f64,
}

impl Generation {
    pub fn prompt_tokens_per_second(&self) -> f64 {
        self.prompt_tokens as f64 / self.prompt_seconds.max(1e-9)
    }

    pub fn tokens_per_second(&self) -> f64 {
        self.tokens.len() as f64 / self.generation_seconds.max(1e-9)
    }
}

/// Generates on the CPU after `prompt` (token ids, already templated and
/// with BOS as wanted); see [`generate_on`].
pub fn generate(
    decoder: &CpuDecoder,
    tokenizer: &Tokenizer,
    cache: &mut KvCache,
    prompt: &[u32],
    options: &GenerateOptions,
    on_text: &mut dyn FnMut(&str) -> ControlFlow<()>,
) -> Result<Generation, EngineError> {
    let mut session = CpuSession { decoder, cache };
    run_ready(generate_on(
        &mut session,
        tokenizer,
        prompt,
        options,
        on_text,
    ))
}

/// Generates on any backend after `prompt`, continuing from what `decoder`
/// already holds. `on_text` receives text as it completes; returning
/// `ControlFlow::Break` cancels between tokens.
pub async fn generate_on<D: Decode>(
    decoder: &mut D,
    tokenizer: &Tokenizer,
    prompt: &[u32],
    options: &GenerateOptions,
    on_text: &mut dyn FnMut(&str) -> ControlFlow<()>,
) -> Result<Generation, EngineError> {
    let mut on_prefill = |_: PrefillProgress| ControlFlow::Continue(());
    generate_observed(
        decoder,
        tokenizer,
        prompt,
        options,
        on_text,
        &mut on_prefill,
        None,
    )
    .await
}

/// How far the prompt has been read: `done` of `total` tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrefillProgress {
    pub done: usize,
    pub total: usize,
}

/// As [`generate_on`], with `on_prefill` asked before the prompt runs and
/// after every chunk of it (`options.prefill_chunk` tokens): it may report
/// progress, and returning `ControlFlow::Break` cancels before the next
/// chunk. A cancelled prefill leaves the chunks already run in the cache.
/// `guard`, if any, judges each generated token (not the prompt's first
/// answer token, which comes from the prefill).
pub async fn generate_observed<D: Decode>(
    decoder: &mut D,
    tokenizer: &Tokenizer,
    prompt: &[u32],
    options: &GenerateOptions,
    on_text: &mut dyn FnMut(&str) -> ControlFlow<()>,
    on_prefill: &mut dyn FnMut(PrefillProgress) -> ControlFlow<()>,
    guard: Option<&dyn TextGuard>,
) -> Result<Generation, EngineError> {
    if prompt.is_empty() {
        return Err(EngineError::EmptyPrompt);
    }
    let mut sampler = Sampler::new(options.sampling.clone());
    let mut history = prompt.to_vec();
    let started = Instant::now();
    let Some(mut token) = prefill(decoder, prompt, options, &mut sampler, on_prefill).await? else {
        return Ok(Generation {
            tokens: Vec::new(),
            text: String::new(),
            stop: StopReason::Cancelled,
            prompt_tokens: prompt.len(),
            prompt_seconds: started.elapsed().as_secs_f64(),
            generation_seconds: 0.0,
        });
    };
    let prompt_seconds = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let mut tokens = Vec::new();
    let mut stream = StreamDecoder::new(tokenizer);
    let mut stops = StopMatcher::new(&options.stop_strings);
    let mut think = ThinkFilter::for_vocabulary(|text| tokenizer.token_id(text).is_some());
    let mut text = String::new();
    // As decoded, before the think filter and stop strings: what a guard
    // reads (kept only when there is one).
    let mut decoded = String::new();
    let mut emit = |piece: &str, text: &mut String| {
        text.push_str(piece);
        if piece.is_empty() {
            ControlFlow::Continue(())
        } else {
            on_text(piece)
        }
    };
    // The first token came from the prompt; the loop asks for the rest.
    decoder.expect_at_most(options.max_tokens.saturating_sub(1));
    let stop = loop {
        if tokens.len() >= options.max_tokens {
            break StopReason::MaxTokens;
        }
        if tokenizer.is_end_of_generation(token) {
            break StopReason::EndOfGeneration;
        }
        tokens.push(token);
        history.push(token);
        let mut piece = stream.push(token);
        if guard.is_some() {
            decoded.push_str(&piece);
        }
        if let Some(filter) = &mut think {
            piece = filter.push(&piece);
        }
        match stops.push(&piece) {
            StopCheck::Stop(before) => {
                let _ = emit(&before, &mut text);
                break StopReason::StopString;
            }
            StopCheck::Emit(piece) => {
                if emit(&piece, &mut text).is_break() {
                    break StopReason::Cancelled;
                }
            }
        }
        if tokens.len() >= options.max_tokens {
            break StopReason::MaxTokens;
        }
        let input = token;
        match decoder.decode(&[input], &mut sampler, &history).await {
            Ok(next) => token = next,
            Err(EngineError::Model(ModelError::ContextFull { .. })) => {
                break StopReason::ContextFull;
            }
            Err(error) => return Err(error),
        }
        if let Some(guard) = guard {
            let mut refused = Vec::new();
            while refused.len() < MAX_REFUSALS && !guard.allows(&decoded, &stream.peek(token)) {
                // The same step again, the refused tokens excluded.
                refused.push(token);
                decoder.truncate(decoder.position() - 1);
                decoder.expect_at_most(options.max_tokens - tokens.len());
                sampler.exclude(refused.clone());
                token = decoder.decode(&[input], &mut sampler, &history).await?;
            }
            if !refused.is_empty() {
                sampler.exclude(Vec::new());
            }
        }
    };
    if stop != StopReason::StopString {
        let cut = stop != StopReason::EndOfGeneration;
        let mut rest = if cut && options.whole_characters {
            stream.finish_cut()
        } else {
            stream.finish()
        };
        if let Some(filter) = &mut think {
            rest = filter.push(&rest) + &filter.finish();
        }
        let rest = rest + &stops.finish();
        let _ = emit(&rest, &mut text);
    }
    Ok(Generation {
        tokens,
        text,
        stop,
        prompt_tokens: prompt.len(),
        prompt_seconds,
        generation_seconds: started.elapsed().as_secs_f64(),
    })
}

/// Runs `prompt` chunk by chunk and returns the token `sampler` picks after
/// it, or `None` when `on_prefill` cancelled. Only the last chunk's token is
/// sampled by `sampler` (the others are picked greedily and dropped, so a
/// seeded sampler draws the same numbers however the prompt is split).
async fn prefill<D: Decode>(
    decoder: &mut D,
    prompt: &[u32],
    options: &GenerateOptions,
    sampler: &mut Sampler,
    on_prefill: &mut dyn FnMut(PrefillProgress) -> ControlFlow<()>,
) -> Result<Option<u32>, EngineError> {
    let chunk = match options.prefill_chunk {
        0 => decoder.prefill_chunk().max(1),
        n => n,
    };
    let total = prompt.len();
    let mut throwaway = Sampler::new(SamplingParams::greedy());
    let mut done = 0;
    loop {
        if on_prefill(PrefillProgress { done, total }).is_break() {
            return Ok(None);
        }
        let end = (done + chunk).min(total);
        if end == total {
            return Ok(Some(
                decoder.decode(&prompt[done..], sampler, prompt).await?,
            ));
        }
        decoder
            .decode(&prompt[done..end], &mut throwaway, &prompt[..end])
            .await?;
        done = end;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::LoadedModel;

    fn smollm2() -> LoadedModel {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("models/SmolLM2-135M-Instruct.Q4_1.gguf");
        let mut file = std::fs::File::open(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (run `cargo xtask models`)", path.display()));
        LoadedModel::load(&mut file).unwrap()
    }

    fn run(
        model: &LoadedModel,
        prompt: &[u32],
        options: &GenerateOptions,
        on_prefill: &mut dyn FnMut(PrefillProgress) -> ControlFlow<()>,
    ) -> (Generation, usize) {
        let mut cache = model.new_cache(prompt.len() + options.max_tokens + 1);
        let mut session = CpuSession {
            decoder: &model.decoder,
            cache: &mut cache,
        };
        let generation = run_ready(generate_observed(
            &mut session,
            &model.tokenizer,
            prompt,
            options,
            &mut |_| ControlFlow::Continue(()),
            on_prefill,
            None,
        ))
        .unwrap();
        (generation, cache.len())
    }

    fn prompt(model: &LoadedModel) -> Vec<u32> {
        let text = "The river rises in the hills and runs to the sea. ".repeat(4);
        model.tokenizer.encode(&text, false, false).unwrap()
    }

    #[test]
    fn a_chunked_prefill_reports_each_chunk_and_answers_as_one_batch_would() {
        let model = smollm2();
        let prompt = prompt(&model);
        let whole = GenerateOptions {
            max_tokens: 8,
            prefill_chunk: usize::MAX,
            ..GenerateOptions::default()
        };
        let chunked = GenerateOptions {
            prefill_chunk: 16,
            ..whole.clone()
        };
        let mut seen = Vec::new();
        let (expected, _) = run(&model, &prompt, &whole, &mut |_| ControlFlow::Continue(()));
        let (got, _) = run(&model, &prompt, &chunked, &mut |p| {
            seen.push(p);
            ControlFlow::Continue(())
        });
        assert_eq!(got.tokens, expected.tokens);
        let total = prompt.len();
        assert!(total > 32, "{total} tokens");
        let dones: Vec<usize> = seen.iter().map(|p| p.done).collect();
        let want: Vec<usize> = (0..total).step_by(16).collect();
        assert_eq!(dones, want);
        assert!(seen.iter().all(|p| p.total == total));
    }

    #[test]
    fn a_prefill_cancelled_after_one_chunk_runs_no_further() {
        let model = smollm2();
        let prompt = prompt(&model);
        let options = GenerateOptions {
            max_tokens: 8,
            prefill_chunk: 16,
            ..GenerateOptions::default()
        };
        let (generation, cached) = run(&model, &prompt, &options, &mut |p| {
            if p.done >= 16 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        });
        assert_eq!(generation.stop, StopReason::Cancelled);
        assert!(generation.tokens.is_empty());
        assert_eq!(cached, 16, "one chunk ran, then the prefill stopped");
        // Cancelled before anything ran: nothing runs.
        let (generation, cached) = run(&model, &prompt, &options, &mut |_| ControlFlow::Break(()));
        assert_eq!((generation.stop, cached), (StopReason::Cancelled, 0));
    }
}
