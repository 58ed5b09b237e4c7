//! The main thread's side of a data-parallel micro-batch (docs/train.md, "Several devices"):
//! one thread per worker's job, the meeting after the forward passes, the results collected,
//! and every failure or stall named.

use std::collections::BTreeMap;
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use burn::optim::GradientsParams;

use crate::error::TrainError;
use crate::parallel::worker::{Job, Worker, next, run_job};

/// The workers of a run and how long each pass may take (`train.collective_timeout_secs`).
pub(crate) struct Meeting<'a> {
    pub(crate) workers: &'a [Worker],
    pub(crate) timeout: Duration,
}

impl Meeting<'_> {
    /// Runs `jobs`, one thread each (in its worker's thread pool on the CPU), and returns each
    /// worker's loss and gradients (on its own device) by worker index. The workers meet after
    /// their forward passes: a failure there stops every worker before its backward pass (where
    /// NCCL's all-reduces run, which would otherwise wait for the failed worker forever), and
    /// is returned once every worker has ended; a pass that not every worker ends within
    /// `timeout` is [`TrainError::Stalled`], its threads left behind. A failure in a backward
    /// pass is returned at once (under NCCL its peers may never leave the all-reduce).
    pub(crate) fn run(
        &self,
        jobs: Vec<Job>,
        smoothing: f64,
    ) -> Result<BTreeMap<usize, (f32, GradientsParams)>, TrainError> {
        let (forward_tx, forward_rx) = channel();
        let (done_tx, done_rx) = channel();
        let (ended_tx, ended_rx) = channel();
        let started: Vec<usize> = jobs.iter().map(|job| job.k).collect();
        let mut release = Vec::new();
        for job in jobs {
            let k = job.k;
            let worker = &self.workers[k];
            let (go_tx, go_rx) = channel();
            release.push(go_tx);
            let name = worker.name.clone();
            let pool = worker.pool.clone();
            let (forward_tx, done_tx, ended_tx) =
                (forward_tx.clone(), done_tx.clone(), ended_tx.clone());
            let work = move || {
                let work = move || run_job(job, smoothing, &forward_tx, &go_rx, &done_tx);
                match pool {
                    Some(pool) => pool.install(work),
                    None => work(),
                }
                // Nothing to tell when the main thread has stopped waiting: it gave up on us.
                let _ = ended_tx.send(k);
            };
            std::thread::Builder::new()
                .name(format!("pelt-worker-{k} ({name})"))
                .spawn(work)
                .map_err(|e| self.failed(k, format!("cannot start its thread: {e}")))?;
        }
        // The meeting: no worker starts its backward pass before every forward pass has ended.
        let deadline = Instant::now().checked_add(self.timeout);
        let mut out = started.clone();
        while !out.is_empty() {
            match next(&forward_rx, deadline) {
                Some((k, Ok(()))) => out.retain(|&w| w != k),
                Some((k, Err(cause))) => {
                    // The workers waiting to be released stop.
                    drop(release);
                    return Err(self.stopped(k, cause, &started, &ended_rx));
                }
                None => return Err(self.stalled(&out, "its forward pass")),
            }
        }
        for go in &release {
            // Each worker waits for this; one that is gone would show as stalled below.
            let _ = go.send(());
        }
        let deadline = Instant::now().checked_add(self.timeout);
        let mut done = BTreeMap::new();
        while done.len() < started.len() {
            match next(&done_rx, deadline) {
                Some((k, Ok(result))) => {
                    done.insert(k, result);
                }
                Some((k, Err(cause))) => return Err(self.failed(k, cause)),
                None => {
                    let out: Vec<usize> = (started.iter().copied())
                        .filter(|k| !done.contains_key(k))
                        .collect();
                    return Err(self.stalled(&out, "its backward pass and all-reduce"));
                }
            }
        }
        Ok(done)
    }

    /// Worker `k`'s failure, named.
    fn failed(&self, k: usize, message: String) -> TrainError {
        TrainError::Worker {
            worker: k,
            device: self.workers[k].name.clone(),
            message,
        }
    }

    /// Worker `k`'s failure (`cause`) at the meeting, once every worker of `started` has ended
    /// (they stop where the workers meet); workers still running after the timeout, which would
    /// be past the meeting, are named in it and left behind.
    fn stopped(
        &self,
        k: usize,
        cause: String,
        started: &[usize],
        ended: &Receiver<usize>,
    ) -> TrainError {
        let deadline = Instant::now().checked_add(self.timeout);
        let mut running = started.to_vec();
        while let Some(w) = next(ended, deadline) {
            running.retain(|&r| r != w);
            if running.is_empty() {
                return self.failed(k, cause);
            }
        }
        let names: Vec<String> = (running.iter())
            .map(|&r| format!("worker {r} on `{}`", self.workers[r].name))
            .collect();
        self.failed(
            k,
            format!(
                "{cause}; {} still running {} s later, left behind",
                names.join(", "),
                self.timeout.as_secs()
            ),
        )
    }

    /// The error of workers `out` that did not end `pass` in time.
    fn stalled(&self, out: &[usize], pass: &'static str) -> TrainError {
        TrainError::Stalled {
            workers: out
                .iter()
                .map(|&k| (k, self.workers[k].name.clone()))
                .collect(),
            pass,
            seconds: self.timeout.as_secs(),
        }
    }
}
