//! Keeping an answer from reciting a text at length: the guard says, token
//! by token, whether the text would then hold a longer run of a source's
//! words than that source allows, so the decode loop can take the model's
//! next choice instead (`engine::TextGuard`). Summaries use it against
//! their instructions, which a base model recites ("You are a summariser.
//! Use Markdown…"); see `runtime::generation::echo_guard` for why the
//! summarised text itself is not guarded.
//!
//! Words are as the quality harness counts them (`tests/eval.rs`, which
//! checks copies with its own code): runs between spaces, trimmed of
//! punctuation, compared without case. Scripts written without spaces
//! (Chinese, Japanese) make long "words" that a copy rarely repeats
//! whole, so the guard seldom acts on them.

use std::collections::HashMap;

use crate::engine::TextGuard;

/// Words of the instructions an answer may repeat in a row: more is the
/// model reciting its prompt ("You are a summariser. Use Markdown…").
pub const MAX_ECHOED_WORDS: usize = 6;

/// The texts an answer may not copy at length, each with its limit.
#[derive(Debug, Default)]
pub struct CopyGuard {
    sources: Vec<Source>,
}

#[derive(Debug)]
struct Source {
    words: Vec<String>,
    /// Where each word occurs in `words`.
    at: HashMap<String, Vec<usize>>,
    /// Longest run of its words allowed.
    limit: usize,
}

impl CopyGuard {
    pub fn new() -> CopyGuard {
        CopyGuard::default()
    }

    /// Adds `text`, of which at most `limit` words in a row may be copied.
    pub fn source(mut self, text: &str, limit: usize) -> CopyGuard {
        let words: Vec<String> = words(text).collect();
        let mut at: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, word) in words.iter().enumerate() {
            at.entry(word.clone()).or_default().push(i);
        }
        self.sources.push(Source {
            words,
            at,
            limit: limit.max(1),
        });
        self
    }
}

impl TextGuard for CopyGuard {
    /// Whether `piece` may follow `text`: not when a word it completes or
    /// begins ends a copied run longer than a source allows. A last word
    /// with no space after it yet counts as copied when it begins the
    /// source's next word, so the copy is refused at its first token.
    fn allows(&self, text: &str, piece: &str) -> bool {
        let Some(longest) = self.sources.iter().map(|s| s.limit).max() else {
            return true;
        };
        // The end of `text` holds every word a run could need (chunks of
        // punctuation alone, like a bullet's "-", hold none: keep spare).
        let chunks: Vec<&str> = text
            .split_whitespace()
            .rev()
            .take(2 * longest + 4)
            .collect();
        let mut tail = String::new();
        for chunk in chunks.iter().rev() {
            tail.push_str(chunk);
            tail.push(' ');
        }
        if text.ends_with(|c: char| !c.is_whitespace()) {
            tail.pop();
        }
        let before = words(&tail).count();
        tail.push_str(piece);
        let after: Vec<String> = words(&tail).collect();
        let open = tail.ends_with(|c: char| !c.is_whitespace());
        // The last word before `piece` may be the one it completes.
        (before.saturating_sub(1)..after.len()).all(|end| {
            let last_open = open && end + 1 == after.len();
            self.sources
                .iter()
                .all(|source| !source.is_copied(&after[..=end], last_open))
        })
    }
}

impl Source {
    /// Whether `words` ends with more than `limit` words of this source in
    /// a row; the last one only has to begin the source's word when `open`.
    fn is_copied(&self, words: &[String], open: bool) -> bool {
        let run = self.limit + 1;
        let Some((last, before)) = words.split_last() else {
            return false;
        };
        if words.len() < run {
            return false;
        }
        let before = &before[before.len() + 1 - run..];
        let follows =
            |end: usize| end + 1 >= run && before.iter().eq(&self.words[end + 1 - run..end]);
        if open {
            self.at
                .iter()
                .filter(|(word, _)| word.starts_with(last.as_str()))
                .any(|(_, ends)| ends.iter().any(|&end| follows(end)))
        } else {
            self.at
                .get(last)
                .is_some_and(|ends| ends.iter().any(|&end| follows(end)))
        }
    }
}

