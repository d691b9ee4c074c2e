//! The dispatches of one forward pass, bound once: the blocks for a batch
//! of up to `max_tokens` tokens (1 for decode, more for prefill). The linear
//! layers are bound in `linears.rs`, the head that turns the last token's
//! hidden state into a sampled token in `head.rs`.

use super::buffers::{Activations, LayerCache};
use super::weights::GpuWeights;
use crate::cpu::attention::AttentionShape;
use crate::gpu::attention::{KvCacheView, bind_attention, bind_kv_store};
use crate::gpu::elementwise::{Op, RowCount, bind_elementwise};
use crate::gpu::embedding::bind_embedding;
use crate::gpu::fast::attention::{bind_flash_attention, flash_attention_fits};
use crate::gpu::fast::linears::MatMulChoices;
use crate::gpu::pass::{KernelPass, Rows};
use crate::gpu::rmsnorm::{NormRows, bind_rms_norm, preferred_flags};
use crate::gpu::rope::{RopeTable, bind_rope};
use crate::gpu::{GpuContext, GpuError, Numerics};
use crate::model::{Activation, ModelConfig};

/// A step's passes, recorded in order.
pub type Passes = Vec<KernelPass>;

/// What every pass of one model binds.
pub struct Bindings<'a> {
    pub ctx: &'a GpuContext,
    pub numerics: Numerics,
    pub config: &'a ModelConfig,
    pub weights: &'a GpuWeights,
    pub acts: &'a Activations,
    pub cache: &'a [LayerCache],
    pub capacity: usize,
    /// Attention's score rows (`attention::attention_scratch`), all layers.
    pub scores: &'a wgpu::Buffer,
    pub step: &'a wgpu::Buffer,
    /// A step of one token, for the head (the logits of the last token).
    pub head_step: &'a wgpu::Buffer,
    /// RoPE tables: global layers, and Gemma 3's sliding layers.
    pub rope_global: &'a RopeTable,
    pub rope_local: Option<&'a RopeTable>,
    /// `fast` numerics: the mat-mul variant of each weight shape in batches.
    pub matmul: &'a MatMulChoices,
}

/// `buffer` as rows of `width` values from its start.
pub(crate) fn rows(buffer: &wgpu::Buffer, width: usize) -> Rows<'_> {
    Rows {
        buffer,
        offset: 0,
        stride: width as u32,
    }
}

