//! Tokenizers on toy vocabularies written as GGUF metadata: errors, special
//! tokens in both modes, SPM merges against a direct transcription of
//! llama.cpp's algorithm, and the streaming detokenizer.

use std::collections::HashMap;

use super::*;
use crate::gguf::GgufFile;

/// A metadata value to write.
pub(crate) enum Meta {
    Str(String),
    U32(u32),
    Bool(bool),
    Strs(Vec<String>),
    F32s(Vec<f32>),
    I32s(Vec<i32>),
}

/// GGUF bytes with these metadata entries and no tensors, read back.
pub(crate) fn metadata(entries: Vec<(&str, Meta)>) -> Metadata {
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
                b.extend(9u32.to_le_bytes());
                b.extend(8u32.to_le_bytes());
                b.extend((items.len() as u64).to_le_bytes());
                for s in &items {
                    string(&mut b, s);
                }
            }
            Meta::F32s(items) => {
                b.extend(9u32.to_le_bytes());
                b.extend(6u32.to_le_bytes());
                b.extend((items.len() as u64).to_le_bytes());
                items.iter().for_each(|v| b.extend(v.to_le_bytes()));
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
    GgufFile::read(&mut b.as_slice())
        .expect("toy GGUF")
        .metadata
}

fn strs(items: &[String]) -> Meta {
    Meta::Strs(items.to_vec())
}

/// GPT-2's byte-to-unicode character for a byte.
fn byte_char(b: u8) -> char {
    let printable = |b: u8| matches!(b, 0x21..=0x7E | 0xA1..=0xAC | 0xAE..=0xFF);
    if printable(b) {
        return b as char;
    }
    let shifted = (0..=255u8)
        .filter(|&x| !printable(x))
        .position(|x| x == b)
        .unwrap();
    char::from_u32(256 + shifted as u32).unwrap()
}

/// A byte-level BPE vocabulary: three specials, the 256 byte characters and
/// a few merges ("Ġt", "he", "Ġthe", "ll", "Ġhe", "llo" ...).
fn toy_bpe(pre: &str) -> Vec<(&'static str, Meta)> {
    let mut tokens: Vec<String> = vec![
        "<|endoftext|>".into(),
        "<|im_start|>".into(),
        "<tool>".into(),
    ];
    let mut types = vec![3, 3, 4];
    tokens.extend((0..=255u8).map(|b| byte_char(b).to_string()));
    types.extend([1; 256]);
    let merges = [
        "Ġ t", "h e", "Ġt he", "l l", "Ġ he", "Ġhe ll", "Ġhell o", "e l", "1 2",
    ];
    for m in merges {
        tokens.push(m.replace(' ', ""));
        types.push(1);
    }
    vec![
        ("tokenizer.ggml.model", Meta::Str("gpt2".into())),
        ("tokenizer.ggml.pre", Meta::Str(pre.into())),
        ("tokenizer.ggml.tokens", strs(&tokens)),
        ("tokenizer.ggml.token_type", Meta::I32s(types)),
        (
            "tokenizer.ggml.merges",
            Meta::Strs(merges.iter().map(|m| m.to_string()).collect()),
        ),
        ("tokenizer.ggml.bos_token_id", Meta::U32(1)),
        ("tokenizer.ggml.eos_token_id", Meta::U32(0)),
    ]
}

fn toy(entries: Vec<(&str, Meta)>) -> Tokenizer {
    Tokenizer::from_gguf(&metadata(entries)).unwrap()
}

