//! Developer commands for Locus. The README's two set-up commands live here:
//!
//! * `cargo xtask run`  — install what is missing, build, fetch the default
//!   model, and run the main job in Chromium with the unpacked extension.
//! * `cargo xtask test` — every check: fmt, clippy, native tests (GPU kernels
//!   on lavapipe), the WASM build, Node and browser end-to-end tests.
//!
//! Installs and downloads are cached under `~/.cache/locus`, so a second run
//! (or a fresh clone on the same machine) reuses them.

mod build;
mod catalog;
mod cpu_speed;
mod eval;
mod fuzz;
mod fuzz_seeds;
mod models;
mod paths;
mod setup;
mod shell;
mod testing;

use std::process::ExitCode;

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  run      install what is missing, build, and run the main job in Chromium
  test     run every check and test (what CI runs)
  setup    only install what is missing
  build    only build the WASM runtime into pkg/
  models   only fetch the test models (SmolLM2, Qwen2.5-Coder, Gemma 3, lid.176) into models/
  models --large
           fetch Qwen2.5-Coder-1.5B-Instruct (1.1 GB) for tests/models_larger.rs
  catalog  only check extension/catalog.json (pinned revisions; sizes and hashes of cached models)
  eval [MODEL.gguf ...]
           the quality harness: summaries (shape, key facts) and translations (chrF)
           by every model in models/ (or those named), as a table (not part of test)
  fuzz [SECONDS]
           coverage-guided fuzzing of the GGUF and fastText readers, the tokenizer
           and chat templates, SECONDS per target (default 60; not part of test)
  cpu-speed
           the CPU path in headless Chromium beside llama.cpp's native CPU backend
           (builds llama.cpp's llama-bench once; minutes; not part of test)";

fn main() -> ExitCode {
    let command = std::env::args().nth(1).unwrap_or_default();
    let result = match command.as_str() {
        "run" => run(),
        "test" => testing::run_all(),
        "setup" => setup::everything(),
        "build" => setup::everything().and_then(|()| build::wasm()),
        "models" => match std::env::args().nth(2).as_deref() {
            None => models::fetch_all().map(drop),
            Some("--large") => models::fetch_large().map(drop),
            Some(other) => Err(format!("models: unknown option {other}")),
        },
        "catalog" => catalog::check_cached(),
        "eval" => eval::run(&std::env::args().skip(2).collect::<Vec<_>>()),
        "cpu-speed" => cpu_speed::run(),
        "fuzz" => fuzz::run(&std::env::args().skip(2).collect::<Vec<_>>()),
        "-h" | "--help" | "help" => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("\nxtask: {error}");
            ExitCode::FAILURE
        }
    }
}

/// The main job: build everything, then let the extension work on the
/// bundled sample article and print what it produced.
fn run() -> shell::Result {
    setup::everything()?;
    build::wasm()?;
    let model = models::fetch_default()?;
    shell::step("Main job: the extension in Chromium on the sample article");
    shell::Cmd::new("node")
        .arg("scripts/main_job.js")
        .env("LOCUS_MODEL", &model)
        .run()?;
    println!(
        "\nLoad the extension yourself: chrome://extensions → Developer mode → Load unpacked → {}",
        paths::repo_root().display()
    );
    Ok(())
}
