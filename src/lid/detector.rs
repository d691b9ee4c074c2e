//! A language detector shaped like Chrome's `LanguageDetector`: ranked
//! `{detectedLanguage, confidence}` ending with `und` for the rest.
//!
//! fastText is over-confident on very short text (`ja` → Finnish 0.93,
//! `COVID-19` → German 0.69) and, given no letters at all, answers with its
//! prior (English 0.125). So, on top of the model:
//!
//! * No letters (digits, punctuation, emoji, empty) → `und` 1.0; the model
//!   is not asked.
//! * Evidence is counted in letters, a Han, kana or Hangul character
//!   counting [`SYLLABLE_WEIGHT`] (one such character carries about what a
//!   short Latin word does). Under [`MIN_EVIDENCE`] → `und` 1.0.
//! * Below [`FULL_EVIDENCE`] the model's probabilities are scaled by
//!   `evidence / FULL_EVIDENCE` and the rest goes to `und`: one word can be
//!   a sensible answer (`Bonjour` → fr 0.32), never a confident one.
//!
//! Thresholds were set on fastText's answers to single words, digits and
//! mixed scripts (scripts/make_lid_fixture.py's corpus).

use serde::Serialize;

use super::normalize::normalize;
use super::{FastText, LidError};

/// The code for "could not tell".
pub const UNDETERMINED: &str = "und";
/// Text is cut to this many characters (after normalisation): plenty for
/// the model, and a bound on the work for a whole page.
pub const MAX_CHARS: usize = 4096;
pub const MIN_EVIDENCE: usize = 3;
pub const FULL_EVIDENCE: usize = 20;
pub const SYLLABLE_WEIGHT: usize = 3;
/// Languages below this confidence are folded into `und`.
pub const MIN_REPORTED: f32 = 0.05;
/// Languages asked of the model before folding.
const CANDIDATES: usize = 3;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Detection {
    /// BCP 47 language code (ISO 639-1 where one exists), or `und`.
    #[serde(rename = "detectedLanguage")]
    pub language: String,
    pub confidence: f32,
}

pub struct LanguageDetector {
    model: FastText,
}

impl LanguageDetector {
    pub fn new(model: FastText) -> Self {
        Self { model }
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, LidError> {
        FastText::from_bytes(bytes).map(Self::new)
    }

    pub fn model(&self) -> &FastText {
        &self.model
    }

    /// Ranked languages of `text`, the last entry always `und` with the
    /// confidence left over (which may be more than a listed language's).
    pub fn detect(&self, text: &str) -> Vec<Detection> {
        let text = normalize(text);
        let text = match text.char_indices().nth(MAX_CHARS) {
            Some((cut, _)) => &text[..cut],
            None => &text[..],
        };
        let evidence = evidence(text);
        let mut ranked = Vec::new();
        if evidence >= MIN_EVIDENCE {
            let scale = (evidence as f32 / FULL_EVIDENCE as f32).min(1.0);
            ranked.extend(
                self.model
                    .predict(text, CANDIDATES, 0.0)
                    .into_iter()
                    .map(|p| Detection {
                        language: language_code(p.label).to_owned(),
                        confidence: p.probability.min(1.0) * scale,
                    })
                    .filter(|d| d.confidence >= MIN_REPORTED),
            );
        }
        let listed: f32 = ranked.iter().map(|d| d.confidence).sum();
        ranked.push(Detection {
            language: UNDETERMINED.to_owned(),
            confidence: (1.0 - listed).clamp(0.0, 1.0),
        });
        ranked
    }
}

/// Letters, with Han, kana and Hangul characters weighted as syllables.
fn evidence(text: &str) -> usize {
    text.chars()
        .filter(|c| c.is_alphabetic())
        .map(|c| match u32::from(c) {
            0x3040..=0x30FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF => {
                SYLLABLE_WEIGHT
            }
            0xAC00..=0xD7AF | 0x20000..=0x3FFFF => SYLLABLE_WEIGHT,
            _ => 1,
        })
        .sum()
}

/// lid.176's labels are ISO 639-1 where one exists and ISO 639-3 (or
/// Wikipedia codes) otherwise. One Wikipedia code means another language
/// in BCP 47: `als` (Wikipedia's Alemannic) is Tosk Albanian there, so
/// Alemannic is reported as `gsw`.
pub fn language_code(label: &str) -> &str {
    match label {
        "als" => "gsw",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evidence_weights_syllabic_scripts() {
        assert_eq!(evidence("123 !!! 😀"), 0);
        assert_eq!(evidence("ja"), 2);
        assert_eq!(evidence("日本"), 2 * SYLLABLE_WEIGHT);
        assert_eq!(evidence("안녕"), 2 * SYLLABLE_WEIGHT);
        assert_eq!(evidence("Привет, мир"), 9);
    }

    #[test]
    fn codes() {
        assert_eq!(language_code("en"), "en");
        assert_eq!(language_code("als"), "gsw");
        assert_eq!(language_code("yue"), "yue");
    }
}
