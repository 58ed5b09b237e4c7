//! The feature cache: one safetensors file of patch features, keyed by image path.
//!
//! Format: one `F32` tensor per image, named by the image path string exactly as given to the
//! encoder, of shape `[patches, hidden]`, the patch grid without the class token (`[49, 768]`
//! for ViT-B/32 at 224 px). No other tensors. [`write_cache`] is its one writer;
//! `pelt_data::FeatureCache` (which the training loop batches from) its one reader.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use burn::prelude::*;
use pelt_weights::{NamedTensor, write_safetensors};

use crate::error::ClipError;

/// Writes `features` (image path, `[patches, hidden]` tensor) to a cache file at `path`,
/// atomically (a crash leaves the old file or the new one).
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
    let mut names = BTreeSet::new();
    let mut first_shape = None;
    for (name, tensor) in features {
        let shape = tensor.dims().to_vec();
        if *first_shape.get_or_insert_with(|| shape.clone()) != shape {
            return Err(invalid(format!(
                "`{name}` has shape {shape:?}, earlier features {:?}",
                first_shape.unwrap_or_default()
            )));
        }
        if !names.insert(name.as_str()) {
            return Err(invalid(format!("`{name}` appears twice")));
        }
        let values = tensor
            .to_data()
            .convert::<f32>()
            .try_to_vec::<f32>()
            .map_err(|e| invalid(format!("`{name}`: {e:?}")))?;
        tensors.push(NamedTensor {
            name: name.clone(),
            shape,
            values,
        });
    }
    Ok(write_safetensors(path, &tensors, &BTreeMap::new())?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use safetensors::{Dtype, SafeTensors};

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
    fn cache_round_trips_exactly_through_its_reader_with_paths_as_keys() {
        let device = Device::default();
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("features.safetensors");
        let written = features(&device);
        write_cache(&path, &written).expect("write");
        let read = pelt_data::FeatureCache::open(&path).expect("read");
        assert_eq!((read.len(), read.hidden()), (written.len(), 3));
        for (name, tensor) in &written {
            let mut back = Vec::new();
            let patches = read.append(name, "test", &mut back).expect(name);
            assert_eq!(patches, 4);
            assert_eq!(
                back,
                tensor.to_data().try_to_vec::<f32>().expect("f32"),
                "{name}"
            );
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
        assert!(!path.exists(), "nothing written on error");
    }
}
