//! The on-page tasks through the native runtime, as the extension asks for
//! them: the summary fixture that the browser test compares against (its
//! greedy path has no near-ties), map-reduce over text longer than the
//! context, translation with the detected source, and language detection.
//!
//! `LOCUS_UPDATE_FIXTURES=1 cargo test --test onpage` rewrites
//! `tests/fixtures/onpage/summary.json` from the first candidate paragraph
//! whose greedy path keeps a clear margin at every step.

mod common;

use std::fs::File;

use locus::cpu::Logits;
use locus::engine::LoadedModel;
use locus::runtime::Runtime;
use serde_json::{Value, json};

const SMOLLM2: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";
/// Top-1 minus top-2 logit that every greedy step of the fixture must keep,
/// so a backend's rounding cannot flip a token.
const MIN_MARGIN: f32 = 0.5;
const FIXTURE: &str = "tests/fixtures/onpage/summary.json";

fn runtime() -> Runtime {
    let runtime = Runtime::on_cpu("native test");
    let mut file = File::open(common::model_path(SMOLLM2)).unwrap();
    runtime.load_model("smollm2-135m", &mut file).unwrap();
    let lid = std::fs::read(common::model_path(common::LID_MODEL)).unwrap();
    runtime.load_language_model(&lid).unwrap();
    runtime
}

/// Every event of one request, as the extension would receive them.
fn run(runtime: &Runtime, kind: &str, payload: Value) -> Vec<Value> {
    let mut events = Vec::new();
    let message = json!({"type": "request", "id": "t", "kind": kind, "payload": payload});
    pollster::block_on(runtime.handle(message, &mut |event| {
        events.push(serde_json::to_value(&event).unwrap());
    }));
    events
}

fn done(events: &[Value]) -> &Value {
    let last = events.last().unwrap();
    assert_eq!(last["event"], "done", "{last}");
    &last["result"]
}

fn streamed(events: &[Value]) -> String {
    events
        .iter()
        .filter(|e| e["event"] == "token")
        .map(|e| e["text"].as_str().unwrap())
        .collect()
}

/// The smallest top-1 minus top-2 logit over the greedy continuation of
/// `prompt`, for `steps` steps (the last one is the step that stopped).
fn min_margin(model: &LoadedModel, prompt: &str, steps: usize) -> f32 {
    let ids = model.tokenizer.encode(prompt, true, true).unwrap();
    let mut cache = model.new_cache(ids.len() + steps + 1);
    let mut logits = model
        .decoder
        .forward(&ids, &mut cache, Logits::Last)
        .unwrap();
    let mut smallest = f32::INFINITY;
    for _ in 0..=steps {
        let mut best = (0, f32::NEG_INFINITY);
        let mut second = f32::NEG_INFINITY;
        for (id, &logit) in logits.iter().enumerate() {
            if logit > best.1 {
                second = best.1;
                best = (id as u32, logit);
            } else if logit > second {
                second = logit;
            }
        }
        smallest = smallest.min(best.1 - second);
        if model.tokenizer.is_end_of_generation(best.0) {
            break;
        }
        logits = model
            .decoder
            .forward(&[best.0], &mut cache, Logits::Last)
            .unwrap();
    }
    smallest
}

/// Paragraphs of about 80 words to pick the fixture from.
const CANDIDATES: [&str; 3] = [
    "The Great Wall of China is not a single wall but a series of walls built over nearly two \
     thousand years. The best-known sections were built during the Ming dynasty, between the \
     fourteenth and seventeenth centuries. Together the walls stretch for more than twenty \
     thousand kilometres across mountains, deserts and grasslands. Contrary to a popular myth, \
     the wall cannot be seen with the naked eye from the Moon.",
    "Tomatoes were brought to Europe from South America in the sixteenth century. At first many \
     people believed they were poisonous, because the plant belongs to the same family as deadly \
     nightshade. For a long time tomatoes were grown only as decorative plants in gardens. It was \
     not until the eighteenth century that cooks in Italy and Spain began to use them widely, and \
     today they are one of the most popular vegetables in the world.",
    "Octopuses are among the most intelligent animals in the sea. They can open jars, escape from \
     tanks, and recognise individual people. Each of their eight arms contains a large number of \
     nerve cells, so an arm can taste and touch things on its own. Octopuses also change the \
     colour and texture of their skin in a fraction of a second, which helps them hide from \
     predators and surprise their prey.",
];

