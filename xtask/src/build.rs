//! Building the WASM runtime where `extension/offscreen.js` imports it (`pkg/`).

use crate::shell::{self, Cmd, Result};

pub fn wasm() -> Result {
    shell::step("Building the WASM runtime into pkg/");
    // `--mode no-install`: a wasm-bindgen of the wrong version is an error, not
    // a download. wasm-opt comes from npm's binaryen (first on PATH): Debian's
    // wasm-opt 108 breaks the externref table that wasm-bindgen emits.
    Cmd::new("wasm-pack")
        .args([
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
