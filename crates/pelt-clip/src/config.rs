//! `ClipVisionConfig`: the vision tower's hyper-parameters, read from a Hugging Face `config.json`.

use std::path::Path;

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::ClipError;

/// The MLP activation (`hidden_act` in `config.json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HiddenAct {
    /// `x * sigmoid(1.702 x)`, the original OpenAI CLIP activation.
    QuickGelu,
    /// The exact (erf) GELU.
    Gelu,
}

/// Hyper-parameters of the CLIP vision transformer, with Hugging Face's field names and
/// defaults (`CLIPVisionConfig`, transformers 4.57: the defaults are ViT-B/32).
#[derive(Config, Debug)]
pub struct ClipVisionConfig {
    /// Width of the residual stream.
    #[config(default = 768)]
    pub hidden_size: usize,
    /// Width of the MLP's hidden layer.
    #[config(default = 3072)]
    pub intermediate_size: usize,
    /// Number of encoder layers.
    #[config(default = 12)]
    pub num_hidden_layers: usize,
    /// Attention heads per layer; must divide `hidden_size`.
    #[config(default = 12)]
    pub num_attention_heads: usize,
    /// Side of the square input image in pixels.
    #[config(default = 224)]
    pub image_size: usize,
    /// Side of a square patch in pixels.
    #[config(default = 32)]
    pub patch_size: usize,
    /// Input channels.
    #[config(default = 3)]
    pub num_channels: usize,
    /// MLP activation.
    #[config(default = "HiddenAct::QuickGelu")]
    pub hidden_act: HiddenAct,
    /// Epsilon of every layer norm.
    #[config(default = 1e-5)]
    pub layer_norm_eps: f64,
    /// Output width of the visual projection.
    #[config(default = 512)]
    pub projection_dim: usize,
    /// Whether the model has `visual_projection` (`hidden_size -> projection_dim`, no bias),
    /// as `CLIPModel` and `CLIPVisionModelWithProjection` do; not a Hugging Face field.
    #[config(default = false)]
    pub with_projection: bool,
}

/// The vision fields of a Hugging Face config; absent ones keep Hugging Face's defaults.
#[derive(Deserialize, Default)]
struct HfVision {
    hidden_size: Option<usize>,
    intermediate_size: Option<usize>,
    num_hidden_layers: Option<usize>,
    num_attention_heads: Option<usize>,
    image_size: Option<usize>,
    patch_size: Option<usize>,
    num_channels: Option<usize>,
    hidden_act: Option<String>,
    layer_norm_eps: Option<f64>,
    projection_dim: Option<usize>,
}

impl ClipVisionConfig {
    /// Reads a Hugging Face `config.json`, or the one inside a model directory.
    pub fn from_hf_file(path: impl AsRef<Path>) -> Result<Self, ClipError> {
        let path = pelt_weights::model_file(path, "config.json");
        let text = std::fs::read_to_string(&path).map_err(|source| ClipError::Io {
            path: path.clone(),
            source,
        })?;
        Self::from_hf_json(&text).map_err(|reason| ClipError::Config { path, reason })
    }

