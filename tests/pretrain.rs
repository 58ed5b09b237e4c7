//! `pelt pretrain` end to end on a tiny T5 and a tiny corpus: a few steps of span corruption,
//! the exported Hugging Face model directory reads back as the best model, and a run stopped
//! half-way and resumed ends bit-identical to an uninterrupted one.

#![allow(clippy::unwrap_used)]

mod common;

use std::fs;
use std::path::Path;

use burn::prelude::*;
use common::{fresh_dir, read, root};
use pelt_hyper::{Method, PeltConfig};
use pelt_t5::{T5Input, T5Model};
use pelt_train::{PretrainConfig, RunConfig, StopHandle, TrainConfig, pretrain};

/// A small corpus of the bundled task sentences: 200 training documents, 40 held-out ones.
fn corpus(dir: &Path) {
    fs::create_dir_all(dir).unwrap();
    let text = fs::read_to_string(root().join("datasets/text/pd-source/train.jsonl")).unwrap();
    let sentences: Vec<String> = text
        .lines()
        .take(480)
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["sentence"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let write = |name: &str, docs: &[String]| {
        let lines: Vec<String> = docs
            .chunks(2)
            .map(|pair| serde_json::json!({"text": pair.join(" ")}).to_string())
            .collect();
        fs::write(dir.join(name), lines.join("\n")).unwrap();
    };
    write("train.jsonl", &sentences[..400]);
    write("heldout.jsonl", &sentences[400..]);
}

/// The end-to-end tests' tiny T5 (`common::tiny_config`), pretrained on `corpus` for `steps`.
fn tiny_pretrain_config(corpus: &Path, steps: u64) -> RunConfig {
    let mut config = common::tiny_config();
    config.clip = None;
    config.tasks.clear();
    config.pretrain = Some(PretrainConfig {
        corpus: corpus.join("train.jsonl"),
        heldout: corpus.join("heldout.jsonl"),
        input_length: 24,
        noise_density: 0.15,
        mean_noise_span_length: 3.0,
        heldout_chunks: 8,
        reconstruct_every: 0,
    });
    config.pelt = PeltConfig::new(Method::Full, &[]);
    config.train = TrainConfig {
        steps,
        batch_size: 4,
        warmup_steps: 1,
        eval_every: 2,
        eval_batch_size: 4,
        label_smoothing: 0.0,
        learning_rate: 1e-2,
        keep_last: 2,
        log_every: 1,
        ..TrainConfig::default()
    };
    config.validate().unwrap();
    config
}

#[test]
fn pretraining_learns_exports_a_hugging_face_model_and_resumes_exactly() {
    let device = Device::default();
    let data = fresh_dir("pretrain-corpus");
    corpus(&data);

    let full = fresh_dir("pretrain-full");
    let config = tiny_pretrain_config(&data, 6);
    let report = pretrain(&config, &full, false, &device, &StopHandle::new()).unwrap();
    assert_eq!(report.steps, 6);
    assert_eq!(report.input_length, 24);
    assert_eq!(report.heldout_chunks, 8);
    assert!(report.heldout_loss.is_finite());

    // The held-out loss falls from the first evaluation to the best one.
    let log = fs::read_to_string(full.join("log.jsonl")).unwrap();
    let heldout: Vec<f64> = log
        .lines()
        .filter_map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["validation"]["span-corruption"][0]["value"].as_f64()
        })
        .collect();
    assert_eq!(heldout.len(), 3, "{log}");
    let best = heldout.iter().copied().fold(f64::INFINITY, f64::min);
    assert!(best < heldout[0], "{heldout:?}");
    assert!(
        (report.heldout_loss - best).abs() < 1e-4 * best,
        "{report:?} {heldout:?}"
    );

    // The exported directory is a Hugging Face model with its tokenizer.
    let model_dir = full.join("model");
    for file in [
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "spiece.model",
    ] {
        assert!(model_dir.join(file).is_file(), "{file}");
    }
    let hf: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(model_dir.join("config.json")).unwrap()).unwrap();
    assert_eq!(hf["model_type"], "t5");
    assert_eq!(hf["d_model"], 16);
    let exported = T5Model::load(&model_dir, &device).unwrap();
    let ids = Tensor::<2, Int>::from_ints([[37, 629, 19, 1627, 5, 1]], &device);
    let decoder = Tensor::<2, Int>::from_ints([[0, 32099, 37]], &device);
    let logits = exported.forward(T5Input::new(ids.clone()), decoder.clone());
    // Saving again writes the same bytes: the export is a fixed point.
    let again = fresh_dir("pretrain-again");
    exported.save(&again).unwrap();
    assert_eq!(
        read(&again.join("model.safetensors")),
        read(&model_dir.join("model.safetensors"))
    );
    let reloaded = T5Model::load(&again, &device).unwrap();
    let diff: f32 = (reloaded.forward(T5Input::new(ids), decoder) - logits)
        .abs()
        .max()
        .into_scalar();
    assert_eq!(diff, 0.0);

    // Killed after step 4 (the step-6 checkpoint lost), then resumed: bit-identical.
    let files = [
        "model/model.safetensors",
        "best.safetensors",
        "log.jsonl",
        "pretrain.json",
    ];
    let before: Vec<Vec<u8>> = files
        .iter()
        .map(|f| match *f {
            "log.jsonl" => common::log_without_resumes(&full).into_bytes(),
            _ => read(&full.join(f)),
        })
        .collect();
    let checkpoints = pelt_train::checkpoint::list(&full).unwrap();
    assert_eq!(checkpoints.len(), 2, "{checkpoints:?}");
    fs::remove_dir_all(&checkpoints[1]).unwrap();
    pretrain(&config, &full, true, &device, &StopHandle::new()).unwrap();
    assert_eq!(
        common::resumes(&full),
        [4],
        "the resume did not continue from the checkpoint left (step 4)"
    );
    for (file, bytes) in files.iter().zip(before) {
        if *file == "log.jsonl" {
            let log = common::log_without_resumes(&full);
            assert!(log.as_bytes() == bytes, "the log differs after the resume");
        } else if *file == "pretrain.json" {
            // Only the timing figures may differ.
            let strip = |b: &[u8]| {
                let mut v: serde_json::Value = serde_json::from_slice(b).unwrap();
                v["tokens_per_second"] = 0.into();
                v["train_seconds"] = 0.into();
                v
            };
            assert_eq!(strip(&read(&full.join(file))), strip(&bytes));
        } else {
            assert!(
                read(&full.join(file)) == bytes,
                "{file} differs after the resume"
            );
        }
    }
    for dir in [data, full, again] {
        let _ = fs::remove_dir_all(dir);
    }
}
