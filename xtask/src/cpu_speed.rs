//! `cargo xtask cpu-speed`: the CPU path's speed in headless Chromium
//! (`tests/e2e/cpu_speed.test.js`: SmolLM2 prefill and decode on one thread
//! and on every core, Qwen2.5-0.5B's first token after 500 prompt tokens)
//! with llama.cpp's native CPU backend run between the browser's runs on
//! the same model and threads, so one run prints both and their ratio.
//! Minutes long; not part of `test`. Run it on an idle machine: the test
//! prints the load beside every figure.
//!
//! llama.cpp's `llama-bench` is built once into `~/.cache/locus/llama-cpu`
//! from the llama.cpp that the `llama-cpp-python` sdist vendors (the same
//! release the fixtures come from), for this machine's CPU
//! (`GGML_NATIVE`), with CMake and Ninja from PyPI in a virtual
//! environment: about 10 minutes on two cores.

use std::fs;
use std::path::PathBuf;

use crate::shell::{self, Cmd, Result};
use crate::{build, models, paths, setup};

/// The sdist (PyPI's simple index gives this address) and its sha256.
const SDIST_URL: &str = "https://files.pythonhosted.org/packages/ec/e9/e7de2b0463ea3ffbf0ede6cb21b58c1258a8f6521aae45ca773a59fe7cf3/llama_cpp_python-0.3.36.tar.gz";
const SDIST_SHA256: &str = "832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e";
const BUILD_TOOLS: [&str; 2] = ["cmake==3.31.6", "ninja==1.11.1.4"];

pub fn run() -> Result {
    // First: it needs only python3, curl and a C++ compiler.
    let llama_bench = llama_bench()?;
    setup::everything()?;
    models::fetch_all()?;
    build::wasm()?;
    shell::step("CPU speed in headless Chromium beside llama.cpp's CPU backend");
    Cmd::new("node")
        .args(["--experimental-wasm-relaxed-simd", "--test"])
        .args(["--test-concurrency=1", "tests/e2e/cpu_speed.test.js"])
        .env("LOCUS_SLOW_E2E", "1")
        .env("LOCUS_LLAMA_BENCH", llama_bench)
        .run()
}

/// llama.cpp's CPU `llama-bench`, built if missing.
pub fn llama_bench() -> Result<PathBuf> {
    let dir = paths::cache().join("llama-cpu");
    let bin = dir.join("build").join("bin").join("llama-bench");
    if bin.exists() {
        return Ok(bin);
    }
    shell::step("Building llama.cpp's CPU llama-bench (once; about 10 minutes on 2 cores)");
    fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let venv = dir.join("venv");
    if !venv.join("bin").join("cmake").exists() {
        Cmd::new("python3").args(["-m", "venv"]).arg(&venv).run()?;
        Cmd::new(&venv.join("bin").join("pip").to_string_lossy())
            .args(["install", "-q", "--disable-pip-version-check"])
            .args(BUILD_TOOLS)
            .run()?;
    }
    let sdist = dir.join("llama_cpp_python-0.3.36.tar.gz");
    if shell::sha256(&sdist).as_deref() != Some(SDIST_SHA256) {
        Cmd::new("curl")
            .args(["-fsSL", "--retry", "3", "-o"])
            .arg(&sdist)
            .arg(SDIST_URL)
            .run()?;
        if shell::sha256(&sdist).as_deref() != Some(SDIST_SHA256) {
            let _ = fs::remove_file(&sdist);
            return Err(format!(
                "{} does not have the pinned sha256",
                sdist.display()
            ));
        }
    }
    let source = dir.join("src");
    let _ = fs::remove_dir_all(&source);
    fs::create_dir_all(&source).map_err(|e| e.to_string())?;
    Cmd::new("tar")
        .arg("xzf")
        .arg(&sdist)
        .args(["--strip-components=1", "-C"])
        .arg(&source)
        .run()?;
    let cmake = venv.join("bin").join("cmake");
    let cmake = cmake.to_string_lossy();
    let build = dir.join("build");
    Cmd::new(&cmake)
        .arg("-S")
        .arg(source.join("vendor").join("llama.cpp"))
        .arg("-B")
        .arg(&build)
        .args([
            "-G",
            "Ninja",
            "-DCMAKE_BUILD_TYPE=Release",
            "-DGGML_NATIVE=ON",
        ])
        .args(["-DLLAMA_CURL=OFF", "-DLLAMA_BUILD_TESTS=OFF"])
        .args(["-DLLAMA_BUILD_EXAMPLES=OFF", "-DLLAMA_BUILD_SERVER=OFF"])
        .arg(format!(
            "-DCMAKE_MAKE_PROGRAM={}",
            venv.join("bin").join("ninja").display()
        ))
        .run()?;
    Cmd::new(&cmake)
        .arg("--build")
        .arg(&build)
        .args(["--target", "llama-bench"])
        .run()?;
    bin.exists()
        .then_some(bin)
        .ok_or_else(|| "the build made no llama-bench".to_string())
}
