//! Several greedy decode steps per submission (`fast` numerics).
//!
//! The argmax of each step writes the next token id straight into the token
//! buffer the next step's embedding reads, so a group of steps needs nothing
//! from the host: their step uniforms are staged up front (one buffer copy
//! into the step uniform before each step's compute pass), each step's token
//! is copied aside, and the group's tokens come back in one readback. While
//! one group is read, the next one (starting from the last token of the
//! first, already on the GPU) is submitted, so the GPU does not wait for the
//! host between groups.
//!
//! Behind the `Decode` trait this is a decoder that runs ahead: it hands out
//! the queued tokens one call at a time while the caller feeds back the token
//! it was given. Anything else (another token, a prompt, a truncate,
//! sampling with a temperature) forgets the queue and the group in flight;
//! the positions they wrote past the caller's are simply written again.
//! Tokens past a stop are computed and discarded.

use std::collections::VecDeque;

use super::plan::Passes;
use super::session::GpuDecoder;
use crate::engine::EngineError;
use crate::gpu::fast::fused::FastWeights;
use crate::gpu::pass::KernelPass;
use crate::gpu::step::StepUniform;
use crate::gpu::{GpuContext, GpuError};

/// Steps per submission by default.
pub const GROUP_STEPS: usize = 8;

/// Groups start at one step and double, up to `group_steps`, while each
/// step comes back within this; a group slower than this a step (a
/// software adapter: SwiftShader took 37 s a step on a loaded 2-core
/// machine) sends the decoder back to one step per submission. So every
/// token of a slow adapter reaches the caller (and its progress events the
/// router's watchdog) as soon as it is computed: a first group of eight
/// there kept the runtime silent for 8 × 37 s, past the router's 300 s
/// watchdog (CI, `model_webgpu`). A fast GPU reaches eight a group after
/// four groups.
const SLOW_STEP: web_time::Duration = web_time::Duration::from_millis(250);

/// Bytes of one staged step uniform.
const STEP_BYTES: u64 = std::mem::size_of::<StepUniform>() as u64;

/// A submitted group not read back yet.
#[derive(Debug, Clone)]
struct Group {
    /// The submission to wait for (natively: not the later group's).
    submission: wgpu::SubmissionIndex,
    slot: usize,
    /// Position of the group's first input token.
    start: usize,
    steps: usize,
}

pub struct RunAhead {
    /// Output norm, output mat-vec (and soft-cap) of one step.
    head: Passes,
    /// The argmax into word 0 of the token buffer.
    pick: KernelPass,
    /// The fused weights and the QKV buffer the plan binds.
    _weights: FastWeights,
    /// Most steps a group may have.
    group_steps: usize,
    /// Steps of the next group submitted: 1 at first, then doubled while
    /// steps come back in time (see [`SLOW_STEP`]).
    ramp: usize,
    /// Two of each, so one group can be read while the next runs.
    steps: [wgpu::Buffer; 2],
    tokens: [wgpu::Buffer; 2],
    readback: [wgpu::Buffer; 2],
    next_slot: usize,
    /// Tokens computed and not handed out yet, in order.
    queued: VecDeque<u32>,
    /// The token handed out last: the input the queue was computed for.
    last: Option<u32>,
    /// No step runs at this position or later: the caller asks for no
    /// more tokens (`Decode::expect_at_most`). On a slow adapter a group
    /// past the last token would delay the next request by its steps.
    pub(super) end: Option<usize>,
    in_flight: Option<Group>,
}

impl RunAhead {
    pub fn new(ctx: &GpuContext, head: Passes, pick: KernelPass, weights: FastWeights) -> Self {
        let buffer = |label: &str, bytes: u64, usage: wgpu::BufferUsages| {
            ctx.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size: bytes,
                usage,
                mapped_at_creation: false,
            })
        };
        let copy = wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST;
        let read = wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST;
        let max = GROUP_STEPS as u64;
        RunAhead {
            head,
            pick,
            _weights: weights,
            group_steps: GROUP_STEPS,
            ramp: 1,
            steps: [0, 1].map(|_| buffer("staged steps", max * STEP_BYTES, copy)),
            tokens: [0, 1].map(|_| buffer("group tokens", max * 4, copy)),
            readback: [0, 1].map(|_| buffer("group readback", max * 4, read)),
            next_slot: 0,
            queued: VecDeque::new(),
            last: None,
            end: None,
            in_flight: None,
        }
    }

    /// Dispatches of the head and the pick.
    pub fn head_dispatches(&self) -> usize {
        self.head
            .iter()
            .map(KernelPass::dispatch_count)
            .sum::<usize>()
            + self.pick.dispatch_count()
    }

    pub fn group_steps(&self) -> usize {
        self.group_steps
    }

    /// Drops the queue and any group in flight.
    pub fn forget(&mut self) {
        self.queued.clear();
        self.last = None;
        self.in_flight = None;
    }
}

impl GpuDecoder {
    /// Most greedy steps per submission in `fast` numerics (1: one step
    /// per submission, read back before the next; at most 8), and the size
    /// of the next group (a slow one still goes back to 1). For tests and
    /// measurements; no effect in `exact` numerics.
    pub fn set_group_steps(&mut self, steps: usize) {
        if let Some(ahead) = &mut self.ahead {
            ahead.forget();
            ahead.group_steps = steps.clamp(1, GROUP_STEPS);
            ahead.ramp = ahead.group_steps;
        }
    }

