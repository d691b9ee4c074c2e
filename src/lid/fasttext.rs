//! A whole fastText classifier (`.bin` or quantised `.ftz`): loading in the
//! order of `FastText::loadModel`, and `predict` as its Python binding does.

use super::LidError;
use super::args::Args;
use super::bytes::Cursor;
use super::dictionary::Dictionary;
use super::loss::Head;
use super::matrix::{DenseMatrix, Matrix};
use super::quant::QuantMatrix;

/// One predicted label.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction<'a> {
    /// The label without `__label__`.
    pub label: &'a str,
    pub probability: f32,
}

pub struct FastText {
    args: Args,
    dict: Dictionary,
    input: Matrix,
    output: Matrix,
    head: Head,
}

impl FastText {
    /// Parses a model held in memory (no file system: this builds for wasm32).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, LidError> {
        let mut cursor = Cursor::new(bytes);
        let magic = cursor.i32("magic")? as u32;
        if magic != super::MAGIC {
            return Err(LidError::BadMagic { found: magic });
        }
        let version = cursor.i32("version")?;
        if !(11..=12).contains(&version) {
            return Err(LidError::UnsupportedVersion(version));
        }
        let args = Args::read(&mut cursor, version)?;
        let dict = Dictionary::read(&mut cursor, &args)?;
        let quant_input = cursor.bool("quantised-input flag")?;
        let input = if quant_input {
            Matrix::Quant(QuantMatrix::read(&mut cursor)?)
        } else if dict.is_pruned() {
            // As fastText: only quantisation prunes buckets.
            return Err(LidError::Inconsistent(
                "pruned dictionary with a dense input matrix".into(),
            ));
        } else {
            Matrix::Dense(DenseMatrix::read(&mut cursor)?)
        };
        // As fastText: the output is quantised only in a quantised model.
        let quant_output = cursor.bool("quantised-output flag")?;
        let output = if quant_input && quant_output {
            Matrix::Quant(QuantMatrix::read(&mut cursor)?)
        } else {
            Matrix::Dense(DenseMatrix::read(&mut cursor)?)
        };
        if cursor.remaining() > 0 {
            return Err(LidError::TrailingBytes(cursor.remaining()));
        }
        let dim = args.dim as usize;
        let labels = dict.labels().len();
        if input.cols() != dim || output.cols() != dim {
            return Err(LidError::Inconsistent(format!(
                "dim {dim}, but matrices of {} and {} columns",
                input.cols(),
                output.cols()
            )));
        }
        if (input.rows() as u64) < dict.rows_needed() {
            return Err(LidError::Inconsistent(format!(
                "input matrix of {} rows, the dictionary needs {}",
                input.rows(),
                dict.rows_needed()
            )));
        }
        if output.rows() != labels {
            return Err(LidError::Inconsistent(format!(
                "output matrix of {} rows for {labels} labels",
                output.rows()
            )));
        }
        let head = Head::new(args.loss, dict.label_counts())?;
        Ok(Self {
            args,
            dict,
            input,
            output,
            head,
        })
    }

    pub fn args(&self) -> &Args {
        &self.args
    }

    /// Label names (without `__label__`), most frequent in training first.
    pub fn labels(&self) -> &[String] {
        self.dict.labels()
    }

    pub fn is_quantised(&self) -> bool {
        matches!(self.input, Matrix::Quant(_))
    }

    /// The averaged input vector of a line (`Model::computeHidden`), or
    /// `None` when the line has no known word or n-gram at all.
    pub fn hidden(&self, line: &str) -> Option<Vec<f32>> {
        let rows = self.dict.line_rows(line);
        if rows.is_empty() {
            return None;
        }
        let mut hidden = vec![0.0f32; self.args.dim as usize];
        for &row in &rows {
            self.input.add_row(&mut hidden, row as usize);
        }
        // `Vector::mul(1.0 / n)`: the factor is rounded to f32 first.
        let scale = (1.0 / rows.len() as f64) as f32;
        hidden.iter_mut().for_each(|h| *h *= scale);
        Some(hidden)
    }

    /// The `k` most probable labels of one line, best first, leaving out
    /// those under `threshold` — what fastText's Python
    /// `model.predict(line, k, threshold)` returns. The line ends at its
    /// first `\n`; fastText's own tokenisation applies (split on ASCII
    /// whitespace and NUL, `</s>` appended).
    pub fn predict(&self, line: &str, k: usize, threshold: f32) -> Vec<Prediction<'_>> {
        let Some(hidden) = self.hidden(line) else {
            return Vec::new();
        };
        self.head
            .predict(&self.output, &hidden, k, threshold)
            .into_iter()
            .map(|(score, label)| Prediction {
                label: &self.dict.labels()[label],
                probability: score.exp(),
            })
            .collect()
    }
}
