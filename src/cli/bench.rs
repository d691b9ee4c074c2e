//! `locus bench MODEL [--header-only]`: prompt processing (pp) and generation
//! (tg) tokens/s, time to first token, peak memory and effective weight
//! bandwidth. With `--header-only` the file may be just the GGUF header: the
//! weights are synthesised with the same shapes and types.

use std::path::PathBuf;

use clap::Args;
use web_time::Instant;

use locus::engine::{CpuSession, Decode, Sampler, SamplingParams};
use locus::gguf::SyntheticSource;

use super::backend::{Backend, Loaded, NumericsArg, Placement, load_from};

#[derive(Args)]
pub struct BenchArgs {
    model: PathBuf,
    /// Synthesise the weights from the header (the file may be cut after it).
    #[arg(long)]
    header_only: bool,
    /// Prompt tokens processed in one batch (pp).
    #[arg(long, default_value_t = 512)]
    prompt_tokens: usize,
    /// Tokens generated one at a time after the prompt (tg).
    #[arg(long, default_value_t = 128)]
    gen_tokens: usize,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    #[arg(long, value_enum, default_value_t = Backend::Auto)]
    backend: Backend,
    /// The GPU kernels' arithmetic (`exact` or `fast`).
    #[arg(long, value_enum, default_value_t = NumericsArg::Fast)]
    numerics: NumericsArg,
    /// GPU: also print the GPU time of each pass of a decode step (needs
    /// timestamp queries).
    #[arg(long)]
    profile: bool,
}

#[derive(serde::Serialize)]
struct BenchReport {
    model: String,
    backend: String,
    synthetic_weights: bool,
    weight_bytes: u64,
    load_seconds: f64,
    prompt_tokens: usize,
    prompt_tokens_per_second: f64,
    time_to_first_token_ms: f64,
    gen_tokens: usize,
    gen_tokens_per_second: f64,
    /// Weight bytes read per second while generating (every weight is read
    /// once per token).
    effective_gb_per_second: f64,
    peak_host_mib: Option<f64>,
    /// Weights, KV cache and activations on the GPU.
    gpu_mib: Option<f64>,
    /// GPU only: bytes read plus bytes written per second by a large
    /// buffer-to-buffer copy, the bandwidth the weights' rate compares to.
    copy_gb_per_second: Option<f64>,
    dispatches_per_token: Option<usize>,
    recording_ms_per_token: Option<f64>,
}

pub fn run(args: BenchArgs) -> Result<(), String> {
    let path = args.model.display().to_string();
    let placement = Placement {
        backend: args.backend,
        numerics: args.numerics.into(),
        capacity: args.prompt_tokens + args.gen_tokens + 1,
    };
    let started = Instant::now();
    let mut loaded = if args.header_only {
        let bytes = std::fs::read(&args.model).map_err(|e| format!("{path}: {e}"))?;
        let (_, mut source) = SyntheticSource::new(bytes).map_err(|e| format!("{path}: {e}"))?;
        load_from(&mut source, &path, placement)?
    } else {
        load_from(&mut super::open(&args.model)?, &path, placement)?
    };
    let load_seconds = started.elapsed().as_secs_f64();
    let (weight_bytes, vocab, gpu_mib) = match &loaded {
        Loaded::Cpu(m) => (tensor_bytes(&m.file), m.decoder.vocab_size(), None),
        Loaded::Gpu(m, _) => {
            let mib = m.decoder.gpu_bytes() as f64 / f64::from(1 << 20);
            (tensor_bytes(&m.file), m.decoder.vocab_size(), Some(mib))
        }
    };
    // Arbitrary but fixed token ids: speed does not depend on them.
    let prompt: Vec<u32> = (0..args.prompt_tokens as u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 7) % vocab as u32)
        .collect();
    let backend = loaded.describe();
    // GPU only: (dispatches per decode step, CPU seconds recording one).
    let mut recording = None;
    let mut copy_gb_per_second = None;
    let (ttft, gen_seconds) = match &mut loaded {
        Loaded::Cpu(model) => {
            let mut cache = model.new_cache(placement.capacity);
            let mut session = CpuSession {
                decoder: &model.decoder,
                cache: &mut cache,
            };
            measure(&mut session, &prompt, args.gen_tokens)?
        }
        Loaded::Gpu(model, _) => {
            // One untimed step first: pipelines are compiled on first use.
            decode(
                &mut model.decoder,
                &prompt[..1],
                &mut Sampler::new(SamplingParams::greedy()),
            )?;
            model.decoder.truncate(0);
            let before = model.decoder.recording_seconds();
            let (ttft, gen_seconds) = measure(&mut model.decoder, &prompt, args.gen_tokens)?;
            recording = Some((
                model.decoder.dispatches_per_token(),
                (model.decoder.recording_seconds() - before) / (args.gen_tokens + 1) as f64,
            ));
            if args.profile {
                print_profile(&mut model.decoder)?;
            }
            copy_gb_per_second = Some(copy_bandwidth(model.decoder.context())?);
            (ttft, gen_seconds)
        }
    };
    let report = BenchReport {
        model: path,
        backend,
        synthetic_weights: args.header_only,
        weight_bytes,
        load_seconds,
        prompt_tokens: args.prompt_tokens,
        prompt_tokens_per_second: args.prompt_tokens as f64 / ttft,
        time_to_first_token_ms: ttft * 1e3,
        gen_tokens: args.gen_tokens,
        gen_tokens_per_second: args.gen_tokens as f64 / gen_seconds,
        effective_gb_per_second: weight_bytes as f64 * args.gen_tokens as f64 / gen_seconds / 1e9,
        peak_host_mib: peak_host_mib(),
        gpu_mib,
        copy_gb_per_second,
        dispatches_per_token: recording.map(|r| r.0),
        recording_ms_per_token: recording.map(|r| r.1 * 1e3),
    };
    print_report(&report, args.json)
}

