//! Linear probes of the frozen backbone (`pelt probe`; docs/results.md, "Baselines"): what a
//! linear read-out of the frozen T5's features is worth on each text task, the yardstick a
//! parameter-efficient method must beat. Two feature sets per task: the encoder's output and
//! the input embeddings, each mean-pooled over the source's tokens (padding excluded); a
//! multinomial logistic regression on standardised features, its L2 weight chosen on the
//! validation split, then scored once on the test split.

use burn::nn::{Initializer, Linear, LinearConfig};
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use burn::tensor::TensorData;
use burn::tensor::activation::log_softmax;
use pelt_data::{DataError, Example, TaskData};
use pelt_t5::{T5Input, T5Model};
use serde::{Deserialize, Serialize};

use crate::error::TrainError;
use crate::resolve::config::RunConfig;
use crate::resolve::setup::{Data, backbone, load_data};

/// L2 weights tried on validation, smallest first (a tie keeps the smaller).
const L2_GRID: [f64; 5] = [1e-4, 1e-3, 1e-2, 1e-1, 1.0];
/// Full-batch Adam iterations of each fit, and its step size (the problem is convex and the
/// features standardised, so a fixed schedule converges; the unit test checks it separates).
const ITERATIONS: usize = 300;
const STEP: f64 = 0.05;

/// One probe of one task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeResult {
    /// Task name.
    pub task: String,
    /// `encoder` (the frozen encoder's output) or `embeddings` (the input embeddings).
    pub features: String,
    /// The L2 weight chosen on validation.
    pub l2: f64,
    /// Accuracy ×100 on the validation split.
    pub validation: f64,
    /// Accuracy ×100 on the test split.
    pub test: f64,
    /// The majority class's accuracy ×100 on the test split.
    pub majority: f64,
}

/// Probes every text task of `config`'s mixture on `device` (image tasks are skipped: the probe
/// reads text features only). `run` holds the data's caches.
pub fn probe(
    config: &RunConfig,
    run: &std::path::Path,
    device: &Device,
) -> Result<Vec<ProbeResult>, TrainError> {
    let t5 = backbone(config, device)?;
    let data = load_data(config, run, device)?;
    let mut results = Vec::new();
    for (index, task) in data.tasks.iter().enumerate() {
        if task.task.images > 0 {
            continue;
        }
        let classes = Classes::of(task);
        for kind in [Features::Encoder, Features::Embeddings] {
            let pool =
                |examples: &[Example]| pooled((&t5, device), &data, (index, task), examples, kind);
            let train = (pool(&task.train)?, classes.labels(&task.train));
            let validation = (pool(&task.validation)?, classes.labels(&task.validation));
            let test = (pool(&task.test)?, classes.labels(&task.test));
            let (mean, scale) = standardiser(&train.0);
            let norm = |x: Tensor<2>| (x - mean.clone()) / scale.clone();
            let (train_x, val_x, test_x) = (norm(train.0), norm(validation.0), norm(test.0));
            let fitted = |l2: f64| {
                let linear = fit(&train_x, &train.1, classes.names.len(), l2, device);
                (accuracy(&val_x, &linear, &validation.1), l2, linear)
            };
            // The first L2 that scores best on validation.
            let [first, rest @ ..] = L2_GRID;
            let mut best = fitted(first);
            for l2 in rest {
                let candidate = fitted(l2);
                if candidate.0 > best.0 {
                    best = candidate;
                }
            }
            let (validation_score, l2, linear) = best;
            results.push(ProbeResult {
                task: task.task.name.to_string(),
                features: kind.name().to_string(),
                l2,
                validation: validation_score,
                test: accuracy(&test_x, &linear, &test.1),
                majority: classes.majority(&task.test),
            });
        }
    }
    Ok(results)
}

/// The probe results as a Markdown table.
pub fn probe_markdown(results: &[ProbeResult]) -> String {
    let mut out = String::from(
        "| task | features | L2 (chosen on validation) | validation | test | majority (test) |\n\
         |---|---|---:|---:|---:|---:|\n",
    );
    for r in results {
        out.push_str(&format!(
            "| {} | {} | {} | {:.2} | {:.2} | {:.2} |\n",
            r.task, r.features, r.l2, r.validation, r.test, r.majority
        ));
    }
    out
}

/// Which frozen features a probe reads.
#[derive(Debug, Clone, Copy)]
enum Features {
    Encoder,
    Embeddings,
}

impl Features {
    fn name(self) -> &'static str {
        match self {
            Self::Encoder => "encoder",
            Self::Embeddings => "embeddings",
        }
    }
}

/// A task's classes: its training targets, sorted.
struct Classes {
    names: Vec<String>,
}

impl Classes {
    fn of(task: &TaskData) -> Self {
        let mut names: Vec<String> = task.train.iter().map(|e| e.target.clone()).collect();
        names.sort();
        names.dedup();
        Self { names }
    }

    /// Class index of each example; a target unseen in training gets `names.len()`, a class no
    /// prediction can take, so it counts wrong.
    fn labels(&self, examples: &[Example]) -> Vec<usize> {
        examples
            .iter()
            .map(|e| {
                self.names
                    .binary_search(&e.target)
                    .unwrap_or(self.names.len())
            })
            .collect()
    }

    /// Accuracy ×100 of always answering the most frequent training class.
    fn majority(&self, examples: &[Example]) -> f64 {
        let counts = |target: &String| examples.iter().filter(|e| &e.target == target).count();
        let best = self.names.iter().map(counts).max().unwrap_or(0);
        100.0 * best as f64 / examples.len().max(1) as f64
    }
}

