//! What the decode loop needs from a backend: run tokens, pick the next one.
//! The CPU reference and the GPU backend both implement it; the GPU one keeps
//! the logits on the device and hands back only the chosen token.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use super::{EngineError, Sampler};
use crate::cpu::{CpuDecoder, Logits};
use crate::model::KvCache;

pub trait Decode {
    /// Positions already in the KV cache.
    fn position(&self) -> usize;

    /// Positions the KV cache can hold.
    fn capacity(&self) -> usize;

    /// Runs `tokens` at the next positions and returns the token `sampler`
    /// picks after the last one; `history` is every token so far (for the
    /// repetition penalty).
    fn decode(
        &mut self,
        tokens: &[u32],
        sampler: &mut Sampler,
        history: &[u32],
    ) -> impl Future<Output = Result<u32, EngineError>>;

    /// Forgets every position from `len` on (a chat turn that shares a prefix
    /// with the previous one keeps it).
    fn truncate(&mut self, len: usize);

    /// Prompt tokens to run between two chances to report progress or stop.
    fn prefill_chunk(&self) -> usize {
        GPU_PREFILL_CHUNK
    }

    /// The caller will ask for at most `tokens` more tokens one step at a
    /// time from the current position: a decoder that computes steps ahead
    /// of the calls (the GPU's greedy groups) computes none past them.
    fn expect_at_most(&mut self, _tokens: usize) {}
}

/// Prefill chunk of the GPU decoder: one of its prefill batches.
pub const GPU_PREFILL_CHUNK: usize = 256;
/// Prefill chunk on the CPU: measured in the browser on a loaded 2-core
/// machine, 256 tokens took 94 s of WASM CPU prefill, too long to wait for
/// Stop; 64 keeps a chunk to seconds on a user's machine, and the per-chunk
/// cost (one output row's logits) stays under 1% of the chunk.
pub const CPU_PREFILL_CHUNK: usize = 64;

/// The CPU reference decoder with a KV cache.
pub struct CpuSession<'a> {
    pub decoder: &'a CpuDecoder,
    pub cache: &'a mut KvCache,
}

impl Decode for CpuSession<'_> {
    fn position(&self) -> usize {
        self.cache.len()
    }

    fn capacity(&self) -> usize {
        self.cache.capacity()
    }

    async fn decode(
        &mut self,
        tokens: &[u32],
        sampler: &mut Sampler,
        history: &[u32],
    ) -> Result<u32, EngineError> {
        let logits = self.decoder.forward(tokens, self.cache, Logits::Last)?;
        Ok(sampler.sample(&logits, history))
    }

    fn truncate(&mut self, len: usize) {
        self.cache.truncate(len);
    }

    fn prefill_chunk(&self) -> usize {
        CPU_PREFILL_CHUNK
    }
}

/// Runs a future that never waits (the CPU backend's) to completion.
pub(crate) fn run_ready<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut context = Context::from_waker(Waker::noop());
    loop {
        // The CPU path pends only to yield (natively once, waking at once).
        if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
    }
}

/// A decoder borrowed for one generation (the runtime keeps the GPU decoder,
/// and its KV cache, between requests).
impl<D: Decode> Decode for &mut D {
    fn position(&self) -> usize {
        (**self).position()
    }

    fn capacity(&self) -> usize {
        (**self).capacity()
    }

    fn decode(
        &mut self,
        tokens: &[u32],
        sampler: &mut Sampler,
        history: &[u32],
    ) -> impl Future<Output = Result<u32, EngineError>> {
        (**self).decode(tokens, sampler, history)
    }

    fn truncate(&mut self, len: usize) {
        (**self).truncate(len);
    }

    fn prefill_chunk(&self) -> usize {
        (**self).prefill_chunk()
    }

    fn expect_at_most(&mut self, tokens: usize) {
        (**self).expect_at_most(tokens);
    }
}
