//! `tests/cpu_simd.rs`, run under wasm32: the SIMD128 kernels against the
//! portable ones, bit for bit. In headless Chromium (the runner starts it
//! through `chromedriver`, installed by `cargo xtask setup`): the engine
//! the extension runs in, where relaxed SIMD is standard. Node 20's V8
//! miscompiles relaxed dot products (see `src/quant/wasm_simd.rs`).

wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

#[path = "../../cpu_simd.rs"]
mod cpu_simd;
