//! The training loop (docs/train.md): AdamW with warm-up and linear decay, global-norm
//! clipping, label smoothing, gradient accumulation, validation every K steps, best model by
//! validation score, checkpoints with exact resume. `pelt train` runs it on the task mixture
//! (temperature-sampled batches, final test evaluation of the best model); `pelt pretrain`
//! (`run/pretrain.rs`) on span corruption.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::optim::{GradientsAccumulator, ModuleOptimizer};
use burn::prelude::*;
use pelt_data::rng::mix_seed;
use pelt_data::{SamplerConfig, TemperatureSampler};
use pelt_hyper::{PeltInput, PeltModel};
use serde_json::json;

use crate::error::{TrainError, io};
use crate::optim::adamw::FusedAdamW;
use crate::optim::gradients::clip_global_norm;
use crate::optim::schedule::learning_rate;
use crate::parallel::data_parallel::{DataParallel, MicroBatch};
use crate::progress::{Progress, Unit};
use crate::report::evaluate::{Evaluator, majority_baseline};
use crate::report::plot::write_plots;
use crate::report::run_report::{Report, TaskReport};
use crate::report::selection::MetricValue;
use crate::report::selection::Selection;
use crate::resolve::config::RunConfig;
use crate::resolve::setup::{Data, build_model, load_data};
use crate::resolve::train_config::TrainConfig;
use crate::run::checkpoint::{self, RunState};
use crate::run::run_dir::RunDir;
use crate::run::stop::StopHandle;

/// The stream of [`mix_seed`] that seeds each step's dropout masks.
const DROPOUT_STREAM: u64 = 0xd0;

/// Appends JSON lines to `log.jsonl`, flushing each.
struct Log {
    path: PathBuf,
    lines: usize,
}

impl Log {
    /// Opens the log of `run`, keeping only its first `keep` lines (those of the checkpoint a
    /// resumed run starts from).
    fn open(run: &RunDir, keep: usize) -> Result<Self, TrainError> {
        let path = run.log();
        let kept: Vec<String> = match fs::read_to_string(&path) {
            Ok(text) => text.lines().take(keep).map(str::to_string).collect(),
            Err(_) => Vec::new(),
        };
        let mut text = kept.join("\n");
        if !text.is_empty() {
            text.push('\n');
        }
        pelt_weights::write_atomically(&path, text.as_bytes())?;
        Ok(Self {
            path,
            lines: kept.len(),
        })
    }

    fn write(&mut self, value: serde_json::Value) -> Result<(), TrainError> {
        let mut file = fs::OpenOptions::new()
            .append(true)
            .open(&self.path)
            .map_err(io(&self.path))?;
        writeln!(file, "{value}").map_err(io(&self.path))?;
        self.lines += 1;
        Ok(())
    }
}

/// A run log's text (`log.jsonl`) split into the steps at which the run resumed (its
/// `{"resumed_at": N}` lines, in order) and every other line: what an uninterrupted run of the
/// same configuration writes.
pub fn resumes(log: &str) -> (Vec<u64>, String) {
    let mut steps = Vec::new();
    let mut rest = String::new();
    for line in log.lines() {
        let resumed = serde_json::from_str::<serde_json::Value>(line)
            .ok()
            .and_then(|v| v.get("resumed_at")?.as_u64());
        match resumed {
            Some(step) => steps.push(step),
            None => {
                rest.push_str(line);
                rest.push('\n');
            }
        }
    }
    (steps, rest)
}

