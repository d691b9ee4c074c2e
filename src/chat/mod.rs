//! Chat prompts: the model's own Jinja template (`tokenizer.chat_template`),
//! rendered as Hugging Face renders it, or one of llama.cpp's built-in
//! formats when the model has no template or its template cannot render.
//!
//! - `jinja`: the template engine set up like `apply_chat_template`.
//! - `builtin`: llama.cpp's ChatML and Gemma formats.
//! - `clock`: `strftime_now` for templates that print the date.
//! - `pieces`: the rendered prompt split into the template's markup and the
//!   messages' text, so the text never becomes a control token.
//! - `think`: drops a reasoning model's leading `<think>…</think>` from its
//!   output (templates are rendered with `enable_thinking=false`).

mod builtin;
mod clock;
mod jinja;
mod pieces;
mod think;

pub use builtin::Builtin;
use jinja::{JinjaTemplate, RenderError};
pub use think::ThinkFilter;

use crate::gguf::Metadata;
use crate::protocol::{ChatMessage, Role};
use crate::tokenizer::PromptPiece;

#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    #[error("the model has no chat template and no built-in format fits its vocabulary")]
    NoTemplate,
    #[error(
        "the model's chat template does not compile ({0}) and no built-in format fits its vocabulary"
    )]
    Compile(String),
    #[error("the model's chat template failed: {0}")]
    Render(String),
    #[error("the model's chat template is unusable: {0}")]
    Limit(String),
    #[error("chat template metadata: {0}")]
    Metadata(#[from] crate::gguf::GgufError),
}

enum Engine {
    Jinja(Box<JinjaTemplate>),
    Builtin(Builtin),
}

pub struct ChatTemplate {
    engine: Engine,
    source: String,
}

