//! Reader tests on synthetic files, including every kind of damage.

use super::*;
use crate::quant::GgmlType;

/// Writes GGUF bytes field by field, so tests can also write broken files.
#[derive(Default)]
struct Builder(Vec<u8>);

impl Builder {
    fn u32(mut self, v: u32) -> Self {
        self.0.extend(v.to_le_bytes());
        self
    }
    fn u64(mut self, v: u64) -> Self {
        self.0.extend(v.to_le_bytes());
        self
    }
    fn str(self, s: &str) -> Self {
        let mut b = self.u64(s.len() as u64);
        b.0.extend(s.as_bytes());
        b
    }
    fn header(self, version: u32, tensors: u64, kvs: u64) -> Self {
        let mut b = self;
        b.0.extend(b"GGUF");
        b.u32(version).u64(tensors).u64(kvs)
    }
    fn kv_str(self, key: &str, value: &str) -> Self {
        self.str(key).u32(8).str(value)
    }
    fn kv_u32(self, key: &str, value: u32) -> Self {
        self.str(key).u32(4).u32(value)
    }
    fn tensor(self, name: &str, dims: &[u64], ty: u32, offset: u64) -> Self {
        let mut b = self.str(name).u32(dims.len() as u32);
        for &d in dims {
            b = b.u64(d);
        }
        b.u32(ty).u64(offset)
    }
    fn raw(mut self, bytes: &[u8]) -> Self {
        self.0.extend(bytes);
        self
    }
    /// Pads to the 32-byte data section and appends `data`.
    fn data(mut self, data: &[u8]) -> Vec<u8> {
        self.0.resize(self.0.len().next_multiple_of(32), 0);
        self.0.extend(data);
        self.0
    }
}

/// A valid file: two metadata entries, an f32 [4, 2] tensor and a Q8_0 [32] tensor.
fn sample() -> Vec<u8> {
    let f32_data: Vec<u8> = (0..8).flat_map(|i| (i as f32).to_le_bytes()).collect();
    let mut data = f32_data.clone();
    data.resize(64, 0); // the second tensor starts at a 32-byte boundary
    data.extend(half::f16::from_f32(0.5).to_le_bytes());
    data.extend((0..32).map(|i| i as u8));
    Builder::default()
        .header(3, 2, 3)
        .kv_str("general.architecture", "llama")
        .kv_u32("llama.block_count", 2)
        .str("tokenizer.ggml.tokens")
        .u32(9)
        .u32(8)
        .u64(2)
        .str("a")
        .str("b")
        .tensor("w", &[4, 2], GgmlType::F32.id(), 0)
        .tensor("q", &[32], GgmlType::Q8_0.id(), 64)
        .data(&data)
}

#[test]
fn reads_a_valid_file() {
    let mut bytes = sample();
    let file = GgufFile::read(&mut bytes).unwrap();
    assert_eq!(file.version, 3);
    assert_eq!(file.metadata.str("general.architecture").unwrap(), "llama");
    assert_eq!(file.metadata.u64("llama.block_count").unwrap(), 2);
    assert_eq!(
        file.metadata.string_array("tokenizer.ggml.tokens").unwrap(),
        ["a", "b"]
    );
    let w = file.tensor("w").unwrap();
    assert_eq!(
        (w.dims.as_slice(), w.ty, w.bytes, w.rows()),
        (&[4u64, 2][..], GgmlType::F32, 32, 2)
    );
    let raw = file.read_tensor(&mut bytes, w).unwrap();
    assert_eq!(f32::from_le_bytes(raw[28..32].try_into().unwrap()), 7.0);
    let q = file.tensor("q").unwrap();
    assert_eq!((q.offset - file.data_offset, q.bytes), (64, 34));
}

fn error_of(bytes: Vec<u8>) -> GgufError {
    let mut bytes = bytes;
    GgufFile::read(&mut bytes).expect_err("the reader must refuse this file")
}

#[test]
fn refuses_bad_magic_and_versions() {
    let mut bytes = sample();
    bytes[0] = b'X';
    assert!(matches!(error_of(bytes), GgufError::BadMagic(m) if &m == b"XGUF"));
    for version in [1, 4, 0xFFFF_FFFF] {
        let mut bytes = sample();
        bytes[4..8].copy_from_slice(&u32::to_le_bytes(version));
        assert!(matches!(error_of(bytes), GgufError::UnsupportedVersion(v) if v == version));
    }
}

#[test]
fn every_truncation_is_an_error() {
    let full = sample();
    for len in 0..full.len() {
        let error = error_of(full[..len].to_vec());
        assert!(
            matches!(
                error,
                GgufError::Truncated { .. } | GgufError::ImplausibleCount { .. }
            ),
            "cut at {len}: {error}"
        );
    }
}

