//! Watching a translation as it streams for text that is no longer in the
//! target language: a small model that cannot write the language drifts
//! into another (often the source, or English), and would go on for its
//! whole token budget.
//!
//! The last `WINDOW` characters are identified every `STEP` characters; two
//! windows in a row confidently in one other language are a drift (one can
//! be a quoted name or title). Close languages that lid.176 confuses with
//! each other are not told apart.

use super::{LanguageDetector, UNDETERMINED};

/// Characters identified at each check.
const WINDOW: usize = 200;
/// Characters between checks; the first check waits for this many too.
const STEP: usize = 60;
/// Confidence in another language from which a window counts as drifted.
const DRIFT_CONFIDENCE: f32 = 0.9;
/// Windows in a row that must drift.
const DRIFTED_WINDOWS: usize = 2;

/// Languages lid.176 mixes up: text in one is fine for a target of another.
const CLOSE: &[&[&str]] = &[
    &["sr", "hr", "bs", "sh"],
    &["id", "ms"],
    &["no", "nb", "nn", "da"],
    &["zh", "wuu", "yue"],
];

/// Streams a translation's text through the language detector.
pub struct LanguageDrift<'a> {
    detector: &'a LanguageDetector,
    target: String,
    text: Vec<char>,
    next_check: usize,
    drifted: usize,
    found: Option<String>,
}

impl<'a> LanguageDrift<'a> {
    /// Watches for text not in `target` (a BCP 47 code; its primary subtag
    /// is compared).
    pub fn new(detector: &'a LanguageDetector, target: &str) -> LanguageDrift<'a> {
        LanguageDrift {
            detector,
            target: primary(target),
            text: Vec::new(),
            next_check: STEP,
            drifted: 0,
            found: None,
        }
    }

    /// Takes the next piece of the translation; true once it has drifted.
    pub fn push(&mut self, piece: &str) -> bool {
        if self.found.is_some() {
            return true;
        }
        self.text.extend(piece.chars());
        if self.text.len() < self.next_check {
            return false;
        }
        self.next_check = self.text.len() + STEP;
        let start = self.text.len().saturating_sub(WINDOW);
        let window: String = self.text[start..].iter().collect();
        let best = self.detector.detect(&window).swap_remove(0);
        let other = best.language != UNDETERMINED
            && !same_language(&best.language, &self.target)
            && best.confidence >= DRIFT_CONFIDENCE;
        self.drifted = if other { self.drifted + 1 } else { 0 };
        if self.drifted >= DRIFTED_WINDOWS {
            self.found = Some(best.language);
        }
        self.found.is_some()
    }

    /// The language the text drifted into, once it has.
    pub fn found(&self) -> Option<&str> {
        self.found.as_deref()
    }
}

fn primary(code: &str) -> String {
    code.split(['-', '_'])
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase()
}

fn same_language(found: &str, target: &str) -> bool {
    let found = primary(found);
    found == target
        || CLOSE
            .iter()
            .any(|group| group.contains(&found.as_str()) && group.contains(&target))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detector() -> LanguageDetector {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/lid.176.ftz");
        let bytes = std::fs::read(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (run `cargo xtask models`)", path.display()));
        LanguageDetector::from_bytes(&bytes).unwrap()
    }

    /// Feeds `text` word by word; the characters read when it drifted.
    fn drift_at(detector: &LanguageDetector, target: &str, text: &str) -> Option<usize> {
        let mut drift = LanguageDrift::new(detector, target);
        let mut read = 0;
        for word in text.split_inclusive(' ') {
            read += word.chars().count();
            if drift.push(word) {
                return Some(read);
            }
        }
        None
    }

    const GERMAN: &str = "Der Stadtrat hat am Montag die neue Bahnlinie genehmigt. Die Strecke \
        verbindet den Flughafen mit der Innenstadt. Die Arbeiten beginnen im Frühjahr, und \
        der Rat erwartet die ersten Züge im Jahr 2028. Kritiker halten die Linie für zu teuer.";
    const ENGLISH: &str = "The council approved the new rail line on Monday. The line will link \
        the airport with the city centre. Work starts in spring, and the council expects the \
        first trains in 2028. Critics say the line is too expensive for the city.";

    #[test]
    fn text_in_the_target_language_never_drifts() {
        let detector = detector();
        assert_eq!(drift_at(&detector, "de", GERMAN), None);
        assert_eq!(drift_at(&detector, "en-GB", ENGLISH), None);
    }

    #[test]
    fn text_in_another_language_drifts_within_two_windows() {
        let detector = detector();
        let at = drift_at(&detector, "de", ENGLISH).expect("English is not German");
        assert!(at <= 2 * STEP + 20, "drift seen after {at} characters");
        let mut drift = LanguageDrift::new(&detector, "fr");
        for word in ENGLISH.split_inclusive(' ') {
            drift.push(word);
        }
        assert_eq!(drift.found(), Some("en"));
    }

    #[test]
    fn a_short_quote_in_another_language_is_not_a_drift() {
        let detector = detector();
        let (before, after) = GERMAN.split_at(GERMAN.find("Die Strecke").unwrap());
        let text = format!("{before}\"The Rail Line Is Open\" {after}");
        assert_eq!(drift_at(&detector, "de", &text), None);
    }
}
