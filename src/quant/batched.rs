//! llama.cpp's batched (prompt) kernels for K-quants, where their float
//! order differs from the single-token `vec_dot`/`gemv` one.
//!
//! Integer sums are exact either way; what differs is where the f32 scale
//! products are rounded and accumulated, by one ulp here and there, which
//! 8-bit activation quantisation downstream can amplify. Measured against
//! llama.cpp 0.3.36's CPU backend (x86, AVX-512) on Qwen2.5 and Gemma 3,
//! bit for bit:
//!
//! - Q4_K weights with a multiple of 8 rows are repacked, and a batch's
//!   tokens in whole groups of four run `ggml_gemm_q4_K_8x8_q8_K`: one fused
//!   multiply-add per 64 values (a pair of sub-blocks) for the scaled sum and
//!   one for the mins, instead of one per super-block.
//! - Q6_K with 8 tokens or more runs the tiled K-quant path
//!   (`ggml_compute_forward_mul_mat_tiled`): per super-block the exact
//!   integer total times `f16(d)`, fused-multiply-added with the
//!   activation's scale.
//!
//! (Q5_K and non-repacked Q4_K also take the tiled path there; no test model
//! has them, so they keep the `vec_dot` order, unverified.)

use super::activations::ActQ8K;
use super::block::f16_le;
use super::dot::{fma, idot};
use super::k_quants::{BlockQ4K, BlockQ6K, q4_k_codes, q6_k_lanes, scale_min_k4};

/// `ggml_gemm_q4_K_8x8_q8_K`'s arithmetic for one weight row and one token.
#[inline(always)]
pub(crate) fn gemm_q4_k_q8_k<const FUSED: bool>(x: &[BlockQ4K], y: &[ActQ8K]) -> f32 {
    let (mut acc, mut acc_m) = (0.0f32, 0.0f32);
    for (x, y) in x.iter().zip(y) {
        let sm = scale_min_k4(&x.scales);
        let q = q4_k_codes(&x.qs);
        let (d, dmin) = (f16_le(x.d) * y.d, f16_le(x.dmin) * y.d);
        for pair in 0..4 {
            let (mut sum, mut mins) = (0i32, 0i32);
            for j in [2 * pair, 2 * pair + 1] {
                sum += i32::from(sm[j].0) * idot(&q[j], &y.qs[32 * j..]);
                let bsum = i32::from(y.bsums[2 * j]) + i32::from(y.bsums[2 * j + 1]);
                mins += i32::from(sm[j].1) * bsum;
            }
            acc = fma::<FUSED>(sum as f32, d, acc);
            acc_m = fma::<FUSED>(mins as f32, dmin, acc_m);
        }
    }
    acc - acc_m
}

/// The tiled path's arithmetic for one Q6_K weight row and one token.
#[inline(always)]
pub(crate) fn tiled_q6_k_q8_k<const FUSED: bool>(x: &[BlockQ6K], y: &[ActQ8K]) -> f32 {
    let mut acc = 0.0f32;
    for (x, y) in x.iter().zip(y) {
        let total: i32 = q6_k_lanes(x, y).iter().sum();
        acc = fma::<FUSED>(total as f32 * f16_le(x.d), y.d, acc);
    }
    acc
}
