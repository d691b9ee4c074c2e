//! Seed inputs for the fuzz targets, made from the real models so that the
//! fuzzer starts from files the readers accept (none of it goes into git):
//!
//! * `gguf_reader`: each GGUF's header with its metadata arrays cut to a few
//!   entries (a real header is megabytes of vocabulary, which would make
//!   every execution slow) and its tensor table whole, plus the file's first
//!   4 KiB as it is.
//! * `fasttext_reader`: the first bytes of lid.176, and tiny complete models
//!   written here in fastText's layout (softmax, hierarchical softmax and
//!   one-vs-all losses, with and without character n-grams).
//! * `chat_template`: the models' own `tokenizer.chat_template` texts, plus
//!   the committed `fuzz/seeds/chat_template/` files.

use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::paths;
use crate::shell::Result;

/// Entries kept of each metadata array in a slimmed header.
const ARRAY_KEEP: u64 = 24;
/// A GGUF header is read from at most this much of the file.
const HEADER_READ: u64 = 32 << 20;
/// Bytes of lid.176 taken as is.
const LID_PREFIX: u64 = 4096;

/// Writes every target's seeds under `dir/<target>/`; returns the number written.
pub fn write_all(dir: &Path, models: &[PathBuf]) -> Result<usize> {
    let mut written = 0;
    let mut put = |target: &str, name: &str, bytes: &[u8]| -> Result {
        let folder = dir.join(target);
        fs::create_dir_all(&folder).map_err(|e| format!("{}: {e}", folder.display()))?;
        fs::write(folder.join(name), bytes).map_err(|e| format!("{name}: {e}"))?;
        written += 1;
        Ok(())
    };
    for model in models {
        let name = model
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name.ends_with(".gguf") {
            let head = read_prefix(model, HEADER_READ)?;
            put(
                "gguf_reader",
                &format!("{name}.4k"),
                &head[..head.len().min(4096)],
            )?;
            let header = Header::parse(&head).map_err(|e| format!("{name}: {e}"))?;
            put("gguf_reader", &format!("{name}.slim"), &header.slim)?;
            if let Some(template) = header.chat_template {
                put(
                    "chat_template",
                    &format!("{name}.jinja"),
                    template.as_bytes(),
                )?;
            }
        } else if name.ends_with(".ftz") || name.ends_with(".bin") {
            put(
                "fasttext_reader",
                &format!("{name}.head"),
                &read_prefix(model, LID_PREFIX)?,
            )?;
        }
    }
    for (i, model) in tiny_fasttext_models().iter().enumerate() {
        put("fasttext_reader", &format!("tiny-{i}.bin"), model)?;
    }
    let committed = paths::repo_root().join("fuzz/seeds");
    for target in [
        "gguf_reader",
        "fasttext_reader",
        "tokenizer_from_gguf",
        "chat_template",
    ] {
        let Ok(entries) = fs::read_dir(committed.join(target)) else {
            continue;
        };
        for entry in entries.flatten() {
            let bytes = fs::read(entry.path()).map_err(|e| e.to_string())?;
            put(target, &entry.file_name().to_string_lossy(), &bytes)?;
        }
    }
    Ok(written)
}

fn read_prefix(path: &Path, max: u64) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    File::open(path)
        .and_then(|f| f.take(max).read_to_end(&mut bytes))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(bytes)
}

/// A GGUF header rewritten with short metadata arrays.
struct Header {
    slim: Vec<u8>,
    chat_template: Option<String>,
}

impl Header {
    fn parse(bytes: &[u8]) -> std::result::Result<Header, String> {
        let mut r = Reader { bytes, pos: 0 };
        let mut slim = Vec::new();
        slim.extend(r.take(8)?); // magic, version
        let n_tensors = r.u64()?;
        let n_kv = r.u64()?;
        slim.extend(n_tensors.to_le_bytes());
        slim.extend(n_kv.to_le_bytes());
        let mut chat_template = None;
        for _ in 0..n_kv {
            let key_start = r.pos;
            let key = r.string()?;
            let ty = r.u32()?;
            slim.extend(&bytes[key_start..r.pos]);
            let value_start = r.pos;
            if ty == 9 {
                let item = r.u32()?;
                let count = r.u64()?;
                let keep = count.min(ARRAY_KEEP);
                slim.extend(item.to_le_bytes());
                slim.extend(keep.to_le_bytes());
                for i in 0..count {
                    let start = r.pos;
                    r.skip_value(item)?;
                    if i < keep {
                        slim.extend(&bytes[start..r.pos]);
                    }
                }
            } else {
                r.skip_value(ty)?;
                if key == "tokenizer.chat_template" && ty == 8 {
                    let text = &bytes[value_start + 8..r.pos];
                    chat_template = Some(String::from_utf8_lossy(text).into_owned());
                }
                slim.extend(&bytes[value_start..r.pos]);
            }
        }
        let table_start = r.pos;
        for _ in 0..n_tensors {
            r.string()?;
            let dims = r.u32()?;
            r.take(dims as usize * 8 + 4 + 8)?;
        }
        slim.extend(&bytes[table_start..r.pos]);
        slim.resize(slim.len().next_multiple_of(32), 0);
        Ok(Header {
            slim,
            chat_template,
        })
    }
}

