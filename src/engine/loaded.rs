//! A model ready to run on the CPU: decoder, tokenizer and chat template.

use crate::chat::ChatTemplate;
use crate::cpu::CpuDecoder;
use crate::gguf::{ByteSource, GgufFile};
use crate::model::{KvCache, ModelConfig, Weights};
use crate::tokenizer::Tokenizer;

use super::EngineError;

pub struct LoadedModel {
    pub file: GgufFile,
    pub decoder: CpuDecoder,
    pub tokenizer: Tokenizer,
    pub chat: Option<ChatTemplate>,
}

impl LoadedModel {
    /// Reads the header, checks the architecture, then streams the tensors in.
    pub fn load<S: ByteSource>(source: &mut S) -> Result<LoadedModel, EngineError> {
        let file = GgufFile::read(source)?;
        Self::from_header(file, source)
    }

    /// As [`Self::load`], for a header the caller has already read.
    pub fn from_header<S: ByteSource>(
        file: GgufFile,
        source: &mut S,
    ) -> Result<LoadedModel, EngineError> {
        let config = ModelConfig::from_gguf(&file)?;
        let tokenizer = Tokenizer::from_gguf(&file.metadata)?;
        let chat = ChatTemplate::from_gguf(&file.metadata).ok();
        let weights = Weights::load(&file, source, &config)?;
        Ok(LoadedModel {
            file,
            decoder: CpuDecoder::new(config, weights),
            tokenizer,
            chat,
        })
    }

    pub fn config(&self) -> &ModelConfig {
        &self.decoder.config
    }

    /// A KV cache of `capacity` positions (at most the model's context length).
    pub fn new_cache(&self, capacity: usize) -> KvCache {
        KvCache::new(&self.decoder.config, capacity)
    }
}

/// A model ready to run on the GPU: the same tokenizer and template, the
/// weights on the device (never all in host memory at once).
pub struct GpuModel {
    pub file: GgufFile,
    pub decoder: crate::gpu::decoder::GpuDecoder,
    pub tokenizer: Tokenizer,
    pub chat: Option<ChatTemplate>,
}

impl GpuModel {
    /// Reads the header and streams the tensors to the GPU, laid out as
    /// `options` says (KV cache positions, prefill batch, numerics).
    pub fn load<S: ByteSource>(
        ctx: std::rc::Rc<crate::gpu::GpuContext>,
        source: &mut S,
        options: &crate::gpu::GpuOptions,
        on_tensor: &mut dyn FnMut(&str),
    ) -> Result<GpuModel, EngineError> {
        let file = GgufFile::read(source)?;
        Self::from_header(ctx, file, source, options, on_tensor)
    }

    /// As [`Self::load`], for a header the caller has already read.
    pub fn from_header<S: ByteSource>(
        ctx: std::rc::Rc<crate::gpu::GpuContext>,
        file: GgufFile,
        source: &mut S,
        options: &crate::gpu::GpuOptions,
        on_tensor: &mut dyn FnMut(&str),
    ) -> Result<GpuModel, EngineError> {
        use crate::gpu::decoder::{GpuDecoder, GpuLoadError};
        let tokenizer = Tokenizer::from_gguf(&file.metadata)?;
        let chat = ChatTemplate::from_gguf(&file.metadata).ok();
        let decoder = GpuDecoder::load(ctx, &file, source, options, on_tensor).map_err(
            |error| match error {
                GpuLoadError::Model(error) => EngineError::Model(error),
                GpuLoadError::Gpu(error) => EngineError::Gpu(error),
            },
        )?;
        Ok(GpuModel {
            file,
            decoder,
            tokenizer,
            chat,
        })
    }
}
