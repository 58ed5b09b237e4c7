//! Training on the CPU is deterministic: two runs of one seed are bit-identical.
//!
//! Seeding goes through Burn's per-device random state, which every thread of a process
//! shares: this file holds one test so nothing else draws from it meanwhile.

#![allow(clippy::unwrap_used)]

mod common;

use std::fs;

use burn::prelude::Device;
use common::{fresh_dir, read, tiny_config};
use pelt_train::{StopHandle, train};

#[test]
fn two_runs_of_one_seed_are_bit_identical() {
    let device = Device::default();
    let config = tiny_config();
    let (a, b) = (fresh_dir("det-a"), fresh_dir("det-b"));
    train(&config, &a, false, &device, &StopHandle::new()).unwrap();
    train(&config, &b, false, &device, &StopHandle::new()).unwrap();
    for file in ["best.safetensors", "log.jsonl"] {
        assert!(read(&a.join(file)) == read(&b.join(file)), "{file} differs");
    }
    let last = |run: &std::path::Path| {
        let dir = pelt_train::checkpoint::list(run).unwrap().pop().unwrap();
        read(&dir.join("trainable.safetensors"))
    };
    assert!(last(&a) == last(&b), "the last checkpoints differ");
    fs::remove_dir_all(&a).unwrap();
    fs::remove_dir_all(&b).unwrap();
}
