//! The decoder's forward pass on the CPU: embeddings, the blocks, the output
//! projection. One code path for Llama, Qwen2, Qwen3 and Gemma 3.

use super::attention::{AttentionShape, attend_kv_head};
use super::ggml_numerics::DotF16;
use super::matmul::{matmul, matmuls};
use super::{ops, pool, rope};
use crate::model::{KvCache, ModelConfig, ModelError, Weights};

pub struct CpuDecoder {
    pub config: ModelConfig,
    pub weights: Weights,
}

/// Which positions of a batch need logits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Logits {
    Last,
    All,
}

impl CpuDecoder {
    pub fn new(config: ModelConfig, weights: Weights) -> CpuDecoder {
        CpuDecoder { config, weights }
    }

    pub fn vocab_size(&self) -> usize {
        self.weights.vocab_size()
    }

    /// Runs `tokens` at the next positions of `cache` and returns logits
    /// (`vocab` values per requested position).
    pub fn forward(
        &self,
        tokens: &[u32],
        cache: &mut KvCache,
        which: Logits,
    ) -> Result<Vec<f32>, ModelError> {
        pool::team(|| self.pass(tokens, cache, which))
    }

    /// [`CpuDecoder::forward`], on the pool's team.
    fn pass(
        &self,
        tokens: &[u32],
        cache: &mut KvCache,
        which: Logits,
    ) -> Result<Vec<f32>, ModelError> {
        let n = tokens.len();
        if n == 0 {
            return Ok(Vec::new());
        }
        cache.check_room(n)?;
        let c = &self.config;
        let d = c.embedding_length;
        let start = cache.len();
        let mut hidden = self.embed(tokens)?;

        let mut xn = vec![0.0; n * d];
        let mut q = vec![0.0; n * c.q_width()];
        let mut k = vec![0.0; n * c.kv_width()];
        let mut v = vec![0.0; n * c.v_width()];
        let mut attn = vec![0.0; n * c.head_count * c.value_dim];
        let mut proj = vec![0.0; n * d];
        let mut gate = vec![0.0; n * c.feed_forward_length];
        let mut up = vec![0.0; n * c.feed_forward_length];

        for (layer, w) in self.weights.layers.iter().enumerate() {
            xn.copy_from_slice(&hidden);
            ops::rms_norm_rows(&mut xn, &w.attn_norm, c.rms_eps);
            matmuls(
                &mut [(&w.wq, &mut q), (&w.wk, &mut k), (&w.wv, &mut v)],
                &xn,
                n,
            )?;
            for (bias, out) in [(&w.bq, &mut q), (&w.bk, &mut k), (&w.bv, &mut v)] {
                if let Some(bias) = bias {
                    ops::add_bias_rows(out, bias);
                }
            }
            if let (Some(qn), Some(kn)) = (&w.q_norm, &w.k_norm) {
                ops::rms_norm_rows(&mut q, qn, c.rms_eps);
                ops::rms_norm_rows(&mut k, kn, c.rms_eps);
            }
            let sliding = c.is_sliding(layer);
            let base = if sliding {
                c.rope_base_local
            } else {
                c.rope_base
            };
            let (scale, factors) = match (sliding, &self.weights.rope_freqs) {
                (false, Some(factors)) => (c.rope_scale, factors.as_slice()),
                (false, None) => (c.rope_scale, &[][..]),
                (true, _) => (1.0, &[][..]),
            };
            for t in 0..n {
                let pos = start + t;
                let rotation = rope::Rotation::with_factors(c.rope_dims, pos, base, scale, factors);
                rotation.rotate(
                    &mut q[t * c.q_width()..(t + 1) * c.q_width()],
                    c.head_dim,
                    c.rope_style,
                );
                rotation.rotate(
                    &mut k[t * c.kv_width()..(t + 1) * c.kv_width()],
                    c.head_dim,
                    c.rope_style,
                );
                cache.store(
                    layer,
                    pos,
                    &k[t * c.kv_width()..(t + 1) * c.kv_width()],
                    &v[t * c.v_width()..(t + 1) * c.v_width()],
                );
            }
            // Gemma scales the query before attention; the others scale q·k.
            let kq_scale = if c.scale_query {
                q.iter_mut().for_each(|x| *x *= c.attention_scale);
                1.0
            } else {
                c.attention_scale
            };
            let shape = AttentionShape {
                heads: c.head_count,
                kv_heads: c.head_count_kv,
                head_dim: c.head_dim,
                value_dim: c.value_dim,
                scale: kq_scale,
                window: if sliding { c.sliding_window } else { None },
            };
            let width = c.head_count * c.value_dim;
            // llama.cpp multiplies a batch's f16 matrices with tinyBLAS.
            let order = if n > 1 { DotF16::Batch } else { DotF16::Single };
            // Each token, and each KV head's group of query heads, attends
            // on its own: they are split over the pool (the same arithmetic),
            // so that a decode step's attention, which grows with the
            // context, is shared too.
            let (keys, values) = (cache.keys(layer), cache.values(layer));
            let kv_heads = c.head_count_kv;
            let parts: Vec<_> = attn
                .chunks_exact_mut(width / kv_heads)
                .enumerate()
                .collect();
            pool::in_parallel(parts, |(i, out)| {
                let (t, kv) = (i / kv_heads, i % kv_heads);
                let query = &q[t * c.q_width()..(t + 1) * c.q_width()];
                attend_kv_head(&shape, query, keys, values, start + t, order, kv, out);
            });
            matmul(&w.wo, &attn, n, &mut proj)?;
            if let Some(norm) = &w.post_attn_norm {
                ops::rms_norm_rows(&mut proj, norm, c.rms_eps);
            }
            ops::add_into(&mut hidden, &proj);

            xn.copy_from_slice(&hidden);
            ops::rms_norm_rows(&mut xn, &w.ffn_norm, c.rms_eps);
            matmuls(&mut [(&w.gate, &mut gate), (&w.up, &mut up)], &xn, n)?;
            ops::glu(c.activation, &mut gate, &up, c.feed_forward_length);
            matmul(&w.down, &gate, n, &mut proj)?;
            if let Some(norm) = &w.post_ffn_norm {
                ops::rms_norm_rows(&mut proj, norm, c.rms_eps);
            }
            ops::add_into(&mut hidden, &proj);
        }
        cache.advance(n);
        self.logits(&hidden, n, which)
    }

