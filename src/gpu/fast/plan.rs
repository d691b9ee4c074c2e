//! The `fast` decode plan: one token's forward pass in few dispatches. Per
//! layer (Llama/SmolLM2, Qwen2: 5; Gemma 3: 7):
//!
//! 1. RMSNorm + Q/K/V (+ Qwen2's biases): one fused mat-vec per run of
//!    matrices of one type (one where all three share it);
//! 2. attention, split over chunks of positions, with Gemma 3's q/k norms,
//!    RoPE, the query scale and the KV store done by the same pass;
//! 3. the output projection, combining attention's chunks as it reads them,
//!    with the residual add in its epilogue (Gemma 3: the projection, then
//!    its post-norm and the add as one pass);
//! 4. RMSNorm + gate + up + SiLU/GELU·up: one mat-vec;
//! 5. the down projection with the residual add (Gemma 3: as in 3).
//!
//! The head is the output norm fused into the output mat-vec, Gemma's
//! soft-cap where a model has one, and the argmax written into the token
//! buffer, so the next step can run without the host. The plan shares
//! `Bindings`, the activation buffers and the KV-cache layout with the exact
//! plan (`gpu::decoder::plan`); batches (prefill) use that plan.

use super::attention::{
    HeadNorms, SplitChunks, SplitRope, bind_split_attention, split_attention_scratch,
};
use super::fused::{FastWeights, FusedLayer};
use super::matvec::{Combine, Epilogue, FastLinear, bind_fast_linear};
use super::norm_add::bind_norm_add;
use crate::cpu::attention::AttentionShape;
use crate::gpu::GpuError;
use crate::gpu::argmax::bind_argmax;
use crate::gpu::attention::KvCacheView;
use crate::gpu::decoder::plan::{Bindings, Passes, rows};
use crate::gpu::elementwise::{Op, RowCount, bind_elementwise};
use crate::gpu::embedding::bind_embedding;
use crate::gpu::matvec::GpuMatrix;
use crate::gpu::pass::KernelPass;
use crate::model::Activation;

/// The fast plan of one decode step, bound once.
pub struct FastPlan {
    /// Embedding and every block.
    pub blocks: Passes,
    /// Output norm + output mat-vec (+ soft-cap): the logits.
    pub head: Passes,
    /// The argmax of the logits into word 0 of the token buffer.
    pub pick: KernelPass,
}

/// The attention of one layer, split over chunks of positions
/// (flash-decoding) so a long context uses the whole GPU, from the QKV
/// mat-vec's output. Returns its passes and what the output projection
/// must combine (`None`: the passes end with the combined output in
/// `acts.attn`, for models with more heads than the projection combines).
/// Each layer has its own small scratch (heads × chunks × value_dim
/// floats), kept alive by the bind groups.
fn attention(
    b: &Bindings<'_>,
    shape: &AttentionShape,
    cache: &KvCacheView<'_>,
    qkv: &wgpu::Buffer,
    rope: &SplitRope<'_>,
) -> Result<(KernelPass, Option<(wgpu::Buffer, Combine)>), GpuError> {
    let a = b.acts;
    let c = b.config;
    let chunks = SplitChunks::for_capacity(b.capacity as u32);
    let scratch = split_attention_scratch(b.ctx, shape, chunks)?;
    let split = bind_split_attention(
        b.ctx,
        shape,
        cache,
        rows(qkv, c.q_width()),
        rows(&a.attn, c.head_count * c.value_dim),
        &scratch,
        b.step,
        chunks,
        Some(rope),
    )?;
    let combine = Combine {
        heads: to_u32(c.head_count)?,
        width: to_u32(c.value_dim)?,
        chunks: chunks.max_chunks,
    };
    if combine.heads > Combine::MAX_HEADS {
        return Ok((split.both(), None));
    }
    Ok((split.chunks, Some((scratch, combine))))
}

