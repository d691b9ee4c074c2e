//! choose: F32 F16 BF16 Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 Q4_K Q5_K Q6_K
// Dequantisation for the prefill mat-muls (kernels/matmul.wgsl and
// kernels/fast/matmul.wgsl): `dequant8(row, u, p)` for the weight type the
// kernel chose. Needs the including kernel's `params.cols`, `TILE_K` (32)
// and kernels/lib/ggml_bytes.wgsl.


// ---- Dequantisation: `dequant8(row, u, p)` is values 8p..8p+8 (p in 0..4)
// of unit u (32 values) of the row starting at byte `row`, exactly as ggml's
// dequantize_row_* computes them. Float units are cut at `cols` (zeros past).

fn eight(a: vec4<f32>, b: vec4<f32>) -> array<f32, 8> {
    return array<f32, 8>(a.x, a.y, a.z, a.w, b.x, b.y, b.z, b.w);
}

#if F32
fn dequant8(row: u32, u: u32, p: u32) -> array<f32, 8> {
    let first = u * TILE_K + 8u * p;
    var v = array<f32, 8>();
    for (var i = 0u; i < 8u; i++) {
        if (first + i < params.cols) {
            v[i] = bitcast<f32>(load_u32(row + 4u * (first + i)));
        }
    }
    return v;
}
#endif

#if F16
fn dequant8(row: u32, u: u32, p: u32) -> array<f32, 8> {
    let first = u * TILE_K + 8u * p;
    var v = array<f32, 8>();
    for (var i = 0u; i < 8u; i++) {
        if (first + i < params.cols) {
            v[i] = load_f16(row + 2u * (first + i));
        }
    }
    return v;
}
#endif

#if BF16
fn dequant8(row: u32, u: u32, p: u32) -> array<f32, 8> {
    let first = u * TILE_K + 8u * p;
    var v = array<f32, 8>();
    for (var i = 0u; i < 8u; i++) {
        if (first + i < params.cols) {
            v[i] = bitcast<f32>(load_u16(row + 2u * (first + i)) << 16u);
        }
    }
    return v;
}
#endif

// Legacy blocks of 32: value j (< 16) is the low nibble of qs[j], value
// j + 16 its high nibble, so part p reads qs[8(p % 2)..][..8], nibble p / 2.
// 5-bit kinds take bit j of qh as value j's fifth bit.

// The 8 nibbles of part p from the 16 quant bytes at `qs`.
fn nibbles8(qs: u32, p: u32) -> array<vec4<u32>, 2> {
    let at = qs + 8u * (p % 2u);
    let shift = vec4<u32>(4u * (p / 2u));
    return array<vec4<u32>, 2>(
        (vec4<u32>(bytes4(load_u32(at))) >> shift) & vec4<u32>(15u),
        (vec4<u32>(bytes4(load_u32(at + 4u))) >> shift) & vec4<u32>(15u),
    );
}

// Bits 8p..8p+8 of `qh`, as fifth bits (0 or 16).
fn fifth_bits8(qh: u32, p: u32) -> array<vec4<u32>, 2> {
    let j = 8u * p + vec4<u32>(0u, 1u, 2u, 3u);
    return array<vec4<u32>, 2>(
        ((vec4<u32>(qh) >> j) & vec4<u32>(1u)) << vec4<u32>(4u),
        ((vec4<u32>(qh) >> (j + 4u)) & vec4<u32>(1u)) << vec4<u32>(4u),
    );
}

#if Q4_0
// 18 bytes: d: f16, qs: [u8; 16]. w = (q - 8) * d.
fn dequant8(row: u32, u: u32, p: u32) -> array<f32, 8> {
    let b = row + u * 18u;
    let q = nibbles8(b + 2u, p);
    let d = load_f16(b);
    return eight((vec4<f32>(q[0]) - 8.0) * d, (vec4<f32>(q[1]) - 8.0) * d);
}
#endif

#if Q4_1
// 20 bytes: d: f16, m: f16, qs: [u8; 16]. w = q * d + m.
fn dequant8(row: u32, u: u32, p: u32) -> array<f32, 8> {
    let b = row + u * 20u;
    let q = nibbles8(b + 4u, p);
    let d = load_f16(b);
    let m = load_f16(b + 2u);
    return eight(vec4<f32>(q[0]) * d + m, vec4<f32>(q[1]) * d + m);
}
#endif

#if Q5_0
// 22 bytes: d: f16, qh: u32, qs: [u8; 16]. w = (q - 16) * d.
fn dequant8(row: u32, u: u32, p: u32) -> array<f32, 8> {
    let b = row + u * 22u;
    let h = fifth_bits8(load_u32(b + 2u), p);
    let q = nibbles8(b + 6u, p);
    let d = load_f16(b);
    return eight((vec4<f32>(q[0] | h[0]) - 16.0) * d, (vec4<f32>(q[1] | h[1]) - 16.0) * d);
}
#endif

#if Q5_1
// 24 bytes: d: f16, m: f16, qh: u32, qs: [u8; 16]. w = q * d + m.
fn dequant8(row: u32, u: u32, p: u32) -> array<f32, 8> {
    let b = row + u * 24u;
    let h = fifth_bits8(load_u32(b + 4u), p);
    let q = nibbles8(b + 8u, p);
    let d = load_f16(b);
    let m = load_f16(b + 2u);
    return eight(vec4<f32>(q[0] | h[0]) * d + m, vec4<f32>(q[1] | h[1]) * d + m);
}
#endif

