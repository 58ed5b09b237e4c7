//! End-to-end loading: bundled data, GLUE layouts and splits, and every bad-input case.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use pelt_data::{
    ClassTargets, DataError, Example, LoadOptions, ReadReport, Result, TaskData, load_task,
    read_split, task,
};

fn datasets() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../datasets")
}

/// The split `split` of the registered task `name` under `dir`, default options.
fn read(name: &str, dir: &Path, split: &str) -> Result<(Vec<Example>, ReadReport)> {
    read_split(task(name).unwrap(), dir, split, &LoadOptions::default())
}

/// The registered task `name` with its splits, from `dir`, default options.
fn load(name: &str, dir: &Path) -> Result<TaskData> {
    load_task(task(name).unwrap(), dir, &LoadOptions::default())
}

fn write(dir: &Path, name: &str, contents: impl AsRef<[u8]>) {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, contents).unwrap();
}

#[test]
fn bundled_text_tasks_load_with_their_splits() {
    let source = load("pd-source", &datasets().join("text/pd-source")).unwrap();
    assert_eq!(
        (
            source.train.len(),
            source.validation.len(),
            source.test.len()
        ),
        (4000, 500, 500)
    );
    assert!(source.train[0].source.starts_with("sentence: "));
    assert!(
        source
            .train
            .iter()
            .all(|e| e.target == "0" || e.target == "1")
    );
    let next = load("pd-next", &datasets().join("text/pd-next")).unwrap();
    assert!(next.test[0].source.starts_with("sentence1: "));
    assert!(next.test[0].source.contains(" sentence2: "));
    assert_eq!(next.report.skipped(), 0);
}

/// `uncertainty` is built on the user's machine (datasets/build/build_uncertainty.py), not
/// committed: its layout is checked on rows written like the script's.
#[test]
fn uncertainty_reads_the_layout_of_its_build_script() {
    let dir = tempfile::tempdir().unwrap();
    for split in ["train", "validation", "test"] {
        write(
            dir.path(),
            &format!("{split}.jsonl"),
            concat!(
                r#"{"sentence": "Polytrichum commune", "label": "certain", "idx": 0}"#,
                "\n",
                r#"{"sentence": "Some say \"it may\".", "label": "uncertain", "idx": 1}"#,
                "\n",
            ),
        );
    }
    let data = load("uncertainty", dir.path()).unwrap();
    assert_eq!(data.test.len(), 2);
    assert_eq!(data.train[0].source, "sentence: Polytrichum commune");
    assert_eq!(data.train[0].target, "0");
    assert_eq!(data.train[1].source, "sentence: Some say \"it may\".");
    assert_eq!(data.train[1].target, "1");
}

/// Class names as targets: the same splits in the same order with names for digits, and every
/// metric reads what it reads on digits (pd-next reports F1 and accuracy).
#[test]
fn class_names_as_targets_keep_splits_and_scores() {
    let dir = datasets().join("text/pd-next");
    let names = LoadOptions {
        targets: ClassTargets::Names,
        ..Default::default()
    };
    let (index, words) = (
        load("pd-next", &dir).unwrap(),
        load_task(task("pd-next").unwrap(), &dir, &names).unwrap(),
    );
    assert_eq!(words.targets, ClassTargets::Names);
    for (a, b) in index.test.iter().zip(&words.test) {
        assert_eq!((&a.id, &a.source), (&b.id, &b.source));
        let name = if a.target == "1" { "next" } else { "not_next" };
        assert_eq!(
            (b.target.as_str(), &b.references),
            (name, &vec![name.to_owned()])
        );
    }
    // A model that is right on the first half and answers the other class on the second.
    let half = index.test.len() / 2;
    let answers = |data: &TaskData, one: &str, zero: &str| -> Vec<String> {
        data.test
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let is_one = e.target == "1" || e.target == "next";
                if is_one == (i < half) { one } else { zero }.to_owned()
            })
            .collect()
    };
    let (by_index, by_name) = (
        answers(&index, "1", "0"),
        answers(&words, "next", "not_next"),
    );
    let (a, b) = (
        index.evaluate(&by_index, &index.test).unwrap(),
        words.evaluate(&by_name, &words.test).unwrap(),
    );
    assert_eq!(a, b);
    assert!(a.iter().all(|s| s.value > 0.0 && s.value < 100.0), "{a:?}");
    // Digits from a names-trained model are not classes: every answer is wrong.
    let digits = words.evaluate(&by_index, &words.test).unwrap();
    assert!(digits.iter().all(|s| s.value == 0.0), "{digits:?}");
}

