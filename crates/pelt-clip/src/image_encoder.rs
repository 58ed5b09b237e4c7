//! `ImageEncoder`: batch encoding of image files into patch features, and the feature cache.

use std::path::Path;

use burn::prelude::*;

use crate::cache::write_cache;
use crate::error::ClipError;
use crate::model::ClipVisionModel;
use crate::preprocess::{ClipImageProcessor, EncodedImage};

/// A frozen CLIP vision model with its image processor, encoding image files in batches.
#[derive(Debug)]
pub struct ImageEncoder {
    /// The vision tower.
    pub model: ClipVisionModel,
    /// Preprocessing matching the model's input size.
    pub processor: ClipImageProcessor,
    device: Device,
}

impl ImageEncoder {
    /// An encoder with CLIP's processor at the model's image size, running on `device`
    /// (where the model's weights live).
    pub fn new(model: ClipVisionModel, device: &Device) -> Self {
        let processor = ClipImageProcessor::new(model.image_size());
        Self {
            model,
            processor,
            device: device.clone(),
        }
    }

    /// Encodes image files `batch_size` at a time (decoding and preprocessing each batch in
    /// parallel): one `[patches, hidden]` patch grid per file, in order. A file that cannot
    /// be read stops encoding with an error naming it.
    pub fn encode_files<P: AsRef<Path> + Sync>(
        &self,
        paths: &[P],
        batch_size: usize,
    ) -> Result<Vec<Tensor<2>>, ClipError> {
        self.encode_batches(paths, batch_size, |chunk| {
            self.processor.preprocess_files(chunk, &self.device)
        })
    }

    /// [`Self::encode_files`] for images held in memory (stored in Parquet files): the same
    /// decoding and preprocessing, so the same bytes give the same features.
    pub fn encode_encoded(
        &self,
        images: &[EncodedImage],
        batch_size: usize,
    ) -> Result<Vec<Tensor<2>>, ClipError> {
        self.encode_batches(images, batch_size, |chunk| {
            self.processor.preprocess_encoded(chunk, &self.device)
        })
    }

    fn encode_batches<T>(
        &self,
        items: &[T],
        batch_size: usize,
        pixels: impl Fn(&[T]) -> Result<Tensor<4>, ClipError>,
    ) -> Result<Vec<Tensor<2>>, ClipError> {
        let mut features = Vec::with_capacity(items.len());
        for chunk in items.chunks(batch_size.max(1)) {
            // [batch, patches, hidden]
            let patches = self.model.forward(pixels(chunk)?).patches();
            let [batch, num_patches, hidden] = patches.dims();
            for i in 0..batch {
                features.push(
                    patches
                        .clone()
                        .slice([i..i + 1, 0..num_patches, 0..hidden])
                        .reshape([num_patches, hidden]),
                );
            }
        }
        Ok(features)
    }

    /// Encodes `paths` (`batch_size` images at a time) and writes their patch grids to the
    /// feature cache file `cache`, keyed by each path string exactly as given (see
    /// [`crate::cache`] for the format).
    pub fn write_feature_cache(
        &self,
        paths: &[String],
        cache: impl AsRef<Path>,
        batch_size: usize,
    ) -> Result<(), ClipError> {
        let features = self.encode_files(paths, batch_size)?;
        let named: Vec<(String, Tensor<2>)> = paths.iter().cloned().zip(features).collect();
        write_cache(cache, &named)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ClipVisionConfig;

    fn tiny_encoder(device: &Device) -> ImageEncoder {
        let config = ClipVisionConfig::tiny();
        ImageEncoder::new(config.init(device), device)
    }

    fn write_images(dir: &Path) -> Vec<String> {
        (0..3)
            .map(|i| {
                let path = dir.join(format!("img{i}.png"));
                image::RgbImage::from_fn(20 + i * 7, 18, |x, y| {
                    image::Rgb([(x * 9 + i * 40) as u8, (y * 13) as u8, 128])
                })
                .save(&path)
                .expect("write png");
                path.to_string_lossy().into_owned()
            })
            .collect()
    }

    #[test]
    fn batching_does_not_change_features_and_cache_matches() {
        let device = Device::default();
        let dir = tempfile::tempdir().expect("temp dir");
        let paths = write_images(dir.path());
        let encoder = tiny_encoder(&device);
        let one_by_one = encoder.encode_files(&paths, 1).expect("encode");
        let together = encoder.encode_files(&paths, 8).expect("encode");
        assert_eq!(one_by_one.len(), 3);
        for (a, b) in one_by_one.iter().zip(&together) {
            assert_eq!(a.dims(), [4, 8]);
            let diff: f32 = (a.clone() - b.clone()).abs().max().into_scalar();
            assert!(diff < 1e-5, "{diff}");
        }
        let cache = dir.path().join("features.safetensors");
        encoder
            .write_feature_cache(&paths, &cache, 2)
            .expect("write cache");
        let read = pelt_data::FeatureCache::open(&cache).expect("read cache");
        for (path, expected) in paths.iter().zip(&together) {
            let mut back = Vec::new();
            read.append(path, "test", &mut back).expect("cached");
            let expected = expected.to_data().try_to_vec::<f32>().expect("f32");
            let diff = back
                .iter()
                .zip(&expected)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f32::max);
            assert!(diff < 1e-5, "{path}: {diff}");
        }
    }

    #[test]
    fn bytes_in_memory_encode_as_the_same_file_does() {
        let device = Device::default();
        let dir = tempfile::tempdir().expect("temp dir");
        let paths = write_images(dir.path());
        let encoder = tiny_encoder(&device);
        let from_files = encoder.encode_files(&paths, 2).expect("encode files");
        let images: Vec<EncodedImage> = paths
            .iter()
            .map(|p| EncodedImage {
                name: format!("{p}#in memory").into(),
                bytes: std::fs::read(p).expect("read"),
            })
            .collect();
        let from_bytes = encoder.encode_encoded(&images, 2).expect("encode bytes");
        for (a, b) in from_files.iter().zip(&from_bytes) {
            assert_eq!(a.to_data(), b.to_data());
        }
        let broken = EncodedImage {
            name: "train-00000-of-00001.parquet#row 3".into(),
            bytes: b"\x89PNG\r\n\x1a\nnot really".to_vec(),
        };
        let error = encoder
            .encode_encoded(&[broken], 1)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("train-00000-of-00001.parquet#row 3"),
            "{error}"
        );
    }

    #[test]
    fn a_bad_file_in_a_batch_is_named() {
        let device = Device::default();
        let dir = tempfile::tempdir().expect("temp dir");
        let mut paths = write_images(dir.path());
        let broken = dir.path().join("broken.png");
        std::fs::write(&broken, b"\x89PNG\r\n\x1a\nnot really").expect("write");
        paths.insert(1, broken.to_string_lossy().into_owned());
        let error = tiny_encoder(&device)
            .encode_files(&paths, 4)
            .expect_err("broken file");
        assert!(error.to_string().contains("broken.png"), "{error}");
    }
}
