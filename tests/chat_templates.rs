//! Chat prompts for the test models, against two references:
//!
//! - llama.cpp's `llama_chat_apply_template` (the fixtures of
//!   `scripts/make_fixtures.py`), which formats with a built-in format picked
//!   from the template's text: `ChatTemplate::llama_cpp_builtin` must give the
//!   same prompts, and the prompts must tokenize to llama.cpp's ids.
//! - Jinja2 3.1.6 rendering the models' own templates with Hugging Face's
//!   settings (`trim_blocks`, `lstrip_blocks`), cases below: what
//!   `ChatTemplate::from_gguf` must give. The two agree whenever the
//!   conversation starts with a system message; without one, SmolLM2's and
//!   Qwen2's templates add their default system prompt and llama.cpp's
//!   built-in ChatML does not.

mod common;

use common::MODELS;
use locus::chat::ChatTemplate;
use locus::gguf::Metadata;
use locus::protocol::{ChatMessage, Role};
use locus::tokenizer::Tokenizer;
use serde_json::Value;

/// `from_gguf`'s choice per model: Gemma 3 270m (a base model) has no template.
const SOURCES: [(&str, &str); 3] = [
    ("smollm2", "gguf"),
    ("qwen2", "gguf"),
    ("gemma3", "builtin:gemma"),
];

/// Metadata and llama.cpp fixture of a test model (all are required).
fn load(name: &str, file_name: &str) -> (Metadata, Value) {
    (common::metadata(file_name), common::fixture_json(name))
}

fn messages(value: &Value) -> Vec<ChatMessage> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let role = match m["role"].as_str().unwrap() {
                "system" => Role::System,
                "user" => Role::User,
                "assistant" => Role::Assistant,
                other => panic!("role {other}"),
            };
            ChatMessage {
                role,
                content: m["content"].as_str().unwrap().to_string(),
            }
        })
        .collect()
}

fn ids(value: &Value) -> Vec<u32> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as u32)
        .collect()
}

#[test]
fn prompts_match_llama_cpp() {
    for (name, file_name) in MODELS {
        let (metadata, fixture) = load(name, file_name);
        let chat = &fixture["chat"];
        let builtin =
            ChatTemplate::llama_cpp_builtin(&metadata).unwrap_or_else(|e| panic!("{name}: {e}"));
        let llama_cpp_format = match chat["template_source"].as_str().unwrap() {
            source if source.starts_with("builtin:") => source.to_string(),
            _ => format!(
                "builtin:{}",
                chat["builtin_equivalent"][0].as_str().unwrap()
            ),
        };
        assert_eq!(
            builtin.source(),
            llama_cpp_format,
            "{name}: the format llama.cpp used"
        );
        let tokenizer = Tokenizer::from_gguf(&metadata).unwrap();
        let ours = ChatTemplate::from_gguf(&metadata).unwrap();
        let expected_source = SOURCES.iter().find(|(n, _)| *n == name).unwrap().1;
        assert_eq!(ours.source(), expected_source, "{name}: template source");

        let add_generation_prompt = chat["add_ass"].as_bool().unwrap();
        let conversations = chat["conversations"].as_array().unwrap();
        let (mut same_as_llama_cpp, mut same_as_jinja) = (0, 0);
        for (i, conversation) in conversations.iter().enumerate() {
            let msgs = messages(&conversation["messages"]);
            let prompt = conversation["prompt"].as_str().unwrap();
            assert_eq!(
                builtin.render(&msgs, add_generation_prompt).unwrap(),
                prompt,
                "{name} conversation {i}"
            );
            let prompt_ids = tokenizer.encode(prompt, true, true).unwrap();
            assert_eq!(
                prompt_ids,
                ids(&conversation["prompt_ids"]),
                "{name} conversation {i}: prompt ids"
            );
            // Markup and text tokenized apart (control tokens from the markup
            // only) give llama.cpp's ids too, on both templates.
            let pieces = builtin.render_pieces(&msgs, add_generation_prompt).unwrap();
            assert_eq!(
                tokenizer.encode_prompt(&pieces, true).unwrap(),
                prompt_ids,
                "{name} conversation {i}: prompt ids from pieces"
            );
            let pieces = ours.render_pieces(&msgs, add_generation_prompt).unwrap();
            let rendered = ours.render(&msgs, add_generation_prompt).unwrap();
            assert_eq!(locus::tokenizer::prompt_text(&pieces), rendered);
            assert_eq!(
                tokenizer.encode_prompt(&pieces, true).unwrap(),
                tokenizer.encode(&rendered, true, true).unwrap(),
                "{name} conversation {i}: from_gguf's ids from pieces"
            );
            // Where the model's own template agrees with llama.cpp's format, ours must too.
            let rendered = ours.render(&msgs, add_generation_prompt).unwrap();
            if msgs[0].role == Role::System || ours.source() != "gguf" {
                assert_eq!(rendered, prompt, "{name} conversation {i}: from_gguf");
                same_as_llama_cpp += 1;
            }
            // llama-cpp-python's Jinja2ChatFormatter on the GGUF template.
            if let Some(jinja) = conversation["prompt_jinja"].as_str() {
                assert_eq!(
                    rendered, jinja,
                    "{name} conversation {i}: from_gguf vs Jinja2"
                );
                same_as_jinja += 1;
            }
        }
        eprintln!(
            "{name}: {n}/{n} prompts and prompt ids match llama.cpp ({}); from_gguf ({}) gives llama.cpp's \
             prompt on {same_as_llama_cpp} and Jinja2's on {same_as_jinja}",
            builtin.source(),
            ours.source(),
            n = conversations.len()
        );
    }
}

