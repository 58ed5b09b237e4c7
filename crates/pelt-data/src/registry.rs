//! The task registry: every task of the paper and the bundled demo tasks, one entry each.
//!
//! Adding a task is one entry in [`TASKS`]: a source template over the data set's field names, a
//! label kind, metrics, a split policy and the layouts it can be read from. Formats follow
//! docs/method.md §9 and HyperFormer's reference code: no task-name prefix, labels as digit
//! strings.

use crate::error::{DataError, Result};
use crate::layout::{
    Column, GlueTsv, ImageColumn, ImageField, Layout, ParquetColumns, ParquetTarget,
};
use crate::task::LabelKind::{self, Classes, Score, Text, Words};
use crate::task::Metric::{
    self, Accuracy, CiderD, ExactMatch, F1, Matthews, Pearson, Spearman, VqaAccuracy,
};
use crate::task::{SplitPolicy, TaskSpec};

/// The GLUE tasks whose mean is the GLUE score (docs/method.md §9).
pub const GLUE: [&str; 8] = ["cola", "sst2", "mrpc", "qqp", "stsb", "mnli", "qnli", "rte"];

const fn spec(
    name: &'static str,
    source: &'static str,
    labels: LabelKind,
    metrics: &'static [Metric],
    split: SplitPolicy,
    layouts: &'static [Layout],
    images: usize,
) -> TaskSpec {
    TaskSpec {
        name,
        source,
        labels,
        metrics,
        split,
        layouts,
        images,
    }
}

// ---- split policies ----
const HALVE: SplitPolicy = SplitPolicy::HalveValidation {
    validation: "validation",
};
/// HyperFormer counts IMDB and TREC as small: their official test set is halved.
const HALVE_TEST: SplitPolicy = SplitPolicy::HalveValidation { validation: "test" };
const fn hold_out(test: &'static str) -> SplitPolicy {
    SplitPolicy::HoldOutTrain { count: 1000, test }
}
const fn official(validation: &'static str, test: &'static str) -> SplitPolicy {
    SplitPolicy::Official { validation, test }
}

// ---- layouts ----
const JSONL: Layout = jsonl("label");
/// The hub's Parquet shards of the same data set (`nyu-mll/glue`'s `<task>/` directories).
const PARQUET: Layout = Layout::Parquet(ParquetColumns {
    dir: "",
    splits: &[],
    target: ParquetTarget::Label("label"),
    renames: &[],
    images: &[],
});
// The vision-and-language sets as the hub repositories of docs/data.md store them ("Parquet").
/// `lmms-lab/VQAv2` (`data/`): `validation`, `testdev` and `test` shards; no `train`.
const VQA_PARQUET: Layout = Layout::Parquet(ParquetColumns {
    dir: "",
    splits: &[("val", "validation")],
    target: ParquetTarget::Answers {
        label: "multiple_choice_answer",
        answers: "answers",
    },
    renames: &[],
    images: &[ImageColumn::Cell("image")],
});
/// `lmms-lab/GQA`: questions in `<split>_balanced_instructions/`, their images in
/// `<split>_balanced_images/` (joined by image id).
const GQA_PARQUET: Layout = Layout::Parquet(ParquetColumns {
    dir: "{}_balanced_instructions",
    splits: &[],
    target: ParquetTarget::Label("answer"),
    renames: &[],
    images: &[ImageColumn::Joined {
        by: "imageId",
        dir: "{}_balanced_images",
        id: "id",
        image: "image",
    }],
});
/// `lmms-lab/NLVR2` (`data/`): `balanced_dev`, `balanced_test_public`, ... shards; no `train`.
const NLVR2_PARQUET: Layout = Layout::Parquet(ParquetColumns {
    dir: "",
    splits: &[("dev", "balanced_dev"), ("test1", "balanced_test_public")],
    target: ParquetTarget::Label("answer"),
    renames: &[("sentence", "question")],
    images: &[
        ImageColumn::Cell("left_image"),
        ImageColumn::Cell("right_image"),
    ],
});
/// `lmms-lab/COCO-Caption` (`data/`): COCO 2014 `val` and `test`, not the Karpathy split.
const COCO_PARQUET: Layout = Layout::Parquet(ParquetColumns {
    dir: "",
    splits: &[],
    target: ParquetTarget::Captions("answer"),
    renames: &[],
    images: &[ImageColumn::Cell("image")],
});
/// `sedrickkeh/snli-ve` (`data/`): `train`, `validation`, `test`; the label a `ClassLabel`.
const SNLI_VE_PARQUET: Layout = Layout::Parquet(ParquetColumns {
    dir: "",
    splits: &[("dev", "validation")],
    target: ParquetTarget::Label("label"),
    renames: &[("sentence2", "hypothesis")],
    images: &[ImageColumn::Cell("image")],
});
const fn jsonl(label: &'static str) -> Layout {
    Layout::Jsonl {
        file: "{}.jsonl",
        label,
        image: None,
    }
}
const fn tsv(fields: &'static [(&'static str, Column)], label: &'static str) -> Layout {
    glue_tsv(fields, label, false)
}
const fn glue_tsv(
    fields: &'static [(&'static str, Column)],
    label: &'static str,
    known_short_rows: bool,
) -> Layout {
    Layout::GlueTsv(GlueTsv {
        header: true,
        columns: 0,
        fields,
        label: Column::Named(label),
        known_short_rows,
    })
}
const COLA_TSV: Layout = Layout::GlueTsv(GlueTsv {
    header: false,
    columns: 4,
    fields: &[("sentence", Column::Index(3))],
    label: Column::Index(1),
    known_short_rows: false,
});
const fn vqa(questions: &'static str, annotations: &'static str) -> Layout {
    Layout::Vqa {
        questions,
        annotations,
    }
}
const SNLI_VE: Layout = Layout::Jsonl {
    file: "snli_ve_{}.jsonl",
    label: "gold_label",
    image: Some(ImageField {
        field: "Flickr30K_ID",
        template: "flickr30k_images/{}.jpg",
    }),
};
/// Template field named as the TSV column of the same name.
const fn same(name: &'static str) -> (&'static str, Column) {
    (name, Column::Named(name))
}
const SENTENCE_PAIR: &[(&str, Column)] = &[same("sentence1"), same("sentence2")];

