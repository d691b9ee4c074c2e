//! Models of real architectures and shapes without their weights: a GGUF
//! header written from a model's published configuration, the tokenizer of a
//! real model of the same family, and sane random weights (`weights`),
//! served on the fly (1–2B models: loading and decoding) or written out (a
//! small complete file that llama.cpp runs as the oracle: `oracle`).

#![allow(dead_code)]

pub mod oracle;
pub mod weights;

use std::path::Path;

use locus::gguf::{GgufFile, TensorSpec, Value, write_header};
use locus::quant::GgmlType;

/// A decoder's shape, as its GGUF metadata states it.
#[derive(Debug, Clone)]
pub struct Shape {
    pub arch: &'static str,
    pub name: &'static str,
    pub embd: u64,
    pub layers: u64,
    pub heads: u64,
    pub kv_heads: u64,
    pub head_dim: u64,
    pub ff: u64,
    pub context: u64,
    pub rope_base: f32,
    pub rms_eps: f32,
    /// No `output.weight`: the logits reuse the embedding.
    pub tied: bool,
    /// Further `{arch}.*` keys (sliding window, local RoPE base, …).
    pub extra: Vec<(&'static str, Value)>,
}

/// Tensor types for a shape: `quantised(cols, prefer)` picks `prefer` where
/// the row length allows its 256-wide blocks, else llama.cpp's fallback.
pub struct Types {
    pub embedding: GgmlType,
    pub attn: GgmlType,
    /// `attn_v` and `ffn_down`, which Q4_K_M keeps at higher precision.
    pub sensitive: GgmlType,
    pub ffn: GgmlType,
}

impl Types {
    /// Q4_K_M's mix: Q4_K, Q6_K for the sensitive matrices and the embedding.
    pub const Q4_K_M: Types = Types {
        embedding: GgmlType::Q6_K,
        attn: GgmlType::Q4_K,
        sensitive: GgmlType::Q6_K,
        ffn: GgmlType::Q4_K,
    };