/// Binds the fast plan of a one-token step.
pub fn bind_fast_plan(b: &Bindings<'_>, fast: &FastWeights) -> Result<FastPlan, GpuError> {
    let c = b.config;
    let a = b.acts;
    let w = &b.weights.matrices;
    let d = c.embedding_length;
    let mut blocks: Passes = vec![bind_embedding(
        b.ctx,
        &w.token_embd,
        &a.ids,
        0,
        rows(&a.hidden, d),
        c.embedding_scale,
        b.step,
        1,
    )?];
    for (layer, fused) in fast.layers.iter().enumerate() {
        layer_passes(b, fast, layer, fused, &mut blocks)?;
    }
    Ok(FastPlan {
        blocks,
        head: head(b)?,
        pick: bind_argmax(
            b.ctx,
            &a.logits,
            0,
            w.output_matrix().rows,
            &a.ids,
            0,
            b.ctx.capabilities.subgroups,
        )?,
    })
}

/// A mat-vec of `matrix` reading `x` (normalised by `norm` first if given).
fn linear<'a>(
    matrix: &'a GpuMatrix,
    x: &'a wgpu::Buffer,
    y: &'a wgpu::Buffer,
    y_offset: u32,
    epilogue: Epilogue,
    norm: Option<(&'a wgpu::Buffer, f32)>,
) -> FastLinear<'a> {
    FastLinear {
        matrix,
        x,
        x_offset: 0,
        y,
        y_offset,
        epilogue,
        norm,
        bias: None,
        combine: None,
    }
}

fn layer_passes(
    b: &Bindings<'_>,
    fast: &FastWeights,
    layer: usize,
    fused: &FusedLayer,
    passes: &mut Passes,
) -> Result<(), GpuError> {
    let c = b.config;
    let a = b.acts;
    let lw = &b.weights.matrices.layers[layer];
    let lv = &b.weights.layers[layer];
    let eps = c.rms_eps;

    // 1. norm + QKV (+ bias).
    for part in &fused.qkv {
        let mut l = linear(
            &part.matrix,
            &a.hidden,
            &fast.qkv,
            part.offset,
            Epilogue::Store,
            Some((&lv.attn_norm, eps)),
        );
        l.bias = fused.qkv_bias.as_ref().map(|bias| (bias, part.offset));
        passes.push(bind_fast_linear(b.ctx, &l)?);
    }

    // 2. attention, with the q/k norms, RoPE, query scale and KV store.
    let sliding = c.is_sliding(layer);
    let table = match (sliding, b.rope_local) {
        (true, Some(local)) => local,
        _ => b.rope_global,
    };
    let shape = AttentionShape {
        heads: c.head_count,
        kv_heads: c.head_count_kv,
        head_dim: c.head_dim,
        value_dim: c.value_dim,
        // Gemma scales the query before attention; the others scale q·k.
        scale: if c.scale_query {
            1.0
        } else {
            c.attention_scale
        },
        window: if sliding { c.sliding_window } else { None },
    };
    let cache = KvCacheView {
        keys: &b.cache[layer].keys,
        k_offset: 0,
        values: &b.cache[layer].values,
        v_offset: 0,
        capacity: b.capacity as u32,
    };
    let (qw, kw) = (to_u32(c.q_width())?, to_u32(c.kv_width())?);
    let rope = SplitRope {
        style: c.rope_style,
        table,
        k_src: qw,
        v_src: qw + kw,
        norms: match (&lv.q_norm, &lv.k_norm) {
            (Some(q), Some(k)) => Some(HeadNorms { q, k, eps }),
            _ => None,
        },
        q_scale: if c.scale_query {
            c.attention_scale
        } else {
            1.0
        },
    };
    let (attend, combine) = attention(b, &shape, &cache, &fast.qkv, &rope)?;
    passes.push(attend);

    // 3. output projection (combining attention's chunks) + residual.
    match &combine {
        Some((scratch, combine)) => residual(
            b,
            passes,
            &lw.wo,
            scratch,
            Some(*combine),
            lv.post_attn_norm.as_ref(),
        )?,
        None => residual(b, passes, &lw.wo, &a.attn, None, lv.post_attn_norm.as_ref())?,
    }

    // 4. norm + gate/up + activation.
    let ff = c.feed_forward_length;
    let ffn_norm = Some((&lv.ffn_norm, eps));
    match &fused.gate_up {
        Some(gate_up) => {
            let epilogue = match c.activation {
                Activation::Silu => Epilogue::SiluMul,
                Activation::GeluTanh => Epilogue::GeluMul,
            };
            let l = linear(gate_up, &a.hidden, &a.gate, 0, epilogue, ffn_norm);
            passes.push(bind_fast_linear(b.ctx, &l)?);
        }
        None => {
            // Gate and up of different types: two mat-vecs and the
            // shared element-wise kernel.
            for (m, y) in [(&lw.gate, &a.gate), (&lw.up, &a.up)] {
                let l = linear(m, &a.hidden, y, 0, Epilogue::Store, ffn_norm);
                passes.push(bind_fast_linear(b.ctx, &l)?);
            }
            let op = match c.activation {
                Activation::Silu => Op::SiluMul,
                Activation::GeluTanh => Op::GeluMul,
            };
            passes.push(bind_elementwise(
                b.ctx,
                op,
                rows(&a.gate, ff),
                Some(rows(&a.up, ff)),
                ff as u32,
                RowCount::Fixed(1),
                b.step,
            )?);
        }
    }

    // 5. down projection + residual.
    residual(
        b,
        passes,
        &lw.down,
        &a.gate,
        None,
        lv.post_ffn_norm.as_ref(),
    )
}

