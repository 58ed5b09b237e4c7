//! Checkpoints: the trainable tensors, the optimiser state and the run state, written to a
//! temporary directory, flushed and renamed into place, so that a crash leaves the previous
//! checkpoint intact and never a half-written one.

use std::fs;
use std::path::{Path, PathBuf};

use burn::optim::ModuleOptimizer;
use pelt_hyper::PeltModel;
use serde::{Deserialize, Serialize};

use crate::error::{TrainError, io};
use crate::run::run_dir::RunDir;

/// Where a run is: enough to continue it exactly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunState {
    /// Optimiser steps done.
    pub step: u64,
    /// Best average validation score so far, and its step.
    pub best: Option<(f64, u64)>,
    /// Lines of `log.jsonl` written up to this checkpoint.
    pub log_lines: usize,
    /// Training examples seen and seconds spent training (for throughput).
    pub examples: u64,
    /// Seconds spent in training steps.
    pub train_seconds: f64,
    /// Of `train_seconds`, those spent preparing batches (sampling, tokenising, padding,
    /// copying to the device); absent in checkpoints of earlier versions.
    #[serde(default)]
    pub data_seconds: f64,
}

const TRAINABLE: &str = "trainable.safetensors";
const OPTIMISER: &str = "optimiser.bpk";
const STATE: &str = "state.json";

/// Writes a checkpoint of `step` and removes all but the last `keep` others.
pub fn save(
    run: &RunDir,
    model: &PeltModel,
    optimiser: &ModuleOptimizer,
    state: &RunState,
    keep: usize,
) -> Result<PathBuf, TrainError> {
    let dir = run.checkpoint(state.step);
    let temporary = dir.with_extension("tmp");
    if temporary.exists() {
        fs::remove_dir_all(&temporary).map_err(io(&temporary))?;
    }
    fs::create_dir_all(&temporary).map_err(io(&temporary))?;
    model.save_trainable(temporary.join(TRAINABLE))?;
    crate::run::pause::point(run.root(), "checkpoint", state.step);
    let bytes = optimiser.into_bytes().map_err(|e| TrainError::Checkpoint {
        path: temporary.clone(),
        reason: format!("cannot serialise the optimiser state: {e:?}"),
    })?;
    pelt_weights::write_atomically(&temporary.join(OPTIMISER), &bytes)?;
    let json = serde_json::to_vec_pretty(state).map_err(|e| TrainError::Checkpoint {
        path: temporary.clone(),
        reason: e.to_string(),
    })?;
    pelt_weights::write_atomically(&temporary.join(STATE), &json)?;
    if dir.exists() {
        fs::remove_dir_all(&dir).map_err(io(&dir))?;
    }
    fs::rename(&temporary, &dir).map_err(io(&dir))?;
    for old in list(run.root())?.into_iter().rev().skip(keep.max(1)) {
        fs::remove_dir_all(&old).map_err(io(&old))?;
    }
    Ok(dir)
}

/// Complete checkpoints of the run in directory `run`, oldest first (temporary directories are
/// ignored).
pub fn list(run: impl AsRef<Path>) -> Result<Vec<PathBuf>, TrainError> {
    let root = RunDir::new(run.as_ref()).checkpoints();
    if !root.exists() {
        return Ok(Vec::new());
    }
    let mut dirs: Vec<PathBuf> = fs::read_dir(&root)
        .map_err(io(&root))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_none() && p.join(STATE).is_file())
        .collect();
    dirs.sort();
    Ok(dirs)
}

/// The run state of the last checkpoint of the run in directory `run`, if it has one.
pub fn last_state(run: impl AsRef<Path>) -> Result<Option<RunState>, TrainError> {
    list(run)?.pop().map(|dir| read_state(&dir)).transpose()
}

/// The run state of checkpoint `dir`.
fn read_state(dir: &Path) -> Result<RunState, TrainError> {
    let path = dir.join(STATE);
    let text = fs::read_to_string(&path).map_err(io(&path))?;
    serde_json::from_str(&text).map_err(|e| TrainError::Checkpoint {
        path: path.clone(),
        reason: e.to_string(),
    })
}

/// Loads a checkpoint into `model` and `optimiser`.
pub fn load(
    dir: &Path,
    model: PeltModel,
    optimiser: ModuleOptimizer,
) -> Result<(PeltModel, ModuleOptimizer, RunState), TrainError> {
    let bad = |reason: String| TrainError::Checkpoint {
        path: dir.to_path_buf(),
        reason,
    };
    let state = read_state(dir)?;
    let model = model.load_trainable(dir.join(TRAINABLE))?;
    let bytes = fs::read(dir.join(OPTIMISER)).map_err(io(&dir.join(OPTIMISER)))?;
    let optimiser = optimiser
        .from_bytes(burn::tensor::Bytes::from_bytes_vec(bytes))
        .map_err(|e| bad(format!("{OPTIMISER}: {e:?}")))?;
    Ok((model, optimiser, state))
}
