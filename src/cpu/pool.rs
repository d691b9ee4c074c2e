//! The thread pool the CPU path splits its mat-vecs over: rayon's global
//! pool. Natively rayon starts it on first use (one thread per core). In
//! WASM it exists only in a shared-memory build (`+atomics`) once the
//! extension has started its Web Workers (`web::threads`); until then, and
//! in a build without atomics, everything runs on the calling thread (rayon
//! would try to spawn OS threads there, which WASM has not).

#[cfg(target_arch = "wasm32")]
use std::sync::atomic::{AtomicUsize, Ordering};

use super::team;

/// Threads in the WASM pool, 0 until it is started.
#[cfg(target_arch = "wasm32")]
static WASM_POOL_THREADS: AtomicUsize = AtomicUsize::new(0);
/// Threads work is split over (at most the pool's; fewer to measure).
#[cfg(target_arch = "wasm32")]
static WASM_THREADS_USED: AtomicUsize = AtomicUsize::new(0);

/// Records that the WASM pool of `threads` workers is running.
#[cfg(target_arch = "wasm32")]
pub fn set_wasm_pool_threads(threads: usize) {
    WASM_POOL_THREADS.store(threads, Ordering::Release);
    WASM_THREADS_USED.store(threads, Ordering::Release);
}

/// Splits work over at most `threads` of the WASM pool's threads (the
/// device benchmark compares thread counts in one page load); returns the
/// count now used.
#[cfg(target_arch = "wasm32")]
pub fn use_wasm_threads(threads: usize) -> usize {
    let used = threads.clamp(1, WASM_POOL_THREADS.load(Ordering::Acquire).max(1));
    WASM_THREADS_USED.store(used, Ordering::Release);
    used
}

/// Threads work can be split over (1: the calling thread only).
pub fn threads() -> usize {
    #[cfg(not(target_arch = "wasm32"))]
    return rayon::current_num_threads().max(1);
    #[cfg(target_arch = "wasm32")]
    return WASM_THREADS_USED.load(Ordering::Acquire).max(1);
}

/// `f` applied to every item, on the pool where there is one (started once:
/// decode runs hundreds of mat-vecs a token, too many to start threads for
/// each): by the [`team`] this thread leads, else through rayon; else one
/// after the other.
pub fn in_parallel<T: Send, R: Send>(items: Vec<T>, f: impl Fn(T) -> R + Sync + Send) -> Vec<R> {
    if items.len() > 1 && threads() > 1 {
        let items = match team::in_parallel(items, &f) {
            Ok(results) => return results,
            Err(items) => items,
        };
        use rayon::prelude::*;
        return items.into_par_iter().map(f).collect();
    }
    items.into_iter().map(f).collect()
}

/// Runs `pass` (a forward pass) with the pool's other threads held as its
/// team, so that its [`in_parallel`] splits do not wake them one by one
/// (`cpu::team`).
pub fn team<R>(pass: impl FnOnce() -> R) -> R {
    team::team(threads() - 1, pass)
}
