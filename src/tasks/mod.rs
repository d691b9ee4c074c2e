//! Task prompts: what the model is asked for each on-page tool, as chat
//! messages rendered later with the model's own template.

mod summarize;
mod translate;

pub use summarize::{summary_budget, summary_messages};
pub use translate::translate_messages;
