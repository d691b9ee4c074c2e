//! choose: Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 Q4_K Q5_K Q6_K
//! flags: NARROW ACCUMULATE BIAS
//! include: step ggml_bytes ggml_numerics
// The `fast` prefill mat-mul in packed 8-bit dot products (llama.cpp's
// MMQ/DP4A way): Y[t, r] = Σ_c W[r, c] X[t, c] for n tokens, W raw GGUF
// blocks, X quantised to Q8 blocks of 32 by kernels/fast/quantize_q8.wgsl
// (codes q_x, scale d_x, s_x = d_x Σq_x), Y token-major f32 rows.
//
// Each block of 32 values of a weight row is unpacked to 32 int8 codes q_w
// (8 words) and two f32 factors (a, b), chosen so that the block's share
// of the dot product is exact integer sums scaled in f32:
//   Q4_0 Q5_0 Q8_0   q_w = q - 8 / q - 16 / q, a = d:
//                    a · d_x · Σ q_w q_x
//   Q4_1 Q5_1        q_w = q (unsigned), a = d, b = m:
//                    a · d_x · Σ q_w q_x + b · s_x
//   Q4_K Q5_K        sub-block j: a = d · scale_j, b = -dmin · min_j, as Q4_1
//   Q6_K             q_w = q - 32; two 16-value halves with their own int8
//                    scales: d_x · (a · Σ_lo q_w q_x + b · Σ_hi q_w q_x)
// Σ q_w q_x runs four codes at a time in `dot4I8Packed`.
//
// Tiling as kernels/fast/matmul.wgsl: a workgroup computes a TILE_ROWS ×
// 64-token tile of Y (128 rows, 256 threads; NARROW: 64 rows, 128
// threads), each thread 8 rows × 4 tokens. K is walked two blocks (64
// values) a step: each thread unpacks one (row, block) of W into workgroup
// memory, and the threads copy the 64 tokens' two Q8 blocks beside it.
// Workgroup memory: 15 KiB wide, 7.5 KiB narrow (WebGPU guarantees 16).
//
// ACCUMULATE adds the result to Y (a residual); BIAS adds bias[r]. The
// token count is read from the shared Step uniform (capped at max_tokens).

requires packed_4x8_integer_dot_product;

#if NARROW
const TILE_ROWS: u32 = 64u;
#else
const TILE_ROWS: u32 = 128u;
#endif
const TILE_TOKENS: u32 = 64u;
const STEP_BLOCKS: u32 = 2u;                  // Q8 blocks of 32 per step
const STEP_WORDS: u32 = 8u * STEP_BLOCKS;     // words of codes per row per step
const WG: u32 = 2u * TILE_ROWS;
const ROW_THREADS: u32 = TILE_ROWS / 8u;      // threads side by side along rows
const ROW_VECS: u32 = TILE_ROWS / 4u;         // vec4s per word in w_tile
const TOKEN_VECS: u32 = TILE_TOKENS / 4u;     // vec4s per word in x_tile
// vec4<u32>s of one Q8 block (kernels/fast/quantize_q8.wgsl).
const Q8_VECS: u32 = 3u;
const X_LOADS: u32 = TILE_TOKENS * STEP_BLOCKS * Q8_VECS;

struct Params {
    rows: u32,        // rows in this dispatch (one chunk of the matrix)
    blocks: u32,      // blocks of 32 per row (cols / 32)
    row_bytes: u32,   // bytes per row
    w_offset: u32,    // byte offset of row 0 in `weights` (even)
    y_offset: u32,    // index of Y[0, 0] (this dispatch's row 0) in `y`
    y_stride: u32,    // elements between tokens in `y`
    max_tokens: u32,  // tokens the buffers were bound for
    bias_offset: u32, // index of this dispatch's row 0 in `bias`
}

@group(0) @binding(0) var<storage, read> weights: array<u32>;
@group(0) @binding(1) var<storage, read> xq: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;
@group(0) @binding(4) var<uniform> step: Step;
#if BIAS
@group(0) @binding(5) var<storage, read> bias: array<f32>;
#endif

