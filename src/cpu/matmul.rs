//! Quantised matrix × activations. Each weight row is decoded once per call
//! and dotted with every token's activations; natively rows are split over
//! the machine's cores.

use super::ops::dot;
use crate::model::{ModelError, QTensor};

/// `out[t][r] = dot(w.row(r), xs[t])` for `n_tokens` rows of `xs`.
pub fn matmul(w: &QTensor, xs: &[f32], n_tokens: usize, out: &mut [f32]) -> Result<(), ModelError> {
    debug_assert_eq!(xs.len(), n_tokens * w.cols);
    debug_assert_eq!(out.len(), n_tokens * w.rows);
    let threads = thread_count(w.rows * w.cols * n_tokens);
    if threads <= 1 {
        let mut results = vec![0.0; w.rows * n_tokens];
        rows_into(w, xs, n_tokens, 0, &mut results)?;
        scatter(&results, w.rows, 0, n_tokens, out);
        return Ok(());
    }
    let per_thread = w.rows.div_ceil(threads);
    // Each thread fills its own rows (row-major by weight row), then they are
    // scattered into token-major `out`.
    let results: Vec<Result<Vec<f32>, ModelError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..w.rows)
            .step_by(per_thread)
            .map(|first| {
                let count = per_thread.min(w.rows - first);
                scope.spawn(move || {
                    let mut part = vec![0.0; count * n_tokens];
                    rows_into(w, xs, n_tokens, first, &mut part).map(|()| part)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err(ModelError::BadConfig("a worker thread panicked".into())))).collect()
    });
    for (chunk, part) in results.into_iter().enumerate() {
        scatter(&part?, part_rows(w.rows, per_thread, chunk), chunk * per_thread, n_tokens, out);
    }
    Ok(())
}

/// Rows `first..first + part.len() / n_tokens`, row-major into `part`.
fn rows_into(w: &QTensor, xs: &[f32], n_tokens: usize, first: usize, part: &mut [f32]) -> Result<(), ModelError> {
    let mut row = vec![0.0; w.cols];
    for (i, results) in part.chunks_exact_mut(n_tokens).enumerate() {
        w.dequantize_row(first + i, &mut row)?;
        for (t, result) in results.iter_mut().enumerate() {
            *result = dot(&row, &xs[t * w.cols..(t + 1) * w.cols]);
        }
    }
    Ok(())
}

fn part_rows(rows: usize, per_thread: usize, chunk: usize) -> usize {
    per_thread.min(rows - chunk * per_thread)
}

fn scatter(part: &[f32], count: usize, first: usize, n_tokens: usize, out: &mut [f32]) {
    let rows = out.len() / n_tokens;
    for i in 0..count {
        for t in 0..n_tokens {
            out[t * rows + first + i] = part[i * n_tokens + t];
        }
    }
}

/// Threads worth starting for `work` multiply-adds: none below ~64k.
fn thread_count(work: usize) -> usize {
    if cfg!(target_arch = "wasm32") || work < 1 << 16 {
        return 1;
    }
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}
