//! Running a task on the loaded model: prompt from the task, generation on
//! the CPU (the GPU decoder plugs in through `engine::Decode`), tokens
//! streamed as events, a summary of the run in `done`.

use std::ops::ControlFlow;

use serde_json::json;

use super::ModelSlot;
use super::yielding::Yielding;
use crate::engine::{
    CpuSession, EngineError, GenerateOptions, LoadedModel, StopReason, generate_on,
};
use crate::error::LocusError;
use crate::protocol::{ChatMessage, Event, EventBody, Task};
use crate::tasks;

/// Room for the reply when a chat turn gives no budget of its own.
const CHAT_REPLY_TOKENS: usize = 512;

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
    let model = &slot.model;
    let prompt = prompt_ids(model, &messages)?;
    let capacity = (prompt.len() + max_tokens).min(model.config().context_length);
    if prompt.len() >= capacity {
        return Err(LocusError::TooLong {
            tokens: prompt.len(),
            context: model.config().context_length,
        });
    }
    emit(Event::new(
        id,
        EventBody::Progress {
            stage: "prompt".into(),
            message: format!("Reading {} tokens with {}", prompt.len(), slot.name),
            done: None,
            total: Some(prompt.len() as u64),
        },
    ));
    let mut cache = model.new_cache(capacity);
    let mut session = Yielding(CpuSession {
        decoder: &model.decoder,
        cache: &mut cache,
    });
    let options = GenerateOptions {
        max_tokens,
        ..GenerateOptions::default()
    };
    let generation = generate_on(
        &mut session,
        &model.tokenizer,
        &prompt,
        &options,
        &mut |text| {
            if aborted() {
                return ControlFlow::Break(());
            }
            emit(Event::new(
                id,
                EventBody::Token {
                    text: text.to_string(),
                },
            ));
            ControlFlow::Continue(())
        },
    )
    .await
    .map_err(|e| LocusError::Internal(e.to_string()))?;
    if generation.stop == StopReason::Cancelled {
        return Err(LocusError::Aborted);
    }
    let result = json!({
        "text": generation.text,
        "model": slot.name,
        "backend": "cpu",
        "promptTokens": generation.prompt_tokens,
        "tokens": generation.tokens.len(),
        "promptTokensPerSecond": generation.prompt_tokens_per_second(),
        "tokensPerSecond": generation.tokens_per_second(),
        "stop": format!("{:?}", generation.stop),
    });
    emit(Event::new(id, EventBody::Done { result }));
    Ok(())
}

/// The token ids of `messages` in the model's chat format (BOS as it asks).
pub(super) fn prompt_ids(
    model: &LoadedModel,
    messages: &[ChatMessage],
) -> Result<Vec<u32>, LocusError> {
    let template = model.chat.as_ref().ok_or_else(|| {
        LocusError::BadModel("the model has no chat template and no known chat format".into())
    })?;
    let text = template
        .render(messages, true)
        .map_err(|e| LocusError::BadModel(e.to_string()))?;
    model
        .tokenizer
        .encode(&text, true, true)
        .map_err(|e| LocusError::Internal(EngineError::from(e).to_string()))
}
