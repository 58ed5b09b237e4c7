//! A repository's files, each with the SHA-256 its transfers are addressed by.

use std::path::Path;

use bytes::Bytes;

use crate::digest::sha256;
use crate::error::HubMockError;

/// One file of a repository. The content is shared, not copied, between the repository and
/// the responses that send it (a model's weights are hundreds of megabytes).
#[derive(Debug, Clone)]
pub(crate) struct RepoFile {
    /// Path within the repository.
    pub(crate) name: String,
    pub(crate) content: Bytes,
    /// [`sha256`] of the content, computed once.
    pub(crate) sha256: String,
}

/// A repository's files.
#[derive(Debug, Clone, Default)]
pub struct Repo {
    pub(crate) files: Vec<RepoFile>,
}

impl Repo {
    /// The files of `dir` (not below), under `prefix` in the repository.
    pub fn from_dir(dir: &Path, prefix: &str) -> Result<Self, HubMockError> {
        let mut repo = Self::default();
        repo.add_dir(dir, prefix)?;
        Ok(repo)
    }

    /// Adds the files of `dir` (not below), under `prefix`, in name order.
    pub fn add_dir(&mut self, dir: &Path, prefix: &str) -> Result<&mut Self, HubMockError> {
        let unreadable = |path: &Path| {
            let path = path.to_path_buf();
            move |source| HubMockError::Read { path, source }
        };
        let mut entries = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(unreadable(dir))? {
            let path = entry.map_err(unreadable(dir))?.path();
            if path.is_file() {
                entries.push(path);
            }
        }
        entries.sort();
        for path in entries {
            let content = std::fs::read(&path).map_err(unreadable(&path))?;
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            self.add(&format!("{prefix}{name}"), content);
        }
        Ok(self)
    }

    /// Adds one file.
    pub fn add(&mut self, name: &str, content: impl Into<Vec<u8>>) -> &mut Self {
        let content = Bytes::from(content.into());
        self.files.push(RepoFile {
            name: name.to_string(),
            sha256: sha256(&content),
            content,
        });
        self
    }

    /// The content of file `name`.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.file(name).map(|f| &f.content[..])
    }

    pub(crate) fn file(&self, name: &str) -> Option<&RepoFile> {
        self.files.iter().find(|f| f.name == name)
    }
}
