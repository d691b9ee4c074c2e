//! Normalisation layers.

/// RMSNorm over consecutive rows of `weight.len()` values, accumulated in f64
/// so the reference is more exact than any kernel it checks.
pub fn rms_norm(input: &[f32], weight: &[f32], eps: f32) -> Vec<f32> {
    let dim = weight.len();
    assert!(
        dim > 0 && input.len().is_multiple_of(dim),
        "input must be a whole number of rows"
    );
    input
        .chunks_exact(dim)
        .flat_map(|row| {
            let mean_square = row
                .iter()
                .map(|&v| f64::from(v) * f64::from(v))
                .sum::<f64>()
                / dim as f64;
            let scale = 1.0 / (mean_square + f64::from(eps)).sqrt();
            row.iter()
                .zip(weight)
                .map(move |(&v, &w)| (f64::from(v) * scale * f64::from(w)) as f32)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        // Row [3, 4]: mean square 12.5, so y = x / sqrt(12.5) * w.
        let y = rms_norm(&[3.0, 4.0], &[1.0, 2.0], 0.0);
        let s = 12.5f32.sqrt();
        assert!((y[0] - 3.0 / s).abs() < 1e-6 && (y[1] - 8.0 / s).abs() < 1e-6);
    }

    #[test]
    fn each_row_independently() {
        let y = rms_norm(&[1.0, 1.0, 2.0, 2.0], &[1.0, 1.0], 0.0);
        assert!(y.iter().all(|v| (v - 1.0).abs() < 1e-6), "{y:?}");
    }
}