/// hidden += W·x (x combined from attention's chunks where `combine` is
/// given): in the mat-vec's epilogue, or through Gemma's post-norm (the
/// projection, then norm and add as one pass).
fn residual(
    b: &Bindings<'_>,
    passes: &mut Passes,
    matrix: &GpuMatrix,
    x: &wgpu::Buffer,
    combine: Option<Combine>,
    post_norm: Option<&wgpu::Buffer>,
) -> Result<(), GpuError> {
    let a = b.acts;
    let d = b.config.embedding_length;
    let (y, epilogue) = match post_norm {
        None => (&a.hidden, Epilogue::Add),
        Some(_) => (&a.proj, Epilogue::Store),
    };
    let mut l = linear(matrix, x, y, 0, epilogue, None);
    l.combine = combine;
    passes.push(bind_fast_linear(b.ctx, &l)?);
    if let Some(norm) = post_norm {
        passes.push(bind_norm_add(
            b.ctx,
            &a.proj,
            norm,
            &a.hidden,
            d,
            b.config.rms_eps,
            b.step,
            1,
        )?);
    }
    Ok(())
}

fn to_u32(value: usize) -> Result<u32, GpuError> {
    crate::gpu::pass::to_u32("fast plan width", value)
}

/// The logits of the step's token: output norm and mat-vec in one pass,
/// then the soft-cap where the model has one.
fn head(b: &Bindings<'_>) -> Result<Passes, GpuError> {
    let a = b.acts;
    let output = b.weights.matrices.output_matrix();
    let norm = Some((&b.weights.output_norm, b.config.rms_eps));
    let l = linear(output, &a.hidden, &a.logits, 0, Epilogue::Store, norm);
    let mut passes = vec![bind_fast_linear(b.ctx, &l)?];
    if let Some(cap) = b.config.final_logit_softcap {
        passes.push(bind_elementwise(
            b.ctx,
            Op::SoftCap(cap),
            rows(&a.logits, output.rows),
            None,
            output.rows as u32,
            RowCount::Fixed(1),
            b.step,
        )?);
    }
    Ok(passes)
}
