//! What defines a task: its source template, label set, metrics, split policy and file layouts.

use std::path::Path;

use crate::error::{DataError, Result};
use crate::layout::Layout;
use crate::record::{Example, RawLabel, Record};
use crate::skipped::ReadReport;

/// How a label becomes the target string.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LabelKind {
    /// Classification; the target is the class index as a digit string (`"0"`, `"1"`, ...).
    /// The names are the string labels of the official files, in Hugging Face `ClassLabel` order.
    Classes(&'static [&'static str]),
    /// Classification whose target is the label word itself (NLVR2 `"true"`/`"false"`).
    Words(&'static [&'static str]),
    /// A real score in `[min, max]`; target `round(label, 1)` as text (`"3.8"`, `"0.0"`).
    Score {
        /// Smallest valid score.
        min: f64,
        /// Largest valid score.
        max: f64,
    },
    /// Free text (answers, captions): no closed label set.
    Text,
}

/// The evaluation metrics of docs/method.md §9.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Metric {
    /// Exact string match of prediction and target.
    Accuracy,
    /// Binary F1 of class `"1"`, invalid predictions counted wrong.
    F1,
    /// Matthews correlation coefficient.
    Matthews,
    /// Pearson correlation of parsed scores.
    Pearson,
    /// Spearman rank correlation (ties averaged).
    Spearman,
    /// VQA soft accuracy with the official answer normalisation.
    VqaAccuracy,
    /// GQA exact match.
    ExactMatch,
    /// CIDEr-D over all references.
    CiderD,
}

impl Metric {
    /// The metric's short name for reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::Accuracy => "accuracy",
            Self::F1 => "f1",
            Self::Matthews => "matthews",
            Self::Pearson => "pearson",
            Self::Spearman => "spearman",
            Self::VqaAccuracy => "vqa_accuracy",
            Self::ExactMatch => "exact_match",
            Self::CiderD => "cider_d",
        }
    }
}

/// How the train/validation/test splits are made from the official ones (docs/method.md §9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SplitPolicy {
    /// Small data sets: the official `validation` split is shuffled (`torch.randperm` with the
    /// seed) and halved: first half validation, second half test. Training is the official train.
    HalveValidation {
        /// The official split that is halved.
        validation: &'static str,
    },
    /// Large data sets: `count` shuffled training examples become validation and are removed
    /// from training; the official split `test` is the test set.
    HoldOutTrain {
        /// How many training examples are held out.
        count: usize,
        /// The official split used as test.
        test: &'static str,
    },
    /// Official splits used as they are.
    Official {
        /// The official split used as validation.
        validation: &'static str,
        /// The official split used as test.
        test: &'static str,
    },
}

/// One task of the registry. See [`crate::registry`] for the table of all tasks.
#[derive(Debug, Clone, Copy)]
pub struct TaskSpec {
    /// Registry name (`"rte"`, `"vqa"`).
    pub name: &'static str,
    /// Source template: `{field}` is replaced by the record's text field of that name.
    pub source: &'static str,
    /// How labels become targets.
    pub labels: LabelKind,
    /// Metrics reported for this task, in order.
    pub metrics: &'static [Metric],
    /// How splits are made.
    pub split: SplitPolicy,
    /// Supported on-disk layouts, tried in order.
    pub layouts: &'static [Layout],
    /// Images per example (0 for text tasks, 2 for NLVR2).
    pub images: usize,
}

impl SplitPolicy {
    /// The official splits this policy reads: `train` and its validation and test sources.
    pub fn official_splits(&self) -> Vec<&'static str> {
        match *self {
            Self::HalveValidation { validation } => vec!["train", validation],
            Self::HoldOutTrain { test, .. } => vec!["train", test],
            Self::Official { validation, test } => vec!["train", validation, test],
        }
    }
}

impl TaskSpec {
    /// The task's primary metric, the one model selection reads (docs/train.md, "Model
    /// selection"): accuracy where the task reports it (MRPC and QQP report F1 first), else its
    /// first metric (Matthews for CoLA, Pearson for STS-B, VQA accuracy, exact match, CIDEr-D).
    /// F1 is never primary: a constant answer scores 0 or up to 66.7 on it with nothing learned.
    pub fn primary_metric(&self) -> Metric {
        if self.metrics.contains(&Metric::Accuracy) {
            Metric::Accuracy
        } else {
            self.metrics.first().copied().unwrap_or(Metric::Accuracy)
        }
    }