// Word-major slices: w_tile[k * ROW_VECS + i] holds rows 4i..4i+4 at word
// k of the step (codes 4k..4k+4 of the step's 64), x_tile[k * TOKEN_VECS +
// i] tokens 4i..4i+4. Factors: w_scale[(2 blk + f) * ROW_VECS + i] is a (f
// = 0) or b (f = 1) of block blk of rows 4i..; x_scale[(2 blk + f) *
// TOKEN_VECS + i] d_x (f = 0) or s_x (f = 1) of tokens 4i...
var<workgroup> w_tile: array<vec4<u32>, STEP_WORDS * ROW_VECS>;
var<workgroup> x_tile: array<vec4<u32>, STEP_WORDS * TOKEN_VECS>;
var<workgroup> w_scale: array<vec4<f32>, 2u * STEP_BLOCKS * ROW_VECS>;
var<workgroup> x_scale: array<vec4<f32>, 2u * STEP_BLOCKS * TOKEN_VECS>;

// ---- Unpacking: block u (32 values) of the row starting at byte `row`.

struct Unpacked {
    q: array<u32, 8>, // int8 codes, 4 a word, lowest byte first
    a: f32,
    b: f32,
}

// Per byte of `q` (unsigned codes below 2h, h a power of two up to 64):
// the int8 code q - h (flip the top bit, then sign-extend from it).
fn centred(q: u32, h: u32) -> u32 {
    let top = h * 0x01010101u;
    let v = q ^ top;
    return v | ((v & top) * ((256u - 2u * h) / h));
}

// Bits 4i..4i+4 of `bits` as bit 4 of four bytes (fifth bits, 0 or 16).
fn fifth4(bits: u32, i: u32) -> u32 {
    return ((((bits >> (4u * i)) & 15u) * 0x00204081u) & 0x01010101u) << 4u;
}

#if Q4_0
// 18 bytes: d: f16, qs: [u8; 16]; value j < 16 is the low nibble of qs[j],
// j + 16 its high nibble. w = (q - 8) d.
const HALVES: u32 = 1u;
const HAS_MIN: bool = false;
fn unpack(row: u32, u: u32) -> Unpacked {
    let b = row + u * 18u;
    var out: Unpacked;
    for (var i = 0u; i < 4u; i++) {
        let w = load_u32(b + 2u + 4u * i);
        out.q[i] = centred(w & 0x0f0f0f0fu, 8u);
        out.q[i + 4u] = centred((w >> 4u) & 0x0f0f0f0fu, 8u);
    }
    out.a = load_f16(b);
    return out;
}
#endif

#if Q4_1
// 20 bytes: d: f16, m: f16, qs: [u8; 16]. w = q d + m.
const HALVES: u32 = 1u;
const HAS_MIN: bool = true;
fn unpack(row: u32, u: u32) -> Unpacked {
    let b = row + u * 20u;
    var out: Unpacked;
    for (var i = 0u; i < 4u; i++) {
        let w = load_u32(b + 4u + 4u * i);
        out.q[i] = w & 0x0f0f0f0fu;
        out.q[i + 4u] = (w >> 4u) & 0x0f0f0f0fu;
    }
    out.a = load_f16(b);
    out.b = load_f16(b + 2u);
    return out;
}
#endif

#if Q5_0
// 22 bytes: d: f16, qh: u32 (bit j: value j's fifth bit), qs: [u8; 16].
// w = (q - 16) d.
const HALVES: u32 = 1u;
const HAS_MIN: bool = false;
fn unpack(row: u32, u: u32) -> Unpacked {
    let b = row + u * 22u;
    let qh = load_u32(b + 2u);
    var out: Unpacked;
    for (var i = 0u; i < 4u; i++) {
        let w = load_u32(b + 6u + 4u * i);
        out.q[i] = centred((w & 0x0f0f0f0fu) | fifth4(qh, i), 16u);
        out.q[i + 4u] = centred(((w >> 4u) & 0x0f0f0f0fu) | fifth4(qh, i + 4u), 16u);
    }
    out.a = load_f16(b);
    return out;
}
#endif

