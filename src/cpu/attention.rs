//! Causal, grouped-query attention over the f16 KV cache, optionally limited
//! to a sliding window. Like llama.cpp's non-flash path, the query and the
//! softmax weights are rounded to f16 before their dot products.

use half::f16;

use super::ops::softmax;

pub struct AttentionShape {
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
    pub value_dim: usize,
    /// Multiplies q·k before the softmax.
    pub scale: f32,
    /// Positions further back than this are not attended to.
    pub window: Option<usize>,
}

/// Attention of one query token at position `pos` (its own key/value already
/// stored) into `out` (`heads × value_dim`).
pub fn attend(
    shape: &AttentionShape,
    query: &[f32],
    keys: &[f16],
    values: &[f16],
    pos: usize,
    out: &mut [f32],
) {
    let group = shape.heads / shape.kv_heads;
    let first = shape.window.map_or(0, |w| (pos + 1).saturating_sub(w));
    let kv_width = shape.kv_heads * shape.head_dim;
    let v_width = shape.kv_heads * shape.value_dim;
    let mut scores = vec![0.0f32; pos + 1 - first];
    let mut q16 = vec![0.0f32; shape.head_dim];
    for h in 0..shape.heads {
        let kv = h / group;
        let q = &query[h * shape.head_dim..(h + 1) * shape.head_dim];
        q16.iter_mut()
            .zip(q)
            .for_each(|(dst, &src)| *dst = f16::from_f32(src).to_f32());
        for (j, score) in (first..=pos).zip(scores.iter_mut()) {
            let k = &keys[j * kv_width + kv * shape.head_dim..][..shape.head_dim];
            *score = q16.iter().zip(k).map(|(a, b)| a * b.to_f32()).sum::<f32>() * shape.scale;
        }
        softmax(&mut scores);
        let o = &mut out[h * shape.value_dim..(h + 1) * shape.value_dim];
        o.fill(0.0);
        for (j, &p) in (first..=pos).zip(scores.iter()) {
            let p = f16::from_f32(p).to_f32();
            let v = &values[j * v_width + kv * shape.value_dim..][..shape.value_dim];
            o.iter_mut()
                .zip(v)
                .for_each(|(acc, x)| *acc += p * x.to_f32());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn halves(v: &[f32]) -> Vec<f16> {
        v.iter().map(|&x| f16::from_f32(x)).collect()
    }

    #[test]
    fn one_position_returns_its_value() {
        let shape = AttentionShape {
            heads: 2,
            kv_heads: 1,
            head_dim: 2,
            value_dim: 2,
            scale: 1.0,
            window: None,
        };
        let mut out = [0.0; 4];
        attend(
            &shape,
            &[1.0, 0.0, 0.0, 1.0],
            &halves(&[0.5, 0.5]),
            &halves(&[3.0, -2.0]),
            0,
            &mut out,
        );
        assert_eq!(out, [3.0, -2.0, 3.0, -2.0]);
    }

    #[test]
    fn a_sliding_window_drops_old_positions() {
        let shape = AttentionShape {
            heads: 1,
            kv_heads: 1,
            head_dim: 1,
            value_dim: 1,
            scale: 1.0,
            window: Some(2),
        };
        let keys = halves(&[0.0, 0.0, 0.0]);
        let values = halves(&[100.0, 1.0, 3.0]);
        let mut out = [0.0];
        attend(&shape, &[1.0], &keys, &values, 2, &mut out);
        assert_eq!(out, [2.0], "equal weights over positions 1 and 2 only");
    }
}
