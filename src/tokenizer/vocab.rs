//! The vocabulary as llama.cpp loads it from GGUF metadata
//! (`llama_vocab::impl::load` in `llama-vocab.cpp`): token texts, scores and
//! attributes, the special ids, the flags that depend on the vocabulary type
//! and pre-tokenizer, and the end-of-generation set.

use std::collections::BTreeSet;

use tokenizers::models::bpe::Vocab as TokenIds;

use super::TokenizerError;
use super::pretokenize::PreSpec;
use crate::gguf::Metadata;

/// Token attributes, as llama.cpp's `llama_token_attr` bits.
pub(crate) mod attr {
    pub const UNKNOWN: u8 = 1 << 0;
    pub const UNUSED: u8 = 1 << 1;
    pub const NORMAL: u8 = 1 << 2;
    pub const CONTROL: u8 = 1 << 3;
    pub const USER_DEFINED: u8 = 1 << 4;
    pub const BYTE: u8 = 1 << 5;
}

/// `tokenizer.ggml.token_type` values (llama.cpp's `llama_token_type`).
fn attr_from_type(token_type: i64) -> u8 {
    match token_type {
        1 => attr::NORMAL,
        2 => attr::UNKNOWN,
        3 => attr::CONTROL,
        4 => attr::USER_DEFINED,
        5 => attr::UNUSED,
        6 => attr::BYTE,
        _ => 0, // undefined: never rendered, never split out
    }
}

/// The two vocabulary types we support.
#[derive(Debug, Clone)]
pub(crate) enum Kind {
    /// `tokenizer.ggml.model = "gpt2"`: byte-level BPE with a pre-tokenizer.
    Bpe(PreSpec),
    /// `tokenizer.ggml.model = "llama"`: SentencePiece-style, merges by score.
    Spm,
}

#[derive(Debug, Clone)]
pub(crate) struct Vocab {
    pub kind: Kind,
    pub tokens: Vec<String>,
    /// Text to id; handed to the model builder, which keeps it.
    pub ids: TokenIds,
    pub scores: Vec<f32>,
    pub attrs: Vec<u8>,
    pub bos: Option<u32>,
    pub eos: Option<u32>,
    pub add_bos: bool,
    pub add_eos: bool,
    pub add_space_prefix: bool,
    pub clean_spaces: bool,
    /// Sorted ids that end generation.
    pub eog: Vec<u32>,
}

/// The longest token text a vocabulary may hold. Real ones are short: the
/// longest of Qwen2.5's 151,936 is 256 bytes, SmolLM2's 162, Gemma 3's 48.
/// A hostile file's megabyte tokens would cost the square of their length
/// where a SentencePiece vocabulary's merges are derived, and each time the
/// model emits one, megabytes of text (fuzzing found gigabytes from a
/// 382-byte input's decoded ids).
pub(crate) const MAX_TOKEN_BYTES: usize = 1024;

/// Texts llama.cpp recognises as end-of-generation tokens (`special_eog_ids`).
const EOG_TEXTS: &[&str] = &[
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<|return|>",
    "<|call|>",
    "<|flush|>",
    "<|calls|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "</s>",
    "<|eom_id|>",
    "<EOT>",
    "_<EOT>",
    "[EOT]",
    "[EOS]",
    "<|end_of_text|>",
    "<end_of_utterance>",
    "<eos>",
    "<turn|>",
    "<|tool_response>",
    "<｜end▁of▁sentence｜>",
    "[e~[",
];

