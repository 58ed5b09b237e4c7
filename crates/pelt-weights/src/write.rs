//! Writing f32 tensors to a safetensors file, atomically.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::Write;
use std::path::Path;

use crate::error::WeightsError;

/// One tensor to write: name, shape and row-major values.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedTensor {
    /// Name in the file.
    pub name: String,
    /// Shape; its product is `values.len()`.
    pub shape: Vec<usize>,
    /// Row-major values.
    pub values: Vec<f32>,
}

/// Writes `tensors` (f32) and the `__metadata__` strings `metadata` to `path` as safetensors.
///
/// The file is written beside its destination under a temporary name, flushed to disk and
/// renamed over `path`, so a crash or a full disk leaves either the old file or the new one,
/// never a half-written one.
pub fn write_safetensors(
    path: impl AsRef<Path>,
    tensors: &[NamedTensor],
    metadata: &BTreeMap<String, String>,
) -> Result<(), WeightsError> {
    let path = path.as_ref();
    let format = |reason: String| WeightsError::Format {
        path: path.to_path_buf(),
        reason,
    };
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .iter()
        .map(|t| {
            if t.shape.iter().product::<usize>() != t.values.len() {
                return Err(format(format!(
                    "tensor `{}` has {} values but shape {:?}",
                    t.name,
                    t.values.len(),
                    t.shape
                )));
            }
            let data = t.values.iter().flat_map(|v| v.to_le_bytes()).collect();
            Ok((t.name.clone(), t.shape.clone(), data))
        })
        .collect::<Result<_, _>>()?;
    let views = bytes
        .iter()
        .map(|(name, shape, data)| {
            safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), data)
                .map(|view| (name.clone(), view))
                .map_err(|e| format(format!("tensor `{name}`: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let metadata: HashMap<String, String> = metadata.clone().into_iter().collect();
    let buffer = safetensors::serialize(views, Some(metadata))
        .map_err(|e| format(format!("cannot serialise: {e}")))?;
    write_atomically(path, &buffer)
}

/// Writes `bytes` to `path` through a flushed temporary file and a rename.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), WeightsError> {
    let io = |source: std::io::Error| WeightsError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file_name = path
        .file_name()
        .ok_or_else(|| WeightsError::Format {
            path: path.to_path_buf(),
            reason: "not a file path".into(),
        })?
        .to_string_lossy();
    let temporary = path.with_file_name(format!(".{file_name}.tmp"));
    let result = (|| {
        let mut file = fs::File::create(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&temporary, path)
    })();
    if result.is_err() {
        // Best effort: the temporary file is garbage either way.
        let _ = fs::remove_file(&temporary);
    }
    result.map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Checkpoint;

    #[test]
    fn written_tensors_and_metadata_read_back_exactly() {
        let dir = std::env::temp_dir().join(format!("pelt-weights-write-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("state.safetensors");
        let tensors = vec![NamedTensor {
            name: "a.weight".into(),
            shape: vec![2, 3],
            values: vec![1.0, -2.5, 3.25, f32::MIN_POSITIVE, 0.1, 7.0],
        }];
        let metadata = BTreeMap::from([("pelt".to_string(), "{\"x\":1}".to_string())]);
        write_safetensors(&path, &tensors, &metadata).unwrap();
        let checkpoint = Checkpoint::open(&path).unwrap();
        assert_eq!(checkpoint.read_f32("a.weight").unwrap(), tensors[0].values);
        assert_eq!(checkpoint.meta("a.weight").unwrap().shape, vec![2, 3]);
        assert_eq!(checkpoint.metadata(), &metadata);
        assert!(!dir.join(".state.safetensors.tmp").exists());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_shape_that_does_not_match_the_values_is_refused() {
        let tensors = vec![NamedTensor {
            name: "bad".into(),
            shape: vec![4],
            values: vec![1.0],
        }];
        let err = write_safetensors("/nonexistent/x.safetensors", &tensors, &BTreeMap::new())
            .unwrap_err()
            .to_string();
        assert!(err.contains("`bad` has 1 values but shape [4]"), "{err}");
    }
}