/// Trains `config` on `device` in run directory `run` (created if needed), resuming from its
/// last checkpoint when `resume`; returns the final report (also written as `report.json` and
/// `report.md`). `stop` ends it early with a checkpoint ([`TrainError::Interrupted`]).
pub fn train(
    config: &RunConfig,
    run: &Path,
    resume: bool,
    device: &Device,
    stop: &StopHandle,
) -> Result<Report, TrainError> {
    if config.pretrain.is_some() {
        return Err(TrainError::Config(
            "this configuration pretrains (`pretrain`): run it with `pelt pretrain`".into(),
        ));
    }
    let run = RunDir::new(run);
    crate::run::resume::prepare(&run, config, resume)?;
    config.train.matmul_precision.apply(device);
    // The model first: it resolves every model path or id (and the tasks' names), so a wrong
    // or unreachable one fails before the CLIP features of the data are computed.
    let autodiff = device.clone().autodiff();
    let model = build_model(config, &autodiff)?;
    let data = load_data(config, run.root(), device)?;
    let t = &config.train;
    let evaluator = Evaluator {
        batcher: &data.batcher,
        tokenizer: &data.tokenizer,
        train: t,
        device: device.clone(),
    };
    let sizes: Vec<usize> = data.tasks.iter().map(|d| d.train.len()).collect();
    let sampler = SamplerConfig {
        batch_size: t.batch_size,
        temperature: t.temperature,
        mixed: t.mixed_tasks,
        seed: t.seed,
    };
    let mut objective = TaskMixture {
        data: &data,
        sampler: TemperatureSampler::resume(&sizes, sampler, 0)?,
        config: sampler,
        sizes,
        evaluator: &evaluator,
        limit: t.eval_examples,
    };
    let (best, state) = optimise(config, &run, resume, (model, device), &mut objective, stop)?;
    final_report(config, run.root(), &best, &data, &evaluator, &state)
}

/// What a run trains on and how it is validated: the task mixture of `pelt train`, or span
/// corruption for `pelt pretrain`.
pub(crate) trait Objective {
    /// Positions the data source at micro-batch `position` (where a resumed run continues).
    fn seek(&mut self, position: u64) -> Result<(), TrainError>;

    /// The next micro-batch on `device`: model input, labels `[batch, tgt]`, examples, and
    /// the name of its task when it holds one task (its loss is then logged per task).
    fn next_batch(
        &mut self,
        device: &Device,
    ) -> Result<(PeltInput, Tensor<2, Int>, usize, Option<String>), TrainError>;

    /// Validates `model` (inference mode).
    fn validate(&self, model: &PeltModel) -> Result<Validation, TrainError>;
}

/// What validating a model gives.
pub(crate) struct Validation {
    /// The fields of the log line.
    pub fields: serde_json::Map<String, serde_json::Value>,
    /// The score the best model maximises.
    pub score: f64,
    /// The scores in words, for the run's messages.
    pub summary: String,
}

/// The spec's task mixture: temperature-sampled batches, generation-based validation.
struct TaskMixture<'a> {
    data: &'a Data,
    sampler: TemperatureSampler,
    config: SamplerConfig,
    sizes: Vec<usize>,
    evaluator: &'a Evaluator<'a>,
    limit: usize,
}

impl Objective for TaskMixture<'_> {
    fn seek(&mut self, position: u64) -> Result<(), TrainError> {
        self.sampler = TemperatureSampler::resume(&self.sizes, self.config, position)?;
        Ok(())
    }

    fn next_batch(
        &mut self,
        device: &Device,
    ) -> Result<(PeltInput, Tensor<2, Int>, usize, Option<String>), TrainError> {
        let plan = self.sampler.next().ok_or(TrainError::SamplerEnded)?;
        let batch = self.data.batcher.plan(&plan, &self.data.tasks)?;
        let (input, labels) = crate::to_tensors::to_input(&batch, device)?;
        let task = match batch.rows.as_slice() {
            [(first, _), rest @ ..] if rest.iter().all(|(t, _)| t == first) => {
                Some(self.data.tasks[*first].task.name.to_string())
            }
            _ => None,
        };
        Ok((input, labels, batch.batch_size, task))
    }

    fn validate(&self, model: &PeltModel) -> Result<Validation, TrainError> {
        let mut scores = Vec::new();
        for (index, task) in self.data.tasks.iter().enumerate() {
            let s = self
                .evaluator
                .score(model, index, task, &task.validation, self.limit)?;
            scores.push((task.task, s));
        }
        let tasks = || scores.iter().map(|(task, s)| (*task, s.as_slice()));
        let rule = self.evaluator.train.selection;
        let score = rule.score(tasks());
        let average = Selection::Mean.score(tasks());
        let summary = format!(
            "validation score {score:.2} ({}); mean of every number {average:.2}",
            rule.describe()
        );
        let by_name: BTreeMap<&str, &Vec<MetricValue>> =
            scores.iter().map(|(task, s)| (task.name, s)).collect();
        let mut fields = serde_json::Map::new();
        fields.insert("validation".into(), json!(by_name));
        fields.insert("average".into(), json!(average));
        fields.insert("score".into(), json!(score));
        fields.insert("selection".into(), json!(rule));
        Ok(Validation {
            fields,
            score,
            summary,
        })
    }
}

