//! Training and evaluation of HyperPELT and its baselines: the loop of the docs/method.md §6,
//! atomic checkpoints with exact resume, evaluation by generation with the task metrics, and
//! the run report; T5 span-corruption pretraining in the same loop. The `pelt` binary
//! (`cargo xtask train`, `cargo xtask pretrain`) is its command line.
//!
//! The sources are in folders by concept (docs/design.md, "pelt-train's files"): `resolve/`
//! (configuration, devices, data sources, hub, setup), `run/` (the loop, the run directory,
//! checkpoints, resume, pretraining), `optim/` (AdamW, schedule, gradients), `parallel/`
//! (data-parallel workers and transports) and `report/` (evaluation, selection, reports, plots,
//! prediction, probes); `error.rs`, `progress.rs` and `to_tensors.rs` serve them all.

mod error;
mod optim;
mod parallel;
pub mod progress;
mod report;
mod resolve;
mod run;
mod to_tensors;

pub use resolve::{backend, hub};
pub use run::checkpoint;

pub use error::TrainError;
pub use optim::adamw::FusedAdamW;
pub use optim::gradients::{clip_global_norm, stable_param_ids};
pub use optim::schedule::{Schedule, learning_rate};
pub use parallel::data_parallel::{DataParallel, MicroBatch};
pub use parallel::transport::Transport;
pub use report::evaluate::{Evaluator, majority_baseline};
pub use report::plot::write_plots;
pub use report::predict::predict;
pub use report::probe::{ProbeResult, probe, probe_markdown};
pub use report::run_report::{Report, SplitRow, TaskReport, split_markdown};
pub use report::selection::{MetricValue, Selection};
pub use resolve::backend::{DeviceKind, DeviceSpec};
pub use resolve::config::{Backbone, PRETRAIN_TASK, PretrainConfig, RunConfig, TaskSource};
pub use resolve::data_source::{DataRoot, DataSource};
pub use resolve::hub_id::DatasetId;
pub use resolve::precision::MatmulPrecision;
pub use resolve::setup::{Data, build_model, image_features, load_data, load_trained};
pub use resolve::train_config::TrainConfig;
pub use run::pretrain::{
    HeldoutLoss, HeldoutSet, MIN_INPUT_GAP, PretrainReport, pretrain, pretrain_start,
};
pub use run::resume::{FREE_ON_RESUME, trajectory_changes};
pub use run::run_dir::RunDir;
pub use run::stop::StopHandle;
pub use run::train_loop::{final_report, resumes, train};
pub use to_tensors::to_input;
