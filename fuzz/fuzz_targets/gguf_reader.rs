//! Bytes → the GGUF reader: the header, the metadata look-ups, the tensor
//! table, a few tensors' data, and the model config read from it. The same
//! bytes also go through the header-only path the benchmark uses
//! (`SyntheticSource`), which accepts a file cut after its tensor table.
//! Any input must give `Ok` or a typed error: a panic is a finding.

#![no_main]

use libfuzzer_sys::fuzz_target;
use locus::gguf::{ByteSource, GgufFile, SyntheticSource};
use locus::model::ModelConfig;

/// Tensors whose data is read per input (the smallest ones: speed).
const TENSORS_READ: usize = 4;

fuzz_target!(|data: &[u8]| {
    let mut source = data;
    if let Ok(file) = GgufFile::read(&mut source) {
        check_header(&file, data.len() as u64);
        let mut tensors: Vec<_> = file.tensors.iter().collect();
        tensors.sort_by_key(|t| t.bytes);
        for tensor in tensors.into_iter().take(TENSORS_READ) {
            let bytes = file
                .read_tensor(&mut source, tensor)
                .expect("a tensor the reader accepted lies inside the file");
            assert_eq!(bytes.len() as u64, tensor.bytes);
        }
        exercise_metadata(&file);
    }
    if let Ok((file, synthetic)) = SyntheticSource::new(data.to_vec()) {
        check_header(&file, synthetic.len());
        exercise_metadata(&file);
    }
});

/// What the reader promises about an accepted header.
fn check_header(file: &GgufFile, file_len: u64) {
    assert!(file.alignment.is_power_of_two());
    assert!(file.data_offset.is_multiple_of(file.alignment));
    for tensor in &file.tensors {
        assert!(!tensor.dims.is_empty() && tensor.dims.len() <= 4);
        let end = tensor.offset.checked_add(tensor.bytes).expect("tensor end");
        assert!(end <= file_len, "tensor {} ends past the file", tensor.name);
        assert!(tensor.offset >= file.data_offset);
        let _ = (tensor.elements(), tensor.rows(), tensor.row_len());
        assert!(file.tensor(&tensor.name).is_some());
    }
}

/// Every typed look-up on every key, then the model config.
fn exercise_metadata(file: &GgufFile) {
    let meta = &file.metadata;
    for (key, value) in meta.iter() {
        let _ = (value.type_name(), value.as_i64(), value.as_f64());
        let _ = meta.str(key);
        let _ = meta.u64(key);
        let _ = meta.f32(key);
        let _ = meta.opt_bool(key);
        let _ = meta.string_array(key);
        let _ = meta.f32_array(key);
        let _ = meta.i64_array(key);
    }
    if let Ok(config) = ModelConfig::from_gguf(file) {
        let _ = (config.q_width(), config.kv_width(), config.v_width());
        for layer in 0..config.block_count.min(64) {
            let _ = config.is_sliding(layer);
        }
    }
}
