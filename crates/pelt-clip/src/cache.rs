//! The feature cache: one safetensors file of patch features, keyed by image path.
//!
//! Format (shared with `pelt-data`, which reads it): one `F32` tensor per image, named by the
//! image path string exactly as given to the encoder, of shape `[patches, hidden]`, the patch
//! grid without the class token (`[49, 768]` for ViT-B/32 at 224 px). No other tensors.

use std::collections::BTreeMap;
use std::path::Path;

use burn::prelude::*;
use safetensors::{Dtype, SafeTensors, tensor::TensorView};

use crate::error::ClipError;

/// Writes `features` (image path, `[patches, hidden]` tensor) to a cache file at `path`.
///
/// Every tensor must have the same shape, and paths must be distinct.
pub fn write_cache(
    path: impl AsRef<Path>,
    features: &[(String, Tensor<2>)],
) -> Result<(), ClipError> {
    let path = path.as_ref();
    let invalid = |reason: String| ClipError::Cache {
        path: path.to_path_buf(),
        reason,
    };
    let mut tensors = Vec::with_capacity(features.len());
    let mut first_shape = None;
    for (name, tensor) in features {
        let shape = tensor.dims().to_vec();
        if *first_shape.get_or_insert_with(|| shape.clone()) != shape {
            return Err(invalid(format!(
                "`{name}` has shape {shape:?}, earlier features {:?}",
                first_shape.unwrap_or_default()
            )));
        }
        let values = tensor
            .to_data()
            .convert::<f32>()
            .try_to_vec::<f32>()
            .map_err(|e| invalid(format!("`{name}`: {e:?}")))?;
        tensors.push((name.clone(), values, shape));
    }
    write_tensors(path, &tensors)
}

/// Reads a cache file written by [`write_cache`] onto `device`, in path order.
pub fn read_cache(
    path: impl AsRef<Path>,
    device: &Device,
) -> Result<BTreeMap<String, Tensor<2>>, ClipError> {
    let path = path.as_ref();
    let invalid = |reason: String| ClipError::Cache {
        path: path.to_path_buf(),
        reason,
    };
    let bytes = std::fs::read(path).map_err(|source| ClipError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let file = SafeTensors::deserialize(&bytes)
        .map_err(|e| invalid(format!("not a safetensors file: {e}")))?;
    let mut features = BTreeMap::new();
    let mut first_shape: Option<Vec<usize>> = None;
    for (name, view) in file.iter() {
        if view.dtype() != Dtype::F32 {
            return Err(invalid(format!(
                "`{name}` is {:?}, expected F32",
                view.dtype()
            )));
        }
        let &[patches, hidden] = view.shape() else {
            return Err(invalid(format!(
                "`{name}` has shape {:?}, expected [patches, hidden]",
                view.shape()
            )));
        };
        if *first_shape.get_or_insert_with(|| view.shape().to_vec()) != view.shape() {
            return Err(invalid(format!(
                "`{name}` has shape {:?}, others {:?}",
                view.shape(),
                first_shape.unwrap_or_default()
            )));
        }
        let values: Vec<f32> = view
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        let data = TensorData::new(values, [patches, hidden]);
        features.insert(name.to_string(), Tensor::from_data(data, device));
    }
    Ok(features)
}

/// Writes named row-major f32 tensors to a safetensors file.
pub(crate) fn write_tensors(
    path: &Path,
    tensors: &[(String, Vec<f32>, Vec<usize>)],
) -> Result<(), ClipError> {
    let invalid = |reason: String| ClipError::Cache {
        path: path.to_path_buf(),
        reason,
    };
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, values, _)| values.iter().flat_map(|v| v.to_le_bytes()).collect())
        .collect();
    let mut views = Vec::with_capacity(tensors.len());
    for ((name, _, shape), data) in tensors.iter().zip(&bytes) {
        let view = TensorView::new(Dtype::F32, shape.clone(), data)
            .map_err(|e| invalid(format!("`{name}`: {e}")))?;
        views.push((name.as_str(), view));
    }
    let mut names: Vec<&str> = views.iter().map(|(n, _)| *n).collect();
    names.sort_unstable();
    if let Some(pair) = names.windows(2).find(|w| w[0] == w[1]) {
        return Err(invalid(format!("`{}` appears twice", pair[0])));
    }
    safetensors::serialize_to_file(views, None, path).map_err(|e| invalid(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn features(device: &Device) -> Vec<(String, Tensor<2>)> {
        ["images/a.jpg", "images/sub dir/b.png", "/abs/c.JPEG"]
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let values: Vec<f32> = (0..12).map(|j| (i * 12 + j) as f32 * 0.25 - 3.0).collect();
                (
                    name.to_string(),
                    Tensor::from_data(TensorData::new(values, [4, 3]), device),
                )
            })
            .collect()
    }

    #[test]
    fn cache_round_trips_exactly_with_paths_as_keys() {
        let device = Device::default();
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("features.safetensors");
        let written = features(&device);
        write_cache(&path, &written).expect("write");
        let read = read_cache(&path, &device).expect("read");
        assert_eq!(read.len(), written.len());
        for (name, tensor) in &written {
            let back = read.get(name).unwrap_or_else(|| panic!("{name} missing"));
            assert_eq!(back.to_data(), tensor.to_data(), "{name}");
        }
        // The on-disk layout is the agreed one: F32, [patches, hidden], keyed by path.
        let bytes = std::fs::read(&path).expect("read back");
        let file = SafeTensors::deserialize(&bytes).expect("safetensors");
        let view = file.tensor("images/sub dir/b.png").expect("keyed by path");
        assert_eq!((view.dtype(), view.shape()), (Dtype::F32, &[4usize, 3][..]));
    }

    #[test]
    fn inconsistent_or_duplicate_features_are_refused() {
        let device = Device::default();
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("bad.safetensors");
        let mut mixed = features(&device);
        mixed.push(("odd.png".into(), Tensor::zeros([5, 3], &device)));
        let error = write_cache(&path, &mixed).expect_err("mixed shapes");
        assert!(error.to_string().contains("odd.png"), "{error}");
        let mut twice = features(&device);
        twice.push(twice[0].clone());
        let error = write_cache(&path, &twice).expect_err("duplicate path");
        assert!(error.to_string().contains("appears twice"), "{error}");
    }

    #[test]
    fn a_file_that_is_not_a_cache_is_refused_with_its_name() {
        let device = Device::default();
        let dir = tempfile::tempdir().expect("temp dir");
        let garbage = dir.path().join("garbage.safetensors");
        std::fs::write(&garbage, b"not a cache").expect("write");
        let error = read_cache(&garbage, &device).expect_err("garbage");
        assert!(error.to_string().contains("garbage.safetensors"), "{error}");
        let rank3 = dir.path().join("rank3.safetensors");
        write_tensors(&rank3, &[("x.png".into(), vec![0.0; 8], vec![2, 2, 2])]).expect("write");
        let error = read_cache(&rank3, &device).expect_err("rank 3");
        assert!(error.to_string().contains("[patches, hidden]"), "{error}");
    }
}
