//! The decoder's persistent GPU buffers: activations sized for the largest
//! batch, the f16 KV cache of every layer, and the few bytes read back.

use crate::gpu::GpuContext;
use crate::model::ModelConfig;

pub struct Activations {
    /// Token ids of this step (u32).
    pub ids: wgpu::Buffer,
    pub hidden: wgpu::Buffer,
    pub normed: wgpu::Buffer,
    pub q: wgpu::Buffer,
    pub k: wgpu::Buffer,
    pub v: wgpu::Buffer,
    /// Gemma 3's per-head normalised q and k.
    pub q_normed: wgpu::Buffer,
    pub k_normed: wgpu::Buffer,
    pub attn: wgpu::Buffer,
    pub proj: wgpu::Buffer,
    /// Gemma's post-norms write here, then it is added to `hidden`.
    pub proj_normed: wgpu::Buffer,
    pub gate: wgpu::Buffer,
    pub up: wgpu::Buffer,
    /// A linear layer's input rounded as llama.cpp rounds it
    /// (`gpu::exact::quantize`); in `fast` numerics, quantised to Q8 for
    /// int8 tiles (`gpu::fast::matmul_q8`, 1.5 bytes a value).
    pub rounded: wgpu::Buffer,
    /// The last token's hidden state, and after the output norm.
    pub last: wgpu::Buffer,
    pub last_normed: wgpu::Buffer,
    pub logits: wgpu::Buffer,
    /// What sampling picked: one token id, or top-k (index, logit) pairs.
    pub picked: wgpu::Buffer,
    /// Mappable copy of `picked`.
    pub readback: wgpu::Buffer,
    /// Bytes of all of the above.
    pub bytes: u64,
}

/// Bytes of `picked` and `readback`: enough for 64 (index, logit) pairs.
pub const PICKED_BYTES: u64 = 64 * 8;

impl Activations {
    pub fn new(ctx: &GpuContext, c: &ModelConfig, vocab: usize, max_tokens: usize) -> Activations {
        let mut bytes = 0;
        let mut storage = |label: &str, floats: usize| {
            let size = (floats.max(1) * 4) as u64;
            bytes += size;
            ctx.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size,
                usage: wgpu::BufferUsages::STORAGE
                    | wgpu::BufferUsages::COPY_SRC
                    | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            })
        };
        let n = max_tokens;
        let d = c.embedding_length;
        let ff = c.feed_forward_length;
        let attn_width = c.head_count * c.value_dim;
        let activations = Activations {
            ids: storage("ids", n),
            hidden: storage("hidden", n * d),
            normed: storage("normed", n * d),
            q: storage("q", n * c.q_width()),
            k: storage("k", n * c.kv_width()),
            v: storage("v", n * c.v_width()),
            q_normed: storage("q_normed", if c.qk_norm { n * c.q_width() } else { 1 }),
            k_normed: storage("k_normed", if c.qk_norm { n * c.kv_width() } else { 1 }),
            attn: storage("attn", n * attn_width),
            proj: storage("proj", n * d),
            proj_normed: storage("proj_normed", n * d),
            gate: storage("gate", n * ff),
            up: storage("up", n * ff),
            rounded: storage("rounded", n * d.max(ff).max(attn_width)),
            last: storage("last", d),
            last_normed: storage("last_normed", d),
            logits: storage("logits", vocab),
            picked: storage("picked", (PICKED_BYTES / 4) as usize),
            readback: ctx.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("readback"),
                size: PICKED_BYTES,
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            }),
            bytes: 0,
        };
        Activations {
            bytes: bytes + PICKED_BYTES,
            ..activations
        }
    }
}

/// One layer's keys and values: `capacity` positions of f16 pairs packed
/// in u32 words, position-major like `model::KvCache`.
pub struct LayerCache {
    pub keys: wgpu::Buffer,
    pub values: wgpu::Buffer,
}

pub fn kv_cache(ctx: &GpuContext, c: &ModelConfig, capacity: usize) -> (Vec<LayerCache>, u64) {
    let buffer = |label: &str, width: usize| {
        ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: (capacity * width / 2 * 4).max(4) as u64,
            usage: wgpu::BufferUsages::STORAGE,
            mapped_at_creation: false,
        })
    };
    let layers: Vec<LayerCache> = (0..c.block_count)
        .map(|_| LayerCache {
            keys: buffer("kv keys", c.kv_width()),
            values: buffer("kv values", c.v_width()),
        })
        .collect();
    let bytes = layers.iter().map(|l| l.keys.size() + l.values.size()).sum();
    (layers, bytes)
}
