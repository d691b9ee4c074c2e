//! choose: F32 F16 BF16 Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 Q4_K Q5_K Q6_K
//! choose: STORE ADD SILU_MUL GELU_MUL
//! flags: SUBGROUPS NORM BIAS COMBINE WIDE
//! include: ggml_bytes ggml_numerics gelu_table
// The `fast` one-token mat-vec, with the passes around a linear layer fused
// in: y = epilogue(W · norm(x)).
//
// W is a tensor stored as in the GGUF file (raw blocks in an array<u32>,
// decoded here in registers and dotted with f32 activations; no rounding of
// the activations). Several matrices of one type and width may sit back to
// back in `weights` (Q, K and V; gate and up): they are one matrix of more
// rows to this kernel.
//
//   NORM      x is RMS-normalised on the fly: every workgroup sums the
//             squares of x itself (cols ≤ a few thousand: cheaper than a
//             pass of its own), multiplies x by the norm weights, and scales
//             the dot product by 1 / sqrt(mean(x²) + eps).
//   BIAS      adds bias[bias_offset + row] (Qwen2's QKV biases).
//   COMBINE   x is split attention's `partials` (kernels/fast/
//             split_attention.wgsl: a header whose word 0 counts the
//             chunks, then per (head, chunk) m, l and combine_width
//             weighted values): value i of head h is the chunks' values
//             rescaled to their common max, over their rescaled sums. The
//             output projection reads attention this way, so attention
//             needs no pass of its own to combine its chunks.
//   STORE     y[row] = dot
//   ADD       y[row] += dot (the residual add, in place on the hidden state)
//   SILU_MUL  y[row] = silu(dot_gate) * dot_up, GELU_MUL the same with
//             gelu_tanh: the gate row and the up row `up_rows` rows later
//             are computed by the same threads.
//
// Work split: ROWS row groups per workgroup, TPR threads per group, and
// RPG rows per group (1; 4 with WIDE, for tall matrices such as the output
// head: the staged x then serves 4 times as many rows and each thread has
// 4 rows' loads in flight). A row is cut
// into units of 32 values (a legacy block, or a 32-value sub-block of a
// K-quant super-block; 8 values for the float types). The workgroup walks
// the row in chunks of TPR units: it first stages the chunk of x (times
// the norm weights) in workgroup memory with coalesced loads, then thread
// t of each row dots unit t of the chunk. Reading x straight from global
// memory instead (each thread its own unit, 128 bytes from its neighbour's)
// made every load touch 32 cache lines, and the gated epilogues read x
// twice. A row's partial sums are added with subgroupAdd where the adapter
// has subgroups, with a shared-memory tree otherwise. (No `enable
// subgroups;` here: naga rejects it, so the runtime adds it for browsers,
// see GpuContext.)

struct Params {
    rows: u32,        // output rows in this dispatch
    cols: u32,        // values per row
    row_bytes: u32,   // bytes per row
    w_offset: u32,    // byte offset of row 0 in `weights` (even)
    x_offset: u32,    // index of x[0] in `x`
    y_offset: u32,    // index of y[0] in `y`
    up_rows: u32,     // SILU_MUL/GELU_MUL: rows from a gate row to its up row
    bias_offset: u32, // index of bias[0] in `bias`
    eps: f32,         // NORM's epsilon
    combine_heads: u32,  // COMBINE: heads (cols = heads * combine_width)
    combine_width: u32,  // COMBINE: values per head
    combine_chunks: u32, // COMBINE: chunks per head in `partials`
}

@group(0) @binding(0) var<storage, read> weights: array<u32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;
#if NORM
@group(0) @binding(4) var<storage, read> norm_w: array<f32>;
#endif
#if BIAS
@group(0) @binding(5) var<storage, read> bias: array<f32>;
#endif

const ROWS: u32 = 4u;  // row groups per workgroup
const TPR: u32 = 32u;  // threads per row group, and units per chunk of x
const WG: u32 = 128u;  // ROWS * TPR, the workgroup size
#if WIDE
const RPG: u32 = 4u;   // rows per row group: rows r, r + ROWS, ...
#else
const RPG: u32 = 1u;
#endif
// vec4s a unit of x takes in workgroup memory: its values and one vec4 of
// padding, so that the 8 threads of a 128-bit access phase reading the
// same vec4 of 8 neighbouring units hit different banks.
const UNIT_VECS: u32 = UNIT / 4u + 1u;

