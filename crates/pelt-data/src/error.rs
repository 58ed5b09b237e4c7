//! The one error type of `pelt-data`: every failure names the file, line, example or task involved.

use std::path::PathBuf;

/// Everything that can go wrong between files on disk and batches, and in the metrics.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// A file or directory could not be opened or read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A row of a data file does not have the shape its format requires.
    #[error("{path}:{line}: malformed row: {reason}")]
    MalformedRow {
        /// The data file.
        path: PathBuf,
        /// 1-based line number (for whole-file JSON: the 1-based index of the entry).
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// A line of a TSV or JSON Lines file is longer than the readers accept.
    #[error("{path}:{line}: line longer than {limit} bytes; is this the right file?")]
    LineTooLong {
        /// The data file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The limit in bytes.
        limit: usize,
    },
    /// A whole-file JSON document is larger than the readers accept.
    #[error(
        "{path}: {size} bytes, more than the {limit} bytes a JSON document may have (it is parsed whole); is this the right file?"
    )]
    FileTooLarge {
        /// The data file.
        path: PathBuf,
        /// Its size in bytes.
        size: u64,
        /// The limit in bytes.
        limit: u64,
    },
    /// A line of a text file is not valid UTF-8.
    #[error("{path}:{line}: text is not valid UTF-8")]
    NotUtf8 {
        /// The data file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
    },
    /// A Parquet file that cannot be read (truncated, not Parquet, a bad row) or a split whose
    /// shards are incomplete.
    #[error("{path}: {reason}")]
    Parquet {
        /// The Parquet file (for a missing shard: the name it would have).
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A whole-file JSON document could not be parsed.
    #[error("{path}: invalid JSON: {source}")]
    Json {
        /// The JSON file.
        path: PathBuf,
        /// The parser's error (it carries line and column).
        source: serde_json::Error,
    },
    /// An example refers to an image file that does not exist.
    #[error("image {image} of example {example} does not exist")]
    MissingImage {
        /// The image path as resolved on disk.
        image: PathBuf,
        /// The example's id.
        example: String,
    },
    /// A split ended up with no examples.
    #[error("{what} has no examples")]
    EmptyDataset {
        /// Which task, split or file.
        what: String,
    },
    /// A label is not one of the task's labels.
    #[error(
        "{path}:{line}: label {label:?} is not a label of task {task} (expected one of: {expected})"
    )]
    UnknownLabel {
        /// The data file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The task name.
        task: String,
        /// The label as written in the file.
        label: String,
        /// The task's labels, comma-separated.
        expected: String,
    },
    /// A task name that the registry does not know.
    #[error("unknown task {name:?}; known tasks: {known}")]
    UnknownTask {
        /// The name asked for.
        name: String,
        /// Every registered name, comma-separated.
        known: String,
    },
    /// None of a task's layouts was found under a data directory.
    #[error("no data for task {task} under {root}: expected {expected}")]
    NoData {
        /// The task name.
        task: String,
        /// The directory searched.
        root: PathBuf,
        /// The files each supported layout needs.
        expected: String,
    },
    /// The tokenizer could not be loaded or failed on an input.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// The CLIP feature cache is unreadable or lacks an image.
    #[error("feature cache {path}: {reason}")]
    Features {
        /// The safetensors file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Inconsistent settings (for example a batch size of zero).
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A metric received inputs it cannot score (different lengths, nothing to score).
    #[error("metric {metric}: {reason}")]
    Metric {
        /// The metric's name.
        metric: &'static str,
        /// What is wrong.
        reason: String,
    },
}

impl DataError {
    /// Wraps an I/O error with the path it concerns.
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    /// A Parquet error about the file at `path`.
    pub(crate) fn parquet(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Self::Parquet {
            path: path.into(),
            reason: reason.into(),
        }
    }

    /// A malformed-row error.
    pub(crate) fn malformed(
        path: impl Into<PathBuf>,
        line: usize,
        reason: impl Into<String>,
    ) -> Self {
        Self::MalformedRow {
            path: path.into(),
            line,
            reason: reason.into(),
        }
    }
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, DataError>;
