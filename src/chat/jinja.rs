//! Jinja chat templates the way Hugging Face's `apply_chat_template` renders
//! them: `trim_blocks` and `lstrip_blocks`, Python string methods,
//! `raise_exception(msg)` and `strftime_now(format)`, with
//! `enable_thinking=false`.
//!
//! A template comes from the model file, so it is treated as hostile code:
//! every render runs on a fuel budget and its output is capped, so a
//! template that loops for ever, writes gigabytes or builds a huge string
//! without writing it (`{% set ns.s = ns.s ~ ns.s %}` forty times is 1 TiB)
//! fails with [`RenderError::Limit`] instead of hanging or aborting. Since
//! minijinja 3.1 fuel pays for data as well as instructions: every string
//! and list a template creates costs a unit per 64 bytes, checked before
//! the allocation where its size is known. Lazy list concatenation and
//! repetition (`l + l`, `l * 2`) are checked the same way by the Locus patch
//! in `third_party/minijinja` (unpatched, forty `l = l + l` cost forty
//! instructions and then a walk of 2^40 items).

use std::io::Write;

use minijinja::value::Value;
use minijinja::{Environment, Error, ErrorKind, context};

use super::builtin::role_name;
use super::clock;
use crate::protocol::ChatMessage;

const NAME: &str = "chat_template";

/// Fuel for one render: instructions, plus a unit per 64 bytes of data the
/// template creates or writes, so it also bounds the memory a render can
/// take to about 64 MiB. SmolLM2's and Qwen2.5's templates take about 35
/// instructions a message (1,001 messages render in about 60 ms on a busy
/// machine), so this covers thousands of messages and megabytes of text; a
/// runaway template stops here in well under a second.
pub(crate) const FUEL: u64 = 1_000_000;
/// Bytes of data the fuel pays for (minijinja charges one fuel per 64).
const FUEL_BYTES: u64 = FUEL * 64;
/// Rendered bytes a template may write beyond four times its messages' text
/// (it may repeat them, and add a long default system prompt).
const OUTPUT_SLACK: usize = 256 * 1024;

/// Why a render failed.
#[derive(Debug)]
pub(crate) enum RenderError {
    /// The template ran out of fuel or wrote too much: it is not usable.
    Limit(String),
    /// The template raised or hit an error (e.g. roles out of order).
    Template(Error),
}

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
        env.add_function("range", range);
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
    ) -> Result<String, RenderError> {
        let messages_value: Vec<Value> = messages
            .iter()
            .map(|m| context! { role => role_name(m.role), content => m.content.as_str() })
            .collect();
        let ctx = context! {
            messages => messages_value,
            add_generation_prompt => add_generation_prompt,
            bos_token => self.bos_token.as_str(),
            eos_token => self.eos_token.as_str(),
            // Page tools and chat want the answer, not a reasoning trace:
            // Qwen3's template then closes an empty thought in the prompt.
            enable_thinking => false,
        };
        let text_bytes: usize = messages.iter().map(|m| m.content.len()).sum();
        let limit = text_bytes.saturating_mul(4).saturating_add(OUTPUT_SLACK);
        let mut out = CappedWriter {
            bytes: Vec::new(),
            limit,
            exceeded: false,
        };
        let template = self.env.get_template(NAME).map_err(RenderError::Template)?;
        match template.render_captured_to(ctx, &mut out) {
            Ok(_) => String::from_utf8(out.bytes).map_err(|_| {
                RenderError::Template(Error::new(
                    ErrorKind::InvalidOperation,
                    "the template wrote invalid UTF-8",
                ))
            }),
            Err(error) if error.kind() == ErrorKind::OutOfFuel => {
                Err(RenderError::Limit(match error.detail() {
                    Some(detail) => detail.to_string(),
                    None => format!(
                        "it runs more than {FUEL} instructions or makes more than {} MiB of data",
                        FUEL_BYTES >> 20
                    ),
                }))
            }
            Err(_) if out.exceeded => Err(RenderError::Limit(format!(
                "it writes more than {limit} bytes for {text_bytes} bytes of messages"
            ))),
            Err(error) => Err(RenderError::Template(error)),
        }
    }
}

/// minijinja's `range`, whose refusal of more than 100,000 items is a
/// resource limit like running out of fuel (a template asking for
/// `range(10**9)` is unusable, not merely wrong, so no built-in format
/// stands in for it).
fn range(lower: isize, upper: Option<isize>, step: Option<isize>) -> Result<Value, Error> {
    minijinja::functions::range(lower, upper, step).map_err(|error| {
        if error.detail() == Some("range has too many elements") {
            let args = match (upper, step) {
                (None, _) => format!("{lower}"),
                (Some(upper), None) => format!("{lower}, {upper}"),
                (Some(upper), Some(step)) => format!("{lower}, {upper}, {step}"),
            };
            Error::new(
                ErrorKind::OutOfFuel,
                format!("it asks for range({args}), over 100000 items"),
            )
        } else {
            error
        }
    })
}

/// Collects output and fails once it grows past `limit` bytes.
struct CappedWriter {
    bytes: Vec<u8>,
    limit: usize,
    /// Set when the cap, not the template, ended the render.
    exceeded: bool,
}

impl Write for CappedWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.bytes.len() + buf.len() > self.limit {
            self.exceeded = true;
            return Err(std::io::Error::other("output cap"));
        }
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