    /// Whether some layout of the task reads the file at `relative` (a path under the task's
    /// directory, `/`-separated) for one of its splits: what a download of the task fetches.
    pub fn reads(&self, relative: &str) -> bool {
        let splits = self.split.official_splits();
        self.layouts.iter().any(|layout| {
            splits
                .iter()
                .any(|split| layout.reads(split, Path::new(relative)))
        })
    }

    /// Renders the source template with the record's fields.
    ///
    /// A template field missing from the record is a malformed row, reported with file and line.
    pub fn render_source(&self, record: &Record) -> Result<String> {
        let mut out = String::with_capacity(self.source.len() + 64);
        let mut rest = self.source;
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let after = &rest[open + 1..];
            let close = after.find('}').unwrap_or(after.len());
            let name = &after[..close];
            let value = record.fields.get(name).ok_or_else(|| {
                DataError::malformed(
                    record.origin.path.as_ref(),
                    record.origin.line,
                    format!("missing field {name:?} needed by task {}", self.name),
                )
            })?;
            out.push_str(value);
            rest = after.get(close + 1..).unwrap_or("");
        }
        out.push_str(rest);
        Ok(out)
    }

    /// Turns a record into an example, or `None` for a row the reference code also drops
    /// (the `"-"` no-consensus label of MNLI/SNLI-style files), counted in `report`.
    pub fn example(&self, record: Record, report: &mut ReadReport) -> Result<Option<Example>> {
        let source = self.render_source(&record)?;
        let target = match self.target(&record)? {
            Some(t) => t,
            None => {
                report.skip_no_consensus(&record.origin);
                return Ok(None);
            }
        };
        let references = if record.answers.is_empty() {
            vec![target.clone()]
        } else {
            record.answers
        };
        Ok(Some(Example {
            id: record.id,
            source,
            target,
            references,
            images: record.images,
        }))
    }

    fn target(&self, record: &Record) -> Result<Option<String>> {
        let label = match &record.label {
            Some(l) => l,
            None => {
                return Err(DataError::malformed(
                    record.origin.path.as_ref(),
                    record.origin.line,
                    format!("no label (task {} needs one)", self.name),
                ));
            }
        };
        if matches!(label, RawLabel::Text(t) if t == "-") && self.labels != LabelKind::Text {
            return Ok(None);
        }
        let unknown = |expected: String| DataError::UnknownLabel {
            path: record.origin.path.to_path_buf(),
            line: record.origin.line,
            task: self.name.to_owned(),
            label: label.to_string(),
            expected,
        };
        match self.labels {
            LabelKind::Classes(names) => {
                let index = match label {
                    RawLabel::Int(i) => usize::try_from(*i).ok(),
                    RawLabel::Text(t) => match t.trim().parse::<usize>() {
                        Ok(i) => Some(i),
                        Err(_) => names.iter().position(|n| n == t),
                    },
                    RawLabel::Bool(b) => Some(usize::from(*b)),
                    RawLabel::Float(_) => None,
                };
                match index {
                    Some(i) if i < names.len() => Ok(Some(i.to_string())),
                    _ => Err(unknown(class_list(names))),
                }
            }
            LabelKind::Words(words) => {
                let word = match label {
                    RawLabel::Int(i) => usize::try_from(*i).ok().and_then(|i| words.get(i)),
                    RawLabel::Text(t) => words.iter().find(|w| w.eq_ignore_ascii_case(t.trim())),
                    RawLabel::Bool(b) => {
                        let text = if *b { "true" } else { "false" };
                        words.iter().find(|w| **w == text)
                    }
                    RawLabel::Float(_) => None,
                };
                word.map(|w| Some((*w).to_owned()))
                    .ok_or_else(|| unknown(words.join(", ")))
            }
            LabelKind::Score { min, max } => {
                let value = match label {
                    RawLabel::Float(x) => Some(*x),
                    RawLabel::Int(i) => Some(*i as f64),
                    RawLabel::Text(t) => t.trim().parse::<f64>().ok(),
                    RawLabel::Bool(_) => None,
                };
                match value {
                    Some(x) if x.is_finite() && (min..=max).contains(&x) => {
                        Ok(Some(score_target(x)))
                    }
                    _ => Err(unknown(format!("a number in [{min}, {max}]"))),
                }
            }
            LabelKind::Text => Ok(Some(label.to_string())),
        }
    }
}

