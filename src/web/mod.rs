//! The `wasm-bindgen` surface used by the extension's offscreen document.
//! Errors never cross as panics: every request answers with events.

use std::ops::ControlFlow;

use js_sys::{Function, Promise, Reflect};
use serde::Serialize;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

mod hasher;
mod sync_file;
mod threads;
mod tuning;

use crate::engine::{AdapterFacts, BenchPlan, BenchStep, Choice, DeviceBench, Preference, choose};
use crate::gpu::GpuContext;
use crate::protocol::{self, Event};
use crate::report::AdapterReport;
use crate::runtime::Runtime;

#[wasm_bindgen(start)]
fn start() {
    std::panic::set_hook(Box::new(|info| {
        console_error_panic_hook::hook(info);
        report_panic(&info.to_string());
    }));
}

/// A panic aborts on wasm32: the module traps, the request that panicked
/// never answers and the engine's lock is never released. The host (the
/// runtime worker defines `locusRuntimePanicked`) is told first, so it can end
/// every request in flight and start a fresh runtime.
fn report_panic(message: &str) {
    let hook = Reflect::get(
        &js_sys::global(),
        &JsValue::from_str("locusRuntimePanicked"),
    );
    if let Ok(hook) = hook.and_then(|h| h.dyn_into::<Function>()) {
        let _ = hook.call1(&JsValue::NULL, &JsValue::from_str(message));
    }
}

/// Panics on purpose: the end-to-end test of crash recovery sends a
/// debug-only message that calls this, to trap the module for real.
#[wasm_bindgen(js_name = crashForTest)]
pub fn crash_for_test() {
    panic!("crash requested by a test");
}

/// The runtime as JavaScript sees it.
#[wasm_bindgen(js_name = Runtime)]
pub struct WebRuntime {
    inner: Runtime,
    /// The browser's WebGPU adapter, whether used or passed over.
    adapter_key: Option<String>,
}

/// `Runtime.create(options)`: which backend, and this device's cached
/// benchmark for `auto` to decide by.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct CreateOptions {
    backend: Preference,
    bench: Option<DeviceBench>,
}

#[wasm_bindgen(js_class = Runtime)]
impl WebRuntime {
    /// Probes WebGPU and starts on the backend `options.backend` asks for
    /// (`auto` by default: a software renderer only where `options.bench`
    /// measured it faster than the CPU), or on the CPU with the reason.
    pub async fn create(options: JsValue) -> WebRuntime {
        let options = if options.is_undefined() || options.is_null() {
            CreateOptions::default()
        } else {
            serde_wasm_bindgen::from_value(options).unwrap_or_else(|error| {
                web_sys::console::warn_1(&format!("Runtime.create: {error}").into());
                CreateOptions::default()
            })
        };
        if options.backend == Preference::Cpu {
            return WebRuntime {
                inner: Runtime::on_cpu("the CPU was asked for"),
                adapter_key: None,
            };
        }
        let browser = match browser_adapter().await {
            Err(reason) => {
                return WebRuntime {
                    inner: Runtime::on_cpu(reason),
                    adapter_key: None,
                };
            }
            Ok(browser) => browser,
        };
        let facts = browser.facts();
        let adapter_key = Some(facts.key());
        if let Choice::Cpu { reason } = choose(options.backend, &facts, options.bench.as_ref()) {
            let skipped = AdapterReport {
                name: browser.description,
                vendor: browser.vendor,
                architecture: browser.architecture,
                device_type: String::new(),
                driver: String::new(),
                is_fallback_adapter: browser.is_fallback_adapter,
            };
            return WebRuntime {
                inner: Runtime::on_cpu_over(skipped, reason),
                adapter_key,
            };
        }
        let inner = match GpuContext::create().await {
            Ok(ctx) => {
                let mut adapter = AdapterReport::from_wgpu(&ctx.info);
                adapter.vendor = browser.vendor;
                adapter.architecture = browser.architecture;
                // A software renderer (SwiftShader…) counts as a fallback
                // adapter whatever the browser says: the extension's choices
                // (which model to offer) read this one flag.
                adapter.is_fallback_adapter |= facts.software_renderer().is_some();
                if adapter.name.is_empty() {
                    adapter.name = browser.description;
                }
                Runtime::on_gpu(ctx, adapter).await
            }
            Err(error) => Runtime::on_cpu(error.to_string()),
        };
        WebRuntime { inner, adapter_key }
    }

