//! The fused softmax and log-softmax (`pelt_t5::{softmax_last, log_softmax_last}`) against
//! Burn's own `softmax` and `log_softmax`, forward and gradient, bit for bit: the kernels
//! promise the values of Burn's composition exactly (docs/design.md, "Fused softmax and RMS
//! norm"), so that runs give the same numbers as before the fusion. On the CPU f32 tensors take
//! its kernels and f64 tensors the composed fallback; `cargo xtask gpu-check --wgpu` runs the
//! same checks on wgpu, where every tensor takes the fallback.

#![allow(clippy::unwrap_used)]

mod common;

use common::{bits, float_dtypes};

use burn::prelude::*;
use burn::tensor::activation::{log_softmax, softmax};
use burn::tensor::{DType, Distribution, TensorData};
use pelt_t5::{log_softmax_last, softmax_last};

/// Shapes: rows shorter than one SIMD pass, rows with a tail after the SIMD passes, and a
/// tensor large enough to be split over threads (64 rows × 1,031 > 32,768 elements).
const SHAPES: [[usize; 3]; 3] = [[2, 3, 7], [3, 4, 300], [4, 16, 1_031]];

/// Scores like attention's: normal values, some very negative (masked) ones, and one row
/// holding a single finite value among masked ones.
fn scores(shape: [usize; 3], dtype: DType, device: &Device) -> Tensor<3> {
    let x = Tensor::<3>::random(shape, Distribution::Normal(0.0, 3.0), device);
    let mask = Tensor::<3>::random(shape, Distribution::Bernoulli(0.2), device);
    let x = x - mask * 1e9;
    let x = x.slice_assign(
        [0..1, 0..1, 0..shape[2]],
        Tensor::full([1, 1, shape[2]], -1e9, device),
    );
    let x = x.slice_assign([0..1, 0..1, 0..1], Tensor::full([1, 1, 1], 0.5, device));
    x.cast(dtype)
}

/// An upstream gradient with one row of zeros, as a padded label's row is in the loss.
fn upstream(shape: [usize; 3], dtype: DType, device: &Device) -> Tensor<3> {
    let g = Tensor::<3>::random(shape, Distribution::Normal(0.0, 1.0), device);
    let g = g.slice_assign(
        [0..1, 1..2, 0..shape[2]],
        Tensor::zeros([1, 1, shape[2]], device),
    );
    g.cast(dtype)
}

type Op = fn(Tensor<3>) -> Tensor<3>;

fn burn_softmax(x: Tensor<3>) -> Tensor<3> {
    softmax(x, 2)
}

fn burn_log_softmax(x: Tensor<3>) -> Tensor<3> {
    log_softmax(x, 2)
}

const OPS: [(&str, Op, Op); 2] = [
    ("softmax", softmax_last, burn_softmax),
    ("log_softmax", log_softmax_last, burn_log_softmax),
];

#[test]
fn forward_matches_burn_bit_for_bit() {
    // Outside autodiff (evaluation, decoding) and under it (training), where Burn composes the
    // operations and ours are one recorded operation each.
    for (tracked, dtype) in float_dtypes()
        .into_iter()
        .flat_map(|d| [(false, d), (true, d)])
    {
        let device = if tracked {
            Device::default().autodiff()
        } else {
            Device::default()
        };
        for shape in SHAPES {
            for (name, fused, reference) in OPS {
                let x = scores(shape, dtype, &device);
                let x = if tracked { x.require_grad() } else { x };
                let before = bits(x.clone());
                let want = bits(reference(x.clone()));
                // `x` is shared here, so the kernel must not write into it.
                let got = bits(fused(x.clone()));
                assert_eq!(got, want, "{name} {shape:?} {dtype:?} tracked {tracked}");
                assert_eq!(
                    bits(x.clone()),
                    before,
                    "{name} {shape:?}: input overwritten"
                );
                // A transposed (non-contiguous) view, and an owned tensor written in place.
                let t = x.clone().swap_dims(0, 1);
                assert_eq!(
                    bits(fused(t.clone())),
                    bits(reference(t)),
                    "{name} transposed"
                );
                // `x · 1` is a new tensor holding x's values that nothing else refers to.
                let owned = x.mul_scalar(1.0);
                assert_eq!(bits(fused(owned)), want, "{name} {shape:?} owned");
            }
        }
    }
}

#[test]
fn gradients_match_burn_bit_for_bit() {
    let device = Device::default().autodiff();
    for dtype in float_dtypes() {
        for shape in SHAPES {
            for (name, fused, reference) in OPS {
                let x = scores(shape, dtype, &device).detach();
                let g = upstream(shape, dtype, &device);
                let grad = |op: Op| {
                    let x = x.clone().require_grad();
                    let grads = (op(x.clone()) * g.clone()).sum().backward();
                    bits(x.grad(&grads).unwrap())
                };
                assert_eq!(grad(fused), grad(reference), "{name} {shape:?} {dtype:?}");
            }
        }
    }
}

#[test]
fn rows_sum_to_one_and_nan_propagates() {
    // The CPU's kernels (and burn-flex's softmax), whatever the default device.
    let device = Device::flex();
    let x = Tensor::<3>::from_data(
        TensorData::new(vec![1.0f32, 2.0, 3.0, 0.0, f32::NAN, 1.0], [1, 2, 3]),
        &device,
    );
    let y: Vec<f32> = softmax_last(x.clone()).into_data().try_to_vec().unwrap();
    let total: f32 = y[..3].iter().sum();
    assert!((total - 1.0).abs() < 1e-6, "{y:?}");
    assert!(y[3..].iter().all(|v| v.is_nan()), "{y:?}");
    let l: Vec<f32> = log_softmax_last(x).into_data().try_to_vec().unwrap();
    assert!((l[0] - (y[0].ln())).abs() < 1e-6, "{l:?}");
    assert!(l[3..].iter().all(|v| v.is_nan()), "{l:?}");
}
