//! Splitting text that is longer than a model's context into chunks that
//! fit, on the most natural boundary available: paragraphs first, then
//! sentences, then words, and only for a single overlong word, characters.
//!
//! Sizes are counted with the caller's function (the model's tokenizer), one
//! piece at a time; a chunk's count is the sum of its pieces', which can be
//! off by a token or two per boundary, so callers leave a little slack.

/// One chunk of the input and how it joins the chunk before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    pub text: String,
    /// True when the chunk begins a paragraph (join with a blank line), false
    /// when it continues the previous chunk's paragraph (join with a space).
    pub starts_paragraph: bool,
}

impl Chunk {
    /// What goes between the previous chunk's output and this one's.
    pub fn separator(&self) -> &'static str {
        if self.starts_paragraph { "\n\n" } else { " " }
    }
}

/// Splits `text` into chunks of at most `max_tokens` each (as `count`
/// measures), packing as many whole pieces into each as fit.
pub fn split(text: &str, max_tokens: usize, count: &dyn Fn(&str) -> usize) -> Vec<Chunk> {
    let max_tokens = max_tokens.max(1);
    let mut chunks: Vec<Chunk> = Vec::new();
    let mut current = String::new();
    let mut current_tokens = 0;
    let mut current_starts_paragraph = true;
    for paragraph in paragraphs(text) {
        let mut first_in_paragraph = true;
        for (piece, tokens) in pieces(paragraph, max_tokens, count) {
            let joiner = if first_in_paragraph { "\n\n" } else { " " };
            // A joiner is about one token; count it so a full chunk stays under.
            if !current.is_empty() && current_tokens + 1 + tokens <= max_tokens {
                current.push_str(joiner);
                current.push_str(&piece);
                current_tokens += 1 + tokens;
            } else {
                if !current.is_empty() {
                    chunks.push(Chunk {
                        text: std::mem::take(&mut current),
                        starts_paragraph: current_starts_paragraph,
                    });
                }
                current = piece;
                current_tokens = tokens;
                current_starts_paragraph = first_in_paragraph;
            }
            first_in_paragraph = false;
        }
    }
    if !current.is_empty() {
        chunks.push(Chunk {
            text: current,
            starts_paragraph: current_starts_paragraph,
        });
    }
    chunks
}

/// Paragraphs: runs of text between blank lines; a single line break inside
/// a paragraph is kept as a space (page text wraps lines arbitrarily).
fn paragraphs(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() {
            if !current.is_empty() {
                out.push(std::mem::take(&mut current));
            }
            continue;
        }
        if !current.is_empty() {
            current.push(' ');
        }
        current.push_str(line);
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// A paragraph as pieces of at most `max_tokens`: the whole paragraph when it
/// fits, else its sentences (too-long sentences by words, too-long words by
/// characters), each with its token count.
fn pieces(
    paragraph: String,
    max_tokens: usize,
    count: &dyn Fn(&str) -> usize,
) -> Vec<(String, usize)> {
    let tokens = count(&paragraph);
    if tokens <= max_tokens {
        return vec![(paragraph, tokens)];
    }
    let mut out = Vec::new();
    for sentence in sentences(&paragraph) {
        let tokens = count(sentence);
        if tokens <= max_tokens {
            out.push((sentence.to_string(), tokens));
            continue;
        }
        // Pack words; a sentence this long has no better boundary.
        let mut words = String::new();
        let mut words_tokens = 0;
        for word in sentence.split_whitespace() {
            let tokens = count(word);
            if tokens > max_tokens {
                if !words.is_empty() {
                    out.push((std::mem::take(&mut words), words_tokens));
                    words_tokens = 0;
                }
                out.extend(split_word(word, max_tokens, count));
                continue;
            }
            if !words.is_empty() && words_tokens + 1 + tokens > max_tokens {
                out.push((std::mem::take(&mut words), words_tokens));
                words_tokens = 0;
            }
            if !words.is_empty() {
                words.push(' ');
                words_tokens += 1;
            }
            words.push_str(word);
            words_tokens += tokens;
        }
        if !words.is_empty() {
            out.push((words, words_tokens));
        }
    }
    out
}

/// Sentences of a paragraph: a break after `.`, `!`, `?`, `…` (and the CJK
/// full stops) followed by a space or by a CJK character.
fn sentences(paragraph: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut chars = paragraph.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        let cjk_stop = matches!(c, '。' | '！' | '？');
        if !(cjk_stop || matches!(c, '.' | '!' | '?' | '…')) {
            continue;
        }
        // Closing quotes and brackets belong to the sentence they end.
        let mut end = at + c.len_utf8();
        while let Some(&(next_at, next)) = chars.peek() {
            if matches!(next, '"' | '\'' | '”' | '’' | ')' | ']' | '»' | '」' | '.') {
                end = next_at + next.len_utf8();
                chars.next();
            } else {
                break;
            }
        }
        let boundary = match chars.peek() {
            Some(&(_, next)) => next.is_whitespace() || cjk_stop,
            None => true,
        };
        if boundary {
            let sentence = paragraph[start..end].trim();
            if !sentence.is_empty() {
                out.push(sentence);
            }
            start = end;
        }
    }
    let rest = paragraph[start..].trim();
    if !rest.is_empty() {
        out.push(rest);
    }
    out
}