// The staged chunk of x (times the norm weights when NORM).
var<workgroup> xs: array<vec4<f32>, TPR * UNIT_VECS>;

// vec4 k of unit `lu` of the staged chunk.
fn x4(lu: u32, k: u32) -> vec4<f32> {
    return xs[lu * UNIT_VECS + k];
}

// Value j of unit `lu` of the staged chunk.
fn x1(lu: u32, j: u32) -> f32 {
    return xs[lu * UNIT_VECS + j / 4u][j % 4u];
}

fn sum4(v: vec4<f32>) -> f32 {
    return v.x + v.y + v.z + v.w;
}

// Byte i of the 12 packed scale bytes of a Q4_K/Q5_K super-block.
fn k_scale_byte(s: array<u32, 3>, i: u32) -> u32 {
    return (s[i / 4u] >> (8u * (i % 4u))) & 0xffu;
}

// ggml's get_scale_min_k4 from the scale bytes as words: the 6-bit
// (scale, min) of sub-block j (0..8).
fn k_scale_min(s: array<u32, 3>, j: u32) -> vec2<f32> {
    if (j < 4u) {
        return vec2<f32>(f32(k_scale_byte(s, j) & 63u), f32(k_scale_byte(s, j + 4u) & 63u));
    }
    let packed = k_scale_byte(s, j + 4u);
    let scale = (packed & 15u) | ((k_scale_byte(s, j - 4u) >> 6u) << 4u);
    let m = (packed >> 4u) | ((k_scale_byte(s, j) >> 6u) << 4u);
    return vec2<f32>(f32(scale), f32(m));
}

// Blocks of Q4_0 (18 bytes), Q5_0 (22) and Q8_0 (34) start at even
// bytes, so half of them have their u32 fields at 2 mod 4, where a
// `load_u32` costs two loads and a funnel shift. Their units read the
// aligned words that hold the block instead (`w`, from the word holding
// its first byte; `odd`: the block starts at 2 mod 4) and take each field
// with `after_half`: the 4 bytes that start 2 bytes into word `lo` (an
// unaligned block's fields are whole words, one word later).
fn after_half(lo: u32, hi: u32, odd: bool) -> u32 {
    return select((lo >> 16u) | (hi << 16u), hi, odd);
}

// ---- One unit per type: the dot of 32 (8 for floats) values of the row
// starting at byte `row` with unit `lu` of the staged x; `u` is the unit's
// index in the row.
// The block layouts are those of kernels/matvec.wgsl; the loads of a unit
// come before the arithmetic that uses them.

#if F32
const UNIT: u32 = 8u;
fn unit_dot(row: u32, u: u32, lu: u32) -> f32 {
    let first = u * UNIT;
    var s = 0.0;
    for (var j = 0u; j < min(UNIT, params.cols - first); j++) {
        s += bitcast<f32>(load_u32(row + 4u * (first + j))) * x1(lu, j);
    }
    return s;
}
#endif

#if F16
const UNIT: u32 = 8u;
fn unit_dot(row: u32, u: u32, lu: u32) -> f32 {
    let first = u * UNIT;
    var s = 0.0;
    for (var j = 0u; j < min(UNIT, params.cols - first); j++) {
        s += load_f16(row + 2u * (first + j)) * x1(lu, j);
    }
    return s;
}
#endif

#if BF16
const UNIT: u32 = 8u;
fn unit_dot(row: u32, u: u32, lu: u32) -> f32 {
    let first = u * UNIT;
    var s = 0.0;
    for (var j = 0u; j < min(UNIT, params.cols - first); j++) {
        s += bitcast<f32>(load_u16(row + 2u * (first + j)) << 16u) * x1(lu, j);
    }
    return s;
}
#endif

