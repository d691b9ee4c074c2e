//! Templates rendered as Hugging Face renders them, and the fallbacks.

use super::*;
use crate::tokenizer::tests::{Meta, metadata};

fn msg(role: Role, content: &str) -> ChatMessage {
    ChatMessage {
        role,
        content: content.into(),
    }
}

fn jinja(source: &str) -> ChatTemplate {
    ChatTemplate::from_jinja(source, "<s>".into(), "</s>".into()).unwrap()
}

#[test]
fn blocks_trim_like_hugging_face() {
    // trim_blocks drops the newline after a tag, lstrip_blocks the indentation before it.
    let t = jinja(
        "{% for m in messages %}\n    {% if m.role == 'user' %}\n[{{ m.content }}]\n    {% endif %}\n{% endfor %}\n",
    );
    assert_eq!(
        t.render(&[msg(Role::User, "a"), msg(Role::Assistant, "b")], false)
            .unwrap(),
        "[a]\n"
    );
    assert_eq!(t.source(), "gguf");
}

#[test]
fn python_string_methods_and_globals() {
    let t = jinja(
        "{{ bos_token }}{% for m in messages %}{{ m['content'].strip() | upper }}{% if m.content.startswith(' x') %}!{% endif %}\
         {% endfor %}{% if add_generation_prompt %}{{ eos_token }}{% endif %}",
    );
    assert_eq!(
        t.render(&[msg(Role::User, " xy ")], true).unwrap(),
        "<s>XY!</s>"
    );
    assert_eq!(t.render(&[msg(Role::User, "a")], false).unwrap(), "<s>A");
}

#[test]
fn raise_exception_becomes_an_error_with_its_message() {
    let t = jinja(
        "{% for m in messages %}{% if m.role == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}{{ m.content }}{% endfor %}",
    );
    let err = t
        .render(&[msg(Role::System, "s"), msg(Role::User, "u")], true)
        .unwrap_err();
    assert!(
        matches!(&err, ChatError::Render(m) if m.contains("System role not supported")),
        "{err}"
    );
    assert_eq!(t.render(&[msg(Role::User, "u")], true).unwrap(), "u");
}

#[test]
fn strftime_now_prints_a_date() {
    let t = jinja("{{ strftime_now('%Y-%m-%d') }}");
    let date = t.render(&[], false).unwrap();
    assert_eq!(date.len(), 10, "{date}");
    assert!(date.starts_with("20"), "{date}");
}

fn vocab(tokens: &[&str]) -> (&'static str, Meta) {
    (
        "tokenizer.ggml.tokens",
        Meta::Strs(tokens.iter().map(|t| t.to_string()).collect()),
    )
}

#[test]
fn gguf_template_with_bos_and_eos_texts() {
    let md = metadata(vec![
        vocab(&["<a>", "<b>", "<c>"]),
        ("tokenizer.ggml.bos_token_id", Meta::U32(1)),
        ("tokenizer.ggml.eos_token_id", Meta::U32(2)),
        (
            "tokenizer.chat_template",
            Meta::Str("{{ bos_token }}{{ messages[0].content }}{{ eos_token }}".into()),
        ),
    ]);
    let t = ChatTemplate::from_gguf(&md).unwrap();
    assert_eq!(t.source(), "gguf");
    assert_eq!(
        t.render(&[msg(Role::User, "hi")], true).unwrap(),
        "<b>hi<c>"
    );
}

#[test]
fn falls_back_to_the_vocabulary_s_builtin() {
    let chatml = ["<|im_start|>", "<|im_end|>"];
    let gemma = ["<start_of_turn>", "<end_of_turn>"];
    let broken = (
        "tokenizer.chat_template",
        Meta::Str("{% for m in messages %}".into()),
    );
    let failing = (
        "tokenizer.chat_template",
        Meta::Str("{{ raise_exception('no') }}".into()),
    );

    let t = ChatTemplate::from_gguf(&metadata(vec![vocab(&gemma)])).unwrap();
    assert_eq!(t.source(), "builtin:gemma");
    let t = ChatTemplate::from_gguf(&metadata(vec![vocab(&chatml), broken])).unwrap();
    assert_eq!(t.source(), "builtin:chatml");
    let t = ChatTemplate::from_gguf(&metadata(vec![vocab(&chatml), failing])).unwrap();
    assert_eq!(t.source(), "builtin:chatml");
    assert_eq!(
        t.render(&[msg(Role::User, "hi")], true).unwrap(),
        "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    );

    let broken = (
        "tokenizer.chat_template",
        Meta::Str("{% for m in messages %}".into()),
    );
    let err = ChatTemplate::from_gguf(&metadata(vec![vocab(&["a"]), broken])).unwrap_err();
    assert!(matches!(err, ChatError::Compile(_)), "{err}");
    let err = ChatTemplate::from_gguf(&metadata(vec![vocab(&["a"])])).unwrap_err();
    assert!(matches!(err, ChatError::NoTemplate), "{err}");
}

#[test]
fn llama_cpp_builtin_follows_the_template_text() {
    let md = metadata(vec![
        vocab(&["<|im_start|>", "<|im_end|>"]),
        (
            "tokenizer.chat_template",
            Meta::Str("{{ '<|im_start|>' }}".into()),
        ),
    ]);
    assert_eq!(
        ChatTemplate::llama_cpp_builtin(&md).unwrap().source(),
        "builtin:chatml"
    );
    let md = metadata(vec![vocab(&["<start_of_turn>", "<end_of_turn>"])]);
    assert_eq!(
        ChatTemplate::llama_cpp_builtin(&md).unwrap().source(),
        "builtin:gemma"
    );
}
