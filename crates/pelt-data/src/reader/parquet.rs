//! Reader of Parquet files as the Hugging Face hub stores a dataset configuration
//! (`nyu-mll/glue`'s `rte/train-00000-of-00001.parquet`): a split is its shards
//! `<split>-NNNNN-of-NNNNN.parquet`, read in order as one file; every row becomes a record
//! exactly as a line of a JSON Lines export of the same data set does (`jsonl::record`), so the
//! two layouts give the same examples (docs/data.md, "Parquet").

use std::path::Path;
use std::sync::Arc;

use parquet::file::reader::FileReader;
use parquet::record::Row;
use serde_json::Value;

use super::parquet_file::{class_names, open};
use super::parquet_images::{JoinedImages, images, joined_images};
use crate::error::{DataError, Result};
use crate::layout::{ImageColumn, ParquetColumns, ParquetTarget};
use crate::reader::{Reading, json_text, jsonl};
use crate::record::{Origin, RawLabel, Record};
use crate::shards::shards;

/// The reference answers or captions in a JSON value: a list of strings, or of objects whose
/// `answer` field is one (VQA's `answers`).
fn answers(value: &Value) -> Option<Vec<String>> {
    value
        .as_array()?
        .iter()
        .map(|a| {
            a.as_str()
                .or_else(|| a["answer"].as_str())
                .map(str::to_owned)
        })
        .collect()
}

/// Reads the shards of `split` into records, rows numbered from 1 within each file.
pub(crate) fn read(
    reading: &mut Reading<'_>,
    split: &str,
    columns: &ParquetColumns,
) -> Result<Vec<Record>> {
    let hub = columns.hub_split(split);
    let joined = joined_images(reading.root, hub, columns)?;
    let mut records = Vec::new();
    for path in shards(&columns.split_dir(reading.root, split), hub)? {
        let bad = |reason: String| DataError::parquet(&path, reason);
        let reader = open(&path)?;
        let names = match columns.target {
            ParquetTarget::Label(label) | ParquetTarget::Answers { label, .. } => {
                class_names(&reader, &path, label)?
            }
            ParquetTarget::Captions(_) => None,
        };
        let rows = reader.get_row_iter(None).map_err(|e| bad(e.to_string()))?;
        let shard: Arc<Path> = Arc::from(path.as_path());
        for (index, row) in rows.enumerate() {
            let row = row.map_err(|e| bad(format!("row {}: {e}", index + 1)))?;
            let origin = Origin {
                path: shard.clone(),
                line: index + 1,
            };
            let row = Cells {
                row,
                class_names: names.as_deref(),
                joined: &joined,
            };
            records.extend(record(reading, origin, row, columns, split == "train")?);
        }
    }
    Ok(records)
}

/// One row with what its file and split say about its cells.
struct Cells<'a> {
    row: Row,
    /// The label column's `ClassLabel` names.
    class_names: Option<&'a [String]>,
    /// Images stored elsewhere, by id ([`joined_images`]).
    joined: &'a JoinedImages,
}

/// One row as records (one, or one per caption of a `train` row of captions; none when the row
/// is skipped as malformed): the other columns as a JSON Lines line of the same data would be
/// read (`jsonl::record`), then the renamed fields, the label through its class names, the
/// references and the images.
fn record(
    reading: &mut Reading<'_>,
    origin: Origin,
    cells: Cells<'_>,
    columns: &ParquetColumns,
    train: bool,
) -> Result<Vec<Record>> {
    let images = match images(&cells.row, cells.joined, &origin, columns) {
        Ok(images) => images,
        Err(reason) => {
            reading.malformed(&origin, reason)?;
            return Ok(Vec::new());
        }
    };
    let in_row = |name: &str| {
        columns
            .images
            .iter()
            .any(|c| matches!(c, ImageColumn::Cell(column) if *column == name))
    };
    let object: serde_json::Map<String, Value> = cells
        .row
        .into_columns()
        .into_iter()
        .filter(|(name, _)| !in_row(name))
        .map(|(name, field)| (name, field.to_json_value()))
        .collect();
    let label = match columns.target {
        ParquetTarget::Label(label) | ParquetTarget::Answers { label, .. } => label,
        ParquetTarget::Captions(captions) => captions,
    };
    let Some(references) = references(reading, &origin, &object, columns.target)? else {
        return Ok(Vec::new());
    };
    let renamed: Vec<(&str, Option<String>)> = columns
        .renames
        .iter()
        .map(|&(field, column)| (field, object.get(column).and_then(json_text)))
        .collect();
    let Some(mut record) = jsonl::record(reading, origin, Value::Object(object), label, None)?
    else {
        return Ok(Vec::new());
    };
    for (field, value) in renamed {
        if let Some(value) = value {
            record.fields.insert(field.to_owned(), value);
        }
    }
    if let (Some(names), Some(RawLabel::Int(i))) = (cells.class_names, &record.label)
        && let Some(name) = usize::try_from(*i).ok().and_then(|i| names.get(i))
    {
        record.label = Some(RawLabel::Text(name.clone()));
    }
    record.images = images;
    Ok(per_caption(record, references, columns.target, train))
}

/// The reference answers or captions of a row (empty for a plain label); `None` when the row is
/// skipped as malformed (the reason is reported to `reading`).
fn references(
    reading: &mut Reading<'_>,
    origin: &Origin,
    object: &serde_json::Map<String, Value>,
    target: ParquetTarget,
) -> Result<Option<Vec<String>>> {
    let column = match target {
        ParquetTarget::Label(_) => return Ok(Some(Vec::new())),
        ParquetTarget::Answers { answers, .. } => answers,
        ParquetTarget::Captions(captions) => captions,
    };
    match object.get(column).and_then(answers) {
        Some(references)
            if !references.is_empty() || !matches!(target, ParquetTarget::Captions(_)) =>
        {
            Ok(Some(references))
        }
        _ => {
            let reason =
                format!("column {column:?} is not a non-empty list of answers or captions");
            reading.malformed(origin, reason)?;
            Ok(None)
        }
    }
}

/// A row's record with its `references`: as it is, with its answers, for labels and answers;
/// for captions, labelled with the first caption outside `train`, and one record per caption
/// in `train`, as the Karpathy layout reads them.
fn per_caption(
    mut record: Record,
    references: Vec<String>,
    target: ParquetTarget,
    train: bool,
) -> Vec<Record> {
    if !matches!(target, ParquetTarget::Captions(_)) {
        record.answers = references;
        return vec![record];
    }
    if !train {
        record.label = Some(RawLabel::Text(references[0].clone()));
        record.answers = references;
        return vec![record];
    }
    references
        .into_iter()
        .enumerate()
        .map(|(k, caption)| Record {
            id: format!("{}-{k}", record.id),
            label: Some(RawLabel::Text(caption)),
            ..record.clone()
        })
        .collect()
}
