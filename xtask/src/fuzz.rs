//! `cargo xtask fuzz [SECONDS]`: coverage-guided fuzzing (cargo-fuzz and
//! libFuzzer, on the nightly toolchain) of the readers of untrusted input:
//! GGUF files, fastText models, tokenizers built from GGUF metadata and chat
//! templates. Not part of `cargo xtask test`.
//!
//! Each target runs SECONDS (default 60), one after another. Corpora, seeds,
//! crash artifacts, logs and the instrumented build live under
//! `~/.cache/locus/fuzz/`, never in git; a crash input found there becomes a
//! case of `tests/fuzz_regressions.rs`.

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::shell::{self, Cmd, Result};
use crate::{fuzz_seeds, models, paths, setup};

const CARGO_FUZZ_VERSION: &str = "0.13.2";
const DEFAULT_SECONDS: u64 = 60;

/// The targets of `fuzz/Cargo.toml`, with libFuzzer's `-max_len` for each
/// and whether inputs start that long (`-len_control=0`): the tokenizer's
/// executions are slow, and its structured inputs only describe a
/// vocabulary worth building once they are a few hundred bytes long.
const TARGETS: [(&str, usize, bool); 4] = [
    ("gguf_reader", 64 << 10, false),
    ("fasttext_reader", 16 << 10, false),
    ("tokenizer_from_gguf", 4 << 10, true),
    ("chat_template", 8 << 10, false),
];
/// An input running longer than this is a finding (a hang).
const TIMEOUT_SECONDS: u64 = 10;
/// An input needing more memory than this is a finding.
const RSS_LIMIT_MB: u64 = 2048;
/// Release build with overflow checks and debug assertions; no sanitizer:
/// the fuzzed code is safe Rust, so panics are what there is to find, and
/// AddressSanitizer would only halve the executions.
const BUILD_FLAGS: [&str; 4] = ["-O", "--debug-assertions", "--sanitizer", "none"];

/// What one target's run gave.
#[derive(Default)]
struct Outcome {
    executions: Option<u64>,
    exec_per_sec: Option<u64>,
    coverage: Option<u64>,
    corpus: Option<u64>,
    finding: Option<String>,
    artifact: Option<String>,
}

pub fn run(args: &[String]) -> Result {
    let seconds = match args.first() {
        None => DEFAULT_SECONDS,
        Some(text) => text
            .parse::<u64>()
            .map_err(|_| format!("SECONDS must be a whole number, not {text:?}"))?,
    };
    nightly()?;
    setup::cargo_tool("cargo-fuzz", "cargo-fuzz", CARGO_FUZZ_VERSION, true)?;
    let home = paths::cache().join("fuzz");
    let seeds = home.join("seeds");
    shell::step("Writing seed inputs from the real models");
    let model_files = models::fetch_all()?;
    let written = fuzz_seeds::write_all(&seeds, &model_files)?;
    println!("{written} seeds in {}", seeds.display());

    shell::step("Building the fuzz targets (instrumented; long the first time)");
    fuzz_cmd("build").args(BUILD_FLAGS).run()?;

    let mut outcomes = Vec::new();
    for (target, max_len, full_length) in TARGETS {
        shell::step(&format!("Fuzzing {target} for {seconds} s"));
        let outcome = run_target(&home, (target, max_len, full_length), seconds)?;
        outcomes.push((target, outcome));
    }
    print_table(&outcomes);
    let found = outcomes.iter().filter(|(_, o)| o.finding.is_some()).count();
    if found > 0 {
        return Err(format!(
            "{found} target(s) found a crash, hang or OOM: minimise it with `cargo +nightly fuzz tmin` and add it to tests/fuzz_regressions.rs"
        ));
    }
    Ok(())
}

/// The nightly toolchain, which cargo-fuzz needs for its instrumentation flags.
fn nightly() -> Result {
    let installed = Cmd::new("rustup")
        .args(["toolchain", "list"])
        .read()
        .unwrap_or_default();
    if installed.lines().any(|line| line.starts_with("nightly")) {
        return Ok(());
    }
    shell::step("Installing the nightly Rust toolchain (for cargo-fuzz)");
    Cmd::new("rustup")
        .args(["toolchain", "install", "nightly", "--profile", "minimal"])
        .run()
}

