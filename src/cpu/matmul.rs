//! Quantised matrix × activations, as llama.cpp's CPU backend computes it:
//! each token's activation row is converted once per call to the weight
//! type's `vec_dot_type` (Q8_0, Q8_1, Q8_K, f16, ...), then every weight row
//! is dotted with it by [`quant::dot_quantized_rows_ordered`], whose results
//! are bit for bit those of llama.cpp's x86 CPU kernels, in the float order
//! of the kernel llama.cpp picks for that token ([`dot_order`]). Every
//! mat-vec but the smallest has its rows split over the thread pool
//! ([`pool`]: one thread per core natively, the extension's Web Workers in a
//! shared-memory WASM build), as llama.cpp splits each over its threads.

use super::pool::{self, in_parallel};
use crate::model::{ModelError, QTensor};
use crate::quant::{self, DotOrder, GgmlType, QuantError, QuantizedRow};

/// Weight rows dotted with every token before moving on, so that a block of
/// rows stays in cache across the tokens of a batch.
const ROW_BLOCK: usize = 16;

/// `out[t][r] = dot(w.row(r), xs[t])` for `n_tokens` rows of `xs`.
pub fn matmul(w: &QTensor, xs: &[f32], n_tokens: usize, out: &mut [f32]) -> Result<(), ModelError> {
    matmuls(&mut [(w, out)], xs, n_tokens)
}

/// [`matmul`] of several matrices with the same activations (Q, K and V;
/// gate and up): the activations are quantised once per weight type, and
/// the rows of every matrix are split over the pool in one go, so the pool
/// wakes once for all of them (in WASM a wake-up of the helper workers
/// costs about as much as a small mat-vec).
pub fn matmuls(
    products: &mut [(&QTensor, &mut [f32])],
    xs: &[f32],
    n_tokens: usize,
) -> Result<(), ModelError> {
    if n_tokens == 0 {
        return Ok(());
    }
    // Each weight type's activation rows, quantised once.
    let mut quantised: Vec<(GgmlType, Vec<QuantizedRow>)> = Vec::new();
    for (w, out) in products.iter() {
        debug_assert_eq!(xs.len(), n_tokens * w.cols);
        debug_assert_eq!(out.len(), n_tokens * w.rows);
        if !quantised.iter().any(|(ty, _)| *ty == w.ty) {
            quantised.push((w.ty, activations(w, xs, n_tokens)?));
        }
    }
    let acts_of = |w: &QTensor| {
        let (_, acts) = quantised
            .iter()
            .find(|(ty, _)| *ty == w.ty)
            .expect("quantised above");
        &acts[..]
    };
    let work: usize = products
        .iter()
        .map(|(w, _)| w.rows * w.cols * n_tokens)
        .sum();
    // Two parts per thread, so that a thread the busy machine preempts
    // leaves less to wait for (rayon's idle threads steal the other parts);
    // one part per matrix, on the calling thread, where the work is too
    // small to hand to the pool at all.
    let threads = thread_count(work);
    let part_rows = |w: &QTensor| {
        let parts = match threads {
            1 => 1,
            _ => (2 * threads * w.rows * w.cols * n_tokens)
                .div_ceil(work.max(1))
                .clamp(1, w.rows.div_ceil(ROW_BLOCK).max(1)),
        };
        w.rows.div_ceil(parts).max(1)
    };
    if n_tokens == 1 {
        // Each part fills its own slice of its matrix's one row of results.
        let mut parts = Vec::new();
        for (w, out) in products.iter_mut() {
            let per_part = part_rows(w);
            for (k, part) in out.chunks_mut(per_part).enumerate() {
                parts.push((*w, k * per_part, part));
            }
        }
        return in_parallel(parts, |(w, first, part)| {
            rows_into(w, acts_of(w), first, part)
        })
        .into_iter()
        .collect();
    }
    // Several tokens: each part computes its rows for every token
    // (token-major), then they are copied into place.
    let mut firsts = Vec::new();
    for (index, (w, _)) in products.iter().enumerate() {
        firsts.extend(
            (0..w.rows)
                .step_by(part_rows(w))
                .map(|first| (index, first)),
        );
    }
    let parts = in_parallel(firsts, |(index, first)| {
        let w = products[index].0;
        let count = part_rows(w).min(w.rows - first);
        let mut part = vec![0.0; count * n_tokens];
        rows_into(w, acts_of(w), first, &mut part).map(|()| (index, first, part))
    });
    for part in parts {
        let (index, first, part) = part?;
        let (w, out) = &mut products[index];
        let count = part.len() / n_tokens;
        for (t, results) in part.chunks_exact(count.max(1)).enumerate().take(n_tokens) {
            out[t * w.rows + first..][..count].copy_from_slice(&results[..count]);
        }
    }
    Ok(())
}