    /// The key this device's benchmark is cached under: the browser's
    /// WebGPU adapter (undefined without one).
    #[wasm_bindgen(js_name = adapterKey)]
    pub fn adapter_key(&self) -> Option<String> {
        self.adapter_key.clone()
    }

    /// Measures the loaded model: a `prompt_tokens` prompt (time to first
    /// token, prompt tokens/s), then `answer_tokens` generated one at a
    /// time (tokens/s). After each step `on_step` gets `{phase, done,
    /// total}` (`phase`: `warmup`, `prompt` or `answer`); a truthy return
    /// stops the run there, which then throws with the code `aborted`.
    /// Throws a coded error without a model.
    pub async fn bench(
        &self,
        prompt_tokens: usize,
        answer_tokens: usize,
        on_step: Option<Function>,
    ) -> Result<JsValue, JsValue> {
        let plan = BenchPlan {
            prompt_tokens,
            answer_tokens,
        };
        let on_step = |step: BenchStep| {
            let Some(listener) = &on_step else {
                return ControlFlow::Continue(());
            };
            let stop = to_js(&step)
                .ok()
                .and_then(|value| listener.call1(&JsValue::NULL, &value).ok());
            if stop.is_some_and(|answer| answer.is_truthy()) {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        };
        match self.inner.bench(plan, &on_step).await {
            Ok(figures) => to_js(&figures).map_err(JsValue::from),
            Err(error) => Err(coded_error(&error)),
        }
    }

    /// The backend report as a plain object (see `BackendReport`).
    pub fn report(&self) -> Result<JsValue, JsError> {
        to_js(self.inner.report())
    }

    /// One line for the backend indicator.
    pub fn summary(&self) -> String {
        self.inner.report().summary()
    }

    /// Loads a GGUF model from an OPFS file's synchronous access handle
    /// (the caller closes the handle afterwards); returns the model's
    /// description, or throws an error whose `code` says why it was refused.
    /// On WebGPU the device is still uploading and compiling when this
    /// returns: `on_progress` hears each step it finishes (a `LoadProgress`
    /// object) until `gpuSettled()` resolves.
    #[wasm_bindgen(js_name = loadModel)]
    pub fn load_model(
        &self,
        name: &str,
        handle: web_sys::FileSystemSyncAccessHandle,
        on_progress: Option<Function>,
    ) -> Result<JsValue, JsValue> {
        let sink = on_progress.map(|listener| -> crate::runtime::ProgressSink {
            std::rc::Rc::new(move |progress| {
                if let Ok(value) = to_js(&progress) {
                    let _ = listener.call1(&JsValue::NULL, &value);
                }
            })
        });
        let loaded = sync_file::SyncFileSource::new(handle)
            .map_err(|e| crate::LocusError::BadModel(e.to_string()))
            .and_then(|mut source| self.inner.load_model_watched(name, &mut source, sink));
        match loaded {
            Ok(mut info) => {
                if let Some(slot) = self.inner.model_slot() {
                    tuning::tune_in_background(slot);
                }
                // WASM memory only grows, so its size now is the peak of
                // the load: the weights must not all have passed through it.
                info["wasmHeapBytes"] = wasm_heap_bytes().into();
                to_js(&info).map_err(JsValue::from)
            }
            Err(error) => Err(coded_error(&error)),
        }
    }

    /// Resolves once the GPU has done the work queued so far (a model
    /// load's uploads and pipeline compilations).
    #[wasm_bindgen(js_name = gpuSettled)]
    pub async fn gpu_settled(&self) {
        self.inner.gpu_settled().await;
    }

    /// Loads a fastText language-identification model (`lid.176.ftz`) from
    /// an OPFS file's synchronous access handle; throws a coded error when
    /// the file is not one.
    #[wasm_bindgen(js_name = loadLanguageModel)]
    pub fn load_language_model(
        &self,
        handle: web_sys::FileSystemSyncAccessHandle,
    ) -> Result<JsValue, JsValue> {
        let loaded = sync_file::read_whole(handle)
            .map_err(|e| crate::LocusError::BadModel(e.to_string()))
            .and_then(|bytes| self.inner.load_language_model(&bytes));
        match loaded {
            Ok(info) => to_js(&info).map_err(JsValue::from),
            Err(error) => Err(coded_error(&error)),
        }
    }

    /// Whether a language-identification model is loaded.
    #[wasm_bindgen(js_name = hasLanguageModel)]
    pub fn has_language_model(&self) -> bool {
        self.inner.has_language_model()
    }

    /// The name of the loaded model, or undefined.
    #[wasm_bindgen(js_name = modelName)]
    pub fn model_name(&self) -> Option<String> {
        self.inner.model_name()
    }

    /// Unloads the language model (e.g. its file was deleted); a reply
    /// being written keeps its own reference until it ends.
    #[wasm_bindgen(js_name = unloadModel)]
    pub fn unload_model(&self) {
        self.inner.unload_model();
    }

    /// Handles one protocol message; `on_event` receives each event object.
    pub async fn handle(&self, message: JsValue, on_event: Function) {
        let mut emit = |event: Event| {
            if let Ok(value) = to_js(&event) {
                // A throwing listener must not take the runtime down with it.
                let _ = on_event.call1(&JsValue::NULL, &value);
            }
        };
        match serde_wasm_bindgen::from_value::<serde_json::Value>(message) {
            Ok(value) => self.inner.handle(value, &mut emit).await,
            Err(error) => {
                let error = crate::LocusError::BadMessage(error.to_string());
                emit(Event::error(String::new(), &error));
            }
        }
    }
}

/// Checks a GGUF file (header, architecture, tensor types) without loading
/// it; throws an error with `code` `bad_model` when it cannot be used.
#[wasm_bindgen(js_name = inspectModel)]
pub fn inspect_model(handle: web_sys::FileSystemSyncAccessHandle) -> Result<JsValue, JsValue> {
    let checked = sync_file::SyncFileSource::new(handle)
        .map_err(|e| crate::LocusError::BadModel(e.to_string()))
        .and_then(|mut source| crate::runtime::inspect_model(&mut source));
    match checked {
        Ok(info) => to_js(&info).map_err(JsValue::from),
        Err(error) => Err(coded_error(&error)),
    }
}

/// Bytes of this module's linear memory (the WASM heap).
fn wasm_heap_bytes() -> f64 {
    let memory: js_sys::WebAssembly::Memory = wasm_bindgen::memory().unchecked_into();
    let buffer: js_sys::ArrayBuffer = memory.buffer().unchecked_into();
    f64::from(buffer.byte_length())
}

/// Checks a fastText language-identification model; throws an error with
/// `code` `bad_model` when the file is not one the runtime can run.
#[wasm_bindgen(js_name = inspectLanguageModel)]
pub fn inspect_language_model(
    handle: web_sys::FileSystemSyncAccessHandle,
) -> Result<JsValue, JsValue> {
    let checked = sync_file::read_whole(handle)
        .map_err(|e| crate::LocusError::BadModel(e.to_string()))
        .and_then(|bytes| crate::runtime::inspect_language_model(&bytes));
    match checked {
        Ok(info) => to_js(&info).map_err(JsValue::from),
        Err(error) => Err(coded_error(&error)),
    }
}

/// A JS `Error` with the protocol's error `code` attached.
fn coded_error(error: &crate::LocusError) -> JsValue {
    let js = js_sys::Error::new(&error.to_string());
    let _ = Reflect::set(&js, &"code".into(), &error.code().as_str().into());
    js.into()
}

/// Seconds of the page task `auto` compares backends by (a prompt read, a
/// short answer written) at these tokens/s.
#[wasm_bindgen(js_name = taskSeconds)]
pub fn task_seconds(prompt_tokens_per_second: f64, answer_tokens_per_second: f64) -> f64 {
    crate::engine::task_seconds(prompt_tokens_per_second, answer_tokens_per_second)
}

/// The error event `Runtime.handle` would answer `message` with at once
/// because it is malformed (the same parser), or `null` when it is a valid
/// message. The worker asks before it chooses a model for a request, so a
/// malformed request is told so rather than offered a download.
#[wasm_bindgen(js_name = checkMessage)]
pub fn check_message(message: JsValue) -> Result<JsValue, JsError> {
    let rejected = match serde_wasm_bindgen::from_value::<serde_json::Value>(message) {
        Ok(value) => match protocol::parse_client_message(value) {
            Ok(_) => return Ok(JsValue::NULL),
            Err(rejected) => Event::error(rejected.id.unwrap_or_default(), &rejected.error),
        },
        Err(error) => Event::error(
            String::new(),
            &crate::LocusError::BadMessage(error.to_string()),
        ),
    };
    to_js(&rejected)
}

/// Kinds, events and error codes this runtime speaks (for the protocol test).
#[wasm_bindgen(js_name = protocolDescription)]
pub fn protocol_description() -> Result<JsValue, JsError> {
    to_js(&protocol::describe())
}

fn to_js<T: Serialize>(value: &T) -> Result<JsValue, JsError> {
    value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|e| JsError::new(&e.to_string()))
}

