//! Data-parallel training over the workers of `train.devices` (docs/train.md, "Several
//! devices"), on Burn's multi-device pieces: every micro-batch is split by rows, and each worker
//! computes its rows' loss and gradients on its own device in its own thread. The workers meet
//! after their forward passes: if any failed, none starts its backward pass, and the run stops
//! with the failure, named; a pass that does not end within `train.collective_timeout_secs`
//! stops it too. With `train.transport: "gather"`, `GradientsParams::to_device` brings the
//! gradients to the main device and `GradientsAccumulator` sums them; with `"nccl"` (one worker
//! per CUDA device), Burn's own engine combines them: the replicas' trainable parameters are
//! marked distributed and NCCL all-reduces their gradients inside each worker's backward pass
//! (`DistributedContext`, started after every device has computed a micro-batch, and used only
//! for micro-batch shapes every device has computed once on `gather`). One optimiser step on
//! the main model follows (`run/train_loop.rs`); its new trainable values go to the other
//! devices once, at the next step's first micro-batch, and leave them after the step's last:
//! between steps the other devices hold only the frozen tensors.

use std::collections::HashSet;
use std::ops::Range;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::Duration;

use burn::optim::{GradientsAccumulator, GradientsParams};
use burn::prelude::*;
use burn::tensor::container::TensorContainer;
use burn::tensor::distributed::{DistributedConfig, DistributedContext, ReduceOperation};
use pelt_hyper::{PeltInput, PeltModel};
use pelt_t5::IGNORE_INDEX;

use crate::error::TrainError;
use crate::parallel::meeting::Meeting;
use crate::parallel::param_maps::{Leaves, Placeholders, Replace, Trainable, TrainableCount};
use crate::parallel::transport::Transport;
use crate::parallel::worker::{Job, Worker, worker_failed};
use crate::resolve::backend::on_cpu;
use crate::resolve::train_config::TrainConfig;

/// Which micro-batch of an optimiser step a [`DataParallel::gradients`] call computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MicroBatch {
    /// Its index in the step, from 0. The first of a step sends the model's trainable values to
    /// the other devices; the others reuse them (the model changes only between steps), and
    /// the last (`count - 1`) drops them there.
    pub index: usize,
    /// The step's micro-batches (`train.grad_accumulation`); the loss is divided by it.
    pub count: usize,
}

/// How one micro-batch's gradients are combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Combine {
    /// Every worker's gradients moved to the main device and summed there, in worker order.
    Gather,
    /// Burn's engine all-reduces them inside the backward passes: the first worker's, on the
    /// main device ([`DataParallel::new`]), are the sum.
    AllReduce,
}

/// The workers of a run and the model's copies on the devices other than the main one.
pub struct DataParallel {
    /// The autodiff device of the main model (optimiser state, evaluation, checkpoints).
    main: Device,
    workers: Vec<Worker>,
    /// The devices other than the main one, each with its first worker (named in errors).
    secondary: Vec<(Device, usize)>,
    /// Per device of `secondary`: the model there, its frozen tensors moved once; during an
    /// optimiser step its trainable values are the step's (put in at the step's first
    /// micro-batch), between steps one-element placeholders (put in after the step's last).
    /// Empty until the first micro-batch.
    copies: Vec<PeltModel>,
    transport: Transport,
    /// Micro-batch shapes every device has computed once on `gather` (see [`shape`]); under
    /// `nccl`, only these are all-reduced, so that no kernel is tuned for a new shape while a
    /// peer waits in a collective.
    warm: HashSet<Vec<usize>>,
    /// Burn's engine under `nccl`, once every device has computed a micro-batch; alive for the
    /// rest of the run.
    distributed: Option<DistributedContext>,
    /// `train.collective_timeout_secs`.
    timeout: Duration,
}

