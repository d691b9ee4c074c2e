//! Building the extension: the JavaScript libraries it bundles
//! (`extension/vendor/`), the on-page panel's modules bundled into one
//! (`extension/bundle/`), then the WASM runtime where
//! `extension/offscreen.js` imports it (`pkg/`).

use std::fs;

use crate::paths;
use crate::shell::{self, Cmd, Result};

/// The target features every wasm32 build of the runtime gets: SIMD128
/// (every Chrome with Manifest V3) and relaxed SIMD (Chrome 114 on; the
/// manifest's minimum is 116), whose FMA and byte dots the CPU kernels use.
const SIMD128: &str = "-C target-feature=+simd128,+relaxed-simd";

/// The shared-memory build's flags: atomics and bulk memory for threads
/// (Web Workers on one memory, `src/web/threads.rs`), and a 4 GiB maximum
/// (a shared memory must declare one; rustc's default is 1 GiB, less than a
/// 1.5B model's weights on the CPU path). The crate's `build.rs` adds the
/// linker flags that make the memory shared (only the crate is relinked when
/// they change, not the standard library and every dependency).
const THREADS: &str = "-C target-feature=+atomics,+bulk-memory,+mutable-globals,+simd128,+relaxed-simd \
                       -C link-arg=--max-memory=4294967296";

/// The toolchain of the shared-memory build: its standard library must be
/// rebuilt with atomics (`-Z build-std`), which only nightly can.
pub const THREADS_TOOLCHAIN: &str = "nightly";

/// Whether the WASM runtime is built with threads: yes unless
/// `LOCUS_WASM_THREADS=0` asks for the single-threaded build (stable Rust,
/// no shared memory), e.g. to compare the two.
pub fn threaded() -> bool {
    std::env::var("LOCUS_WASM_THREADS").map_or(true, |v| v != "0")
}

pub fn wasm() -> Result {
    vendor()?;
    content_bundle()?;
    let threaded = threaded();
    shell::step(if threaded {
        "Building the WASM runtime into pkg/ (shared memory, threads; nightly)"
    } else {
        "Building the WASM runtime into pkg/ (single-threaded)"
    });
    // `--mode no-install`: a wasm-bindgen of the wrong version is an error, not
    // a download. wasm-opt comes from npm's binaryen (first on PATH): Debian's
    // wasm-opt 108 breaks the externref table that wasm-bindgen emits.
    // `rustup run` puts the toolchain's cargo first on PATH for wasm-pack.
    let mut cmd = if threaded {
        Cmd::new("rustup").args(["run", THREADS_TOOLCHAIN, "wasm-pack"])
    } else {
        Cmd::new("wasm-pack")
    };
    // The flags in `.cargo/config.toml` are replaced by an explicit
    // RUSTFLAGS: keep SIMD128 (and the threads' flags) in it.
    let own = if threaded { THREADS } else { SIMD128 };
    let flags = match std::env::var("RUSTFLAGS") {
        Ok(flags) => format!("{flags} {own}"),
        Err(_) if threaded => own.to_string(),
        Err(_) => String::new(),
    };
    if !flags.is_empty() {
        cmd = cmd.env(
            "RUSTFLAGS",
            flags.split_whitespace().collect::<Vec<_>>().join(" "),
        );
    }
    cmd = cmd
        .args([
            "build",
            "--target",
            "web",
            "--release",
            "--mode",
            "no-install",
        ])
        .args(["--out-dir", "pkg", "--out-name", "locus", "--no-pack"]);
    if threaded {
        // The standard library with atomics (its prebuilt one has none).
        // (wasm-pack needs the crate's path before its extra cargo flags.)
        cmd = cmd.args([".", "--", "-Z", "build-std=panic_abort,std"]);
    }
    cmd.run()
}

/// A library from `node_modules` (locked in package-lock.json) bundled into
/// the extension at build time: nothing is fetched at run time.
struct Vendored {
    /// The file the extension imports, under `extension/vendor/`.
    name: &'static str,
    /// Its source under `node_modules/`.
    source: &'static str,
    licence: &'static str,
}

const VENDORED: [Vendored; 2] = [
    // Mozilla's Readability: the page's main article for "Summarise this page".
    Vendored {
        name: "readability.js",
        source: "@mozilla/readability/Readability.js",
        licence: "@mozilla/readability/LICENSE.md",
    },
    // markdown-it: parses the model's markdown into tokens that the panel
    // turns into DOM nodes itself (its HTML renderer is never used).
    Vendored {
        name: "markdown-it.js",
        source: "markdown-it/dist/markdown-it.min.js",
        licence: "markdown-it/LICENSE",
    },
];

/// Copies each library into `extension/vendor/` as an ES module: both files
/// are CommonJS/UMD, which export through `module.exports` when a `module`
/// object exists, so a local one is declared before and exported after.
pub fn vendor() -> Result {
    shell::step("Bundling JavaScript libraries into extension/vendor/");
    let root = paths::repo_root();
    let out = root.join("extension/vendor");
    fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    for lib in VENDORED {
        let source = root.join("node_modules").join(lib.source);
        let code = fs::read_to_string(&source)
            .map_err(|e| format!("{}: {e} (run `npm ci`)", source.display()))?;
        let module = format!(
            "// Bundled by `cargo xtask build` from node_modules/{} (see LICENSE-{}).\n\
             const module = {{ exports: {{}} }};\nconst exports = module.exports;\n{code}\n\
             export default module.exports;\n",
            lib.source,
            lib.name.trim_end_matches(".js"),
        );
        write(&out.join(lib.name), &module)?;
        let licence = root.join("node_modules").join(lib.licence);
        let text =
            fs::read_to_string(&licence).map_err(|e| format!("{}: {e}", licence.display()))?;
        write(
            &out.join(format!("LICENSE-{}", lib.name.trim_end_matches(".js"))),
            &text,
        )?;
    }
    Ok(())
}

/// Bundles the on-page panel's modules (`extension/content/main.js` and
/// everything it imports: the panel, markdown-it, the client, the protocol)
/// into one ES module, `extension/bundle/content.js`, with esbuild (npm, in
/// the lock file). One file with no relative imports is what lets the
/// manifest serve it only at the per-session dynamic URL
/// (`use_dynamic_url`): Chromium resolves a module's relative imports
/// against the static URL, which `use_dynamic_url` denies, so separate
/// modules could not load. Readability stays its own file (loaded on
/// demand by URL).
pub fn content_bundle() -> Result {
    shell::step("Bundling the on-page panel into extension/bundle/content.js");
    let root = paths::repo_root();
    let esbuild = root.join("node_modules/.bin/esbuild");
    Cmd::new(esbuild.to_string_lossy().as_ref())
        .args([
            "extension/content/main.js",
            "--bundle",
            "--format=esm",
            "--target=chrome116",
            "--legal-comments=eof",
            "--log-level=warning",
            "--outfile=extension/bundle/content.js",
        ])
        .run()
}

fn write(path: &std::path::Path, text: &str) -> Result {
    fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}
