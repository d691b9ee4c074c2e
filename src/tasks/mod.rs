//! Task prompts: what the model is asked for each on-page tool, as chat
//! messages rendered later with the model's own template; and the splitting
//! of text too long for one prompt.

pub mod chunk;
mod languages;
mod prompt;
mod summarize;
mod translate;

pub use languages::{english_name, primary_subtag};
pub use prompt::{Prompt, chat_prompt};
pub use summarize::{
    PART_NOTES_TOKENS, combine_messages, part_messages, summary_budget, summary_messages,
};
pub use translate::translate_messages;
