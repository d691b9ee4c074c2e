//! Reasoning models (Qwen3) may open their answer with a thought,
//! `<think>…</think>`, even when the prompt turned thinking off. A page tool
//! or a chat reply shows only the answer: [`ThinkFilter`] drops a thought at
//! the start of the output, as the text streams, and the blank lines after
//! it. Text that merely mentions `<think>` later on is left alone.

const OPEN: &str = "<think>";
const CLOSE: &str = "</think>";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Nothing but whitespace seen yet: a thought may still open.
    Start,
    /// Inside a thought: everything is dropped until it closes.
    Thinking,
    /// Just after a thought: leading whitespace of the answer is dropped.
    AfterThought,
    /// The answer: passed through unchanged.
    Answer,
}

#[derive(Debug)]
pub struct ThinkFilter {
    state: State,
    /// Text held back while it could still be (part of) a tag.
    pending: String,
}

impl ThinkFilter {
    /// A filter for a model whose vocabulary has `<think>` and `</think>`;
    /// `None` for every other model, whose output is never touched.
    pub fn for_vocabulary(has_token: impl Fn(&str) -> bool) -> Option<ThinkFilter> {
        (has_token(OPEN) && has_token(CLOSE)).then(ThinkFilter::new)
    }

    pub fn new() -> ThinkFilter {
        ThinkFilter {
            state: State::Start,
            pending: String::new(),
        }
    }

    /// The part of `text` (appended to what came before) that is answer and
    /// safe to show now.
    pub fn push(&mut self, text: &str) -> String {
        if self.state == State::Answer {
            return text.to_string();
        }
        self.pending.push_str(text);
        let mut out = String::new();
        loop {
            match self.state {
                State::Start => {
                    let body = self.pending.trim_start();
                    if let Some(rest) = body.strip_prefix(OPEN) {
                        self.pending = rest.to_string();
                        self.state = State::Thinking;
                    } else if OPEN.starts_with(body) {
                        // Whitespace, or a tag not complete yet: wait.
                        return out;
                    } else {
                        self.state = State::Answer;
                        out.push_str(&std::mem::take(&mut self.pending));
                        return out;
                    }
                }
                State::Thinking => match self.pending.find(CLOSE) {
                    Some(at) => {
                        self.pending.drain(..at + CLOSE.len());
                        self.state = State::AfterThought;
                    }
                    None => {
                        // Keep only a tail that could begin `</think>`.
                        let keep = partial_suffix(&self.pending, CLOSE);
                        self.pending.drain(..self.pending.len() - keep);
                        return out;
                    }
                },
                State::AfterThought => {
                    let body = self.pending.trim_start();
                    if body.is_empty() {
                        self.pending.clear();
                        return out;
                    }
                    out.push_str(body);
                    self.pending.clear();
                    self.state = State::Answer;
                    return out;
                }
                State::Answer => {
                    out.push_str(&std::mem::take(&mut self.pending));
                    return out;
                }
            }
        }
    }

    /// What is left at the end of the output: held-back answer text (an
    /// unfinished thought is dropped).
    pub fn finish(&mut self) -> String {
        let rest = std::mem::take(&mut self.pending);
        match self.state {
            State::Start | State::Answer => rest,
            State::Thinking | State::AfterThought => String::new(),
        }
    }
}

impl Default for ThinkFilter {
    fn default() -> Self {
        ThinkFilter::new()
    }
}

/// Length of the longest tail of `text` that is a proper prefix of `tag`.
fn partial_suffix(text: &str, tag: &str) -> usize {
    (1..tag.len())
        .rev()
        .find(|&n| text.ends_with(&tag[..n]))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Streams `pieces` through a filter; the text shown.
    fn shown(pieces: &[&str]) -> String {
        let mut filter = ThinkFilter::new();
        let mut out: String = pieces.iter().map(|p| filter.push(p)).collect();
        out += &filter.finish();
        out
    }

    #[test]
    fn a_leading_thought_is_dropped_with_the_blank_lines_after_it() {
        assert_eq!(
            shown(&["<think>\nLet me see.\n</think>\n\nParis."]),
            "Paris."
        );
        assert_eq!(shown(&["<think>\n\n</think>\n\n", "Paris."]), "Paris.");
    }

    #[test]
    fn tags_split_over_tokens_are_still_found() {
        let pieces = [
            "\n<", "thi", "nk>", "reason", "ing</", "think", ">", "\n", "\n", "An", "swer",
        ];
        assert_eq!(shown(&pieces), "Answer");
    }

    #[test]
    fn output_without_a_thought_is_unchanged() {
        assert_eq!(shown(&["Hello", " world"]), "Hello world");
        assert_eq!(shown(&["  indented"]), "  indented");
        assert_eq!(shown(&["<", "b>bold"]), "<b>bold");
        assert_eq!(
            shown(&["Use <think> tags", " like <think>this</think>."]),
            "Use <think> tags like <think>this</think>."
        );
    }

    #[test]
    fn an_unfinished_thought_shows_nothing() {
        assert_eq!(shown(&["<think>I am still thinking about"]), "");
    }

    #[test]
    fn only_models_with_think_tokens_get_a_filter() {
        let qwen3 = ["<think>", "</think>"];
        assert!(ThinkFilter::for_vocabulary(|t| qwen3.contains(&t)).is_some());
        assert!(ThinkFilter::for_vocabulary(|t| t == "<|im_start|>").is_none());
    }
}
