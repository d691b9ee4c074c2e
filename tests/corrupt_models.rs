//! Damaged and unsupported model files give typed errors naming the problem:
//! no panic, no huge allocation. Built from the real SmolLM2 file.

mod common;

use common::{MODELS, model_path};
use locus::engine::{EngineError, LoadedModel};
use locus::gguf::GgufError;
use locus::model::ModelError;

/// The first `len` bytes of the real model (its header is about 2 MB).
fn real_prefix(len: usize) -> Vec<u8> {
    let bytes = std::fs::read(model_path(MODELS[0].1)).unwrap();
    bytes[..len.min(bytes.len())].to_vec()
}

fn load(mut bytes: Vec<u8>) -> EngineError {
    match LoadedModel::load(&mut bytes) {
        Ok(_) => panic!("a damaged file was accepted"),
        Err(error) => error,
    }
}

#[test]
fn a_truncated_file_is_refused_with_where_it_ends() {
    for len in [0, 3, 24, 4096, 1_000_000, 50_000_000] {
        let error = load(real_prefix(len));
        let text = error.to_string();
        assert!(
            matches!(
                error,
                EngineError::Gguf(GgufError::Truncated { .. })
                    | EngineError::Gguf(GgufError::ImplausibleCount { .. })
            ),
            "{len} bytes: {text}"
        );
        assert!(
            text.contains("truncated") || text.contains("could hold"),
            "{text}"
        );
    }
}

#[test]
fn a_flipped_magic_byte_is_refused() {
    let mut bytes = real_prefix(4096);
    bytes[1] ^= 0x20;
    assert!(matches!(
        load(bytes),
        EngineError::Gguf(GgufError::BadMagic(_))
    ));
}

#[test]
fn flipped_header_bytes_never_panic() {
    // Every 499th byte of the first 64 KiB (metadata keys, lengths, types and
    // values), flipped in place; the unit tests sweep every byte of a small file.
    let mut bytes = std::fs::read(model_path(MODELS[0].1)).unwrap();
    for at in (0..65_536).step_by(499) {
        bytes[at] ^= 0xFF;
        let _ = LoadedModel::load(&mut bytes.as_slice());
        bytes[at] ^= 0xFF;
    }
}

#[test]
fn a_file_claiming_two_to_the_forty_tensors_is_refused() {
    let mut bytes = real_prefix(4096);
    bytes[8..16].copy_from_slice(&(1u64 << 40).to_le_bytes());
    let error = load(bytes);
    assert!(
        matches!(error, EngineError::Gguf(GgufError::ImplausibleCount { what: "tensors", count, .. }) if count == 1 << 40),
        "{error}"
    );
}

#[test]
fn an_unsupported_architecture_is_named() {
    let mut bytes = std::fs::read(model_path(MODELS[0].1)).unwrap();
    // Rewrite the value of general.architecture ("llama") in place.
    let key = b"general.architecture";
    let at = bytes.windows(key.len()).position(|w| w == key).unwrap() + key.len() + 4 + 8;
    assert_eq!(&bytes[at..at + 5], b"llama");
    bytes[at..at + 5].copy_from_slice(b"mamba");
    let error = load(bytes);
    assert!(
        matches!(&error, EngineError::Model(ModelError::UnsupportedArchitecture(a)) if a == "mamba"),
        "{error}"
    );
    assert!(error.to_string().contains("`mamba` is not supported"));
}

// ---- Hostile headers: each a typed error at import (`inspect_model`), never
// a panic, a trap, a huge allocation or a hang. The files are the real
// SmolLM2 header rewritten with one value changed; tensor data is zeros
// (import never reads it).

use locus::error::{ErrorCode, LocusError};
use locus::gguf::{ByteSource, GgufFile, TensorInfo, Value};
use locus::runtime::inspect_model;

/// A file made of byte runs and runs of zeros, so a header may claim
/// hundreds of megabytes without the test holding them.
struct Pieces(Vec<Piece>);

enum Piece {
    Bytes(Vec<u8>),
    Zeros(u64),
}

impl Piece {
    fn len(&self) -> u64 {
        match self {
            Piece::Bytes(bytes) => bytes.len() as u64,
            Piece::Zeros(n) => *n,
        }
    }
}

