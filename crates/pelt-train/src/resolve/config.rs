//! `RunConfig`: everything a run needs, read from a JSON or TOML file and overridable on the
//! command line. Relative paths are relative to the directory the command runs in.

use std::path::{Path, PathBuf};

use pelt_data::ClassTargets;
use pelt_hyper::PeltConfig;
use serde::{Deserialize, Serialize};

use crate::error::{TrainError, io, serialise};
use crate::resolve::data_source::{DataRoot, DataSource};
use crate::resolve::train_config::TrainConfig;

/// Where a backbone comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backbone {
    /// A Hugging Face model directory (`config.json` and weights) or a hub id (`t5-base`,
    /// `google/flan-t5-base`), resolved through the local cache and downloaded if missing.
    Path(PathBuf),
    /// Random weights of this Hugging Face `config.json` content (for smoke runs and the
    /// bundled default, where no pretrained weights can be had).
    Random(serde_json::Value),
}

/// One task of the mixture and where its files are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskSource {
    /// Registry name (`rte`, `easy-vqa`, ...).
    pub name: String,
    /// Its data: a directory, relative to [`RunConfig::data`], or a hub data set id
    /// (`hf:nyu-mll/glue/rte`); [`RunConfig::task_data`] joins the two.
    pub dir: DataSource,
    /// A classification task's target text: `"index"` (the spec's `"0"`, `"1"`, the default)
    /// or `"names"` (the class names, `"certain"`, `"uncertain"`; docs/data.md, "Target
    /// words"). `--set tasks.0.targets=names` sets it for the first task.
    #[serde(default)]
    pub targets: ClassTargets,
}

impl TaskSource {
    /// Task `name` read from `dir`, with the spec's digit targets.
    pub fn new(name: impl Into<String>, dir: DataSource) -> Self {
        Self {
            name: name.into(),
            dir,
            targets: ClassTargets::Index,
        }
    }
}

/// T5 span-corruption pretraining of the whole backbone (docs/pretrain.md): the run's data
/// instead of a task mixture.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PretrainConfig {
    /// Training documents, JSON Lines with a `text` field (`datasets/pretrain/train.jsonl`).
    pub corpus: PathBuf,
    /// Held-out documents whose span-corruption loss is the validation score.
    pub heldout: PathBuf,
    /// Encoder input length after corruption; chunks are cut longer so that exactly this many
    /// tokens remain (as `compute_input_and_target_lengths`).
    #[serde(default = "PretrainConfig::default_input_length")]
    pub input_length: usize,
    /// Share of masked tokens.
    #[serde(default = "PretrainConfig::default_noise_density")]
    pub noise_density: f64,
    /// Mean length of a masked span.
    #[serde(default = "PretrainConfig::default_mean_noise_span_length")]
    pub mean_noise_span_length: f64,
    /// Held-out chunks (evenly spread over the held-out corpus) scored at each evaluation.
    #[serde(default = "PretrainConfig::default_heldout_chunks")]
    pub heldout_chunks: usize,
    /// Every this many training micro-batches (0: never), the target is the whole original
    /// chunk instead of the noise spans (docs/pretrain.md, "Reconstruction batches").
    #[serde(default)]
    pub reconstruct_every: u64,
}

impl PretrainConfig {
    fn default_input_length() -> usize {
        128
    }
    fn default_noise_density() -> f64 {
        0.15
    }
    fn default_mean_noise_span_length() -> f64 {
        3.0
    }
    fn default_heldout_chunks() -> usize {
        256
    }
}

/// A configuration error with message `m`.
pub(crate) fn config_error(m: &str) -> TrainError {
    TrainError::Config(m.to_string())
}

/// The error of a random T5 without `tokenizer` ([`RunConfig::validate`]).
pub(crate) const RANDOM_T5_NEEDS_TOKENIZER: &str =
    "a random T5 needs `tokenizer` (a tokenizer.json or its directory)";

/// The name of the one "task" of a pretraining run (its row in the model's task list).
pub const PRETRAIN_TASK: &str = "span-corruption";

