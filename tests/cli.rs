//! The `locus` binary: useful output on the real model, and a one-line error
//! with a non-zero exit for bad arguments or files.

mod common;

use std::process::{Command, Output};

use common::{MODELS, model_path};

fn locus(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_locus"))
        .args(args)
        .output()
        .expect("the locus binary runs")
}

fn stderr_line(output: &Output) -> String {
    let text = String::from_utf8_lossy(&output.stderr).trim().to_string();
    assert!(!output.status.success(), "expected a failure, got success");
    assert!(!text.is_empty() && !text.contains("panicked"), "{text}");
    text
}

#[test]
fn info_describes_the_model() {
    let path = model_path(MODELS[0].1);
    let output = locus(&["info", path.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(text.contains("architecture:  llama"), "{text}");
    assert!(
        text.contains("30 layers, width 576, 9 heads / 3 KV heads"),
        "{text}"
    );
    assert!(text.contains("q4_1") && text.contains("q8_0"), "{text}");
    assert!(text.contains("chat template: gguf"), "{text}");
}

#[test]
fn tokenize_json_prints_one_array() {
    let path = model_path(MODELS[0].1);
    let output = locus(&["tokenize", path.to_str().unwrap(), "Hello world", "--json"]);
    assert!(output.status.success());
    let ids: Vec<u32> = serde_json::from_slice(&output.stdout).expect("one JSON array");
    assert!(!ids.is_empty());
}

#[test]
fn bad_input_is_one_line_and_a_failure() {
    let missing = locus(&["info", "/no/such/model.gguf"]);
    let line = stderr_line(&missing);
    assert!(
        line.starts_with("locus: /no/such/model.gguf:") && line.lines().count() == 1,
        "{line}"
    );

    let not_gguf = locus(&["info", env!("CARGO_MANIFEST_DIR")]);
    stderr_line(&not_gguf);

    let readme = common::repo_root().join("README.md");
    let line = stderr_line(&locus(&[
        "generate",
        readme.to_str().unwrap(),
        "--prompt",
        "hi",
    ]));
    assert!(
        line.contains("not a GGUF file") && line.lines().count() == 1,
        "{line}"
    );

    let usage = locus(&["generate"]);
    assert!(!usage.status.success());
    let usage = locus(&["frobnicate"]);
    assert!(!usage.status.success());
}

/// `bench --header-only` runs from the header alone (cut where `info` says
/// the tensor data starts) and reports the same weight bytes as the file.
#[test]
fn bench_runs_from_the_header_alone() {
    let path = model_path(MODELS[0].1);
    let info = locus(&["info", path.to_str().unwrap()]);
    let info = String::from_utf8_lossy(&info.stdout);
    let header_len: usize = info
        .lines()
        .find_map(|l| l.strip_prefix("header:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .expect("info prints the header size");
    let bytes = std::fs::read(&path).unwrap();
    let header = std::env::temp_dir().join(format!("locus-header-{}.gguf", std::process::id()));
    std::fs::write(&header, &bytes[..header_len]).unwrap();

    let bench = |file: &std::path::Path, extra: &[&str]| {
        let mut args = vec!["bench", file.to_str().unwrap(), "--json"];
        args.extend_from_slice(&["--prompt-tokens", "9", "--gen-tokens", "3"]);
        args.extend_from_slice(extra);
        let output = locus(&args);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice::<serde_json::Value>(&output.stdout).expect("one JSON object")
    };
    let synthetic = bench(&header, &["--header-only"]);
    let real = bench(&path, &[]);
    assert_eq!(synthetic["weight_bytes"], real["weight_bytes"]);
    assert_eq!(synthetic["synthetic_weights"], true);
    for report in [&synthetic, &real] {
        assert!(report["gen_tokens_per_second"].as_f64().unwrap() > 0.0);
        assert!(report["effective_gb_per_second"].as_f64().unwrap() > 0.0);
    }
    // Without --header-only a header alone is a truncated file.
    let line = stderr_line(&locus(&["bench", header.to_str().unwrap()]));
    std::fs::remove_file(&header).ok();
    assert!(
        line.contains("truncated") || line.contains("past the end"),
        "{line}"
    );
}

#[test]
fn detect_prints_one_language_per_line() {
    use std::io::Write;
    use std::process::Stdio;

    let path = model_path(common::LID_MODEL);
    let mut child = Command::new(env!("CARGO_BIN_EXE_locus"))
        .args(["detect", path.to_str().unwrap()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let input = "Guten Morgen, wie geht es dir heute?\n\n12345\r\nこれは日本語の文です。\n";
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).unwrap();
    let codes: Vec<&str> = text
        .lines()
        .map(|l| l.split('\t').next().unwrap())
        .collect();
    assert_eq!(codes, ["de", "und", "und", "ja"], "{text}");
    assert!(
        text.lines()
            .all(|l| l.split('\t').nth(1).unwrap().parse::<f32>().is_ok())
    );

    let readme = common::repo_root().join("README.md");
    let line = stderr_line(&locus(&["detect", readme.to_str().unwrap()]));
    assert!(
        line.contains("not a fastText model") && line.lines().count() == 1,
        "{line}"
    );
}
