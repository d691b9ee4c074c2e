//! The shape of a model, read from GGUF metadata (`{arch}.*` keys).

use super::ModelError;
use crate::gguf::GgufFile;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Architecture {
    Llama,
    Qwen2,
    Gemma3,
}

impl Architecture {
    pub fn name(self) -> &'static str {
        match self {
            Architecture::Llama => "llama",
            Architecture::Qwen2 => "qwen2",
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
    /// Gemma 3 normalises q and k per head and adds norms after attention and FFN.
    pub qk_norm: bool,
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
            Ok(meta.opt_u64(&key(suffix))?.map(|v| v as usize))
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
            qk_norm: gemma,
            post_norms: gemma,
            final_logit_softcap: meta.opt_f32(&key("final_logit_softcapping"))?,
        };
        if config.block_count == 0
            || config.embedding_length == 0
            || config.feed_forward_length == 0
        {
            return Err(ModelError::BadConfig("zero-sized model".into()));
        }
        Ok(config)
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
