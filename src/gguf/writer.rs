//! Writes a GGUF header (version 3): metadata, then the tensor table laid out
//! at aligned offsets. With [`super::SyntheticSource`] it gives a model of any
//! real shape without its weights (the benchmark, the load tests); with the
//! tensors' bytes appended it is a complete file (test models for llama.cpp).

use super::{DEFAULT_ALIGNMENT, MAGIC, Value};
use crate::quant::{GgmlType, QuantError};

/// One tensor of the table: `dims[0]` is the row length, as in the file.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorSpec {
    pub name: String,
    pub dims: Vec<u64>,
    pub ty: GgmlType,
}

impl TensorSpec {
    pub fn new(name: impl Into<String>, dims: &[u64], ty: GgmlType) -> TensorSpec {
        TensorSpec {
            name: name.into(),
            dims: dims.to_vec(),
            ty,
        }
    }

    /// Bytes of the tensor's data.
    pub fn bytes(&self) -> Result<u64, QuantError> {
        let row_len = self.dims.first().copied().unwrap_or(1);
        let rows: u64 = self.dims.iter().skip(1).product();
        let row_bytes = self.ty.row_bytes(row_len as usize)?;
        Ok(row_bytes as u64 * rows)
    }
}

/// The header bytes (padded to the data section) and, for each tensor, where
/// its data starts relative to the end of the header.
pub struct WrittenHeader {
    pub bytes: Vec<u8>,
    pub offsets: Vec<u64>,
    /// Bytes of the data section: every tensor, each padded to the alignment.
    pub data_len: u64,
}

/// Writes `metadata` (in order) and `tensors`' table; tensor data is laid out
/// in table order at 32-byte boundaries.
pub fn write_header(
    metadata: &[(String, Value)],
    tensors: &[TensorSpec],
) -> Result<WrittenHeader, QuantError> {
    let mut out = MAGIC.to_vec();
    out.extend(3u32.to_le_bytes());
    out.extend((tensors.len() as u64).to_le_bytes());
    out.extend((metadata.len() as u64).to_le_bytes());
    for (key, value) in metadata {
        put_str(&mut out, key);
        out.extend(type_id(value).to_le_bytes());
        put_value(&mut out, value);
    }
    let mut offsets = Vec::with_capacity(tensors.len());
    let mut next = 0u64;
    for tensor in tensors {
        put_str(&mut out, &tensor.name);
        out.extend((tensor.dims.len() as u32).to_le_bytes());
        tensor.dims.iter().for_each(|d| out.extend(d.to_le_bytes()));
        out.extend(tensor.ty.id().to_le_bytes());
        out.extend(next.to_le_bytes());
        offsets.push(next);
        next = (next + tensor.bytes()?).next_multiple_of(DEFAULT_ALIGNMENT);
    }
    out.resize(out.len().next_multiple_of(DEFAULT_ALIGNMENT as usize), 0);
    Ok(WrittenHeader {
        bytes: out,
        offsets,
        data_len: next,
    })
}

/// Appends a GGUF string (u64 length, then the bytes).
pub fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend((s.len() as u64).to_le_bytes());
    out.extend(s.as_bytes());
}

/// The GGUF type id of a metadata value.
pub fn type_id(value: &Value) -> u32 {
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

/// Appends a metadata value's bytes (without its type id).
pub fn put_value(out: &mut Vec<u8>, value: &Value) {
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
            // An empty array still needs an item type; u8 is as good as any.
            out.extend(items.first().map_or(0, type_id).to_le_bytes());
            out.extend((items.len() as u64).to_le_bytes());
            items.iter().for_each(|item| put_value(out, item));
        }
        Value::U64(v) => out.extend(v.to_le_bytes()),
        Value::I64(v) => out.extend(v.to_le_bytes()),
        Value::F64(v) => out.extend(v.to_le_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gguf::{GgufFile, SyntheticSource};

    #[test]
    fn a_written_header_reads_back_with_its_metadata_and_tensors() {
        let metadata = vec![
            (
                "general.architecture".to_string(),
                Value::String("qwen3".into()),
            ),
            ("qwen3.block_count".to_string(), Value::U32(2)),
            ("qwen3.rope.freq_base".to_string(), Value::F32(1e6)),
            (
                "tokenizer.ggml.tokens".to_string(),
                Value::Array(vec![Value::String("a".into()), Value::String("b".into())]),
            ),
        ];
        let tensors = [
            TensorSpec::new("token_embd.weight", &[64, 2], GgmlType::Q8_0),
            TensorSpec::new("output_norm.weight", &[64], GgmlType::F32),
        ];
        let header = write_header(&metadata, &tensors).unwrap();
        assert_eq!(header.offsets, [0, 160]);
        assert_eq!(header.data_len, 160 + 256);
        let (file, _) = SyntheticSource::new(header.bytes.clone()).unwrap();
        assert_eq!(file.metadata.str("general.architecture").unwrap(), "qwen3");
        assert_eq!(file.metadata.u64("qwen3.block_count").unwrap(), 2);
        assert_eq!(
            file.metadata.string_array("tokenizer.ggml.tokens").unwrap(),
            ["a", "b"]
        );
        let read: Vec<_> = file
            .tensors
            .iter()
            .map(|t| {
                (
                    t.name.as_str(),
                    t.dims.clone(),
                    t.ty,
                    t.offset - file.data_offset,
                )
            })
            .collect();
        assert_eq!(
            read,
            [
                ("token_embd.weight", vec![64, 2], GgmlType::Q8_0, 0),
                ("output_norm.weight", vec![64], GgmlType::F32, 160),
            ]
        );
        // With its data appended it is a complete file.
        let mut whole = header.bytes;
        whole.resize(whole.len() + header.data_len as usize, 0);
        assert!(GgufFile::read(&mut whole).is_ok());
    }
}
