//! Pictures stored in Parquet rows (`datasets`' `Image` feature) go through the same decoding,
//! CLIP preprocessing and feature cache as image files: a run on SNLI-VE in the hub's Parquet
//! layout is bit-identical to a run on the same rows as JSON Lines with the pictures as files,
//! and a picture that does not decode is an error naming the file, row and column.
//!
//! Seeding goes through Burn's per-device random state, which every thread of a process
//! shares: this file holds one test so nothing else draws from it meanwhile.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;

use burn::prelude::Device;
use common::{fresh_dir, read, root, tiny_config};
use pelt_train::{RunConfig, StopHandle, train};

/// The tiny configuration on SNLI-VE read from `dir` (a fixture of pelt-data's).
fn snli_ve(dir: &str) -> RunConfig {
    let mut json = serde_json::to_value(tiny_config()).unwrap();
    let dir = root()
        .join("crates/pelt-data/tests/fixtures/parquet")
        .join(dir);
    json["tasks"] = serde_json::json!([{"name": "snli-ve", "dir": dir}]);
    json["train"]["steps"] = 2.into();
    let config: RunConfig = serde_json::from_value(json).unwrap();
    config.validate().unwrap();
    config
}

#[test]
fn pictures_in_parquet_rows_train_exactly_as_image_files() {
    let device = Device::default();
    let (files, parquet) = (fresh_dir("pq-files"), fresh_dir("pq-rows"));
    train(
        &snli_ve("snli-ve-files"),
        &files,
        false,
        &device,
        &StopHandle::new(),
    )
    .unwrap();
    train(
        &snli_ve("snli-ve"),
        &parquet,
        false,
        &device,
        &StopHandle::new(),
    )
    .unwrap();
    for file in ["best.safetensors", "log.jsonl"] {
        assert!(
            read(&files.join(file)) == read(&parquet.join(file)),
            "{file} differs"
        );
    }

    let broken = fresh_dir("pq-undecodable");
    let config = snli_ve("snli-ve-undecodable");
    let err = train(&config, &broken, false, &device, &StopHandle::new())
        .unwrap_err()
        .to_string();
    let shard = Path::new("snli-ve-undecodable/train-00000-of-00001.parquet");
    assert!(
        err.contains(&shard.display().to_string())
            && err.contains("row 2")
            && err.contains("\"image\""),
        "{err}"
    );
    assert!(!broken.join("features.safetensors").exists());
    for dir in [files, parquet, broken] {
        let _ = std::fs::remove_dir_all(dir);
    }
}