/// What the browser itself says about its adapter: wgpu does not pass vendor
/// and architecture through, and the reason for a missing adapter matters.
struct BrowserAdapter {
    vendor: String,
    architecture: String,
    description: String,
    is_fallback_adapter: bool,
}

impl BrowserAdapter {
    fn facts(&self) -> AdapterFacts {
        AdapterFacts {
            vendor: self.vendor.clone(),
            architecture: self.architecture.clone(),
            description: self.description.clone(),
            is_fallback_adapter: self.is_fallback_adapter,
        }
    }
}

async fn browser_adapter() -> Result<BrowserAdapter, String> {
    let global = js_sys::global();
    let navigator = get(&global, "navigator");
    let gpu = get(&navigator, "gpu");
    if gpu.is_undefined() || gpu.is_null() {
        return Err(
            "navigator.gpu is missing: WebGPU is disabled or unsupported in this browser".into(),
        );
    }
    let request: Function = get(&gpu, "requestAdapter")
        .dyn_into()
        .map_err(|_| "navigator.gpu.requestAdapter is not a function".to_string())?;
    let promise: Promise = request
        .call0(&gpu)
        .map_err(|e| format!("requestAdapter() threw: {e:?}"))?
        .dyn_into()
        .map_err(|_| "requestAdapter() did not return a promise".to_string())?;
    let adapter = JsFuture::from(promise)
        .await
        .map_err(|e| format!("requestAdapter() failed: {e:?}"))?;
    if adapter.is_null() || adapter.is_undefined() {
        return Err("navigator.gpu.requestAdapter() returned no adapter".into());
    }
    let info = get(&adapter, "info");
    let text = |key| get(&info, key).as_string().unwrap_or_default();
    let is_fallback_adapter = get(&info, "isFallbackAdapter")
        .as_bool()
        .or_else(|| get(&adapter, "isFallbackAdapter").as_bool());
    Ok(BrowserAdapter {
        vendor: text("vendor"),
        architecture: text("architecture"),
        description: text("description"),
        is_fallback_adapter: is_fallback_adapter.unwrap_or(false),
    })
}

fn get(target: &JsValue, key: &str) -> JsValue {
    Reflect::get(target, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}
