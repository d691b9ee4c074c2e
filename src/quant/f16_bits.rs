//! IEEE half → f32 on wasm32, without `half`'s branches.
//!
//! The `half` crate converts with the CPU's instruction where there is one
//! (F16C on x86, FP16 on ARM64) and otherwise with a branchy scalar routine
//! (`f16_to_f32_fallback`: zero, infinity/NaN and subnormal cases), which is
//! all wasm32 gets. The WASM CPU path converts two or three block scales per
//! 32 weights and every key and value of the f16 KV cache, so that routine
//! showed up in its profiles. Here, hand-written:
//!
//! - [`f16_to_f32`]: the exponent re-biased by one multiplication, no
//!   branches; [`widen`] does it on eight halves at a time with SIMD128
//!   (the KV cache);
//! - [`lookup`]: a table of all 65,536 halves (the block scales).
//!
//! All give `half`'s bits for every input (tested here natively, and under
//! wasm in `tests/cpu_simd.rs`). Other targets keep `half`.

/// 2^112: moves a half's exponent (bias 15), placed in an f32's exponent
/// field (bias 127), to its value. Exact for normal and subnormal halves: a
/// subnormal half placed there is an f32 subnormal, and the product of a
/// subnormal and a power of two is exact.
const REBIAS: f32 = f32::from_bits((127 + 112) << 23);

/// `half::f16::from_bits(bits).to_f32()`, bit for bit.
#[inline(always)]
pub fn f16_to_f32(bits: u16) -> f32 {
    let h = u32::from(bits);
    let sign = (h & 0x8000) << 16;
    let magnitude = (h & 0x7fff) << 13;
    let finite = (f32::from_bits(magnitude) * REBIAS).to_bits();
    // Infinity and NaN (exponent 31): f32's exponent 255 and the mantissa
    // kept; a NaN is made quiet, as `half` does.
    let quiet = u32::from(h & 0x03ff != 0) << 22;
    let special = magnitude | 0x7f80_0000 | quiet;
    let body = if h & 0x7c00 == 0x7c00 {
        special
    } else {
        finite
    };
    f32::from_bits(sign | body)
}

/// Every half's f32, indexed by its bits: what ggml does on a CPU without
/// F16C (`ggml_table_f32_f16`). The WASM dot kernels look their block
/// scales up here: even the branchless conversion above took about a third
/// of their time (SmolLM2 in Chromium, 1 thread: with a free stand-in for
/// it, pp64/tg32 went from 64/45 to 98/61 tokens/s). 256 KiB of the
/// module's data.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
static TABLE: [f32; 1 << 16] = table();

const fn table() -> [f32; 1 << 16] {
    let mut table = [0.0; 1 << 16];
    let mut bits = 0;
    while bits < table.len() {
        table[bits] = half::f16::from_bits(bits as u16).to_f32_const();
        bits += 1;
    }
    table
}

/// [`f16_to_f32`] from [`TABLE`].
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
#[inline(always)]
pub fn lookup(bits: u16) -> f32 {
    TABLE[usize::from(bits)]
}

/// `x` rounded to the nearest half (ties to even) and back to f32:
/// `half::f16::from_f32(x).to_f32()` bit for bit, whose scalar routine (all
/// wasm32 has) branches on every case. Here two compares pick the case, and
/// the common one is integer arithmetic: attention rounds every query and
/// every softmax weight through it.
#[inline(always)]
pub fn round_to_f16(x: f32) -> f32 {
    let a = x.abs();
    // 2^-14, the smallest normal half.
    let r = if a < f32::from_bits(0x3880_0000) {
        // Subnormal halves are the multiples of 2^-24, the ulp of 0.5: the
        // sum rounds to one (ties to even) and the difference is exact.
        (a + 0.5) - 0.5
    } else if a < 65520.0 {
        // Keep 10 of f32's 23 mantissa bits, rounded to nearest even; a
        // carry moves into the exponent. 65520 and up round to infinity.
        let bits = a.to_bits();
        f32::from_bits((bits + 0x0fff + ((bits >> 13) & 1)) & !0x1fff)
    } else if a.is_nan() {
        return half::f16::from_f32(x).to_f32();
    } else {
        f32::INFINITY
    };
    r.copysign(x)
}

/// `dst[i] = src[i]` as f32 (`dst.len() == src.len()`).
#[inline]
pub fn widen(src: &[half::f16], dst: &mut [f32]) {
    debug_assert_eq!(src.len(), dst.len());
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        simd::widen(src, dst);
    }
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    {
        use half::slice::HalfFloatSliceExt;
        src.convert_to_f32_slice(dst);
    }
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod simd {
    use core::arch::wasm32::*;

    /// [`super::f16_to_f32`] on four halves, zero-extended into u32 lanes.
    #[inline(always)]
    fn four(h: v128) -> v128 {
        let sign = i32x4_shl(v128_and(h, u32x4_splat(0x8000)), 16);
        let magnitude = i32x4_shl(v128_and(h, u32x4_splat(0x7fff)), 13);
        let finite = f32x4_mul(magnitude, f32x4_splat(super::REBIAS));
        let exponent = u32x4_splat(0x7c00);
        let special_lanes = i32x4_eq(v128_and(h, exponent), exponent);
        let nan_lanes = v128_not(i32x4_eq(v128_and(h, u32x4_splat(0x03ff)), u32x4_splat(0)));
        let quiet = v128_and(nan_lanes, u32x4_splat(1 << 22));
        let special = v128_or(v128_or(magnitude, u32x4_splat(0x7f80_0000)), quiet);
        v128_or(sign, v128_bitselect(special, finite, special_lanes))
    }

    pub(super) fn widen(src: &[half::f16], dst: &mut [f32]) {
        let whole = src.len() / 8 * 8;
        let (src8, src_rest) = src.split_at(whole);
        let (dst8, dst_rest) = dst.split_at_mut(whole);
        for (s, d) in src8.chunks_exact(8).zip(dst8.chunks_exact_mut(8)) {
            // SAFETY: `s` is 8 halves (16 readable bytes) and `d` 8 f32s
            // (32 writable ones); v128 loads and stores have no alignment
            // needs.
            unsafe {
                let h = v128_load(s.as_ptr().cast());
                v128_store(d.as_mut_ptr().cast(), four(u32x4_extend_low_u16x8(h)));
                v128_store(
                    d.as_mut_ptr().add(4).cast(),
                    four(u32x4_extend_high_u16x8(h)),
                );
            }
        }
        for (s, d) in src_rest.iter().zip(dst_rest) {
            *d = super::f16_to_f32(s.to_bits());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_half_converts_to_the_bits_half_gives() {
        for bits in 0..=u16::MAX {
            let want = half::f16::from_bits(bits).to_f32().to_bits();
            assert_eq!(f16_to_f32(bits).to_bits(), want, "half {bits:#06x}");
            assert_eq!(lookup(bits).to_bits(), want, "half {bits:#06x} looked up");
        }
    }
}
