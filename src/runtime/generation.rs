//! Running a task on the loaded model: prompt from the task, generation on
//! the CPU (the GPU decoder plugs in through `engine::Decode`), tokens
//! streamed as events, a summary of the run in `done`.

use std::ops::ControlFlow;

use serde_json::json;

use super::yielding::{Yielding, yield_now};
use super::{Engine, ModelSlot};
use crate::chat::ChatTemplate;
use crate::engine::{CpuSession, Decode, EngineError, GenerateOptions, StopReason, generate_on};
use crate::error::LocusError;
use crate::protocol::{ChatMessage, Event, EventBody, Task};
use crate::tasks;
use crate::tokenizer::Tokenizer;

/// Room for the reply when a chat turn gives no budget of its own.
const CHAT_REPLY_TOKENS: usize = 512;

// The engine's borrow is held across awaits on purpose: it is the lock that
// keeps a second request off the decoder (the loop below waits for it).
#[allow(clippy::await_holding_refcell_ref)]
pub async fn run(
    slot: &ModelSlot,
    id: &str,
    task: &Task,
    aborted: &dyn Fn() -> bool,
    emit: &mut dyn FnMut(Event),
) -> Result<(), LocusError> {
    let (messages, max_tokens) = match task {
        Task::Summarize(request) => (
            tasks::summary_messages(request),
            tasks::summary_budget(request),
        ),
        Task::Translate(request) => {
            let budget = request.text.len() / 2 + 64;
            (tasks::translate_messages(request), budget)
        }
        Task::Chat(request) => (request.messages.clone(), CHAT_REPLY_TOKENS),
        Task::Report | Task::Detect(_) => {
            return Err(LocusError::Internal(format!(
                "{} is not a generation",
                task.kind()
            )));
        }
    };
    // One generation at a time per model: the GPU decoder owns one KV cache.
    let mut engine = loop {
        match slot.engine.try_borrow_mut() {
            Ok(engine) => break engine,
            Err(_) => yield_now().await,
        }
    };
    let (tokenizer, chat) = match &*engine {
        Engine::Cpu(m) => (&m.tokenizer, m.chat.as_ref()),
        Engine::Gpu(m) => (&m.tokenizer, m.chat.as_ref()),
    };
    let prompt = prompt_ids(tokenizer, chat, &messages)?;
    emit(Event::new(
        id,
        EventBody::Progress {
            stage: "prompt".into(),
            message: format!("Reading {} tokens with {}", prompt.len(), slot.name),
            done: None,
            total: Some(prompt.len() as u64),
        },
    ));
    let options = GenerateOptions {
        max_tokens,
        ..GenerateOptions::default()
    };
    let mut on_text = |text: &str| {
        if aborted() {
            return ControlFlow::Break(());
        }
        let text = text.to_string();
        emit(Event::new(id, EventBody::Token { text }));
        ControlFlow::Continue(())
    };
    let backend = engine.name();
    let generation = match &mut *engine {
        Engine::Cpu(model) => {
            let context = model.config().context_length;
            check_fits(prompt.len(), context)?;
            let mut cache = model.new_cache((prompt.len() + max_tokens).min(context));
            let mut session = Yielding(CpuSession {
                decoder: &model.decoder,
                cache: &mut cache,
            });
            generate_on(
                &mut session,
                &model.tokenizer,
                &prompt,
                &options,
                &mut on_text,
            )
            .await
        }
        Engine::Gpu(model) => {
            check_fits(prompt.len(), model.decoder.capacity())?;
            model.decoder.truncate(0);
            let mut session = Yielding(&mut model.decoder);
            generate_on(
                &mut session,
                &model.tokenizer,
                &prompt,
                &options,
                &mut on_text,
            )
            .await
        }
    }
    .map_err(|e| match e {
        EngineError::Gpu(error) => LocusError::Gpu(error),
        other => LocusError::Internal(other.to_string()),
    })?;
    if generation.stop == StopReason::Cancelled {
        return Err(LocusError::Aborted);
    }
    let result = json!({
        "text": generation.text,
        "model": slot.name,
        "backend": backend,
        "promptTokens": generation.prompt_tokens,
        "tokens": generation.tokens.len(),
        "promptTokensPerSecond": generation.prompt_tokens_per_second(),
        "tokensPerSecond": generation.tokens_per_second(),
        "stop": format!("{:?}", generation.stop),
    });
    emit(Event::new(id, EventBody::Done { result }));
    Ok(())
}

/// A prompt must leave room for at least one generated token.
fn check_fits(tokens: usize, context: usize) -> Result<(), LocusError> {
    if tokens >= context {
        return Err(LocusError::TooLong { tokens, context });
    }
    Ok(())
}

/// The token ids of `messages` in the model's chat format (BOS as it asks).
pub(super) fn prompt_ids(
    tokenizer: &Tokenizer,
    template: Option<&ChatTemplate>,
    messages: &[ChatMessage],
) -> Result<Vec<u32>, LocusError> {
    let template = template.ok_or_else(|| {
        LocusError::BadModel("the model has no chat template and no known chat format".into())
    })?;
    let text = template
        .render(messages, true)
        .map_err(|e| LocusError::BadModel(e.to_string()))?;
    tokenizer
        .encode(&text, true, true)
        .map_err(|e| LocusError::Internal(EngineError::from(e).to_string()))
}
