//! GGUF metadata: typed values and typed look-ups.

use std::collections::HashMap;

use super::GgufError;

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    U64(u64),
    I64(i64),
    F32(f32),
    F64(f64),
    Bool(bool),
    String(String),
    Array(Vec<Value>),
}

impl Value {
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::U8(_) => "u8",
            Value::I8(_) => "i8",
            Value::U16(_) => "u16",
            Value::I16(_) => "i16",
            Value::U32(_) => "u32",
            Value::I32(_) => "i32",
            Value::U64(_) => "u64",
            Value::I64(_) => "i64",
            Value::F32(_) => "f32",
            Value::F64(_) => "f64",
            Value::Bool(_) => "bool",
            Value::String(_) => "string",
            Value::Array(_) => "array",
        }
    }

    /// Any integer type, if it fits in an i64.
    pub fn as_i64(&self) -> Option<i64> {
        Some(match *self {
            Value::U8(v) => v.into(),
            Value::I8(v) => v.into(),
            Value::U16(v) => v.into(),
            Value::I16(v) => v.into(),
            Value::U32(v) => v.into(),
            Value::I32(v) => v.into(),
            Value::U64(v) => i64::try_from(v).ok()?,
            Value::I64(v) => v,
            _ => return None,
        })
    }

    /// Any number as f64.
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::F32(v) => Some(v.into()),
            Value::F64(v) => Some(v),
            _ => self.as_i64().map(|v| v as f64),
        }
    }
}

/// Metadata in file order, with look-up by key.
#[derive(Debug, Clone, Default)]
pub struct Metadata {
    entries: Vec<(String, Value)>,
    index: HashMap<String, usize>,
}

impl Metadata {
    pub(super) fn insert(&mut self, key: String, value: Value) -> Result<(), GgufError> {
        if self.index.contains_key(&key) {
            return Err(GgufError::DuplicateKey(key));
        }
        self.index.insert(key.clone(), self.entries.len());
        self.entries.push((key, value));
        Ok(())
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.index.get(key).map(|&i| &self.entries[i].1)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn require(&self, key: &str) -> Result<&Value, GgufError> {
        self.get(key)
            .ok_or_else(|| GgufError::MissingKey(key.into()))
    }

    fn wrong(key: &str, expected: &'static str, found: &Value) -> GgufError {
        GgufError::WrongType {
            key: key.into(),
            expected,
            found: found.type_name(),
        }
    }

    pub fn str(&self, key: &str) -> Result<&str, GgufError> {
        match self.require(key)? {
            Value::String(s) => Ok(s),
            other => Err(Self::wrong(key, "a string", other)),
        }
    }

    pub fn opt_str(&self, key: &str) -> Result<Option<&str>, GgufError> {
        self.get(key).map(|_| self.str(key)).transpose()
    }

    /// A non-negative integer of any width that fits in a u64.
    pub fn u64(&self, key: &str) -> Result<u64, GgufError> {
        let value = self.require(key)?;
        value
            .as_i64()
            .and_then(|v| u64::try_from(v).ok())
            .ok_or_else(|| Self::wrong(key, "a non-negative integer", value))
    }

    pub fn opt_u64(&self, key: &str) -> Result<Option<u64>, GgufError> {
        self.get(key).map(|_| self.u64(key)).transpose()
    }

    pub fn f32(&self, key: &str) -> Result<f32, GgufError> {
        let value = self.require(key)?;
        value
            .as_f64()
            .map(|v| v as f32)
            .ok_or_else(|| Self::wrong(key, "a number", value))
    }

    pub fn opt_f32(&self, key: &str) -> Result<Option<f32>, GgufError> {
        self.get(key).map(|_| self.f32(key)).transpose()
    }

    pub fn opt_bool(&self, key: &str) -> Result<Option<bool>, GgufError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(Self::wrong(key, "a bool", other)),
        }
    }

    pub fn array(&self, key: &str) -> Result<&[Value], GgufError> {
        match self.require(key)? {
            Value::Array(items) => Ok(items),
            other => Err(Self::wrong(key, "an array", other)),
        }
    }

    pub fn string_array(&self, key: &str) -> Result<Vec<&str>, GgufError> {
        self.array(key)?
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.as_str()),
                other => Err(Self::wrong(key, "an array of strings", other)),
            })
            .collect()
    }

    pub fn f32_array(&self, key: &str) -> Result<Vec<f32>, GgufError> {
        self.array(key)?
            .iter()
            .map(|v| {
                v.as_f64()
                    .map(|f| f as f32)
                    .ok_or_else(|| Self::wrong(key, "an array of numbers", v))
            })
            .collect()
    }

    pub fn i64_array(&self, key: &str) -> Result<Vec<i64>, GgufError> {
        self.array(key)?
            .iter()
            .map(|v| {
                v.as_i64()
                    .ok_or_else(|| Self::wrong(key, "an array of integers", v))
            })
            .collect()
    }
}
