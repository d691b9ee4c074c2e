//! The runtime behind the extension and the CLI: owns the backend (GPU or
//! CPU), answers protocol requests and streams events back.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;

use crate::cpu;
use crate::error::LocusError;
use crate::gpu::{self, GpuContext, GpuError};
use crate::protocol::{self, ClientMessage, Event, EventBody, Task};
use crate::report::{AdapterReport, BackendReport, SelfTestReport};

/// Largest absolute difference the start-up self-test accepts between the
/// GPU RMSNorm and the f64 CPU reference (outputs are of order 1).
const SELF_TEST_TOLERANCE: f32 = 1e-4;

pub struct Runtime {
    gpu: Option<GpuContext>,
    report: BackendReport,
}

impl Runtime {
    /// Starts on the best GPU wgpu finds, or on the CPU with the reason.
    pub async fn start() -> Runtime {
        match GpuContext::create().await {
            Ok(ctx) => {
                let adapter = AdapterReport::from_wgpu(&ctx.info);
                Runtime::on_gpu(ctx, adapter).await
            }
            Err(error) => Runtime::on_cpu(error.to_string()),
        }
    }

    /// Runs the kernel self-test on `ctx` and keeps the GPU if it passes.
    pub async fn on_gpu(ctx: GpuContext, adapter: AdapterReport) -> Runtime {
        match self_test(&ctx).await {
            Ok(test) if test.passed => {
                let report = BackendReport::gpu(&ctx, adapter, test);
                Runtime {
                    gpu: Some(ctx),
                    report,
                }
            }
            Ok(test) => Runtime::on_cpu(format!(
                "the GPU self-test failed ({} max error {:.2e} > {SELF_TEST_TOLERANCE:.0e})",
                test.kernel, test.max_abs_error
            )),
            Err(error) => Runtime::on_cpu(format!("the GPU self-test could not run: {error}")),
        }
    }

    pub fn on_cpu(reason: impl Into<String>) -> Runtime {
        Runtime {
            gpu: None,
            report: BackendReport::cpu(reason),
        }
    }

    pub fn report(&self) -> &BackendReport {
        &self.report
    }

    pub fn gpu(&self) -> Option<&GpuContext> {
        self.gpu.as_ref()
    }

    /// Answers one client message, emitting its events in order. Never panics
    /// on bad input: every failure becomes an `error` event with a code.
    pub async fn handle(&self, message: Value, emit: &mut dyn FnMut(Event)) {
        match protocol::parse_client_message(message) {
            Ok(ClientMessage::Request { id, task }) => {
                if let Err(error) = self.run(&id, task, emit).await {
                    emit(Event::error(id, &error));
                }
            }
            // Nothing runs long enough to be stopped yet; the offscreen
            // document stops forwarding events for an aborted id.
            Ok(ClientMessage::Abort { .. }) => {}
            Err(rejected) => emit(Event::error(
                rejected.id.unwrap_or_default(),
                &rejected.error,
            )),
        }
    }

    async fn run(
        &self,
        id: &str,
        task: Task,
        emit: &mut dyn FnMut(Event),
    ) -> Result<(), LocusError> {
        let event = |body| Event::new(id, body);
        match task {
            Task::Report => {
                emit(event(EventBody::progress("backend", self.report.summary())));
                for line in self.report.lines() {
                    emit(event(EventBody::Token { text: line + "\n" }));
                }
                let result = serde_json::to_value(&self.report)
                    .map_err(|e| LocusError::Internal(e.to_string()))?;
                emit(event(EventBody::Done { result }));
                Ok(())
            }
            Task::Summarize(_) | Task::Translate(_) | Task::Detect(_) | Task::Chat(_) => {
                emit(event(EventBody::progress(
                    "runtime",
                    format!("Runtime ready on {}", self.report.summary()),
                )));
                Err(LocusError::NoModel { task: task.kind() })
            }
        }
    }
}

/// Runs RMSNorm on seeded random data on the GPU and compares it with the CPU.
pub async fn self_test(ctx: &GpuContext) -> Result<SelfTestReport, GpuError> {
    let (rows, dim) = (3, 577);
    let mut rng = SmallRng::seed_from_u64(0x10c05);
    let input: Vec<f32> = (0..rows * dim)
        .map(|_| rng.random_range(-2.0..2.0))
        .collect();
    let weight: Vec<f32> = (0..dim).map(|_| rng.random_range(0.5..1.5)).collect();
    let flags = gpu::rmsnorm::preferred_flags(ctx);
    let got = gpu::rmsnorm::rms_norm(ctx, &input, &weight, 1e-5, &flags).await?;
    let want = cpu::norm::rms_norm(&input, &weight, 1e-5);
    let max_abs_error = got
        .iter()
        .zip(&want)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    let passed = got.len() == want.len()
        && max_abs_error <= SELF_TEST_TOLERANCE
        && max_abs_error.is_finite();
    Ok(SelfTestReport {
        kernel: "rmsnorm".into(),
        variant: flags.join(" "),
        elements: rows * dim,
        max_abs_error,
        passed,
    })
}
