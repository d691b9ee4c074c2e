//! `cargo xtask test`: every check, in order, with a summary. Steps after a
//! failure still run (one CI run shows every problem) unless they need what
//! failed: the browser tests need the WASM build.
//!
//! On two cores the run is bound by its busiest steps, so nothing waits on
//! an idle core: the native tests run under cargo-nextest (one process per
//! test over both cores, the slowest first: `.config/nextest.toml`; cargo
//! test ran one binary at a time and a binary's slowest test ran alone),
//! and the wasm32 tests, which mostly compile, run beside the browser
//! tests, whose Chromium mostly waits.

use std::time::Instant;

use crate::shell::{self, Cmd, Result};
use crate::{build, catalog, models, paths, setup};

#[derive(Default)]
struct Tally {
    passed: u64,
    failed: u64,
}

impl Tally {
    /// Reads cargo's `test result: ok. 5 passed; 0 failed; …`, nextest's
    /// `Summary [ 1.2s] 7 tests run: 5 passed, 2 failed, 1 skipped` and
    /// node's `# pass 5` / `# fail 0`.
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
        } else if let Some((_, counts)) = line
            .trim_start()
            .strip_prefix("Summary [")
            .and_then(|rest| rest.split_once(" run: "))
        {
            for part in counts.split(", ") {
                let (count, what) = part.split_once(' ').unwrap_or((part, ""));
                let Some(n) = number(count) else { continue };
                if what.starts_with("passed") {
                    self.passed += n;
                } else if what.starts_with("failed") || what.starts_with("timed out") {
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
    // Test builds keep line tables only (backtraces still name file and
    // line): the cold native test build took 4 min 15 s instead of 4 min
    // 58 s on two cores.
    let cargo_tests =
        |args: &[&str]| cargo(args).env("CARGO_PROFILE_DEV_DEBUG", "line-tables-only");
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
    run.step("cargo nextest (native; GPU kernels on Vulkan)", |tally| {
        // No doc tests to miss: the crate has none (cargo test ran 0).
        cargo_tests(&[
            "nextest",
            "run",
            "--workspace",
            "--locked",
            "--no-fail-fast",
        ])
        .run_watching(|line| tally.read(line))
    });
    // The SIMD128 kernels and the hostile model files under wasm32, in Node
    // (`wasm-bindgen-test-runner`, named by `.cargo/config.toml`): about 4
    // minutes cold on two cores, under 2 incremental.
    let wasm32_tests = || {
        cargo_tests(&[
            "test",
            "--manifest-path",
            "tests/wasm/Cargo.toml",
            "--target",
            "wasm32-unknown-unknown",
            "--locked",
        ])
    };
    const WASM32_TESTS: &str = "cargo test (wasm32 in Node: tests/wasm)";
    if !run.step("WASM build", |_| build::wasm()) {
        run.step(WASM32_TESTS, |tally| {
            wasm32_tests().run_watching(|line| tally.read(line))
        });
        run.skip("Node and browser tests", "the WASM build failed");
        return run.summary();
    }
    let log = paths::cache().join("wasm32-tests.log");
    let background = wasm32_tests().spawn_logged(&log);
    run.step(
        "Node and browser tests (headless Chromium, unpacked extension)",
        |tally| {
            // The browser tests compare with the native binary that the
            // native tests just built.
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
    shell::step(WASM32_TESTS);
    let mut tally = Tally::default();
    let result = background.and_then(|b| b.finish(|line| tally.read(line)));
    run.record(WASM32_TESTS, tally, result);
    run.summary()
}

/// The steps of one test run and what they counted.
#[derive(Default)]
struct Run {
    tally: Tally,
    steps: Vec<(String, std::result::Result<f64, String>)>,
}

impl Run {
    /// Runs one step ([`Run::record`]).
    fn step(&mut self, name: &str, f: impl FnOnce(&mut Tally) -> Result) -> bool {
        shell::step(name);
        let start = Instant::now();
        let mut tally = Tally::default();
        let result = f(&mut tally).map(|()| start.elapsed().as_secs_f64());
        let ok = result.is_ok();
        self.record(name, tally, result);
        ok
    }

    /// Adds a step that has run (here or in the background): its counts and
    /// its seconds, or why it failed, which counts as one failure if its own
    /// counts show none (a compile error, clippy, fmt).
    fn record(&mut self, name: &str, tally: Tally, result: Result<f64>) {
        self.tally.passed += tally.passed;
        self.tally.failed += tally.failed;
        if result.is_err() && tally.failed == 0 {
            self.tally.failed += 1;
        }
        self.steps.push((name.to_string(), result));
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
        tally.read("     Summary [ 556.448s] 437 tests run: 430 passed (7 slow), 4 failed, 3 timed out, 22 skipped");
        tally.read("     Summary [   0.008s] 1 test run: 1 passed, 458 skipped");
        assert_eq!((tally.passed, tally.failed), (452, 10));
    }
}
