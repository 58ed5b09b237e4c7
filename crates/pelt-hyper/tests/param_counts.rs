//! Parameter accounting: exact counts on the tiny fixture shape against the spec's formulas,
//! and HyperPELT on a t5-base-shaped model inside the budget of docs/method.md §7.

#![allow(clippy::unwrap_used)]

mod common;

use burn::prelude::*;
use common::tiny_t5;
use pelt_hyper::{Method, PeltConfig, PeltModel};
use pelt_t5::T5Config;

#[test]
fn counts_follow_the_specs_formulas() {
    let device = Device::default();
    let t5 = tiny_t5(&device);
    let c = &t5.config;
    let (d, h, dkv) = (c.d_model, c.num_heads, c.d_kv);
    let (le, ld) = (c.num_layers, c.decoder_layers());
    let config = PeltConfig::new(Method::Hyperpelt, &["a", "b", "c"]);
    let (de, ph, dh, r, n) = (64, 128, 64, 24, 8);
    let linear = |i: usize, o: usize| i * o + o;
    let embeddings = (3 + le + ld + 3) * de;
    let projector = linear(3 * de, ph) + linear(ph, dh) + 2 * dh;
    let adapters = linear(dh, r * d) + linear(dh, r) + linear(dh, d * r) + linear(dh, d);
    let prefixes = linear(dh, 2 * n * h * dkv);
    let norms = (2 * le + 1 + 3 * ld + 1) * d;
    let model = PeltModel::new(t5.clone(), config).unwrap();
    let counts = model.param_counts();
    assert_eq!(
        counts.trainable,
        embeddings + projector + adapters + prefixes + norms
    );
    let full = PeltModel::new(t5, PeltConfig::new(Method::Full, &["a"])).unwrap();
    assert_eq!(full.param_counts().trainable, full.param_counts().backbone);
    assert_eq!(counts.backbone, full.param_counts().backbone);
}

#[test]
fn hyperpelt_on_t5_base_lands_in_the_specs_budget() {
    let device = Device::default();
    let json = r#"{"d_model": 768, "d_ff": 3072, "num_layers": 12, "num_heads": 12}"#;
    let t5 = T5Config::from_json(json).unwrap().init(&device);
    let glue = ["cola", "sst2", "mrpc", "qqp", "stsb", "mnli", "qnli", "rte"];
    let counts = PeltModel::new(t5, PeltConfig::new(Method::Hyperpelt, &glue))
        .unwrap()
        .param_counts();
    // t5-base has 222.9M parameters; the spec puts HyperPELT at about 3-6M (1.5-2.6%).
    assert_eq!(counts.backbone, 222_903_552);
    assert!(
        (3_000_000..=6_000_000).contains(&counts.trainable),
        "{counts}"
    );
}
