//! Validates every variant of every WGSL kernel in `kernels/` (and its
//! family folders `kernels/exact/`, `kernels/fast/`; `kernels/lib/` holds
//! includes, validated inside the kernels that name them) with naga, so a
//! shader error is a build error that names the file and line.

#[path = "src/gpu/preprocess.rs"]
mod preprocess;

use std::fs;
use std::path::Path;

use naga::valid::{Capabilities, ShaderStages, SubgroupOperationSet, ValidationFlags, Validator};

fn main() {
    shared_memory_link_args();
    println!("cargo:rerun-if-changed=src/gpu/preprocess.rs");
    let mut paths = Vec::new();
    for folder in ["kernels", "kernels/exact", "kernels/fast"] {
        println!("cargo:rerun-if-changed={folder}");
        let Ok(entries) = fs::read_dir(folder) else {
            continue;
        };
        paths.extend(
            entries
                .map(|entry| entry.expect("readable kernels/ entry").path())
                .filter(|path| path.extension().is_some_and(|ext| ext == "wgsl")),
        );
    }
    paths.sort();
    let mut failures = Vec::new();
    for path in &paths {
        println!("cargo:rerun-if-changed={}", path.display());
        let source = fs::read_to_string(path).expect("readable kernel");
        let declared = preprocess::declarations(&source);
        // Every choice combination × every subset of flags.
        for variant in preprocess::all_variants(&declared) {
            if let Err(message) = validate(path, &source, &variant) {
                failures.push(format!(
                    "{} [{}]:\n{message}",
                    path.display(),
                    variant.join(" ")
                ));
            }
        }
    }
    if !failures.is_empty() {
        for failure in &failures {
            eprintln!("error: WGSL kernel failed validation: {failure}");
        }
        std::process::exit(1);
    }
}

fn validate(path: &Path, source: &str, variant: &[&str]) -> Result<(), String> {
    let expanded =
        preprocess::expand(source, variant).map_err(|e| format!("{}:{}", path.display(), e))?;
    let file = path.display().to_string();
    let module = naga::front::wgsl::parse_str(&expanded)
        .map_err(|e| e.emit_to_string_with_path(&expanded, &file))?;
    // The union of what any adapter we run on may offer; each variant is only
    // dispatched where the runtime has checked the matching feature.
    // SHADER_FLOAT16_IN_FLOAT32 (`unpack2x16float`) is core WGSL, granted on
    // every Vulkan and WebGPU adapter (wgpu's `SHADER_F16_IN_F32`).
    let mut validator = Validator::new(
        ValidationFlags::all(),
        Capabilities::SUBGROUP
            | Capabilities::SHADER_FLOAT16
            | Capabilities::SHADER_FLOAT16_IN_FLOAT32
            | Capabilities::COOPERATIVE_MATRIX,
    );
    validator.subgroup_stages(ShaderStages::COMPUTE);
    validator.subgroup_operations(SubgroupOperationSet::all());
    validator
        .validate(&module)
        .map(drop)
        .map_err(|e| e.emit_to_string_with_path(&expanded, &file))
}

/// A wasm32 build with atomics (the extension's threaded CPU path,
/// `cargo xtask build`): the memory must be shared and imported, so that
/// wasm-bindgen creates it and every Web Worker of the pool instantiates the
/// module on it, and each thread sets up its thread-local storage.
fn shared_memory_link_args() {
    let wasm32 = std::env::var("CARGO_CFG_TARGET_ARCH").is_ok_and(|a| a == "wasm32");
    let atomics = std::env::var("CARGO_CFG_TARGET_FEATURE")
        .is_ok_and(|features| features.split(',').any(|f| f == "atomics"));
    if !(wasm32 && atomics) {
        return;
    }
    for arg in [
        "--shared-memory",
        "--import-memory",
        "--export=__wasm_init_tls",
        "--export=__tls_size",
        "--export=__tls_align",
        "--export=__tls_base",
    ] {
        println!("cargo:rustc-link-arg={arg}");
    }
}
