//! `train.matmul_precision` end to end (docs/precision.md): a bf16 run records bf16 products
//! and trains on other numbers than the f32 run of the same seed; a resume may not change the
//! setting; f32 afterwards is f32 again. The setting is process-wide: this file holds one test.

#![allow(clippy::unwrap_used)]

mod common;

use std::fs;

use burn::prelude::Device;
use common::{fresh_dir, read, tiny_config};
use pelt_train::{MatmulPrecision, StopHandle, train, trajectory_changes};

#[test]
fn a_bf16_run_has_bf16_products_and_its_own_trajectory() {
    let device = Device::default();
    let f32_config = tiny_config();
    let mut bf16_config = f32_config.clone();
    bf16_config.set("train.matmul_precision=bf16").unwrap();
    assert_eq!(bf16_config.train.matmul_precision, MatmulPrecision::Bf16);
    let (a, b) = (fresh_dir("precision-f32"), fresh_dir("precision-bf16"));
    let stop = StopHandle::new();
    let f32_report = train(&f32_config, &a, false, &device, &stop).unwrap();
    assert_eq!(f32_report.matmul_precision, MatmulPrecision::F32);
    let bf16_report = train(&bf16_config, &b, false, &device, &stop).unwrap();
    let supported = burn::backend::flex::ops::bf16_products::bf16_products_supported();
    if supported {
        assert_eq!(bf16_report.matmul_precision, MatmulPrecision::Bf16);
        assert!(
            read(&a.join("log.jsonl")) != read(&b.join("log.jsonl")),
            "bf16 products left every logged number as in f32"
        );
    } else {
        // Refused with a warning: the run is the f32 run.
        assert_eq!(bf16_report.matmul_precision, MatmulPrecision::F32);
        assert!(read(&a.join("log.jsonl")) == read(&b.join("log.jsonl")));
    }
    let report: serde_json::Value = serde_json::from_slice(&read(&b.join("report.json"))).unwrap();
    assert_eq!(
        report["matmul_precision"],
        if supported { "bf16" } else { "f32" }
    );
    // A resume that changes the setting changes the trajectory: it is named.
    let changes = trajectory_changes(&f32_config, &bf16_config).unwrap();
    assert!(
        changes.iter().any(|c| c.contains("train.matmul_precision")),
        "{changes:?}"
    );
    // The next f32 run has f32 products again.
    let c = fresh_dir("precision-f32-again");
    assert_eq!(
        train(&f32_config, &c, false, &device, &stop)
            .unwrap()
            .matmul_precision,
        MatmulPrecision::F32
    );
    assert!(read(&a.join("log.jsonl")) == read(&c.join("log.jsonl")));
    assert!(matches!(
        bf16_config.set("train.matmul_precision=fp16"),
        Err(e) if e.to_string().contains("matmul_precision")
    ));
    for dir in [a, b, c] {
        fs::remove_dir_all(dir).unwrap();
    }
}