/// The optimisation loop shared by training and pretraining (docs/method.md §6): AdamW with
/// warm-up and linear decay, gradient accumulation, global-norm clipping, validation every
/// `eval_every` steps keeping the best model in `best.safetensors`, atomic checkpoints with
/// exact resume, `log.jsonl` and plots. `model` is on `device`'s autodiff device; its
/// gradients are computed there, or by the workers of `train.devices` (`parallel/`). Returns
/// the best model (weights of `best.safetensors`, without autodiff) and the final run state.
pub(crate) fn optimise<O: Objective>(
    config: &RunConfig,
    run: &RunDir,
    resume: bool,
    (model, device): (PeltModel, &Device),
    objective: &mut O,
    stop: &StopHandle,
) -> Result<(PeltModel, RunState), TrainError> {
    let t = &config.train;
    let autodiff = device.clone().autodiff();
    let mut parallel = DataParallel::new(t, &autodiff)?;
    let mut trainer = Trainer::start(config, run, resume, model)?;
    objective.seek(trainer.state.step * t.grad_accumulation as u64)?;
    while trainer.state.step < t.steps {
        trainer = trainer.step(objective, &mut parallel, &autodiff)?;
        if stop.take() {
            return Err(trainer.interrupt()?);
        }
        if trainer.state.step.is_multiple_of(t.eval_every) || trainer.state.step == t.steps {
            trainer.validate(objective)?;
            trainer.checkpoint()?;
        }
    }
    trainer.finish()
}

/// A run in progress: the model and optimiser, where the run is, and what it writes.
struct Trainer<'a> {
    train: &'a TrainConfig,
    run: &'a RunDir,
    model: PeltModel,
    optimiser: ModuleOptimizer,
    state: RunState,
    log: Log,
    /// The steps done, for whoever shows them.
    progress: Progress,
    /// Loss sums and micro-batch counts per task since the last log line or checkpoint (a
    /// resumed run starts from a checkpoint, so its next line averages the same steps).
    task_losses: BTreeMap<String, (f64, u32)>,
    /// The last checkpoint written, named when the run fails.
    last_good: Option<PathBuf>,
}

impl<'a> Trainer<'a> {
    /// A fresh run of `model`, or with `resume` the run's last checkpoint; a fresh run with
    /// `init_from` starts from that run's best trainable tensors (few-shot transfer).
    fn start(
        config: &'a RunConfig,
        run: &'a RunDir,
        resume: bool,
        mut model: PeltModel,
    ) -> Result<Self, TrainError> {
        let t = &config.train;
        let resume_from = if resume {
            checkpoint::list(run.root())?.pop()
        } else {
            None
        };
        if let (Some(source), None) = (&config.init_from, &resume_from) {
            // A checkpoint holds every trainable tensor, so a resumed run needs no source.
            model = model.transfer_from(RunDir::new(source).best())?;
        }
        tracing::info!("{} ({})", model.param_counts(), config.pelt.method.name());
        let mut optimiser = FusedAdamW::module(t.weight_decay, t.parameter_scale);
        let mut state = RunState {
            step: 0,
            best: None,
            log_lines: 0,
            examples: 0,
            train_seconds: 0.0,
            data_seconds: 0.0,
        };
        let mut last_good = None;
        if let Some(dir) = &resume_from {
            (model, optimiser, state) = checkpoint::load(dir, model, optimiser)?;
            tracing::info!("resuming from {} (step {})", dir.display(), state.step);
            last_good = Some(dir.clone());
        }
        let mut log = Log::open(run, state.log_lines)?;
        if resume_from.is_some() {
            // Where this resume continued: the evidence that a resumed run did not restart.
            log.write(json!({"resumed_at": state.step}))?;
        }
        Ok(Self {
            train: t,
            run,
            log,
            progress: Progress::new(Unit::Steps, t.steps, state.step, ""),
            model,
            optimiser,
            state,
            task_losses: BTreeMap::new(),
            last_good,
        })
    }

