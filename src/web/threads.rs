//! The CPU path's thread pool in the browser: rayon's global pool whose
//! threads are Web Workers sharing this module's memory (a build with
//! `+atomics`; the extension's pages are cross-origin isolated, which
//! `SharedArrayBuffer` needs). What `wasm-bindgen-rayon` does, with the
//! worker script kept as a plain file of the extension
//! (`extension/runtime/pool_thread.js`): that crate finds its worker script
//! through a bundler, or a blob URL that the extension's CSP refuses.
//!
//! `extension/runtime/threads.js` calls [`thread_pool`], starts one worker
//! per helper thread, hands each the module, the memory and
//! [`PoolStart::receiver`] (they call [`run_pool_thread`] with it and wait
//! there for their rayon thread), then calls [`PoolStart::build`], which
//! creates the pool and sends each waiting worker its thread.
//!
//! The runtime worker itself is the pool's thread 0 (rayon's
//! `use_current_thread`): a mat-vec it splits runs one part on its own
//! thread while the helpers take the others. Before, it handed every part
//! to the helpers and slept until they were done: on two cores two helpers
//! and a sleeping caller, two wake-ups per mat-vec, and SmolLM2 decoded
//! slower on two threads than on one (42 against 45 tokens/s).

use std::sync::Mutex;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use rayon::ThreadBuilder;
use wasm_bindgen::prelude::*;

/// A pool being started (see the module's notes).
#[wasm_bindgen]
pub struct PoolStart {
    threads: usize,
    sender: SyncSender<ThreadBuilder>,
    /// Shared by the workers; lives as long as the module (the pool is
    /// global and never stops).
    receiver: &'static Mutex<Receiver<ThreadBuilder>>,
}

/// Starts building a pool of `threads` threads (this one and `threads - 1`
/// workers); `undefined` when this build has no shared memory (no
/// `+atomics`) or `threads` is under 2.
#[wasm_bindgen(js_name = threadPool)]
pub fn thread_pool(threads: usize) -> Option<PoolStart> {
    if !cfg!(target_feature = "atomics") || threads < 2 {
        return None;
    }
    let (sender, receiver) = sync_channel(threads - 1);
    Some(PoolStart {
        threads,
        sender,
        receiver: Box::leak(Box::new(Mutex::new(receiver))),
    })
}

#[wasm_bindgen]
impl PoolStart {
    /// Workers to start: the pool's threads but the caller's own.
    #[wasm_bindgen(getter)]
    pub fn helpers(&self) -> usize {
        self.threads - 1
    }

    /// What each worker passes to [`run_pool_thread`].
    #[wasm_bindgen(getter)]
    pub fn receiver(&self) -> usize {
        self.receiver as *const Mutex<Receiver<ThreadBuilder>> as usize
    }

    /// This module and its (shared) memory, for the workers to instantiate.
    #[wasm_bindgen(getter)]
    pub fn module(&self) -> JsValue {
        wasm_bindgen::module()
    }

    #[wasm_bindgen(getter)]
    pub fn memory(&self) -> JsValue {
        wasm_bindgen::memory()
    }

    /// Creates the pool once every worker waits in [`run_pool_thread`],
    /// with the calling thread as its thread 0; the CPU path's mat-vecs
    /// (called on this thread) use it from then on.
    pub fn build(self) -> Result<(), JsError> {
        let sender = self.sender;
        rayon::ThreadPoolBuilder::new()
            .num_threads(self.threads)
            .use_current_thread()
            .spawn_handler(move |thread| {
                sender
                    .send(thread)
                    .map_err(|_| std::io::Error::other("the pool's workers are gone"))
            })
            .build_global()
            .map_err(|e| JsError::new(&format!("the thread pool did not start: {e}")))?;
        crate::cpu::pool::set_wasm_pool_threads(self.threads);
        Ok(())
    }
}

/// Runs in a pool worker: waits for its rayon thread and runs it (for
/// good). `receiver` is [`PoolStart::receiver`].
#[wasm_bindgen(js_name = runPoolThread)]
pub fn run_pool_thread(receiver: usize) -> Result<(), JsError> {
    if receiver == 0 {
        return Err(JsError::new("no pool receiver"));
    }
    // SAFETY: `receiver` is the address of the leaked (never freed) mutex of
    // `PoolStart::receiver`, in this same shared memory.
    let receiver = unsafe { &*(receiver as *const Mutex<Receiver<ThreadBuilder>>) };
    let thread = receiver
        .lock()
        .map_err(|_| JsError::new("the pool's receiver is poisoned"))?
        .recv()
        .map_err(|_| JsError::new("the pool was never built"))?;
    thread.run();
    Ok(())
}

/// Threads the CPU path splits its work over now (1: no pool).
#[wasm_bindgen(js_name = poolThreads)]
pub fn pool_threads() -> usize {
    crate::cpu::pool::threads()
}

/// Splits the CPU path's work over at most `threads` of the pool's threads
/// (for measuring); returns the count now used.
#[wasm_bindgen(js_name = useThreads)]
pub fn use_threads(threads: usize) -> usize {
    crate::cpu::pool::use_wasm_threads(threads)
}