#if Q5_1
// 24 bytes: d: f16, m: f16, qh: u32, qs: [u8; 16]. w = q d + m.
const HALVES: u32 = 1u;
const HAS_MIN: bool = true;
fn unpack(row: u32, u: u32) -> Unpacked {
    let b = row + u * 24u;
    let qh = load_u32(b + 4u);
    var out: Unpacked;
    for (var i = 0u; i < 4u; i++) {
        let w = load_u32(b + 8u + 4u * i);
        out.q[i] = (w & 0x0f0f0f0fu) | fifth4(qh, i);
        out.q[i + 4u] = ((w >> 4u) & 0x0f0f0f0fu) | fifth4(qh, i + 4u);
    }
    out.a = load_f16(b);
    out.b = load_f16(b + 2u);
    return out;
}
#endif

#if Q8_0
// 34 bytes: d: f16, qs: [i8; 32]. w = q d.
const HALVES: u32 = 1u;
const HAS_MIN: bool = false;
fn unpack(row: u32, u: u32) -> Unpacked {
    let b = row + u * 34u;
    var out: Unpacked;
    for (var i = 0u; i < 8u; i++) {
        out.q[i] = load_u32(b + 2u + 4u * i);
    }
    out.a = load_f16(b);
    return out;
}
#endif

// K-quants: 256-value super-blocks; unit u is sub-block j = u % 8 of
// super-block u / 8. Q4_K/Q5_K nibbles come in chunks of 64 values: byte
// qs[32c + l] holds value 64c + l (low nibble) and 64c + 32 + l (high
// nibble), so sub-block j reads the 32 bytes of chunk j / 2, nibble j % 2.

#if Q4_K
// 144 bytes: d: f16, dmin: f16, scales: [u8; 12], qs: [u8; 128].
// w = (d scale_j) q - (dmin min_j).
const HALVES: u32 = 1u;
const HAS_MIN: bool = true;
fn unpack(row: u32, u: u32) -> Unpacked {
    let b = row + (u / 8u) * 144u;
    let j = u % 8u;
    let at = b + 16u + 32u * (j / 2u);
    let shift = 4u * (j % 2u);
    var out: Unpacked;
    for (var i = 0u; i < 8u; i++) {
        out.q[i] = (load_u32(at + 4u * i) >> shift) & 0x0f0f0f0fu;
    }
    let sm = scale_min_k4(b + 4u, j);
    out.a = load_f16(b) * sm.x;
    out.b = -(load_f16(b + 2u) * sm.y);
    return out;
}
#endif

#if Q5_K
// 176 bytes: d: f16, dmin: f16, scales: [u8; 12], qh: [u8; 32],
// qs: [u8; 128]. Value 32j + l takes bit j of qh[l] as its fifth bit.
const HALVES: u32 = 1u;
const HAS_MIN: bool = true;
fn unpack(row: u32, u: u32) -> Unpacked {
    let b = row + (u / 8u) * 176u;
    let j = u % 8u;
    let at = b + 48u + 32u * (j / 2u);
    let shift = 4u * (j % 2u);
    var out: Unpacked;
    for (var i = 0u; i < 8u; i++) {
        let fifth = ((load_u32(b + 16u + 4u * i) >> j) & 0x01010101u) << 4u;
        out.q[i] = ((load_u32(at + 4u * i) >> shift) & 0x0f0f0f0fu) | fifth;
    }
    let sm = scale_min_k4(b + 4u, j);
    out.a = load_f16(b) * sm.x;
    out.b = -(load_f16(b + 2u) * sm.y);
    return out;
}
#endif

