//! The task registry: every task of the paper and the bundled demo tasks, one entry each.
//!
//! Adding a task is one entry in [`TASKS`]: a source template over the data set's field names, a
//! label kind, metrics, a split policy and the layouts it can be read from. Formats follow the
//! spec (section 9) and HyperFormer's reference code: no task-name prefix, labels as digit strings.

use crate::error::{DataError, Result};
use crate::layout::{Column, GlueTsv, ImageField, Layout};
use crate::task::{LabelKind, Metric, SplitPolicy, TaskSpec};

/// The GLUE tasks whose mean is the GLUE score (spec section 9).
pub const GLUE: [&str; 8] = ["cola", "sst2", "mrpc", "qqp", "stsb", "mnli", "qnli", "rte"];

const HOLD_OUT: usize = 1000;
const HALVE: SplitPolicy = SplitPolicy::HalveValidation {
    validation: "validation",
};
const JSONL: Layout = Layout::Jsonl {
    file: "{}.jsonl",
    label: "label",
    image: None,
};
const BINARY_NLI: LabelKind = LabelKind::Classes(&["entailment", "not_entailment"]);

const fn tsv(fields: &'static [(&'static str, Column)], label: &'static str) -> Layout {
    Layout::GlueTsv(GlueTsv {
        header: true,
        columns: 0,
        fields,
        label: Column::Named(label),
        known_short_rows: false,
    })
}

