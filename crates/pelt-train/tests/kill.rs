//! Nothing is lost when a run is killed: `pelt train` is killed with SIGKILL at several
//! moments (spread over start-up, steps, evaluations and checkpoint writes), resumed with
//! `--resume` each time, and its trainable tensors, best model and log end bit-identical to an
//! uninterrupted run of the same seed, with one worker and with two data-parallel workers on
//! the CPU (the default where it has two threads).

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

fn pelt(config: &Path, out: &Path, extra: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_pelt"));
    command
        .args(["train", "--resume"])
        .args(extra)
        .arg("--config")
        .arg(config)
        .arg("--out")
        .arg(out)
        .stderr(std::process::Stdio::null())
        .stdout(std::process::Stdio::null());
    command
}

#[test]
fn killed_and_resumed_runs_end_bit_identical_to_an_uninterrupted_one() {
    kill_and_resume("one", &["--devices", "cpu"]);
}

#[test]
fn killed_and_resumed_two_worker_runs_end_bit_identical_to_an_uninterrupted_one() {
    kill_and_resume("two", &["--devices", "cpu,cpu"]);
}

/// Kills runs of `pelt train EXTRA` at several moments, resumes each, and compares the end
/// with an uninterrupted run of the same arguments.
fn kill_and_resume(name: &str, extra: &[&str]) {
    let dir = std::env::temp_dir().join(format!("pelt-kill-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let config = common::tiny_config(&dir, 12);

    let reference = dir.join("reference");
    assert!(pelt(&config, &reference, extra).status().unwrap().success());

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
        let mut child = pelt(&config, &killed, extra).spawn().unwrap();
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
    assert!(pelt(&config, &killed, extra).status().unwrap().success());

    common::assert_same_end(&reference, &killed, &format!("{kills} kills"));
    std::fs::remove_dir_all(&dir).unwrap();
}
