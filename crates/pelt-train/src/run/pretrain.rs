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
use pelt_t5::{T5Input, T5Model, T5Tokenizer, cross_entropy};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::error::{TrainError, io, serialise};
use crate::optim::gradients::stable_param_ids;
use crate::resolve::config::{PRETRAIN_TASK, PretrainConfig, RunConfig};
use crate::resolve::setup::{backbone, tokenizer_file};
use crate::run::run_dir::RunDir;
use crate::run::stop::StopHandle;
use crate::run::train_loop::{Objective, Validation, optimise};

/// What a pretraining run did, written as `RUN/pretrain.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PretrainReport {
    /// Optimiser steps.
    pub steps: u64,
    /// Step of the best held-out loss (the exported model).
    pub best_step: Option<u64>,
    /// Span-corruption loss of the exported model on the held-out chunks.
    pub heldout_loss: f64,
    /// The same with every chunk's encoder input swapped for the next chunk's.
    pub swapped_input_loss: f64,
    /// `swapped_input_loss - heldout_loss`: below 0.5 nats the model does not read its input
    /// and is not a usable backbone (docs/pretrain.md, "The health signal").
    pub input_gap: f64,
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
    /// The inputs of the CPU backend's products, as the run had them (`train.matmul_precision`
    /// after any fallback; absent in earlier reports: f32).
    #[serde(default)]
    pub matmul_precision: crate::MatmulPrecision,
    /// Where the model was written.
    pub model: PathBuf,
    /// Hex SHA-256 of the exported `model/model.safetensors`, so that a copy of the weights can
    /// be checked against the run that produced them (`sha256sum model.safetensors`). Empty in
    /// reports written before it was recorded.
    #[serde(default)]
    pub weights_sha256: String,
}

/// Span corruption of a corpus, validated on held-out chunks.
struct SpanCorruptionObjective {
    corpus: PretrainCorpus,
    /// Held-out chunks scored at every validation, evenly spread over the held-out corpus.
    heldout: HeldoutSet,
    corruption: SpanCorruption,
    batch_size: usize,
    seed: u64,
    /// Every this many micro-batches (0: never) the target is the whole chunk.
    reconstruct_every: u64,
    /// The next micro-batch.
    position: u64,
}

/// Encoder input ids `[batch, src]` and labels `[batch, tgt]` of corrupted chunks (all of one
/// length: no padding).
fn to_tensors(batch: &[Corrupted], device: &Device) -> (Tensor<2, Int>, Tensor<2, Int>) {
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
    (ints(inputs.collect(), s), ints(targets.collect(), t))
}

/// Held-out span-corruption losses of one model (docs/pretrain.md, "The health signal").
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HeldoutLoss {
    /// Mean loss on the held-out chunks.
    pub loss: f64,
    /// The same targets with each chunk's encoder input taken from the next chunk (the last
    /// from the first): what the model scores without reading its own input.
    pub swapped: f64,
}

impl HeldoutLoss {
    /// `swapped - loss`: how much the encoder input is worth, in nats per target token.
    pub fn gap(&self) -> f64 {
        self.swapped - self.loss
    }
}

/// The smallest [`HeldoutLoss::gap`] of a backbone that reads its input: below it, a
/// pretraining run's model is not a pretrained backbone (docs/pretrain.md).
pub const MIN_INPUT_GAP: f64 = 0.5;

/// Fixed corrupted chunks of held-out text, scored the same way at every evaluation.
pub struct HeldoutSet {
    chunks: Vec<Corrupted>,
    batch_size: usize,
}

impl HeldoutSet {
    /// `count` chunks evenly spread over `corpus` (all of them if it has fewer), corrupted in
    /// batches of `batch_size`, batch `k` with a seed fixed by (`seed`, `k`).
    pub fn new(
        corpus: &PretrainCorpus,
        corruption: &SpanCorruption,
        count: usize,
        batch_size: usize,
        seed: u64,
    ) -> Result<Self, TrainError> {
        let n = count.min(corpus.len());
        let indices: Vec<usize> = (0..n).map(|i| i * corpus.len() / n).collect();
        let batch_size = batch_size.max(1);
        let mut chunks = Vec::with_capacity(n);
        for (k, batch) in indices.chunks(batch_size).enumerate() {
            let seed = mix_seed(&[seed, k as u64, 2]) as u32;
            chunks.extend(corpus.corrupt(batch, corruption, seed)?);
        }
        Ok(Self { chunks, batch_size })
    }

