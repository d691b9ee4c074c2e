//! llama.cpp's `llama-bench` on the same model in the same invocation: the
//! command line (`-m FILE -ngl 99 -p N -n N -r R -o json`, `-d D`, `-fa`),
//! the synthetic GGUF it needs when Locus ran from a header alone, and its
//! JSON output.
//!
//! The JSON is an array with one object per test; the fields read here are
//! those `tools/llama-bench/llama-bench.cpp` (llama.cpp 0c1e570) writes in
//! `json_printer` from `test::get_fields()`: `n_prompt`, `n_gen`, `n_depth`,
//! `flash_attn` (an int: -1 auto, 0 off, 1 on), `avg_ts`, `stddev_ts`,
//! `samples_ts`, plus what describes the run (`build_commit`, `backends`,
//! `gpu_info`, `model_type`, `n_batch`, `n_ubatch`).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};

/// `--flash-attn`: which of llama.cpp's attention paths to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum FlashAttn {
    /// `-fa 0` only.
    #[default]
    Off,
    /// `-fa 1` only.
    On,
    /// `-fa 0,1`: both, one row each.
    Both,
}

impl FlashAttn {
    fn arg(self) -> &'static str {
        match self {
            FlashAttn::Off => "0",
            FlashAttn::On => "1",
            FlashAttn::Both => "0,1",
        }
    }
}

/// One llama-bench test as its JSON printer writes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LlamaTest {
    pub n_prompt: usize,
    pub n_gen: usize,
    #[serde(default)]
    pub n_depth: usize,
    /// -1 auto, 0 off, 1 on (older builds wrote a bool).
    #[serde(deserialize_with = "flash_attn_flag")]
    pub flash_attn: i64,
    pub avg_ts: f64,
    pub stddev_ts: f64,
    #[serde(default)]
    pub samples_ts: Vec<f64>,
    #[serde(default)]
    pub build_commit: String,
    #[serde(default)]
    pub backends: String,
    #[serde(default)]
    pub gpu_info: String,
    #[serde(default)]
    pub model_type: String,
    #[serde(default)]
    pub n_batch: usize,
    #[serde(default)]
    pub n_ubatch: usize,
}

impl LlamaTest {
    /// llama-bench's own name for the test: `pp512`, `tg128`, with
    /// ` @ d512` for a depth (as its markdown table writes it).
    pub fn name(&self) -> String {
        let base = if self.n_gen == 0 {
            format!("pp{}", self.n_prompt)
        } else if self.n_prompt == 0 {
            format!("tg{}", self.n_gen)
        } else {
            format!("pp{}+tg{}", self.n_prompt, self.n_gen)
        };
        if self.n_depth > 0 {
            format!("{base} @ d{}", self.n_depth)
        } else {
            base
        }
    }

    pub fn flash_attention(&self) -> bool {
        self.flash_attn > 0
    }
}

fn flash_attn_flag<'de, D: serde::Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Flag {
        Int(i64),
        Bool(bool),
    }
    Ok(match Flag::deserialize(d)? {
        Flag::Int(v) => v,
        Flag::Bool(b) => i64::from(b),
    })
}

/// Parses llama-bench's `-o json` output (stdout).
pub fn parse(json: &str) -> Result<Vec<LlamaTest>, String> {
    serde_json::from_str(json.trim()).map_err(|e| format!("llama-bench's JSON: {e}"))
}

/// What to ask llama-bench for.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    pub binary: &'a Path,
    pub model: &'a Path,
    pub pp: usize,
    pub tg: usize,
    pub depth: usize,
    pub repetitions: usize,
    pub flash_attn: FlashAttn,
}

impl Request<'_> {
    /// The arguments after the binary.
    pub fn args(&self) -> Vec<String> {
        let mut args: Vec<String> = vec![
            "-m".into(),
            self.model.display().to_string(),
            "-ngl".into(),
            "99".into(),
            "-p".into(),
            self.pp.to_string(),
            "-n".into(),
            self.tg.to_string(),
            "-r".into(),
            self.repetitions.to_string(),
            "-o".into(),
            "json".into(),
        ];
        if self.depth > 0 {
            args.extend(["-d".into(), self.depth.to_string()]);
        }
        args.extend(["-fa".into(), self.flash_attn.arg().into()]);
        args
    }

    /// Runs llama-bench and parses what it prints.
    pub fn run(&self) -> Result<Vec<LlamaTest>, String> {
        let binary = self.binary.display();
        let output = Command::new(self.binary)
            .args(self.args())
            .output()
            .map_err(|e| format!("llama-bench ({binary}): {e}"))?;
        if !output.status.success() {
            return Err(format!(
                "llama-bench ({binary}) failed ({}): {}",
                output.status,
                last_line(&String::from_utf8_lossy(&output.stderr))
            ));
        }
        parse(&String::from_utf8_lossy(&output.stdout))
    }
}

