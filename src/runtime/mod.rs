//! The runtime behind the extension and the CLI: owns the backend (GPU or
//! CPU), answers protocol requests and streams events back.

mod bench;
mod chat;
mod generation;
mod load_progress;
mod self_test;
#[cfg(test)]
mod tests;
mod yielding;

use std::cell::{Cell, RefCell, RefMut};
use std::collections::HashSet;
use std::rc::Rc;

use serde_json::Value;

use crate::chat::ChatTemplate;
use crate::engine::{Decode, GpuModel, LoadedModel};
use crate::error::LocusError;
use crate::gguf::ByteSource;
use crate::gpu::{GpuContext, GpuOptions, Numerics};
use crate::lid::LanguageDetector;
use crate::model::ModelConfig;
use crate::protocol::{self, ClientMessage, Event, EventBody, Task};
use crate::report::{AdapterReport, BackendReport};
use crate::tokenizer::Tokenizer;

pub use generation::Job;
pub use load_progress::{LoadPhase, LoadProgress, ProgressSink};
pub use self_test::{SELF_TEST_TOLERANCE, self_test, subgroup_self_test};

pub struct Runtime {
    /// The GPU, until it is lost: models load on the CPU after that.
    gpu: RefCell<Option<Rc<GpuContext>>>,
    report: BackendReport,
    /// The loaded language model, shared with a running generation.
    model: RefCell<Option<Rc<ModelSlot>>>,
    /// The language-identification model (fastText), apart from the LLM.
    language_model: RefCell<Option<Rc<LanguageDetector>>>,
    /// Requests the client aborted; generation stops at the next token or
    /// prompt chunk.
    aborted: RefCell<HashSet<String>>,
    /// Requests being answered: a second request with one of these ids (a
    /// client re-sending after a lost connection) is refused, not run twice.
    running: RefCell<HashSet<String>>,
    /// The chat's KV cache between turns (taken out while a turn runs).
    chat: RefCell<Option<chat::ChatSession>>,
    /// The last GPU load's steps and who hears of them, until
    /// [`Self::gpu_settled`] reports them.
    loading: RefCell<Option<(load_progress::LoadSteps, ProgressSink)>>,
}

/// A loaded model and the name the client knows it by. The engine is
/// borrowed mutably by one generation at a time (the GPU decoder owns its KV
/// cache).
pub struct ModelSlot {
    pub name: String,
    pub engine: RefCell<Engine>,
    /// Bumped by every request other than a chat turn that runs on a decoder
    /// whose KV cache the chat shares (the GPU's): a chat session saved
    /// under an older epoch holds keys and values that are gone.
    pub kv_epoch: Cell<u64>,
    /// Whether the engine has one KV cache for every request (the GPU
    /// decoder); on the CPU each request and the chat have their own.
    shared_cache: bool,
}

/// Where a model runs.
pub enum Engine {
    Cpu(Box<LoadedModel>),
    Gpu(Box<GpuModel>),
}

impl Engine {
    pub fn name(&self) -> &'static str {
        match self {
            Engine::Cpu(_) => "cpu",
            Engine::Gpu(_) => "webgpu",
        }
    }

    /// The GPU kernels' numerics (none on the CPU).
    pub fn numerics(&self) -> Option<Numerics> {
        match self {
            Engine::Cpu(_) => None,
            Engine::Gpu(m) => Some(m.decoder.numerics()),
        }
    }

    /// The model's tokenizer and chat template.
    pub fn text(&self) -> (&Tokenizer, Option<&ChatTemplate>) {
        match self {
            Engine::Cpu(m) => (&m.tokenizer, m.chat.as_ref()),
            Engine::Gpu(m) => (&m.tokenizer, m.chat.as_ref()),
        }
    }

    pub fn config(&self) -> &ModelConfig {
        match self {
            Engine::Cpu(m) => m.config(),
            Engine::Gpu(m) => m.decoder.config(),
        }
    }

    /// Positions one sequence may fill: the model's window on the CPU, the
    /// decoder's KV cache on the GPU.
    pub fn window(&self) -> usize {
        match self {
            Engine::Cpu(m) => m.config().context_length,
            Engine::Gpu(m) => m.decoder.capacity(),
        }
    }
}

impl ModelSlot {
    pub fn new(name: impl Into<String>, engine: Engine) -> ModelSlot {
        ModelSlot {
            name: name.into(),
            shared_cache: matches!(engine, Engine::Gpu(_)),
            engine: RefCell::new(engine),
            kv_epoch: Cell::new(0),
        }
    }

    /// Marks the shared KV cache as overwritten by a request other than a
    /// chat turn (call while holding the lock).
    pub fn invalidate_shared_cache(&self) {
        if self.shared_cache {
            self.kv_epoch.set(self.kv_epoch.get() + 1);
        }
    }

