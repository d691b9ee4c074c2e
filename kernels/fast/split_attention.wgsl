//! choose: PARTIAL REDUCE
//! flags: ROPE QK_NORM
//! include: step
// `fast` attention of one token (decode) over the f16 KV cache, split over
// chunks of positions (flash-decoding), in two passes:
// - PARTIAL, one workgroup per (chunk, head): the chunk's scores, their max
//   m, the sum l of exp(score - m) and the weighted sum of values o, all f32
//   (q rounded to f16, as the cache's keys), to `partials`;
// - REDUCE, one workgroup per head: rescales the chunks to their common max
//   and writes o / l. The `fast` decode plan skips it: its output
//   projection combines the chunks as it reads them (COMBINE in
//   kernels/fast/matvec.wgsl), which saves a pass per layer.
// The chunk length is chosen here, at run time, from the positions the
// token attends (from the step uniform): as many chunks as fill the
// dispatch (`max_chunks`) but no shorter than `min_chunk` positions. With
// one chunk, PARTIAL also writes the output itself and REDUCE does nothing.
// `partials` starts with a header whose word 0 is the number of chunks
// used (as f32), for the readers that do not compute the split.
//
// The token is token 0 of the step, at position step.pos0; it attends
// first..=pos0 (first = pos0 + 1 - window for sliding-window layers, else
// 0). Cache layout as kernels/attention.wgsl.
//
// Without ROPE, q holds the rotated queries and the cache already holds
// the token's own key and value. With ROPE, the step between the QKV
// mat-vec and attention happens here too (one pass less per layer): `q`
// is the QKV mat-vec's raw output (q | k | v of the token); every
// workgroup normalises (QK_NORM, Gemma 3), rotates and scales its query
// head itself; the workgroups of the last chunk do the same for their key
// head and take the token's key and value from registers rather than from
// the cache, and the first query head of each KV group stores them into
// the cache for the later steps. No workgroup of this pass reads position
// pos0 from the cache, so the store races with nothing.

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

// ROPE: where the token's key and value sit in `q`, and the rotation.
struct Rope {
    k_src: u32,     // index of key head 0 in `q`
    v_src: u32,     // index of value head 0 in `q`
    pairs: u32,     // rotated dims / 2
    positions: u32, // rows of the table; later positions are left unrotated
    neox: u32,      // 1: pairs (i, i + pairs); 0: pairs (2i, 2i + 1)
    capacity: u32,  // positions in the cache; a later position is not stored
    eps: f32,       // QK_NORM's epsilon
    q_scale: f32,   // multiplies the rotated query (Gemma 3); 1 otherwise
}

#if PARTIAL
@group(0) @binding(0) var<storage, read> q: array<f32>;
#if ROPE
@group(0) @binding(1) var<storage, read_write> k_cache: array<u32>;
@group(0) @binding(2) var<storage, read_write> v_cache: array<u32>;
@group(0) @binding(7) var<storage, read> table: array<vec2<f32>>;
@group(0) @binding(8) var<uniform> rope: Rope;
#if QK_NORM
@group(0) @binding(9) var<storage, read> q_norm: array<f32>;
@group(0) @binding(10) var<storage, read> k_norm: array<f32>;
#endif
#else
@group(0) @binding(1) var<storage, read> k_cache: array<u32>;
@group(0) @binding(2) var<storage, read> v_cache: array<u32>;
#endif
#endif
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<uniform> step: Step;
@group(0) @binding(5) var<uniform> params: Params;
// A header of HEADER floats (word 0: the chunks used), then per (head,
// chunk) value_dim + 2 floats: m, l, then o.
@group(0) @binding(6) var<storage, read_write> partials: array<f32>;

const WG: u32 = 128u;
const HEADER: u32 = 4u;
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
    return HEADER + (h * params.max_chunks + chunk) * (params.value_dim + 2u);
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

#if ROPE
// The token's query and key head, raw (normalised with QK_NORM), for the
// rotation's pairs that cross thread boundaries (NEOX).
var<workgroup> q_raw: array<f32, 256>;
var<workgroup> k_raw: array<f32, 256>;
// The token's own key and value (last chunk), rounded as the cache rounds.
var<workgroup> k_cur: array<vec2<f32>, 128>;
var<workgroup> v_cur: array<vec2<f32>, 128>;

