//! include: ggml_numerics step
// Stores this step's keys and values (f32) into one layer's KV cache as f16,
// packed two per u32 (low half first), at positions step.pos0 ..
// step.pos0 + step.n_tokens. `f16_bits` rounds ties to even and keeps
// subnormals, as the CPU cache does (pack2x16float promises neither). The
// cache is position-major: k_words (= kv_heads * head_dim / 2) words per
// position for keys, v_words for values. One thread per (token, word); the dispatch covers
// the largest batch and threads past step.n_tokens do nothing.

struct Params {
    k_words: u32,     // words per position of keys
    v_words: u32,     // words per position of values
    k_src: u32,       // index of token 0's key in `k`
    k_stride: u32,    // elements between tokens in `k`
    v_src: u32,
    v_stride: u32,
    k_dst: u32,       // u32 word of position 0 of this layer's keys
    v_dst: u32,
    capacity: u32,    // positions in the cache; later ones are dropped
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<storage, read> k: array<f32>;
@group(0) @binding(1) var<storage, read> v: array<f32>;
@group(0) @binding(2) var<storage, read_write> k_cache: array<u32>;
@group(0) @binding(3) var<storage, read_write> v_cache: array<u32>;
@group(0) @binding(4) var<uniform> step: Step;
@group(0) @binding(5) var<uniform> params: Params;

@compute @workgroup_size(64)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let index = (wid.x + wid.y * groups.x) * 64u + lid;
    let words = max(params.k_words, params.v_words);
    let t = index / words;
    let i = index % words;
    let pos = step.pos0 + t;
    if (t >= step.n_tokens || pos >= params.capacity) {
        return;
    }
    if (i < params.k_words) {
        let src = params.k_src + t * params.k_stride + 2u * i;
        k_cache[params.k_dst + pos * params.k_words + i] = f16_bits(k[src]) | (f16_bits(k[src + 1u]) << 16u);
    }
    if (i < params.v_words) {
        let src = params.v_src + t * params.v_stride + 2u * i;
        v_cache[params.v_dst + pos * params.v_words + i] = f16_bits(v[src]) | (f16_bits(v[src + 1u]) << 16u);
    }
}
