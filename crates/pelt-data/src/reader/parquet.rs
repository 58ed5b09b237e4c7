//! Reader of Parquet files as the Hugging Face hub stores a dataset configuration
//! (`nyu-mll/glue`'s `rte/train-00000-of-00001.parquet`): a split is its shards
//! `<split>-NNNNN-of-NNNNN.parquet`, read in order as one file; every row becomes a record
//! exactly as a line of a JSON Lines export of the same data set does (`jsonl::record`), so the
//! two layouts give the same examples (docs/data.md, "Parquet").

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::{Field, Row};
use parquet::schema::types::Type as SchemaType;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::error::{DataError, Result};
use crate::image::{Embedded, ImageRef};
use crate::layout::{ImageColumn, ParquetColumns, ParquetTarget};
use crate::reader::{Reading, json_text, jsonl};
use crate::record::{Origin, RawLabel, Record};

/// Shard `k` of `n` of `split`, if `name` is one (`train-00001-of-00002.parquet`, or with the
/// hash that `push_to_hub` may add, `train-00001-of-00002-54ed883ce96f619e.parquet`).
fn shard_of(name: &str, split: &str) -> Option<(usize, usize)> {
    let rest = name.strip_prefix(split)?.strip_prefix('-')?;
    let rest = rest.strip_suffix(".parquet")?;
    let (k, rest) = rest.split_once("-of-")?;
    let (n, hash) = rest.split_once('-').unwrap_or((rest, "0"));
    let digits = |s: &str| s.len() == 5 && s.bytes().all(|b| b.is_ascii_digit());
    let hex = !hash.is_empty() && hash.bytes().all(|b| b.is_ascii_hexdigit());
    (digits(k) && digits(n) && hex).then(|| Some((k.parse().ok()?, n.parse().ok()?)))?
}

/// Whether the file called `name` is a shard of `split`.
pub(crate) fn is_shard(name: &str, split: &str) -> bool {
    shard_of(name, split).is_some()
}

/// The shards of `split` under `root`, in order: empty when there are none; an error naming the
/// first missing shard when some are (a partial download) or the shards disagree on their count.
pub(crate) fn shards(root: &Path, split: &str) -> Result<Vec<PathBuf>> {
    let entries = match std::fs::read_dir(root) {
        Ok(entries) => entries,
        Err(_) => return Ok(Vec::new()),
    };
    let mut found: Vec<(usize, usize, PathBuf)> = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| DataError::io(root, e))?;
        if let Some((k, n)) = entry.file_name().to_str().and_then(|n| shard_of(n, split)) {
            found.push((k, n, entry.path()));
        }
    }
    found.sort();
    let Some(&(_, count, _)) = found.first() else {
        return Ok(Vec::new());
    };
    if let Some((_, n, path)) = found.iter().find(|(_, n, _)| *n != count) {
        return Err(DataError::Parquet {
            path: path.clone(),
            reason: format!("shard of {n}, but the first shard of `{split}` says {count}"),
        });
    }
    // Sorted and all of `count`: complete exactly when shard k is at position k, up to count.
    let missing = (0..count).find(|&k| found.get(k).is_none_or(|(index, _, _)| *index != k));
    if let Some(missing) = missing {
        return Err(DataError::Parquet {
            path: root.join(format!("{split}-{missing:05}-of-{count:05}.parquet")),
            reason: format!(
                "missing: `{split}` has {count} shards and {} of them are here (an incomplete \
                 download?)",
                found.len()
            ),
        });
    }
    Ok(found.into_iter().map(|(_, _, path)| path).collect())
}

