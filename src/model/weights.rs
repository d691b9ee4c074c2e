//! A model's tensors: matrices stay as raw GGUF blocks (decoded on use), small
//! vectors (norms, biases) are decoded to f32 once at load.

use super::{ModelConfig, ModelError};
use crate::gguf::{ByteSource, GgufFile, TensorInfo};
use crate::quant::{self, GgmlType};

/// A matrix of `rows` rows of `cols` values each, as the GGUF file stores it.
#[derive(Debug, Clone)]
pub struct QTensor {
    pub name: String,
    pub ty: GgmlType,
    pub rows: usize,
    pub cols: usize,
    pub row_bytes: usize,
    pub data: Vec<u8>,
}

impl QTensor {
    pub fn row(&self, index: usize) -> &[u8] {
        &self.data[index * self.row_bytes..(index + 1) * self.row_bytes]
    }

    /// Decodes row `index` into `out` (`cols` values).
    pub fn dequantize_row(&self, index: usize, out: &mut [f32]) -> Result<(), ModelError> {
        quant::dequantize(self.ty, self.row(index), out).map_err(|source| ModelError::Quant {
            tensor: self.name.clone(),
            source,
        })
    }
}

/// One block's tensors. Matrices are `M`: raw blocks in memory
/// ([`QTensor`]) for the CPU, or GPU buffers when loading for the GPU.
#[derive(Debug, Clone)]
pub struct LayerWeights<M = QTensor> {
    pub attn_norm: Vec<f32>,
    pub wq: M,
    pub wk: M,
    pub wv: M,
    pub wo: M,
    /// Qwen2's QKV biases.
    pub bq: Option<Vec<f32>>,
    pub bk: Option<Vec<f32>>,
    pub bv: Option<Vec<f32>>,
    /// Gemma 3's and Qwen3's per-head q/k norms; Gemma 3's post-attention /
    /// post-FFN norms.
    pub q_norm: Option<Vec<f32>>,
    pub k_norm: Option<Vec<f32>>,
    pub post_attn_norm: Option<Vec<f32>>,
    pub ffn_norm: Vec<f32>,
    pub gate: M,
    pub up: M,
    pub down: M,
    pub post_ffn_norm: Option<Vec<f32>>,
}

#[derive(Debug, Clone)]
pub struct Weights<M = QTensor> {
    pub token_embd: M,
    pub output_norm: Vec<f32>,
    /// `None` when the output projection is tied to the embedding.
    pub output: Option<M>,
    /// Llama 3.x's RoPE frequency factors, one per rotated pair: each
    /// pair's theta is divided by its factor (`rope_freqs.weight`).
    pub rope_freqs: Option<Vec<f32>>,
    pub layers: Vec<LayerWeights<M>>,
}

impl Weights {
    /// Reads and checks every tensor the architecture needs, one at a time.
    pub fn load<S: ByteSource>(
        file: &GgufFile,
        source: &mut S,
        config: &ModelConfig,
    ) -> Result<Weights, ModelError> {
        Weights::load_with(file, source, config, &mut Ok::<QTensor, ModelError>)
    }

    /// The matrix that maps hidden states to logits.
    pub fn output(&self) -> &QTensor {
        self.output.as_ref().unwrap_or(&self.token_embd)
    }

    pub fn vocab_size(&self) -> usize {
        self.output().rows
    }
}

