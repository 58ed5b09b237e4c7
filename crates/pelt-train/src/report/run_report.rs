//! The final report of a run: per task, the metrics on validation and test beside the
//! majority baseline; parameters and throughput. Written as JSON and Markdown.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{TrainError, serialise};
use crate::report::selection::MetricValue;
use crate::run::run_dir::RunDir;

/// One task's results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskReport {
    /// Task name.
    pub task: String,
    /// Its primary metric, the one model selection reads (absent in earlier reports).
    #[serde(default)]
    pub primary: String,
    /// Metrics of the best model on the whole validation set.
    pub validation: Vec<MetricValue>,
    /// Metrics of the best model on the test set.
    pub test: Vec<MetricValue>,
    /// The majority baseline's metrics on the test set.
    pub baseline: Vec<MetricValue>,
    /// Test examples.
    pub test_examples: usize,
}

/// A run's results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Tuning method.
    pub method: String,
    /// Where the T5 weights came from.
    pub backbone: String,
    /// Optimiser steps.
    pub steps: u64,
    /// Step of the best validation score under `selection`.
    pub best_step: Option<u64>,
    /// The model-selection rule, in words (absent in earlier reports).
    #[serde(default)]
    pub selection: String,
    /// Trainable parameters.
    pub trainable: usize,
    /// Parameters of the T5 backbone.
    pub backbone_params: usize,
    /// Training examples per second (training steps only).
    pub examples_per_second: f64,
    /// Fraction of the training time spent preparing batches rather than in the model.
    #[serde(default)]
    pub data_share: f64,
    /// The inputs of the CPU backend's products, as the run had them (`train.matmul_precision`
    /// after any fallback; absent in earlier reports: f32).
    #[serde(default)]
    pub matmul_precision: crate::MatmulPrecision,
    /// Per-task results.
    pub tasks: Vec<TaskReport>,
}

/// One task on one split: its name, its scores, the majority baseline's and the number of
/// examples.
pub type SplitRow = (String, Vec<MetricValue>, Vec<MetricValue>, usize);

/// Scores of every task on one split beside the majority baseline on it: what `pelt eval
/// --split` prints.
pub fn split_markdown(split: &str, rows: &[SplitRow]) -> String {
    let mut out = format!(
        "| task | {split} | majority baseline ({split}) | examples |\n|---|---|---|---:|\n"
    );
    for (task, scores, baseline, examples) in rows {
        out.push_str(&format!(
            "| {task} | {} | {} | {examples} |\n",
            join(scores),
            join(baseline)
        ));
    }
    out
}

fn join(values: &[MetricValue]) -> String {
    values
        .iter()
        .map(|m| format!("{} {:.2}", m.metric, m.value))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Report {
    /// The report as Markdown.
    pub fn markdown(&self) -> String {
        let mut out = format!(
            "# Run report\n\nMethod `{}` on {}; {} steps, best validation at step {} \
             (selection: {}).\n\
             Trainable parameters: {} ({:.2}% of the {}-parameter backbone). \
             Training throughput: {:.1} examples/s ({:.1}% of it preparing batches).\n\n\
             | task | validation | test | majority baseline (test) | test examples |\n|---|---|---|---|---:|\n",
            self.method,
            self.backbone,
            self.steps,
            self.best_step.map_or("-".to_string(), |s| s.to_string()),
            self.selection,
            self.trainable,
            100.0 * self.trainable as f64 / self.backbone_params.max(1) as f64,
            self.backbone_params,
            self.examples_per_second,
            100.0 * self.data_share,
        );
        for t in &self.tasks {
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} |\n",
                t.task,
                join(&t.validation),
                join(&t.test),
                join(&t.baseline),
                t.test_examples
            ));
        }
        out
    }

    /// Writes `report.json` and `report.md` into `run`, atomically.
    pub fn write(&self, run: &Path) -> Result<(), TrainError> {
        let json = serde_json::to_vec_pretty(self).map_err(serialise("report"))?;
        let run = RunDir::new(run);
        pelt_weights::write_atomically(&run.output("report.json"), &json)?;
        pelt_weights::write_atomically(&run.output("report.md"), self.markdown().as_bytes())?;
        Ok(())
    }
}