/// A full GGUF with synthetic weights written from a header by llama.cpp's
/// helper (`python3 SYNTH synth HEADER OUT`), removed when dropped.
pub struct SynthesisedModel {
    pub path: PathBuf,
}

impl SynthesisedModel {
    pub fn write(synth: &Path, header: &Path) -> Result<SynthesisedModel, String> {
        let stem = header
            .file_stem()
            .map_or("model".into(), |s| s.to_string_lossy().into_owned());
        let path =
            std::env::temp_dir().join(format!("locus-bench-{}-{stem}.gguf", std::process::id()));
        let output = Command::new("python3")
            .arg(synth)
            .arg("synth")
            .arg(header)
            .arg(&path)
            .output()
            .map_err(|e| format!("python3 {}: {e}", synth.display()))?;
        // From here on the file is removed on every path, failure included.
        let model = SynthesisedModel { path };
        if !output.status.success() {
            return Err(format!(
                "python3 {} synth failed ({}): {}",
                synth.display(),
                output.status,
                last_line(&String::from_utf8_lossy(&output.stderr))
            ));
        }
        Ok(model)
    }
}

impl Drop for SynthesisedModel {
    fn drop(&mut self) {
        std::fs::remove_file(&self.path).ok();
    }
}

fn last_line(text: &str) -> &str {
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("(no output)")
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURE: &str = include_str!("../../../tests/fixtures/llama_bench/smollm2_fa01.json");

    #[test]
    fn parses_the_recorded_output() {
        let tests = parse(FIXTURE).unwrap();
        let names: Vec<_> = tests
            .iter()
            .map(|t| (t.name(), t.flash_attention()))
            .collect();
        assert_eq!(
            names,
            [
                ("pp8".to_string(), false),
                ("tg2".to_string(), false),
                ("pp8".to_string(), true),
                ("tg2".to_string(), true),
            ]
        );
        let tg = &tests[1];
        assert_eq!(tg.samples_ts, [0.323933, 0.323736]);
        assert_eq!((tg.avg_ts, tg.stddev_ts), (0.323835, 0.00014));
        assert_eq!(tg.backends, "Vulkan");
        assert_eq!((tg.n_batch, tg.n_ubatch), (2048, 512));
    }

    #[test]
    fn names_follow_llama_bench() {
        let mut test = parse(FIXTURE).unwrap().remove(0);
        test.n_depth = 1024;
        assert_eq!(test.name(), "pp8 @ d1024");
        test.n_prompt = 0;
        test.n_gen = 32;
        assert_eq!(test.name(), "tg32 @ d1024");
    }

    #[test]
    fn flash_attention_may_be_a_bool_in_older_builds() {
        let json = r#"[{"n_prompt": 0, "n_gen": 16, "flash_attn": true, "avg_ts": 10.0, "stddev_ts": 1.0}]"#;
        let test = &parse(json).unwrap()[0];
        assert!(test.flash_attention());
        assert_eq!(test.name(), "tg16");
    }

    #[test]
    fn bad_output_is_an_error() {
        assert!(parse("main: error: failed to load model").is_err());
        assert!(parse(r#"[{"n_prompt": 512}]"#).is_err());
    }

    #[test]
    fn the_command_line_is_llama_bench_s() {
        let request = Request {
            binary: Path::new("/opt/llama-bench"),
            model: Path::new("/tmp/m.gguf"),
            pp: 512,
            tg: 128,
            depth: 0,
            repetitions: 5,
            flash_attn: FlashAttn::Off,
        };
        let line = request.args().join(" ");
        assert_eq!(
            line,
            "-m /tmp/m.gguf -ngl 99 -p 512 -n 128 -r 5 -o json -fa 0"
        );
        let request = Request {
            depth: 4096,
            flash_attn: FlashAttn::Both,
            ..request
        };
        assert!(
            request
                .args()
                .join(" ")
                .ends_with("-o json -d 4096 -fa 0,1")
        );
    }
}
