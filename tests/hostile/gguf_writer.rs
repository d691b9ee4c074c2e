//! Writing GGUF files for the hostile-header tests: a real header with its
//! metadata rewritten, and its tensor data as runs of zeros, so a file may
//! claim hundreds of megabytes without the test holding them.

use locus::gguf::{
    ByteSource, GgufError, GgufFile, TensorInfo, Value, put_str, put_value, type_id,
};

/// A file made of byte runs and runs of zeros.
pub struct Pieces(Vec<Piece>);

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

fn put_kv(out: &mut Vec<u8>, key: &str, value: &Value) {
    put_str(out, key);
    out.extend(type_id(value).to_le_bytes());
    put_value(out, value);
}

fn put_tensor(out: &mut Vec<u8>, tensor: &TensorInfo, data_offset: u64) {
    put_str(out, &tensor.name);
    out.extend((tensor.dims.len() as u32).to_le_bytes());
    tensor.dims.iter().for_each(|d| out.extend(d.to_le_bytes()));
    out.extend(tensor.ty.id().to_le_bytes());
    out.extend((tensor.offset - data_offset).to_le_bytes());
}

/// `header` with `edit` applied to its metadata, `huge_array` items of u8
/// appended as a last key (claimed, all zeros), then its tensor table and
/// zeros for the data.
pub fn rewritten(
    header: &GgufFile,
    edit: impl Fn(&mut Vec<(String, Value)>),
    huge_array: Option<u64>,
) -> Pieces {
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

/// Replaces the value of `key`, which must be there.
pub fn set(entries: &mut [(String, Value)], key: &str, value: Value) {
    let entry = entries.iter_mut().find(|(k, _)| k == key).unwrap();
    entry.1 = value;
}
