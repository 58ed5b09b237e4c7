//! The error type of pelt-clip: everything that can fail at its I/O boundaries.

use std::path::PathBuf;

/// Everything that can go wrong while configuring, loading, preprocessing or caching.
///
/// The model's `forward` cannot fail; errors come from files and their contents.
#[derive(Debug, thiserror::Error)]
pub enum ClipError {
    /// An I/O error on a named file.
    #[error("{path}: {source}")]
    Io {
        /// File being read or written.
        path: PathBuf,
        /// Underlying error.
        source: std::io::Error,
    },
    /// A `config.json` or `preprocessor_config.json` that cannot be used.
    #[error("{path}: invalid CLIP configuration: {reason}")]
    Config {
        /// File being read.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The checkpoint cannot be opened or does not match the configuration.
    #[error(transparent)]
    Weights(#[from] pelt_weights::WeightsError),
    /// An image file that is empty, truncated, corrupt or in an unsupported format.
    #[error("{path}: cannot decode image: {reason}")]
    Image {
        /// Image file.
        path: PathBuf,
        /// What the decoder reported.
        reason: String,
    },
    /// An image whose declared dimensions or decoded size exceed the configured limits.
    #[error("{path}: image refused: {reason} (limits: {max_side} px per side, {max_alloc} bytes)")]
    ImageTooLarge {
        /// Image file.
        path: PathBuf,
        /// What exceeded the limit.
        reason: String,
        /// Largest accepted width or height.
        max_side: u32,
        /// Largest accepted decoded size in bytes.
        max_alloc: u64,
    },
    /// A feature cache file that is not what [`crate::write_cache`] writes.
    #[error("{path}: invalid feature cache: {reason}")]
    Cache {
        /// Cache file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
}
