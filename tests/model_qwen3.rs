//! Qwen3 (`qwen3` GGUF architecture: Qwen2 without QKV biases, with per-head
//! q/k RMSNorm before RoPE) against llama.cpp.
//!
//! No Qwen3 weights ship in a package this machine can reach, so the test
//! model is written here: Qwen3's real layout (tied embedding, 128-wide heads
//! wider than the model, grouped KV heads, Q8_0 matrices as in Qwen's own
//! Q8_0 release) at a small size, Qwen2.5's vocabulary with Qwen3's four
//! extra tokens, Qwen3's chat template, and sane random weights. llama.cpp
//! runs the same file as the oracle: `scripts/make_fixtures.py` made
//! `tests/fixtures/llama_cpp/qwen3.json` from it (see `scripts/README.md`).

mod common;
mod synthetic;

use common::{MODELS, fixture, model_path};
use locus::gguf::Value;
use locus::model::Architecture;
use locus::protocol::{ChatMessage, Role};
use synthetic::oracle::{self, MAX_FAST_NMSE};
use synthetic::{Shape, Types};

/// The CPU path repeats llama.cpp's arithmetic: its logits agree to the
/// fixture's 4 decimals.
const LOGIT_TOLERANCE: f32 = 2e-4;

/// Qwen3-0.6B's layout at a test size: 4 query heads of 128 on a 256-wide
/// model (queries wider than the model, as in every Qwen3), 2 KV heads.
fn test_shape() -> Shape {
    Shape {
        arch: "qwen3",
        name: "Qwen3 test model (random weights)",
        embd: 256,
        layers: 3,
        heads: 4,
        kv_heads: 2,
        head_dim: 128,
        ff: 768,
        context: 40960,
        rope_base: 1_000_000.0,
        rms_eps: 1e-6,
        tied: true,
        extra: Vec::new(),
    }
}

/// Qwen2.5's tokenizer with what Qwen3 changed: four more added tokens and
/// its own chat template.
fn qwen3_tokenizer() -> Vec<(String, Value)> {
    let mut tokenizer = synthetic::tokenizer_of(&model_path(MODELS[1].1));
    for (id, text) in [
        (151665, "<tool_response>"),
        (151666, "</tool_response>"),
        (151667, "<think>"),
        (151668, "</think>"),
    ] {
        // Added tokens that are not control tokens (user-defined).
        synthetic::set_token(&mut tokenizer, id, text, 4);
    }
    let template = std::fs::read_to_string(
        common::repo_root().join("tests/fixtures/qwen3/chat_template.jinja"),
    )
    .unwrap();
    synthetic::set(
        &mut tokenizer,
        "tokenizer.chat_template",
        Value::String(template),
    );
    tokenizer
}

/// Writes the test model and returns its path.
fn test_model() -> std::path::PathBuf {
    let bytes = synthetic::complete_model(&test_shape(), &qwen3_tokenizer(), &Types::Q8_0);
    synthetic::write_checked("qwen3-test.Q8_0.gguf", &bytes, "qwen3")
}

#[test]
fn the_qwen3_config_has_qk_norms_and_no_biases() {
    let model = oracle::load_cpu(&test_model());
    let c = model.config();
    assert_eq!(c.architecture, Architecture::Qwen3);
    assert!(c.qk_norm && !c.qkv_bias && !c.scale_query && !c.post_norms);
    assert_eq!((c.head_dim, c.q_width(), c.kv_width()), (128, 512, 256));
    let layer = &model.decoder.weights.layers[0];
    assert_eq!(layer.q_norm.as_ref().map(Vec::len), Some(128));
    assert!(layer.bq.is_none() && layer.post_attn_norm.is_none());
    assert!(model.decoder.weights.output.is_none(), "tied embedding");
}

#[test]
fn qwen3_on_the_cpu_matches_llama_cpp() {
    let fixture = fixture("qwen3");
    let mut model = oracle::load_cpu(&test_model());
    let result = oracle::compare_cpu(&model, &fixture);
    eprintln!(
        "qwen3 CPU: top-1 agreement {}/{}; max top-10 logit difference {:.5}",
        result.agree, result.positions, result.max_diff
    );
    assert!(result.failures.is_empty(), "{}", result.failures.join("\n"));
    assert!(
        result.max_diff <= LOGIT_TOLERANCE,
        "top-10 logits differ from llama.cpp's by up to {}",
        result.max_diff
    );
    // The comparison sees the q/k norms: without them the logits are off.
    for layer in &mut model.decoder.weights.layers {
        layer.q_norm = None;
        layer.k_norm = None;
    }
    let without = oracle::compare_cpu(&model, &fixture);
    eprintln!(
        "qwen3 CPU without q/k norms: max top-10 logit difference {:.5}",
        without.max_diff
    );
    assert!(without.max_diff > 100.0 * LOGIT_TOLERANCE);
}

/// The GPU's exact numerics give the CPU's logits; the fast numerics track
/// them.
#[test]
fn qwen3_on_the_gpu_matches_the_cpu_in_both_numerics() {
    let (exact, fast) = oracle::compare_gpu(&test_model(), &fixture("qwen3"), 4);
    assert!(
        exact <= 1e-4,
        "exact GPU logits differ from the CPU's by up to {exact}"
    );
    assert!(
        fast <= MAX_FAST_NMSE,
        "fast GPU logits' NMSE against exact up to {fast:.3e}"
    );
}

#[test]
fn qwen3_prompts_render_with_thinking_off() {
    let model = oracle::load_cpu(&test_model());
    let chat = model.chat.as_ref().expect("Qwen3's template compiles");
    assert_eq!(chat.source(), "gguf");
    let messages = [
        ChatMessage {
            role: Role::System,
            content: "Be brief.".into(),
        },
        ChatMessage {
            role: Role::User,
            content: "Hi".into(),
        },
    ];
    assert_eq!(
        chat.render(&messages, true).unwrap(),
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n\
         <|im_start|>assistant\n<think>\n\n</think>\n\n"
    );
    // The empty thought is the template's markup: `<think>` is one token.
    let pieces = chat.render_pieces(&messages, true).unwrap();
    let ids = model.tokenizer.encode_prompt(&pieces, false).unwrap();
    let think = model.tokenizer.token_id("<think>").unwrap();
    let end_think = model.tokenizer.token_id("</think>").unwrap();
    assert_eq!((think, end_think), (151667, 151668));
    assert!(ids.contains(&think) && ids.contains(&end_think), "{ids:?}");
}
