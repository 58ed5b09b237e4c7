//! Model selection (docs/train.md, "Model selection"): the validation score that the kept model
//! (`best.safetensors`) maximises, `train.selection`.

use pelt_data::TaskSpec;
use serde::{Deserialize, Serialize};

/// One metric's value (×100).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricValue {
    /// Metric name (`accuracy`, `f1`, ...).
    pub metric: String,
    /// Value ×100.
    pub value: f64,
}

/// How validation scores become the one number model selection maximises.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Selection {
    /// The mean over tasks of each task's primary metric ([`TaskSpec::primary_metric`]):
    /// accuracy, Matthews for CoLA, Pearson for STS-B, VQA accuracy or exact match, CIDEr-D.
    /// A constant answer cannot raise it through a second metric of the same predictions.
    #[default]
    Primary,
    /// The spec's rule: the plain mean of every reported number of every task. It counts a task
    /// with two metrics twice, and F1 moves by up to 66.7 points between two constant answers.
    Mean,
}

impl Selection {
    /// The rule in words, for reports and logs.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Primary => "mean over tasks of each task's primary metric",
            Self::Mean => "plain mean of every validation number",
        }
    }

    /// The selection score of one evaluation: `tasks` pairs each task with its validation
    /// metrics (every metric of the task, as `evaluate` reports them).
    pub fn score<'a>(
        self,
        tasks: impl IntoIterator<Item = (&'a TaskSpec, &'a [MetricValue])>,
    ) -> f64 {
        let values: Vec<f64> = tasks
            .into_iter()
            .flat_map(|(task, metrics)| {
                let primary = task.primary_metric().name();
                metrics
                    .iter()
                    .filter(move |m| self == Self::Mean || m.metric == primary)
                    .map(|m| m.value)
            })
            .collect();
        values.iter().sum::<f64>() / values.len().max(1) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pelt_data::metrics::evaluate;
    use pelt_data::registry::task;
    use pelt_data::{Example, TaskSpec};

    fn examples(targets: &[&str]) -> Vec<Example> {
        targets
            .iter()
            .enumerate()
            .map(|(i, t)| Example {
                id: format!("line-{i}"),
                source: String::new(),
                target: (*t).to_string(),
                references: vec![(*t).to_string()],
                images: Vec::new(),
            })
            .collect()
    }

    /// Every metric of `task` for `predictions` against `targets`, as training reports them.
    fn scored(task: &TaskSpec, predictions: &[&str], targets: &[Example]) -> Vec<MetricValue> {
        evaluate(task, predictions, targets)
            .unwrap()
            .into_iter()
            .map(|s| MetricValue {
                metric: s.metric.name().to_string(),
                value: s.value,
            })
            .collect()
    }

    #[test]
    fn a_constant_answer_cannot_beat_a_better_checkpoint() {
        let (pair, single) = (task("pd-next").unwrap(), task("pd-source").unwrap());
        // A balanced pair task and a one-sentence task, ten validation examples each.
        let pair_targets = examples(&["1", "0", "1", "0", "1", "0", "1", "0", "1", "0"]);
        let single_targets = examples(&["0", "1", "0", "1", "0", "1", "0", "1", "0", "1"]);
        // Checkpoint A answers "1" to every pair (accuracy 50, F1 66.7) and gets 8/10 singles.
        let a = [
            scored(pair, &["1"; 10], &pair_targets),
            scored(
                single,
                &["0", "1", "0", "1", "0", "1", "0", "1", "1", "0"],
                &single_targets,
            ),
        ];
        // Checkpoint B learned a little of the pairs (6/10, mostly "0", F1 33.3) and gets 9/10
        // singles: better on every task's accuracy.
        let b = [
            scored(
                pair,
                &["0", "0", "0", "0", "0", "0", "1", "0", "0", "0"],
                &pair_targets,
            ),
            scored(
                single,
                &["0", "1", "0", "1", "0", "1", "0", "1", "0", "0"],
                &single_targets,
            ),
        ];
        let rule = |rule: Selection, s: &[Vec<MetricValue>; 2]| {
            rule.score([(pair, s[0].as_slice()), (single, s[1].as_slice())])
        };
        assert!((rule(Selection::Primary, &a) - 65.0).abs() < 1e-9);
        assert!((rule(Selection::Primary, &b) - 75.0).abs() < 1e-9);
        assert!(rule(Selection::Primary, &b) > rule(Selection::Primary, &a));
        // The spec's plain mean keeps the constant answer: what the default rule fixes.
        assert!(rule(Selection::Mean, &a) > rule(Selection::Mean, &b));
    }

    #[test]
    fn the_rule_names_are_read_and_written_as_configured() {
        let rule: Selection = serde_json::from_str("\"mean\"").unwrap();
        assert_eq!(rule, Selection::Mean);
        assert_eq!(
            serde_json::to_string(&Selection::Primary).unwrap(),
            "\"primary\""
        );
        assert!(serde_json::from_str::<Selection>("\"best\"").is_err());
        assert_eq!(Selection::default(), Selection::Primary);
    }
}
