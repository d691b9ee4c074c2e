//! Inputs that the fuzz targets (`fuzz/`, run by `cargo xtask fuzz`) found
//! to panic, hang or exhaust memory, minimised and kept under
//! `tests/fixtures/fuzz/<target>/`. Each file is replayed here through the
//! same calls as its fuzz target, and must now give `Ok` or a typed error.

use std::path::PathBuf;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use locus::chat::ChatTemplate;
use locus::gguf::{GgufFile, SyntheticSource};
use locus::lid::LanguageDetector;
use locus::model::ModelConfig;
use locus::protocol::{ChatMessage, Role};

/// What one replayed input may take: far above what a sane input needs,
/// even in this unoptimised test build of minijinja on a busy machine (the
/// fuel-limited nested loops take 0.3 s in an optimised build), and far
/// below a hang (those loops ran 10^10 steps: hours).
const TIME_LIMIT: Duration = Duration::from_secs(60);

/// Every fixture of one target, by file name.
fn fixtures(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/fuzz")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .map(|entries| entries.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&path).unwrap())
        })
        .collect()
}

/// Runs `replay` on its own thread and fails if it is not done in
/// [`TIME_LIMIT`] (a hang fails the test instead of stalling the suite).
fn timed(target: &str, name: &str, replay: impl FnOnce() + Send + 'static) {
    let (done, finished) = mpsc::channel();
    let start = Instant::now();
    thread::spawn(move || {
        replay();
        let _ = done.send(());
    });
    match finished.recv_timeout(TIME_LIMIT) {
        Ok(()) => {}
        Err(RecvTimeoutError::Timeout) => panic!("{target}/{name}: not done after {TIME_LIMIT:?}"),
        Err(RecvTimeoutError::Disconnected) => {
            panic!("{target}/{name}: panicked after {:?}", start.elapsed())
        }
    }
}

#[test]
fn gguf_reader_findings_give_typed_errors() {
    for (name, bytes) in fixtures("gguf_reader") {
        timed("gguf_reader", &name, move || {
            let replay = |file: &GgufFile| {
                for tensor in &file.tensors {
                    let _ = (tensor.elements(), tensor.rows(), tensor.row_len());
                }
                let _ = ModelConfig::from_gguf(file).map(|c| (c.q_width(), c.kv_width()));
            };
            if let Ok(file) = GgufFile::read(&mut bytes.as_slice()) {
                replay(&file);
            }
            if let Ok((file, _)) = SyntheticSource::new(bytes.clone()) {
                replay(&file);
            }
        });
    }
}

#[test]
fn fasttext_reader_findings_give_typed_errors() {
    for (name, bytes) in fixtures("fasttext_reader") {
        timed("fasttext_reader", &name, move || {
            if let Ok(detector) = LanguageDetector::from_bytes(&bytes) {
                detector.detect("hello world");
            }
        });
    }
}

/// The chat target's layout: template, then NUL-separated messages whose
/// first byte picks the role.
fn chat_input(bytes: &[u8]) -> (String, Vec<ChatMessage>) {
    let mut pieces = bytes.split(|&b| b == 0);
    let source = String::from_utf8_lossy(pieces.next().unwrap_or_default()).into_owned();
    let mut messages: Vec<ChatMessage> = pieces
        .map(|piece| {
            let (role, content) = piece.split_first().unwrap_or((&0, &[]));
            ChatMessage {
                role: [Role::System, Role::User, Role::Assistant][usize::from(*role % 3)],
                content: String::from_utf8_lossy(content).into_owned(),
            }
        })
        .collect();
    if messages.is_empty() {
        messages.push(ChatMessage {
            role: Role::User,
            content: "What is a night train?".into(),
        });
    }
    (source, messages)
}

#[test]
fn chat_template_findings_give_typed_errors_in_bounded_time() {
    for (name, bytes) in fixtures("chat_template") {
        let (source, messages) = chat_input(&bytes);
        timed("chat_template", &name, move || {
            if let Ok(template) = ChatTemplate::from_jinja(&source, "<s>".into(), "</s>".into()) {
                let _ = template.render(&messages, true);
            }
        });
    }
}

