//! Detokenization one token at a time, for streaming generated text.
//!
//! A character can be split over several tokens (byte-level pieces, `<0xNN>`
//! byte tokens), so bytes are held back until they form whole UTF-8
//! characters. The concatenation of everything `push` and `finish` return is
//! exactly `Tokenizer::decode` of all the ids.

use super::Tokenizer;
use super::decode::{append_piece, clean_spaces};

/// Bytes after the last space that must be seen before text up to that
/// space can be cleaned: llama.cpp's space clean-up looks at most three
/// characters past a space.
const CLEAN_LOOKAHEAD: usize = 8;

#[derive(Clone)]
pub struct StreamDecoder<'a> {
    tokenizer: &'a Tokenizer,
    skip_special: bool,
    /// Tokens pushed so far.
    count: usize,
    /// Raw bytes not yet cleaned (only for vocabularies that clean spaces).
    raw: Vec<u8>,
    /// Bytes not yet returned: an incomplete character at the end.
    pending: Vec<u8>,
}

impl<'a> StreamDecoder<'a> {
    /// Control tokens render as nothing, like `decode(ids, true)`.
    pub fn new(tokenizer: &'a Tokenizer) -> StreamDecoder<'a> {
        StreamDecoder::with_skip_special(tokenizer, true)
    }

    pub fn with_skip_special(tokenizer: &'a Tokenizer, skip_special: bool) -> StreamDecoder<'a> {
        StreamDecoder {
            tokenizer,
            skip_special,
            count: 0,
            raw: Vec::new(),
            pending: Vec::new(),
        }
    }

    /// Adds a token and returns the text it completes (possibly empty).
    pub fn push(&mut self, id: u32) -> String {
        let vocab = &self.tokenizer.vocab;
        let lstrip = self.count == 0 && vocab.add_space_prefix;
        self.count += 1;
        if vocab.clean_spaces {
            append_piece(vocab, id, !self.skip_special, lstrip, &mut self.raw);
            let cut = clean_cut(&self.raw);
            self.pending.extend(clean_spaces(&self.raw[..cut]));
            self.raw.drain(..cut);
        } else {
            append_piece(vocab, id, !self.skip_special, lstrip, &mut self.pending);
        }
        self.take_complete()
    }

    /// The text `push(id)` and then `finish` would return, without pushing:
    /// a candidate token's text after everything returned so far.
    pub fn peek(&self, id: u32) -> String {
        let mut next = self.clone();
        next.push(id) + &next.finish()
    }

    /// Returns whatever is held back; an incomplete character becomes U+FFFD.
    pub fn finish(&mut self) -> String {
        let rest = std::mem::take(&mut self.raw);
        self.pending.extend(clean_spaces(&rest));
        let text = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        text
    }

    /// As [`Self::finish`] for a generation cut short (its budget, Stop): an
    /// incomplete character at the end is dropped, not shown as U+FFFD.
    pub fn finish_cut(&mut self) -> String {
        let rest = std::mem::take(&mut self.raw);
        self.pending.extend(clean_spaces(&rest));
        let text = self.take_complete();
        // What take_complete leaves is an incomplete character.
        self.pending.clear();
        text
    }

    fn take_complete(&mut self) -> String {
        take_complete(&mut self.pending)
    }
}

/// Removes and returns the longest prefix of `pending` that no later byte
/// can change, invalid bytes as U+FFFD (as `from_utf8_lossy`). One pass and
/// one move of what is held back, however many bytes are invalid.
fn take_complete(pending: &mut Vec<u8>) -> String {
    let mut out = String::new();
    let mut rest = &pending[..];
    loop {
        match std::str::from_utf8(rest) {
            Ok(text) => {
                out.push_str(text);
                rest = &[];
                break;
            }
            Err(e) => {
                let (valid, after) = rest.split_at(e.valid_up_to());
                out.push_str(std::str::from_utf8(valid).unwrap_or_default());
                match e.error_len() {
                    // Invalid whatever follows: one replacement character, as `from_utf8_lossy`.
                    Some(len) => {
                        out.push(char::REPLACEMENT_CHARACTER);
                        rest = &after[len..];
                    }
                    // Incomplete: wait for more bytes.
                    None => {
                        rest = after;
                        break;
                    }
                }
            }
        }
    }
    let taken = pending.len() - rest.len();
    pending.drain(..taken);
    out
}

/// Where raw text can be cut so that cleaning the two parts separately gives
/// the same bytes as cleaning the whole: no space in the last bytes before the cut.
fn clean_cut(raw: &[u8]) -> usize {
    let mut cut = raw.len();
    while let Some(space) = raw[..cut].iter().rposition(|&b| b == b' ') {
        if space + CLEAN_LOOKAHEAD <= cut {
            break;
        }
        cut = space;
    }
    cut
}

#[cfg(test)]
mod tests {
    use super::take_complete;

    #[test]
    fn invalid_bytes_become_replacement_characters_and_a_split_character_waits() {
        // Megabytes of stray continuation bytes (one pass: a move per
        // replacement took minutes here), then "é" and half of "€".
        let mut pending = vec![0xA1; 4 << 20];
        pending.extend("é".as_bytes());
        pending.extend(&"€".as_bytes()[..2]);
        let text = take_complete(&mut pending);
        assert_eq!(text.chars().count(), (4 << 20) + 1);
        assert!(text.ends_with("\u{FFFD}é"));
        assert_eq!(pending, &"€".as_bytes()[..2]);
        pending.push("€".as_bytes()[2]);
        assert_eq!(take_complete(&mut pending), "€");
        assert!(pending.is_empty());
    }
}