#if Q6_K
// 210 bytes: ql: [u8; 128], qh: [u8; 64], scales: [i8; 16], d: f16.
// Two halves of 128 values; in half h, value 32k + l (k in 0..4) has low
// bits in nibble k / 2 of ql[64h + 32(k % 2) + l], high bits in bits
// 2k..2k+2 of qh[32h + l], scale scales[8h + 2k + l / 16].
// w = (d scale) (q - 32): a and b are the two 16-value halves' d scale.
const HALVES: u32 = 2u;
const HAS_MIN: bool = false;
fn unpack(row: u32, u: u32) -> Unpacked {
    let b = row + (u / 8u) * 210u;
    let h = (u % 8u) / 4u;
    let k = u % 4u;
    let ql = b + 64u * h + 32u * (k % 2u);
    let qh = b + 128u + 32u * h;
    var out: Unpacked;
    for (var i = 0u; i < 8u; i++) {
        let lo = (load_u32(ql + 4u * i) >> (4u * (k / 2u))) & 0x0f0f0f0fu;
        let hi = ((load_u32(qh + 4u * i) >> (2u * k)) & 0x03030303u) << 4u;
        out.q[i] = centred(lo | hi, 32u);
    }
    let d = load_f16(b + 208u);
    out.a = d * load_i8(b + 192u + 8u * h + 2u * k);
    out.b = d * load_i8(b + 192u + 8u * h + 2u * k + 1u);
    return out;
}
#endif

// ---- The kernel.