fn tensor_bytes(file: &locus::gguf::GgufFile) -> u64 {
    file.tensors.iter().map(|t| t.bytes).sum()
}

/// Seconds for the prompt (to the first token) and for `gen_tokens` more.
fn measure<D: Decode>(
    session: &mut D,
    prompt: &[u32],
    gen_tokens: usize,
) -> Result<(f64, f64), String> {
    let mut sampler = Sampler::new(SamplingParams::greedy());
    let (first, ttft) = timed(|| decode(session, prompt, &mut sampler))?;
    let mut token = first;
    let (_, gen_seconds) = timed(|| {
        for _ in 0..gen_tokens {
            token = decode(session, &[token], &mut sampler)?;
        }
        Ok(())
    })?;
    Ok((ttft, gen_seconds))
}

fn decode<D: Decode>(
    session: &mut D,
    tokens: &[u32],
    sampler: &mut Sampler,
) -> Result<u32, String> {
    pollster::block_on(session.decode(tokens, sampler, &[])).map_err(|e| e.to_string())
}

fn timed<T>(work: impl FnOnce() -> Result<T, String>) -> Result<(T, f64), String> {
    let started = Instant::now();
    let value = work()?;
    Ok((value, started.elapsed().as_secs_f64().max(1e-9)))
}

/// The device's copy bandwidth: bytes read plus written per second by
/// copies between two 256 MiB buffers (after one untimed copy).
fn copy_bandwidth(ctx: &locus::gpu::GpuContext) -> Result<f64, String> {
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

/// Per-pass GPU times of a decode step: each pass's mean over the layers
/// (passes in plan order within a layer), then the total.
fn print_profile(decoder: &mut locus::gpu::decoder::GpuDecoder) -> Result<(), String> {
    let layers = decoder.config().block_count;
    let mut times = Vec::new();
    for _ in 0..3 {
        times = pollster::block_on(decoder.profile_decode(1)).map_err(|e| e.to_string())?;
    }
    let total: f64 = times.iter().sum();
    let per_layer = (times.len() - 1) / layers.max(1);
    println!("profile:    one decode step, GPU time per pass (mean over {layers} layers):");
    println!("  embedding  {:.4} ms", times[0]);
    for i in 0..per_layer {
        let mean = (0..layers)
            .map(|l| times[1 + l * per_layer + i])
            .sum::<f64>()
            / layers as f64;
        println!("  pass {i:>2}    {mean:.4} ms");
    }
    println!(
        "  total      {total:.3} ms over {} passes (head not included)",
        times.len()
    );
    Ok(())
}

/// The process's peak resident memory (Linux `VmHWM`).
fn peak_host_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn print_report(r: &BenchReport, json: bool) -> Result<(), String> {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(r).map_err(|e| e.to_string())?
        );
        return Ok(());
    }
    let synthetic = if r.synthetic_weights {
        " (synthetic weights)"
    } else {
        ""
    };
    println!("model:      {}{synthetic}", r.model);
    println!("backend:    {}", r.backend);
    println!(
        "weights:    {:.1} MB, loaded in {:.2} s",
        r.weight_bytes as f64 / 1e6,
        r.load_seconds
    );
    println!(
        "pp{}:      {:.1} tokens/s (time to first token {:.1} ms)",
        r.prompt_tokens, r.prompt_tokens_per_second, r.time_to_first_token_ms
    );
    println!(
        "tg{}:      {:.1} tokens/s, {:.2} GB/s of weights",
        r.gen_tokens, r.gen_tokens_per_second, r.effective_gb_per_second
    );
    if let Some(copy) = r.copy_gb_per_second {
        println!(
            "copy:       {copy:.0} GB/s (read + written); weights at {:.1}% of it",
            100.0 * r.effective_gb_per_second / copy
        );
    }
    if let Some(mib) = r.peak_host_mib {
        println!("peak host:  {mib:.0} MiB");
    }
    if let Some(mib) = r.gpu_mib {
        println!("gpu memory: {mib:.0} MiB (weights, KV cache, activations)");
    }
    if let (Some(n), Some(ms)) = (r.dispatches_per_token, r.recording_ms_per_token) {
        let per_token = 1e3 / r.gen_tokens_per_second;
        println!(
            "decode:     {n} dispatches a token, {ms:.2} ms of {per_token:.2} ms recording on the CPU"
        );
    }
    Ok(())
}
