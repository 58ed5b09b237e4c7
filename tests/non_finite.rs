//! A non-finite loss stops the run naming the step and the last good checkpoint, which stays
//! complete and finite.

#![allow(clippy::unwrap_used)]

mod common;

use std::fs;

use burn::prelude::Device;
use common::{fresh_dir, tiny_config};
use pelt_train::{StopHandle, TrainError, train};

#[test]
fn a_non_finite_loss_stops_the_run_and_keeps_the_last_good_checkpoint() {
    let device = Device::default();
    let mut config = tiny_config();
    // An absurd learning rate blows the weights up after the first step.
    config.set("train.learning_rate=1e30").unwrap();
    config.set("train.warmup_steps=0").unwrap();
    config.set("train.eval_every=1").unwrap();
    let run = fresh_dir("nonfinite");
    let err = train(&config, &run, false, &device, &StopHandle::new()).unwrap_err();
    let TrainError::NonFinite {
        step,
        last_good: Some(last_good),
        ..
    } = &err
    else {
        panic!("expected a non-finite stop with a checkpoint, got: {err}");
    };
    let message = err.to_string();
    assert!(
        message.contains(&format!("at step {step}"))
            && message.contains(&last_good.display().to_string()),
        "{message}"
    );
    assert!(*step >= 1, "{message}");
    // The last good checkpoint is complete and finite.
    let state = pelt_weights::Checkpoint::open(last_good.join("trainable.safetensors")).unwrap();
    let mut tensors = 0;
    for meta in state.tensors() {
        let values = state.read_f32(&meta.name).unwrap();
        assert!(
            values.iter().all(|v| v.is_finite()),
            "{} is not finite",
            meta.name
        );
        tensors += 1;
    }
    assert!(tensors > 0);
    fs::remove_dir_all(&run).unwrap();
}
