//! Shared helpers of the pelt-hyper tests: the fixture model of each case, its batch, and the
//! relative error.

#![allow(dead_code, clippy::unwrap_used)]

use std::path::PathBuf;

use burn::prelude::*;
use pelt_clip::load_vision_model;
use pelt_hyper::{ModulePath, PeltConfig, PeltInput, PeltModel};
use pelt_t5::{T5Config, T5Model};
use pelt_weights::Checkpoint;

/// Relative error allowed on the loss: `|ours - theirs| / |theirs|` (f32 against f32, a few
/// dozen operations deep: about 1e-6 in practice; a wrong formula shows as 1e-2 or more).
pub const LOSS_TOLERANCE: f32 = 1e-4;

/// Relative error allowed on every gradient, `max|ours - theirs| / max|theirs|`.
pub const GRADIENT_TOLERANCE: f32 = 1e-3;

/// Largest difference allowed between the materialised model and the hypernetwork path.
pub const MATERIALISED_TOLERANCE: f32 = 1e-5;

pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// The tiny T5 of the fixtures, dropout off (the reference ran in eval mode).
pub fn tiny_t5(device: &Device) -> T5Model {
    let mut config = T5Config::from_file(fixture("t5")).unwrap();
    config.dropout_rate = 0.0;
    let checkpoint = Checkpoint::open(fixture("t5")).unwrap();
    T5Model::from_checkpoint(&config, &checkpoint, device).unwrap()
}

/// A fixture case: its model with the reference's initial weights, and its expected values.
pub struct Case {
    pub model: PeltModel,
    pub expected: Checkpoint,
    pub device: Device,
}

impl Case {
    pub fn open(name: &str, device: &Device) -> Self {
        let config = PeltConfig::from_json_file(fixture(name).join("config.json")).unwrap();
        let model = PeltModel::new(tiny_t5(device), config)
            .unwrap()
            .load_trainable(fixture(name).join("initial.safetensors"))
            .unwrap();
        let expected = Checkpoint::open(fixture(name).join("expected.safetensors")).unwrap();
        Self {
            model,
            expected,
            device: device.clone(),
        }
    }

    pub fn tensor<const D: usize>(&self, name: &str) -> Tensor<D> {
        self.expected.read_tensor(name, &self.device).unwrap()
    }

    pub fn ints<const D: usize>(&self, name: &str) -> Tensor<D, Int> {
        self.tensor::<D>(name).int()
    }

    /// The batch, with CLIP features computed by our CLIP from the fixture's pixels.
    pub fn input(&self) -> PeltInput {
        let tasks: Vec<usize> = self
            .expected
            .read_f32("tasks")
            .unwrap()
            .iter()
            .map(|&t| t as usize)
            .collect();
        let input = PeltInput::text(self.ints("input_ids"), self.ints("attention_mask"), tasks);
        if self.expected.meta("pixel_values").is_none() {
            return input;
        }
        let (_, clip) = load_vision_model(fixture("clip"), &self.device).unwrap();
        let pixels = self.tensor::<4>("pixel_values");
        let patches = clip.forward(pixels).patches();
        let [n, p, w] = patches.dims();
        input.with_images(patches.reshape([n / 2, 2, p, w]).detach())
    }
}

/// `max|ours - theirs| / max|theirs|`.
pub fn relative_error<const D: usize>(ours: Tensor<D>, theirs: Tensor<D>) -> f32 {
    assert_eq!(ours.dims(), theirs.dims(), "shapes differ");
    let diff: f32 = (ours - theirs.clone()).abs().max().into_scalar();
    let scale: f32 = theirs.abs().max().into_scalar();
    diff / scale.max(f32::MIN_POSITIVE)
}

/// Every float parameter of `model` as (dotted path, values).
pub fn all_params(model: &PeltModel) -> Vec<(String, Vec<f32>)> {
    struct Collect(ModulePath, Vec<(String, Vec<f32>)>);
    impl burn::module::ModuleVisitor for Collect {
        fn enter_module(&mut self, name: &str, container: &str) {
            self.0.enter(name, container);
        }
        fn exit_module(&mut self, _: &str, _: &str) {
            self.0.exit();
        }
        fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<D>>) {
            let values = param.val().into_data().try_into_vec_as::<f32>().unwrap();
            self.1.push((self.0.path(), values));
        }
    }
    let mut collect = Collect(ModulePath::default(), Vec::new());
    model.visit(&mut collect);
    collect.1
}

/// `model` with every float parameter whose path starts with `prefix` set to zero.
pub fn zero_params(model: PeltModel, prefix: &str) -> PeltModel {
    struct Zero<'a>(ModulePath, &'a str);
    impl burn::module::ModuleMapper for Zero<'_> {
        fn enter_module(&mut self, name: &str, container: &str) {
            self.0.enter(name, container);
        }
        fn exit_module(&mut self, _: &str, _: &str) {
            self.0.exit();
        }
        fn map_float<const D: usize>(
            &mut self,
            param: burn::module::Param<Tensor<D>>,
        ) -> burn::module::Param<Tensor<D>> {
            if self.0.path().starts_with(self.1) {
                param.map(|t| t.zeros_like())
            } else {
                param
            }
        }
    }
    model.map(&mut Zero(ModulePath::default(), prefix))
}