#[test]
fn absurd_counts_do_not_allocate() {
    let huge = 1u64 << 40;
    let error = error_of(Builder::default().header(3, huge, 0).data(&[]));
    assert!(
        matches!(error, GgufError::ImplausibleCount { what: "tensors", count, .. } if count == huge),
        "{error}"
    );
    let error = error_of(Builder::default().header(3, 0, huge).data(&[]));
    assert!(
        matches!(
            error,
            GgufError::ImplausibleCount {
                what: "metadata entries",
                ..
            }
        ),
        "{error}"
    );
    // An array claiming 2^40 strings, and a string claiming 2^60 bytes.
    let array = Builder::default()
        .header(3, 0, 1)
        .str("k")
        .u32(9)
        .u32(8)
        .u64(huge)
        .data(&[]);
    assert!(matches!(
        error_of(array),
        GgufError::ImplausibleCount {
            what: "array items",
            ..
        }
    ));
    let string = Builder::default()
        .header(3, 0, 1)
        .str("k")
        .u32(8)
        .u64(1 << 60)
        .data(&[]);
    assert!(matches!(error_of(string), GgufError::Truncated { .. }));
}

#[test]
fn refuses_broken_tables() {
    let unknown_type = Builder::default()
        .header(3, 1, 0)
        .tensor("t", &[32], 99, 0)
        .data(&[0; 64]);
    let error = error_of(unknown_type);
    assert!(
        matches!(&error, GgufError::TensorType { tensor, .. } if tensor == "t"),
        "{error}"
    );
    let past_end = Builder::default()
        .header(3, 1, 0)
        .tensor("t", &[1000], GgmlType::F32.id(), 0)
        .data(&[0; 64]);
    assert!(matches!(error_of(past_end), GgufError::Truncated { .. }));
    let misaligned = Builder::default()
        .header(3, 1, 0)
        .tensor("t", &[1], GgmlType::F32.id(), 4)
        .data(&[0; 64]);
    assert!(matches!(error_of(misaligned), GgufError::BadTensor { .. }));
    let five_dims = Builder::default()
        .header(3, 1, 0)
        .tensor("t", &[1, 1, 1, 1, 1], GgmlType::F32.id(), 0)
        .data(&[0; 64]);
    assert!(matches!(error_of(five_dims), GgufError::BadTensor { .. }));
    let overflow = Builder::default()
        .header(3, 1, 0)
        .tensor("t", &[1 << 40, 1 << 40], GgmlType::F32.id(), 0)
        .data(&[0; 64]);
    assert!(matches!(
        error_of(overflow),
        GgufError::BadTensor { .. } | GgufError::TensorType { .. }
    ));
    let twice = Builder::default()
        .header(3, 0, 2)
        .kv_u32("k", 1)
        .kv_u32("k", 2)
        .data(&[]);
    assert!(matches!(error_of(twice), GgufError::DuplicateKey(k) if k == "k"));
    let bad_value = Builder::default()
        .header(3, 0, 1)
        .str("k")
        .u32(13)
        .data(&[0; 8]);
    assert!(matches!(
        error_of(bad_value),
        GgufError::BadValueType { type_id: 13, .. }
    ));
    let bad_utf8 = Builder::default()
        .header(3, 0, 1)
        .str("k")
        .u32(8)
        .u64(2)
        .raw(&[0xC3, 0x28])
        .data(&[]);
    assert!(matches!(error_of(bad_utf8), GgufError::BadUtf8 { .. }));
}

#[test]
fn every_flipped_byte_is_handled() {
    // Flip each byte of the header in turn: the reader may accept the result or
    // refuse it, but must neither panic nor read or allocate past the file.
    let original = sample();
    let header_len = original.len() - 98;
    for at in 0..header_len {
        for flip in [0x01u8, 0x80, 0xFF] {
            let mut bytes = original.clone();
            bytes[at] ^= flip;
            let _ = GgufFile::read(&mut bytes);
        }
    }
}

#[test]
fn typed_lookups_say_what_is_wrong() {
    let mut bytes = sample();
    let file = GgufFile::read(&mut bytes).unwrap();
    let meta = &file.metadata;
    assert!(matches!(meta.str("missing"), Err(GgufError::MissingKey(_))));
    assert!(matches!(
        meta.u64("general.architecture"),
        Err(GgufError::WrongType {
            expected: "a non-negative integer",
            found: "string",
            ..
        })
    ));
    assert!(matches!(
        meta.f32_array("tokenizer.ggml.tokens"),
        Err(GgufError::WrongType { .. })
    ));
}
