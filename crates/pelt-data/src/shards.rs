//! The names of a data set's Parquet shards as the Hugging Face hub stores them: a split is
//! `<split>-NNNNN-of-NNNNN.parquet` (docs/data.md, "Parquet"), read in order as one file.

use std::path::{Path, PathBuf};

use crate::error::{DataError, Result};

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
        return Err(DataError::parquet(
            path,
            format!("shard of {n}, but the first shard of `{split}` says {count}"),
        ));
    }
    // Sorted and all of `count`: complete exactly when shard k is at position k, up to count.
    let missing = (0..count).find(|&k| found.get(k).is_none_or(|(index, _, _)| *index != k));
    if let Some(missing) = missing {
        return Err(DataError::parquet(
            root.join(format!("{split}-{missing:05}-of-{count:05}.parquet")),
            format!(
                "missing: `{split}` has {count} shards and {} of them are here (an incomplete \
                 download?)",
                found.len()
            ),
        ));
    }
    Ok(found.into_iter().map(|(_, _, path)| path).collect())
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
