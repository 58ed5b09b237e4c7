//! Reader of Parquet files as the Hugging Face hub stores a dataset configuration
//! (`nyu-mll/glue`'s `rte/train-00000-of-00001.parquet`): a split is its shards
//! `<split>-NNNNN-of-NNNNN.parquet`, read in order as one file; every row becomes a record
//! exactly as a line of a JSON Lines export of the same data set does (`jsonl::record`), so the
//! two layouts give the same examples (docs/data.md, "Parquet").

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parquet::file::reader::{FileReader, SerializedFileReader};

use crate::error::{DataError, Result};
use crate::layout::ImageField;
use crate::reader::{Reading, jsonl};
use crate::record::{Origin, Record};

/// Shard `k` of `n` of `split`, if `name` is one (`train-00001-of-00002.parquet`).
fn shard_of(name: &str, split: &str) -> Option<(usize, usize)> {
    let rest = name.strip_prefix(split)?.strip_prefix('-')?;
    let rest = rest.strip_suffix(".parquet")?;
    let (k, n) = rest.split_once("-of-")?;
    let digits = |s: &str| s.len() == 5 && s.bytes().all(|b| b.is_ascii_digit());
    (digits(k) && digits(n)).then(|| Some((k.parse().ok()?, n.parse().ok()?)))?
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

/// Reads the shards of `split` into records, rows numbered from 1 within each file.
pub(crate) fn read(
    reading: &mut Reading<'_>,
    split: &str,
    label: &str,
    image: Option<ImageField>,
) -> Result<Vec<Record>> {
    let mut records = Vec::new();
    for path in shards(reading.root, split)? {
        let bad = |reason: String| DataError::Parquet {
            path: path.clone(),
            reason,
        };
        let file = File::open(&path).map_err(|e| DataError::io(&path, e))?;
        let reader = SerializedFileReader::new(file).map_err(|e| bad(e.to_string()))?;
        let rows = reader.get_row_iter(None).map_err(|e| bad(e.to_string()))?;
        let shared: Arc<Path> = Arc::from(path.as_path());
        for (index, row) in rows.enumerate() {
            let row = row.map_err(|e| bad(format!("row {}: {e}", index + 1)))?;
            let origin = Origin {
                path: shared.clone(),
                line: index + 1,
            };
            if let Some(record) = jsonl::record(reading, origin, row.to_json_value(), label, image)?
            {
                records.push(record);
            }
        }
    }
    Ok(records)
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
