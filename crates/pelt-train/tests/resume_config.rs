//! `pelt train --resume` continues the run it names: without `--config` it reads the run's own
//! `config.json`; a configuration that changes what the run computes is refused with the
//! changed fields named, unless `--allow-changes` says so; the device count stays free.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::{Command, Output};

fn pelt(out: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pelt"))
        .arg("train")
        .args(args)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap()
}

fn report_steps(run: &Path) -> u64 {
    let report: serde_json::Value =
        serde_json::from_slice(&common::read(&run.join("report.json"))).unwrap();
    report["steps"].as_u64().unwrap()
}

#[test]
fn a_resume_reads_the_runs_own_configuration_and_refuses_other_trajectories() {
    let dir = std::env::temp_dir().join(format!("pelt-resume-config-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let config = common::tiny_config(&dir, 12);
    let config = config.to_str().unwrap();
    let run = dir.join("run");

    // A 4-step run (steps set on the command line), its last checkpoint lost.
    let first = pelt(
        &run,
        &[
            "--config",
            config,
            "--set",
            "train.steps=4",
            "--devices",
            "cpu",
        ],
    );
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let last = pelt_train::checkpoint::list(&run).unwrap().pop().unwrap();
    std::fs::remove_dir_all(last).unwrap();

    // The same file without the --set: refused, naming the field and both values.
    let refused = pelt(&run, &["--resume", "--config", config]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(stderr.contains("train.steps: 4 -> 12"), "{stderr}");
    assert!(stderr.contains("--allow-changes"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");

    // No --config: the run's own configuration, with another device count.
    let resumed = pelt(&run, &["--resume", "--devices", "cpu,cpu"]);
    assert!(
        resumed.status.success(),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    assert_eq!(report_steps(&run), 4);
    let (step, kept) = (3, 6); // the checkpoint left: step 3, after two log lines a step
    assert_eq!(common::resumed_at(&run, kept), Some(step));

    // On purpose: --allow-changes continues it with the new steps, saying what changed.
    let extended = pelt(
        &run,
        &[
            "--resume",
            "--allow-changes",
            "--set",
            "train.steps=6",
            "--set",
            "train.warmup_steps=2",
        ],
    );
    let stderr = String::from_utf8_lossy(&extended.stderr);
    assert!(extended.status.success(), "{stderr}");
    assert!(
        stderr.contains("--allow-changes: train.steps: 4 -> 6"),
        "{stderr}"
    );
    assert!(stderr.contains("train.warmup_steps: 1 -> 2"), "{stderr}");
    assert_eq!(report_steps(&run), 6);
    let saved: serde_json::Value =
        serde_json::from_slice(&common::read(&run.join("config.json"))).unwrap();
    assert_eq!(saved["train"]["steps"], 6);
    std::fs::remove_dir_all(&dir).unwrap();
}
