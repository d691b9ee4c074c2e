//! Bytes → the fastText reader (`LanguageDetector::from_bytes`); a model it
//! accepts must then detect languages on short texts without panicking.
//! (A file may hold NaN weights, so confidences are not checked here.)

#![no_main]

use libfuzzer_sys::fuzz_target;
use locus::lid::LanguageDetector;

const TEXTS: [&str; 3] = [
    "Guten Morgen, wie geht es dir?",
    "こんにちは",
    "hello world",
];

fuzz_target!(|data: &[u8]| {
    let Ok(detector) = LanguageDetector::from_bytes(data) else {
        return;
    };
    for text in TEXTS {
        let ranked = detector.detect(text);
        assert_eq!(ranked.last().map(|d| d.language.as_str()), Some("und"));
    }
});