fn summary_payload(text: &str) -> Value {
    json!({"text": text, "type": "tldr", "length": "short", "format": "plain-text"})
}

#[test]
fn summary_fixture_is_the_native_greedy_output_with_clear_margins() {
    let runtime = runtime();
    let model = LoadedModel::load(&mut File::open(common::model_path(SMOLLM2)).unwrap()).unwrap();
    let path = common::repo_root().join(FIXTURE);
    if std::env::var_os("LOCUS_UPDATE_FIXTURES").is_some() {
        for text in CANDIDATES {
            let events = run(&runtime, "summarize", summary_payload(text));
            let result = done(&events);
            let tokens = result["tokens"].as_u64().unwrap() as usize;
            let margin = min_margin(&model, result["prompt"].as_str().unwrap(), tokens);
            eprintln!("margin {margin:.3}, {tokens} tokens: {}", result["text"]);
            if margin >= MIN_MARGIN {
                let fixture = json!({
                    "model": SMOLLM2,
                    "kind": "summarize",
                    "payload": summary_payload(text),
                    "text": result["text"],
                    "tokens": tokens,
                    "minMargin": margin,
                });
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(
                    &path,
                    serde_json::to_string_pretty(&fixture).unwrap() + "\n",
                )
                .unwrap();
                return;
            }
        }
        panic!("no candidate paragraph has a margin of {MIN_MARGIN} at every step");
    }
    let fixture: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let events = run(&runtime, "summarize", fixture["payload"].clone());
    let result = done(&events);
    assert_eq!(result["text"], fixture["text"]);
    assert_eq!(streamed(&events), fixture["text"].as_str().unwrap());
    let tokens = result["tokens"].as_u64().unwrap() as usize;
    let margin = min_margin(&model, result["prompt"].as_str().unwrap(), tokens);
    assert!(margin >= MIN_MARGIN, "smallest margin {margin}");
}

/// About `words` words of varied, sentence-shaped text.
fn long_text(words: usize) -> String {
    let sentences = [
        "The museum reopened after a long renovation of its east wing.",
        "Visitors can now see the restored ceiling paintings up close from a new gallery.",
        "The work took four years and cost more than the original estimate.",
        "Curators used the closure to catalogue thousands of drawings for the first time.",
        "A new café and a garden courtyard were added on the ground floor.",
        "Entry remains free on the first Sunday of every month.",
    ];
    let mut text = String::new();
    let mut count = 0;
    let mut at = 0;
    while count < words {
        let sentence = sentences[at % sentences.len()];
        text.push_str(sentence);
        text.push_str(if at % 4 == 3 { "\n\n" } else { " " });
        count += sentence.split_whitespace().count();
        at += 1;
    }
    text
}

#[test]
fn long_text_is_summarised_part_by_part_then_combined() {
    let runtime = runtime();
    // About 3x a 256-token context.
    let payload = json!({"text": long_text(600), "type": "headline", "length": "short",
                         "format": "plain-text", "contextTokens": 256});
    let events = run(&runtime, "summarize", payload);
    let result = done(&events);
    let parts: Vec<&Value> = events.iter().filter(|e| e["stage"] == "part").collect();
    assert!(parts.len() >= 3, "{} parts", parts.len());
    assert_eq!(parts[1]["message"], format!("Part 2 of {}", parts.len()));
    assert_eq!(result["parts"], parts.len());
    assert_eq!(result["rounds"], 1);
    eprintln!(
        "long summary: {} parts, {} prompt tokens at {:.0}/s, {} tokens at {:.1}/s",
        parts.len(),
        result["promptTokens"],
        result["promptTokensPerSecond"].as_f64().unwrap(),
        result["tokens"],
        result["tokensPerSecond"].as_f64().unwrap()
    );
    assert!(events.iter().any(|e| e["stage"] == "combine"));
    assert!(!result["text"].as_str().unwrap().trim().is_empty());
    assert_eq!(streamed(&events), result["text"].as_str().unwrap());
}

