//! Jinja chat templates the way Hugging Face's `apply_chat_template` renders
//! them: `trim_blocks` and `lstrip_blocks`, Python string methods,
//! `raise_exception(msg)` and `strftime_now(format)`.

use minijinja::value::Value;
use minijinja::{Environment, Error, ErrorKind, context};

use super::builtin::role_name;
use super::clock;
use crate::protocol::ChatMessage;

const NAME: &str = "chat_template";

/// Instructions one render may run. Real templates take a few hundred a
/// message (Qwen2.5's, with its tool branches, is the largest we know); a
/// runaway template (two nested loops of 10^5: tests/fuzz_regressions.rs)
/// stops here after a fraction of a second instead of hanging the runtime.
const FUEL: u64 = 5_000_000;

pub(crate) struct JinjaTemplate {
    env: Environment<'static>,
    bos_token: String,
    eos_token: String,
}

impl JinjaTemplate {
    /// Compiles the template; syntax errors show here, not at render time.
    pub fn new(source: &str, bos_token: String, eos_token: String) -> Result<JinjaTemplate, Error> {
        let mut env = Environment::new();
        let syntax = minijinja::syntax::SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .build()?;
        env.set_syntax(syntax);
        env.set_fuel(Some(FUEL));
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function(
            "raise_exception",
            |message: String| -> Result<Value, Error> {
                Err(Error::new(ErrorKind::InvalidOperation, message))
            },
        );
        env.add_function("strftime_now", |format: String| {
            clock::strftime_now(&format)
        });
        env.add_template_owned(NAME, source.to_string())?;
        Ok(JinjaTemplate {
            env,
            bos_token,
            eos_token,
        })
    }

    pub fn render(
        &self,
        messages: &[ChatMessage],
        add_generation_prompt: bool,
    ) -> Result<String, Error> {
        let messages: Vec<Value> = messages
            .iter()
            .map(|m| context! { role => role_name(m.role), content => m.content.as_str() })
            .collect();
        let ctx = context! {
            messages => messages,
            add_generation_prompt => add_generation_prompt,
            bos_token => self.bos_token.as_str(),
            eos_token => self.eos_token.as_str(),
        };
        self.env.get_template(NAME)?.render(ctx)
    }
}
