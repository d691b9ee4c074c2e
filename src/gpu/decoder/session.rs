//! The GPU decoder: a model's weights, activations and KV cache on the
//! device, with the per-step plans bound once. One decode step is one
//! command buffer; only the sampled token (or the top candidates) comes back.

use std::rc::Rc;

use super::ahead::RunAhead;
use super::buffers::{Activations, LayerCache, PICKED_BYTES, kv_cache};
use super::plan::{Bindings, Passes};
use super::weights::{GpuLoadError, GpuWeights};
use crate::engine::{Decode, EngineError, Sampler};
use crate::gguf::{ByteSource, GgufFile};
use crate::gpu::attention::attention_scratch;
use crate::gpu::fast::fused::FastWeights;
use crate::gpu::fast::linears::{MatMulChoices, shape_key, uses_fast_matmul};
use crate::gpu::fast::matmul::FastMatMulKernel;
use crate::gpu::fast::plan::bind_fast_plan;
use crate::gpu::matvec::GpuMatrix;
use crate::gpu::pass::KernelPass;
use crate::gpu::rope::RopeTable;
use crate::gpu::step::{StepUniform, step_buffer, write_step};
use crate::gpu::{GpuContext, GpuError, GpuOptions, Numerics};
use crate::model::{ModelConfig, ModelError};

/// Candidates the GPU hands to a non-greedy sampler.
const TOP_K: usize = 64;

pub struct GpuDecoder {
    pub(super) ctx: Rc<GpuContext>,
    config: ModelConfig,
    numerics: Numerics,
    pub(super) acts: Activations,
    pub(super) position: usize,
    pub(super) capacity: usize,
    prefill_tokens: usize,
    pub(super) step: wgpu::Buffer,
    head_step: wgpu::Buffer,
    /// The blocks of a one-token step (in `fast` numerics the fast plan's).
    pub(super) decode: Passes,
    /// `fast` numerics: the fast head and several greedy steps per submission.
    pub(super) ahead: Option<RunAhead>,
    prefill: Passes,
    logits: Passes,
    argmax: KernelPass,
    top_k: KernelPass,
    /// Kept for their buffers' lifetime and the memory report.
    weights: GpuWeights,
    cache: Vec<LayerCache>,
    /// Attention's scratch, shared by every layer.
    scores: wgpu::Buffer,
    rope: (RopeTable, Option<RopeTable>),
    cache_bytes: u64,
    /// The prefill's mat-mul variants (`fast` numerics; see [`Self::rebind_prefill`]).
    matmul: MatMulChoices,
    /// What the last autotune did (`gpu::tuning::tune_decoder`).
    pub tuning: Option<crate::gpu::tuning::TuningReport>,
    /// CPU time spent recording and submitting steps (native builds only:
    /// `locus bench` reports it against the time per token).
    pub(super) recording_seconds: f64,
    /// Decode steps submitted in greedy groups so far (see `steps_ahead`).
    pub(super) steps_ahead: usize,
}

