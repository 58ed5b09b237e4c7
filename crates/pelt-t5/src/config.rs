//! `T5Config`: the Hugging Face `config.json` fields that shape a T5, validated.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::T5Error;

/// The activation of the feed-forward block, and whether it is gated. Reads and writes
/// Hugging Face's spelling (`"relu"`, `"gated-gelu"`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct FeedForwardProj {
    /// The non-linearity.
    pub activation: Activation,
    /// Gated (`act(wi_0 x) * wi_1 x`, T5 v1.1) or plain (`act(wi x)`, T5 v1.0).
    pub gated: bool,
}

/// Non-linearities `feed_forward_proj` can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Activation {
    /// `max(x, 0)`.
    Relu,
    /// Exact (erf) GELU, Hugging Face's `gelu`.
    Gelu,
    /// Tanh-approximated GELU, Hugging Face's `gelu_new` (what `gated-gelu` means).
    GeluNew,
    /// `x * sigmoid(x)`.
    Silu,
}

impl FeedForwardProj {
    /// Parses Hugging Face's spelling: `ACT` or `gated-ACT`, where `gated-gelu` means the tanh
    /// approximation, exactly as `modeling_t5.py` does.
    pub fn parse(value: &str) -> Result<Self, String> {
        let (gated, act) = match value.strip_prefix("gated-") {
            Some(act) => (true, act),
            None => (false, value),
        };
        let activation = match (act, gated) {
            ("relu", _) => Activation::Relu,
            ("gelu", true) | ("gelu_new", _) => Activation::GeluNew,
            ("gelu", false) => Activation::Gelu,
            ("silu", _) | ("swish", _) => Activation::Silu,
            _ => {
                return Err(format!(
                    "feed_forward_proj `{value}` is not one of relu, gelu, gelu_new, silu, \
                     or their `gated-` forms"
                ));
            }
        };
        Ok(Self { activation, gated })
    }
}

impl TryFrom<String> for FeedForwardProj {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        Self::parse(&value)
    }
}

impl From<FeedForwardProj> for String {
    fn from(ffn: FeedForwardProj) -> String {
        let act = match (ffn.activation, ffn.gated) {
            (Activation::Relu, _) => "relu",
            (Activation::Gelu, _) => "gelu",
            (Activation::GeluNew, true) => "gelu",
            (Activation::GeluNew, false) => "gelu_new",
            (Activation::Silu, _) => "silu",
        };
        if ffn.gated {
            format!("gated-{act}")
        } else {
            act.to_string()
        }
    }
}

/// The `model_type` values whose checkpoints this crate reads: T5 (v1.0, v1.1, FLAN-T5) and
/// mT5 share one architecture.
pub const T5_MODEL_TYPES: [&str; 2] = ["t5", "mt5"];

/// The shape of a T5 model, with Hugging Face field names and defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct T5Config {
    /// Vocabulary size (rows of the shared embedding).
    #[serde(default = "defaults::vocab_size")]
    pub vocab_size: usize,
    /// Width of the residual stream.
    #[serde(default = "defaults::d_model")]
    pub d_model: usize,
    /// Width of one attention head (independent of `d_model / num_heads`).
    #[serde(default = "defaults::d_kv")]
    pub d_kv: usize,
    /// Width of the feed-forward hidden layer.
    #[serde(default = "defaults::d_ff")]
    pub d_ff: usize,
    /// Encoder layers.
    #[serde(default = "defaults::num_layers")]
    pub num_layers: usize,
    /// Decoder layers; `num_layers` when absent or null.
    #[serde(default)]
    pub num_decoder_layers: Option<usize>,
    /// Attention heads.
    #[serde(default = "defaults::num_heads")]
    pub num_heads: usize,
    /// Relative position buckets.
    #[serde(default = "defaults::relative_attention_num_buckets")]
    pub relative_attention_num_buckets: usize,
    /// Distance beyond which relative positions share the last bucket.
    #[serde(default = "defaults::relative_attention_max_distance")]
    pub relative_attention_max_distance: usize,
    /// Dropout probability (training mode only).
    #[serde(default = "defaults::dropout_rate")]
    pub dropout_rate: f64,
    /// Epsilon of the RMS layer norms.
    #[serde(default = "defaults::layer_norm_epsilon")]
    pub layer_norm_epsilon: f64,
    /// `relu`, `gated-gelu`, `gated-silu`, ...
    #[serde(default = "defaults::feed_forward_proj")]
    pub feed_forward_proj: FeedForwardProj,
    /// Output layer tied to the shared embedding (and scaled by `d_model^-0.5`).
    #[serde(default = "defaults::tie_word_embeddings")]
    pub tie_word_embeddings: bool,
    /// Padding token id.
    #[serde(default)]
    pub pad_token_id: usize,
    /// End-of-sequence token id.
    #[serde(default = "defaults::eos_token_id")]
    pub eos_token_id: usize,
    /// First decoder input token id.
    #[serde(default)]
    pub decoder_start_token_id: usize,
    /// Scale of every standard deviation of a random initialisation (docs/pretrain.md,
    /// "Initialisation"); Hugging Face's `initializer_factor`.
    #[serde(default = "defaults::initializer_factor")]
    pub initializer_factor: f64,
}

