//! The strict loader refuses checkpoints that do not match the configuration, naming the
//! tensor and both shapes.

#![allow(clippy::unwrap_used)] // a test that cannot load its fixtures should stop there

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use burn::prelude::*;
use common::fixture;
use pelt_t5::{T5Error, T5Model};
use safetensors::{Dtype, SafeTensors, tensor::TensorView};

/// Copies the v1_1 fixture to a fresh directory, passing its tensors through `edit`.
fn edited_checkpoint(
    tag: &str,
    edit: impl FnOnce(&mut HashMap<String, (Vec<usize>, Vec<u8>)>),
) -> PathBuf {
    converted_checkpoint("v1_1", tag, Dtype::F32, edit)
}

/// Copies fixture `source` like [`edited_checkpoint`], writing tensors as `dtype` (the edit
/// converts the bytes).
fn converted_checkpoint(
    source: &str,
    tag: &str,
    dtype: Dtype,
    edit: impl FnOnce(&mut HashMap<String, (Vec<usize>, Vec<u8>)>),
) -> PathBuf {
    let source = fixture(source);
    let dir = std::env::temp_dir().join(format!("pelt-t5-strict-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(source.join("config.json"), dir.join("config.json")).unwrap();
    let bytes = std::fs::read(source.join("model.safetensors")).unwrap();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let mut tensors: HashMap<String, (Vec<usize>, Vec<u8>)> = file
        .tensors()
        .into_iter()
        .map(|(name, view)| (name, (view.shape().to_vec(), view.data().to_vec())))
        .collect();
    edit(&mut tensors);
    let views: Vec<(String, TensorView)> = tensors
        .iter()
        .map(|(name, (shape, data))| {
            (
                name.clone(),
                TensorView::new(dtype, shape.clone(), data).unwrap(),
            )
        })
        .collect();
    safetensors::serialize_to_file(views, None, &dir.join("model.safetensors")).unwrap();
    dir
}

fn load_error(dir: &Path) -> String {
    let err = T5Model::load(dir, &Device::default()).unwrap_err();
    assert!(matches!(err, T5Error::Weights(_)), "{err}");
    std::fs::remove_dir_all(dir).unwrap();
    err.to_string()
}

const NAME: &str = "decoder.block.2.layer.1.EncDecAttention.k.weight";

#[test]
fn a_missing_tensor_is_named_with_its_shape() {
    let dir = edited_checkpoint("missing", |t| {
        t.remove(NAME).unwrap();
    });
    let err = load_error(&dir);
    assert!(err.contains(&format!("missing tensor `{NAME}`")), "{err}");
    assert!(err.contains("[48, 32]"), "{err}");
}

#[test]
fn an_extra_tensor_is_named() {
    let dir = edited_checkpoint("extra", |t| {
        t.insert(
            "encoder.block.9.layer.0.layer_norm.weight".into(),
            (vec![2], vec![0; 8]),
        );
    });
    let err = load_error(&dir);
    assert!(
        err.contains("unexpected tensor `encoder.block.9.layer.0.layer_norm.weight`"),
        "{err}"
    );
}

#[test]
fn a_wrong_shape_names_both_shapes() {
    let dir = edited_checkpoint("shape", |t| {
        let entry = t.get_mut(NAME).unwrap();
        entry.0 = vec![32, 48];
    });
    let err = load_error(&dir);
    assert!(err.contains(NAME), "{err}");
    assert!(
        err.contains("[32, 48]") && err.contains("[48, 32]"),
        "{err}"
    );
}

#[test]
fn nan_weights_are_refused() {
    let dir = edited_checkpoint("nan", |t| {
        let entry = t.get_mut(NAME).unwrap();
        entry.1[0..4].copy_from_slice(&f32::NAN.to_le_bytes());
    });
    let err = load_error(&dir);
    assert!(err.contains(NAME) && err.contains("non-finite"), "{err}");
}

#[test]
fn a_directory_without_a_checkpoint_says_what_it_looked_for() {
    let dir = std::env::temp_dir().join(format!("pelt-t5-empty-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(fixture("v1_0").join("config.json"), dir.join("config.json")).unwrap();
    let err = load_error(&dir);
    assert!(err.contains("model.safetensors"), "{err}");
}

#[test]
fn a_truncated_safetensors_file_is_refused_with_its_path() {
    let dir = std::env::temp_dir().join(format!("pelt-t5-trunc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(fixture("v1_0").join("config.json"), dir.join("config.json")).unwrap();
    let bytes = std::fs::read(fixture("v1_0").join("model.safetensors")).unwrap();
    std::fs::write(dir.join("model.safetensors"), &bytes[..bytes.len() / 2]).unwrap();
    let err = load_error(&dir);
    assert!(err.contains("model.safetensors"), "{err}");
}

#[test]
fn f16_and_bf16_checkpoints_load_as_their_exact_f32_values() {
    let device = Device::default();
    let reference = T5Model::load(fixture("v1_1"), &device).unwrap();
    let shared: Vec<f32> = reference
        .shared
        .val()
        .into_data()
        .try_into_vec_as::<f32>()
        .unwrap();
    type Round = fn(f32) -> [u8; 2];
    type Back = fn([u8; 2]) -> f32;
    let cases: [(Dtype, &str, Round, Back); 2] = [
        (
            Dtype::F16,
            "f16",
            |x| half::f16::from_f32(x).to_le_bytes(),
            |b| half::f16::from_le_bytes(b).to_f32(),
        ),
        (
            Dtype::BF16,
            "bf16",
            |x| half::bf16::from_f32(x).to_le_bytes(),
            |b| half::bf16::from_le_bytes(b).to_f32(),
        ),
    ];
    for (dtype, tag, round, back) in cases {
        let dir = converted_checkpoint("v1_1", tag, dtype, |tensors| {
            for (_, bytes) in tensors.values_mut() {
                *bytes = bytes
                    .chunks_exact(4)
                    .flat_map(|c| round(f32::from_le_bytes([c[0], c[1], c[2], c[3]])))
                    .collect();
            }
        });
        let model = T5Model::load(&dir, &device).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        let loaded: Vec<f32> = model
            .shared
            .val()
            .into_data()
            .try_into_vec_as::<f32>()
            .unwrap();
        let expected: Vec<f32> = shared.iter().map(|&x| back(round(x))).collect();
        assert_eq!(loaded, expected, "{tag}");
    }
}

#[test]
fn a_config_whose_d_model_disagrees_with_the_weights_names_the_tensors_and_shapes() {
    let dir = edited_checkpoint("d-model", |_| {});
    let config = std::fs::read_to_string(dir.join("config.json")).unwrap();
    let config = config.replace("\"d_model\": 32", "\"d_model\": 40");
    std::fs::write(dir.join("config.json"), config).unwrap();
    let err = load_error(&dir);
    // The embedding is [vocab, d_model]: 96 x 32 in the file, 96 x 40 by the configuration.
    assert!(err.contains("shared.weight"), "{err}");
    assert!(
        err.contains("[96, 32]") && err.contains("[96, 40]"),
        "{err}"
    );
}

#[test]
fn a_directory_where_config_json_belongs_is_an_error_naming_it() {
    let dir = std::env::temp_dir().join(format!("pelt-t5-config-dir-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("config.json")).unwrap();
    let err = T5Model::load(&dir, &Device::default())
        .unwrap_err()
        .to_string();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(err.contains("config.json"), "{err}");
}

#[test]
fn a_tied_config_with_a_different_lm_head_names_the_tensor() {
    // An exact copy of the shared embedding (as some exports write) loads.
    let dir = converted_checkpoint("v1_0", "tied-copy", Dtype::F32, |t| {
        let shared = t["shared.weight"].clone();
        t.insert("lm_head.weight".into(), shared);
    });
    T5Model::load(&dir, &Device::default()).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    // Other values mean the file was trained untied.
    let dir = converted_checkpoint("v1_0", "tied-other", Dtype::F32, |t| {
        let (shape, mut data) = t["shared.weight"].clone();
        data[0] ^= 0x01;
        t.insert("lm_head.weight".into(), (shape, data));
    });
    let err = T5Model::load(&dir, &Device::default()).unwrap_err();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(matches!(err, T5Error::TiedHeadDiffers { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("`lm_head.weight`") && text.contains("model.safetensors"),
        "{text}"
    );
}

#[test]
fn a_config_of_another_model_type_is_refused_by_name() {
    let dir = edited_checkpoint("model-type", |_| {});
    let config = std::fs::read_to_string(dir.join("config.json")).unwrap();
    let config = config.replacen("\"model_type\": \"t5\"", "\"model_type\": \"bart\"", 1);
    assert!(
        config.contains("bart"),
        "fixture config without model_type: {config}"
    );
    std::fs::write(dir.join("config.json"), config).unwrap();
    let err = T5Model::load(&dir, &Device::default()).unwrap_err();
    std::fs::remove_dir_all(&dir).unwrap();
    let text = err.to_string();
    assert!(
        text.contains("model_type") && text.contains("bart") && text.contains("config.json"),
        "{text}"
    );
}
