//! What stands between the model's text and the user: the summary's shape
//! and the checks that stop a run-away generation, each stop with a reason
//! the panel can name.

use serde_json::{Value, json};

use super::repetition::{DEFAULT_LIMIT, RepetitionGuard};
use super::shape::{Shape, Shaper};
use crate::lid::{LanguageDetector, LanguageDrift};
use crate::protocol::SummaryFormat;

/// Why an answer ended before the model ended it, or that it was cut.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputStop {
    /// The summary's shape is full (its last bullet, sentence or headline).
    Complete,
    /// The token budget ran out: the answer ends at its last complete
    /// sentence or bullet.
    Shortened,
    /// The model was repeating itself.
    Repetition,
    /// The translation went on in another language than the target.
    WrongLanguage { found: String },
    /// The translation grew past twice the source's tokens.
    TooLong,
}

impl OutputStop {
    /// The code the panel maps to its message.
    pub fn code(&self) -> &'static str {
        match self {
            OutputStop::Complete => "complete",
            OutputStop::Shortened => "shortened",
            OutputStop::Repetition => "repetition",
            OutputStop::WrongLanguage { .. } => "wrongLanguage",
            OutputStop::TooLong => "tooLong",
        }
    }

    /// Whether the user should be told (a full shape is the normal end).
    pub fn is_notable(&self) -> bool {
        !matches!(self, OutputStop::Complete)
    }

    /// The `done` event's fields for this stop.
    pub fn fields(&self) -> Value {
        match self {
            OutputStop::WrongLanguage { found } => {
                json!({ "stopReason": self.code(), "foundLanguage": found })
            }
            _ => json!({ "stopReason": self.code() }),
        }
    }
}

/// What the caller does with one piece of the model's text.
#[derive(Debug, Default, PartialEq)]
pub struct Step {
    /// Text to show now.
    pub show: String,
    /// A summary's unit in progress, shown provisionally after all the text
    /// shown so far until a later step commits it (`Shaper::draft`); `None`
    /// where output is shown as written.
    pub draft: Option<String>,
    /// Stop generating.
    pub stop: bool,
}

/// The checks on one generation's output.
pub struct OutputChecks<'a> {
    shaper: Option<Shaper>,
    repetition: RepetitionGuard,
    language: Option<LanguageDrift<'a>>,
    /// A spent budget means the output grew too long (a translation).
    budget_is_length_limit: bool,
    stop: Option<OutputStop>,
}

impl<'a> OutputChecks<'a> {
    /// A summary: shaped, and stopped if it loops.
    pub fn summary(shape: Shape, format: SummaryFormat, repeat_limit: Option<usize>) -> Self {
        OutputChecks {
            shaper: Some(Shaper::new(shape, format)),
            ..OutputChecks::plain(repeat_limit)
        }
    }

    /// Notes or any text shown as written: stopped only if it loops.
    pub fn plain(repeat_limit: Option<usize>) -> Self {
        OutputChecks {
            shaper: None,
            repetition: RepetitionGuard::new(repeat_limit.unwrap_or(DEFAULT_LIMIT)),
            language: None,
            budget_is_length_limit: false,
            stop: None,
        }
    }

    /// A translation into `target`: stopped if it loops, drifts out of the
    /// target language (when a detector is loaded) or spends its budget,
    /// which is sized from the source ([`translation_budget`]).
    pub fn translation(
        detector: Option<&'a LanguageDetector>,
        target: &str,
        repeat_limit: Option<usize>,
    ) -> Self {
        OutputChecks {
            language: detector.map(|d| LanguageDrift::new(d, target)),
            budget_is_length_limit: true,
            ..OutputChecks::plain(repeat_limit)
        }
    }

