//! A team: the pool's threads held for the length of one forward pass, so
//! that each split of the pass reaches them in about a microsecond instead of
//! through a wake-up.
//!
//! Why: a decode step splits about three mat-vecs a layer over the pool (91
//! a token for SmolLM2). Through rayon each split wakes the idle helpers
//! (a futex natively, `Atomics.wait`/`notify` between Web Workers) and waits
//! for them, which in the browser cost more than the second thread gave:
//! SmolLM2 decoded at 56 tokens/s on one thread and 66 on two. llama.cpp's
//! CPU backend does what this module does: its threads stay in the graph for
//! a whole pass and meet at spinning barriers between operations.
//!
//! How: [`team`] runs the pass on the calling thread and hands rayon one
//! helper loop per other thread (one wake-up a pass). Inside it,
//! [`in_parallel`] publishes each split as a [`Job`] whose parts the caller
//! and the helpers claim from an atomic counter: a helper that is late (a
//! busy machine) or never comes (all pool threads busy) leaves its parts to
//! the others, so nothing waits on a thread that is not there. Between jobs
//! the helpers spin for a short while, then sleep on a condition variable
//! until the next job or the end of the pass.
//!
//! Rayon has no such mode (its idle threads sleep after a few dozen rounds
//! of looking for work), hence this small hand-written synchronisation.

use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering::*};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use web_time::Instant;

/// How long a helper spins looking for the next job before it sleeps:
/// longer than most serial gaps of a decode step (a norm, attention over a
/// short context, a mat-vec too small to split), far shorter than the gap
/// between two passes. Spinning longer costs a busy machine (more threads
/// than cores) the time the spinning thread is scheduled.
const SPIN_TIME: Duration = Duration::from_micros(100);
/// Spins between two looks at the clock (each look is a call into the host
/// in WASM).
const SPINS_PER_CHECK: u32 = 64;
/// Spins after which a wait for other threads yields the core instead: a
/// helper that holds a part may be preempted on a busy machine, and the
/// caller spinning on the core it needs would only delay it.
const SPINS_BEFORE_YIELD: u32 = 256;

/// One split: `parts` calls of `run`, claimed by index.
struct Job<'a> {
    run: &'a (dyn Fn(usize) + Sync),
    parts: usize,
    next: AtomicUsize,
    done: AtomicUsize,
    /// A part panicked (natively; a WASM panic aborts).
    panicked: AtomicBool,
}

impl Job<'_> {
    /// Claims and runs parts until none is left.
    fn work(&self) {
        loop {
            let part = self.next.fetch_add(1, Relaxed);
            if part >= self.parts {
                return;
            }
            if catch_unwind(AssertUnwindSafe(|| (self.run)(part))).is_err() {
                self.panicked.store(true, Relaxed);
            }
            self.done.fetch_add(1, Release);
        }
    }
}

/// What the caller and its helpers share for one pass.
struct Shared {
    /// The job being split, null between jobs. Stored with its lifetime
    /// erased: [`Shared::run`] does not return (and the job is not dropped)
    /// before every helper that may have read the pointer has let go of it
    /// (`active` back to 0).
    job: AtomicPtr<Job<'static>>,
    /// Jobs published so far (helpers compare it with the last one they saw).
    epoch: AtomicUsize,
    /// Helpers that may hold `job`.
    active: AtomicUsize,
    finished: AtomicBool,
    sleepers: AtomicUsize,
    lock: Mutex<()>,
    wake: Condvar,
}

impl Shared {
    fn new() -> Shared {
        Shared {
            job: AtomicPtr::new(ptr::null_mut()),
            epoch: AtomicUsize::new(0),
            active: AtomicUsize::new(0),
            finished: AtomicBool::new(false),
            sleepers: AtomicUsize::new(0),
            lock: Mutex::new(()),
            wake: Condvar::new(),
        }
    }

    /// Moves `epoch` on (a new job, or the end) and wakes sleeping helpers.
    fn announce(&self) {
        self.epoch.fetch_add(1, SeqCst);
        if self.sleepers.load(SeqCst) > 0 {
            let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
            self.wake.notify_all();
        }
    }

    /// Runs `job` on this thread and whichever helpers join, and returns
    /// once every part has run and no helper holds the job.
    fn run(&self, job: &Job<'_>) {
        // SAFETY (of the erased lifetime): see `job`'s notes; the pointer is
        // withdrawn and `active` waited for below, before `job` can go.
        let erased = job as *const Job<'_> as *mut Job<'static>;
        self.job.store(erased, SeqCst);
        self.announce();
        job.work();
        wait_until(|| job.done.load(Acquire) == job.parts);
        // A helper increments `active` before it reads `job` (both SeqCst),
        // so after this store and an `active` of 0, none can read it again.
        self.job.store(ptr::null_mut(), SeqCst);
        wait_until(|| self.active.load(SeqCst) == 0);
    }

    /// A helper: joins every job published until the pass finishes,
    /// starting with the one running now, if any (it may come late).
    fn help(&self) {
        let mut seen = usize::MAX;
        let (mut spins, mut since) = (0u32, Instant::now());
        while !self.finished.load(SeqCst) {
            let now = self.epoch.load(SeqCst);
            if now == seen {
                spins = spins.wrapping_add(1);
                if spins % SPINS_PER_CHECK != 0 || since.elapsed() < SPIN_TIME {
                    std::hint::spin_loop();
                } else {
                    self.sleep(seen);
                }
                continue;
            }
            seen = now;
            self.active.fetch_add(1, SeqCst);
            let job = self.job.load(SeqCst);
            if !job.is_null() {
                // SAFETY: non-null while `active` counts this thread means
                // the publisher is still in `run`, waiting for it.
                unsafe { &*job }.work();
            }
            self.active.fetch_sub(1, SeqCst);
            (spins, since) = (0, Instant::now());
        }
    }

