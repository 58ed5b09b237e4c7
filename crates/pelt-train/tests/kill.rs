//! Nothing is lost when a run is killed: `pelt train` is killed with SIGKILL at several
//! moments (spread over start-up, steps, evaluations and checkpoint writes), resumed with
//! `--resume` each time, and its trainable tensors, best model and log end bit-identical to an
//! uninterrupted run of the same seed.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn pelt(config: &Path, out: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_pelt"));
    command
        .args(["train", "--resume", "--config"])
        .arg(config)
        .arg("--out")
        .arg(out)
        .stderr(std::process::Stdio::null())
        .stdout(std::process::Stdio::null());
    command
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn killed_and_resumed_runs_end_bit_identical_to_an_uninterrupted_one() {
    let dir = std::env::temp_dir().join(format!("pelt-kill-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
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
        "train": {"steps": 12, "batch_size": 4, "warmup_steps": 1, "eval_every": 1,
                  "eval_examples": 4, "final_examples": 4, "eval_batch_size": 4,
                  "max_source_len": 16, "max_target_len": 4, "max_new_tokens": 2,
                  "keep_last": 2, "log_every": 1}
    });
    std::fs::write(&config, serde_json::to_vec_pretty(&json).unwrap()).unwrap();

    let reference = dir.join("reference");
    assert!(pelt(&config, &reference).status().unwrap().success());

    // Each run is killed once its log reaches a number of lines (two per step: loss and
    // validation, each step also writing a checkpoint), plus a few milliseconds, so kills land
    // in steps, evaluations and checkpoint writes; whatever they hit, the end result must not
    // change.
    let killed = dir.join("killed");
    let log = killed.join("log.jsonl");
    let lines = || {
        std::fs::read_to_string(&log)
            .map(|t| t.lines().count())
            .unwrap_or(0)
    };
    let mut kills = 0;
    for (target, jitter) in [(3, 0), (7, 9), (10, 23), (14, 4), (17, 15), (21, 31)] {
        let mut child = pelt(&config, &killed).spawn().unwrap();
        while lines() < target && child.try_wait().unwrap().is_none() {
            std::thread::sleep(Duration::from_millis(2));
        }
        std::thread::sleep(Duration::from_millis(jitter));
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL
            kills += 1;
        }
        child.wait().unwrap();
    }
    assert!(kills >= 4, "only {kills} runs were still going when killed");
    assert!(pelt(&config, &killed).status().unwrap().success());

    let last = |run: &Path| {
        let dir = pelt_train::checkpoint::list(run).unwrap().pop().unwrap();
        (
            dir.file_name().unwrap().to_owned(),
            read(&dir.join("trainable.safetensors")),
        )
    };
    assert!(
        last(&reference) == last(&killed),
        "the last checkpoints differ"
    );
    for file in ["best.safetensors", "log.jsonl"] {
        assert!(
            read(&reference.join(file)) == read(&killed.join(file)),
            "{file} differs after {kills} kills"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
