//! A vocabulary described by the fuzzer → GGUF metadata written in memory →
//! `Tokenizer::from_gguf`, then encoding of fuzzed text and decoding of the
//! ids it gave and of fuzzed ids. Nothing may panic; ids must lie inside the
//! vocabulary; and where it must hold, text survives the round trip:
//!
//! - byte-level BPE (`gpt2`) with all 256 byte tokens, llama.cpp's token
//!   types, a pre-tokenizer that does not clean up spaces, and no space
//!   prefix: `decode(encode(text)) == text` for any text;
//! - SentencePiece-style (`llama`) with the 256 `<0xNN>` byte tokens, the
//!   same types and no space prefix: the same for text without "▁" (which
//!   decodes as a space, as in llama.cpp), and, unless the vocabulary has a
//!   "▁" token, without spaces.

#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use locus::gguf::{GgufFile, Metadata};
use locus::tokenizer::{StreamDecoder, Tokenizer};

/// `tokenizer.ggml.pre` values: known ones of each regex set, one unknown.
const PRES: [&str; 11] = [
    "default",
    "llama3",
    "dbrx",
    "glm4",
    "gpt-2",
    "trillion",
    "starcoder",
    "smollm",
    "qwen2",
    "megrez",
    "no-such-pre",
];
/// Those whose decoding keeps spaces as they are (`clean_spaces` off).
const NO_CLEAN_UP: [&str; 4] = ["trillion", "smollm", "qwen2", "no-such-pre"];
const MAX_TOKENS: usize = 48;
const MAX_TEXT: usize = 256;

#[derive(Arbitrary, Debug)]
struct Input {
    spm: bool,
    pre: u8,
    byte_tokens: bool,
    tokens: Vec<String>,
    /// Merges of two earlier tokens (by index); their result joins the vocabulary.
    pairs: Vec<(u16, u16)>,
    /// Further merge strings, written as they are.
    raw_merges: Vec<String>,
    /// None: the natural types (normal, `<0xNN>` as byte tokens for `llama`).
    types: Option<Vec<i8>>,
    scores: Vec<f32>,
    bos: Option<u16>,
    eos: Option<u16>,
    eot: Option<u16>,
    add_bos: Option<bool>,
    add_eos: Option<bool>,
    add_space_prefix: Option<bool>,
    text: String,
    parse_special: bool,
    ids: Vec<u16>,
}

fuzz_target!(|input: Input| {
    let Some(metadata) = metadata(&input) else {
        return;
    };
    let Ok(tokenizer) = Tokenizer::from_gguf(&metadata) else {
        return;
    };
    let n = tokenizer.vocab_size();
    let text = cut(&input.text, MAX_TEXT);
    let ids = tokenizer
        .encode(text, true, input.parse_special)
        .expect("encoding valid UTF-8 cannot fail");
    assert!(ids.iter().all(|&id| (id as usize) < n), "{ids:?} of {n}");
    let plain = tokenizer.encode(text, false, input.parse_special).unwrap();
    let decoded = tokenizer.decode(&plain, false);
    let _ = tokenizer.decode(&plain, true);
    if round_trip_holds(&input, text, &tokenizer) {
        assert_eq!(decoded, text, "ids {plain:?}");
    }
    let fuzzed: Vec<u32> = input.ids.iter().map(|&id| u32::from(id)).collect();
    let _ = tokenizer.decode(&fuzzed, false);
    let mut stream = StreamDecoder::new(&tokenizer);
    for &id in fuzzed.iter().chain(&ids) {
        let _ = stream.push(id);
    }
    let _ = stream.finish();
    for id in fuzzed.iter().take(8) {
        let _ = (tokenizer.token_text(*id), tokenizer.is_control(*id));
        let _ = tokenizer.is_end_of_generation(*id);
    }
});

fn round_trip_holds(input: &Input, text: &str, tokenizer: &Tokenizer) -> bool {
    let pre = PRES[usize::from(input.pre) % PRES.len()];
    input.byte_tokens
        && input.types.is_none()
        && input.add_space_prefix != Some(true)
        && if input.spm {
            // A space becomes "▁"; without a "▁" token it falls back to
            // the bytes of "▁", which decode as "▁", not as a space (as in
            // llama.cpp: tests/fuzz_regressions.rs).
            input.add_space_prefix == Some(false)
                && !text.contains('\u{2581}')
                && (!text.contains(' ') || tokenizer.token_id("\u{2581}").is_some())
        } else {
            NO_CLEAN_UP.contains(&pre)
        }
}