    /// Waits until no other request holds the engine, then holds it: the
    /// borrow is the lock that keeps two requests off one decoder.
    pub async fn lock(&self) -> RefMut<'_, Engine> {
        loop {
            match self.engine.try_borrow_mut() {
                Ok(engine) => return engine,
                Err(_) => yielding::yield_now().await,
            }
        }
    }
}

/// KV cache positions a model gets on the GPU (its context window, capped:
/// long inputs are split to fit).
const GPU_CONTEXT: usize = 4096;
/// Prompt tokens per GPU prefill batch.
const GPU_PREFILL: usize = 256;

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
            Ok(test) if test.passed => match subgroup_self_test(&ctx).await {
                Ok(subgroups) if subgroups.as_ref().is_none_or(|t| t.passed) => {
                    let report = BackendReport::gpu(&ctx, adapter, test, subgroups);
                    Runtime::new(Some(ctx), report)
                }
                Ok(_) => Runtime::on_cpu("the GPU's subgroup self-test picked a wrong argmax"),
                Err(error) => Runtime::on_cpu(format!(
                    "the GPU's subgroup self-test could not run: {error}"
                )),
            },
            Ok(test) => Runtime::on_cpu(format!(
                "the GPU self-test failed ({} max error {:.2e} > {SELF_TEST_TOLERANCE:.0e})",
                test.kernel, test.max_abs_error
            )),
            Err(error) => Runtime::on_cpu(format!("the GPU self-test could not run: {error}")),
        }
    }

    pub fn on_cpu(reason: impl Into<String>) -> Runtime {
        Runtime::new(None, BackendReport::cpu(reason))
    }

    /// On the CPU although `skipped` (a WebGPU adapter) exists, for `reason`.
    pub fn on_cpu_over(skipped: AdapterReport, reason: impl Into<String>) -> Runtime {
        Runtime::new(None, BackendReport::cpu_over(skipped, reason))
    }

    fn new(gpu: Option<GpuContext>, report: BackendReport) -> Runtime {
        Runtime {
            gpu: RefCell::new(gpu.map(Rc::new)),
            report,
            model: RefCell::new(None),
            language_model: RefCell::new(None),
            aborted: RefCell::new(HashSet::new()),
            running: RefCell::new(HashSet::new()),
            chat: RefCell::new(None),
            loading: RefCell::new(None),
        }
    }

    /// Loads a GGUF model from `source`, replacing the current one. A bad
    /// file leaves the current model in place.
    pub fn load_model<S: ByteSource>(
        &self,
        name: &str,
        source: &mut S,
    ) -> Result<serde_json::Value, LocusError> {
        self.load_model_watched(name, source, None)
    }

    /// As [`Self::load_model`]; on the GPU, `progress` hears each weight
    /// tensor and kernel pipeline once the device has it, which on WebGPU is
    /// after this returns (await [`Self::gpu_settled`] for the end).
    pub fn load_model_watched<S: ByteSource>(
        &self,
        name: &str,
        source: &mut S,
        progress: Option<ProgressSink>,
    ) -> Result<serde_json::Value, LocusError> {
        // Drop the old model first: its GPU memory is needed for the new one.
        *self.model.borrow_mut() = None;
        let bad = |e: crate::engine::EngineError| LocusError::BadModel(e.to_string());
        let mut fallback = None;
        let gpu = self.gpu.borrow().clone();
        let engine = match &gpu {
            Some(ctx) => {
                let options = GpuOptions {
                    capacity: GPU_CONTEXT,
                    prefill_tokens: GPU_PREFILL,
                    numerics: Numerics::default(),
                };
                let steps = load_progress::LoadSteps::default();
                if progress.is_some() {
                    let (steps, queue) = (steps.clone(), ctx.queue.clone());
                    ctx.watch_pipelines(Some(Box::new(move || {
                        steps.queued(&queue, LoadPhase::Kernels)
                    })));
                }
                let mut on_tensor = |_: &str| {
                    if progress.is_some() {
                        steps.queued(&ctx.queue, LoadPhase::Weights);
                    }
                };
                let loaded = GpuModel::load(ctx.clone(), source, &options, &mut on_tensor);
                ctx.watch_pipelines(None);
                *self.loading.borrow_mut() = progress.map(|sink| (steps, sink));
                match loaded {
                    Ok(model) => Engine::Gpu(Box::new(model)),
                    Err(crate::engine::EngineError::Gpu(error)) => {
                        // Too large for this GPU, say: the CPU can still run it.
                        fallback = Some(error.to_string());
                        Engine::Cpu(Box::new(LoadedModel::load(source).map_err(bad)?))
                    }
                    Err(error) => return Err(bad(error)),
                }
            }
            None => Engine::Cpu(Box::new(LoadedModel::load(source).map_err(bad)?)),
        };
        let (config, chat) = (engine.config(), engine.text().1.is_some());
        let info = serde_json::json!({
            "name": name,
            "architecture": config.architecture.name(),
            "layers": config.block_count,
            "contextLength": config.context_length,
            "backend": engine.name(),
            "numerics": engine.numerics().map(Numerics::name),
            "gpuFallbackReason": fallback,
            "chatTemplate": chat,
        });
        // The kept chat cache belongs to the old model.
        self.chat.borrow_mut().take();
        *self.model.borrow_mut() = Some(Rc::new(ModelSlot::new(name, engine)));
        Ok(info)
    }

    /// Waits until the GPU has done the work queued so far, telling the
    /// last watched load's progress sink of each step as the device finishes
    /// it (see [`Self::load_model_watched`]); at once on the CPU.
    pub async fn gpu_settled(&self) {
        let Some(ctx) = self.gpu.borrow().clone() else {
            return;
        };
        let (sender, receiver) = futures_channel::oneshot::channel();
        ctx.queue.on_submitted_work_done(move || {
            let _ = sender.send(());
        });
        #[cfg(not(target_arch = "wasm32"))]
        let _ = ctx.device.poll(wgpu::PollType::wait_indefinitely());
        let loading = self.loading.borrow_mut().take();
        if let Some((steps, sink)) = loading {
            steps.report(sink).await;
        }
        // A lost device drops the callback: nothing is left to wait for.
        let _ = receiver.await;
    }

    /// Loads a fastText language-identification model (`lid.176.ftz`) from
    /// its bytes, replacing the current one; a bad file leaves it in place.
    pub fn load_language_model(&self, bytes: &[u8]) -> Result<Value, LocusError> {
        let detector =
            LanguageDetector::from_bytes(bytes).map_err(|e| LocusError::BadModel(e.to_string()))?;
        let info = language_model_info(&detector, bytes.len());
        *self.language_model.borrow_mut() = Some(Rc::new(detector));
        Ok(info)
    }

    /// Whether a language-identification model is loaded.
    pub fn has_language_model(&self) -> bool {
        self.language_model.borrow().is_some()
    }

    /// Drops the loaded model and its kept chat cache.
    pub fn unload_model(&self) {
        self.model.borrow_mut().take();
        self.chat.borrow_mut().take();
    }

    /// The loaded model's slot, if any (the browser tunes its kernels
    /// after the load: `web::tuning`).
    pub fn model_slot(&self) -> Option<Rc<ModelSlot>> {
        self.model.borrow().clone()
    }

    /// The loaded model's name, if any.
    pub fn model_name(&self) -> Option<String> {
        self.model.borrow().as_ref().map(|slot| slot.name.clone())
    }

    pub fn report(&self) -> &BackendReport {
        &self.report
    }

    pub fn gpu(&self) -> Option<Rc<GpuContext>> {
        self.gpu.borrow().clone()
    }

    /// Answers one client message, emitting its events in order. Never panics
    /// on bad input: every failure becomes an `error` event with a code.
    pub async fn handle(&self, message: Value, emit: &mut dyn FnMut(Event)) {
        match protocol::parse_client_message(message) {
            Ok(ClientMessage::Request { id, task }) => {
                if !self.running.borrow_mut().insert(id.clone()) {
                    // The first copy keeps running (and keeps its abort mark).
                    emit(Event::error(
                        id,
                        &LocusError::BadMessage("this request id is already running".into()),
                    ));
                    return;
                }
                if let Err(error) = self.run(&id, task, emit).await {
                    if matches!(error, LocusError::Gpu(_))
                        && self.gpu().is_some_and(|g| g.is_lost())
                    {
                        // The request ends with the error; the next one
                        // loads the model again, on the CPU.
                        self.gpu.borrow_mut().take();
                        self.model.borrow_mut().take();
                        self.chat.borrow_mut().take();
                    }
                    emit(Event::error(id.clone(), &error));
                }
                self.aborted.borrow_mut().remove(&id);
                self.running.borrow_mut().remove(&id);
            }
            // The generation sees the mark at its next token.
            Ok(ClientMessage::Abort { id }) => {
                self.aborted.borrow_mut().insert(id);
            }
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
                    emit(event(EventBody::token(line + "\n")));
                }
                let result = serde_json::to_value(&self.report)
                    .map_err(|e| LocusError::Internal(e.to_string()))?;
                emit(event(EventBody::Done { result }));
                Ok(())
            }
            Task::Detect(request) => {
                let detector = self.language_model.borrow().clone();
                let detector = detector.ok_or(LocusError::NoModel { task: "detect" })?;
                let languages = detector.detect(&request.text);
                let result = serde_json::json!({ "languages": languages });
                emit(event(EventBody::Done { result }));
                Ok(())
            }
            Task::Summarize(_) | Task::Translate(_) | Task::Chat(_) => {
                emit(event(EventBody::progress(
                    "runtime",
                    format!("Runtime ready on {}", self.report.summary()),
                )));
                self.generate(id, &task, emit).await
            }
        }
    }

    /// Runs a generation task on the loaded model.
    async fn generate(
        &self,
        id: &str,
        task: &Task,
        emit: &mut dyn FnMut(Event),
    ) -> Result<(), LocusError> {
        let slot = self.model.borrow().clone();
        let slot = slot.ok_or(LocusError::NoModel { task: task.kind() })?;
        let aborted = || self.aborted.borrow().contains(id);
        if let Task::Chat(request) = task {
            let kept = self.chat.borrow_mut().take();
            let (result, session) = chat::run(&slot, id, request, kept, &aborted, emit).await;
            // Keep it only if the model did not change meanwhile.
            let current = self.model.borrow().clone();
            if current.is_some_and(|m| Rc::ptr_eq(&m, &slot)) {
                *self.chat.borrow_mut() = session;
            }
            return result;
        }
        // A task on the GPU reuses the decoder's KV cache: the chat's cached
        // turn is gone then. That is decided once the job holds the engine
        // (`Job::new` waits for it), not on arrival: a chat turn still running
        // would save its session after an arrival-time drop.
        match task {
            Task::Summarize(request) => {
                let job = Job::new(&slot, id, &aborted, emit, request.context_tokens).await;
                slot.invalidate_shared_cache();
                job.summarize(request).await
            }
            Task::Translate(request) => {
                let detector = self.language_model.borrow().clone();
                let job = Job::new(&slot, id, &aborted, emit, request.context_tokens).await;
                slot.invalidate_shared_cache();
                job.translate(request, detector.as_deref()).await
            }
            Task::Chat(_) | Task::Report | Task::Detect(_) => Err(LocusError::Internal(format!(
                "{} is not a generation",
                task.kind()
            ))),
        }
    }
}

