//! Installs what is missing, and nothing that is already there. Each check is
//! cheap; each install says what it installs and asks nothing.

use std::fs;

use crate::paths;
use crate::shell::{self, Cmd, Result};

/// Debian packages: the browser and its driver for the end-to-end tests, and
/// Mesa's Vulkan driver (lavapipe) so the native GPU tests run without a GPU.
const APT_PACKAGES: [&str; 4] = [
    "chromium",
    "chromium-driver",
    "mesa-vulkan-drivers",
    "libvulkan1",
];
const WASM_PACK_VERSION: &str = "0.15.1";
/// cargo-nextest runs the native tests (`testing.rs`). The machine's own is
/// used if it has test priorities (0.9.91, `.config/nextest.toml`); else
/// this version is installed.
const NEXTEST_VERSION: &str = "0.9.143";
const NEXTEST_PRIORITIES: (u32, u32, u32) = (0, 9, 91);
const WASM_TARGET: &str = "wasm32-unknown-unknown";

pub fn everything() -> Result {
    apt_packages()?;
    wasm_target()?;
    if crate::build::threaded() {
        threads_toolchain()?;
    }
    wasm_pack()?;
    wasm_bindgen_cli()?;
    nextest()?;
    npm_packages()
}

fn apt_packages() -> Result {
    let missing: Vec<&str> = APT_PACKAGES
        .into_iter()
        .filter(|p| !deb_installed(p))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    shell::step(&format!(
        "Installing Debian packages: {}",
        missing.join(" ")
    ));
    let sudo = if is_root() { None } else { Some("sudo") };
    if sudo.is_some() && Cmd::new("sudo").args(["-n", "true"]).read().is_none() {
        return Err(format!(
            "these Debian packages are missing and installing them needs root: {}\n  run: sudo apt-get install -y {}",
            missing.join(" "),
            missing.join(" ")
        ));
    }
    let apt = |args: &[&str]| {
        let cmd = match sudo {
            Some(sudo) => Cmd::new(sudo).arg("apt-get"),
            None => Cmd::new("apt-get"),
        };
        cmd.args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .run()
    };
    let mut install = vec!["install", "-y", "-q", "--no-install-recommends"];
    install.extend(&missing);
    apt(&["update", "-q"])?;
    // A concurrent apt run can leave a missing archive behind: one retry.
    apt(&install).or_else(|_| apt(&["update", "-q"]).and_then(|()| apt(&install)))
}

fn deb_installed(package: &str) -> bool {
    Cmd::new("dpkg-query")
        .args(["-W", "-f=${Status}", package])
        .read()
        .is_some_and(|status| status.contains("install ok installed"))
}

fn is_root() -> bool {
    Cmd::new("id")
        .arg("-u")
        .read()
        .is_some_and(|uid| uid.trim() == "0")
}

fn wasm_target() -> Result {
    let installed = Cmd::new("rustup")
        .args(["target", "list", "--installed"])
        .read()
        .unwrap_or_default();
    if installed.lines().any(|line| line.trim() == WASM_TARGET) {
        return Ok(());
    }
    shell::step(&format!("Installing the Rust target {WASM_TARGET}"));
    Cmd::new("rustup")
        .args(["target", "add", WASM_TARGET])
        .run()
}

/// The shared-memory WASM build's toolchain (nightly, for `-Z build-std`)
/// and the standard library's source it rebuilds.
fn threads_toolchain() -> Result {
    let toolchain = crate::build::THREADS_TOOLCHAIN;
    let installed = Cmd::new("rustup")
        .args(["toolchain", "list"])
        .read()
        .unwrap_or_default();
    if !installed.lines().any(|line| line.starts_with(toolchain)) {
        shell::step(&format!(
            "Installing the {toolchain} Rust toolchain (the threaded WASM build)"
        ));
        Cmd::new("rustup")
            .args(["toolchain", "install", toolchain, "--profile", "minimal"])
            .run()?;
    }
    let components = Cmd::new("rustup")
        .args(["component", "list", "--installed", "--toolchain", toolchain])
        .read()
        .unwrap_or_default();
    if components.lines().any(|line| line.trim() == "rust-src") {
        return Ok(());
    }
    shell::step(&format!(
        "Installing rust-src for {toolchain} (-Z build-std)"
    ));
    Cmd::new("rustup")
        .args(["component", "add", "rust-src", "--toolchain", toolchain])
        .run()
}

