//! What a resumed run may change (docs/train.md, "Resuming"): a resume continues the run its
//! `config.json` describes; only where it runs may differ, never what it computes.

use serde_json::Value;

use crate::error::{TrainError, serialise};
use crate::resolve::config::RunConfig;
use crate::run::run_dir::RunDir;

/// Starts (or, with `resume`, continues) the run in `run`: refuses a directory that already
/// holds a run unless resuming, and a resume whose configuration changes the run's
/// trajectory ([`trajectory_changes`]); creates the directory and writes `config.json`.
pub fn prepare(run: &RunDir, config: &RunConfig, resume: bool) -> Result<(), TrainError> {
    let started = !crate::run::checkpoint::list(run.root())?.is_empty();
    if !resume && started {
        return Err(TrainError::Config(format!(
            "{} already holds a run (checkpoints/); pass --resume to continue it, or --out \
             DIR for a new run",
            run.root().display()
        )));
    }
    if started && run.config().is_file() {
        let changes = trajectory_changes(&RunConfig::from_file(run.config())?, config)?;
        if !changes.is_empty() {
            return Err(TrainError::Config(format!(
                "--resume: the configuration differs from the run's {} in what the run \
                 computes:\n  {}\nresume without --config and --set to continue the run as \
                 it was, or add --allow-changes to continue it with these changes",
                run.config().display(),
                changes.join("\n  ")
            )));
        }
    }
    run.write_config(config)
}

/// Fields a resume may change: the devices, how their gradients meet (the same sums, as the
/// data-parallel tests show) and how long they may take, how many old checkpoints are kept, and how much of each split the
/// final report scores. Everything else (steps, schedule, rate, seed, batch, tasks, method,
/// model, data, selection, ...) is part of the trajectory.
pub const FREE_ON_RESUME: [&str; 5] = [
    "train.devices",
    "train.transport",
    "train.collective_timeout_secs",
    "train.keep_last",
    "train.final_examples",
];

/// The fields of `after` that differ from `before` and that the run's trajectory depends on,
/// as `field: before -> after` (dotted names, as `--set` takes them).
pub fn trajectory_changes(
    before: &RunConfig,
    after: &RunConfig,
) -> Result<Vec<String>, TrainError> {
    let json = |c: &RunConfig| {
        let mut c = c.clone();
        c.pelt.tasks.clear();
        serde_json::to_value(c).map_err(serialise("configuration"))
    };
    let mut changes = Vec::new();
    differences("", &json(before)?, &json(after)?, &mut changes);
    Ok(changes)
}

/// Appends the differing leaves of `a` and `b` under `path` to `out` (objects are compared
/// field by field, anything else whole).
fn differences(path: &str, a: &Value, b: &Value, out: &mut Vec<String>) {
    if FREE_ON_RESUME.contains(&path) || a == b {
        return;
    }
    if let (Value::Object(a), Value::Object(b)) = (a, b) {
        let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
        keys.sort();
        keys.dedup();
        for key in keys {
            let field = if path.is_empty() {
                key.clone()
            } else {
                format!("{path}.{key}")
            };
            let (a, b) = (
                a.get(key).unwrap_or(&Value::Null),
                b.get(key).unwrap_or(&Value::Null),
            );
            differences(&field, a, b, out);
        }
        return;
    }
    out.push(format!("{path}: {a} -> {b}"));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> RunConfig {
        RunConfig::from_file("../../configs/default.json").unwrap()
    }

    #[test]
    fn the_trajectory_fields_are_named_and_the_free_ones_ignored() {
        let before = config();
        let mut after = before.clone();
        assert!(trajectory_changes(&before, &after).unwrap().is_empty());
        for free in [
            "train.devices=cpu,cpu",
            "train.keep_last=5",
            "train.final_examples=10",
            "train.collective_timeout_secs=60",
        ] {
            after.set(free).unwrap();
        }
        assert!(trajectory_changes(&before, &after).unwrap().is_empty());
        after.set("train.steps=40").unwrap();
        after.set("train.learning_rate=0.002").unwrap();
        after.set("pelt.method=\"adapters\"").unwrap();
        after.tasks.pop();
        // Set last: `set` validates, and NCCL needs CUDA devices.
        after.train.transport = crate::Transport::Nccl;
        let changes = trajectory_changes(&before, &after).unwrap();
        assert_eq!(changes.len(), 4, "{changes:?}");
        assert!(changes[0].starts_with("pelt.method: \"hyperpelt\" -> \"adapters\""));
        assert!(changes[1].starts_with("tasks: [{"));
        assert_eq!(changes[2], "train.learning_rate: 0.0005 -> 0.002");
        assert_eq!(changes[3], "train.steps: 2400 -> 40");
    }
}
