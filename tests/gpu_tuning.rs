//! The per-adapter tuning table (`locus::gpu::tuning`): keys, and the
//! native store's round trip through `tuning.json`.

use locus::gpu::tuning::{
    AdapterKey, FileStore, TABLE_VERSION, Tuning, TuningError, TuningStore, TuningTable,
};

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
        AdapterKey::of(&h200()).as_text(),
        "vulkan:10de:2335:NVIDIA 560.35.03"
    );
    // Without PCI ids (browsers) the adapter's name tells devices apart.
    assert_eq!(
        AdapterKey::of(&swiftshader()).as_text(),
        "browserwebgpu:0000:0000:SwiftShader / "
    );
    let mut updated = h200();
    updated.driver_info = "570.86.10".into();
    assert_ne!(AdapterKey::of(&updated), AdapterKey::of(&h200()));
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
        matvec_rows_per_workgroup: 4,
        matvec_workgroup_size: 128,
        matmul_tile: [32, 128],
    };
    table.insert(&AdapterKey::of(&h200()), tuned);
    table.insert(&AdapterKey::of(&swiftshader()), Tuning::default());
    store.save(&table).unwrap();
    let loaded = store.load().unwrap();
    assert_eq!(loaded, table);
    assert_eq!(loaded.get(&AdapterKey::of(&h200())), Some(tuned));
    // Saving again replaces the table whole.
    store.save(&TuningTable::default()).unwrap();
    assert_eq!(store.load().unwrap().get(&AdapterKey::of(&h200())), None);
    let dir = store.path.parent().unwrap().parent().unwrap();
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn a_bad_or_foreign_table_is_a_typed_error() {
    let store = temporary_store("bad");
    std::fs::create_dir_all(store.path.parent().unwrap()).unwrap();
    std::fs::write(&store.path, "{ not json").unwrap();
    assert!(matches!(store.load(), Err(TuningError::Invalid(_))));
    std::fs::write(&store.path, r#"{"version": 2, "adapters": {}}"#).unwrap();
    assert!(matches!(store.load(), Err(TuningError::Version(2))));
    let json = r#"{"version": 1, "adapters": {"k": {"matvecRowsPerWorkgroup": 2}}}"#;
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
