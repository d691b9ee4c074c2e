//! The autotune: on the first load of a model on an adapter, time every
//! fast mat-mul variant the device can run on each weight shape of the
//! prompt batches, keep the fastest, remember it in the adapter's
//! [`Tuning`] and rebind the decoder's prefill with it.
//!
//! Each candidate runs on the model's own matrix and a synthetic X of
//! `min(prefill batch, 256)` tokens: one warm-up run (pipeline creation,
//! first touch of the weights), then the best of three timed runs, each
//! waited for (`on_submitted_work_done`; natively after `device.poll`).
//! A timed run repeats the kernel in one submission until it lasts about
//! [`TIMED_RUN`]: on a fast GPU one small mat-mul takes microseconds, less
//! than submitting and waiting, and timing it alone picked by noise (an
//! H100 call of session 11: the autotune preferred cooperative tiles for
//! SmolLM2 and int8 tiles for Qwen2.5, and each model's pp512 was 10-20 %
//! faster with the other choice).
//! A CPU emulator (SwiftShader, lavapipe) is not worth timing and would
//! make every first load slow: when the first timed run takes longer than
//! [`AutotuneOptions::slow_run`], nothing more is timed, every shape keeps
//! `best`, and the adapter is recorded as not tuned so later loads do not
//! try again.
//!
//! A variant is kept only if its output agrees with `best`'s on the same
//! X ([`MAX_VARIANT_NMSE`]): a driver that miscompiles one (the int8 tiles
//! run on few adapters yet) must cost speed, never the user's text.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::Serialize;
use web_time::Instant;

use super::{AdapterKey, Tuning, TuningStore, TuningTable};
use crate::gpu::decoder::GpuDecoder;
use crate::gpu::decoder::plan::rows;
use crate::gpu::fast::linears::{MatMulChoices, shape_key};
use crate::gpu::fast::matmul::{FastMatMulIo, FastMatMulKernel, bind_fast_matmul};
use crate::gpu::matvec::GpuMatrix;
use crate::gpu::pass::{self, KernelPass, to_u32};
use crate::gpu::step::StepUniform;
use crate::gpu::{GpuContext, GpuError};

/// Most tokens of the synthetic X a candidate multiplies.
pub const MAX_TUNING_TOKENS: u32 = 256;
/// Timed runs per candidate (after one warm-up); the fastest counts.
const TIMED_RUNS: usize = 3;
/// About how long one timed run lasts: the kernel repeated in one
/// submission, at most [`MAX_REPEATS`] times.
const TIMED_RUN: Duration = Duration::from_millis(2);
const MAX_REPEATS: u32 = 32;
/// Values of the repeated pattern X is filled with.
const X_PATTERN_VALUES: usize = 16 << 10;
/// Largest normalised squared error a variant's output may have against
/// `best`'s. The variants differ only in rounding: f16 inputs about 1e-7,
/// int8 activations up to 3.4e-5 of the f32 product (lavapipe,
/// `tests/gpu_fast_matmul_q8.rs`); a wrong kernel is off by 1e-2 and more
/// (one dropped block of 32 columns, a lost minimum, swapped scales).
pub const MAX_VARIANT_NMSE: f64 = 1e-3;

/// How the autotune runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AutotuneOptions {
    /// Time every shape again, ignoring the adapter's stored entry.
    pub retune: bool,
    /// A first timed run longer than this marks the adapter too slow to
    /// time (software adapters take hundreds of milliseconds; a GPU well
    /// under one).
    pub slow_run: Duration,
}

impl Default for AutotuneOptions {
    fn default() -> Self {
        AutotuneOptions {
            retune: false,
            slow_run: Duration::from_millis(100),
        }
    }
}

