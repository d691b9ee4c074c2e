//! Summaries with the options of Chrome's built-in Summarizer API: type
//! (key points, TL;DR, teaser, headline), length and format.
//!
//! The text comes first in the user's turn and the instruction after it:
//! small models (SmolLM2-135M) follow an instruction right before their
//! answer far better than one in the system prompt above a long text, which
//! they tend to "rewrite for clarity" instead of summarising.

use crate::protocol::{
    ChatMessage, Role, SummarizeRequest, SummaryFormat, SummaryLength, SummaryType,
};

/// The summary of `request`'s text: a short role, then the text and the
/// instruction as the user's turn.
pub fn summary_messages(request: &SummarizeRequest) -> Vec<ChatMessage> {
    summary_of(request, &request.text, "the text above")
}

/// The final step of a long summary: the same options, over the notes taken
/// from each part of the text (in order).
pub fn combine_messages(request: &SummarizeRequest, notes: &str) -> Vec<ChatMessage> {
    summary_of(
        request,
        notes,
        "the document whose parts the notes above describe, in order,",
    )
}

/// The map step of a long summary: short notes on one part of the text.
pub fn part_messages(part: &str) -> Vec<ChatMessage> {
    let instruction = "Write the key facts of the text above in one or two short sentences.";
    vec![
        system("You take notes on one part of a longer text. Use plain text. "),
        user(part, instruction),
    ]
}

/// At most how many tokens the notes on one part may take (less in a small
/// context, see `runtime::generation`).
pub const PART_NOTES_TOKENS: usize = 64;

fn summary_of(request: &SummarizeRequest, text: &str, subject: &str) -> Vec<ChatMessage> {
    let instruction = match (request.summary_type, request.length) {
        (SummaryType::KeyPoints, length) => {
            let count = pick(length, "3", "5", "7");
            format!(
                "Summarise {subject} as a bulleted list of its {count} most important points, \
                 one short sentence each."
            )
        }
        (SummaryType::Tldr, length) => {
            let size = pick(length, "one sentence", "three sentences", "five sentences");
            format!("Summarise {subject} in {size}.")
        }
        (SummaryType::Teaser, length) => {
            let size = pick(length, "one sentence", "three sentences", "five sentences");
            format!(
                "Write an intriguing teaser of {size} that makes people want to read {subject}."
            )
        }
        (SummaryType::Headline, length) => {
            let words = pick(length, "12", "17", "22");
            format!("Write a single headline of at most {words} words for {subject}.")
        }
    };
    let format = match request.format {
        SummaryFormat::Markdown => "Use Markdown. ",
        SummaryFormat::PlainText => "Use plain text without Markdown. ",
    };
    vec![
        system(&format!("You are a summariser. {format}")),
        user(text, &instruction),
    ]
}

fn system(role: &str) -> ChatMessage {
    ChatMessage {
        role: Role::System,
        content: format!("{role}Reply with the summary only, in the language of the text."),
    }
}

fn user(text: &str, instruction: &str) -> ChatMessage {
    ChatMessage {
        role: Role::User,
        content: format!("{}\n\n{instruction}", text.trim()),
    }
}

/// At most how many tokens a summary of this type and length may take
/// (the shaper stops it sooner once the shape is full).
pub fn summary_budget(request: &SummarizeRequest) -> usize {
    super::shape::summary_shape(request).token_budget()
}

fn pick(
    length: SummaryLength,
    short: &'static str,
    medium: &'static str,
    long: &'static str,
) -> &'static str {
    match length {
        SummaryLength::Short => short,
        SummaryLength::Medium => medium,
        SummaryLength::Long => long,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(summary_type: SummaryType, length: SummaryLength) -> SummarizeRequest {
        SummarizeRequest {
            text: "  Some text.  ".into(),
            summary_type,
            length,
            format: SummaryFormat::PlainText,
            context_tokens: None,
            repeat_limit: None,
        }
    }

    #[test]
    fn options_change_the_instruction_and_budget() {
        let short = summary_messages(&request(SummaryType::KeyPoints, SummaryLength::Short));
        let long = summary_messages(&request(SummaryType::KeyPoints, SummaryLength::Long));
        assert!(short[1].content.contains("3 most important"));
        assert!(long[1].content.contains("7 most important"));
        assert!(short[0].content.contains("plain text"));
        assert!(
            short[1]
                .content
                .starts_with("Some text.\n\nSummarise the text above")
        );
        let headline = request(SummaryType::Headline, SummaryLength::Short);
        assert!(
            summary_budget(&headline)
                < summary_budget(&request(SummaryType::KeyPoints, SummaryLength::Long))
        );
    }
}