/// A word longer than a chunk (a URL, a run of CJK without punctuation), cut
/// at character boundaries by halving until each part fits.
fn split_word(
    word: &str,
    max_tokens: usize,
    count: &dyn Fn(&str) -> usize,
) -> Vec<(String, usize)> {
    let tokens = count(word);
    let chars = word.chars().count();
    if tokens <= max_tokens || chars <= 1 {
        return vec![(word.to_string(), tokens)];
    }
    let (cut, _) = word
        .char_indices()
        .nth(chars / 2)
        .unwrap_or((word.len(), ' '));
    let mut out = split_word(&word[..cut], max_tokens, count);
    out.extend(split_word(&word[cut..], max_tokens, count));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One token per word, as a stand-in tokenizer.
    fn words(text: &str) -> usize {
        text.split_whitespace().count()
    }

    #[test]
    fn short_text_is_one_chunk() {
        let chunks = split("One two three.\n\nFour five.", 100, &words);
        assert_eq!(chunks.len(), 1);
        assert_eq!(chunks[0].text, "One two three.\n\nFour five.");
        assert!(chunks[0].starts_paragraph);
    }

    #[test]
    fn paragraphs_are_kept_whole_when_they_fit() {
        let text = "a b c d e.\n\nf g h i j.\n\nk l m n o.";
        let chunks = split(text, 12, &words);
        let texts: Vec<&str> = chunks.iter().map(|c| c.text.as_str()).collect();
        assert_eq!(texts, ["a b c d e.\n\nf g h i j.", "k l m n o."]);
        assert!(chunks.iter().all(|c| c.starts_paragraph));
    }

    #[test]
    fn long_paragraphs_split_on_sentences() {
        let text = "One two three. Four five six! Seven eight nine? Ten eleven twelve.";
        let chunks = split(text, 7, &words);
        let texts: Vec<&str> = chunks.iter().map(|c| c.text.as_str()).collect();
        assert_eq!(
            texts,
            [
                "One two three. Four five six!",
                "Seven eight nine? Ten eleven twelve."
            ]
        );
        assert!(chunks[0].starts_paragraph);
        assert!(!chunks[1].starts_paragraph);
        assert_eq!(chunks[1].separator(), " ");
    }

    #[test]
    fn every_chunk_fits_and_no_word_is_lost() {
        let sentence = "The quick brown fox jumps over the lazy dog. ";
        let text = format!("{}\n\n{}", sentence.repeat(40), "word ".repeat(90));
        let chunks = split(&text, 25, &words);
        assert!(chunks.iter().all(|c| words(&c.text) <= 25));
        let joined: usize = chunks.iter().map(|c| words(&c.text)).sum();
        assert_eq!(joined, words(&text));
    }

    #[test]
    fn sentences_keep_closing_quotes_and_cjk_stops() {
        assert_eq!(
            sentences("He said \"stop.\" Then left... And? 你好。再见。"),
            [
                "He said \"stop.\"",
                "Then left...",
                "And?",
                "你好。",
                "再见。"
            ]
        );
        assert_eq!(sentences("Version 1.5 is out"), ["Version 1.5 is out"]);
    }

    #[test]
    fn overlong_words_are_cut() {
        let chars = |text: &str| text.chars().count();
        let chunks = split(&"x".repeat(50), 8, &chars);
        assert!(chunks.iter().all(|c| c.text.chars().count() <= 8));
        assert_eq!(chunks.iter().map(|c| c.text.len()).sum::<usize>(), 50);
    }
}
