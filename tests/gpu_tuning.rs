//! Per-adapter tuning (`locus::gpu::tuning`): the table's keys and the
//! native store's round trip through `tuning.json`, and the autotune of the
//! fast prefill mat-mul on a real model (SmolLM2, on lavapipe in CI): what
//! it records, that a stored table is used without timing, that a stored
//! variant the device cannot run and an old table fall back, and that a
//! slow adapter is timed once and not again. No assertion is about speed.

mod common;

use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;

use common::model_path;
use locus::engine::{Decode, GpuModel, Sampler, SamplingParams};
use locus::gpu::fast::linears::shape_key;
use locus::gpu::fast::matmul::FastMatMulKernel;
use locus::gpu::tuning::{
    AdapterKey, AutotuneOptions, FileStore, MemoryStore, TABLE_VERSION, Tuning, TuningError,
    TuningReport, TuningStore, TuningTable, tune_decoder,
};
use locus::gpu::{Capabilities, GpuContext, GpuOptions, Numerics};

fn h200() -> wgpu::AdapterInfo {
    wgpu::AdapterInfo {
        name: "NVIDIA H200".into(),
        vendor: 0x10de,
        device: 0x2335,
        device_type: wgpu::DeviceType::DiscreteGpu,
        driver: "NVIDIA".into(),
        driver_info: "560.35.03".into(),
        backend: wgpu::Backend::Vulkan,
        ..swiftshader()
    }
}

/// What a native NVIDIA adapter grants.
fn nvidia() -> Capabilities {
    Capabilities {
        subgroups: true,
        shader_f16: true,
        cooperative_matrix: true,
        packed_int8_dot: true,
        fused_fma: true,
    }
}

/// What a browser's SwiftShader grants.
fn browser() -> Capabilities {
    Capabilities {
        cooperative_matrix: false,
        packed_int8_dot: false,
        ..nvidia()
    }
}

fn swiftshader() -> wgpu::AdapterInfo {
    wgpu::AdapterInfo {
        name: "SwiftShader".into(),
        ..wgpu::AdapterInfo::new(wgpu::DeviceType::Cpu, wgpu::Backend::BrowserWebGpu)
    }
}

fn temporary_store(name: &str) -> FileStore {
    let dir = std::env::temp_dir().join(format!("locus-tuning-{name}-{}", std::process::id()));
    std::fs::remove_dir_all(&dir).ok();
    FileStore {
        path: dir.join("locus").join("tuning.json"),
    }
}

#[test]
fn keys_name_backend_ids_and_driver() {
    assert_eq!(
        AdapterKey::of(&h200(), &nvidia()).as_text(),
        "vulkan:10de:2335:NVIDIA 560.35.03 [f16 cooperative int8]"
    );
    // Without PCI ids (browsers) the adapter's name tells devices apart.
    assert_eq!(
        AdapterKey::of(&swiftshader(), &browser()).as_text(),
        "browserwebgpu:0000:0000:SwiftShader /  [f16]"
    );
    let mut updated = h200();
    updated.driver_info = "570.86.10".into();
    assert_ne!(
        AdapterKey::of(&updated, &nvidia()),
        AdapterKey::of(&h200(), &nvidia())
    );
    // The same GPU without cooperative matrices has other candidates.
    let without = Capabilities {
        cooperative_matrix: false,
        ..nvidia()
    };
    assert_ne!(
        AdapterKey::of(&h200(), &without),
        AdapterKey::of(&h200(), &nvidia())
    );
}

