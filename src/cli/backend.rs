//! `--backend cpu|gpu|auto`: loading a model where it will run.

use std::path::Path;
use std::rc::Rc;

use locus::chat::ChatTemplate;
use locus::engine::{GpuModel, LoadedModel};
use locus::gguf::ByteSource;
use locus::gpu::{GpuContext, GpuOptions, Numerics};
use locus::tokenizer::Tokenizer;

/// `--numerics exact|fast`: the GPU kernels' arithmetic (see
/// `locus::gpu::Numerics`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum NumericsArg {
    Exact,
    #[default]
    Fast,
}

impl From<NumericsArg> for Numerics {
    fn from(arg: NumericsArg) -> Numerics {
        match arg {
            NumericsArg::Exact => Numerics::Exact,
            NumericsArg::Fast => Numerics::Fast,
        }
    }
}

/// Where a model runs and, on the GPU, in which numerics.
#[derive(Debug, Clone, Copy)]
pub struct Placement {
    pub backend: Backend,
    pub numerics: Numerics,
    /// KV cache positions.
    pub capacity: usize,
    /// Time the fast mat-mul's variants again instead of reading the
    /// adapter's stored choices (`gpu::tuning`).
    pub retune: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Backend {
    Auto,
    Cpu,
    Gpu,
}

/// Prompt tokens processed per GPU batch.
pub const PREFILL_TOKENS: usize = 512;

pub enum Loaded {
    Cpu(Box<LoadedModel>),
    Gpu(Box<GpuModel>, String),
}

impl Loaded {
    pub fn text(&self) -> (&Tokenizer, Option<&ChatTemplate>) {
        match self {
            Loaded::Cpu(m) => (&m.tokenizer, m.chat.as_ref()),
            Loaded::Gpu(m, _) => (&m.tokenizer, m.chat.as_ref()),
        }
    }

    /// "cpu" or "gpu (adapter name, numerics)".
    pub fn describe(&self) -> String {
        match self {
            Loaded::Cpu(_) => "cpu".into(),
            Loaded::Gpu(m, adapter) => format!("gpu ({adapter}, {})", m.decoder.numerics()),
        }
    }
}

/// Loads the model at `path` on `backend`; `auto` falls back to the CPU
/// (saying why on stderr) when no GPU adapter can be had.
pub fn load(path: &Path, placement: Placement) -> Result<Loaded, String> {
    let mut file = super::open(path)?;
    load_from(&mut file, &path.display().to_string(), placement)
}

pub fn load_from<S: ByteSource>(
    source: &mut S,
    name: &str,
    placement: Placement,
) -> Result<Loaded, String> {
    let backend = placement.backend;
    let fail = |e: &dyn std::fmt::Display| format!("{name}: {e}");
    // A file that is not a model fails here, before any GPU is set up.
    let file = locus::gguf::GgufFile::read(source).map_err(|e| fail(&e))?;
    if backend == Backend::Cpu {
        return LoadedModel::from_header(file, source)
            .map(|m| Loaded::Cpu(Box::new(m)))
            .map_err(|e| fail(&e));
    }
    match pollster::block_on(GpuContext::create()) {
        Ok(ctx) => {
            let adapter = ctx.info.name.clone();
            let ctx = Rc::new(ctx);
            let options = GpuOptions {
                capacity: placement.capacity,
                prefill_tokens: PREFILL_TOKENS,
                numerics: placement.numerics,
            };
            let mut model = GpuModel::from_header(ctx, file, source, &options, &mut |_| {})
                .map_err(|e| fail(&e))?;
            tune(&mut model, placement.retune);
            Ok(Loaded::Gpu(Box::new(model), adapter))
        }
        Err(error) if backend == Backend::Auto => {
            eprintln!("locus: no GPU ({error}); running on the CPU");
            LoadedModel::from_header(file, source)
                .map(|m| Loaded::Cpu(Box::new(m)))
                .map_err(|e| fail(&e))
        }
        Err(error) => Err(error.to_string()),
    }
}

/// Chooses the fast prefill's kernels for this adapter from
/// `~/.cache/locus/tuning.json`, timing what it lacks (`gpu::tuning`); the
/// report stays on the decoder. Store errors are printed, never fatal.
fn tune(model: &mut GpuModel, retune: bool) {
    use locus::gpu::tuning::{AutotuneOptions, FileStore, MemoryStore, TuningStore, tune_decoder};
    let file = FileStore::default_location();
    let memory = MemoryStore::default();
    let store: &dyn TuningStore = match &file {
        Some(file) => file,
        None => &memory,
    };
    let options = AutotuneOptions {
        retune,
        ..AutotuneOptions::default()
    };
    let report = pollster::block_on(tune_decoder(&mut model.decoder, store, &options));
    for error in &report.errors {
        eprintln!("locus: tuning: {error}");
    }
}
