//! Token ids back to bytes, as llama.cpp's `token_to_piece` and
//! `llama_detokenize` (with `remove_special = false`) produce them.

use super::spm::SPACE;
use super::vocab::{Kind, Vocab, attr};

/// Appends the bytes of one token. `special = false` renders control and
/// unknown tokens as nothing; `lstrip` drops one leading space.
pub(crate) fn append_piece(vocab: &Vocab, id: u32, special: bool, lstrip: bool, out: &mut Vec<u8>) {
    let (Some(text), Some(&a)) = (vocab.tokens.get(id as usize), vocab.attrs.get(id as usize))
    else {
        return; // out of range: nothing, rather than llama.cpp's exception
    };
    let start = out.len();
    if a & (attr::UNKNOWN | attr::CONTROL) != 0 {
        if special {
            out.extend_from_slice(text.as_bytes());
        }
    } else if a & attr::USER_DEFINED != 0 {
        out.extend_from_slice(text.as_bytes());
    } else if a & attr::NORMAL != 0 {
        match vocab.kind {
            Kind::Spm => out.extend_from_slice(text.replace(SPACE, " ").as_bytes()),
            Kind::Bpe(_) => byte_level_decode(text, out),
        }
    } else if a & attr::BYTE != 0 {
        if let Some(byte) = text
            .strip_prefix("<0x")
            .and_then(|h| h.get(..2))
            .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(byte);
        }
    }
    if lstrip && out.get(start) == Some(&b' ') {
        out.remove(start);
    }
}

/// The bytes of a whole sequence, before the optional space clean-up.
pub(crate) fn raw_bytes(vocab: &Vocab, ids: &[u32], special: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(ids.len() * 4);
    for (i, &id) in ids.iter().enumerate() {
        append_piece(
            vocab,
            id,
            special,
            i == 0 && vocab.add_space_prefix,
            &mut out,
        );
    }
    out
}

/// GPT-2's byte-to-unicode table, inverted: the byte a byte-level character stands for.
fn byte_of(c: char) -> Option<u8> {
    let c = c as u32;
    match c {
        0x21..=0x7E | 0xA1..=0xAC | 0xAE..=0xFF => Some(c as u8),
        // The other 68 bytes, in order, are shifted to U+0100.. .
        0x100..=0x120 => Some((c - 0x100) as u8),
        0x121..=0x142 => Some((c - 0x121 + 0x7F) as u8),
        0x143 => Some(0xAD),
        _ => None,
    }
}

/// `llama_decode_text`: characters outside the byte-level alphabet become a marker.
fn byte_level_decode(text: &str, out: &mut Vec<u8>) {
    for c in text.chars() {
        match byte_of(c) {
            Some(b) => out.push(b),
            None => {
                out.extend_from_slice(b"[UNK_BYTE_0x");
                let mut utf8 = [0u8; 4];
                for b in c.encode_utf8(&mut utf8).as_bytes() {
                    out.extend_from_slice(format!("{b:02x}").as_bytes());
                }
                out.extend_from_slice(text.as_bytes());
                out.push(b']');
            }
        }
    }
}

/// llama.cpp's `clean_spaces` passes: " ?", " !", " .", " ," lose the space,
/// " ' " becomes "'", and " 's", " 'm", " 're", " 've" lose the space.
pub(crate) fn clean_spaces(text: &[u8]) -> Vec<u8> {
    let mut t = text.to_vec();
    // first pass: space before ? ! . ,
    let mut total = usize::from(!t.is_empty());
    for i in 1..t.len() {
        let x = t[i];
        if t[i - 1] == b' ' && matches!(x, b'?' | b'!' | b'.' | b',') {
            total -= 1;
        }
        t[total] = x;
        total += 1;
    }
    t.truncate(total);
    // second pass: a single apostrophe between spaces
    let n = t.len();
    let mut total = usize::from(n > 0);
    let mut i = 1;
    while i < n {
        let x = t[i];
        if x == b'\'' && i + 1 < n && t[i - 1] == b' ' && t[i + 1] == b' ' {
            total -= 1;
            t[i + 1] = 0; // llama.cpp writes a NUL over the skipped space
            i += 1;
        }
        t[total] = x;
        total += 1;
        i += 1;
    }
    t.truncate(total);
    // third pass: contractions
    let n = t.len();
    let mut total = usize::from(n > 0);
    for i in 1..n {
        let x = t[i];
        if t[i - 1] == b' ' && x == b'\'' && i + 1 < n {
            let x1 = t[i + 1];
            let x2 = t.get(i + 2).copied().filter(|_| i + 2 < n);
            if matches!(x1, b's' | b'm') || matches!((x1, x2), (b'r' | b'v', Some(b'e'))) {
                total -= 1;
            }
        }
        t[total] = x;
        total += 1;
    }
    t.truncate(total);
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_level_alphabet_inverts() {
        assert_eq!(byte_of('a'), Some(b'a'));
        assert_eq!(byte_of('Ġ'), Some(b' ')); // U+0120
        assert_eq!(byte_of('Ċ'), Some(b'\n')); // U+010A
        assert_eq!(byte_of('ĉ'), Some(b'\t')); // U+0109
        assert_eq!(byte_of('ł'), Some(0xA0)); // U+0142
        assert_eq!(byte_of('Ń'), Some(0xAD));
        assert_eq!(byte_of('☃'), None);
        let mut out = Vec::new();
        byte_level_decode("ĠhelloĊ", &mut out);
        assert_eq!(out, b" hello\n");
    }

    #[test]
    fn clean_spaces_matches_llama_cpp() {
        let clean = |s: &str| String::from_utf8(clean_spaces(s.as_bytes())).unwrap();
        assert_eq!(clean("Hello , world !"), "Hello, world!");
        assert_eq!(clean("rock ' n"), "rock'n");
        assert_eq!(
            clean("it 's we 've they 're I 'm"),
            "it's we've they're I'm"
        );
        assert_eq!(clean("don 't you 'll"), "don 't you 'll");
        assert_eq!(clean(" ."), ".");
        assert_eq!(clean(""), "");
    }
}