const BINARY_NLI: LabelKind = Classes(&["entailment", "not_entailment"]);
const PAIR: &str = "sentence1: {sentence1} sentence2: {sentence2}";

/// Every registered task: name, source template, labels, metrics, split policy, layouts (tried in
/// order) and images per example.
#[rustfmt::skip]
pub static TASKS: &[TaskSpec] = &[
    // ---- GLUE ----
    spec("cola", "sentence: {sentence}", Classes(&["unacceptable", "acceptable"]), &[Matthews], HALVE, &[COLA_TSV, JSONL, PARQUET], 0),
    spec("sst2", "sentence: {sentence}", Classes(&["negative", "positive"]), &[Accuracy], hold_out("validation"),
         &[tsv(&[same("sentence")], "label"), JSONL, PARQUET], 0),
    spec("mrpc", PAIR, Classes(&["not_equivalent", "equivalent"]), &[F1, Accuracy], HALVE,
         &[tsv(&[("sentence1", Column::Named("#1 String")), ("sentence2", Column::Named("#2 String"))], "Quality"), JSONL, PARQUET], 0),
    spec("qqp", "question1: {question1} question2: {question2}", Classes(&["not_duplicate", "duplicate"]), &[F1, Accuracy],
         hold_out("validation"), &[glue_tsv(&[same("question1"), same("question2")], "is_duplicate", true), JSONL, PARQUET], 0),
    spec("stsb", PAIR, Score { min: 0.0, max: 5.0 }, &[Pearson, Spearman], HALVE, &[tsv(SENTENCE_PAIR, "score"), JSONL, PARQUET], 0),
    // No colon after "hypothesis", as in the reference code.
    spec("mnli", "premise: {premise} hypothesis {hypothesis}", Classes(&["entailment", "neutral", "contradiction"]), &[Accuracy],
         official("validation_mismatched", "validation_matched"),
         &[tsv(&[("premise", Column::Named("sentence1")), ("hypothesis", Column::Named("sentence2"))], "gold_label"), JSONL, PARQUET], 0),
    spec("qnli", "question: {question} sentence: {sentence}", BINARY_NLI, &[Accuracy], hold_out("validation"),
         &[tsv(&[same("question"), same("sentence")], "label"), JSONL, PARQUET], 0),
    spec("rte", PAIR, BINARY_NLI, &[Accuracy], HALVE, &[tsv(SENTENCE_PAIR, "label"), JSONL, PARQUET], 0),
    // ---- transfer tasks (Hugging Face JSON Lines exports) ----
    spec("boolq", "question: {question} passage: {passage}", Classes(&["False", "True"]), &[Accuracy], HALVE, &[JSONL], 0),
    spec("cb", "premise: {premise} hypothesis: {hypothesis}", Classes(&["entailment", "contradiction", "neutral"]), &[Accuracy],
         HALVE, &[JSONL], 0),
    // HyperFormer gives the review text alone.
    spec("imdb", "{text}", Classes(&["neg", "pos"]), &[Accuracy], HALVE_TEST, &[JSONL], 0),
    spec("paws", PAIR, Classes(&["0", "1"]), &[Accuracy], official("validation", "test"), &[JSONL], 0),
    spec("scitail", PAIR, Classes(&["entailment", "neutral"]), &[Accuracy], official("validation", "test"), &[jsonl("gold_label")], 0),
    spec("trec", "sentence: {text}", Classes(&["ABBR", "ENTY", "DESC", "HUM", "LOC", "NUM"]), &[Accuracy], HALVE_TEST,
         &[jsonl("coarse_label")], 0),
    // ---- vision and language ----
    spec("vqa", "question: {question}", Text, &[VqaAccuracy], hold_out("val"),
         &[vqa("v2_OpenEnded_mscoco_{}2014_questions.json", "v2_mscoco_{}2014_annotations.json"), VQA_PARQUET], 1),
    spec("okvqa", "question: {question}", Text, &[VqaAccuracy], hold_out("val"),
         &[vqa("OpenEnded_mscoco_{}2014_questions.json", "mscoco_{}2014_annotations.json")], 1),
    spec("gqa", "question: {question}", Text, &[ExactMatch], official("val", "testdev"), &[Layout::Gqa, GQA_PARQUET], 1),
    spec("nlvr2", "statement: {sentence}", Words(&["false", "true"]), &[Accuracy], official("dev", "test1"), &[Layout::Nlvr2, NLVR2_PARQUET], 2),
    spec("coco", "caption:", Text, &[CiderD], official("val", "test"), &[Layout::Karpathy { file: "dataset_coco.json" }, COCO_PARQUET], 1),
    spec("snli-ve", "hypothesis: {sentence2}", Words(&["entailment", "neutral", "contradiction"]), &[Accuracy],
         official("dev", "test"), &[SNLI_VE, SNLI_VE_PARQUET], 1),
    // ---- bundled demo tasks (datasets/) ----
    spec("easy-vqa", "question: {question}", Text, &[ExactMatch], hold_out("test"), &[Layout::EasyVqa], 1),
    spec("easy-vqa-caption", "caption:", Text, &[CiderD], official("val", "test"), &[Layout::Karpathy { file: "captions.json" }], 1),
    spec("pd-source", "sentence: {sentence}", Classes(&["moby-dick", "state-of-the-union"]), &[Accuracy],
         official("validation", "test"), &[JSONL, PARQUET], 0),
    spec("pd-next", PAIR, Classes(&["not_next", "next"]), &[F1, Accuracy], official("validation", "test"), &[JSONL, PARQUET], 0),
    // Built on the user's machine by datasets/build/build_uncertainty.py (not committed).
    spec("uncertainty", "sentence: {sentence}", Classes(&["certain", "uncertain"]), &[Accuracy],
         official("validation", "test"), &[JSONL], 0),
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
    fn a_download_fetches_the_files_the_task_reads_and_no_others() {
        let gqa = task("gqa").unwrap();
        assert!(gqa.reads("train_balanced_instructions/train-00000-of-00001.parquet"));
        assert!(gqa.reads("train_balanced_images/train-00003-of-00021.parquet"));
        assert!(gqa.reads("testdev_balanced_images/testdev-00000-of-00001.parquet"));
        assert!(!gqa.reads("train_all_instructions/train-00000-of-00040.parquet"));
        assert!(!gqa.reads("challenge_balanced_images/challenge-00000-of-00001.parquet"));
        assert!(!gqa.reads("README.md"));
        let rte = task("rte").unwrap();
        assert!(rte.reads("train-00000-of-00001.parquet"));
        assert!(rte.reads("validation-00000-of-00001.parquet"));
        assert!(rte.reads("dev.tsv"));
        // RTE's test set is half of the official validation split: the hub's `test` is unread.
        assert!(!rte.reads("test-00000-of-00001.parquet"));
        let nlvr2 = task("nlvr2").unwrap();
        assert!(nlvr2.reads("balanced_dev-00000-of-00001-54ed883ce96f619e.parquet"));
        assert!(!nlvr2.reads("unbalanced_dev-00000-of-00002-0123abcd.parquet"));
    }

    #[test]
    fn image_tasks_read_images_and_text_tasks_do_not() {
        for t in TASKS {
            let image_layout = t.layouts.iter().any(|l| {
                !matches!(
                    l,
                    Layout::GlueTsv(_)
                        | Layout::Jsonl { image: None, .. }
                        | Layout::Parquet(ParquetColumns { images: [], .. })
                )
            });
            assert_eq!(image_layout, t.images > 0, "{}", t.name);
        }
    }
}
