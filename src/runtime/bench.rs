//! The device benchmark on the loaded model (the "Test this device" page).

use std::cell::Cell;
use std::ops::ControlFlow;
use std::time::Duration;

use web_time::Instant;

use super::{Engine, Runtime, yielding};
use crate::engine::{
    BenchError, BenchFigures, BenchPlan, BenchStep, CpuSession, Decode, EngineError, run_bench,
};
use crate::error::LocusError;

/// The event loop gets a turn at least this often during a benchmark (a
/// turn costs a timer's few milliseconds: once a step would skew a fast
/// GPU's figures).
const YIELD_EVERY: Duration = Duration::from_millis(200);

impl Runtime {
    /// Runs `plan` on the loaded model from an empty cache of its own (the
    /// GPU decoder's cache is shared: a kept chat turn is dropped). After
    /// each step (the warm-up, a prompt chunk, a generated token) the event
    /// loop may get a turn, then `on_step` hears which step finished; its
    /// `Break` (the user pressed Stop) ends the run there with
    /// [`LocusError::Aborted`], the model still loaded.
    // The engine's borrow is held across awaits on purpose: it is the lock
    // that keeps a second request off the decoder.
    #[allow(clippy::await_holding_refcell_ref)]
    pub async fn bench(
        &self,
        plan: BenchPlan,
        on_step: &dyn Fn(BenchStep) -> ControlFlow<()>,
    ) -> Result<BenchFigures, LocusError> {
        let slot = self.model.borrow().clone();
        let slot = slot.ok_or(LocusError::NoModel { task: "bench" })?;
        let mut engine = slot.lock().await;
        slot.invalidate_shared_cache();
        let last_yield = &Cell::new(Instant::now());
        // The yield comes first: an abort that arrived during the step is
        // handled in it, so `on_step` already sees it.
        let between = |step| {
            let due = last_yield.get().elapsed() >= YIELD_EVERY;
            async move {
                if due {
                    yielding::yield_now().await;
                    last_yield.set(Instant::now());
                }
                on_step(step)
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
                if capacity > decoder.capacity() {
                    return Err(too_long(capacity, decoder.capacity()));
                }
                let vocab = decoder.vocab_size();
                run_bench(decoder, vocab, plan, between).await
            }
        };
        figures.map_err(|e| match e {
            BenchError::Stopped => LocusError::Aborted,
            BenchError::Engine(EngineError::Gpu(error)) => LocusError::Gpu(error),
            BenchError::Engine(other) => LocusError::Internal(other.to_string()),
        })
    }
}

fn too_long(tokens: usize, context: usize) -> LocusError {
    LocusError::TooLong { tokens, context }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{BenchPhase, run_ready};
    use crate::runtime::tests::smollm2_runtime;

    fn go_on(_: BenchStep) -> ControlFlow<()> {
        ControlFlow::Continue(())
    }

    #[test]
    fn without_a_model_the_bench_says_so() {
        let runtime = Runtime::on_cpu("test");
        let plan = BenchPlan {
            prompt_tokens: 4,
            answer_tokens: 1,
        };
        let error = run_ready(runtime.bench(plan, &go_on)).unwrap_err();
        assert!(matches!(error, LocusError::NoModel { task: "bench" }));
    }

    #[test]
    fn the_bench_measures_smollm2_on_the_cpu_and_leaves_it_usable() {
        let runtime = smollm2_runtime();
        let plan = BenchPlan {
            // Two CPU prefill chunks.
            prompt_tokens: crate::engine::CPU_PREFILL_CHUNK + 3,
            answer_tokens: 3,
        };
        let figures = run_ready(runtime.bench(plan, &go_on)).unwrap();
        assert_eq!(figures.prompt_tokens, plan.prompt_tokens);
        assert_eq!(figures.answer_tokens, 3);
        assert!(figures.first_token_ms > 0.0);
        assert!(figures.prompt_tokens_per_second > 0.0);
        assert!(figures.answer_tokens_per_second > 0.0);
        let again = run_ready(runtime.bench(plan, &go_on)).unwrap();
        assert_eq!(again.prompt_tokens, plan.prompt_tokens);
        // A prompt longer than the model's window is refused, not run.
        let long = BenchPlan {
            prompt_tokens: 9_000,
            answer_tokens: 1,
        };
        assert!(matches!(
            run_ready(runtime.bench(long, &go_on)),
            Err(LocusError::TooLong { .. })
        ));
    }

    #[test]
    fn every_step_is_reported_in_order() {
        let runtime = smollm2_runtime();
        let plan = BenchPlan {
            prompt_tokens: crate::engine::CPU_PREFILL_CHUNK + 3,
            answer_tokens: 2,
        };
        let steps = std::cell::RefCell::new(Vec::new());
        let record = |step: BenchStep| {
            steps.borrow_mut().push(step);
            ControlFlow::Continue(())
        };
        run_ready(runtime.bench(plan, &record)).unwrap();
        let step = |phase, done, total| BenchStep { phase, done, total };
        let prompt = plan.prompt_tokens;
        assert_eq!(
            steps.into_inner(),
            [
                step(BenchPhase::Warmup, 1, 1),
                step(BenchPhase::Prompt, crate::engine::CPU_PREFILL_CHUNK, prompt),
                step(BenchPhase::Prompt, prompt, prompt),
                step(BenchPhase::Answer, 1, 2),
                step(BenchPhase::Answer, 2, 2),
            ]
        );
    }

    #[test]
    fn a_stop_ends_the_bench_after_that_step_and_the_next_one_runs() {
        let runtime = smollm2_runtime();
        let plan = BenchPlan {
            prompt_tokens: 8,
            answer_tokens: 50,
        };
        let steps = Cell::new(0);
        // Stop once the prompt is read: no answer token is generated.
        let stop_after_prompt = |step: BenchStep| {
            steps.set(steps.get() + 1);
            if step.phase == BenchPhase::Prompt {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        };
        let stopped = run_ready(runtime.bench(plan, &stop_after_prompt));
        assert!(matches!(stopped, Err(LocusError::Aborted)), "{stopped:?}");
        assert_eq!(steps.get(), 2, "the warm-up and the prompt's one chunk");
        let again = BenchPlan {
            prompt_tokens: 8,
            answer_tokens: 2,
        };
        let figures = run_ready(runtime.bench(again, &go_on)).unwrap();
        assert_eq!(figures.answer_tokens, 2);
    }
}
