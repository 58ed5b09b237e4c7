//! The error type of checkpoint reading.

use std::path::PathBuf;

/// Everything that can go wrong while reading a checkpoint.
#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    /// The path exists but holds no checkpoint file this crate knows.
    #[error(
        "no checkpoint in {path}: expected model.safetensors, model.safetensors.index.json, \
         pytorch_model.bin or pytorch_model.bin.index.json"
    )]
    NoCheckpoint {
        /// Directory that was searched.
        path: PathBuf,
    },
    /// An I/O error on a named file.
    #[error("{path}: {source}")]
    Io {
        /// File being read.
        path: PathBuf,
        /// Underlying error.
        source: std::io::Error,
    },
    /// A file that is not a valid checkpoint of its declared format.
    #[error("{path}: {reason}")]
    Format {
        /// File being read.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The checkpoint does not match the model: one line per problem.
    #[error("checkpoint {path} does not match the model:\n{}", format_problems(.problems))]
    Mismatch {
        /// Checkpoint being loaded.
        path: PathBuf,
        /// Every problem found, in name order.
        problems: Vec<Problem>,
    },
}

/// One way in which a checkpoint disagrees with the model that loads it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    /// The model needs a tensor the checkpoint lacks.
    #[error("missing tensor `{name}` (model expects shape {expected:?})")]
    Missing {
        /// Hugging Face tensor name.
        name: String,
        /// Shape the model expects.
        expected: Vec<usize>,
    },
    /// The checkpoint has the tensor with another shape.
    #[error(
        "tensor `{name}` has shape {found:?} in the checkpoint, the model expects {expected:?}"
    )]
    Shape {
        /// Hugging Face tensor name.
        name: String,
        /// Shape the model expects.
        expected: Vec<usize>,
        /// Shape in the checkpoint.
        found: Vec<usize>,
    },
    /// The checkpoint has a tensor the model does not use.
    #[error("unexpected tensor `{name}` with shape {shape:?}: the model has no place for it")]
    Unused {
        /// Hugging Face tensor name.
        name: String,
        /// Its shape in the checkpoint.
        shape: Vec<usize>,
    },
    /// The tensor's element type cannot be converted to f32.
    #[error("tensor `{name}` has dtype {dtype}, expected f32, f16, bf16 or f64")]
    Dtype {
        /// Hugging Face tensor name.
        name: String,
        /// Its dtype in the checkpoint.
        dtype: String,
    },
    /// The tensor's bytes could not be read.
    #[error("tensor `{name}` could not be read: {reason}")]
    Read {
        /// Hugging Face tensor name.
        name: String,
        /// Why.
        reason: String,
    },
    /// The tensor holds NaN or infinite values.
    #[error("tensor `{name}` holds {count} non-finite values (NaN or infinity)")]
    NonFinite {
        /// Hugging Face tensor name.
        name: String,
        /// How many.
        count: usize,
    },
}

fn format_problems(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| format!("  - {p}"))
        .collect::<Vec<_>>()
        .join("\n")
}
