//! Shared by the fault tests: a tiny training configuration on the bundled `pd-source` data
//! (a checkpoint and an evaluation every step), and byte-level comparisons of run outputs.

#![allow(dead_code)]

use std::ffi::OsString;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Writes `dir/config.json`: HyperPELT on a random one-layer T5, `steps` steps, keeping the
/// last two checkpoints. Returns its path.
pub fn tiny_config(dir: &Path, steps: u64) -> PathBuf {
    let config = dir.join("config.json");
    let json = serde_json::json!({
        "t5": {"random": {"vocab_size": 32128, "d_model": 16, "d_kv": 8, "d_ff": 32,
                          "num_layers": 1, "num_decoder_layers": 1, "num_heads": 2,
                          "dropout_rate": 0.0}},
        "tokenizer": root().join("datasets/t5-tokenizer"),
        "data": root().join("datasets"),
        "tasks": [{"name": "pd-source", "dir": "text/pd-source"}],
        "pelt": {"method": "hyperpelt", "embedding_dim": 4, "projector_hidden_dim": 8,
                 "hyper_dim": 4, "adapter_dim": 2, "prefix_len": 2},
        "train": {"steps": steps, "batch_size": 4, "warmup_steps": 1, "eval_every": 1,
                  "eval_examples": 4, "final_examples": 4, "eval_batch_size": 4,
                  "max_source_len": 16, "max_target_len": 4, "max_new_tokens": 2,
                  "keep_last": 2, "log_every": 1}
    });
    std::fs::write(&config, serde_json::to_vec_pretty(&json).unwrap()).unwrap();
    config
}

pub fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Asserts that `run` ended exactly as `reference` did: same last checkpoint (name and
/// trainable tensors), best model and log.
pub fn assert_same_end(reference: &Path, run: &Path, after: &str) {
    let last = |run: &Path| -> (OsString, Vec<u8>) {
        let dir = pelt_train::checkpoint::list(run).unwrap().pop().unwrap();
        (
            dir.file_name().unwrap().to_owned(),
            read(&dir.join("trainable.safetensors")),
        )
    };
    assert!(
        last(reference) == last(run),
        "the last checkpoints differ after {after}"
    );
    assert!(
        read(&reference.join("best.safetensors")) == read(&run.join("best.safetensors")),
        "best.safetensors differs after {after}"
    );
    let log = |run: &Path| {
        let text = std::fs::read_to_string(run.join("log.jsonl")).unwrap();
        pelt_train::resumes(&text).1
    };
    assert!(
        log(reference) == log(run),
        "log.jsonl differs (resume lines aside) after {after}"
    );
}

/// The run's last complete checkpoint, if it has one: its step, and the log lines it keeps.
pub fn last_checkpoint(run: &Path) -> Option<(u64, usize)> {
    pelt_train::checkpoint::last_state(run)
        .unwrap()
        .map(|s| (s.step, s.log_lines))
}

/// The step of the resume line right after the first `kept` log lines (where a resume from a
/// checkpoint that kept them writes it), if the log has one there.
pub fn resumed_at(run: &Path, kept: usize) -> Option<u64> {
    let text = std::fs::read_to_string(run.join("log.jsonl")).unwrap_or_default();
    let line = text.lines().nth(kept)?;
    serde_json::from_str::<serde_json::Value>(line).ok()?["resumed_at"].as_u64()
}
