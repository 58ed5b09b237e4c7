//! `pelt pretrain`: T5 span-corruption pretraining of a whole backbone (docs/pretrain.md), in
//! the loop of `pelt train` (same optimiser, schedule, clipping, checkpoints, exact resume, log
//! and plots). Validation is the span-corruption loss on held-out text; the best model is
//! written as a Hugging Face model directory, `RUN/model/`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use burn::prelude::*;
use burn::tensor::TensorData;
use pelt_data::rng::mix_seed;
use pelt_data::{Corrupted, PretrainCorpus, SpanCorruption};
use pelt_hyper::{PeltInput, PeltModel};
use pelt_t5::T5Tokenizer;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::config::{PRETRAIN_TASK, PretrainConfig, RunConfig};
use crate::error::{TrainError, io};
use crate::gradients::stable_param_ids;
use crate::run::{Objective, optimise};
use crate::run_dir::RunDir;
use crate::setup::{backbone, tokenizer_file};
use crate::stop::StopHandle;

/// What a pretraining run did, written as `RUN/pretrain.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PretrainReport {
    /// Optimiser steps.
    pub steps: u64,
    /// Step of the best held-out loss (the exported model).
    pub best_step: Option<u64>,
    /// Span-corruption loss of the exported model on the held-out chunks.
    pub heldout_loss: f64,
    /// Documents and tokens of the training corpus (`</s>` included).
    pub corpus_documents: usize,
    /// Tokens of the training corpus.
    pub corpus_tokens: usize,
    /// Chunks of the training corpus and their length before corruption.
    pub chunks: usize,
    /// Tokens per chunk before corruption.
    pub chunk_length: usize,
    /// Encoder and decoder lengths after corruption.
    pub input_length: usize,
    /// Decoder (target) length after corruption.
    pub target_length: usize,
    /// Held-out chunks scored.
    pub heldout_chunks: usize,
    /// Corpus tokens (chunk tokens) trained on per second of training.
    pub tokens_per_second: f64,
    /// Seconds spent in training steps (validation excluded).
    pub train_seconds: f64,
    /// Parameters of the model.
    pub parameters: usize,
    /// Where the model was written.
    pub model: PathBuf,
}

/// Span corruption of a corpus, validated on held-out chunks.
struct SpanCorruptionObjective {
    corpus: PretrainCorpus,
    heldout: PretrainCorpus,
    corruption: SpanCorruption,
    /// Held-out chunks scored, evenly spread over the held-out corpus.
    heldout_indices: Vec<usize>,
    batch_size: usize,
    eval_batch_size: usize,
    seed: u64,
    /// The next micro-batch.
    position: u64,
}

/// Model input and labels `[batch, tgt]` of corrupted chunks (all of one length: no padding).
fn to_tensors(batch: &[Corrupted], device: &Device) -> (PeltInput, Tensor<2, Int>) {
    let (b, s, t) = (batch.len(), batch[0].input.len(), batch[0].target.len());
    let ints = |rows: Vec<i64>, width| {
        Tensor::<2, Int>::from_data(TensorData::new(rows, [b, width]), device)
    };
    let inputs = batch
        .iter()
        .flat_map(|c| c.input.iter().map(|&x| i64::from(x)));
    let targets = batch
        .iter()
        .flat_map(|c| c.target.iter().map(|&x| i64::from(x)));
    let input = PeltInput::text(
        ints(inputs.collect(), s),
        Tensor::<2, Int>::ones([b, s], device),
        vec![0; b],
    );
    (input, ints(targets.collect(), t))
}

impl SpanCorruptionObjective {
    /// Mean span-corruption loss (no smoothing) of `model` on the held-out chunks, each batch
    /// corrupted with a fixed seed so that every evaluation scores the same examples.
    fn heldout_loss(&self, model: &PeltModel, device: &Device) -> Result<f64, TrainError> {
        let mut total = 0.0;
        for (k, indices) in self
            .heldout_indices
            .chunks(self.eval_batch_size)
            .enumerate()
        {
            let seed = mix_seed(&[self.seed, k as u64, 2]) as u32;
            let batch = self.heldout.corrupt(indices, &self.corruption, seed)?;
            let (input, labels) = to_tensors(&batch, device);
            let loss: f32 = model.loss(input, labels, 0.0)?.into_scalar();
            total += f64::from(loss) * indices.len() as f64;
        }
        Ok(total / self.heldout_indices.len() as f64)
    }
}

impl Objective for SpanCorruptionObjective {
    fn seek(&mut self, position: u64) -> Result<(), TrainError> {
        self.position = position;
        Ok(())
    }

    fn next_batch(
        &mut self,
        device: &Device,
    ) -> Result<(PeltInput, Tensor<2, Int>, usize, Option<String>), TrainError> {
        let batch = self.corpus.training_batch(
            self.position,
            self.batch_size,
            self.seed,
            &self.corruption,
        )?;
        self.position += 1;
        let (input, labels) = to_tensors(&batch, device);
        Ok((input, labels, batch.len(), None))
    }

    fn validate(
        &self,
        model: &PeltModel,
    ) -> Result<(serde_json::Map<String, serde_json::Value>, f64), TrainError> {
        let device = model.t5.shared.val().device();
        let loss = self.heldout_loss(model, &device)?;
        eprintln!("held-out span-corruption loss {loss:.4}");
        let mut fields = serde_json::Map::new();
        fields.insert(
            "validation".into(),
            json!({PRETRAIN_TASK: [{"metric": "held-out loss", "value": loss}]}),
        );
        Ok((fields, -loss))
    }
}

