//! What trains: one rule (`PeltModel::trains`, listed by [`PeltModel::trainable_paths`]) decides which parameters get
//! gradients, which are counted as trainable, and which are saved.

use std::collections::BTreeMap;
use std::path::Path;

use burn::module::{ModuleMapper, ModuleVisitor, Param};
use burn::prelude::*;
use burn::tensor::TensorData;
use pelt_weights::{Checkpoint, NamedTensor, StrictLoader, write_safetensors};

use crate::config::Tune;
use crate::error::HyperError;
use crate::model::PeltModel;
use crate::module_path::ModulePath;

/// Parameter counts of a tuned model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParamCounts {
    /// Parameters that train.
    pub trainable: usize,
    /// Parameters of the T5 backbone (all of them, frozen or not).
    pub backbone: usize,
}

impl ParamCounts {
    /// Trainable parameters as a share of the backbone, in percent.
    pub fn percent_of_backbone(&self) -> f64 {
        100.0 * self.trainable as f64 / self.backbone as f64
    }
}

impl std::fmt::Display for ParamCounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} trainable parameters, {:.3}% of the {}-parameter backbone",
            self.trainable,
            self.percent_of_backbone(),
            self.backbone
        )
    }
}

/// Module path of the task embedding, the only task-specific tensor of hypernetwork methods.
pub const TASK_EMBEDDING: &str = "hyper.task_embedding";

/// Burn's name for the module type that holds T5's layer-norm scales (its derive reports
/// `Struct:` and the type's name as the container of each field).
const LAYER_NORM: &str = "Struct:T5LayerNorm";

/// Where a parameter sits: its path and the type of the module holding it.
pub(crate) struct Place<'a> {
    /// The dotted path (see [`ModulePath`]).
    pub(crate) path: &'a str,
    /// The type of the module holding the parameter.
    owner: &'a str,
}

/// Calls `f(place, shape, values)` on every float parameter.
struct PathVisitor<F> {
    path: ModulePath,
    f: F,
}

impl<F: FnMut(&Place<'_>, Vec<usize>, &dyn Fn() -> Vec<f32>)> ModuleVisitor for PathVisitor<F> {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        self.path.enter(name, container_type);
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.exit();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let path = self.path.path();
        let place = Place {
            path: &path,
            owner: self.path.owner(),
        };
        let values = || {
            param
                .val()
                .into_data()
                .try_into_vec_as::<f32>()
                .expect("a float tensor reads as f32")
        };
        (self.f)(&place, param.dims().to_vec(), &values);
    }
}

/// Calls `f(place, shape)` on every float parameter; `Some((values, require_grad))` replaces
/// its values (when given) and sets its gradient flag, `None` leaves it alone.
pub(crate) struct PathMapper<F> {
    pub(crate) path: ModulePath,
    pub(crate) f: F,
}

