//! Locus patch: a bound on the walks of nested values.
//!
//! Printing, serializing, hashing and comparing a list or map walks what it
//! holds, recursively.  Values can share and even hold themselves: a
//! namespace can be assigned into itself (a walk never ends and overflows
//! the stack) and `{% set ns.l = [ns.l, ns.l] %}` forty times makes 40 small
//! lists whose walk visits 2^40.  Every such walk enters each nested
//! container through [`enter`], which refuses once the walk is too deep or
//! has visited too many containers; the walk then ends early (a formatter
//! writes "...", a comparison gives up, JSON fails) and the engine fails the
//! instruction with
//! [`ErrorKind::OutOfFuel`](crate::ErrorKind) (see `vm/mod.rs`).
use std::cell::Cell;

/// Nesting deeper than this is refused (a chat template's data, tool
/// definitions included, nests a handful of levels).
const MAX_DEPTH: usize = 64;

/// Containers one instruction may walk (a chat template prints or
/// serializes one container per message or tool, a few per tool
/// definition; pretty-printing 2^16 nested containers already takes most
/// of a second).
const MAX_CONTAINERS: usize = 1 << 16;

thread_local! {
    static DEPTH: Cell<usize> = const { Cell::new(0) };
    static CONTAINERS: Cell<usize> = const { Cell::new(0) };
    static TRIPPED: Cell<bool> = const { Cell::new(false) };
}

/// A container being walked; dropping it leaves it.
pub(crate) struct Entered(());

impl Drop for Entered {
    fn drop(&mut self) {
        DEPTH.with(|d| d.set(d.get().saturating_sub(1)));
    }
}

/// Enters a nested container, or `None` when the walk must stop.
pub(crate) fn enter() -> Option<Entered> {
    if TRIPPED.with(Cell::get) {
        return None;
    }
    let containers = CONTAINERS.with(|c| {
        c.set(c.get().saturating_add(1));
        c.get()
    });
    let depth = DEPTH.with(|d| d.get()) + 1;
    if depth > MAX_DEPTH || containers > MAX_CONTAINERS {
        TRIPPED.with(|t| t.set(true));
        return None;
    }
    DEPTH.with(|d| d.set(depth));
    Some(Entered(()))
}

/// Whether a walk was cut short since the last call; starts a new count.
pub(crate) fn take_tripped() -> bool {
    CONTAINERS.with(|c| c.set(0));
    TRIPPED.with(|t| t.replace(false))
}

/// The message of the error a cut walk becomes.
pub(crate) const MESSAGE: &str = "a value is nested too deeply or too often to walk";
