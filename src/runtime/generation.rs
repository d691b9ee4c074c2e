//! Running a task on the loaded model: prompts from the task, generation on
//! the CPU or the GPU decoder (both through `engine::Decode`), tokens
//! streamed as events, a summary of the run in `done`.
//!
//! Text longer than the context window is split (`tasks::chunk`): a summary
//! takes notes on each part and then summarises the notes (map-reduce); a
//! translation translates the parts in order, streaming each.

use std::ops::ControlFlow;

use serde_json::{Value, json};

use std::cell::RefMut;

use super::yielding::Yielding;
use super::{Engine, ModelSlot};
use crate::chat::ChatTemplate;
use crate::engine::{
    CpuSession, Decode, EngineError, GenerateOptions, PrefillProgress, StopReason, TextGuard,
    generate_observed,
};
use crate::error::LocusError;
use crate::lid::{Detection, LanguageDetector, UNDETERMINED};
use crate::protocol::{ChatMessage, Event, EventBody, SummarizeRequest, TranslateRequest};
use crate::tasks::{self, CopyGuard, OutputChecks, OutputStop, chunk};
use crate::tokenizer::Tokenizer;

/// The context used when a request does not ask for a smaller one: larger
/// contexts cost memory (the KV cache) and minutes of CPU prefill, while
/// map-reduce handles longer text anyway.
const DEFAULT_CONTEXT: usize = 4096;
/// The smallest context a request may ask for.
const MIN_CONTEXT: usize = 128;
/// Rounds of note-taking before a long summary gives up (each shrinks the
/// text several times over, so three cover any page we accept).
const MAX_NOTE_ROUNDS: usize = 3;
/// The shortest notes on one part of a long text, in tokens.
const MIN_NOTES_TOKENS: usize = 16;
/// Detected-language confidence from which "already in the target language"
/// is said instead of translating.
const SAME_LANGUAGE_CONFIDENCE: f32 = 0.5;

/// One request's generations: the model, the abort flag, the events, and
/// totals over every generation the request runs. The job holds the
/// engine's borrow from start to end: it is the lock that keeps a second
/// request off the decoder (the GPU decoder has one KV cache).
pub struct Job<'a> {
    pub slot: &'a ModelSlot,
    engine: RefMut<'a, Engine>,
    pub id: &'a str,
    pub aborted: &'a dyn Fn() -> bool,
    pub emit: &'a mut dyn FnMut(Event),
    context: usize,
    tokens: usize,
    seconds: f64,
    prompt_tokens: usize,
    prompt_seconds: f64,
    /// The last prompt as rendered for the model (shown to tests).
    prompt: String,
    stop: Option<StopReason>,
    /// Why the output checks ended or cut the answer (`tasks::OutputChecks`).
    output_stop: Option<OutputStop>,
}

