//! Running a model: loading it, the decode loop, sampling and stopping.

mod backend_choice;
mod bench;
mod decode;
mod generate;
mod loaded;
mod sampler;
mod stop;

pub use backend_choice::{AdapterFacts, Choice, DeviceBench, Preference, choose, task_seconds};
pub use bench::{
    BenchError, BenchFigures, BenchPhase, BenchPlan, BenchStep, bench_tokens, run_bench,
};
#[cfg(test)]
pub(crate) use decode::run_ready;
pub use decode::{CPU_PREFILL_CHUNK, CpuSession, Decode, GPU_PREFILL_CHUNK};
pub use generate::{
    GenerateOptions, Generation, MAX_REFUSALS, PrefillProgress, StopReason, TextGuard, generate,
    generate_observed, generate_on,
};
pub use loaded::{GpuModel, LoadedModel};
pub use sampler::{Sampler, SamplingParams, argmax};
pub use stop::{StopCheck, StopMatcher};

/// Why generation could not run.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Model(#[from] crate::model::ModelError),
    #[error(transparent)]
    Gguf(#[from] crate::gguf::GgufError),
    #[error(transparent)]
    Tokenizer(#[from] crate::tokenizer::TokenizerError),
    #[error(transparent)]
    Chat(#[from] crate::chat::ChatError),
    #[error("the prompt is empty")]
    EmptyPrompt,
    #[error(transparent)]
    Gpu(#[from] crate::gpu::GpuError),
}
