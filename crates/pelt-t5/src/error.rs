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
    /// `config.json` ties the output layer to the shared embedding, but the checkpoint holds an
    /// `lm_head.weight` with other values.
    #[error(
        "{path}: tensor `lm_head.weight` differs from the shared embedding, but config.json sets \
         tie_word_embeddings: true (Hugging Face would silently replace it with the shared \
         embedding); set tie_word_embeddings: false to use the file's output layer"
    )]
    TiedHeadDiffers {
        /// Checkpoint file.
        path: PathBuf,
    },
    /// Parts of a [`T5Input`](crate::T5Input) disagree in shape.
    #[error("invalid T5 input: {0}")]
    Input(String),
    /// The tokenizer file could not be loaded or used.
    #[error("{path}: tokenizer: {reason}")]
    Tokenizer {
        /// Tokenizer file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
}