/// Copies the tokenizer files that sit beside `tokenizer.json` into `model`.
fn copy_tokenizer(tokenizer_json: &Path, model: &Path) -> Result<(), TrainError> {
    let dir = tokenizer_json.parent().unwrap_or(Path::new("."));
    for name in [
        "tokenizer.json",
        "tokenizer_config.json",
        "special_tokens_map.json",
        "spiece.model",
    ] {
        let from = if name == "tokenizer.json" {
            tokenizer_json.to_path_buf()
        } else {
            dir.join(name)
        };
        if from.is_file() {
            let to = model.join(name);
            std::fs::copy(&from, &to).map_err(io(&to))?;
        }
    }
    Ok(())
}

/// Reads the corpora of `p` with the run's tokenizer; checks the vocabulary fits the model.
fn objective(
    config: &RunConfig,
    p: &PretrainConfig,
    tokenizer: &T5Tokenizer,
) -> Result<SpanCorruptionObjective, TrainError> {
    let hf = tokenizer.tokenizer();
    let eos = hf.token_to_id("</s>").ok_or_else(|| {
        TrainError::Config("the tokenizer has no `</s>` token (not a T5 tokenizer)".into())
    })?;
    let corruption = SpanCorruption {
        noise_density: p.noise_density,
        mean_noise_span_length: p.mean_noise_span_length,
        vocabulary: tokenizer.vocab_size() as u32,
        eos,
    };
    let (chunk_length, _) = corruption.lengths_for_input(p.input_length);
    let shared = Arc::new(hf.clone());
    let corpus = PretrainCorpus::read(&p.corpus, shared.clone(), chunk_length)?;
    let heldout = PretrainCorpus::read(&p.heldout, shared, chunk_length)?;
    let n = p.heldout_chunks.min(heldout.len());
    let heldout_indices = (0..n).map(|i| i * heldout.len() / n).collect();
    eprintln!(
        "corpus {}: {} documents, {} tokens, {} chunks of {chunk_length}; held-out {}: {} tokens, \
         {n} of {} chunks scored",
        corpus.path.display(),
        corpus.documents,
        corpus.tokens,
        corpus.len(),
        heldout.path.display(),
        heldout.tokens,
        heldout.len()
    );
    Ok(SpanCorruptionObjective {
        corpus,
        heldout,
        corruption,
        heldout_indices,
        batch_size: config.train.batch_size,
        eval_batch_size: config.train.eval_batch_size,
        seed: config.train.seed,
        position: 0,
    })
}

/// Pretrains `config` (which must have a `pretrain` section) in run directory `run`, resuming
/// when `resume`; writes the best model to `run/model/` (Hugging Face layout, tokenizer files
/// included) and `run/pretrain.json`. `stop` ends it early with a checkpoint.
pub fn pretrain(
    config: &RunConfig,
    run: &Path,
    resume: bool,
    device: &Device,
    stop: &StopHandle,
) -> Result<PretrainReport, TrainError> {
    let p = config.pretrain.as_ref().ok_or_else(|| {
        TrainError::Config(
            "the configuration has no `pretrain` section (corpus, held-out text); see \
             configs/pretrain-t5-mini.json"
                .into(),
        )
    })?;
    let tokenizer_json = tokenizer_file(config)?;
    let tokenizer = T5Tokenizer::from_file(&tokenizer_json)?;
    let run = RunDir::new(run);
    run.prepare(config, resume)?;
    let mut objective = objective(config, p, &tokenizer)?;
    let autodiff = device.clone().autodiff();
    let t5 = backbone(config, &autodiff)?;
    if t5.config.vocab_size < tokenizer.vocab_size() {
        return Err(TrainError::Config(format!(
            "the model's vocab_size {} is smaller than the tokenizer's {} tokens ({})",
            t5.config.vocab_size,
            tokenizer.vocab_size(),
            tokenizer_json.display()
        )));
    }
    let model = stable_param_ids(PeltModel::new(t5, config.model_config())?);
    let (best, state) = optimise(
        config,
        &run,
        resume,
        (model, &autodiff),
        &mut objective,
        stop,
    )?;
    let heldout_loss = objective.heldout_loss(&best, device)?;
    let out = run.pretrained_model();
    best.t5.save(&out)?;
    copy_tokenizer(&tokenizer_json, &out)?;
    let chunk_length = objective.corpus.chunk(0).len();
    let report = PretrainReport {
        steps: state.step,
        best_step: state.best.map(|(_, s)| s),
        heldout_loss,
        corpus_documents: objective.corpus.documents,
        corpus_tokens: objective.corpus.tokens,
        chunks: objective.corpus.len(),
        chunk_length,
        input_length: p.input_length,
        target_length: objective.corruption.lengths_for_input(p.input_length).1,
        heldout_chunks: objective.heldout_indices.len(),
        tokens_per_second: state.examples as f64 * chunk_length as f64
            / state.train_seconds.max(1e-9),
        train_seconds: state.train_seconds,
        parameters: best.param_counts().backbone,
        model: out,
    };
    let json = serde_json::to_vec_pretty(&report)
        .map_err(|e| TrainError::Config(format!("cannot serialise the report: {e}")))?;
    pelt_weights::write_atomically(&run.pretrain_report(), &json)?;
    Ok(report)
}
