//! `cargo xtask test`: every check, in order, with a summary. Steps after a
//! failure still run (one CI run shows every problem) unless they need what
//! failed: the browser tests need the WASM build.

use std::time::Instant;

use crate::shell::{self, Cmd, Result};
use crate::{build, catalog, models, paths, setup};

#[derive(Default)]
struct Tally {
    passed: u64,
    failed: u64,
}

impl Tally {
    /// Reads cargo's `test result: ok. 5 passed; 0 failed; …` and node's `# pass 5` / `# fail 0`.
    fn read(&mut self, line: &str) {
        let number = |text: &str| {
            text.trim()
                .split(|c: char| !c.is_ascii_digit())
                .next()
                .and_then(|n| n.parse::<u64>().ok())
        };
        if let Some(rest) = line.strip_prefix("test result: ") {
            for part in rest.split(';') {
                let part = part
                    .trim()
                    .trim_start_matches("ok.")
                    .trim_start_matches("FAILED.")
                    .trim();
                if let Some(n) = part.strip_suffix(" passed").and_then(number) {
                    self.passed += n;
                } else if let Some(n) = part.strip_suffix(" failed").and_then(number) {
                    self.failed += n;
                }
            }
        } else if let Some(n) = line.strip_prefix("# pass ").and_then(number) {
            self.passed += n;
        } else if let Some(n) = line.strip_prefix("# fail ").and_then(number) {
            self.failed += n;
        }
    }
}

pub fn run_all() -> Result {
    setup::everything()?;
    // The model tests run all three real models; none is skipped.
    models::fetch_all()?;

    let cargo = |args: &[&str]| Cmd::new("cargo").args(args);
    let mut run = Run::default();
    run.step("rustfmt", |_| cargo(&["fmt", "--all", "--check"]).run());
    run.step(
        "catalog: pinned revisions, sizes and hashes of cached models",
        |_| catalog::check_cached(),
    );
    run.step("clippy (native)", |_| {
        cargo(&[
            "clippy",
            "--workspace",
            "--all-targets",
            "--locked",
            "--",
            "-D",
            "warnings",
        ])
        .run()
    });
    run.step("clippy (wasm32)", |_| {
        cargo(&[
            "clippy",
            "--lib",
            "--target",
            "wasm32-unknown-unknown",
            "--locked",
            "--",
            "-D",
            "warnings",
        ])
        .run()
    });
    run.step("cargo test (native; GPU kernels on Vulkan)", |tally| {
        cargo(&["test", "--workspace", "--locked"]).run_watching(|line| tally.read(line))
    });
    // The SIMD128 kernels and the hostile model files under wasm32, in Node
    // (`wasm-bindgen-test-runner`, named by `.cargo/config.toml`): about 8
    // minutes cold on two busy cores, under 2 incremental.
    run.step("cargo test (wasm32 in Node: tests/wasm)", |tally| {
        cargo(&[
            "test",
            "--manifest-path",
            "tests/wasm/Cargo.toml",
            "--target",
            "wasm32-unknown-unknown",
            "--locked",
        ])
        .run_watching(|line| tally.read(line))
    });
    if run.step("WASM build", |_| build::wasm()) {
        run.step(
            "Node and browser tests (headless Chromium, unpacked extension)",
            |tally| {
                // The browser tests compare with the native binary that
                // `cargo test` just built.
                let locus = paths::cargo_target().join("debug").join("locus");
                // Node 20 (V8 11.3) compiles the relaxed-SIMD module only
                // behind this flag; the test runner passes it to each file.
                Cmd::new("node")
                    .args(["--experimental-wasm-relaxed-simd", "--test"])
                    .args(["--test-concurrency=1", "tests/js/", "tests/e2e/"])
                    .env("LOCUS_BIN", locus)
                    .run_watching(|line| tally.read(line))
            },
        );
    } else {
        run.skip("Node and browser tests", "the WASM build failed");
    }
    run.summary()
}

/// The steps of one test run and what they counted.
#[derive(Default)]
struct Run {
    tally: Tally,
    steps: Vec<(String, std::result::Result<f64, String>)>,
}

impl Run {
    /// Runs one step; a failure that its own test counts do not show (a
    /// compile error, clippy, fmt) counts as one failure.
    fn step(&mut self, name: &str, f: impl FnOnce(&mut Tally) -> Result) -> bool {
        shell::step(name);
        let start = Instant::now();
        let failed_before = self.tally.failed;
        let result = f(&mut self.tally);
        if result.is_err() && self.tally.failed == failed_before {
            self.tally.failed += 1;
        }
        let ok = result.is_ok();
        self.steps.push((
            name.to_string(),
            result.map(|()| start.elapsed().as_secs_f64()),
        ));
        ok
    }

    fn skip(&mut self, name: &str, why: &str) {
        self.tally.failed += 1;
        self.steps
            .push((name.to_string(), Err(format!("skipped: {why}"))));
    }

    fn summary(self) -> Result {
        shell::step("Summary");
        for (name, result) in &self.steps {
            match result {
                Ok(seconds) => println!("  ok    {name:<66} {seconds:>6.1} s"),
                Err(error) => println!("  FAIL  {name:<66}\n        {error}"),
            }
        }
        println!(
            "total: {} passed, {} failed",
            self.tally.passed, self.tally.failed
        );
        match self.steps.iter().filter(|(_, r)| r.is_err()).count() {
            0 => Ok(()),
            n => Err(format!("{n} step(s) failed")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Tally;

    #[test]
    fn reads_cargo_and_node_summaries() {
        let mut tally = Tally::default();
        tally.read("test result: ok. 11 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.01s");
        tally.read("test result: FAILED. 3 passed; 2 failed; 0 ignored");
        tally.read("# pass 7");
        tally.read("# fail 1");
        tally.read("ok 3 - something passed");
        assert_eq!((tally.passed, tally.failed), (21, 3));
    }
}
