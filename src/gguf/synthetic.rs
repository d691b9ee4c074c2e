//! A byte source that answers for a whole model from its header alone: the
//! header bytes are real, every tensor's data is synthesised as valid blocks
//! of the tensor's type. Speed does not depend on weight values, so the
//! benchmark can measure a multi-gigabyte model from a header of a few MB
//! (the GPU machine only receives 64 MiB per call).

use super::{ByteSource, GgufError, GgufFile, TensorInfo};
use crate::quant::GgmlType;

pub struct SyntheticSource {
    header: Vec<u8>,
    /// (offset, bytes, type) of each tensor's data, sorted by offset.
    tensors: Vec<(u64, u64, GgmlType)>,
    len: u64,
}

impl SyntheticSource {
    /// Parses `header` (a GGUF file, whole or cut after its tensor table) and
    /// returns the header with a source that serves the complete model.
    pub fn new(header: Vec<u8>) -> Result<(GgufFile, SyntheticSource), GgufError> {
        let file = GgufFile::read_header_only(&mut header.as_slice())?;
        let mut tensors: Vec<_> = file
            .tensors
            .iter()
            .map(|t: &TensorInfo| (t.offset, t.bytes, t.ty))
            .collect();
        tensors.sort_by_key(|t| t.0);
        let source = SyntheticSource {
            header,
            tensors,
            len: file.file_len,
        };
        Ok((file, source))
    }
}

impl ByteSource for SyntheticSource {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), GgufError> {
        let end = offset + buf.len() as u64;
        // Header bytes where we have them; zeros for alignment padding.
        buf.fill(0);
        if let Some(real) = self.header.get(offset as usize..) {
            let n = real.len().min(buf.len());
            buf[..n].copy_from_slice(&real[..n]);
        }
        for &(start, bytes, ty) in &self.tensors {
            let (lo, hi) = (start.max(offset), (start + bytes).min(end));
            if lo >= hi || lo < self.header.len() as u64 {
                continue;
            }
            // Blocks are generated whole from the tensor's start, so any
            // sub-range reads the same bytes as a read of the whole tensor.
            let block = ty.type_size() as u64;
            let first = (lo - start) / block;
            let last = (hi - start).div_ceil(block);
            let mut scratch = vec![0u8; block as usize];
            for index in first..last {
                fill_block(ty, start + index * block, &mut scratch);
                let block_start = start + index * block;
                let from = lo.max(block_start);
                let to = hi.min(block_start + block);
                buf[(from - offset) as usize..(to - offset) as usize].copy_from_slice(
                    &scratch[(from - block_start) as usize..(to - block_start) as usize],
                );
            }
        }
        Ok(())
    }
}

/// One block of `ty` seeded by its file offset: random quants, and every
/// scale a small finite f16, so the model computes without NaNs.
fn fill_block(ty: GgmlType, seed: u64, block: &mut [u8]) {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    for chunk in block.chunks_mut(8) {
        // xorshift64*
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        let word = state.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes();
        chunk.copy_from_slice(&word[..chunk.len()]);
    }
    let small_f16 = |bits: u8| half::f16::from_f32(f32::from(bits) / 4096.0 + 1e-3).to_le_bytes();
    let mut set_f16 = |at: usize| {
        let value = small_f16(block[at]);
        block[at..at + 2].copy_from_slice(&value);
    };
    match ty {
        // Positive: F32 tensors are norm weights and Llama 3's RoPE
        // frequency factors, which the loader refuses unless positive.
        GgmlType::F32 => {
            for value in block.chunks_exact_mut(4) {
                let small = f32::from(value[0]) / 4096.0 + 1e-3;
                value.copy_from_slice(&small.to_le_bytes());
            }
        }
        GgmlType::F16 => set_f16(0),
        GgmlType::BF16 => {
            let small = half::bf16::from_f32(f32::from(block[0]) / 4096.0 - 0.03);
            block.copy_from_slice(&small.to_le_bytes());
        }
        GgmlType::Q4_0 | GgmlType::Q5_0 | GgmlType::Q8_0 => set_f16(0),
        GgmlType::Q4_1 | GgmlType::Q5_1 | GgmlType::Q4_K | GgmlType::Q5_K => {
            set_f16(0);
            set_f16(2);
        }
        GgmlType::Q6_K => set_f16(208),
        // Unsupported types are refused when the weights load.
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::fill_block;
    use crate::quant::{self, SUPPORTED};

    #[test]
    fn synthetic_blocks_decode_to_finite_values() {
        for ty in SUPPORTED {
            let mut block = vec![0u8; ty.type_size()];
            let mut out = vec![0.0; ty.block_size()];
            for seed in 0..50 {
                fill_block(ty, seed * 977, &mut block);
                quant::dequantize(ty, &block, &mut out).unwrap();
                assert!(out.iter().all(|x| x.is_finite()), "{ty}: {out:?}");
            }
        }
    }
}