fn wasm_pack() -> Result {
    cargo_tool("wasm-pack", "wasm-pack", WASM_PACK_VERSION, true)
}

fn nextest() -> Result {
    let current = Cmd::new("cargo")
        .args(["nextest", "--version"])
        .read()
        .unwrap_or_default();
    match current.split_whitespace().nth(1).and_then(version) {
        Some(found) if found >= NEXTEST_PRIORITIES => Ok(()),
        _ => cargo_tool("cargo-nextest", "cargo-nextest", NEXTEST_VERSION, true),
    }
}

/// "0.9.143" as (0, 9, 143).
fn version(text: &str) -> Option<(u32, u32, u32)> {
    let mut parts = text.split('.').map(|part| part.parse().ok());
    Some((parts.next()??, parts.next()??, parts.next()??))
}

/// wasm-pack only uses a wasm-bindgen whose version equals the lock file's.
fn wasm_bindgen_cli() -> Result {
    let version = locked_version("wasm-bindgen")?;
    // `--locked` fails to resolve this crate's own lock file (webpki-roots).
    cargo_tool("wasm-bindgen-cli", "wasm-bindgen", &version, false)
}

pub fn cargo_tool(krate: &str, binary: &str, version: &str, locked: bool) -> Result {
    let path = paths::tools().join("bin").join(binary);
    let current = Cmd::new(&path.to_string_lossy())
        .arg("--version")
        .read()
        .unwrap_or_default();
    if current.split_whitespace().nth(1) == Some(version) {
        return Ok(());
    }
    shell::step(&format!(
        "Installing {krate} {version} into {} (a few minutes, once)",
        paths::tools().display()
    ));
    let cmd = Cmd::new("cargo")
        .args(["install", krate, "--version", version, "--root"])
        .arg(paths::tools())
        // The tools build in their own folder, not in the project's target dir.
        .env("CARGO_TARGET_DIR", paths::cache().join("tools-build"));
    if locked {
        cmd.arg("--locked").run()
    } else {
        cmd.run()
    }
}

/// The version of `krate` pinned in Cargo.lock.
pub fn locked_version(krate: &str) -> Result<String> {
    let lock = fs::read_to_string(paths::repo_root().join("Cargo.lock"))
        .map_err(|e| format!("Cargo.lock: {e}"))?;
    let header = format!("name = \"{krate}\"\nversion = \"");
    let start = lock
        .find(&header)
        .ok_or_else(|| format!("{krate} is not in Cargo.lock"))?
        + header.len();
    let end = lock[start..].find('"').ok_or("Cargo.lock is malformed")?;
    Ok(lock[start..start + end].to_string())
}

/// npm dev dependencies (Playwright's library, a current wasm-opt), from the
/// lock file, with the download cache kept under ~/.cache.
fn npm_packages() -> Result {
    let root = paths::repo_root();
    let stamp = root.join("node_modules/.package-lock.json");
    let fresh = |lock: &str| {
        fs::metadata(root.join(lock))
            .and_then(|m| m.modified())
            .ok()
    };
    if fresh("node_modules/.package-lock.json") >= fresh("package-lock.json") && stamp.exists() {
        return Ok(());
    }
    shell::step("Installing npm dev dependencies (playwright-core, binaryen)");
    Cmd::new("npm")
        .args([
            "ci",
            "--no-audit",
            "--no-fund",
            "--prefer-offline",
            "--cache",
        ])
        .arg(paths::cache().join("npm"))
        .run()
}