/// What one autotune did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TuningReport {
    /// Distinct weight shapes the prompt batches multiply with the fast
    /// mat-mul.
    pub shapes: usize,
    /// Shapes whose variant came from the stored table.
    pub from_cache: usize,
    /// Shapes whose variants were timed now.
    pub timed: usize,
    /// Kernel runs submitted for timing (warm-ups included).
    pub runs: usize,
    /// Wall time of the timing, milliseconds.
    pub milliseconds: f64,
    /// Why the adapter is not tuned (every shape keeps `best`).
    pub not_tuned: Option<String>,
    /// The variant bound for each shape.
    pub kernels: BTreeMap<String, String>,
    /// Variants left out because their output disagreed with `best`'s, each
    /// with the shape and the error.
    pub rejected: Vec<String>,
    /// Errors reading or writing the table, or binding the tuned plan:
    /// logged by the caller, never a failure of the load.
    pub errors: Vec<String>,
}

impl fmt::Display for TuningReport {
    /// One line, e.g. `6 shapes timed in 84 ms: cooperative/narrow 6`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shapes = plural(self.shapes, "shape");
        if self.shapes == 0 {
            return f.write_str("nothing to tune (no fast mat-mul in the prompt batches)");
        }
        if let Some(why) = &self.not_tuned {
            return write!(f, "not tuned: {why}; default kernels for {shapes}");
        }
        let mut counts = BTreeMap::<&str, usize>::new();
        for kernel in self.kernels.values() {
            *counts.entry(kernel).or_default() += 1;
        }
        let counts = counts
            .iter()
            .map(|(kernel, n)| format!("{kernel} {n}"))
            .collect::<Vec<_>>()
            .join(", ");
        if !self.rejected.is_empty() {
            write!(
                f,
                "{} wrong, left out; ",
                plural(self.rejected.len(), "variant")
            )?;
        }
        match (self.timed, self.from_cache) {
            (0, _) => write!(f, "{shapes} from the cache: {counts}"),
            (timed, 0) => write!(
                f,
                "{} timed in {:.0} ms: {counts}",
                plural(timed, "shape"),
                self.milliseconds
            ),
            (timed, cached) => write!(
                f,
                "{} timed in {:.0} ms, {cached} from the cache: {counts}",
                plural(timed, "shape"),
                self.milliseconds
            ),
        }
    }
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// Chooses the decoder's prefill mat-mul variants from `store`'s entry for
/// its adapter, timing the shapes the entry lacks (every shape with
/// `options.retune`), saves the entry when it changed and rebinds the
/// prefill. Nothing here fails the load: store and binding errors are in
/// the report, and a decoder in `exact` numerics has nothing to tune.
pub async fn tune_decoder(
    decoder: &mut GpuDecoder,
    store: &dyn TuningStore,
    options: &AutotuneOptions,
) -> TuningReport {
    let mut report = TuningReport::default();
    let ctx = decoder.context().clone();
    let key = AdapterKey::of(&ctx.info, &ctx.capabilities);
    let mut table = store.load().unwrap_or_else(|error| {
        report.errors.push(error.to_string());
        TuningTable::default()
    });
    let stored = table.get(&key).cloned().unwrap_or_default();
    let mut tuning = if options.retune {
        Tuning::default()
    } else {
        stored.clone()
    };
    let max_tokens = decoder.prefill_batch() as u32;
    let choices = {
        let matrices = decoder.prefill_matrices();
        report.shapes = matrices.len();
        if matrices.is_empty() {
            return report;
        }
        let tokens = max_tokens.min(MAX_TUNING_TOKENS);
        match choose(&ctx, &matrices, tokens, &mut tuning, options, &mut report).await {
            Ok(choices) => choices,
            Err(error) => {
                report.errors.push(error.to_string());
                MatMulChoices::default()
            }
        }
    };
    if tuning != stored {
        table.insert(&key, tuning);
        if let Err(error) = store.save(&table) {
            report.errors.push(error.to_string());
        }
    }
    if let Err(error) = decoder.rebind_prefill(choices) {
        report.errors.push(error.to_string());
    }
    report.kernels = decoder
        .prefill_kernels()
        .into_iter()
        .map(|(shape, kernel)| (shape, kernel.name()))
        .collect();
    decoder.tuning = Some(report.clone());
    report
}