mod defaults {
    pub fn vocab_size() -> usize {
        32128
    }
    pub fn d_model() -> usize {
        512
    }
    pub fn d_kv() -> usize {
        64
    }
    pub fn d_ff() -> usize {
        2048
    }
    pub fn num_layers() -> usize {
        6
    }
    pub fn num_heads() -> usize {
        8
    }
    pub fn relative_attention_num_buckets() -> usize {
        32
    }
    pub fn relative_attention_max_distance() -> usize {
        128
    }
    pub fn dropout_rate() -> f64 {
        0.1
    }
    pub fn layer_norm_epsilon() -> f64 {
        1e-6
    }
    pub fn feed_forward_proj() -> super::FeedForwardProj {
        super::FeedForwardProj {
            activation: super::Activation::Relu,
            gated: false,
        }
    }
    pub fn tie_word_embeddings() -> bool {
        true
    }
    pub fn eos_token_id() -> usize {
        1
    }
    pub fn initializer_factor() -> f64 {
        1.0
    }
}

impl Default for T5Config {
    fn default() -> Self {
        serde_json::from_str("{}").expect("every field has a default")
    }
}

impl T5Config {
    /// Reads and validates a Hugging Face `config.json` (or a model directory holding one).
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, T5Error> {
        let file = pelt_weights::model_file(path, "config.json");
        let text = std::fs::read_to_string(&file).map_err(|source| T5Error::Io {
            path: file.clone(),
            source,
        })?;
        Self::from_json(&text).map_err(|e| match e {
            T5Error::ConfigParse { reason, .. } => T5Error::ConfigParse { path: file, reason },
            T5Error::ConfigValue { field, reason } => T5Error::ConfigParse {
                path: file,
                reason: format!("field `{field}`: {reason}"),
            },
            other => other,
        })
    }

    /// Parses and validates the text of a `config.json`. Fields a T5 does not use
    /// (`architectures`, `task_specific_params`, ...) are ignored.
    pub fn from_json(text: &str) -> Result<Self, T5Error> {
        let parse_error = |e: serde_json::Error| T5Error::ConfigParse {
            path: "config.json".into(),
            reason: e.to_string(),
        };
        let json: serde_json::Value = serde_json::from_str(text).map_err(parse_error)?;
        // A configuration without `model_type` is taken as T5; another model's is refused
        // rather than read with T5 defaults for every field it lacks.
        if let Some(model_type) = json.get("model_type")
            && !T5_MODEL_TYPES.iter().any(|t| model_type == t)
        {
            return Err(T5Error::ConfigValue {
                field: "model_type",
                reason: format!(
                    "{model_type} is not a T5-family model (expected one of {T5_MODEL_TYPES:?})"
                ),
            });
        }
        let config: Self = serde_json::from_value(json).map_err(parse_error)?;
        config.validate()?;
        Ok(config)
    }

