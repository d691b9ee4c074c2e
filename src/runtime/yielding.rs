//! In the browser, generation runs on the worker's only thread: between
//! tokens it hands control back to the event loop so that `abort` messages
//! (and anything else queued) are handled while a reply streams.

use crate::engine::{Decode, EngineError, Sampler};

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
        self.0.decode(tokens, sampler, history).await
    }

    fn truncate(&mut self, len: usize) {
        self.0.truncate(len);
    }

    fn prefill_chunk(&self) -> usize {
        self.0.prefill_chunk()
    }
}

/// Lets the browser's event loop run once (a zero-delay timer).
#[cfg(target_arch = "wasm32")]
pub async fn yield_now() {
    use js_sys::{Function, Promise, Reflect};
    use wasm_bindgen::{JsCast, JsValue};
    let promise = Promise::new(&mut |resolve, _reject| {
        let global = js_sys::global();
        if let Ok(set_timeout) = Reflect::get(&global, &JsValue::from_str("setTimeout")) {
            if let Ok(set_timeout) = set_timeout.dyn_into::<Function>() {
                if set_timeout
                    .call2(&global, &resolve, &JsValue::from(0))
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
pub async fn yield_now() {
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
