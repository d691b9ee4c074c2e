//! include: ggml_numerics step
// Causal grouped-query attention of this step's tokens over the f16 KV cache,
// bit for bit as src/cpu/attention.rs (llama.cpp's non-flash CPU path).
//
// One workgroup per (token t, head h) of this dispatch (tokens t_base..).
// Token t sits at position p = step.pos0 + t and attends cached positions
// first..=p, where first is p + 1 - window for sliding-window layers
// (window > 0), else 0. The cache of one layer is position-major, kv_heads x
// head_dim f16 values per position, packed two per u32 (low half first).
//
// The dot products follow ggml's f16 orders (`DotF16` in
// src/cpu/ggml_numerics.rs): a one-token step `ggml_vec_dot_f16`'s (64
// slots, folded to 16 lanes), a batch tinyBLAS's (16 slots). Value i of a
// sum goes to slot i % slots, each slot a chain of fmas in increasing i.
//
// Four phases over the (token, head)'s row of `scores` (global scratch, one
// `capacity`-long row per workgroup; workgroup memory is too small):
// 1. a thread per position: score = (q16 . k) * scale, and their max;
// 2. a thread per 16-position chunk (aligned to position 0, as ggml's
//    softmax): e = expf(score - max), reduce16, summed as an f64;
// 3. a thread per position: weight = f16(e * (f32)(1 / sum));
// 4. threads over (channel, slot): out = the f16 dot product of each value
//    channel with the weights over positions, slot j % slots.
// Masked positions (before the window) are skipped: their weight is 0.
//
// The dot products use WGSL's `fma`, fused or not: their products of two
// f16 values are exact in f32, so both round like llama.cpp's FMA (and
// `fma_rn` would cost far more).

struct Params {
    heads: u32,
    kv_heads: u32,
    head_dim: u32,   // even, <= MAX_HEAD_DIM
    value_dim: u32,  // even
    q_offset: u32,   // index of token 0, head 0 in `q`
    q_stride: u32,   // elements between tokens in `q`
    out_offset: u32,
    out_stride: u32,
    k_offset: u32,   // u32 word of position 0 of this layer's keys
    v_offset: u32,   // u32 word of position 0 of this layer's values
    window: u32,     // 0: attend every earlier position
    scale: f32,      // multiplies q.k
    t_base: u32,     // first token of this dispatch
    capacity: u32,   // scores per scratch row
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<storage, read> q: array<f32>;
@group(0) @binding(1) var<storage, read> k_cache: array<u32>;
@group(0) @binding(2) var<storage, read> v_cache: array<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<uniform> step: Step;
@group(0) @binding(5) var<uniform> params: Params;
@group(0) @binding(6) var<storage, read_write> scores: array<f32>;

const WG: u32 = 256u;
const MAX_HEAD_DIM: u32 = 256u;
// Value channels per block of phase 4, and slot groups (WG / CB).
const CB: u32 = 32u;
const SG: u32 = 8u;
const LOWEST: f32 = -3.402823e38;

var<workgroup> q16: array<f32, MAX_HEAD_DIM>;
var<workgroup> red_max: array<f32, WG>;
var<workgroup> red_hi: array<f32, WG>;
var<workgroup> red_lo: array<f32, WG>;
// Slot sums of one block of channels: [slot * CB + channel].
var<workgroup> slot_acc: array<f32, 2048>;

// The scaled score of cached position j for kv head kv, from shared q16.
// Lanes are handled in pairs (2p, 2p + 1): one packed word feeds both.
fn score(j: u32, kv: u32, single: bool) -> f32 {
    let zero = step.zero;
    let hd = params.head_dim;
    let row = params.k_offset + (j * params.kv_heads + kv) * (hd / 2u);
    var lanes: array<f32, 16>;
    for (var p = 0u; p < 8u; p++) {
        if (single) {
            // Slots 16m + 2p (+ 1), m = 0..3, folded (m0 + m2) + (m1 + m3).
            var a: array<f32, 8>;
            for (var m = 0u; m < 4u; m++) {
                // A run-time zero: `fma(k, q, 0.0)` must not become `k * q`.
                var e = bitcast<f32>(zero);
                var o = e;
                for (var i = 16u * m + 2u * p; i < hd; i += 64u) {
                    let w = k_cache[row + i / 2u];
                    e = fma(f16_value(w & 0xffffu), q16[i], e);
                    o = fma(f16_value(w >> 16u), q16[i + 1u], o);
                }
                a[2u * m] = e;
                a[2u * m + 1u] = o;
            }
            lanes[2u * p] = (a[0] + a[4]) + (a[2] + a[6]);
            lanes[2u * p + 1u] = (a[1] + a[5]) + (a[3] + a[7]);
        } else {
            var e = bitcast<f32>(zero);
            var o = e;
            for (var i = 2u * p; i < hd; i += 16u) {
                let w = k_cache[row + i / 2u];
                e = fma(f16_value(w & 0xffffu), q16[i], e);
                o = fma(f16_value(w >> 16u), q16[i + 1u], o);
            }
            lanes[2u * p] = e;
            lanes[2u * p + 1u] = o;
        }
    }
    // Rounded before the softmax subtracts the max.
    return unfused(reduce16(lanes) * params.scale, zero);
}

@compute @workgroup_size(256)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let index = wid.x + wid.y * groups.x;
    let t = params.t_base + index / params.heads;
    let h = index % params.heads;
    // Uniform across the workgroup: the dispatch covers the largest batch.
    if (t >= step.n_tokens) {
        return;
    }
    let zero = step.zero;
    let single = step.n_tokens == 1u;
    let pos = step.pos0 + t;
    var first = 0u;
    if (params.window > 0u && pos + 1u > params.window) {
        first = pos + 1u - params.window;
    }
    let kv = h / (params.heads / params.kv_heads);
    let row = index * params.capacity;

