//! Chat templates that build a huge list or string from a few instructions
//! (each step doubles it) or ask for a huge range: each is a typed error at
//! import, and at render when only a longer conversation sets it off, within
//! a bound measured on this machine: a few times what the same import takes
//! with a template that merely spends its whole fuel on a plain loop.
//!
//! Before the Locus patch to minijinja (`third_party/minijinja`), a list
//! concatenated with itself cost no fuel: `l + l` is lazy, so 40 doublings
//! take 40 instructions and then one instruction materializes (or one
//! filter walks) 2^33 items; a list of empty lists doubled the same way
//! holds nothing and still takes 2^40 steps to walk. Lists that hold the
//! same list twice, nested forty deep, are as long to print or compare, and
//! a namespace assigned into itself never ends a walk (the stack
//! overflows: an abort natively, a trap under wasm32).

use locus::chat::{ChatError, ChatTemplate};
use locus::protocol::{ChatMessage, Role};

use super::{now_seconds, refused, smollm2, with_template};

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

/// SmolLM2's own turns, so that a template is usable apart from its growth.
const TURNS: &str = "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n\
                     {% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";

/// Each doubling `grow` forty times in a namespace (a plain `set` in a loop
/// body does not outlive its iteration), then `use`s the result.
fn doubled(start: &str, grow: &str, use_it: &str) -> String {
    format!(
        "{{% set ns = namespace(v={start}) %}}{{% for i in range(40) %}}\
         {{% set ns.v = {grow} %}}{{% endfor %}}{{{{ {use_it} }}}}{TURNS}"
    )
}

/// The hostile templates, by what they do.
fn growing_templates() -> Vec<(&'static str, String)> {
    // `{% set l = l + l %}` forty times at the top level, where `set` does
    // persist (the form of the report).
    let unrolled = format!(
        "{{% set l = [1] %}}{}{{{{ l | length }}}}{TURNS}",
        "{% set l = l + l %}".repeat(40)
    );
    vec![
        (
            "list + list",
            doubled("[1]", "ns.v + ns.v", "ns.v | length"),
        ),
        ("set l = l + l", unrolled),
        (
            "list + list, then tojson",
            doubled("[1]", "ns.v + ns.v", "ns.v | tojson | length"),
        ),
        (
            "list + list, printed",
            doubled("[1]", "ns.v + ns.v", "ns.v"),
        ),
        (
            "empty list + itself",
            doubled("[]", "ns.v + ns.v", "ns.v | length"),
        ),
        (
            "list | sum",
            doubled("[1]", "[ns.v, ns.v] | sum(start=[])", "ns.v | length"),
        ),
        ("list * 2", doubled("[1]", "ns.v * 2", "ns.v | length")),
        (
            "recursive macro on a list",
            format!(
                "{{% macro d(l, n) %}}{{% if n > 0 %}}{{{{ d(l + l, n - 1) }}}}{{% else %}}\
                 {{{{ l | length }}}}{{% endif %}}{{% endmacro %}}{{{{ d([1], 40) }}}}{TURNS}"
            ),
        ),
        // Lists holding the same list twice: forty small lists whose walk
        // visits 2^40 (printing, serializing, comparing two of them).
        (
            "nested, then tojson",
            doubled("[1]", "[ns.v, ns.v]", "ns.v | tojson | length"),
        ),
        ("nested, printed", doubled("[1]", "[ns.v, ns.v]", "ns.v")),
        (
            "nested, pprint",
            doubled("[1]", "[ns.v, ns.v]", "ns.v | pprint | length"),
        ),
        (
            "nested, compared",
            "{% set ns = namespace(a=[1], b=[1]) %}{% for i in range(40) %}\
             {% set ns.a = [ns.a, ns.a] %}{% set ns.b = [ns.b, ns.b] %}{% endfor %}\
             {{ ns.a == ns.b }}"
                .to_string()
                + TURNS,
        ),
        (
            "nested maps, then tojson",
            doubled("{}", "{'a': ns.v, 'b': ns.v}", "ns.v | tojson | length"),
        ),
        // A namespace holding itself: walks that never end (unguarded, the
        // stack overflows and the process aborts or the module traps).
        (
            "cycle, printed",
            format!("{{% set ns = namespace() %}}{{% set ns.me = ns %}}{{{{ ns }}}}{TURNS}"),
        ),
        (
            "cycle, then tojson",
            format!(
                "{{% set ns = namespace() %}}{{% set ns.me = [ns] %}}{{{{ ns | tojson }}}}{TURNS}"
            ),
        ),
        (
            "two cycles, compared",
            format!(
                "{{% set a = namespace() %}}{{% set b = namespace(x=a) %}}{{% set a.x = b %}}\
                 {{{{ a == b }}}}{TURNS}"
            ),
        ),
        (
            "string ~ string",
            doubled("'x'", "ns.v ~ ns.v", "ns.v | length"),
        ),
        (
            "string * 10**9",
            format!("{{{{ ('x' * 10**9) | length }}}}{TURNS}"),
        ),
        (
            "message * 10**12",
            format!("{{{{ (messages[0].content * 10**12) | length }}}}{TURNS}"),
        ),
        (
            "range(10**9)",
            format!("{{% for i in range(10**9) %}}{{% endfor %}}{TURNS}"),
        ),
    ]
}