    /// One greedy step of `token` at the current position, from the queue
    /// when the queue was computed for it.
    pub(super) async fn decode_ahead(&mut self, token: u32) -> Result<u32, EngineError> {
        let position = self.position;
        let ahead = self
            .ahead
            .as_mut()
            .expect("decode_ahead runs in fast numerics");
        let continues = ahead.last == Some(token);
        if !continues {
            ahead.forget();
        }
        if continues && let Some(next) = ahead.queued.pop_front() {
            return Ok(self.hand_out(next));
        }
        let group = match ahead.in_flight.take() {
            Some(group) if continues && group.start == position => group,
            _ => {
                ahead.forget();
                self.submit_group(Some(token), position)
            }
        };
        // The next group starts from this one's last token, on the GPU.
        let frontier = group.start + group.steps;
        if frontier < self.step_limit() {
            let next = self.submit_group(None, frontier);
            self.ahead.as_mut().expect("fast numerics").in_flight = Some(next);
        }
        let waited = web_time::Instant::now();
        let steps = group.steps;
        let words = self.read_group(group).await.map_err(EngineError::Gpu)?;
        let ahead = self.ahead.as_mut().expect("fast numerics");
        // The wait is at least the group's own GPU time (the next group was
        // submitted after it).
        ahead.ramp = if waited.elapsed() > SLOW_STEP * steps as u32 {
            1
        } else {
            (steps * 2).min(ahead.group_steps)
        };
        ahead.queued.extend(words);
        let next = ahead
            .queued
            .pop_front()
            .ok_or(EngineError::Gpu(GpuError::Readback(
                "a decode group returned no tokens".into(),
            )))?;
        Ok(self.hand_out(next))
    }

    fn hand_out(&mut self, token: u32) -> u32 {
        self.position += 1;
        if let Some(ahead) = &mut self.ahead {
            ahead.last = Some(token);
        }
        token
    }

    /// Submits up to `group_steps` steps from position `start` (fewer near
    /// the capacity), the first on `token`, or on the token already in the
    /// token buffer when `None`.
    fn submit_group(&mut self, token: Option<u32>, start: usize) -> Group {
        #[cfg(not(target_arch = "wasm32"))]
        let started = std::time::Instant::now();
        let ctx = self.ctx.clone();
        let limit = self.step_limit();
        let ahead = self.ahead.as_mut().expect("fast numerics");
        let slot = ahead.next_slot;
        ahead.next_slot = 1 - slot;
        let steps = ahead.ramp.min(limit.saturating_sub(start)).max(1);
        if let Some(token) = token {
            ctx.queue
                .write_buffer(&self.acts.ids, 0, bytemuck::bytes_of(&token));
        }
        let uniforms: Vec<StepUniform> = (0..steps)
            .map(|i| StepUniform::new((start + i) as u32, 1))
            .collect();
        ctx.queue
            .write_buffer(&ahead.steps[slot], 0, bytemuck::cast_slice(&uniforms));
        let mut encoder = ctx.device.create_command_encoder(&Default::default());
        for i in 0..steps as u64 {
            encoder.copy_buffer_to_buffer(
                &ahead.steps[slot],
                i * STEP_BYTES,
                &self.step,
                0,
                STEP_BYTES,
            );
            {
                let mut pass = encoder.begin_compute_pass(&Default::default());
                self.decode.iter().for_each(|p| p.encode(&mut pass));
                ahead.head.iter().for_each(|p| p.encode(&mut pass));
                ahead.pick.encode(&mut pass);
            }
            encoder.copy_buffer_to_buffer(&self.acts.ids, 0, &ahead.tokens[slot], i * 4, 4);
        }
        encoder.copy_buffer_to_buffer(
            &ahead.tokens[slot],
            0,
            &ahead.readback[slot],
            0,
            steps as u64 * 4,
        );
        let submission = ctx.queue.submit([encoder.finish()]);
        self.steps_ahead += steps;
        #[cfg(not(target_arch = "wasm32"))]
        {
            self.recording_seconds += started.elapsed().as_secs_f64();
        }
        Group {
            submission,
            slot,
            start,
            steps,
        }
    }

    /// The position no step reaches: the capacity, or the caller's end.
    fn step_limit(&self) -> usize {
        let end = self.ahead.as_ref().and_then(|a| a.end);
        end.map_or(self.capacity, |end| end.min(self.capacity))
    }

    /// The tokens of `group`, in order. Natively this waits for the
    /// group's own submission only (`GpuContext::read_mapped` would wait for
    /// the group submitted after it too, which would undo the overlap).
    async fn read_group(&self, group: Group) -> Result<Vec<u32>, GpuError> {
        let ahead = self.ahead.as_ref().expect("fast numerics");
        let buffer = &ahead.readback[group.slot];
        let (sender, receiver) = futures_channel::oneshot::channel();
        buffer
            .slice(..)
            .map_async(wgpu::MapMode::Read, move |result| {
                // The receiver only goes away if the caller was dropped.
                let _ = sender.send(result);
            });
        #[cfg(not(target_arch = "wasm32"))]
        self.ctx
            .device
            .poll(wgpu::PollType::Wait {
                submission_index: Some(group.submission.clone()),
                timeout: None,
            })
            .map_err(|e| GpuError::Readback(e.to_string()))?;
        #[cfg(target_arch = "wasm32")]
        let _ = &group.submission;
        receiver
            .await
            .map_err(|_| GpuError::Readback("the device dropped the map request".into()))?
            .map_err(|e| GpuError::Readback(e.to_string()))?;
        let words: Vec<u32> = {
            let bytes = buffer
                .slice(..)
                .get_mapped_range()
                .map_err(|e| GpuError::Readback(e.to_string()))?;
            bytemuck::cast_slice::<u8, u32>(&bytes)[..group.steps].to_vec()
        };
        buffer.unmap();
        // A kernel the device refused, or a lost device, leaves garbage.
        self.ctx.check()?;
        Ok(words)
    }
}