    let q_base = params.q_offset + t * params.q_stride + h * params.head_dim;
    for (var i = lid; i < params.head_dim; i += WG) {
        q16[i] = round_f16(q[q_base + i]);
    }
    workgroupBarrier();

    // 1. Scores and their max.
    var m = LOWEST;
    for (var j = first + lid; j <= pos; j += WG) {
        let s = score(j, kv, single);
        scores[row + j] = s;
        m = max(m, s);
    }
    red_max[lid] = m;
    storageBarrier();
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
        if (lid < stride) {
            red_max[lid] = max(red_max[lid], red_max[lid + stride]);
        }
        workgroupBarrier();
    }
    let top = red_max[0];

    // 2. exp(score - max) over 16-lane chunks, summed as an f64 (an f32
    // pair: exact enough that the order of the chunks does not matter).
    var sum = Double(0.0, 0.0);
    for (var c = first / 16u + lid; c <= pos / 16u; c += WG) {
        var lanes: array<f32, 16>;
        for (var l = 0u; l < 16u; l++) {
            let j = 16u * c + l;
            var e = 0.0;
            if (j >= first && j <= pos) {
                e = ggml_expf(scores[row + j] - top, zero);
                scores[row + j] = e;
            }
            lanes[l] = e;
        }
        sum = double_add(sum, reduce16(lanes), zero);
    }
    red_hi[lid] = sum.hi;
    red_lo[lid] = sum.lo;
    storageBarrier();
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
        if (lid < stride) {
            let x = Double(red_hi[lid], red_lo[lid]);
            let y = double_add(x, red_hi[lid + stride], zero);
            let z = double_add(y, red_lo[lid + stride], zero);
            red_hi[lid] = z.hi;
            red_lo[lid] = z.lo;
        }
        workgroupBarrier();
    }
    let inv = double_recip_to_f32(Double(red_hi[0], red_lo[0]));

    // 3. The weights, rounded to f16.
    for (var j = first + lid; j <= pos; j += WG) {
        scores[row + j] = round_f16(scores[row + j] * inv);
    }
    storageBarrier();

    // 4. Values: thread (channel c, slot group g) sums slots g, g + SG, ...
    // for a block of CB channels; then one thread per channel reduces them.
    let slots = select(16u, 64u, single);
    let pairs = params.value_dim / 2u;
    let v_row = params.kv_heads * pairs;
    let v_base = params.v_offset + kv * pairs;
    let o_base = params.out_offset + t * params.out_stride + h * params.value_dim;
    let lane = lid % CB;
    for (var c0 = 0u; c0 < params.value_dim; c0 += CB) {
        let c = c0 + lane;
        if (c < params.value_dim) {
            let word = v_base + c / 2u;
            let shift = (c % 2u) * 16u;
            for (var s = lid / CB; s < slots; s += SG) {
                var a = bitcast<f32>(zero);
                // The first j >= first with j % slots == s.
                var j = first + (s + slots - first % slots) % slots;
                for (; j <= pos; j += slots) {
                    let v = f16_value((v_cache[word + j * v_row] >> shift) & 0xffffu);
                    a = fma(v, scores[row + j], a);
                }
                slot_acc[s * CB + lane] = a;
            }
        }
        workgroupBarrier();
        if (lid < CB && c < params.value_dim) {
            var lanes: array<f32, 16>;
            for (var l = 0u; l < 16u; l++) {
                if (single) {
                    let a = slot_acc[l * CB + lane] + slot_acc[(32u + l) * CB + lane];
                    let b = slot_acc[(16u + l) * CB + lane] + slot_acc[(48u + l) * CB + lane];
                    lanes[l] = a + b;
                } else {
                    lanes[l] = slot_acc[l * CB + lane];
                }
            }
            out[o_base + c] = reduce16(lanes);
        }
        workgroupBarrier();
    }
}
