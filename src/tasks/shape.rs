//! Summaries in the shape Chrome's Summarizer promises, whatever the model
//! writes: key points are bullets (at most 3 / 5 / 7 for short / medium /
//! long), a TL;DR or teaser is one paragraph of 1 / 3 / 5 sentences, a
//! headline is one line of at most 12 / 17 / 22 words.
//!
//! The [`Shaper`] reads the model's text as it streams and shows it one
//! complete unit at a time (a bullet line, or a sentence of prose), so an
//! answer never ends mid-sentence: when the token budget runs out, the
//! unfinished unit is dropped and the summary is marked shortened. Once the
//! shape is full (the last allowed bullet, sentence or the headline) it
//! says so and the generation stops there.

use crate::protocol::{SummarizeRequest, SummaryFormat, SummaryLength, SummaryType};

/// What a summary may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// At most this many bullets.
    Bullets(usize),
    /// One paragraph of at most this many sentences.
    Sentences(usize),
    /// One line of at most this many words.
    Headline(usize),
}

impl Shape {
    /// The shape Chrome's Summarizer gives this type and length.
    pub fn of(summary_type: SummaryType, length: SummaryLength) -> Shape {
        let pick = |short, medium, long| match length {
            SummaryLength::Short => short,
            SummaryLength::Medium => medium,
            SummaryLength::Long => long,
        };
        match summary_type {
            SummaryType::KeyPoints => Shape::Bullets(pick(3, 5, 7)),
            SummaryType::Tldr | SummaryType::Teaser => Shape::Sentences(pick(1, 3, 5)),
            SummaryType::Headline => Shape::Headline(pick(12, 17, 22)),
        }
    }

    /// Tokens the model may spend on it: a bullet or sentence of up to about
    /// 30 words is about 40 tokens, a word about 1.5; a little more for a
    /// preamble the shaper drops ("Here are the key points:").
    pub fn token_budget(self) -> usize {
        match self {
            Shape::Bullets(n) | Shape::Sentences(n) => 40 * n + 24,
            Shape::Headline(words) => 2 * words + 16,
        }
    }
}

/// The shape of `request`'s summary.
pub fn summary_shape(request: &SummarizeRequest) -> Shape {
    Shape::of(request.summary_type, request.length)
}

/// Streams a model's text into a [`Shape`].
#[derive(Debug)]
pub struct Shaper {
    shape: Shape,
    markdown: bool,
    /// Model text not yet made into units.
    pending: String,
    /// Bullets or sentences shown so far.
    shown: usize,
    /// Normalised units shown, to drop a repeated one.
    seen: Vec<String>,
    full: bool,
    shortened: bool,
}

impl Shaper {
    pub fn new(shape: Shape, format: SummaryFormat) -> Shaper {
        Shaper {
            shape,
            markdown: format == SummaryFormat::Markdown,
            pending: String::new(),
            shown: 0,
            seen: Vec::new(),
            full: false,
            shortened: false,
        }
    }

    /// Whether the shape is full: the generation should stop.
    pub fn is_full(&self) -> bool {
        self.full
    }

    /// Whether a unit was cut off or a headline was cut to its word limit.
    pub fn shortened(&self) -> bool {
        self.shortened
    }

    /// Takes the next piece of the model's text; returns what may be shown.
    pub fn push(&mut self, piece: &str) -> String {
        if self.full {
            return String::new();
        }
        self.pending.push_str(piece);
        let mut out = String::new();
        while !self.full {
            let Some((unit, used)) = next_unit(&self.pending) else {
                break;
            };
            self.pending.drain(..used);
            self.take(unit, &mut out);
        }
        // A headline longer than allowed need not wait for its line to end.
        if let Shape::Headline(words) = self.shape
            && !self.full
            && self.pending.split_whitespace().count() > words + 1
        {
            let line = std::mem::take(&mut self.pending);
            self.take(Unit::line(&line), &mut out);
        }
        out
    }

