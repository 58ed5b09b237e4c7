//! Random checkpoints of the paper configurations' models, with the tensor names and shapes of
//! the Hugging Face files (so pelt's strict loading of real checkpoints runs on them), as the
//! files of a hub repository: `config.json` and `model.safetensors` (f32), plus the tokenizer
//! files a `t5-base` repository has.

use std::path::Path;

use anyhow::{Context, Result};
use serde_json::{Value, json};

/// `t5-base`'s `config.json` as the hub has it (`feed_forward_proj`, `num_decoder_layers`,
/// `relative_attention_max_distance` and `tie_word_embeddings` are absent there and take their
/// defaults: relu, 12, 128, tied).
pub fn t5_base_config() -> Value {
    json!({
        "architectures": ["T5ForConditionalGeneration"],
        "d_ff": 3072, "d_kv": 64, "d_model": 768, "decoder_start_token_id": 0,
        "dropout_rate": 0.1, "eos_token_id": 1, "initializer_factor": 1.0,
        "is_encoder_decoder": true, "layer_norm_epsilon": 1e-06, "model_type": "t5",
        "n_positions": 512, "num_heads": 12, "num_layers": 12, "output_past": true,
        "pad_token_id": 0, "relative_attention_num_buckets": 32, "vocab_size": 32128,
        "task_specific_params": {
            "summarization": {"early_stopping": true, "length_penalty": 2.0, "max_length": 200,
                              "min_length": 30, "no_repeat_ngram_size": 3, "num_beams": 4,
                              "prefix": "summarize: "},
            "translation_en_to_de": {"early_stopping": true, "max_length": 300, "num_beams": 4,
                                     "prefix": "translate English to German: "}
        }
    })
}

/// `openai/clip-vit-base-patch32`'s `config.json` (a `CLIPModel`: text and vision towers;
/// the fields it leaves to the defaults are those of ViT-B/32).
pub fn clip_vit_b32_config() -> Value {
    json!({
        "architectures": ["CLIPModel"], "model_type": "clip", "initializer_factor": 1.0,
        "logit_scale_init_value": 2.6592, "projection_dim": 512,
        "text_config": {"hidden_size": 512, "intermediate_size": 2048, "num_attention_heads": 8,
                        "num_hidden_layers": 12, "max_position_embeddings": 77,
                        "vocab_size": 49408, "hidden_act": "quick_gelu", "projection_dim": 512},
        "vision_config": {"hidden_size": 768, "intermediate_size": 3072,
                          "num_attention_heads": 12, "num_hidden_layers": 12, "image_size": 224,
                          "patch_size": 32, "hidden_act": "quick_gelu", "projection_dim": 512}
    })
}

/// `openai/clip-vit-base-patch32`'s `preprocessor_config.json`.
pub fn clip_preprocessor_config() -> Value {
    json!({
        "crop_size": 224, "do_center_crop": true, "do_normalize": true, "do_resize": true,
        "feature_extractor_type": "CLIPFeatureExtractor",
        "image_mean": [0.48145466, 0.4578275, 0.40821073],
        "image_std": [0.26862954, 0.26130258, 0.27577711], "resample": 3, "size": 224
    })
}

/// How a tensor's values are drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Init {
    /// Uniform with mean 0 and this standard deviation (the one Hugging Face's normal
    /// initialisation uses for the tensor).
    Std(f32),
    /// Every value this one (norm weights 1, biases 0, CLIP's `logit_scale`).
    Fill(f32),
}

/// One tensor of a checkpoint: its Hugging Face name, shape and values' law.
#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    /// The name in `model.safetensors`.
    pub name: String,
    /// The shape.
    pub shape: Vec<usize>,
    /// How its values are drawn.
    pub init: Init,
}

fn spec(name: String, shape: &[usize], init: Init) -> Spec {
    Spec {
        name,
        shape: shape.to_vec(),
        init,
    }
}

/// A `usize` field of a Hugging Face config (`default` when absent).
fn field(config: &Value, name: &str, default: usize) -> usize {
    config
        .get(name)
        .and_then(Value::as_u64)
        .map_or(default, |v| v as usize)
}

