//! The shape of a model, read from GGUF metadata (`{arch}.*` keys).

use super::ModelError;
use crate::gguf::GgufFile;

/// The smallest context window a model may declare: prompts need room.
const MIN_CONTEXT: usize = 256;
/// Bounds far above any model this runtime can run, low enough that
/// products of them (cache sizes, tensor shapes) cannot overflow.
const MAX_CONTEXT: usize = 1 << 24;
const MAX_WIDTH: usize = 1 << 16;
const MAX_BLOCKS: usize = 1024;
const MAX_HEADS: usize = 1024;
const MAX_HEAD_DIM: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Architecture {
    Llama,
    Qwen2,
    /// Qwen2 without QKV biases, with per-head q/k RMSNorm before RoPE.
    Qwen3,
    Gemma3,
}

impl Architecture {
    pub fn name(self) -> &'static str {
        match self {
            Architecture::Llama => "llama",
            Architecture::Qwen2 => "qwen2",
            Architecture::Qwen3 => "qwen3",
            Architecture::Gemma3 => "gemma3",
        }
    }
}

/// How RoPE pairs up the dimensions of a head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RopeStyle {
    /// Adjacent pairs (x[2i], x[2i+1]): Llama in GGUF (weights are permuted for it).
    Normal,
    /// Halves (x[i], x[i + d/2]): Qwen2, Gemma 3.
    Neox,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// SiLU(gate) · up.
    Silu,
    /// GELU(gate) · up, tanh approximation.
    GeluTanh,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ModelConfig {
    pub architecture: Architecture,
    pub name: String,
    pub context_length: usize,
    pub embedding_length: usize,
    pub block_count: usize,
    pub feed_forward_length: usize,
    pub head_count: usize,
    pub head_count_kv: usize,
    /// Width of one query/key head.
    pub head_dim: usize,
    /// Width of one value head.
    pub value_dim: usize,
    pub rms_eps: f32,
    pub rope_style: RopeStyle,
    pub rope_dims: usize,
    pub rope_base: f32,
    /// Multiplies positions (1 / linear scaling factor).
    pub rope_scale: f32,
    /// Gemma 3's sliding-window layers: their window and their own RoPE base.
    pub sliding_window: Option<usize>,
    pub rope_base_local: f32,
    /// Every `sliding_pattern`-th layer is global, the others slide (Gemma 3: 6).
    pub sliding_pattern: usize,
    pub activation: Activation,
    /// Gemma multiplies embeddings by sqrt(embedding_length).
    pub embedding_scale: Option<f32>,
    pub attention_scale: f32,
    /// Qwen2's biases on the q, k and v projections.
    pub qkv_bias: bool,
    /// Gemma 3 and Qwen3 normalise q and k per head (RMSNorm before RoPE).
    pub qk_norm: bool,
    /// Gemma 3 multiplies the query by `attention_scale` before attention and
    /// attends with scale 1 (llama.cpp's `ggml_scale` on Q); the others scale
    /// q·k inside the softmax. The two round differently.
    pub scale_query: bool,
    /// Gemma 3 adds norms after attention and FFN.
    pub post_norms: bool,
    pub final_logit_softcap: Option<f32>,
}

impl ModelConfig {
    pub fn from_gguf(file: &GgufFile) -> Result<ModelConfig, ModelError> {
        let meta = &file.metadata;
        let arch_name = meta.str("general.architecture")?;
        let architecture = match arch_name {
            "llama" => Architecture::Llama,
            "qwen2" => Architecture::Qwen2,
            "qwen3" => Architecture::Qwen3,
            "gemma3" => Architecture::Gemma3,
            other => {
                return Err(ModelError::UnsupportedArchitecture(
                    other.chars().take(64).collect(),
                ));
            }
        };
        let key = |suffix: &str| format!("{arch_name}.{suffix}");
        let usize_of = |suffix: &str| -> Result<usize, ModelError> {
            let value = meta.u64(&key(suffix))?;
            usize::try_from(value).map_err(|_| {
                ModelError::BadConfig(format!("{} = {value} is too large", key(suffix)))
            })
        };
        let opt_usize = |suffix: &str| -> Result<Option<usize>, ModelError> {
            meta.opt_u64(&key(suffix))?
                .map(|value| {
                    usize::try_from(value).map_err(|_| {
                        ModelError::BadConfig(format!("{} = {value} is too large", key(suffix)))
                    })
                })
                .transpose()
        };

        let embedding_length = usize_of("embedding_length")?;
        let head_count = usize_of("attention.head_count")?;
        let head_count_kv = opt_usize("attention.head_count_kv")?.unwrap_or(head_count);
        if head_count == 0 || head_count_kv == 0 || head_count % head_count_kv != 0 {
            return Err(ModelError::BadConfig(format!(
                "{head_count} heads cannot share {head_count_kv} key/value heads"
            )));
        }
        let head_dim = opt_usize("attention.key_length")?.unwrap_or(embedding_length / head_count);
        let value_dim = opt_usize("attention.value_length")?.unwrap_or(head_dim);
        let rope_dims = opt_usize("rope.dimension_count")?.unwrap_or(head_dim);
        if head_dim == 0 || rope_dims > head_dim || rope_dims % 2 != 0 {
            return Err(ModelError::BadConfig(format!(
                "RoPE over {rope_dims} of {head_dim} head dimensions"
            )));
        }
        let rope_scale = match meta.opt_str(&key("rope.scaling.type"))? {
            None | Some("none") => 1.0,
            Some("linear") => 1.0 / meta.opt_f32(&key("rope.scaling.factor"))?.unwrap_or(1.0),
            Some(other) => {
                return Err(ModelError::BadConfig(format!(
                    "RoPE scaling `{other}` is not supported"
                )));
            }
        };
        let gemma = architecture == Architecture::Gemma3;
        let config = ModelConfig {
            architecture,
            name: meta
                .opt_str("general.name")?
                .unwrap_or(arch_name)
                .to_string(),
            context_length: usize_of("context_length")?,
            embedding_length,
            block_count: usize_of("block_count")?,
            feed_forward_length: usize_of("feed_forward_length")?,
            head_count,
            head_count_kv,
            head_dim,
            value_dim,
            rms_eps: meta.f32(&key("attention.layer_norm_rms_epsilon"))?,
            rope_style: if architecture == Architecture::Llama {
                RopeStyle::Normal
            } else {
                RopeStyle::Neox
            },
            rope_dims,
            rope_base: meta.opt_f32(&key("rope.freq_base"))?.unwrap_or(10_000.0),
            rope_scale,
            sliding_window: if gemma {
                opt_usize("attention.sliding_window")?
            } else {
                None
            },
            // llama.cpp's default for Gemma 3's local layers.
            rope_base_local: meta
                .opt_f32(&key("rope.freq_base_swa"))?
                .unwrap_or(10_000.0),
            sliding_pattern: 6,
            activation: if gemma {
                Activation::GeluTanh
            } else {
                Activation::Silu
            },
            embedding_scale: gemma.then(|| (embedding_length as f32).sqrt()),
            attention_scale: 1.0 / (head_dim as f32).sqrt(),
            qkv_bias: architecture == Architecture::Qwen2,
            qk_norm: matches!(architecture, Architecture::Gemma3 | Architecture::Qwen3),
            scale_query: gemma,
            post_norms: gemma,
            final_logit_softcap: meta.opt_f32(&key("final_logit_softcapping"))?,
        };
        config.check_ranges(arch_name)?;
        check_block_tensors(file, config.block_count)?;
        Ok(config)
    }

