//! The cache of CLIP patch features: one safetensors file, one f32 tensor per image.
//!
//! The format is `pelt-clip`'s (its `cache.rs` documents it; `write_cache` is its one writer, this
//! is its one reader): each tensor is keyed by the image path exactly as the data set refers to it
//! (relative to the data root, e.g. `train/images/0.png`) and has shape `[patches, hidden]`. The
//! file is read into memory once; lookups copy one image's features.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use safetensors::{Dtype, SafeTensors};

use crate::error::{DataError, Result};

/// In-memory CLIP feature cache.
#[derive(Debug)]
pub struct FeatureCache {
    path: PathBuf,
    data: Vec<u8>,
    /// Image key -> (byte range in `data`, patches).
    index: HashMap<String, (std::ops::Range<usize>, usize)>,
    hidden: usize,
}

impl FeatureCache {
    /// Opens and validates the cache: every tensor must be f32 `[patches, hidden]` with the same
    /// `hidden`.
    pub fn open(path: &Path) -> Result<Self> {
        let data = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
        let bad = |reason: String| DataError::Features {
            path: path.to_path_buf(),
            reason,
        };
        let (header_len, metadata) =
            SafeTensors::read_metadata(&data).map_err(|e| bad(format!("not safetensors: {e}")))?;
        let start = 8 + header_len;
        let mut index = HashMap::new();
        let mut hidden = None;
        for (name, info) in metadata.tensors() {
            if info.dtype != Dtype::F32 || info.shape.len() != 2 {
                return Err(bad(format!(
                    "tensor {name:?} is {:?} {:?}, expected F32 [patches, hidden]",
                    info.dtype, info.shape
                )));
            }
            let h = *hidden.get_or_insert(info.shape[1]);
            if h != info.shape[1] {
                return Err(bad(format!(
                    "tensor {name:?} has hidden size {} not {h}",
                    info.shape[1]
                )));
            }
            let (a, b) = info.data_offsets;
            index.insert(name, (start + a..start + b, info.shape[0]));
        }
        Ok(Self {
            path: path.to_path_buf(),
            data,
            index,
            hidden: hidden.unwrap_or(0),
        })
    }

    /// `H`, the feature size (0 for an empty cache).
    pub fn hidden(&self) -> usize {
        self.hidden
    }

    /// Number of cached images.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Whether the cache holds no image.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Appends the `[patches, hidden]` features of `image` to `out` and returns `patches`.
    /// An image missing from the cache is an error naming it and the example.
    pub fn append(&self, image: &str, example: &str, out: &mut Vec<f32>) -> Result<usize> {
        let (range, patches) = self.index.get(image).ok_or_else(|| DataError::Features {
            path: self.path.clone(),
            reason: format!("no features for image {image:?} of example {example}"),
        })?;
        out.extend(
            self.data[range.clone()]
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        );
        Ok(*patches)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use safetensors::tensor::TensorView;

    /// Writes a cache with `images[i]` holding `patches x hidden` values `i + k / 1000`.
    pub fn write_cache(path: &Path, images: &[&str], patches: usize, hidden: usize) {
        let buffers: Vec<Vec<u8>> = (0..images.len())
            .map(|i| {
                (0..patches * hidden)
                    .flat_map(|k| (i as f32 + k as f32 / 1000.0).to_le_bytes())
                    .collect()
            })
            .collect();
        let views: Vec<(String, TensorView<'_>)> = images
            .iter()
            .zip(&buffers)
            .map(|(name, b)| {
                let view = TensorView::new(Dtype::F32, vec![patches, hidden], b).unwrap();
                ((*name).to_owned(), view)
            })
            .collect();
        safetensors::serialize_to_file(views, None, path).unwrap();
    }

    #[test]
    fn reads_features_by_image_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("clip.safetensors");
        write_cache(&path, &["train/images/0.png", "train/images/1.png"], 3, 2);
        let cache = FeatureCache::open(&path).unwrap();
        assert_eq!((cache.len(), cache.hidden()), (2, 2));
        let mut out = Vec::new();
        assert_eq!(
            cache.append("train/images/1.png", "ex", &mut out).unwrap(),
            3
        );
        assert_eq!(out, vec![1.0, 1.001, 1.002, 1.003, 1.004, 1.005]);
        let err = cache
            .append("missing.png", "q7", &mut out)
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing.png") && err.contains("q7"), "{err}");
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.safetensors");
        std::fs::write(&path, b"\xff\xff\xff\xff\xff\xff\xff\x7fjunk").unwrap();
        assert!(FeatureCache::open(&path).is_err());
    }
}
