//! float16 and bfloat16 checkpoints load as the exact float32 values of their numbers: the
//! vision tower loaded from a half-precision file gives bit-for-bit the output of the same
//! tower loaded from a float32 file holding the rounded values.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};

use burn::prelude::*;
use common::{fixture, read_safetensor};
use pelt_clip::load_vision_model;
use safetensors::{Dtype, SafeTensors, tensor::TensorView};

/// Writes the fixture's tensors, each value mapped by `convert` to bytes of `dtype`.
fn write_converted(dir: &Path, dtype: Dtype, convert: &dyn Fn(f32) -> Vec<u8>) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let source = fixture("clip_vision_gelu");
    std::fs::copy(source.join("config.json"), dir.join("config.json")).unwrap();
    let bytes = std::fs::read(source.join("model.safetensors")).unwrap();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let tensors: Vec<(String, Vec<usize>, Vec<u8>)> = file
        .tensors()
        .into_iter()
        .map(|(name, view)| {
            let data = view
                .data()
                .chunks_exact(4)
                .flat_map(|c| convert(f32::from_le_bytes([c[0], c[1], c[2], c[3]])))
                .collect();
            (name, view.shape().to_vec(), data)
        })
        .collect();
    let views: Vec<(String, TensorView)> = tensors
        .iter()
        .map(|(n, s, d)| (n.clone(), TensorView::new(dtype, s.clone(), d).unwrap()))
        .collect();
    let path = dir.join("model.safetensors");
    safetensors::serialize_to_file(views, None, &path).unwrap();
    path
}

fn hidden_state(checkpoint: &Path) -> Vec<f32> {
    let device = Device::default();
    let (_, model) = load_vision_model(checkpoint, &device).unwrap();
    let expected = fixture("clip_vision_gelu").join("expected.safetensors");
    let (shape, pixels) = read_safetensor(&expected, "pixel_values");
    let pixels = Tensor::<4>::from_data(
        TensorData::new(pixels, [shape[0], shape[1], shape[2], shape[3]]),
        &device,
    );
    model
        .forward(pixels)
        .last_hidden_state
        .into_data()
        .try_to_vec()
        .unwrap()
}

#[test]
fn half_precision_checkpoints_load_as_their_exact_f32_values() {
    let root = std::env::temp_dir().join(format!("pelt-clip-half-{}", std::process::id()));
    type Round = fn(f32) -> f32;
    let cases: [(Dtype, &str, Round); 2] = [
        (Dtype::F16, "f16", |x| half::f16::from_f32(x).to_f32()),
        (Dtype::BF16, "bf16", |x| half::bf16::from_f32(x).to_f32()),
    ];
    for (dtype, tag, round) in cases {
        let half_file = write_converted(&root.join(tag), dtype, &|x| match dtype {
            Dtype::F16 => half::f16::from_f32(x).to_le_bytes().to_vec(),
            _ => half::bf16::from_f32(x).to_le_bytes().to_vec(),
        });
        let rounded = write_converted(&root.join(format!("{tag}-as-f32")), Dtype::F32, &|x| {
            round(x).to_le_bytes().to_vec()
        });
        let (a, b) = (hidden_state(&half_file), hidden_state(&rounded));
        assert!(
            a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()),
            "{tag}: the half-precision checkpoint does not load as its f32 values"
        );
        // And rounding changed the weights, so the comparison is not vacuous.
        let original = hidden_state(&fixture("clip_vision_gelu").join("model.safetensors"));
        assert_ne!(a, original, "{tag}: rounding changed nothing");
    }
    std::fs::remove_dir_all(&root).unwrap();
}