#[test]
fn bundled_easy_vqa_loads_as_vqa_and_caption_tasks() {
    let root = datasets().join("easy-vqa");
    let vqa = load("easy-vqa", &root).unwrap();
    assert_eq!(vqa.train.len() + vqa.validation.len(), 38_575);
    assert_eq!(vqa.validation.len(), 1000);
    assert_eq!(vqa.test.len(), 9_673);
    assert!(vqa.train[0].source.starts_with("question: "));
    assert_eq!(vqa.train[0].images.len(), 1);
    let captions = load("easy-vqa-caption", &root).unwrap();
    assert_eq!(captions.validation.len(), 300);
    // Evaluation examples carry all three derived captions as references.
    assert_eq!(captions.test[0].references.len(), 3);
    assert!(captions.train.len() > 3 * 3000);
}

#[test]
fn glue_small_task_halves_the_validation_set() {
    let dir = tempfile::tempdir().unwrap();
    let mut train = String::from("index\tsentence1\tsentence2\tlabel\n");
    let mut dev = train.clone();
    for i in 0..6 {
        train.push_str(&format!("{i}\tA{i}.\tB{i}.\tentailment\n"));
    }
    for i in 0..9 {
        let label = if i % 2 == 0 {
            "entailment"
        } else {
            "not_entailment"
        };
        dev.push_str(&format!("{i}\tP{i}.\tH{i}.\t{label}\n"));
    }
    write(dir.path(), "train.tsv", train);
    write(dir.path(), "dev.tsv", dev);
    let data = load("rte", dir.path()).unwrap();
    assert_eq!(
        (data.train.len(), data.validation.len(), data.test.len()),
        (6, 4, 5)
    );
    // torch.randperm(9) seeded with 42 (checked against torch in reference_values.rs) decides.
    let ids: Vec<&str> = data.validation.iter().map(|e| e.id.as_str()).collect();
    let perm = pelt_data::rng::randperm(9, 42);
    let expected: Vec<String> = perm[..4].iter().map(|i| i.to_string()).collect();
    assert_eq!(ids, expected);
    assert_eq!(
        data.validation[0].source,
        format!("sentence1: P{0}. sentence2: H{0}.", perm[0])
    );
}

#[test]
fn glue_large_task_holds_out_training_examples_and_mnli_uses_both_dev_sets() {
    let dir = tempfile::tempdir().unwrap();
    let header = "index\tpromptID\tpairID\tgenre\tsentence1_binary_parse\tsentence2_binary_parse\tsentence1_parse\tsentence2_parse\tsentence1\tsentence2\tlabel1\tgold_label\n";
    let mut train = header.to_owned();
    for i in 0..1003 {
        train.push_str(&format!(
            "{i}\t1\t1n\tgov\t(\t(\t(\t(\tP{i}\tH{i}\tneutral\tneutral\n"
        ));
    }
    let dev_header = header.replace("label1\t", "label1\tlabel2\tlabel3\tlabel4\tlabel5\t");
    let row = |i: usize, gold: &str| {
        format!(
            "{i}\t1\t1n\tgov\t(\t(\t(\t(\tP{i}\tH{i}\tneutral\tneutral\tneutral\tneutral\tneutral\t{gold}\n"
        )
    };
    write(dir.path(), "train.tsv", &train);
    write(
        dir.path(),
        "dev_matched.tsv",
        dev_header.clone() + &row(0, "contradiction") + &row(1, "-"),
    );
    write(
        dir.path(),
        "dev_mismatched.tsv",
        dev_header + &row(2, "entailment"),
    );
    let data = load("mnli", dir.path()).unwrap();
    assert_eq!(data.train.len(), 1003);
    assert_eq!(data.validation[0].target, "0");
    assert_eq!(data.test.len(), 1);
    assert_eq!(data.test[0].source, "premise: P0 hypothesis H0");
    assert_eq!(data.test[0].target, "2");
    assert_eq!(data.report.skipped_no_consensus, 1);

    // QNLI is large: 1,000 training examples become validation and leave training.
    let dir = tempfile::tempdir().unwrap();
    let mut train = String::from("index\tquestion\tsentence\tlabel\n");
    for i in 0..1010 {
        train.push_str(&format!("{i}\tQ{i}?\tS{i}.\tnot_entailment\n"));
    }
    write(dir.path(), "train.tsv", train);
    write(
        dir.path(),
        "dev.tsv",
        "index\tquestion\tsentence\tlabel\n0\tQ?\tS.\tentailment\n",
    );
    let data = load("qnli", dir.path()).unwrap();
    assert_eq!(
        (data.train.len(), data.validation.len(), data.test.len()),
        (10, 1000, 1)
    );
    assert!(
        data.train
            .iter()
            .all(|t| data.validation.iter().all(|v| v.id != t.id))
    );
    assert_eq!(data.test[0].source, "question: Q? sentence: S.");
}

