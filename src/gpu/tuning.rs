//! Per-adapter kernel tuning, remembered between runs: a typed [`Tuning`]
//! record per adapter (keyed by backend, vendor, device, driver and the
//! features the candidates depend on), kept in a small JSON table.
//!
//! Where it is stored:
//! - natively, `~/.cache/locus/tuning.json` ([`FileStore`]);
//! - in the extension the runtime runs in a dedicated worker of the
//!   offscreen document (`extension/offscreen.js` starts
//!   `extension/runtime/worker.js`, which owns the WASM runtime). A worker
//!   has no `localStorage`, so `gloo-storage`'s `LocalStorage` cannot work
//!   there; the closest store that does is a small OPFS file read and written
//!   through a synchronous access handle ([`SyncHandleStore`]), the same API
//!   and origin-private storage the model store already uses in that worker.
//!   It survives restarts of the browser and of the extension's contexts and
//!   is removed with the extension.
//!
//! What is tuned today: the variant of the `fast` prefill mat-mul
//! ([`FastMatMulKernel`]) for each weight shape of a model, timed by a short
//! autotune the first time an adapter loads a model with that shape
//! ([`tune_decoder`], in `autotune.rs`). An adapter without an entry, or a
//! shape without one, takes [`FastMatMulKernel::best`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::gpu::Capabilities;
use crate::gpu::fast::matmul::FastMatMulKernel;

mod autotune;

pub use autotune::{AutotuneOptions, MAX_TUNING_TOKENS, TuningReport, tune_decoder};

/// Kernel choices measured to be best on one adapter.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Tuning {
    /// The fast prefill mat-mul's variant by weight shape: `"Q5_0
    /// 4864x896"` (see `gpu::fast::linears::shape_key`) →
    /// `"cooperative/narrow"` ([`FastMatMulKernel::name`]). Names are kept
    /// as text so one this build does not know falls back to `best`
    /// instead of invalidating the table.
    pub matmul: BTreeMap<String, String>,
    /// Why the adapter was not tuned (e.g. a CPU emulator too slow to time):
    /// `best` stands for every shape and later loads do not time again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_tuned: Option<String>,
}

impl Tuning {
    /// The stored variant for a shape, if it names one this build knows.
    pub fn matmul_kernel(&self, shape: &str) -> Option<FastMatMulKernel> {
        self.matmul.get(shape)?.parse().ok()
    }
}

/// Which adapter a tuning belongs to. The driver is part of it: a driver
/// update can change which shape is fastest. So are the features that
/// decide which variants are candidates: a browser update that grants
/// `shader-f16`, or `LOCUS_NO_COOPERATIVE_MATRIX`, makes another set to
/// time (an entry tuned without cooperative tiles must not stand for the
/// same GPU with them).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AdapterKey {
    pub backend: String,
    pub vendor: u32,
    pub device: u32,
    pub driver: String,
    /// `f16`, `cooperative`, `int8` as granted, space-separated.
    pub features: String,
}

impl AdapterKey {
    pub fn of(info: &wgpu::AdapterInfo, capabilities: &Capabilities) -> AdapterKey {
        let features = [
            ("f16", capabilities.shader_f16),
            ("cooperative", capabilities.cooperative_matrix),
            ("int8", capabilities.packed_int8_dot),
        ];
        let features: Vec<&str> = features
            .iter()
            .filter(|(_, granted)| *granted)
            .map(|(name, _)| *name)
            .collect();
        // Browsers report no PCI ids: the name stands in for the device there.
        let driver = if info.driver_info.is_empty() {
            info.driver.clone()
        } else {
            format!("{} {}", info.driver, info.driver_info)
        };
        AdapterKey {
            backend: format!("{:?}", info.backend).to_lowercase(),
            vendor: info.vendor,
            device: info.device,
            driver: if info.vendor == 0 && info.device == 0 {
                format!("{} / {driver}", info.name)
            } else {
                driver
            },
            features: features.join(" "),
        }
    }

