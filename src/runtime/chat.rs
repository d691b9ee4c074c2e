//! Multi-turn chat that keeps its KV cache between turns: a turn re-renders
//! the whole conversation, keeps the token prefix it shares with what the
//! cache already holds (`Decode::truncate`) and runs only the new tokens.
//! A conversation longer than the window loses its oldest turns, never the
//! system prompt.

use std::ops::ControlFlow;

use serde_json::json;

use super::generation::prompt_ids;
use super::yielding::Yielding;
use super::{Engine, ModelSlot};
use crate::chat::ChatTemplate;
use crate::engine::{
    CpuSession, Decode, EngineError, GenerateOptions, PrefillProgress, StopReason,
    generate_observed,
};
use crate::error::LocusError;
use crate::model::KvCache;
use crate::protocol::{ChatMessage, ChatRequest, Event, EventBody, Role};
use crate::tokenizer::Tokenizer;

/// Room for the reply when a turn gives no budget of its own.
const CHAT_REPLY_TOKENS: usize = 512;
/// Positions a chat's cache holds at most: the KV cache is allocated whole
/// (SmolLM2-135M: 23 KiB a position), so the model's full window would cost
/// hundreds of megabytes for a chat that rarely needs it.
const CHAT_CONTEXT: usize = 4096;

/// The KV cache of the last chat turn and the tokens whose keys and values it
/// holds. On the CPU the session owns its cache; on the GPU the cache is the
/// decoder's own, valid while no other request has run on it since (the
/// runtime drops the session when one does).
pub struct ChatSession {
    cache: Option<KvCache>,
    tokens: Vec<u32>,
    /// The slot's `kv_epoch` when the turn ended: a different one now means
    /// another request has overwritten the shared (GPU) cache since.
    epoch: u64,
}

#[cfg(test)]
impl ChatSession {
    /// Tokens whose keys and values the session's cache holds.
    pub(super) fn held(&self) -> usize {
        self.tokens.len()
    }
}

