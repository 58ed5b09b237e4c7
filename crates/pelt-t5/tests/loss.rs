//! `cross_entropy` without label smoothing leaves the uniform term out instead of multiplying
//! it by zero; the loss and the logits' gradient must be what the full formula gives, bit for
//! bit, padding included.

#![allow(clippy::unwrap_used)]

mod common;

use burn::prelude::*;
use burn::tensor::Distribution;
use common::bits;
use pelt_t5::{IGNORE_INDEX, cross_entropy, log_softmax_last};

/// The loss with the smoothing term always present, as `cross_entropy` computed it before.
fn full_formula(logits: Tensor<3>, labels: Tensor<2, Int>, smoothing: f64) -> Tensor<1> {
    let [batch, tgt, vocab] = logits.dims();
    let log_probs = log_softmax_last(logits).reshape([batch * tgt, vocab]);
    let labels = labels.reshape([batch * tgt]);
    let keep = labels.clone().not_equal_elem(IGNORE_INDEX).float();
    let safe = labels.clamp_min(0).unsqueeze_dim(1);
    let nll = log_probs
        .clone()
        .gather(1, safe)
        .reshape([batch * tgt])
        .neg();
    let uniform = log_probs.mean_dim(1).reshape([batch * tgt]).neg();
    let per_token = nll * (1.0 - smoothing) + uniform * smoothing;
    let count = keep.clone().sum().clamp_min(1.0);
    (per_token * keep).sum() / count
}

#[test]
fn no_smoothing_gives_the_full_formulas_loss_and_gradient() {
    let device = Device::default().autodiff();
    let [batch, tgt, vocab] = [3, 5, 1_000];
    let logits = Tensor::<3>::random([batch, tgt, vocab], Distribution::Normal(0.0, 4.0), &device);
    let labels: Vec<i64> = (0..batch * tgt)
        .map(|i| {
            if i % 4 == 3 {
                IGNORE_INDEX
            } else {
                (i * 37 % vocab) as i64
            }
        })
        .collect();
    let labels = Tensor::<1, Int>::from_ints(labels.as_slice(), &device).reshape([batch, tgt]);
    let run = |loss: fn(Tensor<3>, Tensor<2, Int>, f64) -> Tensor<1>| {
        let x = logits.clone().require_grad();
        let value = loss(x.clone(), labels.clone(), 0.0);
        let grads = value.clone().backward();
        (bits(value), bits(x.grad(&grads).unwrap()))
    };
    let (value, grad) = run(cross_entropy);
    let (want_value, want_grad) = run(full_formula);
    assert_eq!(value, want_value, "loss");
    assert_eq!(grad, want_grad, "gradient");
}