/// What a language-identification model is, for the store and the popup.
fn language_model_info(detector: &LanguageDetector, bytes: usize) -> Value {
    serde_json::json!({
        "kind": "langid",
        "architecture": "fasttext",
        "labels": detector.model().labels().len(),
        "quantised": detector.model().is_quantised(),
        "bytes": bytes,
    })
}

/// Checks a fastText language-identification model (what a download of one
/// must pass before it is marked ready).
pub fn inspect_language_model(bytes: &[u8]) -> Result<Value, LocusError> {
    let detector =
        LanguageDetector::from_bytes(bytes).map_err(|e| LocusError::BadModel(e.to_string()))?;
    Ok(language_model_info(&detector, bytes.len()))
}

/// Checks a GGUF file without loading its weights: a readable header, a
/// supported architecture with every configuration value in range, only
/// tensor types the runtime decodes, a tokenizer that builds, and a chat
/// template that renders (and tokenizes) a sample conversation within its
/// limits. What a download must pass before it is marked ready, so a file
/// that would fail later is refused here.
pub fn inspect_model<S: ByteSource>(source: &mut S) -> Result<Value, LocusError> {
    let bad = |e: &dyn std::fmt::Display| LocusError::BadModel(e.to_string());
    let file = crate::gguf::GgufFile::read(source).map_err(|e| bad(&e))?;
    let config = crate::model::ModelConfig::from_gguf(&file).map_err(|e| bad(&e))?;
    if let Some(tensor) = file.tensors.iter().find(|t| !t.ty.is_supported()) {
        return Err(LocusError::BadModel(format!(
            "tensor `{}` has type {}, which the runtime does not support",
            tensor.name, tensor.ty
        )));
    }
    let tokenizer = Tokenizer::from_gguf(&file.metadata).map_err(|e| bad(&e))?;
    let template = ChatTemplate::from_gguf(&file.metadata).map_err(|e| bad(&e))?;
    let sample = crate::chat::sample_conversation();
    let pieces = template.render_pieces(&sample, true).map_err(|e| bad(&e))?;
    tokenizer
        .encode_prompt(&pieces, true)
        .map_err(|e| bad(&e))?;
    Ok(serde_json::json!({
        "architecture": config.architecture.name(),
        "name": config.name,
        "layers": config.block_count,
        "contextLength": config.context_length,
        "bytes": file.file_len,
        "chatTemplate": template.source(),
    }))
}
