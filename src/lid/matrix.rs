//! The input and output matrices: dense f32 (`densematrix.cc`) or product
//! quantised. Only the two operations inference needs.

use super::LidError;
use super::bytes::Cursor;
use super::quant::QuantMatrix;

pub struct DenseMatrix {
    rows: usize,
    cols: usize,
    data: Vec<f32>,
}

impl DenseMatrix {
    pub(crate) fn read(cursor: &mut Cursor) -> Result<Self, LidError> {
        let m = cursor.i64("dense rows")?;
        let n = cursor.i64("dense columns")?;
        let rows = cursor.count(m, 0, "dense rows")?;
        let cols = cursor.count(n, 0, "dense columns")?;
        let len = rows.checked_mul(cols).ok_or(LidError::AbsurdCount {
            what: "dense matrix size",
            value: m,
        })?;
        let data = cursor.f32s(len as u64, "dense matrix")?;
        Ok(Self { rows, cols, data })
    }

    fn row(&self, row: usize) -> &[f32] {
        &self.data[row * self.cols..(row + 1) * self.cols]
    }
}

pub enum Matrix {
    Dense(DenseMatrix),
    Quant(QuantMatrix),
}

impl Matrix {
    pub fn rows(&self) -> usize {
        match self {
            Matrix::Dense(d) => d.rows,
            Matrix::Quant(q) => q.rows(),
        }
    }

    pub fn cols(&self) -> usize {
        match self {
            Matrix::Dense(d) => d.cols,
            Matrix::Quant(q) => q.cols(),
        }
    }

    /// `x += row`.
    pub fn add_row(&self, x: &mut [f32], row: usize) {
        match self {
            Matrix::Dense(d) => x.iter_mut().zip(d.row(row)).for_each(|(x, r)| *x += r),
            Matrix::Quant(q) => q.add_row(x, row),
        }
    }

    /// `row · x`, summed in f32 in order as fastText.
    pub fn dot_row(&self, x: &[f32], row: usize) -> f32 {
        match self {
            Matrix::Dense(d) => d.row(row).iter().zip(x).fold(0.0, |s, (r, x)| s + r * x),
            Matrix::Quant(q) => q.dot_row(x, row),
        }
    }
}
