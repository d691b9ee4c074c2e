//! Causal, grouped-query attention over the f16 KV cache, optionally limited
//! to a sliding window, with the arithmetic of llama.cpp's non-flash CPU
//! path (see [`ggml_numerics`](super::ggml_numerics)): the query rounded to
//! f16, q·k as an f16 dot product times the scale, ggml's softmax, the
//! weights rounded to f16, and their f16 dot product with each value channel
//! over the positions. One token follows `ggml_vec_dot_f16`'s order, a batch
//! (the prompt) tinyBLAS's.

use half::f16;

use super::ggml_numerics::{DotF16, dot_f16, fma_row, fused_dispatch, round_f16, softmax};
use crate::quant::widen_f16;

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
/// stored, cache index = position) into `out` (`heads × value_dim`), with
/// `order` saying whether llama.cpp computes it as one token or in a batch.
pub fn attend(
    shape: &AttentionShape,
    query: &[f32],
    keys: &[f16],
    values: &[f16],
    pos: usize,
    order: DotF16,
    out: &mut [f32],
) {
    let group_width = shape.heads / shape.kv_heads * shape.value_dim;
    for (kv, out) in out.chunks_exact_mut(group_width).enumerate() {
        attend_kv_head(shape, query, keys, values, pos, order, kv, out);
    }
}

fused_dispatch!(
/// The share of [`attend`] that reads KV head `kv`: its group of query
/// heads (`heads / kv_heads` of them) into `out` (`group × value_dim`),
/// the same bits. Parts of one token's attention that threads can share.
#[allow(clippy::too_many_arguments)]
fn attend_kv_head(
    shape: &AttentionShape,
    query: &[f32],
    keys: &[f16],
    values: &[f16],
    pos: usize,
    order: DotF16,
    kv: usize,
    out: &mut [f32]
) => kv_head_impl);

