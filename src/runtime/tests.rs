//! The runtime answering interleaved requests, as the browser's worker
//! interleaves them: each request's future is polled in turn on one thread
//! (natively `yield_now` returns to the executor once, as a timer would).

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Waker};

use serde_json::{Value, json};

use super::Runtime;
use crate::protocol::{Event, EventBody};

/// A CPU runtime with SmolLM2 loaded (the runtime's tests share it).
pub(super) fn smollm2_runtime() -> Runtime {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("models/SmolLM2-135M-Instruct.Q4_1.gguf");
    let mut file = std::fs::File::open(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run `cargo xtask models`)", path.display()));
    let runtime = Runtime::on_cpu("test");
    runtime.load_model("smollm2", &mut file).unwrap();
    runtime
}

/// Polls every future in turn until all are done.
fn run_all(mut futures: Vec<Pin<Box<dyn Future<Output = ()> + '_>>>) {
    let mut context = Context::from_waker(Waker::noop());
    let mut done = vec![false; futures.len()];
    while done.iter().any(|d| !d) {
        for (future, done) in futures.iter_mut().zip(&mut done) {
            if !*done {
                *done = future.as_mut().poll(&mut context).is_ready();
            }
        }
    }
}

fn chat(id: &str, text: &str, max_tokens: usize) -> Value {
    json!({
        "type": "request", "id": id, "kind": "chat",
        "payload": { "messages": [{ "role": "user", "content": text }], "maxTokens": max_tokens },
    })
}

/// Events as (id, kind, detail) for assertions.
fn summary(event: &Event) -> (String, &'static str, String) {
    let (kind, detail) = match &event.body {
        EventBody::Progress { stage, .. } => ("progress", stage.clone()),
        EventBody::Token { text, .. } => ("token", text.clone()),
        EventBody::Done { result } => ("done", result.to_string()),
        EventBody::Error { code, .. } => ("error", code.as_str().to_string()),
    };
    (event.id.to_string(), kind, detail)
}

#[test]
fn a_duplicate_id_is_refused_while_the_first_copy_runs_and_finishes_once() {
    let runtime = smollm2_runtime();
    let events = RefCell::new(Vec::new());
    let record = |event: Event| events.borrow_mut().push(summary(&event));
    let (mut first, mut second) = (record, record);
    run_all(vec![
        Box::pin(runtime.handle(chat("same", "Name a colour.", 6), &mut first)),
        Box::pin(runtime.handle(chat("same", "Name a colour.", 6), &mut second)),
    ]);
    let events = events.into_inner();
    let finals: Vec<_> = events
        .iter()
        .filter(|(_, kind, _)| matches!(*kind, "done" | "error"))
        .collect();
    assert_eq!(finals.len(), 2, "{events:?}");
    assert!(
        finals
            .iter()
            .any(|(_, kind, code)| *kind == "error" && code == "bad_message"),
        "{events:?}"
    );
    assert_eq!(
        finals.iter().filter(|(_, kind, _)| *kind == "done").count(),
        1
    );
    // Once the first copy has finished, the id may be used again.
    let mut again = Vec::new();
    crate::engine::run_ready(runtime.handle(chat("same", "Hi", 2), &mut |event: Event| {
        again.push(summary(&event))
    }));
    assert_eq!(again.last().unwrap().1, "done", "{again:?}");
}

#[test]
fn an_abort_during_a_long_prompt_ends_it_within_one_chunk() {
    let runtime = smollm2_runtime();
    let long = "The river rises in the hills and runs to the sea. ".repeat(60);
    let events = RefCell::new(Vec::new());
    let mut on_event = |event: Event| events.borrow_mut().push(summary(&event));
    let abort = json!({ "type": "abort", "id": "long" });
    let mut aborter = |_: Event| {};
    let runtime = &runtime;
    let events_ref = &events;
    run_all(vec![
        Box::pin(runtime.handle(chat("long", &long, 8), &mut on_event)),
        Box::pin(async move {
            // Abort once the first chunk has been read.
            while !events_ref
                .borrow()
                .iter()
                .any(|(_, kind, stage)| *kind == "progress" && stage == "prefill")
            {
                super::yielding::yield_now().await;
            }
            runtime.handle(abort, &mut aborter).await;
        }),
    ]);
    let events = events.into_inner();
    let prefill = events
        .iter()
        .filter(|(_, kind, stage)| *kind == "progress" && stage == "prefill")
        .count();
    assert_eq!(prefill, 1, "stopped after the first chunk: {events:?}");
    assert_eq!(events.last().unwrap().1, "error");
    assert_eq!(events.last().unwrap().2, "aborted");
    assert!(!events.iter().any(|(_, kind, _)| *kind == "token"));
    // No chunk started after the abort: the kept session's cache holds the
    // first chunk and the second, which was running when the abort came
    // (the events alone look the same when the whole prompt runs: 751).
    let held = runtime.chat.borrow().as_ref().map(|session| session.held());
    assert_eq!(
        held,
        Some(2 * crate::engine::CPU_PREFILL_CHUNK),
        "{events:?}"
    );
}

