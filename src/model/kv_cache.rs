//! The key/value cache: a fixed number of positions per layer, stored as f16
//! like llama.cpp's default cache (half the memory of f32, same rounding).

use half::f16;

use super::{ModelConfig, ModelError};

pub struct KvCache {
    capacity: usize,
    len: usize,
    kv_width: usize,
    v_width: usize,
    /// Per layer: `capacity` rows of keys, then values.
    keys: Vec<Vec<f16>>,
    values: Vec<Vec<f16>>,
}

impl KvCache {
    pub fn new(config: &ModelConfig, capacity: usize) -> KvCache {
        let capacity = capacity.min(config.context_length).max(1);
        KvCache {
            capacity,
            len: 0,
            kv_width: config.kv_width(),
            v_width: config.v_width(),
            keys: (0..config.block_count)
                .map(|_| vec![f16::ZERO; capacity * config.kv_width()])
                .collect(),
            values: (0..config.block_count)
                .map(|_| vec![f16::ZERO; capacity * config.v_width()])
                .collect(),
        }
    }

    /// Positions filled so far.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Refuses a batch that would not fit: the caller decides what to drop.
    pub fn check_room(&self, tokens: usize) -> Result<(), ModelError> {
        if self.len + tokens > self.capacity {
            Err(ModelError::ContextFull {
                capacity: self.capacity,
            })
        } else {
            Ok(())
        }
    }

    /// Stores one position's key and value for `layer` at `pos`.
    pub fn store(&mut self, layer: usize, pos: usize, key: &[f32], value: &[f32]) {
        let k = &mut self.keys[layer][pos * self.kv_width..(pos + 1) * self.kv_width];
        k.iter_mut()
            .zip(key)
            .for_each(|(dst, &src)| *dst = f16::from_f32(src));
        let v = &mut self.values[layer][pos * self.v_width..(pos + 1) * self.v_width];
        v.iter_mut()
            .zip(value)
            .for_each(|(dst, &src)| *dst = f16::from_f32(src));
    }

    pub fn keys(&self, layer: usize) -> &[f16] {
        &self.keys[layer]
    }

    pub fn values(&self, layer: usize) -> &[f16] {
        &self.values[layer]
    }

    /// Marks `count` more positions as filled (after every layer stored them).
    pub fn advance(&mut self, count: usize) {
        self.len = (self.len + count).min(self.capacity);
    }

    /// Forgets everything from `len` on, e.g. to reuse a shared prefix.
    pub fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }
}
