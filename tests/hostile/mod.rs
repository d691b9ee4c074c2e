//! Hostile headers: each a typed error at import (`inspect_model`), never a
//! panic, a trap, a huge allocation or a hang. The files are the real
//! SmolLM2 header rewritten with one value changed; tensor data is zeros
//! (import never reads it).
//!
//! Shared by `tests/corrupt_models.rs` (native) and `tests/wasm/` (wasm32 in
//! Node, where a panic or an allocation failure would trap the module).

mod gguf_writer;
mod growth;

use gguf_writer::{Pieces, rewritten, set};
use locus::error::{ErrorCode, LocusError};
use locus::gguf::{GgufFile, Value};
use locus::runtime::inspect_model;

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

const MODEL: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";
/// Bytes read from the start of the model: its header (metadata and tensor
/// table, about 2 MB) lies inside.
const HEADER_BYTES: usize = 4 << 20;

/// The real SmolLM2 header (not its weights).
fn smollm2_header() -> GgufFile {
    let prefix = model_prefix(HEADER_BYTES);
    GgufFile::read_header_only(&mut prefix.as_slice()).unwrap()
}

#[cfg(not(target_arch = "wasm32"))]
fn model_prefix(len: usize) -> Vec<u8> {
    use std::io::Read;
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("models")
        .join(MODEL);
    let file = std::fs::File::open(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run `cargo xtask models`)", path.display()));
    let mut bytes = Vec::with_capacity(len);
    file.take(len as u64).read_to_end(&mut bytes).unwrap();
    bytes
}

/// Under wasm32 the tests run in Node: its `fs` reads the model.
#[cfg(target_arch = "wasm32")]
fn model_prefix(len: usize) -> Vec<u8> {
    let path = format!("{}/../../models/{MODEL}", env!("CARGO_MANIFEST_DIR"));
    node::read_prefix(&path, len)
}

#[cfg(target_arch = "wasm32")]
mod node {
    use wasm_bindgen::prelude::*;

    #[wasm_bindgen(inline_js = "
        export function read_prefix(path, len) {
            const fs = process.getBuiltinModule('node:fs');
            const fd = fs.openSync(path, 'r');
            try {
                const bytes = new Uint8Array(len);
                return bytes.subarray(0, fs.readSync(fd, bytes, 0, len, 0));
            } finally {
                fs.closeSync(fd);
            }
        }
        export function now_ms() { return performance.now(); }
    ")]
    extern "C" {
        pub fn read_prefix(path: &str, len: usize) -> Vec<u8>;
        pub fn now_ms() -> f64;
    }
}

/// Seconds on a monotonic clock (`Instant` panics on wasm32: Node's clock there).
fn now_seconds() -> f64 {
    #[cfg(target_arch = "wasm32")]
    return node::now_ms() / 1000.0;
    #[cfg(not(target_arch = "wasm32"))]
    {
        use std::sync::OnceLock;
        static START: OnceLock<std::time::Instant> = OnceLock::new();
        START
            .get_or_init(std::time::Instant::now)
            .elapsed()
            .as_secs_f64()
    }
}

fn smollm2(edit: impl Fn(&mut Vec<(String, Value)>), huge_array: Option<u64>) -> Pieces {
    rewritten(&smollm2_header(), edit, huge_array)
}

/// `inspect_model`'s error on the file, which must be a typed `bad_model`.
fn refused(mut file: Pieces) -> String {
    let started = now_seconds();
    let error = match inspect_model(&mut file) {
        Ok(info) => panic!("a hostile file was accepted: {info}"),
        Err(error) => error,
    };
    assert!(matches!(error, LocusError::BadModel(_)), "{error}");
    assert_eq!(error.code(), ErrorCode::BadModel);
    let seconds = now_seconds() - started;
    eprintln!("refused in {seconds:.2} s: {error}");
    assert!(seconds < 30.0, "refusing took {seconds:.1} s");
    error.to_string()
}

#[test]
fn the_rewritten_header_is_accepted_unchanged() {
    let info = inspect_model(&mut smollm2(|_| {}, None)).unwrap();
    assert_eq!(info["layers"], 30);
    assert_eq!(info["chatTemplate"], "gguf");
}

#[test]
fn a_context_length_of_one_is_refused_at_import() {
    let file = smollm2(|e| set(e, "llama.context_length", Value::U32(1)), None);
    let error = refused(file);
    assert!(error.contains("context_length = 1"), "{error}");
}