    /// Chunks scored.
    pub fn len(&self) -> usize {
        self.chunks.len()
    }

    /// Whether there is no chunk to score.
    pub fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }

    /// Mean span-corruption loss (no smoothing) of `model`, and the loss of the same targets
    /// with the encoder inputs rolled by one chunk.
    pub fn score(&self, model: &T5Model, device: &Device) -> Result<HeldoutLoss, TrainError> {
        let n = self.chunks.len();
        if n < 2 {
            return Err(TrainError::Config(format!(
                "{n} held-out chunk(s): at least 2 are needed to swap inputs"
            )));
        }
        let mut swapped = self.chunks.clone();
        for (i, chunk) in swapped.iter_mut().enumerate() {
            chunk.input.clone_from(&self.chunks[(i + 1) % n].input);
        }
        let mean = |examples: &[Corrupted]| {
            let mut total = 0.0;
            for batch in examples.chunks(self.batch_size) {
                let (ids, labels) = to_tensors(batch, device);
                let decoder_ids = model.shift_right(labels.clone());
                let logits = model.forward(T5Input::new(ids), decoder_ids);
                let loss: f32 = cross_entropy(logits, labels, 0.0).into_scalar();
                total += f64::from(loss) * batch.len() as f64;
            }
            total / n as f64
        };
        Ok(HeldoutLoss {
            loss: mean(&self.chunks),
            swapped: mean(&swapped),
        })
    }
}

impl SpanCorruptionObjective {
    /// The examples of training micro-batch `position`: span corruption, or on every
    /// `reconstruct_every`-th micro-batch the same corrupted inputs with the whole chunk (and
    /// `</s>`) as the target.
    fn examples(&self, position: u64) -> Result<Vec<Corrupted>, TrainError> {
        let (indices, mut batch) =
            self.corpus
                .training_batch(position, self.batch_size, self.seed, &self.corruption)?;
        if self.reconstruct_every > 0 && position.is_multiple_of(self.reconstruct_every) {
            for (example, &index) in batch.iter_mut().zip(&indices) {
                example.target = self.corpus.chunk(index).to_vec();
                example.target.push(self.corruption.eos);
            }
        }
        Ok(batch)
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
        let batch = self.examples(self.position)?;
        self.position += 1;
        let (ids, labels) = to_tensors(&batch, device);
        let [b, s] = ids.dims();
        let input = PeltInput::text(ids, Tensor::ones([b, s], device), vec![0; b]);
        Ok((input, labels, batch.len(), None))
    }

    fn validate(&self, model: &PeltModel) -> Result<Validation, TrainError> {
        let device = model.t5.shared.val().device();
        let h = self.heldout.score(&model.t5, &device)?;
        let summary = format!(
            "held-out span-corruption loss {:.4}, with swapped inputs {:.4} (gap {:.4})",
            h.loss,
            h.swapped,
            h.gap()
        );
        let mut fields = serde_json::Map::new();
        fields.insert(
            "validation".into(),
            json!({PRETRAIN_TASK: [
                {"metric": "held-out loss", "value": h.loss},
                {"metric": "swapped-input loss", "value": h.swapped},
                {"metric": "swapped minus held-out loss", "value": h.gap()},
            ]}),
        );
        Ok(Validation {
            fields,
            score: -h.loss,
            summary,
        })
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

/// Hex SHA-256 of the bytes of `path`, read in pieces.
fn sha256_file(path: &Path) -> Result<String, TrainError> {
    let mut file = std::fs::File::open(path).map_err(io(path))?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher).map_err(io(path))?;
    Ok(hasher
        .finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect())
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
    let heldout_set = HeldoutSet::new(
        &heldout,
        &corruption,
        p.heldout_chunks,
        config.train.eval_batch_size,
        config.train.seed,
    )?;
    let n = heldout_set.len();
    tracing::info!(
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
        heldout: heldout_set,
        corruption,
        batch_size: config.train.batch_size,
        seed: config.train.seed,
        reconstruct_every: p.reconstruct_every,
        position: 0,
    })
}

