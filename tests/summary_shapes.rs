//! Summaries keep their shape with the real test models on the CPU engine,
//! through the runtime as the extension asks for them: key points are at
//! most 3 / 5 / 7 bullets, a TL;DR or teaser one paragraph of at most
//! 1 / 3 / 5 sentences, a headline one line of at most 12 / 17 / 22 words,
//! and no answer ends mid-sentence (unless the model itself ended there).

mod common;

use std::fs::File;

use std::ops::ControlFlow;

use locus::engine::{CpuSession, GenerateOptions, LoadedModel, TextGuard, generate_observed};
use locus::protocol::{ChatMessage, Role};
use locus::runtime::Runtime;
use locus::tasks::{self, CopyGuard};
use serde_json::{Value, json};

/// A fixture article (Wikipedia, CC BY-SA; see the fixture's comment).
fn article(id: &str) -> String {
    let path = common::repo_root().join("tests/fixtures/eval/articles.json");
    let fixture: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let articles = fixture["articles"].as_array().unwrap();
    let article = articles.iter().find(|a| a["id"] == id).unwrap();
    article["text"].as_str().unwrap().to_string()
}

fn runtime(model: &str) -> Runtime {
    let runtime = Runtime::on_cpu("native test");
    let mut file = File::open(common::model_path(model)).unwrap();
    runtime.load_model(model, &mut file).unwrap();
    runtime
}

/// The `done` result of one summary.
fn summarize(runtime: &Runtime, text: &str, kind: &str, length: &str, format: &str) -> Value {
    let mut events = Vec::new();
    let payload = json!({"text": text, "type": kind, "length": length, "format": format});
    let message = json!({"type": "request", "id": "s", "kind": "summarize", "payload": payload});
    pollster::block_on(runtime.handle(message, &mut |event| {
        events.push(serde_json::to_value(&event).unwrap());
    }));
    let last = events.pop().unwrap();
    assert_eq!(last["event"], "done", "{last}");
    let streamed: String = events
        .iter()
        .filter(|e| e["event"] == "token")
        .map(|e| e["text"].as_str().unwrap())
        .collect();
    assert_eq!(streamed, last["result"]["text"], "the stream is the answer");
    last["result"].clone()
}

fn ends_sentence(text: &str) -> bool {
    text.trim_end_matches(['"', '\'', '”', '’', ')', '*'])
        .ends_with(['.', '!', '?', '…', '。'])
}

/// Checks one answer against its type and length.
fn check(result: &Value, kind: &str, length: &str, markdown: bool) {
    let text = result["text"].as_str().unwrap();
    let context = format!("{kind} {length}: {result}");
    assert!(!text.trim().is_empty(), "{context}");
    let index = ["short", "medium", "long"]
        .iter()
        .position(|l| *l == length)
        .unwrap();
    // The model may end a last unit without a full stop itself; a cut by
    // the budget or a check never leaves one.
    let model_ended = result["stop"] == "EndOfGeneration";
    match kind {
        "key-points" => {
            let bullets: Vec<&str> = text.lines().collect();
            assert!(bullets.len() <= [3, 5, 7][index], "{context}");
            let marker = if markdown { "- " } else { "• " };
            for (at, bullet) in bullets.iter().enumerate() {
                assert!(bullet.starts_with(marker), "{context}");
                let last = at + 1 == bullets.len();
                assert!(ends_sentence(bullet) || (last && model_ended), "{context}");
            }
        }
        "tldr" | "teaser" => {
            assert!(!text.contains('\n'), "one paragraph: {context}");
            let chars: Vec<char> = text.chars().collect();
            let sentences = (0..chars.len())
                .filter(|&at| {
                    matches!(chars[at], '.' | '!' | '?')
                        && chars.get(at + 1).is_none_or(|c| c.is_whitespace())
                })
                .count();
            // Decimals and abbreviations can only over-count.
            assert!(
                sentences <= [1, 3, 5][index] + 1,
                "{sentences} sentences: {context}"
            );
            assert!(ends_sentence(text), "{context}");
        }
        "headline" => {
            assert!(!text.contains('\n'), "one line: {context}");
            let words = text.split_whitespace().count();
            assert!(words <= [12, 17, 22][index], "{words} words: {context}");
        }
        other => panic!("no check for {other}"),
    }
}

#[test]
fn smollm2_summaries_keep_every_type_and_length_in_shape() {
    let runtime = runtime("SmolLM2-135M-Instruct.Q4_1.gguf");
    let text = article("new-zealand-europeans");
    for kind in ["key-points", "tldr", "teaser", "headline"] {
        for length in ["short", "medium", "long"] {
            let result = summarize(&runtime, &text, kind, length, "markdown");
            eprintln!("{kind} {length}: {}", result["text"]);
            check(&result, kind, length, true);
        }
    }
    let plain = summarize(&runtime, &text, "key-points", "short", "plain-text");
    check(&plain, "key-points", "short", false);
}

