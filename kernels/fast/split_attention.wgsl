//! choose: PARTIAL REDUCE
//! include: step
// `fast` attention of one token (decode) over the f16 KV cache, split over
// chunks of positions (flash-decoding), in two passes:
// - PARTIAL, one workgroup per (chunk, head): the chunk's scores, their max
//   m, the sum l of exp(score - m) and the weighted sum of values o, all f32
//   (q rounded to f16, as the cache's keys);
// - REDUCE, one workgroup per head: rescales the chunks to their common max
//   and writes o / l.
// The chunk length is chosen here, at run time, from the positions the
// token attends (from the step uniform): as many chunks as fill the
// dispatch (`max_chunks`) but no shorter than `min_chunk` positions. With
// one chunk, PARTIAL writes the output itself and REDUCE does nothing, so a
// short context costs one pass.
//
// The token is token 0 of the step, at position step.pos0 (its own key and
// value already stored); it attends first..=pos0 (first = pos0 + 1 - window
// for sliding-window layers, else 0). Cache layout as kernels/attention.wgsl.

struct Params {
    heads: u32,
    kv_heads: u32,
    head_dim: u32,   // even, <= 256
    value_dim: u32,  // even, <= 256
    q_offset: u32,   // index of head 0 in `q`
    out_offset: u32, // index of head 0 in `out`
    k_offset: u32,   // u32 word of position 0 of this layer's keys
    v_offset: u32,   // u32 word of position 0 of this layer's values
    window: u32,     // 0: attend every earlier position
    scale: f32,      // multiplies q.k
    max_chunks: u32, // chunks per head in the dispatch and in `partials`
    min_chunk: u32,  // fewest positions per chunk (> 0)
}

#if PARTIAL
@group(0) @binding(0) var<storage, read> q: array<f32>;
@group(0) @binding(1) var<storage, read> k_cache: array<u32>;
@group(0) @binding(2) var<storage, read> v_cache: array<u32>;
#endif
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<uniform> step: Step;
@group(0) @binding(5) var<uniform> params: Params;
// Per (head, chunk), value_dim + 2 floats: m, l, then o.
@group(0) @binding(6) var<storage, read_write> partials: array<f32>;

const WG: u32 = 128u;
// Below every real score; a masked score holds exactly this.
const MASK: f32 = -3.402823e38;

struct Split {
    first: u32,  // first position attended
    len: u32,    // positions per chunk
    chunks: u32, // chunks holding positions
}

fn split() -> Split {
    let pos = step.pos0;
    var first = 0u;
    if (params.window > 0u && pos + 1u > params.window) {
        first = pos + 1u - params.window;
    }
    let count = pos + 1u - first;
    let len = max(params.min_chunk, (count + params.max_chunks - 1u) / params.max_chunks);
    return Split(first, len, (count + len - 1u) / len);
}

fn partial_at(h: u32, chunk: u32) -> u32 {
    return (h * params.max_chunks + chunk) * (params.value_dim + 2u);
}

#if PARTIAL
var<workgroup> q_s: array<vec2<f32>, 128>; // head_dim / 2 pairs
var<workgroup> s_tile: array<f32, WG>;
var<workgroup> red: array<f32, WG>;
var<workgroup> o_part: array<vec2<f32>, WG>;

// The largest (MAX) or the sum of red[0..WG), by a tree: every thread
// returns it. Uniform control flow.
fn reduce_max(lid: u32, value: f32) -> f32 {
    red[lid] = value;
    workgroupBarrier();
    for (var width = WG / 2u; width > 0u; width >>= 1u) {
        if (lid < width) {
            red[lid] = max(red[lid], red[lid + width]);
        }
        workgroupBarrier();
    }
    let result = red[0];
    workgroupBarrier();
    return result;
}

fn reduce_sum(lid: u32, value: f32) -> f32 {
    red[lid] = value;
    workgroupBarrier();
    for (var width = WG / 2u; width > 0u; width >>= 1u) {
        if (lid < width) {
            red[lid] += red[lid + width];
        }
        workgroupBarrier();
    }
    let result = red[0];
    workgroupBarrier();
    return result;
}