/// The variant of each of `matrices`' shapes: stored in `tuning`, or timed
/// now and added to it.
async fn choose(
    ctx: &GpuContext,
    matrices: &[&GpuMatrix],
    tokens: u32,
    tuning: &mut Tuning,
    options: &AutotuneOptions,
    report: &mut TuningReport,
) -> Result<MatMulChoices, GpuError> {
    let mut choices = MatMulChoices::default();
    if tuning.not_tuned.is_some() {
        report.from_cache = matrices.len();
        report.not_tuned = tuning.not_tuned.clone();
        return Ok(choices);
    }
    let mut bench: Option<Bench> = None;
    let started = Instant::now();
    for &matrix in matrices {
        let shape = shape_key(matrix);
        // A stored variant this device cannot run is still this adapter's
        // entry: `MatMulChoices` falls back to `best` for it.
        if let Some(kernel) = tuning.matmul_kernel(&shape) {
            choices.insert(shape, kernel);
            report.from_cache += 1;
            continue;
        }
        let bench = match &mut bench {
            Some(bench) => bench,
            None => bench.insert(Bench::new(ctx, matrices, tokens)?),
        };
        match bench.fastest(ctx, matrix, options.slow_run, report).await? {
            Timing::Fastest(kernel) => {
                tuning.matmul.insert(shape.clone(), kernel.name());
                choices.insert(shape, kernel);
                report.timed += 1;
            }
            // Nothing ran (every variant refused): `best`, not recorded.
            Timing::NoneRan => {}
            Timing::TooSlow(why) => {
                // The first timed run: nothing was timed before it.
                tuning.matmul.clear();
                tuning.not_tuned = Some(why);
                report.not_tuned = tuning.not_tuned.clone();
                report.timed = 0;
                choices = MatMulChoices::default();
                break;
            }
        }
    }
    report.milliseconds = started.elapsed().as_secs_f64() * 1e3;
    Ok(choices)
}

/// What timing one shape's variants found.
enum Timing {
    Fastest(FastMatMulKernel),
    /// The adapter's first timed run was over the bound; says how long.
    TooSlow(String),
    NoneRan,
}

/// The synthetic X, a Y large enough for every shape, and the step.
struct Bench {
    x: wgpu::Buffer,
    y: wgpu::Buffer,
    step: wgpu::Buffer,
    tokens: u32,
    /// Whether a run was timed yet (the first decides the slow bound).
    timed_any: bool,
}

impl Bench {
    fn new(ctx: &GpuContext, matrices: &[&GpuMatrix], tokens: u32) -> Result<Bench, GpuError> {
        let cols = matrices.iter().map(|m| m.cols).max().unwrap_or(1);
        let rows = matrices.iter().map(|m| m.rows).max().unwrap_or(1);
        let n = tokens as usize;
        to_u32("tuning Y", n * rows)?;
        let x_bytes = (n * cols * 4) as u64;
        let x = pass::storage_zeroed(ctx, "tuning x", x_bytes);
        // Values in [-1, 1), the range of normalised activations, written
        // a 64 KiB pattern at a time (no host copy of the whole X: the
        // WASM heap only grows).
        let pattern: Vec<f32> = (0..X_PATTERN_VALUES)
            .map(|i| ((i as f32 * 0.618_034).fract() * 2.0) - 1.0)
            .collect();
        let pattern: &[u8] = bytemuck::cast_slice(&pattern);
        for offset in (0..x_bytes).step_by(pattern.len()) {
            let len = (x_bytes - offset).min(pattern.len() as u64) as usize;
            ctx.queue.write_buffer(&x, offset, &pattern[..len]);
        }
        Ok(Bench {
            x,
            y: pass::storage_zeroed(ctx, "tuning y", (n * rows * 4) as u64),
            step: StepUniform::new(0, tokens).to_buffer(ctx),
            tokens,
            timed_any: false,
        })
    }

