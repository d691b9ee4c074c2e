//! The decode loop: prefill the prompt, then sample, stream and stop.

use std::ops::ControlFlow;

use web_time::Instant;

use super::decode::{CpuSession, Decode, run_ready};
use super::{EngineError, Sampler, SamplingParams, StopCheck, StopMatcher};
use crate::cpu::CpuDecoder;
use crate::model::{KvCache, ModelError};
use crate::tokenizer::{StreamDecoder, Tokenizer};

#[derive(Debug, Clone)]
pub struct GenerateOptions {
    pub max_tokens: usize,
    pub sampling: SamplingParams,
    pub stop_strings: Vec<String>,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions {
            max_tokens: 256,
            sampling: SamplingParams::greedy(),
            stop_strings: Vec::new(),
        }
    }
}

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
    if prompt.is_empty() {
        return Err(EngineError::EmptyPrompt);
    }
    let mut sampler = Sampler::new(options.sampling.clone());
    let mut history = prompt.to_vec();
    let started = Instant::now();
    let mut token = decoder.decode(prompt, &mut sampler, &history).await?;
    let prompt_seconds = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let mut tokens = Vec::new();
    let mut stream = StreamDecoder::new(tokenizer);
    let mut stops = StopMatcher::new(&options.stop_strings);
    let mut text = String::new();
    let mut emit = |piece: &str, text: &mut String| {
        text.push_str(piece);
        if piece.is_empty() {
            ControlFlow::Continue(())
        } else {
            on_text(piece)
        }
    };
    let stop = loop {
        if tokens.len() >= options.max_tokens {
            break StopReason::MaxTokens;
        }
        if tokenizer.is_end_of_generation(token) {
            break StopReason::EndOfGeneration;
        }
        tokens.push(token);
        history.push(token);
        match stops.push(&stream.push(token)) {
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
        match decoder.decode(&[token], &mut sampler, &history).await {
            Ok(next) => token = next,
            Err(EngineError::Model(ModelError::ContextFull { .. })) => {
                break StopReason::ContextFull;
            }
            Err(error) => return Err(error),
        }
    };
    if stop != StopReason::StopString {
        let rest = stream.finish() + &stops.finish();
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