/// Fill-in-the-middle roles, found by metadata key or else by text.
/// `(keys, texts, ends generation)`.
const FIM: &[(&[&str], &[&str], bool)] = &[
    (
        &[
            "tokenizer.ggml.fim_pre_token_id",
            "tokenizer.ggml.prefix_token_id",
        ],
        &[
            "<|fim_prefix|>",
            "<fim-prefix>",
            "<fim_prefix>",
            "<｜fim▁begin｜>",
            "<PRE>",
            "▁<PRE>",
            "<|code_prefix|>",
            "<|prefix|>",
        ],
        false,
    ),
    (
        &[
            "tokenizer.ggml.fim_suf_token_id",
            "tokenizer.ggml.suffix_token_id",
        ],
        &[
            "<|fim_suffix|>",
            "<fim-suffix>",
            "<fim_suffix>",
            "<｜fim▁hole｜>",
            "<SUF>",
            "▁<SUF>",
            "<|code_suffix|>",
            "<|suffix|>",
        ],
        false,
    ),
    (
        &[
            "tokenizer.ggml.fim_mid_token_id",
            "tokenizer.ggml.middle_token_id",
        ],
        &[
            "<|fim_middle|>",
            "<fim-middle>",
            "<fim_middle>",
            "<｜fim▁end｜>",
            "<MID>",
            "▁<MID>",
            "<|code_middle|>",
            "<|middle|>",
        ],
        false,
    ),
    (
        &["tokenizer.ggml.fim_pad_token_id"],
        &["<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"],
        true,
    ),
    (
        &["tokenizer.ggml.fim_rep_token_id"],
        &[
            "<|fim_repo|>",
            "<|repo_name|>",
            "<fim-repo>",
            "<REPO>",
            "<reponame>",
        ],
        true,
    ),
    (
        &["tokenizer.ggml.fim_sep_token_id"],
        &["<|file_sep|>"],
        true,
    ),
];

/// Tokens llama.cpp always renders and splits out, whatever their type (gpt-oss).
const FORCED_USER_DEFINED: &[&str] = &["<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"];

