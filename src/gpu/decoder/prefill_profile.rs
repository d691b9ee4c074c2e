//! For `locus bench`: the GPU time of each pass of one prompt batch (the
//! prefill counterpart of `profile.rs`'s decode profile) and how a decode
//! step's dispatches divide between the embedding, the layers and the head;
//! `time_passes` serves both profiles.
//! Native only, like `profile.rs`.

use super::plan::Passes;
use super::session::GpuDecoder;
use crate::gpu::pass::KernelPass;
use crate::gpu::{GpuContext, GpuError};

/// The dispatches of one decode step, by part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeDispatches {
    pub embedding: usize,
    /// Every layer's, together.
    pub layers: usize,
    /// The logits and the greedy pick of the last token.
    pub head: usize,
}

impl GpuDecoder {
    /// Runs one prompt batch of `tokens` (at most the prefill batch size) at
    /// the current position, without advancing it and without the head,
    /// with every pass in its own compute pass, and returns each pass's GPU
    /// milliseconds in plan order.
    pub async fn profile_prefill(&mut self, tokens: &[u32]) -> Result<Vec<f64>, GpuError> {
        if tokens.is_empty() || tokens.len() > self.prefill_batch() {
            return Err(GpuError::Shape(format!(
                "a profiled prompt batch holds 1 to {} tokens, not {}",
                self.prefill_batch(),
                tokens.len()
            )));
        }
        self.write_inputs(tokens);
        let ctx = self.context().clone();
        time_passes(&ctx, self.prefill_passes()).await
    }

    /// How one decode step's dispatches divide (see
    /// [`GpuDecoder::dispatches_per_token`] for their sum).
    pub fn decode_dispatches(&self) -> DecodeDispatches {
        let passes = self.decode_passes();
        let count = |p: &[KernelPass]| p.iter().map(KernelPass::dispatch_count).sum::<usize>();
        let embedding = passes.first().map_or(0, KernelPass::dispatch_count);
        let blocks = count(passes);
        DecodeDispatches {
            embedding,
            layers: blocks - embedding,
            head: self.dispatches_per_token() - blocks,
        }
    }
}

/// Records `passes` each in its own compute pass between two timestamp
/// writes, submits them and returns each one's GPU milliseconds.
pub(super) async fn time_passes(ctx: &GpuContext, passes: &Passes) -> Result<Vec<f64>, GpuError> {
    if !ctx
        .device
        .features()
        .contains(wgpu::Features::TIMESTAMP_QUERY)
    {
        return Err(GpuError::Device(
            "this adapter has no timestamp queries".into(),
        ));
    }
    let count = (2 * passes.len()) as u32;
    let queries = ctx.device.create_query_set(&wgpu::QuerySetDescriptor {
        label: Some("prefill profile"),
        ty: wgpu::QueryType::Timestamp,
        count,
    });
    let bytes = u64::from(count) * 8;
    let resolved = ctx.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("prefill profile timestamps"),
        size: bytes,
        usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
        mapped_at_creation: false,
    });
    let mut encoder = ctx.device.create_command_encoder(&Default::default());
    for (i, pass) in passes.iter().enumerate() {
        let mut compute = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: None,
            timestamp_writes: Some(wgpu::ComputePassTimestampWrites {
                query_set: &queries,
                beginning_of_pass_write_index: Some(2 * i as u32),
                end_of_pass_write_index: Some(2 * i as u32 + 1),
            }),
        });
        pass.encode(&mut compute);
    }
    encoder.resolve_query_set(&queries, 0..count, &resolved, 0);
    ctx.queue.submit([encoder.finish()]);
    let raw = ctx.read_buffer(&resolved, bytes).await?;
    ctx.check()?;
    let ticks: &[u64] = bytemuck::cast_slice(&raw);
    let period = f64::from(ctx.queue.get_timestamp_period());
    Ok(ticks
        .chunks_exact(2)
        .map(|t| t[1].saturating_sub(t[0]) as f64 * period / 1e6)
        .collect())
}
