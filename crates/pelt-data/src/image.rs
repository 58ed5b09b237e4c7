//! Where an example's image is: a file under the data root, or the bytes of a `datasets`
//! `Image` cell stored in a Parquet file (docs/data.md, "Parquet").

use std::fmt;
use std::path::Path;
use std::sync::Arc;

/// An example's image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageRef {
    /// A file, its path relative to the data root (`val2014/COCO_val2014_000000000042.jpg`).
    File(String),
    /// An image stored in a row of a Parquet file.
    Embedded(Embedded),
}

/// An image stored in a Parquet cell (`datasets`' `Image` feature: a `{bytes, path}` struct).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Embedded {
    /// `sha256:<hex>` of the bytes: the feature cache key, so that an image stored in many rows
    /// (VQA stores the picture with every question) is encoded once.
    pub key: String,
    /// The Parquet file.
    pub shard: Arc<Path>,
    /// 0-based row within the file.
    pub row: usize,
    /// The image column.
    pub column: Arc<str>,
}

impl ImageRef {
    /// The key of the image's features in the feature cache: a file's relative path, an
    /// embedded image's digest.
    pub fn key(&self) -> &str {
        match self {
            Self::File(path) => path,
            Self::Embedded(embedded) => &embedded.key,
        }
    }
}

impl fmt::Display for ImageRef {
    /// A file's path; for an embedded image, the file, row (1-based, as errors number rows) and
    /// column.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File(path) => write!(f, "{path}"),
            Self::Embedded(e) => write!(
                f,
                "{} row {} column {:?}",
                e.shard.display(),
                e.row + 1,
                e.column
            ),
        }
    }
}

impl From<String> for ImageRef {
    fn from(path: String) -> Self {
        Self::File(path)
    }
}

impl From<&str> for ImageRef {
    fn from(path: &str) -> Self {
        Self::File(path.to_owned())
    }
}

/// Lets tests compare a list of images with a list of relative paths.
impl PartialEq<&str> for ImageRef {
    fn eq(&self, other: &&str) -> bool {
        matches!(self, Self::File(path) if path == other)
    }
}
