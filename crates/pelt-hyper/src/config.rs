//! `PeltConfig`: which tuning method, and every dimension of the spec as a field with its
//! default (`docs/method.md` sections 3-5, 8).

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::HyperError;

/// The tuning method; all run through the same model, data and loop. With the `clap` feature a
/// command line takes it by the name [`Method::name`] gives (`--method hyperpelt`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// Every T5 weight trains; nothing is inserted.
    Full,
    /// Plain bottleneck adapters after every feed-forward block (shared, or one set per task
    /// with `per_task`).
    Adapters,
    /// Plain prefix vectors in every attention (shared, or per task with `per_task`).
    Prefix,
    /// Generated adapters only (HyperFormer++).
    Hyperformer,
    /// Generated prefixes only.
    Hyperprefix,
    /// Generated adapters and prefixes (HyperPELT).
    Hyperpelt,
}

impl Method {
    /// Every method, in the order of the paper's tables.
    pub const ALL: [Method; 6] = [
        Method::Full,
        Method::Adapters,
        Method::Prefix,
        Method::Hyperformer,
        Method::Hyperprefix,
        Method::Hyperpelt,
    ];

    /// Whether a hypernetwork generates the inserted modules.
    pub fn is_hyper(self) -> bool {
        matches!(
            self,
            Method::Hyperformer | Method::Hyperprefix | Method::Hyperpelt
        )
    }

    /// Whether the method inserts adapters (plain or generated).
    pub fn has_adapters(self) -> bool {
        matches!(
            self,
            Method::Adapters | Method::Hyperformer | Method::Hyperpelt
        )
    }

    /// Whether the method inserts prefixes (plain or generated).
    pub fn has_prefixes(self) -> bool {
        matches!(
            self,
            Method::Prefix | Method::Hyperprefix | Method::Hyperpelt
        )
    }

    /// The method's name as written in configuration files and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Method::Full => "full",
            Method::Adapters => "adapters",
            Method::Prefix => "prefix",
            Method::Hyperformer => "hyperformer",
            Method::Hyperprefix => "hyperprefix",
            Method::Hyperpelt => "hyperpelt",
        }
    }
}

impl std::str::FromStr for Method {
    type Err = HyperError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Method::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| {
                HyperError::Config(format!(
                    "unknown method `{s}`; expected one of full, adapters, prefix, \
                     hyperformer, hyperprefix, hyperpelt"
                ))
            })
    }
}

/// The vision-and-language path (docs/method.md §5).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VisualConfig {
    /// Width of the CLIP patch features (768 for ViT-B/32).
    pub clip_dim: usize,
    /// Images per example at most; above 1, an image-order embedding is added (NLVR2).
    #[serde(default = "one")]
    pub max_images: usize,
    /// Whether a visual hyper-embedding generates a second set of modules (hyper methods only).
    #[serde(default = "yes")]
    pub conditioning: bool,
}

fn one() -> usize {
    1
}

fn yes() -> bool {
    true
}

/// Which of the trainable parts get gradients. With the `clap` feature a command line takes it
/// by the name it has in configuration files (`--tune task-embedding`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum Tune {
    /// Every trainable part (normal training).
    #[default]
    All,
    /// Only the task embedding (few-shot transfer to a new task with a trained hypernetwork);
    /// the other trainable parts stay as loaded, and are still saved.
    TaskEmbedding,
}

/// How the model is tuned. Field defaults are the spec's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PeltConfig {
    /// The tuning method.
    pub method: Method,
    /// Task names; row `i` of the task embedding belongs to `tasks[i]`. None by default: a
    /// model needs at least one (a run configuration takes them from its mixture).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tasks: Vec<String>,
    /// `d_e`: width of the task, layer, block and visual embeddings.
    pub embedding_dim: usize,
    /// Hidden width of the hyper-embedding projector (`W1`).
    pub projector_hidden_dim: usize,
    /// `d_h`: width of the hyper-embedding `I`.
    pub hyper_dim: usize,
    /// `r`: adapter bottleneck.
    pub adapter_dim: usize,
    /// `N`: prefix length; 0 inserts no prefix.
    pub prefix_len: usize,
    /// Hidden width of the prefix generator's optional hidden layer (Li and Liang's
    /// reparameterisation, `tanh`); none maps `I` to the prefix directly.
    pub prefix_hidden_dim: Option<usize>,
    /// Standard deviation of generator weights (and of plain adapters and prefixes).
    pub init_std: f64,
    /// Plain adapters and prefixes: one set per task rather than one shared set.
    pub per_task: bool,
    /// Whether the T5 layer norms (RMS scales) train.
    pub train_layer_norms: bool,
    /// The vision-and-language path, if any.
    pub visual: Option<VisualConfig>,
    /// Which trainable parts get gradients.
    pub tune: Tune,
}

impl Default for PeltConfig {
    fn default() -> Self {
        Self {
            method: Method::Hyperpelt,
            tasks: Vec::new(),
            embedding_dim: 64,
            projector_hidden_dim: 128,
            hyper_dim: 64,
            adapter_dim: 24,
            prefix_len: 8,
            prefix_hidden_dim: None,
            init_std: 0.01,
            per_task: false,
            train_layer_norms: true,
            visual: None,
            tune: Tune::All,
        }
    }
}

