//! fastText's hashing: FNV-1a over bytes (sign-extended, as C++ `char` is
//! signed), character n-grams of `<word>` counted in UTF-8 characters, and
//! word n-grams. Bit-for-bit what `dictionary.cc` does.

use super::dictionary::{Dictionary, EOS};

/// 32-bit FNV-1a with fastText's quirk: each byte goes through `int8_t`, so
/// bytes ≥ 0x80 are xored in as 0xFFFFFFxx.
pub fn fnv1a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(2_166_136_261u32, |h, &b| {
        (h ^ (b as i8 as i32 as u32)).wrapping_mul(16_777_619)
    })
}

fn is_continuation(byte: u8) -> bool {
    byte & 0xC0 == 0x80
}

/// `Dictionary::addSubwords`: a known word is its own row plus its
/// n-grams; an unknown word only its n-grams; `</s>` has no n-grams.
pub(crate) fn add_subwords(dict: &Dictionary, rows: &mut Vec<u32>, token: &[u8], id: Option<u32>) {
    if let Some(id) = id {
        rows.push(id);
        if dict.maxn == 0 {
            return;
        }
    }
    if token != EOS {
        let mut word = Vec::with_capacity(token.len() + 2);
        word.push(b'<');
        word.extend_from_slice(token);
        word.push(b'>');
        char_ngrams(dict, rows, &word);
    }
}

/// `Dictionary::computeSubwords`: every n-gram of `minn..=maxn` UTF-8
/// characters except the bare `<` and `>`.
fn char_ngrams(dict: &Dictionary, rows: &mut Vec<u32>, word: &[u8]) {
    for i in 0..word.len() {
        if is_continuation(word[i]) {
            continue;
        }
        let mut j = i;
        let mut n = 1;
        while j < word.len() && n <= dict.maxn {
            j += 1;
            while j < word.len() && is_continuation(word[j]) {
                j += 1;
            }
            if n >= dict.minn && !(n == 1 && (i == 0 || j == word.len())) {
                let bucket = fnv1a(&word[i..j]) % dict.bucket;
                dict.push_hash(rows, bucket as i32);
            }
            n += 1;
        }
    }
}

/// `Dictionary::addWordNgrams`: hashes of consecutive words, combined in
/// 64 bits from the sign-extended 32-bit word hashes.
pub(crate) fn add_word_ngrams(dict: &Dictionary, rows: &mut Vec<u32>, hashes: &[i32]) {
    let n = i64::from(dict.word_ngrams);
    for i in 0..hashes.len() {
        let mut h = hashes[i] as i64 as u64;
        let mut j = i + 1;
        while j < hashes.len() && (j as i64) < i as i64 + n {
            h = h
                .wrapping_mul(116_049_371)
                .wrapping_add(hashes[j] as i64 as u64);
            dict.push_hash(rows, (h % u64::from(dict.bucket)) as i32);
            j += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fnv1a;

    #[test]
    fn fnv1a_matches_fasttext() {
        // Reference values from fastText's Dictionary::hash (Python port of
        // the C++ with int8 sign extension).
        assert_eq!(fnv1a(b""), 2_166_136_261);
        assert_eq!(fnv1a(b"a"), 0xe40c292c);
        assert_eq!(fnv1a("é".as_bytes()), 0x3cfa68c1);
        assert_eq!(fnv1a("<日本>".as_bytes()), 0xc59bac5f);
        // Non-ASCII bytes are sign-extended: differs from plain FNV-1a.
        let plain = "é".bytes().fold(2_166_136_261u32, |h, b| {
            (h ^ b as u32).wrapping_mul(16_777_619)
        });
        assert_ne!(fnv1a("é".as_bytes()), plain);
    }
}
