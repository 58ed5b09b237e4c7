//! Both bundled backbones (`models/t5-mini-en`, the default, and `models/t5-mini`) read their
//! input: on span-corrupted chunks of the bundled text tasks' test sentences (all from chapters
//! and addresses held out of pretraining), swapping every chunk's encoder input for another's
//! costs each at least `MIN_INPUT_GAP` nats per target token (docs/pretrain.md, "The health
//! signal").

#![allow(clippy::unwrap_used)]

mod common;

use std::fs;
use std::sync::Arc;

use burn::prelude::*;
use common::{fresh_dir, root};
use pelt_data::{PretrainCorpus, SpanCorruption};
use pelt_t5::{T5Model, T5Tokenizer};
use pelt_train::{HeldoutSet, MIN_INPUT_GAP};

/// The test sentences of both text tasks, ten to a document.
fn heldout_documents() -> Vec<String> {
    let mut sentences = Vec::new();
    for (task, fields) in [
        ("pd-source", &["sentence"][..]),
        ("pd-next", &["sentence1", "sentence2"][..]),
    ] {
        let file = root().join(format!("datasets/text/{task}/test.jsonl"));
        for line in fs::read_to_string(file).unwrap().lines() {
            let row: serde_json::Value = serde_json::from_str(line).unwrap();
            for field in fields {
                sentences.push(row[field].as_str().unwrap().to_string());
            }
        }
    }
    sentences.chunks(10).map(|c| c.join(" ")).collect()
}

#[test]
fn the_default_backbone_reads_its_input() {
    reads_its_input("t5-mini-en");
}

#[test]
fn the_first_bundled_backbone_reads_its_input() {
    reads_its_input("t5-mini");
}

/// Scores `models/NAME` on the held-out chunks and asserts its swapped-input gap.
fn reads_its_input(name: &str) {
    let model_dir = root().join("models").join(name);
    let device = Device::default();
    let model = T5Model::load(&model_dir, &device).unwrap();
    let tokenizer = T5Tokenizer::from_file(&model_dir).unwrap();
    let dir = fresh_dir(&format!("bundled-backbone-{name}"));
    fs::create_dir_all(&dir).unwrap();
    let corpus_file = dir.join("heldout.jsonl");
    let lines: Vec<String> = heldout_documents()
        .into_iter()
        .map(|text| serde_json::json!({ "text": text }).to_string())
        .collect();
    fs::write(&corpus_file, lines.join("\n")).unwrap();

    let hf = tokenizer.tokenizer();
    let corruption = SpanCorruption {
        noise_density: 0.15,
        mean_noise_span_length: 3.0,
        vocabulary: tokenizer.vocab_size() as u32,
        eos: hf.token_to_id("</s>").unwrap(),
    };
    // The pretraining recipe's input of 128 tokens.
    let (chunk_length, _) = corruption.lengths_for_input(128);
    let corpus = PretrainCorpus::read(&corpus_file, Arc::new(hf.clone()), chunk_length).unwrap();
    let heldout = HeldoutSet::new(&corpus, &corruption, 64, 16, 42).unwrap();
    assert_eq!(heldout.len(), 64, "the test sentences fill 64 chunks");
    let h = heldout.score(&model, &device).unwrap();
    eprintln!(
        "models/{name} on the tasks' test text: loss {:.3}, swapped inputs {:.3}, gap {:.3}",
        h.loss,
        h.swapped,
        h.gap()
    );
    assert!(
        h.gap() >= MIN_INPUT_GAP,
        "models/{name} does not read its input: loss {:.3}, with swapped inputs {:.3}",
        h.loss,
        h.swapped
    );
    fs::remove_dir_all(&dir).unwrap();
}
