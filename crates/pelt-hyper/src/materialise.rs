//! Materialisation: a task's generated (or plain) modules computed once and exported as a
//! static set of tensors that plain T5 runs without the hypernetwork.
//!
//! The file is safetensors. Its `pelt_export` metadata holds a JSON header (format, method,
//! task, layout); tensors are the flat module sets (`adapters.down`, ..., `prefixes`,
//! `[slots, ...]`) and the trained T5 tensors under their T5 paths (`t5.encoder.blocks.0...`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::prelude::*;
use burn::tensor::TensorData;
use pelt_t5::{Insertions, T5Model};
use pelt_weights::{Checkpoint, NamedTensor, StrictLoader, write_safetensors};
use serde::{Deserialize, Serialize};

use crate::config::Method;
use crate::error::HyperError;
use crate::model::PeltModel;
use crate::module_path::ModulePath;
use crate::modules::{AdapterSet, ModuleSet, assemble};
use crate::slots::SlotLayout;
use crate::trainable::{PathMapper, Place};

const FORMAT: &str = "hyperpelt-export/1";
const HEADER_KEY: &str = "pelt_export";

/// The JSON header of an export.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportHeader {
    /// Always `hyperpelt-export/1`.
    pub format: String,
    /// The method that produced the modules.
    pub method: Method,
    /// The task they were generated for.
    pub task: String,
    /// Encoder layers, decoder layers, widths, adapter and prefix sizes.
    pub layout: SlotLayout,
    /// Shape of every tensor in the file.
    pub tensors: BTreeMap<String, Vec<usize>>,
}

/// Names of the flat module tensors in an export.
const ADAPTER_NAMES: [&str; 4] = [
    "adapters.down",
    "adapters.down_bias",
    "adapters.up",
    "adapters.up_bias",
];
const PREFIX_NAME: &str = "prefixes";

fn named(name: &str, tensor: Tensor<3>) -> NamedTensor {
    let [_, slots, width] = tensor.dims();
    NamedTensor {
        name: name.to_string(),
        shape: vec![slots, width],
        values: tensor
            .into_data()
            .try_into_vec_as::<f32>()
            .expect("a float tensor reads as f32"),
    }
}

impl PeltModel {
    /// Generates the modules of `task` once and writes them, with the trained T5 tensors
    /// (layer norms), to `path`. Refused for `full` (nothing is inserted: save the model) and
    /// for vision-and-language models (visual modules depend on each image).
    pub fn export_task(&self, task: &str, path: impl AsRef<Path>) -> Result<(), HyperError> {
        let path = path.as_ref();
        let refuse = |reason: &str| {
            Err(HyperError::Export {
                path: path.to_path_buf(),
                reason: reason.to_string(),
            })
        };
        if self.tuner.trains_backbone() {
            return refuse("method `full` inserts no modules; there is nothing to materialise");
        }
        if self.config.visual.is_some() {
            return refuse(
                "vision-and-language models cannot be materialised: their visual tokens and \
                 visual modules are computed from each image",
            );
        }
        let index = self.config.task_index(task)?;
        let sets = self.module_sets(&[index], None)?;
        let mut tensors = Vec::new();
        for set in sets {
            if let Some(a) = set.adapters {
                let parts = [a.down, a.down_bias, a.up, a.up_bias];
                for (name, tensor) in ADAPTER_NAMES.iter().zip(parts) {
                    tensors.push(named(name, tensor));
                }
            }
            if let Some(p) = set.prefixes {
                tensors.push(named(PREFIX_NAME, p));
            }
        }
        tensors.extend(
            self.trainable_tensors()
                .into_iter()
                .filter(|t| t.name.starts_with("t5.")),
        );
        let header = ExportHeader {
            format: FORMAT.to_string(),
            method: self.config.method,
            task: task.to_string(),
            layout: self.layout.clone(),
            tensors: tensors
                .iter()
                .map(|t| (t.name.clone(), t.shape.clone()))
                .collect(),
        };
        let header = serde_json::to_string(&header)
            .map_err(|e| HyperError::Config(format!("cannot serialise the header: {e}")))?;
        write_safetensors(
            path,
            &tensors,
            &BTreeMap::from([(HEADER_KEY.to_string(), header)]),
        )?;
        Ok(())
    }
}