// The heads sharing a KV head are done together, so that each cached key
// and value is widened from f16 once per group, not once per head; each
// head's arithmetic is unchanged. Positions keep their cache index: it
// decides their accumulator lane.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn kv_head_impl<const FUSED: bool>(
    shape: &AttentionShape,
    query: &[f32],
    keys: &[f16],
    values: &[f16],
    pos: usize,
    order: DotF16,
    kv: usize,
    out: &mut [f32],
) {
    let (hd, vd) = (shape.head_dim, shape.value_dim);
    let group = shape.heads / shape.kv_heads;
    let first = shape.window.map_or(0, |w| (pos + 1).saturating_sub(w));
    let (kv_width, v_width) = (shape.kv_heads * hd, shape.kv_heads * vd);
    let slots = order.slots();
    let n = pos + 1;
    let mut scores = vec![f32::NEG_INFINITY; group * n];
    let mut q16 = vec![0.0f32; group * hd];
    let mut k32 = vec![0.0f32; hd];
    let mut v32 = vec![0.0f32; vd];
    // Value accumulators per head of the group, slot-major: slot s holds
    // positions j ≡ s.
    let mut acc = vec![0.0f32; group * slots * vd];
    let q = &query[kv * group * hd..][..group * hd];
    q16.iter_mut().zip(q).for_each(|(d, &s)| *d = round_f16(s));
    for j in first..n {
        widen_f16(&keys[j * kv_width + kv * hd..][..hd], &mut k32);
        for (g, q16) in q16.chunks_exact(hd).enumerate() {
            scores[g * n + j] = dot_f16::<FUSED>(order, &k32, q16) * shape.scale;
        }
    }
    scores.chunks_exact_mut(n).for_each(softmax::<FUSED>);
    // Masked positions have weight 0 and would add nothing.
    for j in first..n {
        widen_f16(&values[j * v_width + kv * vd..][..vd], &mut v32);
        for g in 0..group {
            let p = round_f16(scores[g * n + j]);
            fma_row::<FUSED>(&mut acc[(g * slots + j % slots) * vd..][..vd], &v32, p);
        }
    }
    for (g, out) in out.chunks_exact_mut(vd).enumerate() {
        let acc = &acc[g * slots * vd..][..slots * vd];
        for (c, o) in out.iter_mut().enumerate() {
            *o = order.reduce(|s| acc[s * vd + c]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::ggml_numerics::fma;
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};

    /// The per-head loop attention was before heads were grouped by KV
    /// head: the grouped one must give the same bits.
    fn per_head<const FUSED: bool>(
        shape: &AttentionShape,
        query: &[f32],
        keys: &[f16],
        values: &[f16],
        pos: usize,
        order: DotF16,
        out: &mut [f32],
    ) {
        let (hd, vd) = (shape.head_dim, shape.value_dim);
        let group = shape.heads / shape.kv_heads;
        let first = shape.window.map_or(0, |w| (pos + 1).saturating_sub(w));
        let (kv_width, v_width) = (shape.kv_heads * hd, shape.kv_heads * vd);
        let slots = order.slots();
        let mut scores = vec![f32::NEG_INFINITY; pos + 1];
        let mut q16 = vec![0.0f32; hd];
        let mut k32 = vec![0.0f32; hd];
        let mut v32 = vec![0.0f32; vd];
        let mut acc = vec![0.0f32; slots * vd];
        for h in 0..shape.heads {
            let kv = h / group;
            scores[..first].fill(f32::NEG_INFINITY);
            let q = &query[h * hd..(h + 1) * hd];
            q16.iter_mut().zip(q).for_each(|(d, &s)| *d = round_f16(s));
            for (j, score) in scores.iter_mut().enumerate().skip(first) {
                let k = &keys[j * kv_width + kv * hd..][..hd];
                widen_f16(k, &mut k32);
                *score = dot_f16::<FUSED>(order, &k32, &q16) * shape.scale;
            }
            softmax::<FUSED>(&mut scores);
            acc.fill(0.0);
            for (j, &p) in scores.iter().enumerate().skip(first) {
                let p = round_f16(p);
                widen_f16(&values[j * v_width + kv * vd..][..vd], &mut v32);
                let a = &mut acc[(j % slots) * vd..][..vd];
                a.iter_mut()
                    .zip(&v32)
                    .for_each(|(a, &x)| *a = fma::<FUSED>(x, p, *a));
            }
            for (c, o) in out[h * vd..(h + 1) * vd].iter_mut().enumerate() {
                *o = order.reduce(|s| acc[s * vd + c]);
            }
        }
    }

    #[test]
    fn grouped_heads_give_the_per_head_bits() {
        let mut rng = SmallRng::seed_from_u64(0xA77);
        for (heads, kv_heads, hd, vd, window) in [
            (9, 3, 64, 64, None),
            (14, 2, 64, 64, None),
            (4, 1, 70, 33, Some(40)),
            (6, 2, 64, 48, Some(30)),
            (2, 2, 16, 16, None),
        ] {
            let shape = AttentionShape {
                heads,
                kv_heads,
                head_dim: hd,
                value_dim: vd,
                scale: 0.125,
                window,
            };
            let pos = 97;
            let mut random = |n: usize, scale: f32| -> Vec<f32> {
                (0..n)
                    .map(|_| scale * rng.random_range(-1.0f32..1.0))
                    .collect()
            };
            let query = random(heads * hd, 3.0);
            let keys = halves(&random((pos + 1) * kv_heads * hd, 2.0));
            let values = halves(&random((pos + 1) * kv_heads * vd, 1.0));
            for order in [DotF16::Single, DotF16::Batch] {
                let mut got = vec![0.0; heads * vd];
                let mut want = vec![0.0; heads * vd];
                attend(&shape, &query, &keys, &values, pos, order, &mut got);
                if crate::cpu::ggml_numerics::has_fma() {
                    per_head::<true>(&shape, &query, &keys, &values, pos, order, &mut want);
                } else {
                    per_head::<false>(&shape, &query, &keys, &values, pos, order, &mut want);
                }
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&got), bits(&want), "{heads}/{kv_heads} {order:?}");
                // And the same without native FMA (the WASM arithmetic).
                let group_width = heads / kv_heads * vd;
                for (kv, got) in got.chunks_exact_mut(group_width).enumerate() {
                    kv_head_impl::<false>(&shape, &query, &keys, &values, pos, order, kv, got);
                }
                per_head::<false>(&shape, &query, &keys, &values, pos, order, &mut want);
                assert_eq!(
                    bits(&got),
                    bits(&want),
                    "{heads}/{kv_heads} {order:?} unfused"
                );
            }
        }
    }

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
        for order in [DotF16::Single, DotF16::Batch] {
            let mut out = [0.0; 4];
            attend(
                &shape,
                &[1.0, 0.0, 0.0, 1.0],
                &halves(&[0.5, 0.5]),
                &halves(&[3.0, -2.0]),
                0,
                order,
                &mut out,
            );
            assert_eq!(out, [3.0, -2.0, 3.0, -2.0]);
        }
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
        attend(&shape, &[1.0], &keys, &values, 2, DotF16::Single, &mut out);
        assert_eq!(out, [2.0], "equal weights over positions 1 and 2 only");
    }
}
