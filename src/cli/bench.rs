//! `locus bench MODEL`: llama-bench's figures for Locus, optionally beside
//! llama.cpp's own on the same model in the same invocation.
//!
//! `pp N` (prompt tokens/s from an empty cache, up to the last token's
//! logits), `tg N` (single-token decodes from an empty context), both after a
//! `--depth D` prefill when asked, `--prompt N` time to first token, each
//! repeated `-r` times after a warm-up (mean ± sample deviation of the runs'
//! tokens/s, as llama-bench computes them); on the GPU also dispatches per
//! token and per layer, the device's copy bandwidth and, with `--profile`,
//! per-pass GPU times of a decode step and of a prompt batch. With
//! `--header-only` the file may be just the GGUF header: the weights are
//! synthesised with the same shapes and types (and, for `--llama-bench`,
//! written out in full by llama.cpp's `gguf_synth.py`).

mod device;
mod llama;
mod measure;
mod stats;
mod table;

use std::path::PathBuf;

use clap::Args;
use serde::Serialize;
use web_time::Instant;

use locus::engine::CpuSession;
use locus::gguf::SyntheticSource;
use locus::gpu::tuning::TuningReport;

use super::backend::{Backend, Loaded, NumericsArg, PREFILL_TOKENS, Placement, load_from};
use device::{Dispatches, Profile};
use llama::{FlashAttn, LlamaTest};
use measure::{Measured, Plan};
use stats::{Runs, Stat};
use table::{LocusFigures, Row};

#[derive(Args)]
pub struct BenchArgs {
    model: PathBuf,
    /// Synthesise the weights from the header (the file may be cut after it).
    #[arg(long)]
    header_only: bool,
    /// pp: prompt tokens processed from an empty cache (llama-bench `-p`; 0
    /// skips the test).
    #[arg(
        short = 'p',
        long = "pp",
        alias = "prompt-tokens",
        default_value_t = 512
    )]
    pp: usize,
    /// tg: tokens decoded one at a time from an empty context (llama-bench
    /// `-n`; 0 skips the test).
    #[arg(short = 'n', long = "tg", alias = "gen-tokens", default_value_t = 128)]
    tg: usize,
    /// Tokens in the cache before each pp and tg run (llama-bench `-d`).
    #[arg(short = 'd', long, default_value_t = 0)]
    depth: usize,
    /// Also time the first token of a prompt of this many tokens (prefill
    /// and first sample), e.g. 1500 for an article.
    #[arg(long = "prompt")]
    ttft_prompt: Option<usize>,
    /// Timed runs of each test, after one warm-up (llama-bench `-r`).
    #[arg(short = 'r', long = "repetitions", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    repetitions: u32,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    #[arg(long, value_enum, default_value_t = Backend::Auto)]
    backend: Backend,
    /// The GPU kernels' arithmetic (`exact` or `fast`).
    #[arg(long, value_enum, default_value_t = NumericsArg::Fast)]
    numerics: NumericsArg,
    /// GPU: also the GPU time of each pass of a decode step and of a prompt
    /// batch (needs timestamp queries).
    #[arg(long)]
    profile: bool,
    /// Run llama.cpp's `llama-bench` at this path on the same model with the
    /// same sizes, and print both side by side.
    #[arg(long, value_name = "PATH")]
    llama_bench: Option<PathBuf>,
    /// llama.cpp's attention for `--llama-bench`: off (`-fa 0`), on, or both.
    #[arg(long, value_enum, default_value_t = FlashAttn::Off)]
    flash_attn: FlashAttn,
    /// Time the fast mat-mul's variants for this adapter again instead of
    /// using the stored choices (`~/.cache/locus/tuning.json`).
    #[arg(long)]
    retune: bool,
    /// With `--header-only --llama-bench`: llama.cpp's `gguf_synth.py`,
    /// which writes the full synthetic GGUF llama-bench loads.
    #[arg(long, value_name = "PATH", default_value = ".ref/gguf_synth.py")]
    synth: PathBuf,
}