impl std::fmt::Debug for ChatTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatTemplate")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl ChatTemplate {
    /// The GGUF's template if it compiles and renders a plain conversation;
    /// otherwise the built-in format its vocabulary calls for.
    pub fn from_gguf(metadata: &Metadata) -> Result<ChatTemplate, ChatError> {
        let tokens = match metadata.get("tokenizer.ggml.tokens") {
            Some(_) => metadata.string_array("tokenizer.ggml.tokens")?,
            None => Vec::new(),
        };
        let fallback = Builtin::for_vocabulary(|text| tokens.contains(&text));
        let Some(source) = metadata.opt_str("tokenizer.chat_template")? else {
            return fallback
                .map(ChatTemplate::builtin)
                .ok_or(ChatError::NoTemplate);
        };
        let token_text = |key: &str| -> Result<String, ChatError> {
            let id = metadata.opt_u64(key)?;
            Ok(id
                .and_then(|id| tokens.get(usize::try_from(id).ok()?))
                .map(|t| t.to_string())
                .unwrap_or_default())
        };
        let bos = token_text("tokenizer.ggml.bos_token_id")?;
        let eos = token_text("tokenizer.ggml.eos_token_id")?;
        match ChatTemplate::from_jinja(source, bos, eos) {
            Ok(template) => Ok(template),
            // A template that runs away is hostile: no format stands in for it.
            Err(error @ ChatError::Limit(_)) => Err(error),
            Err(error) => match fallback.or_else(|| Builtin::detect(source)) {
                Some(builtin) => Ok(ChatTemplate::builtin(builtin)),
                None => Err(error),
            },
        }
    }

    /// A Jinja template, checked on a one-message conversation, then run on
    /// a longer one (system prompt, several turns) to catch templates that
    /// run away only later in a conversation.
    pub fn from_jinja(
        source: &str,
        bos_token: String,
        eos_token: String,
    ) -> Result<ChatTemplate, ChatError> {
        let template = JinjaTemplate::new(source, bos_token, eos_token)
            .map_err(|e| ChatError::Compile(describe(&e)))?;
        let probe = [ChatMessage {
            role: Role::User,
            content: "Hello".into(),
        }];
        match template.render(&probe, true) {
            Ok(_) => {}
            Err(RenderError::Limit(why)) => return Err(ChatError::Limit(why)),
            Err(RenderError::Template(e)) => return Err(ChatError::Compile(describe(&e))),
        }
        // A template may refuse this shape (roles it does not know); only
        // running away counts against it.
        if let Err(RenderError::Limit(why)) = template.render(&sample_conversation(), true) {
            return Err(ChatError::Limit(why));
        }
        Ok(ChatTemplate {
            engine: Engine::Jinja(Box::new(template)),
            source: "gguf".into(),
        })
    }

    pub fn builtin(builtin: Builtin) -> ChatTemplate {
        ChatTemplate {
            engine: Engine::Builtin(builtin),
            source: format!("builtin:{}", builtin.name()),
        }
    }

    /// The format llama.cpp's `llama_chat_apply_template` uses for this
    /// model: the built-in format its template text looks like, or, without
    /// a template, the one its vocabulary calls for.
    pub fn llama_cpp_builtin(metadata: &Metadata) -> Result<ChatTemplate, ChatError> {
        let builtin = match metadata.opt_str("tokenizer.chat_template")? {
            Some(source) => Builtin::detect(source),
            None => {
                let tokens = match metadata.get("tokenizer.ggml.tokens") {
                    Some(_) => metadata.string_array("tokenizer.ggml.tokens")?,
                    None => Vec::new(),
                };
                Builtin::for_vocabulary(|text| tokens.contains(&text))
            }
        };
        builtin
            .map(ChatTemplate::builtin)
            .ok_or(ChatError::NoTemplate)
    }

    /// The prompt for `messages`; with `add_generation_prompt`, it ends where
    /// the assistant's reply starts. Errors carry the template's own message
    /// (e.g. from `raise_exception`).
    pub fn render(
        &self,
        messages: &[ChatMessage],
        add_generation_prompt: bool,
    ) -> Result<String, ChatError> {
        match &self.engine {
            Engine::Jinja(template) => template
                .render(messages, add_generation_prompt)
                .map_err(ChatError::from),
            Engine::Builtin(builtin) => Ok(builtin.render(messages, add_generation_prompt)),
        }
    }

    /// The prompt for `messages` as the template's markup and the messages'
    /// text, to be tokenized with `Tokenizer::encode_prompt`: control-token
    /// text in a message stays text.
    pub fn render_pieces(
        &self,
        messages: &[ChatMessage],
        add_generation_prompt: bool,
    ) -> Result<Vec<PromptPiece>, ChatError> {
        match &self.engine {
            Engine::Jinja(template) => {
                pieces::render(template, messages, add_generation_prompt).map_err(ChatError::from)
            }
            Engine::Builtin(builtin) => Ok(builtin.pieces(messages, add_generation_prompt)),
        }
    }

    /// "gguf", "builtin:chatml" or "builtin:gemma".
    pub fn source(&self) -> &str {
        &self.source
    }
}

impl From<RenderError> for ChatError {
    fn from(error: RenderError) -> ChatError {
        match error {
            RenderError::Limit(why) => ChatError::Limit(why),
            RenderError::Template(e) => ChatError::Render(describe(&e)),
        }
    }
}

/// A conversation every chat template should render: a system prompt and
/// three user turns (what `inspect_model` and `from_jinja` try).
pub fn sample_conversation() -> Vec<ChatMessage> {
    let turns = [
        (Role::System, "You are a helpful assistant."),
        (Role::User, "Hello!"),
        (Role::Assistant, "Hello, how can I help?"),
        (Role::User, "Summarise this text: a cat sat on a mat."),
        (Role::Assistant, "A cat sat on a mat."),
        (Role::User, "Thank you."),
    ];
    turns
        .into_iter()
        .map(|(role, content)| ChatMessage {
            role,
            content: content.into(),
        })
        .collect()
}

/// A minijinja error with its cause chain, on one line.
fn describe(error: &minijinja::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text += &format!(": {cause}");
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests;