    /// Takes the next piece of the model's text.
    pub fn push(&mut self, piece: &str) -> Step {
        if self.stop.is_some() {
            return Step {
                show: String::new(),
                draft: self.shaper.as_ref().map(|_| String::new()),
                stop: true,
            };
        }
        if self.repetition.push(piece) {
            self.stop = Some(OutputStop::Repetition);
        } else if let Some(drift) = self.language.as_mut()
            && drift.push(piece)
        {
            let found = drift.found().unwrap_or_default().to_string();
            self.stop = Some(OutputStop::WrongLanguage { found });
        }
        let (show, draft) = match self.shaper.as_mut() {
            Some(shaper) => {
                let show = shaper.push(piece);
                if shaper.is_full() && self.stop.is_none() {
                    self.stop = Some(OutputStop::Complete);
                }
                let draft = if self.stop.is_some() {
                    String::new()
                } else {
                    shaper.draft()
                };
                (show, Some(draft))
            }
            None => (piece.to_string(), None),
        };
        Step {
            show,
            draft,
            stop: self.stop.is_some(),
        }
    }

    /// The rest to show once generation ended; `budget_spent` when it ended
    /// because its token budget (or the context) ran out.
    pub fn finish(&mut self, budget_spent: bool) -> String {
        let ended_by_check = self.stop.is_some();
        let cut = budget_spent || ended_by_check;
        let rest = match self.shaper.as_mut() {
            Some(shaper) if !shaper.is_full() => shaper.finish(cut),
            _ => String::new(),
        };
        if self.stop.is_none() && budget_spent && self.budget_is_length_limit {
            self.stop = Some(OutputStop::TooLong);
        }
        if self.shaper.as_ref().is_some_and(Shaper::shortened)
            && matches!(self.stop, None | Some(OutputStop::Complete))
        {
            self.stop = Some(OutputStop::Shortened);
        }
        rest
    }

    /// Why the output ended, if a check (or the budget) ended it.
    pub fn stop(&self) -> Option<&OutputStop> {
        self.stop.as_ref()
    }
}

/// Tokens a translation of `source_tokens` may take: twice the source's,
/// and a little room for a very short one.
pub fn translation_budget(source_tokens: usize) -> usize {
    (2 * source_tokens).max(source_tokens + 16)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(checks: &mut OutputChecks, pieces: &[&str], budget_spent: bool) -> String {
        let mut shown = String::new();
        for piece in pieces {
            let step = checks.push(piece);
            shown.push_str(&step.show);
            if step.stop {
                break;
            }
        }
        shown + &checks.finish(budget_spent)
    }

    #[test]
    fn a_full_summary_stops_as_complete() {
        let mut checks = OutputChecks::summary(Shape::Bullets(2), SummaryFormat::Markdown, None);
        let shown = run(&mut checks, &["- A. ", "\n- B.\n", "- C.\n"], false);
        assert_eq!(shown, "- A.\n- B.");
        assert_eq!(checks.stop(), Some(&OutputStop::Complete));
    }

    #[test]
    fn a_spent_budget_shortens_a_summary_and_stops_a_translation_as_too_long() {
        let mut checks = OutputChecks::summary(Shape::Bullets(5), SummaryFormat::Markdown, None);
        let shown = run(&mut checks, &["- A is done.\n- B is n"], true);
        assert_eq!(shown, "- A is done.");
        assert_eq!(checks.stop(), Some(&OutputStop::Shortened));
        let mut checks = OutputChecks::translation(None, "de", None);
        let shown = run(&mut checks, &["Guten ", "Morgen"], true);
        assert_eq!(shown, "Guten Morgen");
        assert_eq!(checks.stop().map(OutputStop::code), Some("tooLong"));
        let mut checks = OutputChecks::translation(None, "de", None);
        run(&mut checks, &["Guten Morgen."], false);
        assert_eq!(checks.stop(), None);
    }

    #[test]
    fn a_loop_stops_with_its_reason_before_the_shape_is_full() {
        let line = "- The text is presented in a bulleted list format.\n";
        let pieces = vec![line; 20];
        let mut checks = OutputChecks::summary(Shape::Bullets(7), SummaryFormat::Markdown, None);
        let shown = run(&mut checks, &pieces, false);
        assert_eq!(shown, "- The text is presented in a bulleted list format.");
        assert_eq!(checks.stop(), Some(&OutputStop::Repetition));
        assert_eq!(checks.stop().unwrap().fields()["stopReason"], "repetition");
    }

    #[test]
    fn translation_budget_is_twice_the_source() {
        assert_eq!(translation_budget(100), 200);
        assert_eq!(translation_budget(4), 20);
    }
}