/// Makes the loaded model's slot behave as a GPU one (one KV cache for every
/// request), so that the invalidation logic runs on the CPU engine.
fn as_if_the_cache_were_shared(runtime: &Runtime) {
    let slot = runtime.model.borrow_mut().take().unwrap();
    let slot = std::rc::Rc::try_unwrap(slot).ok().unwrap();
    *runtime.model.borrow_mut() = Some(std::rc::Rc::new(super::ModelSlot {
        shared_cache: true,
        ..slot
    }));
}

#[test]
fn a_summary_arriving_during_a_chat_reply_leaves_the_next_turn_nothing_stale() {
    let runtime = smollm2_runtime();
    as_if_the_cache_were_shared(&runtime);
    let events = RefCell::new(Vec::new());
    let record = |event: Event| events.borrow_mut().push(summary(&event));
    let (mut chat_events, mut summary_events) = (record, record);
    let turn1 = json!([{ "role": "user", "content": "Name a colour." }]);
    let summarize = json!({
        "type": "request", "id": "sum", "kind": "summarize",
        "payload": { "text": "The museum reopened after a long renovation of its east wing.", "type": "headline", "length": "short" },
    });
    let runtime = &runtime;
    run_all(vec![
        Box::pin(runtime.handle(
            json!({ "type": "request", "id": "turn1", "kind": "chat", "payload": { "messages": turn1, "maxTokens": 8 } }),
            &mut chat_events,
        )),
        Box::pin(runtime.handle(summarize, &mut summary_events)),
    ]);
    let events = events.into_inner();
    let position = |id: &str, kind: &str| events.iter().position(|(i, k, _)| i == id && k == &kind);
    // The summary arrived while the reply was being written, and ran after it.
    assert!(
        position("sum", "progress") < position("turn1", "token"),
        "{events:?}"
    );
    let reply = events
        .iter()
        .find(|(id, kind, _)| id == "turn1" && *kind == "done")
        .map(|(_, _, result)| serde_json::from_str::<Value>(result).unwrap())
        .unwrap();
    assert_eq!(
        events
            .iter()
            .filter(|(i, k, _)| i == "sum" && *k == "done")
            .count(),
        1
    );

    let turn2 = json!([
        { "role": "user", "content": "Name a colour." },
        { "role": "assistant", "content": reply["text"] },
        { "role": "user", "content": "And a fruit?" },
    ]);
    let mut done = None;
    crate::engine::run_ready(runtime.handle(
        json!({ "type": "request", "id": "turn2", "kind": "chat", "payload": { "messages": turn2, "maxTokens": 4 } }),
        &mut |event: Event| {
            if let EventBody::Done { result } = event.body {
                done = Some(result);
            }
        },
    ));
    assert_eq!(
        done.unwrap()["reusedTokens"],
        0,
        "no stale KV entries reused"
    );
}

#[test]
fn a_summary_streams_its_unit_in_progress_token_by_token_and_clears_it_at_the_end() {
    let runtime = smollm2_runtime();
    let events = RefCell::new(Vec::new());
    let mut record = |event: Event| events.borrow_mut().push(event.body);
    let text = "The city council approved a new tram line on Monday. It will link the \
                station with the university and the hospital, and cost 400 million euros. \
                Construction starts next spring and should take three years.";
    let request = json!({
        "type": "request", "id": "sum", "kind": "summarize",
        "payload": { "text": text, "type": "key-points", "length": "short", "format": "markdown" },
    });
    pollster::block_on(runtime.handle(request, &mut record));
    let events = events.into_inner();
    let (mut committed, mut drafts, mut last_draft) = (String::new(), 0, String::new());
    for body in &events {
        if let EventBody::Token { text, draft } = body {
            committed.push_str(text);
            if let Some(draft) = draft {
                drafts += 1;
                last_draft.clone_from(draft);
            }
        }
    }
    let Some(EventBody::Done { result }) = events.last() else {
        panic!("no done event: {events:?}");
    };
    assert_eq!(
        result["text"], committed,
        "drafts are never part of the text"
    );
    let bullets = committed.lines().count();
    assert!(
        drafts > 2 * bullets,
        "{drafts} drafts for {bullets} bullets: the units should stream token by token"
    );
    assert_eq!(last_draft, "", "the finished answer leaves no draft");
}