/// The `ClassLabel` names of `column` in the file's `huggingface` schema metadata (the
/// `datasets` features, `{"info": {"features": {column: {"_type": "ClassLabel", "names": [..]}}}}`),
/// if it has any.
fn class_names(
    reader: &SerializedFileReader<File>,
    column: &str,
) -> std::result::Result<Option<Vec<String>>, String> {
    let metadata = reader.metadata().file_metadata().key_value_metadata();
    let Some(text) = metadata
        .and_then(|kv| kv.iter().find(|kv| kv.key == "huggingface"))
        .and_then(|kv| kv.value.as_deref())
    else {
        return Ok(None);
    };
    let value: Value = serde_json::from_str(text)
        .map_err(|e| format!("the `huggingface` schema metadata is not JSON: {e}"))?;
    let feature = &value["info"]["features"][column];
    if feature["_type"] != "ClassLabel" {
        return Ok(None);
    }
    let names = feature["names"].as_array().and_then(|names| {
        names
            .iter()
            .map(|n| n.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
    });
    names.map(Some).ok_or_else(|| {
        format!(
            "the `huggingface` metadata gives `{column}` as a ClassLabel without a list of names"
        )
    })
}

/// The bytes of an image cell: `datasets`' `Image` feature, a `{bytes, path}` struct.
fn image_bytes(field: &Field) -> Option<&[u8]> {
    let Field::Group(cell) = field else {
        return None;
    };
    cell.get_column_iter()
        .find_map(|(name, value)| match value {
            Field::Bytes(bytes) if name == "bytes" => Some(bytes.data()),
            _ => None,
        })
}

/// `sha256:<hex>` of `bytes`.
fn digest(bytes: &[u8]) -> String {
    let hash = Sha256::digest(bytes);
    let mut key = String::with_capacity(7 + 64);
    key.push_str("sha256:");
    for byte in hash {
        key.push_str(&format!("{byte:02x}"));
    }
    key
}

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

/// Reads the bytes of embedded images, calling `each(i, bytes)` for `images[i]`: every file is
/// opened once and read in row order (so calls come in file and row order, not in the order
/// given), reading only the image columns. An image whose row is gone or whose bytes changed
/// since the rows were read is an error naming file and row.
pub fn read_embedded_images<E: From<DataError>>(
    images: &[&Embedded],
    mut each: impl FnMut(usize, Vec<u8>) -> std::result::Result<(), E>,
) -> std::result::Result<(), E> {
    let mut by_shard: BTreeMap<&Path, Vec<usize>> = BTreeMap::new();
    for (i, image) in images.iter().enumerate() {
        by_shard.entry(&image.shard).or_default().push(i);
    }
    for (path, mut wanted) in by_shard {
        let bad = |reason: String| DataError::Parquet {
            path: path.to_path_buf(),
            reason,
        };
        wanted.sort_by_key(|&i| images[i].row);
        let reader = open(path).map_err(E::from)?;
        let mut columns: Vec<&str> = wanted.iter().map(|&i| &*images[i].column).collect();
        columns.sort_unstable();
        columns.dedup();
        let projection = projection(&reader, &columns).map_err(|e| E::from(bad(e)))?;
        let rows = reader
            .get_row_iter(Some(projection))
            .map_err(|e| E::from(bad(e.to_string())))?;
        let mut next = wanted.into_iter().peekable();
        for (index, row) in rows.enumerate() {
            if next.peek().is_none() {
                break;
            }
            let row = row.map_err(|e| E::from(bad(format!("row {}: {e}", index + 1))))?;
            while let Some(i) = next.next_if(|&i| images[i].row == index) {
                let image = images[i];
                let bytes = row
                    .get_column_iter()
                    .find(|(name, _)| **name == *image.column)
                    .and_then(|(_, field)| image_bytes(field))
                    .filter(|bytes| digest(bytes) == image.key)
                    .ok_or_else(|| {
                        E::from(bad(format!(
                            "row {} column {:?} no longer holds the image read before ({}): \
                             did the file change?",
                            index + 1,
                            image.column,
                            image.key
                        )))
                    })?;
                each(i, bytes.to_vec())?;
            }
        }
        if let Some(i) = next.next() {
            let reason = format!("row {} is gone: did the file change?", images[i].row + 1);
            return Err(E::from(bad(reason)));
        }
    }
    Ok(())
}

/// The image shards of every [`ImageColumn::Joined`] column of `columns` (`None` for the others),
/// as a map from id to the image's place, for `split` (the hub's name) under `root`.
type JoinedImages = Vec<Option<HashMap<String, Embedded>>>;

fn joined_images(root: &Path, split: &str, columns: &ParquetColumns) -> Result<JoinedImages> {
    let mut maps = Vec::with_capacity(columns.images.len());
    for column in columns.images {
        let &ImageColumn::Joined { dir, id, image, .. } = column else {
            maps.push(None);
            continue;
        };
        let dir = root.join(dir.replace("{}", split));
        let found = shards(&dir, split)?;
        if found.is_empty() {
            return Err(DataError::Parquet {
                path: dir.join(format!("{split}-00000-of-00001.parquet")),
                reason: format!("no shards of `{split}` here: the images of column {image:?}"),
            });
        }
        let mut map = HashMap::new();
        for path in found {
            let bad = |reason: String| DataError::Parquet {
                path: path.clone(),
                reason,
            };
            let shard: Arc<Path> = Arc::from(path.as_path());
            let reader = open(&path)?;
            let rows = reader
                .get_row_iter(Some(projection(&reader, &[id, image]).map_err(bad)?))
                .map_err(|e| bad(e.to_string()))?;
            for (index, row) in rows.enumerate() {
                let row = row.map_err(|e| bad(format!("row {}: {e}", index + 1)))?;
                let key = cell(&row, id).and_then(|f| json_text(&f.to_json_value()));
                let bytes = cell(&row, image).and_then(image_bytes);
                let (Some(key), Some(bytes)) = (key, bytes) else {
                    return Err(bad(format!(
                        "row {}: needs an id in column {id:?} and image bytes in column {image:?}",
                        index + 1
                    )));
                };
                let place = Embedded {
                    key: digest(bytes),
                    shard: shard.clone(),
                    row: index,
                    column: Arc::from(image),
                };
                map.insert(key, place);
            }
        }
        maps.push(Some(map));
    }
    Ok(maps)
}

/// `path` opened as a Parquet file.
fn open(path: &Path) -> Result<SerializedFileReader<File>> {
    let file = File::open(path).map_err(|e| DataError::io(path, e))?;
    SerializedFileReader::new(file).map_err(|e| DataError::Parquet {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

/// The file's schema cut down to the top-level `columns`; a missing one is an error naming it.
fn projection(
    reader: &SerializedFileReader<File>,
    columns: &[&str],
) -> std::result::Result<SchemaType, String> {
    let schema = reader.metadata().file_metadata().schema();
    let fields = schema.get_fields();
    let kept = columns
        .iter()
        .map(|&name| {
            fields
                .iter()
                .find(|f| f.name() == name)
                .cloned()
                .ok_or_else(|| format!("no column {name:?}"))
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    SchemaType::group_type_builder(schema.name())
        .with_fields(kept)
        .build()
        .map_err(|e| e.to_string())
}

/// The cell of `row` in column `name`.
fn cell<'a>(row: &'a Row, name: &str) -> Option<&'a Field> {
    row.get_column_iter()
        .find(|(column, _)| *column == name)
        .map(|(_, field)| field)
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
        let bad = |reason: String| DataError::Parquet {
            path: path.clone(),
            reason,
        };
        let reader = open(&path)?;
        let names = match columns.target {
            ParquetTarget::Label(label) | ParquetTarget::Answers { label, .. } => {
                class_names(&reader, label).map_err(bad)?
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

/// The row's images, or why it has none.
fn images(
    cells: &Cells<'_>,
    origin: &Origin,
    columns: &ParquetColumns,
) -> std::result::Result<Vec<ImageRef>, String> {
    let mut images = Vec::with_capacity(columns.images.len());
    for (column, joined) in columns.images.iter().zip(cells.joined) {
        let image = match (*column, joined) {
            (ImageColumn::Cell(name), _) => {
                let bytes = cell(&cells.row, name)
                    .and_then(image_bytes)
                    .ok_or_else(|| {
                        format!("no image bytes in column {name:?} (a {{bytes, path}} struct)")
                    })?;
                Embedded {
                    key: digest(bytes),
                    shard: origin.path.clone(),
                    row: origin.line - 1,
                    column: Arc::from(name),
                }
            }
            (ImageColumn::Joined { by, dir, .. }, by_id) => {
                let id = cell(&cells.row, by)
                    .and_then(|f| json_text(&f.to_json_value()))
                    .ok_or_else(|| format!("no image id in column {by:?}"))?;
                by_id
                    .as_ref()
                    .and_then(|by_id| by_id.get(&id))
                    .cloned()
                    .ok_or_else(|| format!("image {id:?} (column {by:?}) is not in {dir:?}"))?
            }
        };
        images.push(ImageRef::Embedded(image));
    }
    Ok(images)
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
    let images = match images(&cells, &origin, columns) {
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
    let (label, references) = match columns.target {
        ParquetTarget::Label(label) => (label, None),
        ParquetTarget::Answers { label, answers } => (label, Some(answers)),
        ParquetTarget::Captions(captions) => (captions, Some(captions)),
    };
    let references = match references.map(|column| (column, object.get(column).and_then(answers))) {
        None => Vec::new(),
        Some((_, Some(references)))
            if !references.is_empty() || !matches!(columns.target, ParquetTarget::Captions(_)) =>
        {
            references
        }
        Some((column, _)) => {
            let reason =
                format!("column {column:?} is not a non-empty list of answers or captions");
            reading.malformed(&origin, reason)?;
            return Ok(Vec::new());
        }
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
    if !matches!(columns.target, ParquetTarget::Captions(_)) {
        record.answers = references;
        return Ok(vec![record]);
    }
    if !train {
        record.label = Some(RawLabel::Text(references[0].clone()));
        record.answers = references;
        return Ok(vec![record]);
    }
    // Training: one example per caption, as the Karpathy layout reads them.
    Ok(references
        .into_iter()
        .enumerate()
        .map(|(k, caption)| Record {
            id: format!("{}-{k}", record.id),
            label: Some(RawLabel::Text(caption)),
            ..record.clone()
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_names_are_recognised_exactly() {
        assert_eq!(
            shard_of("train-00001-of-00002.parquet", "train"),
            Some((1, 2))
        );
        assert_eq!(shard_of("train-00001-of-00002.parquet", "validation"), None);
        assert_eq!(shard_of("train-1-of-2.parquet", "train"), None);
        assert_eq!(shard_of("train-00001-of-00002.json", "train"), None);
        assert_eq!(
            shard_of("validation_matched-00000-of-00001.parquet", "validation"),
            None
        );
    }

    #[test]
    fn a_missing_shard_is_named() {
        let dir = tempfile::tempdir().unwrap();
        for k in [0, 2] {
            std::fs::write(
                dir.path().join(format!("train-{k:05}-of-00003.parquet")),
                b"",
            )
            .unwrap();
        }
        let err = shards(dir.path(), "train").unwrap_err().to_string();
        assert!(
            err.contains("train-00001-of-00003.parquet") && err.contains("3 shards"),
            "{err}"
        );
        std::fs::write(dir.path().join("train-00001-of-00004.parquet"), b"").unwrap();
        let err = shards(dir.path(), "train").unwrap_err().to_string();
        assert!(err.contains("shard of 4"), "{err}");
        assert!(shards(dir.path(), "test").unwrap().is_empty());
    }
}