/// `xs` (`n_tokens` rows) in the activation format of `w`'s type.
fn activations(w: &QTensor, xs: &[f32], n_tokens: usize) -> Result<Vec<QuantizedRow>, ModelError> {
    let quant_error = |source: QuantError| ModelError::Quant {
        tensor: w.name.clone(),
        source,
    };
    if w.cols == 0 {
        return Ok(vec![
            QuantizedRow::quantize(w.ty, &[])
                .map_err(quant_error)?;
            n_tokens
        ]);
    }
    xs.chunks_exact(w.cols)
        .map(|x| QuantizedRow::quantize(w.ty, x))
        .collect::<Result<Vec<_>, _>>()
        .map_err(quant_error)
}

/// The float order llama.cpp's CPU backend computes token `t` of an
/// `n_tokens` batch in, for weights of type `ty` with `rows` rows: Q4_K
/// weights are repacked (rows a multiple of 8) and run `gemm` on whole
/// groups of four tokens, `gemv` on the rest; Q6_K runs the tiled path from
/// 8 tokens on. See `quant/batched.rs`.
pub fn dot_order(ty: GgmlType, rows: usize, n_tokens: usize, t: usize) -> DotOrder {
    let gemm = match ty {
        GgmlType::Q4_K => rows.is_multiple_of(8) && t < n_tokens - n_tokens % 4,
        GgmlType::Q6_K => n_tokens >= 8,
        _ => false,
    };
    if gemm {
        DotOrder::Gemm
    } else {
        DotOrder::VecDot
    }
}

/// Rows `first..first + count` of `w` dotted with every token of `acts`,
/// token-major into `part` (`count × acts.len()` values).
fn rows_into(
    w: &QTensor,
    acts: &[QuantizedRow],
    first: usize,
    part: &mut [f32],
) -> Result<(), ModelError> {
    let count = part.len() / acts.len().max(1);
    for block in (0..count).step_by(ROW_BLOCK) {
        let n = ROW_BLOCK.min(count - block);
        let rows = &w.data[(first + block) * w.row_bytes..(first + block + n) * w.row_bytes];
        for (t, act) in acts.iter().enumerate() {
            let results = &mut part[t * count + block..][..n];
            let order = dot_order(w.ty, w.rows, acts.len(), t);
            quant::dot_quantized_rows_ordered(w.ty, rows, act, order, results).map_err(
                |source| ModelError::Quant {
                    tensor: w.name.clone(),
                    source,
                },
            )?;
        }
    }
    Ok(())
}

/// Multiply-adds below which a mat-vec stays on the calling thread: handing
/// a split to the pool and waiting for it costs more than a small mat-vec.
/// Before a forward pass held its threads as a team (`team.rs`), a split
/// woke them: 2^19 measured best then (2^16 split every SmolLM2 mat-vec and
/// decoded at 103-106 tokens/s against 117-126). With the team, 2^18 also
/// splits SmolLM2's 576 × 576 output projection: decode tg64 on the 2-core
/// machine, alternated, natively 153-165 tokens/s against 138-164 at 2^19,
/// and in Chromium's WASM 73-87 against 74-83 (medians of 3, four rounds).
const MIN_PARALLEL_WORK: usize = 1 << 18;

/// Threads to split `work` multiply-adds over: every pool thread, or one
/// (work under [`MIN_PARALLEL_WORK`], or no pool: WASM without shared
/// memory).
fn thread_count(work: usize) -> usize {
    if work >= MIN_PARALLEL_WORK {
        pool::threads()
    } else {
        1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_order_follows_llama_cpp_kernel_choice() {
        use DotOrder::{Gemm, VecDot};
        let order = |ty, rows, n| {
            (0..n)
                .map(|t| dot_order(ty, rows, n, t))
                .collect::<Vec<_>>()
        };
        // Repacked Q4_K: gemm on whole groups of four tokens, gemv on the rest.
        assert_eq!(
            order(GgmlType::Q4_K, 896, 6),
            [Gemm, Gemm, Gemm, Gemm, VecDot, VecDot]
        );
        assert_eq!(order(GgmlType::Q4_K, 896, 3), [VecDot; 3]);
        assert_eq!(order(GgmlType::Q4_K, 900, 8), [VecDot; 8], "not repacked");
        // Tiled Q6_K from 8 tokens on.
        assert_eq!(order(GgmlType::Q6_K, 640, 7), [VecDot; 7]);
        assert_eq!(order(GgmlType::Q6_K, 640, 8), [Gemm; 8]);
        assert_eq!(order(GgmlType::Q5_0, 640, 8), [VecDot; 8]);
        assert_eq!(order(GgmlType::Q6_K, 640, 1), [VecDot]);
    }
}