    /// What the unit in progress would add if it ended now, shown
    /// provisionally so a summary streams token by token; the next
    /// [`push`](Self::push) that completes the unit commits it (or drops it).
    /// Empty while the unit may still turn out to be dropped: a lead-in
    /// ("Here are the key…"), a courtesy ("Sur…") or a repeat.
    pub fn draft(&self) -> String {
        if self.full {
            return String::new();
        }
        let line = self.pending.trim_start().lines().next().unwrap_or("");
        let mut text = clean(strip_marker(line).unwrap_or(line), self.markdown);
        if !self.markdown {
            // Half an emphasis mark ("**Energy*") is not text yet.
            text.truncate(text.trim_end_matches(['*', '_', '`']).len());
        }
        if !text.chars().any(char::is_alphabetic) || self.may_be_dropped(&text) {
            return String::new();
        }
        match self.shape {
            Shape::Bullets(_) => {
                let separator = if self.shown > 0 { "\n" } else { "" };
                let marker = if self.markdown { "- " } else { "• " };
                format!("{separator}{marker}{text}")
            }
            Shape::Sentences(_) => {
                let separator = if self.shown > 0 { " " } else { "" };
                format!("{separator}{text}")
            }
            Shape::Headline(words) => headline(&text, words).0,
        }
    }

    /// Whether an unfinished unit's `text` may still be one that
    /// [`take`](Self::take) drops.
    fn may_be_dropped(&self, text: &str) -> bool {
        if is_preamble(text) {
            return true;
        }
        let bare = text.trim_matches(['*', '_', '"', ' ']).to_lowercase();
        let either_starts = |label: &str| label.starts_with(&bare) || bare.starts_with(label);
        let short = bare.split_whitespace().count() <= 8;
        let labels = [
            "sure",
            "certainly",
            "of course",
            "okay",
            "key points",
            "teaser",
            "title",
        ];
        if short && !bare.contains(':') && LEAD_INS.iter().chain(&labels).any(|l| either_starts(l))
        {
            return true;
        }
        let key: String = text
            .chars()
            .filter(|c| c.is_alphanumeric())
            .flat_map(char::to_lowercase)
            .collect();
        self.seen.iter().any(|seen| seen.starts_with(&key))
    }

    /// The rest, once the model has stopped. `cut`: it stopped because its
    /// token budget ran out, so what is unfinished is dropped (keeping a
    /// bullet's complete sentences); otherwise the model chose to end there
    /// and its last unit is whole.
    pub fn finish(&mut self, cut: bool) -> String {
        let rest = std::mem::take(&mut self.pending);
        let mut out = String::new();
        if self.full || rest.trim().is_empty() {
            return out;
        }
        let rest = rest.trim();
        let kept = if cut {
            let body = strip_marker(rest).unwrap_or(rest);
            let kept = complete_sentences(body);
            if kept.len() < body.trim().len() {
                self.shortened = true;
            }
            kept
        } else {
            strip_marker(rest).unwrap_or(rest)
        };
        if !kept.trim().is_empty() {
            self.take(Unit::line(kept), &mut out);
        }
        out
    }

    /// Adds one unit to the answer, if the shape still has room for it.
    fn take(&mut self, unit: Unit, out: &mut String) {
        let text = clean(&unit.text, self.markdown);
        if is_preamble(&text) {
            return;
        }
        match self.shape {
            Shape::Bullets(max) => {
                if self.is_new(&text) {
                    let marker = if self.markdown { "- " } else { "• " };
                    if self.shown > 0 {
                        out.push('\n');
                    }
                    out.push_str(marker);
                    out.push_str(&text);
                    // A point is a sentence: one the model left open is closed.
                    if !ends_sentence(&text) {
                        out.push('.');
                    }
                    self.shown += 1;
                    self.full = self.shown >= max;
                }
            }
            Shape::Sentences(max) => {
                for sentence in sentences(&text) {
                    if self.full || !self.is_new(sentence) {
                        continue;
                    }
                    if self.shown > 0 {
                        out.push(' ');
                    }
                    out.push_str(sentence);
                    if !ends_sentence(sentence) {
                        out.push('.');
                    }
                    self.shown += 1;
                    self.full = self.shown >= max;
                }
            }
            Shape::Headline(words) => {
                let (line, cut) = headline(&text, words);
                if line.is_empty() {
                    return;
                }
                out.push_str(&line);
                self.shortened |= cut;
                self.shown = 1;
                self.full = true;
            }
        }
    }

