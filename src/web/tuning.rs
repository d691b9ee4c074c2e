//! The per-adapter autotune in the extension (`gpu::tuning`): after a model
//! loads on WebGPU, its fast prefill kernels are chosen from the table in
//! the origin's OPFS (`tuning.json`), timing the shapes it lacks. It runs in
//! the background holding the engine lock, so a request sent meanwhile waits
//! for it; every failure is logged to the console, never thrown.

use std::rc::Rc;

use js_sys::{Array, Function, Object, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::FileSystemSyncAccessHandle;

use crate::gpu::tuning::{AutotuneOptions, SyncHandleStore, tune_decoder};
use crate::runtime::{Engine, ModelSlot};

/// The table's file in the origin-private file system's root.
const TUNING_FILE: &str = "tuning.json";

pub fn tune_in_background(slot: Rc<ModelSlot>) {
    wasm_bindgen_futures::spawn_local(tune(slot));
}

// The engine's borrow is held across awaits on purpose: it is the lock that
// keeps a request off the decoder while its prefill is timed and rebound.
#[allow(clippy::await_holding_refcell_ref)]
async fn tune(slot: Rc<ModelSlot>) {
    let warn =
        |message: &str| web_sys::console::warn_1(&format!("locus: tuning: {message}").into());
    let mut engine = slot.lock().await;
    let Engine::Gpu(model) = &mut *engine else {
        return;
    };
    let store = match open_table().await {
        Ok(handle) => SyncHandleStore { handle },
        Err(error) => return warn(&error),
    };
    let report = tune_decoder(&mut model.decoder, &store, &AutotuneOptions::default()).await;
    store.handle.close();
    web_sys::console::info_1(&format!("locus: tuning: {report}").into());
    report.errors.iter().for_each(|error| warn(error));
}

/// A synchronous access handle on `tuning.json` (created when missing).
async fn open_table() -> Result<FileSystemSyncAccessHandle, String> {
    let storage = Reflect::get(&js_sys::global(), &"navigator".into())
        .and_then(|navigator| Reflect::get(&navigator, &"storage".into()))
        .map_err(|e| format!("navigator.storage: {e:?}"))?;
    let root = call(&storage, "getDirectory", &[]).await?;
    let options = Object::new();
    Reflect::set(&options, &"create".into(), &true.into()).map_err(|e| format!("{e:?}"))?;
    let file = call(
        &root,
        "getFileHandle",
        &[TUNING_FILE.into(), options.into()],
    )
    .await?;
    call(&file, "createSyncAccessHandle", &[])
        .await?
        .dyn_into()
        .map_err(|_| "createSyncAccessHandle() gave no handle".to_string())
}

/// `await target[method](...args)`.
async fn call(target: &JsValue, method: &str, args: &[JsValue]) -> Result<JsValue, String> {
    let function: Function = Reflect::get(target, &method.into())
        .ok()
        .and_then(|f| f.dyn_into().ok())
        .ok_or_else(|| format!("{method} is not a function"))?;
    let args: Array = args.iter().collect();
    let promise: Promise = function
        .apply(target, &args)
        .map_err(|e| format!("{method}() threw: {e:?}"))?
        .dyn_into()
        .map_err(|_| format!("{method}() did not return a promise"))?;
    JsFuture::from(promise)
        .await
        .map_err(|e| format!("{method}() failed: {e:?}"))
}