#[test]
fn the_file_store_round_trips_a_table() {
    let store = temporary_store("round-trip");
    assert_eq!(
        store.load().unwrap(),
        TuningTable::default(),
        "nothing stored yet"
    );
    assert_eq!(TuningTable::default().version, TABLE_VERSION);
    let mut table = TuningTable::default();
    let tuned = Tuning {
        matmul: BTreeMap::from([("Q5_0 4864x896".into(), "cooperative/narrow".into())]),
        not_tuned: None,
    };
    table.insert(&AdapterKey::of(&h200(), &nvidia()), tuned.clone());
    table.insert(
        &AdapterKey::of(&swiftshader(), &browser()),
        Tuning::default(),
    );
    store.save(&table).unwrap();
    let loaded = store.load().unwrap();
    assert_eq!(loaded, table);
    assert_eq!(
        loaded.get(&AdapterKey::of(&h200(), &nvidia())),
        Some(&tuned)
    );
    assert_eq!(
        tuned.matmul_kernel("Q5_0 4864x896").map(|k| k.name()),
        Some("cooperative/narrow".to_string())
    );
    // Saving again replaces the table whole.
    store.save(&TuningTable::default()).unwrap();
    assert_eq!(
        store
            .load()
            .unwrap()
            .get(&AdapterKey::of(&h200(), &nvidia())),
        None
    );
    let dir = store.path.parent().unwrap().parent().unwrap();
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn a_bad_or_foreign_table_is_a_typed_error() {
    let store = temporary_store("bad");
    std::fs::create_dir_all(store.path.parent().unwrap()).unwrap();
    std::fs::write(&store.path, "{ not json").unwrap();
    assert!(matches!(store.load(), Err(TuningError::Invalid(_))));
    // Version 1 held mat-vec and tile sizes nothing read.
    std::fs::write(&store.path, r#"{"version": 1, "adapters": {}}"#).unwrap();
    assert!(matches!(store.load(), Err(TuningError::Version(1))));
    // Version 2 never timed int8 tiles.
    std::fs::write(&store.path, r#"{"version": 2, "adapters": {}}"#).unwrap();
    assert!(matches!(store.load(), Err(TuningError::Version(2))));
    // Version 3's keys did not name the features.
    std::fs::write(&store.path, r#"{"version": 3, "adapters": {}}"#).unwrap();
    assert!(matches!(store.load(), Err(TuningError::Version(3))));
    let json = r#"{"version": 4, "adapters": {"k": {"matvecRowsPerWorkgroup": 2}}}"#;
    std::fs::write(&store.path, json).unwrap();
    assert!(matches!(store.load(), Err(TuningError::Invalid(_))));
    let dir = store.path.parent().unwrap().parent().unwrap();
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn the_default_location_is_under_the_cache() {
    let store = FileStore::default_location().expect("a home directory");
    assert!(
        store.path.ends_with("locus/tuning.json"),
        "{}",
        store.path.display()
    );
}

// The autotune on a real model.

/// Prompt batches of this many tokens: the autotune's X has as many.
const BATCH: usize = 64;

fn context() -> Rc<GpuContext> {
    Rc::new(pollster::block_on(GpuContext::create()).expect("a Vulkan adapter (lavapipe in CI)"))
}

fn load(ctx: &Rc<GpuContext>) -> GpuModel {
    let options = GpuOptions {
        capacity: 256,
        prefill_tokens: BATCH,
        numerics: Numerics::Fast,
    };
    let name = "SmolLM2-135M-Instruct.Q4_1.gguf";
    let mut file = std::fs::File::open(model_path(name)).unwrap();
    GpuModel::load(ctx.clone(), &mut file, &options, &mut |_| {})
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn tune(model: &mut GpuModel, store: &dyn TuningStore, options: AutotuneOptions) -> TuningReport {
    pollster::block_on(tune_decoder(&mut model.decoder, store, &options))
}

/// Times every candidate however slow the adapter (lavapipe).
fn patient() -> AutotuneOptions {
    AutotuneOptions {
        retune: false,
        slow_run: Duration::from_secs(600),
    }
}

/// Gives up on the first timed run.
fn impatient(retune: bool) -> AutotuneOptions {
    AutotuneOptions {
        retune,
        slow_run: Duration::ZERO,
    }
}

/// The variant `best` gives each of the decoder's prefill shapes.
fn best_kernels(model: &GpuModel) -> Vec<(String, FastMatMulKernel)> {
    let ctx = model.decoder.context();
    let batch = model.decoder.prefill_batch() as u32;
    model
        .decoder
        .prefill_matrices()
        .into_iter()
        .map(|m| (shape_key(m), FastMatMulKernel::best(ctx, m.rows, batch)))
        .collect()
}

/// A greedy decode of a prompt longer than one batch: the prefill as
/// bound runs without a device error.
fn prefill_runs(model: &mut GpuModel) {
    let prompt: Vec<u32> = (0..BATCH as u32 + 8).map(|i| 100 + i * 7).collect();
    let mut sampler = Sampler::new(SamplingParams::greedy());
    model.decoder.truncate(0);
    pollster::block_on(model.decoder.decode(&prompt, &mut sampler, &[])).expect("prefill runs");
}

#[test]
fn the_autotune_records_a_runnable_kernel_per_shape_and_a_second_load_times_nothing() {
    let ctx = context();
    let key = AdapterKey::of(&ctx.info, &ctx.capabilities);
    let store = MemoryStore::default();
    let mut model = load(&ctx);
    let shapes = best_kernels(&model);
    // SmolLM2's q/o, k/v, gate/up and down projections.
    assert!(shapes.len() >= 4, "{shapes:?}");
    let report = tune(&mut model, &store, patient());
    assert_eq!(report.shapes, shapes.len(), "{report:?}");
    assert_eq!(
        (report.timed, report.from_cache),
        (shapes.len(), 0),
        "{report:?}"
    );
    let candidates: usize = model
        .decoder
        .prefill_matrices()
        .iter()
        .map(|m| FastMatMulKernel::candidates(&ctx, m.ty, m.rows, BATCH as u32).len())
        .sum();
    assert_eq!(
        report.runs,
        4 * candidates + shapes.len(),
        "a warm-up and 3 timed runs each, and one run alone per shape"
    );
    assert_eq!(report.not_tuned, None);
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    // Every variant's output agrees with `best`'s on lavapipe (f32, f16
    // and int8 tiles on SmolLM2's own matrices).
    assert!(report.rejected.is_empty(), "{:?}", report.rejected);
    let table = store.table.borrow().clone();
    let stored = table.get(&key).expect("the adapter's entry").clone();
    let bound = model.decoder.prefill_kernels();
    assert_eq!(bound.len(), shapes.len());
    for (shape, kernel) in &bound {
        assert!(kernel.runs_on(&ctx), "{shape}: {kernel}");
        assert_eq!(stored.matmul_kernel(shape), Some(*kernel), "{shape}");
        assert_eq!(report.kernels.get(shape), Some(&kernel.name()));
    }
    assert_eq!(stored.matmul.len(), shapes.len());
    prefill_runs(&mut model);
    let line = report.to_string();
    assert!(
        line.starts_with(&format!("{} shapes timed in ", shapes.len())),
        "{line}"
    );

    // A second load with the same store times nothing.
    drop(model);
    let mut again = load(&ctx);
    let report = tune(&mut again, &store, patient());
    assert_eq!(
        (report.from_cache, report.timed, report.runs),
        (shapes.len(), 0, 0),
        "{report:?}"
    );
    assert_eq!(again.decoder.prefill_kernels(), bound);
    assert_eq!(*store.table.borrow(), table, "nothing new to save");
    assert!(
        report
            .to_string()
            .starts_with(&format!("{} shapes from the cache: ", shapes.len())),
        "{report}"
    );
}

#[test]
fn a_stored_variant_the_device_cannot_run_falls_back_to_best() {
    let ctx = context();
    let mut model = load(&ctx);
    let best = best_kernels(&model);
    // Cooperative-matrix tiles are narrow only: no device runs them wide
    // (a table written by a build that did, say). A name no build knows
    // falls back the same way.
    let unrunnable: FastMatMulKernel = "cooperative/wide".parse().unwrap();
    assert!(!unrunnable.runs_on(&ctx));
    let mut matmul: BTreeMap<String, String> = best
        .iter()
        .map(|(shape, _)| (shape.clone(), unrunnable.name()))
        .collect();
    matmul.insert(best[0].0.clone(), "bf16/tall".into());
    let mut table = TuningTable::default();
    let tuning = Tuning {
        matmul,
        not_tuned: None,
    };
    table.insert(&AdapterKey::of(&ctx.info, &ctx.capabilities), tuning);
    let store = MemoryStore {
        table: table.clone().into(),
    };
    let report = tune(&mut model, &store, patient());
    // The unknown name is no entry: that shape alone is timed.
    assert_eq!(
        (report.from_cache, report.timed),
        (best.len() - 1, 1),
        "{report:?}"
    );
    let bound = model.decoder.prefill_kernels();
    for ((shape, kernel), (_, best)) in bound.iter().zip(&best).skip(1) {
        assert_eq!(kernel, best, "{shape}");
    }
    assert!(bound[0].1.runs_on(&ctx));
    prefill_runs(&mut model);
}

#[test]
fn an_old_version_table_is_ignored_and_the_adapter_tuned_again() {
    let ctx = context();
    let key = AdapterKey::of(&ctx.info, &ctx.capabilities);
    let store = temporary_store("old-version");
    std::fs::create_dir_all(store.path.parent().unwrap()).unwrap();
    let old = format!(
        r#"{{"version": 1, "adapters": {{"{}": {{"matvecRowsPerWorkgroup": 1, "matvecWorkgroupSize": 64, "matmulTile": [64, 64]}}}}}}"#,
        key.as_text()
    );
    std::fs::write(&store.path, old).unwrap();
    let mut model = load(&ctx);
    let report = tune(&mut model, &store, patient());
    assert_eq!(report.timed, report.shapes, "{report:?}");
    assert_eq!(report.errors.len(), 1, "{:?}", report.errors);
    assert!(
        report.errors[0].contains("version 1"),
        "{:?}",
        report.errors
    );
    let table = store.load().expect("the new table replaced the old one");
    assert_eq!(table.version, TABLE_VERSION);
    assert_eq!(table.get(&key).unwrap().matmul.len(), report.shapes);
    let dir = store.path.parent().unwrap().parent().unwrap();
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn a_slow_adapter_is_timed_once_recorded_and_not_retried() {
    let ctx = context();
    let key = AdapterKey::of(&ctx.info, &ctx.capabilities);
    let store = MemoryStore::default();
    let mut model = load(&ctx);
    let best = best_kernels(&model);
    let report = tune(&mut model, &store, impatient(false));
    // The first candidate's warm-up and first timed run, then nothing.
    assert_eq!((report.runs, report.timed), (2, 0), "{report:?}");
    let why = report.not_tuned.clone().expect("too slow");
    assert!(why.starts_with("too slow to time"), "{why}");
    assert_eq!(model.decoder.prefill_kernels(), best);
    let stored = store.table.borrow().get(&key).cloned().unwrap();
    assert_eq!(stored.not_tuned.as_deref(), Some(why.as_str()));
    assert!(stored.matmul.is_empty());
    assert!(
        report
            .to_string()
            .starts_with("not tuned: too slow to time"),
        "{report}"
    );

    // Later loads keep `best` without timing, however patient.
    let report = tune(&mut model, &store, patient());
    assert_eq!(
        (report.runs, report.from_cache, report.not_tuned.as_deref()),
        (0, best.len(), Some(why.as_str()))
    );
    assert_eq!(model.decoder.prefill_kernels(), best);

    // `--retune` times again.
    let report = tune(&mut model, &store, impatient(true));
    assert_eq!(report.runs, 2, "{report:?}");
    prefill_runs(&mut model);
}

#[test]
fn exact_numerics_have_nothing_to_tune() {
    let ctx = context();
    let options = GpuOptions {
        capacity: 256,
        prefill_tokens: BATCH,
        numerics: Numerics::Exact,
    };
    let mut file = std::fs::File::open(model_path("SmolLM2-135M-Instruct.Q4_1.gguf")).unwrap();
    let mut model = GpuModel::load(ctx.clone(), &mut file, &options, &mut |_| {}).unwrap();
    let store = MemoryStore::default();
    let report = tune(&mut model, &store, patient());
    assert_eq!((report.shapes, report.runs), (0, 0), "{report:?}");
    assert_eq!(*store.table.borrow(), TuningTable::default());
}

#[test]
fn the_report_line_counts_variants() {
    let report = TuningReport {
        shapes: 6,
        timed: 6,
        runs: 96,
        milliseconds: 84.2,
        kernels: (0..6)
            .map(|i| (format!("Q4_K {i}x896"), "cooperative/narrow".to_string()))
            .collect(),
        ..TuningReport::default()
    };
    assert_eq!(
        report.to_string(),
        "6 shapes timed in 84 ms: cooperative/narrow 6"
    );
    let mut mixed = report.clone();
    mixed.timed = 2;
    mixed.from_cache = 4;
    mixed.kernels.insert("Q6_K 1x896".into(), "f16/wide".into());
    assert_eq!(
        mixed.to_string(),
        "2 shapes timed in 84 ms, 4 from the cache: cooperative/narrow 6, f16/wide 1"
    );
    let mut wrong = report.clone();
    wrong.rejected = vec!["int8/wide on Q4_K 896x896: NMSE 2.3e0 against f16/wide".into()];
    assert_eq!(
        wrong.to_string(),
        "1 variant wrong, left out; 6 shapes timed in 84 ms: cooperative/narrow 6"
    );
}

/// `locus bench` tunes at load with the table under the cache directory
/// and prints what tuning did; `--retune` times again although the table
/// has the adapter's entry. (That a stored entry is used without timing is
/// checked above on the library: each `bench` costs minutes on lavapipe.)
#[test]
fn bench_prints_the_tuning_and_retune_times_again() {
    let cache = std::env::temp_dir().join(format!("locus-tuning-cli-{}", std::process::id()));
    std::fs::remove_dir_all(&cache).ok();
    let path = model_path("SmolLM2-135M-Instruct.Q4_1.gguf");
    let bench = |extra: &[&str]| {
        let mut args = vec![
            "bench",
            path.to_str().unwrap(),
            "--backend",
            "gpu",
            "-p",
            "9",
            "-n",
            "1",
            "-r",
            "1",
        ];
        args.extend_from_slice(extra);
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_locus"))
            .args(&args)
            .env("XDG_CACHE_HOME", &cache)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    };
    let text = bench(&[]);
    let line = text
        .lines()
        .find(|l| l.starts_with("tuning:"))
        .unwrap_or_else(|| panic!("no tuning line in\n{text}"));
    assert!(
        line.contains(" shapes timed in ") || line.contains("not tuned: too slow to time"),
        "{line}"
    );
    let table = cache.join("locus/tuning.json");
    let stored = std::fs::read_to_string(&table).expect("the table was written");
    let version = format!("\"version\": {TABLE_VERSION}");
    assert!(stored.contains(&version), "{stored}");
    let retuned: serde_json::Value =
        serde_json::from_str(&bench(&["--json", "--retune"])).expect("one JSON object");
    let tuning = &retuned["tuning"];
    assert!(tuning["runs"].as_u64().unwrap() > 0, "{tuning}");
    std::fs::remove_dir_all(&cache).ok();
}