/// GGUF bytes holding only these metadata entries (strings, string
/// arrays, i32 arrays and bools), read back.
fn tokenizer_metadata(entries: &[(&str, Meta)]) -> locus::gguf::Metadata {
    let mut b: Vec<u8> = b"GGUF".to_vec();
    b.extend(3u32.to_le_bytes());
    b.extend(0u64.to_le_bytes());
    b.extend((entries.len() as u64).to_le_bytes());
    let string = |b: &mut Vec<u8>, s: &str| {
        b.extend((s.len() as u64).to_le_bytes());
        b.extend(s.as_bytes());
    };
    for (key, value) in entries {
        string(&mut b, key);
        match value {
            Meta::Str(s) => {
                b.extend(8u32.to_le_bytes());
                string(&mut b, s);
            }
            Meta::Bool(v) => {
                b.extend(7u32.to_le_bytes());
                b.push(u8::from(*v));
            }
            Meta::Strs(items) => {
                b.extend(9u32.to_le_bytes());
                b.extend(8u32.to_le_bytes());
                b.extend((items.len() as u64).to_le_bytes());
                items.iter().for_each(|s| string(&mut b, s));
            }
            Meta::I32s(items) => {
                b.extend(9u32.to_le_bytes());
                b.extend(5u32.to_le_bytes());
                b.extend((items.len() as u64).to_le_bytes());
                items.iter().for_each(|v| b.extend(v.to_le_bytes()));
            }
        }
    }
    b.resize(b.len().next_multiple_of(32), 0);
    GgufFile::read(&mut b.as_slice()).unwrap().metadata
}

enum Meta {
    Str(String),
    Bool(bool),
    Strs(Vec<String>),
    I32s(Vec<i32>),
}

/// Found by profiling the tokenizer_from_gguf fuzz target (half its time
/// went to vocabulary look-ups): deriving a SentencePiece vocabulary's
/// merges looks up every split of every token, so one hostile 1 MB token
/// took hours (quadratic) at import, where a typed error belongs.
#[test]
fn a_huge_sentencepiece_token_is_refused_at_once() {
    let metadata = tokenizer_metadata(&[
        ("tokenizer.ggml.model", Meta::Str("llama".into())),
        (
            "tokenizer.ggml.tokens",
            Meta::Strs(vec!["a".into(), "a".repeat(1 << 20)]),
        ),
        ("tokenizer.ggml.token_type", Meta::I32s(vec![1, 1])),
    ]);
    timed("tokenizer_from_gguf", "huge-spm-token", move || {
        let error = locus::tokenizer::Tokenizer::from_gguf(&metadata).expect_err("a typed error");
        assert!(error.to_string().contains("1048576 bytes long"), "{error}");
    });
}

/// Found by the tokenizer_from_gguf fuzz target (a 415-byte input whose
/// merged tokens grew to megabytes, all control tokens: 6 s in the
/// instrumented build): Hugging Face's tokenizers matches control and
/// user-defined tokens with an automaton built over all of them, so a file
/// of long ones took 12.5 s and 376 MB to load (4,000 of 1,000 bytes).
/// Such a vocabulary is refused at once; one within the limits loads.
#[test]
fn long_special_tokens_are_refused_at_once() {
    let vocab = |count: usize, len: usize| {
        let mut tokens: Vec<String> = (0..=255u8).map(|b| format!("<0x{b:02X}>")).collect();
        let mut types = vec![6; 256];
        for i in 0..count {
            let text = format!("<{i}{}>", "ab".repeat(len / 2));
            tokens.push(text[..len.min(text.len())].to_string());
            types.push(3);
        }
        tokenizer_metadata(&[
            ("tokenizer.ggml.model", Meta::Str("llama".into())),
            ("tokenizer.ggml.tokens", Meta::Strs(tokens)),
            ("tokenizer.ggml.token_type", Meta::I32s(types)),
        ])
    };
    let one_long = vocab(1, 257);
    timed("tokenizer_from_gguf", "long-special-token", move || {
        let error = locus::tokenizer::Tokenizer::from_gguf(&one_long).expect_err("a typed error");
        assert!(error.to_string().contains("257 bytes long"), "{error}");
    });
    let many = vocab(4_000, 250);
    timed("tokenizer_from_gguf", "many-special-tokens", move || {
        let error = locus::tokenizer::Tokenizer::from_gguf(&many).expect_err("a typed error");
        assert!(error.to_string().contains("in all"), "{error}");
    });
    // Gemma 3's share (6,414 control tokens, 75,784 bytes) loads.
    let gemma_like = vocab(6_414, 12);
    timed(
        "tokenizer_from_gguf",
        "gemma-like-special-tokens",
        move || {
            locus::tokenizer::Tokenizer::from_gguf(&gemma_like).expect("within the limits");
        },
    );
}