    /// Records `text` as shown unless it (or a near copy) already was.
    fn is_new(&mut self, text: &str) -> bool {
        let key: String = text
            .chars()
            .filter(|c| c.is_alphanumeric())
            .flat_map(char::to_lowercase)
            .collect();
        if key.is_empty() || self.seen.contains(&key) {
            return false;
        }
        self.seen.push(key);
        true
    }
}

/// One bullet line, one sentence of prose, or one line without a sentence end.
#[derive(Debug, PartialEq)]
struct Unit {
    text: String,
}

impl Unit {
    fn line(text: &str) -> Unit {
        Unit {
            text: strip_marker(text.trim()).unwrap_or(text.trim()).to_string(),
        }
    }
}

/// The first complete unit of `pending` and the bytes it used, or `None`
/// while it is unfinished. A bullet ends at its line's end; prose ends at a
/// sentence end (a line end too); a headline at its line's or sentence's end.
fn next_unit(pending: &str) -> Option<(Unit, usize)> {
    let start = pending.len() - pending.trim_start().len();
    let body = &pending[start..];
    if body.is_empty() {
        return None;
    }
    let line_end = body.find('\n');
    if let Some(text) = strip_marker(body) {
        let end = line_end?;
        let text = &text[..text.len() - (body.len() - end)];
        return Some((Unit::line(text), start + end + 1));
    }
    let line = &body[..line_end.unwrap_or(body.len())];
    let sentence_end = sentence_end(line, line_end.is_some());
    let end = sentence_end.or(line_end)?;
    Some((Unit::line(&body[..end]), start + end))
}

/// Where the first sentence of `line` ends (after its punctuation and any
/// closing quote), when what follows shows it is an end: whitespace, or the
/// line's end when `line_complete`.
fn sentence_end(line: &str, line_complete: bool) -> Option<usize> {
    let mut chars = line.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        let cjk = matches!(c, '。' | '！' | '？');
        if !(cjk || matches!(c, '.' | '!' | '?' | '…')) {
            continue;
        }
        let mut end = at + c.len_utf8();
        while let Some(&(next_at, next)) = chars.peek() {
            if matches!(next, '"' | '\'' | '”' | '’' | ')' | ']' | '»' | '.' | '*') {
                end = next_at + next.len_utf8();
                chars.next();
            } else {
                break;
            }
        }
        match chars.peek() {
            Some(&(_, next)) if next.is_whitespace() || cjk => return Some(end),
            None if line_complete || cjk => return Some(end),
            _ => {}
        }
    }
    None
}

/// The sentences of a unit's text.
fn sentences(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let end = sentence_end(rest, true).unwrap_or(rest.len());
        out.push(rest[..end].trim());
        rest = rest[end..].trim_start();
    }
    out
}

/// The complete sentences at the start of an unfinished `text` ("" if none).
fn complete_sentences(text: &str) -> &str {
    let text = text.trim();
    let mut end = 0;
    let mut rest = text;
    while let Some(at) = sentence_end(rest, false) {
        end += at;
        rest = &text[end..];
        let skipped = rest.len() - rest.trim_start().len();
        end += skipped;
        rest = &text[end..];
    }
    if ends_sentence(text) {
        return text;
    }
    text[..end].trim_end()
}

fn ends_sentence(text: &str) -> bool {
    let text = text.trim_end_matches(['"', '\'', '”', '’', ')', ']', '»', '*']);
    text.ends_with(['.', '!', '?', '…', '。', '！', '？'])
}

/// `line` without its bullet or list marker (`- `, `* `, `• `, `+ `, `1. `,
/// `2) `), or `None` when it has none.
fn strip_marker(line: &str) -> Option<&str> {
    let line = line.trim_start();
    for marker in ["- ", "* ", "• ", "+ ", "– "] {
        if let Some(rest) = line.strip_prefix(marker) {
            return Some(rest);
        }
    }
    let digits = line.len() - line.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    if (1..=2).contains(&digits) {
        let rest = &line[digits..];
        for marker in [". ", ") "] {
            if let Some(rest) = rest.strip_prefix(marker) {
                return Some(rest);
            }
        }
    }
    None
}

