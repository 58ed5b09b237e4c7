//! The bundled pretrained models (`models/t5-mini` and `models/t5-mini-en`, docs/pretrain.md)
//! against Hugging Face `transformers`, which loads the same directories
//! (`fixtures/gen_t5_mini.py`): token ids of the tokenizer files, encoder states, logits and loss
//! within [`PARITY_TOLERANCE`], and greedy generations token for token.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::PathBuf;

use burn::prelude::*;
use common::{Expected, PARITY_TOLERANCE, assert_close, token_lists};
use pelt_t5::{GenerationConfig, T5Input, T5Model, T5Tokenizer, cross_entropy};
use sha2::{Digest, Sha256};

/// `models/NAME`.
fn bundled(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../models")
        .join(name)
}

/// Ids up to and including the first `</s>` (Hugging Face pads finished rows afterwards).
fn until_eos(rows: Vec<Vec<u32>>) -> Vec<Vec<u32>> {
    rows.into_iter()
        .map(|row| match row.iter().position(|&t| t == 1) {
            Some(end) => row[..=end].to_vec(),
            None => row,
        })
        .collect()
}

#[test]
fn bundled_model_matches_transformers() {
    matches_transformers("t5-mini");
}

#[test]
fn bundled_english_model_matches_transformers() {
    matches_transformers("t5-mini-en");
}

/// `models/NAME` against its fixture (`fixtures/NAME` with `_` for `-`).
fn matches_transformers(name: &str) {
    let device = Device::default();
    let fixture = name.replace('-', "_");
    let expected = Expected::open(&fixture, &device);
    let json = expected.json(&fixture);
    let weights = std::fs::read(bundled(name).join("model.safetensors")).unwrap();
    let digest = format!("{:x}", Sha256::digest(&weights));
    assert_eq!(
        json["model_sha256"].as_str().unwrap(),
        digest,
        "models/{name} changed since the fixture was made: rerun fixtures/gen_t5_mini.py models/{name}"
    );

    let tokenizer = T5Tokenizer::from_file(bundled(name)).unwrap();
    for (text, ids) in json["sources"]
        .as_array()
        .unwrap()
        .iter()
        .zip(token_lists(&json["source_ids"]))
    {
        assert_eq!(
            tokenizer.encode(text.as_str().unwrap()).unwrap(),
            ids,
            "{text}"
        );
    }

    let model = T5Model::load(bundled(name), &device).unwrap();
    let input = T5Input::new(expected.ints("input_ids"))
        .mask(expected.ints("attention_mask"))
        .unwrap();
    let encoded = model.encode(input.clone());
    assert_close(
        "encoder states",
        encoded.hidden.clone(),
        expected.tensor("encoder_hidden"),
        PARITY_TOLERANCE,
    );
    let logits = model.decode(&encoded, expected.ints("decoder_input_ids"));
    assert_close(
        "logits",
        logits.clone(),
        expected.tensor("logits"),
        PARITY_TOLERANCE,
    );
    let loss = cross_entropy(logits, expected.ints("labels"), 0.0);
    assert_close("loss", loss, expected.tensor("loss"), PARITY_TOLERANCE);

    let generated = model.generate(input, &GenerationConfig::greedy(6));
    assert_eq!(
        until_eos(generated),
        until_eos(token_lists(&json["generated"]))
    );
}
