//! Data-parallel training over the workers of `train.devices` (docs/train.md, "Several
//! devices"), on Burn's multi-device pieces: every micro-batch is split by rows, each worker
//! computes its rows' gradients on its own device in its own thread, `GradientsParams::to_device`
//! brings them to the main device and `GradientsAccumulator` sums them; one optimiser step on
//! the main model follows (`run.rs`), and the next step's replicas start from its result.
//! With `train.transport: "nccl"` (one worker per CUDA device), Burn's own engine combines them
//! instead: the replicas' trainable parameters are marked distributed and NCCL all-reduces
//! their gradients inside each worker's backward pass (`DistributedContext`).

use std::any::Any;
use std::ops::Range;
use std::panic::{AssertUnwindSafe, catch_unwind};

use burn::module::{ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::optim::{GradientsAccumulator, GradientsParams};
use burn::prelude::*;
use burn::tensor::container::TensorContainer;
use burn::tensor::distributed::{DistributedConfig, DistributedContext, ReduceOperation};
use pelt_hyper::{PeltInput, PeltModel};
use pelt_t5::IGNORE_INDEX;
use serde::{Deserialize, Serialize};

use crate::error::TrainError;

/// One worker: a device and, on the CPU, its own thread pool (the CPU's threads are shared out
/// between the CPU workers).
struct Worker {
    /// The name it was given in `train.devices`.
    name: String,
    /// Its autodiff device.
    device: Device,
    pool: Option<rayon::ThreadPool>,
}

/// How the workers' gradients are combined (`train.transport`; docs/train.md, "Several
/// devices").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// `GradientsParams::to_device` to the main device, summed there by `GradientsAccumulator`:
    /// any backend, any mix of workers.
    #[default]
    Gather,
    /// Burn's `DistributedContext`: NCCL all-reduces the gradients inside the backward pass.
    /// One worker per CUDA device, a `cuda` build with NCCL installed.
    Nccl,
}

impl Transport {
    /// Checks that the workers named `names` (as in `train.devices`) can use this transport.
    pub fn check(self, names: &[&str]) -> Result<(), TrainError> {
        if self == Self::Gather {
            return Ok(());
        }
        let bad = |why: String| Err(TrainError::Config(format!("train.transport `nccl`: {why}")));
        if names.is_empty() {
            return bad("name the CUDA devices in train.devices (cuda:0,cuda:1,...)".into());
        }
        if let Some(name) = names.iter().find(|n| !n.starts_with("cuda")) {
            return bad(format!(
                "worker `{name}` is not a CUDA device (NCCL runs on CUDA only)"
            ));
        }
        let mut seen = names.to_vec();
        seen.sort_unstable();
        if let Some(twice) = seen.windows(2).find(|w| w[0] == w[1]) {
            return bad(format!(
                "`{}` twice: NCCL takes one worker per device",
                twice[0]
            ));
        }
        Ok(())
    }
}

/// The workers of a run and the frozen tensors of each device other than the main one.
pub struct DataParallel {
    /// The autodiff device of the main model (optimiser state, evaluation, checkpoints).
    main: Device,
    workers: Vec<Worker>,
    /// Per device other than the main one: a replica of the model moved there once; its frozen
    /// tensors are shared by every worker of that device, its trainable ones replaced each step.
    bases: Vec<(Device, PeltModel)>,
    /// Burn's engine while `train.transport` is `nccl`: alive for the whole run.
    distributed: Option<DistributedContext>,
}

impl DataParallel {
    /// Workers on `devices` (inner devices, with their names for error messages) for a model on
    /// the autodiff device `main`. One worker on the main device (the default) computes as a
    /// single-device run always did; the CPU's threads (`rayon`'s global pool) are split evenly
    /// between the workers on the CPU, at least one each. With [`Transport::Nccl`], Burn's
    /// engine is started on the workers' devices.
    pub fn new(
        devices: Vec<(String, Device)>,
        main: &Device,
        transport: Transport,
    ) -> Result<Self, TrainError> {
        if devices.is_empty() {
            return Err(TrainError::Config("train.devices: no device".into()));
        }
        let names: Vec<&str> = devices.iter().map(|(name, _)| name.as_str()).collect();
        transport.check(&names)?;
        let distributed = match transport {
            Transport::Gather => None,
            Transport::Nccl => {
                let inner: Vec<Device> = devices.iter().map(|(_, d)| d.clone()).collect();
                let config = DistributedConfig {
                    // Each worker's loss is pre-weighted by its share of the batch: the sum is
                    // the whole batch's mean, as `Gather` computes it.
                    all_reduce_op: ReduceOperation::Sum,
                };
                let context = catch_unwind(|| DistributedContext::init(inner, config));
                Some(context.map_err(|panic| worker_failed(&names.join(","), 0, panic.as_ref()))?)
            }
        };
        let cpu_workers = devices.iter().filter(|(_, device)| on_cpu(device)).count();
        let threads = (rayon::current_num_threads() / cpu_workers.max(1)).max(1);
        let several = devices.len() > 1;
        let workers = devices
            .into_iter()
            .map(|(name, device)| {
                let pool = match several && on_cpu(&device) {
                    true => Some(
                        rayon::ThreadPoolBuilder::new()
                            .num_threads(threads)
                            .build()
                            .map_err(|e| {
                                TrainError::Config(format!("worker {name}: thread pool: {e}"))
                            })?,
                    ),
                    false => None,
                };
                Ok(Worker {
                    name,
                    device: device.autodiff(),
                    pool,
                })
            })
            .collect::<Result<Vec<_>, TrainError>>()?;
        Ok(Self {
            main: main.clone(),
            workers,
            bases: Vec::new(),
            distributed,
        })
    }

