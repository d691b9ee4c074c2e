//! What the GPU run adds to the figures: the device's copy bandwidth, the
//! dispatches of a decode step, per-pass GPU profiles of a decode step and of
//! a prompt batch, and the process's peak host memory.

use serde::Serialize;
use web_time::Instant;

use locus::gpu::GpuContext;
use locus::gpu::decoder::GpuDecoder;

/// The device's copy bandwidth: bytes read plus written per second by
/// copies between two 256 MiB buffers (after one untimed copy).
pub fn copy_bandwidth(ctx: &GpuContext) -> Result<f64, String> {
    const BYTES: u64 = 256 << 20;
    const COPIES: u32 = 8;
    let buffer = |usage| {
        ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("copy bandwidth"),
            size: BYTES,
            usage,
            mapped_at_creation: false,
        })
    };
    let source = buffer(wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::STORAGE);
    let target = buffer(wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::COPY_SRC);
    let copies = |count: u32| -> Result<f64, String> {
        let started = Instant::now();
        let mut encoder = ctx.device.create_command_encoder(&Default::default());
        for _ in 0..count {
            encoder.copy_buffer_to_buffer(&source, 0, &target, 0, BYTES);
        }
        ctx.queue.submit([encoder.finish()]);
        // Reading 4 bytes back waits for the copies.
        pollster::block_on(ctx.read_buffer(&target, 4)).map_err(|e| e.to_string())?;
        Ok(started.elapsed().as_secs_f64())
    };
    copies(1)?;
    let seconds = copies(COPIES)? - copies(0)?;
    Ok(2.0 * BYTES as f64 * f64::from(COPIES) / seconds.max(1e-9) / 1e9)
}

/// Dispatches of one decode step.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Dispatches {
    pub per_token: usize,
    /// The layers' dispatches over the layer count (embedding and head not
    /// included).
    pub per_layer: f64,
    pub embedding: usize,
    pub head: usize,
    /// CPU milliseconds recording and submitting a decoded token.
    pub recording_ms_per_token: f64,
}

pub fn dispatches(decoder: &GpuDecoder, recording_ms_per_token: f64) -> Dispatches {
    let parts = decoder.decode_dispatches();
    let layers = decoder.config().block_count.max(1);
    Dispatches {
        per_token: decoder.dispatches_per_token(),
        per_layer: parts.layers as f64 / layers as f64,
        embedding: parts.embedding,
        head: parts.head,
        recording_ms_per_token,
    }
}

/// CPU milliseconds spent recording and submitting one decode step, over
/// `steps` steps from an empty cache (the cache is left empty).
pub fn recording_ms_per_token(decoder: &mut GpuDecoder, steps: usize) -> Result<f64, String> {
    use locus::engine::{Decode, Sampler, SamplingParams};
    decoder.truncate(0);
    let before = decoder.recording_seconds();
    let mut sampler = Sampler::new(SamplingParams::greedy());
    let mut token = 0;
    for _ in 0..steps {
        token = pollster::block_on(decoder.decode(&[token], &mut sampler, &[]))
            .map_err(|e| e.to_string())?;
    }
    decoder.truncate(0);
    Ok((decoder.recording_seconds() - before) * 1e3 / steps.max(1) as f64)
}

/// Per-pass GPU milliseconds of one step: the embedding, each pass of a
/// layer as its mean over the layers (in plan order), and the total.
#[derive(Debug, Clone, Serialize)]
pub struct Profile {
    /// Tokens in the profiled step.
    pub tokens: usize,
    pub embedding_ms: f64,
    pub layer_pass_ms: Vec<f64>,
    pub total_ms: f64,
    pub passes: usize,
    pub layers: usize,
}

impl Profile {
    fn from_times(times: &[f64], tokens: usize, layers: usize) -> Profile {
        let layers = layers.max(1);
        let per_layer = times.len().saturating_sub(1) / layers;
        let layer_pass_ms = (0..per_layer)
            .map(|i| {
                (0..layers)
                    .map(|l| times[1 + l * per_layer + i])
                    .sum::<f64>()
                    / layers as f64
            })
            .collect();
        Profile {
            tokens,
            embedding_ms: times.first().copied().unwrap_or(0.0),
            layer_pass_ms,
            total_ms: times.iter().sum(),
            passes: times.len(),
            layers,
        }
    }

    /// The profile as text lines, under `title`.
    pub fn lines(&self, title: &str) -> Vec<String> {
        let layers = self.layers;
        let mut lines = vec![format!(
            "profile:    {title} ({} token{}), GPU time per pass (mean over {layers} layers):",
            self.tokens,
            if self.tokens == 1 { "" } else { "s" }
        )];
        lines.push(format!("  embedding  {:.4} ms", self.embedding_ms));
        for (i, ms) in self.layer_pass_ms.iter().enumerate() {
            lines.push(format!("  pass {i:>2}    {ms:.4} ms"));
        }
        lines.push(format!(
            "  total      {:.3} ms over {} passes (head not included)",
            self.total_ms, self.passes
        ));
        lines
    }
}

/// Profiles of a decode step and of one prompt batch of `batch` tokens
/// (each the last of three runs: the first compiles and warms up). Leaves the
/// cache empty.
pub fn profiles(decoder: &mut GpuDecoder, batch: usize) -> Result<(Profile, Profile), String> {
    use locus::engine::Decode;
    let layers = decoder.config().block_count;
    let err = |e: locus::gpu::GpuError| e.to_string();
    decoder.truncate(0);
    let mut times = Vec::new();
    for _ in 0..3 {
        times = pollster::block_on(decoder.profile_decode(1)).map_err(err)?;
    }
    let decode = Profile::from_times(&times, 1, layers);
    let tokens = super::measure::token_ids(batch, decoder.vocab_size(), 5);
    for _ in 0..3 {
        times = pollster::block_on(decoder.profile_prefill(&tokens)).map_err(err)?;
    }
    let prefill = Profile::from_times(&times, batch, layers);
    Ok((decode, prefill))
}

/// The process's peak resident memory (Linux `VmHWM`).
pub fn peak_host_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_means_each_pass_over_the_layers() {
        // Embedding 1 ms, two layers of three passes.
        let times = [1.0, 0.1, 0.2, 0.3, 0.3, 0.4, 0.5];
        let profile = Profile::from_times(&times, 1, 2);
        assert_eq!(profile.embedding_ms, 1.0);
        let want = [0.2, 0.3, 0.4];
        for (got, want) in profile.layer_pass_ms.iter().zip(want) {
            assert!((got - want).abs() < 1e-12, "{got} vs {want}");
        }
        assert!((profile.total_ms - 2.8).abs() < 1e-12);
        assert_eq!(profile.lines("decode").len(), 6);
    }
}