    /// Parses a `CLIPConfig` (its `vision_config`, with the visual projection and the
    /// top-level `projection_dim`) or a standalone `CLIPVisionConfig` (with a projection only
    /// for `CLIPVisionModelWithProjection`).
    pub fn from_hf_json(text: &str) -> Result<Self, String> {
        let json: serde_json::Value =
            serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}"))?;
        let model_type = json.get("model_type").and_then(|t| t.as_str());
        let is_full_clip = model_type == Some("clip") || json.get("vision_config").is_some();
        if !is_full_clip && model_type.is_some_and(|t| t != "clip_vision_model") {
            return Err(format!(
                "model_type `{}` is neither `clip` nor `clip_vision_model`",
                model_type.unwrap_or_default()
            ));
        }
        let parse = |value: &serde_json::Value| {
            HfVision::deserialize(value).map_err(|e| format!("vision config: {e}"))
        };
        let (vision, projection_dim, with_projection) = if is_full_clip {
            let vision = match json.get("vision_config") {
                Some(v) if !v.is_null() => parse(v)?,
                _ => HfVision::default(),
            };
            let top = json.get("projection_dim");
            let projection_dim = match top {
                Some(v) => Some(
                    v.as_u64()
                        .ok_or_else(|| format!("projection_dim {v} is not a count"))?
                        as usize,
                ),
                None => None,
            };
            (vision, projection_dim, true)
        } else {
            let vision = parse(&json)?;
            let projection_dim = vision.projection_dim;
            let with_projection = json
                .get("architectures")
                .and_then(|a| a.as_array())
                .is_some_and(|a| {
                    a.iter()
                        .any(|x| x.as_str() == Some("CLIPVisionModelWithProjection"))
                });
            (vision, projection_dim, with_projection)
        };
        let mut config = Self::new().with_with_projection(with_projection);
        macro_rules! set {
            ($($field:ident),*) => {$(
                if let Some(v) = vision.$field { config.$field = v; }
            )*};
        }
        set!(
            hidden_size,
            intermediate_size,
            num_hidden_layers,
            num_attention_heads,
            image_size,
            patch_size,
            num_channels,
            layer_norm_eps
        );
        if let Some(dim) = projection_dim {
            config.projection_dim = dim;
        }
        if let Some(act) = vision.hidden_act {
            config.hidden_act = match act.as_str() {
                "quick_gelu" => HiddenAct::QuickGelu,
                "gelu" => HiddenAct::Gelu,
                other => {
                    return Err(format!(
                        "hidden_act `{other}` is not supported (quick_gelu, gelu)"
                    ));
                }
            };
        }
        config.validate()?;
        Ok(config)
    }

    /// Checks the sizes are consistent: what `modeling_clip.py` would reject or misbehave on.
    pub fn validate(&self) -> Result<(), String> {
        let sizes = [
            ("hidden_size", self.hidden_size),
            ("intermediate_size", self.intermediate_size),
            ("num_hidden_layers", self.num_hidden_layers),
            ("num_attention_heads", self.num_attention_heads),
            ("patch_size", self.patch_size),
            ("num_channels", self.num_channels),
        ];
        if let Some((name, _)) = sizes.iter().find(|(_, v)| *v == 0) {
            return Err(format!("{name} must be positive"));
        }
        if !self.hidden_size.is_multiple_of(self.num_attention_heads) {
            return Err(format!(
                "hidden_size {} is not divisible by num_attention_heads {}",
                self.hidden_size, self.num_attention_heads
            ));
        }
        if self.image_size < self.patch_size {
            return Err(format!(
                "image_size {} is smaller than patch_size {}",
                self.image_size, self.patch_size
            ));
        }
        if self.layer_norm_eps.is_nan() || self.layer_norm_eps <= 0.0 {
            return Err(format!(
                "layer_norm_eps {} must be positive",
                self.layer_norm_eps
            ));
        }
        if self.with_projection && self.projection_dim == 0 {
            return Err("projection_dim must be positive".into());
        }
        Ok(())
    }

    /// Patches per image side (the convolution drops a remainder, as in PyTorch).
    pub fn grid_size(&self) -> usize {
        self.image_size / self.patch_size
    }

    /// Patches per image: `grid_size²` (49 for ViT-B/32 at 224 px).
    pub fn num_patches(&self) -> usize {
        self.grid_size() * self.grid_size()
    }

    /// Width of one attention head.
    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }

    /// The crate's unit tests' model: width 8, one layer of 2 heads, 16-pixel images of 2 × 2
    /// patches.
    #[cfg(test)]
    pub(crate) fn tiny() -> Self {
        Self::new()
            .with_hidden_size(8)
            .with_intermediate_size(16)
            .with_num_hidden_layers(1)
            .with_num_attention_heads(2)
            .with_image_size(16)
            .with_patch_size(8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_clip_config_uses_vision_config_and_top_level_projection() {
        let json = r#"{"model_type": "clip", "projection_dim": 24,
            "text_config": {"hidden_size": 16},
            "vision_config": {"hidden_size": 32, "num_attention_heads": 4, "patch_size": 8,
                              "image_size": 32, "projection_dim": 512, "hidden_act": "gelu"}}"#;
        let config = ClipVisionConfig::from_hf_json(json).expect("valid config");
        assert_eq!(config.hidden_size, 32);
        assert_eq!(config.projection_dim, 24);
        assert!(config.with_projection);
        assert_eq!(config.hidden_act, HiddenAct::Gelu);
        assert_eq!(config.num_patches(), 16);
        // Fields the file leaves out keep Hugging Face's defaults.
        assert_eq!(config.intermediate_size, 3072);
        assert_eq!(config.layer_norm_eps, 1e-5);
    }

    #[test]
    fn standalone_vision_config_has_projection_only_with_projection_architecture() {
        let plain = r#"{"model_type": "clip_vision_model", "architectures": ["CLIPVisionModel"],
                        "projection_dim": 16}"#;
        let config = ClipVisionConfig::from_hf_json(plain).expect("valid config");
        assert!(!config.with_projection);
        assert_eq!(config.projection_dim, 16);
        assert_eq!((config.hidden_size, config.num_patches()), (768, 49));
        let with = plain.replace("\"CLIPVisionModel\"", "\"CLIPVisionModelWithProjection\"");
        assert!(
            ClipVisionConfig::from_hf_json(&with)
                .expect("valid config")
                .with_projection
        );
    }

    #[test]
    fn bad_configs_are_refused_with_a_reason() {
        let cases = [
            (r#"{"model_type": "t5"}"#, "model_type `t5`"),
            (r#"{"hidden_act": "relu"}"#, "hidden_act `relu`"),
            (
                r#"{"hidden_size": 30, "num_attention_heads": 4}"#,
                "not divisible",
            ),
            (r#"{"hidden_size": "wide"}"#, "vision config"),
            (
                r#"{"image_size": 16, "patch_size": 32}"#,
                "smaller than patch_size",
            ),
            ("{", "invalid JSON"),
        ];
        for (json, expected) in cases {
            let error = ClipVisionConfig::from_hf_json(json).expect_err(json);
            assert!(error.contains(expected), "{json}: {error}");
        }
    }

    #[test]
    fn missing_config_file_names_the_path() {
        let error = ClipVisionConfig::from_hf_file("/nonexistent/clip/config.json")
            .expect_err("no such file");
        assert!(error.to_string().contains("/nonexistent/clip/config.json"));
    }
}