#[test]
fn gguf_templates_render_like_jinja2() {
    let cases: Vec<Value> = serde_json::from_str(JINJA2_CASES).unwrap();
    let mut checked = 0;
    for (name, file_name) in MODELS {
        let (metadata, _) = load(name, file_name);
        let template = ChatTemplate::from_gguf(&metadata).unwrap();
        for case in cases.iter().filter(|c| c["model"] == name) {
            assert_eq!(template.source(), "gguf");
            let msgs = messages(&case["messages"]);
            let add_generation_prompt = case["add_generation_prompt"].as_bool().unwrap();
            let rendered = template.render(&msgs, add_generation_prompt).unwrap();
            assert_eq!(
                rendered,
                case["expected"].as_str().unwrap(),
                "{name}: {}",
                case["messages"]
            );
            checked += 1;
        }
    }
    eprintln!("{checked} Jinja2 renders matched");
    assert!(checked >= 10, "SmolLM2's cases must run");
}

#[test]
fn long_conversations_render_within_the_template_limits() {
    // The fuel and output limits stop runaway templates, not real chats:
    // 1,000 messages of 2 KB each on every test model's template.
    let long = "A long message about nothing in particular. ".repeat(45);
    let mut messages = vec![ChatMessage {
        role: Role::System,
        content: long.clone(),
    }];
    for i in 0..1000 {
        let role = if i % 2 == 0 {
            Role::User
        } else {
            Role::Assistant
        };
        messages.push(ChatMessage {
            role,
            content: long.clone(),
        });
    }
    for (name, file_name) in MODELS {
        let template = ChatTemplate::from_gguf(&common::metadata(file_name)).unwrap();
        let started = std::time::Instant::now();
        let pieces = template.render_pieces(&messages, true);
        let pieces = pieces.unwrap_or_else(|e| panic!("{name}: {e}"));
        eprintln!(
            "{name}: {} messages, {} pieces in {:.0} ms",
            messages.len(),
            pieces.len(),
            started.elapsed().as_secs_f64() * 1000.0
        );
    }
}

