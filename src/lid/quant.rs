//! fastText's product quantiser (`productquantizer.cc`) and quantised
//! matrix (`quantmatrix.cc`): each row is `nsubq` one-byte codes into
//! 256-entry codebooks of `dsub`-wide sub-vectors (the last one
//! `lastdsub` wide), optionally scaled by a separately quantised norm.

use super::LidError;
use super::bytes::Cursor;

const KSUB: usize = 256;

pub struct ProductQuantizer {
    dim: usize,
    nsubq: usize,
    dsub: usize,
    lastdsub: usize,
    centroids: Vec<f32>,
}

impl ProductQuantizer {
    fn read(cursor: &mut Cursor) -> Result<Self, LidError> {
        let dim = cursor.i32("quantiser dim")?;
        let nsubq = cursor.i32("quantiser nsubq")?;
        let dsub = cursor.i32("quantiser dsub")?;
        let lastdsub = cursor.i32("quantiser lastdsub")?;
        let dim = cursor.count(dim.into(), (KSUB * 4) as u64, "quantiser dim")?;
        let [nsubq, dsub, lastdsub] = [(nsubq, "nsubq"), (dsub, "dsub"), (lastdsub, "lastdsub")]
            .map(|(v, what)| {
                usize::try_from(v).map_err(|_| LidError::AbsurdCount {
                    what,
                    value: v.into(),
                })
            });
        let (nsubq, dsub, lastdsub) = (nsubq?, dsub?, lastdsub?);
        // The layout fastText's constructor derives from (dim, dsub).
        let laid_out = nsubq >= 1
            && (1..=dsub).contains(&lastdsub)
            && (nsubq - 1).checked_mul(dsub).map(|d| d + lastdsub) == Some(dim);
        if !laid_out {
            return Err(LidError::Inconsistent(format!(
                "quantiser of dim {dim} with {nsubq} sub-quantisers of {dsub} (last {lastdsub})"
            )));
        }
        let centroids = cursor.f32s((dim * KSUB) as u64, "quantiser centroids")?;
        Ok(Self {
            dim,
            nsubq,
            dsub,
            lastdsub,
            centroids,
        })
    }

    /// The centroid of code `code` in sub-quantiser `m` (`get_centroids`).
    fn centroid(&self, m: usize, code: u8) -> &[f32] {
        let code = usize::from(code);
        if m == self.nsubq - 1 {
            let start = m * KSUB * self.dsub + code * self.lastdsub;
            &self.centroids[start..start + self.lastdsub]
        } else {
            let start = (m * KSUB + code) * self.dsub;
            &self.centroids[start..start + self.dsub]
        }
    }
}

pub struct QuantMatrix {
    rows: usize,
    codes: Vec<u8>,
    pq: ProductQuantizer,
    /// Per-row norm codes and their one-dimensional quantiser (`qnorm`).
    norms: Option<(Vec<u8>, ProductQuantizer)>,
}

impl QuantMatrix {
    pub(crate) fn read(cursor: &mut Cursor) -> Result<Self, LidError> {
        let qnorm = cursor.bool("qnorm flag")?;
        let m = cursor.i64("quantised rows")?;
        let n = cursor.i64("quantised columns")?;
        let codesize = cursor.i32("code size")?;
        let codesize = cursor.count(codesize.into(), 1, "code size")?;
        let codes = cursor.take(codesize as u64, "codes")?.to_vec();
        let pq = ProductQuantizer::read(cursor)?;
        let rows = cursor.count(m, 0, "quantised rows")?;
        if Ok(pq.dim) != usize::try_from(n) || rows.checked_mul(pq.nsubq) != Some(codesize) {
            return Err(LidError::Inconsistent(format!(
                "{rows}×{n} quantised matrix with {codesize} codes of {} sub-quantisers of dim {}",
                pq.nsubq, pq.dim
            )));
        }
        let norms = if qnorm {
            let norm_codes = cursor.take(rows as u64, "norm codes")?.to_vec();
            let npq = ProductQuantizer::read(cursor)?;
            Some((norm_codes, npq))
        } else {
            None
        };
        Ok(Self {
            rows,
            codes,
            pq,
            norms,
        })
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn cols(&self) -> usize {
        self.pq.dim
    }

    fn norm(&self, row: usize) -> f32 {
        match &self.norms {
            Some((codes, npq)) => npq.centroid(0, codes[row])[0],
            None => 1.0,
        }
    }

    fn row_codes(&self, row: usize) -> &[u8] {
        &self.codes[row * self.pq.nsubq..(row + 1) * self.pq.nsubq]
    }

    /// `x += norm · row` (`addcode`), in f32 as fastText.
    pub fn add_row(&self, x: &mut [f32], row: usize) {
        let alpha = self.norm(row);
        for (m, &code) in self.row_codes(row).iter().enumerate() {
            let start = m * self.pq.dsub;
            let c = self.pq.centroid(m, code);
            for (xi, &ci) in x[start..start + c.len()].iter_mut().zip(c) {
                *xi += alpha * ci;
            }
        }
    }

    /// `norm · (row · x)` (`mulcode`).
    pub fn dot_row(&self, x: &[f32], row: usize) -> f32 {
        let mut sum = 0.0f32;
        for (m, &code) in self.row_codes(row).iter().enumerate() {
            let start = m * self.pq.dsub;
            let c = self.pq.centroid(m, code);
            for (xi, &ci) in x[start..start + c.len()].iter().zip(c) {
                sum += xi * ci;
            }
        }
        sum * self.norm(row)
    }
}