impl GpuDecoder {
    /// Streams the weights from `source` to the GPU and binds every pass
    /// in `options.numerics`: a KV cache of `options.capacity` positions,
    /// prefill in batches of up to `options.prefill_tokens`.
    pub fn load<S: ByteSource>(
        ctx: Rc<GpuContext>,
        file: &GgufFile,
        source: &mut S,
        options: &GpuOptions,
        on_tensor: &mut dyn FnMut(&str),
    ) -> Result<GpuDecoder, GpuLoadError> {
        let config = ModelConfig::from_gguf(file)?;
        let capacity = options.capacity.min(config.context_length).max(1);
        let prefill_tokens = options.prefill_tokens.clamp(2, capacity.max(2));
        let mut weights = GpuWeights::upload(&ctx, file, source, &config, on_tensor)?;
        let fast_weights = match options.numerics {
            Numerics::Fast => Some(FastWeights::prepare(&ctx, &mut weights, &config)?),
            Numerics::Exact => None,
        };
        let vocab = weights.matrices.output_matrix().rows;
        let acts = Activations::new(&ctx, &config, vocab, prefill_tokens);
        let (cache, cache_bytes) = kv_cache(&ctx, &config, capacity);
        let step = step_buffer(&ctx);
        let head_step = StepUniform::new(0, 1).to_buffer(&ctx);
        let scores = attention_scratch(
            &ctx,
            config.head_count,
            capacity as u32,
            prefill_tokens as u32,
        )?;
        let rope = |base, scale, factors: &[f32]| {
            RopeTable::with_factors(&ctx, config.rope_dims, capacity, base, scale, factors)
        };
        let factors = weights.matrices.rope_freqs.as_deref().unwrap_or_default();
        let global = rope(config.rope_base, config.rope_scale, factors)?;
        let local = match config.sliding_window {
            Some(_) => Some(rope(config.rope_base_local, 1.0, &[])?),
            None => None,
        };
        let bindings = Bindings {
            ctx: &ctx,
            numerics: options.numerics,
            config: &config,
            weights: &weights,
            acts: &acts,
            cache: &cache,
            capacity,
            scores: &scores,
            step: &step,
            head_step: &head_step,
            rope_global: &global,
            rope_local: local.as_ref(),
            matmul: &MatMulChoices::default(),
        };
        let (decode, ahead) = match fast_weights {
            Some(fast) => {
                let plan = bind_fast_plan(&bindings, &fast)?;
                (
                    plan.blocks,
                    Some(RunAhead::new(&ctx, plan.head, plan.pick, fast)),
                )
            }
            None => (bindings.blocks(1)?, None),
        };
        let prefill = bindings.blocks(prefill_tokens as u32)?;
        let logits = bindings.logits()?;
        let argmax = bindings.argmax()?;
        let top_k = bindings.top_k(TOP_K.min(vocab))?;
        Ok(GpuDecoder {
            ctx: ctx.clone(),
            config,
            numerics: options.numerics,
            acts,
            position: 0,
            capacity,
            prefill_tokens,
            step,
            head_step,
            decode,
            ahead,
            prefill,
            logits,
            argmax,
            top_k,
            weights,
            cache,
            scores,
            rope: (global, local),
            cache_bytes,
            matmul: MatMulChoices::default(),
            tuning: None,
            recording_seconds: 0.0,
            steps_ahead: 0,
        })
    }

    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// Replaces the fused `fast` decode plan by the per-operation plan with
    /// the same f32 linears (one dispatch per norm, linear, RoPE, add, ...)
    /// and one step per submission: the reference the fused plan's logits
    /// are checked against (`tests/gpu_fast.rs`). No effect in `exact`.
    #[doc(hidden)]
    pub fn unfuse_decode(&mut self) -> Result<(), GpuError> {
        if self.ahead.is_none() {
            return Ok(());
        }
        self.decode = self.bindings().blocks(1)?;
        self.ahead = None;
        Ok(())
    }