    /// Checks every size is positive and every id and name is usable.
    pub fn validate(&self) -> Result<(), T5Error> {
        let positive = [
            ("vocab_size", self.vocab_size),
            ("d_model", self.d_model),
            ("d_kv", self.d_kv),
            ("d_ff", self.d_ff),
            ("num_layers", self.num_layers),
            ("num_decoder_layers", self.decoder_layers()),
            ("num_heads", self.num_heads),
            (
                "relative_attention_num_buckets",
                self.relative_attention_num_buckets,
            ),
            (
                "relative_attention_max_distance",
                self.relative_attention_max_distance,
            ),
        ];
        for (field, value) in positive {
            if value == 0 {
                return Err(T5Error::ConfigValue {
                    field,
                    reason: "must be positive".into(),
                });
            }
        }
        // The bidirectional buckets are split in half and each half in half again.
        if self.relative_attention_num_buckets < 4 {
            return Err(T5Error::ConfigValue {
                field: "relative_attention_num_buckets",
                reason: format!(
                    "{} is below the minimum of 4",
                    self.relative_attention_num_buckets
                ),
            });
        }
        if self.relative_attention_max_distance <= self.relative_attention_num_buckets / 4 {
            return Err(T5Error::ConfigValue {
                field: "relative_attention_max_distance",
                reason: format!(
                    "{} must exceed a quarter of relative_attention_num_buckets ({})",
                    self.relative_attention_max_distance, self.relative_attention_num_buckets
                ),
            });
        }
        if !(0.0..1.0).contains(&self.dropout_rate) {
            return Err(T5Error::ConfigValue {
                field: "dropout_rate",
                reason: format!("{} is not in [0, 1)", self.dropout_rate),
            });
        }
        if !(self.initializer_factor > 0.0 && self.initializer_factor.is_finite()) {
            return Err(T5Error::ConfigValue {
                field: "initializer_factor",
                reason: format!("{} is not a positive number", self.initializer_factor),
            });
        }
        if !(self.layer_norm_epsilon > 0.0 && self.layer_norm_epsilon.is_finite()) {
            return Err(T5Error::ConfigValue {
                field: "layer_norm_epsilon",
                reason: format!("{} is not a positive number", self.layer_norm_epsilon),
            });
        }
        for (field, id) in [
            ("pad_token_id", self.pad_token_id),
            ("eos_token_id", self.eos_token_id),
            ("decoder_start_token_id", self.decoder_start_token_id),
        ] {
            if id >= self.vocab_size {
                return Err(T5Error::ConfigValue {
                    field,
                    reason: format!("{id} is outside the vocabulary of {}", self.vocab_size),
                });
            }
        }
        Ok(())
    }

    /// Decoder depth: `num_decoder_layers`, or `num_layers` when that is absent.
    pub fn decoder_layers(&self) -> usize {
        self.num_decoder_layers.unwrap_or(self.num_layers)
    }

    /// Width of all heads together, `num_heads * d_kv`.
    pub fn inner_dim(&self) -> usize {
        self.num_heads * self.d_kv
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_t5_small() {
        let c = T5Config::from_json("{}").unwrap();
        assert_eq!(
            (c.d_model, c.d_ff, c.num_layers, c.num_heads),
            (512, 2048, 6, 8)
        );
        assert_eq!(c.decoder_layers(), 6);
        assert!(c.tie_word_embeddings);
    }

    #[test]
    fn reads_v1_1_fields_and_ignores_unknown_ones() {
        let c = T5Config::from_json(
            r#"{"architectures": ["T5ForConditionalGeneration"], "d_model": 768, "d_kv": 64,
                "num_heads": 12, "num_layers": 12, "num_decoder_layers": null,
                "feed_forward_proj": "gated-gelu", "tie_word_embeddings": false}"#,
        )
        .unwrap();
        assert_eq!(c.decoder_layers(), 12);
        assert_eq!(
            c.feed_forward_proj,
            FeedForwardProj {
                activation: Activation::GeluNew,
                gated: true
            }
        );
        assert!(!c.tie_word_embeddings);
    }

    #[test]
    fn unknown_activation_is_named() {
        let err = T5Config::from_json(r#"{"feed_forward_proj": "gated-swoosh"}"#).unwrap_err();
        assert!(err.to_string().contains("feed_forward_proj"), "{err}");
        assert!(err.to_string().contains("gated-swoosh"), "{err}");
    }

    #[test]
    fn inconsistent_values_are_refused() {
        for (json, field) in [
            (r#"{"d_model": 0}"#, "d_model"),
            (r#"{"num_heads": 0}"#, "num_heads"),
            (r#"{"vocab_size": 10, "eos_token_id": 10}"#, "eos_token_id"),
            (r#"{"dropout_rate": 1.5}"#, "dropout_rate"),
            (
                r#"{"relative_attention_num_buckets": 2}"#,
                "relative_attention_num_buckets",
            ),
            (r#"{"layer_norm_epsilon": -1.0}"#, "layer_norm_epsilon"),
        ] {
            let err = T5Config::from_json(json).unwrap_err();
            assert!(err.to_string().contains(field), "{json}: {err}");
        }
    }

    #[test]
    fn other_model_types_are_refused_by_name() {
        let err = T5Config::from_json(r#"{"model_type": "bart", "d_model": 768}"#).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("model_type") && text.contains("\"bart\""),
            "{text}"
        );
        for ok in [r#"{"model_type": "t5"}"#, r#"{"model_type": "mt5"}"#, "{}"] {
            T5Config::from_json(ok).unwrap();
        }
    }

    #[test]
    fn wrong_types_are_parse_errors() {
        let err = T5Config::from_json(r#"{"d_model": "big"}"#).unwrap_err();
        assert!(matches!(err, T5Error::ConfigParse { .. }), "{err}");
        let err = T5Config::from_json(r#"{"d_model": -3}"#).unwrap_err();
        assert!(matches!(err, T5Error::ConfigParse { .. }), "{err}");
    }
}