impl<'a> Job<'a> {
    /// Waits for the engine to be free, then prepares the job.
    pub async fn new(
        slot: &'a ModelSlot,
        id: &'a str,
        aborted: &'a dyn Fn() -> bool,
        emit: &'a mut dyn FnMut(Event),
        context_tokens: Option<usize>,
    ) -> Job<'a> {
        let engine = slot.lock().await;
        let model_context = engine.window();
        let context = match context_tokens {
            // max then min, never `clamp`: it panics when its bounds cross.
            Some(asked) => asked.max(MIN_CONTEXT).min(model_context),
            None => model_context.min(DEFAULT_CONTEXT),
        };
        Job {
            slot,
            engine,
            id,
            aborted,
            emit,
            context: context.min(model_context),
            tokens: 0,
            seconds: 0.0,
            prompt_tokens: 0,
            prompt_seconds: 0.0,
            prompt: String::new(),
            stop: None,
            output_stop: None,
        }
    }

    fn event(&mut self, body: EventBody) {
        (self.emit)(Event::new(self.id, body));
    }

    fn progress(&mut self, stage: &str, message: String, done: usize, total: usize) {
        self.event(EventBody::Progress {
            stage: stage.into(),
            message,
            done: Some(done as u64),
            total: Some(total as u64),
        });
    }

    fn token(&mut self, text: &str) {
        self.event(EventBody::token(text));
    }

    /// The model's tokenizer and chat template.
    fn text(&self) -> (&Tokenizer, Option<&ChatTemplate>) {
        self.engine.text()
    }

    fn count(&self, text: &str) -> usize {
        count_tokens(self.text().0, text)
    }

    /// Tokens of the prompt `messages` make, with the model's template.
    fn prompt_len(&self, messages: &[ChatMessage]) -> Result<usize, LocusError> {
        let (tokenizer, template) = self.text();
        Ok(render_prompt(tokenizer, template, messages)?.1.len())
    }

    /// Room for input text in a prompt around `empty` (the messages with no
    /// text) that leaves `reply` tokens for the answer; a little slack
    /// covers token boundaries the per-piece counts miss.
    fn room(&self, empty: &[ChatMessage], reply: usize) -> Result<usize, LocusError> {
        let fixed = self.prompt_len(empty)? + reply;
        let free = self.context.saturating_sub(fixed);
        let room = free.saturating_sub(8 + free / 32);
        if room < 16 {
            return Err(LocusError::TooLong {
                tokens: fixed,
                context: self.context,
            });
        }
        Ok(room)
    }

    /// Runs one generation after `messages`, its text through `checks`
    /// (which shape it and may stop it); streams what they let through as
    /// token events when `stream` is set. Returns that text.
    async fn generate(
        &mut self,
        messages: &[ChatMessage],
        max_tokens: usize,
        stream: bool,
        checks: &mut OutputChecks<'_>,
        guard: Option<&CopyGuard>,
    ) -> Result<String, LocusError> {
        let guard = guard.map(|guard| guard as &dyn TextGuard);
        let (tokenizer, template) = self.text();
        let (text, prompt) = render_prompt(tokenizer, template, messages)?;
        if prompt.len() >= self.context {
            return Err(LocusError::TooLong {
                tokens: prompt.len(),
                context: self.context,
            });
        }
        let capacity = (prompt.len() + max_tokens).min(self.context);
        self.prompt = text;
        let options = GenerateOptions {
            max_tokens: capacity - prompt.len(),
            whole_characters: true,
            ..GenerateOptions::default()
        };
        let aborted = self.aborted;
        let id = self.id;
        let emit = std::cell::RefCell::new(&mut *self.emit);
        let mut shown = String::new();
        let mut last_draft = String::new();
        // Committed text, with a summary's unit in progress when it changed.
        let mut show = |text: &str, draft: Option<String>| {
            let draft = draft.filter(|draft| *draft != last_draft);
            if stream && (!text.is_empty() || draft.is_some()) {
                if let Some(draft) = &draft {
                    last_draft.clone_from(draft);
                }
                let body = EventBody::Token {
                    text: text.into(),
                    draft,
                };
                (emit.borrow_mut())(Event::new(id, body));
            }
            shown.push_str(text);
        };
        let mut on_text = |text: &str| {
            if aborted() {
                return ControlFlow::Break(());
            }
            let step = checks.push(text);
            show(&step.show, step.draft);
            match step.stop {
                true => ControlFlow::Break(()),
                false => ControlFlow::Continue(()),
            }
        };
        // Between prompt chunks: stop if aborted, say how far the reading is.
        let mut on_prefill = |progress: PrefillProgress| {
            if aborted() {
                return ControlFlow::Break(());
            }
            if progress.done > 0 {
                (emit.borrow_mut())(super::chat::prefill_event(id, progress));
            }
            ControlFlow::Continue(())
        };
        let generation = match &mut *self.engine {
            Engine::Cpu(model) => {
                let mut cache = model.new_cache(capacity);
                let mut session = Yielding(CpuSession {
                    decoder: &model.decoder,
                    cache: &mut cache,
                });
                generate_observed(
                    &mut session,
                    &model.tokenizer,
                    &prompt,
                    &options,
                    &mut on_text,
                    &mut on_prefill,
                    guard,
                )
                .await
            }
            Engine::Gpu(model) => {
                model.decoder.truncate(0);
                let mut session = Yielding(&mut model.decoder);
                generate_observed(
                    &mut session,
                    &model.tokenizer,
                    &prompt,
                    &options,
                    &mut on_text,
                    &mut on_prefill,
                    guard,
                )
                .await
            }
        }
        .map_err(|e| match e {
            EngineError::Gpu(error) => LocusError::Gpu(error),
            other => LocusError::Internal(other.to_string()),
        })?;
        if aborted() || (generation.stop == StopReason::Cancelled && checks.stop().is_none()) {
            return Err(LocusError::Aborted);
        }
        let spent = matches!(
            generation.stop,
            StopReason::MaxTokens | StopReason::ContextFull
        );
        // The finished answer has no unit in progress: any draft is cleared.
        show(&checks.finish(spent), Some(String::new()));
        // The first notable stop of what the user sees is the one reported
        // (a part's notes are not shown).
        if stream && self.output_stop.as_ref().is_none_or(|s| !s.is_notable()) {
            self.output_stop = checks.stop().cloned();
        }
        self.tokens += generation.tokens.len();
        self.seconds += generation.generation_seconds;
        self.prompt_tokens += generation.prompt_tokens;
        self.prompt_seconds += generation.prompt_seconds;
        self.stop = Some(generation.stop);
        Ok(shown)
    }

    /// The `done` event: the task's own fields plus the run's figures.
    fn done(&mut self, text: String, mut result: Value) {
        let fields = json!({
            "text": text,
            "model": self.slot.name,
            "backend": self.engine.name(),
            "contextTokens": self.context,
            "promptTokens": self.prompt_tokens,
            "tokens": self.tokens,
            "promptTokensPerSecond": self.prompt_tokens as f64 / self.prompt_seconds.max(1e-9),
            "tokensPerSecond": self.tokens as f64 / self.seconds.max(1e-9),
            "stop": self.stop.map(|s| format!("{s:?}")),
            "prompt": self.prompt,
        });
        if let (Value::Object(result), Value::Object(fields)) = (&mut result, fields) {
            result.extend(fields);
        }
        let stop = self.output_stop.as_ref().filter(|s| s.is_notable());
        if let (Value::Object(result), Some(Value::Object(fields))) =
            (&mut result, stop.map(OutputStop::fields))
        {
            result.extend(fields);
        }
        self.event(EventBody::Done { result });
    }

    fn announce(&mut self, tokens: usize) {
        let message = format!(
            "Reading {tokens} tokens with {} (context {})",
            self.slot.name, self.context
        );
        self.event(EventBody::Progress {
            stage: "prompt".into(),
            message,
            done: None,
            total: Some(tokens as u64),
        });
    }

    /// A summary with the request's options; map-reduce when the text does
    /// not fit the context.
    pub async fn summarize(mut self, request: &SummarizeRequest) -> Result<(), LocusError> {
        let reply = tasks::summary_budget(request);
        let whole = tasks::summary_messages(request);
        let whole_tokens = self.prompt_len(&whole)?;
        if whole_tokens + reply <= self.context {
            self.announce(whole_tokens);
            let mut checks = summary_checks(request);
            let guard = echo_guard(&request.text, &whole);
            let text = self
                .generate(&whole, reply, true, &mut checks, Some(&guard))
                .await?;
            self.done(text, json!({ "parts": 1 }));
            return Ok(());
        }
        // Parts sized for the longest notes; then notes short enough that all
        // of them fit the final prompt at once. With very many parts they
        // cannot, and further rounds take notes on the notes.
        let combine_room = self.room(&tasks::combine_messages(request, ""), reply)?;
        let longest_notes = tasks::PART_NOTES_TOKENS.min(self.context / 8);
        let part_room = self.room(&tasks::part_messages(""), longest_notes)?;
        let mut notes = request.text.clone();
        let mut parts = 0;
        for round in 0..MAX_NOTE_ROUNDS {
            let chunks = chunk::split(&notes, part_room, &|text: &str| self.count(text));
            let total = chunks.len();
            // A tiny context may make `longest_notes` the smaller bound.
            let notes_budget = (combine_room / total.max(1))
                .saturating_sub(2)
                .max(MIN_NOTES_TOKENS)
                .min(longest_notes);
            if round == 0 {
                parts = total;
            }
            let mut taken = Vec::with_capacity(total);
            for (at, chunk) in chunks.iter().enumerate() {
                // The first round reads the text; later ones shorten notes that
                // are still too long to combine at once.
                let (stage, message) = match round {
                    0 => ("part", format!("Part {} of {total}", at + 1)),
                    _ => ("shorten", format!("Shortening notes {} of {total}", at + 1)),
                };
                self.progress(stage, message, at, total);
                let messages = tasks::part_messages(&chunk.text);
                let mut checks = OutputChecks::plain(None);
                let note = self
                    .generate(&messages, notes_budget, false, &mut checks, None)
                    .await?;
                taken.push(note.trim().to_string());
            }
            notes = taken.join("\n\n");
            if self.count(&notes) <= combine_room {
                self.progress("combine", format!("Combining {parts} parts"), parts, parts);
                let messages = tasks::combine_messages(request, &notes);
                let mut checks = summary_checks(request);
                let guard = echo_guard(&notes, &messages);
                let text = self
                    .generate(&messages, reply, true, &mut checks, Some(&guard))
                    .await?;
                self.done(text, json!({ "parts": parts, "rounds": round + 1 }));
                return Ok(());
            }
        }
        Err(LocusError::TooLong {
            tokens: self.count(&notes),
            context: self.context,
        })
    }

    /// A translation: the source detected first (when not given and a
    /// language model is loaded); text already in the target language is
    /// said to be so; long text goes part by part, streamed in order.
    pub async fn translate(
        mut self,
        request: &TranslateRequest,
        detector: Option<&LanguageDetector>,
    ) -> Result<(), LocusError> {
        let mut request = request.clone();
        let mut detected: Option<Detection> = None;
        if let (None, Some(detector)) = (&request.source_language, detector) {
            let best = detector.detect(&request.text).swap_remove(0);
            if best.language != UNDETERMINED {
                self.event(EventBody::progress("source", best.language.clone()));
                request.source_language = Some(best.language.clone());
                detected = Some(best);
            }
        }
        let languages = json!({
            "sourceLanguage": request.source_language,
            "sourceConfidence": detected.as_ref().map(|d| d.confidence),
            "targetLanguage": request.target_language,
        });
        let same = request
            .source_language
            .as_deref()
            .map(tasks::primary_subtag)
            == Some(tasks::primary_subtag(&request.target_language));
        let sure = detected
            .as_ref()
            .is_none_or(|d| d.confidence >= SAME_LANGUAGE_CONFIDENCE);
        if same && sure {
            let mut result = languages;
            result["alreadyInTarget"] = json!(true);
            self.done(String::new(), result);
            return Ok(());
        }
        // A translation may take about twice the tokens of its source.
        let empty = tasks::translate_messages(&request, "");
        let room = self.room(&empty, 32)? / 3;
        let chunks = chunk::split(&request.text, room, &|text: &str| self.count(text));
        let total = chunks.len();
        let mut text = String::new();
        for (at, chunk) in chunks.iter().enumerate() {
            if total > 1 {
                self.progress("part", format!("Part {} of {total}", at + 1), at, total);
            }
            if at > 0 {
                self.token(chunk.separator());
                text.push_str(chunk.separator());
            }
            let messages = tasks::translate_messages(&request, &chunk.text);
            if at == 0 {
                let tokens = self.prompt_len(&messages)?;
                self.announce(tokens);
            }
            let budget = tasks::translation_budget(self.count(&chunk.text));
            let mut checks = OutputChecks::translation(detector, &request.target_language, None);
            text.push_str(
                &self
                    .generate(&messages, budget, true, &mut checks, None)
                    .await?,
            );
            // A model that cannot write the language will not in the next
            // part either; a loop or an overlong part was bounded and cut.
            if matches!(self.output_stop, Some(OutputStop::WrongLanguage { .. })) {
                break;
            }
        }
        let mut result = languages;
        result["parts"] = json!(total);
        self.done(text, result);
        Ok(())
    }
}