    /// Fails the run at the current step, naming the last good checkpoint.
    fn non_finite(&self, what: &'static str) -> TrainError {
        TrainError::NonFinite {
            what,
            step: self.state.step,
            last_good: self.last_good.clone(),
        }
    }

    /// One optimiser step over `grad_accumulation` micro-batches of `objective`, their
    /// gradients computed by `parallel`'s workers, and its log line every `log_every` steps.
    fn step<O: Objective>(
        mut self,
        objective: &mut O,
        parallel: &mut DataParallel,
        autodiff: &Device,
    ) -> Result<Self, TrainError> {
        let t = self.train;
        let started = Instant::now();
        // Dropout draws its masks from the device's random state. Deriving that state from
        // (seed, step) here makes a resumed step draw the masks the uninterrupted run drew
        // (docs/train.md, "Exact resume"); nothing else in a step draws from it.
        autodiff.seed(mix_seed(&[t.seed, self.state.step, DROPOUT_STREAM]));
        let lr = learning_rate(
            self.state.step,
            t.steps,
            t.warmup_steps,
            t.learning_rate,
            t.schedule,
        );
        let mut accumulator = GradientsAccumulator::<PeltModel>::new();
        let mut loss_sum = 0.0;
        for index in 0..t.grad_accumulation {
            let data_started = Instant::now();
            let (input, labels, examples, task) = objective.next_batch(autodiff)?;
            self.state.data_seconds += data_started.elapsed().as_secs_f64();
            let (value, grads) = parallel.gradients(
                &self.model,
                input,
                labels,
                t.label_smoothing,
                MicroBatch {
                    index,
                    count: t.grad_accumulation,
                },
            )?;
            if !value.is_finite() {
                return Err(self.non_finite("loss"));
            }
            loss_sum += f64::from(value);
            if let Some(task) = task {
                let entry = self.task_losses.entry(task).or_default();
                *entry = (
                    entry.0 + f64::from(value) * t.grad_accumulation as f64,
                    entry.1 + 1,
                );
            }
            accumulator.accumulate(&self.model, grads);
            self.state.examples += examples as u64;
        }
        let mut grads = accumulator.grads();
        let norm = clip_global_norm(&self.model, &mut grads, t.max_grad_norm);
        if !norm.is_finite() {
            return Err(self.non_finite("gradient norm"));
        }
        self.model = self.optimiser.step(lr, self.model, grads);
        self.state.step += 1;
        self.state.train_seconds += started.elapsed().as_secs_f64();
        if self.state.step.is_multiple_of(t.log_every) {
            let mut line =
                json!({"step": self.state.step, "loss": loss_sum, "lr": lr, "grad_norm": norm});
            if !self.task_losses.is_empty() {
                let means: BTreeMap<String, f64> = std::mem::take(&mut self.task_losses)
                    .into_iter()
                    .map(|(task, (sum, n))| (task, sum / f64::from(n)))
                    .collect();
                line["task_loss"] = json!(means);
            }
            self.log.write(line)?;
        }
        let per_second = self.state.examples as f64 / self.state.train_seconds.max(1e-9);
        self.progress.advance(1);
        self.progress
            .set_message(&format!("loss {loss_sum:.4} {per_second:.1} ex/s"));
        Ok(self)
    }

