//! llama.cpp's CPU arithmetic where it is not plain f32: its exp polynomial,
//! its f16 dot-product orders and its softmax.
//!
//! llama.cpp is the ground truth the CPU decoder is tested against (its
//! logits, to 0.1, and its greedy text). Rounding differences of one ulp,
//! once amplified by 8-bit activation quantisation and some thirty layers,
//! move logits by up to about one unit, so the decoder repeats the
//! arithmetic of an x86 AVX-512 build of ggml (what made the fixtures)
//! operation for operation:
//!
//! - [`expf`]: `ggml_v_expf`, the polynomial behind SiLU and the softmax;
//! - [`dot_f16`]: attention's f16 dot products, in the lane and reduction
//!   order of `ggml_vec_dot_f16` (one token) or of llamafile's tinyBLAS
//!   (a batch: llama.cpp routes f16 matrix products there);
//! - [`softmax`]: `ggml_vec_soft_max_f32`, 16 lanes at a time, summed in f64.
//!
//! Every function takes `FUSED`: whether its fused multiply-adds are the FMA
//! instruction (x86 with FMA, aarch64) or emulated through f64 (wasm32, the
//! browser's CPU fallback, has no FMA; the f64 sum can round twice, rarely).
//! Callers pick it once per call through `fused_dispatch!`, so that on x86
//! `mul_add` compiles to the FMA instruction, not a libm call.

/// Whether [`fma`] is one instruction without run-time detection:
/// `f32::mul_add` on aarch64 or with `+fma`, `f32x4.relaxed_madd` on wasm32
/// with relaxed SIMD (the CPU's FMA where it has one, as for the quantised
/// kernels: see `quant/wasm_simd.rs`).
pub const NATIVE_FMA: bool = cfg!(any(
    target_arch = "aarch64",
    target_feature = "fma",
    target_feature = "relaxed-simd"
));

/// Whether this CPU can run the `FUSED = true` code paths as native FMA.
#[inline]
pub fn has_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        NATIVE_FMA
    }
}