#if Q4_0
const UNIT: u32 = 32u;
// 18 bytes: d: f16, qs: [u8; 16]. w = (q - 8) * d. Read as aligned words,
// see `after_half`.
fn unit_dot(row: u32, u: u32, lu: u32) -> f32 {
    let b = row + u * 18u;
    let odd = (b & 2u) != 0u;
    var w: array<u32, 5>;
    for (var k = 0u; k < 5u; k++) {
        w[k] = weights[(b >> 2u) + k];
    }
    let d = unpack2x16float(select(w[0], w[0] >> 16u, odd)).x;
    var s = 0.0;
    for (var k = 0u; k < 4u; k++) {
        let q = vec4<u32>(bytes4(after_half(w[k], w[k + 1u], odd)));
        s += dot(vec4<f32>(q & vec4<u32>(15u)) - 8.0, x4(lu, k));
        s += dot(vec4<f32>(q >> vec4<u32>(4u)) - 8.0, x4(lu, 4u + k));
    }
    return d * s;
}
#endif

#if Q4_1
const UNIT: u32 = 32u;
// 20 bytes: d: f16, m: f16, qs: [u8; 16]. w = q * d + m.
fn unit_dot(row: u32, u: u32, lu: u32) -> f32 {
    let b = row + u * 20u;
    let dm = unpack2x16float(load_u32(b));
    let w = array<u32, 4>(load_u32(b + 4u), load_u32(b + 8u), load_u32(b + 12u), load_u32(b + 16u));
    var sq = 0.0;
    var sx = 0.0;
    for (var k = 0u; k < 4u; k++) {
        let q = vec4<u32>(bytes4(w[k]));
        let lo = x4(lu, k);
        let hi = x4(lu, 4u + k);
        sq += dot(vec4<f32>(q & vec4<u32>(15u)), lo) + dot(vec4<f32>(q >> vec4<u32>(4u)), hi);
        sx += sum4(lo + hi);
    }
    return dm.x * sq + dm.y * sx;
}
#endif

#if Q5_0
const UNIT: u32 = 32u;
// 22 bytes: d: f16, qh: u32, qs: [u8; 16]. w = (q - 16) * d. Read as
// aligned words, see `after_half`.
fn unit_dot(row: u32, u: u32, lu: u32) -> f32 {
    let b = row + u * 22u;
    let odd = (b & 2u) != 0u;
    var w: array<u32, 6>;
    for (var k = 0u; k < 6u; k++) {
        w[k] = weights[(b >> 2u) + k];
    }
    let d = unpack2x16float(select(w[0], w[0] >> 16u, odd)).x;
    let qh = vec4<u32>(after_half(w[0], w[1], odd));
    var s = 0.0;
    for (var k = 0u; k < 4u; k++) {
        let q = vec4<u32>(bytes4(after_half(w[k + 1u], w[k + 2u], odd)));
        let j = 4u * k + vec4<u32>(0u, 1u, 2u, 3u);
        let h_lo = ((qh >> j) & vec4<u32>(1u)) << vec4<u32>(4u);
        let h_hi = ((qh >> (j + 16u)) & vec4<u32>(1u)) << vec4<u32>(4u);
        s += dot(vec4<f32>((q & vec4<u32>(15u)) | h_lo) - 16.0, x4(lu, k));
        s += dot(vec4<f32>((q >> vec4<u32>(4u)) | h_hi) - 16.0, x4(lu, 4u + k));
    }
    return d * s;
}
#endif

#if Q5_1
const UNIT: u32 = 32u;
// 24 bytes: d: f16, m: f16, qh: u32, qs: [u8; 16]. w = q * d + m.
fn unit_dot(row: u32, u: u32, lu: u32) -> f32 {
    let b = row + u * 24u;
    let dm = unpack2x16float(load_u32(b));
    let qh = vec4<u32>(load_u32(b + 4u));
    let w = array<u32, 4>(load_u32(b + 8u), load_u32(b + 12u), load_u32(b + 16u), load_u32(b + 20u));
    var sq = 0.0;
    var sx = 0.0;
    for (var k = 0u; k < 4u; k++) {
        let q = vec4<u32>(bytes4(w[k]));
        let j = 4u * k + vec4<u32>(0u, 1u, 2u, 3u);
        let h_lo = ((qh >> j) & vec4<u32>(1u)) << vec4<u32>(4u);
        let h_hi = ((qh >> (j + 16u)) & vec4<u32>(1u)) << vec4<u32>(4u);
        let lo = x4(lu, k);
        let hi = x4(lu, 4u + k);
        sq += dot(vec4<f32>((q & vec4<u32>(15u)) | h_lo), lo);
        sq += dot(vec4<f32>((q >> vec4<u32>(4u)) | h_hi), hi);
        sx += sum4(lo + hi);
    }
    return dm.x * sq + dm.y * sx;
}
#endif

