//! choose: NORMAL NEOX
//! flags: QK_NORM
//! include: step
// The `fast` step between the QKV mat-vec and attention, in one pass: for
// each head of this step's tokens, Gemma 3's per-head RMSNorm of q and k
// (QK_NORM), the rotary embedding, the query's scale, then the query to
// `q_out` (f32) and the key and value to the layer's f16 KV cache.
//
// `qkv` holds each token's q, k and v (at q_src, k_src, v_src, tokens
// `src_stride` apart), as the QKV mat-vec wrote them. One 64-thread
// workgroup per (head, token): heads 0..heads are query heads, the next
// kv_heads key heads, which also store their value head. Angles come from
// the same host-built (cos, sin) table as kernels/rope.wgsl; NORMAL pairs
// dimensions (2i, 2i + 1), NEOX (i, i + pairs); dimensions past 2 · pairs
// are left as they are. The cache is position-major, f16 pairs packed in
// u32 words (low half first), as kernels/kv_store.wgsl writes it;
// pack2x16float rounds as the device rounds (not necessarily to even).

struct Params {
    heads: u32,
    kv_heads: u32,
    head_dim: u32,
    value_dim: u32,
    pairs: u32,       // rope_dims / 2
    positions: u32,   // rows of the table; later positions are left unrotated
    q_src: u32,
    k_src: u32,
    v_src: u32,
    src_stride: u32,  // elements between tokens in `qkv`
    q_stride: u32,    // elements between tokens in `q_out`
    capacity: u32,    // positions in the cache; later ones are dropped
    eps: f32,         // QK_NORM's epsilon
    q_scale: f32,     // multiplies the query (Gemma 3); 1 otherwise
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<storage, read> qkv: array<f32>;
@group(0) @binding(1) var<storage, read_write> q_out: array<f32>;
@group(0) @binding(2) var<storage, read_write> k_cache: array<u32>;
@group(0) @binding(3) var<storage, read_write> v_cache: array<u32>;
@group(0) @binding(4) var<storage, read> table: array<vec2<f32>>;
@group(0) @binding(5) var<uniform> step: Step;
@group(0) @binding(6) var<uniform> params: Params;
#if QK_NORM
@group(0) @binding(7) var<storage, read> q_norm: array<f32>;
@group(0) @binding(8) var<storage, read> k_norm: array<f32>;
#endif

const WG: u32 = 64u;
const MAX_HEAD_DIM: u32 = 256u;

// The head, normalised (QK_NORM), before rotation.
var<workgroup> vals: array<f32, MAX_HEAD_DIM>;
var<workgroup> squares: array<f32, WG>;

// Value i of the head in `vals` after the rotation for position `pos`.
fn rotated(i: u32, pos: u32) -> f32 {
    let p = params.pairs;
    if (i >= 2u * p || pos >= params.positions) {
        return vals[i];
    }
#if NORMAL
    let pair = i / 2u;
    let x0 = vals[2u * pair];
    let x1 = vals[2u * pair + 1u];
    let first = (i % 2u) == 0u;
#endif
#if NEOX
    let pair = i % p;
    let x0 = vals[pair];
    let x1 = vals[pair + p];
    let first = i < p;
#endif
    let cs = table[pos * p + pair];
    return select(x0 * cs.y + x1 * cs.x, x0 * cs.x - x1 * cs.y, first);
}

@compute @workgroup_size(64)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let h = wid.x;
    let t = wid.y;
    // Uniform across the workgroup, so returning keeps barriers uniform.
    if (t >= step.n_tokens || h >= params.heads + params.kv_heads) {
        return;
    }
    let pos = step.pos0 + t;
    let hd = params.head_dim;
    let is_q = h < params.heads;
    let kh = h - params.heads;
    let token = t * params.src_stride;
    let src = token + select(params.k_src + kh * hd, params.q_src + h * hd, is_q);

    var scale = 1.0;
#if QK_NORM
    var ss = 0.0;
    for (var i = lid; i < hd; i += WG) {
        let v = qkv[src + i];
        ss += v * v;
    }
    squares[lid] = ss;
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
        if (lid < stride) {
            squares[lid] += squares[lid + stride];
        }
        workgroupBarrier();
    }
    scale = inverseSqrt(squares[0] / f32(hd) + params.eps);
#endif
    for (var i = lid; i < hd; i += WG) {
        var v = qkv[src + i];
#if QK_NORM
        v *= scale * select(k_norm[i], q_norm[i], is_q);
#endif
        vals[i] = v;
    }
    workgroupBarrier();

    if (is_q) {
        let dst = t * params.q_stride + h * hd;
        for (var i = lid; i < hd; i += WG) {
            q_out[dst + i] = rotated(i, pos) * params.q_scale;
        }
        return;
    }
    if (pos >= params.capacity) {
        return;
    }
    let k_words = params.kv_heads * hd / 2u;
    let k_dst = pos * k_words + kh * hd / 2u;
    for (var w = lid; w < hd / 2u; w += WG) {
        k_cache[k_dst + w] = pack2x16float(vec2<f32>(rotated(2u * w, pos), rotated(2u * w + 1u, pos)));
    }
    let vd = params.value_dim;
    let v_src = token + params.v_src + kh * vd;
    let v_dst = pos * (params.kv_heads * vd / 2u) + kh * vd / 2u;
    for (var w = lid; w < vd / 2u; w += WG) {
        v_cache[v_dst + w] = pack2x16float(vec2<f32>(qkv[v_src + 2u * w], qkv[v_src + 2u * w + 1u]));
    }
}
