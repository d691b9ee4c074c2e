//! Task prompts: what the model is asked for each on-page tool, as chat
//! messages rendered later with the model's own template; and the splitting
//! of text too long for one prompt; and what stands between the model's
//! text and the user (the summary's shape, the checks that stop a loop).

pub mod chunk;
mod copy_guard;
mod languages;
mod output;
mod prompt;
mod repetition;
mod shape;
mod summarize;
mod translate;

pub use copy_guard::{CopyGuard, MAX_ECHOED_WORDS};
pub use languages::{english_name, primary_subtag};
pub use output::{OutputChecks, OutputStop, Step, translation_budget};
pub use prompt::{Prompt, chat_prompt};
pub use repetition::RepetitionGuard;
pub use shape::{Shape, Shaper, summary_shape};
pub use summarize::{
    PART_NOTES_TOKENS, combine_messages, part_messages, summary_budget, summary_messages,
};
pub use translate::translate_messages;
