//! Parsing the header: magic, version, metadata, tensor table, alignment.

use std::collections::HashSet;

use super::metadata::{Metadata, Value};
use super::source::ByteSource;
use super::{DEFAULT_ALIGNMENT, GgufError, MAGIC};
use crate::quant::GgmlType;

/// ggml tensors have at most four dimensions.
const MAX_DIMS: u32 = 4;
/// Nested metadata arrays deeper than this are refused.
const MAX_DEPTH: usize = 4;
/// How much of the file the cursor reads at a time while parsing the header.
const CHUNK: usize = 1 << 16;
/// Memory the parsed metadata may take (values and string bytes). The
/// largest vocabularies we know (Gemma 3: 262,144 tokens with scores and
/// types; Qwen2: 151,936 tokens and 151,387 merges) take under 40 MiB; a
/// header claiming a 300M-item array is refused before anything is allocated.
pub(crate) const METADATA_BUDGET: u64 = 256 << 20;

/// One tensor of the table.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorInfo {
    pub name: String,
    /// ggml order: `dims[0]` is the row length (the fastest-varying dimension).
    pub dims: Vec<u64>,
    pub ty: GgmlType,
    /// Absolute position of the data in the file.
    pub offset: u64,
    pub bytes: u64,
}

impl TensorInfo {
    pub fn elements(&self) -> u64 {
        self.dims.iter().product()
    }

    /// Number of rows (product of every dimension but the first).
    pub fn rows(&self) -> u64 {
        self.dims.iter().skip(1).product()
    }

    pub fn row_len(&self) -> u64 {
        self.dims.first().copied().unwrap_or(1)
    }
}

/// A parsed GGUF header. Tensor data stays in the source until asked for.
#[derive(Debug, Clone)]
pub struct GgufFile {
    pub version: u32,
    pub metadata: Metadata,
    pub tensors: Vec<TensorInfo>,
    pub alignment: u64,
    /// Where the tensor data section starts.
    pub data_offset: u64,
    pub file_len: u64,
}

impl GgufFile {
    /// Reads the header. Tensor data is checked to lie inside the file but not read.
    pub fn read<S: ByteSource>(source: &mut S) -> Result<GgufFile, GgufError> {
        Self::read_checked(source, true)
    }

    /// Reads a header that may be cut off after its tensor table (see
    /// `SyntheticSource`): tensor data is not required to be present, and
    /// `file_len` becomes the end of the last tensor.
    pub fn read_header_only<S: ByteSource>(source: &mut S) -> Result<GgufFile, GgufError> {
        Self::read_checked(source, false)
    }