/// Little-endian reads over a header held in memory.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> std::result::Result<&[u8], String> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len());
        let end = end.ok_or("the header does not fit in the bytes read")?;
        let out = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn u32(&mut self) -> std::result::Result<u32, String> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }

    fn u64(&mut self) -> std::result::Result<u64, String> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }

    fn string(&mut self) -> std::result::Result<String, String> {
        let len = usize::try_from(self.u64()?).map_err(|e| e.to_string())?;
        Ok(String::from_utf8_lossy(self.take(len)?).into_owned())
    }

    /// Skips one value of GGUF type `ty`.
    fn skip_value(&mut self, ty: u32) -> std::result::Result<(), String> {
        match ty {
            0 | 1 | 7 => drop(self.take(1)?),
            2 | 3 => drop(self.take(2)?),
            4..=6 => drop(self.take(4)?),
            10..=12 => drop(self.take(8)?),
            8 => drop(self.string()?),
            9 => {
                let item = self.u32()?;
                for _ in 0..self.u64()? {
                    self.skip_value(item)?;
                }
            }
            other => return Err(format!("unknown metadata type {other}")),
        }
        Ok(())
    }
}

/// Small supervised fastText models (version 12, dense, dim 2): words
/// `</s>`, `hello`, `world`, labels `a`, `b`, `c`. One per (loss, minn,
/// maxn, bucket): softmax, hierarchical softmax, one-vs-all, and softmax
/// with character 2-3-grams hashed into 5 buckets.
fn tiny_fasttext_models() -> Vec<Vec<u8>> {
    [(3, 0, 0, 0), (1, 0, 0, 0), (4, 0, 0, 0), (3, 2, 3, 5)]
        .into_iter()
        .map(|(loss, minn, maxn, bucket)| tiny_fasttext(loss, minn, maxn, bucket))
        .collect()
}

fn tiny_fasttext(loss: i32, minn: i32, maxn: i32, bucket: i32) -> Vec<u8> {
    const MAGIC: i32 = 793_712_314;
    let words: [(&str, i64); 6] = [
        ("</s>", 10),
        ("hello", 5),
        ("world", 4),
        ("__label__a", 7),
        ("__label__b", 3),
        ("__label__c", 1),
    ];
    let mut b = Vec::new();
    let i32s = |b: &mut Vec<u8>, v: &[i32]| v.iter().for_each(|x| b.extend(x.to_le_bytes()));
    let f32s = |b: &mut Vec<u8>, v: &[f32]| v.iter().for_each(|x| b.extend(x.to_le_bytes()));
    i32s(&mut b, &[MAGIC, 12]);
    // dim ws epoch minCount neg wordNgrams loss model bucket minn maxn lrUpdateRate, then t
    i32s(
        &mut b,
        &[2, 5, 5, 1, 5, 1, loss, 3, bucket, minn, maxn, 100],
    );
    b.extend(1e-4f64.to_le_bytes());
    // size, nwords, nlabels, ntokens, pruneidx_size (-1: not pruned)
    i32s(&mut b, &[6, 3, 3]);
    b.extend(100i64.to_le_bytes());
    b.extend((-1i64).to_le_bytes());
    for (i, (word, count)) in words.iter().enumerate() {
        b.extend(word.as_bytes());
        b.push(0);
        b.extend(count.to_le_bytes());
        b.push(u8::from(i >= 3)); // 0 word, 1 label
    }
    b.push(0); // dense input
    let rows = 3 + bucket as i64;
    b.extend(rows.to_le_bytes());
    b.extend(2i64.to_le_bytes());
    for r in 0..rows {
        f32s(&mut b, &[r as f32 * 0.5, 1.0 - r as f32 * 0.25]);
    }
    b.push(0); // dense output
    b.extend(3i64.to_le_bytes());
    b.extend(2i64.to_le_bytes());
    f32s(&mut b, &[1.0, 0.0, 0.0, 1.0, -1.0, -1.0]);
    b
}
