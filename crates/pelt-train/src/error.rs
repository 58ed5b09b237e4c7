//! The error type of `pelt-train`.

use std::path::PathBuf;

/// Everything that can stop a run; every variant names the file, option, step or tensor.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// A configuration file or option is invalid, or names something this build or run cannot
    /// use; nothing else.
    #[error("{0}")]
    Config(String),
    /// An I/O error on a named file.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// Underlying error.
        source: std::io::Error,
    },
    /// A value the run writes as JSON (its configuration, report, batches) could not be
    /// serialised.
    #[error("cannot serialise the {what}: {source}")]
    Serialise {
        /// What was being written.
        what: &'static str,
        /// The serialiser's error.
        source: serde_json::Error,
    },
    /// A line of a run's `log.jsonl` is not JSON.
    #[error("{} line {line}: {source}", file.display())]
    Log {
        /// The log file.
        file: PathBuf,
        /// The line, from 1.
        line: usize,
        /// The parser's error.
        source: serde_json::Error,
    },
    /// A plot could not be drawn or encoded.
    #[error("{what}: {reason}")]
    Plot {
        /// The plot's file, or the bundled font.
        what: String,
        /// What went wrong.
        reason: String,
    },
    /// Values could not be read back from a device.
    #[error("cannot read the {what} from the device: {reason}")]
    Readback {
        /// What was read.
        what: &'static str,
        /// Burn's error.
        reason: String,
    },
    /// CLIP features the run computed or cached are missing: the encoder or the Parquet reader
    /// returned none for an image, or a batch of image paths came without the feature cache.
    #[error("{0}")]
    Features(String),
    /// The task sampler, which is endless, returned no batch.
    #[error("the sampler ran dry")]
    SamplerEnded,
    /// From the data crate (files, lines, tasks).
    #[error(transparent)]
    Data(#[from] pelt_data::DataError),
    /// From the tuning crate (model, saved states, exports).
    #[error(transparent)]
    Hyper(#[from] pelt_hyper::HyperError),
    /// From the T5 crate (config, checkpoint, tokenizer).
    #[error(transparent)]
    T5(#[from] pelt_t5::T5Error),
    /// From the CLIP crate.
    #[error(transparent)]
    Clip(#[from] pelt_clip::ClipError),
    /// From checkpoint reading and writing.
    #[error(transparent)]
    Weights(#[from] pelt_weights::WeightsError),
    /// The loss or a gradient is not finite.
    #[error(
        "non-finite {what} at step {step}; the run stopped. The last good checkpoint is {}",
        last_good.as_ref().map_or("(none yet)".to_string(), |p| p.display().to_string())
    )]
    NonFinite {
        /// `loss` or `gradient norm`.
        what: &'static str,
        /// The optimiser step.
        step: u64,
        /// The last checkpoint written, intact.
        last_good: Option<PathBuf>,
    },
    /// A data-parallel worker failed (out of memory, a device that is missing or was lost);
    /// the run stopped and its last checkpoint is intact.
    #[error("worker {worker} on `{device}` failed: {message}")]
    Worker {
        /// Its index in `train.devices`.
        worker: usize,
        /// Its device, as `train.devices` names it.
        device: String,
        /// What it reported.
        message: String,
    },
    /// Data-parallel workers did not finish a pass within `train.collective_timeout_secs` (a
    /// peer lost inside an all-reduce, a device that stopped answering); the run stopped, its
    /// last checkpoint is intact, and the stuck worker threads are left behind.
    #[error(
        "{} did not finish {pass} within {seconds} s (train.collective_timeout_secs); the run stopped",
        workers.iter().map(|(k, device)| format!("worker {k} on `{device}`")).collect::<Vec<_>>().join(", ")
    )]
    Stalled {
        /// The workers still out, by index in `train.devices` and device.
        workers: Vec<(usize, String)>,
        /// `its forward pass` or `its backward pass and all-reduce`.
        pass: &'static str,
        /// The timeout.
        seconds: u64,
    },
    /// The run was interrupted (Ctrl-C, SIGTERM) and saved a checkpoint.
    #[error(
        "interrupted at step {step}; checkpoint {} written; continue with --resume",
        checkpoint.display()
    )]
    Interrupted {
        /// The last completed optimiser step.
        step: u64,
        /// The checkpoint holding it.
        checkpoint: PathBuf,
    },
    /// A checkpoint that cannot be resumed from.
    #[error("{path}: {reason}")]
    Checkpoint {
        /// The checkpoint directory.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A model or data set could not be had from the Hugging Face cache or hub
    /// (docs/train.md, "Hub downloads").
    #[error(
        "`{id}`{}: {reason}",
        file.as_ref().map_or(String::new(), |f| format!(", file `{f}`"))
    )]
    Hub {
        /// The repository id (`google/flan-t5-base`, `nyu-mll/glue`).
        id: String,
        /// The file within the repository, where one is to blame.
        file: Option<String>,
        /// What went wrong, and what to do about it.
        reason: String,
    },
}

/// Shorthand for a serialisation error while writing `what`.
pub(crate) fn serialise(what: &'static str) -> impl FnOnce(serde_json::Error) -> TrainError {
    move |source| TrainError::Serialise { what, source }
}

/// Shorthand for an I/O error on `path`.
pub(crate) fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> TrainError + '_ {
    move |source| TrainError::Io {
        path: path.to_path_buf(),
        source,
    }
}
