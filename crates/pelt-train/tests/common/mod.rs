//! Shared by the fault tests: a tiny training configuration on the bundled `pd-source` data
//! (a checkpoint and an evaluation every step), and byte-level comparisons of run outputs.

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
    for file in ["best.safetensors", "log.jsonl"] {
        assert!(
            read(&reference.join(file)) == read(&run.join(file)),
            "{file} differs after {after}"
        );
    }
}