#[test]
fn qwen2_and_gemma3_summaries_keep_their_shape() {
    for model in [
        "Qwen2.5-Coder-0.5B-Instruct.Q4_K_M.gguf",
        "gemma-3-270m.Q4_K_M.gguf",
    ] {
        let runtime = runtime(model);
        let text = article("mozilla");
        for (kind, length) in [
            ("key-points", "short"),
            ("tldr", "medium"),
            ("headline", "long"),
        ] {
            let result = summarize(&runtime, &text, kind, length, "markdown");
            eprintln!("{model} {kind} {length}: {}", result["text"]);
            check(&result, kind, length, true);
        }
    }
}

/// The input of the browser test `tests/e2e/answers.test.js` that provokes
/// a loop: SmolLM2 echoes a repeated sentence, which a low repeat limit
/// (the test-only `repeatLimit`) calls a loop; the default limit does not
/// stop the same answer, which the shaper keeps to its sentences.
#[test]
fn a_looping_answer_stops_with_its_reason() {
    let runtime = runtime("SmolLM2-135M-Instruct.Q4_1.gguf");
    let text = "The river rises in the hills and runs to the sea. ".repeat(12);
    let payload = json!({"text": text, "type": "tldr", "length": "long", "format": "plain-text", "repeatLimit": 2});
    let mut events = Vec::new();
    let message = json!({"type": "request", "id": "r", "kind": "summarize", "payload": payload});
    pollster::block_on(runtime.handle(message, &mut |event| {
        events.push(serde_json::to_value(&event).unwrap());
    }));
    let result = &events.last().unwrap()["result"];
    eprintln!("{result}");
    assert_eq!(result["stopReason"], "repetition", "{result}");
}

/// Most words of the sentence the guard lets through in a row below.
const MAX_COPIED_WORDS: usize = 20;

/// The copy guard on a real model (the decode loop's refusals, the CPU
/// path): asked to repeat a long sentence, SmolLM2 copies it whole; with
/// the sentence as a guarded source no run of more than 20 of its words
/// gets through, and the answer goes on in other words.
#[test]
fn a_copy_of_more_than_twenty_words_is_refused_as_the_model_writes_it() {
    let path = common::model_path("SmolLM2-135M-Instruct.Q4_1.gguf");
    let model = LoadedModel::load(&mut File::open(path).unwrap()).unwrap();
    let sentence = "The night train from Vienna to Paris leaves at eight in the \
        evening, crosses Germany while its passengers sleep in narrow bunks, and \
        arrives at the Gare de l'Est shortly after ten the next morning.";
    let messages = [ChatMessage {
        role: Role::User,
        content: format!("Repeat this sentence word for word: {sentence}"),
    }];
    let prompt = tasks::chat_prompt(&model.tokenizer, model.chat.as_ref(), &messages).unwrap();
    let options = GenerateOptions {
        max_tokens: 64,
        ..GenerateOptions::default()
    };
    let run = |guard: Option<&dyn TextGuard>| {
        let mut cache = model.new_cache(prompt.ids.len() + options.max_tokens + 1);
        let mut session = CpuSession {
            decoder: &model.decoder,
            cache: &mut cache,
        };
        pollster::block_on(generate_observed(
            &mut session,
            &model.tokenizer,
            &prompt.ids,
            &options,
            &mut |_| ControlFlow::Continue(()),
            &mut |_| ControlFlow::Continue(()),
            guard,
        ))
        .unwrap()
    };
    let free = run(None);
    let copied = common::longest_copied_run(&free.text, sentence);
    eprintln!("unguarded ({copied} words copied): {}", free.text);
    assert!(
        copied > MAX_COPIED_WORDS,
        "the model must copy here: {}",
        free.text
    );

    let guard = CopyGuard::new().source(sentence, MAX_COPIED_WORDS);
    let guarded = run(Some(&guard));
    let copied = common::longest_copied_run(&guarded.text, sentence);
    eprintln!("guarded ({copied} words copied): {}", guarded.text);
    assert!(copied <= MAX_COPIED_WORDS, "{}", guarded.text);
    // It is the same answer up to the refused word, then it goes on.
    let words = |text: &str| text.split_whitespace().count();
    assert!(words(&guarded.text) > MAX_COPIED_WORDS, "{}", guarded.text);
    let shared = free
        .tokens
        .iter()
        .zip(&guarded.tokens)
        .take_while(|(a, b)| a == b)
        .count();
    assert!(shared > MAX_COPIED_WORDS, "{shared} tokens in common");
}
