//! Element-wise and row operations of the CPU decoder. Where llama.cpp's CPU
//! backend rounds through f16 (GELU's table, the KV cache), we do the same so
//! that greedy outputs agree token for token.

use half::f16;

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

pub fn silu(x: f32) -> f32 {
    x / (1.0 + (-x).exp())
}

/// GELU, tanh approximation, through ggml's f16 lookup table: the input is
/// rounded to f16 and so is the result.
pub fn gelu_tanh(x: f32) -> f32 {
    const SQRT_2_OVER_PI: f32 = 0.797_884_6;
    if x <= -10.0 {
        return 0.0;
    }
    if x >= 10.0 {
        return x;
    }
    let x = f16::from_f32(x).to_f32();
    let y = 0.5 * x * (1.0 + (SQRT_2_OVER_PI * x * (1.0 + 0.044_715 * x * x)).tanh());
    f16::from_f32(y).to_f32()
}

/// Numerically stable softmax in place.
pub fn softmax(values: &mut [f32]) {
    let max = values.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0f64;
    for v in values.iter_mut() {
        *v = (*v - max).exp();
        sum += f64::from(*v);
    }
    let inv = (1.0 / sum) as f32;
    values.iter_mut().for_each(|v| *v *= inv);
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
    fn softmax_sums_to_one() {
        let mut v = [1.0, 2.0, 3.0, -1000.0];
        softmax(&mut v);
        assert!((v.iter().sum::<f32>() - 1.0).abs() < 1e-6 && v[3] == 0.0 && v[2] > v[1]);
    }

    #[test]
    fn activations_have_known_values() {
        assert!((silu(1.0) - 0.731_058_6).abs() < 1e-6);
        assert!((gelu_tanh(1.0) - 0.841_192).abs() < 1e-3);
        assert_eq!(gelu_tanh(-11.0), 0.0);
        assert_eq!(gelu_tanh(12.0), 12.0);
    }
}