    fn embed(&self, tokens: &[u32]) -> Result<Vec<f32>, ModelError> {
        let d = self.config.embedding_length;
        let table = &self.weights.token_embd;
        let mut hidden = vec![0.0; tokens.len() * d];
        for (row, &token) in hidden.chunks_exact_mut(d).zip(tokens) {
            if token as usize >= table.rows {
                return Err(ModelError::BadToken {
                    id: token,
                    vocab: table.rows,
                });
            }
            table.dequantize_row(token as usize, row)?;
            if let Some(scale) = self.config.embedding_scale {
                row.iter_mut().for_each(|x| *x *= scale);
            }
        }
        Ok(hidden)
    }

    fn logits(&self, hidden: &[f32], n: usize, which: Logits) -> Result<Vec<f32>, ModelError> {
        let d = self.config.embedding_length;
        let rows = match which {
            Logits::Last => &hidden[(n - 1) * d..],
            Logits::All => hidden,
        };
        let count = rows.len() / d;
        let mut normed = rows.to_vec();
        ops::rms_norm_rows(&mut normed, &self.weights.output_norm, self.config.rms_eps);
        let output = self.weights.output();
        let mut logits = vec![0.0; count * output.rows];
        matmul(output, &normed, count, &mut logits)?;
        if let Some(cap) = self.config.final_logit_softcap {
            logits.iter_mut().for_each(|x| *x = cap * (*x / cap).tanh());
        }
        Ok(logits)
    }
}
