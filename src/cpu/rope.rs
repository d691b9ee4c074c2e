//! Rotary position embeddings, computed as ggml does: theta for pair i is
//! `scale · pos · base^(-2i/dims)`, built by repeated multiplication in f32.

use crate::model::RopeStyle;

/// The cos/sin table of one position: built once, applied to q and k.
pub struct Rotation {
    cos: Vec<f32>,
    sin: Vec<f32>,
}

impl Rotation {
    /// Theta for pair i is `scale · pos · base^(-2i/dims)`, as ggml builds it.
    pub fn new(dims: usize, pos: usize, base: f32, scale: f32) -> Rotation {
        Rotation::with_factors(dims, pos, base, scale, &[])
    }

    /// As [`Rotation::new`], with pair i's theta divided by `factors[i]`
    /// first (Llama 3.x's `rope_freqs.weight`, ggml's `freq_factors`); pairs
    /// past the end of `factors` use 1, which leaves theta's bits unchanged.
    pub fn with_factors(
        dims: usize,
        pos: usize,
        base: f32,
        scale: f32,
        factors: &[f32],
    ) -> Rotation {
        let theta_scale = base.powf(-2.0 / dims as f32);
        let mut theta = pos as f32;
        let mut cos = Vec::with_capacity(dims / 2);
        let mut sin = Vec::with_capacity(dims / 2);
        for i in 0..dims / 2 {
            let factor = factors.get(i).copied().unwrap_or(1.0);
            let angle = scale * (theta / factor);
            cos.push(angle.cos());
            sin.push(angle.sin());
            theta *= theta_scale;
        }
        Rotation { cos, sin }
    }

    /// `(cos, sin)` of each pair's angle, as `rotate` uses them (the GPU's
    /// RoPE table is built from these, so both paths share every bit).
    pub fn cos_sin(&self) -> impl Iterator<Item = (f32, f32)> + '_ {
        self.cos.iter().copied().zip(self.sin.iter().copied())
    }

    /// Rotates the first `2 · pairs` values of every `head_dim`-wide head.
    pub fn rotate(&self, heads: &mut [f32], head_dim: usize, style: RopeStyle) {
        let dims = 2 * self.cos.len();
        for head in heads.chunks_exact_mut(head_dim) {
            for (i, (&cos, &sin)) in self.cos.iter().zip(&self.sin).enumerate() {
                let (a, b) = match style {
                    RopeStyle::Normal => (2 * i, 2 * i + 1),
                    RopeStyle::Neox => (i, i + dims / 2),
                };
                let (x0, x1) = (head[a], head[b]);
                // ggml's x86 build fuses these: one rounding after x0·cos (x0·sin).
                head[a] = x0.mul_add(cos, -(x1 * sin));
                head[b] = x0.mul_add(sin, x1 * cos);
            }
        }
    }
}

/// Rotates the first `dims` values of every `head_dim`-wide head in `heads`.
pub fn apply(
    heads: &mut [f32],
    head_dim: usize,
    dims: usize,
    pos: usize,
    base: f32,
    scale: f32,
    style: RopeStyle,
) {
    Rotation::new(dims, pos, base, scale).rotate(heads, head_dim, style);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn position_zero_is_the_identity() {
        let mut x = [1.0, 2.0, 3.0, 4.0];
        apply(&mut x, 4, 4, 0, 10_000.0, 1.0, RopeStyle::Normal);
        assert_eq!(x, [1.0, 2.0, 3.0, 4.0]);
    }

    #[test]
    fn styles_pair_different_dimensions() {
        // At pos 1 the first pair turns by 1 radian; the second pair barely moves.
        let mut normal = [1.0, 0.0, 1.0, 0.0];
        apply(&mut normal, 4, 4, 1, 10_000.0, 1.0, RopeStyle::Normal);
        assert!((normal[0] - 1f32.cos()).abs() < 1e-6 && (normal[1] - 1f32.sin()).abs() < 1e-6);
        let mut neox = [1.0, 1.0, 0.0, 0.0];
        apply(&mut neox, 4, 4, 1, 10_000.0, 1.0, RopeStyle::Neox);
        assert!((neox[0] - 1f32.cos()).abs() < 1e-6 && (neox[2] - 1f32.sin()).abs() < 1e-6);
    }

    #[test]
    fn frequency_factors_slow_their_pairs_down() {
        let plain = Rotation::new(4, 7, 10_000.0, 1.0);
        let same = Rotation::with_factors(4, 7, 10_000.0, 1.0, &[1.0, 1.0]);
        assert_eq!(plain.cos, same.cos);
        assert_eq!(plain.sin, same.sin);
        // Pair 1 turns 8 times slower: theta = 7 · 10000^(-1/2) / 8.
        let slowed = Rotation::with_factors(4, 7, 10_000.0, 1.0, &[1.0, 8.0]);
        assert_eq!(slowed.cos[0], plain.cos[0]);
        let angle = (7.0f32 * 10_000f32.powf(-0.5)) / 8.0;
        assert!((slowed.cos[1] - angle.cos()).abs() < 1e-6);
        assert!((slowed.sin[1] - angle.sin()).abs() < 1e-6);
    }

    #[test]
    fn dimensions_past_dims_are_untouched() {
        let mut x = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        apply(&mut x, 6, 4, 3, 10_000.0, 1.0, RopeStyle::Neox);
        assert_eq!(&x[4..], &[5.0, 6.0]);
    }
}
