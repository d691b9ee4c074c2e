//! choose: Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 Q4_K Q5_K Q6_K
//! include: ggml_numerics ggml_bytes
// y[t][r] = weight row r · token t's activations, quantised and packed by
// kernels/ggml_quantize.wgsl, bit for bit as llama.cpp's x86 CPU backend
// computes it (src/quant/dot.rs, legacy.rs, k_quants.rs, batched.rs):
// exact integer sums per block, then the f32 scale products, fused
// multiply-adds (`fma_rn`: WGSL's `fma` may round twice) and final sums in
// ggml's order.
//
// A workgroup takes ROWS rows × TILE tokens; each row has 8 threads
// ("slots"). Weights are raw GGUF blocks read from an array<u32> at any even
// byte offset.
// - Legacy types: slot l is AVX2 lane l (values 4l..4l+4 of every block):
//   it runs its lane's fused multiply-add chain over the blocks for each
//   token on its own; at the end slot s sums token s's 8 lanes as
//   `hsum_float_8` does (Q4_1/Q5_1: plus its `summs` chain).
// - K-quants: per super-block every slot leaves exact integers in workgroup
//   memory (Q4_K/Q5_K: sub-block s; Q6_K: lane s), then slot s runs token
//   s's float chain, in the order `dot_order` picks for that token.

struct Step {
    pos0: u32,
    n_tokens: u32,
    kv_len: u32,
    zero: u32,
}

