//! The dictionary (words, then labels, with counts) and the pruned-bucket
//! map of quantised models; and turning a line into input-matrix rows
//! exactly as fastText's `Dictionary::getLine` does.

use std::collections::HashMap;

use super::LidError;
use super::bytes::Cursor;
use super::hash::{add_subwords, add_word_ngrams, fnv1a};

/// fastText's end-of-sentence token: the newline every predicted line ends with.
pub const EOS: &[u8] = b"</s>";
pub const LABEL_PREFIX: &str = "__label__";

/// The bytes fastText's `readWord` splits on.
fn is_separator(byte: u8) -> bool {
    matches!(byte, b' ' | b'\n' | b'\r' | b'\t' | 0x0b | 0x0c | 0)
}

pub struct Dictionary {
    /// Entry id and whether it is a label, for every word and label.
    ids: HashMap<Box<[u8]>, (u32, bool)>,
    nwords: u32,
    /// Label names without the `__label__` prefix, in output-matrix order.
    labels: Vec<String>,
    label_counts: Vec<i64>,
    /// Bucket → row remapping of a pruned (quantised) model; `None` when
    /// nothing was pruned. An empty map drops every n-gram, as in fastText.
    pruned: Option<HashMap<i32, i32>>,
    pub(crate) minn: u32,
    pub(crate) maxn: u32,
    pub(crate) bucket: u32,
    pub(crate) word_ngrams: i32,
}

impl Dictionary {
    pub(crate) fn read(cursor: &mut Cursor, args: &super::Args) -> Result<Self, LidError> {
        let size = cursor.i32("dictionary size")?;
        let nwords = cursor.i32("word count")?;
        let nlabels = cursor.i32("label count")?;
        let _ntokens = cursor.i64("token count")?;
        let pruneidx_size = cursor.i64("pruned bucket count")?;
        // An entry is at least a NUL, an i64 count and a type byte.
        let size = cursor.count(size.into(), 10, "dictionary size")?;
        let nwords = cursor.count(nwords.into(), 10, "word count")?;
        let nlabels = cursor.count(nlabels.into(), 10, "label count")?;
        if nwords + nlabels != size || nlabels == 0 {
            return Err(LidError::Inconsistent(format!(
                "dictionary of {size} entries holds {nwords} words and {nlabels} labels"
            )));
        }
        let mut ids = HashMap::with_capacity(size);
        let mut labels = Vec::with_capacity(nlabels);
        let mut label_counts = Vec::with_capacity(nlabels);
        for id in 0..size {
            let word = cursor.c_string("dictionary entry")?;
            let count = cursor.i64("entry count")?;
            let is_label = cursor.bool("entry type")?;
            // fastText sorts words before labels and indexes labels by
            // `id - nwords`; a file that does not is not one it wrote.
            if is_label != (id >= nwords) {
                return Err(LidError::Inconsistent(format!(
                    "entry {id} is a {} among the {}",
                    if is_label { "label" } else { "word" },
                    if id >= nwords { "labels" } else { "words" },
                )));
            }
            if is_label {
                let name = String::from_utf8_lossy(word);
                let name = name.strip_prefix(LABEL_PREFIX).unwrap_or(&name);
                labels.push(name.to_owned());
                label_counts.push(count);
            }
            // Later duplicates win, as in fastText's word2int table.
            ids.insert(word.into(), (id as u32, is_label));
        }
        let pruned = if pruneidx_size < 0 {
            None
        } else {
            let n = cursor.count(pruneidx_size, 8, "pruned bucket count")?;
            let mut map = HashMap::with_capacity(n);
            for _ in 0..n {
                let bucket = cursor.i32("pruned bucket")?;
                let row = cursor.i32("pruned row")?;
                if row < 0 {
                    return Err(LidError::AbsurdCount {
                        what: "pruned row",
                        value: row.into(),
                    });
                }
                map.insert(bucket, row);
            }
            Some(map)
        };
        Ok(Dictionary {
            ids,
            nwords: nwords as u32,
            labels,
            label_counts,
            pruned,
            minn: args.minn as u32,
            maxn: args.maxn as u32,
            bucket: args.bucket as u32,
            word_ngrams: args.word_ngrams,
        })
    }

    pub fn is_pruned(&self) -> bool {
        self.pruned.is_some()
    }

    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    pub fn label_counts(&self) -> &[i64] {
        &self.label_counts
    }

    /// How many input-matrix rows the hashed n-grams can reach: checked
    /// against the matrix at load so that no lookup can fall outside it.
    pub(crate) fn rows_needed(&self) -> u64 {
        let hashed = match &self.pruned {
            Some(map) => map.values().map(|&r| r as u64 + 1).max().unwrap_or(0),
            None if self.maxn > 0 || self.word_ngrams > 1 => self.bucket.into(),
            None => 0,
        };
        u64::from(self.nwords) + hashed
    }

    /// Row of hashed n-gram bucket `id`, if the model kept it (fastText's `pushHash`).
    pub(crate) fn push_hash(&self, rows: &mut Vec<u32>, id: i32) {
        let row = match &self.pruned {
            None => id,
            Some(map) => match map.get(&id) {
                Some(&row) => row,
                None => return,
            },
        };
        rows.push(self.nwords + row as u32);
    }

    /// Input rows of one line: words and their character n-grams, `</s>`,
    /// then word n-grams. As fastText's Python `predict`, which appends the
    /// newline: the line stops at its first `\n` (or `</s>` token) and
    /// always ends with `</s>`. `__label__` tokens are not words.
    pub fn line_rows(&self, line: &str) -> Vec<u32> {
        let line = line.as_bytes();
        let line = line.split(|&b| b == b'\n').next().unwrap_or_default();
        let tokens = line
            .split(|&b| is_separator(b))
            .filter(|t| !t.is_empty())
            .chain(std::iter::once(EOS));
        let mut rows = Vec::new();
        let mut hashes = Vec::new();
        for token in tokens {
            let hash = fnv1a(token);
            let entry = self.ids.get(token).copied();
            let is_label = match entry {
                Some((_, is_label)) => is_label,
                None => token.starts_with(LABEL_PREFIX.as_bytes()),
            };
            if !is_label {
                add_subwords(self, &mut rows, token, entry.map(|(id, _)| id));
                hashes.push(hash as i32);
            }
            if token == EOS {
                break;
            }
        }
        add_word_ngrams(self, &mut rows, &hashes);
        rows
    }
}
