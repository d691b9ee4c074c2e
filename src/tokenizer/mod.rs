//! Tokenizers built from GGUF metadata with the `tokenizers` crate, giving
//! the same ids and text as llama.cpp.
//!
//! - `vocab`: tokens, types, special ids and flags, read as llama.cpp does.
//! - `bpe` and `pretokenize`: byte-level BPE (`gpt2` vocabularies).
//! - `spm`: SentencePiece-style vocabularies (`llama`, e.g. Gemma).
//! - `decode` and `stream`: ids back to text, whole or one at a time.
//! - `prompt`: prompts whose untrusted text never becomes a control token.
//!
//! Control tokens are split out of the text only when `parse_special` is
//! set; user-defined tokens always are, as llama.cpp does.

mod bpe;
mod decode;
mod pretokenize;
mod prompt;
mod spm;
mod stream;
mod vocab;

use std::sync::{Mutex, PoisonError};

use tokenizers::decoders::DecoderWrapper;
use tokenizers::models::ModelWrapper;
use tokenizers::normalizers::NormalizerWrapper;
use tokenizers::processors::PostProcessorWrapper;
use tokenizers::{AddedToken, TokenizerImpl};

use crate::gguf::{GgufError, Metadata};
use prompt::{ControlMatcher, Run};
pub use prompt::{PromptPiece, prompt_text};
pub use stream::StreamDecoder;
use vocab::{Kind, Vocab, attr};

#[derive(Debug, thiserror::Error)]
pub enum TokenizerError {
    #[error("tokenizer metadata: {0}")]
    Metadata(#[from] GgufError),
    #[error(
        "tokenizer model `{0}` is not supported (only \"gpt2\" byte-level BPE and \"llama\" SentencePiece are)"
    )]
    UnsupportedModel(String),
    #[error("pre-tokenizer `{0}` is not supported")]
    UnsupportedPre(String),
    #[error("the file has no vocabulary (`tokenizer.ggml.tokens`)")]
    MissingVocab,
    #[error("malformed vocabulary: {0}")]
    BadVocab(String),
    #[error("malformed merge {index} ({merge:?}): {reason}")]
    BadMerge {
        index: usize,
        merge: String,
        reason: String,
    },
    #[error("building the tokenizer failed: {0}")]
    Build(String),
    #[error("tokenizing failed: {0}")]
    Encode(String),
}

/// `tokenizers::Tokenizer` with its pre-tokenizer shared between tokenizers
/// (see `pretokenize`).
pub(crate) type HfTokenizer = TokenizerImpl<
    ModelWrapper,
    NormalizerWrapper,
    pretokenize::SharedPre,
    PostProcessorWrapper,
    DecoderWrapper,
>;

pub struct Tokenizer {
    vocab: Vocab,
    /// Locked per call to switch whether control tokens are split out.
    hf: Mutex<HfTokenizer>,
    /// Control tokens, for splitting them out of a template's markup only.
    control: ControlMatcher,
}

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokenizer")
            .field("kind", &self.vocab.kind)
            .field("vocab_size", &self.vocab.len())
            .field("bos", &self.vocab.bos)
            .field("eos", &self.vocab.eos)
            .finish_non_exhaustive()
    }
}

impl Tokenizer {
    pub fn from_gguf(metadata: &Metadata) -> Result<Tokenizer, TokenizerError> {
        // Only batch calls would use threads, and wasm32 has none.
        tokenizers::utils::parallelism::set_parallelism(false);
        let mut vocab = Vocab::from_gguf(metadata)?;
        check_special_tokens(&vocab)?;
        let ids = std::mem::take(&mut vocab.ids);
        let mut hf = match &vocab.kind {
            Kind::Bpe(spec) => bpe::build(ids, spec, bpe::read_merges(metadata)?)?,
            Kind::Spm => spm::build(&vocab, ids)?,
        };
        add_special_tokens(&mut hf, &vocab)?;
        let control: Vec<(String, u32)> = (0..vocab.len() as u32)
            .filter(|&id| vocab.has_attr(id, attr::CONTROL | attr::UNKNOWN))
            .map(|id| (vocab.tokens[id as usize].clone(), id))
            .collect();
        Ok(Tokenizer {
            control: ControlMatcher::new(&control)?,
            vocab,
            hf: Mutex::new(hf),
        })
    }

    /// `add_bos` adds what the model asks for (`add_bos_token`, `add_eos_token`);
    /// `parse_special` lets control-token text like `<|im_start|>` become that token.
    pub fn encode(
        &self,
        text: &str,
        add_bos: bool,
        parse_special: bool,
    ) -> Result<Vec<u32>, TokenizerError> {
        let mut ids = Vec::new();
        if add_bos && self.vocab.add_bos {
            ids.extend(self.vocab.bos);
        }
        if !text.is_empty() {
            let mut hf = self.hf.lock().unwrap_or_else(PoisonError::into_inner);
            hf.set_encode_special_tokens(!parse_special);
            let encoding = hf
                .encode_fast(text, false)
                .map_err(|e| TokenizerError::Encode(e.to_string()))?;
            ids.extend_from_slice(encoding.get_ids());
        }
        if add_bos && self.vocab.add_eos {
            ids.extend(self.vocab.eos);
        }
        Ok(ids)
    }

