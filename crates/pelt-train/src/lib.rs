//! Training and evaluation of HyperPELT and its baselines: the loop of the docs/method.md §6,
//! atomic checkpoints with exact resume, evaluation by generation with the task metrics, and
//! the run report; T5 span-corruption pretraining in the same loop. The `pelt` binary
//! (`cargo xtask train`, `cargo xtask pretrain`) is its command line.

mod adamw;
pub mod backend;
pub mod checkpoint;
mod config;
mod data_source;
mod error;
mod evaluate;
mod fault;
mod gradients;
pub mod hub;
mod hub_id;
mod parallel;
mod param_maps;
mod pause;
mod plot;
mod predict;
mod pretrain;
mod probe;
pub mod progress;
mod report;
mod resume;
mod run;
mod run_dir;
mod schedule;
mod selection;
mod setup;
mod stop;
mod to_tensors;
mod transport;
mod worker;

pub use adamw::FusedAdamW;
pub use backend::{DeviceKind, DeviceSpec};
pub use config::{Backbone, PRETRAIN_TASK, PretrainConfig, RunConfig, TaskSource, TrainConfig};
pub use data_source::{DataRoot, DataSource};
pub use error::TrainError;
pub use evaluate::{Evaluator, majority_baseline};
pub use gradients::{clip_global_norm, stable_param_ids};
pub use hub_id::DatasetId;
pub use parallel::{DataParallel, MicroBatch};
pub use plot::write_plots;
pub use predict::predict;
pub use pretrain::{
    HeldoutLoss, HeldoutSet, MIN_INPUT_GAP, PretrainReport, pretrain, pretrain_start,
};
pub use probe::{ProbeResult, probe, probe_markdown};
pub use report::{Report, SplitRow, TaskReport, split_markdown};
pub use resume::{FREE_ON_RESUME, trajectory_changes};
pub use run::{final_report, resumes, train};
pub use run_dir::RunDir;
pub use schedule::{Schedule, learning_rate};
pub use selection::{MetricValue, Selection};
pub use setup::{Data, build_model, image_features, load_data, load_trained};
pub use stop::StopHandle;
pub use to_tensors::to_input;
pub use transport::Transport;
