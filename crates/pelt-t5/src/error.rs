//! The error type of the T5 crate: configuration, weights and tokenizer files.

use std::path::PathBuf;

/// Everything that can go wrong at the I/O boundaries of the T5 crate.
#[derive(Debug, thiserror::Error)]
pub enum T5Error {
    /// A file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// File being read.
        path: PathBuf,
        /// Underlying error.
        source: std::io::Error,
    },
    /// `config.json` is not valid JSON or has a field of the wrong type.
    #[error("{path}: invalid T5 configuration: {reason}")]
    ConfigParse {
        /// Configuration file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A configuration value is unknown, out of range, or inconsistent with another.
    #[error("invalid T5 configuration: field `{field}`: {reason}")]
    ConfigValue {
        /// The offending field.
        field: &'static str,
        /// What is wrong with its value.
        reason: String,
    },
    /// The checkpoint could not be read or does not match the configuration.
    #[error(transparent)]
    Weights(#[from] pelt_weights::WeightsError),
    /// The tokenizer file could not be loaded or used.
    #[error("{path}: tokenizer: {reason}")]
    Tokenizer {
        /// Tokenizer file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
}