/// The tensors of a `T5ForConditionalGeneration` checkpoint with tied embeddings (`shared.weight`
/// once, no `lm_head`), for a relu `config.json` such as [`t5_base_config`].
pub fn t5_tensors(config: &Value) -> Vec<Spec> {
    let d = field(config, "d_model", 512);
    let (kv, heads, ff) = (
        field(config, "d_kv", 64),
        field(config, "num_heads", 8),
        field(config, "d_ff", 2048),
    );
    let layers = field(config, "num_layers", 6);
    let decoder_layers = field(config, "num_decoder_layers", layers);
    let buckets = field(config, "relative_attention_num_buckets", 32);
    let inner = kv * heads;
    let std = |fan: usize| Init::Std((fan as f32).powf(-0.5));
    let mut out = vec![spec(
        "shared.weight".into(),
        &[field(config, "vocab_size", 32128), d],
        Init::Std(1.0),
    )];
    let attention = |out: &mut Vec<Spec>, p: &str| {
        out.push(spec(format!("{p}.q.weight"), &[inner, d], std(d * kv)));
        out.push(spec(format!("{p}.k.weight"), &[inner, d], std(d)));
        out.push(spec(format!("{p}.v.weight"), &[inner, d], std(d)));
        out.push(spec(format!("{p}.o.weight"), &[d, inner], std(inner)));
    };
    for (stack, count) in [("encoder", layers), ("decoder", decoder_layers)] {
        for i in 0..count {
            let p = format!("{stack}.block.{i}.layer");
            attention(&mut out, &format!("{p}.0.SelfAttention"));
            if i == 0 {
                let name = format!("{p}.0.SelfAttention.relative_attention_bias.weight");
                out.push(spec(name, &[buckets, heads], std(d)));
            }
            out.push(spec(
                format!("{p}.0.layer_norm.weight"),
                &[d],
                Init::Fill(1.0),
            ));
            let mut ff_layer = 1;
            if stack == "decoder" {
                attention(&mut out, &format!("{p}.1.EncDecAttention"));
                out.push(spec(
                    format!("{p}.1.layer_norm.weight"),
                    &[d],
                    Init::Fill(1.0),
                ));
                ff_layer = 2;
            }
            let f = format!("{p}.{ff_layer}");
            out.push(spec(
                format!("{f}.DenseReluDense.wi.weight"),
                &[ff, d],
                std(d),
            ));
            out.push(spec(
                format!("{f}.DenseReluDense.wo.weight"),
                &[d, ff],
                std(ff),
            ));
            out.push(spec(
                format!("{f}.layer_norm.weight"),
                &[d],
                Init::Fill(1.0),
            ));
        }
        out.push(spec(
            format!("{stack}.final_layer_norm.weight"),
            &[d],
            Init::Fill(1.0),
        ));
    }
    out
}

/// The tensors of a `CLIPModel` checkpoint (both towers, the projections and `logit_scale`) for
/// a `config.json` such as [`clip_vit_b32_config`].
pub fn clip_tensors(config: &Value) -> Vec<Spec> {
    let projection = field(config, "projection_dim", 512);
    let (text, vision) = (&config["text_config"], &config["vision_config"]);
    let hidden = field(vision, "hidden_size", 768);
    let (channels, patch, image) = (
        field(vision, "num_channels", 3),
        field(vision, "patch_size", 32),
        field(vision, "image_size", 224),
    );
    let text_hidden = field(text, "hidden_size", 512);
    let small = Init::Std(0.02);
    let v = "vision_model";
    let positions = (image / patch) * (image / patch) + 1;
    let mut out = vec![
        spec(format!("{v}.embeddings.class_embedding"), &[hidden], small),
        spec(
            format!("{v}.embeddings.patch_embedding.weight"),
            &[hidden, channels, patch, patch],
            small,
        ),
        spec(
            format!("{v}.embeddings.position_embedding.weight"),
            &[positions, hidden],
            small,
        ),
    ];
    norm(&mut out, &format!("{v}.pre_layrnorm"), hidden);
    encoder_layers(&mut out, v, vision, hidden);
    norm(&mut out, &format!("{v}.post_layernorm"), hidden);
    out.push(spec(
        "visual_projection.weight".into(),
        &[projection, hidden],
        small,
    ));
    let t = "text_model";
    out.push(spec(
        format!("{t}.embeddings.token_embedding.weight"),
        &[field(text, "vocab_size", 49408), text_hidden],
        small,
    ));
    out.push(spec(
        format!("{t}.embeddings.position_embedding.weight"),
        &[field(text, "max_position_embeddings", 77), text_hidden],
        small,
    ));
    encoder_layers(&mut out, t, text, text_hidden);
    norm(&mut out, &format!("{t}.final_layer_norm"), text_hidden);
    out.push(spec(
        "text_projection.weight".into(),
        &[projection, text_hidden],
        small,
    ));
    out.push(spec("logit_scale".into(), &[], Init::Fill(2.6592)));
    out
}

