//! `RunDir`: the layout of a run directory (docs/train.md, "The run directory"), named in one
//! place. Every file a run reads or writes is reached through it.

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{TrainError, io, serialise};
use crate::resolve::config::RunConfig;

/// A run directory: `config.json`, `log.jsonl`, `checkpoints/step-NNNNNNNNN/`,
/// `best.safetensors`, `report.json`/`report.md`, `loss.png`/`validation.png`,
/// `features.safetensors` (CLIP features of image tasks), and for pretraining `model/` and
/// `pretrain.json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunDir {
    root: PathBuf,
}

impl RunDir {
    /// The run directory at `root` (nothing is created).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The run's configuration, as it ran.
    pub fn config(&self) -> PathBuf {
        self.root.join("config.json")
    }

    /// The JSON-lines log of training and validation.
    pub fn log(&self) -> PathBuf {
        self.root.join("log.jsonl")
    }

    /// The trainable tensors of the best model by validation score.
    pub fn best(&self) -> PathBuf {
        self.root.join("best.safetensors")
    }

    /// The directory of the checkpoints.
    pub fn checkpoints(&self) -> PathBuf {
        self.root.join("checkpoints")
    }

    /// The checkpoint of `step` (`checkpoints/step-000000123`).
    pub fn checkpoint(&self, step: u64) -> PathBuf {
        self.checkpoints().join(format!("step-{step:09}"))
    }

    /// The cache of the image tasks' CLIP features.
    pub fn features(&self) -> PathBuf {
        self.root.join("features.safetensors")
    }

    /// A file of the final report (`report.json`, `report.md`) or a plot (`loss.png`).
    pub fn output(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// The pretrained model, in Hugging Face layout.
    pub fn pretrained_model(&self) -> PathBuf {
        self.root.join("model")
    }

    /// What a pretraining run did.
    pub fn pretrain_report(&self) -> PathBuf {
        self.root.join("pretrain.json")
    }

    /// The default export of `task`'s modules.
    pub fn export(&self, task: &str) -> PathBuf {
        self.root.join(format!("export-{task}.safetensors"))
    }

    /// Writes `config` as the run's `config.json` (creating the directory): what `resume::prepare`
    /// does, and what `pelt train --resume --allow-changes` does first to resume with another
    /// configuration on purpose.
    pub fn write_config(&self, config: &RunConfig) -> Result<(), TrainError> {
        fs::create_dir_all(&self.root).map_err(io(&self.root))?;
        let json = serde_json::to_vec_pretty(config).map_err(serialise("configuration"))?;
        pelt_weights::write_atomically(&self.config(), &json)?;
        Ok(())
    }
}