#if Q8_0
const UNIT: u32 = 32u;
// 34 bytes: d: f16, qs: [i8; 32]. w = q * d. Read as aligned words, see
// `block_words`.
fn unit_dot(row: u32, u: u32, lu: u32) -> f32 {
    let b = row + u * 34u;
    let odd = (b & 2u) != 0u;
    var w: array<u32, 9>;
    for (var k = 0u; k < 9u; k++) {
        w[k] = weights[(b >> 2u) + k];
    }
    let d = unpack2x16float(select(w[0], w[0] >> 16u, odd)).x;
    var s = 0.0;
    for (var k = 0u; k < 8u; k++) {
        s += dot(vec4<f32>(sbytes4(after_half(w[k], w[k + 1u], odd))), x4(lu, k));
    }
    return d * s;
}
#endif

// K-quants: 256-value super-blocks; unit u is sub-block u % 8 of super-block
// u / 8. Q4_K/Q5_K nibbles come in chunks of 64 values: byte qs[32c + l]
// holds value 64c + l (low nibble) and 64c + 32 + l (high nibble).

#if Q4_K
const UNIT: u32 = 64u;
// 144 bytes: d: f16, dmin: f16, scales: [u8; 12], qs: [u8; 128].
// w = d * scale * q - dmin * min. A unit is sub-blocks 2p and 2p + 1
// (values 64p..64p + 64): the low and the high nibbles of the same 32
// bytes of qs, so each byte loaded is used whole.
fn unit_dot(row: u32, u: u32, lu: u32) -> f32 {
    let b = (row + (u / 4u) * 144u) >> 2u;
    let p = u % 4u;
    let dm = unpack2x16float(weights[b]);
    let scales = array<u32, 3>(weights[b + 1u], weights[b + 2u], weights[b + 3u]);
    var w: array<u32, 8>;
    for (var k = 0u; k < 8u; k++) {
        w[k] = weights[b + 4u + 8u * p + k];
    }
    let lo_sm = k_scale_min(scales, 2u * p);
    let hi_sm = k_scale_min(scales, 2u * p + 1u);
    var sq = vec2<f32>();
    var sx = vec2<f32>();
    for (var k = 0u; k < 8u; k++) {
        let q = vec4<u32>(bytes4(w[k]));
        let lo = x4(lu, k);
        let hi = x4(lu, 8u + k);
        sq += vec2<f32>(dot(vec4<f32>(q & vec4<u32>(15u)), lo), dot(vec4<f32>(q >> vec4<u32>(4u)), hi));
        sx += vec2<f32>(sum4(lo), sum4(hi));
    }
    return dm.x * (lo_sm.x * sq.x + hi_sm.x * sq.y) - dm.y * (lo_sm.y * sx.x + hi_sm.y * sx.y);
}
#endif

#if Q5_K
const UNIT: u32 = 64u;
// 176 bytes: d: f16, dmin: f16, scales: [u8; 12], qh: [u8; 32],
// qs: [u8; 128]. Value 32j + l takes bit j of qh[l] as its fifth bit. A
// unit is sub-blocks 2p and 2p + 1, as for Q4_K.
fn unit_dot(row: u32, u: u32, lu: u32) -> f32 {
    let b = (row + (u / 4u) * 176u) >> 2u;
    let p = u % 4u;
    let dm = unpack2x16float(weights[b]);
    let scales = array<u32, 3>(weights[b + 1u], weights[b + 2u], weights[b + 3u]);
    var wl: array<u32, 8>;
    var wh: array<u32, 8>;
    for (var k = 0u; k < 8u; k++) {
        wl[k] = weights[b + 12u + 8u * p + k];
        wh[k] = weights[b + 4u + k];
    }
    let lo_sm = k_scale_min(scales, 2u * p);
    let hi_sm = k_scale_min(scales, 2u * p + 1u);
    var sq = vec2<f32>();
    var sx = vec2<f32>();
    for (var k = 0u; k < 8u; k++) {
        let q = vec4<u32>(bytes4(wl[k]));
        let h = vec4<u32>(bytes4(wh[k])) >> vec4<u32>(2u * p);
        let lo = x4(lu, k);
        let hi = x4(lu, 8u + k);
        let q_lo = (q & vec4<u32>(15u)) | ((h & vec4<u32>(1u)) << vec4<u32>(4u));
        let q_hi = (q >> vec4<u32>(4u)) | ((h & vec4<u32>(2u)) << vec4<u32>(3u));
        sq += vec2<f32>(dot(vec4<f32>(q_lo), lo), dot(vec4<f32>(q_hi), hi));
        sx += vec2<f32>(sum4(lo), sum4(hi));
    }
    return dm.x * (lo_sm.x * sq.x + hi_sm.x * sq.y) - dm.y * (lo_sm.y * sx.x + hi_sm.y * sx.y);
}
#endif