#[test]
fn a_block_count_of_two_to_the_thirty_one_is_refused_at_import() {
    let file = smollm2(
        |e| set(e, "llama.block_count", Value::U32(0x7fff_ffff)),
        None,
    );
    let error = refused(file);
    assert!(error.contains("block_count"), "{error}");
    // One layer fewer than the tensors hold is refused too.
    let error = refused(smollm2(
        |e| set(e, "llama.block_count", Value::U32(29)),
        None,
    ));
    assert!(error.contains("outside the 29 layers"), "{error}");
}

#[test]
fn out_of_range_config_values_are_refused_at_import() {
    for (key, value) in [
        (
            "llama.attention.layer_norm_rms_epsilon",
            Value::F32(f32::NAN),
        ),
        ("llama.rope.freq_base", Value::F32(-1.0)),
        ("llama.embedding_length", Value::U64(1 << 40)),
        ("llama.feed_forward_length", Value::U32(0)),
    ] {
        let error = refused(smollm2(|e| set(e, key, value.clone()), None));
        assert!(error.contains(key), "{key}: {error}");
    }
}

#[test]
fn a_300_million_item_metadata_array_is_refused_before_allocating() {
    let error = refused(smollm2(|_| {}, Some(300_000_000)));
    assert!(error.contains("test.huge_array"), "{error}");
}

/// SmolLM2's header with its chat template replaced.
fn with_template(template: &str) -> Pieces {
    let template = Value::String(template.to_string());
    smollm2(
        |e| set(e, "tokenizer.chat_template", template.clone()),
        None,
    )
}

#[test]
fn an_exponential_chat_template_is_refused_at_import() {
    // 2^40 macro calls: hours without a fuel limit.
    let error = refused(with_template(
        "{% macro f(n) %}{% if n > 0 %}{{ f(n - 1) }}{{ f(n - 1) }}{% else %}x{% endif %}{% endmacro %}\
         {% for m in messages %}<|im_start|>{{ m.role }}\n{{ f(40) }}<|im_end|>\n{% endfor %}",
    ));
    assert!(error.contains("instructions"), "{error}");
    // Output that doubles each turn is capped.
    let error = refused(with_template(
        "{% for i in range(100000) %}{{ messages[0].content * 1000 }}{% endfor %}",
    ));
    assert!(
        error.contains("writes more than") || error.contains("instructions"),
        "{error}"
    );
}

#[test]
fn a_chat_template_that_loops_only_on_turn_three_is_refused_at_import() {
    let error = refused(with_template(
        "{% for m in messages %}{% if loop.index == 3 %}{% for i in range(100000) %}\
         {% for j in range(100000) %}{% endfor %}{% endfor %}{% endif %}\
         <|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}\
         {% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}",
    ));
    assert!(error.contains("instructions"), "{error}");
}

#[test]
fn chat_templates_that_double_a_string_are_refused_at_import() {
    // Forty doublings are 2^40 bytes (1 TiB) from a few hundred instructions
    // and nothing written to the output: neither the instruction count nor
    // the output cap bounds them. (A plain `set` in a loop body does not
    // outlive its iteration: a namespace or a recursive macro carries the
    // value.) Each way of growing a string is tried. (Lists, and the time
    // a refusal takes: `growth.rs`.)
    let turns =
        "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}";
    for grow in [
        "ns.s ~ ns.s",
        "ns.s + ns.s",
        "ns.s * 2",
        "ns.s | replace('x', 'xx')",
        "ns.s.replace('x', 'xx')",
        "[ns.s, ns.s] | join",
        "ns.s ~ ns.s | upper",
    ] {
        let error = refused(with_template(&format!(
            "{{% set ns = namespace(s='x') %}}{{% for i in range(40) %}}\
             {{% set ns.s = {grow} %}}{{% endfor %}}{{{{ ns.s | length }}}}{turns}"
        )));
        assert!(error.contains("instructions"), "{grow}: {error}");
    }
    let error = refused(with_template(&format!(
        "{{% macro d(s, n) %}}{{% if n > 0 %}}{{{{ d(s ~ s, n - 1) }}}}{{% else %}}{{{{ s | length }}}}\
         {{% endif %}}{{% endmacro %}}{{{{ d('x', 40) }}}}{turns}"
    )));
    assert!(error.contains("instructions"), "recursive macro: {error}");
}
