//! A GPU that is lost mid-way: the request ends with `gpu_unavailable`
//! (no panic, no hang), the model is dropped, and the next load runs on the
//! CPU. The loss is forced with `Device::destroy`, natively on lavapipe.

mod common;

use common::{MODELS, model_path};
use locus::runtime::Runtime;
use serde_json::json;

#[test]
fn a_lost_gpu_ends_the_request_and_the_next_load_uses_the_cpu() {
    let runtime = pollster::block_on(Runtime::start());
    let gpu = runtime.gpu().expect("a Vulkan adapter (lavapipe in CI)");
    let path = model_path(MODELS[0].1);
    let info = runtime
        .load_model("smollm2", &mut std::fs::File::open(&path).unwrap())
        .unwrap();
    assert_eq!(info["backend"], "webgpu");

    gpu.device.destroy();
    let request = json!({
        "type": "request", "id": "after-loss", "kind": "chat",
        "payload": {"messages": [{"role": "user", "content": "Hi"}], "maxTokens": 4}
    });
    let mut events = Vec::new();
    pollster::block_on(runtime.handle(request, &mut |event| events.push(event)));
    let last = serde_json::to_value(events.last().unwrap()).unwrap();
    assert_eq!(last["event"], "error", "{last}");
    assert_eq!(last["code"], "gpu_unavailable", "{last}");
    assert!(
        runtime.model_name().is_none(),
        "the model on the lost GPU is dropped"
    );
    assert!(runtime.gpu().is_none(), "the lost GPU is forgotten");

    let info = runtime
        .load_model("smollm2", &mut std::fs::File::open(&path).unwrap())
        .unwrap();
    assert_eq!(info["backend"], "cpu");
}
