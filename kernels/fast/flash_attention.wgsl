//! include: step
// `fast` causal grouped-query flash attention of this step's tokens over the
// f16 KV cache (the layout of kernels/attention.wgsl: position-major,
// kv_heads × head_dim f16 per position, two per u32, low half first).
//
// One workgroup per (block of BQ = 16 tokens, head). Token t sits at
// position p = step.pos0 + t and attends cached positions first..=p (first
// = p + 1 - window for sliding-window layers, else 0). The block walks the
// positions any of its tokens attends in tiles of BK = 16: the tile's keys
// are copied into workgroup memory, thread (query i, key c) computes one
// score (q rounded to f16, dot in f32, times the scale), the block keeps
// each query's running max m and sum l (online softmax, f32), the same
// workgroup memory then takes the tile's values, and thread (query i,
// lane c) adds weight × value to its value words c, c + 16, ... (f32).
// Nothing is written to global memory but the output.
//
// Workgroup memory: the queries and one key/value tile as packed f16 rows
// padded by a word (so the 16 rows read at once fall in different banks):
// 2 × 16 × 129 words plus 16 × 16 weights, 17.5 KiB.

struct Params {
    heads: u32,
    kv_heads: u32,
    head_dim: u32,   // even, <= 256
    value_dim: u32,  // even, <= 256
    q_offset: u32,   // index of token 0, head 0 in `q`
    q_stride: u32,   // elements between tokens in `q`
    out_offset: u32,
    out_stride: u32,
    k_offset: u32,   // u32 word of position 0 of this layer's keys
    v_offset: u32,   // u32 word of position 0 of this layer's values
    window: u32,     // 0: attend every earlier position
    scale: f32,      // multiplies q.k
    max_tokens: u32, // tokens the dispatch was sized for
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<storage, read> q: array<f32>;
@group(0) @binding(1) var<storage, read> k_cache: array<u32>;
@group(0) @binding(2) var<storage, read> v_cache: array<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<uniform> step: Step;
@group(0) @binding(5) var<uniform> params: Params;

const WG: u32 = 256u;
const BQ: u32 = 16u;
const BK: u32 = 16u;
// Words per padded row: head_dim / 2 <= 128, plus one.
const ROW_WORDS: u32 = 129u;
// Value words per thread: value_dim / 2 <= 128 over 16 lanes.
const V_PER_THREAD: u32 = 8u;
// Below every real score; a masked score holds exactly this.
const MASK: f32 = -3.402823e38;

var<workgroup> q_tile: array<u32, 2064>;  // BQ * ROW_WORDS
var<workgroup> kv_tile: array<u32, 2064>; // BK * ROW_WORDS
var<workgroup> p_tile: array<f32, 256>;   // BQ * BK

// The first position attended from position `pos`.
fn first_position(pos: u32) -> u32 {
    if (params.window > 0u && pos + 1u > params.window) {
        return pos + 1u - params.window;
    }
    return 0u;
}

@compute @workgroup_size(256)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let n = min(step.n_tokens, params.max_tokens);
    let t0 = wid.x * BQ;
    let h = wid.y;
    // Uniform across the workgroup, so returning keeps barriers uniform.
    if (t0 >= n) {
        return;
    }
    let kv = h / (params.heads / params.kv_heads);
    let hw = params.head_dim / 2u;
    let vw = params.value_dim / 2u;

    // The block's queries, rounded to f16.
    for (var i = lid; i < BQ * hw; i += WG) {
        let r = i / hw;
        let w = i % hw;
        var v = vec2<f32>();
        if (t0 + r < n) {
            let at = params.q_offset + (t0 + r) * params.q_stride + h * params.head_dim + 2u * w;
            v = vec2<f32>(q[at], q[at + 1u]);
        }
        q_tile[r * ROW_WORDS + w] = pack2x16float(v);
    }

    let qi = lid / BQ;
    let c = lid % BK;
    let t = t0 + qi;
    let live = t < n;
    let pos = step.pos0 + t;
    let first = first_position(pos);
    // Positions any token of the block attends: lo..=hi.
    let hi = step.pos0 + min(t0 + BQ, n) - 1u;
    let lo = first_position(step.pos0 + t0);

    var m = MASK;
    var l = 0.0;
    var o = array<vec2<f32>, V_PER_THREAD>();
    let k_row = params.kv_heads * hw;
    let v_row = params.kv_heads * vw;
    for (var j0 = lo; j0 <= hi; j0 += BK) {
        for (var i = lid; i < BK * hw; i += WG) {
            let r = i / hw;
            let w = i % hw;
            var word = 0u;
            if (j0 + r <= hi) {
                word = k_cache[params.k_offset + (j0 + r) * k_row + kv * hw + w];
            }
            kv_tile[r * ROW_WORDS + w] = word;
        }
        workgroupBarrier();

        let j = j0 + c;
        var s = MASK;
        if (live && j <= pos && j >= first) {
            var d = 0.0;
            for (var w = 0u; w < hw; w++) {
                let qq = unpack2x16float(q_tile[qi * ROW_WORDS + w]);
                let kk = unpack2x16float(kv_tile[c * ROW_WORDS + w]);
                d = fma(qq.x, kk.x, d);
                d = fma(qq.y, kk.y, d);
            }
            s = d * params.scale;
        }
        p_tile[lid] = s;
        workgroupBarrier();

        // Every thread of query qi folds the same 16 scores: the same max.
        var m_new = m;
        for (var k = 0u; k < BK; k++) {
            m_new = max(m_new, p_tile[qi * BK + k]);
        }
        // The keys are no longer read: the values take their place.
        for (var i = lid; i < BK * vw; i += WG) {
            let r = i / vw;
            let w = i % vw;
            var word = 0u;
            if (j0 + r <= hi) {
                word = v_cache[params.v_offset + (j0 + r) * v_row + kv * vw + w];
            }
            kv_tile[r * ROW_WORDS + w] = word;
        }
        workgroupBarrier();
        p_tile[lid] = select(0.0, exp(s - m_new), s > MASK);
        let alpha = exp(m - m_new);
        m = m_new;
        workgroupBarrier();

        var sum = 0.0;
        for (var i = 0u; i < V_PER_THREAD; i++) {
            o[i] *= alpha;
        }
        for (var k = 0u; k < BK; k++) {
            let p = p_tile[qi * BK + k];
            sum += p;
            for (var i = 0u; i < V_PER_THREAD; i++) {
                let w = c + BK * i;
                if (w < vw) {
                    o[i] = fma(vec2<f32>(p), unpack2x16float(kv_tile[k * ROW_WORDS + w]), o[i]);
                }
            }
        }
        l = l * alpha + sum;
        workgroupBarrier();
    }

    if (live) {
        let base = params.out_offset + t * params.out_stride + h * params.value_dim;
        for (var i = 0u; i < V_PER_THREAD; i++) {
            let w = c + BK * i;
            if (w < vw) {
                out[base + 2u * w] = o[i].x / l;
                out[base + 2u * w + 1u] = o[i].y / l;
            }
        }
    }
}
