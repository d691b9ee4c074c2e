// llama.cpp's CPU arithmetic in WGSL, for the kernels that reproduce it bit
// for bit (the `ggml_*` kernels; the Rust originals are in
// src/cpu/ggml_numerics.rs and src/quant/). Included with
// `//! include: ggml_numerics`.
//
// WGSL promises less than a CPU does, so these functions pin down what it
// leaves open:
// - `/` and `sqrt` may be off by a few ulps: `div_rn` and `sqrt_rn` correct
//   them to the nearest float with exact fused-multiply-add residuals.
// - A compiler may fuse `a * b + c` into one rounding (WGSL has no `precise`):
//   `unfused` hides a product behind an integer operation on a run-time zero
//   (`Step.zero`) where llama.cpp rounds the product first.
// - `pack2x16float` may round either way and f16 subnormals may be flushed:
//   `f16_bits` and `f16_value` convert with integer operations.
// - There is no f64: `Double` keeps a sum as an unevaluated pair of f32s,
//   which is exact wherever an f64 sum of a few thousand f32s is.
// `fma` must be fused (one rounding), as on every GPU we have checked
// (lavapipe on an FMA CPU, SwiftShader, NVIDIA); tests/gpu_ggml_*.rs compare
// these kernels with the CPU bit for bit.

// `x`, unchanged, but opaque to the compiler (`zero` is 0 at run time).
fn unfused(x: f32, zero: u32) -> f32 {
    return bitcast<f32>(bitcast<u32>(x) ^ zero);
}

// The float next to finite `x` towards +∞ (`up`) or -∞.
fn next_float(x: f32, up: bool) -> f32 {
    let bits = bitcast<u32>(x);
    if (x == 0.0) {
        return select(bitcast<f32>(0x80000001u), bitcast<f32>(1u), up);
    }
    // Away from zero adds one to the magnitude's bits, towards it subtracts.
    let away = (x > 0.0) == up;
    return bitcast<f32>(select(bits - 1u, bits + 1u, away));
}

// a / b rounded to the nearest f32 (for finite, normal operands).
fn div_rn(a: f32, b: f32) -> f32 {
    var q = a / b;
    var r = fma(-q, b, a);
    for (var i = 0; i < 4; i++) {
        if (r == 0.0) {
            break;
        }
        // The exact quotient is q + r / b: try the neighbour on that side.
        let q2 = next_float(q, (r > 0.0) == (b > 0.0));
        let r2 = fma(-q2, b, a);
        if (abs(r2) >= abs(r)) {
            break;
        }
        q = q2;
        r = r2;
    }
    return q;
}

// √x rounded to the nearest f32 (x ≥ 0, finite).
fn sqrt_rn(x: f32) -> f32 {
    var s = sqrt(x);
    var r = fma(-s, s, x);
    for (var i = 0; i < 4; i++) {
        if (r == 0.0) {
            break;
        }
        let s2 = next_float(s, r > 0.0);
        let r2 = fma(-s2, s2, x);
        if (abs(r2) >= abs(r)) {
            break;
        }
        s = s2;
        r = r2;
    }
    return s;
}

// The f16 bits nearest to `x` (ties to even), as x86's F16C converts.
fn f16_bits(x: f32) -> u32 {
    let b = bitcast<u32>(x);
    let sign = (b >> 16u) & 0x8000u;
    let a = b & 0x7fffffffu;
    if (a > 0x7f800000u) {
        return sign | 0x7e00u; // NaN
    }
    if (a >= 0x477ff000u) {
        return sign | 0x7c00u; // 65520 and up round to ∞
    }
    if (a >= 0x38800000u) {
        // Normal f16: rebias the exponent, drop 13 mantissa bits.
        let r = a - 0x38000000u;
        return sign | ((r + 0xfffu + ((r >> 13u) & 1u)) >> 13u);
    }
    // Subnormal f16 (units of 2^-24) or zero.
    let shift = 126u - min(a >> 23u, 126u);
    if (shift > 24u) {
        return sign;
    }
    let full = (a & 0x7fffffu) | 0x800000u;
    var m = full >> shift;
    let rest = full & ((1u << shift) - 1u);
    let half = 1u << (shift - 1u);
    if (rest > half || (rest == half && (m & 1u) == 1u)) {
        m += 1u;
    }
    return sign | m;
}