impl DataParallel {
    /// The workers of `train.devices` (checked with `train.transport`) for a model on the
    /// autodiff device `main`, which must be [`TrainConfig::main_device`]'s. With no list, the
    /// workers of a run that names none: two on the CPU when it has at least two threads, each
    /// with half of them (faster than one worker with all of them: docs/benchmarks.md,
    /// "Data-parallel workers on the CPU"); else one on `main`. One worker on the main device
    /// computes as a single-device run always did; the CPU's threads (`rayon`'s global pool)
    /// are split evenly between the workers on the CPU, at least one each.
    pub fn new(train: &TrainConfig, main: &Device) -> Result<Self, TrainError> {
        train.transport.check(&train.devices)?;
        let devices = match train.devices.first() {
            None => {
                let workers = if on_cpu(main) && rayon::current_num_threads() >= 2 {
                    2
                } else {
                    1
                };
                vec![("the run's device".to_string(), main.clone().inner()); workers]
            }
            Some(first) => {
                if first.device()? != *main {
                    return Err(TrainError::Config(format!(
                        "train.devices: the model is not on `{first}`, the first device of the \
                         list, which holds it (TrainConfig::main_device)"
                    )));
                }
                train
                    .devices
                    .iter()
                    .map(|spec| Ok((spec.to_string(), spec.device()?)))
                    .collect::<Result<Vec<_>, TrainError>>()?
            }
        };
        let cpu_workers = devices.iter().filter(|(_, device)| on_cpu(device)).count();
        let threads = (rayon::current_num_threads() / cpu_workers.max(1)).max(1);
        let several = devices.len() > 1;
        let mut secondary: Vec<(Device, usize)> = Vec::new();
        let mut workers = Vec::new();
        for (k, (name, device)) in devices.into_iter().enumerate() {
            let pool = if several && on_cpu(&device) {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .map_err(|e| TrainError::Worker {
                        worker: k,
                        device: name.clone(),
                        message: format!("thread pool: {e}"),
                    })?;
                Some(Arc::new(pool))
            } else {
                None
            };
            let device = device.autodiff();
            let copy = if device == *main {
                None
            } else if let Some(i) = secondary.iter().position(|(d, _)| *d == device) {
                Some(i)
            } else {
                secondary.push((device.clone(), k));
                Some(secondary.len() - 1)
            };
            workers.push(Worker {
                name,
                device,
                copy,
                pool,
            });
        }
        Ok(Self {
            main: main.clone(),
            workers,
            secondary,
            copies: Vec::new(),
            transport: train.transport,
            warm: HashSet::new(),
            distributed: None,
            timeout: Duration::from_secs(train.collective_timeout_secs),
        })
    }

    /// The loss of one micro-batch (`input` of `batch` rows, `labels: [batch, tgt]` with
    /// [`IGNORE_INDEX`] on padding), divided by `micro.count`, and its gradients on the main
    /// device. With several workers, worker k's mean loss is weighted by its share of the
    /// batch's scored target tokens before its backward pass, so that loss and gradients are
    /// those of the whole batch's token mean (the mean the single-device loss takes), however
    /// unevenly the rows split.
    pub fn gradients(
        &mut self,
        model: &PeltModel,
        input: PeltInput,
        labels: Tensor<2, Int>,
        smoothing: f64,
        micro: MicroBatch,
    ) -> Result<(f32, GradientsParams), TrainError> {
        if let [worker] = self.workers.as_slice()
            && worker.device == self.main
        {
            let loss = model.loss(input, labels, smoothing)? / micro.count as f64;
            let value: f32 = loss.clone().into_scalar();
            return Ok((value, GradientsParams::from_grads(loss.backward(), model)));
        }
        let [rows, _] = labels.dims();
        let tokens: Vec<i64> = labels
            .clone()
            .not_equal_elem(IGNORE_INDEX)
            .int()
            .sum_dim(1)
            .into_data()
            .convert::<i64>()
            .try_into_vec::<i64>()
            .map_err(|e| TrainError::Readback {
                what: "label counts",
                reason: format!("{e:?}"),
            })?;
        let total = tokens.iter().sum::<i64>().max(1) as f64;
        let ranges = split_rows(rows, self.workers.len());
        if self.transport == Transport::Nccl && ranges.iter().any(Range::is_empty) {
            // Every device's backward pass takes part in every all-reduce.
            return Err(TrainError::Config(format!(
                "train.transport `nccl`: a micro-batch of {rows} rows for {} devices; \
                 every device needs at least one row",
                self.workers.len()
            )));
        }
        if micro.index == 0 || self.copies.len() < self.secondary.len() {
            self.send_trainable(model)?;
        }
        let combine = self.combine(shape(&input, &labels, &ranges))?;
        let mut jobs = Vec::new();
        for (k, range) in ranges.into_iter().enumerate() {
            if range.is_empty() {
                continue;
            }
            let device = self.workers[k].device.clone();
            let share = tokens[range.clone()].iter().sum::<i64>() as f64 / total;
            jobs.push(Job {
                k,
                replica: self.replica(model, k, combine)?,
                input: input.rows(range.clone(), &device),
                labels: labels.clone().slice(range).to_device(&device),
                share,
                divisor: micro.count,
            });
        }
        let meeting = Meeting {
            workers: &self.workers,
            timeout: self.timeout,
        };
        let mut done = meeting.run(jobs, smoothing)?;
        if micro.index + 1 == micro.count {
            self.drop_trainable();
        }
        let value = done.values().fold(0.0, |sum, (loss, _)| sum + loss);
        match combine {
            Combine::Gather => {
                // One worker's gradients reach the main device at a time, in worker order.
                let mut accumulator = GradientsAccumulator::<PeltModel>::new();
                for (_, grads) in done.into_values() {
                    accumulator.accumulate(model, grads.to_device(&self.main, model));
                }
                Ok((value, accumulator.grads()))
            }
            // Every worker has rows under `nccl` (checked above), the first one included.
            Combine::AllReduce => {
                done.remove(&0)
                    .map(|(_, grads)| (value, grads))
                    .ok_or_else(|| {
                        TrainError::Config(
                            "train.transport `nccl`: the first worker had no rows".into(),
                        )
                    })
            }
        }
    }

