//! Task prompts: what the model is asked for each on-page tool, as chat
//! messages rendered later with the model's own template; and the splitting
//! of text too long for one prompt.

pub mod chunk;
mod languages;
mod summarize;
mod translate;

pub use languages::{english_name, primary_subtag};
pub use summarize::{
    PART_NOTES_TOKENS, combine_messages, part_messages, summary_budget, summary_messages,
};
pub use translate::translate_messages;
