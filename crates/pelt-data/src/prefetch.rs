//! Batching in worker threads, so that tokenisation never starves training.
//!
//! Workers take the next plan from the shared sampler, build its batch and send it back; the
//! loader hands batches out in step order, whatever order the workers finish in. The channel is
//! bounded, so at most `prefetch` batches wait in memory. Dropping the loader stops the workers.

use std::collections::BTreeMap;
use std::sync::mpsc::{Receiver, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crate::batch::Batch;
use crate::batch::TruncationStats;
use crate::batcher::Batcher;
use crate::error::{DataError, Result};
use crate::load_task::TaskData;
use crate::sampler::TemperatureSampler;

/// Worker settings of a [`Loader`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoaderConfig {
    /// Batching threads.
    pub workers: usize,
    /// Most batches waiting in the channel.
    pub prefetch: usize,
}

impl Default for LoaderConfig {
    fn default() -> Self {
        Self {
            workers: 2,
            prefetch: 8,
        }
    }
}

/// An iterator of training batches `sampler.step() .. end_step`, built by worker threads.
pub struct Loader {
    receiver: Option<Receiver<(u64, Result<Batch>)>>,
    pending: BTreeMap<u64, Result<Batch>>,
    next_step: u64,
    end_step: u64,
    truncation: TruncationStats,
    workers: Vec<JoinHandle<()>>,
}

impl Loader {
    /// Starts `config.workers` threads batching the sampler's plans from its current step until
    /// `end_step` (exclusive); `tasks[t]` is task `t` of the sampler.
    pub fn spawn(
        batcher: Batcher,
        tasks: Arc<Vec<TaskData>>,
        sampler: TemperatureSampler,
        end_step: u64,
        config: LoaderConfig,
    ) -> Result<Self> {
        let LoaderConfig { workers, prefetch } = config;
        if workers == 0 || prefetch == 0 {
            return Err(DataError::Config(
                "loader needs workers >= 1 and prefetch >= 1".to_owned(),
            ));
        }
        let next_step = sampler.step();
        let sampler = Arc::new(Mutex::new(sampler));
        let (sender, receiver) = sync_channel(prefetch);
        let handles = (0..workers)
            .map(|_| {
                let (batcher, tasks, sampler, sender) = (
                    batcher.clone(),
                    tasks.clone(),
                    sampler.clone(),
                    sender.clone(),
                );
                std::thread::spawn(move || {
                    loop {
                        let plan = {
                            let Ok(mut guard) = sampler.lock() else {
                                return;
                            };
                            if guard.step() >= end_step {
                                return;
                            }
                            guard.next()
                        };
                        let Some(plan) = plan else { return };
                        let batch = batcher.plan(&plan, &tasks);
                        if sender.send((plan.step, batch)).is_err() {
                            return;
                        }
                    }
                })
            })
            .collect();
        Ok(Self {
            receiver: Some(receiver),
            pending: BTreeMap::new(),
            next_step,
            end_step,
            truncation: TruncationStats::default(),
            workers: handles,
        })
    }

    /// Truncation counts over every batch handed out so far.
    pub fn truncation(&self) -> TruncationStats {
        self.truncation
    }
}

impl Iterator for Loader {
    type Item = Result<Batch>;

    fn next(&mut self) -> Option<Result<Batch>> {
        if self.next_step >= self.end_step {
            return None;
        }
        let receiver = self.receiver.as_ref()?;
        while !self.pending.contains_key(&self.next_step) {
            match receiver.recv() {
                Ok((step, batch)) => {
                    self.pending.insert(step, batch);
                }
                Err(_) => {
                    return Some(Err(DataError::Config(
                        "loader workers stopped before the last step".to_owned(),
                    )));
                }
            }
        }
        let batch = self.pending.remove(&self.next_step)?;
        self.next_step += 1;
        if let Ok(b) = &batch {
            self.truncation.add(b.truncation);
        }
        Some(batch)
    }
}

impl Drop for Loader {
    fn drop(&mut self) {
        // Closing the channel makes every blocked worker's `send` fail, so they all return.
        self.receiver.take();
        for handle in self.workers.drain(..) {
            let _ = handle.join();
        }
    }
}
