// Causal grouped-query attention of this step's tokens over the f16 KV cache.
//
// One workgroup per (token t, head h). Token t sits at position
// p = step.pos0 + t and attends cached positions first..=p, where first is
// p + 1 - window for sliding-window layers (window > 0), else 0. The cache of
// one layer is position-major, kv_heads x head_dim f16 values per position,
// packed two per u32 (pack2x16float: no shader-f16 needed).
//
// Rounding mirrors src/cpu/attention.rs (llama.cpp's non-flash path): q is
// rounded to f16, score_j = (sum_i q16_i * k_ji) * scale, softmax weights are
// rounded to f16, out = sum_j p16_j * v_j, accumulated in position order.
//
// Two sweeps over the keys, so no array is sized by the context:
// 1. each thread scores its keys (thread-per-key: a sequential dot, the
//    CPU's order), keeping a running max and sum of exp, merged across the
//    workgroup into the softmax max and 1 / sum;
// 2. a tile of WG keys at a time, each thread recomputes one score into its
//    f16-rounded weight p_j = exp(score_j - max) / sum in shared memory, then
//    thread i accumulates value pair i over the tile in position order.
// Recomputing the scores costs a second read of K but yields the exact
// normalised weights the CPU rounds to f16. Reductions happen once per
// workgroup, so there is no subgroup variant.

struct Step {
    pos0: u32,
    n_tokens: u32,
    kv_len: u32,
    _pad: u32,
}

struct Params {
    heads: u32,
    kv_heads: u32,
    head_dim: u32,   // even, <= MAX_HEAD_DIM
    value_dim: u32,  // even, <= 2 * WG
    q_offset: u32,   // index of token 0, head 0 in `q`
    q_stride: u32,   // elements between tokens in `q`
    out_offset: u32,
    out_stride: u32,
    k_offset: u32,   // u32 word of position 0 of this layer's keys
    v_offset: u32,   // u32 word of position 0 of this layer's values
    window: u32,     // 0: attend every earlier position
    scale: f32,      // multiplies q.k
}

@group(0) @binding(0) var<storage, read> q: array<f32>;
@group(0) @binding(1) var<storage, read> k_cache: array<u32>;
@group(0) @binding(2) var<storage, read> v_cache: array<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<uniform> step: Step;
@group(0) @binding(5) var<uniform> params: Params;

const WG: u32 = 128u;
const MAX_HEAD_DIM: u32 = 256u;
const LOWEST: f32 = -3.402823e38;

var<workgroup> q16: array<f32, MAX_HEAD_DIM>;
var<workgroup> red_max: array<f32, WG>;
var<workgroup> red_sum: array<f32, WG>;
var<workgroup> probs: array<f32, WG>;

fn round_f16(x: f32) -> f32 {
    return unpack2x16float(pack2x16float(vec2<f32>(x, 0.0))).x;
}

// The scaled score of cached position j for kv head kv, from shared q16.
fn score(j: u32, kv: u32) -> f32 {
    let half_dim = params.head_dim / 2u;
    let row = params.k_offset + (j * params.kv_heads + kv) * half_dim;
    var s = 0.0;
    for (var i = 0u; i < half_dim; i++) {
        let k = unpack2x16float(k_cache[row + i]);
        s += q16[2u * i] * k.x;
        s += q16[2u * i + 1u] * k.y;
    }
    return s * params.scale;
}

@compute @workgroup_size(128)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let index = wid.x + wid.y * groups.x;
    let t = index / params.heads;
    let h = index % params.heads;
    // Uniform across the workgroup: the dispatch covers the largest batch.
    if (t >= step.n_tokens) {
        return;
    }
    let pos = step.pos0 + t;
    var first = 0u;
    if (params.window > 0u && pos + 1u > params.window) {
        first = pos + 1u - params.window;
    }
    let kv = h / (params.heads / params.kv_heads);

    let q_base = params.q_offset + t * params.q_stride + h * params.head_dim;
    for (var i = lid; i < params.head_dim; i += WG) {
        q16[i] = round_f16(q[q_base + i]);
    }
    workgroupBarrier();

    // Sweep 1: running max m and sum l of exp(score - m) over this thread's keys.
    var m = LOWEST;
    var l = 0.0;
    for (var j = first + lid; j <= pos; j += WG) {
        let s = score(j, kv);
        let m_new = max(m, s);
        l = l * exp(m - m_new) + exp(s - m_new);
        m = m_new;
    }
    red_max[lid] = m;
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
        if (lid < stride) {
            red_max[lid] = max(red_max[lid], red_max[lid + stride]);
        }
        workgroupBarrier();
    }
    let top = red_max[0];
    red_sum[lid] = l * exp(m - top);
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
        if (lid < stride) {
            red_sum[lid] += red_sum[lid + stride];
        }
        workgroupBarrier();
    }
    let inv = 1.0 / red_sum[0];

    // Sweep 2, a tile of WG positions at a time.
    let pairs = params.value_dim / 2u;
    let v_row = params.kv_heads * pairs;
    let v_base = params.v_offset + kv * pairs + lid;
    var acc = vec2<f32>(0.0);
    for (var tile = first; tile <= pos; tile += WG) {
        let j = tile + lid;
        if (j <= pos) {
            probs[lid] = round_f16(exp(score(j, kv) - top) * inv);
        }
        workgroupBarrier();
        if (lid < pairs) {
            let count = min(WG, pos + 1u - tile);
            for (var c = 0u; c < count; c++) {
                acc += probs[c] * unpack2x16float(v_cache[v_base + (tile + c) * v_row]);
            }
        }
        workgroupBarrier();
    }
    if (lid < pairs) {
        let o = params.out_offset + t * params.out_stride + h * params.value_dim + 2u * lid;
        out[o] = acc.x;
        out[o + 1u] = acc.y;
    }
}