#[test]
fn jsonl_export_of_stsb_rounds_scores() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "train.jsonl",
        "{\"sentence1\": \"A plane is taking off.\", \"sentence2\": \"An air plane is taking off.\", \"label\": 5.0, \"idx\": 0}\n\
         {\"sentence1\": \"A man.\", \"sentence2\": \"A woman.\", \"label\": 0.75, \"idx\": 1}\n",
    );
    let (examples, _) = read("stsb", dir.path(), "train").unwrap();
    assert_eq!(examples[0].target, "5.0");
    assert_eq!(examples[1].target, "0.8");
}

// ---- bad input: one test per case of the issue ----

#[test]
fn missing_image_names_the_path_and_the_example() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "train/questions.json",
        r#"[["what shape?", "circle", 0], ["what colour?", "red", 1]]"#,
    );
    write(dir.path(), "train/images/0.png", b"png");
    let err = read("easy-vqa", dir.path(), "train").unwrap_err();
    assert!(matches!(err, DataError::MissingImage { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("train/images/1.png") && text.contains("train-1"),
        "{text}"
    );
    // Without the check the same data loads.
    let opts = LoadOptions {
        check_images: false,
        ..Default::default()
    };
    assert!(read_split(task("easy-vqa").unwrap(), dir.path(), "train", &opts).is_ok());
}

#[test]
fn empty_dataset_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "train.tsv", "sentence\tlabel\n");
    let err = read("sst2", dir.path(), "train").unwrap_err();
    assert!(matches!(err, DataError::EmptyDataset { .. }), "{err}");
    assert!(err.to_string().contains("sst2"), "{err}");
}

#[test]
fn label_outside_the_label_set_is_an_error_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "train.jsonl",
        "{\"text\": \"What is X?\", \"coarse_label\": 6}\n",
    );
    let err = read("trec", dir.path(), "train").unwrap_err();
    assert!(
        matches!(err, DataError::UnknownLabel { line: 1, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("train.jsonl:1"), "{err}");
}

#[test]
fn non_utf8_text_is_an_error_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "train.tsv",
        b"sentence\tlabel\nfine\t1\ncaf\xe9\t0\n",
    );
    let err = read("sst2", dir.path(), "train").unwrap_err();
    assert!(matches!(err, DataError::NotUtf8 { line: 3, .. }), "{err}");
}

#[test]
fn malformed_rows_error_or_are_skipped_and_counted_on_request() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "train.tsv",
        "sentence\tlabel\ngood\t1\nno label column\nalso good\t0\n",
    );
    let err = read("sst2", dir.path(), "train").unwrap_err();
    assert!(
        err.to_string().contains("train.tsv:3: malformed row"),
        "{err}"
    );
    let opts = LoadOptions {
        skip_malformed: true,
        ..Default::default()
    };
    let (examples, report) = read_split(task("sst2").unwrap(), dir.path(), "train", &opts).unwrap();
    assert_eq!(examples.len(), 2);
    assert_eq!((report.examples, report.skipped_malformed), (2, 1));
}

#[test]
fn missing_data_and_unknown_tasks_are_explained() {
    let dir = tempfile::tempdir().unwrap();
    let err = load("rte", dir.path()).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("train.tsv") && text.contains("train.jsonl"),
        "{text}"
    );
    let err = task("rte2").unwrap_err().to_string();
    assert!(err.contains("known tasks") && err.contains("rte"), "{err}");
}