    fn read_checked<S: ByteSource>(
        source: &mut S,
        data_present: bool,
    ) -> Result<GgufFile, GgufError> {
        let mut cursor = Cursor::new(source);
        let magic: [u8; 4] = cursor.array("the magic bytes")?;
        if magic != MAGIC {
            return Err(GgufError::BadMagic(magic));
        }
        let version = cursor.u32("the version")?;
        if !(2..=3).contains(&version) {
            return Err(GgufError::UnsupportedVersion(version));
        }
        let n_tensors = cursor.u64("the tensor count")?;
        let n_kv = cursor.u64("the metadata count")?;
        // A key-value pair takes at least 13 bytes, a tensor entry at least 24.
        cursor.check_count("metadata entries", n_kv, 13)?;
        cursor.check_count("tensors", n_tensors, 24)?;

        let mut metadata = Metadata::default();
        for _ in 0..n_kv {
            let key = cursor.string("a metadata key")?;
            let type_id = cursor.u32("a metadata type")?;
            let value = cursor.value(&key, type_id, 0)?;
            metadata.insert(key, value)?;
        }

        let alignment = match metadata.get("general.alignment") {
            None => DEFAULT_ALIGNMENT,
            Some(_) => metadata.u64("general.alignment")?,
        };
        if alignment == 0 || !alignment.is_power_of_two() {
            return Err(GgufError::BadAlignment(alignment));
        }

        let mut raw = Vec::with_capacity(n_tensors as usize);
        let mut names = HashSet::new();
        for _ in 0..n_tensors {
            let name = cursor.string("a tensor name")?;
            if !names.insert(name.clone()) {
                return Err(GgufError::DuplicateTensor(name));
            }
            let n_dims = cursor.u32("a tensor's dimension count")?;
            if n_dims == 0 || n_dims > MAX_DIMS {
                return Err(GgufError::BadTensor {
                    tensor: name,
                    reason: format!("{n_dims} dimensions (1 to {MAX_DIMS} allowed)"),
                });
            }
            let dims = (0..n_dims)
                .map(|_| cursor.u64("a tensor dimension"))
                .collect::<Result<Vec<_>, _>>()?;
            let type_id = cursor.u32("a tensor type")?;
            let ty = GgmlType::from_id(type_id).map_err(|source| GgufError::TensorType {
                tensor: name.clone(),
                source,
            })?;
            let relative = cursor.u64("a tensor offset")?;
            raw.push((name, dims, ty, relative));
        }

        let data_offset = cursor.pos.next_multiple_of(alignment);
        let limit = if data_present {
            cursor.file_len
        } else {
            u64::MAX
        };
        let tensors = raw
            .into_iter()
            .map(|(name, dims, ty, relative)| {
                tensor_info(name, dims, ty, relative, data_offset, alignment, limit)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let file_len = if data_present {
            cursor.file_len
        } else {
            let data_end = tensors.iter().map(|t| t.offset + t.bytes).max();
            data_end.unwrap_or(data_offset).max(cursor.file_len)
        };
        Ok(GgufFile {
            version,
            metadata,
            tensors,
            alignment,
            data_offset,
            file_len,
        })
    }

    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        self.tensors.iter().find(|t| t.name == name)
    }

    /// Reads one tensor's raw bytes (GGML blocks as stored).
    pub fn read_tensor<S: ByteSource>(
        &self,
        source: &mut S,
        tensor: &TensorInfo,
    ) -> Result<Vec<u8>, GgufError> {
        let len = usize::try_from(tensor.bytes).map_err(|_| GgufError::BadTensor {
            tensor: tensor.name.clone(),
            reason: "too large for this platform".into(),
        })?;
        let mut bytes = vec![0u8; len];
        source.read_at(tensor.offset, &mut bytes)?;
        Ok(bytes)
    }
}

fn tensor_info(
    name: String,
    dims: Vec<u64>,
    ty: GgmlType,
    relative: u64,
    data_offset: u64,
    alignment: u64,
    file_len: u64,
) -> Result<TensorInfo, GgufError> {
    let bad = |reason: String| GgufError::BadTensor {
        tensor: name.clone(),
        reason,
    };
    if !relative.is_multiple_of(alignment) {
        return Err(bad(format!(
            "data offset {relative} is not a multiple of the alignment {alignment}"
        )));
    }
    // An empty dimension holds nothing, and behind it the other dimensions'
    // product (the row count) could overflow unchecked: no model has one.
    if dims.contains(&0) {
        return Err(bad(format!("dimensions {dims:?} include an empty one")));
    }
    let elements = dims
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| bad(format!("dimensions {dims:?} overflow")))?;
    let row_len = usize::try_from(dims[0]).map_err(|_| bad("row too long".into()))?;
    let row_bytes = ty
        .row_bytes(row_len)
        .map_err(|source| GgufError::TensorType {
            tensor: name.clone(),
            source,
        })? as u64;
    let bytes = (elements / dims[0].max(1))
        .checked_mul(row_bytes)
        .ok_or_else(|| bad(format!("dimensions {dims:?} overflow")))?;
    let offset = data_offset
        .checked_add(relative)
        .ok_or_else(|| bad("offset overflows".into()))?;
    if offset.checked_add(bytes).is_none_or(|end| end > file_len) {
        return Err(GgufError::Truncated {
            what: format!("the data of tensor `{name}`"),
            offset,
            needed: bytes,
            file_len,
        });
    }
    Ok(TensorInfo {
        name,
        dims,
        ty,
        offset,
        bytes,
    })
}

/// Sequential reads over a byte source, in chunks.
struct Cursor<'a, S: ByteSource> {
    source: &'a mut S,
    file_len: u64,
    pos: u64,
    buf: Vec<u8>,
    buf_start: u64,
    /// Bytes of metadata memory still allowed (`METADATA_BUDGET`).
    budget: u64,
}

impl<'a, S: ByteSource> Cursor<'a, S> {
    fn new(source: &'a mut S) -> Self {
        let file_len = source.len();
        Cursor {
            source,
            file_len,
            pos: 0,
            buf: Vec::new(),
            buf_start: 0,
            budget: METADATA_BUDGET,
        }
    }

    /// Takes `bytes` of memory from the metadata budget for `key`'s value.
    fn charge(&mut self, key: &str, bytes: u64) -> Result<(), GgufError> {
        self.budget =
            self.budget
                .checked_sub(bytes)
                .ok_or_else(|| GgufError::MetadataTooLarge {
                    key: key.chars().take(64).collect(),
                    limit: METADATA_BUDGET,
                })?;
        Ok(())
    }

