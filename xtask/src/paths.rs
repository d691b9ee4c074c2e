//! Where things live: the repo, and the per-user cache that survives clones.

use std::path::PathBuf;

/// The repository root (the parent of `xtask/`).
pub fn repo_root() -> PathBuf {
    // Cargo's run-time value first (`cargo xtask`, `cargo test` set it): a
    // build cached under ~/.cache from another checkout of the same tree is
    // reused as fresh and keeps that checkout's compile-time path (seen:
    // the_real_catalog_is_pinned read a catalog that no longer existed).
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
        .parent()
        .expect("xtask/ has a parent")
        .to_path_buf()
}

/// `~/.cache/locus` (or `$XDG_CACHE_HOME/locus`): installs, models, build cache.
pub fn cache() -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
        .unwrap_or_else(|| repo_root().join("target"));
    base.join("locus")
}

/// Cargo-installed tools (wasm-pack, wasm-bindgen) go to `<cache>/tools/bin`.
pub fn tools() -> PathBuf {
    cache().join("tools")
}

/// The cargo target directory for builds run by xtask: shared across clones
/// so that CI's fresh checkouts do not rebuild wgpu and tokenizers each time.
pub fn cargo_target() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| cache().join("target"))
}
