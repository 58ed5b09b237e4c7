//! Strict loading of Hugging Face CLIP checkpoints: the one table of tensor names.

use std::path::Path;

use burn::module::Param;
use burn::nn::conv::Conv2dConfig;
use burn::nn::{LayerNorm, LayerNormConfig, Linear};
use burn::prelude::*;
use pelt_weights::{Checkpoint, StrictLoader};

use crate::attention::ClipAttention;
use crate::config::ClipVisionConfig;
use crate::embeddings::ClipVisionEmbeddings;
use crate::encoder::{ClipEncoder, ClipEncoderLayer, ClipMlp};
use crate::error::ClipError;
use crate::model::ClipVisionModel;

/// Tensors of a `CLIPModel` checkpoint that belong to the text tower or the contrastive
/// head. They are declared known-and-unused by name, so strictness still catches anything
/// else the vision model has no place for.
const IGNORED_PREFIXES: [&str; 3] = ["text_model.", "text_projection.", "logit_scale"];

/// A non-persistent buffer that checkpoints from older transformers versions still carry.
const BUFFER_ALIASES: [&str; 1] = ["vision_model.embeddings.position_ids"];

/// Loads `config.json` and the checkpoint of a model directory (or of a checkpoint file, with
/// `config.json` beside it): a `CLIPModel`, `CLIPVisionModel` or
/// `CLIPVisionModelWithProjection`, in safetensors (single or sharded) or `pytorch_model.bin`.
pub fn load_vision_model(
    path: impl AsRef<Path>,
    device: &Device,
) -> Result<(ClipVisionConfig, ClipVisionModel), ClipError> {
    let path = path.as_ref();
    // A path that does not exist is named as given, not as the `config.json` derived from it.
    std::fs::metadata(path).map_err(|source| ClipError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let dir = if path.is_dir() {
        path
    } else {
        path.parent().unwrap_or(Path::new("."))
    };
    let config = ClipVisionConfig::from_hf_file(dir.join("config.json"))?;
    let checkpoint = Checkpoint::open(path)?;
    let model = load_weights(&config, &checkpoint, device)?;
    Ok((config, model))
}

/// Builds the model of `config` from `checkpoint`, strictly: every tensor the model needs
/// with its exact shape, and nothing unused except the ignored text tower and known buffers.
/// All problems are reported at once.
pub fn load_weights(
    config: &ClipVisionConfig,
    checkpoint: &Checkpoint,
    device: &Device,
) -> Result<ClipVisionModel, ClipError> {
    let mut loader = StrictLoader::new(checkpoint, device);
    for meta in checkpoint.tensors() {
        if IGNORED_PREFIXES.iter().any(|p| meta.name.starts_with(p)) {
            loader.alias(&meta.name);
        }
    }
    for name in BUFFER_ALIASES {
        loader.alias(name);
    }
    let model = take_model(&mut loader, config);
    loader.finish()?;
    Ok(model)
}

/// The key mapping: every Hugging Face name and the shape it must have.
fn take_model(loader: &mut StrictLoader<'_>, config: &ClipVisionConfig) -> ClipVisionModel {
    let hidden = config.hidden_size;
    let (channels, patch) = (config.num_channels, config.patch_size);
    let device = loader.device().clone();
    let v = "vision_model";

    let mut patch_embedding = Conv2dConfig::new([channels, hidden], [patch, patch])
        .with_stride([patch, patch])
        .with_bias(false)
        .init(&device);
    patch_embedding.weight = Param::from_tensor(loader.take(
        &format!("{v}.embeddings.patch_embedding.weight"),
        [hidden, channels, patch, patch],
    ));
    let embeddings = ClipVisionEmbeddings {
        patch_embedding,
        class_embedding: Param::from_tensor(
            loader.take(&format!("{v}.embeddings.class_embedding"), [hidden]),
        ),
        position_embedding: Param::from_tensor(loader.take(
            &format!("{v}.embeddings.position_embedding.weight"),
            [config.num_patches() + 1, hidden],
        )),
        image_size: config.image_size,
    };

    let layers = (0..config.num_hidden_layers)
        .map(|i| {
            let l = format!("{v}.encoder.layers.{i}");
            let inter = config.intermediate_size;
            ClipEncoderLayer {
                self_attn: ClipAttention {
                    q_proj: take_linear(loader, &format!("{l}.self_attn.q_proj"), hidden, hidden),
                    k_proj: take_linear(loader, &format!("{l}.self_attn.k_proj"), hidden, hidden),
                    v_proj: take_linear(loader, &format!("{l}.self_attn.v_proj"), hidden, hidden),
                    out_proj: take_linear(
                        loader,
                        &format!("{l}.self_attn.out_proj"),
                        hidden,
                        hidden,
                    ),
                    num_heads: config.num_attention_heads,
                },
                layer_norm1: take_norm(loader, &format!("{l}.layer_norm1"), config),
                mlp: ClipMlp {
                    fc1: take_linear(loader, &format!("{l}.mlp.fc1"), hidden, inter),
                    fc2: take_linear(loader, &format!("{l}.mlp.fc2"), inter, hidden),
                    activation: config.hidden_act,
                },
                layer_norm2: take_norm(loader, &format!("{l}.layer_norm2"), config),
            }
        })
        .collect();

    let visual_projection = config.with_projection.then(|| {
        let weight: Tensor<2> =
            loader.take("visual_projection.weight", [config.projection_dim, hidden]);
        Linear {
            weight: Param::from_tensor(transposed(weight)),
            bias: None,
        }
    });

    ClipVisionModel {
        embeddings,
        pre_layrnorm: take_norm(loader, &format!("{v}.pre_layrnorm"), config),
        encoder: ClipEncoder { layers },
        post_layernorm: take_norm(loader, &format!("{v}.post_layernorm"), config),
        visual_projection,
    }
}

/// `{name}.weight` (`[d_out, d_in]`, PyTorch's layout, transposed for Burn) and `{name}.bias`.
fn take_linear(loader: &mut StrictLoader<'_>, name: &str, d_in: usize, d_out: usize) -> Linear {
    let weight: Tensor<2> = loader.take(&format!("{name}.weight"), [d_out, d_in]);
    Linear {
        weight: Param::from_tensor(transposed(weight)),
        bias: Some(Param::from_tensor(
            loader.take(&format!("{name}.bias"), [d_out]),
        )),
    }
}

/// `weight` transposed into a contiguous tensor: PyTorch stores `[d_out, d_in]`, Burn's
/// `Linear` multiplies by `[d_in, d_out]`; copying once at load time keeps every forward's
/// matrix product on a contiguous operand.
fn transposed(weight: Tensor<2>) -> Tensor<2> {
    let device = weight.device();
    Tensor::from_data(weight.transpose().into_data(), &device)
}

/// `{name}.weight` and `{name}.bias` of a layer norm with the configured epsilon.
fn take_norm(loader: &mut StrictLoader<'_>, name: &str, config: &ClipVisionConfig) -> LayerNorm {
    let hidden = config.hidden_size;
    let mut norm = LayerNormConfig::new(hidden)
        .with_epsilon(config.layer_norm_eps)
        .init(loader.device());
    norm.gamma = Param::from_tensor(loader.take(&format!("{name}.weight"), [hidden]));
    norm.beta = Some(Param::from_tensor(
        loader.take(&format!("{name}.bias"), [hidden]),
    ));
    norm
}

#[cfg(test)]
mod tests {
    use super::*;
    use pelt_weights::{Problem, WeightsError};

    fn fixture(name: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name)
    }

    fn problems(error: ClipError) -> Vec<Problem> {
        match error {
            ClipError::Weights(WeightsError::Mismatch { problems, .. }) => problems,
            other => panic!("expected a mismatch, got {other}"),
        }
    }

    #[test]
    fn a_missing_model_path_is_named_as_given() {
        let path = Path::new("/nonexistent/clip-vit/model.safetensors");
        let error = load_vision_model(path, &Device::default()).expect_err("no such path");
        assert!(matches!(error, ClipError::Io { .. }), "{error}");
        let text = error.to_string();
        assert!(
            text.starts_with("/nonexistent/clip-vit/model.safetensors: "),
            "{text}"
        );
    }

    #[test]
    fn clip_model_loads_vision_tower_and_ignores_text_tower_by_name() {
        let device = Device::default();
        let (config, model) =
            load_vision_model(fixture("clip_model_quick"), &device).expect("strict load");
        assert!(config.with_projection);
        assert_eq!(model.encoder.layers.len(), 2);
        assert!(model.visual_projection.is_some());
    }

    #[test]
    fn vision_checkpoint_without_projection_reports_it_missing() {
        let device = Device::default();
        let dir = fixture("clip_vision_gelu");
        let config = ClipVisionConfig::from_hf_file(&dir)
            .expect("config")
            .with_with_projection(true);
        let checkpoint = Checkpoint::open(&dir).expect("checkpoint");
        let found = problems(load_weights(&config, &checkpoint, &device).expect_err("strict"));
        assert_eq!(
            found,
            vec![Problem::Missing {
                name: "visual_projection.weight".into(),
                expected: vec![16, 40],
            }]
        );
    }

    #[test]
    fn wrong_config_reports_every_mismatch_at_once() {
        // One layer too few leaves a whole layer unused; a wider MLP mis-shapes every fc.
        let device = Device::default();
        let dir = fixture("clip_vision_gelu");
        let config = ClipVisionConfig::from_hf_file(&dir)
            .expect("config")
            .with_num_hidden_layers(2)
            .with_intermediate_size(64);
        let checkpoint = Checkpoint::open(&dir).expect("checkpoint");
        let error = load_weights(&config, &checkpoint, &device).expect_err("strict");
        let text = error.to_string();
        let found = problems(error);
        let unused = found
            .iter()
            .filter(|p| matches!(p, Problem::Unused { name, .. } if name.contains("layers.2.")))
            .count();
        let shapes = found
            .iter()
            .filter(|p| matches!(p, Problem::Shape { .. }))
            .count();
        assert_eq!(unused, 16, "{text}");
        // fc1 weight and bias, fc2 weight, in each of the two loaded layers.
        assert_eq!(shapes, 6, "{text}");
        assert!(text.contains("vision_model.encoder.layers.0.mlp.fc1.weight"));
    }

    #[test]
    fn a_stray_vision_tensor_is_still_reported() {
        // Ignoring the text tower by prefix must not hide unknown vision tensors.
        let device = Device::default();
        let dir = tempfile::tempdir().expect("temp dir");
        let source = Checkpoint::open(fixture("clip_model_quick")).expect("checkpoint");
        let mut tensors: Vec<pelt_weights::NamedTensor> = source
            .tensors()
            .map(|m| pelt_weights::NamedTensor {
                name: m.name.clone(),
                shape: m.shape.clone(),
                values: source.read_f32(&m.name).expect("read"),
            })
            .collect();
        tensors.push(pelt_weights::NamedTensor {
            name: "vision_model.extra.weight".into(),
            shape: vec![2],
            values: vec![0.0; 2],
        });
        let path = dir.path().join("model.safetensors");
        pelt_weights::write_safetensors(&path, &tensors, &Default::default()).expect("write");
        let config = ClipVisionConfig::from_hf_file(fixture("clip_model_quick")).expect("config");
        let checkpoint = Checkpoint::open(&path).expect("checkpoint");
        let found = problems(load_weights(&config, &checkpoint, &device).expect_err("strict"));
        assert_eq!(
            found,
            vec![Problem::Unused {
                name: "vision_model.extra.weight".into(),
                shape: vec![2],
            }]
        );
    }
}
