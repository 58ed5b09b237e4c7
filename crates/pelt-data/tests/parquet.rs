//! The Hugging Face hub's Parquet layout (`tests/fixtures/gen_parquet.py` wrote the fixtures
//! with pyarrow, in `nyu-mll/glue`'s layout): the same examples as the JSON Lines and GLUE TSV
//! versions of one data set, shards read in order as one split, and named errors for hostile
//! files.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use pelt_data::{DataError, Layout, LoadOptions, detect_layout, read_split, task};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/parquet")
}

/// (source, target) of every example of `split`, in file order.
fn examples(dir: &Path, split: &str) -> Vec<(String, String)> {
    let (examples, _) =
        read_split(task("rte").unwrap(), dir, split, &LoadOptions::default()).unwrap();
    examples.into_iter().map(|e| (e.source, e.target)).collect()
}

#[test]
fn parquet_jsonl_and_tsv_versions_of_one_data_set_give_the_same_examples() {
    let root = fixtures();
    let rte = task("rte").unwrap();
    assert!(matches!(
        detect_layout(rte, &root.join("rte"), "train").unwrap(),
        Layout::Parquet { .. }
    ));
    for (split, tsv_split) in [("train", "train"), ("validation", "validation")] {
        let parquet = examples(&root.join("rte"), split);
        // Train has two shards of 3 and 2 rows: all five, in shard order.
        assert_eq!(parquet.len(), if split == "train" { 5 } else { 4 });
        assert_eq!(parquet, examples(&root.join("rte-jsonl"), split), "{split}");
        assert_eq!(
            parquet,
            examples(&root.join("rte-tsv"), tsv_split),
            "{split}"
        );
    }
    let train = examples(&root.join("rte"), "train");
    assert_eq!(
        train[4],
        (
            "sentence1: Der Zug fährt um acht. sentence2: A train leaves at eight.".to_string(),
            // Class 0 (`entailment`); targets are class indices, as in HyperFormer.
            "0".to_string()
        )
    );
}

#[test]
fn labels_read_through_the_class_label_names_of_the_huggingface_metadata() {
    // The same rows with the ClassLabel names stored in the other order (so every label is the
    // other integer): the names, not the integers, decide the class.
    let root = fixtures();
    let reordered = examples(&root.join("rte-reordered-classes"), "train");
    assert_eq!(reordered, examples(&root.join("rte"), "train"));
    assert_eq!(reordered[4].1, "0");
}

#[test]
fn the_bundled_pd_next_reads_the_same_from_its_parquet_version() {
    // 4,000 rows in one shard (the fixture of the reader-throughput benchmark).
    let read = |dir: &Path| {
        read_split(
            task("pd-next").unwrap(),
            dir,
            "train",
            &LoadOptions::default(),
        )
        .unwrap()
        .0
    };
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let parquet = read(&fixtures().join("pd-next"));
    assert_eq!(parquet.len(), 4000);
    assert!(parquet == read(&repo.join("datasets/text/pd-next")));
}

/// The error of reading the `train` split of `dir` as RTE.
fn error(dir: &Path) -> String {
    read_split(task("rte").unwrap(), dir, "train", &LoadOptions::default())
        .unwrap_err()
        .to_string()
}

#[test]
fn hostile_parquet_files_are_named_errors() {
    let root = fixtures();
    // A column of the wrong type and a missing column: the template's field is missing, named
    // with the file and row.
    for variant in ["rte-wrong-type", "rte-missing-column"] {
        let err = error(&root.join(variant));
        assert!(
            err.contains("train-00000-of-00001.parquet") && err.contains("sentence2"),
            "{variant}: {err}"
        );
    }
    // A truncated file (a download cut short) and a missing shard.
    let dir = tempfile::tempdir().unwrap();
    let whole = std::fs::read(root.join("rte/train-00000-of-00002.parquet")).unwrap();
    let truncated = dir.path().join("train-00000-of-00002.parquet");
    std::fs::write(&truncated, &whole[..whole.len() / 2]).unwrap();
    let err = read_split(
        task("rte").unwrap(),
        dir.path(),
        "train",
        &LoadOptions::default(),
    )
    .unwrap_err();
    assert!(
        matches!(&err, DataError::Parquet { path, .. } if path.ends_with("train-00001-of-00002.parquet")),
        "{err}"
    );
    std::fs::copy(
        root.join("rte/train-00001-of-00002.parquet"),
        dir.path().join("train-00001-of-00002.parquet"),
    )
    .unwrap();
    let err = error(dir.path());
    assert!(err.contains(&truncated.display().to_string()), "{err}");
}
