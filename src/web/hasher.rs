//! Incremental SHA-256 for downloads: the worker feeds each chunk as it is
//! written to disk, so checking a model never needs the file in memory.

use sha2::{Digest, Sha256};
use wasm_bindgen::prelude::*;

#[wasm_bindgen(js_name = Sha256)]
pub struct WebSha256 {
    inner: Sha256,
}

impl Default for WebSha256 {
    fn default() -> Self {
        WebSha256::new()
    }
}

#[wasm_bindgen(js_class = Sha256)]
impl WebSha256 {
    #[wasm_bindgen(constructor)]
    pub fn new() -> WebSha256 {
        WebSha256 {
            inner: Sha256::new(),
        }
    }

    pub fn update(&mut self, bytes: &[u8]) {
        self.inner.update(bytes);
    }

    /// The digest as lowercase hex; the hasher starts over afterwards.
    #[wasm_bindgen(js_name = hexDigest)]
    pub fn hex_digest(&mut self) -> String {
        let digest = self.inner.finalize_reset();
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }
}