    /// Validates the model: a log line, the plots, and `best.safetensors` when the score is
    /// the best so far.
    fn validate<O: Objective>(&mut self, objective: &O) -> Result<(), TrainError> {
        let step = self.state.step;
        let Validation {
            mut fields,
            score,
            summary,
        } = objective.validate(&self.model.valid())?;
        tracing::info!("step {step}: {summary}");
        fields.insert("step".into(), json!(step));
        crate::run::pause::point(self.run.root(), "evaluation", step);
        self.log.write(serde_json::Value::Object(fields))?;
        write_plots(self.run.root())?;
        if self.state.best.is_none_or(|(best, _)| score > best) {
            self.state.best = Some((score, step));
            self.model.save_trainable(self.run.best())?;
        }
        Ok(())
    }

    /// Writes a checkpoint of the current step; returns its directory.
    fn save(&mut self) -> Result<PathBuf, TrainError> {
        self.state.log_lines = self.log.lines;
        checkpoint::save(
            self.run,
            &self.model,
            &self.optimiser,
            &self.state,
            self.train.keep_last,
        )
    }

    /// A regular checkpoint (the per-task loss window restarts with it).
    fn checkpoint(&mut self) -> Result<(), TrainError> {
        self.task_losses.clear();
        self.last_good = Some(self.save()?);
        Ok(())
    }

    /// Stops at the current step with a checkpoint: the error that says where to resume.
    fn interrupt(mut self) -> Result<TrainError, TrainError> {
        let saved = self.save()?;
        Ok(TrainError::Interrupted {
            step: self.state.step,
            checkpoint: saved,
        })
    }

    /// The best model (weights of `best.safetensors`, without autodiff) and the final state.
    fn finish(self) -> Result<(PeltModel, RunState), TrainError> {
        let best = self.model.load_trainable(self.run.best())?.valid();
        Ok((best, self.state))
    }
}

/// Evaluates `model` on every task's full validation and test sets beside the majority
/// baseline, and writes `report.json` and `report.md`.
pub fn final_report(
    config: &RunConfig,
    run: &Path,
    model: &PeltModel,
    data: &Data,
    evaluator: &Evaluator<'_>,
    state: &RunState,
) -> Result<Report, TrainError> {
    let mut tasks = Vec::new();
    let limit = config.train.final_examples;
    for (index, task) in data.tasks.iter().enumerate() {
        let test = if limit > 0 && limit < task.test.len() {
            &task.test[..limit]
        } else {
            &task.test[..]
        };
        tasks.push(TaskReport {
            task: task.task.name.to_string(),
            primary: task.task.primary_metric().name().to_string(),
            validation: evaluator.score(model, index, task, &task.validation, limit)?,
            test: evaluator.score(model, index, task, test, 0)?,
            baseline: majority_baseline(task, test)?,
            test_examples: test.len(),
        });
    }
    let counts = model.param_counts();
    let report = Report {
        method: config.pelt.method.name().to_string(),
        backbone: match &config.t5 {
            crate::resolve::config::Backbone::Path(p) => p.display().to_string(),
            crate::resolve::config::Backbone::Random(_) => {
                "randomly initialised T5 (no pretrained weights)".to_string()
            }
        },
        steps: state.step,
        best_step: state.best.map(|(_, s)| s),
        selection: config.train.selection.describe().to_string(),
        trainable: counts.trainable,
        backbone_params: counts.backbone,
        examples_per_second: state.examples as f64 / state.train_seconds.max(1e-9),
        data_share: state.data_seconds / state.train_seconds.max(1e-9),
        matmul_precision: crate::MatmulPrecision::in_effect(),
        tasks,
    };
    report.write(run)?;
    write_plots(run)?;
    Ok(report)
}