/// Mean-pooled features `[examples, d_model]` of `examples` (task `index` of the mixture).
fn pooled(
    (t5, device): (&T5Model, &Device),
    data: &Data,
    (index, task): (usize, &TaskData),
    examples: &[Example],
    kind: Features,
) -> Result<Tensor<2>, TrainError> {
    let mut rows = Vec::new();
    for batch in data.batcher.split_batches(index, &task.root, examples, 64) {
        let batch = batch?;
        let (b, s) = (batch.batch_size, batch.source_len);
        let ints =
            |v: &[i64]| Tensor::<2, Int>::from_data(TensorData::new(v.to_vec(), [b, s]), device);
        let (ids, mask) = (ints(&batch.input_ids), ints(&batch.attention_mask));
        let hidden = match kind {
            Features::Encoder => t5.encode(T5Input::new(ids).mask(mask.clone())?).hidden,
            Features::Embeddings => t5.embed(ids),
        };
        // [b, s, d] masked mean over s.
        let weights = mask.float().unsqueeze_dim::<3>(2);
        let sum = (hidden * weights.clone()).sum_dim(1).squeeze_dim::<2>(1);
        rows.push(sum / weights.sum_dim(1).squeeze_dim::<2>(1).clamp_min(1.0));
    }
    if rows.is_empty() {
        return Err(TrainError::Data(DataError::EmptyDataset {
            what: format!("task {}: the split to probe", task.task.name),
        }));
    }
    Ok(Tensor::cat(rows, 0))
}

/// Per-column mean and standard deviation `[1, d]` of `x` (floored, so that a constant column
/// standardises to zeros).
fn standardiser(x: &Tensor<2>) -> (Tensor<2>, Tensor<2>) {
    let mean = x.clone().mean_dim(0);
    let var = (x.clone() - mean.clone()).powi_scalar(2).mean_dim(0);
    (mean, var.sqrt().clamp_min(1e-6))
}

/// Multinomial logistic regression of `x: [n, d]` on `labels` (`classes` classes), minimising
/// the mean cross-entropy plus `l2 · |W|²` by full-batch Adam from zero weights; returns the
/// fitted layer (`x W + b`), without autodiff.
fn fit(x: &Tensor<2>, labels: &[usize], classes: usize, l2: f64, device: &Device) -> Linear {
    let autodiff = device.clone().autodiff();
    let [n, d] = x.dims();
    let x = x.clone().to_device(&autodiff);
    let onehot = one_hot(labels, classes, &autodiff);
    let mut linear = LinearConfig::new(d, classes)
        .with_initializer(Initializer::Zeros)
        .init(&autodiff);
    let mut adam = AdamConfig::new().init();
    for _ in 0..ITERATIONS {
        let logits = linear.forward(x.clone());
        let nll = -(log_softmax(logits, 1) * onehot.clone()).sum() / n as f64;
        let loss = nll + linear.weight.val().powi_scalar(2).sum() * l2;
        let grads = GradientsParams::from_grads(loss.backward(), &linear);
        linear = adam.step(STEP, linear, grads);
    }
    linear.valid()
}

/// `[n, classes]` one-hot rows; a label `>= classes` gives an all-zero row.
fn one_hot(labels: &[usize], classes: usize, device: &Device) -> Tensor<2> {
    let mut values = vec![0f32; labels.len() * classes];
    for (row, &label) in labels.iter().enumerate() {
        if label < classes {
            values[row * classes + label] = 1.0;
        }
    }
    Tensor::from_data(TensorData::new(values, [labels.len(), classes]), device)
}

/// Accuracy ×100 of `argmax(x W + b)` against `labels`.
fn accuracy(x: &Tensor<2>, linear: &Linear, labels: &[usize]) -> f64 {
    let logits = linear.forward(x.clone());
    let predicted: Vec<i64> = logits
        .argmax(1)
        .into_data()
        .convert::<i64>()
        .try_to_vec::<i64>()
        .unwrap_or_default();
    let right = predicted
        .iter()
        .zip(labels)
        .filter(|(p, l)| usize::try_from(**p).is_ok_and(|p| p == **l))
        .count();
    100.0 * right as f64 / labels.len().max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fit_separates_separable_classes_and_l2_shrinks_the_weights() {
        let device = Device::default();
        // Two features; the class is the sign of the first, the second is noise.
        let rows: Vec<f32> = (0..40)
            .flat_map(|i| {
                let sign = if i % 2 == 0 { 1.0 } else { -1.0 };
                [
                    sign * (1.0 + (i % 5) as f32 * 0.1),
                    ((i * 7) % 11) as f32 / 11.0 - 0.5,
                ]
            })
            .collect();
        let labels: Vec<usize> = (0..40).map(|i| usize::from(i % 2 == 1)).collect();
        let x = Tensor::<2>::from_data(TensorData::new(rows, [40, 2]), &device);
        let (mean, scale) = standardiser(&x);
        let x = (x - mean) / scale;
        let weak = fit(&x, &labels, 2, 1e-4, &device);
        assert_eq!(accuracy(&x, &weak, &labels), 100.0);
        let strong = fit(&x, &labels, 2, 1.0, &device);
        let norm = |l: &Linear| l.weight.val().powi_scalar(2).sum().into_scalar::<f32>();
        assert!(norm(&strong) < norm(&weak));
        // A label unseen in training counts wrong.
        assert_eq!(accuracy(&x.clone().narrow(0, 0, 2), &weak, &[0, 2]), 50.0);
    }
}