@compute @workgroup_size(128)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let sp = split();
    let chunk = wid.x;
    let h = wid.y;
    // Uniform across the workgroup.
    if (chunk >= sp.chunks) {
        return;
    }
    let kv = h / (params.heads / params.kv_heads);
    let hw = params.head_dim / 2u;
    let vw = params.value_dim / 2u;
    if (lid < hw) {
        let at = params.q_offset + h * params.head_dim + 2u * lid;
        q_s[lid] = unpack2x16float(pack2x16float(vec2<f32>(q[at], q[at + 1u])));
    }
    workgroupBarrier();

    let start = sp.first + chunk * sp.len;
    let end = min(start + sp.len, step.pos0 + 1u);
    let k_row = params.kv_heads * hw;
    let v_row = params.kv_heads * vw;
    // For the values, the threads form `groups` groups of `vw` (a value
    // word each); group g takes positions g, g + groups, ... of a round.
    let groups = max(WG / vw, 1u);
    let group = lid / vw;
    let word = lid % vw;
    var m = MASK;
    var l = 0.0;
    var o = vec2<f32>();
    for (var j0 = start; j0 < end; j0 += WG) {
        // A thread per position: its score. Four independent partial sums
        // keep several key loads in flight.
        let j = j0 + lid;
        var s = MASK;
        if (j < end) {
            let k_base = params.k_offset + j * k_row + kv * hw;
            var d = vec4<f32>();
            for (var w = 0u; w < hw; w += 2u) {
                let k0 = unpack2x16float(k_cache[k_base + w]);
                // An odd last word pairs with zeros.
                let odd = w + 1u < hw;
                let k1 = select(vec2<f32>(), unpack2x16float(k_cache[k_base + w + 1u]), odd);
                let q0 = q_s[w];
                let q1 = select(vec2<f32>(), q_s[w + 1u], odd);
                d = fma(vec4<f32>(q0, q1), vec4<f32>(k0, k1), d);
            }
            s = (d.x + d.y + d.z + d.w) * params.scale;
        }
        let m_new = max(m, reduce_max(lid, s));
        let p = select(0.0, exp(s - m_new), s > MASK);
        s_tile[lid] = p;
        let alpha = exp(m - m_new);
        m = m_new;
        l = l * alpha + reduce_sum(lid, p);
        // reduce_sum's barriers made s_tile visible.
        o *= alpha;
        let count = min(end - j0, WG);
        if (group < groups) {
            for (var k = group; k < count; k += groups) {
                let v = unpack2x16float(v_cache[params.v_offset + (j0 + k) * v_row + kv * vw + word]);
                o = fma(vec2<f32>(s_tile[k]), v, o);
            }
        }
        workgroupBarrier();
    }
    // Sum the groups' partial values.
    o_part[lid] = select(vec2<f32>(), o, group < groups);
    workgroupBarrier();
    if (lid < vw) {
        var total = o_part[lid];
        for (var g = 1u; g < groups; g++) {
            total += o_part[g * vw + lid];
        }
        if (sp.chunks == 1u) {
            let at = params.out_offset + h * params.value_dim + 2u * lid;
            out[at] = total.x / l;
            out[at + 1u] = total.y / l;
        } else {
            let at = partial_at(h, chunk);
            partials[at + 2u + 2u * lid] = total.x;
            partials[at + 3u + 2u * lid] = total.y;
            if (lid == 0u) {
                partials[at] = m;
                partials[at + 1u] = l;
            }
        }
    }
}
#endif

#if REDUCE
@compute @workgroup_size(128)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let sp = split();
    let h = wid.x;
    let vw = params.value_dim / 2u;
    if (sp.chunks <= 1u || lid >= vw) {
        return;
    }
    var m = MASK;
    for (var c = 0u; c < sp.chunks; c++) {
        m = max(m, partials[partial_at(h, c)]);
    }
    var l = 0.0;
    var o = vec2<f32>();
    for (var c = 0u; c < sp.chunks; c++) {
        let at = partial_at(h, c);
        let e = exp(partials[at] - m);
        l += partials[at + 1u] * e;
        o += vec2<f32>(partials[at + 2u + 2u * lid], partials[at + 3u + 2u * lid]) * e;
    }
    let at = params.out_offset + h * params.value_dim + 2u * lid;
    out[at] = o.x / l;
    out[at + 1u] = o.y / l;
}
#endif
