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
// Lane l of both orders owns the slots l + 16 m (m < 4 for 64 slots, m = 0
// for 16): walking the dims of a key (or the positions, for the values) 64
// at a time from l, element l + 16 m of each step goes to chain m (64 slots)
// or to the lane's one chain (16 slots).
//
// A one-token step is 9 to 14 workgroups on a GPU of 100+ cores, so its time
// is the length of each workgroup's critical path: every phase spreads its
// loads over all threads, each thread issuing a few independent loads before
// using them, and the fixed-order reductions (reduce16) run in workgroup
// memory after a barrier instead of in long per-thread loops.
//
// Phases over the (token, head)'s row of `scores` (global scratch, one
// `capacity`-long row per workgroup; workgroup memory is too small):
// 1. rounds of 64 positions, 4 threads each, every thread two lane pairs
//    of the dot: 16 lanes per position in workgroup memory, then a thread
//    per position reduces them: score = (q16 . k) * scale, and their max;
// 2. a thread per position: e = expf(score - max); then a thread per
//    16-position chunk (aligned to position 0, as ggml's softmax):
//    reduce16, summed as an f64;
// 3. a thread per position: weight = f16(e * (f32)(1 / sum));
// 4. threads over (lane, value word) for blocks of 64 channels: a lane's
//    chains over the positions for both channels of a word, folded, into
//    workgroup memory; then a thread per channel reduces the 16 lanes.
// Masked positions (before the window) are skipped: their weight is 0.
//
// The dot products use WGSL's `fma`, fused or not: their products of two
// f16 values are exact in f32, so both round like llama.cpp's FMA (and
// `fma_rn` would cost far more). Chains start from a run-time zero:
// `fma(k, q, 0.0)` must not become `k * q` (-0 + 0 is +0).

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
// Phase 1: positions per round (WG / 4 threads each).
const ROUND: u32 = 64u;
// Phase 4: value channels per block (16 lanes x 16 threads x 2 words each).
const CB: u32 = 64u;
const LOWEST: f32 = -3.402823e38;

var<workgroup> q16: array<f32, MAX_HEAD_DIM>;
// Phase 1: two rounds' lanes, [round % 2][position][lane], so that a round
// needs one barrier; phase 4: one block's lanes, [lane][channel].
var<workgroup> lanes_wg: array<f32, 2048>;
var<workgroup> red_max: array<f32, ROUND>;
var<workgroup> red_hi: array<f32, WG>;
var<workgroup> red_lo: array<f32, WG>;

// Lanes (2 pair, 2 pair + 1) of the dot of q16 with the key at word `row`,
// after the 64-slot fold ((m0 + m2) + (m1 + m3)) of a one-token step.
fn key_lanes(row: u32, pair: u32, single: bool) -> vec2<f32> {
    let hd = params.head_dim;
    let z = vec2(bitcast<f32>(step.zero));
    var a = array<vec2<f32>, 4>(z, z, z, z);
    for (var i0 = 2u * pair; i0 < hd; i0 += 64u) {
        for (var m = 0u; m < 4u; m++) {
            let i = i0 + 16u * m;
            if (i < hd) {
                let w = k_cache[row + i / 2u];
                let k = vec2(f16_value(w & 0xffffu), f16_value(w >> 16u));
                let qq = vec2(q16[i], q16[i + 1u]);
                if (single) {
                    a[m] = fma(k, qq, a[m]);
                } else {
                    a[0] = fma(k, qq, a[0]);
                }
            }
        }
    }
    if (single) {
        return (a[0] + a[2]) + (a[1] + a[3]);
    }
    return a[0];
}

// Lane `lane` of both channels of value word `word` (of the head's row):
// weights (in `scores`) times values over positions first..=pos, folded as
// `key_lanes`.
fn value_lanes(word: u32, lane: u32, first: u32, pos: u32, row: u32, single: bool) -> vec2<f32> {
    let v_row = params.kv_heads * (params.value_dim / 2u);
    let z = vec2(bitcast<f32>(step.zero));
    var a = array<vec2<f32>, 4>(z, z, z, z);
    // Positions lane + 16 m (mod 64), from the 64-block holding `first`.
    for (var j0 = (first & ~63u) + lane; j0 <= pos; j0 += 64u) {
        for (var m = 0u; m < 4u; m++) {
            let j = j0 + 16u * m;
            if (j >= first && j <= pos) {
                let w = v_cache[word + j * v_row];
                let v = vec2(f16_value(w & 0xffffu), f16_value(w >> 16u));
                let p = vec2(scores[row + j]);
                if (single) {
                    a[m] = fma(v, p, a[m]);
                } else {
                    a[0] = fma(v, p, a[0]);
                }
            }
        }
    }
    if (single) {
        return (a[0] + a[2]) + (a[1] + a[3]);
    }
    return a[0];
}