    /// The fastest variant for `matrix`, unless the adapter's very first
    /// timed run takes longer than `slow_run`. Each candidate that runs is
    /// checked against the shape's first output ([`Bench::agrees`]); the
    /// shape's first agreeing candidate also sets how many dispatches a
    /// timed run has ([`Bench::probe`]); then each is timed.
    async fn fastest(
        &mut self,
        ctx: &GpuContext,
        matrix: &GpuMatrix,
        slow_run: Duration,
        report: &mut TuningReport,
    ) -> Result<Timing, GpuError> {
        let mut winner: Option<(FastMatMulKernel, Duration)> = None;
        // The first output is `best`'s (the first candidate, unless the
        // driver refused it): the others must agree with it.
        let mut reference: Option<(FastMatMulKernel, Vec<f32>)> = None;
        let mut repeats: Option<u32> = None;
        for kernel in FastMatMulKernel::candidates(ctx, matrix.ty, matrix.rows, self.tokens) {
            let io = FastMatMulIo {
                x: rows(&self.x, matrix.cols),
                y: rows(&self.y, matrix.rows),
                bias: None,
                accumulate: false,
                max_tokens: self.tokens,
                step: &self.step,
            };
            // A variant the driver refuses is no candidate.
            let Ok(prepared) = bind_fast_matmul(ctx, matrix, kernel, io) else {
                continue;
            };
            run(ctx, &prepared, 1).await?;
            report.runs += 1;
            if ctx.check().is_err() {
                continue;
            }
            if !self
                .agrees(ctx, matrix, kernel, &mut reference, report)
                .await?
            {
                continue;
            }
            let repeats = match repeats {
                Some(repeats) => repeats,
                None => match self.probe(ctx, &prepared, matrix, slow_run, report).await? {
                    Ok(count) => *repeats.insert(count),
                    Err(why) => return Ok(Timing::TooSlow(why)),
                },
            };
            let mut fastest = Duration::MAX;
            for _ in 0..TIMED_RUNS {
                let started = Instant::now();
                run(ctx, &prepared, repeats).await?;
                report.runs += 1;
                fastest = fastest.min(started.elapsed() / repeats);
            }
            if winner.is_none_or(|(_, time)| fastest < time) {
                winner = Some((kernel, fastest));
            }
        }
        Ok(winner.map_or(Timing::NoneRan, |(kernel, _)| Timing::Fastest(kernel)))
    }

    /// Whether the output of the run just made with `kernel` agrees with
    /// the shape's `reference` (which it becomes when there is none yet);
    /// a variant that disagrees is listed in the report.
    async fn agrees(
        &self,
        ctx: &GpuContext,
        matrix: &GpuMatrix,
        kernel: FastMatMulKernel,
        reference: &mut Option<(FastMatMulKernel, Vec<f32>)>,
        report: &mut TuningReport,
    ) -> Result<bool, GpuError> {
        let output = self.output(ctx, matrix).await?;
        let Some((first, expected)) = reference else {
            *reference = Some((kernel, output));
            return Ok(true);
        };
        let error = nmse(expected, &output);
        if error > MAX_VARIANT_NMSE {
            report.rejected.push(format!(
                "{kernel} on {}: NMSE {error:.1e} against {first}",
                shape_key(matrix)
            ));
            return Ok(false);
        }
        Ok(true)
    }

    /// One run alone, the first of a shape: how many dispatches make a
    /// timed run the kernel's time rather than the submission's (every
    /// candidate of the shape is timed with as many), or, on the adapter's
    /// very first timed run, why it is too slow to time.
    async fn probe(
        &mut self,
        ctx: &GpuContext,
        prepared: &KernelPass,
        matrix: &GpuMatrix,
        slow_run: Duration,
        report: &mut TuningReport,
    ) -> Result<Result<u32, String>, GpuError> {
        let started = Instant::now();
        run(ctx, prepared, 1).await?;
        report.runs += 1;
        let took = started.elapsed();
        if !self.timed_any {
            self.timed_any = true;
            if took > slow_run {
                return Ok(Err(format!(
                    "too slow to time (a {}×{} mat-mul of {} tokens took {:.0} ms)",
                    matrix.rows,
                    matrix.cols,
                    self.tokens,
                    took.as_secs_f64() * 1e3
                )));
            }
        }
        Ok(Ok(repeats_for(took)))
    }

    /// The last run's Y for `matrix`.
    async fn output(&self, ctx: &GpuContext, matrix: &GpuMatrix) -> Result<Vec<f32>, GpuError> {
        let bytes = (self.tokens as usize * matrix.rows * 4) as u64;
        let data = ctx.read_buffer(&self.y, bytes).await?;
        Ok(bytemuck::pod_collect_to_vec(&data))
    }
}

