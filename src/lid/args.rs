//! The training arguments block that follows the magic and version: the
//! parts inference needs (dimension, n-gram ranges, buckets, loss).

use super::LidError;
use super::bytes::Cursor;

/// fastText's `loss_name` enum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loss {
    HierarchicalSoftmax,
    NegativeSampling,
    Softmax,
    OneVsAll,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Args {
    pub dim: i32,
    pub ws: i32,
    pub epoch: i32,
    pub min_count: i32,
    pub neg: i32,
    pub word_ngrams: i32,
    pub loss: Loss,
    /// 1 cbow, 2 skip-gram, 3 supervised; only supervised models predict.
    pub model: i32,
    pub bucket: i32,
    pub minn: i32,
    pub maxn: i32,
    pub lr_update_rate: i32,
    pub t: f64,
}

impl Args {
    pub(crate) fn read(cursor: &mut Cursor, version: i32) -> Result<Self, LidError> {
        let mut args = Args {
            dim: cursor.i32("dim")?,
            ws: cursor.i32("ws")?,
            epoch: cursor.i32("epoch")?,
            min_count: cursor.i32("minCount")?,
            neg: cursor.i32("neg")?,
            word_ngrams: cursor.i32("wordNgrams")?,
            loss: match cursor.i32("loss")? {
                1 => Loss::HierarchicalSoftmax,
                2 => Loss::NegativeSampling,
                3 => Loss::Softmax,
                4 => Loss::OneVsAll,
                other => return Err(LidError::Unsupported(format!("loss {other}"))),
            },
            model: cursor.i32("model")?,
            bucket: cursor.i32("bucket")?,
            minn: cursor.i32("minn")?,
            maxn: cursor.i32("maxn")?,
            lr_update_rate: cursor.i32("lrUpdateRate")?,
            t: cursor.f64("t")?,
        };
        if args.model != 3 {
            return Err(LidError::Unsupported(format!(
                "model kind {} (only supervised models classify)",
                args.model
            )));
        }
        if args.dim <= 0 || args.dim > 1 << 16 {
            return Err(LidError::AbsurdCount {
                what: "dim",
                value: args.dim.into(),
            });
        }
        for (what, value) in [
            ("bucket", args.bucket),
            ("minn", args.minn),
            ("maxn", args.maxn),
        ] {
            if value < 0 {
                return Err(LidError::AbsurdCount {
                    what,
                    value: value.into(),
                });
            }
        }
        // As fastText: version-11 supervised models had no character n-grams.
        if version == 11 {
            args.maxn = 0;
        }
        // Hashes are taken modulo `bucket`: a model that hashes needs some.
        if args.bucket == 0 && (args.maxn > 0 || args.word_ngrams > 1) {
            return Err(LidError::Inconsistent(
                "n-grams are enabled but bucket is 0".into(),
            ));
        }
        Ok(args)
    }
}