/// tokenizer_from_gguf's first finding (minimised from
/// tests/fixtures/fuzz/tokenizer_from_gguf/spm-byte-fallback-merged.arbitrary):
/// in a SentencePiece-style vocabulary holding the 256 `<0xNN>` byte
/// tokens and a normal token whose text is two of them, "\0\0" encodes to
/// that normal token, which decodes to its literal text "<0x00><0x00>".
/// llama.cpp merges only symbols of the text itself and falls back to
/// bytes afterwards, so it gives two `<0x00>` tokens and the round trip
/// holds. Cause: `spm::derive_merges` derived merges of byte tokens, and
/// Hugging Face's BPE applies merges after byte fallback.
#[test]
fn spm_byte_fallback_tokens_are_not_merged() {
    let mut tokens: Vec<String> = (0..=255u8).map(|b| format!("<0x{b:02X}>")).collect();
    let mut types = vec![6; 256];
    tokens.push("<0x00><0x00>".into());
    types.push(1);
    let metadata = tokenizer_metadata(&[
        ("tokenizer.ggml.model", Meta::Str("llama".into())),
        ("tokenizer.ggml.tokens", Meta::Strs(tokens)),
        ("tokenizer.ggml.token_type", Meta::I32s(types)),
        ("tokenizer.ggml.add_space_prefix", Meta::Bool(false)),
    ]);
    let tokenizer = locus::tokenizer::Tokenizer::from_gguf(&metadata).unwrap();
    let ids = tokenizer.encode("\0\0", false, false).unwrap();
    assert_eq!(ids, [0, 0], "llama.cpp's ids");
    assert_eq!(tokenizer.decode(&ids, false), "\0\0");
}

/// tokenizer_from_gguf's second finding (tests/fixtures/fuzz/tokenizer_from_gguf/
/// spm-space-without-its-token.arbitrary), a wrong expectation of the fuzz
/// target, not of the tokenizer: in a SentencePiece-style vocabulary with
/// the 256 byte tokens and no "▁" token, a space (escaped to "▁") falls
/// back to the three bytes of "▁", which decode to "▁", not to a space.
/// llama.cpp does the same: `resegment` outputs the bytes of the escaped
/// symbol, and `token_to_piece` copies a byte token's byte without
/// unescaping it. With a "▁" token the space survives the round trip.
#[test]
fn spm_spaces_without_a_space_token_decode_as_llama_cpp_does() {
    let spm = |extra: &[&str]| {
        let mut tokens: Vec<String> = (0..=255u8).map(|b| format!("<0x{b:02X}>")).collect();
        let mut types = vec![6; 256];
        for token in extra {
            tokens.push(token.to_string());
            types.push(1);
        }
        let metadata = tokenizer_metadata(&[
            ("tokenizer.ggml.model", Meta::Str("llama".into())),
            ("tokenizer.ggml.tokens", Meta::Strs(tokens)),
            ("tokenizer.ggml.token_type", Meta::I32s(types)),
            ("tokenizer.ggml.add_space_prefix", Meta::Bool(false)),
        ]);
        locus::tokenizer::Tokenizer::from_gguf(&metadata).unwrap()
    };
    let bytes_only = spm(&[")"]);
    let ids = bytes_only.encode(" ) ", false, false).unwrap();
    assert_eq!(
        ids,
        [0xE2, 0x96, 0x81, 256, 0xE2, 0x96, 0x81],
        "llama.cpp's ids"
    );
    assert_eq!(bytes_only.decode(&ids, false), "\u{2581})\u{2581}");
    let with_space = spm(&[")", "\u{2581}"]);
    let ids = with_space.encode(" ) ", false, false).unwrap();
    assert_eq!(ids, [257, 256, 257]);
    assert_eq!(with_space.decode(&ids, false), " ) ");
}

