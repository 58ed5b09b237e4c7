//! Loss and gradients of every trainable tensor against the PyTorch implementation of the spec
//! in `tests/fixtures/gen_fixtures.py`, for `hyperpelt` (text, mixed tasks), `hyperpelt` with
//! the visual path (two images per example, through our CLIP) and `hyperformer`.

#![allow(clippy::unwrap_used)]

mod common;

use burn::prelude::*;
use common::{Case, GRADIENT_TOLERANCE, LOSS_TOLERANCE, relative_error};

const CASES: [&str; 3] = ["hyperpelt", "hyperpelt_visual", "hyperformer"];

/// Burn's gradient of the parameter at `path`, as a rank-erased vector and shape.
fn gradient(
    model: &pelt_hyper::PeltModel,
    grads: &burn::tensor::Gradients,
    path: &str,
) -> Option<(Vec<usize>, Vec<f32>)> {
    struct Find<'a> {
        path: pelt_hyper::ModulePath,
        target: &'a str,
        grads: &'a burn::tensor::Gradients,
        found: Option<(Vec<usize>, Vec<f32>)>,
    }
    impl burn::module::ModuleVisitor for Find<'_> {
        fn enter_module(&mut self, name: &str, container: &str) {
            self.path.enter(name, container);
        }
        fn exit_module(&mut self, _: &str, _: &str) {
            self.path.exit();
        }
        fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<D>>) {
            if self.path.path() == self.target {
                self.found = param.val().grad(self.grads).map(|g| {
                    let shape = g.dims().to_vec();
                    (shape, g.into_data().try_into_vec_as::<f32>().unwrap())
                });
            }
        }
    }
    let mut find = Find {
        path: pelt_hyper::ModulePath::default(),
        target: path,
        grads,
        found: None,
    };
    model.visit(&mut find);
    find.found
}

#[test]
fn loss_and_every_gradient_match_pytorch() {
    let device = Device::default().autodiff();
    for name in CASES {
        let case = Case::open(name, &device);
        let labels = case.ints::<2>("labels");
        let loss = case.model.loss(case.input(), labels, 0.1).unwrap();
        let ours: f32 = loss.clone().into_scalar();
        let theirs = case.expected.read_f32("loss").unwrap()[0];
        let loss_error = (ours - theirs).abs() / theirs.abs();
        assert!(
            loss_error <= LOSS_TOLERANCE,
            "{name}: loss {ours} vs PyTorch {theirs} (relative error {loss_error:e})"
        );
        let grads = loss.backward();
        let trainable = case.model.trainable_tensors();
        let mut worst = (0.0f32, String::new());
        for tensor in &trainable {
            let expected_name = format!("grad.{}", tensor.name);
            let theirs = case.expected.read_f32(&expected_name).unwrap_or_else(|_| {
                panic!(
                    "{name}: the reference has no gradient for `{}`",
                    tensor.name
                )
            });
            let (shape, ours) = gradient(&case.model, &grads, &tensor.name)
                .unwrap_or_else(|| panic!("{name}: no gradient reached `{}`", tensor.name));
            assert_eq!(
                shape, tensor.shape,
                "{name}: gradient shape of `{}`",
                tensor.name
            );
            let n = ours.len();
            let error = relative_error(
                Tensor::<1>::from_floats(ours.as_slice(), &Device::default()),
                Tensor::<1>::from_floats(theirs.as_slice(), &Device::default()),
            );
            assert!(
                error <= GRADIENT_TOLERANCE,
                "{name}: gradient of `{}` ({n} values) has relative error {error:e}",
                tensor.name
            );
            if error >= worst.0 {
                worst = (error, tensor.name.clone());
            }
        }
        let reference_count = case
            .expected
            .tensors()
            .filter(|m| m.name.starts_with("grad."))
            .count();
        assert_eq!(
            trainable.len(),
            reference_count,
            "{name}: trainable tensors differ from the reference's"
        );
        eprintln!(
            "{name}: loss relative error {loss_error:e}; {} gradients, worst {:e} ({})",
            trainable.len(),
            worst.0,
            worst.1
        );
    }
}

/// A single-task batch generates its modules once and broadcasts them; its gradients must be
/// those of generating them for every row (the path the PyTorch parity above checks).
#[test]
fn broadcast_generation_has_the_gradients_of_per_example_generation() {
    let device = Device::default().autodiff();
    let case = Case::open("hyperpelt", &device);
    let mut input = case.input();
    input.tasks = vec![1; input.tasks.len()];
    let labels = case.ints::<2>("labels");
    let decoder_ids = case.model.t5.shift_right(labels.clone());
    let broadcast = case.model.loss(input.clone(), labels.clone(), 0.1).unwrap();
    let hyper = case.model.tuner.hypernetwork().unwrap();
    let ids = Tensor::<1, Int>::from_ints([1, 1, 1], &device);
    let sets = vec![hyper.task_modules(ids)];
    let insertions = pelt_hyper::assemble(&sets, &case.model.layout);
    let t5_input = pelt_t5::T5Input::new(input.input_ids)
        .mask(input.attention_mask.unwrap())
        .unwrap()
        .pelt(insertions)
        .unwrap();
    let logits = case.model.t5.forward(t5_input, decoder_ids);
    let per_example = pelt_t5::cross_entropy(logits, labels, 0.1);
    let (a, b): (f32, f32) = (
        broadcast.clone().into_scalar(),
        per_example.clone().into_scalar(),
    );
    assert!((a - b).abs() <= 1e-6 * a.abs(), "{a} vs {b}");
    let (ga, gb) = (broadcast.backward(), per_example.backward());
    for tensor in case.model.trainable_tensors() {
        let (_, x) = gradient(&case.model, &ga, &tensor.name).unwrap();
        let (_, y) = gradient(&case.model, &gb, &tensor.name).unwrap();
        let error = relative_error(
            Tensor::<1>::from_floats(x.as_slice(), &Device::default()),
            Tensor::<1>::from_floats(y.as_slice(), &Device::default()),
        );
        assert!(
            error <= 1e-5,
            "`{}`: broadcast gradient differs by {error:e}",
            tensor.name
        );
    }
}