// The 16 lanes at `base` of workgroup memory, reduced as ggml does.
fn reduce_lanes(base: u32, stride: u32) -> f32 {
    var lanes: array<f32, 16>;
    for (var l = 0u; l < 16u; l++) {
        lanes[l] = lanes_wg[base + l * stride];
    }
    return reduce16(lanes);
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
    if (lid < params.head_dim) {
        q16[lid] = round_f16(q[q_base + lid]);
    }
    workgroupBarrier();

    // 1. Scores and their max. Thread (position r, quarter u) of a round
    // computes lane pairs u and u + 4; after the round's barrier, thread r
    // reduces position r's lanes while the others start the next round in
    // the other half of lanes_wg (the round after reuses this half only past
    // the next barrier, which the reduction precedes).
    let r = lid / 4u;
    let u = lid % 4u;
    let hd_words = params.head_dim / 2u;
    var m = LOWEST;
    var buf = 0u;
    for (var j0 = first; j0 <= pos; j0 += ROUND) {
        let j = j0 + r;
        if (j <= pos) {
            let k_row = params.k_offset + (j * params.kv_heads + kv) * hd_words;
            let at = buf + 16u * r + 2u * u;
            let lo = key_lanes(k_row, u, single);
            let hi = key_lanes(k_row, u + 4u, single);
            lanes_wg[at] = lo.x;
            lanes_wg[at + 1u] = lo.y;
            lanes_wg[at + 8u] = hi.x;
            lanes_wg[at + 9u] = hi.y;
        }
        workgroupBarrier();
        if (lid < ROUND && j0 + lid <= pos) {
            // Rounded before the softmax subtracts the max.
            let s = unfused(reduce_lanes(buf + 16u * lid, 1u) * params.scale, zero);
            scores[row + j0 + lid] = s;
            m = max(m, s);
        }
        buf = 1024u - buf;
    }
    if (lid < ROUND) {
        red_max[lid] = m;
    }
    storageBarrier();
    workgroupBarrier();
    // max is exact in any order: every thread folds the 64 partial maxima.
    var top = LOWEST;
    for (var i = 0u; i < ROUND; i++) {
        top = max(top, red_max[i]);
    }

    // 2. exp(score - max), then 16-lane chunks summed as an f64 (an f32
    // pair: exact enough that the order of the chunks does not matter).
    for (var j = first + lid; j <= pos; j += WG) {
        scores[row + j] = ggml_expf(scores[row + j] - top, zero);
    }
    storageBarrier();
    var sum = Double(0.0, 0.0);
    for (var c = first / 16u + lid; c <= pos / 16u; c += WG) {
        var lanes: array<f32, 16>;
        for (var l = 0u; l < 16u; l++) {
            let j = 16u * c + l;
            var e = 0.0;
            if (j >= first && j <= pos) {
                e = scores[row + j];
            }
            lanes[l] = e;
        }
        sum = double_add(sum, reduce16(lanes), zero);
    }
    red_hi[lid] = sum.hi;
    red_lo[lid] = sum.lo;
    workgroupBarrier();
    // A tree over the threads that hold chunks (the rest hold zeros).
    let chunks = min(pos / 16u - first / 16u + 1u, WG);
    for (var stride = (1u << (32u - countLeadingZeros(chunks - 1u))) / 2u; stride > 0u; stride >>= 1u) {
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

    // 4. Values: thread (lane, w) covers words w and w + 16 of a block.
    let lane = lid / 16u;
    let w = lid % 16u;
    let pairs = params.value_dim / 2u;
    let v_base = params.v_offset + kv * pairs;
    let o_base = params.out_offset + t * params.out_stride + h * params.value_dim;
    for (var w0 = 0u; w0 < pairs; w0 += CB / 2u) {
        for (var k = 0u; k < 2u; k++) {
            let word = w0 + w + 16u * k;
            if (word < pairs) {
                let a = value_lanes(v_base + word, lane, first, pos, row, single);
                let at = lane * CB + 2u * (word - w0);
                lanes_wg[at] = a.x;
                lanes_wg[at + 1u] = a.y;
            }
        }
        workgroupBarrier();
        let c = 2u * w0 + lid;
        if (lid < CB && c < params.value_dim) {
            out[o_base + c] = reduce_lanes(lid, CB);
        }
        workgroupBarrier();
    }
}