#if Q6_K
const UNIT: u32 = 32u;
// 210 bytes: ql: [u8; 128], qh: [u8; 64], scales: [i8; 16], d: f16.
// Two halves of 128 values; in half h, value 32k + l (k in 0..4) has low
// bits in nibble k / 2 of ql[64h + 32(k % 2) + l], high bits in bits
// 2k..2k+2 of qh[32h + l], scale scales[8h + 2k + l / 16].
// w = d * scale * (q - 32).
fn unit_dot(row: u32, u: u32, lu: u32) -> f32 {
    let b = row + (u / 8u) * 210u;
    let h = (u % 8u) / 4u;
    let k = u % 4u;
    // Blocks start at even bytes: at 2 mod 4 every field is read as the
    // aligned words holding it (9 for 8), as `after_half` describes.
    let odd = (b & 2u) != 0u;
    let ql = (b + 64u * h + 32u * (k % 2u)) >> 2u;
    let qh = (b + 128u + 32u * h) >> 2u;
    var rl: array<u32, 9>;
    var rh: array<u32, 9>;
    for (var i = 0u; i < 9u; i++) {
        rl[i] = weights[ql + i];
        rh[i] = weights[qh + i];
    }
    // Both scale bytes (at an even byte) sit in one word, and so does d.
    let scales = b + 192u + 8u * h + 2u * k;
    let scale_word = weights[scales >> 2u] >> (8u * (scales & 2u));
    let d_word = weights[(b + 208u) >> 2u];
    var wl: array<u32, 8>;
    var wh: array<u32, 8>;
    for (var i = 0u; i < 8u; i++) {
        wl[i] = select(rl[i], (rl[i] >> 16u) | (rl[i + 1u] << 16u), odd);
        wh[i] = select(rh[i], (rh[i] >> 16u) | (rh[i + 1u] << 16u), odd);
    }
    let d = unpack2x16float(select(d_word, d_word >> 16u, odd)).x;
    let scale0 = f32(bitcast<i32>(scale_word << 24u) >> 24u);
    let scale1 = f32(bitcast<i32>(scale_word << 16u) >> 24u);
    let lo_shift = vec4<u32>(4u * (k / 2u));
    let hi_shift = vec4<u32>(2u * k);
    var s = vec2<f32>(0.0);
    for (var i = 0u; i < 8u; i++) {
        let lo = (vec4<u32>(bytes4(wl[i])) >> lo_shift) & vec4<u32>(15u);
        let hi = (vec4<u32>(bytes4(wh[i])) >> hi_shift) & vec4<u32>(3u);
        let p = dot(vec4<f32>(lo | (hi << vec4<u32>(4u))) - 32.0, x4(lu, i));
        // Values l < 16 (i < 4) have the first of the unit's two scales.
        s[i / 4u] += p;
    }
    return d * (scale0 * s.x + scale1 * s.y);
}
#endif

// ---- Epilogues.

fn silu(v: f32) -> f32 {
    return v / (1.0 + exp(-v));
}

// ---- COMBINE: attention's chunks, combined while x is staged.

#if COMBINE
const HEADER: u32 = 4u;     // floats before the first chunk's record
const MAX_HEADS: u32 = 64u;
const MASK: f32 = -3.402823e38;