/// Jinja2 3.1.6, `ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)`,
/// rendering each model's `tokenizer.chat_template` with `bos_token` and `eos_token`.
const JINJA2_CASES: &str = r##"[
{"model": "smollm2", "messages": [{"role": "system", "content": "You are a helpful assistant."}, {"role": "user", "content": "What is the capital of France?"}], "add_generation_prompt": true, "expected": "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n"},
{"model": "smollm2", "messages": [{"role": "system", "content": "You are a helpful assistant."}, {"role": "user", "content": "What is the capital of France?"}], "add_generation_prompt": false, "expected": "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nWhat is the capital of France?<|im_end|>\n"},
{"model": "smollm2", "messages": [{"role": "user", "content": "Count from 1 to 20, separated by commas."}], "add_generation_prompt": true, "expected": "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\nCount from 1 to 20, separated by commas.<|im_end|>\n<|im_start|>assistant\n"},
{"model": "smollm2", "messages": [{"role": "user", "content": "Count from 1 to 20, separated by commas."}], "add_generation_prompt": false, "expected": "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\nCount from 1 to 20, separated by commas.<|im_end|>\n"},
{"model": "smollm2", "messages": [{"role": "user", "content": "Hi! What's your name?"}, {"role": "assistant", "content": "I'm a helpful assistant."}, {"role": "user", "content": "Tell me a fun fact."}], "add_generation_prompt": true, "expected": "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\nHi! What's your name?<|im_end|>\n<|im_start|>assistant\nI'm a helpful assistant.<|im_end|>\n<|im_start|>user\nTell me a fun fact.<|im_end|>\n<|im_start|>assistant\n"},
{"model": "smollm2", "messages": [{"role": "user", "content": "Hi! What's your name?"}, {"role": "assistant", "content": "I'm a helpful assistant."}, {"role": "user", "content": "Tell me a fun fact."}], "add_generation_prompt": false, "expected": "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\nHi! What's your name?<|im_end|>\n<|im_start|>assistant\nI'm a helpful assistant.<|im_end|>\n<|im_start|>user\nTell me a fun fact.<|im_end|>\n"},
{"model": "smollm2", "messages": [{"role": "user", "content": "  {{ not a tag }} {% raw %}\n\nline two\t"}, {"role": "assistant", "content": "Sure: « café » 日本語 🇯🇵\n"}], "add_generation_prompt": true, "expected": "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\n  {{ not a tag }} {% raw %}\n\nline two\t<|im_end|>\n<|im_start|>assistant\nSure: « café » 日本語 🇯🇵\n<|im_end|>\n<|im_start|>assistant\n"},
{"model": "smollm2", "messages": [{"role": "user", "content": "  {{ not a tag }} {% raw %}\n\nline two\t"}, {"role": "assistant", "content": "Sure: « café » 日本語 🇯🇵\n"}], "add_generation_prompt": false, "expected": "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\n  {{ not a tag }} {% raw %}\n\nline two\t<|im_end|>\n<|im_start|>assistant\nSure: « café » 日本語 🇯🇵\n<|im_end|>\n"},
{"model": "smollm2", "messages": [{"role": "system", "content": "S1"}, {"role": "system", "content": "S2"}, {"role": "user", "content": "u"}], "add_generation_prompt": true, "expected": "<|im_start|>system\nS1<|im_end|>\n<|im_start|>system\nS2<|im_end|>\n<|im_start|>user\nu<|im_end|>\n<|im_start|>assistant\n"},
{"model": "smollm2", "messages": [{"role": "system", "content": "S1"}, {"role": "system", "content": "S2"}, {"role": "user", "content": "u"}], "add_generation_prompt": false, "expected": "<|im_start|>system\nS1<|im_end|>\n<|im_start|>system\nS2<|im_end|>\n<|im_start|>user\nu<|im_end|>\n"},
{"model": "qwen2", "messages": [{"role": "system", "content": "You are a helpful assistant."}, {"role": "user", "content": "What is the capital of France?"}], "add_generation_prompt": true, "expected": "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n"},
{"model": "qwen2", "messages": [{"role": "system", "content": "You are a helpful assistant."}, {"role": "user", "content": "What is the capital of France?"}], "add_generation_prompt": false, "expected": "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nWhat is the capital of France?<|im_end|>\n"},
{"model": "qwen2", "messages": [{"role": "user", "content": "Count from 1 to 20, separated by commas."}], "add_generation_prompt": true, "expected": "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n<|im_start|>user\nCount from 1 to 20, separated by commas.<|im_end|>\n<|im_start|>assistant\n"},
{"model": "qwen2", "messages": [{"role": "user", "content": "Count from 1 to 20, separated by commas."}], "add_generation_prompt": false, "expected": "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n<|im_start|>user\nCount from 1 to 20, separated by commas.<|im_end|>\n"},
{"model": "qwen2", "messages": [{"role": "user", "content": "Hi! What's your name?"}, {"role": "assistant", "content": "I'm a helpful assistant."}, {"role": "user", "content": "Tell me a fun fact."}], "add_generation_prompt": true, "expected": "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n<|im_start|>user\nHi! What's your name?<|im_end|>\n<|im_start|>assistant\nI'm a helpful assistant.<|im_end|>\n<|im_start|>user\nTell me a fun fact.<|im_end|>\n<|im_start|>assistant\n"},
{"model": "qwen2", "messages": [{"role": "user", "content": "Hi! What's your name?"}, {"role": "assistant", "content": "I'm a helpful assistant."}, {"role": "user", "content": "Tell me a fun fact."}], "add_generation_prompt": false, "expected": "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n<|im_start|>user\nHi! What's your name?<|im_end|>\n<|im_start|>assistant\nI'm a helpful assistant.<|im_end|>\n<|im_start|>user\nTell me a fun fact.<|im_end|>\n"},
{"model": "qwen2", "messages": [{"role": "user", "content": "  {{ not a tag }} {% raw %}\n\nline two\t"}, {"role": "assistant", "content": "Sure: « café » 日本語 🇯🇵\n"}], "add_generation_prompt": true, "expected": "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n<|im_start|>user\n  {{ not a tag }} {% raw %}\n\nline two\t<|im_end|>\n<|im_start|>assistant\nSure: « café » 日本語 🇯🇵\n<|im_end|>\n<|im_start|>assistant\n"},
{"model": "qwen2", "messages": [{"role": "user", "content": "  {{ not a tag }} {% raw %}\n\nline two\t"}, {"role": "assistant", "content": "Sure: « café » 日本語 🇯🇵\n"}], "add_generation_prompt": false, "expected": "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n<|im_start|>user\n  {{ not a tag }} {% raw %}\n\nline two\t<|im_end|>\n<|im_start|>assistant\nSure: « café » 日本語 🇯🇵\n<|im_end|>\n"},
{"model": "qwen2", "messages": [{"role": "system", "content": "S1"}, {"role": "system", "content": "S2"}, {"role": "user", "content": "u"}], "add_generation_prompt": true, "expected": "<|im_start|>system\nS1<|im_end|>\n<|im_start|>system\nS2<|im_end|>\n<|im_start|>user\nu<|im_end|>\n<|im_start|>assistant\n"},
{"model": "qwen2", "messages": [{"role": "system", "content": "S1"}, {"role": "system", "content": "S2"}, {"role": "user", "content": "u"}], "add_generation_prompt": false, "expected": "<|im_start|>system\nS1<|im_end|>\n<|im_start|>system\nS2<|im_end|>\n<|im_start|>user\nu<|im_end|>\n"}
]"##;