fn class_list(names: &[&str]) -> String {
    names
        .iter()
        .enumerate()
        .map(|(i, n)| format!("{i} or {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// STS-B target text: `numpy.round(label, 1)` printed as Python prints it (`3.8`, `2.0`).
///
/// NumPy rounds by scaling by ten and rounding half to even, so `0.75 -> 0.8` and `2.25 -> 2.2`.
pub fn score_target(label: f64) -> String {
    let rounded = (label * 10.0).round_ties_even() / 10.0;
    format!("{rounded:.1}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Origin;
    use std::path::Path;
    use std::sync::Arc;

    #[test]
    fn the_primary_metric_is_accuracy_where_reported_else_the_first() {
        use crate::registry::task;
        let primary = |name: &str| task(name).unwrap().primary_metric();
        assert_eq!(primary("mrpc"), Metric::Accuracy);
        assert_eq!(primary("qqp"), Metric::Accuracy);
        assert_eq!(primary("pd-next"), Metric::Accuracy);
        assert_eq!(primary("cola"), Metric::Matthews);
        assert_eq!(primary("stsb"), Metric::Pearson);
        assert_eq!(primary("vqa"), Metric::VqaAccuracy);
        assert_eq!(primary("gqa"), Metric::ExactMatch);
        assert_eq!(primary("coco"), Metric::CiderD);
        for spec in crate::registry::TASKS {
            assert!(
                spec.metrics.contains(&spec.primary_metric()),
                "{}",
                spec.name
            );
            assert_ne!(spec.primary_metric(), Metric::F1, "{}", spec.name);
        }
    }

    fn record(label: RawLabel) -> Record {
        let origin = Origin {
            path: Arc::from(Path::new("train.tsv")),
            line: 7,
        };
        let mut r = Record::new(origin)
            .field("premise", "A man.")
            .field("hypothesis", "A person.");
        r.label = Some(label);
        r
    }

    const NLI: TaskSpec = TaskSpec {
        name: "nli",
        source: "premise: {premise} hypothesis {hypothesis}",
        labels: LabelKind::Classes(&["entailment", "neutral", "contradiction"]),
        metrics: &[Metric::Accuracy],
        split: SplitPolicy::Official {
            validation: "validation",
            test: "test",
        },
        layouts: &[],
        images: 0,
    };

    #[test]
    fn template_and_string_labels() {
        let mut report = ReadReport::default();
        let ex = NLI
            .example(record(RawLabel::Text("neutral".into())), &mut report)
            .unwrap()
            .unwrap();
        assert_eq!(ex.source, "premise: A man. hypothesis A person.");
        assert_eq!(ex.target, "1");
        assert_eq!(ex.references, vec!["1".to_owned()]);
        let ex = NLI
            .example(record(RawLabel::Int(2)), &mut report)
            .unwrap()
            .unwrap();
        assert_eq!(ex.target, "2");
    }

    #[test]
    fn label_outside_the_set_is_an_error_naming_file_and_line() {
        let mut report = ReadReport::default();
        for bad in [
            RawLabel::Int(3),
            RawLabel::Text("maybe".into()),
            RawLabel::Int(-1),
        ] {
            let err = NLI.example(record(bad), &mut report).unwrap_err();
            let text = err.to_string();
            assert!(text.starts_with("train.tsv:7: label"), "{text}");
            assert!(text.contains("0 or entailment"), "{text}");
        }
    }

    #[test]
    fn no_consensus_rows_are_skipped_and_counted() {
        let mut report = ReadReport::default();
        let out = NLI
            .example(record(RawLabel::Text("-".into())), &mut report)
            .unwrap();
        assert!(out.is_none());
        assert_eq!(report.skipped_no_consensus, 1);
    }

    #[test]
    fn missing_template_field_is_malformed() {
        let mut r = record(RawLabel::Int(0));
        r.fields.remove("hypothesis");
        let err = NLI.example(r, &mut ReadReport::default()).unwrap_err();
        assert!(err.to_string().contains("missing field \"hypothesis\""));
    }

    #[test]
    fn score_targets_round_like_numpy() {
        assert_eq!(score_target(3.8), "3.8");
        assert_eq!(score_target(5.0), "5.0");
        assert_eq!(score_target(0.75), "0.8");
        assert_eq!(score_target(2.25), "2.2");
        assert_eq!(score_target(0.0), "0.0");
        assert_eq!(score_target(1.667), "1.7");
    }
}