#if Q8_0
// 34 bytes: d: f16, qs: [i8; 32]. w = q * d.
fn dequant8(row: u32, u: u32, p: u32) -> array<f32, 8> {
    let b = row + u * 34u;
    let at = b + 2u + 8u * p;
    let d = load_f16(b);
    return eight(vec4<f32>(sbytes4(load_u32(at))) * d, vec4<f32>(sbytes4(load_u32(at + 4u))) * d);
}
#endif

// K-quants: 256-value super-blocks; unit u is sub-block j = u % 8 of
// super-block u / 8. Q4_K/Q5_K nibbles come in chunks of 64 values: byte
// qs[32c + l] holds value 64c + l (low nibble) and 64c + 32 + l (high
// nibble), so sub-block j reads the 32 bytes of chunk j / 2, nibble j % 2.

#if Q4_K
// 144 bytes: d: f16, dmin: f16, scales: [u8; 12], qs: [u8; 128].
// w = (d * scale) * q - (dmin * min).
fn dequant8(row: u32, u: u32, p: u32) -> array<f32, 8> {
    let b = row + (u / 8u) * 144u;
    let j = u % 8u;
    let sm = scale_min_k4(b + 4u, j);
    let at = b + 16u + 32u * (j / 2u) + 8u * p;
    let shift = vec4<u32>(4u * (j % 2u));
    let lo = (vec4<u32>(bytes4(load_u32(at))) >> shift) & vec4<u32>(15u);
    let hi = (vec4<u32>(bytes4(load_u32(at + 4u))) >> shift) & vec4<u32>(15u);
    let d = load_f16(b) * sm.x;
    let m = load_f16(b + 2u) * sm.y;
    return eight(d * vec4<f32>(lo) - m, d * vec4<f32>(hi) - m);
}
#endif

#if Q5_K
// 176 bytes: d: f16, dmin: f16, scales: [u8; 12], qh: [u8; 32],
// qs: [u8; 128]. Value 32j + l takes bit j of qh[l] as its fifth bit.
fn dequant8(row: u32, u: u32, p: u32) -> array<f32, 8> {
    let b = row + (u / 8u) * 176u;
    let j = u % 8u;
    let sm = scale_min_k4(b + 4u, j);
    let at = b + 48u + 32u * (j / 2u) + 8u * p;
    let shift = vec4<u32>(4u * (j % 2u));
    let qh = b + 16u + 8u * p;
    let five = vec4<u32>(j);
    let lo = ((vec4<u32>(bytes4(load_u32(at))) >> shift) & vec4<u32>(15u))
        | (((vec4<u32>(bytes4(load_u32(qh))) >> five) & vec4<u32>(1u)) << vec4<u32>(4u));
    let hi = ((vec4<u32>(bytes4(load_u32(at + 4u))) >> shift) & vec4<u32>(15u))
        | (((vec4<u32>(bytes4(load_u32(qh + 4u))) >> five) & vec4<u32>(1u)) << vec4<u32>(4u));
    let d = load_f16(b) * sm.x;
    let m = load_f16(b + 2u) * sm.y;
    return eight(d * vec4<f32>(lo) - m, d * vec4<f32>(hi) - m);
}
#endif

#if Q6_K
// 210 bytes: ql: [u8; 128], qh: [u8; 64], scales: [i8; 16], d: f16.
// Two halves of 128 values; in half h, value 32k + l (k in 0..4) has low
// bits in nibble k / 2 of ql[64h + 32(k % 2) + l], high bits in bits
// 2k..2k+2 of qh[32h + l], scale scales[8h + 2k + l / 16].
// w = (d * scale) * (q - 32).
fn dequant8(row: u32, u: u32, p: u32) -> array<f32, 8> {
    let b = row + (u / 8u) * 210u;
    let h = (u % 8u) / 4u;
    let k = u % 4u;
    let ql = b + 64u * h + 32u * (k % 2u) + 8u * p;
    let qh = b + 128u + 32u * h + 8u * p;
    let lo_shift = vec4<u32>(4u * (k / 2u));
    let hi_shift = vec4<u32>(2u * k);
    let q0 = ((vec4<u32>(bytes4(load_u32(ql))) >> lo_shift) & vec4<u32>(15u))
        | (((vec4<u32>(bytes4(load_u32(qh))) >> hi_shift) & vec4<u32>(3u)) << vec4<u32>(4u));
    let q1 = ((vec4<u32>(bytes4(load_u32(ql + 4u))) >> lo_shift) & vec4<u32>(15u))
        | (((vec4<u32>(bytes4(load_u32(qh + 4u))) >> hi_shift) & vec4<u32>(3u)) << vec4<u32>(4u));
    // Values 8p..8p+8 lie in one half of the unit: scale l / 16 = p / 2.
    let d = load_f16(b + 208u) * load_i8(b + 192u + 8u * h + 2u * k + p / 2u);
    return eight(d * (vec4<f32>(q0) - 32.0), d * (vec4<f32>(q1) - 32.0));
}
#endif