    /// Every value within what a real model has and what the runtime's
    /// arithmetic holds without overflow: a hostile file fails here, with the
    /// key it lied about, instead of in a panic, a huge allocation or a
    /// division by zero later.
    fn check_ranges(&self, arch: &str) -> Result<(), ModelError> {
        let sizes = [
            (
                "context_length",
                self.context_length,
                MIN_CONTEXT,
                MAX_CONTEXT,
            ),
            ("embedding_length", self.embedding_length, 1, MAX_WIDTH),
            ("block_count", self.block_count, 1, MAX_BLOCKS),
            (
                "feed_forward_length",
                self.feed_forward_length,
                1,
                MAX_WIDTH * 8,
            ),
            ("attention.head_count", self.head_count, 1, MAX_HEADS),
            ("attention.key_length", self.head_dim, 1, MAX_HEAD_DIM),
            ("attention.value_length", self.value_dim, 1, MAX_HEAD_DIM),
            (
                "attention.sliding_window",
                self.sliding_window.unwrap_or(1),
                1,
                MAX_CONTEXT,
            ),
        ];
        for (suffix, value, min, max) in sizes {
            if !(min..=max).contains(&value) {
                return Err(ModelError::BadConfig(format!(
                    "{arch}.{suffix} = {value} is outside {min}..={max}"
                )));
            }
        }
        let positive = [
            ("attention.layer_norm_rms_epsilon", Some(self.rms_eps), 1.0),
            ("rope.freq_base", Some(self.rope_base), f32::MAX),
            ("rope.freq_base_swa", Some(self.rope_base_local), f32::MAX),
            (
                "rope.scaling.factor's inverse",
                Some(self.rope_scale),
                f32::MAX,
            ),
            (
                "final_logit_softcapping",
                self.final_logit_softcap,
                f32::MAX,
            ),
        ];
        for (suffix, value, max) in positive {
            if let Some(value) = value
                && !(value.is_finite() && value > 0.0 && value < max)
            {
                return Err(ModelError::BadConfig(format!(
                    "{arch}.{suffix} = {value} is not a positive number below {max}"
                )));
            }
        }
        Ok(())
    }

    /// Whether layer `layer` attends only within the sliding window.
    pub fn is_sliding(&self, layer: usize) -> bool {
        self.sliding_window.is_some() && layer % self.sliding_pattern < self.sliding_pattern - 1
    }

    pub fn q_width(&self) -> usize {
        self.head_count * self.head_dim
    }

    pub fn kv_width(&self) -> usize {
        self.head_count_kv * self.head_dim
    }

    pub fn v_width(&self) -> usize {
        self.head_count_kv * self.value_dim
    }
}

/// `block_count` must be the number of layers the tensors hold: `blk.0.` to
/// `blk.{n-1}.`, each present, none beyond.
fn check_block_tensors(file: &GgufFile, block_count: usize) -> Result<(), ModelError> {
    let mut seen = vec![false; block_count];
    for tensor in &file.tensors {
        let Some(rest) = tensor.name.strip_prefix("blk.") else {
            continue;
        };
        let number = rest.split('.').next().unwrap_or_default();
        match number.parse::<usize>() {
            Ok(layer) if layer < block_count => seen[layer] = true,
            _ => {
                return Err(ModelError::BadConfig(format!(
                    "tensor `{}` is outside the {block_count} layers of block_count",
                    tensor.name
                )));
            }
        }
    }
    match seen.iter().position(|&present| !present) {
        Some(layer) => Err(ModelError::BadConfig(format!(
            "block_count is {block_count}, but the file has no tensors for layer {layer}"
        ))),
        None => Ok(()),
    }
}
