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

// The hostile headers (each a typed error at import, also under wasm32):
// shared with `tests/wasm/`, which runs them in Node.
mod hostile;
