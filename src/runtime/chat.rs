//! Multi-turn chat that keeps its KV cache between turns: a turn re-renders
//! the whole conversation, keeps the token prefix it shares with what the
//! cache already holds (`Decode::truncate`) and runs only the new tokens.
//! A conversation longer than the window loses its oldest turns, never the
//! system prompt.

use std::ops::ControlFlow;

use serde_json::json;

use super::ModelSlot;
use super::generation::prompt_ids;
use super::yielding::Yielding;
use crate::engine::{CpuSession, Decode, GenerateOptions, StopReason, generate_on};
use crate::error::LocusError;
use crate::model::KvCache;
use crate::protocol::{ChatMessage, ChatRequest, Event, EventBody, Role};

/// Room for the reply when a turn gives no budget of its own.
const CHAT_REPLY_TOKENS: usize = 512;
/// Positions a chat's cache holds at most: the KV cache is allocated whole
/// (SmolLM2-135M: 23 KiB a position), so the model's full window would cost
/// hundreds of megabytes for a chat that rarely needs it.
const CHAT_CONTEXT: usize = 4096;

/// The KV cache of the last chat turn and the tokens whose keys and values it
/// holds (`tokens.len() == cache.len()`).
pub struct ChatSession {
    cache: KvCache,
    tokens: Vec<u32>,
}

/// Runs one turn. `kept` is the session the previous turn left (taken out of
/// the runtime while this turn runs); the returned session replaces it.
pub async fn run(
    slot: &ModelSlot,
    id: &str,
    request: &ChatRequest,
    kept: Option<ChatSession>,
    aborted: &dyn Fn() -> bool,
    emit: &mut dyn FnMut(Event),
) -> (Result<(), LocusError>, Option<ChatSession>) {
    let model = &slot.model;
    let window = model.config().context_length.min(CHAT_CONTEXT);
    let reply_budget = request
        .max_tokens
        .unwrap_or(CHAT_REPLY_TOKENS)
        .clamp(1, window / 2);
    let (prompt, dropped) = match fit(slot, &request.messages, window - reply_budget) {
        Ok(fitted) => fitted,
        Err(error) => return (Err(error), kept),
    };
    let mut session = match kept {
        Some(session) if !request.fresh && session.cache.capacity() >= window => session,
        _ => ChatSession {
            cache: model.new_cache(window),
            tokens: Vec::new(),
        },
    };
    // At least one token must run to get logits for the reply.
    let reused = common_prefix(&session.tokens, &prompt).min(prompt.len() - 1);
    session.cache.truncate(reused);
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
        ..GenerateOptions::default()
    };
    let mut decoder = Yielding(CpuSession {
        decoder: &model.decoder,
        cache: &mut session.cache,
    });
    let generation = generate_on(
        &mut decoder,
        &model.tokenizer,
        &prompt[reused..],
        &options,
        &mut |text| {
            if aborted() {
                return ControlFlow::Break(());
            }
            emit(Event::new(id, EventBody::Token { text: text.into() }));
            ControlFlow::Continue(())
        },
    )
    .await;
    let held = decoder.position();
    let generation = match generation {
        Ok(generation) => generation,
        // The cache may hold a half-run batch: start the next turn afresh.
        Err(error) => return (Err(LocusError::Internal(error.to_string())), None),
    };
    // The cache holds the prompt and the reply's tokens except, usually, the
    // last one sampled (it was never run).
    session.tokens.extend_from_slice(&prompt[reused..]);
    session.tokens.extend_from_slice(&generation.tokens);
    session.tokens.truncate(held);
    session.cache.truncate(session.tokens.len());
    if generation.stop == StopReason::Cancelled {
        return (Err(LocusError::Aborted), Some(session));
    }
    let result = json!({
        "text": generation.text,
        "model": slot.name,
        "backend": "cpu",
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
    emit(Event::new(id, EventBody::Done { result }));
    (Ok(()), Some(session))
}

/// The prompt's tokens after dropping the oldest turns until it fits in
/// `room` tokens, and how many messages were dropped. System messages stay;
/// turns go whole (a user message and the replies after it), so the roles
/// still alternate as templates require.
fn fit(
    slot: &ModelSlot,
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
        let prompt = prompt_ids(&slot.model, &conversation)?;
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
        ModelSlot {
            name: "smollm2".into(),
            model: LoadedModel::load(&mut file).unwrap(),
        }
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
        let (prompt, dropped) = fit(&slot, &messages, 200).unwrap();
        assert_eq!(dropped, 2);
        let text = slot.model.tokenizer.decode(&prompt, false);
        assert!(text.contains("You are terse."), "{text}");
        assert!(text.contains("Hello"));
        assert!(fit(&slot, &messages[..2], 50).is_err());
    }
}