#[derive(Serialize)]
struct BenchReport {
    model: String,
    backend: String,
    synthetic_weights: bool,
    weight_bytes: u64,
    load_seconds: f64,
    /// GPU: what the autotune did at load (`gpu::tuning`).
    tuning: Option<TuningReport>,
    repetitions: usize,
    depth: usize,
    /// Prompt processing, tokens/s.
    pp: Option<TestReport>,
    /// Generation, tokens/s.
    tg: Option<TestReport>,
    /// Time to first token, milliseconds.
    ttft: Option<TestReport>,
    /// Weight bytes read per second while generating (every weight is read
    /// once per token), from tg's mean.
    effective_gb_per_second: Option<f64>,
    peak_host_mib: Option<f64>,
    /// Weights, KV cache and activations on the GPU.
    gpu_mib: Option<f64>,
    /// GPU only: bytes read plus bytes written per second by a large
    /// buffer-to-buffer copy, the bandwidth the weights' rate compares to.
    copy_gb_per_second: Option<f64>,
    dispatches: Option<Dispatches>,
    profile_decode: Option<Profile>,
    profile_prefill: Option<Profile>,
    /// llama-bench's tests as it reported them.
    llama_bench: Option<Vec<LlamaTest>>,
    /// The side-by-side table.
    comparison: Vec<Row>,
}

/// One test: its size, the mean and deviation, and each run's value.
#[derive(Serialize)]
struct TestReport {
    tokens: usize,
    unit: &'static str,
    mean: f64,
    stddev: f64,
    samples: Vec<f64>,
}

impl TestReport {
    fn rate(runs: &Runs) -> TestReport {
        let stat = runs.tokens_per_second();
        TestReport::new(runs.tokens, "tokens/s", stat, runs.tokens_per_second_each())
    }

    fn latency(runs: &Runs) -> TestReport {
        let samples = runs.seconds.iter().map(|s| s * 1e3).collect();
        TestReport::new(runs.tokens, "ms", runs.milliseconds(), samples)
    }

    fn new(tokens: usize, unit: &'static str, stat: Stat, samples: Vec<f64>) -> TestReport {
        TestReport {
            tokens,
            unit,
            mean: stat.mean,
            stddev: stat.stddev,
            samples,
        }
    }

    fn stat(&self) -> (usize, Stat) {
        let stat = Stat {
            mean: self.mean,
            stddev: self.stddev,
        };
        (self.tokens, stat)
    }
}

