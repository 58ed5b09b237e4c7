//! The shape of Hugging Face ids: a repository (`t5-base`, `google/flan-t5-base`) and a data
//! set with one of its configurations (`hf:nyu-mll/glue/rte`, docs/data.md "Hub data set ids").
//! Checked when a configuration is read; resolved to directories by `hub/`.

use std::fmt;
use std::str::FromStr;

use crate::error::TrainError;

/// The prefix of a data set id in a task's `dir` or in `data`.
pub const DATASET_PREFIX: &str = "hf:";

/// Whether `spec` has the shape of a hub id: `NAME` or `ORG/NAME` of letters, digits, `-`, `_`
/// and `.`, not starting with `.`.
pub(crate) fn is_repo_id(spec: &str) -> bool {
    let parts: Vec<&str> = spec.split('/').collect();
    parts.len() <= 2
        && parts.iter().all(|p| {
            !p.is_empty()
                && !p.starts_with('.')
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        })
}

/// A data set on the hub and, optionally, one of its configurations: `ORG/NAME[/CONFIG]`, which
/// a configuration writes `hf:ORG/NAME[/CONFIG]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatasetId {
    /// The repository, `ORG/NAME` (or `NAME`).
    pub repo: String,
    /// The configuration: the directory of the repository that holds the task's files
    /// (`rte` of `nyu-mll/glue`); `None`: the repository's root.
    pub config: Option<String>,
}

impl FromStr for DatasetId {
    type Err = TrainError;

    /// Parses `ORG/NAME` or `ORG/NAME/CONFIG`, without the `hf:` prefix.
    fn from_str(spec: &str) -> Result<Self, TrainError> {
        let parts: Vec<&str> = spec.split('/').collect();
        let (repo, config) = match parts.as_slice() {
            [org, name] => (format!("{org}/{name}"), None),
            [org, name, config] => (format!("{org}/{name}"), Some(*config)),
            _ => return Err(bad_dataset_id(spec)),
        };
        if !is_repo_id(&repo) || config.is_some_and(|c| !is_repo_id(c) || c.contains('/')) {
            return Err(bad_dataset_id(spec));
        }
        Ok(Self {
            repo,
            config: config.map(str::to_string),
        })
    }
}

impl fmt::Display for DatasetId {
    /// `ORG/NAME[/CONFIG]`, without the prefix: what [`FromStr`] reads.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.config {
            Some(config) => write!(f, "{}/{config}", self.repo),
            None => write!(f, "{}", self.repo),
        }
    }
}

fn bad_dataset_id(spec: &str) -> TrainError {
    TrainError::Config(format!(
        "`{DATASET_PREFIX}{spec}`: a data set id is {DATASET_PREFIX}ORG/NAME or \
         {DATASET_PREFIX}ORG/NAME/CONFIG (e.g. hf:nyu-mll/glue/rte)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_ids() {
        for id in [
            "t5-base",
            "google/flan-t5-base",
            "openai/clip-vit-base-patch32",
        ] {
            assert!(is_repo_id(id), "{id}");
        }
        for not in ["", "a/b/c", "../t5", "./t5", "/abs/t5", "t5 base", "a//b"] {
            assert!(!is_repo_id(not), "{not}");
        }
    }

    #[test]
    fn data_set_ids_read_and_write_back_unchanged() {
        for spec in ["nyu-mll/glue/rte", "lmms-lab/GQA"] {
            let id: DatasetId = spec.parse().unwrap();
            assert_eq!(id.to_string(), spec);
        }
        let id: DatasetId = "nyu-mll/glue/rte".parse().unwrap();
        assert_eq!(
            (id.repo.as_str(), id.config.as_deref()),
            ("nyu-mll/glue", Some("rte"))
        );
        for bad in [
            "glue",
            "a/b/c/d",
            "../x/y",
            "nyu-mll/glue/../etc",
            "a/b/",
            "a b/c",
        ] {
            let err = bad.parse::<DatasetId>().unwrap_err().to_string();
            assert!(err.contains("a data set id is"), "{bad}: {err}");
            assert!(err.contains(&format!("`hf:{bad}`")), "{bad}: {err}");
        }
    }
}