@compute @workgroup_size(WG)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let n = min(step.n_tokens, params.max_tokens);
    // Row tiles beyond 65535 spill into z (see gpu::workgroup_grid).
    let row0 = (wid.x + wid.z * groups.x) * TILE_ROWS;
    let tok0 = wid.y * TILE_TOKENS;
    // Uniform across the workgroup, so returning keeps barriers uniform.
    if (row0 >= params.rows || tok0 >= n) {
        return;
    }

    // Unpacking W: thread lid fills block lid % 2 of the step for tile row
    // lid / 2 (neighbouring threads read neighbouring blocks).
    let w_lane = lid / 2u;
    let w_blk = lid % 2u;
    let w_row = row0 + w_lane;
    let row_start = params.w_offset + w_row * params.row_bytes;
    // Token t's block u is at vec4 Q8_VECS (t · blocks + u) of xq.
    let q_stride = Q8_VECS * params.blocks;

    // Computing: thread lid owns rows 4 tr.. and TILE_ROWS / 2 + 4 tr..,
    // tokens 4 tt..; acc[2j + i] holds row group i of token j.
    let tr = lid % ROW_THREADS;
    let tt = lid / ROW_THREADS;
    var acc = array<vec4<f32>, 8>();

    let steps = (params.blocks + STEP_BLOCKS - 1u) / STEP_BLOCKS;
    for (var s = 0u; s < steps; s++) {
        let u = s * STEP_BLOCKS + w_blk;
        // Rows past the matrix and blocks past the row stay 0.
        var w: Unpacked;
        if (w_row < params.rows && u < params.blocks) {
            w = unpack(row_start, u);
        }
        for (var i = 0u; i < 8u; i++) {
            w_tile[(8u * w_blk + i) * ROW_VECS + w_lane / 4u][w_lane % 4u] = w.q[i];
        }
        w_scale[2u * w_blk * ROW_VECS + w_lane / 4u][w_lane % 4u] = w.a;
        w_scale[(2u * w_blk + 1u) * ROW_VECS + w_lane / 4u][w_lane % 4u] = w.b;

        // Copying X: load `at` is vec4 at % Q8_VECS of block (at /
        // Q8_VECS) % STEP_BLOCKS of token at / (Q8_VECS STEP_BLOCKS).
        for (var at = lid; at < X_LOADS; at += WG) {
            let tok = at / (Q8_VECS * STEP_BLOCKS);
            let blk = (at / Q8_VECS) % STEP_BLOCKS;
            let part = at % Q8_VECS;
            let xu = s * STEP_BLOCKS + blk;
            var v = vec4<u32>();
            if (tok0 + tok < n && xu < params.blocks) {
                v = xq[(tok0 + tok) * q_stride + Q8_VECS * xu + part];
            }
            if (part < 2u) {
                for (var c = 0u; c < 4u; c++) {
                    x_tile[(8u * blk + 4u * part + c) * TOKEN_VECS + tok / 4u][tok % 4u] = v[c];
                }
            } else {
                x_scale[2u * blk * TOKEN_VECS + tok / 4u][tok % 4u] = bitcast<f32>(v.x);
                x_scale[(2u * blk + 1u) * TOKEN_VECS + tok / 4u][tok % 4u] = bitcast<f32>(v.y);
            }
        }
        workgroupBarrier();

        for (var blk = 0u; blk < STEP_BLOCKS; blk++) {
            let xd = x_scale[2u * blk * TOKEN_VECS + tt];
            for (var half = 0u; half < HALVES; half++) {
                // Exact integer sums of this block (or half) for the
                // thread's 8 rows × 4 tokens.
                var sums = array<vec4<i32>, 8>();
                for (var i = 0u; i < 8u / HALVES; i++) {
                    let k = 8u * blk + (8u / HALVES) * half + i;
                    let a0 = w_tile[k * ROW_VECS + tr];
                    let a1 = w_tile[k * ROW_VECS + ROW_THREADS + tr];
                    let t = x_tile[k * TOKEN_VECS + tt];
                    for (var j = 0u; j < 4u; j++) {
                        sums[2u * j] += vec4<i32>(
                            dot4I8Packed(a0.x, t[j]),
                            dot4I8Packed(a0.y, t[j]),
                            dot4I8Packed(a0.z, t[j]),
                            dot4I8Packed(a0.w, t[j]),
                        );
                        sums[2u * j + 1u] += vec4<i32>(
                            dot4I8Packed(a1.x, t[j]),
                            dot4I8Packed(a1.y, t[j]),
                            dot4I8Packed(a1.z, t[j]),
                            dot4I8Packed(a1.w, t[j]),
                        );
                    }
                }
                // Q6_K's second half takes b as its scale.
                let f = (2u * blk + half) * ROW_VECS;
                let wa0 = w_scale[f + tr];
                let wa1 = w_scale[f + ROW_THREADS + tr];
                for (var j = 0u; j < 4u; j++) {
                    acc[2u * j] = fma(wa0 * xd[j], vec4<f32>(sums[2u * j]), acc[2u * j]);
                    acc[2u * j + 1u] = fma(wa1 * xd[j], vec4<f32>(sums[2u * j + 1u]), acc[2u * j + 1u]);
                }
            }
            if (HAS_MIN) {
                let xs = x_scale[(2u * blk + 1u) * TOKEN_VECS + tt];
                let f = (2u * blk + 1u) * ROW_VECS;
                let wb0 = w_scale[f + tr];
                let wb1 = w_scale[f + ROW_THREADS + tr];
                for (var j = 0u; j < 4u; j++) {
                    acc[2u * j] = fma(wb0, vec4<f32>(xs[j]), acc[2u * j]);
                    acc[2u * j + 1u] = fma(wb1, vec4<f32>(xs[j]), acc[2u * j + 1u]);
                }
            }
        }
        workgroupBarrier();
    }

    for (var j = 0u; j < 4u; j++) {
        let t = tok0 + 4u * tt + j;
        if (t < n) {
            for (var i = 0u; i < 8u; i++) {
                let r = row0 + (i / 4u) * (TILE_ROWS / 2u) + 4u * tr + i % 4u;
                if (r < params.rows) {
                    let out = params.y_offset + t * params.y_stride + r;
                    var v = acc[2u * j + i / 4u][i % 4u];
#if BIAS
                    v += bias[params.bias_offset + r];
#endif
#if ACCUMULATE
                    v += y[out];
#endif
                    y[out] = v;
                }
            }
        }
    }
}
