//! Translation prompts.

use crate::protocol::{ChatMessage, Role, TranslateRequest};

/// Asks for a translation of the text into the target language (a BCP 47
/// code such as `en` or `pt-BR`); the source is named when it is known.
pub fn translate_messages(request: &TranslateRequest) -> Vec<ChatMessage> {
    let from = request
        .source_language
        .as_deref()
        .map(|code| format!(" from {code}"))
        .unwrap_or_default();
    vec![
        ChatMessage {
            role: Role::System,
            content: format!(
                "You translate text{from} into the language with code {}. Reply with the \
                 translation only, keeping the meaning, tone and formatting.",
                request.target_language
            ),
        },
        ChatMessage {
            role: Role::User,
            content: request.text.trim().to_string(),
        },
    ]
}
