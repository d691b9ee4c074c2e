//! choose: F32 F16 BF16 Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 Q4_K Q5_K Q6_K
//! flags: SUBGROUPS
//! include: ggml_bytes ggml_numerics
// Mat-vec for decode: y[r] = sum_c W[r, c] * x[c].
//
// W is one tensor stored exactly as in the GGUF file: `rows` rows of
// `row_bytes` bytes each, back to back, in the tensor type chosen above. The
// bytes are read from an array<u32> with small loaders and decoded here, so
// every type shares one upload path. Block starts are only 2-byte aligned
// (legacy blocks are 18/20/22/24/34 bytes, Q6_K's 210), so loaders take any
// even byte offset. f16 is read with unpack2x16float: no `shader-f16` needed.
//
// Work split: a row is cut into units of 32 values (a legacy block, or one
// 32-value sub-block of a 256-value super-block; 8 values for the float
// types). A workgroup takes ROWS rows with TPR threads each; thread t of a
// row takes units t, t + TPR, ... and accumulates in f32. The row's partial
// sums are added with subgroupAdd where the adapter has subgroups, and with a
// shared-memory tree otherwise. (No `enable subgroups;` here: naga rejects
// it, so the runtime adds it for browsers, see GpuContext.)

struct Params {
    rows: u32,      // rows in this dispatch
    cols: u32,      // values per row (a whole number of blocks)
    row_bytes: u32, // bytes per row
    w_offset: u32,  // byte offset of row 0 in `weights` (even)
    x_offset: u32,  // index of x[0] in `x`
    y_offset: u32,  // index of y[0] (this dispatch's row 0) in `y`
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<storage, read> weights: array<u32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

const ROWS: u32 = 4u; // rows per workgroup
const TPR: u32 = 32u; // threads per row (a power of two)
const WG: u32 = 128u; // ROWS * TPR, the workgroup size

// Loaders: little-endian values at a byte offset into `weights`
// (kernels/lib/ggml_bytes.wgsl).

fn x4(i: u32) -> vec4<f32> {
    return vec4<f32>(x[i], x[i + 1u], x[i + 2u], x[i + 3u]);
}

fn sum4(v: vec4<f32>) -> f32 {
    return v.x + v.y + v.z + v.w;
}


// ---- One unit per type: the dot of 32 (8 for floats) values of the row
// starting at byte `row` with x[xi..]; `u` is the unit's index in the row.

#if F32
const UNIT: u32 = 8u;
fn unit_dot(row: u32, u: u32, xi: u32) -> f32 {
    let first = u * UNIT;
    var s = 0.0;
    for (var j = 0u; j < min(UNIT, params.cols - first); j++) {
        s += bitcast<f32>(load_u32(row + 4u * (first + j))) * x[xi + j];
    }
    return s;
}
#endif

#if F16
const UNIT: u32 = 8u;
fn unit_dot(row: u32, u: u32, xi: u32) -> f32 {
    let first = u * UNIT;
    var s = 0.0;
    for (var j = 0u; j < min(UNIT, params.cols - first); j++) {
        s += load_f16(row + 2u * (first + j)) * x[xi + j];
    }
    return s;
}
#endif

#if BF16
const UNIT: u32 = 8u;
fn unit_dot(row: u32, u: u32, xi: u32) -> f32 {
    let first = u * UNIT;
    var s = 0.0;
    for (var j = 0u; j < min(UNIT, params.cols - first); j++) {
        s += bitcast<f32>(load_u16(row + 2u * (first + j)) << 16u) * x[xi + j];
    }
    return s;
}
#endif

// Legacy blocks of 32: value j (< 16) is the low nibble of qs[j], value
// j + 16 its high nibble; 5-bit kinds take bit j of qh as the fifth bit.

#if Q4_0
const UNIT: u32 = 32u;
// 18 bytes: d: f16, qs: [u8; 16]. w = (q - 8) * d.
fn unit_dot(row: u32, u: u32, xi: u32) -> f32 {
    let b = row + u * 18u;
    var s = 0.0;
    for (var k = 0u; k < 4u; k++) {
        let q = vec4<u32>(bytes4(load_u32(b + 2u + 4u * k)));
        s += dot(vec4<f32>(q & vec4<u32>(15u)) - 8.0, x4(xi + 4u * k));
        s += dot(vec4<f32>(q >> vec4<u32>(4u)) - 8.0, x4(xi + 16u + 4u * k));
    }
    return load_f16(b) * s;
}
#endif

#if Q4_1
const UNIT: u32 = 32u;
// 20 bytes: d: f16, m: f16, qs: [u8; 16]. w = q * d + m.
fn unit_dot(row: u32, u: u32, xi: u32) -> f32 {
    let b = row + u * 20u;
    var sq = 0.0;
    var sx = 0.0;
    for (var k = 0u; k < 4u; k++) {
        let q = vec4<u32>(bytes4(load_u32(b + 4u + 4u * k)));
        let lo = x4(xi + 4u * k);
        let hi = x4(xi + 16u + 4u * k);
        sq += dot(vec4<f32>(q & vec4<u32>(15u)), lo) + dot(vec4<f32>(q >> vec4<u32>(4u)), hi);
        sx += sum4(lo + hi);
    }
    return load_f16(b) * sq + load_f16(b + 2u) * sx;
}
#endif

#if Q5_0
const UNIT: u32 = 32u;
// 22 bytes: d: f16, qh: u32, qs: [u8; 16]. w = (q - 16) * d.
fn unit_dot(row: u32, u: u32, xi: u32) -> f32 {
    let b = row + u * 22u;
    let qh = vec4<u32>(load_u32(b + 2u));
    var s = 0.0;
    for (var k = 0u; k < 4u; k++) {
        let q = vec4<u32>(bytes4(load_u32(b + 6u + 4u * k)));
        let j = 4u * k + vec4<u32>(0u, 1u, 2u, 3u);
        let h_lo = ((qh >> j) & vec4<u32>(1u)) << vec4<u32>(4u);
        let h_hi = ((qh >> (j + 16u)) & vec4<u32>(1u)) << vec4<u32>(4u);
        s += dot(vec4<f32>((q & vec4<u32>(15u)) | h_lo) - 16.0, x4(xi + 4u * k));
        s += dot(vec4<f32>((q >> vec4<u32>(4u)) | h_hi) - 16.0, x4(xi + 16u + 4u * k));
    }
    return load_f16(b) * s;
}
#endif

#if Q5_1
const UNIT: u32 = 32u;
// 24 bytes: d: f16, m: f16, qh: u32, qs: [u8; 16]. w = q * d + m.
fn unit_dot(row: u32, u: u32, xi: u32) -> f32 {
    let b = row + u * 24u;
    let qh = vec4<u32>(load_u32(b + 4u));
    var sq = 0.0;
    var sx = 0.0;
    for (var k = 0u; k < 4u; k++) {
        let q = vec4<u32>(bytes4(load_u32(b + 8u + 4u * k)));
        let j = 4u * k + vec4<u32>(0u, 1u, 2u, 3u);
        let h_lo = ((qh >> j) & vec4<u32>(1u)) << vec4<u32>(4u);
        let h_hi = ((qh >> (j + 16u)) & vec4<u32>(1u)) << vec4<u32>(4u);
        let lo = x4(xi + 4u * k);
        let hi = x4(xi + 16u + 4u * k);
        sq += dot(vec4<f32>((q & vec4<u32>(15u)) | h_lo), lo);
        sq += dot(vec4<f32>((q >> vec4<u32>(4u)) | h_hi), hi);
        sx += sum4(lo + hi);
    }
    return load_f16(b) * sq + load_f16(b + 2u) * sx;
}
#endif

#if Q8_0
const UNIT: u32 = 32u;
// 34 bytes: d: f16, qs: [i8; 32]. w = q * d.
fn unit_dot(row: u32, u: u32, xi: u32) -> f32 {
    let b = row + u * 34u;
    var s = 0.0;
    for (var k = 0u; k < 8u; k++) {
        s += dot(vec4<f32>(sbytes4(load_u32(b + 2u + 4u * k))), x4(xi + 4u * k));
    }
    return load_f16(b) * s;
}
#endif

// K-quants: 256-value super-blocks; unit u is sub-block u % 8 of super-block
// u / 8. Q4_K/Q5_K nibbles come in chunks of 64 values: byte qs[32c + l]
// holds value 64c + l (low nibble) and 64c + 32 + l (high nibble), so
// sub-block j reads the 32 bytes of chunk j / 2, nibble j % 2.

#if Q4_K
const UNIT: u32 = 32u;
// 144 bytes: d: f16, dmin: f16, scales: [u8; 12], qs: [u8; 128].
// w = d * scale * q - dmin * min.
fn unit_dot(row: u32, u: u32, xi: u32) -> f32 {
    let b = row + (u / 8u) * 144u;
    let j = u % 8u;
    let sm = scale_min_k4(b + 4u, j);
    let qs = b + 16u + 32u * (j / 2u);
    let shift = vec4<u32>(4u * (j % 2u));
    var sq = 0.0;
    var sx = 0.0;
    for (var k = 0u; k < 8u; k++) {
        let q = (vec4<u32>(bytes4(load_u32(qs + 4u * k))) >> shift) & vec4<u32>(15u);
        let v = x4(xi + 4u * k);
        sq += dot(vec4<f32>(q), v);
        sx += sum4(v);
    }
    return load_f16(b) * sm.x * sq - load_f16(b + 2u) * sm.y * sx;
}
#endif

#if Q5_K
const UNIT: u32 = 32u;
// 176 bytes: d: f16, dmin: f16, scales: [u8; 12], qh: [u8; 32],
// qs: [u8; 128]. Value 32j + l takes bit j of qh[l] as its fifth bit.
fn unit_dot(row: u32, u: u32, xi: u32) -> f32 {
    let b = row + (u / 8u) * 176u;
    let j = u % 8u;
    let sm = scale_min_k4(b + 4u, j);
    let qs = b + 48u + 32u * (j / 2u);
    let shift = vec4<u32>(4u * (j % 2u));
    var sq = 0.0;
    var sx = 0.0;
    for (var k = 0u; k < 8u; k++) {
        let lo = (vec4<u32>(bytes4(load_u32(qs + 4u * k))) >> shift) & vec4<u32>(15u);
        let hi = ((vec4<u32>(bytes4(load_u32(b + 16u + 4u * k))) >> vec4<u32>(j)) & vec4<u32>(1u)) << vec4<u32>(4u);
        let v = x4(xi + 4u * k);
        sq += dot(vec4<f32>(lo | hi), v);
        sx += sum4(v);
    }
    return load_f16(b) * sm.x * sq - load_f16(b + 2u) * sm.y * sx;
}
#endif

#if Q6_K
const UNIT: u32 = 32u;
// 210 bytes: ql: [u8; 128], qh: [u8; 64], scales: [i8; 16], d: f16.
// Two halves of 128 values; in half h, value 32k + l (k in 0..4) has low
// bits in nibble k / 2 of ql[64h + 32(k % 2) + l], high bits in bits
// 2k..2k+2 of qh[32h + l], scale scales[8h + 2k + l / 16].
// w = d * scale * (q - 32).
fn unit_dot(row: u32, u: u32, xi: u32) -> f32 {
    let b = row + (u / 8u) * 210u;
    let h = (u % 8u) / 4u;
    let k = u % 4u;
    let ql = b + 64u * h + 32u * (k % 2u);
    let qh = b + 128u + 32u * h;
    let lo_shift = vec4<u32>(4u * (k / 2u));
    let hi_shift = vec4<u32>(2u * k);
    var s = vec2<f32>(0.0);
    for (var w = 0u; w < 8u; w++) {
        let lo = (vec4<u32>(bytes4(load_u32(ql + 4u * w))) >> lo_shift) & vec4<u32>(15u);
        let hi = (vec4<u32>(bytes4(load_u32(qh + 4u * w))) >> hi_shift) & vec4<u32>(3u);
        let p = dot(vec4<f32>(lo | (hi << vec4<u32>(4u))) - 32.0, x4(xi + 4u * w));
        // Values l < 16 (w < 4) have the first of the unit's two scales.
        s[w / 4u] += p;
    }
    let scales = b + 192u + 8u * h + 2u * k;
    return load_f16(b + 208u) * (load_i8(scales) * s.x + load_i8(scales + 1u) * s.y);
}
#endif

// ---- The kernel.

#if SUBGROUPS
// One slot per (subgroup, row); enough for subgroups as small as 1.
var<workgroup> partial: array<f32, WG * ROWS>;
#else
var<workgroup> partial: array<f32, WG>;
#endif

@compute @workgroup_size(128)
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
    let first_row = (wid.x + wid.y * groups.x) * ROWS;
    // Uniform across the workgroup, so returning keeps barriers uniform.
    if (first_row >= params.rows) {
        return;
    }
    let r = lid / TPR;
    let t = lid % TPR;
    let row = first_row + r;

