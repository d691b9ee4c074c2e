// llama.cpp's CPU arithmetic in WGSL, for the kernels that reproduce it bit
// for bit (the `ggml_*` kernels; the Rust originals are in
// src/cpu/ggml_numerics.rs and src/quant/). Included with
// `//! include: ggml_numerics`.
//
// WGSL promises less than a CPU does, and drivers use the latitude (found
// on lavapipe by tests/gpu_ggml_numerics.rs): `fma` may round twice,
// `(a + b) - b` may be folded to `a`, `a * b + c` may be fused. So:
// - `fma_rn` is a fused multiply-add in integer arithmetic: one rounding on
//   every device.
// - `/` and `sqrt` may be off by a few ulps: `div_rn` and `sqrt_rn` correct
//   them to the nearest float with exact `fma_rn` residuals.
// - `unfused(x, zero)` hides a value behind an integer operation on a
//   run-time zero (`Step.zero`): the compiler can neither fuse the product
//   that made it into a following add nor simplify algebra across it.
// - `pack2x16float` may round either way and f16 subnormals may be flushed:
//   `f16_bits` and `f16_value` convert with integer operations.
// - There is no f64: `Double` keeps a sum as an unevaluated pair of f32s
//   (about 48 bits), and its quotients are rounded to f32 from that, so a
//   result within about 2^-48 of a rounding midpoint could round the other
//   way than through a real f64 (not seen on the tests' data).
// Results that are subnormal f32s are flushed to zero by `fma_rn`; llama.cpp
// keeps them, which only matters below 1e-38.

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

// Whether `x` is ±∞ or NaN, by its bits (WGSL may assume finite floats).
fn is_special(x: f32) -> bool {
    return (bitcast<u32>(x) & 0x7f800000u) == 0x7f800000u;
}

// 64-bit unsigned integers as two words, for `fma_rn`.
struct U64 {
    hi: u32,
    lo: u32,
}

// x >> n, with the bits shifted out or-ed into bit 0 (the sticky bit).
fn shr_sticky(x: U64, n: u32) -> U64 {
    if (n == 0u) {
        return x;
    }
    if (n >= 64u) {
        return U64(0u, select(0u, 1u, (x.hi | x.lo) != 0u));
    }
    if (n >= 32u) {
        let k = n - 32u;
        let lost = x.lo | select(0u, x.hi << (32u - k), k > 0u);
        return U64(0u, (x.hi >> k) | select(0u, 1u, lost != 0u));
    }
    let lost = x.lo << (32u - n);
    let lo = (x.lo >> n) | (x.hi << (32u - n));
    return U64(x.hi >> n, lo | select(0u, 1u, lost != 0u));
}

fn shl64(x: U64, n: u32) -> U64 {
    if (n == 0u) {
        return x;
    }
    if (n >= 32u) {
        return U64(x.lo << (n - 32u), 0u);
    }
    return U64((x.hi << n) | (x.lo >> (32u - n)), x.lo << n);
}

fn add64(x: U64, y: U64) -> U64 {
    let lo = x.lo + y.lo;
    return U64(x.hi + y.hi + select(0u, 1u, lo < x.lo), lo);
}

// x - y for x ≥ y.
fn sub64(x: U64, y: U64) -> U64 {
    return U64(x.hi - y.hi - select(0u, 1u, x.lo < y.lo), x.lo - y.lo);
}

fn ge64(x: U64, y: U64) -> bool {
    return x.hi > y.hi || (x.hi == y.hi && x.lo >= y.lo);
}

// (significand with its leading bit, exponent) of finite `x`:
// x = significand · 2^exponent.
fn split_float(x: f32) -> vec2<i32> {
    let bits = bitcast<u32>(x);
    let e = i32((bits >> 23u) & 0xffu);
    let m = bits & 0x7fffffu;
    if (e == 0) {
        return vec2<i32>(i32(m), 1 - 150);
    }
    return vec2<i32>(i32(m | 0x800000u), e - 150);
}

// Set by the runtime when the device's `fma` rounds once (`gpu::probe`).
override NATIVE_FMA: bool = false;