/// Runs one turn. `kept` is the session the previous turn left (taken out of
/// the runtime while this turn runs); the returned session replaces it.
// The engine's borrow is held across awaits on purpose: it is the lock that
// keeps a second request off the decoder.
#[allow(clippy::await_holding_refcell_ref)]
pub async fn run(
    slot: &ModelSlot,
    id: &str,
    request: &ChatRequest,
    kept: Option<ChatSession>,
    aborted: &dyn Fn() -> bool,
    emit: &mut dyn FnMut(Event),
) -> (Result<(), LocusError>, Option<ChatSession>) {
    let mut engine = slot.lock().await;
    let backend = engine.name();
    let window = match &*engine {
        Engine::Cpu(_) => engine.window().min(CHAT_CONTEXT),
        Engine::Gpu(_) => engine.window(),
    };
    // max then min, never `clamp`: `window / 2` may be 0.
    let reply_budget = request
        .max_tokens
        .unwrap_or(CHAT_REPLY_TOKENS)
        .min(window / 2)
        .max(1);
    let (tokenizer, template) = engine.text();
    let (prompt, dropped) = match fit(
        tokenizer,
        template,
        &request.messages,
        window.saturating_sub(reply_budget),
    ) {
        Ok(fitted) => fitted,
        Err(error) => return (Err(error), kept),
    };
    // Checked under the lock: nothing can overwrite the cache from here on.
    let mut session = match kept {
        Some(session) if !request.fresh && session.epoch == slot.kv_epoch.get() => session,
        _ => ChatSession {
            cache: None,
            tokens: Vec::new(),
            epoch: slot.kv_epoch.get(),
        },
    };
    // At least one token must run to get logits for the reply.
    let reused = common_prefix(&session.tokens, &prompt).min(prompt.len() - 1);
    session.tokens.truncate(reused);
    if dropped > 0 {
        emit(Event::new(
            id,
            EventBody::progress(
                "context",
                format!("Dropped {dropped} earlier messages to fit the context window"),
            ),
        ));
    }
    emit(Event::new(
        id,
        EventBody::Progress {
            stage: "prompt".into(),
            message: format!(
                "Reading {} new tokens ({reused} kept from the last turn) with {}",
                prompt.len() - reused,
                slot.name
            ),
            done: Some(reused as u64),
            total: Some(prompt.len() as u64),
        },
    ));
    let options = GenerateOptions {
        max_tokens: reply_budget,
        whole_characters: true,
        ..GenerateOptions::default()
    };
    let emit = std::cell::RefCell::new(emit);
    let mut on_text = |text: &str| {
        if aborted() {
            return ControlFlow::Break(());
        }
        (emit.borrow_mut())(Event::new(id, EventBody::token(text)));
        ControlFlow::Continue(())
    };
    let mut on_prefill = |progress: PrefillProgress| {
        if aborted() {
            return ControlFlow::Break(());
        }
        if progress.done > 0 {
            (emit.borrow_mut())(prefill_event(id, progress));
        }
        ControlFlow::Continue(())
    };
    let new_tokens = &prompt[reused..];
    let (generation, held) = match &mut *engine {
        Engine::Cpu(model) => {
            let cache = match &mut session.cache {
                Some(cache) if cache.capacity() >= window => cache,
                cache => cache.insert(model.new_cache(window)),
            };
            cache.truncate(reused);
            let mut decoder = Yielding(CpuSession {
                decoder: &model.decoder,
                cache,
            });
            let generation = generate_observed(
                &mut decoder,
                &model.tokenizer,
                new_tokens,
                &options,
                &mut on_text,
                &mut on_prefill,
                None,
            )
            .await;
            (generation, decoder.position())
        }
        Engine::Gpu(model) => {
            model.decoder.truncate(reused);
            let mut decoder = Yielding(&mut model.decoder);
            let generation = generate_observed(
                &mut decoder,
                &model.tokenizer,
                new_tokens,
                &options,
                &mut on_text,
                &mut on_prefill,
                None,
            )
            .await;
            (generation, decoder.position())
        }
    };
    let generation = match generation {
        Ok(generation) => generation,
        // The cache may hold a half-run batch: start the next turn afresh.
        Err(EngineError::Gpu(error)) => return (Err(LocusError::Gpu(error)), None),
        Err(error) => return (Err(LocusError::Internal(error.to_string())), None),
    };
    // The cache holds the prompt and the reply's tokens except, usually, the
    // last one sampled (it was never run).
    session.tokens.extend_from_slice(new_tokens);
    session.tokens.extend_from_slice(&generation.tokens);
    session.tokens.truncate(held);
    if let Some(cache) = &mut session.cache {
        cache.truncate(session.tokens.len());
    }
    session.epoch = slot.kv_epoch.get();
    if generation.stop == StopReason::Cancelled {
        return (Err(LocusError::Aborted), Some(session));
    }
    let result = json!({
        "text": generation.text,
        "model": slot.name,
        "backend": backend,
        "contextTokens": prompt.len(),
        "reusedTokens": reused,
        "promptTokens": generation.prompt_tokens,
        "firstTokenMs": generation.prompt_seconds * 1000.0,
        "tokens": generation.tokens.len(),
        "promptTokensPerSecond": generation.prompt_tokens_per_second(),
        "tokensPerSecond": generation.tokens_per_second(),
        "droppedMessages": dropped,
        "stop": format!("{:?}", generation.stop),
    });
    (emit.into_inner())(Event::new(id, EventBody::Done { result }));
    (Ok(()), Some(session))
}

/// "Reading 512 of 1,800 tokens": how far a long prompt has been read.
pub(super) fn prefill_event(id: &str, progress: PrefillProgress) -> Event {
    Event::new(
        id,
        EventBody::Progress {
            stage: "prefill".into(),
            message: format!(
                "Reading {} of {} tokens",
                thousands(progress.done),
                thousands(progress.total)
            ),
            done: Some(progress.done as u64),
            total: Some(progress.total as u64),
        },
    )
}

/// 1800 → "1,800".
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The prompt's tokens after dropping the oldest turns until it fits in
/// `room` tokens, and how many messages were dropped. System messages stay;
/// turns go whole (a user message and the replies after it), so the roles
/// still alternate as templates require.
fn fit(
    tokenizer: &Tokenizer,
    template: Option<&ChatTemplate>,
    messages: &[ChatMessage],
    room: usize,
) -> Result<(Vec<u32>, usize), LocusError> {
    let (system, mut rest): (Vec<_>, Vec<_>) = messages
        .iter()
        .cloned()
        .partition(|m| m.role == Role::System);
    let mut dropped = 0;
    loop {
        let conversation: Vec<ChatMessage> = system.iter().chain(&rest).cloned().collect();
        let prompt = prompt_ids(tokenizer, template, &conversation)?;
        if prompt.is_empty() {
            // Nothing to run, so no logits to sample the reply from.
            return Err(LocusError::BadModel(
                "the chat template gives an empty prompt".into(),
            ));
        }
        if prompt.len() <= room {
            return Ok((prompt, dropped));
        }
        // Drop the first message and any replies up to the next user message;
        // the last user message is never dropped.
        let next_user = rest
            .iter()
            .skip(1)
            .position(|m| m.role == Role::User)
            .map(|i| i + 1);
        match next_user {
            Some(cut) => {
                rest.drain(..cut);
                dropped += cut;
            }
            None => {
                return Err(LocusError::TooLong {
                    tokens: prompt.len(),
                    context: room,
                });
            }
        }
    }
}

