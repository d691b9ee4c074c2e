//! choose: F32 F16 BF16 Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 Q4_K Q5_K Q6_K
//! include: step ggml_bytes ggml_numerics
// Embedding lookup: out[t, c] = E[tokens[t], c] * scale for this step's
// tokens, with E a tensor stored raw as in the GGUF file (raw blocks read
// with kernels/lib/ggml_bytes.wgsl, as in the mat-vec kernels).
// Values are decoded with the CPU's operations in the CPU's order
// (src/quant), so rows match `dequantize` bit for bit where the driver does
// not fuse a product and a sum.
//
// A table larger than one storage binding is split by rows into chunks, one
// dispatch each; a dispatch writes only the tokens whose row it holds. A
// token past the vocabulary gets a row of zeros (written by the chunk of row
// 0). One thread per (token, column); the dispatch covers the largest batch
// and threads past step.n_tokens do nothing.

struct Params {
    rows: u32,        // rows in this chunk
    first_row: u32,   // the chunk's first row in the table
    vocab: u32,       // rows in the whole table
    cols: u32,
    row_bytes: u32,
    w_offset: u32,    // byte offset of the chunk's first row in `weights` (even)
    tokens_offset: u32,
    out_offset: u32,
    out_stride: u32,
    scale: f32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<storage, read> weights: array<u32>;
@group(0) @binding(1) var<storage, read> tokens: array<u32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> step: Step;
@group(0) @binding(4) var<uniform> params: Params;

// Loaders: little-endian values at a byte offset into `weights`
// (kernels/lib/ggml_bytes.wgsl).


// ---- Value c of the row starting at byte `row`, one function per type.

#if F32
fn value(row: u32, c: u32) -> f32 {
    return bitcast<f32>(load_u32(row + 4u * c));
}
#endif

#if F16
fn value(row: u32, c: u32) -> f32 {
    return load_f16(row + 2u * c);
}
#endif

#if BF16
fn value(row: u32, c: u32) -> f32 {
    return bitcast<f32>(load_u16(row + 2u * c) << 16u);
}
#endif

// Legacy blocks of 32: value j (< 16) is the low nibble of qs[j], value
// j + 16 its high nibble; 5-bit kinds take bit j of qh as the fifth bit.

fn nibble(qs: u32, j: u32) -> u32 {
    return (load_u8(qs + j % 16u) >> (4u * (j / 16u))) & 15u;
}

#if Q4_0
fn value(row: u32, c: u32) -> f32 {
    let b = row + (c / 32u) * 18u;
    return f32(i32(nibble(b + 2u, c % 32u)) - 8) * load_f16(b);
}
#endif

#if Q4_1
fn value(row: u32, c: u32) -> f32 {
    let b = row + (c / 32u) * 20u;
    return f32(nibble(b + 4u, c % 32u)) * load_f16(b) + load_f16(b + 2u);
}
#endif

#if Q5_0
fn value(row: u32, c: u32) -> f32 {
    let b = row + (c / 32u) * 22u;
    let j = c % 32u;
    let q = nibble(b + 6u, j) | (((load_u32(b + 2u) >> j) & 1u) << 4u);
    return f32(i32(q) - 16) * load_f16(b);
}
#endif

#if Q5_1
fn value(row: u32, c: u32) -> f32 {
    let b = row + (c / 32u) * 24u;
    let j = c % 32u;
    let q = nibble(b + 8u, j) | (((load_u32(b + 4u) >> j) & 1u) << 4u);
    return f32(q) * load_f16(b) + load_f16(b + 2u);
}
#endif

#if Q8_0
fn value(row: u32, c: u32) -> f32 {
    let b = row + (c / 32u) * 34u;
    return load_i8(b + 2u + c % 32u) * load_f16(b);
}
#endif

// K-quants: 256-value super-blocks of eight 32-value sub-blocks u. Q4_K and
// Q5_K: value 32u + l is nibble u % 2 of qs[32 (u / 2) + l], and (Q5_K) bit
// u of qh[l]; w = (d * scale) * q - dmin * min.

#if Q4_K
fn value(row: u32, c: u32) -> f32 {
    let b = row + (c / 256u) * 144u;
    let u = (c % 256u) / 32u;
    let l = c % 32u;
    let sm = scale_min_k4(b + 4u, u);
    let q = (load_u8(b + 16u + 32u * (u / 2u) + l) >> (4u * (u % 2u))) & 15u;
    return load_f16(b) * sm.x * f32(q) - load_f16(b + 2u) * sm.y;
}
#endif

#if Q5_K
fn value(row: u32, c: u32) -> f32 {
    let b = row + (c / 256u) * 176u;
    let u = (c % 256u) / 32u;
    let l = c % 32u;
    let sm = scale_min_k4(b + 4u, u);
    let lo = (load_u8(b + 48u + 32u * (u / 2u) + l) >> (4u * (u % 2u))) & 15u;
    let hi = ((load_u8(b + 16u + l) >> u) & 1u) << 4u;
    return load_f16(b) * sm.x * f32(lo | hi) - load_f16(b + 2u) * sm.y;
}
#endif

#if Q6_K
// 210 bytes: ql: [u8; 128], qh: [u8; 64], scales: [i8; 16], d: f16. In
// half h, value 32k + l has low bits in nibble k / 2 of ql[64h + 32(k % 2)
// + l], high bits in bits 2k..2k+2 of qh[32h + l], scale scales[8h + 2k +
// l / 16]; w = (d * scale) * (q - 32).
fn value(row: u32, c: u32) -> f32 {
    let b = row + (c / 256u) * 210u;
    let h = (c % 256u) / 128u;
    let k = (c % 128u) / 32u;
    let l = c % 32u;
    let lo = (load_u8(b + 64u * h + 32u * (k % 2u) + l) >> (4u * (k / 2u))) & 15u;
    let hi = (load_u8(b + 128u + 32u * h + l) >> (2u * k)) & 3u;
    let scale = load_i8(b + 192u + 8u * h + 2u * k + l / 16u);
    return load_f16(b + 208u) * scale * f32(i32(lo | (hi << 4u)) - 32);
}
#endif

@compute @workgroup_size(256)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let index = (wid.x + wid.y * groups.x) * 256u + lid;
    let t = index / params.cols;
    let c = index % params.cols;
    if (t >= step.n_tokens) {
        return;
    }
    let token = tokens[params.tokens_offset + t];
    let o = params.out_offset + t * params.out_stride + c;
    if (token >= params.vocab) {
        if (params.first_row == 0u) {
            out[o] = 0.0;
        }
        return;
    }
    if (token < params.first_row || token >= params.first_row + params.rows) {
        return;
    }
    let row = params.w_offset + (token - params.first_row) * params.row_bytes;
    out[o] = value(row, c) * params.scale;
}