impl ByteSource for Pieces {
    fn len(&self) -> u64 {
        self.0.iter().map(Piece::len).sum()
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), GgufError> {
        buf.fill(0);
        let mut start = 0;
        for piece in &self.0 {
            let end = start + piece.len();
            if let Piece::Bytes(bytes) = piece {
                let lo = offset.max(start);
                let hi = (offset + buf.len() as u64).min(end);
                if lo < hi {
                    buf[(lo - offset) as usize..(hi - offset) as usize]
                        .copy_from_slice(&bytes[(lo - start) as usize..(hi - start) as usize]);
                }
            }
            start = end;
        }
        Ok(())
    }
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend((s.len() as u64).to_le_bytes());
    out.extend(s.as_bytes());
}

fn type_id(value: &Value) -> u32 {
    match value {
        Value::U8(_) => 0,
        Value::I8(_) => 1,
        Value::U16(_) => 2,
        Value::I16(_) => 3,
        Value::U32(_) => 4,
        Value::I32(_) => 5,
        Value::F32(_) => 6,
        Value::Bool(_) => 7,
        Value::String(_) => 8,
        Value::Array(_) => 9,
        Value::U64(_) => 10,
        Value::I64(_) => 11,
        Value::F64(_) => 12,
    }
}

fn put_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::U8(v) => out.push(*v),
        Value::I8(v) => out.extend(v.to_le_bytes()),
        Value::U16(v) => out.extend(v.to_le_bytes()),
        Value::I16(v) => out.extend(v.to_le_bytes()),
        Value::U32(v) => out.extend(v.to_le_bytes()),
        Value::I32(v) => out.extend(v.to_le_bytes()),
        Value::F32(v) => out.extend(v.to_le_bytes()),
        Value::Bool(v) => out.push(u8::from(*v)),
        Value::String(s) => put_str(out, s),
        Value::Array(items) => {
            out.extend(items.first().map_or(0, type_id).to_le_bytes());
            out.extend((items.len() as u64).to_le_bytes());
            items.iter().for_each(|item| put_value(out, item));
        }
        Value::U64(v) => out.extend(v.to_le_bytes()),
        Value::I64(v) => out.extend(v.to_le_bytes()),
        Value::F64(v) => out.extend(v.to_le_bytes()),
    }
}

fn put_kv(out: &mut Vec<u8>, key: &str, value: &Value) {
    put_str(out, key);
    out.extend(type_id(value).to_le_bytes());
    put_value(out, value);
}

/// SmolLM2's header with `edit` applied to its metadata, `huge_array`
/// items of u8 appended as a last key (claimed, all zeros), then its tensor
/// table and zeros for the data.
fn rewritten(edit: impl Fn(&mut Vec<(String, Value)>), huge_array: Option<u64>) -> Pieces {
    let mut file = std::fs::File::open(model_path(MODELS[0].1)).unwrap();
    let header = GgufFile::read(&mut file).unwrap();
    let mut entries: Vec<(String, Value)> = header
        .metadata
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    edit(&mut entries);
    let mut head = b"GGUF".to_vec();
    head.extend(3u32.to_le_bytes());
    head.extend((header.tensors.len() as u64).to_le_bytes());
    let kvs = entries.len() as u64 + u64::from(huge_array.is_some());
    head.extend(kvs.to_le_bytes());
    for (key, value) in &entries {
        put_kv(&mut head, key, value);
    }
    let mut pieces = Vec::new();
    if let Some(count) = huge_array {
        put_str(&mut head, "test.huge_array");
        head.extend(9u32.to_le_bytes());
        head.extend(0u32.to_le_bytes());
        head.extend(count.to_le_bytes());
        pieces.push(Piece::Bytes(std::mem::take(&mut head)));
        pieces.push(Piece::Zeros(count));
    }
    for tensor in &header.tensors {
        put_tensor(&mut head, tensor, header.data_offset);
    }
    let written = pieces.iter().map(Piece::len).sum::<u64>() + head.len() as u64;
    let pad = written.next_multiple_of(header.alignment) - written;
    head.extend(std::iter::repeat_n(0, pad as usize));
    pieces.push(Piece::Bytes(head));
    pieces.push(Piece::Zeros(header.file_len - header.data_offset));
    Pieces(pieces)
}