/// A unit's text as shown: trimmed, without a heading's `#`s or a lead-in
/// ("Here is a summary: …"); in plain text without Markdown's emphasis marks.
fn clean(text: &str, markdown: bool) -> String {
    let text = without_lead_in(text.trim().trim_start_matches('#').trim());
    let text = if markdown {
        text.to_string()
    } else {
        text.replace("**", "").replace("__", "").replace('`', "")
    };
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Words that open a lead-in to the answer rather than the answer.
const LEAD_INS: [&str; 8] = [
    "here is",
    "here's",
    "here are",
    "summary",
    "tl;dr",
    "tldr",
    "in summary",
    "headline",
];

/// `text` without a lead-in before a colon ("Here's a summary: The wall…",
/// "**TL;DR:** The wall…").
fn without_lead_in(text: &str) -> &str {
    let Some(colon) = text.find(':') else {
        return text;
    };
    let before = text[..colon].trim_matches(['*', '_', ' ']).to_lowercase();
    let short = before.split_whitespace().count() <= 8;
    if short && LEAD_INS.iter().any(|lead| before.starts_with(lead)) {
        return text[colon + 1..].trim_start_matches(['*', '_', ' ']);
    }
    text
}

/// A line that introduces the answer instead of being part of it: "Here
/// are the key points:", "**Summary:**", "Key points", "Sure!".
fn is_preamble(text: &str) -> bool {
    let bare = text.trim().trim_matches(['*', '_', '"', ' ']);
    if bare.is_empty() || bare.ends_with(':') {
        return true;
    }
    let courtesy = bare.trim_end_matches(['.', '!', ',']).to_lowercase();
    if ["sure", "certainly", "of course", "okay", "ok"].contains(&courtesy.as_str()) {
        return true;
    }
    let lower = bare.to_lowercase();
    let words = lower.split_whitespace().count();
    words <= 3
        && [
            "summary",
            "key points",
            "tl;dr",
            "tldr",
            "headline",
            "teaser",
        ]
        .iter()
        .any(|label| lower.trim_end_matches(['.', ':']) == *label)
}

/// A headline from a line: no label ("Headline:"), quotes or emphasis
/// around it, at most `words` words (cut at a comma, colon or dash in its
/// second half when there is one). Returns it and whether it was cut.
fn headline(line: &str, words: usize) -> (String, bool) {
    let marks = ['*', '_', '"', '“', '”', ' '];
    let mut line = line.trim().trim_matches(marks);
    for label in ["headline:", "title:"] {
        if line.to_lowercase().starts_with(label) {
            line = line[label.len()..].trim_matches(marks);
        }
    }
    let all: Vec<&str> = line.split_whitespace().collect();
    if all.len() <= words {
        return (all.join(" "), false);
    }
    let natural = (words / 2..words)
        .rev()
        .find(|&at| all[at].ends_with([',', ':', ';']) || matches!(all[at + 1], "-" | "–" | "—"));
    let kept = match natural {
        Some(at) => {
            let mut kept = all[..=at].to_vec();
            let last = kept[at].trim_end_matches([',', ':', ';']);
            kept[at] = last;
            kept
        }
        None => all[..words].to_vec(),
    };
    (kept.join(" "), true)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `text` in pieces of `size` bytes, each ending on a char boundary.
    fn pieces(text: &str, size: usize) -> Vec<&str> {
        let mut out = Vec::new();
        let mut rest = text;
        while !rest.is_empty() {
            let mut at = size.min(rest.len());
            while !rest.is_char_boundary(at) {
                at += 1;
            }
            out.push(&rest[..at]);
            rest = &rest[at..];
        }
        out
    }

    /// Streams `text` in pieces of `size` bytes, then finishes; returns what
    /// was shown and the shaper.
    fn stream(shape: Shape, text: &str, size: usize, cut: bool) -> (String, Shaper) {
        let mut shaper = Shaper::new(shape, SummaryFormat::Markdown);
        let mut out = String::new();
        for piece in pieces(text, size) {
            if shaper.is_full() {
                break;
            }
            out.push_str(&shaper.push(piece));
        }
        out.push_str(&shaper.finish(cut));
        (out, shaper)
    }

    #[test]
    fn prose_becomes_bullets_and_stops_after_the_last_allowed() {
        let text = "The plant opened in May. It cuts costs by half! Workers moved in June. \
                    A fourth point follows here.";
        for size in [1, 3, 7, 100] {
            let (out, shaper) = stream(Shape::Bullets(3), text, size, false);
            assert_eq!(
                out,
                "- The plant opened in May.\n- It cuts costs by half!\n- Workers moved in June.",
                "pieces of {size}"
            );
            assert!(shaper.is_full());
            assert!(!shaper.shortened());
        }
    }

    #[test]
    fn bullets_are_normalised_and_preambles_and_repeats_dropped() {
        let text = "Here are the key points:\n\n* **Energy** use fell by 30%.\n2. Costs fell.\n\
                    - Energy use fell by 30%.\n• Jobs were kept.\n";
        let (out, _) = stream(Shape::Bullets(5), text, 4, false);
        assert_eq!(
            out,
            "- **Energy** use fell by 30%.\n- Costs fell.\n- Jobs were kept."
        );
        let (out, _) = stream(
            Shape::Bullets(2),
            "- Energy use fell\n- Costs fell (a lot)\n",
            3,
            false,
        );
        assert_eq!(out, "- Energy use fell.\n- Costs fell (a lot).");
        let mut plain = Shaper::new(Shape::Bullets(5), SummaryFormat::PlainText);
        let shown = plain.push(text) + &plain.finish(false);
        assert_eq!(
            shown,
            "• Energy use fell by 30%.\n• Costs fell.\n• Jobs were kept."
        );
    }

    #[test]
    fn a_cut_never_ends_mid_sentence() {
        // The budget ran out inside the third bullet's second sentence.
        let text = "- One is done.\n- Two is done.\n- Three starts well. Then it goes on and";
        let (out, shaper) = stream(Shape::Bullets(5), text, 5, true);
        assert_eq!(out, "- One is done.\n- Two is done.\n- Three starts well.");
        assert!(shaper.shortened());
        // Prose cut mid-sentence: the unfinished sentence is dropped.
        let (out, shaper) = stream(Shape::Sentences(3), "First one. Second is cut mid", 4, true);
        assert_eq!(out, "First one.");
        assert!(shaper.shortened());
        // The model ended by itself: its last unit stands.
        let (out, shaper) = stream(Shape::Bullets(5), "- Only one point", 4, false);
        assert_eq!(out, "- Only one point.");
        assert!(!shaper.shortened());
    }

    #[test]
    fn lead_ins_and_courtesies_are_not_part_of_the_answer() {
        let text = "Sure! Here's a summary: The wall is old. **TL;DR:** It is long.";
        let (out, _) = stream(Shape::Sentences(3), text, 4, false);
        assert_eq!(out, "The wall is old. It is long.");
        let (out, _) = stream(Shape::Headline(12), "**Title:** Wall Found\n", 3, false);
        assert_eq!(out, "Wall Found");
    }

    #[test]
    fn decimals_and_abbreviations_inside_numbers_do_not_end_sentences() {
        let (out, _) = stream(
            Shape::Sentences(1),
            "Version 1.5 is out now. More follows.",
            1,
            false,
        );
        assert_eq!(out, "Version 1.5 is out now.");
    }

    #[test]
    fn tldr_is_one_paragraph_of_at_most_n_sentences() {
        let text = "- Point one is here.\n- Point two is here\n\nThird. Fourth.";
        let (out, shaper) = stream(Shape::Sentences(3), text, 3, false);
        assert_eq!(out, "Point one is here. Point two is here. Third.");
        assert!(shaper.is_full());
        assert!(!out.contains('\n'));
    }

    #[test]
    fn headline_is_one_line_within_its_word_limit() {
        let (out, shaper) = stream(
            Shape::Headline(12),
            "Headline: \"City Opens New Rail Line\"\nMore text.",
            2,
            false,
        );
        assert_eq!(out, "City Opens New Rail Line");
        assert!(shaper.is_full() && !shaper.shortened());
        let long = "One two three four five six seven eight, nine ten eleven twelve thirteen \
                    fourteen fifteen and more words that keep coming";
        let (out, shaper) = stream(Shape::Headline(12), long, 3, false);
        assert_eq!(out, "One two three four five six seven eight");
        assert!(shaper.shortened());
        let (out, _) = stream(Shape::Headline(5), "a b c d e f g h", 2, false);
        assert_eq!(out, "a b c d e");
    }

    /// Streams `text` in pieces of `size` bytes and checks that every draft,
    /// after what was committed so far, is a start of the final answer.
    fn drafts_lead_to(shape: Shape, format: SummaryFormat, text: &str, size: usize) -> usize {
        let mut shaper = Shaper::new(shape, format);
        let (mut shown, mut drafts) = (String::new(), Vec::new());
        for piece in pieces(text, size) {
            if shaper.is_full() {
                break;
            }
            shown.push_str(&shaper.push(piece));
            drafts.push(format!("{shown}{}", shaper.draft()));
        }
        let answer = shown + &shaper.finish(false);
        for draft in &drafts {
            assert!(
                answer.starts_with(draft.as_str()),
                "{draft:?} does not lead to {answer:?}"
            );
        }
        drafts.iter().filter(|d| !d.is_empty()).count()
    }

    #[test]
    fn drafts_stream_the_unit_in_progress_and_never_show_what_is_dropped() {
        let bullets = "Here are the key points:\n\n* **Energy** use fell by 30%.\n2. Costs fell.\n\
                       - Energy use fell by 30%.\n• Jobs were kept.\n";
        for format in [SummaryFormat::Markdown, SummaryFormat::PlainText] {
            for size in [1, 2, 5] {
                assert!(drafts_lead_to(Shape::Bullets(5), format, bullets, size) > 10);
            }
        }
        let prose = "Sure! Here's a summary: The wall is old. **TL;DR:** It is long.";
        assert!(drafts_lead_to(Shape::Sentences(3), SummaryFormat::Markdown, prose, 2) > 5);
        let headline = "Headline: \"City Opens New Rail Line\"\nMore text.";
        assert!(drafts_lead_to(Shape::Headline(12), SummaryFormat::PlainText, headline, 2) > 5);

        let mut shaper = Shaper::new(Shape::Bullets(3), SummaryFormat::Markdown);
        assert_eq!(shaper.push("Here are the key"), "");
        assert_eq!(shaper.draft(), "", "a lead-in in progress is not shown");
        assert_eq!(shaper.push(" points:\n- Costs fell by a th"), "");
        assert_eq!(shaper.draft(), "- Costs fell by a th");
        assert_eq!(shaper.push("ird.\n- Jobs"), "- Costs fell by a third.");
        assert_eq!(shaper.draft(), "\n- Jobs");
        assert_eq!(
            shaper.push(" were kept.\n- Costs fell"),
            "\n- Jobs were kept."
        );
        assert_eq!(shaper.draft(), "", "a repeat in progress is not shown");
        assert_eq!(
            shaper.push(" by a third.\n- Third point.\n"),
            "\n- Third point."
        );
        assert!(shaper.is_full());
        assert_eq!(shaper.draft(), "");
    }

    #[test]
    fn budgets_grow_with_the_length() {
        use SummaryLength::*;
        for summary_type in [
            SummaryType::KeyPoints,
            SummaryType::Tldr,
            SummaryType::Teaser,
            SummaryType::Headline,
        ] {
            let budget = |length| Shape::of(summary_type, length).token_budget();
            assert!(budget(Short) < budget(Medium) && budget(Medium) < budget(Long));
        }
        assert_eq!(Shape::of(SummaryType::KeyPoints, Long), Shape::Bullets(7));
        assert_eq!(Shape::of(SummaryType::Headline, Short), Shape::Headline(12));
        assert_eq!(Shape::of(SummaryType::Teaser, Medium), Shape::Sentences(3));
    }
}
