//! Summaries with the options of Chrome's built-in Summarizer API: type
//! (key points, TL;DR, teaser, headline), length and format.

use crate::protocol::{
    ChatMessage, Role, SummarizeRequest, SummaryFormat, SummaryLength, SummaryType,
};

/// The instruction for `request`, then the text as the user's turn.
pub fn summary_messages(request: &SummarizeRequest) -> Vec<ChatMessage> {
    summary_of(request, &request.text, "")
}

/// The final step of a long summary: the same options, over the notes taken
/// from each part of the text (in order).
pub fn combine_messages(request: &SummarizeRequest, notes: &str) -> Vec<ChatMessage> {
    summary_of(
        request,
        notes,
        " The text is a set of notes on the consecutive parts of one long document: \
         summarise the whole document.",
    )
}

/// The map step of a long summary: short notes on one part of the text.
pub fn part_messages(part: &str) -> Vec<ChatMessage> {
    vec![
        ChatMessage {
            role: Role::System,
            content: "You take notes on one part of a longer text. Write its key facts in two \
                      or three short sentences. Reply with the notes only, in the language of \
                      the text."
                .into(),
        },
        ChatMessage {
            role: Role::User,
            content: part.trim().to_string(),
        },
    ]
}

/// At most how many tokens the notes on one part may take.
pub const PART_NOTES_TOKENS: usize = 64;

fn summary_of(request: &SummarizeRequest, text: &str, context: &str) -> Vec<ChatMessage> {
    let shape = match (request.summary_type, request.length) {
        (SummaryType::KeyPoints, length) => {
            let count = pick(length, "3", "5", "7");
            format!("the {count} most important points of the text, as a bulleted list")
        }
        (SummaryType::Tldr, length) => {
            let size = pick(length, "one sentence", "three sentences", "five sentences");
            format!("a short TL;DR of the text in {size}")
        }
        (SummaryType::Teaser, length) => {
            let size = pick(length, "one sentence", "three sentences", "five sentences");
            format!("an intriguing teaser of {size} that makes people want to read the text")
        }
        (SummaryType::Headline, length) => {
            let words = pick(length, "12", "17", "22");
            format!("a single headline of at most {words} words for the text")
        }
    };
    let format = match request.format {
        SummaryFormat::Markdown => "Use Markdown.",
        SummaryFormat::PlainText => "Use plain text without Markdown.",
    };
    vec![
        ChatMessage {
            role: Role::System,
            content: format!(
                "You summarise text.{context} Write {shape}. {format} Reply with the summary \
                 only, in the language of the text."
            ),
        },
        ChatMessage {
            role: Role::User,
            content: text.trim().to_string(),
        },
    ]
}

/// At most how many tokens a summary of this type and length may take.
pub fn summary_budget(request: &SummarizeRequest) -> usize {
    let base = match request.summary_type {
        SummaryType::Headline => 40,
        SummaryType::Tldr | SummaryType::Teaser => 120,
        SummaryType::KeyPoints => 160,
    };
    match request.length {
        SummaryLength::Short => base / 2,
        SummaryLength::Medium => base,
        SummaryLength::Long => base * 2,
    }
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
        }
    }

    #[test]
    fn options_change_the_instruction_and_budget() {
        let short = summary_messages(&request(SummaryType::KeyPoints, SummaryLength::Short));
        let long = summary_messages(&request(SummaryType::KeyPoints, SummaryLength::Long));
        assert!(short[0].content.contains("3 most important"));
        assert!(long[0].content.contains("7 most important"));
        assert!(short[0].content.contains("plain text"));
        assert_eq!(short[1].content, "Some text.");
        let headline = request(SummaryType::Headline, SummaryLength::Short);
        assert!(
            summary_budget(&headline)
                < summary_budget(&request(SummaryType::KeyPoints, SummaryLength::Long))
        );
    }
}