    /// The key as the table stores it: `backend:vendor:device:driver
    /// [features]` (ids in hex).
    pub fn as_text(&self) -> String {
        format!(
            "{}:{:04x}:{:04x}:{} [{}]",
            self.backend, self.vendor, self.device, self.driver, self.features
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TuningError {
    #[error("the tuning table could not be read: {0}")]
    Read(String),
    #[error("the tuning table could not be written: {0}")]
    Write(String),
    #[error("the tuning table is not valid: {0}")]
    Invalid(String),
    #[error("the tuning table has version {0}; this build reads version {TABLE_VERSION}")]
    Version(u32),
}

/// The table format's version: a table of another version is ignored whole
/// (re-tuned) rather than misread. 2: the fast mat-mul's variant per weight
/// shape (1 held mat-vec and tile sizes nothing read). 3: the same, with
/// int8 tiles among the candidates (a version-2 entry never timed them).
/// 4: keys name the features the candidates depend on.
pub const TABLE_VERSION: u32 = 4;

/// Every adapter's tuning, by [`AdapterKey::as_text`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TuningTable {
    pub version: u32,
    pub adapters: BTreeMap<String, Tuning>,
}

impl Default for TuningTable {
    fn default() -> Self {
        TuningTable {
            version: TABLE_VERSION,
            adapters: BTreeMap::new(),
        }
    }
}

impl TuningTable {
    pub fn get(&self, key: &AdapterKey) -> Option<&Tuning> {
        self.adapters.get(&key.as_text())
    }

    pub fn insert(&mut self, key: &AdapterKey, tuning: Tuning) {
        self.adapters.insert(key.as_text(), tuning);
    }

    pub fn to_json(&self) -> String {
        // A map of plain records: serialising cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    pub fn from_json(text: &str) -> Result<TuningTable, TuningError> {
        #[derive(Deserialize)]
        struct Versioned {
            version: u32,
        }
        let versioned: Versioned =
            serde_json::from_str(text).map_err(|e| TuningError::Invalid(e.to_string()))?;
        if versioned.version != TABLE_VERSION {
            return Err(TuningError::Version(versioned.version));
        }
        serde_json::from_str(text).map_err(|e| TuningError::Invalid(e.to_string()))
    }
}

/// Where a tuning table lives.
pub trait TuningStore {
    /// The stored table; an empty one when nothing was stored yet.
    fn load(&self) -> Result<TuningTable, TuningError>;
    fn save(&self, table: &TuningTable) -> Result<(), TuningError>;
}

/// A table kept in memory only (where no file can be had, and for tests).
#[derive(Debug, Default)]
pub struct MemoryStore {
    pub table: std::cell::RefCell<TuningTable>,
}

impl TuningStore for MemoryStore {
    fn load(&self) -> Result<TuningTable, TuningError> {
        Ok(self.table.borrow().clone())
    }

    fn save(&self, table: &TuningTable) -> Result<(), TuningError> {
        *self.table.borrow_mut() = table.clone();
        Ok(())
    }
}

/// A JSON file (natively `~/.cache/locus/tuning.json`).
#[cfg(not(target_arch = "wasm32"))]
pub struct FileStore {
    pub path: std::path::PathBuf,
}

#[cfg(not(target_arch = "wasm32"))]
impl FileStore {
    /// `~/.cache/locus/tuning.json` (`$XDG_CACHE_HOME/locus/` when set), or
    /// `None` without a home directory.
    pub fn default_location() -> Option<FileStore> {
        let cache = match std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()) {
            Some(dir) => std::path::PathBuf::from(dir),
            None => std::path::PathBuf::from(std::env::var_os("HOME")?).join(".cache"),
        };
        Some(FileStore {
            path: cache.join("locus").join("tuning.json"),
        })
    }
}

#[cfg(not(target_arch = "wasm32"))]
impl TuningStore for FileStore {
    fn load(&self) -> Result<TuningTable, TuningError> {
        match std::fs::read_to_string(&self.path) {
            Ok(text) => TuningTable::from_json(&text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(TuningTable::default()),
            Err(e) => Err(TuningError::Read(format!("{}: {e}", self.path.display()))),
        }
    }

    /// Writes a temporary file beside the table and renames it over, so a
    /// reader never sees half a table.
    fn save(&self, table: &TuningTable) -> Result<(), TuningError> {
        let fail = |e: std::io::Error| TuningError::Write(format!("{}: {e}", self.path.display()));
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(fail)?;
        }
        let temporary = self
            .path
            .with_extension(format!("json.{}.tmp", std::process::id()));
        std::fs::write(&temporary, table.to_json()).map_err(fail)?;
        std::fs::rename(&temporary, &self.path).map_err(fail)
    }
}

/// An OPFS file through its synchronous access handle (dedicated workers
/// only; the caller opens the handle, e.g. on `tuning.json` in the origin's
/// root directory, and closes it afterwards).
#[cfg(target_arch = "wasm32")]
pub struct SyncHandleStore {
    pub handle: web_sys::FileSystemSyncAccessHandle,
}

#[cfg(target_arch = "wasm32")]
impl TuningStore for SyncHandleStore {
    fn load(&self) -> Result<TuningTable, TuningError> {
        let fail = |e: wasm_bindgen::JsValue| TuningError::Read(format!("{e:?}"));
        let size = self.handle.get_size().map_err(fail)? as usize;
        if size == 0 {
            return Ok(TuningTable::default());
        }
        let mut bytes = vec![0; size];
        let options = web_sys::FileSystemReadWriteOptions::new();
        options.set_at(0.0);
        let read = self
            .handle
            .read_with_u8_array_and_options(&mut bytes, &options)
            .map_err(fail)? as usize;
        let text = std::str::from_utf8(&bytes[..read.min(size)])
            .map_err(|e| TuningError::Invalid(e.to_string()))?;
        TuningTable::from_json(text)
    }

    fn save(&self, table: &TuningTable) -> Result<(), TuningError> {
        let fail = |e: wasm_bindgen::JsValue| TuningError::Write(format!("{e:?}"));
        let bytes = table.to_json().into_bytes();
        self.handle.truncate_with_u32(0).map_err(fail)?;
        let options = web_sys::FileSystemReadWriteOptions::new();
        options.set_at(0.0);
        let written = self
            .handle
            .write_with_u8_array_and_options(&bytes, &options)
            .map_err(fail)?;
        if written as usize != bytes.len() {
            return Err(TuningError::Write(format!(
                "{written} of {} bytes written",
                bytes.len()
            )));
        }
        self.handle.flush().map_err(fail)
    }
}