/// At most `max` bytes of `text`, cut at a character boundary.
fn cut(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// The vocabulary's GGUF metadata, or None when it is not writable (a
/// metadata key appearing twice cannot happen here; huge inputs are cut).
fn metadata(input: &Input) -> Option<Metadata> {
    let mut tokens: Vec<String> = Vec::new();
    let mut types: Vec<i32> = Vec::new();
    if input.byte_tokens {
        for byte in 0..=255u8 {
            if input.spm {
                tokens.push(format!("<0x{byte:02X}>"));
                types.push(6);
            } else {
                tokens.push(byte_char(byte).to_string());
                types.push(1);
            }
        }
    }
    for token in input.tokens.iter().take(MAX_TOKENS) {
        tokens.push(cut(token, 64).to_string());
        types.push(1);
    }
    let mut merges = Vec::new();
    for &(a, b) in input.pairs.iter().take(MAX_TOKENS) {
        if tokens.is_empty() {
            break;
        }
        let left = tokens[usize::from(a) % tokens.len()].clone();
        let right = tokens[usize::from(b) % tokens.len()].clone();
        let merged = format!("{left}{right}");
        merges.push(format!("{left} {right}"));
        if !tokens.contains(&merged) {
            tokens.push(merged);
            types.push(1);
        }
    }
    merges.extend(
        input
            .raw_merges
            .iter()
            .take(MAX_TOKENS)
            .map(|m| cut(m, 64).to_string()),
    );
    if let Some(fuzzed) = &input.types {
        types = fuzzed
            .iter()
            .take(tokens.len() + 2)
            .map(|&t| i32::from(t))
            .collect();
    }

    let mut entries = Vec::new();
    let model = if input.spm { "llama" } else { "gpt2" };
    entries.push(("tokenizer.ggml.model", Meta::Str(model.into())));
    if !input.spm {
        let pre = PRES[usize::from(input.pre) % PRES.len()];
        entries.push(("tokenizer.ggml.pre", Meta::Str(pre.into())));
        entries.push(("tokenizer.ggml.merges", Meta::Strs(merges)));
    }
    entries.push(("tokenizer.ggml.tokens", Meta::Strs(tokens)));
    entries.push(("tokenizer.ggml.token_type", Meta::I32s(types)));
    if !input.scores.is_empty() {
        let scores = input.scores.iter().copied().take(MAX_TOKENS * 8).collect();
        entries.push(("tokenizer.ggml.scores", Meta::F32s(scores)));
    }
    for (key, id) in [
        ("tokenizer.ggml.bos_token_id", input.bos),
        ("tokenizer.ggml.eos_token_id", input.eos),
        ("tokenizer.ggml.eot_token_id", input.eot),
    ] {
        if let Some(id) = id {
            entries.push((key, Meta::U32(u32::from(id))));
        }
    }
    for (key, flag) in [
        ("tokenizer.ggml.add_bos_token", input.add_bos),
        ("tokenizer.ggml.add_eos_token", input.add_eos),
        ("tokenizer.ggml.add_space_prefix", input.add_space_prefix),
    ] {
        if let Some(flag) = flag {
            entries.push((key, Meta::Bool(flag)));
        }
    }
    let bytes = gguf_bytes(entries);
    Some(
        GgufFile::read(&mut bytes.as_slice())
            .expect("the writer below writes valid GGUF")
            .metadata,
    )
}

/// A metadata value to write.
enum Meta {
    Str(String),
    U32(u32),
    Bool(bool),
    Strs(Vec<String>),
    F32s(Vec<f32>),
    I32s(Vec<i32>),
}

/// A GGUF v3 file with these metadata entries and no tensors.
fn gguf_bytes(entries: Vec<(&str, Meta)>) -> Vec<u8> {
    let mut b: Vec<u8> = b"GGUF".to_vec();
    b.extend(3u32.to_le_bytes());
    b.extend(0u64.to_le_bytes());
    b.extend((entries.len() as u64).to_le_bytes());
    let string = |b: &mut Vec<u8>, s: &str| {
        b.extend((s.len() as u64).to_le_bytes());
        b.extend(s.as_bytes());
    };
    let array_header = |b: &mut Vec<u8>, ty: u32, len: usize| {
        b.extend(9u32.to_le_bytes());
        b.extend(ty.to_le_bytes());
        b.extend((len as u64).to_le_bytes());
    };
    for (key, value) in entries {
        string(&mut b, key);
        match value {
            Meta::Str(s) => {
                b.extend(8u32.to_le_bytes());
                string(&mut b, &s);
            }
            Meta::U32(v) => {
                b.extend(4u32.to_le_bytes());
                b.extend(v.to_le_bytes());
            }
            Meta::Bool(v) => {
                b.extend(7u32.to_le_bytes());
                b.push(u8::from(v));
            }
            Meta::Strs(items) => {
                array_header(&mut b, 8, items.len());
                items.iter().for_each(|s| string(&mut b, s));
            }
            Meta::F32s(items) => {
                array_header(&mut b, 6, items.len());
                items.iter().for_each(|v| b.extend(v.to_le_bytes()));
            }
            Meta::I32s(items) => {
                array_header(&mut b, 5, items.len());
                items.iter().for_each(|v| b.extend(v.to_le_bytes()));
            }
        }
    }
    b.resize(b.len().next_multiple_of(32), 0);
    b
}

/// GPT-2's byte-to-unicode character for a byte.
fn byte_char(b: u8) -> char {
    let printable = |b: u8| matches!(b, 0x21..=0x7E | 0xA1..=0xAC | 0xAE..=0xFF);
    if printable(b) {
        return b as char;
    }
    let shifted = (0..=255u8).filter(|&x| !printable(x)).position(|x| x == b);
    char::from_u32(256 + shifted.unwrap_or(0) as u32).unwrap_or('?')
}