/// Found by the tokenizer_from_gguf fuzz target (three inputs of 270-382
/// bytes whose merged tokens grew to megabytes): streaming one such token
/// stalled for 24 s (the stream decoder moved the held-back bytes once per
/// replacement character: now linear, `tokenizer::stream`), and decoding
/// ids that name them took over 8 GB and minutes. Real vocabularies' tokens
/// are at most 256 bytes (Qwen2.5); one over 1,024 is refused at import, as
/// a SentencePiece one already was. The 4 MB token of stray continuation
/// bytes below loaded and then stalled the stream before.
#[test]
fn a_token_over_a_kilobyte_is_refused_at_once() {
    let vocab = |token: String| {
        tokenizer_metadata(&[
            ("tokenizer.ggml.model", Meta::Str("gpt2".into())),
            ("tokenizer.ggml.pre", Meta::Str("default".into())),
            ("tokenizer.ggml.merges", Meta::Strs(Vec::new())),
            ("tokenizer.ggml.tokens", Meta::Strs(vec!["a".into(), token])),
            ("tokenizer.ggml.token_type", Meta::I32s(vec![1, 1])),
        ])
    };
    // "¡" is byte 0xA1 in GPT-2's byte-level alphabet: a lone continuation byte.
    let huge = vocab("\u{a1}".repeat(2 << 20));
    let longest = vocab("b".repeat(1024));
    let over = vocab("b".repeat(1025));
    timed("tokenizer_from_gguf", "megabyte-token", move || {
        let error = locus::tokenizer::Tokenizer::from_gguf(&huge).expect_err("a typed error");
        assert!(
            error.to_string().contains("token 1 is 4194304 bytes long"),
            "{error}"
        );
        let error = locus::tokenizer::Tokenizer::from_gguf(&over).expect_err("a typed error");
        assert!(error.to_string().contains("1025 bytes long"), "{error}");
        let tokenizer = locus::tokenizer::Tokenizer::from_gguf(&longest).unwrap();
        assert_eq!(tokenizer.decode(&[1], true), "b".repeat(1024));
    });
}

/// Found by the tokenizer_from_gguf fuzz target on the GPU machine's cores:
/// `tokenizers` 0.23.2 panics (a slice out of range) building a BPE whose
/// merge joins into something longer than every token ("é ]" beside the
/// 2-byte byte-level tokens). A typed error now, as for any merge whose
/// result is not a token.
#[test]
fn a_merge_longer_than_every_token_is_a_typed_error() {
    let metadata = tokenizer_metadata(&[
        ("tokenizer.ggml.model", Meta::Str("gpt2".into())),
        ("tokenizer.ggml.pre", Meta::Str("smollm".into())),
        ("tokenizer.ggml.merges", Meta::Strs(vec!["é ]".into()])),
        (
            "tokenizer.ggml.tokens",
            Meta::Strs(vec!["é".into(), "]".into()]),
        ),
        ("tokenizer.ggml.token_type", Meta::I32s(vec![1, 1])),
    ]);
    timed(
        "tokenizer_from_gguf",
        "merge-longer-than-every-token",
        move || {
            let error =
                locus::tokenizer::Tokenizer::from_gguf(&metadata).expect_err("a typed error");
            assert!(
                error.to_string().contains("not in the vocabulary"),
                "{error}"
            );
        },
    );
}