    var sum = 0.0;
    if (row < params.rows) {
        let row_start = params.w_offset + row * params.row_bytes;
        let units = (params.cols + UNIT - 1u) / UNIT;
        for (var u = t; u < units; u += TPR) {
            sum += unit_dot(row_start, u, params.x_offset + u * UNIT);
        }
    }

#if SUBGROUPS
    // A subgroup may hold part of a row (size 8) or several rows (size 64),
    // so each row's share is added separately. Subgroups tile a 1-D
    // workgroup in index order.
    let sg = lid / sg_size;
    for (var i = 0u; i < ROWS; i++) {
        let part = subgroupAdd(select(0.0, sum, r == i));
        if (sg_lane == 0u) {
            partial[sg * ROWS + i] = part;
        }
    }
    workgroupBarrier();
    var total = 0.0;
    for (var s = 0u; s < WG / sg_size; s++) {
        total += partial[s * ROWS + r];
    }
#else
    partial[lid] = sum;
    workgroupBarrier();
    for (var stride = TPR / 2u; stride > 0u; stride >>= 1u) {
        if (t < stride) {
            partial[lid] += partial[lid + stride];
        }
        workgroupBarrier();
    }
    let total = partial[lid];
#endif

    if (t == 0u && row < params.rows) {
        y[params.y_offset + row] = total;
    }
}
