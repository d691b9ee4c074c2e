//! `tests/hostile/`, run under wasm32: the hostile GGUF headers of
//! `tests/corrupt_models.rs` (exponential and turn-3-looping templates,
//! string- and list-doubling templates, `range(10**9)`, block_count 2^31 - 1, a 300M-item metadata
//! array, context_length 1) give typed errors in the WASM build too, where
//! a panic or a failed allocation would trap the module instead.

#[path = "../../hostile/mod.rs"]
mod hostile;