/// A whole run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// The T5 backbone.
    pub t5: Backbone,
    /// The CLIP vision tower, for vision-and-language tasks.
    #[serde(default)]
    pub clip: Option<Backbone>,
    /// The tokenizer: a `tokenizer.json` or a directory holding one; by default the T5
    /// model directory's.
    #[serde(default)]
    pub tokenizer: Option<PathBuf>,
    /// Root of the task directories (`datasets`), or `hf:ORG/NAME` whose configurations the
    /// tasks' `dir` names (`hf:nyu-mll/glue` with `dir` `rte`); see [`DataRoot`].
    pub data: DataRoot,
    /// The task mixture.
    pub tasks: Vec<TaskSource>,
    /// The tuning method and its dimensions. Its `tasks` are the mixture's
    /// ([`model_config`](Self::model_config)); the file leaves them out.
    #[serde(default)]
    pub pelt: PeltConfig,
    /// Optimisation and evaluation.
    #[serde(default)]
    pub train: TrainConfig,
    /// Few-shot transfer: a trained run whose best model's trainable parts (all but its task
    /// embedding) initialise this one.
    #[serde(default)]
    pub init_from: Option<PathBuf>,
    /// Pretraining instead of tuning on `tasks` (which must then be empty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pretrain: Option<PretrainConfig>,
}