    fn remaining(&self) -> u64 {
        self.file_len.saturating_sub(self.pos)
    }

    /// Refuses counts whose smallest possible encoding exceeds the rest of the file.
    fn check_count(&self, what: &'static str, count: u64, min_size: u64) -> Result<(), GgufError> {
        if count.saturating_mul(min_size) > self.remaining() {
            return Err(GgufError::ImplausibleCount {
                what,
                count,
                file_len: self.file_len,
            });
        }
        Ok(())
    }

    fn take(&mut self, what: &str, n: usize) -> Result<&[u8], GgufError> {
        if (n as u64) > self.remaining() {
            return Err(GgufError::Truncated {
                what: what.into(),
                offset: self.pos,
                needed: n as u64,
                file_len: self.file_len,
            });
        }
        let buf_end = self.buf_start + self.buf.len() as u64;
        if self.pos < self.buf_start || self.pos + n as u64 > buf_end {
            let len = (n.max(CHUNK) as u64).min(self.remaining()) as usize;
            self.buf.resize(len, 0);
            self.source.read_at(self.pos, &mut self.buf)?;
            self.buf_start = self.pos;
        }
        let start = (self.pos - self.buf_start) as usize;
        self.pos += n as u64;
        Ok(&self.buf[start..start + n])
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], GgufError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(what, N)?);
        Ok(out)
    }

    fn u32(&mut self, what: &str) -> Result<u32, GgufError> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    fn u64(&mut self, what: &str) -> Result<u64, GgufError> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    fn string(&mut self, what: &str) -> Result<String, GgufError> {
        let len = self.u64(what)?;
        self.string_of_len(what, len)
    }

    fn string_of_len(&mut self, what: &str, len: u64) -> Result<String, GgufError> {
        if len > self.remaining() {
            return Err(GgufError::Truncated {
                what: what.into(),
                offset: self.pos,
                needed: len,
                file_len: self.file_len,
            });
        }
        let bytes = self.take(what, len as usize)?.to_vec();
        String::from_utf8(bytes).map_err(|_| GgufError::BadUtf8 { what: what.into() })
    }

    fn value(&mut self, key: &str, type_id: u32, depth: usize) -> Result<Value, GgufError> {
        let what = || format!("the value of `{key}`");
        Ok(match type_id {
            0 => Value::U8(self.array::<1>(&what())?[0]),
            1 => Value::I8(self.array::<1>(&what())?[0] as i8),
            2 => Value::U16(u16::from_le_bytes(self.array(&what())?)),
            3 => Value::I16(i16::from_le_bytes(self.array(&what())?)),
            4 => Value::U32(self.u32(&what())?),
            5 => Value::I32(i32::from_le_bytes(self.array(&what())?)),
            6 => Value::F32(f32::from_le_bytes(self.array(&what())?)),
            7 => Value::Bool(self.array::<1>(&what())?[0] != 0),
            8 => {
                let len = self.u64(&what())?;
                // A length past the end of the file is reported as truncation.
                if len <= self.remaining() {
                    self.charge(key, len)?;
                }
                Value::String(self.string_of_len(&what(), len)?)
            }
            9 => {
                if depth >= MAX_DEPTH {
                    return Err(GgufError::TooDeep(MAX_DEPTH));
                }
                let item_type = self.u32(&what())?;
                let count = self.u64(&what())?;
                self.check_count("array items", count, min_value_size(item_type))?;
                let item_size = std::mem::size_of::<Value>() as u64;
                self.charge(key, count.saturating_mul(item_size))?;
                let mut items = Vec::with_capacity(count as usize);
                for _ in 0..count {
                    items.push(self.value(key, item_type, depth + 1)?);
                }
                Value::Array(items)
            }
            10 => Value::U64(self.u64(&what())?),
            11 => Value::I64(i64::from_le_bytes(self.array(&what())?)),
            12 => Value::F64(f64::from_le_bytes(self.array(&what())?)),
            _ => {
                return Err(GgufError::BadValueType {
                    key: key.into(),
                    type_id,
                });
            }
        })
    }
}

/// The fewest bytes one value of a type can take (strings: their length field).
fn min_value_size(type_id: u32) -> u64 {
    match type_id {
        0 | 1 | 7 => 1,
        2 | 3 => 2,
        4..=6 => 4,
        8 | 10..=12 => 8,
        9 => 12,
        _ => 1,
    }
}