    /// Q8_0 everywhere (Qwen3's own Q8_0 releases).
    pub const Q8_0: Types = Types {
        embedding: GgmlType::Q8_0,
        attn: GgmlType::Q8_0,
        sensitive: GgmlType::Q8_0,
        ffn: GgmlType::Q8_0,
    };
}

/// llama.cpp's fallback when a row is not a whole number of 256-wide blocks.
fn quantised(cols: u64, prefer: GgmlType) -> GgmlType {
    if cols.is_multiple_of(256) || prefer.block_size() == 32 {
        return prefer;
    }
    match prefer {
        GgmlType::Q4_K => GgmlType::Q5_0,
        GgmlType::Q5_K => GgmlType::Q5_1,
        _ => GgmlType::Q8_0,
    }
}

/// The tensor table llama.cpp's converter writes for `shape`, in its order.
pub fn tensors(shape: &Shape, vocab: u64, types: &Types) -> Vec<TensorSpec> {
    let (d, hd) = (shape.embd, shape.head_dim);
    let q = shape.heads * hd;
    let kv = shape.kv_heads * hd;
    let matrix = |name: String, cols: u64, rows: u64, ty: GgmlType| {
        TensorSpec::new(name, &[cols, rows], quantised(cols, ty))
    };
    let vector = |name: String, len: u64| TensorSpec::new(name, &[len], GgmlType::F32);
    let mut out = vec![matrix(
        "token_embd.weight".into(),
        d,
        vocab,
        types.embedding,
    )];
    if !shape.tied {
        out.push(matrix("output.weight".into(), d, vocab, types.embedding));
    }
    out.push(vector("output_norm.weight".into(), d));
    if shape.arch == "llama" {
        // Llama 3.x's RoPE frequency factors (one per rotated pair).
        out.push(vector("rope_freqs.weight".into(), hd / 2));
    }
    for i in 0..shape.layers {
        let name = |part: &str| format!("blk.{i}.{part}");
        out.push(vector(name("attn_norm.weight"), d));
        out.push(matrix(name("attn_q.weight"), d, q, types.attn));
        out.push(matrix(name("attn_k.weight"), d, kv, types.attn));
        out.push(matrix(name("attn_v.weight"), d, kv, types.sensitive));
        if shape.arch == "qwen2" {
            out.push(vector(name("attn_q.bias"), q));
            out.push(vector(name("attn_k.bias"), kv));
            out.push(vector(name("attn_v.bias"), kv));
        }
        if matches!(shape.arch, "qwen3" | "gemma3") {
            out.push(vector(name("attn_q_norm.weight"), hd));
            out.push(vector(name("attn_k_norm.weight"), hd));
        }
        out.push(matrix(name("attn_output.weight"), q, d, types.attn));
        if shape.arch == "gemma3" {
            out.push(vector(name("post_attention_norm.weight"), d));
        }
        out.push(vector(name("ffn_norm.weight"), d));
        out.push(matrix(name("ffn_gate.weight"), d, shape.ff, types.ffn));
        out.push(matrix(name("ffn_up.weight"), d, shape.ff, types.ffn));
        out.push(matrix(
            name("ffn_down.weight"),
            shape.ff,
            d,
            types.sensitive,
        ));
        if shape.arch == "gemma3" {
            out.push(vector(name("post_ffw_norm.weight"), d));
        }
    }
    out
}

/// Every `tokenizer.*` key of a real model (vocabulary, merges, template).
pub fn tokenizer_of(path: &Path) -> Vec<(String, Value)> {
    let mut file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let header = GgufFile::read(&mut file).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    header
        .metadata
        .iter()
        .filter(|(key, _)| key.starts_with("tokenizer."))
        .map(|(key, value)| (key.to_string(), value.clone()))
        .collect()
}

/// The number of tokens in tokenizer metadata.
pub fn vocab_size(tokenizer: &[(String, Value)]) -> u64 {
    match tokenizer.iter().find(|(k, _)| k == "tokenizer.ggml.tokens") {
        Some((_, Value::Array(tokens))) => tokens.len() as u64,
        _ => panic!("tokenizer metadata without tokenizer.ggml.tokens"),
    }
}

/// Sets `key` (replacing it where present, else appending it).
pub fn set(entries: &mut Vec<(String, Value)>, key: &str, value: Value) {
    match entries.iter_mut().find(|(k, _)| k == key) {
        Some(entry) => entry.1 = value,
        None => entries.push((key.to_string(), value)),
    }
}

/// Replaces token `id`'s text and type in tokenizer metadata.
pub fn set_token(tokenizer: &mut [(String, Value)], id: usize, text: &str, token_type: i32) {
    for (key, value) in tokenizer.iter_mut() {
        match (key.as_str(), value) {
            ("tokenizer.ggml.tokens", Value::Array(tokens)) => {
                tokens[id] = Value::String(text.into())
            }
            ("tokenizer.ggml.token_type", Value::Array(types)) => {
                types[id] = Value::I32(token_type)
            }
            _ => {}
        }
    }
}

/// Control tokens at the end of Llama 3's vocabulary
/// (`<|begin_of_text|>`, `<|eot_id|>`, `<|reserved_special_token_N|>`…).
const LLAMA3_CONTROL_TOKENS: usize = 256;

/// Pads a vocabulary up to `size` as Llama 3's is laid out: plain tokens
/// (never produced by its merges), then 256 control tokens
/// `<|reserved_special_token_N|>`. Padding with control tokens only would
/// be 79,000 of them, past the tokenizer's bound on special tokens' bytes
/// (`tokenizer::MAX_ADDED_BYTES`), which a real Llama 3 stays far below.
pub fn pad_vocabulary(tokenizer: &mut [(String, Value)], size: usize) {
    let control_from = size - LLAMA3_CONTROL_TOKENS;
    for (key, value) in tokenizer.iter_mut() {
        let Value::Array(items) = value else { continue };
        let start = items.len();
        match key.as_str() {
            "tokenizer.ggml.tokens" => items.extend((start..size).map(|i| {
                Value::String(match i < control_from {
                    true => format!("<pad_{i}>"),
                    false => format!("<|reserved_special_token_{i}|>"),
                })
            })),
            "tokenizer.ggml.token_type" => items
                .extend((start..size).map(|i| Value::I32(if i < control_from { 1 } else { 3 }))),
            "tokenizer.ggml.scores" => items.resize(size, Value::F32(0.0)),
            _ => {}
        }
    }
}

/// The whole metadata of `shape` with `tokenizer`: `general.*`, `{arch}.*`,
/// then the tokenizer's keys.
pub fn metadata(shape: &Shape, tokenizer: &[(String, Value)]) -> Vec<(String, Value)> {
    let arch = shape.arch;
    let key = |suffix: &str| format!("{arch}.{suffix}");
    let mut out = vec![
        (
            "general.architecture".to_string(),
            Value::String(arch.into()),
        ),
        ("general.name".to_string(), Value::String(shape.name.into())),
        (key("context_length"), Value::U32(shape.context as u32)),
        (key("embedding_length"), Value::U32(shape.embd as u32)),
        (key("block_count"), Value::U32(shape.layers as u32)),
        (key("feed_forward_length"), Value::U32(shape.ff as u32)),
        (key("attention.head_count"), Value::U32(shape.heads as u32)),
        (
            key("attention.head_count_kv"),
            Value::U32(shape.kv_heads as u32),
        ),
        (
            key("attention.key_length"),
            Value::U32(shape.head_dim as u32),
        ),
        (
            key("attention.value_length"),
            Value::U32(shape.head_dim as u32),
        ),
        (key("rope.freq_base"), Value::F32(shape.rope_base)),
        (
            key("attention.layer_norm_rms_epsilon"),
            Value::F32(shape.rms_eps),
        ),
    ];
    out.extend(
        shape
            .extra
            .iter()
            .map(|(suffix, value)| (key(suffix), value.clone())),
    );
    out.extend(tokenizer.iter().cloned());
    out
}

/// A GGUF header for `shape` (the data to be synthesised or appended).
pub fn header(shape: &Shape, tokenizer: &[(String, Value)], types: &Types) -> Vec<u8> {
    let table = tensors(shape, vocab_size(tokenizer), types);
    write_header(&metadata(shape, tokenizer), &table)
        .unwrap()
        .bytes
}

/// A deterministic stream of 64-bit words (splitmix64).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: &str) -> Rng {
        // FNV-1a of the seed text: the same stream on every platform.
        let mut h = 0xcbf2_9ce4_8422_2325u64;
        for byte in seed.bytes() {
            h = (h ^ u64::from(byte)).wrapping_mul(0x100_0000_01b3);
        }
        Rng(h)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [-1, 1).
    pub fn signed_unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
}