fn put_tensor(out: &mut Vec<u8>, tensor: &TensorInfo, data_offset: u64) {
    put_str(out, &tensor.name);
    out.extend((tensor.dims.len() as u32).to_le_bytes());
    tensor.dims.iter().for_each(|d| out.extend(d.to_le_bytes()));
    out.extend(tensor.ty.id().to_le_bytes());
    out.extend((tensor.offset - data_offset).to_le_bytes());
}

fn set(entries: &mut [(String, Value)], key: &str, value: Value) {
    let entry = entries.iter_mut().find(|(k, _)| k == key).unwrap();
    entry.1 = value;
}

/// `inspect_model`'s error on the file, which must be a typed `bad_model`.
fn refused(mut file: Pieces) -> String {
    let started = std::time::Instant::now();
    let error = match inspect_model(&mut file) {
        Ok(info) => panic!("a hostile file was accepted: {info}"),
        Err(error) => error,
    };
    assert!(matches!(error, LocusError::BadModel(_)), "{error}");
    assert_eq!(error.code(), ErrorCode::BadModel);
    let seconds = started.elapsed().as_secs_f64();
    eprintln!("refused in {seconds:.2} s: {error}");
    assert!(seconds < 30.0, "refusing took {seconds:.1} s");
    error.to_string()
}

#[test]
fn the_rewritten_header_is_accepted_unchanged() {
    let info = inspect_model(&mut rewritten(|_| {}, None)).unwrap();
    assert_eq!(info["layers"], 30);
    assert_eq!(info["chatTemplate"], "gguf");
}

#[test]
fn a_context_length_of_one_is_refused_at_import() {
    let file = rewritten(|e| set(e, "llama.context_length", Value::U32(1)), None);
    let error = refused(file);
    assert!(error.contains("context_length = 1"), "{error}");
}

#[test]
fn a_block_count_of_two_to_the_thirty_one_is_refused_at_import() {
    let file = rewritten(
        |e| set(e, "llama.block_count", Value::U32(0x7fff_ffff)),
        None,
    );
    let error = refused(file);
    assert!(error.contains("block_count"), "{error}");
    // One layer fewer than the tensors hold is refused too.
    let error = refused(rewritten(
        |e| set(e, "llama.block_count", Value::U32(29)),
        None,
    ));
    assert!(error.contains("outside the 29 layers"), "{error}");
}

#[test]
fn out_of_range_config_values_are_refused_at_import() {
    for (key, value) in [
        (
            "llama.attention.layer_norm_rms_epsilon",
            Value::F32(f32::NAN),
        ),
        ("llama.rope.freq_base", Value::F32(-1.0)),
        ("llama.embedding_length", Value::U64(1 << 40)),
        ("llama.feed_forward_length", Value::U32(0)),
    ] {
        let error = refused(rewritten(|e| set(e, key, value.clone()), None));
        assert!(error.contains(key), "{key}: {error}");
    }
}

#[test]
fn a_300_million_item_metadata_array_is_refused_before_allocating() {
    let error = refused(rewritten(|_| {}, Some(300_000_000)));
    assert!(error.contains("test.huge_array"), "{error}");
}

/// SmolLM2's header with its chat template replaced.
fn with_template(template: &str) -> Pieces {
    let template = Value::String(template.to_string());
    rewritten(
        |e| set(e, "tokenizer.chat_template", template.clone()),
        None,
    )
}

#[test]
fn an_exponential_chat_template_is_refused_at_import() {
    // 2^40 macro calls: hours without a fuel limit.
    let error = refused(with_template(
        "{% macro f(n) %}{% if n > 0 %}{{ f(n - 1) }}{{ f(n - 1) }}{% else %}x{% endif %}{% endmacro %}\
         {% for m in messages %}<|im_start|>{{ m.role }}\n{{ f(40) }}<|im_end|>\n{% endfor %}",
    ));
    assert!(error.contains("instructions"), "{error}");
    // Output that doubles each turn is capped.
    let error = refused(with_template(
        "{% for i in range(100000) %}{{ messages[0].content * 1000 }}{% endfor %}",
    ));
    assert!(error.contains("writes more than"), "{error}");
}

#[test]
fn a_chat_template_that_loops_only_on_turn_three_is_refused_at_import() {
    let error = refused(with_template(
        "{% for m in messages %}{% if loop.index == 3 %}{% for i in range(100000) %}\
         {% for j in range(100000) %}{% endfor %}{% endfor %}{% endif %}\
         <|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}\
         {% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}",
    ));
    assert!(error.contains("instructions"), "{error}");
}