/// A summary's output checks: its shape, and the loop check.
fn summary_checks(request: &SummarizeRequest) -> OutputChecks<'static> {
    OutputChecks::summary(
        tasks::summary_shape(request),
        request.format,
        request.repeat_limit,
    )
}

/// What a summary may not recite: the instructions around `body` (the
/// text, or the notes on it) in `messages`, more than
/// `tasks::MAX_ECHOED_WORDS` words in a row (a base model recites them).
///
/// The text itself is not guarded: refusing a copy of more than 20 of its
/// words (the eval's limit for a copied sentence) was tried and measured (every
/// eval summary in shape, key facts as before or better) and withdrawn,
/// because the model leaves the copy by swapping one word mid-sentence,
/// which can change a fact: "built over nearly two thousand *centuries*"
/// for "years" in the on-page fixture, "ten the *previous* morning".
fn echo_guard(body: &str, messages: &[ChatMessage]) -> CopyGuard {
    let instructions = messages
        .iter()
        .map(|message| message.content.replace(body.trim(), " "))
        .collect::<Vec<_>>()
        .join(" ");
    CopyGuard::new().source(&instructions, tasks::MAX_ECHOED_WORDS)
}

/// Tokens in `text` as the model reads it (no special tokens).
fn count_tokens(tokenizer: &Tokenizer, text: &str) -> usize {
    tokenizer
        .encode(text, false, false)
        .map_or(text.len(), |ids| ids.len())
}

/// The token ids of `messages` in the model's chat format (BOS as it asks).
pub(super) fn prompt_ids(
    tokenizer: &Tokenizer,
    template: Option<&ChatTemplate>,
    messages: &[ChatMessage],
) -> Result<Vec<u32>, LocusError> {
    Ok(render_prompt(tokenizer, template, messages)?.1)
}

/// The rendered prompt of `messages` in the model's chat format and its
/// token ids (BOS as the model asks); see `tasks::chat_prompt`.
fn render_prompt(
    tokenizer: &Tokenizer,
    template: Option<&ChatTemplate>,
    messages: &[ChatMessage],
) -> Result<(String, Vec<u32>), LocusError> {
    let prompt = tasks::chat_prompt(tokenizer, template, messages)?;
    Ok((prompt.text, prompt.ids))
}