    fn bindings(&self) -> Bindings<'_> {
        Bindings {
            ctx: &self.ctx,
            numerics: self.numerics,
            config: &self.config,
            weights: &self.weights,
            acts: &self.acts,
            cache: &self.cache,
            capacity: self.capacity,
            scores: &self.scores,
            step: &self.step,
            head_step: &self.head_step,
            rope_global: &self.rope.0,
            rope_local: self.rope.1.as_ref(),
            matmul: &self.matmul,
        }
    }

    /// One matrix of each weight shape the prompt batches multiply with
    /// the fast mat-mul (none in `exact` numerics): what the autotune times.
    pub fn prefill_matrices(&self) -> Vec<&GpuMatrix> {
        let max_tokens = self.prefill_tokens as u32;
        if self.numerics != Numerics::Fast {
            return Vec::new();
        }
        let mut seen = std::collections::BTreeSet::new();
        self.weights
            .matrices
            .layers
            .iter()
            .flat_map(|l| [&l.wq, &l.wk, &l.wv, &l.wo, &l.gate, &l.up, &l.down])
            .filter(|m| uses_fast_matmul(m, max_tokens) && seen.insert(shape_key(m)))
            .collect()
    }

    /// Rebinds the prompt batches with `choices` of mat-mul variants (the
    /// autotune's); the plan bound before stays if binding fails.
    pub fn rebind_prefill(&mut self, choices: MatMulChoices) -> Result<(), GpuError> {
        let old = std::mem::replace(&mut self.matmul, choices);
        match self.bindings().blocks(self.prefill_tokens as u32) {
            Ok(prefill) => {
                self.prefill = prefill;
                Ok(())
            }
            Err(error) => {
                self.matmul = old;
                Err(error)
            }
        }
    }

    /// The mat-mul variant bound for each of [`Self::prefill_matrices`]'
    /// shapes.
    pub fn prefill_kernels(&self) -> Vec<(String, FastMatMulKernel)> {
        let max_tokens = self.prefill_tokens as u32;
        self.prefill_matrices()
            .into_iter()
            .map(|m| (shape_key(m), self.matmul.kernel(&self.ctx, m, max_tokens)))
            .collect()
    }

    /// The arithmetic this decoder's kernels follow.
    pub fn numerics(&self) -> Numerics {
        self.numerics
    }

    /// Rows of the output matrix: the token ids the decoder accepts.
    pub fn vocab_size(&self) -> usize {
        self.weights.matrices.output_matrix().rows
    }

    /// Bytes of GPU memory this decoder holds: weights, KV cache, activations.
    pub fn gpu_bytes(&self) -> u64 {
        self.weights.bytes + self.cache_bytes + self.acts.bytes + self.scores.size()
    }

    /// Dispatches in one greedy decode step, head and pick included.
    pub fn dispatches_per_token(&self) -> usize {
        let count = |passes: &Passes| passes.iter().map(KernelPass::dispatch_count).sum::<usize>();
        match &self.ahead {
            Some(ahead) => count(&self.decode) + ahead.head_dispatches(),
            None => count(&self.decode) + count(&self.logits) + self.argmax.dispatch_count(),
        }
    }

    /// Decode steps submitted in greedy groups since load, including those
    /// computed ahead and never asked for.
    pub fn steps_ahead(&self) -> usize {
        self.steps_ahead
    }

    /// CPU seconds spent recording and submitting steps so far (0 on wasm).
    pub fn recording_seconds(&self) -> f64 {
        self.recording_seconds
    }

    /// The device this decoder runs on.
    pub fn context(&self) -> &Rc<GpuContext> {
        &self.ctx
    }

    #[cfg(not(target_arch = "wasm32"))]
    pub(super) fn decode_passes(&self) -> &Passes {
        &self.decode
    }

    /// The passes of one prompt batch, and its most tokens (for
    /// `prefill_profile.rs`).
    #[cfg(not(target_arch = "wasm32"))]
    pub(super) fn prefill_passes(&self) -> &Passes {
        &self.prefill
    }

    /// Tokens in the largest prompt batch.
    pub fn prefill_batch(&self) -> usize {
        self.prefill_tokens
    }

    /// Queues this step's uniform and token ids for `tokens` at the current
    /// position.
    pub(super) fn write_inputs(&self, tokens: &[u32]) {
        let step = StepUniform::new(self.position as u32, tokens.len() as u32);
        write_step(&self.ctx, &self.step, step);
        self.ctx
            .queue
            .write_buffer(&self.acts.ids, 0, bytemuck::cast_slice(tokens));
    }

    /// Runs one batch (at most `prefill_tokens`) and, when `pick` is given,
    /// the head and that pick (argmax or top-k) into `acts.readback`.
    fn submit(&mut self, tokens: &[u32], pick: Option<bool>) {
        #[cfg(not(target_arch = "wasm32"))]
        let started = std::time::Instant::now();
        let n = tokens.len();
        self.write_inputs(tokens);
        let ctx = &self.ctx;
        let mut encoder = ctx.device.create_command_encoder(&Default::default());
        {
            let mut pass = encoder.begin_compute_pass(&Default::default());
            let blocks = if n == 1 { &self.decode } else { &self.prefill };
            blocks.iter().for_each(|p| p.encode(&mut pass));
        }
        if let Some(greedy) = pick {
            let row_bytes = (self.config.embedding_length * 4) as u64;
            encoder.copy_buffer_to_buffer(
                &self.acts.hidden,
                (n as u64 - 1) * row_bytes,
                &self.acts.last,
                0,
                row_bytes,
            );
            {
                let mut pass = encoder.begin_compute_pass(&Default::default());
                self.logits.iter().for_each(|p| p.encode(&mut pass));
                if greedy { &self.argmax } else { &self.top_k }.encode(&mut pass);
            }
            encoder.copy_buffer_to_buffer(
                &self.acts.picked,
                0,
                &self.acts.readback,
                0,
                PICKED_BYTES,
            );
        }
        ctx.queue.submit([encoder.finish()]);
        self.position += n;
        #[cfg(not(target_arch = "wasm32"))]
        {
            self.recording_seconds += started.elapsed().as_secs_f64();
        }
    }

    /// The whole logits vector of the last step, copied back. For tests and
    /// diagnostics only: decoding never reads the logits back.
    pub async fn read_logits(&self) -> Result<Vec<f32>, GpuError> {
        let bytes = self.acts.logits.size();
        let raw = self.ctx.read_buffer(&self.acts.logits, bytes).await?;
        Ok(bytemuck::cast_slice(&raw).to_vec())
    }

    /// The words of `acts.readback` (filled by the last step).
    async fn read_picked(&self) -> Result<Vec<u32>, GpuError> {
        let bytes = self.ctx.read_mapped(&self.acts.readback).await?;
        Ok(bytemuck::cast_slice(&bytes).to_vec())
    }
}

