//! Evaluation by generation: decode a split, score it with the task's metrics, and the
//! majority-class (most frequent answer) baseline beside it.

use std::collections::BTreeMap;

use burn::prelude::*;
use pelt_data::metrics::Score;
use pelt_data::{Batcher, Example, Metric, TaskData};
use pelt_hyper::PeltModel;
use pelt_t5::{GenerationConfig, T5Tokenizer};

use crate::error::TrainError;
use crate::report::run_report::SplitRow;
use crate::report::selection::MetricValue;
use crate::resolve::train_config::TrainConfig;
use crate::to_tensors::to_input;

fn values(scores: Vec<Score>) -> Vec<MetricValue> {
    scores
        .into_iter()
        .map(|s| MetricValue {
            metric: s.metric.name().to_string(),
            value: s.value,
        })
        .collect()
}

/// What evaluation needs besides the model.
pub struct Evaluator<'a> {
    /// Batches splits.
    pub batcher: &'a Batcher,
    /// Decodes generated ids.
    pub tokenizer: &'a T5Tokenizer,
    /// Batch size, generation lengths, beams.
    pub train: &'a TrainConfig,
    /// The run's device (inference, no autodiff).
    pub device: Device,
}

impl Evaluator<'_> {
    /// Generated text for every example of `examples` (task `index` of the mixture).
    pub fn predict(
        &self,
        model: &PeltModel,
        index: usize,
        data: &TaskData,
        examples: &[Example],
    ) -> Result<Vec<String>, TrainError> {
        let captions = data.task.metrics.contains(&Metric::CiderD);
        let generation = if captions {
            GenerationConfig::beam(self.train.caption_beams, self.train.max_new_tokens)
        } else {
            GenerationConfig::greedy(self.train.max_new_tokens)
        };
        let mut predictions = Vec::with_capacity(examples.len());
        for batch in
            self.batcher
                .split_batches(index, &data.root, examples, self.train.eval_batch_size)
        {
            let (input, _) = to_input(&batch?, &self.device)?;
            for ids in model.generate(input, &generation)? {
                predictions.push(self.tokenizer.decode(&ids)?.trim().to_string());
            }
        }
        Ok(predictions)
    }

    /// Scores of task `index` on `examples` (the first `limit`, or all when 0).
    pub fn score(
        &self,
        model: &PeltModel,
        index: usize,
        data: &TaskData,
        examples: &[Example],
        limit: usize,
    ) -> Result<Vec<MetricValue>, TrainError> {
        let examples = if limit > 0 && limit < examples.len() {
            &examples[..limit]
        } else {
            examples
        };
        let predictions = self.predict(model, index, data, examples)?;
        Ok(values(data.evaluate(&predictions, examples)?))
    }

    /// Every task of the mixture `tasks` on the examples `split` takes from it (all of them),
    /// beside the majority baseline: the rows of [`split_markdown`](crate::split_markdown)
    /// (`pelt eval --split`).
    pub fn split_scores(
        &self,
        model: &PeltModel,
        tasks: &[TaskData],
        split: impl Fn(&TaskData) -> &[Example],
    ) -> Result<Vec<SplitRow>, TrainError> {
        let mut rows = Vec::new();
        for (index, task) in tasks.iter().enumerate() {
            let examples = split(task);
            rows.push((
                task.task.name.to_string(),
                self.score(model, index, task, examples, 0)?,
                majority_baseline(task, examples)?,
                examples.len(),
            ));
        }
        Ok(rows)
    }
}

/// The majority baseline: the most frequent training target, predicted for every example.
pub fn majority_baseline(
    data: &TaskData,
    examples: &[Example],
) -> Result<Vec<MetricValue>, TrainError> {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for e in &data.train {
        *counts.entry(e.target.as_str()).or_default() += 1;
    }
    let majority = counts
        .iter()
        .max_by_key(|(target, n)| (**n, std::cmp::Reverse(**target)))
        .map_or("", |(target, _)| *target);
    let predictions = vec![majority; examples.len()];
    Ok(values(data.evaluate(&predictions, examples)?))
}
