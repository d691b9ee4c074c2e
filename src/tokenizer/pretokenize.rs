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
//!
//! llama.cpp's character classes come from Unicode 15.1 tables, Rust's
//! `\p{..}` from a newer Unicode; letters, digits and punctuation assigned
//! since would split differently, so the classes are cut to Unicode 15.1.
//!
//! Compiling those regexes was nearly all the cost of building a tokenizer
//! (100 ms of a 256-token vocabulary's build in the unoptimised test build,
//! 0.1 ms without them), and they depend only on the regex set, so each set
//! is compiled once per process and shared ([`SharedPre`]); `tokenizers`
//! recompiles a `Split` it clones.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{PreTokenizedString, PreTokenizer, SplitDelimiterBehavior};

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
            "llama3" | "llama-v3" | "llama-bpe" | "falcon3" | "falcon-h1" | "pixtral"
            | "midm-2.0" | "lfm2" | "jina-v5-nano" => PreSpec {
                ignore_merges: true,
                add_bos: true,
                ..spec(LLAMA3_SET, true)
            },
            "dbrx" | "smaug-bpe" => spec(LLAMA3_SET, true),
            "glm4" | "chatglm-bpe" => PreSpec {
                no_bos: true,
                ..spec(LLAMA3_SET, true)
            },
            "gpt-2" | "phi-2" | "jina-es" | "jina-de" | "gigachat" | "jina-v2-es"
            | "jina-v2-de" | "a.x-4.0" | "mellum" | "modern-bert" | "exaone4" | "mpt" | "olmo"
            | "jais" => spec(GPT2_SET, true),
            "trillion" | "granite-docling" => spec(GPT2_SET, false),
            "starcoder" | "refact" | "codeshell" | "exaone" | "minerva-7b" | "mellum2" => {
                spec(SMOLLM_SET, true)
            }
            "smollm" | "command-r" => spec(SMOLLM_SET, false),
            "qwen2" | "deepseek-r1-qwen" | "kormo" | "f2llmv2" | "hunyuan" | "solar-open" => {
                spec(QWEN2_SET, false)
            }
            "megrez" | "stablelm2" => spec(QWEN2_SET, true),
            other => return Err(TokenizerError::UnsupportedPre(other.to_string())),
        })
    }

    /// The regex splits, then the GPT-2 byte-to-unicode mapping: compiled
    /// the first time this regex set is asked for, shared after.
    pub fn pre_tokenizer(&self) -> Result<SharedPre, TokenizerError> {
        static COMPILED: OnceLock<Mutex<HashMap<&'static [&'static str], SharedPre>>> =
            OnceLock::new();
        let mut compiled = COMPILED
            .get_or_init(Mutex::default)
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(shared) = compiled.get(self.regexes) {
            return Ok(shared.clone());
        }
        let shared = SharedPre(Arc::new(self.compile()?));
        compiled.insert(self.regexes, shared.clone());
        Ok(shared)
    }

    fn compile(&self) -> Result<PreTokenizerWrapper, TokenizerError> {
        let mut steps = Vec::with_capacity(self.regexes.len() + 1);
        for regex in self.regexes {
            let split = Split::new(
                SplitPattern::Regex(with_llama_cpp_unicode(regex)),
                SplitDelimiterBehavior::Isolated,
                false,
            )
            .map_err(|e| TokenizerError::Build(format!("pre-tokenizer regex {regex:?}: {e}")))?;
            steps.push(PreTokenizerWrapper::Split(split));
        }
        steps.push(PreTokenizerWrapper::ByteLevel(ByteLevel::new(
            false, false, false,
        )));
        Ok(PreTokenizerWrapper::Sequence(Sequence::new(steps)))
    }
}

/// A compiled pre-tokenizer shared by every tokenizer of its regex set.
#[derive(Clone)]
pub(crate) struct SharedPre(Arc<PreTokenizerWrapper>);

impl PreTokenizer for SharedPre {
    fn pre_tokenize(&self, pretokenized: &mut PreTokenizedString) -> tokenizers::Result<()> {
        self.0.pre_tokenize(pretokenized)
    }
}

/// The Unicode version of llama.cpp's category tables (`unicode-data.cpp`).
const LLAMA_CPP_UNICODE: &str = "15.1";

/// `\p{L}`, `\p{N}` and `\p{P}` restricted to what llama.cpp's tables know.
fn with_llama_cpp_unicode(regex: &str) -> String {
    let mut out = regex.to_string();
    for class in [r"\p{L}", r"\p{N}", r"\p{P}"] {
        out = out.replace(class, &format!("[{class}&&\\p{{Age={LLAMA_CPP_UNICODE}}}]"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_are_cut_to_llama_cpp_s_unicode() {
        assert_eq!(
            with_llama_cpp_unicode(r"[^\r\n\p{L}\p{N}]?\p{L}+"),
            r"[^\r\n[\p{L}&&\p{Age=15.1}][\p{N}&&\p{Age=15.1}]]?[\p{L}&&\p{Age=15.1}]+"
        );
    }

    #[test]
    fn letters_new_in_unicode_16_are_not_letters() {
        let spec = PreSpec::lookup("gpt-2").unwrap();
        let pre = spec.pre_tokenizer().unwrap();
        let split = |text: &str| {
            use tokenizers::{OffsetReferential, OffsetType};
            let mut p = PreTokenizedString::from(text);
            pre.pre_tokenize(&mut p).unwrap();
            p.get_splits(OffsetReferential::Original, OffsetType::Byte)
                .len()
        };
        // U+1C89 CYRILLIC CAPITAL LETTER TJE (Unicode 16) splits "aᲉb" like punctuation;
        // U+2EBF0 (CJK Extension I, Unicode 15.1) is a letter.
        assert_eq!(split("a\u{1C89}b"), 3);
        assert_eq!(split("a\u{2EBF0}b"), 1);
        assert_eq!(split("ab 12"), 2);
    }
}