    /// A rendered prompt: control tokens come from its markup only, never
    /// from its text (see `prompt`). BOS and EOS as `encode` adds them.
    pub fn encode_prompt(
        &self,
        pieces: &[PromptPiece],
        add_bos: bool,
    ) -> Result<Vec<u32>, TokenizerError> {
        let mut ids = Vec::new();
        if add_bos && self.vocab.add_bos {
            ids.extend(self.vocab.bos);
        }
        for run in self.control.runs(pieces) {
            match run {
                Run::Control(id) => ids.push(id),
                Run::Text(text) => ids.extend(self.encode(&text, false, false)?),
            }
        }
        if add_bos && self.vocab.add_eos {
            ids.extend(self.vocab.eos);
        }
        Ok(ids)
    }

    /// The text of `ids`, as llama.cpp's detokenizer gives it; `skip_special`
    /// renders control tokens as nothing. Ids outside the vocabulary render
    /// as nothing; invalid UTF-8 becomes U+FFFD.
    pub fn decode(&self, ids: &[u32], skip_special: bool) -> String {
        let mut bytes = decode::raw_bytes(&self.vocab, ids, !skip_special);
        if self.vocab.clean_spaces {
            bytes = decode::clean_spaces(&bytes);
        }
        String::from_utf8_lossy(&bytes).into_owned()
    }

    pub fn bos(&self) -> Option<u32> {
        self.vocab.bos
    }

    pub fn eos(&self) -> Option<u32> {
        self.vocab.eos
    }

    /// Whether `encode(text, true, _)` starts with BOS.
    pub fn add_bos_default(&self) -> bool {
        self.vocab.add_bos
    }

    /// llama.cpp's end-of-generation set: EOS, EOT, EOM and turn-ending control tokens.
    pub fn is_end_of_generation(&self, id: u32) -> bool {
        self.vocab.eog.binary_search(&id).is_ok()
    }

    pub fn end_of_generation_ids(&self) -> &[u32] {
        &self.vocab.eog
    }

    pub fn vocab_size(&self) -> usize {
        self.vocab.len()
    }

    /// The token as stored in the vocabulary (byte-level or "▁" escaped).
    pub fn token_text(&self, id: u32) -> Option<&str> {
        self.vocab.tokens.get(id as usize).map(String::as_str)
    }

    /// The id of a token with exactly this text, if any.
    pub fn token_id(&self, text: &str) -> Option<u32> {
        self.hf
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .token_to_id(text)
    }

    pub fn is_control(&self, id: u32) -> bool {
        self.vocab.has_attr(id, attr::CONTROL)
    }
}

/// The longest control, unknown or user-defined token, and their total
/// length. They are found in the text by an Aho-Corasick automaton that
/// Hugging Face's tokenizers builds over all of them, in time and memory
/// that grow with their length: found by fuzzing, a 4 MB file of 4,000
/// control tokens of 1,000 bytes took 12.5 s and 376 MB to load (8 MB:
/// 15.5 s, 744 MB; three times as long in WASM, where 4 GB is all there
/// is). Real vocabularies stay far below: Gemma 3 has the most, 6,414
/// tokens, 75,784 bytes in all, the longest 31 bytes; Qwen2.5 22 tokens,
/// 294 bytes. At these limits the worst case measured loads in about a
/// second.
const MAX_ADDED_TOKEN_BYTES: usize = 256;
const MAX_ADDED_BYTES: usize = 256 << 10;

/// The BPE models' word-cache capacity: none. tokenizers 0.23 keeps that
/// cache in a thread-local map keyed by a per-model id and never removes
/// the entries of a model that is dropped (`clear_cache` only changes the
/// id), so every tokenizer built and dropped (an import's check, a model
/// switch) left up to 10,000 words behind for good; in WASM memory never
/// shrinks. Found by fuzzing: `tokenizer_from_gguf` grew by about 1 KB an
/// input, to 2 GB after 2 M inputs. Test: `tests/tokenizer_memory.rs`.
const NO_WORD_CACHE: usize = 0;

/// Refuses control, unknown and user-defined tokens beyond the limits
/// above, before anything is built from them.
fn check_special_tokens(vocab: &Vocab) -> Result<(), TokenizerError> {
    let mut total = 0usize;
    for (id, (text, &a)) in vocab.tokens.iter().zip(&vocab.attrs).enumerate() {
        if a & (attr::CONTROL | attr::UNKNOWN | attr::USER_DEFINED) == 0 {
            continue;
        }
        if text.len() > MAX_ADDED_TOKEN_BYTES {
            return Err(TokenizerError::BadVocab(format!(
                "special token {id} is {} bytes long; at most {MAX_ADDED_TOKEN_BYTES} are accepted",
                text.len()
            )));
        }
        total += text.len();
        if total > MAX_ADDED_BYTES {
            return Err(TokenizerError::BadVocab(format!(
                "the special tokens take more than {MAX_ADDED_BYTES} bytes in all"
            )));
        }
    }
    Ok(())
}

/// Control (and unknown) tokens become special added tokens, split out only
/// when special tokens are parsed; user-defined tokens are always split out.
fn add_special_tokens(hf: &mut HfTokenizer, vocab: &Vocab) -> Result<(), TokenizerError> {
    let mut special = Vec::new();
    let mut user_defined = Vec::new();
    for (text, &a) in vocab.tokens.iter().zip(&vocab.attrs) {
        if a & (attr::CONTROL | attr::UNKNOWN) != 0 {
            special.push(AddedToken::from(text.as_str(), true).normalized(false));
        } else if a & attr::USER_DEFINED != 0 {
            user_defined.push(AddedToken::from(text.as_str(), false).normalized(false));
        }
    }
    let build = |e: tokenizers::Error| TokenizerError::Build(format!("special tokens: {e}"));
    hf.add_special_tokens(special).map_err(build)?;
    hf.add_tokens(user_defined).map_err(build)?;
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests;
