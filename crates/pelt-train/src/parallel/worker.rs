//! One data-parallel worker's side of a micro-batch (docs/train.md, "Several devices"): its
//! forward pass, the meeting with its peers, its backward pass, and what it reports.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender};
use std::time::{Duration, Instant};

use burn::optim::GradientsParams;
use burn::prelude::*;
use pelt_hyper::{PeltInput, PeltModel};

use crate::error::TrainError;
use crate::parallel::fault;

/// One worker: a device and, on the CPU, its own thread pool (the CPU's threads are shared out
/// between the CPU workers).
pub(crate) struct Worker {
    /// The name it was given in `train.devices`.
    pub(crate) name: String,
    /// Its autodiff device.
    pub(crate) device: Device,
    /// Its device's entry in `DataParallel`'s secondary devices; `None` on the main device.
    pub(crate) copy: Option<usize>,
    pub(crate) pool: Option<Arc<rayon::ThreadPool>>,
}

/// One worker's part of a micro-batch.
pub(crate) struct Job {
    /// The worker's index in `train.devices`.
    pub(crate) k: usize,
    pub(crate) replica: PeltModel,
    pub(crate) input: PeltInput,
    /// `[rows, tgt]`.
    pub(crate) labels: Tensor<2, Int>,
    /// Its share of the batch's scored target tokens.
    pub(crate) share: f64,
    /// The step's micro-batches.
    pub(crate) divisor: usize,
}

/// What a worker reports at the end of a pass: its index, and its result or why it failed.
pub(crate) type Report<T> = (usize, Result<T, String>);

/// Worker `k`'s part of a micro-batch, in its thread: the forward pass, reported on `forward`;
/// then, once `go` says every worker's forward pass succeeded, the backward pass, reported on
/// `done`. A failure or panic is reported as its cause.
pub(crate) fn run_job(
    job: Job,
    smoothing: f64,
    forward: &Sender<Report<()>>,
    go: &Receiver<()>,
    done: &Sender<Report<(f32, GradientsParams)>>,
) {
    let Job {
        k,
        replica,
        input,
        labels,
        share,
        divisor,
    } = job;
    let passed = catch_unwind(AssertUnwindSafe(|| -> Result<_, String> {
        let loss = replica
            .loss(input, labels, smoothing)
            .map_err(|e| e.to_string())?
            * share
            / divisor as f64;
        let value: f32 = loss.clone().into_scalar();
        fault::after_forward(k)?;
        Ok((loss, value))
    }))
    .unwrap_or_else(|panic| Err(panic_message(panic.as_ref())));
    // Sends fail only when the main thread has stopped waiting (a peer failed or stalled):
    // there is nothing left to tell it.
    let (loss, value) = match passed {
        Ok(passed) => {
            let _ = forward.send((k, Ok(())));
            passed
        }
        Err(cause) => {
            let _ = forward.send((k, Err(cause)));
            return;
        }
    };
    if go.recv().is_err() {
        // A peer failed: no backward pass, no all-reduce to wait in.
        return;
    }
    let result = catch_unwind(AssertUnwindSafe(|| {
        fault::in_backward(k);
        (
            value,
            GradientsParams::from_grads(loss.backward(), &replica),
        )
    }))
    .map_err(|panic| panic_message(panic.as_ref()));
    let _ = done.send((k, result));
}

/// The next message of `rx`, waiting until `deadline` at most (`None`: no limit); `None` when
/// the deadline passed first or every sender is gone.
pub(crate) fn next<T>(rx: &Receiver<T>, deadline: Option<Instant>) -> Option<T> {
    let wait = deadline.map_or(Duration::MAX, |d| {
        d.saturating_duration_since(Instant::now())
    });
    rx.recv_timeout(wait).ok()
}

/// The error of worker `k` (named `name`) that panicked: out of memory, a lost device.
pub(crate) fn worker_failed(name: &str, k: usize, panic: &(dyn Any + Send)) -> TrainError {
    TrainError::Worker {
        worker: k,
        device: name.to_string(),
        message: panic_message(panic),
    }
}

/// What a panic said.
pub(crate) fn panic_message(panic: &(dyn Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "no message".into())
}