#[test]
fn garbage_in_every_layout_gives_errors_not_panics() {
    let garbage: [&[u8]; 7] = [
        b"",
        b"\xff\xfe\x00garbage",
        b"[]",
        b"{}",
        b"\t\t\n\t\n",
        b"{\"questions\": [{\"question_id\": \"x\"}], \"annotations\": [{}], \"images\": [{}]}",
        b"[[1, 2, 3], \"a\", null, {\"imageId\": 5}]",
    ];
    for spec in pelt_data::registry::TASKS {
        for layout in spec.layouts {
            for bytes in garbage {
                let dir = tempfile::tempdir().unwrap();
                for file in layout.files("train") {
                    write(dir.path(), file.to_str().unwrap(), bytes);
                }
                let opts = LoadOptions::default();
                let result = read_split(spec, dir.path(), "train", &opts);
                // Nothing valid was written, so every case must be reported as an error.
                assert!(
                    result.is_err(),
                    "{} {:?} accepted {:?}",
                    spec.name,
                    layout,
                    bytes
                );
            }
        }
    }
}

#[test]
fn vqa_v2_files_with_coco_images_give_scored_examples() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "v2_OpenEnded_mscoco_val2014_questions.json",
        r#"{"questions": [{"image_id": 42, "question": "How many dogs?", "question_id": 42000}]}"#,
    );
    let answers: Vec<String> = ["2", "2", "2", "two", "3", "2", "2", "2", "2", "2"]
        .iter()
        .enumerate()
        .map(|(i, a)| {
            format!(
                r#"{{"answer": "{a}", "answer_confidence": "yes", "answer_id": {}}}"#,
                i + 1
            )
        })
        .collect();
    write(
        dir.path(),
        "v2_mscoco_val2014_annotations.json",
        format!(
            r#"{{"annotations": [{{"question_id": 42000, "image_id": 42, "question_type": "how many",
                "answer_type": "number", "multiple_choice_answer": "2", "answers": [{}]}}]}}"#,
            answers.join(", ")
        ),
    );
    write(dir.path(), "val2014/COCO_val2014_000000000042.jpg", b"jpeg");
    let vqa = task("vqa").unwrap();
    let (examples, _) = read_split(vqa, dir.path(), "val", &LoadOptions::default()).unwrap();
    assert_eq!(examples[0].source, "question: How many dogs?");
    assert_eq!(examples[0].target, "2");
    assert_eq!(examples[0].references.len(), 10);
    let scores = pelt_data::metrics::evaluate(vqa, &["two"], &examples).unwrap();
    // "two" normalises to "2"; eight of the ten answers are "2" (after punctuation processing,
    // "two" stays "two"), so every leave-one-out subset has at least 3 matches.
    assert_eq!(scores[0].value, 100.0);
}

#[test]
fn a_multi_gigabyte_line_is_refused_after_reading_a_bounded_part() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "train.tsv", "sentence\tlabel\n");
    // A sparse 3 GiB file: a header, then one line of zero bytes without an end.
    let file = std::fs::OpenOptions::new()
        .append(true)
        .open(dir.path().join("train.tsv"))
        .unwrap();
    file.set_len(3 << 30).unwrap();
    let err = read("sst2", dir.path(), "train").unwrap_err();
    assert!(
        matches!(err, DataError::LineTooLong { line: 2, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("train.tsv:2"), "{err}");
}

#[test]
fn a_json_document_over_the_size_bound_is_refused_unread() {
    let dir = tempfile::tempdir().unwrap();
    // A sparse file one byte over the 4 GiB bound: refused by its size, before any read.
    let path = dir.path().join("train/questions.json");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let file = std::fs::File::create(&path).unwrap();
    file.set_len((4 << 30) + 1).unwrap();
    let err = read("easy-vqa", dir.path(), "train").unwrap_err();
    assert!(matches!(err, DataError::FileTooLarge { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("train/questions.json: 4294967297 bytes"),
        "{err}"
    );
}

#[test]
fn a_directory_where_a_data_file_belongs_is_an_error_naming_it() {
    for (task, file) in [("sst2", "train.tsv"), ("trec", "train.jsonl")] {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(file)).unwrap();
        let err = read(task, dir.path(), "train").unwrap_err();
        assert!(matches!(err, DataError::Io { .. }), "{task}: {err}");
        assert!(err.to_string().contains(file), "{task}: {err}");
    }
}
