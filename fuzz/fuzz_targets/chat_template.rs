//! A template source and a conversation → the chat-template engine
//! (`ChatTemplate::from_jinja`, which compiles and test-renders, then
//! `render`). It must give `Ok` or a typed error, in bounded time and memory
//! (libFuzzer's `-timeout` and `-rss_limit_mb` catch the rest).
//!
//! Input layout, so that a plain template file is a valid seed: the bytes up
//! to the first NUL are the template; each further NUL-separated piece is a
//! message whose first byte picks the role and whose rest is the content.
//! Without messages a fixed four-turn conversation is rendered.

#![no_main]

use libfuzzer_sys::fuzz_target;
use locus::chat::ChatTemplate;
use locus::protocol::{ChatMessage, Role};

fuzz_target!(|data: &[u8]| {
    let mut pieces = data.split(|&b| b == 0);
    let source = String::from_utf8_lossy(pieces.next().unwrap_or_default());
    let mut messages: Vec<ChatMessage> = pieces
        .map(|piece| {
            let (role, content) = piece.split_first().unwrap_or((&0, &[]));
            ChatMessage {
                role: [Role::System, Role::User, Role::Assistant][usize::from(*role % 3)],
                content: String::from_utf8_lossy(content).into_owned(),
            }
        })
        .collect();
    if messages.is_empty() {
        messages = default_conversation();
    }
    let add_generation_prompt = data.len() % 2 == 0;
    let Ok(template) = ChatTemplate::from_jinja(&source, "<s>".into(), "</s>".into()) else {
        return;
    };
    let _ = template.render(&messages, add_generation_prompt);
});

fn default_conversation() -> Vec<ChatMessage> {
    let message = |role, content: &str| ChatMessage {
        role,
        content: content.into(),
    };
    vec![
        message(Role::System, "You are a helpful assistant."),
        message(Role::User, "What is a night train?"),
        message(Role::Assistant, "A train that runs at night."),
        message(Role::User, "Name one."),
    ]
}