impl<M> Weights<M> {
    /// Reads and checks every tensor, handing each matrix to `place` as soon
    /// as it is read (the GPU uploads it and drops the bytes), so at most one
    /// matrix sits in memory at a time.
    pub fn load_with<S: ByteSource, E: From<ModelError>>(
        file: &GgufFile,
        source: &mut S,
        config: &ModelConfig,
        place: &mut dyn FnMut(QTensor) -> Result<M, E>,
    ) -> Result<Weights<M>, E> {
        let mut loader = Loader {
            file,
            source,
            place,
        };
        let n_embd = config.embedding_length;
        let vocab = loader.info("token_embd.weight")?.rows() as usize;
        let token_embd = loader.matrix("token_embd.weight", n_embd, None)?;
        let output = match file.tensor("output.weight") {
            Some(_) => Some(loader.matrix("output.weight", n_embd, Some(vocab))?),
            None => None,
        };
        let output_norm = loader.vector("output_norm.weight", n_embd)?;
        let rope_freqs = match file.tensor("rope_freqs.weight") {
            Some(_) => Some(loader.rope_factors(config.rope_dims / 2)?),
            None => None,
        };
        let mut layers = Vec::with_capacity(config.block_count);
        for i in 0..config.block_count {
            let name = |part: &str| format!("blk.{i}.{part}");
            let ff = config.feed_forward_length;
            // A vector only some architectures have, read where `present`.
            let optional = |loader: &mut Loader<S, M, E>,
                            present: bool,
                            part: &str,
                            len: usize|
             -> Result<Option<Vec<f32>>, ModelError> {
                if present {
                    loader.vector(&name(part), len).map(Some)
                } else {
                    Ok(None)
                }
            };
            let (bias, qk, post) = (config.qkv_bias, config.qk_norm, config.post_norms);
            layers.push(LayerWeights {
                attn_norm: loader.vector(&name("attn_norm.weight"), n_embd)?,
                wq: loader.matrix(&name("attn_q.weight"), n_embd, Some(config.q_width()))?,
                wk: loader.matrix(&name("attn_k.weight"), n_embd, Some(config.kv_width()))?,
                wv: loader.matrix(&name("attn_v.weight"), n_embd, Some(config.v_width()))?,
                wo: loader.matrix(
                    &name("attn_output.weight"),
                    config.head_count * config.value_dim,
                    Some(n_embd),
                )?,
                bq: optional(&mut loader, bias, "attn_q.bias", config.q_width())?,
                bk: optional(&mut loader, bias, "attn_k.bias", config.kv_width())?,
                bv: optional(&mut loader, bias, "attn_v.bias", config.v_width())?,
                q_norm: optional(&mut loader, qk, "attn_q_norm.weight", config.head_dim)?,
                k_norm: optional(&mut loader, qk, "attn_k_norm.weight", config.head_dim)?,
                post_attn_norm: optional(&mut loader, post, "post_attention_norm.weight", n_embd)?,
                ffn_norm: loader.vector(&name("ffn_norm.weight"), n_embd)?,
                gate: loader.matrix(&name("ffn_gate.weight"), n_embd, Some(ff))?,
                up: loader.matrix(&name("ffn_up.weight"), n_embd, Some(ff))?,
                down: loader.matrix(&name("ffn_down.weight"), ff, Some(n_embd))?,
                post_ffn_norm: optional(&mut loader, post, "post_ffw_norm.weight", n_embd)?,
            });
        }
        Ok(Weights {
            token_embd,
            output_norm,
            output,
            rope_freqs,
            layers,
        })
    }

    /// The matrix that maps hidden states to logits.
    pub fn output_matrix(&self) -> &M {
        self.output.as_ref().unwrap_or(&self.token_embd)
    }
}

struct Loader<'a, S: ByteSource, M, E> {
    file: &'a GgufFile,
    source: &'a mut S,
    place: &'a mut dyn FnMut(QTensor) -> Result<M, E>,
}

impl<S: ByteSource, M, E: From<ModelError>> Loader<'_, S, M, E> {
    fn info(&self, name: &str) -> Result<&TensorInfo, ModelError> {
        self.file
            .tensor(name)
            .ok_or_else(|| ModelError::MissingTensor(name.into()))
    }

    /// A 2-D tensor with `cols` values per row and, if given, `rows` rows,
    /// handed to `place`.
    fn matrix(&mut self, name: &str, cols: usize, rows: Option<usize>) -> Result<M, E> {
        let tensor = self.read_matrix(name, cols, rows)?;
        (self.place)(tensor)
    }

    fn read_matrix(
        &mut self,
        name: &str,
        cols: usize,
        rows: Option<usize>,
    ) -> Result<QTensor, ModelError> {
        let info = self.info(name)?.clone();
        let found_rows = info.rows() as usize;
        let expected = vec![cols as u64, rows.unwrap_or(found_rows) as u64];
        if info.dims.len() != 2 || info.dims != expected {
            return Err(ModelError::ShapeMismatch {
                tensor: name.into(),
                expected,
                found: info.dims.clone(),
            });
        }
        if !info.ty.is_supported() {
            return Err(ModelError::Quant {
                tensor: name.into(),
                source: quant::QuantError::Unsupported(info.ty),
            });
        }
        let row_bytes = info
            .ty
            .row_bytes(cols)
            .map_err(|source| ModelError::Quant {
                tensor: name.into(),
                source,
            })?;
        let data = self.file.read_tensor(self.source, &info)?;
        Ok(QTensor {
            name: name.into(),
            ty: info.ty,
            rows: found_rows,
            cols,
            row_bytes,
            data,
        })
    }

    /// `rope_freqs.weight`: `pairs` factors, each finite and positive (a
    /// zero would turn every angle into NaN).
    fn rope_factors(&mut self, pairs: usize) -> Result<Vec<f32>, ModelError> {
        let factors = self.vector("rope_freqs.weight", pairs)?;
        match factors.iter().find(|f| !(f.is_finite() && **f > 0.0)) {
            Some(bad) => Err(ModelError::BadConfig(format!(
                "rope_freqs.weight holds {bad}, not a positive factor"
            ))),
            None => Ok(factors),
        }
    }

    /// A 1-D tensor of `len` values, decoded to f32.
    fn vector(&mut self, name: &str, len: usize) -> Result<Vec<f32>, ModelError> {
        let info = self.info(name)?.clone();
        if info.dims != [len as u64] {
            return Err(ModelError::ShapeMismatch {
                tensor: name.into(),
                expected: vec![len as u64],
                found: info.dims.clone(),
            });
        }
        let data = self.file.read_tensor(self.source, &info)?;
        let mut out = vec![0.0; len];
        quant::dequantize(info.ty, &data, &mut out).map_err(|source| ModelError::Quant {
            tensor: name.into(),
            source,
        })?;
        Ok(out)
    }
}
