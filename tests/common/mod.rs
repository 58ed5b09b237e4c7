//! Shared set-up of the end-to-end tests: tiny random configurations on the bundled data.

#![allow(clippy::unwrap_used, dead_code)]

use std::fs;
use std::path::{Path, PathBuf};

use pelt_train::RunConfig;

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A run directory under the temporary directory, removed first.
pub fn fresh_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pelt-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    dir
}

pub fn tiny_config() -> RunConfig {
    let json = serde_json::json!({
        "t5": {"random": {"vocab_size": 32128, "d_model": 16, "d_kv": 8, "d_ff": 32,
                          "num_layers": 1, "num_decoder_layers": 1, "num_heads": 2,
                          "dropout_rate": 0.0}},
        "clip": {"random": {"hidden_size": 8, "intermediate_size": 16, "num_hidden_layers": 1,
                            "num_attention_heads": 2, "image_size": 16, "patch_size": 8}},
        "tokenizer": root().join("datasets/t5-tokenizer"),
        "data": root().join("datasets"),
        "tasks": [{"name": "pd-source", "dir": "text/pd-source"},
                  {"name": "easy-vqa", "dir": "easy-vqa"}],
        "pelt": {"method": "hyperpelt", "embedding_dim": 4, "projector_hidden_dim": 8,
                 "hyper_dim": 4, "adapter_dim": 2, "prefix_len": 2},
        "train": {"steps": 4, "batch_size": 4, "warmup_steps": 1, "eval_every": 2,
                  "eval_examples": 4, "final_examples": 4, "eval_batch_size": 4,
                  "max_source_len": 16, "max_target_len": 4, "max_new_tokens": 3,
                  "keep_last": 2, "log_every": 1}
    });
    let config: RunConfig = serde_json::from_value(json).unwrap();
    config.validate().unwrap();
    config
}

/// The steps at which the run in `dir` resumed, from its log.
pub fn resumes(dir: &Path) -> Vec<u64> {
    pelt_train::resumes(&fs::read_to_string(dir.join("log.jsonl")).unwrap()).0
}

/// The run's log without its resume lines.
pub fn log_without_resumes(dir: &Path) -> String {
    pelt_train::resumes(&fs::read_to_string(dir.join("log.jsonl")).unwrap()).1
}

pub fn read(path: &Path) -> Vec<u8> {
    fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}
