//! The on-disk layouts the readers understand, and which files each one expects for a split.

use std::path::{Path, PathBuf};

use crate::shards;

/// A column of a GLUE TSV file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    /// Found by its header name (files with a header row).
    Named(&'static str),
    /// Found by 0-based position (CoLA, whose files have no header).
    Index(usize),
}

/// The official GLUE distribution (`glue_data/<TASK>/train.tsv`, `dev.tsv`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GlueTsv {
    /// Whether the first line is a header row.
    pub header: bool,
    /// Number of columns of a row when there is no header (with a header: the header's count).
    pub columns: usize,
    /// Text fields: (template field name, column).
    pub fields: &'static [(&'static str, Column)],
    /// The label column.
    pub label: Column,
    /// Rows with missing columns are a known defect of this file (QQP): the reference code drops
    /// them, and so do we, counting them in the report.
    pub known_short_rows: bool,
}

/// An image named by a JSON Lines field, through a path template (`{}` is the field's value).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageField {
    /// The JSON field holding the image id.
    pub field: &'static str,
    /// Path relative to the data root, `{}` replaced by the id.
    pub template: &'static str,
}

/// What to read from the columns of a data set's Parquet files on the Hugging Face hub. Every
/// other string column is a text field under its own name, as in [`Layout::Jsonl`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParquetColumns {
    /// The directory of a split's shards under the root, `{}` replaced by the hub's split name
    /// (`""`: the root itself; GQA: `"{}_balanced_instructions"`).
    pub dir: &'static str,
    /// Splits the hub names otherwise: `(ours, the hub's)`, e.g. `("val", "validation")`.
    pub splits: &'static [(&'static str, &'static str)],
    /// Where the target comes from.
    pub target: ParquetTarget,
    /// Template fields read from a column of another name: `(field, column)`.
    pub renames: &'static [(&'static str, &'static str)],
    /// The row's images, in order.
    pub images: &'static [ImageColumn],
}

/// The target columns of a Parquet layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParquetTarget {
    /// One label column; integers map through its `ClassLabel` names when the file's
    /// `huggingface` metadata has them.
    Label(&'static str),
    /// A label column and a column of reference answers (VQA's `multiple_choice_answer` and
    /// `answers`): a list of strings, or of structs whose `answer` field is one.
    Answers {
        /// The label column.
        label: &'static str,
        /// The list of reference answers.
        answers: &'static str,
    },
    /// A list of captions: in `train` one example per caption, in other splits one example per
    /// row with every caption as a reference (as [`Layout::Karpathy`]).
    Captions(&'static str),
}

/// Where a Parquet row's image is stored: always `datasets`' `Image` feature, a `{bytes, path}`
/// struct.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageColumn {
    /// In a column of the row itself.
    Cell(&'static str),
    /// In another set of shards, found by id (GQA's `*_balanced_images` configurations): the
    /// row's column `by` holds the id, the rows of `dir` (`{}` replaced by the hub's split name)
    /// have it in column `id` and the picture in column `image`.
    Joined {
        /// The row's id column.
        by: &'static str,
        /// The image shards' directory under the root.
        dir: &'static str,
        /// The image shards' id column.
        id: &'static str,
        /// The image shards' image column.
        image: &'static str,
    },
}

impl ParquetColumns {
    /// The hub's name of our split `split`.
    pub fn hub_split<'a>(&self, split: &'a str) -> &'a str {
        self.splits
            .iter()
            .find(|(ours, _)| *ours == split)
            .map_or(split, |(_, hub)| hub)
    }

    /// The directory of `split`'s shards under `root`.
    pub fn split_dir(&self, root: &Path, split: &str) -> PathBuf {
        root.join(self.dir.replace("{}", self.hub_split(split)))
    }
}