impl Decode for GpuDecoder {
    fn position(&self) -> usize {
        self.position
    }

    fn capacity(&self) -> usize {
        self.capacity
    }

    async fn decode(
        &mut self,
        tokens: &[u32],
        sampler: &mut Sampler,
        history: &[u32],
    ) -> Result<u32, EngineError> {
        if tokens.is_empty() {
            return Err(EngineError::EmptyPrompt);
        }
        if self.position + tokens.len() > self.capacity {
            return Err(ModelError::ContextFull {
                capacity: self.capacity,
            }
            .into());
        }
        let vocab = self.weights.matrices.output_matrix().rows;
        if let Some(&bad) = tokens.iter().find(|&&t| t as usize >= vocab) {
            return Err(ModelError::BadToken { id: bad, vocab }.into());
        }
        let greedy = sampler.is_greedy();
        if let Some(ahead) = &mut self.ahead {
            match tokens {
                [token] if greedy && ahead.group_steps() > 1 => {
                    return self.decode_ahead(*token).await;
                }
                _ => ahead.forget(),
            }
        }
        let batches: Vec<&[u32]> = tokens.chunks(self.prefill_tokens).collect();
        for (i, batch) in batches.iter().enumerate() {
            let last = i + 1 == batches.len();
            self.submit(batch, last.then_some(greedy));
        }
        let words = self.read_picked().await.map_err(EngineError::Gpu)?;
        // A kernel the device refused, or a lost device, leaves garbage.
        self.ctx.check().map_err(EngineError::Gpu)?;
        if greedy {
            return Ok(words[0]);
        }
        let candidates = words
            .chunks_exact(2)
            .take(TOP_K)
            .filter(|pair| pair[0] != u32::MAX)
            .map(|pair| (pair[0], f32::from_bits(pair[1])))
            .collect();
        Ok(sampler.sample_candidates(candidates, history))
    }

    fn expect_at_most(&mut self, tokens: usize) {
        let end = self.position + tokens;
        if let Some(ahead) = &mut self.ahead {
            ahead.end = Some(end);
        }
    }

    fn truncate(&mut self, len: usize) {
        // Positions past `len` are overwritten by the next tokens.
        self.position = self.position.min(len);
        if let Some(ahead) = &mut self.ahead {
            ahead.forget();
            ahead.end = None;
        }
    }
}
