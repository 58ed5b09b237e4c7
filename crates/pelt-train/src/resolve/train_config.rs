//! `TrainConfig`: the optimisation and evaluation schedule of a run (the `train` section of a
//! `RunConfig`), its defaults and its own rules.

use serde::{Deserialize, Serialize};

use crate::error::TrainError;
use crate::optim::schedule::Schedule;
use crate::parallel::transport::Transport;
use crate::report::selection::Selection;
use crate::resolve::backend::DeviceSpec;
use crate::resolve::config::config_error;
use crate::resolve::precision::MatmulPrecision;

/// The optimisation and evaluation schedule (docs/method.md §6).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    /// Optimiser steps.
    pub steps: u64,
    /// Examples per step (per micro-batch when accumulating).
    pub batch_size: usize,
    /// Micro-batches whose gradients are summed per optimiser step.
    pub grad_accumulation: usize,
    /// Peak learning rate of AdamW.
    pub learning_rate: f64,
    /// Linear warm-up steps, then the `schedule`.
    pub warmup_steps: u64,
    /// The learning rate after warm-up: `linear` decay to zero at `steps` (the spec's) or
    /// `constant` (docs/train.md, "Optimiser").
    pub schedule: Schedule,
    /// AdamW's decoupled weight decay.
    pub weight_decay: f32,
    /// Multiply each parameter's learning rate by `max(1e-3, RMS(parameter))` (Adafactor's
    /// `scale_parameter`; docs/train.md, "Optimiser").
    pub parameter_scale: bool,
    /// Global gradient-norm clipping threshold; 0 disables clipping.
    pub max_grad_norm: f64,
    /// Label smoothing of the token cross-entropy.
    pub label_smoothing: f64,
    /// Task-sampling temperature `T`.
    pub temperature: f64,
    /// Several tasks per batch (else one task per batch, HyperFormer's default).
    pub mixed_tasks: bool,
    /// Evaluate on validation every this many steps (and at the end).
    pub eval_every: u64,
    /// The validation score the kept model maximises: `primary` (each task's primary metric,
    /// averaged over tasks) or `mean` (the spec's mean of every number; docs/train.md, "Model
    /// selection").
    pub selection: Selection,
    /// Validation examples per task used during training; 0 for all of them.
    pub eval_examples: usize,
    /// Validation and test examples per task in the final report; 0 for all of them.
    pub final_examples: usize,
    /// Rows per evaluation batch.
    pub eval_batch_size: usize,
    /// Longest source in tokens (longer ones are cut and counted).
    pub max_source_len: usize,
    /// Longest target in tokens.
    pub max_target_len: usize,
    /// Tokens generated at most when evaluating.
    pub max_new_tokens: usize,
    /// Beams for caption tasks (CIDEr); classification-style tasks decode greedily.
    pub caption_beams: usize,
    /// Checkpoints kept besides the best one.
    pub keep_last: usize,
    /// Seed of initialisation, splits and sampling.
    pub seed: u64,
    /// Log the training loss every this many steps.
    pub log_every: u64,
    /// Few-shot: training examples kept per distinct target (class) of each task; 0 keeps
    /// them all.
    pub shots: usize,
    /// Data-parallel workers, written comma-separated in files and `--set` (`cpu` for one,
    /// `cpu,cpu`, `cuda:0,cuda:1`, `wgpu:0,wgpu:1`; docs/train.md, "Several devices"). Empty:
    /// the command's `--backend` device, with two workers when it is the CPU and has at least
    /// two threads, else one. Every micro-batch of `batch_size` rows is split between them;
    /// the first holds the model ([`main_device`](Self::main_device)).
    #[serde(with = "crate::resolve::backend::device_list_string")]
    pub devices: Vec<DeviceSpec>,
    /// How the workers' gradients are combined: `gather` (Burn's `GradientsParams::to_device`
    /// and `GradientsAccumulator`, any backend) or `nccl` (Burn's `DistributedContext`: one
    /// worker per CUDA device; docs/train.md, "Several devices").
    pub transport: Transport,
    /// Seconds the data-parallel workers of a micro-batch may take for their forward passes,
    /// and then again for their backward passes (where NCCL's all-reduces run), before the run
    /// stops with [`TrainError::Stalled`] naming the workers that did not answer
    /// (docs/train.md, "Several devices"). It must exceed the slowest worker's pass, kernel
    /// compilation on first use included.
    pub collective_timeout_secs: u64,
    /// The inputs of the CPU backend's matrix products: `f32`, or `bf16` (rounded, summed in
    /// f32; docs/precision.md), for training, pretraining and evaluation alike.
    pub matmul_precision: MatmulPrecision,
}

impl TrainConfig {
    /// The rules of the `train` section alone ([`RunConfig::validate`] checks those that join
    /// it to other sections).
    pub fn validate(&self) -> Result<(), TrainError> {
        let bad = |m: &str| Err(config_error(m));
        self.transport.check(&self.devices)?;
        if self.transport == Transport::Nccl && self.batch_size < self.devices.len() {
            // Every device's backward pass takes part in every all-reduce.
            return Err(config_error(&format!(
                "train.transport `nccl`: a micro-batch of {} rows (`train.batch_size`) for {} \
                 devices; every device needs at least one row",
                self.batch_size,
                self.devices.len()
            )));
        }
        for device in &self.devices {
            device.device()?;
        }
        if self.collective_timeout_secs == 0 {
            return bad("`train.collective_timeout_secs` must be at least 1");
        }
        if self.steps == 0 || self.batch_size == 0 || self.grad_accumulation == 0 {
            return bad(
                "`train.steps`, `train.batch_size` and `train.grad_accumulation` must be at least 1",
            );
        }
        if self.eval_every == 0 || self.eval_batch_size == 0 || self.log_every == 0 {
            return bad(
                "`train.eval_every`, `train.eval_batch_size` and `train.log_every` must be at least 1",
            );
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return bad("`train.learning_rate` must be a positive number");
        }
        if !(0.0..1.0).contains(&self.label_smoothing) {
            return bad("`train.label_smoothing` must be in [0, 1)");
        }
        if self.max_source_len < 2 || self.max_target_len < 2 || self.max_new_tokens == 0 {
            return bad(
                "`train.max_source_len` and `train.max_target_len` must be at least 2, `train.max_new_tokens` at least 1",
            );
        }
        Ok(())
    }

    /// The device that holds the model, AdamW's state, evaluation and checkpoints: the first
    /// of [`devices`](Self::devices), else `backend` (the command's `--backend`). The one
    /// place this rule lives; `DataParallel::new` refuses a model on any other device.
    pub fn main_device(&self, backend: DeviceSpec) -> DeviceSpec {
        self.devices.first().copied().unwrap_or(backend)
    }
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            steps: 1000,
            batch_size: 32,
            grad_accumulation: 1,
            learning_rate: 3e-4,
            warmup_steps: 100,
            schedule: Schedule::Linear,
            weight_decay: 0.0,
            parameter_scale: false,
            max_grad_norm: 1.0,
            label_smoothing: 0.1,
            temperature: 10.0,
            mixed_tasks: false,
            eval_every: 200,
            selection: Selection::Primary,
            eval_examples: 0,
            final_examples: 0,
            eval_batch_size: 64,
            max_source_len: 128,
            max_target_len: 16,
            max_new_tokens: 16,
            caption_beams: 5,
            keep_last: 2,
            seed: 42,
            log_every: 10,
            shots: 0,
            devices: Vec::new(),
            transport: Transport::Gather,
            collective_timeout_secs: 1800,
            matmul_precision: MatmulPrecision::F32,
        }
    }
}
