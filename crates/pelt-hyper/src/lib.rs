//! HyperPELT on Burn: a shared hypernetwork generates prefix-tuning vectors and adapters for a
//! frozen T5 from task, layer, block and visual embeddings (`docs/method.md`),
//! and the baselines it is compared with run through the same model.
//!
//! ```no_run
//! use burn::prelude::*;
//! use pelt_hyper::{Method, PeltConfig, PeltInput, PeltModel};
//! use pelt_t5::T5Model;
//!
//! let device = Device::default().autodiff();
//! let t5 = T5Model::load("models/t5-small", &device)?;
//! let model = PeltModel::new(t5, PeltConfig::new(Method::Hyperpelt, &["rte", "mrpc"]))?;
//! println!("{}", model.param_counts());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! - [`PeltConfig`] chooses the method ([`Method`]) and every dimension, with the spec's
//!   defaults.
//! - [`PeltModel`] runs a batch ([`PeltInput`]): task modules (generated or plain), visual
//!   tokens and visual modules, all handed to T5 as plain tensors.
//! - [`Tuner`] is what the method adds (nothing, plain modules, or the hypernetwork); one
//!   rule, by type, decides what trains, is counted and is saved
//!   ([`PeltModel::trainable_paths`], [`PeltModel::save_trainable`],
//!   [`PeltModel::load_trainable`]). Saved names are [`ModulePath`]s.
//! - [`PeltModel::export_task`] and [`Materialised`] run a task without the hypernetwork.

mod config;
mod error;
mod generators;
mod hypernet;
mod materialise;
mod model;
mod module_path;
mod modules;
mod plain;
mod projector;
mod slots;
mod trainable;
mod tuner;
mod visual_embedding;
mod visual_tokens;

pub use config::{Method, PeltConfig, Tune, VisualConfig};
pub use error::HyperError;
pub use generators::{AdapterGenerator, PrefixGenerator};
pub use hypernet::HyperNetwork;
pub use materialise::{ExportHeader, Materialised};
pub use model::{PeltInput, PeltModel};
pub use module_path::ModulePath;
pub use modules::{AdapterSet, ModuleSet, assemble};
pub use plain::{PlainAdapters, PlainModules};
pub use projector::Projector;
pub use slots::{BlockType, Slot, SlotLayout};
pub use trainable::{ParamCounts, TASK_EMBEDDING};
pub use tuner::{Tuner, WholeBackbone};
pub use visual_embedding::VisualHyper;
pub use visual_tokens::VisualProjection;