// a · b + c rounded once to the nearest f32 (ties to even), as x86's FMA:
// the device's `fma` where it is fused, else in integer arithmetic.
// Non-finite operands take the device's own `fma`.
fn fma_rn(a: f32, b: f32, c: f32) -> f32 {
    if (NATIVE_FMA || is_special(a) || is_special(b) || is_special(c)) {
        return fma(a, b, c);
    }
    if (a == 0.0 || b == 0.0) {
        return c;
    }
    if (c == 0.0) {
        return a * b;
    }
    let sa = split_float(a);
    let sb = split_float(b);
    let sc = split_float(c);
    // The 48-bit product of the significands from 16-bit halves.
    let ma = u32(sa.x);
    let mb = u32(sb.x);
    let al = ma & 0xffffu;
    let ah = ma >> 16u;
    let bl = mb & 0xffffu;
    let bh = mb >> 16u;
    let ll = al * bl;
    let mid = al * bh + ah * bl;
    let lo = ll + (mid << 16u);
    let hi = ah * bh + (mid >> 16u) + select(0u, 1u, lo < ll);
    // Both terms with their top bit at 61 or below: exact sums, no overflow.
    var p = shl64(U64(hi, lo), 14u);
    var ep = sa.y + sb.y - 14;
    var q = U64(u32(sc.x) << 6u, 0u);
    var eq = sc.y - 38;
    var e = ep;
    if (ep >= eq) {
        q = shr_sticky(q, u32(min(ep - eq, 64)));
    } else {
        p = shr_sticky(p, u32(min(eq - ep, 64)));
        e = eq;
    }
    let p_negative = (bitcast<u32>(a) ^ bitcast<u32>(b)) >> 31u;
    let q_negative = bitcast<u32>(c) >> 31u;
    var n: U64;
    var negative = p_negative;
    if (p_negative == q_negative) {
        n = add64(p, q);
    } else if (ge64(p, q)) {
        n = sub64(p, q);
    } else {
        n = sub64(q, p);
        negative = q_negative;
    }
    if ((n.hi | n.lo) == 0u) {
        return 0.0;
    }
    // Normalise the leading bit to bit 63, keep 24 bits, round to even.
    var shift = countLeadingZeros(n.hi);
    if (n.hi == 0u) {
        shift = 32u + countLeadingZeros(n.lo);
    }
    n = shl64(n, shift);
    var m = n.hi >> 8u;
    var biased = e - i32(shift) + 190;
    let guard = (n.hi >> 7u) & 1u;
    let rest = (n.hi & 0x7fu) | n.lo;
    if (guard == 1u && (rest != 0u || (m & 1u) == 1u)) {
        m += 1u;
        if (m == 0x1000000u) {
            m = m >> 1u;
            biased += 1;
        }
    }
    let sign = negative << 31u;
    if (biased >= 255) {
        return bitcast<f32>(sign | 0x7f800000u);
    }
    if (biased <= 0) {
        return bitcast<f32>(sign);
    }
    return bitcast<f32>(sign | (u32(biased) << 23u) | (m & 0x7fffffu));
}

// a / b rounded to the nearest f32 (normal operands; a quotient of 0 or ∞,
// or a special operand, is returned as `/` gives it).
fn div_rn(a: f32, b: f32) -> f32 {
    var q = a / b;
    // Drivers may divide as a · (1 / b), and 1 / b is subnormal for
    // |b| ≥ 2^126, which NVIDIA's flushes to 0 (SiLU of -88.7 came out -0):
    // the first guess then divides operands scaled by 2^-4, exactly.
    if (abs(b) >= bitcast<f32>(0x7e800000u)) {
        q = (a * 0.0625) / (b * 0.0625);
    }
    if (q == 0.0 || is_special(q) || is_special(a) || is_special(b)) {
        return q;
    }
    var r = fma_rn(-q, b, a);
    for (var i = 0; i < 4; i++) {
        if (r == 0.0) {
            break;
        }
        // The exact quotient is q + r / b: try the neighbour on that side.
        let q2 = next_float(q, (r > 0.0) == (b > 0.0));
        let r2 = fma_rn(-q2, b, a);
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
    var r = fma_rn(-s, s, x);
    for (var i = 0; i < 4; i++) {
        if (r == 0.0) {
            break;
        }
        let s2 = next_float(s, r > 0.0);
        let r2 = fma_rn(-s2, s2, x);
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
    let z = fma_rn(x, bitcast<f32>(0x3fb8aa3bu), r);
    let n = unfused(z - r, zero);
    let b = fma_rn(-n, bitcast<f32>(0x35bfbe8eu), fma_rn(-n, bitcast<f32>(0x3f317200u), x));
    let u = b * b;
    let lo = fma_rn(bitcast<f32>(0x3c072010u), b, bitcast<f32>(0x3d2b9f17u));
    let hi = fma_rn(bitcast<f32>(0x3e2aaf33u), b, bitcast<f32>(0x3efffedbu));
    let j = fma_rn(fma_rn(lo, u, hi), u, fma_rn(bitcast<f32>(0x3f7ffff6u), b, 1.0));
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
    // Every step is opaque: a compiler may otherwise fold `(a + b) - a`.
    let s = unfused(x.hi + b, zero);
    let bb = unfused(s - x.hi, zero);
    let e = (x.hi - unfused(s - bb, zero)) + (b - bb);
    let lo = unfused(e + x.lo, zero);
    let hi = unfused(s + lo, zero);
    return Double(hi, lo - unfused(hi - s, zero));
}

// (f32)(x / n) for a positive f32 `n`, as `(float)(sum / n)` in f64.
fn double_div_to_f32(x: Double, n: f32) -> f32 {
    let q = div_rn(x.hi, n);
    let r = fma_rn(-q, n, x.hi) + x.lo;
    return q + r / n;
}

// (f32)(1 / x), as `(float)(1.0 / sum)` in f64.
fn double_recip_to_f32(x: Double) -> f32 {
    let q = div_rn(1.0, x.hi);
    let r = fma_rn(-q, x.lo, fma_rn(-q, x.hi, 1.0));
    return fma_rn(r, q, q);
}
