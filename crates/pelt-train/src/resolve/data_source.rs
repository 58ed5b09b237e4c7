//! Where a task's files come from: the configuration's `data` ([`DataRoot`]) and each task's
//! `dir` ([`DataSource`]), a local directory or a hub data set id. Both stay strings in
//! configuration files (serde reads a path and converts it); an id is checked when the
//! configuration is read and resolved to a directory only when the data is loaded.

use std::path::PathBuf;

use crate::error::TrainError;
use crate::resolve::hub_id::{DATASET_PREFIX, DatasetId};

/// A task's `dir`: where its files are.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "PathBuf", into = "PathBuf")]
pub enum DataSource {
    /// A directory; in a task's `dir`, relative to [`DataRoot`].
    Dir(PathBuf),
    /// A hub data set, written `hf:ORG/NAME[/CONFIG]` (`hf:nyu-mll/glue/rte`): its files are
    /// taken from the Hugging Face cache, or downloaded there (docs/data.md, "Hub data set
    /// ids").
    Hub(DatasetId),
}

impl TryFrom<PathBuf> for DataSource {
    type Error = TrainError;

    /// `hf:ORG/NAME[/CONFIG]` is a data set id (refused unless it has that shape), anything
    /// else a directory.
    fn try_from(path: PathBuf) -> Result<Self, TrainError> {
        match path.to_str().and_then(|p| p.strip_prefix(DATASET_PREFIX)) {
            Some(id) => Ok(Self::Hub(id.parse()?)),
            None => Ok(Self::Dir(path)),
        }
    }
}

impl From<DataSource> for PathBuf {
    /// What [`TryFrom`] read.
    fn from(source: DataSource) -> Self {
        match source {
            DataSource::Dir(dir) => dir,
            DataSource::Hub(id) => format!("{DATASET_PREFIX}{id}").into(),
        }
    }
}

impl std::str::FromStr for DataSource {
    type Err = TrainError;

    /// As a configuration reads it (`--tasks NAME=DIR`).
    fn from_str(text: &str) -> Result<Self, TrainError> {
        PathBuf::from(text).try_into()
    }
}

/// The configuration's `data`: what a task's `dir` that is a directory is relative to.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(from = "PathBuf", into = "PathBuf")]
pub enum DataRoot {
    /// The root of the task directories (`datasets`).
    Dir(PathBuf),
    /// `hf:PREFIX`: a task's `dir` that is a directory completes the data set id `PREFIX/DIR`
    /// (`hf:nyu-mll/glue` with `dir` `rte` is `hf:nyu-mll/glue/rte`). Tasks whose `dir` is an
    /// id themselves ignore it.
    Hub(String),
}

impl From<PathBuf> for DataRoot {
    fn from(path: PathBuf) -> Self {
        match path.to_str().and_then(|p| p.strip_prefix(DATASET_PREFIX)) {
            Some(prefix) => Self::Hub(prefix.to_string()),
            None => Self::Dir(path),
        }
    }
}

impl From<DataRoot> for PathBuf {
    /// What [`From<PathBuf>`] read.
    fn from(root: DataRoot) -> Self {
        match root {
            DataRoot::Dir(dir) => dir,
            DataRoot::Hub(prefix) => format!("{DATASET_PREFIX}{prefix}").into(),
        }
    }
}

impl DataRoot {
    /// Where the task with `dir` finds its files: `dir` itself when it is an id, else `dir`
    /// under this root (a directory, or the data set id this root and `dir` make, refused
    /// unless it has an id's shape).
    pub fn join(&self, dir: &DataSource) -> Result<DataSource, TrainError> {
        match (self, dir) {
            (_, DataSource::Hub(id)) => Ok(DataSource::Hub(id.clone())),
            (Self::Dir(root), DataSource::Dir(dir)) => Ok(DataSource::Dir(root.join(dir))),
            (Self::Hub(prefix), DataSource::Dir(dir)) => Ok(DataSource::Hub(
                format!("{prefix}/{}", dir.display()).parse()?,
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(text: &str) -> DataSource {
        text.parse().unwrap()
    }

    #[test]
    fn directories_and_ids_are_told_apart_and_written_back_as_read() {
        for text in [
            "datasets/text/rte",
            "hf:nyu-mll/glue/rte",
            "hf:lmms-lab/GQA",
        ] {
            let json = serde_json::Value::String(text.into());
            let read: DataSource = serde_json::from_value(json.clone()).unwrap();
            assert_eq!(serde_json::to_value(&read).unwrap(), json);
            let root: DataRoot = serde_json::from_value(json.clone()).unwrap();
            assert_eq!(serde_json::to_value(&root).unwrap(), json);
        }
        assert_eq!(source("rte"), DataSource::Dir("rte".into()));
        let err = "hf:glue".parse::<DataSource>().unwrap_err().to_string();
        assert!(err.contains("`hf:glue`: a data set id is"), "{err}");
        let err = serde_json::from_str::<DataSource>("\"hf:a/b/c/d\"")
            .unwrap_err()
            .to_string();
        assert!(err.contains("`hf:a/b/c/d`: a data set id is"), "{err}");
    }

    #[test]
    fn a_task_directory_is_under_the_root_or_completes_its_id() {
        let dir = DataRoot::from(PathBuf::from("datasets"));
        let hub = DataRoot::from(PathBuf::from("hf:nyu-mll/glue"));
        let org = DataRoot::from(PathBuf::from("hf:nyu-mll"));
        assert_eq!(dir.join(&source("rte")).unwrap(), source("datasets/rte"));
        assert_eq!(
            hub.join(&source("rte")).unwrap(),
            source("hf:nyu-mll/glue/rte")
        );
        assert_eq!(
            org.join(&source("glue/rte")).unwrap(),
            source("hf:nyu-mll/glue/rte")
        );
        let id = source("hf:lmms-lab/GQA");
        for root in [&dir, &hub, &org] {
            assert_eq!(root.join(&id).unwrap(), id);
        }
        let err = hub.join(&source("rte/x")).unwrap_err().to_string();
        assert!(err.contains("`hf:nyu-mll/glue/rte/x`"), "{err}");
    }
}