/// Calls `$generic::<true>(args)` inside a function compiled for AVX2+FMA
/// when the CPU has them, else `$generic::<NATIVE_FMA>(args)`.
macro_rules! fused_dispatch {
    ($(#[$meta:meta])* fn $name:ident($($arg:ident: $ty:ty),*) $(-> $ret:ty)? => $generic:ident) => {
        $(#[$meta])*
        pub fn $name($($arg: $ty),*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2,fma")]
                #[allow(clippy::too_many_arguments)]
                fn fused($($arg: $ty),*) $(-> $ret)? {
                    $generic::<true>($($arg),*)
                }
                if $crate::cpu::ggml_numerics::has_fma() {
                    // SAFETY: the CPU has AVX2 and FMA (checked just now).
                    return unsafe { fused($($arg),*) };
                }
            }
            $generic::<{ $crate::cpu::ggml_numerics::NATIVE_FMA }>($($arg),*)
        }
    };
}
pub(crate) use fused_dispatch;

/// `a * b + c` rounded once: natively when `FUSED`, else through f64 (see
/// `quant`'s `fma`).
#[inline(always)]
pub fn fma<const FUSED: bool>(a: f32, b: f32, c: f32) -> f32 {
    #[cfg(all(target_arch = "wasm32", target_feature = "relaxed-simd"))]
    if FUSED {
        // `mul_add` would be libm's software `fmaf` here.
        return relaxed::fma(a, b, c);
    }
    crate::quant::fma::<FUSED>(a, b, c)
}

/// `acc[i] = fma(x[i], p, acc[i])` for every `i`.
#[inline(always)]
pub fn fma_row<const FUSED: bool>(acc: &mut [f32], x: &[f32], p: f32) {
    #[cfg(all(target_arch = "wasm32", target_feature = "relaxed-simd"))]
    if FUSED {
        return relaxed::fma_row(acc, x, p);
    }
    acc.iter_mut()
        .zip(x)
        .for_each(|(a, &x)| *a = fma::<FUSED>(x, p, *a));
}

/// The fused multiply-adds of wasm32 builds with relaxed SIMD, four lanes
/// at a time where the scalar code has independent lanes: each lane's
/// arithmetic is the scalar code's.
#[cfg(all(target_arch = "wasm32", target_feature = "relaxed-simd"))]
mod relaxed {
    use core::arch::wasm32::*;

    #[inline(always)]
    pub fn fma(a: f32, b: f32, c: f32) -> f32 {
        f32x4_extract_lane::<0>(f32x4_relaxed_madd(
            f32x4_splat(a),
            f32x4_splat(b),
            f32x4_splat(c),
        ))
    }

    #[inline(always)]
    fn load(v: &[f32]) -> v128 {
        assert!(v.len() >= 4);
        // SAFETY: four readable f32s (checked); no alignment needed.
        unsafe { v128_load(v.as_ptr().cast()) }
    }

    #[inline(always)]
    fn store(v: &mut [f32], x: v128) {
        assert!(v.len() >= 4);
        // SAFETY: four writable f32s (checked); no alignment needed.
        unsafe { v128_store(v.as_mut_ptr().cast(), x) }
    }

    pub fn fma_row(acc: &mut [f32], x: &[f32], p: f32) {
        let n = acc.len().min(x.len());
        let (acc, x) = (&mut acc[..n], &x[..n]);
        let pv = f32x4_splat(p);
        let mut a4 = acc.chunks_exact_mut(4);
        let mut x4 = x.chunks_exact(4);
        for (a, x) in (&mut a4).zip(&mut x4) {
            store(a, f32x4_relaxed_madd(load(x), pv, load(a)));
        }
        for (a, &x) in a4.into_remainder().iter_mut().zip(x4.remainder()) {
            *a = fma(x, p, *a);
        }
    }

    /// `super::slot_sums::<true, N>`.
    #[inline(always)]
    pub fn slot_sums<const N: usize>(x: &[f32], y: &[f32]) -> [f32; N] {
        let n = x.len().min(y.len());
        let (xs, ys) = (x[..n].chunks_exact(N), y[..n].chunks_exact(N));
        let (x_tail, y_tail) = (xs.remainder(), ys.remainder());
        let mut acc = [0.0f32; N];
        for (a, b) in xs.zip(ys) {
            for i in (0..N).step_by(4) {
                let sum = f32x4_relaxed_madd(load(&a[i..]), load(&b[i..]), load(&acc[i..]));
                store(&mut acc[i..], sum);
            }
        }
        for (i, (&a, &b)) in x_tail.iter().zip(y_tail).enumerate() {
            acc[i] = fma(a, b, acc[i]);
        }
        acc
    }
}

/// `x` rounded to the nearest f16 (as ggml's f32 → f16 conversions).
pub(crate) use crate::quant::round_f16;

/// One lane of ggml's AVX-512 `ggml_v_expf`: `2^n · p(b)` with
/// `n = round(x / ln 2)`, `b = x - n ln 2` in two parts, and a degree-5
/// polynomial `p`; 0 or ∞ once `|n| > 192`.
#[inline(always)]
pub fn expf<const FUSED: bool>(x: f32) -> f32 {
    let c = f32::from_bits;
    let r = c(0x4b40_0000); // 0x1.8p23: adding it rounds to an integer
    let z = fma::<FUSED>(x, c(0x3fb8_aa3b), r);
    let n = z - r;
    let b = fma::<FUSED>(-n, c(0x35bf_be8e), fma::<FUSED>(-n, c(0x3f31_7200), x));
    let u = b * b;
    let lo = fma::<FUSED>(c(0x3c07_2010), b, c(0x3d2b_9f17));
    let hi = fma::<FUSED>(c(0x3e2a_af33), b, c(0x3eff_fedb));
    let j = fma::<FUSED>(
        fma::<FUSED>(lo, u, hi),
        u,
        fma::<FUSED>(c(0x3f7f_fff6), b, 1.0),
    );
    if n.abs() > 192.0 {
        return if n <= 0.0 { 0.0 } else { f32::INFINITY };
    }
    // `_mm512_scalef_ps(j, n)`: j · 2^n rounded once. Each factor 2^(n/2)
    // is a normal f32, and the first product is exact.
    let k = n as i32;
    let pow2 = |e: i32| f32::from_bits(((e + 127) as u32) << 23);
    j * pow2(k / 2) * pow2(k - k / 2)
}

/// ggml's AVX-512 `ggml_v_silu`: `x / (1 + e^-x)` with [`expf`].
#[inline(always)]
pub fn silu<const FUSED: bool>(x: f32) -> f32 {
    x / (1.0 + expf::<FUSED>(0.0 - x))
}

/// GCC's `_mm512_reduce_add_ps`: halves folded 8, 4, then pairs (0+2, 1+3).
#[inline(always)]
pub fn reduce16(a: &[f32; 16]) -> f32 {
    let t8: [f32; 8] = std::array::from_fn(|i| a[i + 8] + a[i]);
    let t4: [f32; 4] = std::array::from_fn(|i| t8[i + 4] + t8[i]);
    (t4[0] + t4[2]) + (t4[1] + t4[3])
}

/// Which of ggml's f16 dot-product orders to follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DotF16 {
    /// `ggml_vec_dot_f16` (one token): four 16-lane accumulators over
    /// 64-value steps, folded 0+2, 1+3, then 0+1, reduced, widened to f64.
    Single,
    /// tinyBLAS (a batch): one 16-lane accumulator, then reduced.
    Batch,
}