impl PeltConfig {
    /// The default configuration of `method` for `tasks`.
    pub fn new(method: Method, tasks: &[&str]) -> Self {
        Self {
            method,
            tasks: tasks.iter().map(|t| t.to_string()).collect(),
            ..Self::default()
        }
    }

    /// Reads a JSON configuration; absent fields take the spec's defaults.
    pub fn from_json_file(path: impl AsRef<Path>) -> Result<Self, HyperError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| HyperError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let config: Self = serde_json::from_str(&text).map_err(|e| HyperError::ConfigFile {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        config.validate().map_err(|e| HyperError::ConfigFile {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        Ok(config)
    }

    /// Checks sizes and names; the error names the field at fault.
    pub fn validate(&self) -> Result<(), HyperError> {
        let bad = |msg: String| Err(HyperError::Config(msg));
        if self.tasks.is_empty() {
            return bad("`tasks` is empty; name at least one task".into());
        }
        for (i, task) in self.tasks.iter().enumerate() {
            if task.is_empty() {
                return bad(format!("`tasks[{i}]` is an empty name"));
            }
            if self.tasks[..i].contains(task) {
                return bad(format!("`tasks` names `{task}` twice"));
            }
        }
        let sizes = [
            ("embedding_dim", self.embedding_dim),
            ("projector_hidden_dim", self.projector_hidden_dim),
            ("hyper_dim", self.hyper_dim),
            ("adapter_dim", self.adapter_dim),
        ];
        for (name, value) in sizes {
            if value == 0 {
                return bad(format!("`{name}` must be at least 1"));
            }
        }
        if self.prefix_hidden_dim == Some(0) {
            return bad("`prefix_hidden_dim` must be at least 1 when set".into());
        }
        if !(self.init_std.is_finite() && self.init_std >= 0.0) {
            return bad(format!(
                "`init_std` must be finite and non-negative, got {}",
                self.init_std
            ));
        }
        if self.method == Method::Prefix && self.prefix_len == 0 {
            return bad("method `prefix` needs `prefix_len` of at least 1".into());
        }
        if self.tune == Tune::TaskEmbedding && !self.method.is_hyper() {
            return bad(format!(
                "`tune: task-embedding` needs a hypernetwork method (hyperformer, hyperprefix, \
                 hyperpelt); `{}` has no task embedding",
                self.method.name()
            ));
        }
        if let Some(visual) = &self.visual {
            if visual.clip_dim == 0 {
                return bad("`visual.clip_dim` must be at least 1".into());
            }
            if visual.max_images == 0 {
                return bad("`visual.max_images` must be at least 1".into());
            }
        }
        Ok(())
    }

    /// Index of task `name`.
    pub fn task_index(&self, name: &str) -> Result<usize, HyperError> {
        self.tasks.iter().position(|t| t == name).ok_or_else(|| {
            HyperError::Input(format!(
                "unknown task `{name}`; the model knows {}",
                self.tasks.join(", ")
            ))
        })
    }

    /// Whether prefixes are inserted (method with prefixes and `prefix_len > 0`).
    pub fn inserts_prefixes(&self) -> bool {
        self.method.has_prefixes() && self.prefix_len > 0
    }

    /// Whether visual conditioning generates modules.
    pub fn visual_conditioning(&self) -> bool {
        self.method.is_hyper() && self.visual.as_ref().is_some_and(|v| v.conditioning)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_specs() {
        let c = PeltConfig::default();
        assert_eq!(
            (
                c.embedding_dim,
                c.projector_hidden_dim,
                c.hyper_dim,
                c.adapter_dim,
                c.prefix_len
            ),
            (64, 128, 64, 24, 8)
        );
        assert_eq!(c.method, Method::Hyperpelt);
        assert!(c.train_layer_norms);
    }

    #[test]
    fn partial_json_keeps_defaults_and_unknown_fields_are_refused() {
        let c: PeltConfig =
            serde_json::from_str(r#"{"method": "hyperformer", "tasks": ["a", "b"]}"#).unwrap();
        assert_eq!(c.method, Method::Hyperformer);
        assert_eq!(c.adapter_dim, 24);
        let err = serde_json::from_str::<PeltConfig>(r#"{"adaptor_dim": 3}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("adaptor_dim"), "{err}");
    }

    #[test]
    fn invalid_values_name_their_field() {
        let mut c = PeltConfig::new(Method::Hyperpelt, &["a", "a"]);
        assert!(c.validate().unwrap_err().to_string().contains("`a` twice"));
        c.tasks = vec!["a".into()];
        c.hyper_dim = 0;
        assert!(c.validate().unwrap_err().to_string().contains("hyper_dim"));
        assert!("lora".parse::<Method>().is_err());
        assert_eq!(
            "hyperprefix".parse::<Method>().unwrap(),
            Method::Hyperprefix
        );
    }
}