/// A layer norm's weight (ones) and bias (zeros).
fn norm(out: &mut Vec<Spec>, name: &str, hidden: usize) {
    out.push(spec(format!("{name}.weight"), &[hidden], Init::Fill(1.0)));
    out.push(spec(format!("{name}.bias"), &[hidden], Init::Fill(0.0)));
}

/// The encoder layers of a CLIP tower (`{tower}.encoder.layers.N`).
fn encoder_layers(out: &mut Vec<Spec>, tower: &str, config: &Value, hidden: usize) {
    let inter = field(config, "intermediate_size", 4 * hidden);
    let linear = |out: &mut Vec<Spec>, name: String, d_in: usize, d_out: usize| {
        out.push(spec(
            format!("{name}.weight"),
            &[d_out, d_in],
            Init::Std(0.02),
        ));
        out.push(spec(format!("{name}.bias"), &[d_out], Init::Fill(0.0)));
    };
    for i in 0..field(config, "num_hidden_layers", 12) {
        let l = format!("{tower}.encoder.layers.{i}");
        for p in ["q_proj", "k_proj", "v_proj", "out_proj"] {
            linear(out, format!("{l}.self_attn.{p}"), hidden, hidden);
        }
        norm(out, &format!("{l}.layer_norm1"), hidden);
        linear(out, format!("{l}.mlp.fc1"), hidden, inter);
        linear(out, format!("{l}.mlp.fc2"), inter, hidden);
        norm(out, &format!("{l}.layer_norm2"), hidden);
    }
}

/// The bytes of a `model.safetensors` holding `tensors`, drawn from `seed`.
pub fn safetensors(tensors: &[Spec], seed: u64) -> Result<Vec<u8>> {
    let mut rng = seed;
    let data: Vec<Vec<u8>> = tensors
        .iter()
        .map(|t| {
            let count: usize = t.shape.iter().product();
            let mut bytes = Vec::with_capacity(count * 4);
            for _ in 0..count {
                let value = match t.init {
                    // Uniform on [-a, a] has standard deviation a / sqrt(3).
                    Init::Std(std) => (2.0 * unit(&mut rng) - 1.0) * std * 3f32.sqrt(),
                    Init::Fill(value) => value,
                };
                bytes.extend_from_slice(&value.to_le_bytes());
            }
            bytes
        })
        .collect();
    let views = tensors
        .iter()
        .zip(&data)
        .map(|(t, bytes)| {
            safetensors::tensor::TensorView::new(safetensors::Dtype::F32, t.shape.clone(), bytes)
                .map(|view| (t.name.clone(), view))
                .with_context(|| format!("tensor `{}`", t.name))
        })
        .collect::<Result<Vec<_>>>()?;
    let metadata = [("format".to_string(), "pt".to_string())].into();
    safetensors::serialize(views, Some(metadata)).context("serialising the checkpoint")
}

/// A uniform draw in [0, 1) from a SplitMix64 generator.
fn unit(state: &mut u64) -> f32 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    ((z ^ (z >> 31)) >> 40) as f32 / (1u64 << 24) as f32
}

/// The files of a T5 repository: `config.json`, random `model.safetensors`, and the tokenizer
/// files of `tokenizer_dir` (a `t5-base` repository's: `tokenizer.json`, `spiece.model`, ...).
pub fn t5_repo(config: &Value, tokenizer_dir: &Path, seed: u64) -> Result<pelt_hubmock::Repo> {
    let mut repo = pelt_hubmock::Repo::from_dir(tokenizer_dir, "")?;
    repo.add("config.json", serde_json::to_vec_pretty(config)?)
        .add("model.safetensors", safetensors(&t5_tensors(config), seed)?);
    Ok(repo)
}

/// The files of a CLIP repository: `config.json`, `preprocessor_config.json` and random
/// `model.safetensors`.
pub fn clip_repo(config: &Value, seed: u64) -> Result<pelt_hubmock::Repo> {
    let mut repo = pelt_hubmock::Repo::default();
    repo.add("config.json", serde_json::to_vec_pretty(config)?)
        .add(
            "preprocessor_config.json",
            serde_json::to_vec_pretty(&clip_preprocessor_config())?,
        )
        .add(
            "model.safetensors",
            safetensors(&clip_tensors(config), seed)?,
        );
    Ok(repo)
}