/// Accumulator slots of each order: value `i` goes to slot `i % SLOTS`.
impl DotF16 {
    #[inline(always)]
    pub fn slots(self) -> usize {
        match self {
            DotF16::Single => 64,
            DotF16::Batch => 16,
        }
    }

    /// Reduces accumulators (`slots()` of them, read through `slot(i)`) the
    /// way the order does.
    #[inline(always)]
    pub fn reduce(self, slot: impl Fn(usize) -> f32) -> f32 {
        match self {
            DotF16::Single => {
                let s: [f32; 16] = std::array::from_fn(|l| {
                    (slot(l) + slot(32 + l)) + (slot(16 + l) + slot(48 + l))
                });
                f64::from(reduce16(&s)) as f32
            }
            DotF16::Batch => reduce16(&std::array::from_fn(slot)),
        }
    }
}

/// Σ x·y of f16-valued `x` and `y` in `order`'s arithmetic. Lengths beyond a
/// multiple of the step count as zero padding, as in llama.cpp's padded KV
/// cache, whose extra entries add nothing.
#[inline(always)]
pub fn dot_f16<const FUSED: bool>(order: DotF16, x: &[f32], y: &[f32]) -> f32 {
    match order {
        DotF16::Single => {
            let acc = slot_sums::<FUSED, 64>(x, y);
            order.reduce(|s| acc[s])
        }
        DotF16::Batch => {
            let acc = slot_sums::<FUSED, 16>(x, y);
            order.reduce(|s| acc[s])
        }
    }
}

/// `acc[s] = Σ x[i]·y[i]` over `i ≡ s (mod N)`, fused-multiply-added in order.
#[inline(always)]
fn slot_sums<const FUSED: bool, const N: usize>(x: &[f32], y: &[f32]) -> [f32; N] {
    #[cfg(all(target_arch = "wasm32", target_feature = "relaxed-simd"))]
    if FUSED {
        return relaxed::slot_sums::<N>(x, y);
    }
    let n = x.len().min(y.len());
    let (xs, ys) = (x[..n].chunks_exact(N), y[..n].chunks_exact(N));
    let (x_tail, y_tail) = (xs.remainder(), ys.remainder());
    let mut acc = [0.0f32; N];
    for (a, b) in xs.zip(ys) {
        for i in 0..N {
            acc[i] = fma::<FUSED>(a[i], b[i], acc[i]);
        }
    }
    for (i, (&a, &b)) in x_tail.iter().zip(y_tail).enumerate() {
        acc[i] = fma::<FUSED>(a, b, acc[i]);
    }
    acc
}