/// The words of `text`: runs between spaces, trimmed of punctuation,
/// lower-cased; runs of punctuation alone are none.
fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split_whitespace()
        .map(|chunk| {
            chunk
                .trim_matches(|c: char| !c.is_alphanumeric())
                .to_lowercase()
        })
        .filter(|word| !word.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARTICLE: &str = "Night trains are back in Europe. Operators have ordered new \
        sleeper cars, and governments in Austria, France and Sweden now pay for routes \
        that were cut a decade ago because they could not compete with cheap flights.";

    /// Streams `pieces` through the guard as the decode loop does: a
    /// refused piece is left out (the loop would take another token).
    fn stream(guard: &CopyGuard, pieces: &[&str]) -> (String, Vec<usize>) {
        let (mut text, mut refused) = (String::new(), Vec::new());
        for (i, piece) in pieces.iter().enumerate() {
            if guard.allows(&text, piece) {
                text.push_str(piece);
            } else {
                refused.push(i);
            }
        }
        (text, refused)
    }

    fn pieces_of(text: &str) -> Vec<String> {
        // Word-sized pieces with their leading space, as BPE splits them,
        // and one word split in two to test an open word.
        let mut out = Vec::new();
        for (i, word) in text.split(' ').enumerate() {
            let word = if i == 0 {
                word.to_string()
            } else {
                format!(" {word}")
            };
            match word.len() > 8 {
                true => {
                    let (a, b) = word.split_at(5);
                    out.extend([a.to_string(), b.to_string()]);
                }
                false => out.push(word),
            }
        }
        out
    }

    #[test]
    fn a_long_copy_is_refused_at_the_first_token_of_its_word_past_the_limit() {
        let guard = CopyGuard::new().source(ARTICLE, 20);
        let copy = "- Operators have ordered new sleeper cars, and governments in Austria, \
                    France and Sweden now pay for routes that were cut a decade ago.";
        let pieces = pieces_of(copy);
        let pieces: Vec<&str> = pieces.iter().map(String::as_str).collect();
        let (text, refused) = stream(&guard, &pieces);
        // 20 words pass ("operators" … "cut"), the 21st ("a") does not;
        // "decade" no longer continues a copied run.
        assert!(text.starts_with("- Operators have ordered"), "{text}");
        assert!(text.contains(" were cut decade ago."), "{text}");
        assert_eq!(refused.len(), 1, "{refused:?}");
        assert_eq!(pieces[refused[0]], " a");
        // Words the source does not continue with are free again.
        assert!(guard.allows(&text, " last"));
        assert!(guard.allows(&text, " cutting"));
    }

    #[test]
    fn a_split_word_is_refused_when_it_begins_the_copied_word() {
        let guard = CopyGuard::new().source(ARTICLE, 3);
        let text = "Operators have ordered";
        assert!(!guard.allows(text, " ne"), "prefix of the next word");
        assert!(!guard.allows(text, " NEW"), "case does not matter");
        assert!(!guard.allows(text, " new,"), "punctuation does not matter");
        assert!(guard.allows(text, " news"), "another word");
        assert!(guard.allows(text, " a"), "not a prefix of 'new'");
        // Completing an open word with a space is checked too.
        assert!(!guard.allows("Operators have ordered ne", "w "));
        assert!(guard.allows("Operators have ordered ne", "ws "));
        // Several words in one piece.
        assert!(!guard.allows("Operators have", " ordered new sleeper"));
    }

    #[test]
    fn short_phrases_bullets_and_other_sources_pass() {
        let guard = CopyGuard::new()
            .source(ARTICLE, 20)
            .source("You are a summariser. Use Markdown.", MAX_ECHOED_WORDS);
        let summary = "- Night trains are back in Europe.\n- Austria, France and Sweden \
                       pay for routes cut a decade ago.\n- Cheap flights had won.";
        let pieces = pieces_of(summary);
        let pieces: Vec<&str> = pieces.iter().map(String::as_str).collect();
        let (text, refused) = stream(&guard, &pieces);
        assert!(refused.is_empty(), "{refused:?}");
        assert_eq!(text, summary);
        // Reciting the instructions is refused at their seventh word.
        let echo = pieces_of("You are a summariser. Use Markdown. Reply");
        let echo: Vec<&str> = echo.iter().map(String::as_str).collect();
        let (text, refused) = stream(&guard, &echo);
        assert_eq!(text, "You are a summariser. Use Markdown. Reply");
        assert!(refused.is_empty(), "six words are allowed: {refused:?}");
        let guard = CopyGuard::new().source("You are a summariser. Use Markdown now.", 6);
        assert!(!guard.allows("You are a summariser. Use Markdown", " now."));
        assert!(CopyGuard::new().allows("anything", " at all"));
    }
}
