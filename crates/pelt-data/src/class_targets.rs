//! How a classification task's class is written as its target text: the class index (the
//! spec's `"0"`, `"1"`) or the class name (`"uncertain"`, `"entailment"`, as the T5 paper wrote
//! GLUE). Metrics always see indices, so every metric reads the same either way
//! (docs/data.md, "Target words").

use serde::{Deserialize, Serialize};

use crate::error::{DataError, Result};
use crate::record::Example;
use crate::task::{LabelKind, TaskSpec};

/// The target text of a [`LabelKind::Classes`] task.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClassTargets {
    /// The class index as a digit string (`"0"`, `"1"`): the spec's format.
    #[default]
    Index,
    /// The class name of the task's label set (`"certain"`, `"uncertain"`).
    Names,
}

impl ClassTargets {
    /// Whether this is the spec's default.
    pub fn is_index(&self) -> bool {
        *self == Self::Index
    }

    /// The class names of `task` when targets are names; `None` for [`ClassTargets::Index`].
    /// Names on a task without class names (free text, scores, label words) is an error that
    /// names the task.
    fn names(self, task: &TaskSpec) -> Result<Option<&'static [&'static str]>> {
        match (self, task.labels) {
            (Self::Index, _) => Ok(None),
            (Self::Names, LabelKind::Classes(names)) => Ok(Some(names)),
            (Self::Names, _) => Err(DataError::Config(format!(
                "task {}: `targets: \"names\"` needs a task whose targets are class indices; \
                 this task's targets are already words, scores or free text",
                task.name
            ))),
        }
    }

    /// Rewrites the index targets (and references) of `examples`, as reading made them, into
    /// this form. An index outside the label set is an error naming the example.
    pub fn write(self, task: &TaskSpec, examples: &mut [Example]) -> Result<()> {
        let Some(names) = self.names(task)? else {
            return Ok(());
        };
        let name_of = |index: &str, id: &str| -> Result<String> {
            index
                .parse::<usize>()
                .ok()
                .and_then(|i| names.get(i))
                .map(|n| (*n).to_owned())
                .ok_or_else(|| {
                    DataError::Config(format!(
                        "task {} example {id}: target {index:?} is not a class index",
                        task.name
                    ))
                })
        };
        for example in examples {
            example.target = name_of(&example.target, &example.id)?;
            for reference in &mut example.references {
                *reference = name_of(reference, &example.id)?;
            }
        }
        Ok(())
    }

    /// The index form of a target or decoded prediction in this form, for the metrics: a class
    /// name becomes its index; anything else becomes the empty string, which every metric
    /// counts wrong (so a names-trained model that answers `"1"` is not scored as class 1).
    pub fn read(self, task: &TaskSpec, text: &str) -> Result<String> {
        Ok(match self.names(task)? {
            None => text.to_owned(),
            Some(names) => names
                .iter()
                .position(|n| *n == text.trim())
                .map_or_else(String::new, |i| i.to_string()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::task;

    fn example(target: &str) -> Example {
        Example {
            id: "line-7".to_owned(),
            source: String::new(),
            target: target.to_owned(),
            references: vec![target.to_owned()],
            images: Vec::new(),
        }
    }

    #[test]
    fn names_are_written_and_read_back_to_indices() {
        let rte = task("rte").unwrap();
        let mut examples = vec![example("1"), example("0")];
        ClassTargets::Names.write(rte, &mut examples).unwrap();
        assert_eq!(examples[0].target, "not_entailment");
        assert_eq!(examples[0].references, vec!["not_entailment".to_owned()]);
        assert_eq!(examples[1].target, "entailment");
        let read = |t| ClassTargets::Names.read(rte, t).unwrap();
        assert_eq!(read("not_entailment"), "1");
        assert_eq!(read(" entailment "), "0");
        // A digit or an unknown word is no class under names.
        assert_eq!(read("1"), "");
        assert_eq!(read("entail"), "");
    }

    #[test]
    fn index_changes_nothing() {
        let rte = task("rte").unwrap();
        let mut examples = vec![example("1")];
        ClassTargets::Index.write(rte, &mut examples).unwrap();
        assert_eq!(examples[0].target, "1");
        assert_eq!(ClassTargets::Index.read(rte, " 1").unwrap(), " 1");
    }

    #[test]
    fn names_on_a_task_without_class_indices_is_an_error_naming_it() {
        let err = ClassTargets::Names
            .write(task("easy-vqa").unwrap(), &mut [example("red")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("easy-vqa"), "{err}");
        let err = ClassTargets::Names
            .write(task("rte").unwrap(), &mut [example("7")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("line-7") && err.contains("\"7\""), "{err}");
    }
}