impl Bindings<'_> {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn norm(
        &self,
        x: &wgpu::Buffer,
        y: &wgpu::Buffer,
        weight: &wgpu::Buffer,
        dim: usize,
        per_token: usize,
        max_tokens: u32,
        fixed: Option<u32>,
    ) -> Result<KernelPass, GpuError> {
        let width = dim * per_token;
        let norm = NormRows {
            x: rows(x, width),
            y: rows(y, width),
            weight,
            dim,
            per_token,
            eps: self.config.rms_eps,
        };
        let flags = preferred_flags(self.ctx);
        bind_rms_norm(self.ctx, &norm, self.step, max_tokens, fixed, &flags)
    }

    fn elementwise(
        &self,
        op: Op,
        a: Rows<'_>,
        b: Option<Rows<'_>>,
        width: usize,
        max_tokens: u32,
    ) -> Result<KernelPass, GpuError> {
        let count = RowCount::Step { max: max_tokens };
        bind_elementwise(self.ctx, op, a, b, width as u32, count, self.step)
    }

    /// Embedding and every block for batches of up to `max_tokens` tokens;
    /// the hidden states are left in `acts.hidden`.
    pub fn blocks(&self, max_tokens: u32) -> Result<Passes, GpuError> {
        let c = self.config;
        let a = self.acts;
        let w = &self.weights.matrices;
        let d = c.embedding_length;
        let mut passes: Passes = Vec::new();
        passes.push(bind_embedding(
            self.ctx,
            &w.token_embd,
            &a.ids,
            0,
            rows(&a.hidden, d),
            c.embedding_scale,
            self.step,
            max_tokens,
        )?);
        for (layer, (lw, lv)) in w.layers.iter().zip(&self.weights.layers).enumerate() {
            passes.push(self.norm(&a.hidden, &a.normed, &lv.attn_norm, d, 1, max_tokens, None)?);
            let qkv = [(&lw.wq, &a.q), (&lw.wk, &a.k), (&lw.wv, &a.v)];
            self.linears(&mut passes, &a.normed, d, &qkv, max_tokens, self.step)?;
            for (bias, out, width) in [
                (&lv.bq, &a.q, c.q_width()),
                (&lv.bk, &a.k, c.kv_width()),
                (&lv.bv, &a.v, c.v_width()),
            ] {
                if let Some(bias) = bias {
                    let b = Rows {
                        buffer: bias,
                        offset: 0,
                        stride: 0,
                    };
                    passes.push(self.elementwise(
                        Op::Add,
                        rows(out, width),
                        Some(b),
                        width,
                        max_tokens,
                    )?);
                }
            }
            // Gemma 3 normalises each head of q and k (into other buffers:
            // the kernel cannot work in place).
            let (q, k) = match (&lv.q_norm, &lv.k_norm) {
                (Some(qn), Some(kn)) => {
                    passes.push(self.norm(
                        &a.q,
                        &a.q_normed,
                        qn,
                        c.head_dim,
                        c.head_count,
                        max_tokens,
                        None,
                    )?);
                    passes.push(self.norm(
                        &a.k,
                        &a.k_normed,
                        kn,
                        c.head_dim,
                        c.head_count_kv,
                        max_tokens,
                        None,
                    )?);
                    (&a.q_normed, &a.k_normed)
                }
                _ => (&a.q, &a.k),
            };
            let sliding = c.is_sliding(layer);
            let table = match (sliding, self.rope_local) {
                (true, Some(local)) => local,
                _ => self.rope_global,
            };
            for (x, heads) in [(q, c.head_count), (k, c.head_count_kv)] {
                passes.push(bind_rope(
                    self.ctx,
                    table,
                    c.rope_style,
                    rows(x, heads * c.head_dim),
                    heads,
                    c.head_dim,
                    self.step,
                    max_tokens,
                )?);
            }
            // Gemma scales the query before attention; the others scale q·k.
            let scale = if c.scale_query {
                let op = Op::Scale(c.attention_scale);
                passes.push(self.elementwise(
                    op,
                    rows(q, c.q_width()),
                    None,
                    c.q_width(),
                    max_tokens,
                )?);
                1.0
            } else {
                c.attention_scale
            };
            let shape = AttentionShape {
                heads: c.head_count,
                kv_heads: c.head_count_kv,
                head_dim: c.head_dim,
                value_dim: c.value_dim,
                scale,
                window: if sliding { c.sliding_window } else { None },
            };
            let cache = KvCacheView {
                keys: &self.cache[layer].keys,
                k_offset: 0,
                values: &self.cache[layer].values,
                v_offset: 0,
                capacity: self.capacity as u32,
            };
            let (k_rows, v_rows) = (rows(k, c.kv_width()), rows(&a.v, c.v_width()));
            passes.push(bind_kv_store(
                self.ctx, &shape, &cache, k_rows, v_rows, self.step, max_tokens,
            )?);
            let out = &a.attn;
            let attn_width = c.head_count * c.value_dim;
            let (q_rows, out_rows) = (rows(q, c.q_width()), rows(out, attn_width));
            // Fast batches take flash attention where the adapter has the
            // workgroup memory it needs (above WebGPU's guaranteed 16 KiB);
            // otherwise, and in exact numerics, the shared kernel.
            let flash = match self.numerics {
                Numerics::Fast if max_tokens > 1 && flash_attention_fits(self.ctx) => {
                    Some(bind_flash_attention(
                        self.ctx, &shape, &cache, q_rows, out_rows, self.step, max_tokens,
                    )?)
                }
                _ => None,
            };
            passes.push(match flash {
                Some(pass) => pass,
                None => bind_attention(
                    self.ctx,
                    &shape,
                    &cache,
                    q_rows,
                    out_rows,
                    self.scores,
                    self.step,
                    max_tokens,
                )?,
            });
            self.linears(
                &mut passes,
                out,
                attn_width,
                &[(&lw.wo, &a.proj)],
                max_tokens,
                self.step,
            )?;
            self.residual(&mut passes, lv.post_attn_norm.as_ref(), max_tokens)?;

            passes.push(self.norm(&a.hidden, &a.normed, &lv.ffn_norm, d, 1, max_tokens, None)?);
            let gate_up = [(&lw.gate, &a.gate), (&lw.up, &a.up)];
            self.linears(&mut passes, &a.normed, d, &gate_up, max_tokens, self.step)?;
            let ff = c.feed_forward_length;
            let op = match c.activation {
                Activation::Silu => Op::SiluMul,
                Activation::GeluTanh => Op::GeluMul,
            };
            passes.push(self.elementwise(
                op,
                rows(&a.gate, ff),
                Some(rows(&a.up, ff)),
                ff,
                max_tokens,
            )?);
            self.linears(
                &mut passes,
                &a.gate,
                ff,
                &[(&lw.down, &a.proj)],
                max_tokens,
                self.step,
            )?;
            self.residual(&mut passes, lv.post_ffn_norm.as_ref(), max_tokens)?;
        }
        Ok(passes)
    }

    /// hidden += proj, through Gemma's post-norm when the layer has one.
    fn residual(
        &self,
        passes: &mut Passes,
        post_norm: Option<&wgpu::Buffer>,
        max_tokens: u32,
    ) -> Result<(), GpuError> {
        let a = self.acts;
        let d = self.config.embedding_length;
        let addend = match post_norm {
            Some(norm) => {
                passes.push(self.norm(&a.proj, &a.proj_normed, norm, d, 1, max_tokens, None)?);
                &a.proj_normed
            }
            None => &a.proj,
        };
        passes.push(self.elementwise(
            Op::Add,
            rows(&a.hidden, d),
            Some(rows(addend, d)),
            d,
            max_tokens,
        )?);
        Ok(())
    }
}
