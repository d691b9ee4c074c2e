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

    // On the CPU: the header-only weights are what is tested here, and two
    // runs on lavapipe took 3 minutes of the suite. The GPU runs from
    // headers on every device call (`scripts/device/bench.sh`).
    let bench = |file: &std::path::Path, extra: &[&str]| {
        let mut args = vec![
            "bench",
            file.to_str().unwrap(),
            "--json",
            "--backend",
            "cpu",
        ];
        args.extend_from_slice(&["--pp", "9", "--tg", "3", "-r", "1"]);
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
        assert!(report["tg"]["mean"].as_f64().unwrap() > 0.0);
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

/// `locus bench --json ARGS`, which must succeed: its one JSON object.
fn bench_json(args: &[&str]) -> serde_json::Value {
    let output = locus(&[&["bench", "--json"], args].concat());
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("one JSON object")
}

/// `bench` measures llama-bench's quantities: pp and tg after a depth
/// prefill, time to first token, repeated runs with their spread. The
/// measurement is the same code on both backends, so this runs on the CPU:
/// on lavapipe the same run took about 280 s of the suite.
#[test]
fn bench_reports_llama_bench_s_quantities() {
    let path = model_path(MODELS[0].1);
    let report = bench_json(&[
        path.to_str().unwrap(),
        "--backend",
        "cpu",
        "-p",
        "9",
        "-n",
        "3",
        "-d",
        "5",
        "--prompt",
        "12",
        "-r",
        "2",
    ]);
    assert_eq!(report["depth"], 5);
    for (test, tokens, unit) in [
        ("pp", 9, "tokens/s"),
        ("tg", 3, "tokens/s"),
        ("ttft", 12, "ms"),
    ] {
        let t = &report[test];
        assert_eq!(t["tokens"], tokens, "{test}: {t}");
        assert_eq!(t["unit"], unit, "{test}: {t}");
        let samples = t["samples"].as_array().unwrap();
        assert_eq!(samples.len(), 2, "{test}: {t}");
        let mean = samples.iter().map(|s| s.as_f64().unwrap()).sum::<f64>() / 2.0;
        assert!(
            mean > 0.0 && (t["mean"].as_f64().unwrap() - mean).abs() < 1e-6 * mean,
            "{t}"
        );
        assert!(t["stddev"].as_f64().unwrap() >= 0.0);
    }
    let metrics: Vec<&str> = report["comparison"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["metric"].as_str().unwrap())
        .collect();
    assert_eq!(metrics, ["pp9 @ d5", "tg3 @ d5", "ttft12"]);
}

/// On the GPU (lavapipe here) `bench` also reports dispatches per token and
/// per layer, the copy bandwidth and the decode and prefill profiles; the
/// shortest run that has them all.
#[test]
fn bench_on_the_gpu_reports_dispatches_and_profiles() {
    let path = model_path(MODELS[0].1);
    let report = bench_json(&[
        path.to_str().unwrap(),
        "--backend",
        "gpu",
        "-p",
        "2",
        "-n",
        "1",
        "-r",
        "1",
        "--profile",
    ]);
    for test in ["pp", "tg"] {
        assert!(report[test]["mean"].as_f64().unwrap() > 0.0, "{report}");
    }
    // SmolLM2: 30 layers; every layer has the same passes.
    let dispatches = &report["dispatches"];
    let per_token = dispatches["per_token"].as_u64().unwrap();
    let per_layer = dispatches["per_layer"].as_f64().unwrap();
    let parts = dispatches["embedding"].as_u64().unwrap() + dispatches["head"].as_u64().unwrap();
    assert!(per_layer >= 5.0 && per_layer.fract() == 0.0, "{dispatches}");
    assert_eq!(per_token, parts + 30 * per_layer as u64, "{dispatches}");
    for (profile, tokens) in [("profile_decode", 1), ("profile_prefill", 2)] {
        let p = &report[profile];
        assert_eq!(p["tokens"], tokens, "{p}");
        assert_eq!(p["layers"], 30, "{p}");
        assert!(p["total_ms"].as_f64().unwrap() > 0.0, "{p}");
        assert!(!p["layer_pass_ms"].as_array().unwrap().is_empty(), "{p}");
    }
    assert!(report["copy_gb_per_second"].as_f64().unwrap() > 0.0);
}

/// `--llama-bench PATH` runs llama-bench with llama-bench's own arguments
/// and prints Locus beside it. llama-bench needs a GPU (the lead runs it on
/// the GPU machine), so PATH here is a stand-in script that records its
/// arguments and prints the output recorded from the real llama-bench
/// (tests/fixtures/llama_bench/).
#[test]
fn bench_prints_llama_bench_beside_locus() {
    let path = model_path(MODELS[0].1);
    let fixture = common::repo_root().join("tests/fixtures/llama_bench/smollm2_fa01.json");
    let recorded: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&fixture).unwrap()).unwrap();
    let (pp, tg) = (
        recorded[0]["n_prompt"].to_string(),
        recorded[1]["n_gen"].to_string(),
    );
    let dir = std::env::temp_dir().join(format!("locus-llama-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let args_file = dir.join("args");
    let script = dir.join("llama-bench");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$@\" > '{}'\ncat '{}'\n",
            args_file.display(),
            fixture.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();

    let bench = |extra: &[&str]| {
        let mut args = vec!["bench", path.to_str().unwrap(), "--backend", "cpu"];
        args.extend_from_slice(&["-p", &pp, "-n", &tg, "-r", "2", "--flash-attn", "both"]);
        args.extend_from_slice(&["--llama-bench", script.to_str().unwrap()]);
        args.extend_from_slice(extra);
        let output = locus(&args);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        output
    };
    let json: serde_json::Value =
        serde_json::from_slice(&bench(&["--json"]).stdout).expect("one JSON object");
    let passed = std::fs::read_to_string(&args_file).unwrap();
    let passed: Vec<&str> = passed.lines().collect();
    let want = format!(
        "-m {} -ngl 99 -p {pp} -n {tg} -r 2 -o json -fa 0,1",
        path.display()
    );
    assert_eq!(passed.join(" "), want);
    assert_eq!(json["llama_bench"].as_array().unwrap().len(), 4);
    let rows = json["comparison"].as_array().unwrap();
    assert_eq!(rows.len(), 4, "{rows:?}");
    for (row, test) in rows.iter().zip(recorded.as_array().unwrap()) {
        assert_eq!(row["llama_cpp"]["mean"], test["avg_ts"]);
        let ratio = row["locus"]["mean"].as_f64().unwrap() / test["avg_ts"].as_f64().unwrap();
        assert!(
            (row["ratio"].as_f64().unwrap() - ratio).abs() < 1e-9 * ratio,
            "{row}"
        );
    }

    let text = String::from_utf8(bench(&["-d", "3"]).stdout).unwrap();
    std::fs::remove_dir_all(&dir).ok();
    // The recorded tests are at depth 0: at depth 3 nothing is compared.
    let table: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.starts_with("metric"))
        .take(7)
        .collect();
    assert!(table[0].ends_with("ratio"), "{text}");
    assert!(table.iter().any(|l| l.contains(", fa)")), "{text}");
    assert!(
        table
            .iter()
            .any(|l| l.starts_with(&format!("pp{pp} @ d3 (tokens/s)"))),
        "{text}"
    );
}

#[test]
fn bench_from_a_header_with_llama_bench_needs_the_synthesiser() {
    let path = model_path(MODELS[0].1);
    let line = stderr_line(&locus(&[
        "bench",
        path.to_str().unwrap(),
        "--header-only",
        "--llama-bench",
        "/bin/true",
        "--synth",
        "/no/such/gguf_synth.py",
    ]));
    assert!(
        line.contains("gguf_synth.py") && line.lines().count() == 1,
        "{line}"
    );
}