/// Every layout a task can be read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// GLUE TSV files: `train.tsv`, `dev.tsv`, `dev_matched.tsv`, `dev_mismatched.tsv`.
    GlueTsv(GlueTsv),
    /// JSON Lines exports of Hugging Face datasets (one object per line with the data set's own
    /// field names), and other JSON Lines distributions (SNLI-VE).
    Jsonl {
        /// File name, `{}` replaced by the split (`"{}.jsonl"` gives `train.jsonl`).
        file: &'static str,
        /// The label field.
        label: &'static str,
        /// The image field, for image tasks exported as JSON Lines (SNLI-VE).
        image: Option<ImageField>,
    },
    /// Parquet shards as the Hugging Face hub stores a dataset configuration
    /// (`<split>-NNNNN-of-NNNNN[-HASH].parquet`, read in order as one split), with the data set's
    /// own column names: rows are read as `Jsonl` lines are.
    Parquet(ParquetColumns),
    /// VQA v2 / OK-VQA: question and annotation JSON files, COCO images
    /// `<split>2014/COCO_<split>2014_<12-digit id>.jpg`.
    Vqa {
        /// Question file name, `{}` replaced by the split (`train`, `val`).
        questions: &'static str,
        /// Annotation file name, `{}` replaced by the split.
        annotations: &'static str,
    },
    /// GQA balanced questions: `<split>_balanced_questions.json`, images `images/<imageId>.jpg`.
    Gqa,
    /// NLVR2 JSON Lines `<split>.json`, two images `images/<split>/[<directory>/]<pair>-img{0,1}.png`.
    Nlvr2,
    /// Karpathy-split caption file (`dataset_coco.json` layout): images `<filepath>/<filename>`.
    Karpathy {
        /// The caption file name.
        file: &'static str,
    },
    /// easy-VQA: `<split>/questions.json` (`[question, answer, image id]` triples), images
    /// `<split>/images/<id>.png`.
    EasyVqa,
}

impl Layout {
    /// The data files this layout reads for an official split, relative to the root.
    pub fn files(&self, split: &str) -> Vec<PathBuf> {
        match self {
            Self::GlueTsv(_) => {
                let name = match split {
                    "validation" => "dev".to_owned(),
                    other => other.replace("validation", "dev"),
                };
                vec![PathBuf::from(format!("{name}.tsv"))]
            }
            Self::Jsonl { file, .. } => vec![PathBuf::from(file.replace("{}", split))],
            // The name of a one-shard split; any `<split>-NNNNN-of-NNNNN.parquet` set is read.
            Self::Parquet(columns) => vec![columns.split_dir(Path::new(""), split).join(format!(
                "{}-00000-of-00001.parquet",
                columns.hub_split(split)
            ))],
            Self::Vqa {
                questions,
                annotations,
            } => vec![
                PathBuf::from(questions.replace("{}", split)),
                PathBuf::from(annotations.replace("{}", split)),
            ],
            Self::Gqa => vec![PathBuf::from(format!("{split}_balanced_questions.json"))],
            Self::Nlvr2 => vec![PathBuf::from(format!("{split}.json"))],
            Self::Karpathy { file } => vec![PathBuf::from(file)],
            Self::EasyVqa => vec![Path::new(split).join("questions.json")],
        }
    }

    /// Whether every file this layout needs for `split` exists under `root` (as anything: a
    /// directory in a file's place is then read, and refused naming it).
    pub fn present(&self, root: &Path, split: &str) -> bool {
        match self {
            // Some shards are enough: an incomplete set is then read, and refused naming the gap.
            Self::Parquet(columns) => {
                let (dir, split) = (columns.split_dir(root, split), columns.hub_split(split));
                !matches!(shards::shards(&dir, split), Ok(shards) if shards.is_empty())
            }
            _ => self.files(split).iter().all(|f| root.join(f).exists()),
        }
    }

    /// Whether the file at `relative` (under the root) is one this layout reads for `split`.
    pub fn reads(&self, split: &str, relative: &Path) -> bool {
        let Self::Parquet(columns) = self else {
            return self.files(split).iter().any(|f| f == relative);
        };
        let hub = columns.hub_split(split);
        let shard = |dir: &str| {
            relative.parent() == Some(Path::new(&dir.replace("{}", hub)))
                && relative
                    .file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| shards::is_shard(n, hub))
        };
        shard(columns.dir)
            || columns
                .images
                .iter()
                .any(|image| matches!(image, ImageColumn::Joined { dir, .. } if shard(dir)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glue_split_names_map_to_official_files() {
        let tsv = Layout::GlueTsv(GlueTsv {
            header: true,
            columns: 4,
            fields: &[],
            label: Column::Named("label"),
            known_short_rows: false,
        });
        assert_eq!(tsv.files("train"), vec![PathBuf::from("train.tsv")]);
        assert_eq!(tsv.files("validation"), vec![PathBuf::from("dev.tsv")]);
        assert_eq!(
            tsv.files("validation_matched"),
            vec![PathBuf::from("dev_matched.tsv")]
        );
        assert_eq!(
            tsv.files("validation_mismatched"),
            vec![PathBuf::from("dev_mismatched.tsv")]
        );
    }
}
