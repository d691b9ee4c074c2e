//! Progress of a model's load onto the GPU, as the device does the work.
//!
//! On WebGPU the load call returns quickly: the weights' uploads and the
//! kernels' pipelines are only queued, and a software adapter (SwiftShader)
//! or a slow GPU then works through them for minutes in the browser's GPU
//! process, out of sight. Each uploaded tensor and each created pipeline is
//! therefore followed by a fence (`on_submitted_work_done`); fences finish
//! in order, so awaiting them one by one reports the device's progress, not
//! the queueing's.

use std::cell::RefCell;
use std::rc::Rc;

use futures_channel::oneshot;
use serde::Serialize;

/// What a load has done so far. `done` and `total` count steps: one per
/// weight tensor uploaded and one per kernel pipeline compiled.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct LoadProgress {
    /// The kind of step that just finished.
    pub phase: LoadPhase,
    pub done: u64,
    pub total: u64,
    /// Weights and kernels count half each (rounded down): which half takes
    /// the time depends on the adapter. On SwiftShader the 210 tensors of
    /// SmolLM2 reached the device within a second and its 18 new pipelines
    /// took 24 s; on a real GPU the upload is the longer part.
    pub percent: u8,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LoadPhase {
    /// A weight tensor reached the device.
    Weights = 0,
    /// A kernel's pipeline was compiled.
    Kernels = 1,
}

/// Where progress goes (in the browser, a JavaScript function).
pub type ProgressSink = Rc<dyn Fn(LoadProgress)>;

/// A queued step: its kind, and the fence that says the device is through it.
type Step = (LoadPhase, oneshot::Receiver<()>);

/// The steps of one load, in the order they were queued.
#[derive(Clone, Default)]
pub(super) struct LoadSteps(Rc<RefCell<Vec<Step>>>);

impl LoadSteps {
    /// A step was queued on `queue` (a tensor's upload, a pipeline's
    /// creation): it is done once the device has got through it.
    pub fn queued(&self, queue: &wgpu::Queue, phase: LoadPhase) {
        let (sender, receiver) = oneshot::channel();
        queue.on_submitted_work_done(move || {
            let _ = sender.send(());
        });
        self.0.borrow_mut().push((phase, receiver));
    }

    /// Waits for each step in turn and tells `sink` whenever the percentage
    /// done grows (at most 101 calls, the last at 100 %).
    pub async fn report(self, sink: ProgressSink) {
        let steps = std::mem::take(&mut *self.0.borrow_mut());
        let total = steps.len() as u64;
        let count = |phase| steps.iter().filter(|(p, _)| *p == phase).count() as u64;
        let totals = [count(LoadPhase::Weights), count(LoadPhase::Kernels)];
        let mut done_of = [0u64; 2];
        let mut reported = None;
        for (index, (phase, done)) in steps.into_iter().enumerate() {
            // A lost device drops its callbacks: the step will never finish,
            // and nothing is left to report.
            if done.await.is_err() {
                return;
            }
            done_of[phase as usize] += 1;
            let done = index as u64 + 1;
            let percent = percent(done_of, totals);
            if reported < Some(percent) {
                reported = Some(percent);
                sink(LoadProgress {
                    phase,
                    done,
                    total,
                    percent,
                });
            }
        }
    }
}

/// Half for each phase that has steps, all for the only one that has.
fn percent(done: [u64; 2], totals: [u64; 2]) -> u8 {
    let phases = totals.iter().filter(|&&t| t > 0).count() as u64;
    let tenths: u64 = done
        .iter()
        .zip(totals)
        .filter(|(_, total)| *total > 0)
        .map(|(done, total)| done * 1000 / total)
        .sum();
    (tenths / phases.max(1) / 10) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_reported_in_order_as_percentages_that_only_grow() {
        let steps = LoadSteps::default();
        let mut senders = Vec::new();
        for phase in [LoadPhase::Weights, LoadPhase::Weights, LoadPhase::Kernels] {
            let (sender, receiver) = oneshot::channel();
            steps.0.borrow_mut().push((phase, receiver));
            senders.push(sender);
        }
        for sender in senders {
            sender.send(()).unwrap();
        }
        let seen = Rc::new(RefCell::new(Vec::new()));
        let sink = seen.clone();
        pollster::block_on(steps.report(Rc::new(move |p| sink.borrow_mut().push(p))));
        let seen = seen.borrow();
        let percents: Vec<u8> = seen.iter().map(|p| p.percent).collect();
        // Two weight steps make the first half, one kernel the second.
        assert_eq!(percents, [25, 50, 100]);
        assert_eq!(
            (seen[2].done, seen[2].total, seen[2].phase),
            (3, 3, LoadPhase::Kernels)
        );
    }

    #[test]
    fn each_phase_counts_half_unless_it_is_the_only_one() {
        assert_eq!(percent([105, 0], [210, 18]), 25);
        assert_eq!(percent([210, 9], [210, 18]), 75);
        assert_eq!(percent([210, 18], [210, 18]), 100);
        assert_eq!(percent([21, 0], [210, 0]), 10);
        assert_eq!(percent([0, 0], [0, 0]), 0);
    }

    #[test]
    fn a_step_the_device_dropped_ends_the_report() {
        let steps = LoadSteps::default();
        let (sender, receiver) = oneshot::channel::<()>();
        steps.0.borrow_mut().push((LoadPhase::Weights, receiver));
        drop(sender);
        let seen = Rc::new(RefCell::new(0));
        let sink = seen.clone();
        pollster::block_on(steps.report(Rc::new(move |_| *sink.borrow_mut() += 1)));
        assert_eq!(*seen.borrow(), 0);
    }
}
