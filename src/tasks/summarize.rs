//! Summaries with the options of Chrome's built-in Summarizer API: type
//! (key points, TL;DR, teaser, headline), length and format.

use crate::protocol::{
    ChatMessage, Role, SummarizeRequest, SummaryFormat, SummaryLength, SummaryType,
};

/// The instruction for `request`, then the text as the user's turn.
pub fn summary_messages(request: &SummarizeRequest) -> Vec<ChatMessage> {
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
                "You summarise text. Write {shape}. {format} Reply with the summary only, \
                 in the language of the text."
            ),
        },
        ChatMessage {
            role: Role::User,
            content: request.text.trim().to_string(),
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