fn common_prefix(a: &[u32], b: &[u32]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::LoadedModel;

    fn smollm2() -> ModelSlot {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("models/SmolLM2-135M-Instruct.Q4_1.gguf");
        let mut file = std::fs::File::open(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (run `cargo xtask models`)", path.display()));
        ModelSlot::new(
            "smollm2",
            Engine::Cpu(Box::new(LoadedModel::load(&mut file).unwrap())),
        )
    }

    fn message(role: Role, content: &str) -> ChatMessage {
        ChatMessage {
            role,
            content: content.into(),
        }
    }

    fn turn(
        slot: &ModelSlot,
        messages: Vec<ChatMessage>,
        kept: Option<ChatSession>,
    ) -> (serde_json::Value, Option<ChatSession>) {
        let request = ChatRequest {
            messages,
            fresh: false,
            max_tokens: Some(24),
        };
        let mut done = None;
        let (result, session) =
            crate::engine::run_ready(run(slot, "t", &request, kept, &|| false, &mut |event| {
                if let EventBody::Done { result } = event.body {
                    done = Some(result);
                }
            }));
        result.unwrap();
        (done.unwrap(), session)
    }

    #[test]
    fn progress_counts_read_with_thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(512), "512");
        assert_eq!(thousands(1800), "1,800");
        assert_eq!(thousands(1234567), "1,234,567");
        let event = prefill_event(
            "x",
            PrefillProgress {
                done: 512,
                total: 1800,
            },
        );
        let EventBody::Progress { message, .. } = event.body else {
            unreachable!()
        };
        assert_eq!(message, "Reading 512 of 1,800 tokens");
    }

    #[test]
    fn the_second_turn_runs_only_its_new_tokens() {
        let slot = smollm2();
        let mut messages = vec![
            message(Role::System, "You are terse."),
            message(Role::User, "Name a colour."),
        ];
        let (first, session) = turn(&slot, messages.clone(), None);
        assert_eq!(first["reusedTokens"], 0);
        let first_context = first["contextTokens"].as_u64().unwrap();
        messages.push(message(Role::Assistant, first["text"].as_str().unwrap()));
        messages.push(message(Role::User, "And a fruit?"));
        let (second, session) = turn(&slot, messages.clone(), session);
        let reused = second["reusedTokens"].as_u64().unwrap();
        // Everything the first turn read and wrote is kept.
        assert!(reused >= first_context, "{second}");
        assert_eq!(
            second["promptTokens"].as_u64().unwrap(),
            second["contextTokens"].as_u64().unwrap() - reused
        );
        // A fresh cache gives the same reply (greedy).
        let (fresh, _) = turn(&slot, messages, None);
        assert_eq!(fresh["reusedTokens"], 0);
        assert_eq!(fresh["text"], second["text"]);
        assert!(session.is_some());
    }

    #[test]
    fn a_long_conversation_drops_its_oldest_turns_but_not_the_system_prompt() {
        let slot = smollm2();
        let long = "word ".repeat(300);
        let messages = vec![
            message(Role::System, "You are terse."),
            message(Role::User, &long),
            message(Role::Assistant, &long),
            message(Role::User, "Hello"),
        ];
        let engine = slot.engine.borrow();
        let Engine::Cpu(model) = &*engine else {
            unreachable!("the test model runs on the CPU")
        };
        let (tokenizer, template) = (&model.tokenizer, model.chat.as_ref());
        let (prompt, dropped) = fit(tokenizer, template, &messages, 200).unwrap();
        assert_eq!(dropped, 2);
        let text = tokenizer.decode(&prompt, false);
        assert!(text.contains("You are terse."), "{text}");
        assert!(text.contains("Hello"));
        assert!(fit(tokenizer, template, &messages[..2], 50).is_err());
    }
}