    /// Sends the model's trainable values to every device other than the main one, replacing
    /// the previous step's there: the whole model the first time (its frozen tensors stay on
    /// the device for the run). Fails with a worker's name when its device cannot take them.
    fn send_trainable(&mut self, model: &PeltModel) -> Result<(), TrainError> {
        let mut previous = std::mem::take(&mut self.copies).into_iter();
        for (device, k) in &self.secondary {
            let old = previous.next();
            let copy = catch_unwind(AssertUnwindSafe(|| match old {
                None => model.clone().fork(device),
                Some(copy) => {
                    let mut trainable = Trainable {
                        device,
                        values: TensorContainer::new(),
                    };
                    model.visit(&mut trainable);
                    copy.map(&mut Replace {
                        values: &trainable.values,
                    })
                }
            }));
            let copy =
                copy.map_err(|panic| worker_failed(&self.workers[*k].name, *k, panic.as_ref()))?;
            self.copies.push(copy);
        }
        Ok(())
    }

    /// Replaces the trainable values of every other device's copy by one-element placeholders
    /// (no longer trainable), so that between optimiser steps those devices hold only the
    /// frozen tensors; the next step's first micro-batch puts the new values in by id
    /// ([`Replace`]) before any worker computes.
    fn drop_trainable(&mut self) {
        self.copies = std::mem::take(&mut self.copies)
            .into_iter()
            .map(|copy| copy.map(&mut Placeholders))
            .collect();
    }

    /// The trainable values (parameter elements) the devices other than the main one hold now:
    /// the model's trainable count per other device during an optimiser step, 0 between steps
    /// (docs/train.md, "Several devices", memory per device).
    pub fn trainable_held_elsewhere(&self) -> usize {
        self.copies
            .iter()
            .map(|copy| {
                let mut count = TrainableCount(0);
                copy.visit(&mut count);
                count.0
            })
            .sum()
    }

    /// How this micro-batch's gradients are combined: on `gather` always; under `nccl`, by the
    /// all-reduce once every device has computed a micro-batch of this `shape` on `gather`
    /// (which tunes its kernels with no collective pending), Burn's engine being started the
    /// first time (docs/train.md, "Several devices").
    fn combine(&mut self, shape: Vec<usize>) -> Result<Combine, TrainError> {
        if self.transport == Transport::Gather || self.warm.insert(shape) {
            return Ok(Combine::Gather);
        }
        if self.distributed.is_none() {
            let inner: Vec<Device> = self
                .workers
                .iter()
                .map(|w| w.device.clone().inner())
                .collect();
            let config = DistributedConfig {
                // Each worker's loss is pre-weighted by its share of the batch: the sum is the
                // whole batch's mean, as `Gather` computes it.
                all_reduce_op: ReduceOperation::Sum,
            };
            let context = catch_unwind(|| DistributedContext::init(inner, config));
            let names: Vec<&str> = self.workers.iter().map(|w| w.name.as_str()).collect();
            self.distributed =
                Some(context.map_err(|panic| worker_failed(&names.join(","), 0, panic.as_ref()))?);
        }
        Ok(Combine::AllReduce)
    }

    /// Worker `k`'s replica of `model`: its device's copy (the main model itself on the main
    /// device) with every trainable parameter a fresh autodiff leaf of the same value, marked
    /// for Burn's all-reduce under [`Combine::AllReduce`]; its own, so that two workers' graphs
    /// never share a node. Fails with the worker's name when its device cannot take it.
    fn replica(
        &self,
        model: &PeltModel,
        k: usize,
        combine: Combine,
    ) -> Result<PeltModel, TrainError> {
        let base = match self.workers[k].copy {
            None => model.clone(),
            Some(i) => self.copies[i].clone(),
        };
        let replica = catch_unwind(AssertUnwindSafe(|| {
            base.map(&mut Leaves {
                distributed: combine == Combine::AllReduce,
            })
        }));
        replica.map_err(|panic| worker_failed(&self.workers[k].name, k, panic.as_ref()))
    }
}

/// What makes kernels differ between micro-batches: the shapes of the token ids, labels and
/// image features, and per worker its rows and whether they share one task (the hypernetwork
/// then generates one set of modules, else one per row).
fn shape(input: &PeltInput, labels: &Tensor<2, Int>, ranges: &[Range<usize>]) -> Vec<usize> {
    let mut key = Vec::new();
    key.extend(input.input_ids.dims());
    key.extend(labels.dims());
    if let Some(images) = &input.images {
        key.extend(images.dims());
    }
    for range in ranges {
        let tasks = &input.tasks[range.clone()];
        key.push(range.len());
        key.push(usize::from(tasks.windows(2).all(|w| w[0] == w[1])));
    }
    key
}