/// Every registered task.
pub static TASKS: &[TaskSpec] = &[
    // ---- GLUE ----
    TaskSpec {
        name: "cola",
        source: "sentence: {sentence}",
        labels: LabelKind::Classes(&["unacceptable", "acceptable"]),
        metrics: &[Metric::Matthews],
        split: HALVE,
        layouts: &[
            Layout::GlueTsv(GlueTsv {
                header: false,
                columns: 4,
                fields: &[("sentence", Column::Index(3))],
                label: Column::Index(1),
                known_short_rows: false,
            }),
            JSONL,
        ],
        images: 0,
    },
    TaskSpec {
        name: "sst2",
        source: "sentence: {sentence}",
        labels: LabelKind::Classes(&["negative", "positive"]),
        metrics: &[Metric::Accuracy],
        split: SplitPolicy::HoldOutTrain {
            count: HOLD_OUT,
            test: "validation",
        },
        layouts: &[
            tsv(&[("sentence", Column::Named("sentence"))], "label"),
            JSONL,
        ],
        images: 0,
    },
    TaskSpec {
        name: "mrpc",
        source: "sentence1: {sentence1} sentence2: {sentence2}",
        labels: LabelKind::Classes(&["not_equivalent", "equivalent"]),
        metrics: &[Metric::F1, Metric::Accuracy],
        split: HALVE,
        layouts: &[
            tsv(
                &[
                    ("sentence1", Column::Named("#1 String")),
                    ("sentence2", Column::Named("#2 String")),
                ],
                "Quality",
            ),
            JSONL,
        ],
        images: 0,
    },
    TaskSpec {
        name: "qqp",
        source: "question1: {question1} question2: {question2}",
        labels: LabelKind::Classes(&["not_duplicate", "duplicate"]),
        metrics: &[Metric::F1, Metric::Accuracy],
        split: SplitPolicy::HoldOutTrain {
            count: HOLD_OUT,
            test: "validation",
        },
        layouts: &[
            Layout::GlueTsv(GlueTsv {
                header: true,
                columns: 0,
                fields: &[
                    ("question1", Column::Named("question1")),
                    ("question2", Column::Named("question2")),
                ],
                label: Column::Named("is_duplicate"),
                known_short_rows: true,
            }),
            JSONL,
        ],
        images: 0,
    },
    TaskSpec {
        name: "stsb",
        source: "sentence1: {sentence1} sentence2: {sentence2}",
        labels: LabelKind::Score { min: 0.0, max: 5.0 },
        metrics: &[Metric::Pearson, Metric::Spearman],
        split: HALVE,
        layouts: &[
            tsv(
                &[
                    ("sentence1", Column::Named("sentence1")),
                    ("sentence2", Column::Named("sentence2")),
                ],
                "score",
            ),
            JSONL,
        ],
        images: 0,
    },
    TaskSpec {
        name: "mnli",
        // No colon after "hypothesis", as in the reference code.
        source: "premise: {premise} hypothesis {hypothesis}",
        labels: LabelKind::Classes(&["entailment", "neutral", "contradiction"]),
        metrics: &[Metric::Accuracy],
        split: SplitPolicy::Official {
            validation: "validation_mismatched",
            test: "validation_matched",
        },
        layouts: &[
            tsv(
                &[
                    ("premise", Column::Named("sentence1")),
                    ("hypothesis", Column::Named("sentence2")),
                ],
                "gold_label",
            ),
            JSONL,
        ],
        images: 0,
    },
    TaskSpec {
        name: "qnli",
        source: "question: {question} sentence: {sentence}",
        labels: BINARY_NLI,
        metrics: &[Metric::Accuracy],
        split: SplitPolicy::HoldOutTrain {
            count: HOLD_OUT,
            test: "validation",
        },
        layouts: &[
            tsv(
                &[
                    ("question", Column::Named("question")),
                    ("sentence", Column::Named("sentence")),
                ],
                "label",
            ),
            JSONL,
        ],
        images: 0,
    },
    TaskSpec {
        name: "rte",
        source: "sentence1: {sentence1} sentence2: {sentence2}",
        labels: BINARY_NLI,
        metrics: &[Metric::Accuracy],
        split: HALVE,
        layouts: &[
            tsv(
                &[
                    ("sentence1", Column::Named("sentence1")),
                    ("sentence2", Column::Named("sentence2")),
                ],
                "label",
            ),
            JSONL,
        ],
        images: 0,
    },
    // ---- transfer tasks (Hugging Face JSON Lines exports) ----
    TaskSpec {
        name: "boolq",
        source: "question: {question} passage: {passage}",
        labels: LabelKind::Classes(&["False", "True"]),
        metrics: &[Metric::Accuracy],
        split: HALVE,
        layouts: &[JSONL],
        images: 0,
    },
    TaskSpec {
        name: "cb",
        source: "premise: {premise} hypothesis: {hypothesis}",
        labels: LabelKind::Classes(&["entailment", "contradiction", "neutral"]),
        metrics: &[Metric::Accuracy],
        split: HALVE,
        layouts: &[JSONL],
        images: 0,
    },
    TaskSpec {
        name: "imdb",
        // HyperFormer gives the review text alone.
        source: "{text}",
        labels: LabelKind::Classes(&["neg", "pos"]),
        metrics: &[Metric::Accuracy],
        // HyperFormer counts IMDB as small: its official test set is halved.
        split: SplitPolicy::HalveValidation { validation: "test" },
        layouts: &[JSONL],
        images: 0,
    },
    TaskSpec {
        name: "paws",
        source: "sentence1: {sentence1} sentence2: {sentence2}",
        labels: LabelKind::Classes(&["0", "1"]),
        metrics: &[Metric::Accuracy],
        split: SplitPolicy::Official {
            validation: "validation",
            test: "test",
        },
        layouts: &[JSONL],
        images: 0,
    },
    TaskSpec {
        name: "scitail",
        source: "sentence1: {sentence1} sentence2: {sentence2}",
        labels: LabelKind::Classes(&["entailment", "neutral"]),
        metrics: &[Metric::Accuracy],
        split: SplitPolicy::Official {
            validation: "validation",
            test: "test",
        },
        layouts: &[Layout::Jsonl {
            file: "{}.jsonl",
            label: "gold_label",
            image: None,
        }],
        images: 0,
    },
    TaskSpec {
        name: "trec",
        source: "sentence: {text}",
        labels: LabelKind::Classes(&["ABBR", "ENTY", "DESC", "HUM", "LOC", "NUM"]),
        metrics: &[Metric::Accuracy],
        // Small in HyperFormer: the official test set is halved.
        split: SplitPolicy::HalveValidation { validation: "test" },
        layouts: &[Layout::Jsonl {
            file: "{}.jsonl",
            label: "coarse_label",
            image: None,
        }],
        images: 0,
    },
    // ---- vision and language ----
    TaskSpec {
        name: "vqa",
        source: "question: {question}",
        labels: LabelKind::Text,
        metrics: &[Metric::VqaAccuracy],
        split: SplitPolicy::HoldOutTrain {
            count: HOLD_OUT,
            test: "val",
        },
        layouts: &[Layout::Vqa {
            questions: "v2_OpenEnded_mscoco_{}2014_questions.json",
            annotations: "v2_mscoco_{}2014_annotations.json",
        }],
        images: 1,
    },
    TaskSpec {
        name: "okvqa",
        source: "question: {question}",
        labels: LabelKind::Text,
        metrics: &[Metric::VqaAccuracy],
        split: SplitPolicy::HoldOutTrain {
            count: HOLD_OUT,
            test: "val",
        },
        layouts: &[Layout::Vqa {
            questions: "OpenEnded_mscoco_{}2014_questions.json",
            annotations: "mscoco_{}2014_annotations.json",
        }],
        images: 1,
    },
    TaskSpec {
        name: "gqa",
        source: "question: {question}",
        labels: LabelKind::Text,
        metrics: &[Metric::ExactMatch],
        split: SplitPolicy::Official {
            validation: "val",
            test: "testdev",
        },
        layouts: &[Layout::Gqa],
        images: 1,
    },
    TaskSpec {
        name: "nlvr2",
        source: "statement: {sentence}",
        labels: LabelKind::Words(&["false", "true"]),
        metrics: &[Metric::Accuracy],
        split: SplitPolicy::Official {
            validation: "dev",
            test: "test1",
        },
        layouts: &[Layout::Nlvr2],
        images: 2,
    },
    TaskSpec {
        name: "coco",
        source: "caption:",
        labels: LabelKind::Text,
        metrics: &[Metric::CiderD],
        split: SplitPolicy::Official {
            validation: "val",
            test: "test",
        },
        layouts: &[Layout::Karpathy {
            file: "dataset_coco.json",
        }],
        images: 1,
    },
    TaskSpec {
        name: "snli-ve",
        source: "hypothesis: {sentence2}",
        labels: LabelKind::Words(&["entailment", "neutral", "contradiction"]),
        metrics: &[Metric::Accuracy],
        split: SplitPolicy::Official {
            validation: "dev",
            test: "test",
        },
        layouts: &[Layout::Jsonl {
            file: "snli_ve_{}.jsonl",
            label: "gold_label",
            image: Some(ImageField {
                field: "Flickr30K_ID",
                template: "flickr30k_images/{}.jpg",
            }),
        }],
        images: 1,
    },
    // ---- bundled demo tasks (datasets/) ----
    TaskSpec {
        name: "easy-vqa",
        source: "question: {question}",
        labels: LabelKind::Text,
        metrics: &[Metric::ExactMatch],
        split: SplitPolicy::HoldOutTrain {
            count: HOLD_OUT,
            test: "test",
        },
        layouts: &[Layout::EasyVqa],
        images: 1,
    },
    TaskSpec {
        name: "easy-vqa-caption",
        source: "caption:",
        labels: LabelKind::Text,
        metrics: &[Metric::CiderD],
        split: SplitPolicy::Official {
            validation: "val",
            test: "test",
        },
        layouts: &[Layout::Karpathy {
            file: "captions.json",
        }],
        images: 1,
    },
    TaskSpec {
        name: "pd-source",
        source: "sentence: {sentence}",
        labels: LabelKind::Classes(&["moby-dick", "state-of-the-union"]),
        metrics: &[Metric::Accuracy],
        split: SplitPolicy::Official {
            validation: "validation",
            test: "test",
        },
        layouts: &[JSONL],
        images: 0,
    },
    TaskSpec {
        name: "pd-next",
        source: "sentence1: {sentence1} sentence2: {sentence2}",
        labels: LabelKind::Classes(&["not_next", "next"]),
        metrics: &[Metric::F1, Metric::Accuracy],
        split: SplitPolicy::Official {
            validation: "validation",
            test: "test",
        },
        layouts: &[JSONL],
        images: 0,
    },
];