pub fn run(args: BenchArgs) -> Result<(), String> {
    if args.header_only && args.llama_bench.is_some() && !args.synth.is_file() {
        return Err(format!(
            "--header-only with --llama-bench needs llama.cpp's gguf_synth.py: {} is not a file (--synth PATH)",
            args.synth.display()
        ));
    }
    let path = args.model.display().to_string();
    let plan = Plan {
        pp: args.pp,
        tg: args.tg,
        depth: args.depth,
        ttft: args.ttft_prompt,
        repetitions: args.repetitions as usize,
    };
    let placement = Placement {
        backend: args.backend,
        numerics: args.numerics.into(),
        capacity: plan.capacity(),
        retune: args.retune,
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
    let backend = loaded.describe();
    let mut gpu = GpuFigures::default();
    let (file, measured) = match &mut loaded {
        Loaded::Cpu(model) => {
            let mut cache = model.new_cache(plan.capacity());
            let mut session = CpuSession {
                decoder: &model.decoder,
                cache: &mut cache,
            };
            let vocab = model.decoder.vocab_size();
            (&model.file, measure::measure(&mut session, vocab, &plan)?)
        }
        Loaded::Gpu(model, _) => {
            let decoder = &mut model.decoder;
            let vocab = decoder.vocab_size();
            gpu.mib = Some(decoder.gpu_bytes() as f64 / f64::from(1 << 20));
            gpu.tuning = decoder.tuning.clone();
            let measured = measure::measure(decoder, vocab, &plan)?;
            let recording_ms = device::recording_ms_per_token(decoder, plan.tg.clamp(1, 32))?;
            gpu.dispatches = Some(device::dispatches(decoder, recording_ms));
            if args.profile {
                let batch = plan.pp.clamp(1, PREFILL_TOKENS).min(plan.capacity());
                gpu.profiles = Some(device::profiles(decoder, batch)?);
            }
            gpu.copy_gb_per_second = Some(device::copy_bandwidth(decoder.context())?);
            (&model.file, measured)
        }
    };
    let weight_bytes: u64 = file.tensors.iter().map(|t| t.bytes).sum();
    // llama.cpp gets the device to itself.
    drop(loaded);
    let llama = match &args.llama_bench {
        Some(binary) => Some(run_llama_bench(&args, binary, &plan)?),
        None => None,
    };
    let report = report(
        &args,
        &plan,
        &measured,
        gpu,
        llama,
        ReportBasics {
            model: path,
            backend,
            weight_bytes,
            load_seconds,
        },
    );
    print_report(&report, args.json)
}

/// What only a GPU run measures.
#[derive(Default)]
struct GpuFigures {
    mib: Option<f64>,
    copy_gb_per_second: Option<f64>,
    dispatches: Option<Dispatches>,
    profiles: Option<(Profile, Profile)>,
    tuning: Option<TuningReport>,
}

struct ReportBasics {
    model: String,
    backend: String,
    weight_bytes: u64,
    load_seconds: f64,
}

fn run_llama_bench(
    args: &BenchArgs,
    binary: &std::path::Path,
    plan: &Plan,
) -> Result<Vec<LlamaTest>, String> {
    // From a header alone llama.cpp needs the whole file: synthesised here
    // and removed when `synthesised` drops.
    let synthesised = if args.header_only {
        Some(llama::SynthesisedModel::write(&args.synth, &args.model)?)
    } else {
        None
    };
    let model = synthesised
        .as_ref()
        .map_or(args.model.as_path(), |s| &s.path);
    llama::Request {
        binary,
        model,
        pp: plan.pp,
        tg: plan.tg,
        depth: plan.depth,
        repetitions: plan.repetitions,
        flash_attn: args.flash_attn,
    }
    .run()
}

fn report(
    args: &BenchArgs,
    plan: &Plan,
    measured: &Measured,
    gpu: GpuFigures,
    llama: Option<Vec<LlamaTest>>,
    basics: ReportBasics,
) -> BenchReport {
    let pp = measured.pp.as_ref().map(TestReport::rate);
    let tg = measured.tg.as_ref().map(TestReport::rate);
    let ttft = measured.ttft.as_ref().map(TestReport::latency);
    let figures = LocusFigures {
        pp: pp.as_ref().map(TestReport::stat),
        tg: tg.as_ref().map(TestReport::stat),
        depth: plan.depth,
        ttft_ms: ttft.as_ref().map(TestReport::stat),
    };
    let comparison = table::rows(&figures, llama.as_deref().unwrap_or(&[]));
    let (profile_decode, profile_prefill) = gpu
        .profiles
        .map(|(d, p)| (Some(d), Some(p)))
        .unwrap_or_default();
    BenchReport {
        model: basics.model,
        backend: basics.backend,
        synthetic_weights: args.header_only,
        weight_bytes: basics.weight_bytes,
        load_seconds: basics.load_seconds,
        tuning: gpu.tuning,
        repetitions: plan.repetitions,
        depth: plan.depth,
        effective_gb_per_second: tg
            .as_ref()
            .map(|t| basics.weight_bytes as f64 * t.mean / 1e9),
        pp,
        tg,
        ttft,
        peak_host_mib: device::peak_host_mib(),
        gpu_mib: gpu.mib,
        copy_gb_per_second: gpu.copy_gb_per_second,
        dispatches: gpu.dispatches,
        profile_decode,
        profile_prefill,
        llama_bench: llama,
        comparison,
    }
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
    if let Some(tuning) = &r.tuning {
        println!("tuning:     {tuning}");
    }
    println!(
        "runs:       {} timed after one warm-up, depth {}",
        r.repetitions, r.depth
    );
    println!("{}", table::render(&r.comparison));
    if let Some(gb) = r.effective_gb_per_second {
        match r.copy_gb_per_second {
            Some(copy) => println!(
                "weights:    {gb:.2} GB/s read while generating; copy {copy:.0} GB/s (read + written): {:.1}% of it",
                100.0 * gb / copy
            ),
            None => println!("weights:    {gb:.2} GB/s read while generating"),
        }
    }
    if let Some(mib) = r.peak_host_mib {
        println!("peak host:  {mib:.0} MiB");
    }
    if let Some(mib) = r.gpu_mib {
        println!("gpu memory: {mib:.0} MiB (weights, KV cache, activations)");
    }
    if let Some(d) = &r.dispatches {
        let per_token = r.tg.as_ref().map_or(0.0, |t| 1e3 / t.mean.max(1e-9));
        println!(
            "decode:     {} dispatches a token ({:.1} a layer, embedding {}, head {}); {:.2} ms of {per_token:.2} ms recording on the CPU",
            d.per_token, d.per_layer, d.embedding, d.head, d.recording_ms_per_token
        );
    }
    if let Some(p) = &r.profile_decode {
        println!("{}", p.lines("one decode step").join("\n"));
    }
    if let Some(p) = &r.profile_prefill {
        println!("{}", p.lines("one prompt batch").join("\n"));
    }
    Ok(())
}
