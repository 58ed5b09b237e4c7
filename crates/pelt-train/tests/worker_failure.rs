//! A data-parallel worker that fails stops the run with an error naming it, instead of
//! hanging it: `pelt train --devices cpu,cpu` with the debug builds' fault injection
//! (`PELT_TEST_FAULT`, `src/parallel/fault.rs`). A failure or a panic of worker 1 after its
//! forward pass is caught where the workers meet, before any backward pass: worker 0, made to
//! hang as soon as it starts its backward pass (as an NCCL worker waiting in the all-reduce for
//! its failed peer would), must never start it, and the run must end with worker 1's error, not
//! the watchdog's.
//! A backward pass that never returns is caught by the watchdog
//! (`train.collective_timeout_secs`). Each run must end within [`LIMIT`], or the test kills it
//! and fails.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Far above a tiny run's few seconds, far below forever.
const LIMIT: Duration = Duration::from_secs(120);

/// Runs `pelt train --devices cpu,cpu` on the tiny configuration with `fault` injected and
/// `extra` arguments; returns its standard error and how long it ran. Fails the test when it
/// succeeds or runs past [`LIMIT`].
fn failing_run(dir: &Path, name: &str, fault: &str, extra: &[&str]) -> (String, Duration) {
    let config = common::tiny_config(dir, 3);
    let stderr = dir.join(format!("{name}.stderr"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_pelt"))
        .args(["train", "--devices", "cpu,cpu", "--config"])
        .arg(&config)
        .arg("--out")
        .arg(dir.join(name))
        .args(extra)
        .env("PELT_TEST_FAULT", fault)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > LIMIT {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("{fault}: the run hung (killed after {LIMIT:?})");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let text = std::fs::read_to_string(&stderr).unwrap();
    assert!(
        !status.success(),
        "{fault}: the run succeeded (the fault exists in debug builds only)\n{text}"
    );
    (text, started.elapsed())
}

#[test]
fn a_worker_failing_after_its_forward_pass_stops_the_run_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    for (fault, cause) in [
        ("fail:1,hang:0", "injected failure after the forward pass"),
        ("panic:1,hang:0", "injected panic after the forward pass"),
    ] {
        let name = fault.replace([':', ','], "-");
        let (stderr, _) = failing_run(
            dir.path(),
            &name,
            fault,
            &["--set", "train.collective_timeout_secs=10"],
        );
        assert!(
            stderr.contains(&format!("worker 1 on `cpu` failed: {cause}")),
            "{fault}: {stderr}"
        );
        assert!(
            !stderr.contains("left behind") && !stderr.contains("did not finish"),
            "{fault}: worker 0 started its backward pass after worker 1 failed: {stderr}"
        );
        // It stopped at its first step: no checkpoint was written.
        assert!(
            pelt_train::checkpoint::list(dir.path().join(&name))
                .unwrap()
                .is_empty()
        );
    }
}

#[test]
fn a_backward_pass_that_never_returns_is_stopped_by_the_watchdog() {
    let dir = tempfile::tempdir().unwrap();
    let (stderr, took) = failing_run(
        dir.path(),
        "hang",
        "hang:1",
        &["--set", "train.collective_timeout_secs=2"],
    );
    assert!(
        stderr.contains(
            "worker 1 on `cpu` did not finish its backward pass and all-reduce within 2 s"
        ),
        "{stderr}"
    );
    assert!(
        !stderr.contains("worker 0"),
        "worker 0 finished its pass and is not to blame: {stderr}"
    );
    assert!(
        took >= Duration::from_secs(2),
        "stopped before the timeout: {took:?}"
    );
}
