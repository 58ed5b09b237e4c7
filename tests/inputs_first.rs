//! `pelt train` resolves its models before any long work: a T5 that cannot be found is an
//! error naming it, raised before the CLIP features of the image tasks are computed.

#![allow(clippy::unwrap_used)]

mod common;

use burn::prelude::Device;
use common::{fresh_dir, tiny_config};
use pelt_train::{StopHandle, train};

#[test]
fn a_missing_t5_fails_before_the_clip_features_are_computed() {
    let mut config = tiny_config();
    let missing = fresh_dir("no-such-t5").join("t5-model");
    config.t5 = pelt_train::Backbone::Path(missing.clone());
    let run = fresh_dir("inputs-first");
    let err = train(&config, &run, false, &Device::default(), &StopHandle::new())
        .unwrap_err()
        .to_string();
    assert!(err.contains(&missing.display().to_string()), "{err}");
    // The tiny configuration has an image task: its feature cache would be written first.
    assert!(!run.join("features.safetensors").exists());
    let _ = std::fs::remove_dir_all(&run);
}
