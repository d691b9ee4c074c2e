//! Translation prompts.

use super::languages::english_name;
use crate::protocol::{ChatMessage, Role, TranslateRequest};

/// Asks for a translation of `text` (the request's, or one chunk of it) into
/// the target language (a BCP 47 code such as `en` or `pt-BR`), naming the
/// source when it is known.
pub fn translate_messages(request: &TranslateRequest, text: &str) -> Vec<ChatMessage> {
    let from = request
        .source_language
        .as_deref()
        .map(|code| format!(" from {}", english_name(code)))
        .unwrap_or_default();
    let target = english_name(&request.target_language);
    vec![
        ChatMessage {
            role: Role::System,
            content: format!(
                "You are a translator. Translate the user's text{from} into {target}. Reply \
                 with the {target} translation only, keeping the meaning, tone and formatting."
            ),
        },
        ChatMessage {
            role: Role::User,
            content: text.trim().to_string(),
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_languages() {
        let request = TranslateRequest {
            text: " Guten Morgen ".into(),
            target_language: "en".into(),
            source_language: Some("de".into()),
            context_tokens: None,
        };
        let messages = translate_messages(&request, &request.text);
        assert!(messages[0].content.contains("from German into English"));
        assert_eq!(messages[1].content, "Guten Morgen");
    }
}
