//! Sane random weights for a written header, served block by block at any
//! offset (a 1 GB model never sits in memory): norms near 1, matrices with a
//! standard deviation of `1/sqrt(cols)` (the embedding `4/sqrt(cols)`), so activations
//! and logits stay in a trained model's ranges in every numerics (the
//! library's `SyntheticSource` only promises finite blocks: fine for speed,
//! but its activations overflow f16). Deterministic on every platform.

use locus::gguf::{ByteSource, GgufError, GgufFile};
use locus::quant::GgmlType;

use super::{Rng, llama3_rope_factors};

/// What a tensor holds.
enum Fill {
    /// Norm weights: 1 ± 0.1.
    Norm,
    /// Fixed values (Llama 3's RoPE frequency factors).
    Values(Vec<f32>),
    /// A matrix with this standard deviation.
    Matrix(f32),
}

struct Region {
    start: u64,
    bytes: u64,
    ty: GgmlType,
    seed: u64,
    fill: Fill,
}

pub struct SaneSource {
    header: Vec<u8>,
    regions: Vec<Region>,
    len: u64,
}

impl SaneSource {
    /// The header's file and a source serving it with sane weights;
    /// `head_dim` and `rope_base` give `rope_freqs.weight` its values.
    pub fn new(header: Vec<u8>, head_dim: usize, rope_base: f32) -> (GgufFile, SaneSource) {
        let file = GgufFile::read_header_only(&mut header.as_slice()).unwrap();
        let regions = file
            .tensors
            .iter()
            .map(|t| Region {
                start: t.offset,
                bytes: t.bytes,
                ty: t.ty,
                seed: Rng::new(&t.name).next(),
                fill: if t.name == "rope_freqs.weight" {
                    Fill::Values(llama3_rope_factors(head_dim, rope_base))
                } else if t.dims.len() == 1 {
                    Fill::Norm
                } else if t.name == "token_embd.weight" || t.name == "output.weight" {
                    // Logits with a deviation of about 4, as a trained model's.
                    Fill::Matrix(4.0 / (t.dims[0] as f32).sqrt())
                } else {
                    Fill::Matrix(1.0 / (t.dims[0] as f32).sqrt())
                },
            })
            .collect();
        let len = file.file_len;
        (
            file,
            SaneSource {
                header,
                regions,
                len,
            },
        )
    }

    /// Every byte of the file.
    pub fn read_all(&mut self) -> Vec<u8> {
        let mut out = vec![0; self.len as usize];
        self.read_at(0, &mut out).unwrap();
        out
    }
}

impl ByteSource for SaneSource {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), GgufError> {
        let end = offset + buf.len() as u64;
        buf.fill(0);
        if let Some(real) = self.header.get(offset as usize..) {
            let n = real.len().min(buf.len());
            buf[..n].copy_from_slice(&real[..n]);
        }
        for region in &self.regions {
            let (lo, hi) = (
                region.start.max(offset),
                (region.start + region.bytes).min(end),
            );
            if lo >= hi {
                continue;
            }
            let block = region.ty.type_size() as u64;
            let mut scratch = vec![0u8; block as usize];
            for index in (lo - region.start) / block..(hi - region.start).div_ceil(block) {
                fill_block(region, index, &mut scratch);
                let block_start = region.start + index * block;
                let (from, to) = (lo.max(block_start), hi.min(block_start + block));
                buf[(from - offset) as usize..(to - offset) as usize].copy_from_slice(
                    &scratch[(from - block_start) as usize..(to - block_start) as usize],
                );
            }
        }
        Ok(())
    }
}

/// Block `index` of `region`: random quants and the scales that give the
/// wanted deviation (the quants' own deviation measured per type below).
fn fill_block(region: &Region, index: u64, block: &mut [u8]) {
    let mut rng = Rng(region.seed ^ index.wrapping_mul(0xD6E8_FEB8_6659_FD93));
    for chunk in block.chunks_mut(8) {
        let word = rng.next().to_le_bytes();
        chunk.copy_from_slice(&word[..chunk.len()]);
    }
    let f16 = |x: f32| half::f16::from_f32(x).to_le_bytes();
    let sigma = match &region.fill {
        Fill::Norm => {
            block.copy_from_slice(&(1.0 + 0.1 * rng.signed_unit()).to_le_bytes());
            return;
        }
        Fill::Values(values) => {
            let value = values.get(index as usize).copied().unwrap_or(1.0);
            block.copy_from_slice(&value.to_le_bytes());
            return;
        }
        Fill::Matrix(sigma) => *sigma,
    };
    match region.ty {
        // q ∈ [-128, 127]: deviation ≈ 74.
        GgmlType::Q8_0 => block[0..2].copy_from_slice(&f16(sigma / 74.0)),
        // q ∈ [-16, 15]: ≈ 9.2.
        GgmlType::Q5_0 | GgmlType::Q4_0 => block[0..2].copy_from_slice(&f16(sigma / 9.2)),
        // d·sc·q − dmin·m with 6-bit sc, m and 4-bit q: dmin = 7.5·d centres
        // it; the deviation is then ≈ 255·d.
        GgmlType::Q4_K => {
            let d = sigma / 255.0;
            block[0..2].copy_from_slice(&f16(d));
            block[2..4].copy_from_slice(&f16(7.5 * d));
        }
        // d·sc·(q − 32) with 8-bit sc and 6-bit q: ≈ 1369·d.
        GgmlType::Q6_K => block[208..210].copy_from_slice(&f16(sigma / 1369.0)),
        GgmlType::F32 => block.copy_from_slice(&(sigma * 1.7 * rng.signed_unit()).to_le_bytes()),
        other => panic!("sane weights of type {other} are not written here"),
    }
}
