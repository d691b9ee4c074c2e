//! llama.cpp's built-in chat formats (`llm_chat_apply_template` in
//! `llama-chat.cpp`), used when a model has no usable Jinja template, and the
//! heuristics llama.cpp uses to pick one from a template's text.

use crate::protocol::{ChatMessage, Role};
use crate::tokenizer::{PromptPiece, prompt_text};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Builtin {
    /// `<|im_start|>role\ncontent<|im_end|>\n` (SmolLM2, Qwen).
    ChatMl,
    /// `<start_of_turn>user\n…<end_of_turn>\n`, system text folded into the
    /// first user turn, "assistant" called "model" (Gemma).
    Gemma,
}

impl Builtin {
    pub fn name(self) -> &'static str {
        match self {
            Builtin::ChatMl => "chatml",
            Builtin::Gemma => "gemma",
        }
    }

    /// What llama.cpp's `llm_chat_detect_template` picks for a template, among
    /// the formats we have; `None` for every other family.
    pub fn detect(template: &str) -> Option<Builtin> {
        if template.contains("<|im_start|>") {
            // Phi-4 and SmolVLM use the same markers with other layouts.
            let other = template.contains("<|im_sep|>") || template.contains("<end_of_utterance>");
            (!other).then_some(Builtin::ChatMl)
        } else if template.contains("<start_of_turn>") {
            Some(Builtin::Gemma)
        } else {
            None
        }
    }

    /// The format a vocabulary's turn markers call for.
    pub fn for_vocabulary(has_token: impl Fn(&str) -> bool) -> Option<Builtin> {
        if has_token("<|im_start|>") && has_token("<|im_end|>") {
            Some(Builtin::ChatMl)
        } else if has_token("<start_of_turn>") && has_token("<end_of_turn>") {
            Some(Builtin::Gemma)
        } else {
            None
        }
    }

    pub fn render(self, messages: &[ChatMessage], add_generation_prompt: bool) -> String {
        prompt_text(&self.pieces(messages, add_generation_prompt))
    }

    /// The prompt as the format's markup around each message's text.
    pub fn pieces(self, messages: &[ChatMessage], add_generation_prompt: bool) -> Vec<PromptPiece> {
        let mut out = Vec::new();
        let markup = |out: &mut Vec<PromptPiece>, text: String| out.push(PromptPiece::Markup(text));
        let text = |out: &mut Vec<PromptPiece>, text: &str| {
            if !text.is_empty() {
                out.push(PromptPiece::Text(text.to_string()));
            }
        };
        match self {
            Builtin::ChatMl => {
                for m in messages {
                    markup(&mut out, format!("<|im_start|>{}\n", role_name(m.role)));
                    text(&mut out, &m.content);
                    markup(&mut out, "<|im_end|>\n".into());
                }
                if add_generation_prompt {
                    markup(&mut out, "<|im_start|>assistant\n".into());
                }
            }
            Builtin::Gemma => {
                let mut system = String::new();
                for m in messages {
                    if m.role == Role::System {
                        system += trim(&m.content);
                        continue;
                    }
                    let role = if m.role == Role::Assistant {
                        "model"
                    } else {
                        role_name(m.role)
                    };
                    markup(&mut out, format!("<start_of_turn>{role}\n"));
                    if !system.is_empty() && role != "model" {
                        text(&mut out, &system);
                        markup(&mut out, "\n\n".into());
                        system.clear();
                    }
                    text(&mut out, trim(&m.content));
                    markup(&mut out, "<end_of_turn>\n".into());
                }
                if add_generation_prompt {
                    markup(&mut out, "<start_of_turn>model\n".into());
                }
            }
        }
        out
    }
}

pub(crate) fn role_name(role: Role) -> &'static str {
    match role {
        Role::System => "system",
        Role::User => "user",
        Role::Assistant => "assistant",
    }
}

/// llama.cpp's `trim`: C `isspace` (space, \t, \n, \v, \f, \r) at both ends.
fn trim(text: &str) -> &str {
    text.trim_matches(|c| matches!(c, ' ' | '\t' | '\n' | '\x0b' | '\x0c' | '\r'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(role: Role, content: &str) -> ChatMessage {
        ChatMessage {
            role,
            content: content.into(),
        }
    }

    #[test]
    fn chatml_lists_every_turn() {
        let text = Builtin::ChatMl.render(&[msg(Role::System, "S"), msg(Role::User, "Hi")], true);
        assert_eq!(
            text,
            "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        );
    }

    #[test]
    fn gemma_folds_the_system_prompt_into_the_first_user_turn() {
        let messages = [
            msg(Role::System, " Be brief. "),
            msg(Role::User, "Hi\n"),
            msg(Role::Assistant, "Hello!"),
            msg(Role::User, "Bye"),
        ];
        let text = Builtin::Gemma.render(&messages, true);
        assert_eq!(
            text,
            "<start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\nHello!<end_of_turn>\n\
             <start_of_turn>user\nBye<end_of_turn>\n<start_of_turn>model\n"
        );
        assert_eq!(
            Builtin::Gemma.render(&messages, false),
            text.strip_suffix("<start_of_turn>model\n").unwrap()
        );
    }

    #[test]
    fn detection_follows_llama_cpp() {
        assert_eq!(
            Builtin::detect("{{'<|im_start|>' + role}}"),
            Some(Builtin::ChatMl)
        );
        assert_eq!(Builtin::detect("<|im_start|>{{role}}<|im_sep|>"), None);
        assert_eq!(Builtin::detect("<start_of_turn>"), Some(Builtin::Gemma));
        assert_eq!(Builtin::detect("[INST]"), None);
    }
}
