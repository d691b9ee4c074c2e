//! Pre-tokenization of byte-level BPE vocabularies, per `tokenizer.ggml.pre`.
//!
//! llama.cpp (`llm_tokenizer_bpe` in `llama-vocab.cpp`) splits text with a
//! list of regexes applied one after the other, each to the pieces the
//! previous one left, keeping both the matches and the text between them.
//! That is a `Sequence` of `Split(regex, Isolated)` pre-tokenizers, followed
//! by the byte-to-unicode mapping of GPT-2 (`ByteLevel` without its own regex).
//! The regexes are llama.cpp's; where it runs a hand-written matcher instead
//! (GPT-2, Llama 3), the regex here is the one that matcher implements,
//! including the trailing `\s+` it falls back to.

use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::SplitDelimiterBehavior;

use super::TokenizerError;

const GPT2: &str = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";
const LLAMA3: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const QWEN2: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

const DEFAULT_SET: &[&str] = &[r"[\p{P}\$\+<=>\^~\|]+", GPT2, r"\p{N}+", r"[0-9][0-9][0-9]"];
const GPT2_SET: &[&str] = &[GPT2];
const SMOLLM_SET: &[&str] = &[r"\p{N}", GPT2];
const LLAMA3_SET: &[&str] = &[LLAMA3];
const QWEN2_SET: &[&str] = &[QWEN2];

/// What a `tokenizer.ggml.pre` value means for tokenization.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PreSpec {
    pub name: String,
    pub regexes: &'static [&'static str],
    /// `clean_up_tokenization_spaces` on detokenization.
    pub clean_spaces: bool,
    /// A word that is itself a token is not merged (Llama 3).
    pub ignore_merges: bool,
    /// The default for `add_bos_token`.
    pub add_bos: bool,
    /// The type has no default BOS id.
    pub no_bos: bool,
}

impl PreSpec {
    /// The pre-tokenizers llama.cpp knows and we reproduce; anything else is an error.
    pub fn lookup(name: &str) -> Result<PreSpec, TokenizerError> {
        let spec = |regexes, clean_spaces| PreSpec {
            name: name.to_string(),
            regexes,
            clean_spaces,
            ignore_merges: false,
            add_bos: false,
            no_bos: false,
        };
        Ok(match name {
            "default" => spec(DEFAULT_SET, true),
            "llama3" | "llama-v3" | "llama-bpe" | "falcon3" | "falcon-h1" | "pixtral" | "midm-2.0" | "lfm2"
            | "jina-v5-nano" => PreSpec { ignore_merges: true, add_bos: true, ..spec(LLAMA3_SET, true) },
            "dbrx" | "smaug-bpe" => spec(LLAMA3_SET, true),
            "glm4" | "chatglm-bpe" => PreSpec { no_bos: true, ..spec(LLAMA3_SET, true) },
            "gpt-2" | "phi-2" | "jina-es" | "jina-de" | "gigachat" | "jina-v2-es" | "jina-v2-de" | "a.x-4.0"
            | "mellum" | "modern-bert" | "exaone4" | "mpt" | "olmo" | "jais" => spec(GPT2_SET, true),
            "trillion" | "granite-docling" => spec(GPT2_SET, false),
            "starcoder" | "refact" | "codeshell" | "exaone" | "minerva-7b" | "mellum2" => spec(SMOLLM_SET, true),
            "smollm" | "command-r" => spec(SMOLLM_SET, false),
            "qwen2" | "deepseek-r1-qwen" | "kormo" | "f2llmv2" | "hunyuan" | "solar-open" => spec(QWEN2_SET, false),
            "megrez" | "stablelm2" => spec(QWEN2_SET, true),
            other => return Err(TokenizerError::UnsupportedPre(other.to_string())),
        })
    }

    /// The regex splits, then the GPT-2 byte-to-unicode mapping.
    pub fn pre_tokenizer(&self) -> Result<PreTokenizerWrapper, TokenizerError> {
        let mut steps = Vec::with_capacity(self.regexes.len() + 1);
        for regex in self.regexes {
            let split = Split::new(SplitPattern::Regex(regex.to_string()), SplitDelimiterBehavior::Isolated, false)
                .map_err(|e| TokenizerError::Build(format!("pre-tokenizer regex {regex:?}: {e}")))?;
            steps.push(PreTokenizerWrapper::Split(split));
        }
        steps.push(PreTokenizerWrapper::ByteLevel(ByteLevel::new(false, false, false)));
        Ok(PreTokenizerWrapper::Sequence(Sequence::new(steps)))
    }
}