    /// The workers of a run that names none (`train.devices` empty): two on the CPU when it
    /// has at least two threads, each with half of them (faster than one worker with all of
    /// them: docs/benchmarks.md, "Data-parallel workers on the CPU"); else one on `device`.
    pub fn default_workers(device: &Device) -> Vec<(String, Device)> {
        let workers = match on_cpu(device) && rayon::current_num_threads() >= 2 {
            true => 2,
            false => 1,
        };
        vec![("the run's device".to_string(), device.clone()); workers]
    }

    /// The loss of one micro-batch (`input` of `batch` rows, `labels: [batch, tgt]` with
    /// [`IGNORE_INDEX`] on padding), divided by `divisor` (the micro-batches per step), and its
    /// gradients on the main device. With several workers, worker k's mean loss is weighted by
    /// its share of the batch's scored target tokens before its backward pass, so that loss and
    /// gradients are those of the whole batch's token mean (the mean the single-device loss
    /// takes), however unevenly the rows split.
    pub fn gradients(
        &mut self,
        model: &PeltModel,
        input: PeltInput,
        labels: Tensor<2, Int>,
        smoothing: f64,
        divisor: usize,
    ) -> Result<(f32, GradientsParams), TrainError> {
        if let [worker] = self.workers.as_slice()
            && worker.device == self.main
        {
            let loss = model.loss(input, labels, smoothing)? / divisor as f64;
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
            .map_err(|e| TrainError::Config(format!("label counts: {e:?}")))?;
        let total = tokens.iter().sum::<i64>().max(1) as f64;
        let ranges = split_rows(rows, self.workers.len());
        let distributed = self.distributed.is_some();
        if distributed && ranges.iter().any(Range::is_empty) {
            // Every device's backward pass takes part in every all-reduce.
            return Err(TrainError::Config(format!(
                "train.transport `nccl`: a micro-batch of {rows} rows for {} devices; \
                 every device needs at least one row",
                self.workers.len()
            )));
        }
        let mut jobs = Vec::new();
        let mut moved = Vec::new();
        for (k, range) in ranges.into_iter().enumerate() {
            if range.is_empty() {
                continue;
            }
            let device = self.workers[k].device.clone();
            let replica = self.replica(model, k, &mut moved)?;
            let share = tokens[range.clone()].iter().sum::<i64>() as f64 / total;
            let part_input = input.rows(range.clone(), &device);
            let part_labels = labels.clone().slice(range).to_device(&device);
            jobs.push((k, replica, part_input, part_labels, share));
        }
        let main = &self.main;
        let workers = &self.workers;
        let results: Vec<Result<(f32, GradientsParams), TrainError>> = std::thread::scope(|s| {
            let handles: Vec<_> = jobs
                .into_iter()
                .map(|(k, replica, input, labels, share)| {
                    let worker = &workers[k];
                    let job = move || -> Result<(f32, GradientsParams), TrainError> {
                        let loss = replica.loss(input, labels, smoothing)? * share / divisor as f64;
                        let value: f32 = loss.clone().into_scalar();
                        let grads = GradientsParams::from_grads(loss.backward(), &replica);
                        match distributed {
                            // All-reduced already: the same sum on every device.
                            true => Ok((value, grads)),
                            false => Ok((value, grads.to_device(main, &replica))),
                        }
                    };
                    let handle = s.spawn(move || match &worker.pool {
                        Some(pool) => pool.install(job),
                        None => job(),
                    });
                    (k, handle)
                })
                .collect();
            handles
                .into_iter()
                .map(|(k, handle)| {
                    handle.join().unwrap_or_else(|panic| {
                        Err(worker_failed(&workers[k].name, k, panic.as_ref()))
                    })
                })
                .collect()
        });
        let mut accumulator = GradientsAccumulator::<PeltModel>::new();
        let mut value = 0.0;
        let mut reduced = None;
        for (k, result) in results.into_iter().enumerate() {
            let (loss, grads) = result?;
            value += loss;
            match distributed {
                true if self.workers[k].device == self.main => reduced = Some(grads),
                true => {}
                false => accumulator.accumulate(model, grads),
            }
        }
        match distributed {
            true => reduced.map(|grads| (value, grads)).ok_or_else(|| {
                TrainError::Config(
                    "train.transport `nccl`: the run's device is none of the workers'".into(),
                )
            }),
            false => Ok((value, accumulator.grads())),
        }
    }

    /// Worker `k`'s replica of `model`: the frozen tensors of its device's copy (the main
    /// model's own on the main device) and fresh leaves of the main model's trainable values,
    /// its own so that two workers' graphs never share a node. Fails with the worker's name
    /// when its device cannot take the model.
    /// `moved` keeps the trainable values already moved to a device during this micro-batch, so
    /// several workers on one device share one transfer.
    fn replica(
        &mut self,
        model: &PeltModel,
        k: usize,
        moved: &mut Vec<(Device, TensorContainer<ParamId>)>,
    ) -> Result<PeltModel, TrainError> {
        let device = self.workers[k].device.clone();
        let replica = catch_unwind(AssertUnwindSafe(|| {
            let index = match moved.iter().position(|(d, _)| *d == device) {
                Some(index) => index,
                None => {
                    let mut trainable = Trainable {
                        device: &device,
                        values: TensorContainer::new(),
                    };
                    model.visit(&mut trainable);
                    moved.push((device.clone(), trainable.values));
                    moved.len() - 1
                }
            };
            let values = &moved[index].1;
            let base = if device == self.main {
                model.clone()
            } else if let Some((_, base)) = self.bases.iter().find(|(d, _)| *d == device) {
                base.clone()
            } else {
                let base = model.clone().fork(&device);
                self.bases.push((device.clone(), base.clone()));
                base
            };
            base.map(&mut Refresh {
                values,
                distributed: self.distributed.is_some(),
            })
        }));
        replica.map_err(|panic| worker_failed(&self.workers[k].name, k, panic.as_ref()))
    }
}

/// Whether `device` is the CPU (the `flex` backend, whose threads are `rayon`'s).
fn on_cpu(device: &Device) -> bool {
    #[cfg(feature = "flex")]
    return *device == Device::flex();
    #[cfg(not(feature = "flex"))]
    {
        let _ = device;
        false
    }
}

/// Collects the trainable values of a model, detached and on `device`.
struct Trainable<'a> {
    device: &'a Device,
    values: TensorContainer<ParamId>,
}