// Each chunk's weight in its head's output, exp(m_c - m) / l (m the
// head's largest max, l its rescaled sum), at [h * chunks + c], where
// heads × chunks fit (else computed per value from head_scale).
const MAX_WEIGHTS: u32 = 1024u;
var<workgroup> chunk_weight: array<f32, MAX_WEIGHTS>;
// Per head: the chunks' common max and 1 / the sum of their rescaled sums.
var<workgroup> head_scale: array<vec2<f32>, MAX_HEADS>;
// The chunks used, read once from the scratch's header.
var<workgroup> combine_used: u32;

fn chunk_record(h: u32, c: u32) -> u32 {
    return HEADER + (h * params.combine_chunks + c) * (params.combine_width + 2u);
}

fn weights_fit(chunks: u32) -> bool {
    return params.combine_heads * chunks <= MAX_WEIGHTS;
}

// Fills head_scale, combine_used and (where they fit) chunk_weight.
// Uniform control flow.
fn prepare_combine(lid: u32) {
    let chunks = min(u32(x[0]), params.combine_chunks);
    if (lid == 0u) {
        combine_used = chunks;
    }
    for (var h = lid; h < params.combine_heads; h += WG) {
        var m = MASK;
        for (var c = 0u; c < chunks; c++) {
            m = max(m, x[chunk_record(h, c)]);
        }
        var l = 0.0;
        for (var c = 0u; c < chunks; c++) {
            let at = chunk_record(h, c);
            l += x[at + 1u] * exp(x[at] - m);
        }
        head_scale[h] = vec2<f32>(m, 1.0 / l);
    }
    workgroupBarrier();
    if (weights_fit(chunks)) {
        for (var i = lid; i < params.combine_heads * chunks; i += WG) {
            let h = i / chunks;
            let ml = head_scale[h];
            chunk_weight[i] = exp(x[chunk_record(h, i % chunks)] - ml.x) * ml.y;
        }
        workgroupBarrier();
    }
}

// Attention's output value `col` (head col / width, value col % width).
fn combined(col: u32) -> f32 {
    let h = col / params.combine_width;
    let i = 2u + col % params.combine_width;
    let chunks = combine_used;
    if (!weights_fit(chunks)) {
        let ml = head_scale[h];
        var s = 0.0;
        for (var c = 0u; c < chunks; c++) {
            let at = chunk_record(h, c);
            s += x[at + i] * exp(x[at] - ml.x);
        }
        return s * ml.y;
    }
    // Four chunks a step, their loads together, then the rest.
    let w0 = h * chunks;
    var s = vec4<f32>();
    var c = 0u;
    for (; c + 4u <= chunks; c += 4u) {
        let v = vec4<f32>(
            x[chunk_record(h, c) + i],
            x[chunk_record(h, c + 1u) + i],
            x[chunk_record(h, c + 2u) + i],
            x[chunk_record(h, c + 3u) + i],
        );
        s = fma(v, vec4<f32>(
            chunk_weight[w0 + c],
            chunk_weight[w0 + c + 1u],
            chunk_weight[w0 + c + 2u],
            chunk_weight[w0 + c + 3u],
        ), s);
    }
    for (; c < chunks; c++) {
        s.x += x[chunk_record(h, c) + i] * chunk_weight[w0 + c];
    }
    return s.x + s.y + s.z + s.w;
}
#endif

// ---- The kernel.

// Per (subgroup or thread, row): the row's partial dots (gate, up) and the
// partial sum of the squares of x (NORM).
#if SUBGROUPS
// One slot per (subgroup, row); enough for subgroups as small as 4, the
// least wgpu reports (MINIMUM_SUBGROUP_MIN_SIZE) and WebGPU allows.
var<workgroup> partial: array<vec3<f32>, WG / 4u * ROWS * RPG>;
#else
var<workgroup> partial: array<vec3<f32>, WG>;
#endif

@compute @workgroup_size(WG)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
#if SUBGROUPS
    @builtin(subgroup_size) sg_size: u32,
    @builtin(subgroup_invocation_id) sg_lane: u32,
