//! Quantised matrix × activations, as llama.cpp's CPU backend computes it:
//! each token's activation row is converted once per call to the weight
//! type's `vec_dot_type` (Q8_0, Q8_1, Q8_K, f16, ...), then every weight row
//! is dotted with it by [`quant::dot_quantized_rows_ordered`], whose results
//! are bit for bit those of llama.cpp's x86 CPU kernels, in the float order
//! of the kernel llama.cpp picks for that token ([`dot_order`]). Natively,
//! large matrices have their rows split over the machine's cores.

use crate::model::{ModelError, QTensor};
use crate::quant::{self, DotOrder, GgmlType, QuantError, QuantizedRow};

/// Weight rows dotted with every token before moving on, so that a block of
/// rows stays in cache across the tokens of a batch.
const ROW_BLOCK: usize = 16;

/// `out[t][r] = dot(w.row(r), xs[t])` for `n_tokens` rows of `xs`.
pub fn matmul(w: &QTensor, xs: &[f32], n_tokens: usize, out: &mut [f32]) -> Result<(), ModelError> {
    debug_assert_eq!(xs.len(), n_tokens * w.cols);
    debug_assert_eq!(out.len(), n_tokens * w.rows);
    let quant_error = |source: QuantError| ModelError::Quant {
        tensor: w.name.clone(),
        source,
    };
    if n_tokens == 0 || w.rows == 0 {
        return Ok(());
    }
    let acts = if w.cols == 0 {
        vec![QuantizedRow::quantize(w.ty, &[]).map_err(quant_error)?; n_tokens]
    } else {
        xs.chunks_exact(w.cols)
            .map(|x| QuantizedRow::quantize(w.ty, x))
            .collect::<Result<Vec<_>, _>>()
            .map_err(quant_error)?
    };
    let acts = &acts[..];
    let threads = thread_count(w.rows, w.rows * w.cols * n_tokens);
    let per_thread = w.rows.div_ceil(threads);
    if n_tokens == 1 {
        // `out` is one row of results: each thread fills its own slice of it.
        return std::thread::scope(|scope| {
            let mut parts = out.chunks_mut(per_thread).enumerate();
            let (_, mine) = parts
                .next()
                .ok_or(ModelError::BadConfig("empty matmul".into()))?;
            let handles: Vec<_> = parts
                .map(|(k, part)| scope.spawn(move || rows_into(w, acts, k * per_thread, part)))
                .collect();
            let mut result = rows_into(w, acts, 0, mine);
            for handle in handles {
                let joined = handle.join().unwrap_or_else(|_| {
                    Err(ModelError::BadConfig("a worker thread panicked".into()))
                });
                result = result.and(joined);
            }
            result
        });
    }
    // Several tokens: each thread computes its rows for every token
    // (token-major), then they are copied into place.
    let parts: Vec<Result<Vec<f32>, ModelError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (1..threads)
            .map(|k| {
                let first = k * per_thread;
                let count = per_thread.min(w.rows.saturating_sub(first));
                scope.spawn(move || {
                    let mut part = vec![0.0; count * n_tokens];
                    rows_into(w, acts, first, &mut part).map(|()| part)
                })
            })
            .collect();
        let count = per_thread.min(w.rows);
        let mut part = vec![0.0; count * n_tokens];
        let mut parts = vec![rows_into(w, acts, 0, &mut part).map(|()| part)];
        parts.extend(handles.into_iter().map(|h| {
            h.join()
                .unwrap_or_else(|_| Err(ModelError::BadConfig("a worker thread panicked".into())))
        }));
        parts
    });
    for (k, part) in parts.into_iter().enumerate() {
        let part = part?;
        let first = k * per_thread;
        let count = part.len() / n_tokens;
        for (t, results) in part.chunks_exact(count.max(1)).enumerate().take(n_tokens) {
            out[t * w.rows + first..][..count].copy_from_slice(&results[..count]);
        }
    }
    Ok(())
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

/// Threads worth using for `work` multiply-adds over `rows` rows. Threads
/// are started per call (tens of microseconds each) and a mat-vec is mostly
/// bound by memory bandwidth, so only matrices of about four million
/// multiply-adds or more (the output projection, large feed-forwards) are
/// split.
fn thread_count(rows: usize, work: usize) -> usize {
    if cfg!(target_arch = "wasm32") || work < 1 << 22 {
        return 1;
    }
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    cores.min(rows.div_ceil(ROW_BLOCK)).max(1)
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