impl RunConfig {
    /// Reads a run configuration: TOML when the file name ends in `.toml`, JSON otherwise.
    /// Errors name the file, and the line and column of a syntax or type error.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, TrainError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(io(path))?;
        let named = |e: &dyn std::fmt::Display| {
            TrainError::Config(format!("{}: {}", path.display(), e.to_string().trim_end()))
        };
        let mut config: Self = if path.extension().is_some_and(|e| e == "toml") {
            toml::from_str(&text).map_err(|e| named(&e))?
        } else {
            serde_json::from_str(&text).map_err(|e| named(&e))?
        };
        config.validate().map_err(|e| named(&e))?;
        config.pelt.tasks.clear();
        Ok(config)
    }

    /// The model's task names, in task-embedding order: the mixture's, or the one
    /// [`PRETRAIN_TASK`] of a pretraining run. The one place a run's task list comes from.
    pub fn task_names(&self) -> Vec<String> {
        match self.pretrain {
            Some(_) => vec![PRETRAIN_TASK.to_string()],
            None => self.tasks.iter().map(|t| t.name.clone()).collect(),
        }
    }

    /// Where `task` finds its files: its `dir` under [`data`](Self::data), or its own hub id
    /// ([`DataRoot::join`]). Errors name the task.
    pub fn task_data(&self, task: &TaskSource) -> Result<DataSource, TrainError> {
        self.data
            .join(&task.dir)
            .map_err(|e| TrainError::Config(format!("task `{}`: {e}", task.name)))
    }

    /// The model's configuration: `pelt` with the run's [`task_names`](Self::task_names).
    pub fn model_config(&self) -> PeltConfig {
        PeltConfig {
            tasks: self.task_names(),
            ..self.pelt.clone()
        }
    }

    /// Checks values that would otherwise fail deep inside the run: each section's own rules
    /// ([`TrainConfig::validate`], `PeltConfig::validate`) and every rule that joins fields of
    /// several sections. The one place a configuration's rules live; errors name the fields.
    pub fn validate(&self) -> Result<(), TrainError> {
        match &self.pretrain {
            None if self.tasks.is_empty() => return Err(config_error("`tasks` is empty")),
            None => {}
            Some(p) => self.validate_pretraining(p)?,
        }
        self.train.validate()?;
        // `config.json` of runs before 2026-11-30 repeats the task list under `pelt`; anything
        // else there would silently lose to the mixture.
        if !self.pelt.tasks.is_empty() && self.pelt.tasks != self.task_names() {
            return Err(config_error(
                "`pelt.tasks` is taken from the mixture (`tasks`); remove it from the configuration",
            ));
        }
        self.model_config().validate()?;
        for task in &self.tasks {
            self.task_data(task)?;
        }
        if matches!(self.t5, Backbone::Random(_)) && self.tokenizer.is_none() {
            return Err(config_error(RANDOM_T5_NEEDS_TOKENIZER));
        }
        Ok(())
    }

    /// The rules of a pretraining run (`pretrain`).
    fn validate_pretraining(&self, p: &PretrainConfig) -> Result<(), TrainError> {
        if !self.tasks.is_empty() {
            return Err(config_error(
                "a pretraining run (`pretrain`) takes no `tasks`",
            ));
        }
        if self.pelt.method != pelt_hyper::Method::Full {
            return Err(config_error(
                "a pretraining run (`pretrain`) trains every parameter: set `pelt.method` to `full`",
            ));
        }
        if p.input_length < 4 || p.heldout_chunks == 0 {
            return Err(config_error(
                "`pretrain.input_length` must be at least 4 and `pretrain.heldout_chunks` at least 1",
            ));
        }
        if !(p.noise_density > 0.0 && p.noise_density < 1.0 && p.mean_noise_span_length >= 1.0) {
            return Err(config_error(
                "`pretrain.noise_density` must be in (0, 1) and `pretrain.mean_noise_span_length` at least 1",
            ));
        }
        Ok(())
    }

    /// Applies a `key=value` override of any field (`train.steps=50`); a number picks an element
    /// of a list (`tasks.0.targets=names`).
    pub fn set(&mut self, assignment: &str) -> Result<(), TrainError> {
        let (key, value) = assignment.split_once('=').ok_or_else(|| {
            TrainError::Config(format!("override `{assignment}` is not KEY=VALUE"))
        })?;
        let mut json = serde_json::to_value(&*self).map_err(serialise("config"))?;
        let mut slot = &mut json;
        for part in key.split('.') {
            let element = match part.parse::<usize>() {
                Ok(index) if slot.is_array() => slot.get_mut(index),
                _ => slot.get_mut(part),
            };
            slot = element.ok_or_else(|| {
                TrainError::Config(format!("override `{key}`: no field `{part}`"))
            })?;
        }
        *slot = serde_json::from_str(value)
            .unwrap_or_else(|_| serde_json::Value::String(value.to_string()));
        let changed: Self = serde_json::from_value(json)
            .map_err(|e| TrainError::Config(format!("override `{assignment}`: {e}")))?;
        // Checked before it replaces the configuration: a refused override changes nothing.
        changed.validate()?;
        *self = changed;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parallel::transport::Transport;
    use crate::resolve::backend::DeviceSpec;

    #[test]
    fn every_shipped_configuration_parses_and_validates() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs");
        let mut names = Vec::new();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let config =
                RunConfig::from_file(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            match config.pretrain {
                Some(_) => assert_eq!(config.model_config().tasks, [PRETRAIN_TASK]),
                None => assert_eq!(config.model_config().tasks.len(), config.tasks.len()),
            }
            names.push(path.file_name().unwrap().to_string_lossy().to_string());
        }
        names.sort();
        assert_eq!(
            names,
            [
                "default.json",
                "glue-t5-base.json",
                "pretrain-t5-mini-en.json",
                "pretrain-t5-mini.json",
                "vl-t5-base-clip.json"
            ]
        );
    }

    #[test]
    fn overrides_and_bad_values_name_the_field() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs");
        let mut config = RunConfig::from_file(dir.join("glue-t5-base.json")).unwrap();
        config.set("train.steps=7").unwrap();
        assert_eq!(config.train.steps, 7);
        config.set("pelt.tune=task-embedding").unwrap();
        assert_eq!(config.pelt.tune, pelt_hyper::Tune::TaskEmbedding);
        let err = config.set("train.nope=1").unwrap_err().to_string();
        assert!(err.contains("no field `nope`"), "{err}");
        let rate = config.train.learning_rate;
        let err = config
            .set("train.learning_rate=-1")
            .unwrap_err()
            .to_string();
        assert!(err.contains("learning_rate"), "{err}");
        assert_eq!(
            config.train.learning_rate, rate,
            "a refused override changed it"
        );
        // A number picks a list element; the class-target form is per task.
        config.set("tasks.1.targets=names").unwrap();
        assert_eq!(config.tasks[1].targets, ClassTargets::Names);
        assert_eq!(config.tasks[0].targets, ClassTargets::Index);
        let err = config
            .set("tasks.99.targets=names")
            .unwrap_err()
            .to_string();
        assert!(err.contains("no field `99`"), "{err}");
        let err = config.set("tasks.0.targets=words").unwrap_err().to_string();
        assert!(err.contains("tasks.0.targets=words"), "{err}");
        // Burn's NCCL engine needs CUDA workers, named; `gather` is the default.
        let mut config = RunConfig::from_file(dir.join("glue-t5-base.json")).unwrap();
        assert_eq!(config.train.transport, Transport::Gather);
        config.set("train.devices=cpu,cpu").unwrap();
        let err = config.set("train.transport=nccl").unwrap_err().to_string();
        assert!(
            err.contains("train.transport") && err.contains("`cpu`"),
            "{err}"
        );
    }

    #[test]
    fn devices_are_read_as_a_typed_list_and_written_back_as_a_string() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs");
        let mut config = RunConfig::from_file(dir.join("glue-t5-base.json")).unwrap();
        assert!(config.train.devices.is_empty());
        assert_eq!(config.train.main_device(DeviceSpec::AUTO), DeviceSpec::AUTO);
        config.set("train.devices=flex, cpu").unwrap();
        let cpu: DeviceSpec = "cpu".parse().unwrap();
        assert_eq!(config.train.devices, [cpu, cpu]);
        assert_eq!(config.train.main_device(DeviceSpec::AUTO), cpu);
        let json = serde_json::to_value(&config).unwrap();
        assert_eq!(json["train"]["devices"], "cpu,cpu");
        let err = config
            .set("train.devices=cpu,cpu:1")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`cpu:1`") && err.contains("takes no number"),
            "{err}"
        );
        let err = config
            .set("train.collective_timeout_secs=0")
            .unwrap_err()
            .to_string();
        assert!(err.contains("collective_timeout_secs"), "{err}");
        // One device named twice is refused when the configuration is read, naming it, even
        // in a build without CUDA (the transport rule comes before the build's backends).
        config.train.devices = crate::resolve::backend::device_list("cuda,cuda:0").unwrap();
        config.train.transport = Transport::Nccl;
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("`cuda:0` twice"), "{err}");
    }

    #[test]
    fn the_task_list_comes_from_the_mixture_alone() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs");
        let mut config = RunConfig::from_file(dir.join("glue-t5-base.json")).unwrap();
        let names: Vec<String> = config.tasks.iter().map(|t| t.name.clone()).collect();
        assert_eq!(config.model_config().tasks, names);
        // Written without the list; an old file that repeats it unchanged still reads.
        let json = serde_json::to_value(&config).unwrap();
        assert!(json["pelt"].get("tasks").is_none(), "{json}");
        config.pelt.tasks = names;
        config.validate().unwrap();
        // A list that disagrees with the mixture is refused, naming the field.
        config.pelt.tasks = vec!["rte".into()];
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("`pelt.tasks`"), "{err}");
    }

    #[test]
    fn toml_configurations_read_like_json_and_errors_give_the_line() {
        let configs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs");
        let json = RunConfig::from_file(configs.join("glue-t5-base.json")).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.toml");
        std::fs::write(&path, toml::to_string(&json).unwrap()).unwrap();
        assert_eq!(RunConfig::from_file(&path).unwrap(), json);

        std::fs::write(&path, "t5 = { path = \"t5-small\" }\ndata = \"d\"\ntasks = [\n  { name = \"rte\", dir = }\n]\n").unwrap();
        let err = RunConfig::from_file(&path).unwrap_err().to_string();
        assert!(err.starts_with(&path.display().to_string()), "{err}");
        assert!(err.contains("line 4"), "{err}");

        std::fs::write(
            &path,
            "t5 = { path = \"t5-small\" }\ndata = \"d\"\ntasks = []\n[train]\nsteps = -3\n",
        )
        .unwrap();
        let err = RunConfig::from_file(&path).unwrap_err().to_string();
        assert!(err.contains("line 5") && err.contains("steps"), "{err}");

        std::fs::write(
            &path,
            "t5 = { path = \"t5-small\" }\ndata = \"d\"\ntasks = []\n",
        )
        .unwrap();
        let err = RunConfig::from_file(&path).unwrap_err().to_string();
        assert!(err.contains("`tasks` is empty"), "{err}");
    }

    #[test]
    fn rules_joining_fields_are_checked_when_read() {
        let configs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs");
        // A random T5 takes its tokenizer from `tokenizer` alone.
        let mut config = RunConfig::from_file(configs.join("pretrain-t5-mini.json")).unwrap();
        config.tokenizer = None;
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("a random T5 needs `tokenizer`"), "{err}");
        // NCCL gives every device rows of each micro-batch; the rule comes before the build's
        // backends, so it holds in a build without CUDA.
        let mut config = RunConfig::from_file(configs.join("glue-t5-base.json")).unwrap();
        config.train.devices =
            crate::resolve::backend::device_list("cuda:0,cuda:1,cuda:2").unwrap();
        config.train.transport = Transport::Nccl;
        config.train.batch_size = 2;
        let err = config.validate().unwrap_err().to_string();
        assert!(
            err.contains("micro-batch of 2 rows (`train.batch_size`) for 3 devices"),
            "{err}"
        );
        // A pretraining run has no mixture, and a task run has one.
        let mut config = RunConfig::from_file(configs.join("glue-t5-base.json")).unwrap();
        config.tasks.clear();
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("`tasks` is empty"), "{err}");
    }

    #[test]
    fn task_data_is_a_directory_under_data_or_a_hub_id_checked_when_read() {
        let configs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs");
        let mut config = RunConfig::from_file(configs.join("glue-t5-base.json")).unwrap();
        let rte = config.tasks.iter().find(|t| t.name == "rte").unwrap();
        let hub: DataSource = "hf:nyu-mll/glue/rte".parse().unwrap();
        assert_eq!(config.task_data(rte).unwrap(), hub);
        let json = serde_json::to_value(&config).unwrap();
        assert_eq!(json["data"], "hf:nyu-mll/glue");
        config.set("data=datasets").unwrap();
        let rte = config.tasks.iter().find(|t| t.name == "rte").unwrap();
        let dir = DataSource::Dir(Path::new("datasets").join("rte"));
        assert_eq!(config.task_data(rte).unwrap(), dir);
        // An id of the wrong shape is refused on reading, naming it (and the task it makes).
        let err = config
            .set("data=hf:nyu-mll/glue/rte")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("task `") && err.contains("a data set id is"),
            "{err}"
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.json");
        let text = r#"{"t5": {"path": "t5-small"}, "data": "d",
            "tasks": [{"name": "rte", "dir": "hf:glue"}]}"#;
        std::fs::write(&path, text).unwrap();
        let err = RunConfig::from_file(&path).unwrap_err().to_string();
        assert!(
            err.contains("`hf:glue`: a data set id is") && err.contains("line 2"),
            "{err}"
        );
    }

    #[test]
    fn pretraining_configurations_are_checked() {
        let configs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs");
        let mut config = RunConfig::from_file(configs.join("pretrain-t5-mini.json")).unwrap();
        assert!(
            config
                .set("pelt.method=hyperpelt")
                .unwrap_err()
                .to_string()
                .contains("full")
        );
        let mut config2 = RunConfig::from_file(configs.join("pretrain-t5-mini.json")).unwrap();
        let err = config2
            .set("pretrain.input_length=2")
            .unwrap_err()
            .to_string();
        assert!(err.contains("input_length"), "{err}");
        config
            .tasks
            .push(TaskSource::new("rte", DataSource::Dir("rte".into())));
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("takes no `tasks`"), "{err}");
    }
}
