//! A task's reported numbers (×100) from predictions, and the GLUE score.

use crate::error::{DataError, Result};
use crate::metrics::classification::{check_lengths, int_or_invalid};
use crate::metrics::{
    accuracy, caption_tokens, cider_d, exact_match, f1_with_invalid, matthews, parse_scores,
    pearson, spearman, vqa_accuracy,
};
use crate::record::Example;
use crate::registry::GLUE;
use crate::task::{Metric, TaskSpec};

/// One reported number.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Score {
    /// Which metric.
    pub metric: Metric,
    /// Its value ×100.
    pub value: f64,
}

/// Tasks whose predictions and targets the reference post-processes with `int()` before every
/// metric (HyperFormer's `get_post_processor`): `"01"` counts as `"1"` there.
const INT_POSTPROCESSED: [&str; 3] = ["cola", "mrpc", "qqp"];

/// Scores `predictions[i]` (decoded text) against `examples[i]` with every metric of the task,
/// ×100, in the task's order.
pub fn evaluate<P: AsRef<str>>(
    task: &TaskSpec,
    predictions: &[P],
    examples: &[Example],
) -> Result<Vec<Score>> {
    if INT_POSTPROCESSED.contains(&task.name) {
        let ints = |v: &mut dyn Iterator<Item = &str>| -> Vec<String> {
            v.map(|s| int_or_invalid(s).to_string()).collect()
        };
        let preds = ints(&mut predictions.iter().map(AsRef::as_ref));
        let targets = ints(&mut examples.iter().map(|e| e.target.as_str()));
        return scores(task, &preds, &targets, examples);
    }
    let targets: Vec<&str> = examples.iter().map(|e| e.target.as_str()).collect();
    scores(task, predictions, &targets, examples)
}

fn scores<P: AsRef<str>, T: AsRef<str>>(
    task: &TaskSpec,
    predictions: &[P],
    targets: &[T],
    examples: &[Example],
) -> Result<Vec<Score>> {
    check_lengths("evaluate", predictions.len(), examples.len())?;
    task.metrics
        .iter()
        .map(|&metric| {
            let value = match metric {
                Metric::Accuracy => accuracy(predictions, targets)?,
                Metric::F1 => f1_with_invalid(predictions, targets)?,
                Metric::Matthews => matthews(predictions, targets)?,
                Metric::Pearson => {
                    let (p, t) = parse_scores("pearson", predictions, targets)?;
                    pearson(&p, &t)?
                }
                Metric::Spearman => {
                    let (p, t) = parse_scores("spearman", predictions, targets)?;
                    spearman(&p, &t)?
                }
                Metric::VqaAccuracy => {
                    let refs: Vec<Vec<&str>> = examples
                        .iter()
                        .map(|e| e.references.iter().map(String::as_str).collect())
                        .collect();
                    vqa_accuracy(predictions, &refs)?
                }
                Metric::ExactMatch => exact_match(predictions, targets)?,
                Metric::CiderD => {
                    let preds: Vec<String> = predictions
                        .iter()
                        .map(|p| caption_tokens(p.as_ref()))
                        .collect();
                    let refs: Vec<Vec<String>> = examples
                        .iter()
                        .map(|e| e.references.iter().map(|r| caption_tokens(r)).collect())
                        .collect();
                    cider_d(&preds, &refs)?.0
                }
            };
            Ok(Score {
                metric,
                value: 100.0 * value,
            })
        })
        .collect()
}

/// The GLUE score: the plain mean of every reported number of the eight GLUE tasks (MRPC and
/// QQP contribute F1 and accuracy, STS-B Pearson and Spearman). `results` holds
/// `(task name, its scores)`; every GLUE task must be present.
pub fn glue_score(results: &[(&str, Vec<Score>)]) -> Result<f64> {
    let mut numbers = Vec::new();
    for name in GLUE {
        let (_, scores) =
            results
                .iter()
                .find(|(n, _)| *n == name)
                .ok_or_else(|| DataError::Metric {
                    metric: "glue",
                    reason: format!("no scores for task {name}"),
                })?;
        numbers.extend(scores.iter().map(|s| s.value));
    }
    Ok(numbers.iter().sum::<f64>() / numbers.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::task;

    fn example(target: &str) -> Example {
        Example {
            id: String::new(),
            source: String::new(),
            target: target.to_owned(),
            references: vec![target.to_owned()],
            images: vec![],
        }
    }

    #[test]
    fn mrpc_reports_f1_then_accuracy_times_100() {
        let examples: Vec<Example> = ["1", "0", "1", "0"].map(example).to_vec();
        let scores = evaluate(task("mrpc").unwrap(), &["1", "1", "0", "0"], &examples).unwrap();
        assert_eq!(scores[0].metric, Metric::F1);
        assert_eq!(scores[0].value, 50.0);
        assert_eq!(scores[1].value, 50.0);
        // MRPC predictions go through int() as in the reference: "01" is right, "x" wrong.
        let scores = evaluate(task("mrpc").unwrap(), &["01", "x", "1", "0"], &examples).unwrap();
        assert_eq!(scores[1].value, 75.0);
    }

    #[test]
    fn glue_score_is_the_mean_of_all_eleven_numbers() {
        let results: Vec<(&str, Vec<Score>)> = GLUE
            .iter()
            .map(|&name| {
                let t = task(name).unwrap();
                let scores = t
                    .metrics
                    .iter()
                    .map(|&metric| Score {
                        metric,
                        value: if name == "stsb" { 100.0 } else { 50.0 },
                    })
                    .collect();
                (name, scores)
            })
            .collect();
        // 11 numbers: two of them (STS-B) are 100, nine are 50.
        let expected = (2.0 * 100.0 + 9.0 * 50.0) / 11.0;
        assert!((glue_score(&results).unwrap() - expected).abs() < 1e-12);
        assert!(glue_score(&results[1..]).is_err());
    }
}
