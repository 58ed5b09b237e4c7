//! The one error type of the crate.

use std::path::PathBuf;

/// What can go wrong starting the server or reading a repository's files.
#[derive(Debug, thiserror::Error)]
pub enum HubMockError {
    /// No socket on 127.0.0.1, or no runtime to serve it.
    #[error("cannot start the local hub: {0}")]
    Start(#[source] std::io::Error),
    /// A file or directory given as a repository's content cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}