/// The start of a pretraining run, for checking it against another implementation
/// (docs/pretrain.md, "The PyTorch cross-check"): the run's initial backbone as a Hugging Face
/// directory `out/init/` (tokenizer files included), and its first `steps` training batches as
/// `out/batches.json`, `[{"input_ids": [[..]], "labels": [[..]]}, ..]`. A run of the same
/// configuration started with `t5 = {"path": "out/init"}` trains on exactly these batches.
pub fn pretrain_start(config: &RunConfig, out: &Path, steps: u64) -> Result<(), TrainError> {
    let p = pretrain_section(config)?;
    let tokenizer_json = tokenizer_file(config)?;
    let tokenizer = T5Tokenizer::from_file(&tokenizer_json)?;
    let objective = objective(config, p, &tokenizer)?;
    let device = Device::default();
    let init = out.join("init");
    backbone(config, &device)?.save(&init)?;
    copy_tokenizer(&tokenizer_json, &init)?;
    let ids = |rows: Vec<Vec<u32>>| json!(rows);
    let batches = (0..steps * config.train.grad_accumulation as u64)
        .map(|position| {
            let batch = objective.examples(position)?;
            let (inputs, labels) = batch.into_iter().map(|c| (c.input, c.target)).unzip();
            Ok(json!({"input_ids": ids(inputs), "labels": ids(labels)}))
        })
        .collect::<Result<Vec<_>, TrainError>>()?;
    let file = out.join("batches.json");
    let text = serde_json::to_vec(&batches).map_err(serialise("batches"))?;
    pelt_weights::write_atomically(&file, &text)?;
    Ok(())
}

