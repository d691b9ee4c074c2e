//! Byte-level BPE (`tokenizer.ggml.model = "gpt2"`): the vocabulary and the
//! ranked merges from the GGUF, the pre-tokenizer of `tokenizer.ggml.pre`,
//! and the byte-level decoder.

use tokenizers::decoders::DecoderWrapper;
use tokenizers::decoders::byte_level::ByteLevel;
use tokenizers::models::bpe::{BPE, Vocab as TokenIds};

use super::pretokenize::PreSpec;
use super::{HfTokenizer, NO_WORD_CACHE, TokenizerError};
use crate::gguf::Metadata;

/// Reads `tokenizer.ggml.merges`: one "left right" string per merge, in rank order.
pub(crate) fn read_merges(md: &Metadata) -> Result<Vec<(String, String)>, TokenizerError> {
    if md.get("tokenizer.ggml.merges").is_none() {
        return Err(TokenizerError::BadVocab(
            "a gpt2-type vocabulary needs `tokenizer.ggml.merges`".into(),
        ));
    }
    let merges = md.string_array("tokenizer.ggml.merges")?;
    merges
        .iter()
        .enumerate()
        .map(|(index, merge)| {
            // Like llama.cpp: the separator is the first space after the first byte.
            match merge
                .bytes()
                .skip(1)
                .position(|b| b == b' ')
                .map(|at| at + 1)
            {
                Some(at) if at + 1 < merge.len() => {
                    Ok((merge[..at].to_string(), merge[at + 1..].to_string()))
                }
                _ => Err(TokenizerError::BadMerge {
                    index,
                    merge: merge.to_string(),
                    reason: "expected two pieces separated by a space".into(),
                }),
            }
        })
        .collect()
}

/// The byte-level BPE model, pre-tokenizer and decoder.
pub(crate) fn build(
    ids: TokenIds,
    spec: &PreSpec,
    merges: Vec<(String, String)>,
) -> Result<HfTokenizer, TokenizerError> {
    // `tokenizers` refuses a merge whose result is not a token, but first
    // copies the result into a buffer as long as the longest token, and
    // panics where it is longer (0.23.2, `BpeBuilder::build`; a fuzz finding,
    // "é ]" beside 2-byte tokens). Such a result cannot be a token: the same
    // refusal, before it gets there (lengths only: no look-ups at load).
    let longest = ids.keys().map(String::len).max().unwrap_or(0);
    if let Some((index, (left, right))) = merges
        .iter()
        .enumerate()
        .find(|(_, (left, right))| left.len() + right.len() > longest)
    {
        return Err(TokenizerError::BadVocab(format!(
            "merges: merge {index} makes \"{left}{right}\", which is not in the vocabulary"
        )));
    }
    let model = BPE::builder()
        .vocab_and_merges(ids, merges)
        // No word cache: see `NO_WORD_CACHE`.
        .cache_capacity(NO_WORD_CACHE)
        .ignore_merges(spec.ignore_merges)
        .build()
        .map_err(|e| TokenizerError::BadVocab(format!("merges: {e}")))?;
    let mut hf = HfTokenizer::new(model.into());
    hf.with_pre_tokenizer(Some(spec.pre_tokenizer()?));
    hf.with_decoder(Some(DecoderWrapper::ByteLevel(ByteLevel::default())));
    Ok(hf)
}
