//! The block abstraction shared by every quantised format, and the two row
//! drivers (dequantise, dot) written once over it.
//!
//! A block is a `#[repr(C)]` struct of byte arrays only, so its alignment is 1
//! and a row's bytes can be viewed as `&[Block]` in place whatever their
//! address (GGUF only aligns the start of a tensor, and an 18-byte Q4_0 block
//! leaves the next one on an odd address). Multi-byte fields are decoded
//! little-endian by hand.

use bytemuck::Pod;

use super::QuantError;

/// One quantised block holding `N` values.
pub(crate) trait Block<const N: usize>: Pod {
    /// Writes the block's `N` values, computed exactly as ggml's
    /// `dequantize_row_*` does (same operations in the same order).
    fn dequantize(&self, y: &mut [f32; N]);
}

/// Views `bytes` as whole blocks. The caller has checked the length already;
/// a mismatch is still reported as an error rather than a panic.
pub(crate) fn blocks<B: Pod>(bytes: &[u8]) -> Result<&[B], QuantError> {
    bytemuck::try_cast_slice(bytes).map_err(|_| QuantError::LengthMismatch {
        expected: bytes.len().next_multiple_of(size_of::<B>()),
        actual: bytes.len(),
    })
}

/// Checks that `blocks` blocks of `N` values cover exactly `n` values.
fn check_count<const N: usize>(blocks: usize, n: usize) -> Result<(), QuantError> {
    match blocks.checked_mul(N) {
        Some(total) if total == n => Ok(()),
        _ => Err(QuantError::LengthMismatch {
            expected: n,
            actual: blocks.saturating_mul(N),
        }),
    }
}

/// Dequantises a row of blocks into `out` (`out.len()` = blocks × `N`).
pub(crate) fn dequantize_row<B: Block<N>, const N: usize>(
    bytes: &[u8],
    out: &mut [f32],
) -> Result<(), QuantError> {
    let blocks = blocks::<B>(bytes)?;
    check_count::<N>(blocks.len(), out.len())?;
    for (block, y) in blocks.iter().zip(out.chunks_exact_mut(N)) {
        // `chunks_exact_mut(N)` only yields slices of length N.
        if let Ok(y) = <&mut [f32; N]>::try_from(y) {
            block.dequantize(y);
        }
    }
    Ok(())
}

/// Dot product of a row of blocks with `x` (`x.len()` = blocks × `N`): each
/// block is dequantised into one reused stack buffer and multiplied into a
/// [`DotAcc`], so nothing is allocated and both loops vectorise.
pub(crate) fn dot_row<B: Block<N>, const N: usize>(
    bytes: &[u8],
    x: &[f32],
) -> Result<f32, QuantError> {
    let blocks = blocks::<B>(bytes)?;
    check_count::<N>(blocks.len(), x.len())?;
    let mut y = [0.0f32; N];
    let mut acc = DotAcc::new();
    for (block, x) in blocks.iter().zip(x.chunks_exact(N)) {
        block.dequantize(&mut y);
        acc.add(&y, x);
    }
    Ok(acc.sum())
}

/// Number of interleaved partial sums in a [`DotAcc`]: enough independent
/// add chains to keep SIMD units busy despite the latency of each add.
const LANES: usize = 32;

/// A running f32 dot product. Within each [`add`](Self::add), element `i`
/// of the whole groups of [`LANES`] goes to partial sum `i % LANES` and the
/// leftover elements to a separate tail sum; all are added up by
/// [`sum`](Self::sum). This is plain f32 accumulation, just in an order the
/// compiler can vectorise (it may not reassociate float math by itself).
pub(crate) struct DotAcc {
    lanes: [f32; LANES],
    tail: f32,
}

impl DotAcc {
    pub(crate) fn new() -> Self {
        Self {
            lanes: [0.0; LANES],
            tail: 0.0,
        }
    }

    /// Adds `sum(a[i] * b[i])` over the common length of `a` and `b`.
    #[inline]
    pub(crate) fn add(&mut self, a: &[f32], b: &[f32]) {
        let n = a.len().min(b.len());
        let a = a[..n].chunks_exact(LANES);
        let b = b[..n].chunks_exact(LANES);
        for (p, q) in a.remainder().iter().zip(b.remainder()) {
            self.tail += p * q;
        }
        for (ca, cb) in a.zip(b) {
            for ((lane, p), q) in self.lanes.iter_mut().zip(ca).zip(cb) {
                *lane += p * q;
            }
        }
    }

    pub(crate) fn sum(&self) -> f32 {
        self.lanes.iter().sum::<f32>() + self.tail
    }
}

/// Decodes a little-endian IEEE half (ggml's `ggml_half`) to f32 (on
/// wasm32 from a table, as ggml does without F16C: see `f16_bits.rs`).
#[inline]
pub(crate) fn f16_le(bytes: [u8; 2]) -> f32 {
    #[cfg(target_arch = "wasm32")]
    return super::f16_bits::lookup(u16::from_le_bytes(bytes));
    #[cfg(not(target_arch = "wasm32"))]
    half::f16::from_le_bytes(bytes).to_f32()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dot(a: &[f32], b: &[f32]) -> f32 {
        let mut acc = DotAcc::new();
        acc.add(a, b);
        acc.sum()
    }

    #[test]
    fn dot_acc_covers_lanes_and_tail() {
        // 70 elements: two full lane groups and a tail of 6.
        let a: Vec<f32> = (1..=70).map(|v| v as f32).collect();
        let b = vec![2.0f32; 70];
        assert_eq!(dot(&a, &b), 2.0 * 2485.0);
        assert_eq!(dot(&[], &[]), 0.0);
        // Unequal lengths: the extra elements of the longer slice are ignored.
        assert_eq!(dot(&a, &b[..10]), 2.0 * 55.0);
        assert_eq!(dot(&a[..10], &b), 2.0 * 55.0);
    }

    #[test]
    fn dot_acc_accumulates_across_adds() {
        // Tails of several adds land in the same accumulator.
        let mut acc = DotAcc::new();
        acc.add(&[1.0; 40], &[3.0; 40]);
        acc.add(&[2.0; 5], &[1.0; 5]);
        acc.add(&[1.0; 64], &[0.5; 64]);
        assert_eq!(acc.sum(), 120.0 + 10.0 + 32.0);
    }

    #[test]
    fn f16_is_little_endian() {
        // 0x3C00 = 1.0, 0xC000 = -2.0, 0x3555 ≈ 1/3.
        assert_eq!(f16_le([0x00, 0x3C]), 1.0);
        assert_eq!(f16_le([0x00, 0xC0]), -2.0);
        assert_eq!(f16_le([0x55, 0x35]), 0.333_251_95);
    }
}