/// Seconds the import takes to refuse a template that spends all its fuel
/// on a plain loop: the budget a refusal is measured against.
fn seconds_to_spend_the_fuel() -> f64 {
    let started = now_seconds();
    refused(with_template(&format!(
        "{{% for i in range(100000) %}}{{% for j in range(100000) %}}{{% endfor %}}{{% endfor %}}{TURNS}"
    )));
    now_seconds() - started
}

/// Refusing a growth may take this many times the plain loop's refusal:
/// data is charged per 64 bytes, which is cheaper to make than an
/// instruction, so a working bound stays well under it; a doubling that is
/// not charged runs 2^33 steps or more (minutes to hours) or exhausts memory.
const BOUND_FACTOR: f64 = 8.0;

#[test]
fn templates_that_double_a_value_are_refused_at_import_in_bounded_time() {
    let clean = {
        let started = now_seconds();
        locus::runtime::inspect_model(&mut smollm2(|_| {}, None)).unwrap();
        now_seconds() - started
    };
    let fuel = seconds_to_spend_the_fuel();
    let bound = BOUND_FACTOR * fuel.max(clean);
    eprintln!("clean import {clean:.2} s, fuel spent in {fuel:.2} s: bound {bound:.2} s");
    for (what, template) in growing_templates() {
        let (error, seconds) = refused_within(with_template(&template), bound);
        eprintln!("{what}: refused in {seconds:.2} s");
        assert!(error.contains("unusable"), "{what}: {error}");
    }
}

/// A template that renders the import's conversations and runs away only
/// from the eighth message on: a typed `Limit` error when a chat gets there.
#[test]
fn templates_that_double_a_value_late_fail_at_render_with_a_typed_error() {
    let fuel = seconds_to_spend_the_fuel();
    let conversation: Vec<ChatMessage> = (0..8)
        .map(|i| ChatMessage {
            role: if i % 2 == 0 {
                Role::User
            } else {
                Role::Assistant
            },
            content: format!("turn {i}"),
        })
        .collect();
    for (what, template) in growing_templates() {
        let late =
            format!("{{% if messages | length > 7 %}}{template}{{% else %}}{TURNS}{{% endif %}}");
        let template = ChatTemplate::from_jinja(&late, "<s>".into(), "</s>".into())
            .unwrap_or_else(|e| panic!("{what}: refused at import: {e}"));
        let conversation = conversation.clone();
        let (error, seconds) = within(BOUND_FACTOR * fuel, move || {
            template.render(&conversation, true).unwrap_err()
        });
        eprintln!("{what}: failed at render in {seconds:.2} s");
        assert!(matches!(error, ChatError::Limit(_)), "{what}: {error}");
    }
}

/// `refused`, bounded: see [`within`].
fn refused_within(file: super::Pieces, bound: f64) -> (String, f64) {
    within(bound, move || refused(file))
}

/// Runs `work`, which must end within `bound` seconds: natively on a thread,
/// so that a hang fails the test instead of stalling the suite. (Under
/// wasm32 there is no thread to wait on: a hang stalls the runner, a runaway
/// allocation traps, and either fails it.)
fn within<T: Send + 'static>(bound: f64, work: impl FnOnce() -> T + Send + 'static) -> (T, f64) {
    let started = now_seconds();
    #[cfg(not(target_arch = "wasm32"))]
    let result = {
        let (done, finished) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = done.send(work());
        });
        finished
            .recv_timeout(std::time::Duration::from_secs_f64(bound))
            .unwrap_or_else(|e| panic!("not done within {bound:.2} s: {e}"))
    };
    #[cfg(target_arch = "wasm32")]
    let result = work();
    let seconds = now_seconds() - started;
    assert!(
        seconds < bound,
        "done after {seconds:.2} s, over {bound:.2} s"
    );
    (result, seconds)
}
