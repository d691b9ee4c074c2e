//! In the browser, generation runs on the worker's only thread: between
//! tokens and prompt chunks it hands control back to the event loop so that
//! `abort` messages (and anything else queued) are handled while a reply
//! streams.

use std::time::Duration;

use web_time::Instant;

use crate::engine::{Decode, EngineError, Sampler};

/// After a step, the event loop gets this fraction of the step's time (at
/// most [`MAX_PAUSE`]): work that needs several turns of it, such as the
/// Models tab's listing (a chain of OPFS reads), finishes within a step or
/// two instead of one turn per step, for about 2% of the step's time.
const PAUSE_FRACTION: u32 = 50;
const MAX_PAUSE: Duration = Duration::from_millis(250);

pub struct Yielding<D>(pub D);

impl<D: Decode> Decode for Yielding<D> {
    fn position(&self) -> usize {
        self.0.position()
    }

    fn capacity(&self) -> usize {
        self.0.capacity()
    }

    async fn decode(
        &mut self,
        tokens: &[u32],
        sampler: &mut Sampler,
        history: &[u32],
    ) -> Result<u32, EngineError> {
        yield_now().await;
        let started = Instant::now();
        let result = self.0.decode(tokens, sampler, history).await;
        pause((started.elapsed() / PAUSE_FRACTION).min(MAX_PAUSE)).await;
        result
    }

    fn truncate(&mut self, len: usize) {
        self.0.truncate(len);
    }

    fn prefill_chunk(&self) -> usize {
        self.0.prefill_chunk()
    }

    fn expect_at_most(&mut self, tokens: usize) {
        self.0.expect_at_most(tokens);
    }
}

/// Lets the browser's event loop run once (a zero-delay timer).
pub async fn yield_now() {
    pause(Duration::ZERO).await;
}

/// Lets the browser's event loop run for `time` (a timer).
#[cfg(target_arch = "wasm32")]
async fn pause(time: Duration) {
    use js_sys::{Function, Promise, Reflect};
    use wasm_bindgen::{JsCast, JsValue};
    let promise = Promise::new(&mut |resolve, _reject| {
        let global = js_sys::global();
        if let Ok(set_timeout) = Reflect::get(&global, &JsValue::from_str("setTimeout")) {
            if let Ok(set_timeout) = set_timeout.dyn_into::<Function>() {
                if set_timeout
                    .call2(&global, &resolve, &JsValue::from(time.as_millis() as f64))
                    .is_ok()
                {
                    return;
                }
            }
        }
        // No timers here: carry on without yielding.
        let _ = resolve.call0(&JsValue::NULL);
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}

/// Natively: returns to the executor once, so that requests joined on one
/// thread (as in tests) take turns as they do in the browser.
#[cfg(not(target_arch = "wasm32"))]
async fn pause(_: Duration) {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            std::task::Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    })
    .await
}