impl ModuleVisitor for Trainable<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let value = param.val();
        if value.is_require_grad() {
            let value = value
                .detach()
                .set_require_grad(false)
                .to_device(self.device);
            self.values.register(param.id, value);
        }
    }
}

/// Replaces every trainable parameter by a new leaf of its collected value (same id, so the
/// gradients map onto the main model's parameters), marked for Burn's all-reduce when
/// `distributed`.
struct Refresh<'a> {
    values: &'a TensorContainer<ParamId>,
    distributed: bool,
}

impl ModuleMapper for Refresh<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let id = param.id;
        match self.values.get::<Tensor<D>>(&id) {
            Some(value) => param.map(|_| match self.distributed {
                true => value.detach().require_grad().set_distributed(id),
                false => value.detach().require_grad(),
            }),
            None => param,
        }
    }
}

/// The error of worker `k` (named `name`) that panicked: out of memory, a lost device.
fn worker_failed(name: &str, k: usize, panic: &(dyn Any + Send)) -> TrainError {
    let message = panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "no message".into());
    TrainError::Worker {
        worker: k,
        device: name.to_string(),
        message,
    }
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
    fn nccl_takes_distinct_cuda_devices_only() {
        assert!(Transport::Nccl.check(&["cuda:0", "cuda:1"]).is_ok());
        assert!(Transport::Gather.check(&["cpu", "cpu"]).is_ok());
        for (names, says) in [
            (&["cpu", "cpu"][..], "`cpu` is not a CUDA device"),
            (&["cuda:0", "wgpu:1"][..], "`wgpu:1` is not a CUDA device"),
            (&["cuda:0", "cuda:0"][..], "`cuda:0` twice"),
            (&[][..], "name the CUDA devices"),
        ] {
            let err = Transport::Nccl.check(names).unwrap_err().to_string();
            assert!(
                err.contains("train.transport") && err.contains(says),
                "{err}"
            );
        }
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
