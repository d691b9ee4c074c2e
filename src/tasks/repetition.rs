//! Telling that a model has fallen into a loop: the same run of words
//! coming back again and again ("The text is presented in a bulleted list
//! format…" ten times over), or the same few characters repeated with no
//! space between them ("!!!!!!!!…", "abcabcabc…").
//!
//! Words are runs between spaces; a run of Han, kana or Hangul characters,
//! which has no spaces, counts each two characters as a word.

use std::collections::HashMap;

/// Words in the phrase whose recurrence is a loop.
pub const PHRASE_WORDS: usize = 6;
/// Times one phrase may occur before it is a loop (a real text repeats a
/// six-word phrase twice at most, in practice).
pub const DEFAULT_LIMIT: usize = 3;
/// The longest character period looked for when there are no spaces.
const MAX_PERIOD: usize = 32;
/// Characters a period must cover to be a loop.
const MIN_SPAN: usize = 96;

/// Watches streamed text for a loop.
#[derive(Debug)]
pub struct RepetitionGuard {
    limit: usize,
    /// Words complete so far (a word is complete once a space follows it).
    words: Vec<String>,
    /// The word being written.
    partial: String,
    /// Occurrences of each phrase of `PHRASE_WORDS` words.
    phrases: HashMap<Vec<String>, usize>,
    /// The last characters, for loops without spaces.
    tail: Vec<char>,
}

impl RepetitionGuard {
    /// A guard that calls a loop when a phrase occurs `limit` times (at
    /// least 2).
    pub fn new(limit: usize) -> RepetitionGuard {
        RepetitionGuard {
            limit: limit.max(2),
            words: Vec::new(),
            partial: String::new(),
            phrases: HashMap::new(),
            tail: Vec::new(),
        }
    }

    /// Takes the next piece of text; true once it is looping.
    pub fn push(&mut self, piece: &str) -> bool {
        let mut looping = false;
        for c in piece.chars() {
            looping |= self.push_char(c);
        }
        looping
    }

    fn push_char(&mut self, c: char) -> bool {
        self.tail.push(c);
        if self.tail.len() > 2 * MIN_SPAN + MAX_PERIOD {
            self.tail.drain(..MIN_SPAN);
        }
        let mut looping = self.tail_loops();
        if c.is_whitespace() {
            looping |= self.end_word();
        } else if is_syllabic(c) {
            self.partial.push(c);
            if self.partial.chars().count() >= 2 {
                looping |= self.end_word();
            }
        } else {
            self.partial.push(c);
        }
        looping
    }

    fn end_word(&mut self) -> bool {
        if self.partial.is_empty() {
            return false;
        }
        let word: String = self
            .partial
            .chars()
            .filter(|c| c.is_alphanumeric())
            .flat_map(char::to_lowercase)
            .collect();
        self.partial.clear();
        if word.is_empty() {
            return false;
        }
        self.words.push(word);
        if self.words.len() < PHRASE_WORDS {
            return false;
        }
        let phrase = self.words[self.words.len() - PHRASE_WORDS..].to_vec();
        let seen = self.phrases.entry(phrase).or_insert(0);
        *seen += 1;
        *seen >= self.limit
    }

    /// Whether the last `MIN_SPAN` characters or more are one short period
    /// repeated (a loop a tokenizer may write without any space).
    fn tail_loops(&self) -> bool {
        let tail = &self.tail;
        if tail.len() < MIN_SPAN {
            return false;
        }
        let span = &tail[tail.len() - MIN_SPAN..];
        span.iter().any(|c| !c.is_whitespace())
            && (1..=MAX_PERIOD).any(|period| span[period..].iter().zip(span).all(|(a, b)| a == b))
    }
}

/// Han, kana and Hangul: scripts written without spaces between words.
fn is_syllabic(c: char) -> bool {
    matches!(u32::from(c),
        0x3040..=0x30FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0xAC00..=0xD7AF)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loops(text: &str, limit: usize) -> Option<usize> {
        let mut guard = RepetitionGuard::new(limit);
        // In pieces of a few characters, as tokens come.
        let chars: Vec<char> = text.chars().collect();
        let mut shown = 0;
        for piece in chars.chunks(3) {
            let piece: String = piece.iter().collect();
            shown += piece.chars().count();
            if guard.push(&piece) {
                return Some(shown);
            }
        }
        None
    }

    #[test]
    fn a_repeated_sentence_is_a_loop_on_its_third_time() {
        let sentence = "The text is presented in a bulleted list format with bullet points. ";
        let at = loops(&sentence.repeat(10), DEFAULT_LIMIT).expect("a loop");
        let len = sentence.chars().count();
        assert!(at > 2 * len && at <= 3 * len, "stopped at {at} of {len}");
    }

    #[test]
    fn ordinary_text_is_not_a_loop() {
        let text = "The council approved the new rail line on Monday. The line will link the \
                    airport with the city centre. Work on the line starts in spring, and the \
                    council expects the first trains in 2028. The rail line costs 2.1 billion \
                    euros, of which the state pays half. Critics say the line is too expensive. \
                    Supporters say it cuts car traffic and noise in the city centre.";
        assert_eq!(loops(text, DEFAULT_LIMIT), None);
        let chinese = "市议会周一批准了新的铁路线。该线路将连接机场和市中心。\
                       工程将于春季开始，议会预计首批列车将于二〇二八年运行。";
        assert_eq!(loops(chinese, DEFAULT_LIMIT), None);
    }

    #[test]
    fn a_lower_limit_stops_sooner() {
        let text = "one two three four five six. ".repeat(3);
        assert!(loops(&text, 2).is_some());
        assert_eq!(loops(&"one two three four five six. ".repeat(2), 3), None);
    }

    #[test]
    fn loops_without_spaces_are_caught() {
        assert!(loops(&"!".repeat(200), DEFAULT_LIMIT).is_some());
        assert!(loops(&"abc".repeat(60), DEFAULT_LIMIT).is_some());
        assert!(loops(&"你好世界".repeat(40), DEFAULT_LIMIT).is_some());
        // A long number or a rule line of dashes is short of the span.
        assert_eq!(loops(&"-".repeat(60), DEFAULT_LIMIT), None);
    }
}