struct Params {
    rows: u32,        // rows in this dispatch (one chunk of the matrix)
    blocks: u32,      // blocks per row
    row_bytes: u32,   // bytes per row
    w_offset: u32,    // byte offset of the chunk's row 0 in `weights` (even)
    y_offset: u32,    // index of token 0's output for the chunk's row 0
    y_stride: u32,    // values between tokens in `y`
    act_words: u32,   // packed activation words per token
    matrix_rows: u32, // rows of the whole matrix (Q4_K's repacking rule)
    max_tokens: u32,  // tokens the buffers hold
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<storage, read> weights: array<u32>;
@group(0) @binding(1) var<storage, read> act: array<u32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> step: Step;
@group(0) @binding(4) var<uniform> params: Params;

const ROWS: u32 = 8u; // rows per workgroup
const TILE: u32 = 8u; // tokens per workgroup (= slots per row)

// [row][token][slot]: legacy lane results, K-quant integers.
var<workgroup> lanes_f: array<f32, 512>;
var<workgroup> ints_a: array<i32, 512>;
var<workgroup> ints_b: array<i32, 512>;

// Byte loaders from `weights`: kernels/lib/ggml_bytes.wgsl.

// ---- The type: its block size, and whether it is a `_1` kind (with y.s
// and x.m) or a K-quant.

const T_Q4_0: u32 = 0u;
const T_Q4_1: u32 = 1u;
const T_Q5_0: u32 = 2u;
const T_Q5_1: u32 = 3u;
const T_Q8_0: u32 = 4u;
const T_Q4_K: u32 = 5u;
const T_Q5_K: u32 = 6u;
const T_Q6_K: u32 = 7u;
#if Q4_0
const TYPE: u32 = T_Q4_0;
const BLOCK_BYTES: u32 = 18u;
#endif
#if Q4_1
const TYPE: u32 = T_Q4_1;
const BLOCK_BYTES: u32 = 20u;
#endif
#if Q5_0
const TYPE: u32 = T_Q5_0;
const BLOCK_BYTES: u32 = 22u;
#endif
#if Q5_1
const TYPE: u32 = T_Q5_1;
const BLOCK_BYTES: u32 = 24u;
#endif
#if Q8_0
const TYPE: u32 = T_Q8_0;
const BLOCK_BYTES: u32 = 34u;
#endif
#if Q4_K
const TYPE: u32 = T_Q4_K;
const BLOCK_BYTES: u32 = 144u;
#endif
#if Q5_K
const TYPE: u32 = T_Q5_K;
const BLOCK_BYTES: u32 = 176u;
#endif
#if Q6_K
const TYPE: u32 = T_Q6_K;
const BLOCK_BYTES: u32 = 210u;
#endif
const OFFSET: bool = TYPE == T_Q4_1 || TYPE == T_Q5_1;
const KQUANT: bool = TYPE >= T_Q4_K;

// Bits `4l..4l+4` of `qh`, each moved to bit 4 (the Q5 high bits of lane l).
fn high4(qh: u32, l: u32) -> vec4<i32> {
    return vec4<i32>(((vec4<u32>(qh >> (4u * l)) >> vec4<u32>(0u, 1u, 2u, 3u)) & vec4<u32>(1u)) << vec4<u32>(4u));
}

// The weight codes of lane l (values 4l..4l+4) of the legacy block at byte b.
fn lane_codes(b: u32, l: u32) -> vec4<i32> {
    // 4-bit kinds: value j < 16 in the low nibble of qs[j], j + 16 high.
    let nibble = 4u * (l & 3u);
    let shift = 4u * (l >> 2u);
    switch (TYPE) {
        case T_Q4_0: {
            return nibbles4(load_u32(b + 2u + nibble), shift) - vec4<i32>(8);
        }
        case T_Q4_1: {
            return nibbles4(load_u32(b + 4u + nibble), shift);
        }
        case T_Q5_0: {
            let low = nibbles4(load_u32(b + 6u + nibble), shift);
            return (low | high4(load_u32(b + 2u), l)) - vec4<i32>(16);
        }
        case T_Q5_1: {
            return nibbles4(load_u32(b + 8u + nibble), shift) | high4(load_u32(b + 4u), l);
        }
        default: {
            return sbytes4(load_u32(b + 2u + 4u * l));
        }
    }
}

// ---- K-quants: slot s's integers for the super-block at byte `b` and the
// activation block at word `a` of each token.

// ggml's get_scale_min_k4 for sub-block j; scale bytes at `s`.
fn scale_min_k4(s: u32, j: u32) -> vec2<i32> {
    if (j < 4u) {
        return vec2<i32>(i32(load_u8(s + j) & 63u), i32(load_u8(s + j + 4u) & 63u));
    }
    let packed = load_u8(s + j + 4u);
    let scale = (packed & 15u) | ((load_u8(s + j - 4u) >> 6u) << 4u);
    let m = (packed >> 4u) | ((load_u8(s + j) >> 6u) << 4u);
    return vec2<i32>(i32(scale), i32(m));
}

// A packed pair of i16 bsums, added.
fn bsum_pair(word: u32) -> i32 {
    let w = bitcast<i32>(word);
    return ((w << 16u) >> 16u) + (w >> 16u);
}

fn bsum_lo(word: u32) -> i32 {
    return (bitcast<i32>(word) << 16u) >> 16u;
}

fn bsum_hi(word: u32) -> i32 {
    return bitcast<i32>(word) >> 16u;
}

// The 32 codes slot `s` multiplies (as 8 words' worth), and their scale and
// min (Q6_K: per group of 4 words, `scales` holds the 8 scales instead).
struct SlotCodes {
    codes: array<vec4<i32>, 8>,
    scales: array<i32, 8>,
    m: i32,
}

fn slot_codes(b: u32, s: u32) -> SlotCodes {
    var out: SlotCodes;
#if Q4_K
    let sm = scale_min_k4(b + 4u, s);
    out.scales[0] = sm.x;
    out.m = sm.y;
    for (var w = 0u; w < 8u; w++) {
        out.codes[w] = nibbles4(load_u32(b + 16u + 32u * (s >> 1u) + 4u * w), 4u * (s & 1u));
    }
#endif
#if Q5_K
    let sm = scale_min_k4(b + 4u, s);
    out.scales[0] = sm.x;
    out.m = sm.y;
    for (var w = 0u; w < 8u; w++) {
        let low = nibbles4(load_u32(b + 48u + 32u * (s >> 1u) + 4u * w), 4u * (s & 1u));
        let qh = (load_u32(b + 16u + 4u * w) >> s) & 0x01010101u;
        out.codes[w] = low | bytes4(qh << 4u);
    }
#endif
#if Q6_K
    // Group g = 4h + k (half h, 32-value group k): lane s's four values.
    for (var g = 0u; g < 8u; g++) {
        let h = g >> 2u;
        let k = g & 3u;
        let src = load_u32(b + 64u * h + 32u * (k & 1u) + 4u * s);
        let qh = load_u32(b + 128u + 32u * h + 4u * s);
        let code = ((src >> (4u * (k >> 1u))) & 0x0f0f0f0fu) | (((qh >> (2u * k)) & 0x03030303u) << 4u);
        out.codes[g] = bytes4(code);
        let byte = load_u8(b + 192u + 8u * h + 2u * k + select(0u, 1u, s >= 4u));
        out.scales[g] = (bitcast<i32>(byte) << 24u) >> 24u;
    }
#endif
    return out;
}

// Slot s's exact integers against the activation block at word `a`:
// Q4_K/Q5_K (scale · Σq·q8, min · Σq8) of sub-block s; Q6_K lane s.
fn slot_ints(c: ptr<function, SlotCodes>, b: u32, s: u32, a: u32) -> vec2<i32> {
#if Q6_K
    var lane = 0;
    for (var g = 0u; g < 8u; g++) {
        lane += (*c).scales[g] * dot((*c).codes[g], sbytes4(act[a + 1u + 8u * g + s]));
    }
    let bs = act[a + 65u + s];
    let s0 = (bitcast<i32>(load_u8(b + 192u + 2u * s)) << 24u) >> 24u;
    let s1 = (bitcast<i32>(load_u8(b + 193u + 2u * s)) << 24u) >> 24u;
    return vec2<i32>(lane - 32 * (s0 * bsum_lo(bs) + s1 * bsum_hi(bs)), 0);
#else
    var sum = 0;
    for (var w = 0u; w < 8u; w++) {
        sum += dot((*c).codes[w], sbytes4(act[a + 1u + 8u * s + w]));
    }
    return vec2<i32>((*c).scales[0] * sum, (*c).m * bsum_pair(act[a + 65u + s]));
#endif
}

// ggml's `hsum_float_8` of the 8 lanes at lanes_f[at..]:
// ((x0 + x4) + (x2 + x6)) + ((x1 + x5) + (x3 + x7)).
fn hsum8(at: u32) -> f32 {
    var r: array<f32, 4>;
    for (var i = 0u; i < 4u; i++) {
        r[i] = lanes_f[at + i + 4u] + lanes_f[at + i];
    }
    return (r[0] + r[2]) + (r[1] + r[3]);
}

@compute @workgroup_size(64)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) tid: u32,
) {
    let n = min(step.n_tokens, params.max_tokens);
    let t0 = wid.y * TILE;
    if (t0 >= n) {
        return;
    }
    let nt = min(TILE, n - t0);
    let slot = tid % 8u;
    let local_row = tid / 8u;
    let row = (wid.x + wid.z * groups.x) * ROWS + local_row;
    // Rows past the end still take part in the barriers, on the last row.
    let row_start = params.w_offset + min(row, params.rows - 1u) * params.row_bytes;
    let own = t0 + slot; // the token whose float chain this thread runs
    let chain = slot < nt && row < params.rows;
    let at = (local_row * TILE + slot) * 8u; // this chain's 8 slots in workgroup memory
#if Q4_K
    let gemm = params.matrix_rows % 8u == 0u && own < n - n % 4u;
#endif
#if Q6_K
    let gemm = n >= 8u;
#endif
    var result = 0.0;
#if Q4_K
    var acc = 0.0;
    var acc_m = 0.0;
#endif
#if Q5_K
    var acc = 0.0;
    var acc_m = 0.0;
#endif
#if Q6_K
    var acc = 0.0;
    var acc8: array<f32, 8>;
#endif
    if (KQUANT) {
        for (var blk = 0u; blk < params.blocks; blk++) {
            let b = row_start + blk * BLOCK_BYTES;
            var codes = slot_codes(b, slot);
            for (var t = 0u; t < nt; t++) {
                let v = slot_ints(&codes, b, slot, (t0 + t) * params.act_words + blk * 73u);
                let i = (local_row * TILE + t) * 8u + slot;
                ints_a[i] = v.x;
                ints_b[i] = v.y;
            }
            workgroupBarrier();
            if (chain) {
                let yd = bitcast<f32>(act[own * params.act_words + blk * 73u]);
#if Q4_K
                let d = load_f16(b) * yd;
                let dmin = load_f16(b + 2u) * yd;
                if (gemm) {
                    // ggml_gemm_q4_K_8x8_q8_K: one chain step per sub-block pair.
                    for (var p = 0u; p < 8u; p += 2u) {
                        let sum = ints_a[at + p] + ints_a[at + p + 1u];
                        let mins = ints_b[at + p] + ints_b[at + p + 1u];
                        acc = fma_rn(f32(sum), d, acc);
                        acc_m = fma_rn(f32(mins), dmin, acc_m);
                    }
                } else {
                    var sum = 0;
                    var mins = 0;
                    for (var j = 0u; j < 8u; j++) {
                        sum += ints_a[at + j];
                        mins += ints_b[at + j];
                    }
                    acc = fma_rn(f32(sum), d, acc);
                    acc_m = fma_rn(f32(mins), dmin, acc_m);
                }
#endif
#if Q5_K
                var sum = 0;
                var mins = 0;
                for (var j = 0u; j < 8u; j++) {
                    sum += ints_a[at + j];
                    mins += ints_b[at + j];
                }
                acc = fma_rn(yd * load_f16(b), f32(sum), acc);
                acc_m = fma_rn(-yd * load_f16(b + 2u), f32(mins), acc_m);
#endif
#if Q6_K
                let d = load_f16(b + 208u);
                if (gemm) {
                    // The tiled path: the block's exact total, times d, then y.d.
                    var total = 0;
                    for (var j = 0u; j < 8u; j++) {
                        total += ints_a[at + j];
                    }
                    acc = fma_rn(f32(total) * d, yd, acc);
                } else {
                    let dd = d * yd;
                    for (var j = 0u; j < 8u; j++) {
                        acc8[j] = fma_rn(dd, f32(ints_a[at + j]), acc8[j]);
                    }
                }
#endif
            }
            workgroupBarrier();
        }
#if Q4_K
        result = acc - acc_m;
#endif
#if Q5_K
        result = acc + acc_m;
#endif
#if Q6_K
        if (gemm) {
            result = acc;
        } else {
            for (var j = 0u; j < 8u; j++) {
                lanes_f[at + j] = acc8[j];
            }
            result = hsum8(at);
        }
#endif
    } else {
        // Legacy: lane `slot` of every token in the tile, block by block.
        var acc: array<f32, 8>;
        var summs = 0.0;
        let bw = select(9u, 10u, OFFSET);
        let first_code = select(1u, 2u, OFFSET);
        for (var blk = 0u; blk < params.blocks; blk++) {
            let b = row_start + blk * BLOCK_BYTES;
            let codes = lane_codes(b, slot);
            let dx = load_f16(b);
            for (var t = 0u; t < nt; t++) {
                let a = (t0 + t) * params.act_words + blk * bw;
                let lane = dot(codes, sbytes4(act[a + first_code + slot]));
                acc[t] = fma_rn(dx * bitcast<f32>(act[a]), f32(lane), acc[t]);
            }
            if (OFFSET && slot < nt) {
                let a = own * params.act_words + blk * bw;
                summs = fma_rn(load_f16(b + 2u), bitcast<f32>(act[a + 1u]), summs);
            }
        }
        for (var t = 0u; t < nt; t++) {
            lanes_f[(local_row * TILE + t) * 8u + slot] = acc[t];
        }
        workgroupBarrier();
        result = hsum8(at);
        if (OFFSET) {
            result = result + summs;
        }
    }
    if (chain) {
        y[params.y_offset + own * params.y_stride + row] = result;
    }
}