/// Writes `bytes` to `name` in the tests' scratch folder (only when they
/// changed) and checks they are the file llama.cpp's fixture `fixture` was
/// made from; returns the path.
pub fn write_checked(name: &str, bytes: &[u8], fixture: &str) -> std::path::PathBuf {
    use sha2::{Digest, Sha256};
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    if std::fs::read(&path).ok().as_deref() != Some(bytes) {
        std::fs::write(&path, bytes).unwrap();
    }
    let sha = format!("{:x}", Sha256::digest(bytes));
    let expected = crate::common::fixture(fixture).meta["model_sha256"].clone();
    assert_eq!(
        expected.as_str(),
        Some(sha.as_str()),
        "the test model changed: regenerate its fixture with\n  \
         ~/.cache/locus/venv-llama/bin/python scripts/make_fixtures.py {} tests/fixtures/llama_cpp/{fixture}.json",
        path.display()
    );
    path
}

/// A complete GGUF of `shape` with sane random weights (see `weights`).
pub fn complete_model(shape: &Shape, tokenizer: &[(String, Value)], types: &Types) -> Vec<u8> {
    sane_source(shape, tokenizer, types).1.read_all()
}

/// The header of `shape` and a source that serves it with sane weights.
pub fn sane_source(
    shape: &Shape,
    tokenizer: &[(String, Value)],
    types: &Types,
) -> (locus::gguf::GgufFile, weights::SaneSource) {
    let header = header(shape, tokenizer, types);
    weights::SaneSource::new(header, shape.head_dim as usize, shape.rope_base)
}

/// The frequency factors llama.cpp's converter writes for Llama 3.1/3.2
/// (`rope_scaling`: factor 32, low 1, high 4, 8,192 original positions):
/// 1 for short wavelengths, 32 for long ones, a smooth step between.
pub fn llama3_rope_factors(head_dim: usize, base: f32) -> Vec<f32> {
    let (factor, low, high, original) = (32.0f64, 1.0f64, 4.0f64, 8192.0f64);
    (0..head_dim / 2)
        .map(|i| {
            let freq = 1.0 / f64::from(base).powf(2.0 * i as f64 / head_dim as f64);
            let wavelength = 2.0 * std::f64::consts::PI / freq;
            let value = if wavelength < original / high {
                1.0
            } else if wavelength > original / low {
                factor
            } else {
                let smooth = (original / wavelength - low) / (high - low);
                1.0 / ((1.0 - smooth) / factor + smooth)
            };
            value as f32
        })
        .collect()
}
