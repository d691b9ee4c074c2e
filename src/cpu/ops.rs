//! Element-wise and row operations of the CPU decoder. Where llama.cpp's CPU
//! backend rounds through f16 (GELU's table, the KV cache) or approximates
//! (SiLU's exp), we do the same so that greedy outputs agree token for token.

use half::f16;

use super::ggml_numerics::{self, fused_dispatch};
use crate::model::Activation;

/// Dot product with eight independent accumulators (vectorises well).
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let chunks = a.len() / 8 * 8;
    for (x, y) in a[..chunks].chunks_exact(8).zip(b[..chunks].chunks_exact(8)) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    let tail: f32 = a[chunks..]
        .iter()
        .zip(&b[chunks..])
        .map(|(x, y)| x * y)
        .sum();
    acc.iter().sum::<f32>() + tail
}

/// In-place RMSNorm of one row, as ggml computes it: the squares in f32,
/// summed in f64, then `x * scale` in f32, then the weight.
pub fn rms_norm(row: &mut [f32], weight: &[f32], eps: f32) {
    let mean = row.iter().map(|&v| f64::from(v * v)).sum::<f64>() / row.len() as f64;
    let scale = 1.0 / (mean as f32 + eps).sqrt();
    for (v, w) in row.iter_mut().zip(weight) {
        *v = (*v * scale) * w;
    }
}

/// RMSNorm of every `weight.len()`-wide row of `rows`.
pub fn rms_norm_rows(rows: &mut [f32], weight: &[f32], eps: f32) {
    rows.chunks_exact_mut(weight.len())
        .for_each(|row| rms_norm(row, weight, eps));
}

/// SiLU with libm's `expf`, as ggml's scalar `ggml_silu_f32`.
pub fn silu(x: f32) -> f32 {
    x / (1.0 + (-x).exp())
}

fused_dispatch!(
/// `gate = act(gate) * up` over rows of `width` values, as ggml's
/// `ggml_vec_swiglu_f32` / `ggml_vec_geglu_f32`: SiLU 16 lanes at a time with
/// ggml's exp polynomial and the last `width % 16` of a row with libm's, GELU
/// through its f16 table.
fn glu(activation: Activation, gate: &mut [f32], up: &[f32], width: usize) => glu_impl);

#[inline(always)]
fn glu_impl<const FUSED: bool>(activation: Activation, gate: &mut [f32], up: &[f32], width: usize) {
    let rows = gate.chunks_exact_mut(width).zip(up.chunks_exact(width));
    for (g, u) in rows {
        match activation {
            Activation::Silu => {
                let lanes = width / 16 * 16;
                let (head, tail) = g.split_at_mut(lanes);
                for (g, u) in head.iter_mut().zip(u) {
                    *g = ggml_numerics::silu::<FUSED>(*g) * u;
                }
                for (g, u) in tail.iter_mut().zip(&u[lanes..]) {
                    *g = silu(*g) * u;
                }
            }
            Activation::GeluTanh => g
                .iter_mut()
                .zip(u)
                .for_each(|(g, u)| *g = gelu_tanh(*g) * u),
        }
    }
}

/// GELU, tanh approximation, through ggml's f16 lookup table: the input is
/// rounded to f16 and so is the result.
pub fn gelu_tanh(x: f32) -> f32 {
    if x <= -10.0 {
        return 0.0;
    }
    if x >= 10.0 {
        return x;
    }
    let h = f16::from_f32(x).to_bits();
    f16::from_bits(gelu_table()[usize::from(h)]).to_f32()
}

/// ggml's `ggml_table_gelu_f16`: `f16(ggml_gelu_f32(x))` for every f16 `x`,
/// as GCC compiles it, fusing `1 + (a·x)·x` into one multiply-add (which
/// moves a few results across an f16 rounding boundary). Built on first use.
pub(crate) fn gelu_table() -> &'static [u16] {
    const SQRT_2_OVER_PI: f32 = 0.797_884_6;
    const GELU_COEF_A: f32 = 0.044_715;
    static TABLE: std::sync::OnceLock<Vec<u16>> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        (0..=u16::MAX)
            .map(|bits| {
                let x = f16::from_bits(bits).to_f32();
                let inner = SQRT_2_OVER_PI * x * (GELU_COEF_A * x).mul_add(x, 1.0);
                f16::from_f32(0.5 * x * (1.0 + inner.tanh())).to_bits()
            })
            .collect()
    })
}

pub fn add_into(dst: &mut [f32], src: &[f32]) {
    dst.iter_mut().zip(src).for_each(|(d, s)| *d += s);
}

/// Adds `bias` to every `bias.len()`-wide row.
pub fn add_bias_rows(rows: &mut [f32], bias: &[f32]) {
    rows.chunks_exact_mut(bias.len())
        .for_each(|row| add_into(row, bias));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_matches_a_plain_sum() {
        let a: Vec<f32> = (0..37).map(|i| i as f32 * 0.5).collect();
        let b: Vec<f32> = (0..37).map(|i| 1.0 - i as f32 * 0.1).collect();
        let want: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!((dot(&a, &b) - want).abs() < 1e-3);
    }

    #[test]
    fn glu_rows_use_the_polynomial_then_libm() {
        let x: Vec<f32> = (0..40).map(|i| i as f32 * 0.37 - 7.0).collect();
        let mut g = x.clone();
        glu(Activation::Silu, &mut g, &[2.0; 40], 20);
        for (i, (&g, &x)) in g.iter().zip(&x).enumerate() {
            let want = if i % 20 < 16 {
                ggml_numerics::silu::<true>(x)
            } else {
                silu(x)
            } * 2.0;
            assert!((g - want).abs() <= 1e-6 * want.abs().max(1.0), "{i}");
        }
    }

    #[test]
    fn activations_have_known_values() {
        assert!((silu(1.0) - 0.731_058_6).abs() < 1e-6);
        assert!((gelu_tanh(1.0) - 0.841_192).abs() < 1e-3);
        assert_eq!(gelu_tanh(-11.0), 0.0);
        assert_eq!(gelu_tanh(12.0), 12.0);
        // An f16 rounding boundary that the fused multiply-add moves.
        assert_eq!(gelu_tanh(-1.998_720_6), -0.045_501_71);
    }
}