#[test]
fn german_is_detected_then_translated_and_english_is_left_alone() {
    let runtime = runtime();
    let german = "Der Zug nach Berlin hat heute zwanzig Minuten Verspätung, weil ein Baum auf \
                  den Gleisen liegt.";
    let events = run(
        &runtime,
        "translate",
        json!({"text": german, "targetLanguage": "en"}),
    );
    let result = done(&events);
    assert_eq!(result["sourceLanguage"], "de");
    assert!(
        events
            .iter()
            .any(|e| e["stage"] == "source" && e["message"] == "de")
    );
    assert!(streamed(&events).len() > 10);
    assert!(
        result["prompt"]
            .as_str()
            .unwrap()
            .contains("from German into English")
    );

    let english =
        "The train to Berlin is twenty minutes late today because a tree fell on the line.";
    let events = run(
        &runtime,
        "translate",
        json!({"text": english, "targetLanguage": "en"}),
    );
    let result = done(&events);
    assert_eq!(result["alreadyInTarget"], true);
    assert_eq!(result["tokens"], 0);
}

#[test]
fn long_translation_streams_part_by_part_in_order() {
    let runtime = runtime();
    let text = long_text(200);
    let payload = json!({"text": text, "targetLanguage": "fr", "contextTokens": 256});
    let events = run(&runtime, "translate", payload);
    let result = done(&events);
    let parts = events.iter().filter(|e| e["stage"] == "part").count();
    assert!(parts >= 2, "{parts} parts: {result}");
    assert_eq!(streamed(&events), result["text"].as_str().unwrap());
}

#[test]
fn detect_answers_like_chromes_language_detector() {
    let runtime = runtime();
    let events = run(
        &runtime,
        "detect",
        json!({"text": "Ceci est une phrase écrite en français."}),
    );
    let languages = done(&events)["languages"].as_array().unwrap().clone();
    assert_eq!(languages[0]["detectedLanguage"], "fr");
    assert!(languages[0]["confidence"].as_f64().unwrap() > 0.8);
    assert_eq!(languages.last().unwrap()["detectedLanguage"], "und");

    let bare = Runtime::on_cpu("no language model");
    let events = run(&bare, "detect", json!({"text": "Hallo Welt"}));
    assert_eq!(events.last().unwrap()["code"], "no_model");
}

#[test]
fn abort_stops_generation_within_one_token() {
    let runtime = runtime();
    let mut tokens = 0;
    let mut after_abort = 0;
    let mut last = Value::Null;
    // A translation streams token by token (a summary, sentence by sentence).
    let message = json!({"type": "request", "id": "a", "kind": "translate",
                         "payload": {"text": CANDIDATES[0], "targetLanguage": "fr"}});
    pollster::block_on(runtime.handle(message, &mut |event| {
        let event = serde_json::to_value(&event).unwrap();
        if event["event"] == "token" {
            if tokens >= 3 {
                after_abort += 1;
            }
            tokens += 1;
            if tokens == 3 {
                // What the worker does with the client's abort while the reply streams.
                let abort = json!({"type": "abort", "id": "a"});
                pollster::block_on(runtime.handle(abort, &mut |_| {}));
            }
        }
        last = event;
    }));
    assert_eq!(last["code"], "aborted", "{last}");
    assert!(after_abort <= 1, "{after_abort} tokens after the abort");
    // The next request runs normally.
    let events = run(
        &runtime,
        "detect",
        json!({"text": "Guten Tag, wie geht es Ihnen?"}),
    );
    assert_eq!(done(&events)["languages"][0]["detectedLanguage"], "de");
}