// (cos, sin) of value i's angle at position `pos`; (1, 0) where value i
// is not rotated. The rotation of kernels/rope.wgsl: NORMAL pairs (2i,
// 2i + 1), NEOX (i, i + pairs).
fn angle(i: u32, pos: u32) -> vec2<f32> {
    let p = rope.pairs;
    if (i >= 2u * p || pos >= rope.positions) {
        return vec2<f32>(1.0, 0.0);
    }
    return table[pos * p + select(i / 2u, i % p, rope.neox != 0u)];
}

// The other value of value i's pair, and whether i is the pair's first.
fn partner(i: u32) -> u32 {
    let p = rope.pairs;
    if (i >= 2u * p) {
        return i;
    }
    if (rope.neox != 0u) {
        return select(i - p, i + p, i < p);
    }
    return i ^ 1u;
}

fn is_first(i: u32) -> bool {
    return select((i % 2u) == 0u, i < rope.pairs, rope.neox != 0u);
}

// Value v rotated with its pair's other value by angle cs.
fn rotate(v: f32, other: f32, cs: vec2<f32>, first: bool) -> f32 {
    return select(other * cs.y + v * cs.x, v * cs.x - other * cs.y, first);
}

#if QK_NORM
var<workgroup> red2: array<vec2<f32>, WG>;

// The sums of two values over the workgroup. Uniform control flow.
fn reduce_sum2(lid: u32, value: vec2<f32>) -> vec2<f32> {
    red2[lid] = value;
    workgroupBarrier();
    for (var width = WG / 2u; width > 0u; width >>= 1u) {
        if (lid < width) {
            red2[lid] += red2[lid + width];
        }
        workgroupBarrier();
    }
    return red2[0];
}
#endif

// The step between the QKV mat-vec and attention, for this workgroup's
// query head h (into q_s) and, in the last chunk, the token's key and
// value (into k_cur and v_cur; the first query head of each KV group also
// stores them to the cache). Every load is issued up front, so the whole
// prologue costs one trip to memory. Uniform control flow.
fn prologue(lid: u32, h: u32, kv: u32, last: bool) {
    let pos = step.pos0;
    let hd = params.head_dim;
    let hw = hd / 2u;
    let vw = params.value_dim / 2u;
    var qv = vec2<f32>();
    var kv2 = vec2<f32>();
    var vv = vec2<f32>();
    var cs0 = vec2<f32>(1.0, 0.0);
    var cs1 = vec2<f32>(1.0, 0.0);
    let i = 2u * lid;
    if (lid < hw) {
        let qa = params.q_offset + h * hd + i;
        let ka = rope.k_src + kv * hd + i;
        qv = vec2<f32>(q[qa], q[qa + 1u]);
        kv2 = vec2<f32>(q[ka], q[ka + 1u]);
        cs0 = angle(i, pos);
        cs1 = angle(i + 1u, pos);
    }
    if (lid < vw) {
        let va = rope.v_src + kv * params.value_dim + i;
        vv = vec2<f32>(q[va], q[va + 1u]);
    }
#if QK_NORM
    var qw = vec2<f32>();
    var kw = vec2<f32>();
    if (lid < hw) {
        qw = vec2<f32>(q_norm[i], q_norm[i + 1u]);
        kw = vec2<f32>(k_norm[i], k_norm[i + 1u]);
    }
    let squares = reduce_sum2(lid, vec2<f32>(dot(qv, qv), dot(kv2, kv2)));
    let scale = inverseSqrt(squares / f32(hd) + rope.eps);
    qv *= scale.x * qw;
    kv2 *= scale.y * kw;
#endif
    if (lid < hw) {
        q_raw[i] = qv.x;
        q_raw[i + 1u] = qv.y;
        k_raw[i] = kv2.x;
        k_raw[i + 1u] = kv2.y;
    }
    workgroupBarrier();
    if (lid < hw) {
        let p0 = partner(i);
        let p1 = partner(i + 1u);
        let f0 = is_first(i);
        let f1 = is_first(i + 1u);
        let qr = vec2<f32>(rotate(qv.x, q_raw[p0], cs0, f0), rotate(qv.y, q_raw[p1], cs1, f1));
        q_s[lid] = unpack2x16float(pack2x16float(qr * rope.q_scale));
        let kr = vec2<f32>(rotate(kv2.x, k_raw[p0], cs0, f0), rotate(kv2.y, k_raw[p1], cs1, f1));
        k_cur[lid] = unpack2x16float(pack2x16float(kr));
    }
    if (lid < vw) {
        v_cur[lid] = unpack2x16float(pack2x16float(vv));
    }
    workgroupBarrier();
    let group_size = params.heads / params.kv_heads;
    if (last && h % group_size == 0u && pos < rope.capacity) {
        if (lid < hw) {
            k_cache[params.k_offset + pos * params.kv_heads * hw + kv * hw + lid] = pack2x16float(k_cur[lid]);
        }
        if (lid < vw) {
            v_cache[params.v_offset + pos * params.kv_heads * vw + kv * vw + lid] = pack2x16float(v_cur[lid]);
        }
    }
}
#endif