/// The `pretrain` section of `config`, or an error saying where to find an example.
fn pretrain_section(config: &RunConfig) -> Result<&PretrainConfig, TrainError> {
    config.pretrain.as_ref().ok_or_else(|| {
        TrainError::Config(
            "the configuration has no `pretrain` section (corpus, held-out text); see \
             configs/pretrain-t5-mini.json"
                .into(),
        )
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
    let p = pretrain_section(config)?;
    let tokenizer_json = tokenizer_file(config)?;
    let tokenizer = T5Tokenizer::from_file(&tokenizer_json)?;
    let run = RunDir::new(run);
    crate::run::resume::prepare(&run, config, resume)?;
    config.train.matmul_precision.apply(device);
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
    let (best, state) = optimise(config, &run, resume, (model, device), &mut objective, stop)?;
    let heldout = objective.heldout.score(&best.t5, device)?;
    if heldout.gap() < MIN_INPUT_GAP {
        tracing::warn!(
            "warning: swapping every encoder input costs the model only {:.3} nats (below \
             {MIN_INPUT_GAP}): it does not read its input and is not a pretrained backbone",
            heldout.gap()
        );
    }
    let out = run.pretrained_model();
    best.t5.save(&out)?;
    copy_tokenizer(&tokenizer_json, &out)?;
    let weights_sha256 = sha256_file(&out.join("model.safetensors"))?;
    let chunk_length = objective.corpus.chunk(0).len();
    let report = PretrainReport {
        steps: state.step,
        best_step: state.best.map(|(_, s)| s),
        heldout_loss: heldout.loss,
        swapped_input_loss: heldout.swapped,
        input_gap: heldout.gap(),
        corpus_documents: objective.corpus.documents,
        corpus_tokens: objective.corpus.tokens,
        chunks: objective.corpus.len(),
        chunk_length,
        input_length: p.input_length,
        target_length: objective.corruption.lengths_for_input(p.input_length).1,
        heldout_chunks: objective.heldout.len(),
        tokens_per_second: state.examples as f64 * chunk_length as f64
            / state.train_seconds.max(1e-9),
        train_seconds: state.train_seconds,
        parameters: best.param_counts().backbone,
        matmul_precision: crate::MatmulPrecision::in_effect(),
        model: out,
        weights_sha256,
    };
    let json = serde_json::to_vec_pretty(&report).map_err(serialise("report"))?;
    pelt_weights::write_atomically(&run.pretrain_report(), &json)?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// A run configuration over a small corpus of the bundled task sentences.
    fn config(dir: &Path, reconstruct_every: u64) -> RunConfig {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let text =
            std::fs::read_to_string(root.join("datasets/text/pd-source/train.jsonl")).unwrap();
        let lines: Vec<String> = text
            .lines()
            .take(200)
            .map(|l| {
                let row: serde_json::Value = serde_json::from_str(l).unwrap();
                json!({"text": row["sentence"]}).to_string()
            })
            .collect();
        let corpus = dir.join("corpus.jsonl");
        std::fs::write(&corpus, lines.join("\n")).unwrap();
        serde_json::from_value(json!({
            "t5": {"random": {"d_model": 8, "d_kv": 4, "d_ff": 8, "num_layers": 1,
                              "num_heads": 2}},
            "tokenizer": root.join("datasets/t5-tokenizer"),
            "data": root.join("datasets"),
            "tasks": [],
            "pretrain": {"corpus": corpus, "heldout": corpus, "input_length": 24,
                         "heldout_chunks": 4, "reconstruct_every": reconstruct_every},
            "pelt": {"method": "full"},
            "train": {"batch_size": 3, "eval_batch_size": 2, "seed": 5}
        }))
        .unwrap()
    }

    #[test]
    fn sha256_file_is_the_hex_digest() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("abc");
        std::fs::write(&file, b"abc").unwrap();
        assert_eq!(
            sha256_file(&file).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(sha256_file(&dir.path().join("missing")).is_err());
    }

    /// The bundled backbone's report names the hash of the weights committed beside it, and a
    /// report written before the hash was recorded still parses.
    #[test]
    fn bundled_report_records_the_weights_hash() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/t5-mini");
        let text = std::fs::read_to_string(dir.join("pretrain.json")).unwrap();
        let report: PretrainReport = serde_json::from_str(&text).unwrap();
        assert_eq!(report.weights_sha256.len(), 64);
        assert_eq!(
            report.weights_sha256,
            sha256_file(&dir.join("model.safetensors")).unwrap()
        );
        let mut old: serde_json::Value = serde_json::from_str(&text).unwrap();
        old.as_object_mut().unwrap().remove("weights_sha256");
        let old: PretrainReport = serde_json::from_value(old).unwrap();
        assert_eq!(old.weights_sha256, "");
        assert_eq!(old.steps, report.steps);
    }

    #[test]
    fn reconstruction_batches_target_the_whole_chunk() {
        let dir = tempfile::tempdir().unwrap();
        let device = Device::default();
        let tokenizer = T5Tokenizer::from_file(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../datasets/t5-tokenizer"),
        )
        .unwrap();
        let plain_config = config(dir.path(), 0);
        let mixed_config = config(dir.path(), 2);
        let section = |c: &RunConfig| c.pretrain.clone().unwrap();
        let mut plain = objective(&plain_config, &section(&plain_config), &tokenizer).unwrap();
        let mut mixed = objective(&mixed_config, &section(&mixed_config), &tokenizer).unwrap();
        let ints = |t: Tensor<2, Int>| -> Vec<i64> {
            t.into_data().convert::<i64>().try_to_vec().unwrap()
        };
        for position in 0..4_u64 {
            let (plain_input, plain_labels, _, _) = plain.next_batch(&device).unwrap();
            let (mixed_input, mixed_labels, _, _) = mixed.next_batch(&device).unwrap();
            // The corrupted input is the same either way.
            assert_eq!(ints(plain_input.input_ids), ints(mixed_input.input_ids));
            if position % 2 == 1 {
                assert_eq!(ints(plain_labels), ints(mixed_labels), "step {position}");
                continue;
            }
            // Every row is its chunk, then `</s>`.
            let indices = mixed.corpus.training_indices(position, 3, 5);
            let [rows, width] = mixed_labels.dims();
            assert_eq!((rows, width), (3, mixed.corpus.chunk(0).len() + 1));
            let labels = ints(mixed_labels);
            for (row, &index) in labels.chunks(width).zip(&indices) {
                let mut want: Vec<i64> = mixed
                    .corpus
                    .chunk(index)
                    .iter()
                    .map(|&t| i64::from(t))
                    .collect();
                want.push(1);
                assert_eq!(row, want.as_slice(), "step {position}");
            }
        }
    }
}