/// ggml's softmax of one row, in place: `e^(x - max)` by [`expf`] summed 16
/// lanes at a time into f64, then scaled by `(f32)(1 / sum)`. `-∞` entries
/// (masked positions) become 0.
#[inline(always)]
pub fn softmax<const FUSED: bool>(values: &mut [f32]) {
    // ggml_vec_max_f32's `MAX(max, x)`: a compare, which wasm32 has as one
    // instruction, where `f32::max` (IEEE maxNum) is a call to libm's fmaxf.
    let max = values
        .iter()
        .fold(f32::NEG_INFINITY, |m, &x| if m > x { m } else { x });
    let mut sum = 0.0f64;
    for chunk in values.chunks_mut(16) {
        let mut lanes = [0.0f32; 16];
        for (lane, v) in lanes.iter_mut().zip(chunk.iter_mut()) {
            *v = expf::<FUSED>(*v - max);
            *lane = *v;
        }
        sum += f64::from(reduce16(&lanes));
    }
    let inv = (1.0 / sum) as f32;
    values.iter_mut().for_each(|v| *v *= inv);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expf_is_close_to_exp_and_saturates() {
        for i in -800..800 {
            let x = i as f32 * 0.11;
            let (got, want) = (expf::<true>(x), x.exp());
            assert!((got - want).abs() <= want * 4e-7, "{x}: {got} vs {want}");
            // The f64-emulated fused multiply-adds give the same bits here.
            assert_eq!(expf::<false>(x), got, "{x}");
        }
        assert_eq!(expf::<true>(-200.0), 0.0);
        assert_eq!(expf::<true>(200.0), f32::INFINITY);
        assert_eq!(expf::<true>(f32::NEG_INFINITY), 0.0);
        assert_eq!(expf::<true>(0.0), 1.0);
    }

    #[test]
    fn silu_has_known_values() {
        assert!((silu::<true>(1.0) - 0.731_058_6).abs() < 1e-6);
        assert_eq!(silu::<true>(-120.0), -0.0);
    }

    #[test]
    fn reduce16_folds_halves_then_pairs() {
        let a: [f32; 16] = std::array::from_fn(|i| (1u32 << i) as f32);
        assert_eq!(reduce16(&a), 65535.0);
        // 1e8 + 1 - 1e8 in this order loses the 1 only in the lanes it meets.
        let mut b = [0.0f32; 16];
        (b[0], b[8], b[4]) = (1e8, 1.0, -1e8);
        assert_eq!(reduce16(&b), 0.0);
    }

    #[test]
    fn dot_orders_agree_on_exact_sums() {
        let x: Vec<f32> = (0..150).map(|i| (i % 7) as f32 - 3.0).collect();
        let y: Vec<f32> = (0..150).map(|i| (i % 5) as f32 * 0.5).collect();
        let want: f32 = x.iter().zip(&y).map(|(a, b)| a * b).sum();
        for order in [DotF16::Single, DotF16::Batch] {
            assert_eq!(dot_f16::<true>(order, &x, &y), want);
            assert_eq!(dot_f16::<false>(order, &x, &y), want);
        }
    }

    #[test]
    fn softmax_sums_to_one_and_masks() {
        let mut v = [1.0, 2.0, 3.0, f32::NEG_INFINITY, -1000.0];
        softmax::<true>(&mut v);
        assert!((v.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!(v[3] == 0.0 && v[4] == 0.0 && v[2] > v[1]);
    }
}