/// A task's modules loaded from an export, ready to run on plain T5.
#[derive(Debug, Clone)]
pub struct Materialised {
    /// The export's header.
    pub header: ExportHeader,
    /// The modules, shared by every example (leading axis 1).
    pub modules: ModuleSet,
    /// Trained T5 tensors by path inside T5 (`encoder.blocks.0.self_norm.weight`, ...).
    pub t5_tensors: BTreeMap<String, (Vec<usize>, Vec<f32>)>,
    path: PathBuf,
}

impl Materialised {
    /// Reads an export written by [`PeltModel::export_task`]. Every tensor the header lists
    /// must be present with its shape, and nothing else.
    pub fn load(path: impl AsRef<Path>, device: &Device) -> Result<Self, HyperError> {
        let path = path.as_ref();
        let bad = |reason: String| HyperError::Export {
            path: path.to_path_buf(),
            reason,
        };
        let checkpoint = Checkpoint::open(path)?;
        let text = checkpoint.metadata().get(HEADER_KEY).ok_or_else(|| {
            bad(format!(
                "no `{HEADER_KEY}` header: not a materialised export"
            ))
        })?;
        let header: ExportHeader =
            serde_json::from_str(text).map_err(|e| bad(format!("invalid header: {e}")))?;
        if header.format != FORMAT {
            return Err(bad(format!("format `{}` is not `{FORMAT}`", header.format)));
        }
        let mut loader = StrictLoader::new(&checkpoint, device);
        let mut flat = |name: &str| -> Option<Tensor<3>> {
            let shape = header.tensors.get(name)?;
            let values = loader.take_values(name, shape);
            let [slots, width] = shape[..] else {
                return None;
            };
            Some(Tensor::from_data(
                TensorData::new(values, [1, slots, width]),
                device,
            ))
        };
        let adapters = match ADAPTER_NAMES.map(&mut flat) {
            [Some(down), Some(down_bias), Some(up), Some(up_bias)] => Some(AdapterSet {
                down,
                down_bias,
                up,
                up_bias,
            }),
            _ => None,
        };
        let prefixes = flat(PREFIX_NAME);
        let mut t5_tensors = BTreeMap::new();
        for (name, shape) in &header.tensors {
            if let Some(inner) = name.strip_prefix("t5.") {
                let values = loader.take_values(name, shape);
                t5_tensors.insert(inner.to_string(), (shape.clone(), values));
            }
        }
        loader.finish()?;
        Ok(Self {
            modules: ModuleSet { adapters, prefixes },
            t5_tensors,
            header,
            path: path.to_path_buf(),
        })
    }

    /// The insertions for plain T5 (shared by the whole batch).
    pub fn insertions(&self) -> Insertions {
        assemble(std::slice::from_ref(&self.modules), &self.header.layout)
    }

    /// Puts the export's trained T5 tensors (layer norms) into `t5`, after checking that its
    /// shape is the export's.
    pub fn apply(&self, t5: T5Model) -> Result<T5Model, HyperError> {
        let l = &self.header.layout;
        let c = &t5.config;
        let found = (
            c.num_layers,
            c.decoder_layers(),
            c.d_model,
            c.num_heads,
            c.d_kv,
        );
        let expected = (
            l.encoder_layers,
            l.decoder_layers,
            l.d_model,
            l.heads,
            l.d_kv,
        );
        if found != expected {
            return Err(HyperError::Export {
                path: self.path.clone(),
                reason: format!(
                    "exported for T5 (layers, decoder layers, d_model, heads, d_kv) = \
                     {expected:?}, the model is {found:?}"
                ),
            });
        }
        let mut missing: Vec<&String> = self.t5_tensors.keys().collect();
        let mut mapper = PathMapper {
            path: ModulePath::default(),
            f: |place: &Place<'_>, dims: &[usize]| {
                let (shape, values) = self.t5_tensors.get(place.path)?;
                if shape.as_slice() != dims {
                    return None;
                }
                missing.retain(|m| m.as_str() != place.path);
                Some((Some(values.clone()), false))
            },
        };
        let t5 = t5.map(&mut mapper);
        if let Some(name) = missing.first() {
            return Err(HyperError::Export {
                path: self.path.clone(),
                reason: format!(
                    "tensor `t5.{name}` matches no parameter of this T5 (or its shape differs)"
                ),
            });
        }
        Ok(t5)
    }
}