/// `cargo +nightly fuzz <sub>` on `fuzz/`, building in its own target
/// directory: instrumented artifacts must not replace the normal build's.
fn fuzz_cmd(sub: &str) -> Cmd {
    Cmd::new("cargo")
        .args(["+nightly", "fuzz", sub])
        .env("CARGO_TARGET_DIR", fuzz_target_dir())
}

fn fuzz_target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir).join("fuzz"),
        None => paths::cache().join("fuzz/target"),
    }
}

fn run_target(
    home: &Path,
    (target, max_len, full_length): (&str, usize, bool),
    seconds: u64,
) -> Result<Outcome> {
    let corpus = home.join("corpus").join(target);
    let seeds = home.join("seeds").join(target);
    let artifacts = home.join("artifacts").join(target);
    let log_path = home.join("logs").join(format!("{target}.log"));
    for dir in [&corpus, &seeds, &artifacts] {
        fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    fs::create_dir_all(log_path.parent().expect("has a parent")).map_err(|e| e.to_string())?;
    let mut prefix = artifacts.into_os_string();
    prefix.push("/");

    let mut command = Command::new("cargo");
    command
        .current_dir(paths::repo_root())
        .env("CARGO_TARGET_DIR", fuzz_target_dir())
        .env("PATH", tool_path())
        .args(["+nightly", "fuzz", "run"])
        .args(BUILD_FLAGS)
        .arg(target)
        .arg(&corpus)
        .arg(&seeds)
        .arg("--")
        .arg(format!("-max_total_time={seconds}"))
        .arg(format!("-max_len={max_len}"))
        .arg(format!("-timeout={TIMEOUT_SECONDS}"))
        .arg(format!("-rss_limit_mb={RSS_LIMIT_MB}"))
        .arg("-print_final_stats=1")
        .arg("-print_pcs=0")
        .arg({
            let mut arg = std::ffi::OsString::from("-artifact_prefix=");
            arg.push(prefix);
            arg
        })
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if full_length {
        command.arg("-len_control=0");
    }
    // Tokens of the input's language (Jinja syntax, GGUF keys), where there is a list.
    let dict = paths::repo_root().join(format!("fuzz/dicts/{target}.dict"));
    if dict.exists() {
        let mut arg = std::ffi::OsString::from("-dict=");
        arg.push(dict);
        command.arg(arg);
    }
    println!("$ {command:?}");
    let mut child = command
        .spawn()
        .map_err(|e| format!("could not start cargo fuzz run: {e}"))?;
    let mut log = String::new();
    let mut outcome = Outcome::default();
    if let Some(stderr) = child.stderr.take() {
        for line in BufReader::new(stderr)
            .lines()
            .map_while(std::result::Result::ok)
        {
            if is_worth_showing(&line) {
                println!("{line}");
            }
            read_line(&line, &mut outcome);
            log.push_str(&line);
            log.push('\n');
        }
    }
    let status = child.wait().map_err(|e| e.to_string())?;
    fs::write(&log_path, &log).map_err(|e| format!("{}: {e}", log_path.display()))?;
    println!("log: {}", log_path.display());
    if !status.success() && outcome.finding.is_none() {
        if outcome.executions.is_none() {
            return Err(format!(
                "fuzzing {target} failed ({status}); see {}",
                log_path.display()
            ));
        }
        outcome.finding = Some(format!("exit {status}"));
    }
    Ok(outcome)
}

fn tool_path() -> std::ffi::OsString {
    let mut dirs = vec![paths::tools().join("bin")];
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path));
    }
    std::env::join_paths(dirs).unwrap_or_default()
}

/// libFuzzer prints a line per new input; show the periodic and final ones.
fn is_worth_showing(line: &str) -> bool {
    matches!(event(line), Some("pulse" | "DONE" | "INITED"))
        || line.starts_with("stat::")
        || line.contains("ERROR")
        || line.contains("panicked")
        || line.contains("Test unit written")
}

/// The event of a status line: "#1234\tpulse  cov: …" → "pulse".
fn event(line: &str) -> Option<&str> {
    line.strip_prefix('#')?.split_whitespace().nth(1)
}