// Word w of the key at position j (its row starting at word `base`); with
// ROPE, the token's own key from k_cur (the cache's copy is being written).
fn key_pair(j: u32, base: u32, w: u32) -> vec2<f32> {
    let cached = unpack2x16float(k_cache[base + w]);
#if ROPE
    return select(cached, k_cur[w], j == step.pos0);
#else
    return cached;
#endif
}

// Word w of the value at position j (its row starting at word `base`).
fn value_pair(j: u32, base: u32, w: u32) -> vec2<f32> {
    let cached = unpack2x16float(v_cache[base + w]);
#if ROPE
    return select(cached, v_cur[w], j == step.pos0);
#else
    return cached;
#endif
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
    let k_row = params.kv_heads * hw;
    let v_row = params.kv_heads * vw;
#if ROPE
    prologue(lid, h, kv, chunk + 1u == sp.chunks);
#else
    if (lid < hw) {
        let at = params.q_offset + h * params.head_dim + 2u * lid;
        q_s[lid] = unpack2x16float(pack2x16float(vec2<f32>(q[at], q[at + 1u])));
    }
    workgroupBarrier();
#endif

    let start = sp.first + chunk * sp.len;
    let end = min(start + sp.len, step.pos0 + 1u);
    // For the values, the threads form `groups` groups of `vw` (a value
    // word each); group g takes positions g, g + groups, ... of a round.
    let groups = max(WG / vw, 1u);
    let group = lid / vw;
    let word = lid % vw;
    var m = MASK;
    var l = 0.0;
    var o = vec2<f32>();
    for (var j0 = start; j0 < end; j0 += WG) {
        // A thread per position: its score. Eight words of the key are
        // loaded together (the loop over the head is not unrolled: one
        // load at a time paid a trip to memory per word, which made long
        // contexts slow), then the rest a word at a time.
        let j = j0 + lid;
        var s = MASK;
        if (j < end) {
            let k_base = params.k_offset + j * k_row + kv * hw;
            var d = vec4<f32>();
            var w = 0u;
            for (; w + 8u <= hw; w += 8u) {
                var kw: array<vec2<f32>, 8>;
                for (var i = 0u; i < 8u; i++) {
                    kw[i] = key_pair(j, k_base, w + i);
                }
                for (var i = 0u; i < 8u; i += 2u) {
                    d = fma(vec4<f32>(q_s[w + i], q_s[w + i + 1u]), vec4<f32>(kw[i], kw[i + 1u]), d);
                }
            }
            for (; w < hw; w++) {
                d = vec4<f32>(fma(q_s[w], key_pair(j, k_base, w), d.xy), d.zw);
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
            // Four positions a step, their loads together, then the rest.
            var k = group;
            for (; k + 3u * groups < count; k += 4u * groups) {
                var vs: array<vec2<f32>, 4>;
                for (var i = 0u; i < 4u; i++) {
                    let at = j0 + k + i * groups;
                    vs[i] = value_pair(at, params.v_offset + at * v_row + kv * vw, word);
                }
                for (var i = 0u; i < 4u; i++) {
                    o = fma(vec2<f32>(s_tile[k + i * groups]), vs[i], o);
                }
            }
            for (; k < count; k += groups) {
                let v = value_pair(j0 + k, params.v_offset + (j0 + k) * v_row + kv * vw, word);
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
        }
        let at = partial_at(h, chunk);
        partials[at + 2u + 2u * lid] = total.x;
        partials[at + 3u + 2u * lid] = total.y;
        if (lid == 0u) {
            partials[at] = m;
            partials[at + 1u] = l;
            if (chunk == 0u && h == 0u) {
                partials[0] = f32(sp.chunks);
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
