//! The device benchmark on the loaded model (the "Test this device" page).

use std::cell::Cell;
use std::time::Duration;

use web_time::Instant;

use super::{Engine, Runtime, yielding};
use crate::engine::{BenchFigures, BenchPlan, CpuSession, run_bench};
use crate::error::LocusError;

/// The event loop gets a turn at least this often during a benchmark (a
/// turn costs a timer's few milliseconds: once a step would skew a fast
/// GPU's figures).
const YIELD_EVERY: Duration = Duration::from_millis(200);

impl Runtime {
    /// Runs `plan` on the loaded model from an empty cache of its own (the
    /// GPU decoder's cache is shared: a kept chat turn is dropped).
    pub async fn bench(&self, plan: BenchPlan) -> Result<BenchFigures, LocusError> {
        let slot = self.model.borrow().clone();
        let slot = slot.ok_or(LocusError::NoModel { task: "bench" })?;
        let mut engine = slot.lock().await;
        slot.invalidate_shared_cache();
        let last_yield = Cell::new(Instant::now());
        let between = || {
            let due = last_yield.get().elapsed() >= YIELD_EVERY;
            async move {
                if due {
                    yielding::yield_now().await;
                    last_yield.set(Instant::now());
                }
            }
        };
        let capacity = plan.prompt_tokens.max(1) + plan.answer_tokens + 1;
        let figures = match &mut *engine {
            Engine::Cpu(model) => {
                if capacity > model.config().context_length {
                    return Err(too_long(capacity, model.config().context_length));
                }
                let mut cache = model.new_cache(capacity);
                let mut session = CpuSession {
                    decoder: &model.decoder,
                    cache: &mut cache,
                };
                let vocab = model.decoder.vocab_size();
                run_bench(&mut session, vocab, plan, between).await
            }
            Engine::Gpu(model) => {
                let decoder = &mut model.decoder;
                if capacity > crate::engine::Decode::capacity(decoder) {
                    return Err(too_long(capacity, crate::engine::Decode::capacity(decoder)));
                }
                let vocab = decoder.vocab_size();
                run_bench(decoder, vocab, plan, between).await
            }
        };
        figures.map_err(|e| match e {
            crate::engine::EngineError::Gpu(error) => LocusError::Gpu(error),
            other => LocusError::Internal(other.to_string()),
        })
    }
}

fn too_long(tokens: usize, context: usize) -> LocusError {
    LocusError::TooLong { tokens, context }
}