#endif
) {
    // Workgroups beyond 65535 spill into the y dimension of the dispatch.
    let first_row = (wid.x + wid.y * groups.x) * ROWS * RPG;
    // Uniform across the workgroup, so returning keeps barriers uniform.
    if (first_row >= params.rows) {
        return;
    }
    let r = lid / TPR;
    let t = lid % TPR;
#if COMBINE
    prepare_combine(lid);
#endif

    // Per row of the group: (gate or only row, up row).
    var acc: array<vec2<f32>, RPG>;
    // NORM: the dots use x · norm weights; the norm's scale is a factor of
    // the whole dot, so the squares of x are summed while staging and the
    // scale applied at the end (no reduction pass before the dots).
    var squares = 0.0;
    let units = (params.cols + UNIT - 1u) / UNIT;
    for (var u0 = 0u; u0 < units; u0 += TPR) {
        // Stage values u0 * UNIT.. of x: thread lid takes values lid,
        // lid + WG, ... (coalesced), unit i / UNIT of the chunk.
        for (var i = lid; i < TPR * UNIT; i += WG) {
            let col = u0 * UNIT + i;
            var v = 0.0;
            if (col < params.cols) {
#if COMBINE
                v = combined(col);
#else
                v = x[params.x_offset + col];
#endif
#if NORM
                squares += v * v;
                v *= norm_w[col];
#endif
            }
            xs[(i / UNIT) * UNIT_VECS + (i % UNIT) / 4u][i % 4u] = v;
        }
        workgroupBarrier();
        let u = u0 + t;
        for (var k = 0u; k < RPG; k++) {
            let row = first_row + r + k * ROWS;
            if (row < params.rows && u < units) {
                let start = params.w_offset + row * params.row_bytes;
                acc[k].x += unit_dot(start, u, t);
#if SILU_MUL
                acc[k].y += unit_dot(start + params.up_rows * params.row_bytes, u, t);
#endif
#if GELU_MUL
                acc[k].y += unit_dot(start + params.up_rows * params.row_bytes, u, t);
#endif
            }
        }
        workgroupBarrier();
    }

    // Per row of the group: (dot, up dot, sum of the squares of x).
    var total: array<vec3<f32>, RPG>;
#if SUBGROUPS
    // A subgroup may hold part of a row group (size 8) or several (size
    // 64), so each group's share is added separately; every slot also
    // carries its subgroup's squares. Subgroups tile a 1-D workgroup in
    // index order.
    let sg = lid / sg_size;
    for (var k = 0u; k < RPG; k++) {
        for (var i = 0u; i < ROWS; i++) {
            let part = subgroupAdd(vec3<f32>(select(vec2<f32>(0.0), acc[k], r == i), squares));
            if (sg_lane == 0u) {
                partial[(sg * ROWS + i) * RPG + k] = part;
            }
        }
    }
    workgroupBarrier();
    for (var s = 0u; s < (WG + sg_size - 1u) / sg_size; s++) {
        for (var k = 0u; k < RPG; k++) {
            total[k] += partial[(s * ROWS + r) * RPG + k];
        }
    }
#else
    for (var k = 0u; k < RPG; k++) {
        partial[lid] = vec3<f32>(acc[k], squares);
        workgroupBarrier();
        for (var stride = TPR / 2u; stride > 0u; stride >>= 1u) {
            if (t < stride) {
                partial[lid] += partial[lid + stride];
            }
            workgroupBarrier();
        }
        total[k] = vec3<f32>(partial[r * TPR].xy, 0.0);
        for (var i = 0u; i < ROWS; i++) {
            total[k].z += partial[i * TPR].z;
        }
        workgroupBarrier();
    }
#endif

    for (var k = 0u; k < RPG; k++) {
        let row = first_row + r + k * ROWS;
        if (t != 0u || row >= params.rows) {
            continue;
        }
        var scale = 1.0;
#if NORM
        scale = inverseSqrt(total[k].z / f32(params.cols) + params.eps);
#endif
        let dot = total[k].xy * scale;
        var value = dot.x;
#if BIAS
        value += bias[params.bias_offset + row];
#endif
        let out = params.y_offset + row;
#if STORE
        y[out] = value;
#endif
#if ADD
        y[out] += value;
#endif
#if SILU_MUL
        y[out] = silu(value) * dot.y;
#endif
#if GELU_MUL
        y[out] = gelu_tanh(value) * dot.y;
#endif
    }
}