impl<F: FnMut(&Place<'_>, &[usize]) -> Option<(Option<Vec<f32>>, bool)>> ModuleMapper
    for PathMapper<F>
{
    fn enter_module(&mut self, name: &str, container_type: &str) {
        self.path.enter(name, container_type);
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.exit();
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let path = self.path.path();
        let place = Place {
            path: &path,
            owner: self.path.owner(),
        };
        let dims = param.dims();
        match (self.f)(&place, &dims) {
            None => param,
            Some((values, require_grad)) => {
                let param = match values {
                    Some(values) => {
                        param.map(|t| Tensor::from_data(TensorData::new(values, dims), &t.device()))
                    }
                    None => param,
                };
                param.set_require_grad(require_grad)
            }
        }
    }
}

impl PeltModel {
    /// The one rule for what trains: every part outside the backbone does (the tuner and the
    /// visual projection); in the backbone, everything under a tuner that trains it (`full`),
    /// else the layer norms (by their type, [`T5LayerNorm`](pelt_t5::T5LayerNorm)) when
    /// `train_layer_norms`.
    fn trains(&self, place: &Place<'_>) -> bool {
        if !place.path.starts_with("t5.") || self.tuner.trains_backbone() {
            return true;
        }
        self.config.train_layer_norms && place.owner == LAYER_NORM
    }

    /// Whether a trainable parameter gets gradients: picked by [`Tune`](crate::Tune).
    fn tunes(&self, place: &Place<'_>) -> bool {
        self.trains(place) && (self.config.tune == Tune::All || place.path == TASK_EMBEDDING)
    }

    /// Dotted paths (as in saved states) of the parameters that train, are counted and are
    /// saved, in visiting order.
    pub fn trainable_paths(&self) -> Vec<String> {
        let mut paths = Vec::new();
        self.for_each_param(|place, _, _| {
            if self.trains(place) {
                paths.push(place.path.to_string());
            }
        });
        paths
    }

    /// Enables gradients on trainable parameters and disables them on the others.
    pub(crate) fn with_gradient_flags(self) -> Self {
        let rules = self.clone();
        let mut mapper = PathMapper {
            path: ModulePath::default(),
            f: |place: &Place<'_>, _: &[usize]| Some((None, rules.tunes(place))),
        };
        self.map(&mut mapper)
    }

    /// Visits every float parameter as `(place, shape, values)`.
    fn for_each_param(&self, f: impl FnMut(&Place<'_>, Vec<usize>, &dyn Fn() -> Vec<f32>)) {
        let mut visitor = PathVisitor {
            path: ModulePath::default(),
            f,
        };
        self.visit(&mut visitor);
    }

    /// Trainable and backbone parameter counts.
    pub fn param_counts(&self) -> ParamCounts {
        let mut counts = ParamCounts {
            trainable: 0,
            backbone: 0,
        };
        self.for_each_param(|place, shape, _| {
            let n: usize = shape.iter().product();
            if place.path.starts_with("t5.") {
                counts.backbone += n;
            }
            if self.tunes(place) {
                counts.trainable += n;
            }
        });
        counts
    }

    /// Every trainable tensor, by dotted path, in visiting order.
    pub fn trainable_tensors(&self) -> Vec<NamedTensor> {
        let mut tensors = Vec::new();
        self.for_each_param(|place, shape, values| {
            if self.trains(place) {
                tensors.push(NamedTensor {
                    name: place.path.to_string(),
                    shape,
                    values: values(),
                });
            }
        });
        tensors
    }

    /// Writes the trainable tensors (nothing frozen) to a safetensors file, atomically, with
    /// the configuration under the `pelt_config` metadata key.
    pub fn save_trainable(&self, path: impl AsRef<Path>) -> Result<(), HyperError> {
        let config = serde_json::to_string(&self.config)
            .map_err(|e| HyperError::Config(format!("cannot serialise: {e}")))?;
        let metadata = BTreeMap::from([("pelt_config".to_string(), config)]);
        write_safetensors(path, &self.trainable_tensors(), &metadata)?;
        Ok(())
    }

    /// Loads trainable tensors saved by [`save_trainable`](Self::save_trainable). Strict: every
    /// trainable tensor must be present with its shape, and nothing else; every problem is
    /// reported at once, naming the file and the tensor.
    pub fn load_trainable(self, path: impl AsRef<Path>) -> Result<Self, HyperError> {
        self.load_from(&Checkpoint::open(path)?, |_| false)
    }

    /// Loads every trainable tensor that `skip` does not name from `checkpoint`, strictly
    /// (checkpoint tensors the caller does not want must be marked with `alias` first).
    fn load_from(
        self,
        checkpoint: &Checkpoint,
        skip: impl Fn(&str) -> bool,
    ) -> Result<Self, HyperError> {
        let device = self.t5.shared.val().device();
        let mut loader = StrictLoader::new(checkpoint, &device);
        for meta in checkpoint.tensors() {
            if skip(&meta.name) {
                loader.alias(&meta.name);
            }
        }
        let rules = self.clone();
        let mut mapper = PathMapper {
            path: ModulePath::default(),
            f: |place: &Place<'_>, dims: &[usize]| {
                if !rules.trains(place) || skip(place.path) {
                    return None;
                }
                let values = loader.take_values(place.path, dims);
                Some((Some(values), rules.tunes(place)))
            },
        };
        let model = self.map(&mut mapper);
        loader.finish()?;
        Ok(model)
    }

    /// Few-shot transfer: loads another run's trainable tensors (saved by
    /// [`save_trainable`](Self::save_trainable) with the same dimensions but other tasks),
    /// except its task embedding, so this model's tasks keep their fresh embeddings and share
    /// the trained hypernetwork, layer norms and visual path. Needs a method whose only
    /// task-specific part is the task embedding (a hypernetwork method, or shared plain
    /// modules). A text-only model ignores the source's visual path. Strict otherwise, like
    /// [`load_trainable`](Self::load_trainable).
    pub fn transfer_from(self, path: impl AsRef<Path>) -> Result<Self, HyperError> {
        let path = path.as_ref();
        if self.tuner.hypernetwork().is_none() && self.config.per_task {
            return Err(HyperError::Config(format!(
                "{}: cannot transfer per-task `{}` modules to new tasks; use a hypernetwork \
                 method or `per_task: false`",
                path.display(),
                self.config.method.name()
            )));
        }
        // Text tasks from a vision-and-language run need not its visual path.
        let text_only = self.config.visual.is_none();
        self.load_from(&Checkpoint::open(path)?, |name| {
            name == TASK_EMBEDDING
                || (text_only && (name.starts_with("visual.") || name.starts_with("hyper.visual.")))
        })
    }
}