/// Picks the numbers and any finding out of libFuzzer's output.
fn read_line(line: &str, outcome: &mut Outcome) {
    let field = |name: &str| -> Option<u64> {
        let rest = &line[line.find(name)? + name.len()..];
        rest.split_whitespace().next()?.parse().ok()
    };
    if let Some(n) = line.strip_prefix("stat::number_of_executed_units: ") {
        outcome.executions = n.trim().parse().ok();
    } else if let Some(n) = line.strip_prefix("stat::average_exec_per_sec: ") {
        outcome.exec_per_sec = n.trim().parse().ok();
    } else if let Some(rest) = line.strip_prefix('#') {
        // "#1234  pulse  cov: 56 ft: 78 corp: 9/10b exec/s: 11 rss: 12Mb"
        let number = rest.split_whitespace().next().and_then(|n| n.parse().ok());
        // The latest count; the final `stat::` line, printed after these, wins.
        outcome.executions = number.or(outcome.executions);
        outcome.coverage = field("cov: ").or(outcome.coverage);
        outcome.corpus = line
            .find("corp: ")
            .and_then(|at| line[at + 6..].split('/').next()?.parse().ok())
            .or(outcome.corpus);
        if event(line) == Some("DONE") {
            outcome.exec_per_sec = field("exec/s: ").or(outcome.exec_per_sec);
        }
    }
    if outcome.finding.is_none() {
        for (needle, kind) in [
            ("ERROR: libFuzzer: timeout", "timeout"),
            ("ERROR: libFuzzer: out-of-memory", "out of memory"),
            ("ERROR: libFuzzer: deadly signal", "crash"),
            ("ERROR: libFuzzer: fuzz target exited", "exit"),
        ] {
            if line.contains(needle) {
                outcome.finding = Some(kind.to_string());
            }
        }
    }
    if let Some(at) = line.find("Test unit written to ") {
        outcome.artifact = Some(line[at + 21..].trim().to_string());
    }
}

fn print_table(outcomes: &[(&str, Outcome)]) {
    let show = |n: Option<u64>| n.map_or_else(|| "?".to_string(), |n| n.to_string());
    println!(
        "\n{:<20} {:>12} {:>8} {:>6} {:>7}  finding",
        "target", "executions", "exec/s", "cov", "corpus"
    );
    for (target, o) in outcomes {
        let finding = match (&o.finding, &o.artifact) {
            (None, _) => "none".to_string(),
            (Some(kind), Some(path)) => format!("{kind}: {path}"),
            (Some(kind), None) => kind.clone(),
        };
        println!(
            "{:<20} {:>12} {:>8} {:>6} {:>7}  {finding}",
            target,
            show(o.executions),
            show(o.exec_per_sec),
            show(o.coverage),
            show(o.corpus),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_libfuzzer_final_lines() {
        let mut o = Outcome::default();
        for line in [
            "#2\tINITED cov: 10 ft: 11 corp: 1/1b exec/s: 0 rss: 30Mb",
            "#1048576\tpulse  cov: 900 ft: 2000 corp: 120/4Kb lim: 4096 exec/s: 3000 rss: 90Mb",
            "#1200000\tDONE   cov: 950 ft: 2100 corp: 130/5Kb lim: 4096 exec/s: 3001 rss: 91Mb",
            "stat::number_of_executed_units: 1200003",
            "stat::average_exec_per_sec:     3001",
        ] {
            read_line(line, &mut o);
        }
        assert_eq!(o.executions, Some(1_200_003));
        assert_eq!(o.exec_per_sec, Some(3001));
        assert_eq!(o.coverage, Some(950));
        assert_eq!(o.corpus, Some(130));
        assert!(o.finding.is_none());
        read_line("==12== ERROR: libFuzzer: deadly signal", &mut o);
        read_line(
            "artifact_prefix='/x/'; Test unit written to /x/crash-abc",
            &mut o,
        );
        assert_eq!(o.finding.as_deref(), Some("crash"));
        assert_eq!(o.artifact.as_deref(), Some("/x/crash-abc"));
    }
}