/// Normalised squared error of `output` against `expected`: infinite when
/// either holds a NaN or infinity.
pub fn nmse(expected: &[f32], output: &[f32]) -> f64 {
    if expected.len() != output.len() {
        return f64::INFINITY;
    }
    let (mut error, mut energy) = (0.0f64, 0.0f64);
    for (&e, &o) in expected.iter().zip(output) {
        if !e.is_finite() || !o.is_finite() {
            return f64::INFINITY;
        }
        error += (f64::from(e) - f64::from(o)).powi(2);
        energy += f64::from(e).powi(2);
    }
    error / energy.max(f64::MIN_POSITIVE)
}

/// Dispatches for one timed run, from how long a run alone `took`.
fn repeats_for(took: Duration) -> u32 {
    let wanted = TIMED_RUN.as_secs_f64() / took.as_secs_f64().max(1e-9);
    (wanted.ceil() as u32).clamp(1, MAX_REPEATS)
}

/// Submits `prepared` `repeats` times in one pass and waits until the
/// device has finished.
async fn run(ctx: &GpuContext, prepared: &KernelPass, repeats: u32) -> Result<(), GpuError> {
    let mut encoder = ctx.device.create_command_encoder(&Default::default());
    {
        let mut pass = encoder.begin_compute_pass(&Default::default());
        for _ in 0..repeats {
            prepared.encode(&mut pass);
        }
    }
    ctx.queue.submit([encoder.finish()]);
    let (sender, receiver) = futures_channel::oneshot::channel();
    ctx.queue.on_submitted_work_done(move || {
        // The receiver is gone only if the caller was dropped.
        let _ = sender.send(());
    });
    #[cfg(not(target_arch = "wasm32"))]
    ctx.device
        .poll(wgpu::PollType::wait_indefinitely())
        .map_err(|e| GpuError::Device(e.to_string()))?;
    receiver
        .await
        .map_err(|_| GpuError::Device("the device dropped a work-done callback".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A seeded "product" of `tokens` × `rows` outputs over `cols` inputs,
    /// the contribution of each block of 32 inputs kept apart.
    fn blocks(tokens: usize, rows: usize, cols: usize) -> Vec<Vec<f32>> {
        let mut state = 0x2545_f491_u32;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            (state as f32 / u32::MAX as f32) - 0.5
        };
        (0..tokens * rows)
            .map(|_| (0..cols / 32).map(|_| next()).collect())
            .collect()
    }

    #[test]
    fn a_timed_run_lasts_about_two_milliseconds() {
        assert_eq!(repeats_for(Duration::from_micros(80)), 25);
        assert_eq!(repeats_for(Duration::from_micros(1)), MAX_REPEATS);
        assert_eq!(repeats_for(Duration::from_millis(5)), 1);
        assert_eq!(repeats_for(Duration::ZERO), MAX_REPEATS);
    }

    #[test]
    fn rounding_agrees_and_a_wrong_kernel_does_not() {
        // Qwen2.5 1.5B's widest input (8,960 columns): the smallest share a
        // single dropped block has.
        let parts = blocks(7, 33, 8960);
        let sum = |skip: Option<usize>| -> Vec<f32> {
            let kept = |(i, v): (usize, &f32)| if Some(i) == skip { 0.0 } else { *v };
            parts
                .iter()
                .map(|p| p.iter().enumerate().map(kept).sum())
                .collect()
        };
        let expected = sum(None);
        // int8 activations: a relative error of 1/127 per block, at worst.
        let rounded: Vec<f32> = parts
            .iter()
            .map(|p| p.iter().map(|v| v * (1.0 + 1.0 / 127.0)).sum())
            .collect();
        assert!(nmse(&expected, &rounded) < 1e-4);
        assert!(nmse(&expected, &sum(Some(100))) > MAX_VARIANT_NMSE);
        let mut nan = expected.clone();
        nan[5] = f32::NAN;
        assert!(nmse(&expected, &nan).is_infinite());
        assert!(nmse(&expected, &vec![0.0; expected.len()]) > MAX_VARIANT_NMSE);
        assert!(nmse(&expected, &expected[1..]).is_infinite());
    }
}