impl Vocab {
    pub fn from_gguf(md: &Metadata) -> Result<Vocab, TokenizerError> {
        let model = md.str("tokenizer.ggml.model")?;
        let pre = md.opt_str("tokenizer.ggml.pre")?;
        // Per-type defaults, as llama.cpp sets them before reading the keys.
        let (kind, mut bos, mut eos, mut add_bos, mut add_space_prefix, clean_spaces) = match model
        {
            "gpt2" => {
                let spec = PreSpec::lookup(pre.unwrap_or("default"))?;
                let bos = if spec.no_bos { None } else { Some(11) };
                let (add_bos, clean) = (spec.add_bos, spec.clean_spaces);
                (Kind::Bpe(spec), bos, Some(11), add_bos, false, clean)
            }
            "llama" => (Kind::Spm, Some(1), Some(2), true, true, false),
            other => return Err(TokenizerError::UnsupportedModel(other.to_string())),
        };
        let mut add_eos = false;
        if let Some(v) = md.opt_bool("tokenizer.ggml.add_space_prefix")? {
            add_space_prefix = v;
        }

        let texts = match md.get("tokenizer.ggml.tokens") {
            None => return Err(TokenizerError::MissingVocab),
            Some(_) => md.string_array("tokenizer.ggml.tokens")?,
        };
        let n = texts.len();
        if n == 0 || n > u32::MAX as usize {
            return Err(TokenizerError::BadVocab(format!("{n} tokens")));
        }
        let scores = match md.get("tokenizer.ggml.scores") {
            Some(_) => md.f32_array("tokenizer.ggml.scores")?,
            None => vec![0.0; n],
        };
        let types = match md.get("tokenizer.ggml.token_type") {
            Some(_) => md.i64_array("tokenizer.ggml.token_type")?,
            None => vec![1; n],
        };
        if scores.len() < n || types.len() < n {
            return Err(TokenizerError::BadVocab(format!(
                "{n} tokens but {} scores and {} token types",
                scores.len(),
                types.len()
            )));
        }

        let mut tokens = Vec::with_capacity(n);
        let mut ids = TokenIds::with_capacity(n);
        for (i, text) in texts.iter().enumerate() {
            if text.len() > MAX_TOKEN_BYTES {
                return Err(TokenizerError::BadVocab(format!(
                    "token {i} is {} bytes long; at most {MAX_TOKEN_BYTES} are accepted",
                    text.len()
                )));
            }
            // llama.cpp renames empty tokens so that they stay unique.
            let text = if text.is_empty() {
                format!("[EMPTY_{i}]")
            } else {
                text.to_string()
            };
            if let Some(first) = ids.insert(text.clone(), i as u32) {
                return Err(TokenizerError::BadVocab(format!(
                    "token {text:?} appears twice (ids {first} and {i})"
                )));
            }
            tokens.push(text);
        }
        let mut attrs: Vec<u8> = types[..n].iter().map(|&t| attr_from_type(t)).collect();
        let in_range = |id: Option<u32>| id.filter(|&id| (id as usize) < n);
        let special_id = |key: &str, default: Option<u32>| -> Result<Option<u32>, TokenizerError> {
            Ok(match md.opt_u64(key)? {
                Some(id) if id < n as u64 => Some(id as u32),
                _ => in_range(default), // absent or out of range: llama.cpp keeps the default
            })
        };
        bos = special_id("tokenizer.ggml.bos_token_id", bos)?;
        eos = special_id("tokenizer.ggml.eos_token_id", eos)?;
        let eot = special_id("tokenizer.ggml.eot_token_id", None)?;
        let eom = special_id("tokenizer.ggml.eom_token_id", None)?;
        if let Some(v) = md.opt_bool("tokenizer.ggml.add_bos_token")? {
            add_bos = v;
        }
        if let Some(v) = md.opt_bool("tokenizer.ggml.add_eos_token")? {
            add_eos = v;
        }
        if add_bos && bos.is_none() {
            return Err(TokenizerError::BadVocab(
                "add_bos_token is true, but there is no BOS token".into(),
            ));
        }
        if add_eos && eos.is_none() {
            return Err(TokenizerError::BadVocab(
                "add_eos_token is true, but there is no EOS token".into(),
            ));
        }

        let id_of = |text: &str| ids.get(text).copied();
        let mut eog = BTreeSet::new();
        // FIM tokens: from metadata, else the first token with a known text,
        // which llama.cpp then treats as a control token.
        for (keys, fim_texts, ends) in FIM {
            let mut id = None;
            for key in *keys {
                if let Some(found) = special_id(key, None)? {
                    id = Some(found);
                }
            }
            if id.is_none() {
                id = fim_texts.iter().find_map(|t| id_of(t));
                if let Some(found) = id {
                    attrs[found as usize] |= attr::CONTROL;
                }
            }
            if let (Some(id), true) = (id, *ends) {
                eog.insert(id);
            }
        }
        // The EOT and EOM texts llama.cpp looks for are all in this list.
        for id in EOG_TEXTS.iter().filter_map(|t| id_of(t)) {
            eog.insert(id);
            attrs[id as usize] |= attr::CONTROL;
        }
        for id in FORCED_USER_DEFINED.iter().filter_map(|t| id_of(t)) {
            attrs[id as usize] = attr::USER_DEFINED;
        }
        eog.extend([eos, eot, eom].into_iter().flatten());
        // gpt-oss / solar-open: "<|end|>" separates messages there, it does not end generation.
        let has =
            |eog: &BTreeSet<u32>, text: &str| eog.iter().any(|&id| tokens[id as usize] == text);
        if (has(&eog, "<|return|>") && has(&eog, "<|call|>")
            || has(&eog, "<|calls|>") && has(&eog, "<|flush|>"))
            && let Some(end) = eog
                .iter()
                .copied()
                .find(|&id| tokens[id as usize] == "<|end|>")
        {
            eog.remove(&end);
            attrs[end as usize] = attr::USER_DEFINED;
        }
        if has(&eog, "<|tool_response>")
            && let Some(s) = eog
                .iter()
                .copied()
                .find(|&id| tokens[id as usize] == "</s>")
        {
            eog.remove(&s);
            attrs[s as usize] = attr::NORMAL;
        }

        Ok(Vocab {
            kind,
            tokens,
            ids,
            scores: scores[..n].to_vec(),
            attrs,
            bos,
            eos,
            add_bos,
            add_eos,
            add_space_prefix,
            clean_spaces,
            eog: eog.into_iter().collect(),
        })
    }

    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    pub fn has_attr(&self, id: u32, bits: u8) -> bool {
        self.attrs.get(id as usize).is_some_and(|a| a & bits != 0)
    }
}
