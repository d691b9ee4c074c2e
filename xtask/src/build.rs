//! Building the extension: the JavaScript libraries it bundles
//! (`extension/vendor/`), then the WASM runtime where
//! `extension/offscreen.js` imports it (`pkg/`).

use std::fs;

use crate::paths;
use crate::shell::{self, Cmd, Result};

/// The target feature every wasm32 build of the runtime gets (every Chrome
/// with Manifest V3 runs SIMD128).
const SIMD128: &str = "-C target-feature=+simd128";

pub fn wasm() -> Result {
    vendor()?;
    shell::step("Building the WASM runtime into pkg/");
    // `--mode no-install`: a wasm-bindgen of the wrong version is an error, not
    // a download. wasm-opt comes from npm's binaryen (first on PATH): Debian's
    // wasm-opt 108 breaks the externref table that wasm-bindgen emits.
    let mut cmd = Cmd::new("wasm-pack");
    // SIMD128 for the CPU fallback's kernels comes from `.cargo/config.toml`,
    // which an explicit RUSTFLAGS would replace: keep the flag there too.
    if let Ok(flags) = std::env::var("RUSTFLAGS") {
        cmd = cmd.env("RUSTFLAGS", format!("{flags} {SIMD128}"));
    }
    cmd.args([
        "build",
        "--target",
        "web",
        "--release",
        "--mode",
        "no-install",
    ])
    .args(["--out-dir", "pkg", "--out-name", "locus", "--no-pack"])
    .run()
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

fn write(path: &std::path::Path, text: &str) -> Result {
    fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}
