//! Task messages to the model's tokens: the chat template renders them as
//! its markup around the messages' text, and only the markup may hold
//! control tokens. Text from a page, a selection or the user that spells
//! `<|im_start|>` or `<start_of_turn>` is tokenized as plain text, so it
//! cannot open a turn of its own.

use crate::chat::ChatTemplate;
use crate::error::LocusError;
use crate::protocol::ChatMessage;
use crate::tokenizer::{Tokenizer, prompt_text};

/// A prompt as the model reads it: its text and its token ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prompt {
    pub text: String,
    pub ids: Vec<u32>,
}

/// `messages` in the model's chat format, ending where the assistant's
/// reply starts, with BOS as the model asks.
pub fn chat_prompt(
    tokenizer: &Tokenizer,
    template: Option<&ChatTemplate>,
    messages: &[ChatMessage],
) -> Result<Prompt, LocusError> {
    let template = template.ok_or_else(|| {
        LocusError::BadModel("the model has no chat template and no known chat format".into())
    })?;
    let pieces = template
        .render_pieces(messages, true)
        .map_err(|e| LocusError::BadModel(e.to_string()))?;
    let ids = tokenizer
        .encode_prompt(&pieces, true)
        .map_err(|e| LocusError::Internal(format!("tokenizing the prompt: {e}")))?;
    Ok(Prompt {
        text: prompt_text(&pieces),
        ids,
    })
}
