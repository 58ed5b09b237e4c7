//! Parity with transformers' `CLIPModel` / `CLIPVisionModel` on tiny random checkpoints.

mod common;

use burn::prelude::*;
use common::{fixture, read_safetensor};
use pelt_clip::{ClipVisionOutput, load_vision_model};

/// Largest accepted relative error, `max |rust - torch| / max |torch|`, in float32.
///
/// The reference is computed in float64 from the same float32 weights and inputs, so this
/// measures the Rust side's float32 rounding alone (about 1e-6 relative through these 2-3
/// layers); 1e-4 leaves room for other backends' reduction orders (wgpu) while any real
/// mistake (a wrong epsilon, activation, scaling or transposition) moves outputs by 1e-3 or more.
const PARITY_REL_TOL: f64 = 1e-4;

/// Relative error of `got` against the reference tensor `name` of `expected.safetensors`.
fn relative_error<const D: usize>(dir: &str, name: &str, got: Tensor<D>) -> f64 {
    let (shape, expected) = read_safetensor(&fixture(dir).join("expected.safetensors"), name);
    assert_eq!(got.dims().to_vec(), shape, "{dir} {name} shape");
    let got: Vec<f32> = got.into_data().try_to_vec().expect("f32 data");
    let scale = expected
        .iter()
        .fold(0.0f64, |m, v| m.max(f64::from(v.abs())));
    let diff = got
        .iter()
        .zip(&expected)
        .fold(0.0f64, |m, (a, b)| m.max(f64::from(a - b).abs()));
    diff / scale
}

fn run(dir: &str, checkpoint: &str) -> ClipVisionOutput {
    let device = Device::default();
    let (config, model) =
        load_vision_model(fixture(dir).join(checkpoint), &device).expect("strict load");
    let (shape, pixels) =
        read_safetensor(&fixture(dir).join("expected.safetensors"), "pixel_values");
    let &[batch, channels, height, width] = &shape[..] else {
        panic!("pixel_values shape {shape:?}")
    };
    assert_eq!((channels, height), (config.num_channels, config.image_size));
    let pixels = Tensor::from_data(
        TensorData::new(pixels, [batch, channels, height, width]),
        &device,
    );
    model.forward(pixels)
}

fn check(dir: &str, checkpoint: &str) {
    let out = run(dir, checkpoint);
    let [batch, seq, hidden] = out.last_hidden_state.dims();
    let mut errors = vec![
        (
            "last_hidden_state",
            relative_error(dir, "last_hidden_state", out.last_hidden_state.clone()),
        ),
        (
            "pooler_output",
            relative_error(dir, "pooler_output", out.pooler_output.clone()),
        ),
    ];
    assert_eq!(out.patches().dims(), [batch, seq - 1, hidden]);
    if let Some(embeds) = out.image_embeds.clone() {
        errors.push(("image_embeds", relative_error(dir, "image_embeds", embeds)));
    }
    for (name, error) in errors {
        println!("{dir}/{checkpoint} {name}: relative error {error:.3e}");
        assert!(
            error < PARITY_REL_TOL,
            "{dir}/{checkpoint} {name}: {error:.3e}"
        );
    }
}

#[test]
fn clip_model_quick_gelu_safetensors_matches_transformers() {
    check("clip_model_quick", "model.safetensors");
    let out = run("clip_model_quick", "model.safetensors");
    assert_eq!(out.image_embeds.map(|e| e.dims()), Some([3, 24]));
}

#[test]
fn clip_vision_gelu_safetensors_matches_transformers() {
    check("clip_vision_gelu", "model.safetensors");
    let out = run("clip_vision_gelu", "model.safetensors");
    assert!(out.image_embeds.is_none());
    // image 30, patch 10: a 3×3 grid.
    assert_eq!(out.patches().dims(), [3, 9, 40]);
}

#[test]
fn clip_vision_gelu_pytorch_bin_with_position_ids_buffer_matches_transformers() {
    check("clip_vision_gelu", "pytorch_model.bin");
}

#[test]
fn patch_grid_is_the_hidden_state_after_the_class_token() {
    let out = run("clip_model_quick", "model.safetensors");
    let (_, expected) = read_safetensor(
        &fixture("clip_model_quick").join("expected.safetensors"),
        "last_hidden_state",
    );
    let hidden = 32;
    let got: Vec<f32> = out.patches().into_data().try_to_vec().expect("f32 data");
    // Image 1, patch 0 is row 1 of image 1's 17 tokens.
    let start = (17 + 1) * hidden;
    let reference = &expected[start..start + hidden];
    let ours = &got[16 * hidden..17 * hidden];
    for (a, b) in ours.iter().zip(reference) {
        assert!((a - b).abs() < 1e-4 * b.abs().max(1.0), "{a} vs {b}");
    }
}
