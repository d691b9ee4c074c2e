//! SentencePiece-style vocabularies (`tokenizer.ggml.model = "llama"`, e.g. Gemma).
//!
//! llama.cpp (`llm_tokenizer_spm_session`) starts from single characters and
//! repeatedly merges the adjacent pair whose concatenation is a token with the
//! highest score, the leftmost one on ties; characters left outside the
//! vocabulary become `<0xNN>` byte tokens. Spaces are written "▁" first, with
//! one prepended to each piece of text when `add_space_prefix` is set.
//!
//! That is a BPE model whose merges are every split of a token into two tokens,
//! ranked by the score of the whole (what Hugging Face's SentencePiece
//! converters do), with byte fallback. The one difference: merges of equal
//! score are ranked by token id here, where llama.cpp takes the leftmost pair.

use tokenizers::decoders::DecoderWrapper;
use tokenizers::decoders::byte_fallback::ByteFallback;
use tokenizers::decoders::fuse::Fuse;
use tokenizers::decoders::sequence::Sequence as DecoderSequence;
use tokenizers::decoders::strip::Strip;
use tokenizers::models::bpe::{BPE, Vocab as TokenIds};
use tokenizers::normalizers::{
    NormalizerWrapper, Prepend, Replace, Sequence as NormalizerSequence,
};

use super::vocab::{Vocab, attr};
use super::{HfTokenizer, NO_WORD_CACHE, TokenizerError};

/// SentencePiece's escaped space, U+2581.
pub(crate) const SPACE: &str = "\u{2581}";

/// Every split of a token into two tokens, as `(left, right)`, best merged
/// score first. Splits with a byte token (`<0xNN>`, `attrs` BYTE) are left
/// out: llama.cpp falls back to bytes only after merging and never merges
/// them, while Hugging Face's BPE would merge fallback bytes (found by the
/// tokenizer_from_gguf fuzz target: "\0\0" became a token "<0x00><0x00>").
pub(crate) fn derive_merges(
    tokens: &[String],
    scores: &[f32],
    attrs: &[u8],
    ids: &TokenIds,
) -> Vec<(String, String)> {
    let is_text_piece = |piece: &str| {
        ids.get(piece)
            .is_some_and(|&id| attrs.get(id as usize).is_none_or(|a| a & attr::BYTE == 0))
    };
    // (score, token id, byte offset of the split)
    let mut found: Vec<(f32, u32, u32)> = Vec::new();
    for (id, text) in tokens.iter().enumerate() {
        for (at, _) in text.char_indices().skip(1) {
            if is_text_piece(&text[..at]) && is_text_piece(&text[at..]) {
                // llama.cpp compares scores with `<`: -0.0 ties with 0.0, and NaN never wins.
                let score = scores.get(id).copied().unwrap_or(0.0);
                let score = if score.is_nan() {
                    f32::NEG_INFINITY
                } else {
                    score + 0.0
                };
                found.push((score, id as u32, at as u32));
            }
        }
    }
    found.sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
    found
        .into_iter()
        .map(|(_, id, at)| {
            let (left, right) = tokens[id as usize].split_at(at as usize);
            (left.to_string(), right.to_string())
        })
        .collect()
}

/// The merge-by-score model with byte fallback, the space escaping and its inverse.
pub(crate) fn build(vocab: &Vocab, ids: TokenIds) -> Result<HfTokenizer, TokenizerError> {
    // Deriving the merges looks up every split of every token, which costs
    // the square of a token's length: `vocab::MAX_TOKEN_BYTES` bounds it.
    let merges = derive_merges(&vocab.tokens, &vocab.scores, &vocab.attrs, &ids);
    let model = BPE::builder()
        .vocab_and_merges(ids, merges)
        // No word cache: see `NO_WORD_CACHE`.
        .cache_capacity(NO_WORD_CACHE)
        .byte_fallback(true)
        .build()
        .map_err(|e| TokenizerError::Build(e.to_string()))?;

    let replace = |from: &str, to: &str| {
        Replace::new(from, to).map_err(|e| TokenizerError::Build(e.to_string()))
    };
    let mut normalizers = Vec::new();
    if vocab.add_space_prefix {
        normalizers.push(NormalizerWrapper::Prepend(Prepend::new(SPACE.to_string())));
    }
    normalizers.push(NormalizerWrapper::Replace(replace(" ", SPACE)?));
    let mut decoders = vec![
        DecoderWrapper::Replace(replace(SPACE, " ")?),
        DecoderWrapper::ByteFallback(ByteFallback::default()),
        DecoderWrapper::Fuse(Fuse::default()),
    ];
    if vocab.add_space_prefix {
        decoders.push(DecoderWrapper::Strip(Strip::new(' ', 1, 0)));
    }

    let mut hf = HfTokenizer::new(model.into());
    hf.with_normalizer(Some(NormalizerWrapper::Sequence(NormalizerSequence::new(
        normalizers,
    ))))
    .map_err(|e| TokenizerError::Build(e.to_string()))?;
    hf.with_decoder(Some(DecoderWrapper::Sequence(DecoderSequence::new(
        decoders,
    ))));
    Ok(hf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    fn derive(tokens: &[String], scores: &[f32]) -> Vec<(String, String)> {
        let ids = tokens
            .iter()
            .enumerate()
            .map(|(i, t)| (t.clone(), i as u32))
            .collect();
        derive_merges(tokens, scores, &[], &ids)
    }

    #[test]
    fn merges_are_every_split_ranked_by_the_merged_score() {
        // "abc" splits as a+bc and ab+c; "ab" as a+b; "bc" as b+c.
        let tokens = strings(&["a", "b", "c", "ab", "bc", "abc", "x"]);
        let scores = [0.0, 0.0, 0.0, -3.0, -1.0, -2.0, 0.0];
        let merges = derive(&tokens, &scores);
        let expected = [("b", "c"), ("a", "bc"), ("ab", "c"), ("a", "b")];
        let merges: Vec<(&str, &str)> = merges
            .iter()
            .map(|(l, r)| (l.as_str(), r.as_str()))
            .collect();
        assert_eq!(merges, expected);
    }

    #[test]
    fn merges_split_on_characters_not_bytes() {
        let tokens = strings(&["é", "☃", "é☃", "▁é"]);
        let merges = derive(&tokens, &[0.0, 0.0, -1.0, -2.0]);
        assert_eq!(merges, vec![("é".to_string(), "☃".to_string())]);
    }

    #[test]
    fn equal_scores_keep_a_total_order() {
        let tokens = strings(&["a", "b", "ab", "ba", "aa"]);
        let merges = derive(&tokens, &[0.0, 0.0, -0.0, f32::NAN, 0.0]);
        // -0.0 ties with 0.0 (then id order), NaN ranks last.
        let expected = [("a", "b"), ("a", "a"), ("b", "a")];
        let merges: Vec<(&str, &str)> = merges
            .iter()
            .map(|(l, r)| (l.as_str(), r.as_str()))
            .collect();
        assert_eq!(merges, expected);
    }
}
