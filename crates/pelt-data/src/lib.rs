//! HyperPELT data: everything between files on disk and batches, plus the metrics.
//!
//! - [`registry`]: every task with its exact text-to-text format ([`TaskSpec`]); [`task`] looks
//!   one up by name.
//! - [`load_task`] reads a task in the format users have (GLUE TSV, Hugging Face JSON Lines
//!   and Parquet, VQA v2, GQA, NLVR2, Karpathy captions, easy-VQA) and makes the spec's splits.
//! - [`TemperatureSampler`] picks the task (or tasks) of every batch; [`Batcher`] tokenises and
//!   pads into a [`Batch`] of plain row-major arrays; [`Loader`] runs batching in worker threads.
//! - [`PretrainCorpus`] and [`SpanCorruption`]: T5's span-corruption pretraining data.
//! - [`metrics`]: accuracy, F1, Matthews, Pearson, Spearman, GLUE score, VQA accuracy, GQA exact
//!   match and CIDEr-D.
//!
//! The crate knows nothing of tensors or models: the training crate turns a [`Batch`] into
//! tensors.

// Tests state their expectations with `unwrap`; library code never does.
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod batch;
mod batcher;
mod class_targets;
mod error;
mod features;
mod few_shot;
mod image;
mod layout;
mod load_task;
pub mod metrics;
mod prefetch;
mod pretrain;
mod reader;
mod record;
pub mod registry;
pub mod rng;
mod sampler;
mod shards;
mod skipped;
mod span_corruption;
pub mod splits;
mod task;
mod tokens;

pub use batch::{Batch, TruncationStats, VisualInput};
pub use batcher::{Batcher, BatcherConfig, Row};
pub use class_targets::ClassTargets;
pub use error::{DataError, Result};
pub use features::FeatureCache;
pub use few_shot::few_shot;
pub use image::{Embedded, ImageRef};
pub use layout::{Column, GlueTsv, ImageColumn, ImageField, Layout, ParquetColumns, ParquetTarget};
pub use load_task::{LoadOptions, TaskData, detect_layout, load_task, read_split};
pub use prefetch::{Loader, LoaderConfig};
pub use pretrain::PretrainCorpus;
pub use reader::parquet_images::read_embedded_images;
pub use record::{Example, Origin, RawLabel, Record};
pub use registry::task;
pub use sampler::{BatchPlan, SamplerConfig, TemperatureSampler};
pub use skipped::ReadReport;
pub use span_corruption::{Corrupted, SpanCorruption};
pub use task::{LabelKind, Metric, SplitPolicy, TaskSpec, score_target};
