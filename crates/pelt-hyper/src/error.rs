//! The error type of `pelt-hyper`.

use std::path::PathBuf;

/// Everything that can go wrong building, running, saving or loading a tuned model.
#[derive(Debug, thiserror::Error)]
pub enum HyperError {
    /// A configuration value is invalid; names the field.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A configuration file could not be parsed; names the file.
    #[error("{path}: {reason}")]
    ConfigFile {
        /// The file being read.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A batch does not fit the model (task id out of range, images missing or of the wrong
    /// shape, ...).
    #[error("invalid input: {0}")]
    Input(String),
    /// An I/O error on a named file.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Underlying error.
        source: std::io::Error,
    },
    /// A saved state or export does not match the model (from `pelt-weights`).
    #[error(transparent)]
    Weights(#[from] pelt_weights::WeightsError),
    /// An export file whose header is missing or does not describe this model.
    #[error("{path}: {reason}")]
    Export {
        /// The export file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
}
