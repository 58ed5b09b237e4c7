//! Nothing is lost when a run is killed: `pelt train` is killed with SIGKILL at several
//! moments, resumed with `--resume` each time, and its trainable tensors, best model and log
//! end bit-identical to an uninterrupted run of the same seed, with one worker and with two
//! data-parallel workers on the CPU (the default where it has two threads). Two kills land
//! exactly inside a checkpoint write and inside an evaluation (the debug builds' test pause,
//! `PELT_TEST_PAUSE`); the others after a number of log lines plus a few milliseconds. Every
//! resume that got past its start must say in the log that it continued from the last
//! checkpoint (`{"resumed_at": N}`, N > 0): a run that silently restarted would end the same.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

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
    // Paused and killed inside the checkpoint write of step 2, then inside the evaluation of
    // step 3 (after the resume from step 1's checkpoint).
    for (pause, leftover) in [("checkpoint:2", "step-000000002.tmp"), ("evaluation:3", "")] {
        let resumed_from = common::last_checkpoint(&killed);
        let mut child = pelt(&config, &killed, extra)
            .env("PELT_TEST_PAUSE", pause)
            .spawn()
            .unwrap();
        let (at, _) = pause.split_once(':').unwrap();
        let marker = killed.join(format!("paused-{at}"));
        let started = Instant::now();
        while !marker.exists() {
            assert!(
                child.try_wait().unwrap().is_none() && started.elapsed().as_secs() < 120,
                "the run never paused at {pause} (the pause exists in debug builds only)"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        std::fs::remove_file(&marker).unwrap();
        if !leftover.is_empty() {
            let partial = killed.join("checkpoints").join(leftover);
            assert!(
                partial.is_dir(),
                "the kill at {pause} left no partial checkpoint"
            );
        }
        if let Some((step, kept)) = resumed_from {
            assert_eq!(common::resumed_at(&killed, kept), Some(step), "at {pause}");
        }
        eprintln!(
            "{name}: killed inside the {at} of step {}",
            &pause[at.len() + 1..]
        );
    }
    let mut kills = 2;
    let mut proven = 1; // the kill inside the evaluation came after a resume from step 1
    for (target, jitter) in [(9, 0), (12, 9), (14, 23), (17, 4), (20, 15), (23, 31)] {
        let resumed_from = common::last_checkpoint(&killed);
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
        // A run killed during its start-up has not written its resume line yet; any other
        // must have resumed from the checkpoint that was last when it started.
        let (step, kept) = resumed_from.unwrap();
        match common::resumed_at(&killed, kept) {
            Some(at) => {
                assert_eq!(at, step, "a resume continued from step {at}, not {step}");
                proven += 1;
            }
            None => eprintln!("{name}: a kill landed before the resume from step {step} began"),
        }
    }
    assert!(kills >= 5, "only {kills} runs were still going when killed");
    assert!(
        proven >= 4,
        "only {proven} resumes were seen continuing their checkpoint"
    );
    let (last, kept) = common::last_checkpoint(&killed).unwrap();
    assert!(pelt(&config, &killed, extra).status().unwrap().success());
    assert!(last > 0);
    assert_eq!(
        common::resumed_at(&killed, kept),
        Some(last),
        "the final resume"
    );
    eprintln!("{name}: {kills} kills, {proven} resumes seen continuing their checkpoint");

    common::assert_same_end(&reference, &killed, &format!("{kills} kills"));
    std::fs::remove_dir_all(&dir).unwrap();
}