    /// Sleeps until `epoch` moves past `seen`.
    fn sleep(&self, seen: usize) {
        let mut guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        self.sleepers.fetch_add(1, SeqCst);
        while self.epoch.load(SeqCst) == seen && !self.finished.load(SeqCst) {
            guard = self.wake.wait(guard).unwrap_or_else(|e| e.into_inner());
        }
        self.sleepers.fetch_sub(1, SeqCst);
    }
}

/// Waits for `done`, spinning, then yielding the core between looks.
fn wait_until(done: impl Fn() -> bool) {
    let mut spins = 0u32;
    while !done() {
        if spins < SPINS_BEFORE_YIELD {
            spins += 1;
            std::hint::spin_loop();
        } else {
            std::thread::yield_now();
        }
    }
}

thread_local! {
    /// The team this thread leads, while it runs a pass in [`team`].
    static LEADING: Cell<*const Shared> = const { Cell::new(ptr::null()) };
}

/// Resets [`LEADING`] and releases the helpers, also on unwinding.
struct Lead<'a>(&'a Shared);

impl Drop for Lead<'_> {
    fn drop(&mut self) {
        LEADING.with(|leading| leading.set(ptr::null()));
        self.0.finished.store(true, SeqCst);
        self.0.announce();
    }
}

/// Runs `pass` with the pool's other threads held as helpers (see the
/// module's notes); just runs it where there is no other thread or this
/// thread already leads a team.
pub fn team<R>(helpers: usize, pass: impl FnOnce() -> R) -> R {
    if helpers == 0 || LEADING.with(|leading| !leading.get().is_null()) {
        return pass();
    }
    let shared = Shared::new();
    rayon::in_place_scope(|scope| {
        for _ in 0..helpers {
            scope.spawn(|_| shared.help());
        }
        LEADING.with(|leading| leading.set(&shared));
        let _lead = Lead(&shared);
        pass()
    })
}

/// `f` applied to every item by the team this thread leads; `None` (and
/// `items` given back) where it leads none.
pub fn in_parallel<T: Send, R: Send>(
    items: Vec<T>,
    f: &(impl Fn(T) -> R + Sync),
) -> Result<Vec<R>, Vec<T>> {
    let leading = LEADING.with(Cell::get);
    if leading.is_null() {
        return Err(items);
    }
    // SAFETY: `LEADING` is set only while `team`'s `shared` lives, on the
    // thread running its pass (this one).
    let shared = unsafe { &*leading };
    let parts = items.len();
    let inputs: Vec<Mutex<Option<T>>> = items.into_iter().map(|t| Mutex::new(Some(t))).collect();
    let outputs: Vec<Mutex<Option<R>>> = (0..parts).map(|_| Mutex::new(None)).collect();
    let run = |part: usize| {
        let input = inputs[part].lock().ok().and_then(|mut slot| slot.take());
        if let Some(input) = input {
            let output = f(input);
            if let Ok(mut slot) = outputs[part].lock() {
                *slot = Some(output);
            }
        }
    };
    let job = Job {
        run: &run,
        parts,
        next: AtomicUsize::new(0),
        done: AtomicUsize::new(0),
        panicked: AtomicBool::new(false),
    };
    shared.run(&job);
    if job.panicked.load(Relaxed) {
        resume_unwind(Box::new("a part of a parallel job panicked"));
    }
    Ok(outputs
        .into_iter()
        .map(|slot| {
            slot.into_inner()
                .ok()
                .flatten()
                .expect("every part ran (none panicked)")
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_item_is_mapped_once_in_order() {
        let helpers = rayon::current_num_threads().saturating_sub(1).max(1);
        let out = team(helpers, || {
            (0..200)
                .map(|round| {
                    let items: Vec<usize> = (0..round % 9 + 1).collect();
                    in_parallel(items, &|x| x * 2 + round).unwrap_or_default()
                })
                .collect::<Vec<_>>()
        });
        for (round, got) in out.iter().enumerate() {
            let want: Vec<usize> = (0..round % 9 + 1).map(|x| x * 2 + round).collect();
            assert_eq!(got, &want, "round {round}");
        }
    }

    #[test]
    fn outside_a_team_the_items_come_back() {
        assert_eq!(in_parallel(vec![1, 2], &|x: i32| x), Err(vec![1, 2]));
    }

    #[test]
    fn a_pass_that_outlasts_the_spin_wakes_sleeping_helpers() {
        let out = team(1, || {
            std::thread::sleep(std::time::Duration::from_millis(30));
            in_parallel((0..8).collect(), &|x: u32| x + 1).unwrap_or_default()
        });
        assert_eq!(out, (1..9).collect::<Vec<_>>());
    }

    #[test]
    fn a_panicking_part_panics_the_leader_and_frees_the_helpers() {
        let result = std::panic::catch_unwind(|| {
            team(1, || {
                in_parallel((0..4).collect(), &|x: u32| assert!(x != 2))
            })
        });
        assert!(result.is_err());
        // The team is gone: a new one works.
        assert_eq!(team(1, || in_parallel(vec![3], &|x: u32| x)), Ok(vec![3]));
    }
}
