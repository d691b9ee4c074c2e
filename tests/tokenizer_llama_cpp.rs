//! Our tokenizers against llama.cpp on the test models: every corpus string
//! of `tests/fixtures/llama_cpp/*.json` (from `scripts/make_fixtures.py`)
//! must give llama.cpp's ids with and without special-token parsing, and
//! llama.cpp's detokenized text, whole and streamed.
//!
//! All three models are required (`cargo xtask models` fetches them).

mod common;

use std::path::Path;
use std::time::Instant;

use common::repo_root;
use locus::tokenizer::{StreamDecoder, Tokenizer};
use serde_json::Value;

/// How many mismatches to print in full.
const SHOWN: usize = 5;

struct Loaded {
    tokenizer: Tokenizer,
    fixture: Value,
}

/// The model's tokenizer and its llama.cpp fixture. Every model is required:
/// `cargo xtask models` fetches them.
fn load(name: &str, file_name: &str) -> Loaded {
    let metadata = common::metadata(file_name);
    let started = Instant::now();
    let tokenizer = Tokenizer::from_gguf(&metadata).unwrap_or_else(|e| panic!("{file_name}: {e}"));
    eprintln!(
        "{name}: Tokenizer::from_gguf took {:.1} ms",
        started.elapsed().as_secs_f64() * 1e3
    );
    Loaded {
        tokenizer,
        fixture: common::fixture_json(name),
    }
}

fn ids(value: &Value) -> Vec<u32> {
    value
        .as_array()
        .expect("an id list")
        .iter()
        .map(|v| v.as_u64().expect("an id") as u32)
        .collect()
}

fn stream(tokenizer: &Tokenizer, ids: &[u32]) -> String {
    let mut decoder = StreamDecoder::new(tokenizer);
    let mut text: String = ids.iter().map(|&id| decoder.push(id)).collect();
    text += &decoder.finish();
    text
}

fn check(name: &str, file_name: &str) {
    let Loaded { tokenizer, fixture } = load(name, file_name);
    let meta = &fixture["meta"];
    assert_eq!(
        tokenizer.vocab_size() as u64,
        meta["n_vocab"].as_u64().unwrap(),
        "n_vocab"
    );
    assert_eq!(
        tokenizer.add_bos_default(),
        meta["add_bos"].as_bool().unwrap(),
        "add_bos"
    );
    assert_eq!(
        tokenizer.bos().map(u64::from),
        meta["bos_id"].as_u64(),
        "bos"
    );
    assert_eq!(
        tokenizer.eos().map(u64::from),
        meta["eos_id"].as_u64(),
        "eos"
    );
    assert_eq!(
        tokenizer.end_of_generation_ids(),
        ids(&meta["eog_ids"]),
        "end-of-generation ids"
    );

    check_cases(
        name,
        &tokenizer,
        fixture["tokenize"].as_array().expect("tokenize list"),
    );
    // More cases in the same format, e.g. from a larger corpus:
    // LOCUS_TOKENIZER_EXTRA=dir reads dir/<name>.json.
    if let Some(dir) = std::env::var_os("LOCUS_TOKENIZER_EXTRA") {
        let path = Path::new(&dir).join(format!("{name}.json"));
        let extra: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        check_cases(
            &format!("{name} ({})", path.display()),
            &tokenizer,
            extra["tokenize"].as_array().unwrap(),
        );
    }
}

fn check_cases(name: &str, tokenizer: &Tokenizer, cases: &[Value]) {
    let mut failures: Vec<String> = Vec::new();
    let (mut special_ok, mut plain_ok, mut detok_ok, mut stream_ok, mut round_trips) =
        (0, 0, 0, 0, 0);
    for case in cases {
        let text = case["text"].as_str().unwrap();
        let detok = case["detok"].as_str().unwrap();
        for (field, parse_special, ok) in [
            ("ids", true, &mut special_ok),
            ("ids_plain", false, &mut plain_ok),
        ] {
            let expected = ids(&case[field]);
            let ours = tokenizer.encode(text, false, parse_special).unwrap();
            if ours == expected {
                *ok += 1;
            } else {
                failures.push(format!(
                    "{field} for {text:?}:\n    ours      {ours:?}\n    llama.cpp {expected:?}"
                ));
            }
        }
        let plain = ids(&case["ids_plain"]);
        let decoded = tokenizer.decode(&plain, true);
        if decoded == detok {
            detok_ok += 1;
        } else {
            failures.push(format!(
                "detok of {plain:?}:\n    ours      {decoded:?}\n    llama.cpp {detok:?}"
            ));
        }
        let streamed = stream(tokenizer, &plain);
        if streamed == decoded {
            stream_ok += 1;
        } else {
            failures.push(format!(
                "streamed {plain:?}:\n    stream {streamed:?}\n    decode {decoded:?}"
            ));
        }
        // Where llama.cpp's own detokenizer gives the text back, ours must too.
        if detok == text {
            round_trips += 1;
            let ours = tokenizer.decode(&tokenizer.encode(text, false, false).unwrap(), true);
            if ours != text {
                failures.push(format!("round trip of {text:?} gave {ours:?}"));
            }
        }
    }
    let n = cases.len();
    eprintln!(
        "{name}: {n} strings: ids {special_ok}/{n}, ids_plain {plain_ok}/{n}, detok {detok_ok}/{n}, \
         stream {stream_ok}/{n}, {round_trips} round trips; {} mismatches",
        failures.len()
    );
    for failure in failures.iter().take(SHOWN) {
        eprintln!("  {failure}");
    }
    assert!(
        failures.is_empty(),
        "{name}: {} mismatches with llama.cpp (first {SHOWN} above)",
        failures.len()
    );
}

#[test]
fn smollm2_matches_llama_cpp() {
    check("smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf");
}

#[test]
fn qwen2_matches_llama_cpp() {
    check("qwen2", "Qwen2.5-Coder-0.5B-Instruct.Q4_K_M.gguf");
}

#[test]
fn gemma3_matches_llama_cpp() {
    check("gemma3", "gemma-3-270m.Q4_K_M.gguf");
}

/// Large and odd inputs: no panic, and text comes back.
#[test]
fn huge_and_odd_inputs() {
    let Loaded { tokenizer, .. } = load("smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf");
    let corpus: Vec<String> = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("tests/fixtures/corpus.json")).unwrap(),
    )
    .unwrap();
    let mut text = corpus.join("\n");
    while text.len() < 300_000 {
        text += &text.clone();
    }
    let started = Instant::now();
    let ids = tokenizer.encode(&text, true, false).unwrap();
    eprintln!(
        "smollm2: {} bytes -> {} tokens in {:.0} ms",
        text.len(),
        ids.len(),
        started.elapsed().as_secs_f64() * 1e3
    );
    assert_eq!(stream(&tokenizer, &ids), tokenizer.decode(&ids, true));
    for odd in [
        "",
        " ",
        "\0",
        "\u{FFFD}",
        "\u{10FFFF}",
        &"a".repeat(20_000),
        &" ".repeat(5_000),
        &"\n".repeat(3_000),
        "<|im_start|>",
    ] {
        for special in [false, true] {
            let ids = tokenizer.encode(odd, false, special).unwrap();
            assert_eq!(
                tokenizer.decode(&ids, !special),
                odd,
                "{:?}",
                &odd[..odd.len().min(20)]
            );
        }
    }
    assert_eq!(tokenizer.decode(&[u32::MAX, 49_152], false), "");
}