/// Rows `0..rows` in `workers` contiguous ranges, the first `rows % workers` one row longer:
/// the same split for every batch of a size.
pub fn split_rows(rows: usize, workers: usize) -> Vec<Range<usize>> {
    let (size, extra) = (rows / workers, rows % workers);
    let mut start = 0;
    (0..workers)
        .map(|k| {
            let len = size + usize::from(k < extra);
            start += len;
            start - len..start
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_split_evenly_with_the_remainder_first() {
        assert_eq!(split_rows(5, 2), vec![0..3, 3..5]);
        assert_eq!(split_rows(4, 2), vec![0..2, 2..4]);
        assert_eq!(split_rows(1, 3), vec![0..1, 1..1, 1..1]);
        assert_eq!(split_rows(7, 1), vec![0..7]);
    }

    #[test]
    fn micro_batches_whose_kernels_differ_have_other_shapes() {
        let device = Device::default();
        let input = |src: usize, tasks: &[usize]| {
            let rows = tasks.len();
            PeltInput::text(
                Tensor::zeros([rows, src], &device),
                Tensor::ones([rows, src], &device),
                tasks.to_vec(),
            )
        };
        let labels = |rows: usize, tgt: usize| Tensor::<2, Int>::zeros([rows, tgt], &device);
        let of = |src, tasks: &[usize], tgt, workers| {
            let rows = tasks.len();
            shape(
                &input(src, tasks),
                &labels(rows, tgt),
                &split_rows(rows, workers),
            )
        };
        let base = of(7, &[0, 0, 1, 1], 3, 2);
        assert_eq!(
            base,
            of(7, &[2, 2, 0, 0], 3, 2),
            "same shapes, same kernels"
        );
        for other in [
            of(8, &[0, 0, 1, 1], 3, 2),
            of(7, &[0, 0, 1, 1], 4, 2),
            of(7, &[0, 1, 1, 1], 3, 2),
            of(7, &[0, 0, 1, 1, 1], 3, 2),
            of(7, &[0, 0, 1, 1], 3, 3),
        ] {
            assert_ne!(base, other);
        }
    }

    /// Issue 40 item 2: under `nccl` the first micro-batch of every shape is computed on
    /// `gather` (every kernel of the shape runs, and tunes, with no collective pending), Burn's
    /// engine starts only at the first shape seen before, and a new shape later in the run goes
    /// through `gather` again. Burn refuses its engine on `flex` ("Distributed operations are
    /// not supported"), which here shows when the run would start it, as a named error.
    #[test]
    fn under_nccl_a_shape_is_computed_on_gather_before_it_is_all_reduced() {
        let device = Device::default().autodiff();
        let worker = |k: usize| Worker {
            name: format!("gpu{k}"),
            device: device.clone(),
            copy: None,
            pool: None,
        };
        let mut parallel = DataParallel {
            main: device.clone(),
            workers: vec![worker(0), worker(1)],
            secondary: Vec::new(),
            copies: Vec::new(),
            transport: Transport::Nccl,
            warm: HashSet::new(),
            distributed: None,
            timeout: Duration::from_secs(1),
        };
        for shape in [vec![4, 7, 4, 3], vec![4, 9, 4, 3]] {
            assert_eq!(parallel.combine(shape).unwrap(), Combine::Gather);
            assert!(
                parallel.distributed.is_none(),
                "no engine before a shape repeats"
            );
        }
        let err = parallel.combine(vec![4, 7, 4, 3]).unwrap_err().to_string();
        assert!(
            err.contains("gpu0,gpu1") && err.contains("not supported"),
            "the engine starts at the first repeated shape: {err}"
        );
        assert_eq!(
            parallel.combine(vec![4, 11, 4, 3]).unwrap(),
            Combine::Gather
        );
        let mut gather = DataParallel {
            transport: Transport::Gather,
            ..parallel
        };
        for _ in 0..2 {
            assert_eq!(gather.combine(vec![4, 7, 4, 3]).unwrap(), Combine::Gather);
        }
        assert!(gather.distributed.is_none());
    }

    #[test]
    fn a_panicking_worker_is_a_named_error() {
        let panic = std::thread::spawn(|| panic!("out of memory on the device"))
            .join()
            .unwrap_err();
        let err = worker_failed("cuda:1", 1, panic.as_ref()).to_string();
        assert!(
            err.contains("worker 1") && err.contains("cuda:1") && err.contains("out of memory"),
            "{err}"
        );
    }
}