fn replace(
    mut entries: Vec<(&'static str, Meta)>,
    key: &'static str,
    value: Meta,
) -> Vec<(&'static str, Meta)> {
    entries.retain(|(k, _)| *k != key);
    entries.push((key, value));
    entries
}

fn texts(t: &Tokenizer, ids: &[u32]) -> Vec<String> {
    ids.iter()
        .map(|&id| t.token_text(id).unwrap().to_string())
        .collect()
}

#[test]
fn bpe_merges_by_rank_and_round_trips() {
    let t = toy(toy_bpe("gpt-2"));
    let ids = t.encode(" the hello", false, false).unwrap();
    assert_eq!(texts(&t, &ids), ["Ġthe", "Ġhello"]);
    for text in [
        "",
        "a",
        " the  hello\n\n world",
        "héllo ☃ 👋🏽 日本",
        "x\u{0}y\u{7f}",
    ] {
        let ids = t.encode(text, false, true).unwrap();
        assert_eq!(t.decode(&ids, true), text, "{ids:?}");
    }
}

#[test]
fn pre_tokenizers_split_digits_as_llama_cpp() {
    // smollm splits every digit; gpt2 keeps a run of digits in one word.
    let smollm = toy(toy_bpe("smollm"));
    assert_eq!(
        texts(&smollm, &smollm.encode("12", false, false).unwrap()),
        ["1", "2"]
    );
    let gpt2 = toy(toy_bpe("gpt-2"));
    assert_eq!(
        texts(&gpt2, &gpt2.encode("12", false, false).unwrap()),
        ["12"]
    );
}

#[test]
fn control_tokens_split_only_when_parsing_specials() {
    let t = toy(toy_bpe("gpt-2"));
    assert_eq!(t.encode("<|im_start|>x", false, true).unwrap()[0], 1);
    let plain = t.encode("<|im_start|>x", false, false).unwrap();
    assert!(!plain.contains(&1) && plain.len() > 2, "{plain:?}");
    // User-defined tokens are split out either way.
    assert_eq!(
        t.encode("a<tool>b", false, false).unwrap(),
        t.encode("a<tool>b", false, true).unwrap()
    );
    assert!(t.encode("a<tool>b", false, false).unwrap().contains(&2));
    // Control tokens render only with specials; user-defined ones always.
    assert_eq!(t.decode(&[1, 2], true), "<tool>");
    assert_eq!(t.decode(&[1, 2], false), "<|im_start|><tool>");
}

#[test]
fn bos_eos_and_end_of_generation() {
    let t = toy(toy_bpe("gpt-2"));
    assert!(!t.add_bos_default());
    assert_eq!(t.encode("a", true, false).unwrap().len(), 1);
    let t = toy(replace(
        toy_bpe("gpt-2"),
        "tokenizer.ggml.add_bos_token",
        Meta::Bool(true),
    ));
    assert_eq!(t.encode("", true, false).unwrap(), [1]);
    assert_eq!(t.encode("a", false, false).unwrap().len(), 1);
    // EOS by id, and "<|endoftext|>" by its text.
    assert!(t.is_end_of_generation(0) && !t.is_end_of_generation(1));
    // llama3-type vocabularies add BOS by default.
    assert!(toy(toy_bpe("llama-bpe")).add_bos_default());
}

#[test]
fn errors_name_the_problem() {
    let err = |entries| Tokenizer::from_gguf(&metadata(entries)).unwrap_err();
    let e = err(replace(
        toy_bpe("gpt-2"),
        "tokenizer.ggml.model",
        Meta::Str("bert".into()),
    ));
    assert!(
        matches!(&e, TokenizerError::UnsupportedModel(m) if m == "bert"),
        "{e}"
    );
    let e = err(toy_bpe("not-a-pre"));
    assert!(
        matches!(&e, TokenizerError::UnsupportedPre(p) if p == "not-a-pre"),
        "{e}"
    );
    assert!(e.to_string().contains("not-a-pre"));
    let e = err(toy_bpe("gpt-2")
        .into_iter()
        .filter(|(k, _)| *k != "tokenizer.ggml.tokens")
        .collect());
    assert!(matches!(e, TokenizerError::MissingVocab), "{e}");
    let e = err(replace(
        toy_bpe("gpt-2"),
        "tokenizer.ggml.merges",
        Meta::Strs(vec!["Ġt".into()]),
    ));
    assert!(
        matches!(e, TokenizerError::BadMerge { index: 0, .. }),
        "{e}"
    );
    let e = err(replace(
        toy_bpe("gpt-2"),
        "tokenizer.ggml.merges",
        Meta::Strs(vec!["q z".into()]),
    ));
    assert!(matches!(e, TokenizerError::BadVocab(_)), "{e}");
    let e = err(toy_bpe("gpt-2")
        .into_iter()
        .filter(|(k, _)| *k != "tokenizer.ggml.merges")
        .collect());
    assert!(matches!(e, TokenizerError::BadVocab(_)), "{e}");
    let mut tokens: Vec<String> = (0..=255u8).map(|b| byte_char(b).to_string()).collect();
    tokens.push("a".into());
    let e = err(replace(
        replace(toy_bpe("gpt-2"), "tokenizer.ggml.tokens", strs(&tokens)),
        "tokenizer.ggml.token_type",
        Meta::I32s(vec![1; 257]),
    ));
    assert!(
        matches!(&e, TokenizerError::BadVocab(m) if m.contains("twice")),
        "{e}"
    );
}

/// A SentencePiece vocabulary over {a, b, c, ▁} with byte tokens.
fn toy_spm(add_space_prefix: bool) -> Vec<(&'static str, Meta)> {
    let mut tokens: Vec<String> =
        vec!["<unk>".into(), "<s>".into(), "</s>".into(), "<tool>".into()];
    let mut types = vec![2, 3, 3, 4];
    let mut scores = vec![0.0, 0.0, 0.0, 0.0];
    tokens.extend((0..=255u8).map(|b| format!("<0x{b:02X}>")));
    types.extend([6; 256]);
    scores.extend([0.0; 256]);
    let pieces = [
        ("▁", -1.0),
        ("a", -2.0),
        ("b", -3.0),
        ("c", -4.0),
        ("ab", -5.0),
        ("bc", -5.5),
        ("▁a", -6.0),
        ("abc", -7.0),
        ("▁ab", -8.0),
        ("aa", -9.0),
        ("aaa", -10.0),
        ("ca", -11.0),
        ("▁▁", -12.0),
        ("é", -13.0),
    ];
    for (piece, score) in pieces {
        tokens.push(piece.into());
        types.push(1);
        scores.push(score);
    }
    vec![
        ("tokenizer.ggml.model", Meta::Str("llama".into())),
        ("tokenizer.ggml.tokens", strs(&tokens)),
        ("tokenizer.ggml.scores", Meta::F32s(scores)),
        ("tokenizer.ggml.token_type", Meta::I32s(types)),
        (
            "tokenizer.ggml.add_space_prefix",
            Meta::Bool(add_space_prefix),
        ),
    ]
}

/// llama.cpp's `llm_tokenizer_spm_session::tokenize`, transcribed directly.
fn reference_spm(t: &Tokenizer, text: &str) -> Vec<u32> {
    let ids: HashMap<&str, u32> = t
        .vocab
        .tokens
        .iter()
        .enumerate()
        .map(|(i, t)| (t.as_str(), i as u32))
        .collect();
    let mut symbols: Vec<String> = text.chars().map(String::from).collect();
    loop {
        let mut best: Option<(f32, usize)> = None;
        for i in 0..symbols.len().saturating_sub(1) {
            if let Some(&id) = ids.get(format!("{}{}", symbols[i], symbols[i + 1]).as_str()) {
                let score = t.vocab.scores[id as usize];
                if best.is_none_or(|(s, _)| score > s) {
                    best = Some((score, i));
                }
            }
        }
        let Some((_, i)) = best else { break };
        let right = symbols.remove(i + 1);
        symbols[i].push_str(&right);
    }
    let mut out = Vec::new();
    for s in symbols {
        match ids.get(s.as_str()) {
            Some(&id) => out.push(id),
            None => out.extend(s.bytes().map(|b| ids[format!("<0x{b:02X}>").as_str()])),
        }
    }
    out
}

#[test]
fn spm_matches_llama_cpp_merge_order() {
    for add_space_prefix in [false, true] {
        let t = toy(toy_spm(add_space_prefix));
        let alphabet = ['a', 'b', 'c', ' ', 'é', 'x', '☃'];
        let mut state = 12345u64;
        for n in 0..400 {
            let len = n % 12;
            let text: String = (0..len)
                .map(|_| {
                    state = state
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    alphabet[(state >> 33) as usize % alphabet.len()]
                })
                .collect();
            let escaped = if add_space_prefix {
                format!(" {text}")
            } else {
                text.clone()
            }
            .replace(' ', "▁");
            let expected = if text.is_empty() {
                vec![]
            } else {
                reference_spm(&t, &escaped)
            };
            assert_eq!(t.encode(&text, false, false).unwrap(), expected, "{text:?}");
            let ids = t.encode(&text, false, false).unwrap();
            assert_eq!(t.decode(&ids, true), text, "{text:?} {ids:?}");
        }
    }
}

#[test]
fn spm_prefixes_each_piece_between_special_tokens() {
    let t = toy(toy_spm(true));
    // llama.cpp prepends a space to every run of text, also after a special token.
    let ids = t.encode("a<s>a", true, true).unwrap();
    assert_eq!(texts(&t, &ids), ["<s>", "▁a", "<s>", "▁a"]);
    let ids = t.encode("a<tool>a", false, false).unwrap();
    assert_eq!(texts(&t, &ids), ["▁a", "<tool>", "▁a"]);
    // BOS by default; the first token loses its leading space when decoded.
    assert!(t.add_bos_default());
    assert_eq!(
        t.decode(&t.encode("a b", false, false).unwrap(), true),
        "a b"
    );
    assert_eq!(
        t.decode(&t.encode("a b", true, false).unwrap(), true),
        " a b"
    );
    assert_eq!(
        t.decode(&t.encode("a b", true, false).unwrap(), false),
        "<s> a b"
    );
    // Unknown tokens render only with specials.
    assert_eq!(t.decode(&[0], true), "");
    assert_eq!(t.decode(&[0], false), "<unk>");
}

#[test]
fn invalid_ids_render_as_nothing() {
    let t = toy(toy_spm(false));
    assert_eq!(t.vocab_size(), 274);
    assert_eq!(t.decode(&[u32::MAX, 274, 1000], true), "");
    assert_eq!(t.token_text(u32::MAX), None);
    let mut stream = StreamDecoder::new(&t);
    assert_eq!(stream.push(u32::MAX), "");
    assert_eq!(stream.finish(), "");
}

/// Every split of `ids` streamed gives the full decode, never half a character.
fn check_stream(t: &Tokenizer, ids: &[u32], skip_special: bool) {
    let mut stream = StreamDecoder::with_skip_special(t, skip_special);
    let mut text = String::new();
    for &id in ids {
        let piece = stream.push(id);
        assert!(!piece.contains('\u{FFFD}') || t.decode(ids, skip_special).contains('\u{FFFD}'));
        text += &piece;
    }
    text += &stream.finish();
    assert_eq!(text, t.decode(ids, skip_special), "{ids:?}");
}

#[test]
fn stream_holds_back_split_characters() {
    let t = toy(toy_spm(false));
    let ids = t.encode("a😀b日本", false, false).unwrap();
    // 😀 and 日本 have no pieces: they arrive as UTF-8 bytes, one token each.
    assert_eq!(ids.len(), 2 + 4 + 6);
    let mut stream = StreamDecoder::new(&t);
    let pieces: Vec<String> = ids.iter().map(|&id| stream.push(id)).collect();
    assert_eq!(pieces[..6], ["a", "", "", "", "😀", "b"]);
    assert_eq!(pieces[6..], ["", "", "日", "", "", "本"]);
    assert_eq!(stream.finish(), "");
    check_stream(&t, &ids, true);

    // Cut after three of 😀's four bytes: U+FFFD from `finish` (as llama.cpp's
    // lossy decode), nothing from `finish_cut` (a budget's cut).
    for cut in [false, true] {
        let mut stream = StreamDecoder::new(&t);
        let mut text: String = ids[..4].iter().map(|&id| stream.push(id)).collect();
        text += &if cut {
            stream.finish_cut()
        } else {
            stream.finish()
        };
        assert_eq!(text, if cut { "a" } else { "a\u{FFFD}" });
    }

    // Byte-level BPE: the same character split over pieces.
    let t = toy(toy_bpe("gpt-2"));
    let ids = t.encode("👋🏽 héllo 日本語", false, false).unwrap();
    check_stream(&t, &ids, true);
    check_stream(&t, &[1, 0, 2], false);
    check_stream(&t, &[1, 0, 2], true);
}

#[test]
fn stream_replaces_invalid_bytes_like_decode() {
    let t = toy(toy_spm(false));
    let byte = |b: u8| 4 + b as u32;
    // A lone continuation byte, a truncated sequence, an overlong form, a truncated tail.
    let ids = [
        byte(0x80),
        byte(b'a'),
        byte(0xE6),
        byte(0x97),
        byte(b'b'),
        byte(0xC0),
        byte(0xAF),
        byte(0xF0),
        byte(0x9F),
    ];
    check_stream(&t, &ids, true);
    assert_eq!(
        t.decode(&ids, true),
        "\u{FFFD}a\u{FFFD}b\u{FFFD}\u{FFFD}\u{FFFD}"
    );
}

#[test]
fn stream_cleans_spaces_like_decode() {
    // gpt-2 type vocabularies clean up spaces (" ," -> ",", " 's" -> "'s").
    let t = toy(toy_bpe("gpt-2"));
    assert!(t.vocab.clean_spaces);
    let text = "a , b ' c 's d 're e 'll f . g ! h ?  ' ' x";
    let ids = t.encode(text, false, false).unwrap();
    assert_eq!(t.decode(&ids, true), "a, b'c's d're e 'll f. g! h? '' x");
    check_stream(&t, &ids, true);
    // One byte per token, so every cut position is tried.
    let ids: Vec<u32> = text
        .bytes()
        .map(|b| t.encode(&(b as char).to_string(), false, false).unwrap()[0])
        .collect();
    check_stream(&t, &ids, true);
}

#[test]
fn tokenizer_and_template_can_be_shared_across_threads() {
    fn shared<T: Send + Sync>() {}
    shared::<Tokenizer>();
    shared::<crate::chat::ChatTemplate>();
}

#[test]
fn prompts_take_control_tokens_from_markup_only() {
    for t in [toy(toy_bpe("gpt-2")), toy(toy_spm(true))] {
        let control = t.token_text(1).unwrap().to_string();
        let markup = |s: &str| PromptPiece::Markup(s.to_string());
        let text = |s: &str| PromptPiece::Text(s.to_string());
        // Without control-token text, the pieces tokenize as the joined text.
        let pieces = [markup(&format!("{control}a ")), text("b a"), markup(" a")];
        assert_eq!(
            t.encode_prompt(&pieces, true).unwrap(),
            t.encode(&prompt_text(&pieces), true, true).unwrap()
        );
        // In text, the control token's text is text; in markup, the token.
        let hostile = format!("a{control}a");
        let ids = t
            .encode_prompt(&[markup(&control), text(&hostile)], false)
            .unwrap();
        let mut expected = vec![1];
        expected.extend(t.encode(&hostile, false, false).unwrap());
        assert_eq!(ids, expected);
        assert_eq!(ids.iter().filter(|&&id| id == 1).count(), 1, "{ids:?}");
    }
}