/// The task called `name`; an unknown name is an error listing every known one.
pub fn task(name: &str) -> Result<&'static TaskSpec> {
    TASKS
        .iter()
        .find(|t| t.name == name)
        .ok_or_else(|| DataError::UnknownTask {
            name: name.to_owned(),
            known: TASKS.iter().map(|t| t.name).collect::<Vec<_>>().join(", "),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn unknown_task_lists_known_ones() {
        let err = task("glue-everything").unwrap_err().to_string();
        assert!(err.contains("\"glue-everything\""), "{err}");
        for name in GLUE {
            assert!(err.contains(name), "{err}");
        }
        assert!(err.contains("nlvr2"), "{err}");
    }

    #[test]
    fn names_are_unique_and_every_task_is_complete() {
        let mut seen = HashSet::new();
        for t in TASKS {
            assert!(seen.insert(t.name), "duplicate task {}", t.name);
            assert!(!t.metrics.is_empty(), "{} has no metric", t.name);
            assert!(!t.layouts.is_empty(), "{} has no layout", t.name);
            // An unterminated `{` in a template would swallow the rest of the source.
            assert_eq!(t.source.matches('{').count(), t.source.matches('}').count());
        }
        for name in GLUE {
            assert!(task(name).is_ok());
        }
    }

    #[test]
    fn vision_tasks_expect_the_official_file_names() {
        let files = |name: &str, split: &str| -> Vec<String> {
            task(name).unwrap().layouts[0]
                .files(split)
                .iter()
                .map(|f| f.display().to_string())
                .collect()
        };
        assert_eq!(
            files("vqa", "train"),
            [
                "v2_OpenEnded_mscoco_train2014_questions.json",
                "v2_mscoco_train2014_annotations.json"
            ]
        );
        assert_eq!(
            files("okvqa", "val"),
            [
                "OpenEnded_mscoco_val2014_questions.json",
                "mscoco_val2014_annotations.json"
            ]
        );
        assert_eq!(files("gqa", "testdev"), ["testdev_balanced_questions.json"]);
        assert_eq!(files("nlvr2", "test1"), ["test1.json"]);
        assert_eq!(files("snli-ve", "dev"), ["snli_ve_dev.jsonl"]);
        assert_eq!(files("coco", "test"), ["dataset_coco.json"]);
    }

    #[test]
    fn image_tasks_read_images_and_text_tasks_do_not() {
        for t in TASKS {
            let image_layout = t
                .layouts
                .iter()
                .any(|l| !matches!(l, Layout::GlueTsv(_) | Layout::Jsonl { image: None, .. }));
            assert_eq!(image_layout, t.images > 0, "{}", t.name);
        }
    }
}
