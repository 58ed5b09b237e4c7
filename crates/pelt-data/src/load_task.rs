//! Loading a task from disk: choosing its layout, reading, checking images, making the splits.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use crate::class_targets::ClassTargets;
use crate::error::{DataError, Result};
use crate::image::ImageRef;
use crate::layout::Layout;
use crate::metrics::{Score, evaluate};
use crate::reader::Reading;
use crate::record::Example;
use crate::skipped::ReadReport;
use crate::splits::{halve_validation, hold_out_train};
use crate::task::{SplitPolicy, TaskSpec};

/// Options for reading a task.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// Seed of the split permutations (spec: 42).
    pub seed: u64,
    /// Skip malformed rows and count them in the report instead of failing on the first.
    pub skip_malformed: bool,
    /// Check that every referenced image file exists.
    pub check_images: bool,
    /// The target text of a classification task: class index (the spec's) or class name.
    pub targets: ClassTargets,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self {
            seed: 42,
            skip_malformed: false,
            check_images: true,
            targets: ClassTargets::Index,
        }
    }
}

/// A task's three splits, ready for the sampler and the evaluator.
#[derive(Debug, Clone)]
pub struct TaskData {
    /// The task.
    pub task: &'static TaskSpec,
    /// The data root; example image paths are relative to it.
    pub root: PathBuf,
    /// Training examples.
    pub train: Vec<Example>,
    /// Validation examples (model selection).
    pub validation: Vec<Example>,
    /// Test examples (reported numbers).
    pub test: Vec<Example>,
    /// What reading skipped, over all files.
    pub report: ReadReport,
    /// How the examples' class targets are written.
    pub targets: ClassTargets,
}

impl TaskData {
    /// Every metric of the task for `predictions[i]` (decoded text) against `examples[i]`
    /// (examples of this task), ×100, in the task's order: class names are read back to the
    /// indices the metrics expect first.
    pub fn evaluate<P: AsRef<str>>(
        &self,
        predictions: &[P],
        examples: &[Example],
    ) -> Result<Vec<Score>> {
        if self.targets.is_index() {
            return evaluate(self.task, predictions, examples);
        }
        let read = |text: &str| self.targets.read(self.task, text);
        let predictions = predictions
            .iter()
            .map(|p| read(p.as_ref()))
            .collect::<Result<Vec<_>>>()?;
        let examples = examples
            .iter()
            .map(|e| {
                Ok(Example {
                    target: read(&e.target)?,
                    references: e
                        .references
                        .iter()
                        .map(|r| read(r))
                        .collect::<Result<_>>()?,
                    ..e.clone()
                })
            })
            .collect::<Result<Vec<_>>>()?;
        evaluate(self.task, &predictions, &examples)
    }
}

/// The first of the task's layouts whose files for `split` exist under `root`.
pub fn detect_layout(task: &TaskSpec, root: &Path, split: &str) -> Result<&'static Layout> {
    task.layouts
        .iter()
        .find(|l| l.present(root, split))
        .ok_or_else(|| DataError::NoData {
            task: task.name.to_owned(),
            root: root.to_path_buf(),
            expected: task
                .layouts
                .iter()
                .map(|l| {
                    let files: Vec<String> = l
                        .files(split)
                        .iter()
                        .map(|f| f.display().to_string())
                        .collect();
                    files.join(" + ")
                })
                .collect::<Vec<_>>()
                .join(" or "),
        })
}

/// Reads one official split (`"train"`, `"validation"`, `"dev_matched"`...) of a task.
///
/// Errors: missing files, malformed rows (unless skipped), labels outside the task's set,
/// non-UTF-8 text, missing images (naming the path and the example), and an empty result.
pub fn read_split(
    task: &'static TaskSpec,
    root: &Path,
    split: &str,
    options: &LoadOptions,
) -> Result<(Vec<Example>, ReadReport)> {
    let layout = detect_layout(task, root, split)?;
    let mut reading = Reading {
        root,
        skip_malformed: options.skip_malformed,
        report: ReadReport::default(),
    };
    let records = crate::reader::read(layout, &mut reading, split)?;
    let mut report = reading.report;
    let mut seen_images: HashSet<String> = HashSet::new();
    let mut examples = Vec::with_capacity(records.len());
    for record in records {
        if options.check_images {
            // An embedded image is in the file already read; its bytes are decoded with the
            // features, and an undecodable one is named there.
            for image in &record.images {
                let ImageRef::File(image) = image else {
                    continue;
                };
                if seen_images.contains(image) {
                    continue;
                }
                let path = root.join(image);
                if !path.is_file() {
                    return Err(DataError::MissingImage {
                        image: path,
                        example: format!(
                            "{} ({}:{})",
                            record.id,
                            record.origin.path.display(),
                            record.origin.line
                        ),
                    });
                }
                seen_images.insert(image.clone());
            }
        }
        if let Some(example) = task.example(record, &mut report)? {
            examples.push(example);
        }
    }
    if examples.is_empty() {
        let files: Vec<String> = layout
            .files(split)
            .iter()
            .map(|f| root.join(f).display().to_string())
            .collect();
        return Err(DataError::EmptyDataset {
            what: format!("task {} split {split} ({})", task.name, files.join(", ")),
        });
    }
    report.examples = examples.len();
    Ok((examples, report))
}

/// Reads a task and makes its train/validation/test splits according to its [`SplitPolicy`].
pub fn load_task(task: &'static TaskSpec, root: &Path, options: &LoadOptions) -> Result<TaskData> {
    let mut report = ReadReport::default();
    let mut read = |split: &str| -> Result<Vec<Example>> {
        let (examples, r) = read_split(task, root, split, options)?;
        report.merge(&r);
        Ok(examples)
    };
    let train = read("train")?;
    let (mut train, mut validation, mut test) = match task.split {
        SplitPolicy::HalveValidation { validation } => {
            let (validation, test) = halve_validation(read(validation)?, options.seed);
            (train, validation, test)
        }
        SplitPolicy::HoldOutTrain { count, test } => {
            let test = read(test)?;
            let (train, validation) = hold_out_train(train, count, options.seed)?;
            (train, validation, test)
        }
        SplitPolicy::Official { validation, test } => (train, read(validation)?, read(test)?),
    };
    for (name, split) in [("validation", &validation), ("test", &test)] {
        if split.is_empty() {
            return Err(DataError::EmptyDataset {
                what: format!("task {} {name} split", task.name),
            });
        }
    }
    for split in [&mut train, &mut validation, &mut test] {
        options.targets.write(task, split)?;
    }
    Ok(TaskData {
        task,
        root: root.to_path_buf(),
        train,
        validation,
        test,
        report,
        targets: options.targets,
    })
}