// The value of f16 bits `h` (the low 16 bits), subnormals included.
fn f16_value(h: u32) -> f32 {
    let sign = select(1.0, -1.0, (h & 0x8000u) != 0u);
    let e = (h >> 10u) & 0x1fu;
    let m = h & 0x3ffu;
    if (e == 0u) {
        return sign * f32(m) * bitcast<f32>(0x33800000u); // m · 2^-24
    }
    if (e == 31u) {
        return bitcast<f32>(((h & 0x8000u) << 16u) | 0x7f800000u | (m << 13u));
    }
    return bitcast<f32>(((h & 0x8000u) << 16u) | ((e + 112u) << 23u) | (m << 13u));
}

// `x` rounded to the nearest f16, as an f32.
fn round_f16(x: f32) -> f32 {
    return f16_value(f16_bits(x));
}

// ggml's AVX-512 `ggml_v_expf` for one lane: 2^n · p(b) with n = round(x /
// ln 2), b = x - n ln 2 in two parts, and a degree-5 polynomial; 0 or ∞ once
// |n| > 192. Finite `x` only (callers skip masked, -∞ entries). Opaque to
// fusing, as llama.cpp adds its result only after rounding it.
fn ggml_expf(x: f32, zero: u32) -> f32 {
    let r = bitcast<f32>(0x4b400000u); // 0x1.8p23: adding it rounds to an integer
    let z = fma(x, bitcast<f32>(0x3fb8aa3bu), r);
    let n = z - r;
    let b = fma(-n, bitcast<f32>(0x35bfbe8eu), fma(-n, bitcast<f32>(0x3f317200u), x));
    let u = b * b;
    let lo = fma(bitcast<f32>(0x3c072010u), b, bitcast<f32>(0x3d2b9f17u));
    let hi = fma(bitcast<f32>(0x3e2aaf33u), b, bitcast<f32>(0x3efffedbu));
    let j = fma(fma(lo, u, hi), u, fma(bitcast<f32>(0x3f7ffff6u), b, 1.0));
    if (abs(n) > 192.0) {
        // ∞ built at run time: WGSL constants must be finite.
        return select(0.0, bitcast<f32>(0x7f800000u | zero), n > 0.0);
    }
    // `_mm512_scalef_ps(j, n)`: j · 2^n rounded once; each factor 2^(n/2) is
    // a normal f32 and the first product is exact.
    let k = i32(n);
    let p1 = bitcast<f32>(u32(k / 2 + 127) << 23u);
    let p2 = bitcast<f32>(u32(k - k / 2 + 127) << 23u);
    return unfused(j * p1 * p2, zero);
}

// ggml's AVX-512 `ggml_v_silu`: x / (1 + e^-x), each step rounded.
fn ggml_silu(x: f32, zero: u32) -> f32 {
    return div_rn(x, 1.0 + ggml_expf(0.0 - x, zero));
}

// GCC's `_mm512_reduce_add_ps`: halves folded 8, 4, then pairs (0+2, 1+3).
// The inputs must not come straight from multiplies (see `unfused`).
fn reduce16(a: array<f32, 16>) -> f32 {
    var t8: array<f32, 8>;
    for (var i = 0u; i < 8u; i++) {
        t8[i] = a[i + 8u] + a[i];
    }
    var t4: array<f32, 4>;
    for (var i = 0u; i < 4u; i++) {
        t4[i] = t8[i + 4u] + t8[i];
    }
    return (t4[0] + t4[2]) + (t4[1] + t4[3]);
}

// An f64 sum kept as hi + lo (|lo| ≤ half an ulp of hi).
struct Double {
    hi: f32,
    lo: f32,
}

// x + v with one f64-like rounding; `v` is passed through `unfused` so a
// product feeding it stays rounded.
fn double_add(x: Double, v: f32, zero: u32) -> Double {
    let b = unfused(v, zero);
    // Knuth's two-sum: s + e == x.hi + b exactly.
    let s = x.hi + b;
    let bb = s - x.hi;
    let e = (x.hi - (s - bb)) + (b - bb);
    let lo = e + x.lo;
    let hi = s + lo;
    return Double(hi, lo - (hi - s));
}

// (f32)(x / n) for a positive f32 `n`, as `(float)(sum / n)` in f64.
fn double_div_to_f32(x: Double, n: f32) -> f32 {
    let q = div_rn(x.hi, n);
    let r = fma(-q, n, x.hi) + x.lo;
    return q + r / n;
}

// (f32)(1 / x), as `(float)(1.0 / sum)` in f64.
fn double_recip_to_f32(x: Double) -> f32 {
    let q = div_rn(1.0, x.hi);
    let r = fma(-q, x.lo, fma(-q, x.hi, 1.0));
    return fma(r, q, q);
}
