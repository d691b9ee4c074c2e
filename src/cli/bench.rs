//! `locus bench MODEL [--header-only]`: prompt processing (pp) and generation
//! (tg) tokens/s, time to first token, peak memory and effective weight
//! bandwidth. With `--header-only` the file may be just the GGUF header: the
//! weights are synthesised with the same shapes and types.

use std::path::PathBuf;

use clap::Args;
use web_time::Instant;

use locus::engine::{CpuSession, Decode, Sampler, SamplingParams};
use locus::gguf::SyntheticSource;

use super::backend::{Backend, Loaded, load_from};

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
}

pub fn run(args: BenchArgs) -> Result<(), String> {
    let path = args.model.display().to_string();
    let capacity = args.prompt_tokens + args.gen_tokens + 1;
    let started = Instant::now();
    let mut loaded = if args.header_only {
        let bytes = std::fs::read(&args.model).map_err(|e| format!("{path}: {e}"))?;
        let (_, mut source) = SyntheticSource::new(bytes).map_err(|e| format!("{path}: {e}"))?;
        load_from(&mut source, &path, args.backend, capacity)?
    } else {
        load_from(
            &mut super::open(&args.model)?,
            &path,
            args.backend,
            capacity,
        )?
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
    let (ttft, gen_seconds) = match &mut loaded {
        Loaded::Cpu(model) => {
            let mut cache = model.new_cache(capacity);
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
            measure(&mut model.decoder, &prompt, args.gen_tokens)?
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
    if let Some(mib) = r.peak_host_mib {
        println!("peak host:  {mib:.0} MiB");
    }
    if let Some(mib) = r.gpu_mib {
        println!("gpu memory: {mib:.0} MiB (weights, KV cache, activations)");
    }
    Ok(())
}
